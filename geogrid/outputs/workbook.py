"""The Excel ledger (台账): one sheet per community, grid, facility, uncovered compound, gap and site.

Headers, units and number formats come from :mod:`geogrid.schema`; every text cell is escaped for
Excel (no formulas), the file is written atomically and has no clock in it (same figures, same
bytes).
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
from geogrid.io.runfolder import fixed_timestamp, stable_zip
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import key_figures, lonlat, uncovered_table
from geogrid.outputs.markdown import write_summary
from geogrid.outputs.privacy import drop_personal
from geogrid.outputs.static_map import static_map
from geogrid.schema import (
    KINDS,
    TEXT,
    check_lang,
    column_kind,
    coverage_col,
    covered_col,
    display_columns,
    excel_format,
    figure_format,
    figure_spec,
    format_value,
    header,
    is_summed,
    primary_target,
    target_label,
    targets_in,
    type_label,
    uncovered_col,
    unit,
)
from geogrid.settings import DEFAULTS
from geogrid.study.households import round_households

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
    "curve": ("选址曲线", "Siting curve"),
}

#: Sheet -> the column its rows are sorted by.
_SORT: Mapping[str, str] = {
    "communities": "community_code",
    "grids": "grid_code",
    "facilities": "facility_id",
    "gaps": "gap_id",
    "sites": "rank",
}
#: First row of the table (below the title row and the unit/date line).
_HEADER_ROW = 3


# --------------------------------------------------------------------------- tables


def _code_names(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Community code -> community name, from the communities layer."""
    comms = layers.get("communities")
    if comms is None or "community_code" not in comms or "name" not in comms:
        return {}
    return {str(c): str(n) for c, n in zip(comms["community_code"], comms["name"], strict=True)}


def _add_names(table: pd.DataFrame, key: str, names: Mapping[str, str]) -> pd.DataFrame:
    """Add the names people read beside codes: community names, facility type names."""
    if key != "communities" and "community_code" in table and "community_name" not in table:
        if names:
            table["community_name"] = [names.get(str(c), None) for c in table["community_code"]]
    if "community_codes" in table and "community_names" not in table and names:
        table["community_names"] = [
            "、".join(names.get(c, c) for c in str(v).split(",") if c) if isinstance(v, str) else v
            for v in table["community_codes"]
        ]
    return table


def _whole_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Households and persons as whole numbers whose totals add up.

    Fractional columns are rounded by the largest remainder per community (or over the
    table); for every target, uncovered households are total minus covered, so the columns
    of one row agree.
    """
    groups = table["community_code"] if "community_code" in table else None
    for col in table.columns:
        if column_kind(str(col)) not in {"households", "persons"}:
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        if values.isna().all():
            continue
        if (values.dropna() % 1 != 0).any():
            whole = round_households(values.fillna(0).clip(lower=0), groups)
            table[col] = pd.Series(whole, index=table.index, dtype="Int64").mask(values.isna())
        else:
            table[col] = values.astype("Int64")
    if "households" in table:
        for key in targets_in(table.columns):
            if covered_col(key) in table and uncovered_col(key) in table:
                table[uncovered_col(key)] = table["households"] - table[covered_col(key)]
    return table


def _sheet_table(
    key: str, gdf: gpd.GeoDataFrame, lang: str, include_personal: bool, names: Mapping[str, str]
) -> pd.DataFrame:
    """Build the table of one sheet: derived columns added, rows sorted, columns in reading order."""
    gdf = drop_personal(gdf, include_personal=include_personal)
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if key in {"facilities", "gaps", "sites"}:
        table["lon"], table["lat"] = lonlat(gdf)
    if key == "facilities" and "type" in table:
        table["type_name"] = [type_label(str(t), lang) for t in table["type"]]
    if key == "grids" and gdf.crs is not None:
        # one area unit per sheet: grids in km², facilities' floor areas in m²
        table["area_km2"] = np.round(to_metric(gdf).geometry.area.to_numpy() / 1e6, 4)
        table = table.drop(columns=[c for c in ("area_m2",) if c in table])
    table = _add_names(table, key, names)
    sort = _SORT.get(key)
    if sort in table:
        table = table.sort_values(sort, kind="stable")
    return table.reset_index(drop=True)


def _sheet_frames(
    layers: Mapping[str, gpd.GeoDataFrame], lang: str, include_personal: bool
) -> dict[str, pd.DataFrame]:
    names = _code_names(layers)
    frames: dict[str, pd.DataFrame] = {}
    for key in ("communities", "grids", "facilities", "gaps", "sites"):
        gdf = layers.get(key)
        if gdf is not None:
            frames[key] = _sheet_table(key, gdf, lang, include_personal, names)
    demand = layers.get("demand")
    if demand is not None:
        unc = uncovered_table(demand, include_personal=include_personal)
        if len(unc.columns):
            frames["uncovered"] = _add_names(unc, "uncovered", names)
    for key, raw in frames.items():
        table = _whole_columns(raw)
        frames[key] = table[display_columns(key, list(table.columns), lang)]
    return frames


def _total_row(table: pd.DataFrame, lang: str) -> list[Any]:
    """Build the 合计 row: households, persons, counts and areas added up; shares recomputed."""
    row: list[Any] = [None] * len(table.columns)
    hh = pd.to_numeric(table["households"], errors="coerce").sum() if "households" in table else 0
    for j, col in enumerate(map(str, table.columns)):
        values = pd.to_numeric(table[col], errors="coerce")
        if is_summed(col):
            total = values.sum()
            row[j] = int(total) if float(total).is_integer() else float(total)
            continue
        keys = targets_in([col])
        if not keys or col != coverage_col(keys[0]) or not hh:
            continue
        if covered_col(keys[0]) in table:
            row[j] = float(pd.to_numeric(table[covered_col(keys[0])]).sum()) / float(hh)
        elif uncovered_col(keys[0]) in table:
            row[j] = 1.0 - float(pd.to_numeric(table[uncovered_col(keys[0])]).sum()) / float(hh)
    row[0] = TEXT[lang]["total"]
    return row


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


def _cell_value(col: str, v: Any, lang: str) -> Any:
    """One cell: numbers as numbers, yes/no, target and type names, text escaped for Excel."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)) and math.isnan(float(v)):
        return None
    kind = column_kind(col)
    if kind in {"bool", "target"} or col == "type" or isinstance(v, (bool, np.bool_)):
        return _xlsx_text(format_value(col, v, lang))
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, str):
        return _xlsx_text(v)
    if isinstance(v, (int, float)):
        return v
    return _xlsx_text(str(v))


def _heading(title: str | None, layers: Mapping[str, gpd.GeoDataFrame], lang: str) -> str:
    """Return the workbook title: the user's, else 基层治理网格与<primary target>服务圈."""
    if title:
        return title
    columns = [c for gdf in layers.values() if gdf is not None for c in gdf.columns]
    key = primary_target(columns) or DEFAULTS.primary_target
    return TEXT[lang]["title"].format(t=target_label(key, lang))


def _unit_line(columns: list[str], lang: str) -> str:
    """Build the line under a sheet title: the units of its figures and the run's date."""
    units: list[str] = []
    for col in columns:
        u = unit(col, lang)
        if u and u not in units:
            units.append(u)
    day = fixed_timestamp().date().isoformat()
    t = TEXT[lang]
    sep = "、" if lang == "zh" else ", "
    gap = "；" if lang == "zh" else "; "
    colon = "：" if lang == "zh" else ": "
    parts = [f"{t['unit']}{colon}{sep.join(units)}"] if units else []
    return gap.join([*parts, f"{t['date']}{colon}{day}"])


def _title_rows(ws: Any, title: str, line: str, width: int) -> None:
    """Row 1 the sheet's title, row 2 its unit/date line, both across the table's width."""
    from openpyxl.styles import Alignment, Font

    ws.append([_xlsx_text(title)])
    ws.append([_xlsx_text(line)])
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"].font = Font(italic=True, color="595959")
    if width > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    ws["A1"].alignment = Alignment(horizontal="center")


def _print_setup(ws: Any) -> None:
    """A4 landscape, fitted to the page width, header rows repeated, narrow margins."""
    from openpyxl.worksheet.page import PageMargins

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{_HEADER_ROW}"
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "&P / &N"


def _header_style(ws: Any, row: int) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[row]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _write_sheet(ws: Any, table: pd.DataFrame, lang: str, title: str) -> None:
    from openpyxl.styles import Border, Font, Side
    from openpyxl.utils import get_column_letter

    columns = [str(c) for c in table.columns]
    headers = [_xlsx_text(header(c, lang)) for c in columns]
    _title_rows(ws, title, _unit_line(columns, lang), len(columns))
    ws.append(headers)
    values = [table[c].tolist() for c in table.columns]
    for r in range(len(table)):
        ws.append([_cell_value(columns[j], values[j][r], lang) for j in range(len(columns))])
    last_data = ws.max_row
    if len(table):
        ws.append(_total_row(table, lang))
        top = Side(style="thin")
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
            cell.border = Border(top=top)
    _text_only(ws)  # text from user files is never a formula: "=HYPERLINK(...)" stays text
    _header_style(ws, _HEADER_ROW)
    for j, col in enumerate(columns, start=1):
        letter = get_column_letter(j)
        fmt = excel_format(col)
        if fmt:
            for cell in ws[letter][_HEADER_ROW:]:
                cell.number_format = fmt
        sample = [headers[j - 1]] + [str(v) for v in table[col].head(200).tolist()]
        width = max(_display_width(s) for s in sample) + 2
        ws.column_dimensions[letter].width = min(max(width, 8), 40)
    ws.freeze_panes = f"A{_HEADER_ROW + 1}"
    if len(table):
        ws.auto_filter.ref = f"A{_HEADER_ROW}:{get_column_letter(len(columns))}{last_data}"
    _print_setup(ws)


def _write_summary_sheet(ws: Any, figures: Mapping[str, Any], lang: str, title: str) -> None:
    """Write the 汇总 sheet: one key figure per row with its unit."""
    t = TEXT[lang]
    _title_rows(ws, title, _unit_line([], lang), 3)
    ws.append([t["item"], t["value"], t["unit"]])
    for key, value in figures.items():
        spec = figure_spec(key)
        u = KINDS[spec.kind].unit[check_lang(lang)]
        ws.append([spec.label(lang).strip(), value, u or None])
        fmt = figure_format(key)
        if fmt:
            ws.cell(row=ws.max_row, column=2).number_format = fmt
    _header_style(ws, _HEADER_ROW)
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 12
    ws.freeze_panes = f"A{_HEADER_ROW + 1}"
    _text_only(ws)
    _print_setup(ws)
    ws.page_setup.orientation = "portrait"


# --------------------------------------------------------------------------- siting curve

#: Curve row status -> (Chinese, English) wording in the curve sheet.
_CURVE_STATUS: Mapping[str, tuple[str, str]] = {
    "today": ("现状", "today"),
    "exact": ("最优（已证明）", "optimal (proven)"),
    "bound": ("时间限制内未证明最优，见上界", "time limit: not proven, see the bound"),
    "greedy": ("贪心解（未证明最优）", "greedy (not proven optimal)"),
}

#: Curve sheet columns -> (Chinese, English) headers, units included.
_CURVE_HEADERS: Mapping[str, tuple[str, str]] = {
    "n_new_sites": ("新增站点数(个)", "New stations"),
    "households_covered": ("覆盖户数(户)", "Households covered (households)"),
    "coverage_share": ("覆盖率(%)", "Coverage (%)"),
    "gain_households": ("比上一行增加户数(户)", "Gain over the row above (households)"),
    "result": ("求解结果", "Result"),
    "gap": ("最优性差距(%)", "Optimality gap (%)"),
    "bound_households": ("覆盖户数上界(户)", "Households covered, upper bound (households)"),
}


def write_curve_sheet(
    ws: Any, curve: pd.DataFrame, lang: str = "zh", *, title: str | None = None
) -> None:
    """Fill ``ws`` with the siting curve (best coverage per number of new stations) and a chart.

    One row per number of new stations (0 = today): households covered, coverage, gain,
    whether the point is proven optimal or carries a bound (time limit), its gap and bound,
    and an openpyxl line chart of households covered against new stations.

    Parameters
    ----------
    ws : openpyxl.worksheet.worksheet.Worksheet
        An empty sheet.
    curve : DataFrame
        :attr:`geogrid.analyses.siting.model.SitingResult.curve` (or ``siting_curve.csv``).
    lang : {"zh", "en"}
        Language of headers and wording.
    title : str, optional
        Title row of the sheet (default the sheet's name).

    """
    from openpyxl.chart import LineChart, Reference
    from openpyxl.styles import Font

    idx = check_lang(lang)
    table = pd.DataFrame(
        {c: curve[c] for c in ("n_new_sites", "households_covered", "coverage_share")}
    )
    table["gain_households"] = curve.get("gain_households", 0.0)
    status = curve.get("status", pd.Series(["exact"] * len(curve))).astype(str)
    table["result"] = [_CURVE_STATUS.get(s, (s, s))[idx] for s in status]
    table["gap"] = pd.to_numeric(curve.get("gap", np.nan), errors="coerce")
    table["bound_households"] = pd.to_numeric(
        curve.get("bound_households", np.nan), errors="coerce"
    )
    name = ("选址曲线", "Siting curve")[idx]
    _title_rows(ws, title or name, _unit_line(["households_covered"], lang), len(table.columns))
    ws.append([_CURVE_HEADERS[c][idx] for c in table.columns])
    for row in table.itertuples(index=False):
        ws.append([_curve_cell(v) for v in row])
    _text_only(ws)
    top = _HEADER_ROW
    for cell in ws[top]:
        cell.font = Font(bold=True)
    formats = {"A": "0", "B": "#,##0", "C": "0.0%", "D": "#,##0", "F": "0.00%", "G": "#,##0"}
    for letter, fmt in formats.items():
        for cell in ws[letter][top:]:
            cell.number_format = fmt
        ws.column_dimensions[letter].width = 16
    ws.column_dimensions["E"].width = 30
    ws.freeze_panes = f"A{top + 1}"
    _print_setup(ws)
    n = len(table)
    if n:
        chart = LineChart()
        chart.title = ("每个新增站点数的最优覆盖户数", "Best coverage per number of new stations")[
            idx
        ]
        chart.x_axis.title = ("新增站点数（个）", "New stations")[idx]
        chart.y_axis.title = ("覆盖户数（户）", "Households covered")[idx]
        chart.add_data(
            Reference(ws, min_col=2, min_row=top, max_row=top + n), titles_from_data=True
        )
        chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=top + n))
        chart.height, chart.width = 8, 16
        ws.add_chart(chart, f"I{top}")


def _curve_cell(v: Any) -> Any:
    if isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return _xlsx_text(v) if isinstance(v, str) else v


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

    Every sheet has a title row, a unit and date line (the run's fixed date, never the clock),
    headers in ``lang`` from :mod:`geogrid.schema`, a 合计 row that adds up households,
    persons, counts and areas (shares recomputed from the totals), and a print setup (A4
    landscape, fitted to the page width, header rows repeated). Households and persons are
    whole numbers rounded so that totals add up; internal columns (codes where a name exists,
    solver and snapping internals) are left out.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        The same layers as :func:`geogrid.outputs.webmap.build_map`; sheets are written for
        ``communities`` (社区), ``grids`` (网格), ``facilities`` (服务设施), uncovered ``demand``
        grouped by compound (未覆盖小区), ``gaps`` (覆盖缺口) and ``sites`` (选址结果),
        whichever exist, and ``curve`` (选址曲线, a table with a line chart; see
        :func:`write_curve_sheet`) when a siting curve is given. Points get ``lon``/``lat`` (WGS84) columns.
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
        Title of every sheet and the PNG.

    Returns
    -------
    Path
        The workbook.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> comms = gpd.GeoDataFrame({"community_code": ["1"], "name": ["友谊社区"],
    ...     "households": [2182.97], "coverage_20min": [0.5]},
    ...     geometry=[shapely.box(0, 0, 1, 1)], crs=3857)
    >>> import tempfile, pathlib
    >>> out = write_report({"communities": comms}, pathlib.Path(tempfile.mkdtemp()) / "r.xlsx")
    >>> out.name
    'r.xlsx'

    """
    from openpyxl import Workbook

    idx = check_lang(lang)
    target = Path(path_xlsx)
    if target.suffix.lower() != ".xlsx":
        msg = f"report file {target.name!r} must end in .xlsx; pass e.g. report.xlsx"
        raise InputError(msg)
    frames = _sheet_frames(layers, lang, include_personal)
    heading = _heading(title, layers, lang)
    sep = "——" if idx == 0 else ": "
    wb = Workbook()
    wb.remove(wb.active)
    if summary:
        figures = key_figures(layers, include_personal=include_personal)
        ws = wb.create_sheet(SHEETS["summary"][idx])
        _write_summary_sheet(ws, figures, lang, heading)
    for key in ("communities", "grids", "facilities", "uncovered", "gaps", "sites"):
        if key in frames:
            name = SHEETS[key][idx]
            _write_sheet(wb.create_sheet(name), frames[key], lang, f"{heading}{sep}{name}")
    curve = layers.get("curve")
    if curve is not None and len(curve) and "households_covered" in curve:
        name = SHEETS["curve"][idx]
        write_curve_sheet(wb.create_sheet(name), curve, lang, title=f"{heading}{sep}{name}")
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
