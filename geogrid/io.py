"""Read user layers and OpenStreetMap extracts; write outputs atomically.

Readers
-------
:func:`read_layer` reads GeoPackage, GeoJSON, Shapefile (GBK attributes detected), FlatGeobuf,
CSV and Excel point tables with lon/lat columns. Layers in the shifted Chinese systems
(GCJ-02 from Amap/Tencent, BD-09 from Baidu) are converted to WGS84 and remember what they were
in ``gdf.attrs["source_crs"]``. :func:`read_osm` reads ``.osm``/``.osm.bz2``/``.osm.gz``/
``.osm.pbf`` files with pyosmium into an :class:`OSMData`; :func:`fetch_osm` downloads the same
layers from Overpass with an on-disk cache.

Writers
-------
Every writer replaces its target in one step (:func:`atomic_write`): a crash never leaves half a
file, and user inputs are never modified.

OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import glob
import hashlib
import io as _stdio
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from . import _osm
from ._runfolder import TEMP_PREFIX, fixed_timestamp, stable_zip
from .crs import SHIFTED, parse_crs, to_wgs84
from .errors import CRSError, InputError

__all__ = [
    "OSM_ATTRIBUTION",
    "OSMData",
    "atomic_write",
    "fetch_osm",
    "read_layer",
    "read_osm",
    "write_layers",
    "write_table",
]

log = logging.getLogger(__name__)

#: Attribution to show wherever a result made from OpenStreetMap data is shown.
OSM_ATTRIBUTION = "(c) OpenStreetMap contributors, ODbL 1.0"

#: Column names recognised as longitude / latitude (compared case-insensitively).
LON_NAMES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x", "经度", "wgs84_lon")
LAT_NAMES: tuple[str, ...] = ("lat", "latitude", "y", "纬度", "wgs84_lat")

_VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".fgb", ".gml", ".kml", ".zip"}
_TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"}
#: ``file.gpkg|layername=NAME`` (the QGIS convention) picks a layer on the command line.
_LAYER_SEP = "|layername="
_CRS_CHOICES = "crs='wgs84' (GPS/OSM), 'gcj02' (Amap/Tencent) or 'bd09' (Baidu)"


# --- reading user layers --------------------------------------------------------------------------


def read_layer(
    path: str | os.PathLike[str],
    *,
    layer: str | int | None = None,
    crs: Any = None,
    encoding: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer or a lon/lat point table into a GeoDataFrame.

    Parameters
    ----------
    path : str or path-like
        A GeoPackage (``.gpkg``; ``"file.gpkg|layername=NAME"`` picks a layer, as in QGIS), GeoJSON (``.geojson``/``.json``), Shapefile (``.shp``),
        FlatGeobuf (``.fgb``), CSV (``.csv``/``.txt``/``.tsv``) or Excel (``.xlsx``/``.xls``)
        file. The file is never modified.
    layer : str or int, optional
        Layer of a multi-layer file (GeoPackage) or sheet of an Excel workbook. Required when
        a GeoPackage has more than one layer.
    crs : optional
        Coordinate system of the data: an EPSG code, ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``
        (Amap, Tencent) or ``"bd09"`` (Baidu); see :func:`geogrid.crs.parse_crs`. Required for
        CSV/Excel and for files without one (a shapefile without ``.prj``). For a file that
        declares a CRS it must agree, except ``"gcj02"``/``"bd09"``, which override a declared
        geographic CRS (Amap GeoJSON declares WGS84 but is GCJ-02).
    encoding : str, optional
        Text encoding of shapefile attributes or CSV text. By default a shapefile's ``.cpg`` is
        honoured; without one, attributes that are not UTF-8 are read as GB18030 (a superset of
        GBK); CSV text is read as UTF-8 (with or without BOM) or else GB18030.
    lon, lat : str, optional
        Coordinate column names of a CSV/Excel table. By default the first column named
        lon/lng/long/longitude/x/经度 and lat/latitude/y/纬度 (any case).

    Returns
    -------
    GeoDataFrame
        In the file's CRS, or EPSG:4326 when the data was GCJ-02/BD-09, in which case
        ``attrs["source_crs"]`` is ``"gcj02"``/``"bd09"``. Rows without geometry are dropped.

    Raises
    ------
    InputError
        Missing file, unknown extension, empty layer, missing or bad coordinate columns.
    CRSError
        No coordinate system known, or ``crs=`` contradicts the file's.

    """
    text = os.fspath(path)
    if layer is None and _LAYER_SEP in text:
        text, layer = text.split(_LAYER_SEP, 1)
    p = Path(text)
    if not p.exists():
        msg = f"{p} does not exist; check the path (relative paths start at {Path.cwd()})"
        raise InputError(msg)
    if p.is_dir():
        msg = f"{p} is a folder; pass a file inside it (.gpkg, .geojson, .shp, .csv, .xlsx)"
        raise InputError(msg)
    if p.stat().st_size == 0:
        msg = f"{p.name} is an empty file (0 bytes); export the layer again"
        raise InputError(msg)
    suffix = p.suffix.lower()
    user_crs = parse_crs(crs) if crs is not None else None
    if suffix in _TABLE_SUFFIXES:
        gdf = _read_table(p, sheet=layer, encoding=encoding, lon=lon, lat=lat, crs=user_crs)
    elif suffix in _VECTOR_SUFFIXES:
        gdf = _read_vector(p, layer=layer, encoding=encoding, crs=user_crs)
    elif p.name.lower().endswith(tuple(s for s, _ in _osm.OSM_FORMATS)):
        msg = f"{p.name} is an OpenStreetMap file; read it with geogrid.io.read_osm({str(p)!r})"
        raise InputError(msg)
    else:
        known = ", ".join(sorted(_VECTOR_SUFFIXES | _TABLE_SUFFIXES))
        msg = f"{p.name} has an extension geogrid cannot read ({p.suffix!r}); pass one of {known}"
        raise InputError(msg)
    log.info("read %d features from %s (crs %s)", len(gdf), p.name, _crs_name(gdf.crs))
    return gdf


def _crs_name(crs: Any) -> str:
    if crs is None:
        return "none"
    c = pyproj.CRS(crs)
    code = c.to_epsg()
    return f"EPSG:{code}" if code else c.name


def _read_vector(
    p: Path, *, layer: str | int | None, encoding: str | None, crs: pyproj.CRS | str | None
) -> gpd.GeoDataFrame:
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        kind = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage"}.get(
            p.suffix.lower(), "a vector file"
        )
        msg = f"{p.name} cannot be opened as {kind} (not a valid or complete file); export it again"
        raise InputError(msg) from exc
    names = [str(n) for n in layers[:, 0]]
    if layer is None and len(names) > 1:
        shown = ", ".join(repr(n) for n in names[:8]) + (" ..." if len(names) > 8 else "")
        msg = f"{p.name} has {len(names)} layers ({shown}); pass layer='{names[0]}' (command line: '{p.name}|layername={names[0]}')"
        raise InputError(msg)
    if layer is not None and not isinstance(layer, int) and str(layer) not in names:
        msg = f"{p.name} has no layer {layer!r}; pass one of {', '.join(map(repr, names))}"
        raise InputError(msg)
    if layer is not None and isinstance(layer, int) and not 0 <= layer < len(names):
        msg = f"{p.name} has {len(names)} layers, no layer number {layer}; pass 0-{len(names) - 1}"
        raise InputError(msg)
    kwargs: dict[str, Any] = {}
    if encoding is not None:
        kwargs["encoding"] = _gdal_encoding(encoding)
    elif p.suffix.lower() == ".shp":
        detected = _shapefile_encoding(p)
        if detected is not None:
            kwargs["encoding"] = detected
    try:
        gdf = pyogrio.read_dataframe(p, layer=layer, **kwargs)
    except Exception as exc:
        msg = f"{p.name} cannot be read ({_first_line(exc)}); check the file or pass encoding="
        raise InputError(msg) from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        msg = f"{p.name} layer {layer!r} has no geometry column; pass a spatial layer"
        raise InputError(msg)
    gdf = _drop_empty(gdf, p)
    return _check_coordinates(_apply_crs(gdf, p, crs), p)


def _gdal_encoding(encoding: str) -> str:
    """Translate a Python codec name (``latin-1``, ``gbk``) into the name GDAL/iconv knows."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        msg = f"unknown encoding {encoding!r}; pass e.g. encoding='gbk', 'gb18030' or 'utf-8'"
        raise InputError(msg) from exc
    if name.startswith("iso8859-"):
        return "ISO-8859-" + name.split("-", 1)[1]
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gbk": "CP936"}.get(name, name.upper())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _drop_empty(gdf: gpd.GeoDataFrame, p: Path) -> gpd.GeoDataFrame:
    if len(gdf) == 0:
        msg = f"{p.name} has no features; pass a layer with at least one feature"
        raise InputError(msg)
    geoms = np.asarray(gdf.geometry.values)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.all():
        msg = f"{p.name} has {len(gdf)} rows but no geometries; pass a layer with geometries"
        raise InputError(msg)
    if bad.any():
        log.warning("%s: dropped %d rows without geometry", p.name, int(bad.sum()))
        dropped = pd.DataFrame(gdf.loc[bad].drop(columns=gdf.geometry.name)).astype(object)
        dropped["_row_number"] = np.flatnonzero(bad)
        gdf = gdf.loc[~bad].reset_index(drop=True)
        # the caller records them in its 'excluded' layer (geogrid._exclusions)
        gdf.attrs["rows_without_geometry"] = dropped.to_dict("records")
    return gdf


def _check_coordinates(gdf: gpd.GeoDataFrame, p: Path) -> gpd.GeoDataFrame:
    """Refuse non-finite coordinates, and lon/lat out of range in a geographic layer."""
    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values))
    if not np.isfinite(xy).all():
        msg = f"{p.name} has coordinates that are not finite numbers (NaN or infinity); fix those features"
        raise InputError(msg)
    if gdf.crs is None or not pyproj.CRS(gdf.crs).is_geographic or not len(xy):
        return gdf
    x, y = xy[:, 0], xy[:, 1]
    if (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
        return gdf
    name = _crs_name(gdf.crs)
    if (np.abs(x) <= 90).all() and (np.abs(y) <= 180).all():
        msg = (
            f"{p.name} declares {name} lon/lat, but its y values reach {np.abs(y).max():.4g} > 90: "
            "the axes are swapped (lat, lon); swap x and y (QGIS: Swap X and Y) and save again"
        )
        raise CRSError(msg)
    msg = (
        f"{p.name} declares {name} lon/lat, but its coordinates reach {np.abs(xy).max():.4g}, "
        "so they are metres in a projected system; pass that system as the layer's CRS "
        "(--demand-crs/--facilities-crs EPSG:4547, crs= in Python) or fix the file's CRS"
    )
    raise CRSError(msg)


def _apply_crs(gdf: gpd.GeoDataFrame, p: Path, crs: pyproj.CRS | str | None) -> gpd.GeoDataFrame:
    declared = gdf.crs
    if declared is not None and crs is None:
        name = pyproj.CRS(declared).name.lower().replace("-", "").replace("_", "")
        for shifted in SHIFTED:
            if shifted in name:
                crs = shifted  # a custom CRS that names GCJ-02/BD-09
                declared = None
    if declared is None:
        if crs is None:
            msg = (
                f"{p.name} has no coordinate system (a shapefile needs its .prj); "
                f"pass {_CRS_CHOICES}, an EPSG code, or --crs on the command line"
            )
            raise CRSError(msg)
        if isinstance(crs, str):
            return _shift_to_wgs84(gdf.set_crs("EPSG:4326", allow_override=True), crs)
        return gdf.set_crs(crs, allow_override=True)
    if crs is None:
        return gdf
    declared = pyproj.CRS(declared)
    if isinstance(crs, str):
        if not declared.is_geographic:
            msg = (
                f"{p.name} declares the projected {_crs_name(declared)}, but crs={crs!r} is "
                "lon/lat; drop crs= or pass the file's lon/lat coordinates"
            )
            raise CRSError(msg)
        return _shift_to_wgs84(gdf.set_crs("EPSG:4326", allow_override=True), crs)
    if declared.equals(crs, ignore_axis_order=True):
        return gdf
    if declared.is_geographic and crs.is_projected and _out_of_lonlat(gdf):
        log.warning(
            "%s declares %s but its coordinates are metres; using crs=%s as passed",
            p.name,
            _crs_name(declared),
            _crs_name(crs),
        )
        return gdf.set_crs(crs, allow_override=True)
    msg = (
        f"{p.name} declares {_crs_name(declared)} but crs={_crs_name(crs)!r} was passed; "
        "drop crs= to use the file's, or pass crs='gcj02'/'bd09' for shifted lon/lat"
    )
    raise CRSError(msg)


def _out_of_lonlat(gdf: gpd.GeoDataFrame) -> bool:
    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values))
    return bool(len(xy)) and bool((np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any())


def _shift_to_wgs84(gdf: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    out = to_wgs84(gdf, source)
    out.attrs["source_crs"] = source
    return out


# --- shapefile encoding ---------------------------------------------------------------------------


def _shapefile_encoding(shp: Path) -> str | None:
    """Return the encoding to force for a shapefile's .dbf, or None to let GDAL decide."""
    for suffix in (".cpg", ".CPG"):
        if shp.with_suffix(suffix).exists():
            return None
    dbf = next((shp.with_suffix(s) for s in (".dbf", ".DBF") if shp.with_suffix(s).exists()), None)
    if dbf is None:
        return None
    with dbf.open("rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            return None
        header_len = int.from_bytes(head[8:10], "little")
        record_len = int.from_bytes(head[10:12], "little")
        ldid = head[29]
        desc = fh.read(max(header_len - 32, 0))
        n_records = max(0, min(int.from_bytes(head[4:8], "little"), 20_000))
        body = fh.read(record_len * n_records) if record_len else b""
    # A language driver other than "none"/"ANSI"/GBK is trusted: GDAL applies it.
    if ldid not in (0x00, 0x57, 0x4D, 0x7A):
        return None
    names: list[bytes] = []
    c_fields: list[tuple[int, int]] = []
    offset = 1  # deletion flag
    for i in range(0, len(desc) - 31, 32):
        if desc[i] == 0x0D:
            break
        names.append(desc[i : i + 11].split(b"\x00", 1)[0])
        width = desc[i + 16]
        if desc[i + 11 : i + 12] == b"C":
            c_fields.append((offset, width))
        offset += width
    values = list(names)
    if record_len and body:
        rows = np.frombuffer(body[: len(body) - len(body) % record_len], dtype=np.uint8)
        rows = rows.reshape(-1, record_len)
        for start, width in c_fields:
            cells = rows[:, start : start + width]
            high = (cells >= 0x80).any(axis=1)
            values.extend(bytes(c).rstrip(b" \x00") for c in cells[high])
    non_ascii = [v for v in values if any(b >= 0x80 for b in v)]
    if not non_ascii:
        return None
    if all(_is_utf8(v) for v in non_ascii):
        return "UTF-8"
    log.info("%s: attributes are not UTF-8 and there is no .cpg; reading them as GB18030", shp.name)
    return "GB18030"


def _is_utf8(raw: bytes) -> bool:
    """UTF-8, allowing one multi-byte character cut off at the end (a full dbf field)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(raw, final=False)
    except UnicodeDecodeError:
        return False
    return True


# --- CSV / Excel point tables -------------------------------------------------------------------


def _decode_text(raw: bytes, encoding: str | None, name: str) -> str:
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            msg = f"{name} is not {encoding} text ({_first_line(exc)}); pass the right encoding="
            raise InputError(msg) from exc
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        msg = f"{name} is neither UTF-8 nor GBK text; pass encoding= (e.g. encoding='big5')"
        raise InputError(msg) from exc
    log.info("%s: text is not UTF-8; read it as GB18030 (GBK)", name)
    return text


def _read_table(
    p: Path,
    *,
    sheet: str | int | None,
    encoding: str | None,
    lon: str | None,
    lat: str | None,
    crs: pyproj.CRS | str | None,
) -> gpd.GeoDataFrame:
    suffix = p.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            df = pd.read_excel(p, sheet_name=0 if sheet is None else sheet)
        else:
            text = _decode_text(p.read_bytes(), encoding, p.name)
            sep = None if suffix == ".txt" else "\t" if suffix == ".tsv" else ","
            df = _typed_columns(
                pd.read_csv(
                    _stdio.StringIO(text),
                    sep=sep,
                    engine="python" if sep is None else "c",
                    dtype=str,
                    keep_default_na=False,
                )
            )
    except ImportError as exc:
        msg = f"{p.name}: {suffix} needs an extra package ({_first_line(exc)}); save it as .xlsx"
        raise InputError(msg) from exc
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        msg = f"{p.name} cannot be read as a table ({_first_line(exc)}); check the file or sheet"
        raise InputError(msg) from exc
    if len(df) == 0:
        msg = f"{p.name} has no rows; pass a table with one point per row"
        raise InputError(msg)
    df.columns = [str(c).strip() for c in df.columns]
    lon_col = _find_column(df, lon, LON_NAMES, "lon", p.name)
    lat_col = _find_column(df, lat, LAT_NAMES, "lat", p.name)
    if crs is None:
        msg = (
            f"{p.name} has lon/lat columns but no coordinate system; pass {_CRS_CHOICES}, "
            "or --crs on the command line"
        )
        raise CRSError(msg)
    x = _numeric(df[lon_col], lon_col, p.name)
    y = _numeric(df[lat_col], lat_col, p.name)
    geographic = isinstance(crs, str) or crs.is_geographic
    if geographic:
        _check_lonlat(x, y, lon_col, lat_col, p.name)
    geometry = gpd.points_from_xy(x, y)
    if isinstance(crs, str):
        gdf = gpd.GeoDataFrame(df, geometry=geometry, crs="EPSG:4326")
        return _shift_to_wgs84(gdf, crs)
    return gpd.GeoDataFrame(df, geometry=geometry, crs=crs)


#: Columns whose text is kept as text even when it looks like a number (codes keep their zeros).
_CODE_COLUMN = re.compile(r"(code|(^|_)id$|编码|代码|编号)", re.IGNORECASE)
_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def _typed_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Turn a table read as text into numbers only where every value is a plain number.

    Codes (``community_code``, ``编码``, ids) and any column with a value such as ``"007"`` stay
    text, so leading zeros survive; ``"NA"`` or ``"FALSE"`` stay the text they are; blank cells
    become missing.
    """
    out = {}
    for col in df.columns:
        text = df[col].str.strip()
        text = text.mask(text == "")
        present = text.dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        numeric = (
            len(present) > 0
            and not _CODE_COLUMN.search(str(col))
            and bool(numbers.notna().all())
            and not bool(present.str.match(_LEADING_ZERO).any())
        )
        out[col] = pd.to_numeric(text, errors="coerce") if numeric else text
    return pd.DataFrame(out, index=df.index)


def _find_column(
    df: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, fname: str
) -> str:
    columns = list(df.columns)
    shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
    if given is not None:
        if given in columns:
            return given
        msg = f"{fname} has no column {given!r} (columns: {shown}); pass {what}= one of them"
        raise InputError(msg)
    lower = {c.lower(): c for c in reversed(columns)}
    for name in names:
        if name in lower:
            return lower[name]
    msg = (
        f"{fname} has no {what} column (columns: {shown}); name it {'/'.join(names[:5])} "
        "or pass lon='...' and lat='...' in Python"
    )
    raise InputError(msg)


def _numeric(col: pd.Series, name: str, fname: str) -> np.ndarray:
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        first = rows[0]
        msg = (
            f"{fname} column {name!r} has {len(rows)} empty or non-numeric values "
            f"(first: data row {first + 1}, {col.iloc[first]!r}); fix or delete those rows"
        )
        raise InputError(msg)
    return values.to_numpy(dtype=float)


def _check_lonlat(x: np.ndarray, y: np.ndarray, xc: str, yc: str, fname: str) -> None:
    bad_x = (x < -180) | (x > 180)
    bad_y = (y < -90) | (y > 90)
    if not (bad_x.any() or bad_y.any()):
        return
    if bad_y.any() and not bad_x.any() and (np.abs(x) <= 90).all() and (np.abs(y) <= 180).all():
        msg = (
            f"{fname}: {yc!r} has values above 90, so lon and lat look swapped; "
            f"pass lon={yc!r}, lat={xc!r}"
        )
        raise InputError(msg)
    col, vals, bad = (xc, x, bad_x) if bad_x.any() else (yc, y, bad_y)
    first = int(np.flatnonzero(bad)[0])
    msg = (
        f"{fname} column {col!r} has {int(bad.sum())} values out of lon/lat range "
        f"(first: data row {first + 1}, {vals[first]!r}); fix them, or pass the projected "
        "CRS (e.g. crs='EPSG:4547') if these are metres"
    )
    raise InputError(msg)


# --- OpenStreetMap ------------------------------------------------------------------------------


@dataclasses.dataclass(repr=False)
class OSMData:
    """The layers of an OpenStreetMap extract that geogrid uses, all in EPSG:4326.

    Attributes
    ----------
    ways : GeoDataFrame
        Every way tagged ``highway``, as a LineString: ``osmid``, ``highway``, ``access``,
        ``service``, ``foot``, ``name``, ``area``, ``oneway``, ``footway``, ``sidewalk``,
        ``crossing``, ``bridge``, ``tunnel``, ``layer``, ``level``, ``indoor``, ``surface``,
        ``width``, ``lanes``, ``maxspeed``, ``junction``, ``bicycle``, ``motor_vehicle``,
        ``ref``, ``name:en`` (raw tag strings or None) and ``nodes`` (list of node ids, one per
        vertex). A node shared by two ways has float-identical coordinates in both.
    buildings : GeoDataFrame
        Building (Multi)Polygons from closed ways and multipolygon relations: ``osmid``,
        ``osm_type`` ("way"/"relation"), ``building``, ``building:levels``,
        ``building:levels:underground``, ``height``, ``min_height``, ``roof:levels``, ``name``,
        ``amenity``, ``shop``, ``office`` and any ``addr:*`` (raw tag strings).
    residential : GeoDataFrame
        ``landuse=residential`` (Multi)Polygons: ``osmid``, ``osm_type``, ``name``.
    pois : GeoDataFrame
        Points of interest tagged amenity/office/shop/government/social_facility/
        community_centre/healthcare: nodes, and closed ways and relations as centroids.
        Columns ``osmid``, ``osm_type``, ``name``, those keys, ``social_facility:for``,
        ``community_centre:for``, ``building``, ``operator`` and any ``addr:*``.
    source : str
        The file read, or the cached download.
    attribution : str
        ODbL attribution to show with any result made from these data.

    """

    ways: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    source: str = ""
    attribution: str = OSM_ATTRIBUTION

    def __repr__(self) -> str:
        return (
            f"OSMData({len(self.ways)} highway ways, {len(self.buildings)} buildings, "
            f"{len(self.residential)} residential areas, {len(self.pois)} POIs"
            f"{', from ' + Path(self.source).name if self.source else ''})"
        )

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the four layers by name, e.g. for :func:`write_layers`."""
        return {
            "ways": self.ways,
            "buildings": self.buildings,
            "residential": self.residential,
            "pois": self.pois,
        }


def _check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        msg = f"bbox must be (west, south, east, north) in degrees, got {bbox!r}; pass 4 numbers"
        raise InputError(msg) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = (
            f"bbox must be (west, south, east, north) lon/lat degrees with west < east and "
            f"south < north, got {bbox!r}; pass e.g. (118.763, 32.035, 118.796, 32.052)"
        )
        raise InputError(msg)
    return west, south, east, north


def read_osm(
    path: str | os.PathLike[str], *, bbox: tuple[float, float, float, float] | None = None
) -> OSMData:
    """Read an OpenStreetMap file into highway ways, buildings, residential areas and POIs.

    Parameters
    ----------
    path : str or path-like
        ``.osm``, ``.osm.xml``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` (read with pyosmium).
    bbox : tuple, optional
        ``(west, south, east, north)`` in WGS84 degrees; only features that intersect it are
        kept (whole, not clipped, so streets stay connected).

    Returns
    -------
    OSMData
        All layers in EPSG:4326. Only ``highway`` ways are in ``ways``; buildings and other
        areas never are.

    Raises
    ------
    InputError
        Missing file, unknown extension, or a file osmium cannot parse.

    """
    p = Path(path)
    if not p.exists():
        msg = f"{p} does not exist; check the path (relative paths start at {Path.cwd()})"
        raise InputError(msg)
    box = _check_bbox(bbox) if bbox is not None else None
    layers = _osm.parse_osm_file(p)
    if box is not None:
        layers = _osm.clip_layers(layers, shapely.box(*box))
    data = OSMData(**layers, source=str(p))
    log.info("read %r", data)
    return data


def fetch_osm(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    polygon: shapely.Geometry | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> OSMData:
    """Download an :class:`OSMData` from the Overpass API, cached on disk.

    Exactly one of ``place``, ``bbox`` and ``polygon`` is given. The extract is written to
    ``cache_dir`` as ``osm_<hash>.osm.pbf`` and read back with :func:`read_osm`, so a second
    call with the same area needs no network; osmnx's HTTP cache is kept in
    ``cache_dir/osmnx``.

    Parameters
    ----------
    place : str, optional
        A place name geocoded by Nominatim (via osmnx), e.g. ``"玄武区, 南京市"``.
    bbox : tuple, optional
        ``(west, south, east, north)`` in WGS84 degrees.
    polygon : shapely geometry, optional
        A (Multi)Polygon in WGS84 degrees; features intersecting it are kept.
    cache_dir : str or path-like, optional
        Cache folder (default: osmnx's ``settings.cache_folder``).

    Returns
    -------
    OSMData
        As :func:`read_osm`.

    Raises
    ------
    InputError
        Not exactly one area given, or a bad area.
    NetworkError
        The download failed.

    """
    import osmnx as ox

    given = [v is not None for v in (place, bbox, polygon)]
    if sum(given) != 1:
        msg = "fetch_osm needs one area; pass place=, bbox=(west, south, east, north) or polygon="
        raise InputError(msg)
    cache = Path(cache_dir if cache_dir is not None else ox.settings.cache_folder)
    cache.mkdir(parents=True, exist_ok=True)
    old = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache, ox.settings.cache_folder = True, str(cache / "osmnx")
    try:
        if place is not None:
            region = ox.geocode_to_gdf(place).union_all()
        elif bbox is not None:
            region = shapely.box(*_check_bbox(bbox))
        else:
            region = shapely.geometry.shape(polygon) if isinstance(polygon, dict) else polygon
            if not isinstance(region, shapely.Polygon | shapely.MultiPolygon) or region.is_empty:
                kind = type(polygon).__name__
                msg = f"polygon must be a shapely (Multi)Polygon in lon/lat, got {kind}; pass one"
                raise InputError(msg)
        bounds = tuple(round(float(v), 7) for v in region.bounds)
        spec = json.dumps([_osm.CACHE_VERSION, bounds, list(_osm.POI_KEYS)])
        key = hashlib.sha1(spec.encode()).hexdigest()[:16]
        target = cache / f"osm_{key}.osm.pbf"
        if target.exists():
            log.info("using cached OSM extract %s", target)
        else:
            _osm.download_overpass(bounds, target)  # type: ignore[arg-type]
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = old
    layers = _osm.parse_osm_file(target)
    layers = _osm.clip_layers(layers, region)
    return OSMData(**layers, source=str(target))


# --- writing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary file has the same suffix as ``path`` (so writers that pick a format from the
    extension work), does not exist yet, and is named ``.geogrid-tmp-<pid>-...`` so that a
    later command recognises (and removes) one left by a killed run. If the block raises, ``path`` is left untouched and
    the temporary file is removed. Missing parent folders are created.

    Examples
    --------
    >>> with atomic_write("maps/coverage.html") as tmp:  # doctest: +SKIP
    ...     folium_map.save(str(tmp))

    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".osm.pbf") else target.suffix
    tmp = target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        if not tmp.exists():
            msg = f"nothing was written to {tmp.name} for {target.name}; write to the yielded path"
            raise InputError(msg)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
        # sqlite journals (-wal, -shm, -journal) left by a failed GeoPackage write
        for side in tmp.parent.glob(glob.escape(tmp.name) + "-*"):
            side.unlink()


def _safe_value(v: Any) -> Any:
    if isinstance(v, list | tuple | dict | set | np.ndarray):
        items = sorted(v) if isinstance(v, set) else v
        return json.dumps(
            items.tolist() if isinstance(items, np.ndarray) else items,
            ensure_ascii=False,
            default=str,
        )
    return v


def _safe_frame(df: pd.DataFrame, *, bool_to_int: bool = False) -> pd.DataFrame:
    """Copy with list/dict cells as JSON text, mixed object columns as text, names as str."""
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    if len(set(out.columns)) != len(out.columns):
        dup = sorted({c for c in out.columns if list(out.columns).count(c) > 1})
        msg = f"duplicate column names {dup}; rename them before writing"
        raise InputError(msg)
    geom_name = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for c in out.columns:
        if c == geom_name:
            continue
        s = out[c]
        if s.dtype == object:
            s = s.map(_safe_value)
            kinds = {type(v) for v in s.dropna()}
            if kinds and kinds <= {bool, np.bool_}:  # booleans with gaps
                s = s.astype("boolean")
            elif len(kinds) > 1:  # e.g. ints and strings: GDAL needs one type
                s = s.map(lambda v: None if v is None or v is pd.NA else str(v))
            out[c] = s
        elif bool_to_int and pd.api.types.is_bool_dtype(s):
            out[c] = s.astype("int8")
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(str).where(s.notna(), None)
    return out


@contextlib.contextmanager
def _fixed_gdal_date() -> Iterator[None]:
    """GDAL stamps :func:`fixed_timestamp` instead of the clock into GeoPackages written here.

    GeoPackage ``gpkg_contents.last_change`` is the only varying byte between two writes of the
    same layers; GDAL's ``OGR_CURRENT_DATE`` option fixes it (restored afterwards).
    """
    key = "OGR_CURRENT_DATE"
    old = pyogrio.get_gdal_config_option(key)
    stamp = fixed_timestamp().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pyogrio.set_gdal_config_options({key: stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: old})


def write_layers(path: str | os.PathLike[str], layers: Mapping[str, pd.DataFrame]) -> Path:
    """Write several layers into one GeoPackage atomically.

    Parameters
    ----------
    path : str or path-like
        Target ``.gpkg``; replaced in one step when every layer is written.
    layers : mapping of str to GeoDataFrame
        Layer name -> layer. A plain DataFrame becomes an attribute table. List, tuple and
        dict cells are written as JSON text, mixed-type object columns as text; bool columns
        stay booleans.

    Returns
    -------
    Path
        The written file.

    """
    target = Path(path)
    if target.suffix.lower() != ".gpkg":
        msg = f"write_layers writes a GeoPackage, got {target.name!r}; pass a path ending in .gpkg"
        raise InputError(msg)
    if not layers:
        msg = "write_layers got no layers; pass a mapping such as {'grids': grids_gdf}"
        raise InputError(msg)
    for name, gdf in layers.items():
        if not isinstance(name, str) or not name.strip():
            msg = f"layer names must be non-empty text, got {name!r}; pass e.g. 'grids'"
            raise InputError(msg)
        if isinstance(gdf, gpd.GeoDataFrame) and gdf.crs is None:
            msg = f"layer {name!r} has no CRS; set one with gdf.set_crs(...) before writing"
            raise CRSError(msg)
        if not isinstance(gdf, pd.DataFrame):
            msg = f"layer {name!r} is a {type(gdf).__name__}; pass a GeoDataFrame or DataFrame"
            raise InputError(msg)
    with atomic_write(target) as tmp, _fixed_gdal_date():
        for name, gdf in layers.items():
            frame = _safe_frame(gdf)
            if isinstance(frame, gpd.GeoDataFrame):
                geom_type = None
                if len(frame) == 0 or frame.geometry.isna().all():
                    geom_type = "Unknown"
                pyogrio.write_dataframe(
                    frame, tmp, layer=name, driver="GPKG", geometry_type=geom_type
                )
            else:
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
    log.info("wrote %d layers to %s", len(layers), target)
    return target


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_text(frame: pd.DataFrame, *, csv: bool) -> pd.DataFrame:
    """Text cells a spreadsheet shows as text: no formula, no XML-illegal characters.

    In a CSV, a text cell starting with ``= + - @``, tab or CR gets a leading ``'`` (Excel
    would run it as a formula: CSV injection); in a workbook, control characters XML forbids
    become U+FFFD (the formula guard is the cell type, set by :func:`write_table`).
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype != object and not pd.api.types.is_string_dtype(out[col]):
            continue
        if csv:
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
        else:
            out[col] = out[col].map(
                lambda v: (
                    re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", v) if isinstance(v, str) else v
                )
            )
    return out


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table atomically: ``.csv`` as UTF-8 with BOM (Excel shows Chinese), or ``.xlsx``.

    A geometry column is written as WKT text; list/dict cells as JSON text; bools as
    ``True``/``False``.

    Parameters
    ----------
    df : DataFrame or GeoDataFrame
        The table.
    path : str or path-like
        Target ``.csv`` or ``.xlsx``.

    Returns
    -------
    Path
        The written file.

    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in {".csv", ".xlsx"}:
        msg = f"write_table writes .csv or .xlsx, got {target.name!r}; pass a path ending in .csv"
        raise InputError(msg)
    frame = _safe_frame(df)
    if isinstance(frame, gpd.GeoDataFrame):
        name = frame.geometry.name
        wkt = shapely.to_wkt(np.asarray(frame.geometry.values), rounding_precision=-1)
        frame = pd.DataFrame(frame.drop(columns=name)).assign(**{name: wkt})
    frame = _spreadsheet_text(frame, csv=suffix == ".csv")
    with atomic_write(target) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
        else:
            with pd.ExcelWriter(tmp, engine="openpyxl") as book:
                frame.to_excel(book, index=False)
                for row in book.sheets["Sheet1"].iter_rows():
                    for cell in row:  # text from user files is never a formula
                        if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
                            cell.data_type = "s"
                            cell.quotePrefix = True
            stable_zip(tmp)
    log.info("wrote %d rows to %s", len(frame), target)
    return target
