"""Governance grids (网格): partition communities into grids of a few hundred households.

Grids are unions of *atoms* (street blocks cut by streets and compound walls, then building
cells inside a block), so a grid follows streets, walls and block edges, never splits a
building and splits a compound only when the compound alone holds more than the maximum.
Each community is partitioned into contiguous grids (one Polygon each) that tile it exactly,
with households inside a band (default 200-500, target 350) wherever the atoms allow it.
Every community gets a band certificate (:attr:`GridResult.certificates`): ``feasible``
(its grids meet the band), ``infeasible`` with the proof, or ``unknown`` with bounds (see
:mod:`geogrid._grid_certificate`: cheap proofs, then an exact HiGHS model with flow
contiguity constraints for parts of up to 150 atoms). Without community polygons,
provisional communities are derived from where people live (:func:`derive_communities`).
Grids larger than plausible for their households (:func:`plausible_area_m2`) are flagged
and logged. Atoms without
households join a neighbouring grid; an empty part of the community touching no grid (a
separate part of a MultiPolygon community) joins the nearest grid, which is then a
MultiPolygon counted in ``contiguity_share`` (a warning is logged).

Grid codes are the 12-digit community code plus a 3-digit sequence in reading order: the
community is cut into horizontal rows one typical grid high (``sqrt(community area / number
of grids)``) counted from its northern edge; rows are numbered north to south and grids
inside a row west to east, by grid centroid. The same inputs and seed give the same grids.

Third level: :func:`responsibility_areas` groups the buildings of each grid into areas of
about 30-100 households, one per party member or building leader (Foshan's practice).
Staffing and monthly workload follow the grid-worker duty schedule (:func:`workload`); the
annual funds follow the Baotou rules (:func:`community_funds`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.analyses.grids.atoms import (
    Atoms,
    blocks_of,
    build_atoms,
    dissolve,
    polygon_graph,
)
from geogrid.analyses.grids.certificate import certify, outside
from geogrid.analyses.grids.search import Graph, components, partition_graph
from geogrid.errors import CRSError, InputError
from geogrid.settings import DEFAULTS
from geogrid.study.demand import prepare_demand
from geogrid.study.households import round_households

__all__ = [
    "GridResult",
    "community_funds",
    "derive_communities",
    "grid_atoms",
    "grid_quality",
    "partition",
    "plausible_area_m2",
    "residential_extent",
    "responsibility_areas",
    "workload",
]

logger = logging.getLogger(__name__)

#: Relative area tolerance for "exact" tiling.
TILING_TOL = 1e-6
#: An empty region this close (metres) to a grid may join it when the union is one Polygon.
MIN_TOUCH_M = 0.01
#: Further seeds tried when the heuristic's grids miss the band (before the exact model).
RESTARTS = 8
#: Columns of :attr:`GridResult.certificates`.
CERTIFICATE_COLUMNS = [
    "community_code",
    "community_name",
    "status",
    "method",
    "proof",
    "atoms",
    "households",
    "grids",
    "grids_in_band",
    "outside_band_lb_hh",
    "outside_band_best_hh",
    "balance_dev_hh",
    "balance_best_hh",
    "balance_bound_hh",
]


@dataclass
class GridResult:
    """Result of :func:`partition`.

    Attributes
    ----------
    grids : GeoDataFrame, one Polygon per grid. Columns ``grid_code`` (15-digit str),
        ``community_code``, ``community_name``, ``households``, ``population``,
        ``party_members``, ``area_m2``, ``area_plausible`` (see :func:`plausible_area_m2`),
        ``polsby_popper``, ``party_group_eligible``,
        ``n_units``, ``in_band``, then the :func:`workload` columns
        (``vulnerable_households``, ``visits_month``, ``workload_h_month``,
        ``grid_workers``, ``worker_load_share``).
    assignment : Series indexed like ``demand``: the grid code of each demand unit (NaN for
        units outside every community).
    quality : one-row DataFrame from :func:`grid_quality`.
    infeasible : DataFrame ``community_code``, ``status``, ``reason``: one row per reason of
        every community whose certificate is not ``feasible``.
    certificates : DataFrame, one row per community: ``status`` (``feasible``,
        ``infeasible``, ``unknown``), ``method``, ``proof`` and the bounds (see
        :data:`CERTIFICATE_COLUMNS` and :mod:`geogrid._grid_certificate`).
    communities_derived : True when provisional communities were derived (no communities given).
    communities : the communities used (given or derived), with ``households``,
        ``party_members`` and the :func:`community_funds` columns.
    atoms : GeoDataFrame of the atoms (``community_code``, ``households``, ``kind``,
        ``grid_code``), the pieces grids are made of.

    """

    grids: gpd.GeoDataFrame
    assignment: pd.Series
    quality: pd.DataFrame
    infeasible: pd.DataFrame
    communities_derived: bool
    communities: gpd.GeoDataFrame
    atoms: gpd.GeoDataFrame
    certificates: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


# ----------------------------------------------------------------------------- inputs


def _check_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, name: str) -> None:
    if gdf.crs is None:
        msg = f"{name} has no CRS; set one with .set_crs(...) then .to_crs(<metric CRS>)"
        raise CRSError(msg)
    if not gdf.crs.is_projected:
        msg = (
            f"{name} is in a geographic CRS ({gdf.crs.to_string()}); pass a metric CRS, "
            f"e.g. {name}.to_crs(gdf.estimate_utm_crs())"
        )
        raise CRSError(msg)


def _check_frame(gdf: object, name: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
        msg = f"{name} must be a GeoDataFrame, got {type(gdf).__name__}; pass a GeoDataFrame"
        raise InputError(msg)


def _check_band(min_households: float, target_households: float, max_households: float) -> None:
    if not 0 < min_households <= target_households <= max_households:
        msg = (
            f"household band must satisfy 0 < min <= target <= max, got "
            f"{(min_households, target_households, max_households)!r}; pass e.g. 200, 350, 500"
        )
        raise InputError(msg)


def _lines(gdf: gpd.GeoDataFrame | gpd.GeoSeries | None, name: str, crs: Any) -> np.ndarray:
    if gdf is None:
        return np.empty(0, dtype=object)
    _check_frame(gdf, name)
    _check_metric(gdf, name)
    if crs is not None and gdf.crs != crs:
        gdf = gdf.to_crs(crs)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
    geoms = shapely.get_parts(geoms)
    types = shapely.get_type_id(geoms)
    polys = types == 3
    if polys.any():  # walls given as compound polygons: use their outlines
        geoms = np.concatenate([geoms[~polys], shapely.get_parts(shapely.boundary(geoms[polys]))])
        types = shapely.get_type_id(geoms)
    return geoms[(types == 1) | (types == 2)]


def _demand_table(demand: gpd.GeoDataFrame, household_size: float) -> dict[str, np.ndarray]:
    """Arrays of the demand units; ``demand`` is already in the communities' CRS.

    Without a ``households`` column the households are estimated with
    :func:`geogrid.demand.prepare_demand` (from ``population``, or from footprint x storeys).
    """
    _check_frame(demand, "demand")
    _check_metric(demand, "demand")
    if "households" not in demand.columns:
        logger.info("demand has no 'households' column: estimating it with prepare_demand")
        demand = prepare_demand(
            demand,
            settings=dataclasses.replace(DEFAULTS, household_size=household_size),
            crs=demand.crs,
        )
    hh = pd.to_numeric(demand["households"], errors="coerce").to_numpy(float)
    if np.isnan(hh).any() or (hh < 0).any():
        bad = int(np.isnan(hh).sum() + (hh < 0).sum())
        msg = f"demand 'households' has {bad} missing or negative values; fill them with >= 0"
        raise InputError(msg)
    if "population" in demand.columns:
        pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(float)
        pop = np.where(np.isnan(pop), hh * household_size, pop)
    else:
        pop = hh * household_size
    if "party_members" in demand.columns:
        pm = pd.to_numeric(demand["party_members"], errors="coerce").fillna(0).to_numpy(float)
    else:
        pm = np.zeros(len(hh))
    geoms = np.asarray(demand.geometry.values, dtype=object)
    if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        msg = "demand has empty or missing geometries; drop them with demand[~demand.is_empty]"
        raise InputError(msg)
    types = shapely.get_type_id(geoms)
    if not np.isin(types, [0, 3, 6]).all():
        msg = "demand geometries must be Points or Polygons (building footprints); got others"
        raise InputError(msg)
    footprints = geoms.copy()
    footprints[types == 0] = None
    polys = types != 0
    if polys.any():  # buildings: make valid and keep their largest part
        fixed = shapely.make_valid(geoms[polys])
        parts_ok = []
        for g in fixed:
            parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) == 3]
            parts_ok.append(max(parts, key=lambda p: p.area) if parts else None)
        footprints[polys] = parts_ok
    points = shapely.point_on_surface(geoms)
    if "compound_id" in demand.columns:
        comp = demand["compound_id"].astype("string").fillna("").to_numpy(dtype=object)
    else:
        comp = np.full(len(hh), "", dtype=object)
    return {
        "households": hh,
        "population": pop,
        "party_members": pm,
        "footprints": footprints,
        "points": points,
        "compound": comp,
    }


def _community_table(communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    _check_frame(communities, "communities")
    _check_metric(communities, "communities")
    if "community_code" not in communities.columns:
        msg = (
            f"communities needs a 'community_code' column (12 digits), got "
            f"{list(communities.columns)!r}; rename your code column to community_code"
        )
        raise InputError(msg)
    out = communities.copy()
    out["community_code"] = out["community_code"].astype(str)
    if out["community_code"].duplicated().any():
        dup = out.loc[out["community_code"].duplicated(), "community_code"].iloc[0]
        msg = f"community_code {dup!r} appears more than once; dissolve by community_code first"
        raise InputError(msg)
    if "name" not in out.columns:
        out["name"] = out["community_code"]
    geoms = np.asarray(out.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    if not np.isin(types, [3, 6]).all():
        msg = "communities must be Polygons or MultiPolygons; drop or fix the other geometries"
        raise InputError(msg)
    out = out.set_geometry(shapely.make_valid(geoms), crs=communities.crs)
    return out


# ------------------------------------------------------------------- derived communities


#: Buildings closer than twice this (metres) form one residential cluster (see
#: :func:`residential_extent`); a cluster keeps a margin of half of it around its buildings.
CLUSTER_GAP_M = 40.0
#: A street block holding households is taken whole up to this area (m2, a 200 x 200 m
#: urban block); a larger block is clipped to the residential clusters and polygons in it.
BLOCK_WHOLE_M2 = 40_000.0
#: Plausible area of a grid: at most this many m2 per household (10 households per hectare,
#: below the gross density of any urban residential area) ...
PLAUSIBLE_M2_PER_HOUSEHOLD = 1_000.0
#: ... and at least this many m2 whatever the households; a larger grid is logged as a
#: warning and flagged ``area_plausible = False``.
PLAUSIBLE_MIN_M2 = 150_000.0


def plausible_area_m2(households: np.ndarray | float) -> np.ndarray:
    """Largest plausible grid area (m2) for its households (see :data:`PLAUSIBLE_M2_PER_HOUSEHOLD`).

    Parameters
    ----------
    households : float or array-like
        Households of each grid.

    Returns
    -------
    ndarray
        Square metres, at least :data:`PLAUSIBLE_MIN_M2`.

    Examples
    --------
    >>> plausible_area_m2([100, 400]).tolist()
    [150000.0, 400000.0]

    """
    return np.maximum(PLAUSIBLE_MIN_M2, np.asarray(households, float) * PLAUSIBLE_M2_PER_HOUSEHOLD)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the (Multi)Polygon part of a union (stray lines and points dropped)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts)


def _unit_shapes(dem: dict[str, np.ndarray], sel: np.ndarray) -> np.ndarray:
    """Footprints of the selected demand units, their points where they have none."""
    fp = dem["footprints"][sel]
    missing = np.array([f is None for f in fp], dtype=bool)
    return np.where(missing, dem["points"][sel], fp)


def _residential_polygons(
    residential: gpd.GeoDataFrame | gpd.GeoSeries | None, crs: Any, dem: dict[str, np.ndarray]
) -> np.ndarray:
    """Residential areas and compounds holding households: given polygons, compound hulls."""
    out = []
    if residential is not None:
        _check_frame(residential, "residential")
        r = residential.to_crs(crs) if residential.crs is not None else None
        if r is None:
            msg = "residential has no CRS; set one with .set_crs(...)"
            raise CRSError(msg)
        geoms = shapely.get_parts(np.asarray(r.geometry.values, dtype=object))
        geoms = shapely.make_valid(geoms[shapely.get_type_id(geoms) == 3])
        out.extend(shapely.get_parts(geoms).tolist())
    comp = dem["compound"]
    has = (comp != "") & (dem["households"] > 0)
    for cid in sorted(set(comp[has].tolist())):
        sel = comp == cid
        shapes = _unit_shapes(dem, sel)
        out.append(shapely.buffer(shapely.convex_hull(shapely.union_all(shapes)), 10.0))
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    arr = arr[shapely.get_type_id(arr) == 3] if len(arr) else arr
    if len(arr) == 0:
        return arr
    tree = shapely.STRtree(dem["points"][dem["households"] > 0])
    hit = np.unique(tree.query(arr, predicate="intersects")[0])
    return arr[hit]


def residential_extent(
    lines: np.ndarray,
    dem: dict[str, np.ndarray],
    residential: np.ndarray,
) -> np.ndarray:
    """Pieces of the area where people live, cut by streets: the derived communities' blocks.

    The extent is the union of the residential polygons holding households
    (``landuse=residential``, compounds) and the clusters of buildings with households
    (every building with a margin of ``CLUSTER_GAP_M / 2``, buildings closer than
    ``CLUSTER_GAP_M`` joined). It is cut by the streets into blocks; a block holding
    households is taken whole when it is at most ``BLOCK_WHOLE_M2`` (an urban block), else
    only its part inside the extent. Pieces without households are dropped.

    Parameters
    ----------
    lines : ndarray of LineString
        Streets (metric CRS).
    dem : dict of str to ndarray
        Demand units: ``households``, ``points`` and ``footprints`` (None for points).
    residential : ndarray of Polygon
        Residential and compound polygons holding households.

    Returns
    -------
    ndarray of Polygon
        The pieces, each holding households.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> fp = np.array([shapely.box(10, 10, 30, 30), shapely.box(110, 10, 130, 30)], dtype=object)
    >>> dem = {"households": np.array([12.0, 0.0]), "points": shapely.centroid(fp), "footprints": fp}
    >>> street = np.array([shapely.LineString([(70, -100), (70, 200)])], dtype=object)
    >>> [p.bounds for p in residential_extent(street, dem, np.empty(0, dtype=object))]
    [(-11.0, -11.0, 51.0, 51.0)]

    """
    pos = dem["households"] > 0
    shapes = _unit_shapes(dem, pos)
    g = CLUSTER_GAP_M
    clusters = shapely.buffer(
        shapely.buffer(shapely.union_all(shapely.buffer(shapes, g)), -g / 2), 0
    )
    extent = shapely.union_all(np.concatenate([[clusters], residential]))
    outline = shapely.buffer(extent, 1.0)
    near = lines[shapely.intersects(lines, outline)] if len(lines) else lines
    blocks = blocks_of(outline, near)
    pts = dem["points"][pos]
    tree = shapely.STRtree(blocks)
    pi, bi = tree.query(pts, predicate="intersects")
    hh_blocks = np.unique(bi)
    pieces: list[shapely.Geometry] = []
    for b in hh_blocks.tolist():
        blk = blocks[b]
        if blk.area > BLOCK_WHOLE_M2:
            blk = shapely.intersection(blk, extent)
        pieces.extend(p for p in shapely.get_parts(blk) if shapely.get_type_id(p) == 3)
    arr = np.empty(len(pieces), dtype=object)
    arr[:] = pieces
    if len(arr) == 0:
        return arr
    hit = np.unique(shapely.STRtree(arr).query(pts, predicate="intersects")[1])
    return arr[hit]


def derive_communities(
    network_edges: gpd.GeoDataFrame | gpd.GeoSeries | None,
    demand: gpd.GeoDataFrame,
    *,
    residential: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    target_households: float = 3500.0,
    street_code: str = "000000000",
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Derive provisional communities from where people live, when none are given.

    The area to grid is the residential extent (:func:`residential_extent`): residential
    and compound polygons holding households, clusters of buildings with households, and the
    street blocks that hold them; never the network's hull, and never a block without
    households. Its pieces are grouped with the grid partition engine into communities of
    about ``target_households`` (band 0.5x-1.5x).

    Provisional codes: ``street_code`` (9 digits, default ``000000000``, which no real
    street has) + a 3-digit sequence in reading order (rows north to south, west to east,
    as for grid codes). They depend only on positions, so re-runs on the same inputs give
    the same codes; replace them by passing real community polygons (``--communities``).

    Parameters
    ----------
    network_edges
        Street LineStrings in a metric CRS (or None: blocks are the clusters themselves).
    demand
        Demand units with ``households`` (same CRS family), optional ``compound_id``.
    residential
        ``landuse=residential`` or compound polygons (any CRS), optional.
    target_households
        Households per derived community (default 3,500: ten grids of 350).
    street_code
        9-digit street code the 12-digit community codes start with.
    seed
        RNG seed.

    Returns
    -------
    GeoDataFrame with ``community_code``, ``name`` (``临时社区NNN``), ``households`` and
    ``code_provisional`` (True), in the network's CRS (the demand's without a network).

    Examples
    --------
    >>> from geogrid.demo import make_district
    >>> d = make_district(n_communities=2, seed=0)
    >>> derived = derive_communities(d.ways, d.buildings)
    >>> derived["community_code"].str.startswith("000000000").all()
    True

    """
    if network_edges is not None:
        _check_frame(network_edges, "network_edges")
        _check_metric(network_edges, "network_edges")
        crs = network_edges.crs
    else:
        _check_frame(demand, "demand")
        _check_metric(demand, "demand")
        crs = demand.crs
    lines = _lines(network_edges, "network_edges", crs)
    dem = _demand_table(demand.to_crs(crs), DEFAULTS.household_size)
    if not (dem["households"] > 0).any():
        msg = "demand holds no households; pass buildings or points with households > 0"
        raise InputError(msg)
    res = _residential_polygons(residential, crs, dem)
    blocks = residential_extent(lines, dem, res)
    tree = shapely.STRtree(blocks)
    pi, bi = tree.query(dem["points"], predicate="intersects")
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.empty(0, bool)
    hh = np.bincount(bi[first], weights=dem["households"][pi[first]], minlength=len(blocks))
    g = polygon_graph(blocks, hh, hi=target_households * 1.5)
    lab = partition_graph(
        g,
        lo=target_households * 0.5,
        target=target_households,
        hi=target_households * 1.5,
        seed=seed,
    )
    polys = [_polygonal(shapely.union_all(blocks[lab == r])) for r in range(lab.max() + 1)]
    polys_arr = np.empty(len(polys), dtype=object)
    polys_arr[:] = polys
    order = _reading_order(polys_arr, float(shapely.area(blocks).sum()))
    polys_arr = polys_arr[order]
    n = len(polys_arr)
    out = gpd.GeoDataFrame(
        {
            "community_code": [f"{street_code}{k + 1:03d}" for k in range(n)],
            "name": [f"临时社区{k + 1:03d}" for k in range(n)],
            "households": np.bincount(lab, weights=hh)[order],
            "code_provisional": True,
        },
        geometry=polys_arr,
        crs=crs,
    )
    return out


# ------------------------------------------------------------------------------- atoms


def _lines_by_community(comm_geoms: np.ndarray, lines: np.ndarray) -> list[np.ndarray]:
    if len(lines) == 0:
        return [np.empty(0, dtype=object) for _ in comm_geoms]
    tree = shapely.STRtree(lines)
    ci, li = tree.query(comm_geoms, predicate="intersects")
    out = []
    for c in range(len(comm_geoms)):
        out.append(lines[li[ci == c]])
    return out


def _assign_to_communities(comm_geoms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Community index per point (-1 when outside all); first community wins on edges."""
    res = np.full(len(points), -1)
    if len(points) == 0:
        return res
    tree = shapely.STRtree(comm_geoms)
    pi, ci = tree.query(points, predicate="intersects")
    order = np.lexsort((ci, pi))
    pi, ci = pi[order], ci[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.empty(0, bool)
    res[pi[first]] = ci[first]
    return res


def _unit_atoms(
    boundary: shapely.Geometry,
    lines: np.ndarray,
    dem: dict[str, np.ndarray],
    idx: np.ndarray,
    *,
    compound: np.ndarray,
    max_households: float,
) -> Atoms:
    """Atoms of one polygon from the demand rows ``idx`` (compounds by ``compound``)."""
    return build_atoms(
        boundary,
        lines,
        footprints=dem["footprints"][idx],
        points=dem["points"][idx],
        households=dem["households"][idx],
        population=dem["population"][idx],
        party_members=dem["party_members"][idx],
        compound=compound,
        max_households=max_households,
    )


def _all_atoms(
    comm: gpd.GeoDataFrame,
    dem: dict[str, np.ndarray],
    lines: np.ndarray,
    *,
    max_households: float,
) -> tuple[list, np.ndarray]:
    comm_geoms = np.asarray(comm.geometry.values, dtype=object)
    unit_comm = _assign_to_communities(comm_geoms, dem["points"])
    lines_c = _lines_by_community(comm_geoms, lines)
    per = []
    for c in range(len(comm_geoms)):
        idx = np.flatnonzero(unit_comm == c)
        at = _unit_atoms(
            comm_geoms[c],
            lines_c[c],
            dem,
            idx,
            compound=dem["compound"][idx],
            max_households=max_households,
        )
        per.append((idx, at))
    return per, unit_comm


def grid_atoms(
    communities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    network_edges: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    walls: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    max_households: float = DEFAULTS.grid_max_households,
) -> gpd.GeoDataFrame:
    """Build the atoms grids are made of: blocks cut by streets and walls, then cells.

    Parameters
    ----------
    communities
        Community polygons with ``community_code`` (metric CRS).
    demand
        Building footprints or points with ``households``.
    network_edges, walls
        LineStrings that cut communities into blocks.
    max_households
        A compound above this is cut into its buildings.

    Returns
    -------
    GeoDataFrame with ``community_code``, ``households``, ``population``,
    ``party_members``, ``n_units``, ``kind`` (block, compound, building, filler) and
    ``oversized`` (a single building or compound-free unit above ``max_households``).

    Examples
    --------
    >>> from geogrid.demo import make_district
    >>> d = make_district(n_communities=2, seed=0)
    >>> atoms = grid_atoms(d.communities, d.buildings, network_edges=d.ways, walls=d.walls)
    >>> sorted(atoms["kind"].unique())
    ['block', 'building', 'filler']

    """
    comm = _community_table(communities)
    dem = _demand_table(demand.to_crs(comm.crs), DEFAULTS.household_size)
    lines = np.concatenate(
        [_lines(network_edges, "network_edges", comm.crs), _lines(walls, "walls", comm.crs)]
    )
    per, _ = _all_atoms(comm, dem, lines, max_households=max_households)
    frames = []
    for c, (_, at) in enumerate(per):
        frames.append(
            pd.DataFrame(
                {
                    "community_code": comm["community_code"].iloc[c],
                    "households": at.households,
                    "population": at.population,
                    "party_members": at.party_members,
                    "n_units": at.n_units,
                    "kind": at.kind,
                    "oversized": at.oversized,
                    "geometry": at.geoms,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(df, geometry="geometry", crs=comm.crs)


# ------------------------------------------------------------------------- codes/order


def _reading_order(polys: np.ndarray, total_area: float) -> np.ndarray:
    """Return the order of ``polys``: rows north to south, west to east in a row.

    Rows are horizontal bands ``sqrt(total_area / len(polys))`` high counted down from the
    northernmost centroid's band top (the max y of all polygons).
    """
    n = len(polys)
    if n == 0:
        return np.empty(0, int)
    c = shapely.get_coordinates(shapely.centroid(polys))
    ymax = float(shapely.bounds(polys)[:, 3].max())
    h = math.sqrt(max(total_area, 1e-9) / n)
    row = np.floor((ymax - c[:, 1]) / h).astype(int)
    return np.lexsort((c[:, 1] * -1.0, c[:, 0], row))


# ----------------------------------------------------------------------------- partition


def partition(
    communities: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    *,
    network_edges: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    walls: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    residential: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    min_households: float = DEFAULTS.grid_min_households,
    target_households: float = DEFAULTS.grid_target_households,
    max_households: float = DEFAULTS.grid_max_households,
    household_size: float = DEFAULTS.household_size,
    seed: int = 0,
    certificates: str = "band",
    verbose: bool = False,
) -> GridResult:
    """Partition communities into governance grids inside a household band.

    Parameters
    ----------
    communities : GeoDataFrame or None
        Community polygons (Polygon/MultiPolygon) with ``community_code`` (12 digits) and
        ``name``, in a metric CRS. ``None`` derives provisional ones from where people live
        (residential polygons, building clusters and the street blocks holding them, see
        :func:`derive_communities`) and logs a warning.
    demand : GeoDataFrame
        Building footprints (Polygon) or points with ``households``; without that column
        households are estimated by :func:`geogrid.demand.prepare_demand` (from
        ``population``, or footprint x storeys for buildings). Optional
        ``population`` (default households * ``household_size``), ``party_members``
        (default 0) and ``compound_id`` (a compound is kept whole unless it alone holds
        more than ``max_households``).
    network_edges, walls : GeoDataFrame or GeoSeries, optional
        Street LineStrings and compound walls (LineStrings or compound Polygons); grids
        follow them.
    residential : GeoDataFrame or GeoSeries, optional
        ``landuse=residential`` or compound polygons; used only to derive communities.
    min_households, target_households, max_households : float
        The household band (default 200, 350, 500).
    household_size : float
        Persons per household used when ``population`` is missing (2.62).
    seed : int
        RNG seed; the same inputs and seed give the same grids.
    certificates : {"full", "band"}
        Every community gets a band certificate (``feasible``, ``infeasible`` with the
        proof, or ``unknown`` with bounds; see :mod:`geogrid._grid_certificate`); where the
        heuristic misses the band on a part of up to 150 atoms, the exact model (HiGHS)
        either finds grids that meet it (they replace the heuristic's) or proves none exist.
        ``"full"`` also measures, for feasible communities, how far the grids are from the
        most balanced partition the exact model finds with the same number of grids;
        ``"band"`` skips that measure (faster redraws).
    verbose : bool
        Show a progress bar over communities.

    Returns
    -------
    GridResult

    Examples
    --------
    >>> from geogrid.demo import make_district
    >>> d = make_district(n_communities=2, seed=0)
    >>> res = partition(d.communities, d.buildings, network_edges=d.ways, walls=d.walls)
    >>> len(res.grids), bool(res.grids["in_band"].all()), res.certificates["status"].tolist()
    (22, True, ['feasible', 'feasible'])

    """
    _check_band(min_households, target_households, max_households)
    _check_frame(demand, "demand")
    if certificates not in ("full", "band"):
        msg = f"certificates must be 'full' or 'band', got {certificates!r}; pass one of them"
        raise InputError(msg)
    derived = communities is None
    if communities is None:
        communities = _derived_communities(network_edges, demand, residential, seed)
    comm = _community_table(communities)
    crs = comm.crs
    dem = _demand_table(demand.to_crs(crs), household_size)
    lines = np.concatenate(
        [_lines(network_edges, "network_edges", crs), _lines(walls, "walls", crs)]
    )
    comm_geoms = np.asarray(comm.geometry.values, dtype=object)
    unit_comm = _assign_to_communities(comm_geoms, dem["points"])
    outside = int((unit_comm < 0).sum())
    if outside:
        logger.warning("%d demand units lie outside every community and get no grid", outside)
    lines_c = _lines_by_community(comm_geoms, lines)
    band = _Band(min_households, target_households, max_households)
    it: Any = range(len(comm))
    if verbose:
        try:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="communities")
        except ImportError:  # pragma: no cover
            pass
    done: list[_CommunityGrids] = []
    unit_grid = np.full(len(unit_comm), None, dtype=object)
    for c in it:
        idx = np.flatnonzero(unit_comm == c)
        one = _grid_community(
            (str(comm["community_code"].iloc[c]), str(comm["name"].iloc[c]), comm_geoms[c]),
            lines_c[c],
            dem,
            idx,
            names_index=demand.index,
            band=band,
            seed=seed,
            balance=certificates == "full",
        )
        unit_grid[idx] = one.unit_codes
        done.append(one)
    grids = _grid_layer(
        [r for d in done for r in d.rows], [g for d in done for g in d.geoms], crs, band
    )
    infeasible_df = pd.DataFrame(
        [r for d in done for r in d.infeasible], columns=["community_code", "status", "reason"]
    )
    cert_df = pd.DataFrame([d.certificate for d in done], columns=CERTIFICATE_COLUMNS)
    quality = grid_quality(
        grids,
        comm,
        min_households=min_households,
        max_households=max_households,
        infeasible=infeasible_df,
    )
    for status in ("feasible", "infeasible", "unknown"):
        quality[f"communities_{status}"] = int((cert_df["status"] == status).sum())
    frames = [d.atoms for d in done]
    atoms = gpd.GeoDataFrame(
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        geometry="geometry",
        crs=crs,
    )
    logger.info(
        "partitioned %d communities into %d grids (%.1f%% inside %g-%g households)",
        len(comm),
        len(grids),
        100.0 * float(quality["share_in_band"].iloc[0]),
        min_households,
        max_households,
    )
    return GridResult(
        grids=grids,
        assignment=pd.Series(unit_grid, index=demand.index, name="grid_code"),
        quality=quality,
        infeasible=infeasible_df,
        communities_derived=derived,
        communities=_community_layer(comm, grids),
        atoms=atoms,
        certificates=cert_df,
    )


@dataclass(frozen=True)
class _Band:
    """The household band of a grid."""

    lo: float
    target: float
    hi: float


@dataclass
class _CommunityGrids:
    """The grids of one community: rows and polygons, unit codes, atoms, certificate."""

    rows: list[dict[str, Any]]
    geoms: list[shapely.Geometry]
    unit_codes: np.ndarray
    atoms: pd.DataFrame
    certificate: dict[str, Any]
    infeasible: list[tuple[str, str, str]]


def _derived_communities(
    network_edges: gpd.GeoDataFrame | gpd.GeoSeries | None,
    demand: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame | gpd.GeoSeries | None,
    seed: int,
) -> gpd.GeoDataFrame:
    """Provisional communities from where people live, with a warning saying so."""
    if network_edges is None:
        msg = (
            "without communities, partition needs network_edges (streets) to derive "
            "provisional communities from where people live; pass communities= or "
            "network_edges="
        )
        raise InputError(msg)
    communities = derive_communities(network_edges, demand, residential=residential, seed=seed)
    logger.warning(
        "no community polygons given: derived %d provisional communities (codes "
        "000000000NNN) from where people live; pass real ones to replace them",
        len(communities),
    )
    return communities


def _grid_community(
    community: tuple[str, str, shapely.Geometry],
    lines: np.ndarray,
    dem: dict[str, np.ndarray],
    idx: np.ndarray,
    *,
    names_index: pd.Index,
    band: _Band,
    seed: int,
    balance: bool,
) -> _CommunityGrids:
    """Atoms, heuristic partition, certificate and grid rows of one community.

    ``community`` is its (code, name, polygon); ``idx`` the rows of ``dem`` inside it.
    """
    code, cname, boundary = community
    at = _unit_atoms(
        boundary, lines, dem, idx, compound=dem["compound"][idx], max_households=band.hi
    )
    g = polygon_graph(at.geoms, at.households, hi=band.hi)
    lab = _partition_with_restarts(g, lo=band.lo, target=band.target, hi=band.hi, seed=seed)
    cert = certify(
        g.w,
        g.nbrs,
        components(g),
        lab,
        _atom_names(at, idx, dem["compound"], names_index),
        lo=band.lo,
        hi=band.hi,
        balance=balance,
    )
    if cert.labels is not None:
        lab = cert.labels
    lab, n_multi = _absorb_empty(at.geoms, at.households, lab)
    if n_multi:
        logger.warning(
            "community %s: %d empty separate part(s) joined the nearest grid, "
            "which is then not one polygon",
            code,
            n_multi,
        )
    p = int(lab.max()) + 1
    polys = np.empty(p, dtype=object)
    polys[:] = [dissolve(at.geoms[lab == r]) for r in range(p)]
    order = _reading_order(polys, shapely.area(boundary))
    rank = np.empty(p, int)
    rank[order] = np.arange(p)
    codes = np.array([f"{code}{k + 1:03d}" for k in range(p)], dtype=object)
    sums = {
        col: np.bincount(lab, weights=getattr(at, col), minlength=p)
        for col in ("households", "population", "party_members", "n_units")
    }
    rows = [
        {
            "grid_code": codes[rank[r]],
            "community_code": code,
            "community_name": cname,
            "households": float(sums["households"][r]),
            "population": float(sums["population"][r]),
            "party_members": float(sums["party_members"][r]),
            "n_units": int(sums["n_units"][r]),
        }
        for r in order
    ]
    atoms = pd.DataFrame(
        {
            "community_code": code,
            "households": at.households,
            "kind": at.kind,
            "oversized": at.oversized,
            "grid_code": codes[rank[lab]],
            "geometry": at.geoms,
        }
    )
    hh = sums["households"]
    certificate = {
        "community_code": code,
        "community_name": cname,
        "status": cert.status,
        "method": cert.method,
        "proof": "; ".join(cert.proof),
        "atoms": len(at.households),
        "households": round(float(at.households.sum()), 2),
        "grids": p,
        "grids_in_band": int(((hh >= band.lo) & (hh <= band.hi)).sum()),
        "outside_band_lb_hh": round(cert.outside_lb, 2),
        "outside_band_best_hh": round(cert.outside_ub, 2),
        "balance_dev_hh": round(cert.balance_dev_hh, 2),
        "balance_best_hh": round(cert.balance_best_hh, 2),
        "balance_bound_hh": round(cert.balance_bound_hh, 2),
    }
    return _CommunityGrids(
        rows=rows,
        geoms=[polys[r] for r in order],
        unit_codes=codes[rank[lab[at.unit_atom]]] if len(idx) else np.empty(0, dtype=object),
        atoms=atoms,
        certificate=certificate,
        infeasible=[(code, cert.status, r) for r in cert.proof]
        if cert.status != "feasible"
        else [],
    )


def _grid_layer(
    rows: list[dict[str, Any]], geoms: list[shapely.Geometry], crs: Any, band: _Band
) -> gpd.GeoDataFrame:
    """Build the grids layer: one row per grid with area, plausibility, shape and workload."""
    grids = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)
    if len(grids) == 0:
        grids = gpd.GeoDataFrame(
            {"grid_code": [], "community_code": [], "households": []}, geometry=[], crs=crs
        )
    grids["area_m2"] = grids.area
    grids["area_plausible"] = grids["area_m2"] <= plausible_area_m2(grids["households"])
    n_big = int((~grids["area_plausible"]).sum())
    if n_big:
        logger.warning(
            "%d grids are larger than plausible for their households (more than %g m2 per "
            "household, at least %g m2): check the communities or the demand",
            n_big,
            PLAUSIBLE_M2_PER_HOUSEHOLD,
            PLAUSIBLE_MIN_M2,
        )
    grids["polsby_popper"] = _polsby_popper(np.asarray(grids.geometry.values, dtype=object))
    grids["party_group_eligible"] = grids["party_members"] >= 3
    grids["in_band"] = (grids["households"] >= band.lo) & (grids["households"] <= band.hi)
    return workload(grids)


def _community_layer(comm: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add the grids' totals, grid count and funds to the communities."""
    comm_out = comm.copy()
    sums = grids.groupby("community_code")[["households", "population", "party_members"]].sum()
    for col in sums.columns:
        comm_out[col] = comm_out["community_code"].map(sums[col]).fillna(0.0)
    comm_out["n_grids"] = (
        comm_out["community_code"].map(grids.groupby("community_code").size()).fillna(0)
    ).astype(int)
    funds = community_funds(comm_out)
    for col in funds.columns:
        if col.startswith("funds_"):
            comm_out[col] = comm_out["community_code"].map(funds.set_index("community_code")[col])
    return comm_out


def _partition_with_restarts(
    g: Graph, *, lo: float, target: float, hi: float, seed: int
) -> np.ndarray:
    """Heuristic partition; when it misses the band, the best of ``RESTARTS`` more seeds.

    Restarts are skipped when an atom alone is above ``hi`` or the total below ``lo`` (the
    band cannot be met anyway). Deterministic: seeds ``seed + 1 .. seed + RESTARTS``.
    """
    lab = partition_graph(g, lo=lo, target=target, hi=hi, seed=seed)

    def miss(labels: np.ndarray) -> float:
        h = np.bincount(labels, weights=g.w)
        return outside(h[h > 0], lo, hi)

    best = miss(lab)
    if best <= 0 or (g.w > hi).any() or g.w.sum() < lo:
        return lab
    for k in range(1, RESTARTS + 1):
        cand = partition_graph(g, lo=lo, target=target, hi=hi, seed=seed + k)
        m = miss(cand)
        if m < best:
            lab, best = cand, m
        if best <= 0:
            break
    return lab


def _absorb_empty(
    geoms: np.ndarray, households: np.ndarray, lab: np.ndarray
) -> tuple[np.ndarray, int]:
    """Give regions without households to a neighbouring region; return labels, MultiPolygons.

    A region with zero households is a separate part of the atom graph with no demand (an
    empty block cut off by lines, an empty part of a MultiPolygon community). It joins the
    nearest region with households whose union with it stays one Polygon; when every such
    union is a MultiPolygon (the piece is not attached to anything) it joins the nearest
    region anyway, so every piece of the community belongs to a grid with households: that
    grid is then a MultiPolygon and ``contiguity_share`` reports it. The second value
    counts those. Labels come back as 0..p-1.
    """
    p = int(lab.max()) + 1 if len(lab) else 0
    hh = np.bincount(lab, weights=households, minlength=p)
    empty = np.flatnonzero(hh <= 0)
    full = np.flatnonzero(hh > 0)
    if len(empty) == 0 or len(full) == 0:
        return lab, 0
    polys = np.empty(p, dtype=object)
    polys[:] = [dissolve(geoms[lab == r]) for r in range(p)]
    lab = lab.copy()
    n_multi = 0
    for r in empty.tolist():
        dist = shapely.distance(polys[r], polys[full])
        order = np.lexsort((full, dist))
        target = -1
        for k in order.tolist():
            if dist[k] > MIN_TOUCH_M:
                break
            merged = shapely.union_all([polys[full[k]], polys[r]])
            if shapely.get_type_id(merged) == 3:
                target = int(full[k])
                break
        if target < 0:
            target = int(full[order[0]])
            merged = shapely.union_all([polys[target], polys[r]])
            n_multi += 1
        polys[target] = merged
        lab[lab == r] = target
    _, lab = np.unique(lab, return_inverse=True)
    return lab, n_multi


def _atom_names(at: Atoms, idx: np.ndarray, compound: np.ndarray, index: pd.Index) -> list[str]:
    """Name every atom for the certificate's proofs: its compound, else its demand row."""
    names = [f"{k} {a}" for a, k in enumerate(at.kind.tolist())]
    for u, a in enumerate(at.unit_atom.tolist()):
        if a < 0:
            continue
        comp = str(compound[idx[u]])
        if comp and at.kind[a] == "compound":
            names[a] = f"compound {comp}"
        elif at.n_units[a] == 1:
            names[a] = f"the building in demand row {index[idx[u]]!s}"
        elif at.kind[a] != "compound":
            names[a] = f"the {at.n_units[a]} buildings of {at.kind[a]} {a}"
    return names


def _polsby_popper(geoms: np.ndarray) -> np.ndarray:
    per = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = 4.0 * math.pi * shapely.area(geoms) / (per * per)
    return np.where(per > 0, pp, np.nan)


# ---------------------------------------------------------------------- quality report


def grid_quality(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | None = None,
    *,
    min_households: float = DEFAULTS.grid_min_households,
    max_households: float = DEFAULTS.grid_max_households,
    infeasible: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Quality report of a grid partition (one row).

    Parameters
    ----------
    grids
        GeoDataFrame with ``community_code`` and ``households``.
    communities
        The community polygons; needed for the tiling check.
    min_households, max_households
        The band.
    infeasible
        The :attr:`GridResult.infeasible` table; its communities are left out of
        ``share_in_band_feasible``.

    Returns
    -------
    DataFrame with ``n_communities``, ``n_grids``, ``share_in_band``,
    ``share_in_band_feasible``, ``households_mean``, ``households_cv``, ``households_min``,
    ``households_max``, ``pp_mean``, ``pp_median``, ``pp_p10``, ``pp_min``,
    ``contiguity_share`` (grids that are one Polygon), ``tiling_gap_rel``,
    ``tiling_overlap_rel`` (areas relative to the communities) and ``tiling_exact``.

    Examples
    --------
    >>> from geogrid.demo import make_district
    >>> d = make_district(n_communities=2, seed=0)
    >>> res = partition(d.communities, d.buildings, network_edges=d.ways, walls=d.walls)
    >>> float(grid_quality(res.grids, d.communities)["share_in_band"].iloc[0])
    1.0

    """
    hh = grids["households"].to_numpy(float)
    geoms = np.asarray(grids.geometry.values, dtype=object)
    inb = (hh >= min_households) & (hh <= max_households)
    bad = set(infeasible["community_code"]) if infeasible is not None and len(infeasible) else set()
    feas = ~grids["community_code"].isin(bad).to_numpy()
    pp = _polsby_popper(geoms) if len(geoms) else np.array([np.nan])
    row = {
        "n_communities": int(grids["community_code"].nunique()),
        "n_grids": len(grids),
        "share_in_band": float(inb.mean()) if len(hh) else float("nan"),
        "share_in_band_feasible": float(inb[feas].mean()) if feas.any() else float("nan"),
        "households_mean": float(hh.mean()) if len(hh) else float("nan"),
        "households_cv": float(hh.std() / hh.mean()) if len(hh) and hh.mean() > 0 else 0.0,
        "households_min": float(hh.min()) if len(hh) else float("nan"),
        "households_max": float(hh.max()) if len(hh) else float("nan"),
        "pp_mean": float(np.nanmean(pp)),
        "pp_median": float(np.nanmedian(pp)),
        "pp_p10": float(np.nanpercentile(pp, 10)),
        "pp_min": float(np.nanmin(pp)),
        "contiguity_share": float((shapely.get_type_id(geoms) == 3).mean()) if len(geoms) else 1.0,
    }
    gap = overlap = float("nan")
    if communities is not None and len(grids):
        cg = communities.to_crs(grids.crs) if communities.crs != grids.crs else communities
        cgeo = dict(zip(cg["community_code"].astype(str), cg.geometry.values, strict=True))
        area_c = gaps = over = 0.0
        for code, sub in grids.groupby("community_code", sort=True):
            c = cgeo.get(str(code))
            if c is None:
                continue
            gg = np.asarray(sub.geometry.values, dtype=object)
            u = shapely.union_all(gg)
            area_c += c.area
            gaps += shapely.area(shapely.difference(c, u)) + shapely.area(shapely.difference(u, c))
            over += float(shapely.area(gg).sum()) - u.area
        gap = gaps / area_c if area_c else float("nan")
        overlap = over / area_c if area_c else float("nan")
    row["tiling_gap_rel"] = gap
    row["tiling_overlap_rel"] = overlap
    row["tiling_exact"] = bool(abs(gap) < TILING_TOL and abs(overlap) < TILING_TOL)
    return pd.DataFrame([row])


# ------------------------------------------------------------------ workload and funds


def workload(
    grids: pd.DataFrame,
    *,
    vulnerable_share: float = 0.10,
    visit_minutes: float = 20.0,
    patrol_minutes_per_day: float = 120.0,
    work_days_per_month: float = 21.75,
    case_minutes_per_week: float = 240.0,
    worker_hours_per_month: float = 174.0,
) -> pd.DataFrame:
    """Monthly workload and grid-worker staffing from the grid-worker duty schedule.

    Duties (Baotou): patrol every day, close cases every week, visit vulnerable households
    every month, visit every other household every quarter.

    Parameters
    ----------
    grids
        Table with ``households``.
    vulnerable_share : share of households that are vulnerable (elderly living alone,
        disabled, low-income, special care) and visited monthly (0.10).
    visit_minutes
        Minutes per household visit, walking between doors included (20).
    patrol_minutes_per_day
        Minutes of patrol per working day (120).
    work_days_per_month
        Working days per month (21.75, the statutory average).
    case_minutes_per_week
        Minutes per week to follow up and close cases (240).
    worker_hours_per_month : working hours of one full-time grid worker per month
        (174 = 21.75 days x 8 h).

    Returns
    -------
    Copy of ``grids`` with ``vulnerable_households`` (whole numbers whose totals per
    community add up), ``visits_month`` (vulnerable monthly plus one third of the others),
    ``workload_h_month``, ``grid_workers`` (full-time workers needed, at least 1) and
    ``worker_load_share`` (workload / (workers x hours)).

    Examples
    --------
    >>> import pandas as pd
    >>> list(workload(pd.DataFrame({"households": [350.0]})).columns)[:3]
    ['households', 'vulnerable_households', 'visits_month']

    """
    if worker_hours_per_month <= 0 or not 0 <= vulnerable_share <= 1:
        msg = (
            f"worker_hours_per_month must be > 0 and vulnerable_share in [0, 1], got "
            f"{worker_hours_per_month!r}, {vulnerable_share!r}; pass valid values"
        )
        raise InputError(msg)
    out = grids.copy()
    hh = out["households"].to_numpy(float)
    # whole households, rounded so that each community's total still adds up
    groups = out["community_code"] if "community_code" in out.columns else None
    vul = round_households(hh * vulnerable_share, groups).astype(float)
    visits = vul + (hh - vul) / 3.0
    hours = (
        visits * visit_minutes
        + patrol_minutes_per_day * work_days_per_month
        + case_minutes_per_week * 52.0 / 12.0
    ) / 60.0
    workers = np.maximum(1, np.ceil(hours / worker_hours_per_month - 1e-9)).astype(int)
    out["vulnerable_households"] = vul.astype(np.int64)
    out["visits_month"] = visits
    out["workload_h_month"] = hours
    out["grid_workers"] = workers
    out["worker_load_share"] = hours / (workers * worker_hours_per_month)
    return out


def community_funds(
    table: pd.DataFrame,
    *,
    office_per_household: float = DEFAULTS.funds_office_per_household,
    service_per_household: float = DEFAULTS.funds_service_per_household,
    per_party_member: float = DEFAULTS.funds_per_party_member,
) -> pd.DataFrame:
    """Annual funds per community from the Baotou rules (yuan per year).

    Parameters
    ----------
    table : grids or communities with ``community_code``, ``households`` and
        ``party_members`` (missing party members count as 0); rows are summed per community.
    office_per_household
        Office funds per household (35 yuan).
    service_per_household
        Service funds per household (50 yuan).
    per_party_member
        Activity funds per registered party member (300 yuan).

    Returns
    -------
    DataFrame with ``community_code``, ``households``, ``party_members``,
    ``funds_office_yuan``, ``funds_service_yuan``, ``funds_activity_yuan``,
    ``funds_total_yuan``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"community_code": ["1"], "households": [1000.0], "party_members": [50]})
    >>> community_funds(table)["funds_total_yuan"].tolist()  # 35 + 50 yuan a household, 300 a member
    [100000.0]

    """
    if "community_code" not in table.columns or "households" not in table.columns:
        msg = (
            f"community_funds needs community_code and households columns, got "
            f"{list(table.columns)!r}; pass partition(...).grids"
        )
        raise InputError(msg)
    t = pd.DataFrame(
        {
            "community_code": table["community_code"].astype(str),
            "households": pd.to_numeric(table["households"], errors="coerce").fillna(0.0),
            "party_members": (
                pd.to_numeric(table["party_members"], errors="coerce").fillna(0.0)
                if "party_members" in table.columns
                else 0.0
            ),
        }
    )
    s = t.groupby("community_code", sort=True)[["households", "party_members"]].sum()
    s["funds_office_yuan"] = s["households"] * office_per_household
    s["funds_service_yuan"] = s["households"] * service_per_household
    s["funds_activity_yuan"] = s["party_members"] * per_party_member
    s["funds_total_yuan"] = (
        s["funds_office_yuan"] + s["funds_service_yuan"] + s["funds_activity_yuan"]
    )
    return s.reset_index()


# ---------------------------------------------------------------------------- level 3


def responsibility_areas(
    grid_result: GridResult,
    demand: gpd.GeoDataFrame,
    *,
    min_households: float = 30.0,
    target_households: float = 60.0,
    max_households: float = 100.0,
    seed: int = 0,
) -> gpd.GeoDataFrame:
    """Third level: groups of buildings of about 30-100 households inside each grid.

    One area per party member or building leader (Foshan's practice). Buildings are never
    split; areas are unions of the grid's atoms, so they tile the grid. A single building
    above ``max_households`` (a tower) is an area of its own.

    Parameters
    ----------
    grid_result
        Result of :func:`partition`.
    demand
        The same demand passed to :func:`partition`.
    min_households, target_households, max_households
        The band (30, 60, 100).
    seed
        RNG seed.

    Returns
    -------
    GeoDataFrame with ``area_code`` (grid code + 3-digit sequence in reading order),
    ``grid_code``, ``households``, ``buildings`` (demand units), ``in_band``.

    Examples
    --------
    >>> from geogrid.demo import make_district
    >>> d = make_district(n_communities=2, seed=0)
    >>> res = partition(d.communities, d.buildings, network_edges=d.ways, walls=d.walls)
    >>> areas = responsibility_areas(res, d.buildings)
    >>> bool(areas["area_code"].str.startswith(tuple(res.grids["grid_code"])).all())
    True

    """
    _check_band(min_households, target_households, max_households)
    atoms = grid_result.atoms
    grids = grid_result.grids
    crs = grids.crs
    dem = _demand_table(demand.to_crs(crs), DEFAULTS.household_size)
    assign = grid_result.assignment.reindex(demand.index).to_numpy(dtype=object)
    grid_geoms = dict(zip(grids["grid_code"], grids.geometry.values, strict=True))
    rows = []
    geoms = []
    for gcode in grids["grid_code"]:
        gpoly = grid_geoms[gcode]
        idx = np.flatnonzero(assign == gcode)
        # building cells inside the grid: no compound grouping at this level
        at = _unit_atoms(
            gpoly,
            np.empty(0, dtype=object),
            dem,
            idx,
            compound=np.full(len(idx), "", dtype=object),
            max_households=max_households,
        )
        g = polygon_graph(at.geoms, at.households, hi=max_households)
        lab = partition_graph(
            g, lo=min_households, target=target_households, hi=max_households, seed=seed
        )
        lab, _ = _absorb_empty(at.geoms, at.households, lab)
        p = int(lab.max()) + 1
        polys = np.empty(p, dtype=object)
        polys[:] = [dissolve(at.geoms[lab == r]) for r in range(p)]
        order = _reading_order(polys, gpoly.area)
        hh = np.bincount(lab, weights=at.households, minlength=p)
        nu = np.bincount(lab, weights=at.n_units, minlength=p)
        for k, r in enumerate(order):
            rows.append(
                {
                    "area_code": f"{gcode}{k + 1:03d}",
                    "grid_code": gcode,
                    "households": float(hh[r]),
                    "buildings": int(nu[r]),
                }
            )
            geoms.append(polys[r])
    out = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)
    if len(out):
        out["in_band"] = (out["households"] >= min_households) & (
            out["households"] <= max_households
        )
    del atoms
    return out
