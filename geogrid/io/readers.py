"""Read user layers: vector files and point tables, in any of the CRSs used in China.

:func:`read_layer` reads GeoPackage, GeoJSON, Shapefile (GBK attributes detected), FlatGeobuf,
CSV and Excel point tables with lon/lat columns. Layers in the shifted Chinese systems
(GCJ-02 from Amap/Tencent, BD-09 from Baidu) are converted to WGS84 and remember what they were
in ``gdf.attrs["source_crs"]``. Bad input raises :class:`geogrid.errors.InputError` with a
one-line message naming the fix.
"""

from __future__ import annotations

import codecs
import io as _stdio
import logging
import os
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from geogrid.crs import SHIFTED, parse_crs, to_wgs84
from geogrid.errors import CRSError, InputError
from geogrid.io import osmxml as _osm

log = logger = logging.getLogger(__name__)


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

    Examples
    --------
    >>> import os, pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows = ["名称,lon,lat", "站点A,116.40,39.91"]
    >>> _ = (folder / "stations.csv").write_text(os.linesep.join(rows), encoding="utf-8")
    >>> gdf = read_layer(folder / "stations.csv", crs="wgs84")  # GPS/OSM coordinates
    >>> gdf.crs.to_epsg(), gdf["名称"].tolist()
    (4326, ['站点A'])
    >>> amap = read_layer(folder / "stations.csv", crs="gcj02")  # Amap coordinates, shifted back
    >>> amap.attrs["source_crs"]
    'gcj02'

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
    sample = _dbf_sample(dbf) if dbf is not None else None
    if sample is None:
        return None
    ldid, desc, body, record_len = sample
    # A language driver other than "none"/"ANSI"/GBK is trusted: GDAL applies it.
    if ldid not in (0x00, 0x57, 0x4D, 0x7A):
        return None
    non_ascii = [v for v in _dbf_texts(desc, body, record_len) if any(b >= 0x80 for b in v)]
    if not non_ascii:
        return None
    if all(_is_utf8(v) for v in non_ascii):
        return "UTF-8"
    log.info("%s: attributes are not UTF-8 and there is no .cpg; reading them as GB18030", shp.name)
    return "GB18030"


def _dbf_sample(dbf: Path) -> tuple[int, bytes, bytes, int] | None:
    """Language driver id, field descriptors, the first 20,000 records and the record length."""
    with dbf.open("rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            return None
        header_len = int.from_bytes(head[8:10], "little")
        record_len = int.from_bytes(head[10:12], "little")
        desc = fh.read(max(header_len - 32, 0))
        n_records = max(0, min(int.from_bytes(head[4:8], "little"), 20_000))
        body = fh.read(record_len * n_records) if record_len else b""
    return head[29], desc, body, record_len


def _dbf_texts(desc: bytes, body: bytes, record_len: int) -> list[bytes]:
    """Field names and the character values holding a byte >= 0x80."""
    names: list[bytes] = []
    c_fields: list[tuple[int, int]] = []
    offset = 1  # deletion flag
    for i in range(0, len(desc) - 31, 32):
        if desc[i] == 0x0D:  # end of the field descriptors
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
    return values


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
            return str(lower[name])
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
    out: np.ndarray = values.to_numpy(dtype=float)
    return out


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
