"""Headline figures of a set of result layers, shared by the workbook, the summary and the maps."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.outputs.privacy import protect, scan_personal
from geogrid.schema import type_label
from geogrid.settings import DEFAULTS, FACILITY_TYPES

log = logging.getLogger(__name__)


#: Key figure -> (Chinese, English) label, in the order of the summary.
SUMMARY_LABELS: Mapping[str, tuple[str, str]] = {
    "n_streets": ("街道数", "Streets"),
    "n_communities": ("社区数", "Communities"),
    "n_grids": ("网格数", "Grids"),
    "households": ("总户数", "Households"),
    "population": ("估算人口", "Estimated population"),
    "grid_households_mean": ("网格平均户数", "Mean households per grid"),
    "grid_households_min": ("网格最少户数", "Fewest households in a grid"),
    "grid_households_max": ("网格最多户数", "Most households in a grid"),
    "grids_outside_band": ("户数超出200-500的网格数", "Grids outside 200-500 households"),
    "n_facilities": ("服务设施数", "Facilities"),
    **{
        f"n_{t}": (f"其中：{type_label(t, 'zh')}", f"  of which {type_label(t, 'en')}")
        for t in FACILITY_TYPES
    },
    "n_overloaded": ("超负荷设施数", "Overloaded facilities"),
    "coverage_15min": ("15分钟步行覆盖率", "Households within 15 min walk"),
    "uncovered_hh_15min": ("15分钟未覆盖户数", "Households beyond 15 min"),
    "coverage_1km": ("1公里覆盖率", "Households within 1 km"),
    "uncovered_hh_1km": ("1公里未覆盖户数", "Households beyond 1 km"),
    "n_uncovered": ("未覆盖楼栋/小区数", "Uncovered buildings/compounds"),
    "n_gaps": ("覆盖缺口数", "Coverage gaps"),
    "gap_households": ("缺口内户数", "Households in gaps"),
    "n_sites": ("建议新增站点数", "Proposed sites"),
    "gain_households": ("新增站点可覆盖户数", "Households the proposed sites add"),
    "coverage_15min_after": ("新增站点后15分钟覆盖率", "15-min coverage with proposed sites"),
    "personal_columns_withheld": ("未输出的个人信息列数", "Personal-data columns withheld"),
    "personal_values_withheld": ("已遮盖的个人信息值数", "Personal-data values masked"),
}


def numeric(series: pd.Series) -> np.ndarray:
    """Values of ``series`` as floats (text and blanks become NaN)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def total_households(layers: Mapping[str, gpd.GeoDataFrame]) -> float | None:
    """Households of the first of demand, communities, grids that has them, or None."""
    for key in ("demand", "communities", "grids"):
        gdf = layers.get(key)
        if gdf is not None and "households" in gdf and len(gdf):
            return float(np.nansum(numeric(gdf["households"])))
    return None


def withheld_counts(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, int]:
    """Personal-data columns left out and values masked over all layers (zero ones omitted)."""
    columns = values = 0
    for gdf in layers.values():
        if gdf is not None and len(gdf):
            scan = scan_personal(gdf)
            columns += len(scan.drop)
            values += scan.n_values
    out = {"personal_columns_withheld": columns, "personal_values_withheld": values}
    return {k: v for k, v in out.items() if v}


def lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (WGS84) of each feature's representative point; NaN without a CRS."""
    if gdf.crs is None:
        return np.full(len(gdf), np.nan), np.full(len(gdf), np.nan)
    pts = gdf.geometry.representative_point().to_crs("EPSG:4326")
    return np.round(pts.x.to_numpy(), 6), np.round(pts.y.to_numpy(), 6)


def uncovered_table(demand: gpd.GeoDataFrame, *, include_personal: bool = False) -> pd.DataFrame:
    """Uncovered demand (``within_15min`` false) by compound, or by building without one."""
    dem = protect(demand, include_personal=include_personal)
    dem = dem[~dem["within_15min"].fillna(False).astype(bool)]
    if "households" not in dem:
        dem = dem.assign(households=1.0)
    lon, lat = lonlat(dem)
    within = [c for c in dem.columns if str(c).startswith("within_")]
    dem = pd.DataFrame(dem.drop(columns=[dem.geometry.name, *within])).assign(lon=lon, lat=lat)
    if "compound_id" in dem and dem["compound_id"].notna().any():
        dem = dem[dem["compound_id"].notna()]
        agg: dict[str, Any] = {"households": "sum", "lon": "mean", "lat": "mean"}
        for col in ("compound_name", "community_code", "community_name", "nearest_id"):
            if col in dem:
                agg[col] = "first"
        if "dist_m" in dem:
            agg["dist_m"] = "min"
        grouped = dem.groupby("compound_id", sort=True)
        table = grouped.agg(agg)
        table.insert(0, "n_buildings", grouped.size())
        table = table.reset_index()
        table["lon"] = table["lon"].round(6)
        table["lat"] = table["lat"].round(6)
        return table
    return dem.reset_index(drop=True)


def key_figures(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    household_size: float = DEFAULTS.household_size,
    include_personal: bool = False,
) -> dict[str, float | int]:
    """Key figures of an analysis, for the summary sheet and page.

    Coverage shares are household-weighted: from ``demand`` (``households`` and
    ``within_15min`` / ``within_1km``) when present, else from ``communities``
    (``coverage_15min`` weighted by ``households``). Only figures whose inputs exist are
    returned; keys and labels are :data:`SUMMARY_LABELS`. Unless ``include_personal``, the
    personal-data columns the outputs leave out and the values they mask are counted
    (``personal_columns_withheld``, ``personal_values_withheld``; see
    :func:`geogrid._privacy.scan_personal`).

    Returns
    -------
    dict of str to number

    """
    out: dict[str, float | int] = {}
    streets, comms, grids = layers.get("streets"), layers.get("communities"), layers.get("grids")
    if streets is not None:
        out["n_streets"] = len(streets)
    if comms is not None:
        out["n_communities"] = len(comms)
    if grids is not None:
        out["n_grids"] = len(grids)
    hh = total_households(layers)
    if hh is not None:
        out["households"] = int(round(hh))
        out["population"] = int(round(hh * household_size))
    if grids is not None and "households" in grids and len(grids):
        g = numeric(grids["households"])
        out["grid_households_mean"] = round(float(np.nanmean(g)), 1)
        out["grid_households_min"] = int(np.nanmin(g))
        out["grid_households_max"] = int(np.nanmax(g))
        out["grids_outside_band"] = int(
            np.sum((g < DEFAULTS.grid_min_households) | (g > DEFAULTS.grid_max_households))
        )
    fac = layers.get("facilities")
    if fac is not None:
        out["n_facilities"] = len(fac)
        if "type" in fac:
            types = (
                fac["type"]
                .astype(str)
                .where(fac["type"].astype(str).isin(FACILITY_TYPES), "facility")
            )
            for t in FACILITY_TYPES:
                n = int((types == t).sum())
                if n:
                    out[f"n_{t}"] = n
        if "overloaded" in fac:
            out["n_overloaded"] = int(fac["overloaded"].fillna(False).astype(bool).sum())
    demand = layers.get("demand")
    for tgt in ("15min", "1km"):
        col = f"within_{tgt}"
        if demand is not None and col in demand and len(demand):
            w = numeric(demand["households"]) if "households" in demand else np.ones(len(demand))
            w = np.nan_to_num(w)
            inside = demand[col].fillna(False).astype(bool).to_numpy()
            total = float(w.sum())
            out[f"coverage_{tgt}"] = round(float(w[inside].sum()) / total, 4) if total else 0.0
            out[f"uncovered_hh_{tgt}"] = int(round(float(w[~inside].sum())))
        elif comms is not None and f"coverage_{tgt}" in comms and "households" in comms:
            w = np.nan_to_num(numeric(comms["households"]))
            share = np.nan_to_num(numeric(comms[f"coverage_{tgt}"]))
            total = float(w.sum())
            out[f"coverage_{tgt}"] = round(float((w * share).sum()) / total, 4) if total else 0.0
            out[f"uncovered_hh_{tgt}"] = int(round(float((w * (1 - share)).sum())))
    if demand is not None and "within_15min" in demand:
        unc = uncovered_table(demand)
        out["n_uncovered"] = len(unc)
    gaps = layers.get("gaps")
    if gaps is not None:
        out["n_gaps"] = len(gaps)
        if "households" in gaps:
            out["gap_households"] = int(round(float(np.nansum(numeric(gaps["households"])))))
    sites = layers.get("sites")
    if sites is not None:
        out["n_sites"] = len(sites)
        if "gain_households" in sites:
            gain = float(np.nansum(numeric(sites["gain_households"])))
            out["gain_households"] = int(round(gain))
            if "coverage_15min" in out and hh:
                after = min(1.0, float(out["coverage_15min"]) + gain / hh)
                out["coverage_15min_after"] = round(after, 4)
    if not include_personal:
        out.update(withheld_counts(layers))
    return out


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as single spaces."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", str(text)).strip()
