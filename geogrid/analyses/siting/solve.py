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
from geogrid.analyses.siting.colgen import fix_closed, hash_rows, lp_bound
from geogrid.errors import GeogridError

__all__: list[str] = []

log = logging.getLogger(__name__)

_EPS = 1e-9
_HALF = 0.5  # a binary variable above this is 1
_SWAP_MIN = 1e-9  # a swap must gain more households than this
_MAX_SWAPS = 10_000  # swaps per descent at most
_KICK_SHARE = 0.125  # share of the movable sites a kick of the iterated search replaces
_LP_SHARE = 0.5  # share of the time limit the LP bound may take
_SEARCH_SHARE = 0.8  # ... up to which the swap search runs; HiGHS's proof gets the rest
_STALE_KICKS = 30  # kicks without a better solution after which the search stops, at least
_STALE_PER_SITE = 3  # ... or this many per movable site
_LP_TOL_SHARE = 0.25  # the LP bound stops within this share of the requested gap
_MIP_MIN_S = 1.0  # HiGHS over the candidates left runs only with this many seconds left


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


def _best_swap(gain: np.ndarray, movable: np.ndarray) -> tuple[float, int, int]:
    """(gain, position out, candidate in): the first position, then the lowest candidate."""
    best_in = np.argmax(gain, axis=0)
    per_pos = gain[best_in, np.arange(gain.shape[1])]
    per_pos[~movable] = -np.inf
    pos = int(np.argmax(per_pos))
    return float(per_pos[pos]), pos, int(best_in[pos])


class _Swaps:
    """Sites over a pool of candidates with the gain of every swap kept up to date.

    ``add[j]`` is the uncovered weight candidate ``j`` reaches, ``loss[s]`` the weight only
    the site at position ``s`` covers and ``back[j, s]`` the part of it ``j`` reaches; a swap
    changes them only on the columns of the two sites involved.
    """

    def __init__(
        self, mat: sparse.csr_matrix, mt: sparse.csr_matrix, w: np.ndarray, sites: np.ndarray
    ) -> None:
        self.mat, self.mt, self.w = mat, mt, w
        self.sites = np.asarray(sites, dtype=np.int64).copy()
        n, m = mat.shape
        ns = len(self.sites)
        self.count = np.zeros(m, dtype=np.int64)
        self.owner = np.zeros(m, dtype=np.int64)  # sum of the positions of the covering sites
        for pos, j in enumerate(self.sites.tolist()):
            idx = _row(mat, j)[0]
            self.count[idx] += 1
            self.owner[idx] += pos
        self.add = mat @ np.where(self.count == 0, w, 0.0)
        self.loss = np.zeros(ns)
        self.back = np.zeros((n, ns))
        self._alone(np.flatnonzero(self.count == 1), 1.0)

    def copy(self) -> _Swaps:
        """Return an independent copy."""
        out = object.__new__(_Swaps)
        out.__dict__.update(self.__dict__)
        for name in ("sites", "count", "owner", "add", "loss", "back"):
            setattr(out, name, getattr(self, name).copy())
        return out

    def _uncovered(self, atoms: np.ndarray, sign: float) -> None:
        reach = self.mt[atoms]
        per = np.diff(reach.indptr)
        wt = np.repeat(sign * self.w[atoms], per)
        self.add += np.bincount(reach.indices, weights=wt, minlength=len(self.add))

    def _alone(self, atoms: np.ndarray, sign: float) -> None:
        n, ns = self.back.shape
        own = self.owner[atoms]
        self.loss += np.bincount(own, weights=sign * self.w[atoms], minlength=ns)
        reach = self.mt[atoms]
        per = np.diff(reach.indptr)
        flat = np.bincount(
            reach.indices * ns + np.repeat(own, per),
            weights=np.repeat(sign * self.w[atoms], per),
            minlength=n * ns,
        )
        self.back += flat.reshape(n, ns)

    def swap(self, pos: int, j: int) -> None:
        """Replace the site at ``pos`` by candidate ``j``."""
        out_idx = _row(self.mat, int(self.sites[pos]))[0]
        in_idx = _row(self.mat, j)[0]
        touched = np.union1d(out_idx, in_idx)
        for sign in (-1.0, 1.0):
            if sign > 0:
                self.count[out_idx] -= 1
                self.owner[out_idx] -= pos
                self.count[in_idx] += 1
                self.owner[in_idx] += pos
                self.sites[pos] = j
            cnt = self.count[touched]
            self._uncovered(touched[cnt == 0], sign)
            self._alone(touched[cnt == 1], sign)

    def value(self) -> float:
        """Weight covered by the sites."""
        return float(self.w[self.count > 0].sum())

    def best(self, movable: np.ndarray) -> tuple[float, int, int]:
        """(gain, position out, candidate in) of the best swap (first position, lowest j)."""
        gain = self.back + self.add[:, None] - self.loss[None, :]
        gain[self.sites] = -np.inf
        return _best_swap(gain, movable)

    def descend(self, movable: np.ndarray, max_swaps: int, deadline: float) -> int:
        """Make best swaps while one gains; return how many were made."""
        swaps = 0
        val = self.value()
        while swaps < max_swaps and movable.any() and time.perf_counter() <= deadline:
            gain, pos, j = self.best(movable)
            if gain <= _SWAP_MIN:
                break
            self.swap(pos, j)
            swaps += 1
            new = self.value()
            if new <= val + _SWAP_MIN:  # rounding in the kept gains: stop rather than cycle
                break
            val = new
        return swaps


def local_search(
    mat: sparse.csr_matrix,
    w: np.ndarray,
    sites: np.ndarray,
    *,
    movable: np.ndarray | None = None,
    max_swaps: int = 1000,
    deadline: float = float("inf"),
) -> tuple[np.ndarray, float, int]:
    """Best single swaps (one site out, one candidate in) until none gains.

    ``mat`` is binary (candidates x columns of weight ``w``); ``movable`` marks the
    positions of ``sites`` that may be swapped out (required sites stay). Returns the sites
    (a swapped-in site takes the place of the one it replaces), their coverage and the
    number of swaps.
    """
    state = _Swaps(mat, sparse.csr_matrix(mat.T), w, sites)
    mov = np.ones(len(sites), dtype=bool) if movable is None else np.asarray(movable, bool)
    swaps = state.descend(mov, max_swaps, deadline)
    return state.sites, state.value(), swaps


def kicked_search(
    mat: sparse.csr_matrix,
    w: np.ndarray,
    sites: np.ndarray,
    *,
    movable: np.ndarray,
    kicks: int,
    target: float = float("inf"),
    deadline: float = float("inf"),
) -> tuple[np.ndarray, float]:
    """Swap a few sites at random, descend again, keep what gains (iterated local search).

    Each of ``kicks`` rounds replaces about an eighth of the movable sites by random
    candidates (seeded: the same inputs give the same answer unless ``deadline`` cuts it)
    and descends by best swaps; a trial no worse than the current solution replaces it.
    Stops at ``target`` coverage or after ``_STALE_PER_SITE`` kicks per movable site (at
    least ``_STALE_KICKS``) without a better solution. Returns (sites, coverage).
    """
    rng = np.random.default_rng(0)
    cur = _Swaps(mat, sparse.csr_matrix(mat.T), w, sites)
    cur.descend(movable, _MAX_SWAPS, deadline)
    best, best_val = cur.sites.copy(), cur.value()
    cur_val = best_val
    free_pos = np.flatnonzero(movable)
    size = max(1, round(_KICK_SHARE * len(free_pos)))
    patience = max(_STALE_KICKS, _STALE_PER_SITE * len(free_pos))
    stale = 0
    for _ in range(kicks):
        others = np.setdiff1d(np.arange(mat.shape[0]), cur.sites)
        done = best_val >= target or stale >= patience or len(others) < size
        if done or time.perf_counter() > deadline:
            break
        trial = cur.copy()
        out = rng.choice(free_pos, size, replace=False)
        for pos, j in zip(
            out.tolist(), rng.choice(others, size, replace=False).tolist(), strict=True
        ):
            trial.swap(pos, j)
        trial.descend(movable, _MAX_SWAPS, deadline)
        val = trial.value()
        if val >= cur_val:  # sideways moves too: the search drifts along plateaus
            cur, cur_val = trial, val
        stale += 1
        if val > best_val:
            best, best_val, stale = trial.sites.copy(), val, 0
    return best, best_val


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

    Each swap costs two sparse products over the candidates (:func:`local_search`). Stops
    when no swap gains more than 1e-9 households, after ``max_rounds`` swaps or at
    ``deadline`` (``time.perf_counter``). Returns sites (greedy order kept, a swapped-in
    site takes the place of the one it replaces), objective, swaps made.
    """
    return local_search(
        _binary(cover),
        np.where(covered0, 0.0, w),
        sites,
        max_swaps=max_rounds,
        deadline=deadline,
    )


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
    *,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    n_int: int,
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
        row_lo=row_lo,
        row_hi=row_hi,
        col_lo=np.zeros(n + m),
        col_hi=np.ones(n + m),
        n_int=n,
        maximize=maximize,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    sites = np.flatnonzero(x[:n] > _HALF)
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
        row_lo=row_lo,
        row_hi=row_hi,
        col_lo=np.zeros(n + p),
        col_hi=np.ones(n + p),
        n_int=n,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    sites = np.flatnonzero(x[:n] > _HALF)
    y = x[n:] * w[pi]
    ok = y > _EPS
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
        row_lo=row_lo,
        row_hi=row_hi,
        col_lo=col_lo,
        col_hi=np.ones(n + p),
        n_int=n,
        maximize=True,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        start=start,
    )
    base_cost = float(np.sum(w * base))
    sites = np.flatnonzero(x[:n] > _HALF)
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
        _, first, atom = np.unique(hash_rows(cols), axis=0, return_index=True, return_inverse=True)
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
    rows = distinct_candidates(mat, keep_mask)
    return Reduced(rows=rows, mat=mat[rows], weight=wa, n_units=len(units))


def distinct_candidates(mat: sparse.csr_matrix, keep_mask: np.ndarray) -> np.ndarray:
    """Rows of ``mat`` to keep: the first of each set of identical non-empty rows, and ``keep_mask``.

    Returned ascending.
    """
    nonempty = np.diff(mat.indptr) > 0
    cand = np.flatnonzero(nonempty & ~keep_mask)
    if len(cand):
        _, first = np.unique(hash_rows(mat[cand]), axis=0, return_index=True)
        cand = cand[np.sort(first)]
    return np.union1d(cand, np.flatnonzero(keep_mask))


# ---------------------------------------------------------------------- MCLP per k
class MclpCurve:
    """One HiGHS model of maximal coverage, re-solved for k = 1, 2, ... with warm starts.

    Units covered today drop out (``covered0``), units with identical candidate sets merge
    and duplicate candidates go (:func:`reduce_cover`); ``required`` candidates are fixed
    open. With ``exist`` (existing facilities x units reach) and ``relocate`` = m, existing
    facilities become variables too: at most ``m`` of them close, and each closed one lets
    one more new site open (relocation under a budget, as in R's maxcovr); every unit then
    enters the model. ``keep_open`` lists the existing facilities (rows of ``exist``) that
    may not close (by default the centres: :data:`geogrid.settings.CLOSABLE_TYPES`).

    Each k (beyond small instances and relocation, which HiGHS solves whole): the greedy,
    the LP bound by column generation (:mod:`.colgen`, half the time limit at most), an
    iterated swap search over the candidates it generated (to 80%), then HiGHS over the
    candidates the bound cannot fix closed, atoms merged again over them, warm-started
    from the best solution. Objective, bound (the least found) and gap are always reported;
    ``status`` is "Optimal" only within ``mip_rel_gap``.
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
        keep_open: np.ndarray | None = None,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> None:

        t0 = time.perf_counter()
        self.n_cand = cover.shape[0]
        self.required = np.asarray(
            required if required is not None else np.zeros(0), dtype=np.int64
        )
        self.relocating = exist is not None and relocate is not None
        self.keep_open = np.asarray(keep_open if keep_open is not None else (), dtype=np.int64)
        if exist is not None and relocate is not None:
            self.n_exist = exist.shape[0]
            full = sparse.vstack([_binary(cover), _binary(exist)], format="csr")
            keep = np.r_[self.required, self.n_cand + np.arange(self.n_exist)]
            red = reduce_cover(full, weight, weight > 0, keep=keep)
        else:
            self.n_exist = 0
            red = reduce_cover(cover, weight, ~covered0 & (weight > 0), keep=self.required)
        self._setup(red, time_limit_s, mip_rel_gap)
        self.relocate = int(relocate or 0)
        self.build_s = time.perf_counter() - t0

    @classmethod
    def from_atoms(
        cls,
        mat: sparse.csr_matrix,
        weight: np.ndarray,
        *,
        required: np.ndarray | None = None,
        n_exist: int = 0,
        relocate: int | None = None,
        keep_open: np.ndarray | None = None,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> MclpCurve:
        """Build the same model from units already merged into atoms (no unit pairs stored).

        ``mat`` is sources x atoms (binary; candidates first, then ``n_exist`` existing
        facilities when relocating), ``weight`` each atom's summed weight: what
        :func:`reduce_cover` gives before its candidate step, e.g. from
        ``geogrid.analyses.siting.matrix.cover_atoms``. Empty and duplicate candidates go.
        ``keep_open``: existing facilities relocation may not close (as in the constructor).
        """
        t0 = time.perf_counter()
        self = cls.__new__(cls)
        n_src = mat.shape[0]
        self.n_exist = int(n_exist) if relocate is not None else 0
        self.n_cand = n_src - int(n_exist)
        self.required = np.asarray(
            required if required is not None else np.zeros(0), dtype=np.int64
        )
        self.relocating = relocate is not None and n_exist > 0
        self.keep_open = np.asarray(keep_open if keep_open is not None else (), dtype=np.int64)
        keep = np.zeros(n_src, dtype=bool)
        keep[self.required] = True
        if self.relocating:
            keep[self.n_cand :] = True
        mat = sparse.csr_matrix(mat)
        if not (mat.has_sorted_indices and np.all(mat.data == 1.0)):
            mat = _binary(mat)
        src = mat if self.relocating or self.n_cand == n_src else mat[: self.n_cand]
        rows = distinct_candidates(src, keep[: src.shape[0]])
        kept = src if len(rows) == src.shape[0] else src[rows]
        red = Reduced(rows=rows, mat=kept, weight=np.asarray(weight, float), n_units=0)
        self._setup(red, time_limit_s, mip_rel_gap)
        self.relocate = int(relocate or 0)
        self.build_s = time.perf_counter() - t0
        return self

    def _setup(self, red: Reduced, time_limit_s: float, mip_rel_gap: float) -> None:
        """Everything but the reduction: variables' bounds, limits and knobs."""
        self.red = red
        self.total = float(red.weight.sum())
        n, m = red.mat.shape
        self.n, self.m = n, m
        is_exist = red.rows >= self.n_cand
        col_lo = np.zeros(n + m)
        col_lo[np.flatnonzero(np.isin(red.rows, self.required))] = 1.0
        if self.relocating:  # existing facilities relocation may not close stay open
            col_lo[np.flatnonzero(np.isin(red.rows, self.n_cand + self.keep_open))] = 1.0
        self.col_lo = col_lo
        self.is_exist = is_exist
        self.card_row = m
        self._h: Any = None  # the full HiGHS model, built when first needed
        self.time_limit_s = float(time_limit_s)
        self.mip_rel_gap = float(mip_rel_gap)
        self.small_nnz = 20_000  # reach pairs below which HiGHS solves the whole model
        self.lp_rounds = 100  # column generation masters per k at most
        self.search_kicks = 1000  # kicks of the iterated swap search per k at most
        self.mip_max_pairs = 1_000_000  # HiGHS over the candidates left: at most these pairs

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

    def solve(self, k: int, start: np.ndarray | None = None) -> Solution:
        """Optimum for ``k`` new sites (required ones included); ``start`` = reduced rows."""
        t0 = time.perf_counter()
        fixed = np.flatnonzero(self.col_lo[: self.n] > _HALF)
        if not self.relocating and k - len(fixed) <= 1:
            # one free site: the greedy's pick is the best single site (exact by enumeration)
            warm = self._greedy_add(fixed, k)
            val = self._value(warm)
            return self._solution(warm, val, val, status="Optimal", t0=t0, how="enumeration")
        base = fixed
        if self.relocating:
            base = np.union1d(base, np.flatnonzero(self.is_exist))
        if start is not None:
            base = np.union1d(base, start)
        warm = self._greedy_add(base, k)
        if not self.relocating and self.red.mat.nnz > self.small_nnz:
            return self._decomposed(k, warm, t0)
        return self._full_highs(k, warm, t0)

    def _full_highs(self, k: int, warm: np.ndarray, t0: float) -> Solution:
        """HiGHS branch and bound over the whole model, warm-started."""
        budget = float(k + (self.n_exist if self.relocating else 0))
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
        bound = min(float(info.mip_dual_bound), self.total)
        return self._solution(
            np.flatnonzero(x > _HALF), obj, bound, status=status, t0=t0, how="highs"
        )

    def _closed(self, lb: float, ub: float) -> bool:
        return ub - lb <= self.mip_rel_gap * max(ub, 1e-12)

    def _decomposed(self, k: int, warm: np.ndarray, t0: float) -> Solution:
        """LP bound by column generation, local search over its candidates, then HiGHS.

        Phases by share of the time limit: the LP bound (:func:`.colgen.lp_bound`) up to
        ``_LP_SHARE``, an iterated swap search over the candidates it generated up to
        ``_SEARCH_SHARE``, then HiGHS over the candidates the bound cannot fix closed.
        """
        fixed = np.flatnonzero(self.col_lo[: self.n] > _HALF)
        limit = self.time_limit_s
        lb = self._value(warm)
        lpb = lp_bound(
            self.red.mat,
            self.red.weight,
            k,
            warm,
            required=fixed,
            incumbent=lb,
            tol=_LP_TOL_SHARE * self.mip_rel_gap,
            deadline=t0 + _LP_SHARE * limit,
            max_rounds=self.lp_rounds,
        )
        ub = min(lpb.bound, self.total)
        rows, lb = self._search(k, warm, lpb.support, ub, deadline=t0 + _SEARCH_SHARE * limit)
        log.debug("k=%d: LP bound %.1f, search %.1f at %.1f s", k, ub, lb, time.perf_counter() - t0)
        info = {"lp_rounds": lpb.rounds, "lp_candidates": len(lpb.support), "lp_bound": ub}
        if self._closed(lb, ub):
            sol = self._solution(rows, lb, ub, status="Optimal", t0=t0, how="lp")
        else:
            keep = ~fix_closed(lpb, k, fixed, lb)
            sol = self._reduced(k, keep, rows, (lb, ub), t0)
        sol.info.update(info)
        return sol

    def _search(
        self, k: int, warm: np.ndarray, support: np.ndarray, ub: float, *, deadline: float
    ) -> tuple[np.ndarray, float]:
        """Best solution found by :func:`kicked_search` over the LP's candidates and ``warm``."""
        pool = np.union1d(support, warm)
        sites = np.searchsorted(pool, warm)
        movable = self.col_lo[warm] < _HALF
        if len(warm) <= 1 or not movable.any():
            return warm, self._value(warm)
        found, val = kicked_search(
            self.red.mat[pool],
            self.red.weight,
            sites,
            movable=movable,
            kicks=self.search_kicks,
            target=ub * (1.0 - self.mip_rel_gap),
            deadline=deadline,
        )
        return np.sort(pool[found]), val

    def _reduced(
        self, k: int, keep: np.ndarray, warm: np.ndarray, bounds: tuple[float, float], t0: float
    ) -> Solution:
        """HiGHS over the candidates the LP bound left open (``keep`` mask over the rows).

        Atoms with the same candidate set among those merge again; the bound stays valid
        because a candidate fixed closed cannot beat the best solution found. Skipped (the
        search's solution and the LP bound returned) when too little time is left or the
        model would be too large to gain anything within it.
        """
        lb, ub = bounds
        fixed = np.flatnonzero(self.col_lo[: self.n] > _HALF)
        keep_rows = np.union1d(np.flatnonzero(keep), np.union1d(fixed, warm))
        left = t0 + self.time_limit_s - time.perf_counter()
        pairs = int(np.diff(self.red.mat.indptr)[keep_rows].sum())
        if left < _MIP_MIN_S or pairs > self.mip_max_pairs:
            sol = self._solution(warm, lb, ub, status="Time limit reached", t0=t0, how="lp")
            sol.info["mip_candidates"] = len(keep_rows)
            return sol
        x, info, red = self._kept_mip(k, keep_rows, warm, left)
        rows = keep_rows[red.rows[x[: len(red.rows)] > _HALF]]
        obj = self._value(rows)
        if obj < lb:
            rows, obj = warm, lb
        bound = min(float(info["bound"]), ub)
        status = "Optimal" if self._closed(obj, bound) else info["status"]
        sol = self._solution(rows, obj, bound, status=status, t0=t0, how="highs")
        sol.info["mip_candidates"] = red.mat.shape[0]
        sol.info["mip_atoms"] = red.mat.shape[1]
        return sol

    def _kept_mip(
        self, k: int, keep_rows: np.ndarray, warm: np.ndarray, left: float
    ) -> tuple[np.ndarray, dict[str, Any], Reduced]:
        """Solve the MIP over ``keep_rows`` with atoms merged again, warm-started from ``warm``."""
        fixed = np.flatnonzero(self.col_lo[: self.n] > _HALF)
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
        x, info = solve_mip(
            np.r_[np.zeros(n), red.weight],
            a,
            row_lo=np.full(m + 1, -np.inf),
            row_hi=np.r_[np.zeros(m), float(k)],
            col_lo=col_lo,
            col_hi=np.ones(n + m),
            n_int=n,
            maximize=True,
            time_limit_s=max(left, _MIP_MIN_S),
            mip_rel_gap=self.mip_rel_gap,
            start=start,
        )
        return x, info, red

    def _solution(
        self,
        open_rows: np.ndarray,
        obj: float,
        bound: float,
        *,
        status: str,
        t0: float,
        how: str,
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
    keys = hash_rows(cols)
    _, first = np.unique(keys, axis=0, return_index=True)
    rows = cols[np.sort(first)]
    col_lo = np.zeros(n)
    col_lo[required] = 1.0
    x, out = solve_mip(
        np.ones(n),
        rows,
        row_lo=np.ones(rows.shape[0]),
        row_hi=np.full(rows.shape[0], np.inf),
        col_lo=col_lo,
        col_hi=np.ones(n),
        n_int=n,
        maximize=False,
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
    )
    return np.flatnonzero(x > _HALF), out["status"] == "Optimal"


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
