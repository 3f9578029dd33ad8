"""End-to-end runs behind the command line: inputs -> study area -> analyses -> output files.

Every output is written atomically (a temporary file beside the target, then a rename), so an
interrupted run never leaves a half-written file where a complete one was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geogrid.crs import SHIFTED, far_from_centre, in_china, parse_crs, to_wgs84
from geogrid.errors import CRSError, InputError
from geogrid.io.osm import read_osm
from geogrid.io.readers import read_layer
from geogrid.network.build import WalkNetwork, build_network
from geogrid.network.snap import Snap, snap_points
from geogrid.settings import DEFAULTS, Settings
from geogrid.study.demand import prepare_demand
from geogrid.study.exclusions import Exclusions, row_ids
from geogrid.study.facilities import prepare_facilities

log = logger = logging.getLogger(__name__)


_OSM_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")


@dataclass
class StudyArea:
    """Network, demand, facilities and (optionally) communities in one metric CRS.

    Build it with :func:`load_study` (or :func:`geogrid.load_demo`); every analysis verb
    (:func:`geogrid.coverage`, :func:`geogrid.grids`, :func:`geogrid.site`) takes it, and
    the demand and facilities are prepared and snapped once for all of them.

    Attributes
    ----------
    network : WalkNetwork or None
        The walking network; its CRS is the study's metric CRS. None for a study of demand
        and communities only (what grids need), whose CRS is then the demand's.
    demand, facilities, communities : GeoDataFrame
        The prepared layers (households estimated, ids and types completed).
    extra : dict of str to GeoDataFrame
        Demand tables (compound matches, registry zones), written as ``demand_sources.gpkg``.
    excluded : Exclusions
        Every input row left out, with its reason.
    demand_report : dict
        Per-source counts of the demand.
    context : dict of str to GeoDataFrame
        Layers that shape the analyses and the maps: ``streets``, ``district`` (outlines),
        ``compounds``, ``gates`` (siting's candidate pool), ``walls`` (grid boundaries).
    settings : Settings
        The settings the study was prepared with; the analyses' default.

    Examples
    --------
    >>> study = load_study(network="city.osm.pbf", demand="city.osm.pbf")  # doctest: +SKIP
    >>> study.summary()["households"]  # doctest: +SKIP

    """

    network: WalkNetwork | None
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame | None = None
    communities: gpd.GeoDataFrame | None = None
    extra: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    excluded: Exclusions = field(default_factory=Exclusions)
    demand_report: dict[str, Any] = field(default_factory=dict)
    context: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    settings: Settings = DEFAULTS
    _snaps: dict[tuple[str, float], tuple[Any, Any, Snap]] = field(default_factory=dict, repr=False)

    @property
    def crs(self) -> Any:
        """The study area's CRS: the network's (metric), else the demand's."""
        return self.network.crs if self.network is not None else self.demand.crs

    def __repr__(self) -> str:
        n_fac = 0 if self.facilities is None else len(self.facilities)
        n_com = 0 if self.communities is None else len(self.communities)
        hh = float(self.demand["households"].sum()) if "households" in self.demand else 0.0
        net = "no network" if self.network is None else f"{self.network.n_edges:,} edges"
        crs = "none" if self.crs is None else pyproj.CRS(self.crs).to_string()
        return (
            f"<StudyArea {hh:,.0f} households in {len(self.demand):,} units; {n_fac} "
            f"facilities; {n_com} communities; {net}; CRS {crs}>"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"

    def walk_network(self) -> WalkNetwork:
        """Return the walking network, or say how to give one.

        Returns
        -------
        WalkNetwork

        Raises
        ------
        InputError
            The study was loaded without a network (``load_study(network=None)``).

        Examples
        --------
        >>> study.walk_network().summary()  # doctest: +SKIP

        """
        if self.network is None:
            msg = "this analysis needs the walking network; pass network= to load_study"
            raise InputError(msg)
        return self.network

    def snap(self, what: str, network: WalkNetwork | None = None, *, max_snap_m: float) -> Snap:
        """Snap the demand or the facilities to ``network`` once; later calls reuse it.

        Parameters
        ----------
        what : {"demand", "facilities"}
            Which prepared layer to snap.
        network : WalkNetwork, optional
            The study's network (default) or a variant of it under another private-path rule
            (:meth:`WalkNetwork.with_private`); variants sharing the edges share the snap.
        max_snap_m : float
            Legs longer than this are flagged ``far``.

        Returns
        -------
        Snap

        Examples
        --------
        >>> snap = study.snap("demand", max_snap_m=300.0)  # doctest: +SKIP

        """
        net = self.network if network is None else network
        if net is None:
            msg = "the study area has no walking network; pass network= to load_study"
            raise InputError(msg)
        layer = {"demand": self.demand, "facilities": self.facilities}.get(what)
        if layer is None:
            msg = f"the study area has no {what} layer to snap; pass {what}= to load_study"
            raise InputError(msg)
        key = (what, float(max_snap_m))
        cached = self._snaps.get(key)
        if cached is None or cached[0] is not net.edges or cached[1] is not layer:
            cached = (net.edges, layer, snap_points(net, layer, max_snap_m=max_snap_m))
            self._snaps[key] = cached  # one entry per layer: a replaced layer is snapped anew
        return cached[2]

    def summary(self) -> dict[str, Any]:
        """Headline counts: households, population, network size, facilities by type.

        Returns
        -------
        dict
            ``households``, ``population``, ``demand_units``, ``network_*`` and facility counts.

        Examples
        --------
        >>> study = geogrid.load_demo(n_communities=2)  # doctest: +SKIP
        >>> study.summary()["households"]  # doctest: +SKIP

        """
        out: dict[str, Any] = {
            "households": int(round(float(self.demand["households"].sum()))),
            "population": int(round(float(self.demand["population"].sum()))),
            "demand_units": len(self.demand),
        }
        if self.network is not None:
            out.update({f"network_{k}": v for k, v in self.network.summary().items()})
        if self.facilities is not None:
            counts = self.facilities["type"].value_counts().sort_index()
            out["facilities"] = {str(k): int(v) for k, v in counts.items()}
        if self.communities is not None:
            out["communities"] = len(self.communities)
        rep = self.demand_report
        if rep.get("sources"):
            out["demand_sources"] = {
                k: {"units": int(v["units"]), "households": int(v["households"])}
                for k, v in rep["sources"].items()
            }
        for key in ("residential_basis", "compounds", "registry", "rasters"):
            if key in rep:
                out[f"demand_{key}"] = rep[key]
        if self.excluded:
            out["excluded_rows"] = self.excluded.summary()
            out["excluded_households"] = round(self.excluded.households("demand"), 1)
        return out

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layers for ``study.gpkg``.

        Returns
        -------
        dict of str to GeoDataFrame
            Communities, demand, facilities and the walking network's edges.

        Examples
        --------
        >>> sorted(geogrid.load_demo(n_communities=2).layers())  # doctest: +SKIP

        """
        out: dict[str, gpd.GeoDataFrame] = {}
        if self.communities is not None:
            out["communities"] = self.communities
        out["demand"] = self.demand
        if self.facilities is not None:
            out["facilities"] = self.facilities
        if self.network is not None:
            out["network_edges"] = self.network.edges.drop(columns=["way"], errors="ignore")
        out.update(self.extra)
        out.update({k: v for k, v in self.context.items() if k not in _NOT_STUDY_LAYERS})
        if self.excluded:
            out["excluded"] = self.excluded.frame(self.crs)
        return out


#: Context layers kept out of ``study.gpkg`` (the demo's walls only shape its grids).
_NOT_STUDY_LAYERS = frozenset({"walls"})

#: Columns of the ``excluded`` layer: input layer, original id (or row number), reason, geometry.
EXCLUDED_COLUMNS: tuple[str, ...] = ("layer", "source_id", "reason", "geometry")
_ID_COLUMNS = ("building_id", "facility_id", "unit_id", "osmid", "id", "fid")


def excluded_rows(layer: str, rows: gpd.GeoDataFrame, reason: str) -> gpd.GeoDataFrame:
    """Rows left out of an analysis as an ``excluded`` frame (EPSG:4326), one reason each.

    ``source_id`` is the row's id column (``building_id``, ``facility_id``, ``osmid``, ``id``)
    when it has one, else its row number in the input.
    """
    id_col = next((c for c in _ID_COLUMNS if c in rows.columns), None)
    ids = rows[id_col] if id_col is not None else pd.Series(rows.index, index=rows.index)
    geom = rows.geometry
    if rows.crs is not None:
        geom = geom.to_crs("EPSG:4326")
    return gpd.GeoDataFrame(
        {
            "layer": layer,
            "source_id": ids.astype(str).to_numpy(),
            "reason": reason,
        },
        geometry=np.asarray(geom.values),
        crs="EPSG:4326",
    )


def _split_far(
    gdf: gpd.GeoDataFrame, far: np.ndarray, what: str, reason: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Return (kept rows, ``excluded`` frame of the far ones), with one warning giving the count."""
    log.warning(
        "dropped %d of %d %s features %s (listed in the 'excluded' layer); check their coordinates",
        int(far.sum()),
        len(gdf),
        what,
        reason,
    )
    return gdf.loc[~far], excluded_rows(what, gdf.loc[far], reason)


#: A feature farther than this beyond the network's extent is outside the study area
#: (or this share of the extent's diagonal, when larger).
OUTLIER_MARGIN_M = 2000.0
OUTLIER_MARGIN_SHARE = 0.1


def _drop_far(
    gdf: gpd.GeoDataFrame, net: WalkNetwork, what: str
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Drop features far outside the network's extent; return (kept, excluded)."""
    from geogrid.network.snap import representative_points

    x0, y0, x1, y1 = net.edges.total_bounds
    margin = max(OUTLIER_MARGIN_M, OUTLIER_MARGIN_SHARE * float(np.hypot(x1 - x0, y1 - y0)))
    with np.errstate(all="ignore"):
        pts = representative_points(gdf.to_crs(net.crs))
        xy = shapely.get_coordinates(pts)
        dx = np.maximum(np.maximum(x0 - xy[:, 0], xy[:, 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - xy[:, 1], xy[:, 1] - y1), 0.0)
        dist = np.hypot(dx, dy)
    far = ~np.isfinite(dist) | (dist > margin)
    if not far.any():
        return gdf, excluded_rows(what, gdf.iloc[:0], "")
    if far.all():
        msg = (
            f"none of the {len(gdf)} {what} features lies within {margin / 1000:.1f} km of the "
            "network; check the layer's coordinate system (metres labelled as lon/lat? "
            "swapped axes?) or pass the network of the same area"
        )
        raise InputError(msg)
    reason = f"outside the study area: more than {margin / 1000:.1f} km beyond the network"
    return _split_far(gdf, far, what, reason)


#: Without a network, a feature is an outlier when it lies farther from the layer's median
#: point than this many times the median distance (and at least ``SELF_OUTLIER_MIN_KM``).
SELF_OUTLIER_FACTOR = 10.0
SELF_OUTLIER_MIN_KM = 30.0


def drop_outliers(gdf: gpd.GeoDataFrame, what: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Drop features far from the rest of their own layer (a stray point at 0, 0).

    Used when there is no network to compare with. A feature counts as far when its distance
    to the layer's median lon/lat exceeds ``SELF_OUTLIER_FACTOR`` times the median distance and
    ``SELF_OUTLIER_MIN_KM``. Returns the kept rows and an ``excluded`` frame of the others;
    a warning gives the count.
    """
    from geogrid.network.snap import representative_points

    if gdf.crs is None or len(gdf) < 3:
        return gdf, excluded_rows(what, gdf.iloc[:0], "")
    with np.errstate(all="ignore"):
        xy = shapely.get_coordinates(representative_points(gdf.to_crs("EPSG:4326")))
    far, limit = far_from_centre(
        xy[:, 0], xy[:, 1], factor=SELF_OUTLIER_FACTOR, min_km=SELF_OUTLIER_MIN_KM
    )
    if not far.any():
        return gdf, excluded_rows(what, gdf.iloc[:0], "")
    reason = f"outside the study area: more than {limit:.0f} km from the rest of the layer"
    return _split_far(gdf, far, what, reason)


#: A layer is taken to be in a shifted system when moving it back fits the network this much
#: better: building footprints crossing streets or lying off them fall to a third (from at least
#: 10 %), or the mean point-to-street distance (capped at 150 m) falls by a quarter and at least 10 m.
#: A layer counts as polygons when at least this share of its features are polygons.
_POLYGON_MAJORITY = 0.5
#: Metres a shift must bring features closer to the streets, at least, to be believed.
_SHIFT_MIN_GAIN_M = 10.0
_SHIFT_CROSS_MIN = 0.10
_SHIFT_CROSS_RATIO = 1 / 3
_SHIFT_DIST_RATIO = 0.75
_SHIFT_DIST_CAP_M = 150.0
_SHIFT_SAMPLE = 5000
#: A footprint with no street this close counts as a bad fit too, so that moving a layer off a
#: small network (where it crosses nothing) never looks like a better fit.
_SHIFT_NEAR_M = 100.0


def _fit(geoms: np.ndarray, net: WalkNetwork, polygons: bool) -> float:
    """How badly ``geoms`` (in the network CRS) sit on the streets: lower is better."""
    if polygons:
        hit = net.tree.query(geoms, predicate="intersects")
        near = net.tree.query(geoms, predicate="dwithin", distance=_SHIFT_NEAR_M)
        crossing = len(np.unique(hit[0]))
        off_network = len(geoms) - len(np.unique(near[0]))
        return float(crossing + off_network) / len(geoms)
    _, dist = net.tree.query_nearest(geoms, return_distance=True, all_matches=False)
    return float(np.mean(np.minimum(dist, _SHIFT_DIST_CAP_M)))


def _check_shift(gdf: gpd.GeoDataFrame, net: WalkNetwork, what: str) -> None:
    """Refuse a lon/lat layer that fits the network far better once moved from GCJ-02/BD-09."""
    wgs = gdf.to_crs("EPSG:4326")
    step = max(1, len(wgs) // _SHIFT_SAMPLE)
    wgs = wgs.iloc[::step]
    geoms = np.asarray(wgs.geometry.values)
    polygons = bool((shapely.get_type_id(geoms) >= 3).mean() >= _POLYGON_MAJORITY)
    if len(wgs) < (20 if polygons else 5):
        return
    centre = shapely.get_coordinates(shapely.centroid(shapely.union_all(shapely.envelope(geoms))))
    if not bool(np.asarray(in_china(centre[:, 0], centre[:, 1])).all()):
        return

    def fit(frame: gpd.GeoDataFrame) -> float:
        return _fit(np.asarray(frame.to_crs(net.crs).geometry.values), net, polygons)

    as_is = fit(wgs)
    scores = {name: fit(to_wgs84(wgs, name)) for name in ("gcj02", "bd09")}
    best = min(scores, key=lambda k: scores[k])
    if polygons:
        shifted = as_is >= _SHIFT_CROSS_MIN and scores[best] <= as_is * _SHIFT_CROSS_RATIO
        detail = (
            f"{as_is:.0%} of footprints cross streets or lie off them, "
            f"{scores[best]:.0%} once moved back"
        )
    else:
        shifted = (
            scores[best] <= as_is * _SHIFT_DIST_RATIO and as_is - scores[best] >= _SHIFT_MIN_GAIN_M
        )
        detail = f"mean distance to streets {as_is:.0f} m, {scores[best]:.0f} m once moved back"
    if shifted:
        source = {"gcj02": "GCJ-02 (Amap/Tencent)", "bd09": "BD-09 (Baidu)"}[best]
        flag = {"demand": "--demand-crs", "facilities": "--facilities-crs"}.get(what, "--crs")
        msg = (
            f"the {what} layer says WGS84 but sits on the streets as {source} coordinates do "
            f"({detail}); pass {flag} {best}, or {flag} wgs84 if it really is WGS84"
        )
        raise CRSError(msg)


def _asserted_wgs84(value: Any) -> bool:
    """Whether a per-layer CRS option states plain lon/lat (so no shift check is made)."""
    if value is None:
        return False
    parsed = parse_crs(value)
    return not isinstance(parsed, str) and bool(parsed.is_geographic)


def _screen(
    gdf: gpd.GeoDataFrame,
    net: WalkNetwork,
    what: str,
    *,
    check_shift: bool,
    excluded: list[gpd.GeoDataFrame],
) -> gpd.GeoDataFrame:
    """Drop far-away features and refuse a layer in a shifted system labelled WGS84."""
    if gdf.crs is None:
        return gdf
    kept, far = _drop_far(gdf, net, what)
    excluded.append(far)
    if (
        check_shift
        and pyproj.CRS(kept.crs).is_geographic
        and kept.attrs.get("source_crs") not in SHIFTED
    ):
        _check_shift(kept, net, what)
    return kept


def _is_osm(path: Path) -> bool:
    return path.name.lower().endswith(_OSM_SUFFIXES)


def _is_path_osm(value: Any) -> bool:
    return isinstance(value, (str, Path)) and _is_osm(Path(value))


def _layer(
    path: str | Path | None,
    *,
    crs: Any = None,
    what: str,
    exclusions: Exclusions | None = None,
) -> gpd.GeoDataFrame | None:
    if path is None:
        return None
    p = Path(str(path).split("|layername=", 1)[0])
    if not p.exists():
        msg = f"{what} file {str(p)!r} does not exist; check the path"
        raise InputError(msg)
    if _is_osm(p):
        osm = read_osm(p)
        if what == "demand":
            return osm.buildings
        if what == "facilities":
            return osm.pois
        msg = f"an OSM file cannot be used as {what}; pass a GeoPackage, GeoJSON, Shapefile or CSV"
        raise InputError(msg)
    gdf = read_layer(path, crs=crs)
    dropped = gdf.attrs.pop("rows_without_geometry", None)
    if dropped and exclusions is not None:
        rows = pd.DataFrame(dropped)
        ids = row_ids(rows, ("unit_id", "building_id", "facility_id", "id", "osmid", "_row_number"))
        exclusions.add(rows, layer=what, reason="empty geometry", ids=ids)
    return gdf


def prepare_communities(communities: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Project communities to ``crs`` and check their codes: present and unique.

    Raises
    ------
    InputError
        No ``community_code`` column, or a code used by more than one row (every code
        repeated is named), which would show one community's figures under another's name.

    """
    if "community_code" not in communities.columns:
        msg = "communities need a 'community_code' column (12 digits); rename the code column"
        raise InputError(msg)
    com = communities.to_crs(crs)
    code = com["community_code"]
    blank = code.isna() | (code.astype(str).str.strip() == "")
    if blank.any():
        msg = (
            f"{int(blank.sum())} communities have no community_code (rows "
            f"{', '.join(str(i) for i in np.flatnonzero(blank.to_numpy())[:5])}); fill them in"
        )
        raise InputError(msg)
    com["community_code"] = code.astype(str).str.strip()
    counts = com["community_code"].value_counts()
    dup = counts[counts > 1]
    if len(dup):
        shown = ", ".join(f"{c} ({n} rows)" for c, n in sorted(dup.items())[:8])
        more = f" and {len(dup) - 8} more" if len(dup) > 8 else ""
        msg = (
            f"community_code {shown}{more} appear more than once; give each community its own "
            "code, or dissolve the rows of one community into one polygon"
        )
        raise InputError(msg)
    return com


def source_ids(demand: gpd.GeoDataFrame) -> pd.Series:
    """Return the input ids of prepared demand units, as the ``excluded`` layer names them.

    The column :func:`geogrid.demand.prepare_demand` took ids from (``building_id``,
    ``osmid``...), else ``unit_id``.
    """
    col = demand.attrs.get("source_id_column", "unit_id")
    return demand[col if col in demand.columns else "unit_id"].astype(str)


def residential_units(demand: gpd.GeoDataFrame, exclusions: Exclusions) -> gpd.GeoDataFrame:
    """Keep the demand units that hold households; record the others in ``exclusions``.

    Buildings tagged non-residential (see :data:`geogrid.demand.NON_RESIDENTIAL`) are
    excluded as ``non-residential building``, other units with no household as ``zero
    households``. ``demand`` comes from :func:`geogrid.demand.prepare_demand`.
    """
    ids = source_ids(demand)
    out = demand
    if "residential" in out.columns:
        nonres = ~out["residential"].astype(bool).to_numpy()
        out = exclusions.drop(
            out, nonres, layer="demand", reason="non-residential building", ids=ids
        )
        if nonres.any():
            log.info("left out %d non-residential buildings (no households)", int(nonres.sum()))
    zero = (out["households"] <= 0).to_numpy()
    if zero.any():
        log.warning("%d demand units have no households: left out of the analysis", int(zero.sum()))
    out = exclusions.drop(out, zero, layer="demand", reason="zero households", ids=ids)
    return out.reset_index(drop=True)


def read_input(
    path: str | Path | None,
    *,
    crs: Any = None,
    what: str,
    exclusions: Exclusions | None = None,
) -> gpd.GeoDataFrame | None:
    """Read one input layer as the command line does (None when ``path`` is None).

    Parameters
    ----------
    path : path-like or None
        A GeoPackage (``file.gpkg|layername=x``), GeoJSON, Shapefile, CSV or Excel file; an
        OSM file gives its buildings (``what="demand"``) or points of interest
        (``what="facilities"``).
    crs : optional
        CRS of a layer that has none (CSV, Excel), e.g. ``"gcj02"``.
    what : str
        What the layer is, for messages and the ``excluded`` layer (``"demand"``...).
    exclusions : Exclusions, optional
        Receives the rows without geometry.

    Returns
    -------
    GeoDataFrame or None

    Examples
    --------
    >>> gates = read_input("gates.gpkg", what="gates")  # doctest: +SKIP

    """
    return _layer(path, crs=crs, what=what, exclusions=exclusions)


def load_study(
    *,
    network: str | Path | WalkNetwork | None,
    demand: str | Path | gpd.GeoDataFrame,
    facilities: str | Path | gpd.GeoDataFrame | None = None,
    communities: str | Path | gpd.GeoDataFrame | None = None,
    crs: Any = None,
    demand_crs: Any = None,
    facilities_crs: Any = None,
    communities_crs: Any = None,
    keep_private: bool = True,
    residential: str | Path | gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULTS,
    private: str | None = None,
    compounds: str | Path | gpd.GeoDataFrame | None = None,
    compounds_crs: Any = None,
    population: Any = None,
    registry: str | Path | gpd.GeoDataFrame | None = None,
    registry_crs: Any = None,
    residential_rule: str = "evidence",
    residential_column: str | None = None,
    study_area: Any = None,
    facility_type_column: str | None = None,
    facility_type: str | None = None,
) -> StudyArea:
    """Read and project every input once; households are estimated where missing.

    Every demand and facility row ends in ``demand``/``facilities`` or in ``excluded`` (with
    its reason: non-residential building, zero area, empty geometry, duplicate...).

    Parameters
    ----------
    network : path or WalkNetwork
        An OSM file (``.osm``, ``.osm.pbf``...), a GraphML file or a built network.
    demand : path or GeoDataFrame
        Buildings or points with (or without) ``households``; an OSM file brings its land use
        and POIs as evidence for the housing decision.
    facilities, communities : path or GeoDataFrame, optional
        Party-mass service facilities and community polygons.
    crs : int, str or pyproj.CRS, optional
        CRS of any layer without its own (CSV and Excel have none).
    demand_crs, facilities_crs, communities_crs, compounds_crs, registry_crs : optional
        Per-layer CRSs overriding ``crs``, e.g. ``facilities_crs="gcj02"`` for points copied
        from Amap.
    keep_private : bool
        Deprecated: ``False`` is ``private="none"``.
    residential : path or GeoDataFrame, optional
        Compound / ``landuse=residential`` polygons: whose private paths are kept when the
        network is not an OSM file (an OSM file brings its own).
    settings : Settings
        Defaults for every analysis.
    private : {"residents", "all", "none"}, optional
        Who walks private compound paths (default ``"residents"``: trips to or from that gated
        compound).
    compounds : path or GeoDataFrame, optional
        A compound table of points or polygons with ``households`` (see
        :func:`geogrid.study.demand.prepare_demand`).
    population : str or list of str, optional
        GeoTIFF path, or ``["adults.tif", "elderly=old.tif"]``.
    registry : path or GeoDataFrame, optional
        Zones with ``households`` or ``population``.
    residential_rule, residential_column : str
        The housing decision on ``building=yes`` (see :mod:`geogrid.study.residential`).
    study_area : Polygon, GeoDataFrame or path, optional
        Bounds raster totals (a polygon in the network's CRS, or a polygon layer or file).
    facility_type_column : str, optional
        The facility layer's type column when it is not ``type``.
    facility_type : str, optional
        The type of facilities without one.

    Returns
    -------
    StudyArea
        Prepared once: the matched compound and registry tables in ``study.extra``, per-source
        counts in ``study.demand_report``.

    Examples
    --------
    >>> study = geogrid.load_study(network="district.osm.pbf", demand="buildings.gpkg",
    ...                            facilities="centres.csv", crs="gcj02")  # doctest: +SKIP
    >>> study.summary()["households"]  # doctest: +SKIP

    """
    excl = Exclusions()
    res = (
        residential
        if isinstance(residential, gpd.GeoDataFrame) or residential is None
        else _layer(residential, crs=crs, what="residential")
    )
    net = _network(network, keep_private=keep_private, private=private, residential=res)
    evidence: dict[str, Any] = {}
    if isinstance(demand, gpd.GeoDataFrame):
        dem = demand
    elif _is_osm(Path(demand)) and Path(demand).exists():
        dem, evidence = _osm_demand(Path(demand))
    else:
        dem = _layer(demand, crs=demand_crs or crs, what="demand", exclusions=excl)
    if not evidence and isinstance(network, str | Path) and _is_osm(Path(network)):
        evidence = _osm_demand(Path(network))[1]  # the network's land use and POIs
    if res is not None and "landuse" not in evidence:
        evidence["landuse"] = res
    fac = (
        facilities
        if isinstance(facilities, gpd.GeoDataFrame) or facilities is None
        else _layer(facilities, crs=facilities_crs or crs, what="facilities", exclusions=excl)
    )
    com = (
        communities
        if isinstance(communities, gpd.GeoDataFrame) or communities is None
        else _layer(communities, crs=communities_crs or crs, what="communities")
    )
    sources = _demand_sources(compounds, compounds_crs or crs, registry, registry_crs or crs, com)
    if study_area is not None and not hasattr(study_area, "geom_type"):
        study_area = _outline(study_area, crs=crs, target=None if net is None else net.crs)
    if dem is None:
        msg = "no demand layer given; pass buildings, compounds or points with households"
        raise InputError(msg)
    excluded: list[gpd.GeoDataFrame] = []
    if net is None:  # no network to compare with: far from the rest of the layer
        dem, far = drop_outliers(dem, "demand")
        excluded.append(far)
    else:
        dem = _screen(
            dem,
            net,
            "demand",
            check_shift=not (_is_path_osm(demand) or _asserted_wgs84(demand_crs)),
            excluded=excluded,
        )
    if fac is not None and net is not None:
        fac = _screen(
            fac,
            net,
            "facilities",
            check_shift=not (_is_path_osm(facilities) or _asserted_wgs84(facilities_crs)),
            excluded=excluded,
        )
    for frame in excluded:
        excl.add_frame(frame)
    dem = prepare_demand(
        dem,
        settings=settings,
        crs=None if net is None else net.crs,
        population=population,
        residential_rule=residential_rule,
        residential_column=residential_column,
        study_area=study_area,
        **evidence,
        **sources,
        exclusions=excl,
    )
    tables = dict(dem.attrs.get("demand_tables", {}))
    report = dict(dem.attrs.get("demand_report", {}))
    if fac is not None:
        fac = prepare_facilities(
            fac,
            crs=dem.crs if net is None else net.crs,
            type_column=facility_type_column,
            default_type=facility_type,
            exclusions=excl,
        )
    if com is not None:
        com = prepare_communities(com, dem.crs if net is None else net.crs)
    return StudyArea(
        network=net,
        demand=dem,
        facilities=fac,
        communities=com,
        excluded=excl,
        extra=tables,
        demand_report=report,
        context={} if res is None else {"compounds": res},
        settings=settings,
    )


def _network(
    network: str | Path | WalkNetwork | None,
    *,
    keep_private: bool,
    private: str | None,
    residential: gpd.GeoDataFrame | None,
) -> WalkNetwork | None:
    """Return the study's network: built from a file, a given one under ``private``, or None."""
    if network is None:
        return None  # demand and communities only (grids)
    if isinstance(network, WalkNetwork):
        return network.with_private(private) if private is not None else network
    kw: dict[str, Any] = {"keep_private": keep_private, "private": private}
    if residential is not None:
        kw["residential"] = residential
    return build_network(network, **kw)


def _outline(area: Any, *, crs: Any, target: Any) -> Any:
    """Return the union of a study-area layer (path or GeoDataFrame) in ``target``'s CRS."""
    layer = area if isinstance(area, gpd.GeoDataFrame) else _layer(area, crs=crs, what="area")
    if layer is None or len(layer) == 0:
        msg = "the study area layer is empty; pass a polygon file such as the street boundary"
        raise InputError(msg)
    geom = (layer if target is None else layer.to_crs(target)).geometry.union_all()
    if geom.area <= 0:
        msg = "the study area has no polygon; pass a polygon file such as the street boundary"
        raise InputError(msg)
    return geom


def _osm_demand(path: Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Read the buildings of an OSM file, with its land use and POIs as housing evidence."""
    from geogrid.study.residential import read_landuse

    osm = read_osm(path)
    return osm.buildings, {"landuse": read_landuse(path), "pois": osm.pois}


def _demand_sources(
    compounds: Any, compounds_crs: Any, registry: Any, registry_crs: Any, communities: Any
) -> dict[str, Any]:
    """Read the compound table and registry zones when paths are given."""
    from geogrid.study.demand_sources import read_compounds, read_registry

    out: dict[str, Any] = {}
    if compounds is not None:
        out["compounds"] = (
            compounds
            if isinstance(compounds, gpd.GeoDataFrame)
            else read_compounds(compounds, crs=compounds_crs)
        )
    if registry is not None:
        out["registry"] = (
            registry
            if isinstance(registry, gpd.GeoDataFrame)
            else read_registry(registry, crs=registry_crs, communities=communities)
        )
    return out
