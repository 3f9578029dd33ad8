"""Exact capped p-median per k: demand aggregation, Lagrangian bound, candidate fixing, HiGHS.

The capped p-median (see :mod:`geogrid.analyses.siting.solve`) is solved in its savings form:
with ``c_i = min(d_existing_i, cap)`` each unit saves ``s_ij = w_i (c_i - d_ij)`` when its
nearest open site is ``j`` (pairs with ``d_ij >= c_i`` save nothing and are dropped), and ``k``
sites maximise ``S(X) = sum_i max(0, max_{j in X} s_ij)``; the household-weighted walk is
``sum_i w_i c_i - S(X)``.

1. Units with identical distance columns (same candidates at the same distances) and the same
   ``c_i`` have the same cost function: they merge into one weighted atom.
2. A primal solution comes from the greedy plus best single swaps (fast interchange), or from
   ``k - 1``'s answer plus its best addition when the curve is solved for k = 1, 2, ...
3. Relaxing ``sum_j z_ij <= 1`` with multipliers ``mu_i >= 0`` gives the upper bound
   ``L(mu) = sum_i mu_i + (sum of the k largest r_j)``, ``r_j = sum_i max(0, s_ij - mu_i)``
   (Cornuejols, Fisher & Nemhauser 1977; Beasley 1993), minimised by subgradient steps.
   Each iterate's k best candidates are also a solution. When ``L`` meets the best solution
   within ``mip_rel_gap`` the point is proven.
4. Otherwise every candidate whose inclusion (exclusion) bounds the savings below the best
   solution found is fixed closed (open), and HiGHS solves the assignment MIP over the few
   candidates left, warm-started from the best solution, under what is left of the time limit.

Multipliers and the solution carry over from one k to the next. The gap of every point is
relative to the savings bound (as HiGHS measures it on this model): ``(UB - S) / UB``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from scipy import sparse

from geogrid.analyses.siting.solve import Solution, solve_mip

__all__ = ["PmedianCurve"]

log = logging.getLogger(__name__)

_EPS = 1e-9
_THETA_MIN = 1e-5  # subgradient step factor below which the search stops
_DENSE_MAX = 2e7  # candidates x atoms the branch and bound may hold as a dense array
_OPEN = 0.5  # a binary column above this is open


def _aggregate(
    dist: sparse.csr_matrix, w: np.ndarray, base: np.ndarray
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray, int]:
    """Build the savings matrix (candidates x atoms), atom weights and ``c``, unit count.

    Units whose useful pairs (``d < c``) and ``c`` are identical merge into one atom.
    """
    n = dist.shape[0]
    coo = dist.tocoo()
    d = coo.data - _EPS
    sel = (d < base[coo.col]) & (w[coo.col] > 0)
    units, ucol = np.unique(coo.col[sel], return_inverse=True)
    by_unit = sparse.csr_matrix((d[sel], (ucol.ravel(), coo.row[sel])), shape=(len(units), n))
    by_unit.sum_duplicates()
    by_unit.sort_indices()
    rng = np.random.default_rng(0)
    pattern = sparse.csr_matrix(
        (np.ones(by_unit.nnz), by_unit.indices, by_unit.indptr), shape=by_unit.shape
    )
    # which candidates (a zero distance must still count) and at what distances
    proj = np.column_stack([pattern @ rng.random((n, 2)), by_unit @ rng.random(n)])
    keys = np.column_stack([proj, base[units], np.diff(by_unit.indptr)])
    _, first, atom = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    atom = atom.ravel()
    order = np.argsort(first, kind="stable")  # atoms numbered by their first unit
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    atom = rank[atom]
    n_atoms = len(first)
    weight = np.bincount(atom, weights=w[units], minlength=n_atoms)
    rep = units[first[order]]
    c = base[rep]
    firsts = by_unit[first[order]].tocoo()
    save = weight[firsts.row] * (c[firsts.row] - firsts.data)
    mat = sparse.csr_matrix((save, (firsts.col, firsts.row)), shape=(n, n_atoms))
    mat.sort_indices()
    return mat, weight, c, len(units)


class _Local:
    """The rows of the savings matrix still in play in the Lagrangian (candidates ``cand``)."""

    def __init__(self, S: sparse.csr_matrix, cand: np.ndarray, req: np.ndarray, k: int) -> None:
        self.cand = np.asarray(cand, dtype=np.int64)
        self.S = S[self.cand]
        self.rowid = np.repeat(np.arange(len(self.cand)), np.diff(self.S.indptr))
        is_req = np.isin(self.cand, req)
        self.req = np.flatnonzero(is_req)
        self.free = np.flatnonzero(~is_req)
        self.slots = max(k - len(req), 0)

    def gains(self, mu: np.ndarray) -> np.ndarray:
        """``r_j = sum_i max(0, s_ij - mu_i)`` per candidate in play."""
        extra = np.maximum(self.S.data - mu[self.S.indices], 0.0)
        return np.bincount(self.rowid, weights=extra, minlength=len(self.cand))

    def top(self, r: np.ndarray) -> np.ndarray:
        """Return the free candidates with the largest ``r`` (local positions)."""
        free, slots = self.free, self.slots
        if slots <= 0 or len(free) == 0:
            return np.zeros(0, dtype=np.int64)
        if slots >= len(free):
            return free
        return free[np.argpartition(-r[free], slots - 1)[:slots]]

    def subgradient(self, sel: np.ndarray, mu: np.ndarray, m: int) -> np.ndarray:
        """``1 - (number of chosen sites whose saving on atom i exceeds mu_i)``, projected."""
        rows = self.S[sel]
        hit = rows.indices[rows.data > mu[rows.indices]]
        g = 1.0 - np.bincount(hit, minlength=m)
        g[(mu <= 0) & (g > 0)] = 0.0
        return g

    def fix(
        self,
        r: np.ndarray,
        top: np.ndarray,
        *,
        val: float,
        lb: float,
        out: np.ndarray,
        inn: np.ndarray,
    ) -> None:
        """Fix candidates whose inclusion (exclusion) bounds the savings below ``lb``."""
        if len(top) == 0 or len(top) >= len(self.free):
            return
        chosen = np.zeros(len(self.cand), dtype=bool)
        chosen[top] = True
        rest = self.free[~chosen[self.free]]
        kth = float(r[top].min())
        nxt = float(r[rest].max())
        margin = 1e-9 * max(abs(lb), 1.0)
        out[self.cand[rest[val - kth + r[rest] < lb - margin]]] = True
        inn[self.cand[top[val - r[top] + nxt < lb - margin]]] = True


class _Search:
    """Depth-first branch and bound over the candidates left after fixing.

    Candidates are tried in order of their Lagrangian ``r_j``; a branch that adds ``j``
    next is cut when both bounds fall to the best savings found: submodularity (savings so
    far plus the ``t`` largest gains left) and the Lagrangian (``sum mu + sum r`` over the
    sites so far plus the ``t`` largest ``r`` left).
    """

    def __init__(
        self,
        D: np.ndarray,
        r: np.ndarray,
        *,
        mu_sum: float,
        slots: int,
        deadline: float,
        max_nodes: int,
    ) -> None:
        order = np.argsort(-r, kind="stable")
        self.order, self.D, self.r = order, D[order], r[order]
        self.mu_sum, self.slots, self.deadline = mu_sum, slots, deadline
        self.best, self.best_set = -np.inf, np.zeros(0, dtype=np.int64)
        self.nodes, self.max_nodes, self.done = 0, max_nodes, True

    def run(self, base: np.ndarray, base_val: float, base_r: float, lb: float) -> None:
        """Search completions of the fixed-open sites for more savings than ``lb``.

        ``base`` is each atom's saving from the fixed-open sites, ``base_val`` its total,
        ``base_r`` the sum of their ``r``.
        """
        self.best = lb
        self._node(0, base, [], base_val, base_r)

    @staticmethod
    def _top(x: np.ndarray, t: int) -> float:
        if t <= 0:
            return 0.0
        if t >= len(x):
            return float(x.sum())
        return float(np.partition(x, len(x) - t)[len(x) - t :].sum())

    def _node(self, start: int, cur: np.ndarray, chosen: list[int], val: float, rs: float) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes or time.perf_counter() > self.deadline:
            self.done = False
            return
        t = self.slots - len(chosen)
        n = len(self.r)
        if n - start < t or t <= 0:
            return
        g = np.maximum(self.D[start:] - cur, 0.0).sum(axis=1)
        if t == 1:
            i = int(np.argmax(g))
            if val + g[i] > self.best:
                self.best, self.best_set = val + float(g[i]), np.asarray(chosen + [start + i])
            return
        for i in range(n - start - t + 1):
            j = start + i
            b1 = val + g[i] + self._top(g[i + 1 :], t - 1)
            b2 = self.mu_sum + rs + self.r[j] + self._top(self.r[j + 1 :], t - 1)
            if min(b1, b2) <= self.best:
                continue
            self._node(j + 1, np.maximum(cur, self.D[j]), [*chosen, j], val + g[i], rs + self.r[j])
            if not self.done:
                return

    def sites(self) -> np.ndarray:
        """Best completion found (positions in the matrix given)."""
        return np.sort(self.order[self.best_set]) if len(self.best_set) else self.best_set


class PmedianCurve:
    """The capped p-median solved for k = 1, 2, ... (see the module docstring).

    Parameters
    ----------
    dist : scipy.sparse.csr_matrix
        Candidates x units walking distances (+1e-9) up to the cap.
    w : numpy.ndarray
        Demand weights (households).
    base : numpy.ndarray
        Each unit's capped walk today, ``min(d_existing, cap)``.
    required : numpy.ndarray, optional
        Candidates that must be open (they count within k).
    time_limit_s : float
        Time limit per k (Lagrangian and HiGHS together).
    mip_rel_gap : float
        Relative gap (on the savings) within which a point counts as exact.

    """

    def __init__(
        self,
        dist: sparse.csr_matrix,
        w: np.ndarray,
        base: np.ndarray,
        *,
        required: np.ndarray | None = None,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> None:
        t0 = time.perf_counter()
        self.n = dist.shape[0]
        self.base_cost = float(np.sum(w * base))
        self.S, self.weight, self.c, self.n_units = _aggregate(sparse.csr_matrix(dist), w, base)
        self.m = self.S.shape[1]
        self.rowid = np.repeat(np.arange(self.n), np.diff(self.S.indptr))
        self.req = np.unique(np.asarray(required if required is not None else [], dtype=np.int64))
        free = np.ones(self.n, dtype=bool)
        free[self.req] = False
        self.free = np.flatnonzero(free)
        self.mu = np.asarray(self.S.max(axis=0).todense()).ravel()
        self.time_limit_s = float(time_limit_s)
        self.tol = float(mip_rel_gap)
        self.patience = 30  # Lagrangian iterations without a newly fixed candidate
        self.max_nodes = 200_000  # branch and bound budget before HiGHS takes over
        self.build_s = time.perf_counter() - t0

    # ------------------------------------------------------------------ primal
    def value(self, sites: np.ndarray) -> float:
        """Return the savings of opening ``sites`` (candidate indices)."""
        if len(sites) == 0 or self.m == 0:
            return 0.0
        return float(self.S[np.asarray(sites, dtype=np.int64)].max(axis=0).sum())

    def _best_two(self, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per atom the best and second-best saving among ``sites`` and the best one's position."""
        sub = self.S[sites].toarray() if len(sites) else np.zeros((0, self.m))
        if len(sites) == 0:
            return np.zeros(self.m), np.zeros(self.m), np.full(self.m, -1)
        own = np.argmax(sub, axis=0)
        b1 = sub[own, np.arange(self.m)]
        if len(sites) > 1:
            part = np.partition(sub, len(sites) - 2, axis=0)
            b2 = part[len(sites) - 2]
        else:
            b2 = np.zeros(self.m)
        return b1, b2, np.where(b1 > 0, own, -1)

    def _gains(self, cur: np.ndarray) -> np.ndarray:
        """Per candidate, the savings it adds over ``cur`` (each atom's current saving)."""
        extra = np.maximum(self.S.data - cur[self.S.indices], 0.0)
        return np.bincount(self.rowid, weights=extra, minlength=self.n)

    def greedy_add(self, sites: np.ndarray, k: int) -> np.ndarray:
        """Extend ``sites`` with the candidate of largest added savings until ``k`` are open."""
        out = [int(x) for x in np.unique(np.r_[self.req, sites].astype(np.int64))]
        cur, _, _ = self._best_two(np.asarray(out, dtype=np.int64))
        while len(out) < k:
            g = self._gains(cur)
            g[out] = -1.0
            j = int(np.argmax(g))
            if g[j] <= _EPS:
                break
            out.append(j)
            a, b = self.S.indptr[j], self.S.indptr[j + 1]
            idx = self.S.indices[a:b]
            cur[idx] = np.maximum(cur[idx], self.S.data[a:b])
        return np.asarray(sorted(out), dtype=np.int64)

    def swap(self, sites: np.ndarray, *, max_rounds: int = 50) -> np.ndarray:
        """Best single swaps (one free site out, one candidate in) until none gains."""
        sites = np.asarray(sorted(sites), dtype=np.int64)
        for _ in range(max_rounds):
            b1, b2, own = self._best_two(sites)
            best = (1e-9 * max(1.0, float(b1.sum())), -1, -1)
            for pos, s in enumerate(sites.tolist()):
                if s in set(self.req.tolist()):
                    continue
                mine = own == pos
                loss = float((b1[mine] - b2[mine]).sum())
                g = self._gains(np.where(mine, b2, b1)) - loss
                g[sites] = -np.inf
                j = int(np.argmax(g))
                if g[j] > best[0]:
                    best = (float(g[j]), pos, j)
            if best[1] < 0:
                break
            sites[best[1]] = best[2]
            sites = np.sort(sites)
        return sites

    # ------------------------------------------------------------------ bound
    def lagrangian(
        self, k: int, sites: np.ndarray, deadline: float, *, max_iter: int = 3000
    ) -> tuple[np.ndarray, float, float, np.ndarray, np.ndarray]:
        """Subgradient search on ``L(mu)`` from the multipliers of the last k solved.

        Candidates whose inclusion bounds the savings below the best solution are fixed
        closed and dropped from later iterations (the bound over the others stays valid:
        the dropped ones cannot beat the best solution). Returns (best sites, their
        savings, the best bound, candidates fixed closed, candidates fixed open).
        """
        mu = self.mu.copy()
        lb, best = self.value(sites), np.asarray(sites, dtype=np.int64)
        ub, best_mu = np.inf, mu
        out = np.zeros(self.n, dtype=bool)
        inn = np.zeros(self.n, dtype=bool)
        sub = _Local(self.S, np.arange(self.n), self.req, k)
        theta, stall, seen = 1.0, 0, np.inf
        alive, steady = self.n, 0
        for it in range(max_iter):
            r = sub.gains(mu)
            top = sub.top(r)
            val = float(mu.sum() + r[sub.req].sum() + r[top].sum())
            if val < ub:
                ub, best_mu = val, mu.copy()
            if val < seen - 1e-9 * max(abs(val), 1.0):
                seen, stall = val, 0
            else:
                stall += 1
                if stall >= 15:
                    theta, stall = theta / 2, 0
            sel = np.r_[sub.req, top].astype(np.int64)
            got = self.value(sub.cand[sel])
            if got > lb:
                lb, best = got, np.sort(sub.cand[sel])
            sub.fix(r, top, val=val, lb=lb, out=out, inn=inn)
            if ub - lb <= self.tol * max(ub, 1e-12) or theta < _THETA_MIN:
                break
            n_alive = self.n - int(out.sum())
            alive, steady = n_alive, (steady + 1 if n_alive == alive else 0)
            if time.perf_counter() > deadline or (steady >= self.patience and it >= 100):
                break
            if it % 10 == 9 and out[sub.cand].sum() > 0.1 * len(sub.cand):
                sub = _Local(self.S, sub.cand[~out[sub.cand]], self.req, k)
                continue
            g = sub.subgradient(sel, mu, self.m)
            nrm = float(g @ g)
            if nrm <= 0:
                break
            mu = np.maximum(mu - theta * (val - lb) / nrm * g, 0.0)
        self.mu = best_mu
        return best, lb, min(ub, float(self.weight @ self.c)), out, inn

    # ------------------------------------------------------------------ search
    def _branch(
        self, k: int, keep: np.ndarray, fixed: np.ndarray, lb: float, deadline: float
    ) -> np.ndarray | None:
        """Branch and bound over ``keep``.

        Returns the better sites (empty when none beat ``lb``), or None when the search
        stopped early (node budget or time).
        """
        free = np.setdiff1d(keep, fixed)
        D = self.S[free].toarray()
        r = np.maximum(D - self.mu, 0.0).sum(axis=1)
        if len(fixed):
            F = self.S[fixed].toarray()
            base, base_r = F.max(axis=0), float(np.maximum(F - self.mu, 0.0).sum())
        else:
            base, base_r = np.zeros(self.m), 0.0
        search = _Search(
            D,
            r,
            mu_sum=float(self.mu.sum()),
            slots=k - len(fixed),
            deadline=deadline,
            max_nodes=self.max_nodes,
        )
        search.run(base, float(base.sum()), base_r, lb)
        log.debug("p-median k=%d: branch and bound, %d nodes over %d", k, search.nodes, len(free))
        if not search.done:
            return None
        if len(search.best_set) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.union1d(fixed, free[search.sites()])

    # ------------------------------------------------------------------ MIP
    def _mip(
        self, k: int, keep: np.ndarray, fixed_open: np.ndarray, start: np.ndarray, limit_s: float
    ) -> tuple[np.ndarray, float, float, str]:
        """HiGHS over the candidates ``keep`` (original indices), savings-level formulation.

        Per atom ``i`` with distinct savings ``v_1 > ... > v_L`` among ``keep``, ``u_ih``
        (the atom saves at least ``v_h``) obeys ``u_ih <= u_i,h-1 + sum_{j: s_ij = v_h} x_j``
        and earns ``v_h - v_h+1`` (Elloumi 2010, chained; as tight as the assignment model,
        with one coefficient per pair).
        """
        sub = self.S[keep].tocoo()
        n = len(keep)
        pj, pi, save = sub.row, sub.col, sub.data
        o = np.lexsort((pj, -save, pi))
        pj, pi, save = pj[o], pi[o], save[o]
        new_level = np.r_[True, (pi[1:] != pi[:-1]) | (save[1:] != save[:-1])]
        level = np.cumsum(new_level) - 1  # one u per (atom, distinct saving)
        nl = int(level[-1]) + 1 if len(level) else 0
        lv_atom = pi[new_level]
        lv_save = save[new_level]
        last = np.r_[lv_atom[1:] != lv_atom[:-1], True]
        nxt = np.where(last, 0.0, np.r_[lv_save[1:], 0.0])
        first = np.r_[True, lv_atom[1:] != lv_atom[:-1]]
        prev = np.flatnonzero(~first)
        rows = np.r_[np.arange(nl), prev, level]
        cols = np.r_[n + np.arange(nl), n + prev - 1, pj]
        vals = np.r_[np.ones(nl), -np.ones(len(prev)), -np.ones(len(pj))]
        a = sparse.vstack(
            [
                sparse.csr_matrix((vals, (rows, cols)), shape=(nl, n + nl)),
                sparse.csr_matrix(np.r_[np.ones(n), np.zeros(nl)][None, :]),
            ],
            format="csr",
        )
        col_lo = np.zeros(n + nl)
        col_lo[np.flatnonzero(np.isin(keep, fixed_open))] = 1.0
        x0 = np.zeros(n + nl)
        x0[:n] = np.isin(keep, start)
        best = np.zeros(self.m)
        opened = x0[:n][pj] > 0
        np.maximum.at(best, pi[opened], save[opened])
        x0[n:] = best[lv_atom] >= lv_save
        x, info = solve_mip(
            np.r_[np.zeros(n), lv_save - nxt],
            a,
            row_lo=np.full(nl + 1, -np.inf),
            row_hi=np.r_[np.zeros(nl), float(k)],
            col_lo=col_lo,
            col_hi=np.ones(n + nl),
            n_int=n,
            maximize=True,
            time_limit_s=max(limit_s, 0.5),
            mip_rel_gap=self.tol,
            start=x0,
        )
        return keep[x[:n] > _OPEN], info["objective"], info["bound"], info["status"]

    # ------------------------------------------------------------------ per k
    def solve(self, k: int, start: np.ndarray | None = None) -> Solution:
        """Best ``k`` sites (required ones included); ``start`` = sites of the last k solved."""
        t0 = time.perf_counter()
        deadline = t0 + self.time_limit_s
        slots = k - len(self.req)
        warm = self.greedy_add(np.zeros(0) if start is None else start, k)
        if slots <= 1:
            # at most one free site: the best addition is exact by enumeration
            val = self.value(warm)
            return self._solution(warm, val, val, status="Optimal", t0=t0, how="enumeration")
        warm = self.swap(warm)
        sites, lb, ub, out, inn = self.lagrangian(k, warm, deadline)
        if ub - lb <= self.tol * max(ub, 1e-12):
            return self._solution(sites, lb, ub, status="Optimal", t0=t0, how="lagrangian")
        sites = self.swap(sites)
        lb = max(lb, self.value(sites))
        if ub - lb <= self.tol * max(ub, 1e-12):
            return self._solution(sites, lb, ub, status="Optimal", t0=t0, how="lagrangian")
        keep = np.flatnonzero(~out)
        fixed = np.union1d(self.req, np.flatnonzero(inn))
        if len(keep) * self.m <= _DENSE_MAX:
            found = self._branch(k, keep, fixed, lb, deadline)
            if found is not None:
                if len(found):
                    sites, lb = found, self.value(found)
                return self._solution(sites, lb, lb, status="Optimal", t0=t0, how="branch")
        log.debug(
            "p-median k=%d: gap %.4g after the Lagrangian; HiGHS on %d of %d candidates",
            k,
            (ub - lb) / max(ub, 1e-12),
            len(keep),
            self.n,
        )
        left = deadline - time.perf_counter()
        t1, c1 = time.perf_counter(), time.process_time()
        got, obj, bound, status = self._mip(k, keep, fixed, sites, left)
        log.debug(
            "p-median k=%d: HiGHS %.2f s wall, %.2f s CPU (Lagrangian until %.2f s)",
            k,
            time.perf_counter() - t1,
            time.process_time() - c1,
            t1 - t0,
        )
        if obj >= lb - 1e-9 * max(abs(lb), 1.0):
            sites, lb = np.sort(got), obj
        ub = min(ub, bound)
        if status != "Optimal" and ub - lb <= self.tol * max(ub, 1e-12):
            status = "Optimal"
        return self._solution(sites, lb, ub, status=status, t0=t0, how="highs")

    def _solution(
        self, sites: np.ndarray, save: float, bound: float, *, status: str, t0: float, how: str
    ) -> Solution:
        bound = max(bound, save)
        gap = (bound - save) / max(abs(bound), 1e-12) if bound > 0 else 0.0
        return Solution(
            sites=np.sort(np.asarray(sites, dtype=np.int64)),
            objective=self.base_cost - save,
            solver="highs",
            status=status,
            bound=self.base_cost - bound,
            gap=max(gap, 0.0),
            seconds=time.perf_counter() - t0,
            info={
                "method": how,
                "atoms": self.m,
                "units": self.n_units,
                "base_cost": self.base_cost,
                "savings": save,
                "savings_bound": bound,
            },
        )
