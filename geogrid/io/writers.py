"""Write outputs atomically: GeoPackage layers, CSV and Excel tables.

Every writer replaces its target in one step (:func:`atomic_write`): a crash never leaves half a
file, and user inputs are never modified. Text that would be read as a formula by a spreadsheet
is written as text; dates inside files are fixed so that the same inputs give the same bytes.
"""

from __future__ import annotations

import contextlib
import glob
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
import shapely

from geogrid.errors import CRSError, InputError
from geogrid.io.runfolder import TEMP_PREFIX, fixed_timestamp, stable_zip

log = logger = logging.getLogger(__name__)


# --- writing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step.

    The temporary file has the same suffix as ``path`` (so writers that pick a format from the
    extension work), does not exist yet, and is named ``.geogrid-tmp-<pid>-...`` so that a
    later command recognises (and removes) one left by a killed run. If the block raises,
    ``path`` is left untouched and the temporary file is removed. Missing parent folders are
    created.

    Parameters
    ----------
    path : str or path-like
        The file to write.

    Yields
    ------
    Path
        The temporary file to write instead of ``path``.

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

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"名称": ["站点A"]}, geometry=[shapely.Point(0, 0)], crs=4546)
    >>> out = write_layers(pathlib.Path(tempfile.mkdtemp()) / "out.gpkg", {"facilities": pts})
    >>> gpd.read_file(out, layer="facilities")["名称"].tolist()
    ['站点A']

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

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> out = write_table(pd.DataFrame({"社区": ["=HYPERLINK()"]}), pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> out.read_text(encoding="utf-8-sig").splitlines()[1]  # a formula stays text
    "'=HYPERLINK()"

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
