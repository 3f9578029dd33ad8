"""Households, population and party members per demand unit.

Sources, in order of precedence (see :func:`prepare_demand`):

(d) registry totals (community, street or township zones with ``households`` or
    ``population``) scale the estimates inside each zone to the known total;
(c) compound tables (points or polygons with ``households``) replace the estimates of the
    residential buildings inside or near each compound (``geogrid._demand_sources``);
(b) population rasters are spread over residential buildings by floor area (dasymetric);
(a) otherwise residential buildings are estimated as
    ``footprint_m2 x storeys x net_to_gross x occupancy_rate / dwelling_m2`` (0.75, 1.0 and
    90 m2 by default), with storeys from ``building:levels`` / ``levels``, else a
    ``Floor``/``floors`` column, else ``height / 3 m``, else a default by building type
    (``settings.default_levels``). Which buildings are housing is decided from the evidence
    in the data (``geogrid._residential``): ``building=yes`` is not taken on trust.

A unit with only ``population`` gets ``population / household_size`` households (2.62, 7th
census), one with only ``households`` gets ``households * household_size`` persons. Output
``households`` and ``population`` are whole numbers (largest remainder per community,
:func:`geogrid.households.round_households`); ``households_est`` keeps the fraction.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.network.snap import representative_points
from geogrid.settings import DEFAULTS, Settings
from geogrid.study.exclusions import Exclusions, id_column, row_ids

__all__ = [
    "MAX_UNIT_HOUSEHOLDS",
    "NON_RESIDENTIAL",
    "apply_overrides",
    "clean_geometries",
    "drop_duplicates",
    "estimate_households",
    "prepare_demand",
]

log = logging.getLogger(__name__)

#: Building tags that never hold households.
NON_RESIDENTIAL = frozenset(
    {
        "commercial",
        "retail",
        "office",
        "industrial",
        "warehouse",
        "school",
        "university",
        "college",
        "kindergarten",
        "hospital",
        "church",
        "temple",
        "mosque",
        "civic",
        "government",
        "public",
        "train_station",
        "transportation",
        "parking",
        "garage",
        "garages",
        "roof",
        "shed",
        "hotel",
        "supermarket",
        "sports_hall",
        "stadium",
        "service",
        "construction",
        "kiosk",
        "toilets",
        "bridge",
        "ruins",
        "greenhouse",
    }
)
#: More households than this in one demand unit is refused as implausible (the largest
#: Chinese compounds hold a few tens of thousands; Beijing's 480 listed compounds at most 6,968).
MAX_UNIT_HOUSEHOLDS: float = 50_000.0

#: Columns that hold a demand row's own id, in order of preference (else its row number).
_DEMAND_IDS = ("unit_id", "building_id", "id", "osmid")
_LEVEL_COLS = ("building:levels", "levels", "building_levels")
_FLOOR_COLS = ("Floor", "floor", "floors", "Floors", "storeys", "层数")
_HEIGHT_COLS = ("height", "Height", "building:height", "高度")


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(str).str.extract(r"([-+]?\d*\.?\d+)")[0], errors="coerce")


def estimate_households(
    buildings: gpd.GeoDataFrame, *, settings: Settings = DEFAULTS, crs: Any = None
) -> gpd.GeoDataFrame:
    """Estimate households and population of building footprints.

    Returns a copy (in a metric CRS) with ``footprint_m2``, ``levels_used``, ``levels_source``
    (``levels`` / ``floors`` / ``height`` / ``default``), ``residential``, ``households``
    and ``population``. Non-residential tags (:data:`NON_RESIDENTIAL`) get 0 households.
    """
    if buildings.crs is None:
        msg = "buildings have no coordinate system; pass crs= when reading or call .set_crs(...)"
        raise InputError(msg)
    out = to_metric(buildings, crs).copy()
    polys = out.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polys.all():
        msg = f"{int((~polys).sum())} buildings are not polygons; pass footprints, or points with a households column"
        raise InputError(msg)
    out["footprint_m2"] = out.geometry.area
    levels = pd.Series(np.nan, index=out.index)
    source = pd.Series("default", index=out.index, dtype=object)
    for cols, name, scale in (
        (_HEIGHT_COLS, "height", 1.0 / settings.storey_height_m),
        (_FLOOR_COLS, "floors", 1.0),
        (_LEVEL_COLS, "levels", 1.0),
    ):
        for col in cols:
            if col in out.columns:
                val = _numeric(out[col]) * scale
                if name == "height":
                    val = np.floor(val).clip(lower=1)
                good = val.notna() & (val > 0)
                levels = levels.where(~good, val)
                source = source.where(~good, name)
    tag = (
        out["building"].astype(object)
        if "building" in out.columns
        else pd.Series("yes", index=out.index)
    )
    tag = tag.where(tag.notna(), "yes").astype(str)
    default = tag.map(
        lambda t: settings.default_levels.get(t, settings.default_levels.get("yes", 3))
    )
    levels = levels.where(levels.notna(), default).astype(float)
    nonres = tag.isin(NON_RESIDENTIAL)
    out["residential"] = ~nonres
    out["levels_used"] = levels
    out["levels_source"] = source
    hh = (
        out["footprint_m2"]
        * levels
        * settings.net_to_gross
        * settings.occupancy_rate
        / settings.dwelling_m2
    )
    out["demand_source"] = np.where(source == "default", "default_storeys", "storeys")
    out["households"] = hh.where(~nonres, 0.0).round(2)
    out["population"] = (out["households"] * settings.household_size).round(2)
    counts = source.value_counts().to_dict()
    fell_back = int(((source == "default") & ~nonres).sum())
    out.attrs["demand_report"] = {
        "units": len(out),
        "residential_units": int((~nonres).sum()),
        "households": float(out["households"].sum()),
        "population": float(out["population"].sum()),
        "levels_source": {str(k): int(v) for k, v in counts.items()},
        "fell_back_to_default": fell_back,
    }
    log.info(
        "estimated %.0f households in %d buildings (%d residential used default storeys)",
        out["households"].sum(),
        len(out),
        fell_back,
    )
    return out


def apply_overrides(
    units: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    columns: tuple[str, ...] = ("households", "population", "party_members"),
    settings: Settings = DEFAULTS,
) -> gpd.GeoDataFrame:
    """Spread zone totals (compound or community registry figures) over the units inside.

    Each zone's given total replaces the estimates of the units whose representative point
    lies inside it, in proportion to their current households (floor area). Zones with a
    total but no unit inside are reported in ``attrs["zones_without_units"]``.
    """
    out = units.copy()
    z = to_metric(zones, out.crs)
    pts = gpd.GeoDataFrame(geometry=representative_points(out), crs=out.crs, index=out.index)
    hit = gpd.sjoin(
        pts,
        z[[c for c in columns if c in z.columns] + ["geometry"]],
        predicate="within",
        how="left",
    )
    hit = hit[~hit.index.duplicated(keep="first")]
    zone_of = hit["index_right"]
    weight = (
        out["households"].astype(float)
        if "households" in out.columns
        else pd.Series(1.0, index=out.index)
    )
    weight = weight.where(weight > 0, 0.0)
    missing = []
    for col in columns:
        if col not in z.columns:
            continue
        totals = pd.to_numeric(z[col], errors="coerce")
        wsum = weight.groupby(zone_of).sum()
        for zi, total in totals.dropna().items():
            if zi not in wsum.index or wsum[zi] <= 0:
                missing.append(zi)
                continue
            inside = zone_of == zi
            out.loc[inside, col] = (total * weight[inside] / wsum[zi]).round(2)
    if "households" in z.columns and "population" not in z.columns:
        out["population"] = (out["households"] * settings.household_size).round(2)
    out.attrs["zones_without_units"] = sorted(set(map(int, missing)))
    out.attrs["overridden_units"] = int(zone_of.notna().sum())
    return out


def _named(ids: pd.Series, mask: Any, values: pd.Series | None = None, limit: int = 5) -> str:
    """Name the first rows of ``mask`` by original id: ``3 ('abc'), 7 (empty) and 4 more``."""
    m = np.asarray(mask, dtype=bool)
    picked = ids[m]
    shown = [
        f"{i} ({_value(values.loc[k])})" if values is not None else str(i)
        for k, i in list(picked.items())[:limit]
    ]
    more = f" and {len(picked) - limit} more" if len(picked) > limit else ""
    return ", ".join(shown) + more


def _value(v: Any) -> str:
    """Show a cell as a user wrote it: ``1e+12``, ``-5``, ``'about 40'``, ``empty``."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "empty"
    if isinstance(v, float | int) and not isinstance(v, bool):
        return f"{v:g}"
    return repr(str(v))


def clean_geometries(
    gdf: gpd.GeoDataFrame, ids: pd.Series, *, layer: str, exclusions: Exclusions
) -> gpd.GeoDataFrame:
    """Repair what :func:`shapely.make_valid` can; record the rest in ``exclusions``.

    Empty or missing geometries, non-finite coordinates, lines, and polygons that collapse to
    nothing (zero area) are excluded with their reason; invalid polygons whose repair keeps an
    area are replaced by the repaired polygon (a warning gives the count). Collections keep
    their polygonal parts, or their points when they hold no polygon. ``ids`` (aligned with
    ``gdf``) name the rows in the ``excluded`` layer.
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object).copy()
    reason = np.full(len(geoms), "", dtype=object)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    reason[empty] = "empty geometry"
    live = ~empty
    finite = np.zeros(len(geoms), dtype=bool)
    finite[live] = np.isfinite(shapely.bounds(geoms[live])).all(axis=1)
    reason[live & ~finite] = "invalid geometry not repairable"
    live &= finite
    for k in np.flatnonzero(live & (shapely.get_type_id(geoms) == 7)):
        geoms[k] = _collection_part(geoms[k])
    types = shapely.get_type_id(geoms)
    other = live & ~np.isin(types, [0, 3, 4, 6])
    reason[other] = "not a point or polygon"
    polys = live & np.isin(types, [3, 6])
    invalid = polys & ~shapely.is_valid(geoms)
    if invalid.any():
        where = np.flatnonzero(invalid)
        fixed = np.array([_repaired(g) for g in geoms[where]], dtype=object)
        with np.errstate(all="ignore"):
            ok = ~shapely.is_empty(fixed) & (shapely.area(fixed) > 0) & shapely.is_valid(fixed)
        geoms[where[ok]] = fixed[ok]
        was_flat = shapely.area(geoms[where[~ok]]) <= 0
        reason[where[~ok]] = np.where(was_flat, "zero area", "invalid geometry not repairable")
        if ok.any():
            log.warning(
                "repaired %d invalid %s polygons with shapely.make_valid (self-intersections, "
                "bad rings)",
                int(ok.sum()),
                layer,
            )
    with np.errstate(all="ignore"):
        area = shapely.area(geoms)
    reason[polys & ~invalid & (area <= 0)] = "zero area"
    reason[polys & (reason == "") & ~np.isfinite(area)] = "invalid geometry not repairable"
    out = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    for why in pd.unique(reason[reason != ""]):
        mask = reason == why
        log.warning(
            "%d %s rows: %s%s; excluded (see the 'excluded' layer)",
            int(mask.sum()),
            layer,
            why,
            _households_note(out, mask),
        )
        exclusions.add(out.loc[mask], layer=layer, reason=str(why), ids=ids.loc[out.index[mask]])
    keep = reason == ""
    return out if keep.all() else out.loc[keep]


def _collection_part(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    ptype = shapely.get_type_id(parts)
    poly = parts[np.isin(ptype, [3, 6])]
    if len(poly):
        return shapely.union_all(poly)
    pts = parts[np.isin(ptype, [0, 4])]
    return shapely.union_all(pts) if len(pts) else geom


def _repaired(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the polygonal part of ``make_valid(geom)``, or an empty polygon.

    A zero buffer follows when ``make_valid`` is still invalid; an empty polygon means GEOS
    cannot repair it (huge or degenerate coordinates).
    """
    try:
        with np.errstate(all="ignore"):
            fixed = _polygonal(shapely.make_valid(geom, method="structure", keep_collapsed=False))
            if not shapely.is_valid(fixed):
                fixed = _polygonal(shapely.buffer(fixed, 0))
    except shapely.errors.GEOSException:
        return shapely.Polygon()
    return fixed


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    poly = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(poly) if len(poly) else shapely.Polygon()


def _households_note(gdf: gpd.GeoDataFrame, mask: np.ndarray) -> str:
    if "households" not in gdf.columns:
        return ""
    hh = pd.to_numeric(gdf["households"], errors="coerce").to_numpy(dtype=float)[mask]
    total = float(np.nansum(hh))
    return f" ({total:,.0f} households)" if total else ""


def drop_duplicates(
    gdf: gpd.GeoDataFrame, ids: pd.Series, *, layer: str, exclusions: Exclusions
) -> gpd.GeoDataFrame:
    """Exclude rows identical to an earlier row (every column and the geometry)."""
    if len(gdf) < 2:
        return gdf
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    # only rows with the same bounds can have the same geometry (bounds are cheap, WKB is not)
    bounds = np.nan_to_num(shapely.bounds(geoms), nan=np.inf)
    cand = np.flatnonzero(pd.Series(bounds[:, 0]).duplicated(keep=False).to_numpy())
    order = cand[np.lexsort(bounds[cand].T[::-1])]
    tie = (bounds[order[1:]] == bounds[order[:-1]]).all(axis=1)
    same_geom = np.zeros(len(gdf), dtype=bool)
    same_geom[order[1:][tie]] = True
    same_geom[order[:-1][tie]] = True
    dup = np.zeros(len(gdf), dtype=bool)
    if same_geom.any():
        wkb = pd.Series(shapely.to_wkb(geoms[same_geom]))
        attrs = gdf.loc[same_geom].drop(columns=gdf.geometry.name).astype(str)
        attrs["__wkb"] = wkb.to_numpy()
        dup[same_geom] = attrs.duplicated(keep="first").to_numpy()
    if dup.any():
        log.warning(
            "%d %s rows repeat an earlier row exactly (same attributes and geometry): "
            "excluded as duplicates%s",
            int(dup.sum()),
            layer,
            _households_note(gdf, dup),
        )
    return exclusions.drop(gdf, dup, layer=layer, reason="duplicate", ids=ids)


def _given_households(out: gpd.GeoDataFrame, ids: pd.Series, settings: Settings) -> None:
    """Validate and complete ``households`` / ``population`` given in the layer (in place)."""
    for col in ("households", "population"):
        if col not in out.columns:
            continue
        raw = out[col]
        val = pd.to_numeric(raw, errors="coerce")
        text = val.isna() & raw.notna()
        if text.any():
            text[text] = raw[text].astype(str).str.strip() != ""
        if text.any():
            msg = (
                f"demand column {col!r} has {int(text.sum())} values that are not numbers "
                f"(ids {_named(ids.loc[out.index], text, raw)}); write plain numbers such as 120"
            )
            raise InputError(msg)
        out[col] = val.astype(float)
    has_hh, has_pop = "households" in out.columns, "population" in out.columns
    if has_hh and has_pop:
        out["households"] = out["households"].fillna(
            (out["population"] / settings.household_size).round(2)
        )
    elif has_pop:
        out["households"] = (out["population"] / settings.household_size).round(2)
    hh = out["households"]
    missing = hh.isna().to_numpy()
    if missing.any():
        msg = (
            f"{int(missing.sum())} demand rows have no households (ids "
            f"{_named(ids.loc[out.index], missing)}); fill them or drop those rows"
        )
        raise InputError(msg)
    neg = (hh < 0).to_numpy()
    if neg.any():
        msg = (
            f"{int(neg.sum())} demand rows have negative households (ids "
            f"{_named(ids.loc[out.index], neg, hh)}); fix them (0 or more)"
        )
        raise InputError(msg)
    big = (hh > MAX_UNIT_HOUSEHOLDS).to_numpy() | ~np.isfinite(hh.to_numpy())
    if big.any():
        msg = (
            f"{int(big.sum())} demand rows have implausible households, more than "
            f"{MAX_UNIT_HOUSEHOLDS:,.0f} in one unit (ids {_named(ids.loc[out.index], big, hh)}); "
            "fix the values or split the unit"
        )
        raise InputError(msg)
    if len(hh) and float(hh.sum()) <= 0:
        msg = (
            f"every one of the {len(hh)} demand rows has 0 households; fill the "
            "'households' column, or drop it to estimate households from building footprints"
        )
        raise InputError(msg)
    if has_pop:
        out["population"] = out["population"].fillna(
            (out["households"] * settings.household_size).round(2)
        )
    else:
        out["population"] = (out["households"] * settings.household_size).round(2)


def _project(gdf: gpd.GeoDataFrame, crs: Any, ids: pd.Series, excl: Exclusions) -> gpd.GeoDataFrame:
    """Project to the metric CRS; rows whose coordinates do not project are excluded."""
    if len(gdf) == 0:
        msg = "no demand row has a usable geometry; fix the layer's geometries (see the warnings)"
        raise InputError(msg)
    if pyproj.CRS(gdf.crs).is_geographic:
        b = shapely.bounds(np.asarray(gdf.geometry.values, dtype=object))
        off = (b[:, 0] < -180) | (b[:, 2] > 180) | (b[:, 1] < -90) | (b[:, 3] > 90)
        if off.all():
            msg = (
                f"every demand row lies outside the lon/lat range of {pyproj.CRS(gdf.crs).name}; "
                "the coordinates look like metres: pass the layer's projected CRS (e.g. "
                "EPSG:4547)"
            )
            raise InputError(msg)
        if off.any():
            log.warning(
                "%d demand rows have coordinates outside the lon/lat range: excluded",
                int(off.sum()),
            )
            gdf = excl.drop(gdf, off, layer="demand", reason="coordinates out of range", ids=ids)
    out = to_metric(gdf, crs).copy()
    bounds = shapely.bounds(np.asarray(out.geometry.values, dtype=object))
    bad = ~np.isfinite(bounds).all(axis=1)
    if bad.any():
        log.warning(
            "%d demand rows have coordinates that do not project to metres: excluded",
            int(bad.sum()),
        )
        out = excl.drop(out, bad, layer="demand", reason="invalid geometry not repairable", ids=ids)
        if len(out) == 0:
            msg = "no demand row has coordinates that project to metres; check the layer's CRS"
            raise InputError(msg)
    return out


def prepare_demand(
    demand: gpd.GeoDataFrame,
    *,
    settings: Settings = DEFAULTS,
    crs: Any = None,
    landuse: gpd.GeoDataFrame | None = None,
    pois: gpd.GeoDataFrame | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    population: Any = None,
    registry: gpd.GeoDataFrame | None = None,
    residential_rule: str = "evidence",
    residential_column: str | None = None,
    study_area: Any = None,
    exclusions: Exclusions | None = None,
) -> gpd.GeoDataFrame:
    """Make any demand layer usable: households, population, party members, ``unit_id``.

    Points or polygons with ``households`` and/or ``population`` are completed with the
    household size; building polygons without either are estimated
    (:func:`estimate_households`) after deciding which are housing from ``landuse``,
    ``compounds``, ``pois``, names and footprints (``residential``, ``residential_evidence``;
    ``residential_rule`` and ``residential_column`` let the user decide). Non-residential
    buildings stay, with 0 households. Then known figures replace the estimates: population
    rasters (``population="adults.tif"`` or ``{"population": ..., "elderly": ...}``,
    dasymetric within ``study_area``), compound tables (``compounds``, points or polygons with
    ``households``) and registry totals (``registry`` zones with ``households`` or
    ``population``). ``households`` and ``population`` are whole numbers whose totals per
    community add up (``households_est`` keeps the fraction); ``party_members`` defaults to
    0; ``demand_source`` says where each figure came from and ``attrs["demand_report"]``
    counts them. Every input column is kept; ``unit_id`` is the row's own when given, else
    its 0-based row number in the input.

    Rows that cannot be used (empty geometry, zero area, invalid beyond repair, exact
    duplicates, points when households must be estimated from footprints) are recorded in
    ``exclusions`` with their reason (see :mod:`geogrid._exclusions`) and a warning; invalid
    polygons are repaired with :func:`shapely.make_valid`.

    Raises
    ------
    InputError
        No CRS, no rows, households that are not numbers, missing, negative, implausible
        (more than :data:`MAX_UNIT_HOUSEHOLDS` in one unit) or zero everywhere, or repeated
        ``unit_id`` values.

    """
    from geogrid.study.demand_sources import (
        apply_sources,
        demand_summary,
        finish_demand,
        parse_rasters,
    )
    from geogrid.study.residential import classify_buildings

    if demand.crs is None:
        msg = "demand layer has no coordinate system; pass crs= when reading or call .set_crs(...)"
        raise InputError(msg)
    if len(demand) == 0:
        msg = "demand layer is empty; pass buildings, compounds or points with households"
        raise InputError(msg)
    excl = exclusions if exclusions is not None else Exclusions()
    before = len(excl)
    out = demand.copy() if demand.index.is_unique else demand.reset_index(drop=True)
    id_col = id_column(out, _DEMAND_IDS)
    ids = row_ids(out, _DEMAND_IDS)
    if {"households", "population"} & set(out.columns):
        # every row's figures, excluded ones too (a copy of the figure columns only)
        figures = [c for c in ("households", "population") if c in out.columns]
        _given_households(pd.DataFrame(out[figures]), ids, settings)
    out = clean_geometries(out, ids, layer="demand", exclusions=excl)
    out = drop_duplicates(out, ids, layer="demand", exclusions=excl)
    if "unit_id" not in out.columns:
        out["unit_id"] = pd.Series(np.arange(len(ids)), index=ids.index).loc[out.index]
    uid = out["unit_id"]
    if (uid.notna() & uid.duplicated()).any():
        dup = sorted(set(map(str, uid[uid.notna() & uid.duplicated()])))[:5]
        msg = f"unit_id {', '.join(dup)} appear more than once with different data; make unit ids unique"
        raise InputError(msg)
    has_hh = "households" in out.columns
    has_pop = "population" in out.columns
    if not has_hh and not has_pop:
        out = _estimate(out, ids, excl, settings=settings, crs=crs)
        out = classify_buildings(
            out,
            landuse=landuse,
            compounds=compounds,
            pois=pois,
            rule=residential_rule,
            column=residential_column,
            settings=settings,
        )
        out.loc[~out["residential"], ["households", "population"]] = 0.0
    else:
        out = _project(out, crs, ids, excl)
        _given_households(out, ids, settings)
    rasters = parse_rasters(population)
    report: dict[str, Any] = {}
    if rasters or compounds is not None or registry is not None:
        areas = _residential_areas(landuse, compounds)
        out, report, tables = apply_sources(
            out,
            compounds=compounds,
            rasters=rasters,
            registry=registry,
            areas=areas,
            area=study_area,
            settings=settings,
        )
        out.attrs["demand_tables"] = tables
    out = finish_demand(out, settings=settings, group="community_code")
    if "party_members" not in out.columns:
        out["party_members"] = 0
    pm = pd.to_numeric(out["party_members"], errors="coerce")
    text = pm.isna() & out["party_members"].notna()
    if text.any():
        log.warning(
            "%d demand rows have a party_members value that is not a number (ids %s): counted as 0",
            int(text.sum()),
            _named(ids.loc[out.index], text.to_numpy(), out["party_members"]),
        )
    out["party_members"] = pm.fillna(0)
    summary = demand_summary(out, report)
    src = out["demand_source"] if "demand_source" in out.columns else pd.Series("", index=out.index)
    summary["fell_back_to_default"] = int(
        ((src == "default_storeys") & (out["households"] > 0)).sum()
    )
    out.attrs["demand_report"] = summary
    out.attrs["excluded_rows"] = len(excl) - before
    out.attrs["source_id_column"] = id_col or "unit_id"
    return out if len(excl) == before else out.reset_index(drop=True)


def _estimate(
    out: gpd.GeoDataFrame, ids: pd.Series, excl: Exclusions, *, settings: Settings, crs: Any
) -> gpd.GeoDataFrame:
    """Estimate households of footprints; points are excluded, implausible results refused."""
    pts = ~out.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if pts.all():
        msg = (
            f"{len(out)} demand rows are points without households; add a 'households' "
            "(or 'population') column, or pass building footprints"
        )
        raise InputError(msg)
    if pts.any():
        log.warning(
            "%d of %d demand rows are points without households (households are estimated "
            "from footprints): excluded; add a 'households' column to count them",
            int(pts.sum()),
            len(out),
        )
    out = excl.drop(out, pts, layer="demand", reason="point without households", ids=ids)
    out = _project(out, crs, ids, excl)
    out = estimate_households(out, settings=settings, crs=crs)
    hh = out["households"].to_numpy(dtype=float)
    big = ~np.isfinite(hh) | (hh > MAX_UNIT_HOUSEHOLDS)
    if big.any():
        msg = (
            f"{int(big.sum())} buildings give implausible household estimates, more than "
            f"{MAX_UNIT_HOUSEHOLDS:,.0f} each (ids "
            f"{_named(ids.loc[out.index], big, out['footprint_m2'])} m2 footprint); "
            "check their geometry and the layer's coordinate system"
        )
        raise InputError(msg)
    return out


def _residential_areas(
    landuse: gpd.GeoDataFrame | None, compounds: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame | None:
    """Residential land and compound polygons, where compound points look for buildings."""
    parts = []
    if landuse is not None and len(landuse):
        lu = landuse["landuse"] if "landuse" in landuse.columns else None
        parts.append(landuse if lu is None else landuse[lu == "residential"])
    if compounds is not None and len(compounds):
        parts.append(compounds[compounds.geom_type.isin(["Polygon", "MultiPolygon"])])
    parts = [gpd.GeoDataFrame(geometry=p.geometry.to_crs(parts[0].crs)) for p in parts if len(p)]
    if not parts:
        return None
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
