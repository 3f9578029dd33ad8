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

from .errors import GeogridError

__all__: list[str] = []

log = logging.getLogger(__name__)

_EPS = 1e-9


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
) -> tuple[np.ndarray, float, int]:
    """Improve an MCLP solution by best single swaps (one site out, one candidate in).

    For each open site ``s`` the gain of every candidate replacing it is one sparse
    product ``cover @ u`` with ``u`` the weight of units left uncovered without ``s``.
    Stops when no swap gains more than 1e-9 households. Returns sites (greedy order kept,
    a swapped-in site takes the place of the one it replaces), objective, swaps made.
    """
    sites = np.asarray(sites, dtype=np.int64).copy()
    wa = np.where(covered0, 0.0, w)
    ones = cover.copy()
    ones.data = np.ones(ones.nnz)
    count = np.asarray(ones[sites].sum(axis=0)).ravel() if len(sites) else np.zeros(cover.shape[1])
    swaps = 0
    for _ in range(max_rounds):
        best = (1e-9, -1, -1)
        for pos, s_ in enumerate(sites.tolist()):
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
def _solve_mip(
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
) -> tuple[np.ndarray, dict[str, Any]]:
    """Solve a MIP whose first ``n_int`` columns are integer, passed as one CSC matrix."""
    import highspy

    a = sparse.csc_matrix(a)
    a.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lo, dtype=float)
    lp.col_upper_ = np.asarray(col_hi, dtype=float)
    lp.row_lower_ = np.asarray(row_lo, dtype=float)
    lp.row_upper_ = np.asarray(row_hi, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    integ = [highspy.HighsVarType.kInteger] * n_int + [highspy.HighsVarType.kContinuous] * (
        lp.num_col_ - n_int
    )
    lp.integrality_ = integ
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    t0 = time.perf_counter()
    h.passModel(lp)
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
    n = cover.shape[0]
    units = np.flatnonzero(~covered0 & (w > 0) & (np.diff(cover.tocsc().indptr) > 0))
    m = len(units)
    link = _link(cover, units)
    ones = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
    if need_w is None:
        a = sparse.vstack([link, ones], format="csr")
        row_lo = np.r_[np.full(m, -np.inf), 0.0]
        row_hi = np.r_[np.zeros(m), float(k)]
        cost = np.r_[np.zeros(n), w[units]]
        maximize = True
    else:
        need = sparse.csr_matrix(np.r_[np.zeros(n), w[units]][None, :])
        a = sparse.vstack([link, need], format="csr")
        row_lo = np.r_[np.full(m, -np.inf), float(need_w) - 1e-6]
        row_hi = np.r_[np.zeros(m), np.inf]
        cost = np.r_[np.ones(n), np.zeros(m)]
        maximize = False
    x, out = _solve_mip(
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
    x, out = _solve_mip(
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
    x, out = _solve_mip(
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
