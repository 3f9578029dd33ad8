"""Siting new party-mass service stations: maximal coverage, set cover, p-median, p-centre.

Planners ask where ``k`` new stations cover the most households still outside the 15-minute
circle, and how many stations full coverage takes. Existing facilities stay open and count:
a household they already reach within the target is covered before any new site is chosen.

Distances are the coverage engine's (:mod:`geogrid.coverage`): demand and candidates snap to
the nearest edge, both snap legs count, and a candidate reaches a unit when the walk is at
most the target (``15min`` = 1,000 m at 4 km/h). The candidate x demand matrix is sparse,
from bounded searches on small sub-networks (:mod:`geogrid._siting_matrix`), never dense.

Problems (see :mod:`geogrid._siting_solve` for the formulations):

* ``"mclp"`` maximal coverage: ``k`` sites that newly cover the most households; optional
  ``capacity_hh`` households per new station (households may be split between stations).
* ``"set_cover"``: fewest sites that bring coverage to ``share`` of all households (1.0 =
  every household a candidate can reach; the shortfall is reported when some cannot be).
* ``"pmedian"``: ``k`` sites minimising the household-weighted walk to the nearest facility
  (existing or new), distances capped at ``pmedian_cap_m`` (default twice the target):
  a household farther than the cap from every facility counts as the cap. It is the exact
  p-median of ``min(distance, cap)``; with a cap beyond every distance it is the plain one.

* ``"pcenter"``: ``k`` sites minimising the longest walk to the nearest facility (capped as
  p-median), exact by binary search over the distances with a HiGHS set cover per step.

Options: demand ``weight`` (a column, e.g. elderly households counted double), ``required``
sites (ids or points), ``relocate`` (close up to m existing stations, each freeing one more
new site, as R's maxcovr), ``capacity_hh``, ``exclude`` zones and the candidate pool
(``public`` streets and gates outside gated compounds by default, ``compounds``, ``all`` or
your own list).

Solvers: ``"greedy"`` (lazy evaluation, CELF), ``"exact"`` (HiGHS; for MCLP demand units with
identical candidate sets are merged, duplicate candidates dropped, and a Lagrangian bound
closes large instances before any branch and bound) or ``"both"`` (exact is reported, greedy
compared against it). Every k = 1..K is solved on its own, warm-started from k-1. The
p-median curve (:mod:`geogrid.analyses.siting.pmedian`) merges units with identical distance
columns, bounds each k by Lagrangian relaxation, fixes the candidates that bound cannot let
in, and finishes with a branch and bound over the few left (HiGHS beyond a node budget).

Outputs (:class:`SitingResult`): ``sites`` ranked by marginal gain (``rank``,
``candidate_id``, ``source``, ``gain_households`` in rank order, ``only_households`` lost
without the site, ``low_gain`` below ``min_gain``, ``served_households`` (within the
target, as their nearest facility), ``reach_households``, ``reason_zh``/``reason_en`` (those
figures in words), ``inside_compound``, ``required``, ``community_code``; households are whole
numbers); ``curve``
(``n_new_sites`` 0..n, ``households_covered``, ``coverage_share``, ``gain_households``,
``status`` ``today``/``exact``/``bound``/``greedy``, ``objective``, ``bound``, ``gap``,
``bound_households``, ``sites``: each row is the optimum for its k, not a prefix of one
answer); ``communities`` before/after; ``allocation`` lines from each demand unit to its new
site; ``closed`` (relocation); ``solvers`` (greedy against exact, ``n_requested``,
``n_chosen``); ``summary`` (``n_requested``, ``n_chosen`` and ``reason`` when fewer are
needed); ``timings`` (seconds, kept out of the tables so that they stay byte-identical).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geogrid.analyses.coverage.engine import Coverage, compute_coverage
from geogrid.analyses.coverage.reasons import site_reasons
from geogrid.analyses.siting import solve as _solve
from geogrid.analyses.siting.matrix import coverage_pairs
from geogrid.analyses.siting.pmedian import PmedianCurve
from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.network.build import WalkNetwork
from geogrid.network.snap import Snap, representative_points, snap_points
from geogrid.settings import (
    CLOSABLE_TYPES,
    DEFAULTS,
    FACILITY_TYPES,
    Settings,
    Target,
    parse_targets,
)
from geogrid.study.demand import prepare_demand

__all__ = [
    "CANDIDATE_SOURCES",
    "PROBLEMS",
    "SOLVERS",
    "SitingModel",
    "SitingResult",
    "build_model",
    "candidates",
    "run_siting",
]

log = logging.getLogger(__name__)

#: Values of the candidates' ``source`` column.
CANDIDATE_SOURCES: tuple[str, ...] = ("user", "gate", "entrance", "network", "grid")
#: Siting problems :func:`run_siting` solves.
PROBLEMS: tuple[str, ...] = ("mclp", "set_cover", "pmedian", "pcenter")
#: Solver choices.
SOLVERS: tuple[str, ...] = ("greedy", "exact", "both")
#: Households (or metres) below which a figure counts as zero.
_TOL = 1e-9
#: Relative tolerance within which two objectives count as equal.
_REL_TOL = 1e-6


# ---------------------------------------------------------------------- candidates
def _points_of(gdf: gpd.GeoDataFrame | None, crs: Any, what: str) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}; read it with geogrid.io.read_layer"
        raise InputError(msg)
    if gdf.crs is None:
        msg = f"{what} have no coordinate system; call .set_crs(...) before passing them"
        raise InputError(msg)
    if len(gdf) == 0:
        return None
    g = to_metric(gdf, crs)
    g = g[g.geometry.notna() & ~g.geometry.is_empty]
    return gpd.GeoDataFrame(
        g.drop(columns=g.geometry.name), geometry=representative_points(g), crs=crs
    )


def _frame(points: np.ndarray, source: str, crs: Any) -> gpd.GeoDataFrame:
    n = len(points)
    return gpd.GeoDataFrame({"source": [source] * n, "name": [None] * n}, geometry=points, crs=crs)


def candidates(
    net: WalkNetwork,
    *,
    user: gpd.GeoDataFrame | None = None,
    gates: gpd.GeoDataFrame | None = None,
    entrances: gpd.GeoDataFrame | None = None,
    every_m: float | None = None,
    grid_centroids: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites for new stations, in the network's CRS.

    Parameters
    ----------
    net : WalkNetwork
        The walking network (its CRS is the output's).
    user : GeoDataFrame, optional
        The planners' own list (vacant premises, community offices); a ``name`` column is
        kept, polygons enter by a point on their surface.
    gates, entrances : GeoDataFrame, optional
        Compound gates and building entrances (points).
    every_m : float, optional
        Sample the network every ``every_m`` metres: each edge gets
        ``max(1, round(length / every_m))`` evenly spaced points (the first and last half a
        spacing from its ends), so every stretch of street is offered.
    grid_centroids : GeoDataFrame, optional
        Polygons (e.g. governance grids or a square grid); their centroids are snapped to
        the nearest network edge and the snapped point is the candidate.
    exclude : GeoDataFrame, optional
        Polygons where no station may go (parks, water, schools); candidates inside are
        dropped.

    Returns
    -------
    GeoDataFrame
        ``candidate_id`` (``C00001``...), ``source`` (``user`` / ``gate`` / ``entrance`` /
        ``network`` / ``grid``), ``name`` (text or None), Point geometry.

    """
    parts: list[gpd.GeoDataFrame] = []
    for gdf, source in ((user, "user"), (gates, "gate"), (entrances, "entrance")):
        pts = _points_of(gdf, net.crs, f"{source} candidates")
        if pts is None:
            continue
        name = (
            pts["name"].astype(object)
            if "name" in pts.columns
            else pd.Series(None, index=pts.index, dtype=object)
        )
        parts.append(
            gpd.GeoDataFrame(
                {"source": source, "name": name.to_numpy()},
                geometry=np.asarray(pts.geometry.values),
                crs=net.crs,
            )
        )
    if every_m is not None:
        step = float(every_m)
        if not step > 0:
            msg = f"every_m must be positive, got {every_m!r}; pass e.g. every_m=100"
            raise InputError(msg)
        length = net.edges["length_m"].to_numpy(dtype=float)
        count = np.maximum(1, np.round(length / step)).astype(np.int64)
        edge = np.repeat(np.arange(net.n_edges), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        frac = (k + 0.5) / count[edge]
        geoms = np.asarray(net.edges.geometry.values)[edge]
        pts = shapely.line_interpolate_point(geoms, frac, normalized=True)
        parts.append(_frame(pts, "network", net.crs))
    grid = _points_of(grid_centroids, net.crs, "grid_centroids")
    if grid is not None:
        cen = shapely.centroid(np.asarray(to_metric(grid_centroids, net.crs).geometry.values))
        cen = cen[~shapely.is_empty(cen)]
        snap = snap_points(net, cen)
        parts.append(_frame(snap.points(), "grid", net.crs))
    if not parts:
        msg = "no candidate sites; pass user=, gates=, entrances=, every_m= or grid_centroids="
        raise InputError(msg)
    out = pd.concat(parts, ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=net.crs)
    if exclude is not None and len(exclude):
        zones = np.asarray(to_metric(exclude, net.crs).geometry.values)
        tree = shapely.STRtree(zones)
        hit = tree.query(np.asarray(out.geometry.values), predicate="intersects")
        drop = np.zeros(len(out), dtype=bool)
        drop[hit[0]] = True
        log.info(
            "excluded %d of %d candidates inside %d zones", int(drop.sum()), len(out), len(zones)
        )
        out = out[~drop].reset_index(drop=True)
    if out.empty:
        msg = "every candidate lies in an excluded zone; shrink exclude= or add candidates"
        raise InputError(msg)
    out.insert(0, "candidate_id", [f"C{i + 1:05d}" for i in range(len(out))])
    return out


_make_candidates = candidates


#: Summary rows that are wall-clock times: in the manifest, never in output files.
_TIMING_METRICS = ("matrix_seconds",)


# ---------------------------------------------------------------------- model
@dataclass
class SitingModel:
    """Demand, existing coverage and sparse candidate reach for one siting question.

    Build it with :func:`build_model`. ``cover`` is candidates x units (CSR) holding the
    walking distance (+1e-9 m) where it is at most ``limit_m``; ``dist`` the same up to the
    p-median cap (built on first use). ``d0`` is each unit's walk to the nearest existing
    facility (``inf`` when none).
    """

    net: WalkNetwork
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame | None
    candidates: gpd.GeoDataFrame
    unit_snap: Snap
    cand_snap: Snap
    target: Target
    limit_m: float
    speed_kmh: float
    w: np.ndarray
    d0: np.ndarray
    cover: sparse.csr_matrix
    settings: Settings = DEFAULTS
    timings: dict[str, float] = field(default_factory=dict)
    wt: np.ndarray | None = None
    weight_name: str | None = None
    _dist: dict[float, sparse.csr_matrix] = field(default_factory=dict, repr=False)
    _exist: sparse.csr_matrix | None = field(default=None, repr=False)

    @property
    def weights(self) -> np.ndarray:
        """Demand weights the solvers use (``wt`` when set, else the households)."""
        return self.w if self.wt is None else self.wt

    @property
    def weighted(self) -> bool:
        """Whether the solvers weigh demand otherwise than by households."""
        return self.wt is not None

    def existing_reach(self) -> sparse.csr_matrix:
        """Existing facilities x units walking distances within the target (built once)."""
        if self._exist is None:
            if self.facilities is None or len(self.facilities) == 0:
                self._exist = sparse.csr_matrix((0, len(self.w)))
            else:
                snap = snap_points(self.net, self.facilities, max_snap_m=self.settings.max_snap_m)
                self._exist = coverage_pairs(self.net, snap, self.unit_snap, self.limit_m)
        return self._exist

    def d0_kept(self, closed: np.ndarray) -> np.ndarray:
        """Walk to the nearest existing facility once ``closed`` (indices) are closed."""
        if len(closed) == 0:
            return self.d0
        ex = self.existing_reach()
        kept = np.setdiff1d(np.arange(ex.shape[0]), closed)
        d = np.full(len(self.w), np.inf)
        sub = ex[kept].tocoo()
        np.minimum.at(d, sub.col, sub.data - 1e-9)
        return d

    @property
    def covered0(self) -> np.ndarray:
        """Units within the target of an existing facility."""
        return self.d0 <= self.limit_m

    @property
    def households(self) -> float:
        """All households."""
        return float(self.w.sum())

    def distances(self, cap_m: float) -> sparse.csr_matrix:
        """Candidates x units walking distances up to ``cap_m`` (built once per cap)."""
        cap = float(cap_m)
        if cap <= self.limit_m:
            return self.cover
        if cap not in self._dist:
            t0 = time.perf_counter()
            self._dist[cap] = coverage_pairs(self.net, self.cand_snap, self.unit_snap, cap)
            self.timings[f"matrix_{cap:.0f}m_s"] = time.perf_counter() - t0
        return self._dist[cap]

    # ------------------------------------------------------------------ problems
    def maximal_coverage(
        self,
        *,
        k: int,
        solver: str = "greedy",
        capacity_hh: float | None = None,
        swap: bool = True,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> _solve.Solution:
        """Choose ``k`` new sites that newly cover the most households (MCLP).

        The greedy is followed by best single swaps (``swap=True``) until none helps.
        """
        k = _check_k(k)
        if capacity_hh is not None:
            cap = float(capacity_hh)
            if not cap > 0:
                msg = (
                    f"capacity_hh must be positive, got {capacity_hh!r}; pass e.g. capacity_hh=3000"
                )
                raise InputError(msg)
            if solver == "greedy":
                return _solve.greedy_capacity(self.cover, self.w, self.covered0, k=k, capacity=cap)
            return _solve.exact_capacity(
                self.cover,
                self.w,
                self.covered0,
                k=k,
                capacity=cap,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
            )
        if solver == "greedy":
            sol = _solve.greedy_cover(self.cover, self.w, self.covered0, k=k)
            if swap and len(sol.sites) > 1:
                t0 = time.perf_counter()
                sites, obj, n_swaps = _solve.swap_improve(
                    self.cover, self.w, self.covered0, sol.sites
                )
                if n_swaps:
                    sol.sites, sol.objective = sites, obj
                sol.info["swaps"] = n_swaps
                sol.seconds += time.perf_counter() - t0
            return sol
        return _solve.exact_cover(
            self.cover,
            self.w,
            self.covered0,
            k=k,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
        )

    def needed_households(self, share: float) -> tuple[float, bool]:
        """Households new sites must add to reach ``share``; False when out of reach."""
        s = float(share)
        if not 0 < s <= 1:
            msg = f"share must be in (0, 1], got {share!r}; pass e.g. share=0.95 or 1.0"
            raise InputError(msg)
        wt = self.weights
        base = float(wt[self.covered0].sum())
        want = max(s * float(wt.sum()) - base, 0.0)
        reachable = np.diff(self.cover.tocsc().indptr) > 0
        can = float(wt[~self.covered0 & reachable].sum())
        if want > can + 1e-6:
            log.warning(
                "coverage share %.3f is out of reach: candidates reach %.0f more households, "
                "%.0f are needed; solving for every reachable household",
                s,
                can,
                want,
            )
            return can, False
        return want, True

    def set_cover(
        self,
        *,
        share: float = 1.0,
        solver: str = "greedy",
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> _solve.Solution:
        """Fewest new sites that bring coverage to ``share`` of all households."""
        need, ok = self.needed_households(share)
        if solver == "greedy":
            sol = _solve.greedy_cover(self.cover, self.w, self.covered0, need_w=need)
        elif need <= _TOL:
            sol = _solve.Solution(
                np.zeros(0, np.int64), 0.0, "highs", status="Optimal", bound=0.0, gap=0.0
            )
        else:
            sol = _solve.exact_cover(
                self.cover,
                self.w,
                self.covered0,
                need_w=need,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
            )
        sol.feasible = sol.feasible and ok
        return sol

    def p_median(
        self,
        *,
        k: int,
        cap_m: float | None = None,
        solver: str = "greedy",
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-6,
    ) -> _solve.Solution:
        """``k`` new sites minimising the household-weighted capped walk (see module doc)."""
        k = _check_k(k)
        cap = float(cap_m) if cap_m is not None else 2.0 * self.limit_m
        if not cap > 0:
            msg = f"pmedian_cap_m must be positive, got {cap_m!r}; pass e.g. 2000"
            raise InputError(msg)
        dist = self.distances(cap)
        base = np.minimum(self.d0, cap)
        if solver == "greedy":
            sol = _solve.greedy_pmedian(dist, self.w, base, k=k)
        else:
            pm = PmedianCurve(
                dist, self.w, base, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
            )
            sol = pm.solve(k)
        sol.info["cap_m"] = cap
        return sol

    # ------------------------------------------------------------------ reporting
    def rank(self, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Order ``sites`` by marginal gain in households newly covered (greedy within them).

        Sites with no gain once the others are open are left out.
        """
        sites = np.asarray(sites, dtype=np.int64)
        if len(sites) == 0:
            return sites, np.zeros(0)
        sub = self.cover[sites]
        sol = _solve.greedy_cover(sub, self.w, self.covered0, k=len(sites))
        order = list(sol.sites)
        gains = list(sol.info["gains"])
        # sites that add nothing once the others are open are dropped (a MIP with
        # "at most k" may return them)
        return sites[np.asarray(order, dtype=np.int64)], np.asarray(gains, dtype=float)

    def after(self, sites: np.ndarray) -> np.ndarray:
        """Each unit's walk to the nearest facility, existing or one of ``sites``."""
        d = self.d0.copy()
        if len(sites):
            sub = self.cover[np.asarray(sites, dtype=np.int64)].tocoo()
            np.minimum.at(d, sub.col, sub.data - 1e-9)
        return d


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        msg = f"k must be a positive whole number of new stations, got {k!r}; pass e.g. k=5"
        raise InputError(msg)
    return int(k)


def build_model(
    net: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None,
    cands: gpd.GeoDataFrame,
    *,
    target: str | Target = "15min",
    speed_kmh: float | None = None,
    settings: Settings = DEFAULTS,
    coverage: Coverage | None = None,
) -> SitingModel:
    """Snap everything and build the sparse candidate x demand reach within ``target``.

    ``facilities`` may be None or empty (no station today). Demand is prepared with
    :func:`geogrid.demand.prepare_demand`; ``households`` are the weights. Given
    ``coverage`` (a computed :class:`~geogrid.analyses.coverage.engine.Coverage`), its
    network, prepared demand, snaps and nearest-facility distances are reused: nothing is
    prepared, snapped or computed again but the candidates.
    """
    speed = float(speed_kmh if speed_kmh is not None else settings.speed_kmh)
    tgt = target if isinstance(target, Target) else parse_targets(str(target))[0]
    limit = tgt.max_dist_m(speed)
    if not isinstance(cands, gpd.GeoDataFrame) or len(cands) == 0:
        msg = (
            "no candidate sites given; build them with geogrid.siting.candidates(net, every_m=100)"
        )
        raise InputError(msg)
    cands = to_metric(cands, net.crs).reset_index(drop=True)
    if "candidate_id" not in cands.columns:
        cands.insert(0, "candidate_id", [f"C{i + 1:05d}" for i in range(len(cands))])
    if "source" not in cands.columns:
        cands["source"] = "user"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fac = None
    if coverage is not None:
        net, dem, unit_snap = coverage.net, coverage.demand, coverage.unit_snap
        d0 = coverage.nearest()[0]
        fac = coverage.facilities
    elif facilities is not None and len(facilities):
        cov = compute_coverage(
            net,
            demand,
            facilities,
            targets=(tgt,),
            speed_kmh=speed,
            by_type=False,
            second=False,
            settings=settings,
        )
        dem, unit_snap = cov.demand, cov.unit_snap
        d0 = cov.nearest()[0]
        fac = cov.facilities
    else:
        dem = prepare_demand(demand, settings=settings, crs=net.crs)
        unit_snap = snap_points(net, dem, max_snap_m=settings.max_snap_m)
        d0 = np.full(len(dem), np.inf)
    timings["existing_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cand_snap = snap_points(net, cands, max_snap_m=settings.max_snap_m)
    cover = coverage_pairs(net, cand_snap, unit_snap, limit)
    timings["matrix_s"] = time.perf_counter() - t0
    log.info(
        "siting model: %d candidates x %d units, %d pairs within %.0f m (%.1f s)",
        len(cands),
        len(dem),
        cover.nnz,
        limit,
        timings["matrix_s"],
    )
    return SitingModel(
        net=net,
        demand=dem,
        facilities=fac,
        candidates=cands,
        unit_snap=unit_snap,
        cand_snap=cand_snap,
        target=tgt,
        limit_m=limit,
        speed_kmh=speed,
        w=dem["households"].to_numpy(dtype=float),
        d0=np.asarray(d0, dtype=float),
        cover=cover,
        settings=settings,
        timings=timings,
    )


# ---------------------------------------------------------------------- result
@dataclass
class SitingResult:
    """Everything a siting run produces (see the module docstring for the columns).

    ``timing`` (seconds per step and per solved k; :meth:`timings` flattens it) stays out of
    the written tables, which are
    byte-identical run to run; a run manifest can take it as is.
    """

    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    communities: pd.DataFrame | gpd.GeoDataFrame | None
    solvers: pd.DataFrame
    summary: pd.DataFrame
    candidates: gpd.GeoDataFrame
    model: SitingModel | None = field(default=None, repr=False)
    allocation: gpd.GeoDataFrame | None = None
    closed: gpd.GeoDataFrame | None = None
    timing: dict[str, Any] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)

    def layers(self) -> dict[str, pd.DataFrame]:
        """Layers for ``siting.gpkg``.

        ``sites``, ``candidates``, ``curve``, ``solvers``, ``summary``, ``allocation`` (lines
        from each demand unit to its new site), ``closed`` (relocation) and ``communities``
        when known.
        """
        timed = self.summary["metric"].isin(_TIMING_METRICS)
        out: dict[str, pd.DataFrame] = {
            "sites": self.sites,
            "candidates": self.candidates,
            "curve": self.curve,
            "solvers": self.solvers.drop(columns=["seconds"], errors="ignore"),
            "summary": _text_values(self.summary[~timed].reset_index(drop=True)),
        }
        if self.allocation is not None and len(self.allocation):
            out["allocation"] = self.allocation
        if self.closed is not None and len(self.closed):
            out["closed"] = self.closed
        if self.communities is not None:
            out["communities"] = self.communities
        return out

    def timings(self) -> dict[str, float]:
        """Wall-clock (and CPU) seconds of the matrix, each solver and each k (for run.json).

        Kept out of :meth:`layers`, so the same inputs write the same bytes.
        """
        out: dict[str, float] = {}
        for name, v in self.timing.items():
            if isinstance(v, list):
                out.update(
                    {f"{name[: -len('_per_k_s')]}_k{i + 1}_s": float(x) for i, x in enumerate(v)}
                )
            else:
                out[name] = float(v)
        # the names the run manifest has used since before the per-k curve
        for old, new in (("matrix_seconds", "matrix_s"), ("greedy_seconds", "greedy_s")):
            if new in out:
                out[old] = out[new]
        if "exact_s" in out:
            out["highs_seconds"] = out["exact_s"]
        return out

    def solver_points(self) -> list[dict[str, Any]]:
        """Per curve point (k), how the solver proved it, for the run manifest (run.json).

        ``status`` is ``exact`` (proven within the gap) or ``bound`` (time limit: ``bound``
        and ``gap`` say how far from the optimum it may be) or ``greedy``; ``method`` is
        how it was proven (``enumeration``, ``lagrangian``, ``branch``, ``highs``);
        ``objective`` and ``bound`` are in the problem's own units (households newly
        covered; household-weighted metres for p-median; metres for p-centre). Seconds make
        these volatile, so they stay out of the written tables.
        """
        return [dict(p) for p in self.points]

    def write(self, out_dir: str | Path, *, lang: str = "zh") -> dict[str, Path]:
        """Write ``siting.gpkg``, ``siting_curve.csv`` and ``siting_curve.png`` (atomically)."""
        from geogrid.io.writers import write_layers, write_table

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        return {
            "gpkg": write_layers(d / "siting.gpkg", self.layers()),
            "curve": write_table(self.curve, d / "siting_curve.csv"),
            "plot": plot_curve(self.curve, d / "siting_curve.png", lang=lang),
        }


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    for f in sorted(font_manager.fontManager.ttflist, key=lambda f: f.name):
        if any(t in f.name for t in ("CJK SC", "WenQuanYi", "SimHei", "Source Han Sans")):
            return str(f.name)
    return None


def plot_curve(curve: pd.DataFrame, path: str | Path, *, lang: str = "zh") -> Path:
    """Plot households covered against new stations (Chinese labels when a CJK font exists).

    Exact points are filled, points stopped by the time limit are hollow with their bound
    drawn as a bar. Written atomically, without a timestamp (same curve, same bytes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    font = _cjk_font() if lang == "zh" else None
    zh = font is not None
    labels = (
        (
            "新增站点数（个）",
            "覆盖户数（户）",
            "每个站点数的最优覆盖",
            "上界（时间限制）",
            "最优（精确）",
        )
        if zh
        else (
            "new stations",
            "households covered",
            "best coverage per number of stations",
            "bound (time limit)",
            "optimum (exact)",
        )
    )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with plt.rc_context({"font.family": [font] if font else ["DejaVu Sans"], "svg.hashsalt": "0"}):
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        n = curve["n_new_sites"].to_numpy()
        y = curve["households_covered"].to_numpy(dtype=float)
        ax.plot(n, y, color="#b22222", lw=1.5)
        exact = curve["status"].isin(["exact", "today"]).to_numpy()
        ax.scatter(n[exact], y[exact], color="#b22222", zorder=3, label=labels[4])
        if (~exact).any():
            ax.scatter(n[~exact], y[~exact], facecolors="white", edgecolors="#b22222", zorder=3)
            b = curve["bound_households"].to_numpy(dtype=float)
            ok = ~exact & np.isfinite(b)
            ax.vlines(n[ok], y[ok], b[ok], color="#555555", lw=1, label=labels[3])
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(labels[2])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(tmp, format="png", metadata={"Software": None})
        plt.close(fig)
    tmp.replace(target)
    return target


def _text_values(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["value"] = out["value"].map(lambda v: None if v is None else str(v))
    return out


def _community_codes(
    model: SitingModel, communities: gpd.GeoDataFrame | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Community code of each unit and each candidate (None when unknown)."""
    code = "community_code"
    zones = None
    if communities is not None and code in communities.columns and len(communities):
        zones = to_metric(communities, model.net.crs)
    unit_code = None
    if code in model.demand.columns:
        unit_code = model.demand[code].astype(object).to_numpy()
    elif zones is not None:
        unit_code = _zone_of(representative_points(model.demand), zones, code)
    cand_code = None
    if zones is not None:
        cand_code = _zone_of(np.asarray(model.candidates.geometry.values), zones, code)
    elif unit_code is not None:
        # nearest demand unit's community
        tree = shapely.STRtree(representative_points(model.demand))
        near = tree.query_nearest(np.asarray(model.candidates.geometry.values), all_matches=False)
        cand_code = np.full(len(model.candidates), None, dtype=object)
        cand_code[near[0]] = unit_code[near[1]]
    return unit_code, cand_code


def _zone_of(points: np.ndarray, zones: gpd.GeoDataFrame, key: str) -> np.ndarray:
    tree = shapely.STRtree(np.asarray(zones.geometry.values))
    hit = tree.query(points, predicate="intersects")
    out = np.full(len(points), None, dtype=object)
    vals = zones[key].astype(object).to_numpy()
    first = np.unique(hit[0], return_index=True)[1]
    out[hit[0][first]] = vals[hit[1][first]]
    return out


def _served(
    model: SitingModel, ranked: np.ndarray, assign: sparse.csr_matrix | None, d0: np.ndarray
) -> np.ndarray:
    """Households per new site whose nearest facility within the target it becomes."""
    if assign is not None:
        return np.asarray(assign[ranked].sum(axis=1)).ravel()
    sub = model.cover[ranked].tocoo()
    if sub.nnz == 0:
        return np.zeros(len(ranked))
    row, col, d = _nearest_pairs(sub)
    wins = d < d0[col]
    return np.bincount(row[wins], weights=model.w[col[wins]], minlength=len(ranked))


def _nearest_pairs(sub: sparse.coo_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit (column), the row of its nearest stored entry: (row, unit, distance)."""
    d = sub.data - 1e-9
    order = np.lexsort((sub.row, d, sub.col))
    col, row, d = sub.col[order], sub.row[order], d[order]
    first = np.r_[True, col[1:] != col[:-1]] if len(col) else np.zeros(0, dtype=bool)
    return row[first], col[first], d[first]


@dataclass
class _Plan:
    """What one k's solution opens and closes, and how it was proven."""

    k: int
    sol: _solve.Solution
    closed: np.ndarray
    status: str


def _status(sol: _solve.Solution, gap_tol: float) -> str:
    if sol.solver == "greedy":
        return "greedy"
    ok = sol.status == "Optimal" or (np.isfinite(sol.gap) and sol.gap <= gap_tol + 1e-12)
    return "exact" if ok else "bound"


def _greedy_curve(
    model: SitingModel, problem: str, kmax: int, opts: dict[str, Any]
) -> list[_solve.Solution]:
    """Greedy solutions for k = 1..kmax (each the prefix of one greedy run)."""
    wt, req = model.weights, opts["required"]
    if problem == "pmedian":
        dist = model.distances(opts["cap"])
        base = np.minimum(model.d0, opts["cap"])
        if len(req):
            sub = dist[req].tocoo()
            np.minimum.at(base, sub.col, sub.data - 1e-9)
        g = _solve.greedy_pmedian(dist, wt, base, k=max(kmax - len(req), 0))
    elif opts["capacity"] is not None:
        g = _solve.greedy_capacity(
            model.cover, wt, model.covered0, k=kmax, capacity=opts["capacity"]
        )
    else:
        cov0 = model.covered0.copy()
        if len(req):
            cov0[model.cover[req].indices] = True
        need = opts.get("need")
        if need is not None:
            base_got = float(wt[cov0 & ~model.covered0].sum())
            g = _solve.greedy_cover(model.cover, wt, cov0, need_w=max(need - base_got, 0.0))
        else:
            g = _solve.greedy_cover(model.cover, wt, cov0, k=max(kmax - len(req), 0))
    order = np.r_[req, g.sites].astype(np.int64)
    out = []
    for k in range(max(1, len(req)), len(order) + 1):
        out.append(_solve.Solution(sites=order[:k], objective=np.nan, solver="greedy"))
    if g.solver == "greedy" and opts["capacity"] is not None:
        out[-1].assign = g.assign
    return out


def _exact_curve(
    model: SitingModel, problem: str, kmax: int | None, opts: dict[str, Any]
) -> list[_solve.Solution]:
    """Exact (HiGHS) solutions for each k, warm-started from k-1's solution."""
    wt, req = model.weights, opts["required"]
    tl, gap = opts["time_limit_s"], opts["mip_rel_gap"]
    k0 = max(1, len(req))
    out: list[_solve.Solution] = []
    if problem in ("mclp", "set_cover") and opts["capacity"] is None:
        curve = _solve.MclpCurve(
            model.cover,
            wt,
            model.covered0,
            required=req,
            exist=model.existing_reach() if opts["relocate"] is not None else None,
            relocate=opts["relocate"],
            keep_open=opts["keep_open"],
            time_limit_s=tl,
            mip_rel_gap=gap,
        )
        need = opts.get("need")
        if need is not None and need <= _TOL and not len(req):
            return out  # the share is met today
        last = model.cover.shape[0] if kmax is None else kmax
        prev = None
        for k in range(k0, last + 1):
            sol = curve.solve(k, prev)
            prev = sol.info["open_rows"]
            if opts["relocate"]:
                sol = _fewest_closures(model, k, sol, opts)
            out.append(sol)
            if sol.info["full"] or (need is not None and sol.objective >= need - 1e-6):
                break
        return out
    if problem == "pmedian":
        pm = PmedianCurve(
            model.distances(opts["cap"]),
            wt,
            np.minimum(model.d0, opts["cap"]),
            required=req,
            time_limit_s=tl,
            mip_rel_gap=gap,
        )
        for k in range(k0, int(kmax or k0) + 1):
            out.append(pm.solve(k, out[-1].sites if out else None))
        return out
    for k in range(k0, int(kmax or k0) + 1):
        if problem == "pcenter":
            dist = model.distances(opts["cap"])
            sol = _solve.exact_pcenter(dist, wt, model.d0, k=k, required=req, time_limit_s=tl)
        else:
            sol = _solve.exact_capacity(
                model.cover,
                wt,
                model.covered0,
                k=k,
                capacity=opts["capacity"],
                time_limit_s=tl,
                mip_rel_gap=gap,
            )
        out.append(sol)
    return out


def _fewest_closures(
    model: SitingModel, k: int, sol: _solve.Solution, opts: dict[str, Any]
) -> _solve.Solution:
    """Reach the same coverage closing as few existing stations as possible, no idle site.

    Relocation maximises coverage; among answers that reach it a planner closes no station
    for nothing. Each smaller closure budget is solved in turn (HiGHS); the first that
    reaches the optimum's coverage is kept, with the full problem's bound.
    """
    closed = np.asarray(sol.info.get("closed", ()), dtype=np.int64)
    best = sol
    for r in range(len(closed)):
        alt = _solve.MclpCurve(
            model.cover,
            model.weights,
            model.covered0,
            required=opts["required"],
            exist=model.existing_reach(),
            relocate=r,
            keep_open=opts["keep_open"],
            time_limit_s=opts["time_limit_s"],
            mip_rel_gap=opts["mip_rel_gap"],
        ).solve(k)
        if alt.objective >= sol.objective - _REL_TOL * max(1.0, abs(sol.objective)):
            gap = (sol.bound - alt.objective) / max(abs(sol.bound), 1e-12)
            alt.bound, alt.gap = sol.bound, max(gap, 0.0) if np.isfinite(gap) else sol.gap
            alt.status = sol.status if alt.status == "Optimal" else alt.status
            alt.seconds += sol.seconds
            best = alt
            break
    return _without_idle(model, best, opts)


def _without_idle(
    model: SitingModel, sol: _solve.Solution, opts: dict[str, Any]
) -> _solve.Solution:
    """Drop new sites (not required ones) that cover nobody the others leave uncovered."""
    sites = np.asarray(sol.sites, dtype=np.int64)
    if len(sites) == 0:
        return sol
    closed = np.asarray(sol.info.get("closed", ()), dtype=np.int64)
    base = model.d0_kept(closed) <= model.limit_m
    g = _solve.greedy_cover(model.cover[sites], model.weights, base, k=len(sites))
    useful = np.union1d(sites[np.asarray(g.sites, dtype=np.int64)], opts["required"])
    sol.sites = useful.astype(np.int64)
    return sol


_PROBLEM_ALIASES = {
    "setcover": "set_cover",
    "p_median": "pmedian",
    "p_center": "pcenter",
    "pcentre": "pcenter",
    "p_centre": "pcenter",
}


def _keep_open(model: SitingModel, closable: Sequence[str] | None) -> np.ndarray:
    """Existing facilities relocation may not close: those whose type is not ``closable``.

    ``closable`` is a list of facility types, ``["all"]`` for every type, or None for
    :data:`geogrid.settings.CLOSABLE_TYPES` (stations and points, never a centre).
    """
    assert model.facilities is not None
    types = model.facilities["type"].astype(str).to_numpy()
    wanted = CLOSABLE_TYPES if closable is None else tuple(str(t) for t in closable)
    if "all" in wanted:
        return np.zeros(0, dtype=np.int64)
    unknown = sorted(set(wanted) - set(FACILITY_TYPES) - set(types))
    if unknown:
        msg = (
            f"unknown facility type(s) {unknown} to close; pass types from "
            f"{', '.join(FACILITY_TYPES)} or all"
        )
        raise InputError(msg)
    closable_mask = np.isin(types, wanted)
    if not closable_mask.any():
        msg = (
            f"no existing facility of type {', '.join(wanted)} may close; "
            "pass --closable with the types relocation may close (e.g. station) or drop --relocate"
        )
        raise InputError(msg)
    return np.flatnonzero(~closable_mask).astype(np.int64)


def _options(
    model: SitingModel,
    problem: str,
    *,
    share: float | None,
    capacity_hh: float | None,
    cap_m: float | None,
    required: Any,
    relocate: int | None,
    closable: Sequence[str] | None,
    time_limit_s: float,
    mip_rel_gap: float,
) -> dict[str, Any]:
    if capacity_hh is not None and not float(capacity_hh) > 0:
        msg = f"capacity_hh must be positive, got {capacity_hh!r}; pass e.g. capacity_hh=3000"
        raise InputError(msg)
    if capacity_hh is not None and problem != "mclp":
        msg = "a capacity applies to maximal coverage only; drop --capacity or use --problem mclp"
        raise InputError(msg)
    if relocate is not None:
        if (
            isinstance(relocate, bool)
            or not isinstance(relocate, (int, np.integer))
            or relocate < 0
        ):
            msg = f"relocate must be a whole number of stations >= 0, got {relocate!r}; pass e.g. 2"
            raise InputError(msg)
        if problem not in ("mclp", "set_cover") or capacity_hh is not None:
            msg = "relocation applies to maximal coverage and set cover without a capacity"
            raise InputError(msg)
        if model.facilities is None or len(model.facilities) == 0:
            msg = "relocation needs existing facilities; pass --facilities or drop --relocate"
            raise InputError(msg)
    keep_open = _keep_open(model, closable) if relocate is not None else np.zeros(0, np.int64)
    if required is not None and len(required) and capacity_hh is not None:
        msg = "required sites with a capacity are not supported; drop --require or --capacity"
        raise InputError(msg)
    cap = float(cap_m) if cap_m is not None else 2.0 * model.limit_m
    if not cap > 0:
        msg = f"pmedian_cap_m must be positive, got {cap_m!r}; pass e.g. 2000"
        raise InputError(msg)
    opts: dict[str, Any] = {
        "capacity": None if capacity_hh is None else float(capacity_hh),
        "cap": cap,
        "required": _required_rows(model, required),
        "relocate": None if relocate is None else int(relocate),
        "keep_open": keep_open,
        "time_limit_s": float(time_limit_s),
        "mip_rel_gap": float(mip_rel_gap),
    }
    if problem == "set_cover":
        opts["need"], opts["reachable"] = model.needed_households(1.0 if share is None else share)
    return opts


def _required_rows(model: SitingModel, required: Any) -> np.ndarray:
    if required is None or len(required) == 0:
        return np.zeros(0, dtype=np.int64)
    ids = model.candidates["candidate_id"].astype(str).to_numpy()
    if isinstance(required, gpd.GeoDataFrame):
        want = required["candidate_id"].astype(str).tolist()
    else:
        want = [str(x) for x in required]
    pos = {c: i for i, c in enumerate(ids)}
    missing = [x for x in want if x not in pos]
    if missing:
        msg = (
            f"required site(s) {', '.join(missing[:5])} are not among the candidates; "
            "pass candidate ids from the candidates layer or a file of points"
        )
        raise InputError(msg)
    return np.unique(np.asarray([pos[x] for x in want], dtype=np.int64))


def _with_required(
    cands: gpd.GeoDataFrame, required: Any, crs: Any
) -> tuple[gpd.GeoDataFrame, Any]:
    """Append required sites given as points to the candidates (ids ``R00001``...)."""
    if not isinstance(required, gpd.GeoDataFrame):
        return cands, required
    pts = _points_of(required, crs, "required sites")
    if pts is None:
        return cands, None
    name = pts["name"].astype(object).to_numpy() if "name" in pts.columns else None
    add = gpd.GeoDataFrame(
        {
            "candidate_id": [f"R{i + 1:05d}" for i in range(len(pts))],
            "source": "required",
            "name": name if name is not None else [None] * len(pts),
        },
        geometry=np.asarray(pts.geometry.values),
        crs=crs,
    )
    base = to_metric(cands, crs).reset_index(drop=True)
    if "candidate_id" not in base.columns:
        base.insert(0, "candidate_id", [f"C{i + 1:05d}" for i in range(len(base))])
    if "source" not in base.columns:
        base["source"] = "user"
    out = pd.concat([base, add], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry=base.geometry.name, crs=crs), add


def inside_compounds(
    net: WalkNetwork,
    cands: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame | None = None,
    snap: Snap | None = None,
) -> np.ndarray:
    """Whether each candidate lies inside a gated compound.

    Inside a ``compounds`` polygon when given; otherwise on a compound's private path (the
    network edge it snaps to is ``private``). Gates count as outside (they open on the street).
    """
    pts = np.asarray(to_metric(cands, net.crs).geometry.values)
    inside = np.zeros(len(pts), dtype=bool)
    if compounds is not None and len(compounds):
        zones = np.asarray(to_metric(compounds, net.crs).geometry.values)
        hit = shapely.STRtree(zones).query(pts, predicate="intersects")
        inside[hit[0]] = True
    elif "private" in net.edges.columns:
        s = snap if snap is not None else snap_points(net, cands)
        private = net.edges["private"].fillna(False).to_numpy(dtype=bool)
        inside = private[s.edge]
    if "source" in cands.columns:
        inside &= cands["source"].astype(str).to_numpy() != "gate"
    return inside


#: Candidate pools ``run_siting(candidate_pool=...)`` offers.
CANDIDATE_POOLS: tuple[str, ...] = ("public", "compounds", "all")


def _pool(
    net: WalkNetwork,
    pool: str,
    *,
    every_m: float,
    exclude: gpd.GeoDataFrame | None,
    compounds: gpd.GeoDataFrame | None,
    gates: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    if pool not in CANDIDATE_POOLS:
        msg = f"unknown candidate pool {pool!r}; pass one of {', '.join(CANDIDATE_POOLS)} or a file"
        raise InputError(msg)
    cands = _make_candidates(net, every_m=every_m, gates=gates, exclude=exclude)
    if pool == "all":
        return cands
    inside = inside_compounds(net, cands, compounds)
    keep = ~inside if pool == "public" else inside
    out = cands[keep].reset_index(drop=True)
    if out.empty:
        msg = f"no {pool} candidate sites; use candidate_pool='all' or give candidates"
        raise InputError(msg)
    return out


def _check_run(problem: str, solver: str, k: Any, min_gain: Any) -> tuple[str, int | None]:
    """Check the problem, solver, ``k`` and ``min_gain``; return the canonical problem and k."""
    problem = _PROBLEM_ALIASES.get(problem, problem)
    if problem not in PROBLEMS:
        msg = f"unknown siting problem {problem!r}; pass one of {', '.join(PROBLEMS)}"
        raise InputError(msg)
    if solver not in SOLVERS:
        msg = f"unknown solver {solver!r}; pass one of {', '.join(SOLVERS)}"
        raise InputError(msg)
    if problem != "set_cover" or k is not None:
        k = _check_k(k)
    if min_gain is not None and not float(min_gain) >= 0:
        msg = f"min_gain must be a number of households >= 0, got {min_gain!r}; pass e.g. 200"
        raise InputError(msg)
    return problem, k


def _outside(
    cands: gpd.GeoDataFrame, exclude: gpd.GeoDataFrame | None, crs: Any
) -> gpd.GeoDataFrame:
    """Keep the given candidates outside the excluded zones (an error when none is left)."""
    if exclude is None or not len(exclude):
        return cands
    keep = ~to_metric(cands, crs).geometry.intersects(
        shapely.union_all(np.asarray(to_metric(exclude, crs).geometry.values))
    )
    out = cands[keep.to_numpy()].reset_index(drop=True)
    if out.empty:
        msg = "every candidate lies in an excluded zone; shrink --exclude or add candidates"
        raise InputError(msg)
    return out


def _curves(
    model: SitingModel,
    problem: str,
    solver: str,
    k: int | None,
    *,
    opts: dict[str, Any],
    timings: dict[str, Any],
) -> dict[str, list[_solve.Solution]]:
    """Solve the curve with each solver asked for, timing each (into ``timings``)."""
    runs = ["greedy", "exact"] if solver == "both" else [solver]
    if problem == "pcenter" or opts["relocate"] is not None:
        runs = ["exact"]  # solved exactly only
    curves: dict[str, list[_solve.Solution]] = {}
    for s in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        if s == "greedy":
            curves[s] = _greedy_curve(model, problem, k or model.cover.shape[0], opts)
        else:
            curves[s] = _exact_curve(model, problem, k, opts)
        timings[f"{s}_s"] = round(time.perf_counter() - t0, 4)
        timings[f"{s}_cpu_s"] = round(time.process_time() - c0, 4)
        timings[f"{s}_per_k_s"] = [round(float(x.seconds), 4) for x in curves[s]]
    return curves


def run_siting(
    net: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None,
    *,
    k: int | None = None,
    target: str | Target = "15min",
    candidates: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    problem: str = "mclp",
    share: float | None = None,
    capacity_hh: float | None = None,
    pmedian_cap_m: float | None = None,
    solver: str = "both",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-4,
    every_m: float = 100.0,
    exclude: gpd.GeoDataFrame | None = None,
    speed_kmh: float | None = None,
    weight: str | None = None,
    required: Any = None,
    relocate: int | None = None,
    closable: Sequence[str] | None = None,
    candidate_pool: str = "public",
    compounds: gpd.GeoDataFrame | None = None,
    gates: gpd.GeoDataFrame | None = None,
    min_gain: float | None = None,
    settings: Settings = DEFAULTS,
    coverage: Coverage | None = None,
) -> SitingResult:
    """Site new stations: what ``geogrid site`` runs.

    Every point of the curve is solved for its own k (warm-started from k-1): ``status``
    says ``exact`` (proven within ``mip_rel_gap``) or ``bound`` (the time limit stopped it;
    ``bound`` and ``gap`` say how far from the optimum it may be).

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    demand : GeoDataFrame
        Buildings or points; households estimated when missing.
    facilities : GeoDataFrame or None
        Existing centres and stations (they stay and count, unless ``relocate``).
    k : int
        New stations (``mclp``, ``pmedian``, ``pcenter``); for ``set_cover`` an upper limit.
        Required sites count within ``k``.
    target : str
        Coverage target, e.g. ``"15min"`` (default), ``"10min"``, ``"1km"``, ``"800m"``.
    candidates : GeoDataFrame, optional
        Candidate sites (see :func:`candidates`); default the ``candidate_pool``.
    communities : GeoDataFrame, optional
        Community polygons with ``community_code`` for the before/after table.
    problem : {"mclp", "set_cover", "pmedian", "pcenter"}
        Maximal coverage (default), set cover to ``share``, capped p-median, p-centre
        (minimise the longest walk, capped at ``pmedian_cap_m``).
    share : float, optional
        ``set_cover`` coverage share to reach (default 1.0).
    capacity_hh : float, optional
        ``mclp``: households one new station can serve.
    pmedian_cap_m : float, optional
        ``pmedian`` / ``pcenter`` distance cap (default twice the target distance).
    solver : {"both", "greedy", "exact"}
        ``both`` (default) reports the exact solution and compares greedy with it.
    time_limit_s, mip_rel_gap : float
        HiGHS time limit per k (seconds) and the relative gap within which a point is exact.
    every_m : float
        Network sampling step for the default candidates (100 m).
    exclude : GeoDataFrame, optional
        Polygons where no station may go.
    speed_kmh : float, optional
        Walking speed (default ``settings.speed_kmh``, 4 km/h).
    weight : str, optional
        Demand column with each unit's weight (e.g. households + elderly households, so
        that those count double); default the households.
    required : list of str or GeoDataFrame, optional
        Sites that must be in the answer: candidate ids, or points (added as candidates).
    relocate : int, optional
        Allow closing up to this many existing stations; each closed one frees one more new
        site (relocation). ``mclp`` and ``set_cover`` only.
    closable : list of str, optional
        Facility types relocation may close (``["all"]`` for every type); default
        :data:`geogrid.settings.CLOSABLE_TYPES`: stations and points, never a centre.
    candidate_pool : {"public", "compounds", "all"}
        Default candidates: streets and gates outside gated compounds (``public``), only
        inside compounds, or both.
    compounds, gates : GeoDataFrame, optional
        Gated compound polygons (for the pool and the ``inside_compound`` flag; without
        them a candidate on a private compound path counts as inside) and their gates.
    min_gain : float, optional
        Flag chosen sites that add fewer households than this (``low_gain``).
    settings : Settings
        Defaults (snap limit, household size).
    coverage : Coverage, optional
        A computed coverage engine of the same study: its network, prepared demand, snaps
        and distances to today's facilities are reused (``net``, ``demand`` and
        ``facilities`` are then ignored), so coverage is never computed twice.

    Returns
    -------
    SitingResult

    """
    t_all = time.perf_counter()
    problem, k = _check_run(problem, solver, k, min_gain)
    if candidates is None:
        cands = _pool(
            net, candidate_pool, every_m=every_m, exclude=exclude, compounds=compounds, gates=gates
        )
    else:
        cands = _outside(candidates, exclude, net.crs)
    cands, required = _with_required(cands, required, net.crs)
    model = build_model(
        net,
        demand,
        facilities,
        cands,
        target=target,
        speed_kmh=speed_kmh,
        settings=settings,
        coverage=coverage,
    )
    if weight is not None:
        model.wt = _weights(model.demand, weight)
        model.weight_name = weight
    opts = _options(
        model,
        problem,
        share=share,
        capacity_hh=capacity_hh,
        cap_m=pmedian_cap_m,
        required=required,
        relocate=relocate,
        closable=closable,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
    )
    if k is not None and len(opts["required"]) > k:
        msg = f"{len(opts['required'])} required sites exceed k={k}; raise --k or require fewer"
        raise InputError(msg)
    timings: dict[str, Any] = {f"{n}": round(v, 4) for n, v in model.timings.items()}
    curves = _curves(model, problem, solver, k, opts=opts, timings=timings)
    main = curves["exact"] if "exact" in curves else curves["greedy"]
    plans = [
        _Plan(
            k=len(sol.sites) if sol.solver == "greedy" else i + max(1, len(opts["required"])),
            sol=sol,
            closed=np.asarray(sol.info.get("closed", np.zeros(0)), dtype=np.int64),
            status=_status(sol, opts["mip_rel_gap"]),
        )
        for i, sol in enumerate(main)
    ]
    if not plans:  # nothing to add (set cover share met today)
        empty = _solve.Solution(np.zeros(0, np.int64), 0.0, "highs", "Optimal", 0.0, 0.0)
        plans = [_Plan(k=0, sol=empty, closed=np.zeros(0, np.int64), status="exact")]
    res = _result(
        model,
        plans,
        curves,
        problem,
        communities=communities,
        opts=opts,
        k_req=k,
        compounds=compounds,
        min_gain=min_gain,
    )
    timings["total_s"] = round(time.perf_counter() - t_all, 4)
    res.timing = timings
    res.points = [_point(p) for p in plans]
    return res


def _point(plan: _Plan) -> dict[str, Any]:
    """One curve point's solver record (None where a figure is not finite)."""
    sol = plan.sol

    def num(x: float, nd: int) -> float | None:
        return round(float(x), nd) if np.isfinite(x) else None

    return {
        "k": int(plan.k),
        "status": plan.status,
        "method": str(sol.info.get("method", sol.solver)),
        "solver_status": sol.status,
        "objective": num(sol.objective, 4),
        "bound": num(sol.bound, 4),
        "gap": num(sol.gap, 8),
        "seconds": round(float(sol.seconds), 4),
    }


def _weights(demand: gpd.GeoDataFrame, column: str) -> np.ndarray:
    if column not in demand.columns:
        msg = (
            f"weight column {column!r} is not in the demand layer; pass one of "
            f"{', '.join(map(str, demand.columns[:12]))}"
        )
        raise InputError(msg)
    vals = pd.to_numeric(demand[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        msg = (
            f"weight column {column!r} has {int(bad.sum())} missing, non-numeric or negative "
            "values; fill them with a number >= 0"
        )
        raise InputError(msg)
    return vals


def _after_dist(
    model: SitingModel, sites: np.ndarray, closed: np.ndarray, cap: float
) -> np.ndarray:
    """Each unit's walk to the nearest kept existing facility or new site (capped matrix)."""
    d = model.d0_kept(closed).copy()
    if len(sites):
        mat = model.cover if cap <= model.limit_m else model.distances(cap)
        sub = mat[np.asarray(sites, dtype=np.int64)].tocoo()
        np.minimum.at(d, sub.col, sub.data - 1e-9)
    return d


def _objective(model: SitingModel, problem: str, plan: _Plan, opts: dict[str, Any]) -> float:
    wt = model.weights
    if problem in ("pmedian", "pcenter"):
        d = np.minimum(_after_dist(model, plan.sol.sites, plan.closed, opts["cap"]), opts["cap"])
        if problem == "pmedian":
            return float(np.sum(wt * d))
        return float(d[wt > 0].max()) if (wt > 0).any() else 0.0
    if plan.sol.assign is not None:
        return float(plan.sol.assign.sum())
    after = _after_dist(model, plan.sol.sites, plan.closed, model.limit_m) <= model.limit_m
    if opts["relocate"] is not None:
        return float(wt[after].sum())
    return float(wt[after & ~model.covered0].sum())


def _covered_hh(model: SitingModel, plan: _Plan) -> float:
    if plan.sol.assign is not None:
        return float(model.w[model.covered0].sum() + plan.sol.assign.sum())
    after = _after_dist(model, plan.sol.sites, plan.closed, model.limit_m) <= model.limit_m
    return float(model.w[after].sum())


def _whole(x: Any) -> np.ndarray:
    """Households as whole numbers (sums of whole demand units; half up for any fraction)."""
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(np.int64)


def _fmt(x: float, nd: int) -> float:
    return round(float(x), nd) if np.isfinite(x) else np.nan


def _curve_table(
    model: SitingModel, plans: list[_Plan], problem: str, opts: dict[str, Any]
) -> pd.DataFrame:
    ids = model.candidates["candidate_id"].astype(str).to_numpy()
    total = model.households
    hh_weights = not model.weighted
    before = float(model.w[model.covered0].sum())
    base_obj = 0.0 if opts["relocate"] is not None else before
    today = _Plan(
        k=0,
        sol=_solve.Solution(np.zeros(0, np.int64), 0.0, "highs"),
        closed=np.zeros(0, np.int64),
        status="today",
    )
    rows = []
    for plan in [today, *[p for p in plans if p.k > 0 or len(p.sol.sites)]]:
        got = _covered_hh(model, plan)
        obj = _objective(model, problem, plan, opts)
        bound = plan.sol.bound if plan.status in ("exact", "bound") else np.nan
        if plan.status == "today":
            bound = obj
        bound_hh = np.nan
        if problem in ("mclp", "set_cover") and hh_weights and np.isfinite(bound):
            bound_hh = bound + (base_obj if plan.status != "today" else 0.0)
            bound_hh = got if plan.status == "today" else min(bound_hh, total)
        gap = plan.sol.gap if plan.status in ("exact", "bound") else np.nan
        rows.append(
            {
                "n_new_sites": len(plan.sol.sites)
                if plan.status == "greedy" or opts["relocate"] is not None
                else plan.k,
                "households_covered": int(_whole(got)),
                "coverage_share": round(got / total, 6) if total > 0 else np.nan,
                "status": plan.status,
                "objective": _fmt(obj, 4),
                "bound": _fmt(bound, 4),
                "gap": _fmt(max(gap, 0.0), 6)
                if np.isfinite(gap)
                else (0.0 if plan.status == "today" else np.nan),
                "bound_households": _fmt(bound_hh, 2),
                "closed_existing": len(plan.closed),
                "sites": " ".join(ids[np.sort(plan.sol.sites)].tolist()),
            }
        )
    df = pd.DataFrame(rows)
    df.insert(3, "gain_households", np.r_[0, np.diff(df["households_covered"])].astype(np.int64))
    return df


def _rank(
    model: SitingModel,
    problem: str,
    plan: _Plan,
    *,
    covered0: np.ndarray,
    d0: np.ndarray,
    opts: dict[str, Any],
) -> np.ndarray:
    """Chosen sites in order of marginal gain; sites adding nothing are left out."""
    sites = np.asarray(plan.sol.sites, dtype=np.int64)
    if len(sites) == 0:
        return sites
    req = np.intersect1d(sites, opts["required"])
    assign = plan.sol.assign
    if assign is not None:
        amount = np.asarray(assign[sites].sum(axis=1)).ravel()
        order = np.lexsort((sites, -amount))
        return sites[order][amount[order] > _TOL]
    if problem == "pmedian":
        cap = opts["cap"]
        order = _solve.greedy_pmedian(
            model.distances(cap)[sites], model.weights, np.minimum(d0, cap), k=len(sites)
        ).sites
        ranked = sites[order]
    elif problem == "pcenter":
        served = _served(model, sites, None, d0)
        ranked = sites[np.lexsort((sites, -served))]
    else:
        g = _solve.greedy_cover(model.cover[sites], model.w, covered0, k=len(sites))
        ranked = sites[np.asarray(g.sites, dtype=np.int64)]
    rest = np.setdiff1d(req, ranked)
    return np.r_[ranked, rest].astype(np.int64)


def _site_gains(
    model: SitingModel, ranked: np.ndarray, covered0: np.ndarray, assign: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Households each site adds in rank order, and those only it covers (lost without it)."""
    if assign is not None:
        amount = np.asarray(assign[ranked].sum(axis=1)).ravel()
        return amount, amount
    w = model.w
    cov = covered0.copy()
    gains = []
    cnt = np.zeros(len(w))
    for j in ranked.tolist():
        idx = model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]
        gains.append(float(w[idx][~cov[idx]].sum()))
        cov[idx] = True
        cnt[idx] += 1
    only = []
    for j in ranked.tolist():
        idx = model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]
        sel = idx[(cnt[idx] == 1) & ~covered0[idx]]
        only.append(float(w[sel].sum()))
    return np.asarray(gains), np.asarray(only)


def _allocation(
    model: SitingModel,
    problem: str,
    ranked: np.ndarray,
    *,
    d0: np.ndarray,
    assign: Any,
    opts: dict[str, Any],
) -> gpd.GeoDataFrame:
    """Lines from each demand unit to the new site it is assigned to."""
    crs = model.net.crs
    cols = ["unit_id", "candidate_id", "rank", "walk_m", "households"]
    if len(ranked) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=crs)
    cap = opts["cap"] if problem in ("pmedian", "pcenter") else model.limit_m
    mat = model.cover if cap <= model.limit_m else model.distances(cap)
    sub = mat[ranked].tocoo()
    if assign is not None:
        a = assign[ranked].tocoo()
        row, col, hh = a.row, a.col, a.data
        dist = np.asarray(mat[ranked[row], col]).ravel() - 1e-9
    else:
        row, col, dist = _nearest_pairs(sub)
        base = np.minimum(d0, cap) if problem in ("pmedian", "pcenter") else d0
        keep = (dist < base[col]) & (model.w[col] > 0)
        if problem not in ("pmedian", "pcenter"):
            keep &= d0[col] > model.limit_m
        row, col, dist = row[keep], col[keep], dist[keep]
        hh = model.w[col]
    order = np.lexsort((col, row))
    row, col, dist, hh = row[order], col[order], dist[order], hh[order]
    upts = representative_points(model.demand)
    spts = np.asarray(model.candidates.geometry.values)[ranked]
    ux, uy = shapely.get_x(upts[col]), shapely.get_y(upts[col])
    sx, sy = shapely.get_x(spts[row]), shapely.get_y(spts[row])
    lines = (
        shapely.linestrings(
            np.stack([np.column_stack([ux, uy]), np.column_stack([sx, sy])], axis=1)
        )
        if len(row)
        else np.zeros(0, dtype=object)
    )
    uid = (
        model.demand["unit_id"].astype(str).to_numpy()
        if "unit_id" in model.demand.columns
        else np.arange(len(model.demand)).astype(str)
    )
    return gpd.GeoDataFrame(
        {
            "unit_id": uid[col],
            "candidate_id": model.candidates["candidate_id"].astype(str).to_numpy()[ranked[row]],
            "rank": row + 1,
            "walk_m": np.round(dist, 1),
            "households": _whole(hh),
        },
        geometry=lines,
        crs=crs,
    )


def _result(
    model: SitingModel,
    plans: list[_Plan],
    curves: dict[str, list[_solve.Solution]],
    problem: str,
    *,
    communities: gpd.GeoDataFrame | None,
    opts: dict[str, Any],
    k_req: int | None,
    compounds: gpd.GeoDataFrame | None,
    min_gain: float | None,
) -> SitingResult:
    last = plans[-1]
    d0 = model.d0_kept(last.closed)
    covered0 = d0 <= model.limit_m
    ranked = _rank(model, problem, last, covered0=covered0, d0=d0, opts=opts)
    assign = last.sol.assign
    gains, only = _site_gains(model, ranked, covered0, assign)
    curve = _curve_table(model, plans, problem, opts)
    unit_code, cand_code = _community_codes(model, communities)
    cov = model.cover[ranked] if len(ranked) else None
    reach = (
        np.asarray((cov > 0).astype(float) @ model.w).ravel() if cov is not None else np.zeros(0)
    )
    inside = inside_compounds(model.net, model.candidates, compounds, model.cand_snap)
    sites = model.candidates.iloc[ranked].copy().reset_index(drop=True)
    sites.insert(0, "rank", np.arange(1, len(ranked) + 1))
    served = _served(model, ranked, assign, d0)
    sites["gain_households"] = _whole(gains)
    sites["only_households"] = _whole(only)
    sites["low_gain"] = (
        np.round(only, 2) < float(min_gain) if min_gain is not None else np.zeros(len(ranked), bool)
    )
    sites["served_households"] = _whole(served)
    sites["reach_households"] = _whole(reach)
    why = site_reasons(
        sites["gain_households"].to_numpy(),
        sites["served_households"].to_numpy(),
        sites["reach_households"].to_numpy(),
        model.target,
    )
    sites["reason_zh"] = why["reason_zh"].to_numpy()
    sites["reason_en"] = why["reason_en"].to_numpy()
    sites["inside_compound"] = inside[ranked]
    sites["required"] = np.isin(ranked, opts["required"])
    sites["community_code"] = cand_code[ranked] if cand_code is not None else None
    sites["community_name"] = _community_names(sites["community_code"], communities)
    sites["problem"] = problem
    sites["solver"] = last.sol.solver
    sites["status"] = last.status
    sites["snap_m"] = np.round(model.cand_snap.snap_m[ranked], 2)
    sites = gpd.GeoDataFrame(sites, geometry=model.candidates.geometry.name, crs=model.net.crs)
    comm = _communities(
        model, communities, unit_code, ranked=ranked, last=last, covered0=covered0, sites=sites
    )
    closed = None
    if len(last.closed) and model.facilities is not None:
        closed = model.facilities.iloc[last.closed].copy().reset_index(drop=True)
        closed["action"] = "close"
    n_req = k_req
    n_chosen = len(ranked)
    reason = _reason(problem, n_req, n_chosen, last, opts)
    solvers = _solver_table(model, curves, problem, opts, n_req)
    extra = [
        ("candidates_inside_compound", int(inside.sum())),
        ("chosen_inside_compound", int(inside[ranked].sum())),
        ("low_gain_sites", int(sites["low_gain"].sum())),
        ("min_gain_households", min_gain),
    ]
    summary = _summary(
        model,
        last,
        curve,
        problem=problem,
        solvers=solvers,
        opts=opts,
        counts=(n_req, n_chosen, reason),
        extra=extra,
    )
    cands = model.candidates.copy()
    cands["inside_compound"] = inside
    return SitingResult(
        sites=sites,
        curve=curve,
        communities=comm,
        solvers=solvers,
        summary=summary,
        candidates=cands,
        model=model,
        allocation=_allocation(model, problem, ranked, d0=d0, assign=assign, opts=opts),
        closed=closed,
    )


def _community_names(codes: pd.Series, communities: gpd.GeoDataFrame | None) -> np.ndarray:
    """Name of each site's community (its code when the communities carry no name)."""
    col = None
    if communities is not None and "community_code" in communities.columns:
        col = next((c for c in ("name", "community_name") if c in communities.columns), None)
    if col is None or communities is None:
        return codes.to_numpy(dtype=object)
    names = dict(
        zip(
            communities["community_code"].astype(str), communities[col].astype(object), strict=False
        )
    )
    return np.array([None if pd.isna(c) else names.get(str(c), c) for c in codes], dtype=object)


def _reason(
    problem: str, n_req: int | None, n_chosen: int, last: _Plan, opts: dict[str, Any]
) -> tuple[str, str]:
    """Why the answer has fewer (or more) sites than asked, in English and Chinese."""
    if problem == "set_cover" and n_chosen == 0 and opts.get("need", 1.0) <= _TOL:
        return "target met today: no new site needed", "现状已达到目标，无需新增站点"
    if n_req is not None and n_chosen > n_req and len(last.closed):
        c = len(last.closed)
        return (
            f"relocation: closing {c} existing station(s) frees {c} more new site(s)",
            f"迁址：关闭现有站点 {c} 个，可多设新站点 {c} 个",
        )
    if n_req is None or n_chosen >= n_req:
        if problem == "set_cover" and not opts.get("reachable", True):
            return (
                "share out of reach: candidates cannot reach enough households",
                "目标覆盖率无法达到：候选点可达的户数不足",
            )
        return "", ""
    if problem == "set_cover":
        return (
            f"target met: {n_chosen} site(s) reach the share",
            f"已达目标：{n_chosen} 个站点即达到目标覆盖率",
        )
    if problem == "mclp":
        return (
            f"target met: {n_chosen} site(s) already cover every household candidates reach",
            f"已达目标：{n_chosen} 个站点已覆盖候选点可达的全部住户",
        )
    if problem == "pmedian":
        return (
            f"more than {n_chosen} site(s) would not shorten any walk",
            f"多于 {n_chosen} 个站点不再缩短任何住户的步行距离",
        )
    return (
        f"{n_chosen} site(s) already give the shortest longest walk",
        f"{n_chosen} 个站点已使最远步行距离最短",
    )


def _communities(
    model: SitingModel,
    communities: gpd.GeoDataFrame | None,
    unit_code: np.ndarray | None,
    *,
    ranked: np.ndarray,
    last: _Plan,
    covered0: np.ndarray,
    sites: gpd.GeoDataFrame,
) -> pd.DataFrame | gpd.GeoDataFrame | None:
    if unit_code is None:
        return None
    after = _after_dist(model, ranked, last.closed, model.limit_m) <= model.limit_m
    if last.sol.assign is not None:
        after_hh = (
            np.where(model.covered0, model.w, 0.0)
            + np.asarray(last.sol.assign[ranked].sum(axis=0)).ravel()
        )
    else:
        after_hh = np.where(after, model.w, 0.0)
    df = pd.DataFrame(
        {
            "community_code": pd.Series(unit_code, dtype=object).fillna("(outside)"),
            "households": model.w,
            "covered_hh_before": np.where(model.covered0, model.w, 0.0),
            "covered_hh_after": after_hh,
        }
    )
    agg = df.groupby("community_code", sort=True).sum().reset_index()
    agg["gain_households"] = agg["covered_hh_after"] - agg["covered_hh_before"]
    hh = agg["households"].where(agg["households"] > 0)
    agg["coverage_before"] = (agg["covered_hh_before"] / hh).round(4)
    agg["coverage_after"] = (agg["covered_hh_after"] / hh).round(4)
    counts = pd.Series(sites["community_code"]).value_counts()
    agg["new_sites"] = agg["community_code"].map(counts).fillna(0).astype(int)
    for c in ("households", "covered_hh_before", "covered_hh_after"):
        agg[c] = _whole(agg[c])
    agg["gain_households"] = agg["covered_hh_after"] - agg["covered_hh_before"]
    agg = agg[
        [
            "community_code",
            "households",
            "covered_hh_before",
            "coverage_before",
            "covered_hh_after",
            "coverage_after",
            "gain_households",
            "new_sites",
        ]
    ]
    if communities is not None and "community_code" in communities.columns:
        base = to_metric(communities, model.net.crs)
        base = base.assign(community_code=base["community_code"].astype(object))
        return base.merge(agg, on="community_code", how="left", suffixes=("", "_siting"))
    return agg


def _solver_table(
    model: SitingModel,
    curves: dict[str, list[_solve.Solution]],
    problem: str,
    opts: dict[str, Any],
    n_req: int | None,
) -> pd.DataFrame:
    rows = []
    objs: dict[str, float] = {}
    empty = _solve.Solution(np.zeros(0, np.int64), 0.0, "highs", "Optimal", 0.0, 0.0)
    for name, sols in curves.items():
        s = sols[-1] if sols else empty
        if name == "greedy" and not sols:
            s = _solve.Solution(np.zeros(0, np.int64), 0.0, "greedy")
        plan = _Plan(
            k=len(s.sites),
            sol=s,
            closed=np.asarray(s.info.get("closed", np.zeros(0)), dtype=np.int64),
            status=_status(s, opts["mip_rel_gap"]),
        )
        objs[name] = _objective(model, problem, plan, opts)
        useful = plan.sol.sites
        rows.append(
            {
                "solver": "greedy" if name == "greedy" else "highs",
                "problem": problem,
                "objective": round(objs[name], 4),
                "bound": _fmt(s.bound, 4),
                "gap": _fmt(s.gap, 6),
                "status": plan.status,
                "highs_status": s.status,
                "n_requested": n_req if n_req is not None else np.nan,
                "n_chosen": len(useful),
                "points_exact": sum(_status(x, opts["mip_rel_gap"]) == "exact" for x in sols),
                "points_bound": sum(_status(x, opts["mip_rel_gap"]) == "bound" for x in sols),
                "feasible": bool(s.feasible) and bool(opts.get("reachable", True)),
            }
        )
    df = pd.DataFrame(rows)
    ex = objs.get("exact")
    df["ratio_to_exact"] = [
        round(objs[n] / ex, 6)
        if ex not in (None, 0) and ex is not None and np.isfinite(ex)
        else np.nan
        for n in curves
    ]
    return df


def _summary(
    model: SitingModel,
    last: _Plan,
    curve: pd.DataFrame,
    *,
    problem: str,
    solvers: pd.DataFrame,
    opts: dict[str, Any],
    counts: tuple[int | None, int, tuple[str, str]],
    extra: list[tuple[str, Any]],
) -> pd.DataFrame:
    chosen = last.sol
    n_req, n_chosen, reason = counts
    rows: list[tuple[str, Any]] = [
        ("problem", problem),
        ("target", model.target.name),
        ("max_dist_m", round(model.limit_m, 1)),
        ("speed_kmh", model.speed_kmh),
        ("demand_units", len(model.demand)),
        ("households", int(_whole(model.households))),
        ("weight", model.weight_name),
        ("existing_facilities", 0 if model.facilities is None else len(model.facilities)),
        ("candidates", len(model.candidates)),
        ("matrix_pairs", int(model.cover.nnz)),
        ("n_requested", n_req),
        ("n_chosen", n_chosen),
        ("new_sites", n_chosen),
        ("reason", reason[0]),
        ("reason_zh", reason[1]),
        ("required_sites", len(opts["required"])),
        ("relocate_max", opts["relocate"]),
        ("closed_existing", len(last.closed)),
        ("households_covered_before", int(curve["households_covered"].iloc[0])),
        ("households_covered_after", int(curve["households_covered"].iloc[-1])),
        ("coverage_before", float(curve["coverage_share"].iloc[0])),
        ("coverage_after", float(curve["coverage_share"].iloc[-1])),
        ("solver", chosen.solver),
        ("status", last.status),
        ("objective", float(curve["objective"].iloc[-1])),
        ("bound", _fmt(chosen.bound, 4) if np.isfinite(chosen.bound) else None),
        ("gap", _fmt(chosen.gap, 6) if np.isfinite(chosen.gap) else None),
        ("points_exact", int((curve["status"] == "exact").sum())),
        ("points_bound", int((curve["status"] == "bound").sum())),
        ("feasible", bool(chosen.feasible) and bool(opts.get("reachable", True))),
    ]
    w = model.w
    if problem in ("pmedian", "pcenter"):
        cap = opts["cap"]
        d = np.minimum(_after_dist(model, chosen.sites, last.closed, cap), cap)
        before = np.minimum(model.d0, cap)
        rows.append(("pmedian_cap_m", cap))
        rows.append(("mean_walk_m_before", round(float(np.sum(w * before) / w.sum()), 2)))
        rows.append(("mean_walk_m_after", round(float(np.sum(w * d) / w.sum()), 2)))
        pos = w > 0
        rows.append(("longest_walk_m_before", round(float(before[pos].max()), 2)))
        rows.append(("longest_walk_m_after", round(float(d[pos].max()), 2)))
    g = solvers[solvers["solver"] == "greedy"]
    if len(solvers) == 2 and len(g):
        rows.append(("greedy_objective", float(g["objective"].iloc[0])))
        rows.append(("greedy_over_exact", float(g["ratio_to_exact"].iloc[0])))
    rows.extend(extra)
    return pd.DataFrame(rows, columns=["metric", "value"])
