"""The LP bound of maximal coverage by Benders cuts in the space of the sites (x only).

With the coverage variables projected out, maximal coverage over atoms ``a`` (weight ``w_a``,
reached by the candidates ``N(a)``) is ``max phi(x) = sum_a w_a min(1, sum_{j in N(a)} x_j)``
over ``sum_j x_j = k``. At any point ``x'`` with ``U`` the atoms it covers fully,
``phi(x) <= w(U) + sum_j g_j x_j`` with ``g_j`` the weight of the atoms outside ``U`` that
``j`` reaches (a Benders optimality cut; Cordeau, Furini & Ljubic, EJOR 2019). A master LP
over ``x`` and ``theta`` with these cuts bounds the coverage from above; its cuts are
separated at a point between the master's answer and a core point (in-out stabilisation,
Ben-Ameur & Neto 2007), which converges in far fewer rounds than cutting at the answer
itself. The master's reduced costs then fix candidates closed: a candidate whose opening
bounds the coverage below the best solution known cannot be in a better one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from geogrid.analyses.highs import quiet_highs

__all__ = ["CutBound", "cut_bound"]

log = logging.getLogger(__name__)

_TINY = 1e-9  # a column at most this is closed; relative slack of the fixing test


@dataclass
class CutBound:
    """What :func:`cut_bound` proves.

    ``bound`` bounds the best coverage of ``k`` sites from above; ``lp`` is the best LP
    value found at a point (``bound - lp`` is how far the LP is from solved); ``closed``
    marks candidates fixed closed against ``incumbent`` (coverage ``best``); ``rounds`` cuts.
    """

    bound: float
    lp: float
    closed: np.ndarray
    rounds: int
    seconds: float


def _cut(
    mat: sparse.csr_matrix, mt: sparse.csr_matrix, w: np.ndarray, x: np.ndarray
) -> tuple[float, np.ndarray, float]:
    """Cut at ``x``: (weight of fully covered atoms, coefficient per candidate, phi(x))."""
    cnt = mt @ x
    full = cnt >= 1.0 - 1e-9
    rest = np.where(full, 0.0, w)
    phi = float(w[full].sum() + (rest * cnt).sum())
    return float(w[full].sum()), mat @ rest, phi


def cut_bound(
    mat: sparse.csr_matrix,
    w: np.ndarray,
    k: int,
    incumbent: np.ndarray,
    best: float,
    *,
    required: np.ndarray | None = None,
    tol: float = 1e-4,
    deadline: float = float("inf"),
    max_rounds: int = 1000,
) -> CutBound:
    """Bound ``k`` sites' coverage of the atoms from above and fix candidates closed.

    Parameters
    ----------
    mat : scipy.sparse.csr_matrix
        Candidates x atoms, binary reach.
    w : numpy.ndarray
        Atom weights.
    k : int
        Sites to open (``required`` ones included).
    incumbent : numpy.ndarray
        Rows of a solution with ``k`` sites (the first core point).
    best : float
        Its coverage (or a better one known).
    required : numpy.ndarray, optional
        Rows fixed open.
    tol : float
        Stop when the bound is within ``tol`` of ``best`` or of the LP optimum.
    deadline : float
        ``time.perf_counter()`` value to stop at.
    max_rounds : int
        Most cut rounds.

    Returns
    -------
    CutBound

    """
    import highspy

    t0 = time.perf_counter()
    n = mat.shape[0]
    mt = mat.T.tocsr()
    total = float(w.sum())
    h = quiet_highs()
    inf = highspy.kHighsInf
    lo = np.zeros(n + 1)
    if required is not None and len(required):
        lo[np.asarray(required, dtype=np.int64)] = 1.0
    h.addVars(n + 1, lo, np.r_[np.ones(n), total])
    h.changeColsCost(n + 1, np.arange(n + 1, dtype=np.int32), np.r_[np.zeros(n), 1.0])
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.addRow(float(k), float(k), n, np.arange(n, dtype=np.int32), np.ones(n))
    x_in = np.zeros(n)
    x_in[np.asarray(incumbent, dtype=np.int64)] = 1.0
    lp_best, ub, rounds = _cut(mat, mt, w, x_in)[2], total, 0
    cols = np.arange(n + 1, dtype=np.int32)

    def add(x: np.ndarray) -> tuple[float, float, np.ndarray]:
        wu, g, phi = _cut(mat, mt, w, x)
        h.addRow(-inf, wu, n + 1, cols, np.r_[-g, 1.0])
        return phi, wu, g

    add(x_in)
    while rounds < max_rounds and time.perf_counter() < deadline:
        h.run()
        sol = h.getSolution()
        x_out = np.asarray(sol.col_value[:n])
        ub = min(ub, float(h.getInfo().objective_function_value))
        rounds += 1
        if ub - max(best, lp_best) <= tol * max(ub, 1e-12):
            break
        x_sep = 0.5 * x_out + 0.5 * x_in
        phi, wu, g = add(x_sep)
        if wu + float(g @ x_out) >= ub - 1e-9 * max(ub, 1.0):
            phi = add(x_out)[0]  # the stabilised cut missed the answer: cut at it
            x_sep = x_out
        x_in = x_sep  # the core point follows the separation point
        lp_best = max(lp_best, phi)
    closed = _fix(h, n, ub, best)
    log.debug(
        "cut bound: %d rounds, bound %.1f, LP >= %.1f, %d fixed",
        rounds,
        ub,
        lp_best,
        int(closed.sum()),
    )
    return CutBound(ub, lp_best, closed, rounds, time.perf_counter() - t0)


def _fix(h: object, n: int, ub: float, best: float) -> np.ndarray:
    """Candidates whose opening (reduced cost) bounds the coverage below ``best``."""
    sol = h.getSolution()  # type: ignore[attr-defined]
    x = np.asarray(sol.col_value[:n])
    d = np.abs(np.asarray(sol.col_dual[:n]))
    return (x <= _TINY) & (ub - d < best - _TINY * max(best, 1.0))
