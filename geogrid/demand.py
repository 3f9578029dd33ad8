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

from .crs import to_metric
from .errors import InputError
from .network import representative_points
from .settings import DEFAULTS, Settings

__all__ = ["NON_RESIDENTIAL", "apply_overrides", "estimate_households", "prepare_demand"]

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
    counts them. Every input column is kept.
    """
    from ._demand_sources import apply_sources, demand_summary, finish_demand, parse_rasters
    from ._residential import classify_buildings

    if demand.crs is None:
        msg = "demand layer has no coordinate system; pass crs= when reading or call .set_crs(...)"
        raise InputError(msg)
    if len(demand) == 0:
        msg = "demand layer is empty; pass buildings, compounds or points with households"
        raise InputError(msg)
    has_hh = "households" in demand.columns
    has_pop = "population" in demand.columns
    if not has_hh and not has_pop:
        out = estimate_households(demand, settings=settings, crs=crs)
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
        out = to_metric(demand, crs).copy()
        if has_hh:
            out["households"] = pd.to_numeric(out["households"], errors="coerce")
        if has_pop:
            out["population"] = pd.to_numeric(out["population"], errors="coerce")
        if not has_hh:
            out["households"] = out["population"] / settings.household_size
        if not has_pop:
            out["population"] = out["households"] * settings.household_size
        bad = out["households"].isna() | (out["households"] < 0)
        if bad.any():
            msg = f"{int(bad.sum())} demand rows have missing or negative households; fill them or drop those rows"
            raise InputError(msg)
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
    out["party_members"] = pd.to_numeric(out["party_members"], errors="coerce").fillna(0)
    if "unit_id" not in out.columns:
        out["unit_id"] = np.arange(len(out))
    summary = demand_summary(out, report)
    src = out["demand_source"] if "demand_source" in out.columns else pd.Series("", index=out.index)
    summary["fell_back_to_default"] = int(
        ((src == "default_storeys") & (out["households"] > 0)).sum()
    )
    out.attrs["demand_report"] = summary
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
