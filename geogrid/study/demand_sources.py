"""Demand from the figures offices hold: compound tables, population rasters, registry totals.

Each function takes demand units in a metric CRS with ``residential``, ``households`` and
``population`` (fractional estimates) and returns a copy in which the known figures replace or
scale the estimates, with ``demand_source`` saying where each unit's figure came from, and a
report dict. Totals are preserved exactly: no compound, raster cell or registry total is lost or
counted twice (a figure with no residential building to hold it becomes a point unit).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.io.readers import read_layer
from geogrid.network.snap import representative_points
from geogrid.settings import DEFAULTS, Settings

__all__ = [
    "COMPOUND_COLUMNS",
    "allocate_compounds",
    "allocate_rasters",
    "parse_rasters",
    "read_compounds",
    "read_registry",
    "scale_to_registry",
]

log = logging.getLogger(__name__)

#: Figures a compound or zone table may give; spread over buildings in proportion to floor area.
COMPOUND_COLUMNS = ("households", "population", "elderly", "party_members")
_LON = re.compile(r"^(lon|lng|long|longitude|x|经度)([_\W].*)?$", re.IGNORECASE)
_LAT = re.compile(r"^(lat|latitude|y|纬度)([_\W].*)?$", re.IGNORECASE)


def _coord_columns(path: Path) -> tuple[str | None, str | None]:
    """Find lon/lat columns such as ``lng_bd09``/``lat_bd09`` in a CSV header."""
    if path.suffix.lower() not in {".csv", ".tsv", ".txt"}:
        return None, None
    head = path.read_bytes()[:4096].decode("utf-8-sig", errors="replace").splitlines()
    cols = [c.strip() for c in re.split(r"[,\t]", head[0])] if head else []
    lon = next((c for c in cols if _LON.match(c)), None)
    lat = next((c for c in cols if _LAT.match(c)), None)
    return lon, lat


def read_compounds(path: str | Path, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Read a compound table (points or polygons) with ``households`` (户数) or ``population``.

    CSV coordinate columns may carry a suffix (``lng_bd09``, ``lat_gcj02``); ``crs`` names the
    coordinate system (``"bd09"``, ``"gcj02"``, ``"wgs84"``, EPSG code).
    """
    p = Path(path)
    lon, lat = (None, None)
    if p.exists():
        lon, lat = _coord_columns(p)
    gdf = read_layer(p, crs=crs, lon=lon, lat=lat)
    return _check_figures(gdf, p.name)


def _check_figures(comp: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    out = comp.copy()
    rename = {"户数": "households", "人口": "population", "党员": "party_members", "名称": "name"}
    out = out.rename(
        columns={k: v for k, v in rename.items() if k in out.columns and v not in out.columns}
    )
    if "households" not in out.columns and "population" not in out.columns:
        shown = ", ".join(map(str, list(out.columns)[:12]))
        msg = f"{what} has no 'households' or 'population' column (columns: {shown}); rename the 户数 column to households"
        raise InputError(msg)
    for col in COMPOUND_COLUMNS:
        if col in out.columns:
            v = pd.to_numeric(out[col], errors="coerce")
            if col in ("households", "population") and v.isna().all():
                msg = f"{what}: column {col!r} has no numbers; fill it"
                raise InputError(msg)
            neg = np.flatnonzero((v < 0).to_numpy())
            if len(neg):
                msg = (
                    f"{what}: column {col!r} has {len(neg)} negative values (first: row "
                    f"{neg[0] + 1}); fix or delete those rows"
                )
                raise InputError(msg)
            out[col] = v
    return out


def _weights(units: gpd.GeoDataFrame) -> pd.Series:
    """Floor-area weight of residential units (estimated households; 1 for points)."""
    w = pd.to_numeric(units.get("households_floor", units["households"]), errors="coerce")
    w = w.fillna(0.0).clip(lower=0.0)
    pointish = ~units.geom_type.isin(["Polygon", "MultiPolygon"])
    w = w.where(~(pointish & (w <= 0)), 1.0)
    return w.where(units["residential"].astype(bool), 0.0)


def _spread(
    units: gpd.GeoDataFrame, pairs: pd.DataFrame, table: pd.DataFrame, columns: list[str]
) -> gpd.GeoDataFrame:
    """Replace the figures of matched units by their share of each matched row's totals.

    ``pairs`` has ``unit`` (index into units), ``row`` (index into table) and ``w``.
    """
    out = units
    wsum = pairs.groupby("row")["w"].transform("sum")
    share = pairs["w"] / wsum
    for col in columns:
        vals = table[col].reindex(pairs["row"]).to_numpy(dtype=float)
        got = pd.Series(share.to_numpy() * np.nan_to_num(vals), index=pairs["unit"].to_numpy())
        got = got.groupby(level=0).sum()
        if col not in out.columns:
            out[col] = 0.0
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        out.loc[got.index, col] = got.to_numpy()
    return out


def _point_units(
    like: gpd.GeoDataFrame, table: gpd.GeoDataFrame, columns: list[str], source: str
) -> gpd.GeoDataFrame:
    """Make new demand units at the representative points of ``table`` rows."""
    pts = representative_points(table)
    data: dict[str, Any] = {c: table[c].to_numpy(dtype=float) for c in columns}
    if "name" in table.columns:
        data["name"] = table["name"].to_numpy()
    data.update(
        residential=True,
        residential_evidence=f"{source} without buildings",
        residential_basis=source,
        demand_source=source,
    )
    return gpd.GeoDataFrame(data, geometry=np.asarray(pts), crs=like.crs)


def _append(units: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if len(new) == 0:
        return units
    out = pd.concat([units, new], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=units.crs)


def allocate_compounds(
    units: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame | None = None,
    settings: Settings = DEFAULTS,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Give each compound's households to residential buildings, or make it a point unit.

    A polygon's figures go to the residential units whose representative point lies inside;
    a point's to those of the residential area (``areas``, e.g. ``landuse=residential``, or a
    compound polygon) that contains it, else to those within ``settings.compound_radius_m``;
    else the compound itself becomes a demand unit. Shares follow floor area (the estimates).

    Returns
    -------
    (units, compounds)
        Units with the figures replaced (``demand_source="compound"``) plus one point unit per
        unmatched compound (``"compound_point"``); the compounds in the units' CRS with
        ``match`` (polygon, area, radius, point; no_figures for a row without households,
        which is reported and not used) and ``matched_units``.

    """
    comp = _check_figures(to_metric(compounds, units.crs), "compound table").reset_index(drop=True)
    cols = [c for c in COMPOUND_COLUMNS if c in comp.columns]
    main = "households" if "households" in cols else "population"
    lack = comp[main].isna()  # reported as "no_figures", never spread as zeros
    for c in cols:
        comp[c] = comp[c].fillna(0.0)
    out = units.copy()
    out["households_floor"] = _weights(out)
    w = out["households_floor"]
    cand = out.index[w > 0]
    pts = gpd.GeoDataFrame(geometry=representative_points(out.loc[cand]), crs=out.crs, index=cand)
    is_poly = comp.geom_type.isin(["Polygon", "MultiPolygon"])
    comp["match"] = "point"
    pairs = [_within(pts, comp[is_poly], "polygon", comp)]
    ptc = comp[~is_poly]
    if len(ptc) and areas is not None and len(areas):
        a = to_metric(areas, out.crs)
        a = a[a.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
        own = gpd.sjoin(gpd.GeoDataFrame(geometry=ptc.geometry, crs=out.crs), a, predicate="within")
        own = own[~own.index.duplicated(keep="first")]
        shapes = gpd.GeoDataFrame(
            geometry=a.geometry.loc[own["index_right"]].to_numpy(), crs=out.crs, index=own.index
        )
        pairs.append(_within(pts, shapes, "area", comp))
    taken = set(pd.concat(pairs)["row"]) if pairs else set()
    rest = ptc[~ptc.index.isin(taken)]
    if len(rest) and settings.compound_radius_m > 0:
        disks = gpd.GeoDataFrame(geometry=rest.buffer(settings.compound_radius_m), crs=out.crs)
        pairs.append(_within(pts, disks, "radius", comp))
    pr = pd.concat(pairs, ignore_index=True)
    pr = pr[~pr["row"].isin(comp.index[lack])]
    comp.loc[lack, "match"] = "no_figures"
    pr["w"] = w.reindex(pr["unit"]).to_numpy()
    out = _spread(out, pr, comp, cols)
    out.loc[pr["unit"].unique(), "demand_source"] = "compound"
    comp["matched_units"] = (
        pr.groupby("row")["unit"].nunique().reindex(comp.index).fillna(0).astype(int)
    )
    lone = comp[(comp["matched_units"] == 0) & ~lack]
    out = _append(out, _point_units(out, lone, cols, "compound_point"))
    if "households" in cols and "population" not in cols:
        fresh = out["demand_source"].isin(["compound", "compound_point"])
        out.loc[fresh, "population"] = out.loc[fresh, "households"] * settings.household_size
    if "population" in cols and "households" not in cols:
        fresh = out["demand_source"].isin(["compound", "compound_point"])
        out.loc[fresh, "households"] = out.loc[fresh, "population"] / settings.household_size
    log.info("compounds matched: %s", comp["match"].value_counts().to_dict())
    return out.drop(columns=["households_floor"]), comp


def _within(
    pts: gpd.GeoDataFrame, shapes: gpd.GeoDataFrame, how: str, comp: gpd.GeoDataFrame
) -> pd.DataFrame:
    """Pairs (unit, row) of unit points inside each shape; marks ``comp.match``."""
    if len(shapes) == 0 or len(pts) == 0:
        return pd.DataFrame({"unit": pd.Series(dtype=int), "row": pd.Series(dtype=int)})
    hit = gpd.sjoin(
        pts, gpd.GeoDataFrame(geometry=shapes.geometry, crs=pts.crs), predicate="within"
    )
    pairs = pd.DataFrame({"unit": hit.index.to_numpy(), "row": hit["index_right"].to_numpy()})
    comp.loc[pairs["row"].unique(), "match"] = how
    return pairs


# --- population rasters -------------------------------------------------------------------


def parse_rasters(specs: Any) -> dict[str, Path]:
    """``["a.tif", "elderly=b.tif"]`` or a mapping -> ``{"population": a.tif, "elderly": b.tif}``."""
    if specs is None:
        return {}
    if isinstance(specs, Mapping):
        return {str(k): Path(v) for k, v in specs.items()}
    if isinstance(specs, str | Path):
        specs = [specs]
    out: dict[str, Path] = {}
    for spec in specs:
        text = str(spec)
        name, sep, path = text.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            name, path = ("population" if "population" not in out else Path(text).stem), text
        if name in out:
            msg = f"raster name {name!r} given twice; name each raster once, e.g. elderly=FILE.tif"
            raise InputError(msg)
        out[name] = Path(path)
    return out


def _read_window(path: Path, area_ll: Any) -> tuple[np.ndarray, Any, Any]:
    """Read the raster cells covering ``area_ll`` (a shapely geometry in the raster's CRS)."""
    import rasterio
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        w = from_bounds(*area_ll.bounds, transform=src.transform)
        c0, r0 = max(int(np.floor(w.col_off)), 0), max(int(np.floor(w.row_off)), 0)
        c1 = min(int(np.ceil(w.col_off + w.width)), src.width)
        r1 = min(int(np.ceil(w.row_off + w.height)), src.height)
        win = Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0))
        data = src.read(1, window=win, masked=True)
        values = np.asarray(data.filled(0), dtype=float)
        values[~np.isfinite(values) | (values < 0)] = 0.0
        return values, src.window_transform(win), src.crs


def _affine(t: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinate arrays."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def _cells(values: np.ndarray, transform: Any, area_r: Any, held: np.ndarray) -> pd.DataFrame:
    """Cells with a positive value whose centre lies in ``area_r`` or that ``held`` marks.

    Returns row, col, x, y (cell centre in the raster's CRS) and value.
    """
    rows, cols = np.nonzero(values > 0)
    x, y = _affine(transform, cols + 0.5, rows + 0.5)
    keep = shapely.contains_xy(area_r, np.asarray(x), np.asarray(y)) | held[rows, cols]
    return pd.DataFrame(
        {
            "row": rows[keep],
            "col": cols[keep],
            "x": np.asarray(x)[keep],
            "y": np.asarray(y)[keep],
            "value": values[rows[keep], cols[keep]],
        }
    )


def allocate_rasters(
    units: gpd.GeoDataFrame,
    rasters: Mapping[str, str | Path],
    *,
    area: Any = None,
    settings: Settings = DEFAULTS,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Spread raster cell values over the residential units in each cell (dasymetric).

    Each cell whose centre lies in ``area`` (a polygon in the units' CRS; default the convex
    hull of the residential units), or that holds a residential unit of the area, gives its
    value to the residential units whose representative point falls in it, in proportion to
    floor area; a cell with a value and no
    unit becomes a point unit at its centre (``demand_source="raster_cell"``). The raster named
    ``population`` (the first one given unnamed) sets population, and households =
    population / ``household_size``; other rasters (``elderly=...``) add columns. Totals over
    the area are kept exactly; the report gives them per raster.
    """
    out = units.copy()
    if area is None:
        res = out[out["residential"].astype(bool)]
        area = (res if len(res) else out).geometry.union_all().convex_hull
    report: dict[str, Any] = {}
    for name, path in rasters.items():
        out, report[name] = _allocate_one(out, name, Path(path), area)
        if name == "population":
            out.loc[out["demand_source"] != "raster_cell", "demand_source"] = "raster"
            out["households"] = out["population"] / settings.household_size
    return out.drop(columns=["households_floor"], errors="ignore"), report


def _allocate_one(
    out: gpd.GeoDataFrame, name: str, p: Path, area: Any
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Spread one raster over the units (column ``name``); return them and the totals."""
    rcrs = _raster_crs(p)
    area_r = gpd.GeoSeries([area], crs=out.crs).to_crs(rcrs).iloc[0]
    values, transform, _ = _read_window(p, area_r)
    out["households_floor"] = _weights(out)
    key, held = _unit_cells(out, values.shape, transform, area_r, rcrs)
    cells = _cells(values, transform, area_r, held)
    cells.index = cells["row"].astype(np.int64) * 1_000_003 + cells["col"].astype(np.int64)
    inside = key[key.isin(cells.index)]
    pairs = pd.DataFrame({"unit": inside.index.to_numpy(), "row": inside.to_numpy()})
    pairs["w"] = out["households_floor"].reindex(pairs["unit"]).to_numpy()
    out[name] = 0.0
    out = _spread(out, pairs, pd.DataFrame({name: cells["value"]}), [name])
    empty = cells[~cells.index.isin(inside.to_numpy())]
    geo = gpd.GeoSeries(gpd.points_from_xy(empty["x"], empty["y"]), crs=rcrs).to_crs(out.crs)
    lone = gpd.GeoDataFrame({name: empty["value"].to_numpy()}, geometry=geo.to_numpy(), crs=out.crs)
    out = _append(out, _point_units(out, lone, [name], "raster_cell"))
    out[name] = out[name].fillna(0.0)
    total = float(cells["value"].sum())
    log.info(
        "raster %s: %.0f over %d cells, %d without buildings", name, total, len(cells), len(empty)
    )
    return out, {
        "file": p.name,
        "raster_total": total,
        "demand_total": float(out[name].sum()),
        "cells": len(cells),
        "cells_without_buildings": len(empty),
    }


def _unit_cells(
    out: gpd.GeoDataFrame, shape: tuple[int, ...], transform: Any, area_r: Any, rcrs: Any
) -> tuple[pd.Series, np.ndarray]:
    """Cell key of each weighted unit, and the mask of cells holding a unit of the area."""
    cand = out.index[out["households_floor"] > 0]
    pts = gpd.GeoSeries(representative_points(out.loc[cand]), crs=out.crs, index=cand)
    pts = pts.to_crs(rcrs)
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    col, row = _affine(~transform, x, y)
    r, c = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
    ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    ok &= shapely.contains_xy(area_r, x, y)
    held = np.zeros(shape[:2], dtype=bool)
    held[r[ok], c[ok]] = True
    return pd.Series(r * 1_000_003 + c, index=cand), held


def _raster_crs(p: Path) -> Any:
    import rasterio

    if not p.exists():
        msg = f"population raster {str(p)!r} does not exist; check the path"
        raise InputError(msg)
    try:
        with rasterio.open(p) as src:
            crs = src.crs
    except rasterio.errors.RasterioIOError as exc:
        msg = f"cannot read {p.name} as a raster ({str(exc).splitlines()[0]}); pass a GeoTIFF"
        raise InputError(msg) from exc
    if crs is None:
        msg = f"{p.name} has no coordinate system; set one (gdal_edit.py -a_srs EPSG:4326)"
        raise InputError(msg)
    return crs


# --- registry totals ----------------------------------------------------------------------


#: Code columns a registry table may be joined on, in order of preference.
CODE_COLUMNS = ("community_code", "street_code", "code", "区划代码", "统计用区划代码")


def read_registry(
    path: str | Path, *, crs: Any = None, communities: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Read registry zones: polygons with totals, or a code table joined to ``communities``.

    A CSV/Excel table without coordinates needs a code column (``community_code``,
    ``street_code``, ``code``, 区划代码) that the community layer also has; rows whose code
    is not there keep no geometry and are reported (``status="no_geometry"``).
    """
    p = Path(path)
    if not p.exists():
        msg = f"registry file {str(p)!r} does not exist; check the path"
        raise InputError(msg)
    if p.suffix.lower() not in {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".xlsm"}:
        return _check_figures(read_layer(p, crs=crs), p.name)
    lon, lat = _coord_columns(p)
    if lon is not None and lat is not None:
        msg = f"{p.name} has point coordinates; registry totals need zone polygons or codes"
        raise InputError(msg)
    table = _plain_table(p)
    code = next((c for c in CODE_COLUMNS if c in table.columns), None)
    if code is None:
        shown = ", ".join(map(str, list(table.columns)[:12]))
        msg = (
            f"{p.name} has no code column (columns: {shown}); name it community_code or street_code"
        )
        raise InputError(msg)
    if communities is None or code not in communities.columns:
        msg = f"{p.name} gives totals by {code}; pass --communities polygons with a {code} column"
        raise InputError(msg)
    table[code] = table[code].astype(str).str.strip()
    shapes = communities[[code, "geometry"]].copy()
    shapes[code] = shapes[code].astype(str).str.strip()
    shapes = shapes.drop_duplicates(code)
    merged = table.merge(shapes, on=code, how="left")
    out = gpd.GeoDataFrame(merged, geometry="geometry", crs=communities.crs)
    missing = int(out.geometry.isna().sum())
    if missing:
        log.warning(
            "%s: %d codes are not in the community layer (reported, not used)", p.name, missing
        )
    return _check_figures(out, p.name)


def _plain_table(p: Path) -> pd.DataFrame:
    """Read a CSV/Excel table as text columns (codes keep their leading zeros)."""
    if p.suffix.lower() in {".xlsx", ".xls", ".xlsm"}:
        return pd.read_excel(p, dtype=str)
    raw = p.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    import io as _stdio

    return pd.read_csv(_stdio.StringIO(text), sep=sep, dtype=str)


def scale_to_registry(
    units: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    settings: Settings = DEFAULTS,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Scale the estimates inside each zone to the zone's known households or population.

    ``zones`` are community, street or township polygons with ``households`` or
    ``population`` (registry or census). Units with figures from a compound table keep them;
    the others inside the zone are scaled so that the zone's total is met. A zone with a total
    but no residential unit inside, or whose compounds already exceed it, is reported
    (``status``) and left alone.

    Returns
    -------
    (units, zones)
        Scaled units (``registry_zone`` = zone row) and the zones with ``status``
        (scaled / no_units / compounds_exceed / no_total / no_geometry), ``estimated`` and
        ``factor``.

    """
    z = _check_figures(to_metric(zones, units.crs), "registry table").reset_index(drop=True)
    polys = z.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    col = "households" if "households" in z.columns else "population"
    out = units.copy()
    pts = gpd.GeoDataFrame(geometry=representative_points(out), crs=out.crs, index=out.index)
    shapes = gpd.GeoDataFrame(geometry=z.geometry[polys], crs=out.crs)
    hit = gpd.sjoin(pts, shapes, predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    out["registry_zone"] = hit["index_right"].reindex(out.index)
    fixed = out["demand_source"].isin(["compound", "compound_point"])
    free = ~fixed & out["residential"].astype(bool) & (out[col] > 0)
    have = out[col].where(free, 0.0).groupby(out["registry_zone"]).sum()
    given = out[col].where(fixed, 0.0).groupby(out["registry_zone"]).sum()
    z["estimated"] = have.reindex(z.index).fillna(0.0) + given.reindex(z.index).fillna(0.0)
    target = (z[col] - given.reindex(z.index).fillna(0.0)).where(z[col].notna())
    factor = target / have.reindex(z.index)
    z["status"] = "scaled"
    z.loc[z[col].isna(), "status"] = "no_total"
    z.loc[z[col].notna() & (have.reindex(z.index).fillna(0) <= 0), "status"] = "no_units"
    z.loc[(z["status"] == "scaled") & (target < 0), "status"] = "compounds_exceed"
    z.loc[~polys, "status"] = "no_geometry"
    z["factor"] = factor.where(z["status"] == "scaled")
    f = out["registry_zone"].map(z["factor"]).where(free)
    ok = f.notna()
    for c in ("households", "population"):
        out.loc[ok, c] = out.loc[ok, c] * f[ok]
    out.loc[ok, "demand_source"] = out.loc[ok, "demand_source"].astype(str) + "+registry"
    log.info("registry zones: %s", z["status"].value_counts().to_dict())
    return out, z


# --- all sources, whole numbers and the summary ---------------------------------------------


def apply_sources(
    units: gpd.GeoDataFrame,
    *,
    compounds: gpd.GeoDataFrame | None = None,
    rasters: Mapping[str, str | Path] | None = None,
    registry: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    area: Any = None,
    settings: Settings = DEFAULTS,
) -> tuple[gpd.GeoDataFrame, dict[str, Any], dict[str, gpd.GeoDataFrame]]:
    """Rasters, then compound tables, then registry totals, over estimated units.

    Returns the units, a report (per raster totals, compound matches, registry zones) and the
    matched compound and zone tables (for ``study.gpkg``).
    """
    out = units.copy()
    if "residential" not in out.columns:
        out["residential"] = True
    if "demand_source" not in out.columns:
        out["demand_source"] = "given"
    report: dict[str, Any] = {}
    tables: dict[str, gpd.GeoDataFrame] = {}
    if rasters:
        out, report["rasters"] = allocate_rasters(out, rasters, area=area, settings=settings)
    if compounds is not None:
        given = (
            float(pd.to_numeric(compounds.get("households"), errors="coerce").sum())
            if "households" in compounds.columns
            else None
        )
        out, comp = allocate_compounds(out, compounds, areas=areas, settings=settings)
        report["compounds"] = {
            "rows": len(comp),
            "households_given": given,
            "match": {str(k): int(v) for k, v in comp["match"].value_counts().sort_index().items()},
        }
        tables["compounds_matched"] = comp
    if registry is not None:
        out, zones = scale_to_registry(out, registry, settings=settings)
        report["registry"] = {
            "zones": len(zones),
            "status": {
                str(k): int(v) for k, v in zones["status"].value_counts().sort_index().items()
            },
        }
        tables["registry_zones"] = zones
    return out, report, tables


def finish_demand(
    units: gpd.GeoDataFrame, *, settings: Settings = DEFAULTS, group: str | None = None
) -> gpd.GeoDataFrame:
    """Keep fractional estimates in ``households_est``/``population_est``; whole numbers out.

    ``households`` and ``population`` become whole numbers by largest remainder within each
    ``group`` (``community_code`` when present), so every total still adds up; other figure
    columns (``elderly``, ...) from rasters or compounds are rounded the same way.
    """
    from geogrid.study.households import round_households

    out = units.copy()
    if group is None or group not in out.columns:
        group = "registry_zone"  # the zones whose totals must come out exactly
    g = out[group] if group in out.columns else None
    non = ~out["residential"].astype(bool) if "residential" in out.columns else None
    for col in ("households", "population", "elderly"):
        if col not in out.columns:
            continue
        v = pd.to_numeric(out[col], errors="coerce").fillna(0.0).clip(lower=0.0)
        if non is not None:
            v = v.where(~non, 0.0)
        out[f"{col}_est"] = v.round(3)
        out[col] = round_households(v.to_numpy(), None if g is None else g.to_numpy())
    return out


def demand_summary(units: gpd.GeoDataFrame, report: Mapping[str, Any]) -> dict[str, Any]:
    """Count units and totals per source and per residential decision; add the source reports."""
    src = (
        units["demand_source"].astype(str)
        if "demand_source" in units.columns
        else pd.Series("given", index=units.index)
    )
    if "residential" in units.columns:
        src = src.where(units["residential"].astype(bool), "non_residential")
    by: dict[str, Any] = {}
    for name, grp in units.groupby(src, sort=True):
        by[str(name)] = {
            "units": len(grp),
            "households": int(grp["households"].sum()),
            "population": int(grp["population"].sum()),
        }
    out: dict[str, Any] = {
        "units": len(units),
        "households": int(units["households"].sum()),
        "population": int(units["population"].sum()),
        "sources": by,
    }
    if "residential" in units.columns:
        res = units["residential"].astype(bool)
        out["residential_units"] = int(res.sum())
        out["non_residential_units"] = int((~res).sum())
        basis = (
            units["residential_basis"].astype(str)
            + ":"
            + np.where(res, "residential", "non_residential")
        )
        out["residential_basis"] = {
            str(k): int(v) for k, v in basis.value_counts().sort_index().items()
        }
    out.update({k: v for k, v in report.items()})
    return out
