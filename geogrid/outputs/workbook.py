"""The Excel ledger (台账): one sheet per community, grid, facility, uncovered compound, gap and site.

Chinese headers come from :mod:`geogrid.schema`; every text cell is escaped for Excel (no formulas),
the file is written atomically and has no clock in it (same figures, same bytes).
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.io.runfolder import stable_zip
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import SUMMARY_LABELS, key_figures, lonlat, uncovered_table
from geogrid.outputs.markdown import write_summary
from geogrid.outputs.privacy import drop_personal
from geogrid.outputs.static_map import static_map
from geogrid.schema import TEXT, check_lang, header, type_label

log = logger = logging.getLogger(__name__)


#: Sheet key -> (Chinese name, English name), in workbook order.
SHEETS: Mapping[str, tuple[str, str]] = {
    "summary": ("汇总", "Summary"),
    "communities": ("社区", "Communities"),
    "grids": ("网格", "Grids"),
    "facilities": ("服务设施", "Facilities"),
    "uncovered": ("未覆盖小区", "Uncovered compounds"),
    "gaps": ("覆盖缺口", "Coverage gaps"),
    "sites": ("选址结果", "Siting results"),
}


# preferred column order of each sheet (other non-personal columns follow)
_ORDER: Mapping[str, tuple[str, ...]] = {
    "communities": (
        "community_code",
        "name",
        "street_code",
        "street_name",
        "households",
        "population",
        "n_grids",
        "coverage_5min",
        "coverage_10min",
        "coverage_15min",
        "coverage_1km",
        "uncovered_hh_15min",
        "uncovered_hh_1km",
    ),
    "grids": (
        "grid_code",
        "community_code",
        "community_name",
        "households",
        "population",
        "party_members",
        "coverage_15min",
        "coverage_1km",
        "area_km2",
    ),
    "facilities": (
        "facility_id",
        "name",
        "type",
        "type_name",
        "community_code",
        "community_name",
        "area_m2",
        "capacity",
        "served_households",
        "hh_per_m2",
        "overloaded",
        "lon",
        "lat",
    ),
    "uncovered": (
        "compound_id",
        "compound_name",
        "community_code",
        "community_name",
        "n_buildings",
        "households",
        "dist_m",
        "nearest_id",
        "lon",
        "lat",
    ),
    "gaps": ("gap_id", "households", "nearest_id", "miss_m", "lon", "lat"),
    "sites": (
        "rank",
        "candidate_id",
        "name",
        "gain_households",
        "cum_gain_households",
        "served_households",
        "lon",
        "lat",
    ),
}


# --------------------------------------------------------------------------- tables


def _sheet_frames(
    layers: Mapping[str, gpd.GeoDataFrame], lang: str, include_personal: bool
) -> dict[str, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    for key in ("communities", "grids", "facilities", "gaps", "sites"):
        gdf = layers.get(key)
        if gdf is None:
            continue
        gdf = drop_personal(gdf, include_personal=include_personal)
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        if key in {"facilities", "gaps", "sites"}:
            table["lon"], table["lat"] = lonlat(gdf)
        if key == "facilities" and "type" in table:
            table["type_name"] = [type_label(str(t), lang) for t in table["type"]]
        if key == "grids" and gdf.crs is not None:
            table["area_km2"] = np.round(to_metric(gdf).geometry.area.to_numpy() / 1e6, 4)
        sort = {
            "communities": "community_code",
            "grids": "grid_code",
            "facilities": "facility_id",
            "gaps": "gap_id",
            "sites": "rank",
        }[key]
        if sort in table:
            table = table.sort_values(sort, kind="stable")
        frames[key] = table
    demand = layers.get("demand")
    if demand is not None and "within_15min" in demand:
        frames["uncovered"] = uncovered_table(demand, include_personal=include_personal)
    for key, table in frames.items():
        first = [c for c in _ORDER.get(key, ()) if c in table]
        rest = [c for c in table.columns if c not in first]
        frames[key] = table[first + rest].reset_index(drop=True)
    return frames


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


#: Characters XML 1.0 forbids (openpyxl refuses them), and lone surrogates (not UTF-8).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: First characters that make a spreadsheet read a cell as a formula (or a DDE command).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Excel's limit on the characters of one cell.
_CELL_MAX = 32767


def _xlsx_text(text: str) -> str:
    """Return text a workbook can hold: XML-illegal characters as U+FFFD, length capped."""
    clean = _XML_ILLEGAL.sub("\ufffd", text)
    if len(clean) > _CELL_MAX:
        clean = clean[: _CELL_MAX - 1] + "…"
    return clean


def _text_only(ws: Any) -> None:
    """Make every string cell of ``ws`` plain text, never a formula.

    openpyxl turns a string starting with ``=`` into a formula; text from user files (names,
    column names, the title) must stay text, so such cells are typed as strings and, like
    every cell starting with ``+ - @``, tab or CR, get Excel's quote prefix (shown as text
    and kept as text when edited).
    """
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
                cell.data_type = "s"
                cell.quotePrefix = True


def _cell_value(v: Any, *, boolean: bool, lang: str) -> Any:
    if v is None:
        return None
    if isinstance(v, (float, np.floating)) and math.isnan(float(v)):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if boolean or isinstance(v, (bool, np.bool_)):
        return TEXT[lang]["yes"] if bool(v) else TEXT[lang]["no"]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, str):
        return _xlsx_text(v)
    if isinstance(v, (int, float)):
        return v
    return _xlsx_text(str(v))


def _write_sheet(ws: Any, table: pd.DataFrame, lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    headers = [_xlsx_text(header(str(c), lang)) for c in table.columns]
    ws.append(headers)
    bool_cols = {
        c
        for c in table.columns
        if pd.api.types.is_bool_dtype(table[c])
        or str(c).startswith("within_")
        or str(c) == "overloaded"
    }
    columns = list(table.columns)
    values = [table[c].tolist() for c in columns]
    for r in range(len(table)):
        row = [
            _cell_value(values[j][r], boolean=columns[j] in bool_cols, lang=lang)
            for j in range(len(columns))
        ]
        ws.append(row)
    _text_only(ws)  # text from user files is never a formula: "=HYPERLINK(...)" stays text
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for j, col in enumerate(columns, start=1):
        letter = get_column_letter(j)
        fmt = None
        name = str(col)
        if name.startswith("coverage_"):
            fmt = "0.0%"
        elif pd.api.types.is_integer_dtype(table[col]) or name in {
            "households",
            "served_households",
            "gain_households",
            "cum_gain_households",
            "uncovered_hh_15min",
            "uncovered_hh_1km",
            "population",
        }:
            fmt = "#,##0"
        elif pd.api.types.is_float_dtype(table[col]):
            fmt = "0.000000" if name in {"lon", "lat"} else "#,##0.00"
        if fmt:
            for cell in ws[letter][1:]:
                cell.number_format = fmt
        sample = [headers[j - 1]] + [str(v) for v in table[col].head(200).tolist()]
        width = max(_display_width(s) for s in sample) + 2
        ws.column_dimensions[letter].width = min(max(width, 8), 40)
    ws.freeze_panes = "A2"
    if len(table):
        ws.auto_filter.ref = ws.dimensions


def write_report(
    layers: Mapping[str, gpd.GeoDataFrame],
    path_xlsx: str | os.PathLike[str],
    *,
    lang: str = "zh",
    png_dir: str | os.PathLike[str] | None = None,
    summary: bool = True,  # noqa: A002 - the documented keyword
    include_personal: bool = False,
    title: str | None = None,
) -> Path:
    """Write the Excel ledger (台账) of an analysis.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        The same layers as :func:`geogrid.maps.build_map`; sheets are written for
        ``communities`` (社区), ``grids`` (网格), ``facilities`` (服务设施), uncovered ``demand``
        grouped by compound (未覆盖小区), ``gaps`` (覆盖缺口) and ``sites`` (选址结果),
        whichever exist. Points get ``lon``/``lat`` (WGS84) columns.
    path_xlsx : path-like
        Output ``.xlsx`` file (written atomically).
    lang : {"zh", "en"}
        Language of sheet names, headers and yes/no values.
    png_dir : path-like, optional
        Also write ``overview.png`` (:func:`static_map`) and ``summary.md``
        (:func:`write_summary`) into this folder.
    summary : bool
        Add the summary sheet (汇总) of key figures first.
    include_personal : bool
        Keep personal columns (off by default).
    title : str, optional
        Title of the summary sheet and the PNG.

    Returns
    -------
    Path
        The workbook.

    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    idx = check_lang(lang)
    target = Path(path_xlsx)
    if target.suffix.lower() != ".xlsx":
        msg = f"report file {target.name!r} must end in .xlsx; pass e.g. report.xlsx"
        raise InputError(msg)
    frames = _sheet_frames(layers, lang, include_personal)
    wb = Workbook()
    wb.remove(wb.active)
    if summary:
        ws = wb.create_sheet(SHEETS["summary"][idx])
        figures = key_figures(layers, include_personal=include_personal)
        heading = title or ("基层治理网格与15分钟服务圈 汇总" if idx == 0 else "Summary")
        ws.append([_xlsx_text(heading)])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([TEXT[lang]["item"], TEXT[lang]["value"]])
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for key, value in figures.items():
            ws.append([SUMMARY_LABELS[key][idx], value])
            if key.startswith("coverage_"):
                ws.cell(row=ws.max_row, column=2).number_format = "0.0%"
            else:
                ws.cell(row=ws.max_row, column=2).number_format = "#,##0.##"
        ws.column_dimensions["A"].width = 34
        ws.column_dimensions["B"].width = 16
        ws.freeze_panes = "A3"
        _text_only(ws)
    for key in ("communities", "grids", "facilities", "uncovered", "gaps", "sites"):
        if key in frames:
            _write_sheet(wb.create_sheet(SHEETS[key][idx]), frames[key], lang)
    if not wb.sheetnames:
        msg = "nothing to report: pass layers such as communities, grids or facilities"
        raise InputError(msg)
    with atomic_write(target) as tmp:
        wb.save(tmp)
        stable_zip(tmp)  # no clock in the workbook: same figures, same bytes
    logger.info("wrote %s (%d sheets)", target, len(wb.sheetnames))
    if png_dir is not None:
        folder = Path(png_dir)
        static_map(layers, folder / "overview.png", lang=lang, title=title)
        write_summary(
            layers, folder / "summary.md", lang=lang, title=title, include_personal=include_personal
        )
    return target
