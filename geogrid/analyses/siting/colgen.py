"""The LP bound of maximal coverage by generating candidates (columns) and atoms (rows).

Maximal coverage over atoms ``a`` (weight ``w_a``, reached by the candidates ``N(a)``) with
``k`` sites has the LP relaxation ``max sum_a w_a y_a`` s.t. ``y_a <= sum_{j in N(a)} x_j``,
``y_a <= 1``, ``sum_j x_j <= k``, ``0 <= x <= 1``. Its optimum uses a few hundred of the
candidates: a restricted master LP over a set ``S`` of candidates (atoms with the same
candidates in ``S`` merged into one row, atoms no candidate in ``S`` reaches left out) is
solved by HiGHS, its duals price every candidate with one sparse product, and the
candidates whose reduced cost is positive join ``S`` (column generation; Desrosiers &
Luebbecke 2005). For any multipliers ``0 <= p_a <= w_a``,

    L(p) = sum_a (w_a - p_a) + (sum of the k largest c_j),  c_j = sum_{a in N(j)} p_a,

bounds the coverage of every ``k`` sites from above (the coverage links relaxed; Galvao &
ReVelle 1996), so each round's duals, spread over the atoms, give a valid bound; when no
candidate prices out it equals the LP optimum. The same multipliers fix candidates closed:
opening ``j`` instead of the k-th best bounds every solution holding ``j`` by
``L(p) - c_(k) + c_j``; below the best solution known, ``j`` cannot improve on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from geogrid.analyses.highs import mip_model, quiet_highs

__all__ = ["LpBound", "fix_closed", "hash_rows", "lagrangian_value", "lp_bound", "merge_atoms"]

log = logging.getLogger(__name__)

_TINY = 1e-9  # relative slack of the bound and fixing tests
_PRIMAL_SIMPLEX = 4  # HiGHS simplex_strategy: the masters grow by columns, primal is faster


@dataclass
class LpBound:
    """What :func:`lp_bound` proves.

    ``bound`` bounds the coverage of ``k`` sites from above (the least ``L(p)`` found, at
    multipliers ``p`` with column sums ``c``); ``lp`` is the last master's LP value (a lower
    bound on the LP optimum); ``support`` are the candidates generated (rows of the matrix,
    ascending) and ``x`` their LP values; ``rounds`` masters solved.
    """

    bound: float
    lp: float
    p: np.ndarray
    c: np.ndarray
    support: np.ndarray
    x: np.ndarray
    rounds: int
    seconds: float


@dataclass
class Merged:
    """Atoms merged by the candidates of a subset that reach them.

    ``mat`` is groups x subset (binary), ``weight`` each group's weight, ``atoms`` the atoms
    reached by the subset and ``group`` the group of each of them.
    """

    mat: sparse.csr_matrix
    weight: np.ndarray
    atoms: np.ndarray
    group: np.ndarray


def hash_rows(mat: sparse.csr_matrix, seed: int = 0) -> np.ndarray:
    """Key each row of a CSR matrix by its column set (values ignored): same set, same key.

    Two random projections of the pattern plus the count; no copy of the values is made.
    """
    rng = np.random.default_rng(seed)
    nnz = np.diff(mat.indptr)
    out = np.zeros((mat.shape[0], 3))
    out[:, 2] = nnz
    full = np.flatnonzero(nnz > 0)
    if len(full):
        for col in range(2):
            r = rng.random(mat.shape[1])
            out[full, col] = np.add.reduceat(r[mat.indices], mat.indptr[full])
    return out


def merge_atoms(mat: sparse.csr_matrix, w: np.ndarray, rows: np.ndarray) -> Merged:
    """Merge the atoms reached by ``rows`` of ``mat`` (candidates x atoms) by their set there."""
    cols = sparse.csr_matrix(mat[rows].T)
    cols.sort_indices()
    atoms = np.flatnonzero(np.diff(cols.indptr) > 0)
    cols = cols[atoms]
    if not len(atoms):
        empty = sparse.csr_matrix((0, len(rows)))
        return Merged(empty, np.zeros(0), atoms, np.zeros(0, dtype=np.int64))
    _, first, group = np.unique(hash_rows(cols), axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    sub = cols[first]
    sub.data = np.ones(sub.nnz)
    return Merged(sub, np.bincount(group, weights=w[atoms]), atoms, group)


def lagrangian_value(
    mat: sparse.csr_matrix, w: np.ndarray, p: np.ndarray, k: int, required: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """``L(p)``, the column sums ``c`` and the candidates it opens (``required`` first)."""
    c = mat @ p
    free = np.ones(mat.shape[0], dtype=bool)
    free[required] = False
    pick = top_k(c, np.flatnonzero(free), max(int(k) - len(required), 0))
    sel = np.r_[required, pick].astype(np.int64)
    return float(np.sum(w - p) + c[sel].sum()), c, sel


def top_k(c: np.ndarray, free: np.ndarray, slots: int) -> np.ndarray:
    """Return the ``slots`` entries of ``free`` with the largest positive ``c``."""
    free = free[c[free] > 0]
    if slots <= 0 or len(free) == 0:
        return np.zeros(0, dtype=np.int64)
    if slots >= len(free):
        return free
    return free[np.argpartition(-c[free], slots - 1)[:slots]]


def _master(
    mat: sparse.csr_matrix, w: np.ndarray, rows: np.ndarray, k: int, required: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Restricted master LP over ``rows``: (value, x over rows, p over every atom, lambda)."""
    mg = merge_atoms(mat, w, rows)
    g, ns = mg.mat.shape
    link = sparse.hstack([-mg.mat, sparse.identity(g, format="csr")], format="csr")
    card = sparse.csr_matrix(np.r_[np.ones(ns), np.zeros(g)][None, :])
    lo = np.zeros(ns + g)
    lo[:ns][np.isin(rows, required)] = 1.0
    lp = mip_model(
        sparse.vstack([link, card], format="csc"),
        cost=np.r_[np.zeros(ns), mg.weight],
        col_lo=lo,
        col_hi=np.ones(ns + g),
        row_lo=np.full(g + 1, -np.inf),
        row_hi=np.r_[np.zeros(g), float(k)],
        n_int=0,
        maximize=True,
    )
    h = quiet_highs(simplex_strategy=_PRIMAL_SIMPLEX)
    h.passModel(lp)
    h.run()
    sol = h.getSolution()
    dual = np.abs(np.asarray(sol.row_dual))
    share = np.clip(dual[:g] / np.maximum(mg.weight, 1e-300), 0.0, 1.0)
    p = w.astype(float).copy()  # atoms no candidate of ``rows`` reaches: full price
    p[mg.atoms] = w[mg.atoms] * share[mg.group]
    value = float(h.getInfo().objective_function_value)
    return value, np.asarray(sol.col_value[:ns]), p, float(dual[g])


def lp_bound(
    mat: sparse.csr_matrix,
    w: np.ndarray,
    k: int,
    start: np.ndarray,
    *,
    required: np.ndarray,
    incumbent: float = 0.0,
    tol: float,
    deadline: float = float("inf"),
    max_rounds: int = 100,
) -> LpBound:
    """Bound ``k`` sites' coverage of the atoms from above by column generation.

    Parameters
    ----------
    mat : scipy.sparse.csr_matrix
        Candidates x atoms, binary reach.
    w : numpy.ndarray
        Atom weights.
    k : int
        Sites to open (``required`` ones included).
    start : numpy.ndarray
        Rows of a solution: the first master's candidates.
    required : numpy.ndarray
        Rows fixed open.
    incumbent : float
        Coverage of a known solution: the bound need not come closer than that.
    tol : float
        Stop when the bound is within ``tol`` (relative) of the master's LP value or of
        ``incumbent``.
    deadline : float
        ``time.perf_counter()`` value after which no new master is solved.
    max_rounds : int
        Most masters.

    Returns
    -------
    LpBound

    """
    t0 = time.perf_counter()
    required = np.asarray(required, dtype=np.int64)
    rows = np.union1d(np.asarray(start, dtype=np.int64), required)
    batch = 2 * int(k) + 100  # candidates added per round at most
    best = LpBound(float("inf"), 0.0, w, np.zeros(0), rows, np.ones(len(rows)), 0, 0.0)
    while best.rounds < max(max_rounds, 1) and (best.rounds == 0 or time.perf_counter() < deadline):
        value, x, p, lam = _master(mat, w, rows, k, required)
        bound, c, _ = lagrangian_value(mat, w, p, k, required)
        best.rounds += 1
        best.lp, best.support, best.x = value, rows, x
        if bound < best.bound:
            best.bound, best.p, best.c = bound, p, c
        if best.bound - max(value, incumbent) <= tol * max(best.bound, 1e-12):
            break
        gain = c - lam
        gain[rows] = -np.inf
        enter = np.flatnonzero(gain > _TINY * max(lam, 1.0))
        if not len(enter):
            break
        enter = enter[np.argsort(-gain[enter], kind="stable")[:batch]]
        rows = np.union1d(rows, enter)
    best.seconds = time.perf_counter() - t0
    log.debug(
        "LP bound: %d masters, %d candidates, bound %.1f, LP %.1f",
        best.rounds,
        len(best.support),
        best.bound,
        best.lp,
    )
    return best


def fix_closed(lpb: LpBound, k: int, required: np.ndarray, best: float) -> np.ndarray:
    """Candidates whose opening bounds the coverage below ``best`` (mask over the rows)."""
    c = lpb.c
    n = len(c)
    required = np.asarray(required, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    free[required] = False
    slots = max(int(k) - len(required), 0)
    closed = np.zeros(n, dtype=bool)
    if not 0 < slots < int(free.sum()):
        return closed
    pick = top_k(c, np.flatnonzero(free), slots)
    kth = float(c[pick].min()) if len(pick) == slots else 0.0
    closed[free] = lpb.bound - kth + c[free] < best - _TINY * max(best, 1.0)
    closed[pick] = False
    return closed
