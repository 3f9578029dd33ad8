"""Siting solvers on sparse candidate x demand matrices: lazy greedy (CELF) and HiGHS MIPs.

Every solver takes the demand weights ``w`` (households), the matrix ``cover`` (CSR, candidates
x units, stored where the candidate reaches the unit within the target; values are walking
distances + 1e-9) and the state of the existing facilities, and returns a :class:`Solution`.

Problems (``x_j`` = 1 when candidate ``j`` is opened, ``U`` = units not yet covered by an
existing facility, ``N(i)`` = candidates that reach unit ``i``):

* maximal coverage (MCLP): max ``sum_{i in U} w_i y_i`` s.t. ``y_i <= sum_{j in N(i)} x_j``,
  ``0 <= y_i <= 1``, ``sum_j x_j = k``.
* MCLP with capacity ``C`` households per new station: ``y_ij`` is the share of unit ``i``
  served by ``j``; max ``sum w_i y_ij`` s.t. ``sum_j y_ij <= 1``, ``sum_i w_i y_ij <= C x_j``,
  ``y_ij <= x_j``, ``sum_j x_j = k`` (households may be split between stations).
* partial set cover: min ``sum_j x_j`` s.t. ``y_i <= sum_{j in N(i)} x_j`` and
  ``sum_i w_i y_i >= share * W - W_0`` (``W`` all households, ``W_0`` those covered today).
* capped p-median: with ``c_i = min(d_existing_i, cap)``, min
  ``sum_i w_i (c_i - sum_j (c_i - d_ij) z_ij)`` s.t. ``sum_j z_ij <= 1``, ``z_ij <= x_j``,
  ``sum_j x_j = k``, over the pairs with ``d_ij < c_i`` (``d_ij <= cap``). It is the exact
  p-median of the distances ``min(d, cap)`` with existing facilities kept open.

The greedy solvers add, one at a time, the candidate with the largest marginal gain; gains
only shrink as sites are added (the objectives are submodular), so a stale gain is an upper
bound and only the top of a heap is re-evaluated (lazy evaluation, CELF, Leskovec et al.
2007). Ties go to the lowest candidate index, so results are deterministic.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from geogrid.analyses.highs import mip_model, quiet_highs
from geogrid.analyses.siting.benders import cut_bound
from geogrid.errors import GeogridError

__all__: list[str] = []

log = logging.getLogger(__name__)

_EPS = 1e-9
_THETA_MIN = 1e-6  # subgradient step factor below which the Lagrangian stops
_STALL = 20  # iterations without a better bound before the step halves


@dataclass
class Solution:
    """Chosen candidates in the order added (greedy) or ranked afterwards (exact).

    ``objective`` is the problem's objective (households newly covered; number of sites;
    household-weighted capped distance). ``bound``, ``gap``, ``status`` come from HiGHS
    (the greedy reports ``status="greedy"`` and no bound). ``assign`` (capacity only) is
    the candidate x unit matrix of households served.
    """

    sites: np.ndarray
    objective: float
    solver: str
    status: str = "greedy"
    bound: float = float("nan")
    gap: float = float("nan")
    seconds: float = 0.0
    evaluations: int = 0
    feasible: bool = True
    assign: sparse.csr_matrix | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _row(mat: sparse.csr_matrix, j: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = mat.indptr[j], mat.indptr[j + 1]
    return mat.indices[a:b], mat.data[a:b]


def _row_sums(mat: sparse.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``weights`` over the stored columns (values ignored)."""
    rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
    return np.bincount(rows, weights=weights[mat.indices], minlength=mat.shape[0])


def _celf(
    n: int,
    first_gains: np.ndarray,
    gain_of: Any,
    accept: Any,
    stop: Any,
) -> tuple[list[int], list[float], int]:
    """Lazy greedy: ``gain_of(j)`` re-evaluates, ``accept(j)`` commits, ``stop(n_chosen)``."""
    heap = [(-float(g), j, 0) for j, g in enumerate(first_gains.tolist()) if g > _EPS]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    evals = n
    rnd = 0
    while heap and not stop(len(chosen)):
        neg, j, stamp = heapq.heappop(heap)
        if stamp == rnd:
            chosen.append(j)
            gains.append(-neg)
            accept(j)
            rnd += 1
            continue
        g = float(gain_of(j))
        evals += 1
        if g > _EPS:
            heapq.heappush(heap, (-g, j, rnd))
    return chosen, gains, evals


def greedy_cover(
    cover: sparse.csr_matrix,
    w: np.ndarray,
    covered0: np.ndarray,
    *,
    k: int | None = None,
    need_w: float | None = None,
) -> Solution:
    """Lazy greedy for MCLP (``k`` sites) or partial set cover (until ``need_w`` households)."""
    t0 = time.perf_counter()
    cov = covered0.astype(bool).copy()
    wa = np.where(cov, 0.0, w)
    first = _row_sums(cover, wa)
    state = {"got": 0.0}

    def gain_of(j: int) -> float:
        idx, _ = _row(cover, j)
        return float(wa[idx].sum())

    def accept(j: int) -> None:
        idx, _ = _row(cover, j)
        state["got"] += float(wa[idx].sum())
        wa[idx] = 0.0

    def stop(n: int) -> bool:
        if k is not None and n >= k:
            return True
        return need_w is not None and state["got"] >= need_w - 1e-6

    sites, gains, evals = _celf(cover.shape[0], first, gain_of, accept, stop)
    feasible = need_w is None or state["got"] >= need_w - 1e-6
    return Solution(
        sites=np.asarray(sites, dtype=np.int64),
        objective=float(sum(gains)) if need_w is None else float(len(sites)),
        solver="greedy",
        seconds=time.perf_counter() - t0,
        evaluations=evals,
        feasible=feasible,
        info={"gains": np.asarray(gains), "covered_new": state["got"]},
    )


def swap_improve(
    cover: sparse.csr_matrix,
    w: np.ndarray,
    covered0: np.ndarray,
    sites: np.ndarray,
    *,
    max_rounds: int = 50,
    deadline: float = float("inf"),
) -> tuple[np.ndarray, float, int]:
    """Improve an MCLP solution by best single swaps (one site out, one candidate in).

    For each open site ``s`` the gain of every candidate replacing it is one sparse
    product ``cover @ u`` with ``u`` the weight of units left uncovered without ``s``.
    Stops when no swap gains more than 1e-9 households, or after the round running at
    ``deadline`` (``time.perf_counter``). Returns sites (greedy order kept,
    a swapped-in site takes the place of the one it replaces), objective, swaps made.
    """
    sites = np.asarray(sites, dtype=np.int64).copy()
    wa = np.where(covered0, 0.0, w)
    ones = cover.copy()
    ones.data = np.ones(ones.nnz)
    count = np.asarray(ones[sites].sum(axis=0)).ravel() if len(sites) else np.zeros(cover.shape[1])
    swaps = 0
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        best = (1e-9, -1, -1)
        for pos, s_ in enumerate(sites.tolist()):
            if time.perf_counter() > deadline:
                break
            idx, _d = _row(cover, s_)
            only = np.zeros(cover.shape[1], dtype=bool)
            only[idx[count[idx] == 1]] = True
            loss = float(wa[only].sum())
            u = np.where((count == 0) | only, wa, 0.0)
            gains = _row_sums(cover, u) - loss
            gains[sites] = -np.inf
            j = int(np.argmax(gains))
            if gains[j] > best[0]:
                best = (float(gains[j]), pos, j)
        if best[1] < 0:
            break
        _, pos, j = best
        out_idx, _d = _row(cover, int(sites[pos]))
        count[out_idx] -= 1
        in_idx, _d = _row(cover, j)
        count[in_idx] += 1
        sites[pos] = j
        swaps += 1
    return sites, float(wa[count > 0].sum()), swaps


def greedy_capacity(
    cover: sparse.csr_matrix, w: np.ndarray, covered0: np.ndarray, *, k: int, capacity: float
) -> Solution:
    """Lazy greedy for MCLP with a capacity: each site takes its nearest households first."""
    t0 = time.perf_counter()
    resid = np.where(covered0, 0.0, w).astype(float)
    cap = float(capacity)
    first = np.minimum(_row_sums(cover, resid), cap)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def gain_of(j: int) -> float:
        idx, _ = _row(cover, j)
        return min(float(resid[idx].sum()), cap)

    def accept(j: int) -> None:
        idx, dist = _row(cover, j)
        order = np.lexsort((idx, dist))
        idx = idx[order]
        take = resid[idx]
        before = np.cumsum(take) - take
        amount = np.clip(cap - before, 0.0, take)
        resid[idx] -= amount
        ok = amount > 0
        rows.append(np.full(int(ok.sum()), j))
        cols.append(idx[ok])
        vals.append(amount[ok])

    sites, gains, evals = _celf(cover.shape[0], first, gain_of, accept, lambda n: n >= k)
    assign = sparse.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0),
            (
                np.concatenate(rows) if rows else np.zeros(0, int),
                np.concatenate(cols) if cols else np.zeros(0, int),
            ),
        ),
        shape=cover.shape,
    )
    return Solution(
        sites=np.asarray(sites, dtype=np.int64),
        objective=float(sum(gains)),
        solver="greedy",
        seconds=time.perf_counter() - t0,
        evaluations=evals,
        assign=assign,
        info={"gains": np.asarray(gains)},
    )


def greedy_pmedian(dist: sparse.csr_matrix, w: np.ndarray, base: np.ndarray, *, k: int) -> Solution:
    """Lazy greedy for the capped p-median; ``base`` is each unit's capped distance today."""
    t0 = time.perf_counter()
    cur = base.astype(float).copy()

    def saving(j: int) -> float:
        idx, d = _row(dist, j)
        return float(np.sum(w[idx] * np.maximum(cur[idx] - (d - _EPS), 0.0)))

    rows = np.repeat(np.arange(dist.shape[0]), np.diff(dist.indptr))
    each = w[dist.indices] * np.maximum(cur[dist.indices] - (dist.data - _EPS), 0.0)
    first = np.bincount(rows, weights=each, minlength=dist.shape[0])

    def accept(j: int) -> None:
        idx, d = _row(dist, j)
        cur[idx] = np.minimum(cur[idx], d - _EPS)

    sites, gains, evals = _celf(dist.shape[0], first, saving, accept, lambda n: n >= k)
    return Solution(
        sites=np.asarray(sites, dtype=np.int64),
        objective=float(np.sum(w * cur)),
        solver="greedy",
        seconds=time.perf_counter() - t0,
        evaluations=evals,
        info={"gains": np.asarray(gains), "base_cost": float(np.sum(w * base))},
    )


# ---------------------------------------------------------------------- HiGHS
def solve_mip(
    cost: np.ndarray,
    a: sparse.spmatrix,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    n_int: int,
    *,
    maximize: bool,
    time_limit_s: float,
    mip_rel_gap: float,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Solve a MIP whose first ``n_int`` columns are integer, passed as one CSC matrix."""
    import highspy

    lp = mip_model(
        a,
        cost=cost,
        col_lo=col_lo,
        col_hi=col_hi,
        row_lo=row_lo,
        row_hi=row_hi,
        n_int=n_int,
        maximize=maximize,
    )
    h = quiet_highs(time_limit=float(time_limit_s), mip_rel_gap=float(mip_rel_gap))
    t0 = time.perf_counter()
    h.passModel(lp)
    if start is not None:
        warm = highspy.HighsSolution()
        warm.col_value = np.asarray(start, dtype=float).tolist()
        h.setSolution(warm)
    h.run()
    seconds = time.perf_counter() - t0
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=float) if info.primal_solution_status else None
    out = {
        "status": status,
        "objective": float(info.objective_function_value) if x is not None else float("nan"),
        "bound": float(info.mip_dual_bound),
        "gap": float(info.mip_gap),
        "seconds": seconds,
        "nodes": int(info.mip_node_count),
    }
    if x is None:
        msg = f"HiGHS found no solution ({status}) within {time_limit_s} s; raise time_limit_s or use solver='greedy'"
        raise GeogridError(msg)
    return x, out


def _link(cover: sparse.csr_matrix, units: np.ndarray) -> sparse.csr_matrix:
    """Rows ``y_i - sum_{j in N(i)} x_j <= 0`` for the given units: [-N^T | I] (CSR)."""
    nt = cover[:, units].T.tocsr()
    nt.data = np.full(nt.nnz, -1.0)
    return sparse.hstack([nt, sparse.identity(len(units), format="csr")], format="csr")


def exact_cover(
    cover: sparse.csr_matrix,
    w: np.ndarray,
    covered0: np.ndarray,
    *,
    k: int | None = None,
    need_w: float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> Solution:
    """HiGHS MIP for MCLP (``k``) or partial set cover (``need_w``)."""
    if k is None and need_w is None:
        raise ValueError("exact_cover needs k (sites to open) or need_w (weight to cover)")
    n = cover.shape[0]
    units = np.flatnonzero(~covered0 & (w > 0) & (np.diff(cover.tocsc().indptr) > 0))
    m = len(units)
    link = _link(cover, units)
    ones = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
    if need_w is None:
        a = sparse.vstack([link, ones], format="csr")
        row_lo = np.r_[np.full(m, -np.inf), 0.0]
        row_hi = np.r_[np.zeros(m), float(k or 0)]
        cost = np.r_[np.zeros(n), w[units]]
        maximize = True
    else:
        need = sparse.csr_matrix(np.r_[np.zeros(n), w[units]][None, :])
        a = sparse.vstack([link, need], format="csr")
        row_lo = np.r_[np.full(m, -np.inf), float(need_w) - 1e-6]
        row_hi = np.r_[np.zeros(m), np.inf]
        cost = np.r_[np.ones(n), np.zeros(m)]
        maximize = False
    x, out = solve_mip(
        cost,
        a,
        row_lo,
        row_hi,
        np.zeros(n + m),
        np.ones(n + m),
        n,
        maximize=maximize,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    sites = np.flatnonzero(x[:n] > 0.5)
    return Solution(
        sites=sites,
        objective=out["objective"] if need_w is None else float(len(sites)),
        solver="highs",
        status=out["status"],
        bound=out["bound"],
        gap=out["gap"],
        seconds=out["seconds"],
        info={"nodes": out["nodes"], "units": m},
    )


def exact_capacity(
    cover: sparse.csr_matrix,
    w: np.ndarray,
    covered0: np.ndarray,
    *,
    k: int,
    capacity: float,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> Solution:
    """HiGHS MIP for MCLP with capacities (assignment variables per reachable pair)."""
    n, n_unit = cover.shape
    keep = ~covered0 & (w > 0)
    pairs = cover.tocoo()
    sel = keep[pairs.col]
    pj, pi = pairs.row[sel], pairs.col[sel]
    p = len(pj)
    yidx = np.arange(p)
    # one row per unit with pairs: sum_j y_ij <= 1
    units, urow = np.unique(pi, return_inverse=True)
    nu = len(units)
    r_unit = sparse.csr_matrix((np.ones(p), (urow, n + yidx)), shape=(nu, n + p))
    # capacity: sum_i w_i y_ij - C x_j <= 0
    r_cap = sparse.csr_matrix(
        (
            np.r_[w[pi], np.full(n, -float(capacity))],
            (np.r_[pj, np.arange(n)], np.r_[n + yidx, np.arange(n)]),
        ),
        shape=(n, n + p),
    )
    # y_ij - x_j <= 0
    r_link = sparse.csr_matrix(
        (np.r_[np.ones(p), -np.ones(p)], (np.r_[yidx, yidx], np.r_[n + yidx, pj])), shape=(p, n + p)
    )
    r_k = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(p)][None, :])
    a = sparse.vstack([r_unit, r_cap, r_link, r_k], format="csr")
    row_lo = np.full(a.shape[0], -np.inf)
    row_hi = np.r_[np.ones(nu), np.zeros(n), np.zeros(p), float(k)]
    cost = np.r_[np.zeros(n), w[pi]]
    x, out = solve_mip(
        cost,
        a,
        row_lo,
        row_hi,
        np.zeros(n + p),
        np.ones(n + p),
        n,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    sites = np.flatnonzero(x[:n] > 0.5)
    y = x[n:] * w[pi]
    ok = y > 1e-9
    assign = sparse.csr_matrix((y[ok], (pj[ok], pi[ok])), shape=(n, n_unit))
    return Solution(
        sites=sites,
        objective=out["objective"],
        solver="highs",
        status=out["status"],
        bound=out["bound"],
        gap=out["gap"],
        seconds=out["seconds"],
        assign=assign,
        info={"nodes": out["nodes"], "pairs": p},
    )


def exact_pmedian(
    dist: sparse.csr_matrix,
    w: np.ndarray,
    base: np.ndarray,
    *,
    k: int,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
    required: np.ndarray | None = None,
) -> Solution:
    """HiGHS MIP for the capped p-median (savings over today's capped distances)."""
    n, _ = dist.shape
    pairs = dist.tocoo()
    d = pairs.data - _EPS
    sel = (d < base[pairs.col]) & (w[pairs.col] > 0)
    pj, pi, d = pairs.row[sel], pairs.col[sel], d[sel]
    p = len(pj)
    yidx = np.arange(p)
    units, urow = np.unique(pi, return_inverse=True)
    nu = len(units)
    r_unit = sparse.csr_matrix((np.ones(p), (urow, n + yidx)), shape=(nu, n + p))
    r_link = sparse.csr_matrix(
        (np.r_[np.ones(p), -np.ones(p)], (np.r_[yidx, yidx], np.r_[n + yidx, pj])), shape=(p, n + p)
    )
    r_k = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(p)][None, :])
    a = sparse.vstack([r_unit, r_link, r_k], format="csr")
    row_lo = np.full(nu + p + 1, -np.inf)
    row_hi = np.r_[np.ones(nu), np.zeros(p), float(k)]
    save = w[pi] * (base[pi] - d)
    cost = np.r_[np.zeros(n), save]
    # warm start: the greedy sites, each unit to its nearest open one
    req = np.zeros(0, np.int64) if required is None else np.asarray(required, np.int64)
    base_req = base.astype(float).copy()
    if len(req):
        sub = dist[req].tocoo()
        np.minimum.at(base_req, sub.col, sub.data - _EPS)
    g = greedy_pmedian(dist, w, base_req, k=max(k - len(req), 0)).sites
    if k - len(req) <= 1:
        # one free site: the greedy's pick is the best single site (exact by enumeration)
        t1 = time.perf_counter()
        sites = np.unique(np.r_[req, g].astype(np.int64))
        cur = base.astype(float).copy()
        sub = dist[sites].tocoo()
        np.minimum.at(cur, sub.col, sub.data - _EPS)
        obj = float(np.sum(w * cur))
        return Solution(
            sites=sites,
            objective=obj,
            solver="highs",
            status="Optimal",
            bound=obj,
            gap=0.0,
            seconds=time.perf_counter() - t1,
            info={"method": "enumeration"},
        )
    open_ = np.zeros(n, dtype=bool)
    open_[np.r_[req, g].astype(np.int64)] = True
    start = np.zeros(n + p)
    start[:n] = open_
    cand_pairs = np.flatnonzero(open_[pj])
    if len(cand_pairs):
        o = cand_pairs[np.lexsort((pj[cand_pairs], d[cand_pairs], pi[cand_pairs]))]
        first = np.r_[True, pi[o][1:] != pi[o][:-1]]
        start[n + o[first]] = 1.0
    col_lo = np.zeros(n + p)
    if required is not None and len(required):
        col_lo[np.asarray(required, dtype=np.int64)] = 1.0
    x, out = solve_mip(
        cost,
        a,
        row_lo,
        row_hi,
        col_lo,
        np.ones(n + p),
        n,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        start=start,
    )
    base_cost = float(np.sum(w * base))
    sites = np.flatnonzero(x[:n] > 0.5)
    return Solution(
        sites=sites,
        objective=base_cost - out["objective"],
        solver="highs",
        status=out["status"],
        bound=base_cost - out["bound"],
        gap=out["gap"],
        seconds=out["seconds"],
        info={"nodes": out["nodes"], "pairs": p, "base_cost": base_cost},
    )


# ---------------------------------------------------------------------- reduction
def _hash_rows(mat: sparse.csr_matrix, seed: int = 0) -> np.ndarray:
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


def _binary(mat: sparse.spmatrix) -> sparse.csr_matrix:
    out = sparse.csr_matrix(mat, copy=True)
    out.sort_indices()
    out.data = np.ones(out.nnz)
    return out


@dataclass
class Reduced:
    """Candidates x demand atoms: units with identical candidate sets merged, duplicates dropped.

    ``rows`` are the original candidate indices kept (ascending; the lowest index of each
    group of identical candidates, required ones always kept), ``mat`` the binary reach of
    each kept candidate over the atoms, ``weight`` each atom's summed weight.
    """

    rows: np.ndarray
    mat: sparse.csr_matrix
    weight: np.ndarray
    n_units: int


def reduce_cover(
    cover: sparse.csr_matrix,
    weight: np.ndarray,
    open_units: np.ndarray,
    keep: np.ndarray | None = None,
) -> Reduced:
    """Merge ``open_units`` with the same candidate set and drop empty or duplicate candidates."""
    keep_mask = np.zeros(cover.shape[0], dtype=bool)
    if keep is not None and len(keep):
        keep_mask[np.asarray(keep, dtype=np.int64)] = True
    units = np.flatnonzero(open_units)
    cols = sparse.csr_matrix(cover.T)  # units x candidates
    if len(units) < cover.shape[1]:
        cols = cols[units]
    cols.sort_indices()
    reach = np.diff(cols.indptr) > 0
    if not reach.all():
        cols, units = cols[reach], units[reach]
    if len(units):
        _, first, atom = np.unique(_hash_rows(cols), axis=0, return_index=True, return_inverse=True)
        atom = atom.ravel()
        # atoms numbered by their first unit so that the order is stable
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        atom = rank[atom]
        n_atoms = len(first)
        # every unit of an atom has the same candidates: its first unit's row is the atom's
        mat = _binary(cols[np.sort(first)].T)
    else:
        atom = np.zeros(0, dtype=np.int64)
        n_atoms = 0
        mat = sparse.csr_matrix((cover.shape[0], 0))
    wa = np.bincount(atom, weights=weight[units], minlength=n_atoms)
    nonempty = np.diff(mat.indptr) > 0
    cand = np.flatnonzero(nonempty & ~keep_mask)
    if len(cand):
        _, first = np.unique(_hash_rows(mat[cand]), axis=0, return_index=True)
        cand = cand[np.sort(first)]
    rows = np.union1d(cand, np.flatnonzero(keep_mask))
    return Reduced(rows=rows, mat=mat[rows], weight=wa, n_units=len(units))


# ---------------------------------------------------------------------- MCLP per k
class MclpCurve:
    """One HiGHS model of maximal coverage, re-solved for k = 1, 2, ... with warm starts.

    Units covered today drop out (``covered0``), units with identical candidate sets merge
    and duplicate candidates go (:func:`reduce_cover`); ``required`` candidates are fixed
    open. With ``exist`` (existing facilities x units reach) and ``relocate`` = m, existing
    facilities become variables too: at most ``m`` of them close, and each closed one lets
    one more new site open (relocation under a budget, as in R's maxcovr); every unit then
    enters the model.

    Each k (beyond small instances): greedy plus best swaps, a Lagrangian bound (15% of the
    time limit), the LP bound by stabilised Benders cuts (:mod:`.benders`, to half the time
    limit), then HiGHS over the candidates neither bound could fix closed, with atoms merged
    again over them, warm-started from the best solution; the bound reported is the least
    of the three.
    """

    def __init__(
        self,
        cover: sparse.csr_matrix,
        weight: np.ndarray,
        covered0: np.ndarray,
        *,
        required: np.ndarray | None = None,
        exist: sparse.csr_matrix | None = None,
        relocate: int | None = None,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> None:

        t0 = time.perf_counter()
        self.n_cand = cover.shape[0]
        self.required = np.asarray(
            required if required is not None else np.zeros(0), dtype=np.int64
        )
        self.relocating = exist is not None and relocate is not None
        if exist is not None and relocate is not None:
            self.n_exist = exist.shape[0]
            full = sparse.vstack([_binary(cover), _binary(exist)], format="csr")
            keep = np.r_[self.required, self.n_cand + np.arange(self.n_exist)]
            red = reduce_cover(full, weight, weight > 0, keep=keep)
        else:
            self.n_exist = 0
            red = reduce_cover(cover, weight, ~covered0 & (weight > 0), keep=self.required)
        self.red = red
        self.total = float(red.weight.sum())
        n, m = red.mat.shape
        self.n, self.m = n, m
        is_exist = red.rows >= self.n_cand
        col_lo = np.zeros(n + m)
        col_lo[np.flatnonzero(np.isin(red.rows, self.required))] = 1.0
        self.col_lo = col_lo
        self.is_exist = is_exist
        self.relocate = int(relocate or 0)
        self.card_row = m
        self._h: Any = None  # the full HiGHS model, built when first needed
        self.time_limit_s = float(time_limit_s)
        self.mip_rel_gap = float(mip_rel_gap)
        self.small_nnz = 20_000
        self.lagrangian_iter = 300  # subgradient steps per k at most (Benders cuts follow)
        self.cut_rounds = 1000  # Benders cut rounds per k at most
        self.build_s = time.perf_counter() - t0

    @property
    def h(self) -> Any:
        """The HiGHS model over every atom (built on first use; large instances never need it)."""
        if self._h is None:
            self._h = self._build_highs()
        return self._h

    def _build_highs(self) -> Any:
        import highspy

        red, n, m, is_exist = self.red, self.n, self.m, self.is_exist
        link = red.mat.T.tocsr()
        link.data = -link.data
        link = sparse.hstack([link, sparse.identity(m, format="csr")], format="csr")
        card = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
        blocks = [link, card]
        row_lo = [np.full(m, -np.inf), [-np.inf]]
        row_hi = [np.zeros(m), [0.0]]
        if self.relocating:
            keep_row = sparse.csr_matrix(np.r_[is_exist.astype(float), np.zeros(m)][None, :])
            blocks.append(keep_row)
            row_lo.append([float(self.n_exist - self.relocate)])
            row_hi.append([np.inf])
        a = sparse.vstack(blocks, format="csc")
        a.sort_indices()
        lp = highspy.HighsLp()
        lp.num_col_ = n + m
        lp.num_row_ = int(a.shape[0])
        lp.col_cost_ = np.r_[np.zeros(n), red.weight]
        lp.col_lower_ = self.col_lo
        lp.col_upper_ = np.ones(n + m)
        lp.row_lower_ = np.concatenate([np.asarray(x, float) for x in row_lo])
        lp.row_upper_ = np.concatenate([np.asarray(x, float) for x in row_hi])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        lp.a_matrix_.num_col_ = n + m
        lp.a_matrix_.num_row_ = lp.num_row_
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [
            highspy.HighsVarType.kContinuous
        ] * m
        lp.sense_ = highspy.ObjSense.kMaximize
        h = quiet_highs(time_limit=self.time_limit_s, mip_rel_gap=self.mip_rel_gap)
        h.passModel(lp)
        return h

    def _greedy_add(self, chosen: np.ndarray, k_new: int) -> np.ndarray:
        """Extend ``chosen`` (reduced rows) greedily until ``k_new`` new candidates are open."""
        mat = self.red.mat
        chosen = np.asarray(chosen, dtype=np.int64)
        got = np.zeros(self.m, dtype=bool)
        for j in chosen.tolist():
            got[mat.indices[mat.indptr[j] : mat.indptr[j + 1]]] = True
        n_new = int((~self.is_exist[chosen]).sum()) if len(chosen) else 0
        need = k_new - n_new
        if need <= 0:
            return np.sort(chosen)
        free = ~self.is_exist
        free[chosen] = False
        rows = np.flatnonzero(free)
        sub = mat if len(rows) == self.n else mat[rows]
        # lazy greedy (CELF): the gains of the candidates left, re-evaluated only at the top
        add = greedy_cover(sub, self.red.weight, got, k=need).sites
        return np.sort(np.r_[chosen, rows[add]]).astype(np.int64)

    def _start(self, open_rows: np.ndarray) -> Any:
        import highspy

        x = np.zeros(self.n + self.m)
        x[open_rows] = 1.0
        mat = self.red.mat
        cnt = np.asarray(mat[open_rows].sum(axis=0)).ravel() if len(open_rows) else np.zeros(self.m)
        x[self.n :] = np.minimum(cnt, 1.0)
        sol = highspy.HighsSolution()
        sol.col_value = x.tolist()
        return sol

    def _value(self, rows: np.ndarray) -> float:
        mat = self.red.mat
        got = np.zeros(self.m, dtype=bool)
        for j in np.asarray(rows).tolist():
            got[mat.indices[mat.indptr[j] : mat.indptr[j + 1]]] = True
        return float(self.red.weight[got].sum())

    def lagrangian(
        self,
        k: int,
        start: np.ndarray,
        *,
        tol: float,
        max_iter: int = 4000,
        deadline: float = float("inf"),
    ) -> tuple[np.ndarray, float, float, np.ndarray]:
        """Lagrangian bound (coverage links relaxed) with a subgradient search.

        For multipliers ``0 <= p_a <= w_a`` on ``y_a <= sum_j x_j``, ``L(p) = sum_a (w_a -
        p_a) + (sum of the k largest column sums of p)`` bounds the optimum from above
        (Galvao & ReVelle 1996). Each iterate's k best candidates are also a solution, and
        a candidate whose opening bounds the coverage below the best solution found is fixed
        closed. Returns (best solution rows, its value, best bound, fixed-closed mask over
        the rows); stops at relative gap ``tol`` or at ``deadline`` (``time.perf_counter``).
        """
        mat, wa = self.red.mat, self.red.weight
        req = np.flatnonzero(self.col_lo[: self.n] > 0.5)
        free = np.setdiff1d(np.arange(self.n), req)
        slots = max(int(k) - len(req), 0)
        best_rows = np.asarray(start, dtype=np.int64)
        lb = self._value(best_rows)
        ub = float("inf")
        counts = np.asarray(mat[best_rows].sum(axis=0)).ravel() if len(best_rows) else None
        p = 0.5 * wa
        if counts is not None:
            # atoms the start covers at half price, the others at full
            p = np.where(counts > 0, 0.5 * wa, wa)
        theta, stall, best_here = 1.0, 0, float("inf")
        mt = mat.T.tocsr()
        out = np.zeros(self.n, dtype=bool)
        ub_then = float("inf")
        for it in range(max_iter):
            if it % 200 == 199:
                if ub_then - ub < 1e-4 * ub:
                    break  # the bound stalls: the LP bound (Benders cuts) takes over
                ub_then = ub
            c = mat @ p
            pick = _top_k(c, free, slots)
            sel = np.r_[req, pick].astype(np.int64)
            val = float(np.sum(wa - p) + c[sel].sum())
            ub = min(ub, val)
            theta, stall, best_here = _step_size(val, theta, stall, best_here)
            x = np.zeros(self.n)
            x[sel] = 1.0
            cnt = mt @ x
            got = float(wa[cnt > 0].sum())
            if got > lb + 1e-9:
                lb, best_rows = got, np.sort(sel)
            if 0 < slots < len(free):
                # opening j instead of the k-th pick bounds every solution holding j
                kth = float(c[pick].min())
                out[free[val - kth + c[free] < lb - 1e-9 * max(lb, 1.0)]] = True
            if (
                ub - lb <= tol * max(ub, 1e-12)
                or theta < _THETA_MIN
                or time.perf_counter() > deadline
            ):
                break
            g = cnt - 1.0
            g = np.where((p <= 0) & (g < 0), 0.0, g)
            g = np.where((p >= wa) & (g > 0), 0.0, g)
            nrm = float(g @ g)
            if nrm <= 0:
                break
            p = np.clip(p - theta * (ub - lb) / nrm * g, 0.0, wa)
        out[best_rows] = False
        return best_rows, lb, min(ub, self.total), out

    def solve(self, k: int, start: np.ndarray | None = None) -> Solution:
        """Optimum for ``k`` new sites (required ones included); ``start`` = reduced rows."""
        t0 = time.perf_counter()
        budget = float(k + (self.n_exist if self.relocating else 0))
        fixed = np.flatnonzero(self.col_lo[: self.n] > 0.5)
        if not self.relocating and k - len(fixed) <= 1:
            # one free site: the greedy's pick is the best single site (exact by enumeration)
            warm = self._greedy_add(fixed, k)
            val = self._value(warm)
            return self._solution(warm, val, val, "Optimal", t0, "enumeration")
        base = fixed
        if self.relocating:
            base = np.union1d(base, np.flatnonzero(self.is_exist))
        if start is not None:
            base = np.union1d(base, start)
        warm = self._greedy_add(base, k)
        if not self.relocating and self.red.mat.nnz > self.small_nnz:
            if len(fixed) == 0 and len(warm) > 1:
                warm, _, _ = swap_improve(
                    self.red.mat,
                    self.red.weight,
                    np.zeros(self.m, dtype=bool),
                    warm,
                    deadline=t0 + 0.15 * self.time_limit_s,
                )
                warm = np.sort(warm)
            lag_end = t0 + 0.15 * self.time_limit_s
            rows, lb, ub, out = self.lagrangian(
                k, warm, tol=self.mip_rel_gap, max_iter=self.lagrangian_iter, deadline=lag_end
            )
            if ub - lb <= self.mip_rel_gap * max(ub, 1e-12):
                return self._solution(rows, lb, ub, "Optimal", t0, "lagrangian")
            # the LP bound by Benders cuts, then HiGHS over the candidates it leaves open
            cb = cut_bound(
                self.red.mat,
                self.red.weight,
                k,
                rows,
                lb,
                required=fixed,
                tol=self.mip_rel_gap,
                deadline=t0 + 0.5 * self.time_limit_s,
                max_rounds=self.cut_rounds,
            )
            ub = min(ub, cb.bound)
            if ub - lb <= self.mip_rel_gap * max(ub, 1e-12):
                return self._solution(rows, lb, ub, "Optimal", t0, "benders")
            sol = self._reduced(k, ~(out | cb.closed), rows, (lb, ub), t0)
            sol.info["cut_rounds"] = cb.rounds
            return sol
        else:
            lag_ub = float("inf")
        self.h.changeRowBounds(self.card_row, -np.inf, budget)
        self.h.setSolution(self._start(warm))
        self.h.run()
        status = self.h.modelStatusToString(self.h.getModelStatus())
        info = self.h.getInfo()
        if not info.primal_solution_status:
            msg = (
                f"HiGHS found no solution ({status}) within {self.time_limit_s} s; "
                "raise time_limit_s or use solver='greedy'"
            )
            raise GeogridError(msg)
        x = np.asarray(self.h.getSolution().col_value, dtype=float)[: self.n]
        obj = float(info.objective_function_value)
        bound = min(float(info.mip_dual_bound), lag_ub, self.total)
        return self._solution(np.flatnonzero(x > 0.5), obj, bound, status, t0, "highs")

    def _reduced(
        self, k: int, keep: np.ndarray, warm: np.ndarray, bounds: tuple[float, float], t0: float
    ) -> Solution:
        """HiGHS over the candidates the Lagrangian left open (``keep`` mask over the rows).

        Atoms with the same candidate set among those merge again; the bound stays valid
        because a candidate fixed closed cannot beat the best solution found.
        """
        lb, ub = bounds
        fixed = np.flatnonzero(self.col_lo[: self.n] > 0.5)
        keep_rows = np.union1d(np.flatnonzero(keep), np.union1d(fixed, warm))
        pos_fixed = np.searchsorted(keep_rows, fixed)
        pos_warm = np.searchsorted(keep_rows, warm)
        red = reduce_cover(
            self.red.mat[keep_rows],
            self.red.weight,
            np.ones(self.m, dtype=bool),
            keep=np.union1d(pos_fixed, pos_warm),
        )
        n, m = red.mat.shape
        link = red.mat.T.tocsr()
        link.data = -link.data
        a = sparse.vstack(
            [
                sparse.hstack([link, sparse.identity(m, format="csr")], format="csr"),
                sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :]),
            ],
            format="csr",
        )
        col_lo = np.zeros(n + m)
        col_lo[np.flatnonzero(np.isin(red.rows, pos_fixed))] = 1.0
        start = np.zeros(n + m)
        on = np.flatnonzero(np.isin(red.rows, pos_warm))
        start[on] = 1.0
        start[n:] = np.minimum(np.asarray(red.mat[on].sum(axis=0)).ravel(), 1.0)
        left = t0 + self.time_limit_s - time.perf_counter()
        x, info = solve_mip(
            np.r_[np.zeros(n), red.weight],
            a,
            np.full(m + 1, -np.inf),
            np.r_[np.zeros(m), float(k)],
            col_lo,
            np.ones(n + m),
            n,
            maximize=True,
            time_limit_s=max(left, 1.0),
            mip_rel_gap=self.mip_rel_gap,
            start=start,
        )
        rows = keep_rows[red.rows[x[:n] > 0.5]]
        obj = self._value(rows)
        if obj < lb:
            rows, obj = warm, lb
        bound = min(float(info["bound"]), ub)
        status = info["status"]
        if bound - obj <= self.mip_rel_gap * max(bound, 1e-12):
            status = "Optimal"
        sol = self._solution(rows, obj, bound, status, t0, "highs")
        sol.info["mip_candidates"] = n
        sol.info["mip_atoms"] = m
        return sol

    def _solution(
        self, open_rows: np.ndarray, obj: float, bound: float, status: str, t0: float, how: str
    ) -> Solution:
        rows = self.red.rows[open_rows]
        new = rows[rows < self.n_cand]
        closed = np.setdiff1d(np.arange(self.n_exist), rows[rows >= self.n_cand] - self.n_cand)
        gap = (bound - obj) / max(abs(bound), 1e-12) if np.isfinite(bound) else float("inf")
        return Solution(
            sites=np.sort(new),
            objective=obj,
            solver="highs",
            status=status,
            bound=bound,
            gap=max(gap, 0.0),
            seconds=time.perf_counter() - t0,
            info={
                "method": how,
                "atoms": self.m,
                "reduced_candidates": self.n,
                "open_rows": open_rows,
                "closed": closed,
                "full": obj >= self.total - 1e-6,
            },
        )


def _top_k(c: np.ndarray, free: np.ndarray, slots: int) -> np.ndarray:
    """Return the ``slots`` entries of ``free`` with the largest ``c`` (all if fewer)."""
    if slots <= 0 or len(free) == 0:
        return np.zeros(0, dtype=np.int64)
    if slots >= len(free):
        return free
    return free[np.argpartition(-c[free], slots - 1)[:slots]]


def _step_size(val: float, theta: float, stall: int, best: float) -> tuple[float, int, float]:
    """Halve the subgradient step after 20 iterations without a better bound."""
    if val < best - 1e-9:
        return theta, 0, val
    stall += 1
    if stall >= _STALL:
        return theta / 2, 0, best
    return theta, stall, best


# ---------------------------------------------------------------------- p-centre
def _min_sites(
    cover_t: sparse.csr_matrix, need: np.ndarray, required: np.ndarray, time_limit_s: float
) -> tuple[np.ndarray | None, bool]:
    """Fewest candidates covering every unit in ``need`` (cover_t: candidates x units, binary).

    Returns the sites (None when some unit cannot be covered) and whether HiGHS proved it.
    """
    sub = _binary(cover_t[:, need])
    if (np.diff(sub.tocsc().indptr) == 0).any():
        return None, True
    n = sub.shape[0]
    cols = sub.T.tocsr()
    keys = _hash_rows(cols)
    _, first = np.unique(keys, axis=0, return_index=True)
    rows = cols[np.sort(first)]
    col_lo = np.zeros(n)
    col_lo[required] = 1.0
    x, out = solve_mip(
        np.ones(n),
        rows,
        np.ones(rows.shape[0]),
        np.full(rows.shape[0], np.inf),
        col_lo,
        np.ones(n),
        n,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
    )
    return np.flatnonzero(x > 0.5), out["status"] == "Optimal"


def exact_pcenter(
    dist: sparse.csr_matrix,
    w: np.ndarray,
    base: np.ndarray,
    *,
    k: int,
    required: np.ndarray | None = None,
    time_limit_s: float = 60.0,
) -> Solution:
    """``k`` new sites minimising the longest walk to the nearest facility (p-centre).

    Binary search over the distinct walking distances ``D`` (new sites' pairs and the
    existing facilities' distances): ``D`` is feasible when a set cover of the units farther
    than ``D`` from every existing facility, by candidates within ``D``, needs at most ``k``
    sites (HiGHS). Units beyond the cap from every facility and candidate are left out and
    counted in ``info["beyond_cap"]``; the answer is exact over the others.
    """
    t0 = time.perf_counter()
    req = np.asarray(required if required is not None else np.zeros(0), dtype=np.int64)
    units = np.flatnonzero(w > 0)
    d = dist.tocoo()
    dd = d.data - _EPS
    best = base.astype(float).copy()
    np.minimum.at(best, d.col, dd)
    reach = np.isfinite(best)
    beyond = units[~reach[units]]
    units = units[reach[units]]
    lo_val = float(best[units].max()) if len(units) else 0.0
    cand_vals = np.unique(np.r_[dd, base[np.isfinite(base)]])
    cand_vals = cand_vals[cand_vals >= lo_val - 1e-9]
    csr = dist.tocsr()
    proven = True
    answer: np.ndarray | None = None
    answer_d = float("nan")
    lo, hi = 0, len(cand_vals) - 1
    steps = 0
    while lo <= hi:
        mid = (lo + hi) // 2
        t = float(cand_vals[mid])
        within = csr.copy()
        within.data = np.where(within.data - _EPS <= t + 1e-9, 1.0, 0.0)
        within.eliminate_zeros()
        need = units[base[units] > t + 1e-9]
        sites, ok = _min_sites(within, need, req, time_limit_s) if len(need) else (req, True)
        steps += 1
        proven = proven and ok
        if sites is not None and len(np.union1d(sites, req)) <= k:
            answer, answer_d = np.union1d(sites, req), t
            hi = mid - 1
        else:
            lo = mid + 1
    if answer is None:
        msg = f"no {k} sites reach every household within the cap; raise k or the distance cap"
        raise GeogridError(msg)
    return Solution(
        sites=np.asarray(answer, dtype=np.int64),
        objective=answer_d,
        solver="highs",
        status="Optimal" if proven else "Time limit reached",
        bound=answer_d if proven else float("nan"),
        gap=0.0 if proven else float("nan"),
        seconds=time.perf_counter() - t0,
        info={"steps": steps, "beyond_cap": beyond},
    )
