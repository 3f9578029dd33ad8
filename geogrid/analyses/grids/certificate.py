"""Certificates for the household band of one community's grids: feasible, infeasible, unknown.

A community's grids *meet the band* when every grid holds between ``lo`` and ``hi``
households and is connected in the atom graph. For every community this module says which
of three cases holds, with the evidence:

``feasible``
    a partition meeting the band is at hand (the heuristic's, checked here, or one found by
    the exact model); the partition itself is the proof.
``infeasible``
    no partition into contiguous grids can meet the band. Cheap proofs come first, per
    connected part of the atom graph: one atom (a building, or a compound that is never
    split) holds more than ``hi``; the part's total is below ``lo``; no whole number of
    grids ``p`` has ``p * lo <= total <= p * hi``. Otherwise the exact model below proves it:
    its optimum (the fewest households outside the band over every contiguous partition) is
    positive.
``unknown``
    neither was settled within the limits; the best lower and upper bounds on the households
    left outside the band are given.

Exact model (after Validi, Buchanan & Lykhovyd, Operations Research 2022, with the
single-commodity flow contiguity constraints of Shirabe): ``K`` part slots; ``x[i,k]`` atom
``i`` in part ``k``; ``y[k]`` part used; ``r[i,k]`` root of part ``k``; flows ``f[a,k] >= 0``
on both directions of every atom adjacency, only into atoms of the part
(``f[(u,v),k] <= (n-1) x[v,k]``) and with net inflow ``>= x[v,k] - n r[v,k]`` so that every
non-root atom of a part is reached from its root inside the part. Parts are ordered by
their lowest atom (``x[i,k] = 0`` for ``k > i``) to break symmetry. The band is
``lo y[k] - s_lo[k] <= H[k] <= hi y[k] + s_hi[k]`` with ``H[k] = sum_i w[i] x[i,k]``;
the band model minimises ``sum s_lo + s_hi``, the balance model (same number of grids as
the heuristic, hard band) minimises the largest deviation ``D`` from ``total / p``. HiGHS
solves both with one thread and a node limit (deterministic), with a time limit as a
backstop; the heuristic's partition is the warm start.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from geogrid.analyses.highs import mip_model, quiet_highs

#: Largest connected part (atoms) sent to the exact model.
EXACT_MAX_ATOMS = 150
#: Branch-and-bound node limit of one exact solve (keeps results deterministic).
EXACT_MAX_NODES = 2000
#: Backstop time limit (s) of one exact solve; hitting it may make results vary by machine.
EXACT_TIME_LIMIT_S = 10.0
#: Node limit of the balance model, which only measures the distance to the most balanced.
BALANCE_MAX_NODES = 200
#: Backstop time limit (s) of one balance solve.
BALANCE_TIME_LIMIT_S = 5.0
#: Households below which a band violation counts as none (float noise).
EPS_HH = 1e-6
#: A binary column of a MIP solution is taken as 1 above this (solvers return 0.9999...).
ON = 0.5


@dataclass
class Certificate:
    """Band certificate of one community.

    Attributes
    ----------
    status : ``feasible``, ``infeasible`` or ``unknown``.
    method : ``heuristic`` (the partition checked), ``proof`` (a cheap proof), ``exact``
        (the HiGHS model) or ``limit`` (the exact model stopped at its limit, or the part
        is too large for it).
    proof : list of sentences: the evidence, for people.
    outside_lb, outside_ub : households outside the band, proven lower bound and best found.
    labels : a better partition found by the exact model (or None: keep the heuristic's).
    balance_dev_hh : largest deviation of a grid from the community mean (heuristic).
    balance_best_hh, balance_bound_hh : the same for the most balanced partition the exact
        model found with the same number of grids, and its proven lower bound (NaN when not
        computed).

    """

    status: str
    method: str
    proof: list[str] = field(default_factory=list)
    outside_lb: float = 0.0
    outside_ub: float = 0.0
    labels: np.ndarray | None = None
    balance_dev_hh: float = float("nan")
    balance_best_hh: float = float("nan")
    balance_bound_hh: float = float("nan")


def band_counts(total: float, lo: float, hi: float) -> tuple[int, int]:
    """Return the range ``(p_lo, p_hi)`` of grid counts with ``p lo <= total <= p hi``.

    Parameters
    ----------
    total : float
        Households to divide.
    lo, hi : float
        The household band.

    Returns
    -------
    (int, int)

    Examples
    --------
    >>> band_counts(600.0, 200, 500)
    (2, 3)

    """
    if total <= EPS_HH:
        return 0, 0
    return max(1, math.ceil(total / hi - 1e-9)), math.floor(total / lo + 1e-9)


def outside(h: np.ndarray, lo: float, hi: float) -> float:
    """Households outside the band summed over parts.

    Parameters
    ----------
    h : array-like
        Households of each part.
    lo, hi : float
        The household band.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> outside(np.array([150.0, 350.0, 600.0]), 200, 500)  # 50 short, 100 over
    150.0

    """
    h = np.asarray(h, float)
    return float((np.maximum(0.0, lo - h) + np.maximum(0.0, h - hi)).sum())


def connected(nbrs: list[list[int]], members: np.ndarray) -> bool:
    """Whether ``members`` induce a connected subgraph.

    Parameters
    ----------
    nbrs : list of list of int
        Neighbours of every atom.
    members : ndarray of int
        The atoms of one part.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> path = [[1], [0, 2], [1]]
    >>> connected(path, np.array([0, 1])), connected(path, np.array([0, 2]))
    (True, False)

    """
    if len(members) <= 1:
        return True
    mem = set(members.tolist())
    start = int(members[0])
    seen = {start}
    queue = deque([start])
    while queue:
        a = queue.popleft()
        for b in nbrs[a]:
            if b in mem and b not in seen:
                seen.add(b)
                queue.append(b)
    return len(seen) == len(mem)


def cheap_proofs(
    w: np.ndarray, comp: np.ndarray, names: list[str], lo: float, hi: float
) -> list[str]:
    """Sentences proving the band cannot be met, from atom weights and parts alone.

    Parameters
    ----------
    w : ndarray
        Households per atom.
    comp : ndarray of int
        Connected component of every atom.
    names : list of str
        A name per atom for the sentences.
    lo, hi : float
        The household band.

    Returns
    -------
    list of str
        Empty when these proofs find nothing.

    Examples
    --------
    >>> import numpy as np
    >>> cheap_proofs(np.array([150.0, 600.0, 250.0]), np.zeros(3, int), ["a", "b", "c"], 200, 500)
    ['b alone holds 600 households, above the maximum 500, and cannot be split: it is a grid of its own']

    """
    out: list[str] = []
    for a in np.flatnonzero(w > hi + EPS_HH).tolist():
        out.append(
            f"{names[a]} alone holds {w[a]:.0f} households, above the maximum {hi:g}, "
            "and cannot be split: it is a grid of its own"
        )
    labels = np.unique(comp)
    several = len(labels) > 1
    for c in labels.tolist():
        sel = comp == c
        total = float(w[sel].sum())
        if total <= EPS_HH or (w[sel] > hi + EPS_HH).any():
            continue
        where = (
            f"a separate part ({int(sel.sum())} atoms) of the community"
            if several
            else ("the community")
        )
        if total < lo - EPS_HH:
            out.append(
                f"{where} holds {total:.0f} households, below the minimum {lo:g}: "
                "one grid below the band"
            )
            continue
        p_lo, p_hi = band_counts(total, lo, hi)
        if p_lo > p_hi:
            out.append(
                f"{where} holds {total:.0f} households: no whole number of grids p has "
                f"p x {lo:g} <= {total:.0f} <= p x {hi:g}"
            )
            continue
        # a light atom needs company, but any other atom with households is too heavy
        pos = np.flatnonzero(sel & (w > EPS_HH))
        if len(pos) < 2:
            continue
        ws = np.sort(w[pos])
        for a in pos[w[pos] < lo - EPS_HH].tolist():
            other = ws[1] if w[a] == ws[0] else ws[0]
            if w[a] + other > hi + EPS_HH:
                out.append(
                    f"{names[a]} holds {w[a]:.0f} households, below the minimum {lo:g}, and "
                    f"with any other household atom of its part (the lightest holds "
                    f"{other:.0f}) its grid would exceed the maximum {hi:g}"
                )
    return out


def _arcs(nbrs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    tail = [a for a in range(len(nbrs)) for _ in nbrs[a]]
    head = [b for a in range(len(nbrs)) for b in nbrs[a]]
    return np.asarray(tail, dtype=np.int64), np.asarray(head, dtype=np.int64)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel parts 0..p-1 in the order of their lowest atom (the model's symmetry rule)."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    _, inv = np.unique(labels, return_inverse=True)
    return remap[inv]


def weighted_distance(w: np.ndarray, nbrs: list[list[int]]) -> np.ndarray:
    """Households on the lightest path between atoms, both ends included (n x n).

    Parameters
    ----------
    w : ndarray
        Households per atom.
    nbrs : list of list of int
        Neighbours of every atom.

    Returns
    -------
    ndarray
        n x n households.

    Examples
    --------
    >>> import numpy as np
    >>> w, path = np.array([150.0, 200.0, 250.0]), [[1], [0, 2], [1]]
    >>> weighted_distance(w, path)[0].round().tolist()
    [150.0, 350.0, 600.0]

    """
    from scipy.sparse.csgraph import dijkstra

    n = len(w)
    tail, head = _arcs(nbrs)
    g = sparse.csr_matrix((w[head] + 1e-9, (tail, head)), shape=(n, n))
    return dijkstra(g, directed=True) + w[:, None]


@dataclass
class _Hess:
    """Column layout of the assignment model: x pairs, then 2 slacks per centre, then flows."""

    n: int
    pi: np.ndarray  # atom of each x column
    pj: np.ndarray  # centre of each x column
    col: dict  # (i, j) -> x column
    fj: np.ndarray  # centre of each flow column
    ft: np.ndarray  # tail atom of each flow column
    fh: np.ndarray  # head atom of each flow column
    n_extra: int

    @property
    def n_x(self) -> int:  # noqa: D102
        return len(self.pi)

    @property
    def f0(self) -> int:  # noqa: D102
        return self.n_x + self.n_extra

    @property
    def ncol(self) -> int:  # noqa: D102
        return self.f0 + len(self.fj)


def _build(
    w: np.ndarray,
    nbrs: list[list[int]],
    *,
    lo: float,
    hi: float,
    reach: float,
    balance: tuple[int, float] | None,
    optional: np.ndarray | None = None,
) -> tuple[_Hess, dict]:
    """Arrays of the band model (``balance`` None) or the balance model ``(p, mean)``.

    ``reach``: atoms whose lightest path holds more households than this never share a grid
    (a grid holds that path); pairs beyond it have no column. ``optional`` atoms (without
    households, numbered after every atom with households) may stay unassigned and are
    never centres: any leftover atoms join a neighbouring grid afterwards.
    """
    n = len(w)
    if optional is None:
        optional = np.zeros(n, bool)
    dist = weighted_distance(w, nbrs)
    jj, ii = np.nonzero(dist <= reach + EPS_HH)
    keep = jj <= ii  # the centre is the lowest atom of its grid
    pi, pj = ii[keep], jj[keep]
    order = np.lexsort((pi, pj))
    pi, pj = pi[order], pj[order]
    col = {(int(a), int(b)): c for c, (a, b) in enumerate(zip(pi, pj, strict=True))}
    elig: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(pi.tolist(), pj.tolist(), strict=True):
        elig[b].add(a)
    tail, head = _arcs(nbrs)
    fj, ft, fh = [], [], []
    for j in range(n):
        e = elig[j]
        for t, h in zip(tail.tolist(), head.tolist(), strict=True):
            if h != j and t in e and h in e:
                fj.append(j)
                ft.append(t)
                fh.append(h)
    n_extra = 1 if balance is not None else 2 * n
    m = _Hess(n, pi, pj, col, np.asarray(fj, np.int64), np.asarray(ft, np.int64),
              np.asarray(fh, np.int64), n_extra)  # fmt: skip
    size = np.array([len(e) for e in elig], float)
    rows = _Rows()
    centre = {j: col[(j, j)] for j in range(n)}
    xcols = np.arange(m.n_x)
    for i in range(n):  # one centre per atom (at most one for atoms without households)
        sel = xcols[pi == i]
        rows.add(sel, np.ones(len(sel)), 0.0 if optional[i] else 1.0, 1.0)
    for c in xcols[pi != pj]:  # assigned only to an open centre
        rows.add([c, centre[int(pj[c])]], [1.0, -1.0], -np.inf, 0.0)
    _household_rows(rows, m, w, centre, lo=lo, hi=hi, balance=balance)
    _flow_rows(rows, m, size)
    if balance is not None:
        cc = np.array([centre[j] for j in range(n)])
        rows.add(cc, np.ones(n), float(balance[0]), float(balance[0]))
    col_lo = np.zeros(m.ncol)
    col_hi = np.ones(m.ncol)
    col_hi[m.n_x : m.f0] = np.inf
    col_hi[m.f0 :] = size[m.fj] - 1.0
    col_hi[[centre[j] for j in np.flatnonzero(optional).tolist()]] = 0.0
    cost = np.zeros(m.ncol)
    cost[m.n_x : m.f0] = 1.0
    return m, {
        "a": rows.matrix(m.ncol),
        "row_lo": np.asarray(rows.lo, float),
        "row_hi": np.asarray(rows.hi, float),
        "col_lo": col_lo,
        "col_hi": col_hi,
        "cost": cost,
        "n_int": m.n_x,
    }


class _Rows:
    """Sparse constraint rows ``lo <= sum(v * x[c]) <= hi``, added one at a time."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, c: Any, v: Any, lo: float, hi: float) -> None:
        """Add the row ``lo <= sum(v * x[c]) <= hi``."""
        self.rows.append(np.full(len(c), len(self.lo)))
        self.cols.append(np.asarray(c, np.int64))
        self.vals.append(np.asarray(v, float))
        self.lo.append(lo)
        self.hi.append(hi)

    def matrix(self, ncol: int) -> sparse.csc_matrix:
        """Return the rows as one sparse matrix."""
        data = (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols)))
        return sparse.csc_matrix(data, shape=(len(self.lo), ncol))


def _household_rows(
    rows: _Rows,
    m: _Hess,
    w: np.ndarray,
    centre: dict[int, int],
    *,
    lo: float,
    hi: float,
    balance: tuple[int, float] | None,
) -> None:
    """Each open grid's households: in the band (with slacks), or near the mean (balance)."""
    xcols = np.arange(m.n_x)
    for j in range(m.n):
        sel = xcols[m.pj == j]
        hh = w[m.pi[sel]]
        if balance is None:  # lo x_jj <= H_j + s_j, H_j - t_j <= hi x_jj
            s_j, t_j = m.n_x + 2 * j, m.n_x + 2 * j + 1
            rows.add(np.r_[sel, centre[j], s_j], np.r_[hh, -lo, 1.0], 0.0, np.inf)
            rows.add(np.r_[sel, centre[j], t_j], np.r_[hh, -hi, -1.0], -np.inf, 0.0)
        else:
            mean = balance[1]
            d = m.n_x
            rows.add(np.r_[sel, centre[j]], np.r_[hh, -lo], 0.0, np.inf)
            rows.add(np.r_[sel, centre[j]], np.r_[hh, -hi], -np.inf, 0.0)
            rows.add(np.r_[sel, centre[j], d], np.r_[hh, -mean, -1.0], -np.inf, 0.0)
            rows.add(np.r_[sel, centre[j], d], np.r_[hh, -mean, 1.0], 0.0, np.inf)


def _flow_rows(rows: _Rows, m: _Hess, size: np.ndarray) -> None:
    """Contiguity: one unit of flow from each grid's centre to every atom of the grid."""
    xcols = np.arange(m.n_x)
    fcols = m.f0 + np.arange(len(m.fj))
    key_in: dict[tuple[int, int], list[int]] = {}
    key_out: dict[tuple[int, int], list[int]] = {}
    for c, j, t, h in zip(fcols.tolist(), m.fj.tolist(), m.ft.tolist(), m.fh.tolist(), strict=True):
        key_in.setdefault((j, h), []).append(c)
        key_out.setdefault((j, t), []).append(c)
        # flow enters only atoms of the grid
        rows.add([c, m.col[(h, j)]], [1.0, -(size[j] - 1.0)], -np.inf, 0.0)
    for c in xcols[m.pi != m.pj]:  # every atom of a grid takes one unit from its centre
        i, j = int(m.pi[c]), int(m.pj[c])
        fin = key_in.get((j, i), [])
        fout = key_out.get((j, i), [])
        rows.add(np.r_[fin, fout, c], np.r_[np.ones(len(fin)), -np.ones(len(fout)), -1.0], 0.0, 0.0)


def _warm(
    m: _Hess,
    w: np.ndarray,
    nbrs: list[list[int]],
    labels: np.ndarray,
    *,
    lo: float,
    hi: float,
    balance: tuple[float, float] | None,
) -> np.ndarray | None:
    """Column vector of a partition: centres are lowest atoms, flows along BFS trees."""
    x = np.zeros(m.ncol)
    fcol = {(int(j), int(t), int(h)): m.f0 + c
            for c, (j, t, h) in enumerate(zip(m.fj, m.ft, m.fh, strict=True))}  # fmt: skip
    devs = []
    for part in np.unique(labels).tolist():
        mem = np.flatnonzero(labels == part)
        j = int(mem[0])
        for i in mem.tolist():
            c = m.col.get((i, j))
            if c is None:
                return None
            x[c] = 1.0
        ms = set(mem.tolist())
        parent = {j: -1}
        order = [j]
        queue = deque([j])
        while queue:
            a = queue.popleft()
            for b in nbrs[a]:
                if b in ms and b not in parent:
                    parent[b] = a
                    order.append(b)
                    queue.append(b)
        if len(order) < len(mem):
            return None
        size = dict.fromkeys(order, 1)
        for v in reversed(order[1:]):
            size[parent[v]] += size[v]
            x[fcol[(j, parent[v], v)]] = size[v]
        h = float(w[mem].sum())
        if balance is None:
            x[m.n_x + 2 * j] = max(0.0, lo - h)
            x[m.n_x + 2 * j + 1] = max(0.0, h - hi)
        else:
            devs.append(abs(h - balance[1]))
    if balance is not None:
        x[m.n_x] = max(devs)
    return x


def _solve(
    arrays: dict[str, Any], warm: np.ndarray | None, *, max_nodes: int, time_limit_s: float
) -> tuple[str, np.ndarray | None, float, float]:
    import highspy

    lp = mip_model(
        arrays["a"],
        cost=arrays["cost"],
        col_lo=arrays["col_lo"],
        col_hi=arrays["col_hi"],
        row_lo=arrays["row_lo"],
        row_hi=arrays["row_hi"],
        n_int=arrays["n_int"],
    )
    h = quiet_highs(
        mip_max_nodes=int(max_nodes),
        time_limit=float(time_limit_s),
        mip_rel_gap=1e-6,
        mip_abs_gap=1e-6,
    )
    h.passModel(lp)
    if warm is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(warm)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    x = None
    if info.primal_solution_status:
        x = np.asarray(h.getSolution().col_value, dtype=float)
    bound = float(info.mip_dual_bound)
    obj = float(info.objective_function_value) if x is not None else float("inf")
    return status, x, obj, bound


def _decode_raw(m: _Hess, x: np.ndarray) -> np.ndarray:
    """Centre of every atom in a solution (-1 when unassigned)."""
    xs = x[: m.n_x]
    lab = np.full(m.n, -1, dtype=np.int64)
    best = np.full(m.n, -1.0)
    for c in np.flatnonzero(xs > ON).tolist():
        i = int(m.pi[c])
        if xs[c] > best[i]:
            best[i], lab[i] = xs[c], int(m.pj[c])
    return lab


def _reduced(
    w: np.ndarray, nbrs: list[list[int]], lo: float
) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """Contract light leaves, number atoms with households first (see :func:`exact_feasible`)."""
    wc, nc, owner = contract_leaves(w, nbrs, lo)
    perm = np.lexsort((np.arange(len(wc)), wc <= EPS_HH))
    inv = np.empty(len(perm), dtype=np.int64)
    inv[perm] = np.arange(len(perm))
    return wc[perm], [sorted(int(inv[b]) for b in nc[a]) for a in perm.tolist()], inv[owner]


def exact_balance(
    w: np.ndarray,
    nbrs: list[list[int]],
    labels: np.ndarray,
    *,
    lo: float,
    hi: float,
    max_nodes: int = BALANCE_MAX_NODES,
    time_limit_s: float = BALANCE_TIME_LIMIT_S,
) -> tuple[float, float, float]:
    """Largest deviation from the mean: the heuristic's, the best found, the proven bound.

    Same number of grids as ``labels`` (which meet the band), hard band, contiguity. The
    model runs on the reduced graph (:func:`contract_leaves`, atoms without households
    optional); the heuristic's partition, mapped onto it, is the warm start when it maps.

    Parameters
    ----------
    w : ndarray
        Households per atom.
    nbrs : list of list of int
        Neighbours of every atom.
    labels : ndarray of int
        Grids of the heuristic (meeting the band).
    lo, hi : float
        The household band.
    max_nodes, time_limit_s : int, float
        Limits of the HiGHS branch and bound.

    Returns
    -------
    (float, float, float)
        Households: the heuristic's deviation, the best found, the proven lower bound.

    Examples
    --------
    >>> import numpy as np
    >>> w, path = np.array([150.0, 200.0, 250.0, 300.0]), [[1], [0, 2], [1, 3], [2]]
    >>> exact_balance(w, path, np.array([0, 0, 0, 1]), lo=200, hi=600)
    (150.0, 100.0, 100.0)

    """
    lab = _canonical(labels)
    p = int(lab.max()) + 1
    mean = float(w.sum()) / p
    dev0 = float(np.abs(np.bincount(lab, weights=w, minlength=p) - mean).max())
    if p == 1:
        return dev0, dev0, dev0
    wr, nr, where = _reduced(w, nbrs, lo)
    m, arrays = _build(wr, nr, lo=lo, hi=hi, reach=hi, balance=(p, mean), optional=wr <= EPS_HH)
    lab_r = np.full(len(wr), -1, dtype=np.int64)
    lab_r[where] = lab  # a contracted leaf always shares its neighbour's grid
    warm = None
    if (lab_r >= 0).all():
        warm = _warm(m, wr, nr, _canonical(lab_r), lo=lo, hi=hi, balance=(p, mean))
    status, x, obj, bound = _solve(arrays, warm, max_nodes=max_nodes, time_limit_s=time_limit_s)
    best = min(dev0, obj) if x is not None else dev0
    lb = best if status == "Optimal" else min(best, max(0.0, bound))
    return dev0, best, lb


def _attach_leftovers(labels: np.ndarray, nbrs: list[list[int]]) -> np.ndarray:
    """Give unassigned atoms (-1) to a neighbouring part, breadth first (lowest part first)."""
    lab = labels.copy()
    while (lab < 0).any():
        moved = False
        for a in np.flatnonzero(lab < 0).tolist():
            parts = [lab[b] for b in nbrs[a] if lab[b] >= 0]
            if parts:
                lab[a] = min(parts)
                moved = True
        if not moved:
            break
    return lab


def exact_feasible(
    w: np.ndarray,
    nbrs: list[list[int]],
    *,
    lo: float,
    hi: float,
    max_nodes: int = EXACT_MAX_NODES,
    time_limit_s: float = EXACT_TIME_LIMIT_S,
) -> tuple[str, np.ndarray | None]:
    """Hard-band model of one connected part: ``feasible`` (with labels), ``infeasible``, ``limit``.

    Light leaves are contracted first (:func:`contract_leaves`); atoms without households
    are numbered last and may stay out of every grid in the model (the part is connected, so
    they can always join a neighbouring grid afterwards).

    Parameters
    ----------
    w : ndarray
        Households per atom.
    nbrs : list of list of int
        Neighbours of every atom.
    lo, hi : float
        The household band.
    max_nodes, time_limit_s : int, float
        Limits of the HiGHS branch and bound.

    Returns
    -------
    (str, ndarray or None)
        ``feasible`` with grid labels, ``infeasible`` or ``limit`` with None.

    Examples
    --------
    >>> import numpy as np
    >>> w, path = np.array([150.0, 200.0, 250.0]), [[1], [0, 2], [1]]
    >>> status, labels = exact_feasible(w, path, lo=200, hi=500)
    >>> status, labels.tolist()
    ('feasible', [0, 0, 1])
    >>> exact_feasible(np.array([150.0, 150.0, 150.0]), path, lo=200, hi=250)
    ('infeasible', None)

    """
    wp, np_, where = _reduced(w, nbrs, lo)
    if (wp > hi + EPS_HH).any():  # a light leaf must join a neighbour that is then too heavy
        return "infeasible", None
    m, arrays = _build(wp, np_, lo=lo, hi=hi, reach=hi, balance=None, optional=wp <= EPS_HH)
    arrays["col_hi"][m.n_x : m.f0] = 0.0  # no households outside the band
    status, x, _, _ = _solve(arrays, None, max_nodes=max_nodes, time_limit_s=time_limit_s)
    if status == "Infeasible":
        return "infeasible", None
    if x is not None:
        lab_p = _attach_leftovers(_decode_raw(m, x), np_)
        cand = _canonical(lab_p[where]) if (lab_p >= 0).all() else None
        if cand is not None:
            h = np.bincount(cand, weights=w)
            ok = outside(h, lo, hi) <= EPS_HH
            if ok and all(connected(nbrs, np.flatnonzero(cand == r)) for r in range(len(h))):
                return "feasible", cand
    return "limit", None


def _outside_lower_bound(w: np.ndarray, comp: np.ndarray, lo: float, hi: float) -> float:
    """Households any partition leaves outside: heavy atoms above hi, light parts below lo."""
    lb = float(np.maximum(0.0, w - hi).sum())
    for c in np.unique(comp).tolist():
        t = float(w[comp == c].sum())
        if EPS_HH < t < lo:
            lb += lo - t
    return lb


def _subgraph(nbrs: list[list[int]], atoms: np.ndarray) -> list[list[int]]:
    """Neighbour lists of ``atoms`` alone, renumbered 0..len(atoms)-1."""
    local = {int(a): k for k, a in enumerate(atoms.tolist())}
    return [[local[b] for b in nbrs[a] if b in local] for a in atoms.tolist()]


def certify(
    w: np.ndarray,
    nbrs: list[list[int]],
    comp: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    *,
    lo: float,
    hi: float,
    max_atoms: int = EXACT_MAX_ATOMS,
    balance: bool = False,
) -> Certificate:
    """Certificate of one community from its atom graph and the heuristic's labels.

    Cheap proofs first, then the heuristic's partition is checked, then the exact model runs
    on every connected part (up to ``max_atoms`` atoms) whose grids miss the band. When the
    exact model finds a partition meeting the band, ``labels`` holds it. ``balance`` also
    runs :func:`exact_balance` on every feasible part (slow: about 1-2 s per part).

    Parameters
    ----------
    w : ndarray
        Households per atom.
    nbrs : list of list of int
        Neighbours of every atom.
    comp : ndarray of int
        Connected component of every atom.
    labels : ndarray of int
        The heuristic's grid of every atom.
    names : list of str
        A name per atom for the proofs (its compound or building).
    lo, hi : float
        The household band.
    max_atoms : int
        Largest part the exact model is run on.
    balance : bool
        Also measure how far feasible grids are from the most balanced partition.

    Returns
    -------
    Certificate
        ``feasible``, ``infeasible`` (with the proof) or ``unknown`` (with bounds).

    Examples
    --------
    >>> import numpy as np
    >>> w, path = np.array([150.0, 600.0, 250.0]), [[1], [0, 2], [1]]
    >>> cert = certify(w, path, np.zeros(3, int), np.arange(3), ["a", "b", "c"], lo=200, hi=500)
    >>> cert.status, cert.method
    ('infeasible', 'proof')

    """
    w = np.asarray(w, float)
    h0 = np.bincount(labels, weights=w)
    ub0 = outside(h0[h0 > EPS_HH], lo, hi)
    proofs = cheap_proofs(w, comp, names, lo, hi)
    if proofs:
        lb = _outside_lower_bound(w, comp, lo, hi)
        return Certificate("infeasible", "proof", proofs, outside_lb=lb, outside_ub=ub0)
    new = labels.copy()
    changed = False
    unknown: list[str] = []
    devs: list[tuple[float, float, float]] = []
    for c in np.unique(comp).tolist():
        atoms = np.flatnonzero(comp == c)
        if w[atoms].sum() <= EPS_HH:
            continue
        sub_nbrs = _subgraph(nbrs, atoms)
        sub_lab = np.unique(labels[atoms], return_inverse=True)[1]
        hc = np.bincount(sub_lab, weights=w[atoms])
        ok = outside(hc, lo, hi) <= EPS_HH and all(
            connected(sub_nbrs, np.flatnonzero(sub_lab == r)) for r in range(len(hc))
        )
        if ok:
            if balance and len(atoms) <= max_atoms:
                devs.append(exact_balance(w[atoms], sub_nbrs, sub_lab, lo=lo, hi=hi))
            continue
        where = f"a part of {len(atoms)} atoms and {w[atoms].sum():.0f} households"
        if len(atoms) > max_atoms:
            unknown.append(f"{where} is too large for the exact model (> {max_atoms} atoms)")
            continue
        status, cand = exact_feasible(w[atoms], sub_nbrs, lo=lo, hi=hi)
        if status == "infeasible":
            proof = (
                f"exact model (HiGHS): {where} cannot be divided into contiguous grids of "
                f"{lo:g}-{hi:g} households"
            )
            return Certificate("infeasible", "exact", [proof], outside_lb=0.0, outside_ub=ub0)
        if status == "feasible" and cand is not None:
            new[atoms] = int(new.max()) + 1 + cand
            changed = True
            continue
        unknown.append(f"{where}: the exact model stopped at its limit ({EXACT_MAX_NODES} nodes)")
    lab_out = np.unique(new, return_inverse=True)[1] if changed else None
    if unknown:
        h = np.bincount(lab_out, weights=w) if lab_out is not None else h0
        best = outside(h[h > EPS_HH], lo, hi)
        text = unknown + [f"best found: {best:.0f} households outside the band; lower bound 0"]
        return Certificate("unknown", "limit", text, 0.0, best, labels=lab_out)
    cert = Certificate(
        "feasible",
        "exact" if changed else "heuristic",
        ["every grid holds " + f"{lo:g}-{hi:g} households and is contiguous"],
        labels=lab_out,
    )
    if devs:
        cert.balance_dev_hh = max(d[0] for d in devs)
        cert.balance_best_hh = max(d[1] for d in devs)
        cert.balance_bound_hh = max(d[2] for d in devs)
    return cert


def contract_leaves(
    w: np.ndarray, nbrs: list[list[int]], lo: float
) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """Merge every leaf atom lighter than ``lo`` into its only neighbour, repeatedly.

    Such a leaf can never be a grid of its own, so it shares its neighbour's grid in every
    partition meeting the band: the band can be met on the contracted graph exactly when it
    can on the original.

    Parameters
    ----------
    w : ndarray
        Households per atom.
    nbrs : list of list of int
        Neighbours of every atom.
    lo : float
        Lower end of the band.

    Returns
    -------
    (ndarray, list of list of int, ndarray)
        The weights, neighbours and the new atom of each old atom.

    Examples
    --------
    >>> import numpy as np
    >>> w, nbrs, owner = contract_leaves(np.array([50.0, 300.0, 250.0]), [[1], [0, 2], [1]], 200)
    >>> w.tolist(), nbrs, owner.tolist()
    ([350.0, 250.0], [[1], [0]], [0, 0, 1])

    """
    n = len(w)
    wt = np.asarray(w, float).copy()
    adj = [set(b) for b in nbrs]
    owner = np.arange(n)
    alive = np.ones(n, bool)
    stack = [a for a in range(n) if len(adj[a]) == 1 and wt[a] < lo]
    while stack:
        a = stack.pop()
        if not alive[a] or len(adj[a]) != 1 or wt[a] >= lo:
            continue
        (b,) = adj[a]
        wt[b] += wt[a]
        adj[b].discard(a)
        alive[a] = False
        owner[owner == a] = b
        if len(adj[b]) == 1 and wt[b] < lo:
            stack.append(b)
    keep = np.flatnonzero(alive)
    new = np.full(n, -1)
    new[keep] = np.arange(len(keep))
    return (
        wt[keep],
        [sorted(int(new[c]) for c in adj[a]) for a in keep.tolist()],
        new[owner],
    )
