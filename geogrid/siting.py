"""Siting new party-mass service stations: maximal coverage, set cover, p-median.

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

Solvers: ``"greedy"`` (lazy evaluation, CELF; for MCLP followed by best single swaps),
``"exact"`` (HiGHS MIP under ``time_limit_s``,
with bound and gap) or ``"both"`` (exact is reported, greedy compared against it).

Outputs (:class:`SitingResult`): ``sites`` ranked by marginal gain (``rank``,
``candidate_id``, ``source``, ``gain_households``, ``served_households``,
``reach_households``, ``community_code``); ``curve`` (``n_new_sites`` 0..n,
``households_covered``, ``coverage_share``, ``gain_households``; row 0 is today's coverage
and covered counts every household within the target of any facility, existing or new);
``communities`` before/after (``covered_hh_before``, ``coverage_before``,
``covered_hh_after``, ``coverage_after``, ``gain_households``, ``new_sites``); ``solvers``
(greedy against exact); ``summary``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from . import _siting_solve as _solve
from ._siting_matrix import coverage_pairs
from .coverage import compute_coverage
from .crs import to_metric
from .demand import prepare_demand
from .errors import InputError
from .network import Snap, WalkNetwork, representative_points, snap_points
from .settings import DEFAULTS, Settings, Target, parse_targets

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
PROBLEMS: tuple[str, ...] = ("mclp", "set_cover", "pmedian")
#: Solver choices.
SOLVERS: tuple[str, ...] = ("greedy", "exact", "both")


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
    _dist: dict[float, sparse.csr_matrix] = field(default_factory=dict, repr=False)

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
        base = float(self.w[self.covered0].sum())
        want = max(s * self.households - base, 0.0)
        reachable = np.diff(self.cover.tocsc().indptr) > 0
        can = float(self.w[~self.covered0 & reachable].sum())
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
        elif need <= 1e-9:
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
            sol = _solve.exact_pmedian(
                dist, self.w, base, k=k, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
            )
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
) -> SitingModel:
    """Snap everything and build the sparse candidate x demand reach within ``target``.

    ``facilities`` may be None or empty (no station today). Demand is prepared with
    :func:`geogrid.demand.prepare_demand`; ``households`` are the weights.
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
    if facilities is not None and len(facilities):
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
    """Everything a siting run produces (see the module docstring for the columns)."""

    sites: gpd.GeoDataFrame
    curve: pd.DataFrame
    communities: pd.DataFrame | gpd.GeoDataFrame | None
    solvers: pd.DataFrame
    summary: pd.DataFrame
    candidates: gpd.GeoDataFrame
    model: SitingModel | None = field(default=None, repr=False)

    def layers(self) -> dict[str, pd.DataFrame]:
        """Layers for ``siting.gpkg``.

        ``sites``, ``candidates``, ``curve``, ``solvers``, ``summary`` and ``communities``
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
        if self.communities is not None:
            out["communities"] = self.communities
        return out

    def timings(self) -> dict[str, float]:
        """Wall-clock seconds of the matrix and each solver (for a run's manifest).

        Kept out of :meth:`layers`, so the same inputs write the same bytes.
        """
        out = {
            str(m): float(v)
            for m, v in zip(self.summary["metric"], self.summary["value"], strict=True)
            if m in _TIMING_METRICS
        }
        if "seconds" in self.solvers.columns:
            for name, sec in zip(self.solvers["solver"], self.solvers["seconds"], strict=True):
                out[f"{name}_seconds"] = float(sec)
        return out

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``siting.gpkg`` and ``siting_curve.csv`` into ``out_dir`` (atomically)."""
        from .io import write_layers, write_table

        d = Path(out_dir)
        return {
            "gpkg": write_layers(d / "siting.gpkg", self.layers()),
            "curve": write_table(self.curve, d / "siting_curve.csv"),
        }


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


def _served(model: SitingModel, ranked: np.ndarray, assign: sparse.csr_matrix | None) -> np.ndarray:
    """Households per new site whose nearest facility within the target it becomes."""
    if assign is not None:
        return np.asarray(assign[ranked].sum(axis=1)).ravel()
    sub = model.cover[ranked].tocoo()
    if sub.nnz == 0:
        return np.zeros(len(ranked))
    d = sub.data - 1e-9
    order = np.lexsort((sub.row, d, sub.col))
    col, row, d = sub.col[order], sub.row[order], d[order]
    first = np.r_[True, col[1:] != col[:-1]]
    col, row, d = col[first], row[first], d[first]
    wins = d < model.d0[col]
    return np.bincount(row[wins], weights=model.w[col[wins]], minlength=len(ranked))


def _curve(
    model: SitingModel, ranked: np.ndarray, assign: sparse.csr_matrix | None
) -> pd.DataFrame:
    w = model.w
    total = model.households
    covered = model.covered0.copy()
    got = [float(w[covered].sum())]
    extra = 0.0
    for j in ranked.tolist():
        if assign is not None:
            extra += float(assign[j].sum())
            got.append(got[0] + extra)
        else:
            idx = model.cover.indices[model.cover.indptr[j] : model.cover.indptr[j + 1]]
            covered[idx] = True
            got.append(float(w[covered].sum()))
    arr = np.asarray(got)
    return pd.DataFrame(
        {
            "n_new_sites": np.arange(len(arr)),
            "households_covered": np.round(arr, 2),
            "coverage_share": np.round(arr / total, 6) if total > 0 else np.nan,
            "gain_households": np.round(np.r_[0.0, np.diff(arr)], 2),
        }
    )


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
    mip_rel_gap: float = 1e-6,
    every_m: float = 100.0,
    exclude: gpd.GeoDataFrame | None = None,
    speed_kmh: float | None = None,
    settings: Settings = DEFAULTS,
) -> SitingResult:
    """Site new stations: what ``geogrid site`` runs.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    demand : GeoDataFrame
        Buildings or points; households estimated when missing.
    facilities : GeoDataFrame or None
        Existing centres and stations (they stay and count).
    k : int
        New stations (``mclp``, ``pmedian``); for ``set_cover`` an optional upper limit.
    target : str
        Coverage target, e.g. ``"15min"`` (default), ``"10min"``, ``"1km"``, ``"800m"``.
    candidates : GeoDataFrame, optional
        Candidate sites (see :func:`candidates`); default the network every ``every_m`` m.
    communities : GeoDataFrame, optional
        Community polygons with ``community_code`` for the before/after table (demand with
        its own ``community_code`` column needs none).
    problem : {"mclp", "set_cover", "pmedian"}
        Maximal coverage (default), set cover, or capped p-median.
    share : float, optional
        ``set_cover`` coverage share to reach (default 1.0).
    capacity_hh : float, optional
        ``mclp``: households one new station can serve.
    pmedian_cap_m : float, optional
        ``pmedian`` distance cap (default twice the target distance).
    solver : {"both", "greedy", "exact"}
        ``both`` (default) reports the exact solution and compares greedy with it.
    time_limit_s, mip_rel_gap : float
        HiGHS time limit (seconds) and relative optimality gap.
    every_m : float
        Network sampling step for the default candidates (100 m).
    exclude : GeoDataFrame, optional
        Polygons where no station may go.
    speed_kmh : float, optional
        Walking speed (default ``settings.speed_kmh``, 4 km/h).
    settings : Settings
        Defaults (snap limit, household size).

    Returns
    -------
    SitingResult

    """
    if problem not in PROBLEMS:
        msg = f"unknown siting problem {problem!r}; pass one of {', '.join(PROBLEMS)}"
        raise InputError(msg)
    if solver not in SOLVERS:
        msg = f"unknown solver {solver!r}; pass one of {', '.join(SOLVERS)}"
        raise InputError(msg)
    if problem != "set_cover":
        k = _check_k(k)
    elif k is not None:
        k = _check_k(k)
    if candidates is None:
        cands = _make_candidates(net, every_m=every_m, exclude=exclude)
    else:
        cands = candidates
        if exclude is not None and len(exclude):
            keep = ~to_metric(cands, net.crs).geometry.intersects(
                shapely.union_all(np.asarray(to_metric(exclude, net.crs).geometry.values))
            )
            cands = cands[keep.to_numpy()].reset_index(drop=True)
    model = build_model(
        net, demand, facilities, cands, target=target, speed_kmh=speed_kmh, settings=settings
    )
    runs = ["greedy", "exact"] if solver == "both" else [solver]
    sols: dict[str, _solve.Solution] = {}
    for s in runs:
        if problem == "mclp":
            sols[s] = model.maximal_coverage(
                k=k,
                solver=s,
                capacity_hh=capacity_hh,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
            )
        elif problem == "set_cover":
            sols[s] = model.set_cover(
                share=1.0 if share is None else share,
                solver=s,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
            )
        else:
            sols[s] = model.p_median(
                k=k,
                cap_m=pmedian_cap_m,
                solver=s,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
            )
    chosen = sols["exact"] if "exact" in sols else sols["greedy"]
    if problem == "set_cover" and k is not None and len(chosen.sites) > k:
        log.warning(
            "set cover needs %d sites, more than k=%d; all are reported", len(chosen.sites), k
        )
    return _result(model, chosen, sols, problem, communities)


def _result(
    model: SitingModel,
    chosen: _solve.Solution,
    sols: dict[str, _solve.Solution],
    problem: str,
    communities: gpd.GeoDataFrame | None,
) -> SitingResult:
    assign = chosen.assign
    if assign is not None:
        amount = np.asarray(assign[chosen.sites].sum(axis=1)).ravel()
        order = np.lexsort((chosen.sites, -amount))
        ranked = chosen.sites[order][amount[order] > 1e-9]
    elif chosen.solver == "greedy" and not chosen.info.get("swaps"):
        ranked = chosen.sites
    elif problem == "pmedian":
        cap = chosen.info["cap_m"]
        sub = model.distances(cap)[chosen.sites]
        order = _solve.greedy_pmedian(
            sub, model.w, np.minimum(model.d0, cap), k=len(chosen.sites)
        ).sites
        ranked = chosen.sites[order]
    else:
        ranked, _ = model.rank(chosen.sites)
    curve = _curve(model, ranked, assign)
    gains = curve["gain_households"].to_numpy()[1:]
    unit_code, cand_code = _community_codes(model, communities)
    cov = model.cover[ranked] if len(ranked) else None
    reach = (
        np.asarray((cov > 0).astype(float) @ model.w).ravel() if cov is not None else np.zeros(0)
    )
    sites = model.candidates.iloc[ranked].copy().reset_index(drop=True)
    sites.insert(0, "rank", np.arange(1, len(ranked) + 1))
    sites["gain_households"] = np.round(gains, 2)
    sites["served_households"] = np.round(_served(model, ranked, assign), 2)
    sites["reach_households"] = np.round(reach, 2)
    sites["community_code"] = cand_code[ranked] if cand_code is not None else None
    sites["problem"] = problem
    sites["solver"] = chosen.solver
    sites["snap_m"] = np.round(model.cand_snap.snap_m[ranked], 2)
    sites = gpd.GeoDataFrame(sites, geometry=model.candidates.geometry.name, crs=model.net.crs)
    comm = None
    if unit_code is not None:
        after = model.after(ranked) <= model.limit_m
        if assign is not None:
            got = np.asarray(assign[ranked].sum(axis=0)).ravel()
        else:
            got = np.where(after & ~model.covered0, model.w, 0.0)
        df = pd.DataFrame(
            {
                "community_code": pd.Series(unit_code, dtype=object).fillna("(outside)"),
                "households": model.w,
                "covered_hh_before": np.where(model.covered0, model.w, 0.0),
                "gain_households": got,
            }
        )
        agg = df.groupby("community_code", sort=True).sum().reset_index()
        agg["covered_hh_after"] = agg["covered_hh_before"] + agg["gain_households"]
        hh = agg["households"].where(agg["households"] > 0)
        agg["coverage_before"] = (agg["covered_hh_before"] / hh).round(4)
        agg["coverage_after"] = (agg["covered_hh_after"] / hh).round(4)
        counts = pd.Series(sites["community_code"]).value_counts()
        agg["new_sites"] = agg["community_code"].map(counts).fillna(0).astype(int)
        for c in ("households", "covered_hh_before", "gain_households", "covered_hh_after"):
            agg[c] = agg[c].round(2)
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
            comm = base.merge(agg, on="community_code", how="left", suffixes=("", "_siting"))
        else:
            comm = agg
    solvers = _solver_table(sols, problem)
    summary = _summary(model, chosen, curve, problem, solvers)
    return SitingResult(
        sites=sites,
        curve=curve,
        communities=comm,
        solvers=solvers,
        summary=summary,
        candidates=model.candidates,
        model=model,
    )


def _solver_table(sols: dict[str, _solve.Solution], problem: str) -> pd.DataFrame:
    rows = []
    exact = sols.get("exact")
    for name, s in sols.items():
        ratio = np.nan
        if exact is not None and np.isfinite(exact.objective) and exact.objective != 0:
            ratio = s.objective / exact.objective
        rows.append(
            {
                "solver": "greedy" if name == "greedy" else "highs",
                "problem": problem,
                "objective": round(float(s.objective), 4),
                "bound": round(float(s.bound), 4) if np.isfinite(s.bound) else np.nan,
                "gap": round(float(s.gap), 6) if np.isfinite(s.gap) else np.nan,
                "status": s.status,
                "n_sites": len(s.sites),
                "feasible": bool(s.feasible),
                "seconds": round(float(s.seconds), 4),
                "ratio_to_exact": round(float(ratio), 6) if np.isfinite(ratio) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _summary(
    model: SitingModel,
    chosen: _solve.Solution,
    curve: pd.DataFrame,
    problem: str,
    solvers: pd.DataFrame,
) -> pd.DataFrame:
    rows: list[tuple[str, Any]] = [
        ("problem", problem),
        ("target", model.target.name),
        ("max_dist_m", round(model.limit_m, 1)),
        ("speed_kmh", model.speed_kmh),
        ("demand_units", len(model.demand)),
        ("households", round(model.households, 2)),
        ("existing_facilities", 0 if model.facilities is None else len(model.facilities)),
        ("candidates", len(model.candidates)),
        ("matrix_pairs", int(model.cover.nnz)),
        ("matrix_seconds", round(model.timings.get("matrix_s", np.nan), 3)),
        ("new_sites", len(chosen.sites)),
        ("households_covered_before", float(curve["households_covered"].iloc[0])),
        ("households_covered_after", float(curve["households_covered"].iloc[-1])),
        ("coverage_before", float(curve["coverage_share"].iloc[0])),
        ("coverage_after", float(curve["coverage_share"].iloc[-1])),
        ("solver", chosen.solver),
        ("status", chosen.status),
        ("objective", round(float(chosen.objective), 4)),
        ("bound", round(float(chosen.bound), 4) if np.isfinite(chosen.bound) else None),
        ("gap", round(float(chosen.gap), 6) if np.isfinite(chosen.gap) else None),
        ("feasible", bool(chosen.feasible)),
    ]
    if problem == "pmedian":
        cap = chosen.info.get("cap_m", 2.0 * model.limit_m)
        d = _pm_after(model, chosen.sites, cap)
        w = model.w
        rows.append(("pmedian_cap_m", cap))
        rows.append(
            ("mean_walk_m_before", round(float(np.sum(w * np.minimum(model.d0, cap)) / w.sum()), 2))
        )
        rows.append(("mean_walk_m_after", round(float(np.sum(w * d) / w.sum()), 2)))
    g = solvers[solvers["solver"] == "greedy"]
    if len(solvers) == 2 and len(g):
        rows.append(("greedy_objective", float(g["objective"].iloc[0])))
        rows.append(("greedy_over_exact", g["ratio_to_exact"].iloc[0]))
    return pd.DataFrame(rows, columns=["metric", "value"])


def _pm_after(model: SitingModel, sites: np.ndarray, cap: float) -> np.ndarray:
    d = np.minimum(model.d0, cap)
    if len(sites):
        sub = model.distances(cap)[np.asarray(sites, dtype=np.int64)].tocoo()
        np.minimum.at(d, sub.col, sub.data - 1e-9)
    return d
