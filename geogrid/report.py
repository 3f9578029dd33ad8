"""Reports for officials: the Excel ledger (台账), static PNG maps and a one-page summary.

- :func:`write_report` writes an Excel workbook with one sheet per community, grid, facility,
  uncovered compound, coverage gap and siting result (whichever layers exist) plus a summary
  sheet, with Chinese headers (:data:`geogrid._labels.COLUMN_LABELS` is the documented
  column -> header mapping), a frozen header row, filters and sensible widths.
- :func:`static_map` draws a printable PNG map with matplotlib (Chinese labels with a CJK font
  such as Debian's ``fonts-noto-cjk``; English labels when no CJK font is installed).
- :func:`summary` returns the key figures; :func:`write_summary` writes them as a one-page
  Markdown or HTML file.
- :func:`publish` writes everything a demo or a run produces: interactive map, offline map,
  workbook, PNG and summary.

Personal fields never reach a report unless ``include_personal=True`` (see
:mod:`geogrid._privacy`); every file is written atomically.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._labels import TEXT, check_lang, column_label, type_label
from ._privacy import drop_personal, protect, scan_personal
from ._runfolder import stable_zip
from .crs import to_metric
from .errors import InputError
from .io import atomic_write
from .settings import DEFAULTS, FACILITY_TYPES

logger = logging.getLogger(__name__)

__all__ = [
    "SHEETS",
    "SUMMARY_LABELS",
    "publish",
    "static_map",
    "summary",
    "write_report",
    "write_summary",
]

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

_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Serif CJK SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
)


# --------------------------------------------------------------------------- summary


def _num(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _households(layers: Mapping[str, gpd.GeoDataFrame]) -> float | None:
    for key in ("demand", "communities", "grids"):
        gdf = layers.get(key)
        if gdf is not None and "households" in gdf and len(gdf):
            return float(np.nansum(_num(gdf["households"])))
    return None


def _withheld(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, int]:
    """Personal-data columns left out and values masked over all layers (zero ones omitted)."""
    columns = values = 0
    for gdf in layers.values():
        if gdf is not None and len(gdf):
            scan = scan_personal(gdf)
            columns += len(scan.drop)
            values += scan.n_values
    out = {"personal_columns_withheld": columns, "personal_values_withheld": values}
    return {k: v for k, v in out.items() if v}


def summary(
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
    hh = _households(layers)
    if hh is not None:
        out["households"] = int(round(hh))
        out["population"] = int(round(hh * household_size))
    if grids is not None and "households" in grids and len(grids):
        g = _num(grids["households"])
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
            w = _num(demand["households"]) if "households" in demand else np.ones(len(demand))
            w = np.nan_to_num(w)
            inside = demand[col].fillna(False).astype(bool).to_numpy()
            total = float(w.sum())
            out[f"coverage_{tgt}"] = round(float(w[inside].sum()) / total, 4) if total else 0.0
            out[f"uncovered_hh_{tgt}"] = int(round(float(w[~inside].sum())))
        elif comms is not None and f"coverage_{tgt}" in comms and "households" in comms:
            w = np.nan_to_num(_num(comms["households"]))
            share = np.nan_to_num(_num(comms[f"coverage_{tgt}"]))
            total = float(w.sum())
            out[f"coverage_{tgt}"] = round(float((w * share).sum()) / total, 4) if total else 0.0
            out[f"uncovered_hh_{tgt}"] = int(round(float((w * (1 - share)).sum())))
    if demand is not None and "within_15min" in demand:
        unc = _uncovered_table(demand)
        out["n_uncovered"] = len(unc)
    gaps = layers.get("gaps")
    if gaps is not None:
        out["n_gaps"] = len(gaps)
        if "households" in gaps:
            out["gap_households"] = int(round(float(np.nansum(_num(gaps["households"])))))
    sites = layers.get("sites")
    if sites is not None:
        out["n_sites"] = len(sites)
        if "gain_households" in sites:
            gain = float(np.nansum(_num(sites["gain_households"])))
            out["gain_households"] = int(round(gain))
            if "coverage_15min" in out and hh:
                after = min(1.0, float(out["coverage_15min"]) + gain / hh)
                out["coverage_15min_after"] = round(after, 4)
    if not include_personal:
        out.update(_withheld(layers))
    return out


_figures = summary


def _fmt_value(key: str, value: float | int, lang: str) -> str:
    if key.startswith("coverage_"):
        return f"{100.0 * float(value):.1f}%"
    if isinstance(value, float) and not float(value).is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def write_summary(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | os.PathLike[str],
    *,
    lang: str = "zh",
    title: str | None = None,
    include_personal: bool = False,
) -> Path:
    """Write the one-page summary of key figures as Markdown (``.md``) or HTML (``.html``).

    The title is user text: escaped for Markdown (every ASCII punctuation character
    backslash-escaped, ``&`` and ``<`` as entities, line breaks and control characters as
    spaces) or HTML.
    """
    idx = check_lang(lang)
    target = Path(path)
    if target.suffix.lower() not in {".md", ".html", ".htm"}:
        msg = f"summary file {target.name!r} must end in .md or .html; pass such a path"
        raise InputError(msg)
    figures = summary(layers, include_personal=include_personal)
    heading = (
        _one_line(title)
        if title
        else (
            "基层治理网格与15分钟服务圈 汇总"
            if idx == 0
            else "Governance grids and 15-minute service circle: summary"
        )
    )
    rows = [(SUMMARY_LABELS[k][idx], _fmt_value(k, v, lang)) for k, v in figures.items()]
    item, value = TEXT[lang]["item"], TEXT[lang]["value"]
    if target.suffix.lower() == ".md":
        lines = [f"# {_md_text(heading)}", "", f"| {item} | {value} |", "|---|---:|"]
        lines += [f"| {k.strip()} | {v} |" for k, v in rows]
        text = "\n".join(lines) + "\n"
    else:
        body = "".join(
            f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        text = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(heading)}</title><style>body{{font-family:sans-serif;"
            "max-width:40em;margin:2em auto}td{padding:2px 12px;border-bottom:1px solid #ddd}"
            f"</style></head><body><h1>{html.escape(heading)}</h1><table>"
            f"<tr><th>{html.escape(item)}</th><th>{html.escape(value)}</th></tr>{body}"
            "</table></body></html>\n"
        )
    with atomic_write(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as single spaces."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", str(text)).strip()


def _md_text(text: str) -> str:
    """Plain text for Markdown: no emphasis, link, heading, table, HTML or math syntax."""
    out = re.sub(r"([!-%'-/:;=-@\[-`{-~])", r"\\\1", _one_line(text))
    return out.replace("&", "&amp;").replace("<", "&lt;")


# --------------------------------------------------------------------------- tables


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if gdf.crs is None:
        return np.full(len(gdf), np.nan), np.full(len(gdf), np.nan)
    pts = gdf.geometry.representative_point().to_crs("EPSG:4326")
    return np.round(pts.x.to_numpy(), 6), np.round(pts.y.to_numpy(), 6)


def _uncovered_table(demand: gpd.GeoDataFrame, *, include_personal: bool = False) -> pd.DataFrame:
    """Uncovered demand (``within_15min`` false) by compound, or by building without one."""
    dem = protect(demand, include_personal=include_personal)
    dem = dem[~dem["within_15min"].fillna(False).astype(bool)]
    if "households" not in dem:
        dem = dem.assign(households=1.0)
    lon, lat = _lonlat(dem)
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
            table["lon"], table["lat"] = _lonlat(gdf)
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
        frames["uncovered"] = _uncovered_table(demand, include_personal=include_personal)
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

    headers = [_xlsx_text(column_label(str(c), lang)) for c in table.columns]
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
        figures = _figures(layers, include_personal=include_personal)
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


# --------------------------------------------------------------------------- static map


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed CJK font matplotlib can use (e.g. Noto Sans CJK SC), or None."""
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    for name in _CJK_FONTS:
        if name in available:
            return name
    logger.info("no CJK font found (install fonts-noto-cjk); static maps use English labels")
    return None


def _scale_bar(ax: Any, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    span = (xlim[1] - xlim[0]) / 5.0
    if span <= 0:
        return
    nice = 10 ** math.floor(math.log10(span))
    for step in (5, 2, 1):
        if step * nice <= span:
            length = step * nice
            break
    else:
        length = nice
    x0 = xlim[0] + 0.04 * (xlim[1] - xlim[0])
    y0 = ylim[0] + 0.04 * (ylim[1] - ylim[0])
    ax.plot([x0, x0 + length], [y0, y0], color="black", lw=3, solid_capstyle="butt", zorder=20)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        x0 + length / 2,
        y0 + 0.012 * (ylim[1] - ylim[0]),
        label,
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=20,
    )


def static_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    path_png: str | os.PathLike[str],
    *,
    lang: str = "zh",
    title: str | None = None,
    dpi: int = 150,
    figsize_in: tuple[float, float] = (10.0, 8.0),
    include_personal: bool = False,
) -> Path:
    """Draw a printable PNG map: grids by households, boundaries, service areas, facilities.

    Drawn in the layers' metric CRS with a scale bar. Chinese labels need a CJK font
    (:func:`cjk_font`; Debian package ``fonts-noto-cjk``); without one the labels are English.

    Returns
    -------
    Path
        The PNG file (written atomically).

    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .crs import metric_crs

    check_lang(lang)
    font = cjk_font()
    if lang == "zh" and font is None:
        lang = "en"
    present = {k: g for k, g in layers.items() if g is not None and len(g) and g.crs is not None}
    if not present:
        msg = "nothing to draw: pass layers with a coordinate system (gdf.set_crs(...))"
        raise InputError(msg)
    first = next(iter(present.values()))
    crs = first.crs if first.crs.is_projected else metric_crs(first)
    data = {k: g.to_crs(crs) for k, g in present.items()}
    if "demand" in data:
        data["demand"] = protect(data["demand"], include_personal=include_personal)

    from ._labels import LAYER_LABELS

    li = check_lang(lang)
    handles: list[Any] = []
    rc = {
        "font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
        "axes.unicode_minus": False,
    }
    with matplotlib.rc_context(rc):
        fig, ax = plt.subplots(figsize=figsize_in, dpi=dpi)
        try:
            grids = data.get("grids")
            if grids is not None and "households" in grids:
                grids.plot(
                    ax=ax,
                    column="households",
                    cmap="YlOrRd",
                    alpha=0.7,
                    edgecolor="#888",
                    linewidth=0.3,
                    legend=True,
                    legend_kwds={"label": column_label("households", lang), "shrink": 0.6},
                )
            elif grids is not None:
                grids.boundary.plot(ax=ax, color="#888", linewidth=0.3)
            sa = data.get("service_areas")
            if sa is not None:
                sel = sa[sa["target"].astype(str) == "15min"] if "target" in sa else sa
                if len(sel):
                    sel.plot(ax=ax, color="#31a354", alpha=0.18, edgecolor="#31a354", linewidth=0.5)
                    handles.append(
                        Patch(
                            color="#31a354",
                            alpha=0.3,
                            label=LAYER_LABELS["service_areas"][li]
                            + (" 15分钟" if li == 0 else " 15 min"),
                        )
                    )
            for key, colour, lw in (
                ("communities", "#1f4e79", 0.8),
                ("streets", "#6a3d9a", 1.6),
                ("district", "#222", 2.2),
            ):
                g = data.get(key)
                if g is not None:
                    g.boundary.plot(ax=ax, color=colour, linewidth=lw)
                    handles.append(Line2D([], [], color=colour, lw=lw, label=LAYER_LABELS[key][li]))
            gaps = data.get("gaps")
            if gaps is not None:
                gaps.plot(ax=ax, color="#fd8d3c", alpha=0.45, edgecolor="#d94801", hatch="//")
                handles.append(Patch(color="#fd8d3c", alpha=0.6, label=LAYER_LABELS["gaps"][li]))
            dem = data.get("demand")
            if dem is not None and "within_15min" in dem:
                unc = dem[~dem["within_15min"].fillna(False).astype(bool)]
                if len(unc):
                    unc.representative_point().plot(ax=ax, color="#e31a1c", markersize=4)
                    handles.append(
                        Line2D(
                            [],
                            [],
                            color="#e31a1c",
                            marker="o",
                            lw=0,
                            ms=4,
                            label=LAYER_LABELS["demand"][li],
                        )
                    )
            fac = data.get("facilities")
            if fac is not None:
                types = (
                    fac["type"].astype(str)
                    if "type" in fac
                    else pd.Series("facility", index=fac.index)
                )
                types = types.where(types.isin(FACILITY_TYPES), "facility")
                from .maps import _TYPE_STYLE

                markers = {
                    "centre_city": "s",
                    "centre_district": "s",
                    "centre_street": "s",
                    "centre_community": "D",
                    "station": "o",
                    "liaison_point": "^",
                    "recharge_station": "P",
                    "facility": "v",
                }
                pts = fac.geometry.representative_point()
                for t in FACILITY_TYPES:
                    sel = (types == t).to_numpy()
                    if sel.any():
                        colour = _TYPE_STYLE[t][0]
                        ax.scatter(
                            pts.x[sel],
                            pts.y[sel],
                            s=36,
                            c=colour,
                            marker=markers[t],
                            edgecolors="white",
                            linewidths=0.8,
                            zorder=10,
                        )
                        handles.append(
                            Line2D(
                                [],
                                [],
                                color=colour,
                                marker=markers[t],
                                lw=0,
                                ms=7,
                                label=type_label(t, lang),
                            )
                        )
            sites = data.get("sites")
            if sites is not None:
                pts = sites.geometry.representative_point()
                ax.scatter(
                    pts.x,
                    pts.y,
                    s=120,
                    c="#ffd700",
                    marker="*",
                    edgecolors="black",
                    linewidths=0.8,
                    zorder=11,
                )
                if "rank" in sites:
                    for x, y, r in zip(pts.x, pts.y, sites["rank"], strict=False):
                        if not pd.isna(r):
                            ax.annotate(
                                str(int(r)),
                                (x, y),
                                xytext=(5, 5),
                                textcoords="offset points",
                                fontsize=8,
                                zorder=12,
                            )
                handles.append(
                    Line2D(
                        [],
                        [],
                        color="#ffd700",
                        marker="*",
                        lw=0,
                        ms=10,
                        markeredgecolor="black",
                        label=LAYER_LABELS["sites"][li],
                    )
                )
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
            _scale_bar(ax, ax.get_xlim(), ax.get_ylim())
            if handles:
                ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9)
            heading = title or (
                "基层治理网格与15分钟服务圈"
                if li == 0
                else "Governance grids and the 15-minute service circle"
            )
            # parse_math=False: a "$x^2$" in a user title is text, not mathtext
            ax.set_title(_one_line(heading), fontsize=13, parse_math=False)
            if any(str(g.attrs.get("source", "")).lower().startswith("osm") for g in data.values()):
                fig.text(0.99, 0.01, "© OpenStreetMap contributors (ODbL)", ha="right", fontsize=6)
            fig.tight_layout()
            target = Path(path_png)
            with atomic_write(target) as tmp:
                fig.savefig(tmp, dpi=dpi, format="png")
        finally:
            plt.close(fig)
    return target


# --------------------------------------------------------------------------- everything

#: What an output file stem may hold (no separators, no "..", nothing a shell would read).
_STEM = re.compile(r"[\w\-.\u4e00-\u9fff]{1,100}")


def publish(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "demo",
    tiles: str = "osm",
    lang: str = "zh",
    title: str | None = None,
    attribution: str | None = None,
    include_personal: bool = False,
) -> dict[str, Path]:
    """Write the map and report outputs of a run into ``out_dir``.

    Writes ``maps/<name>.html`` (``tiles`` basemap), ``maps/<name>_offline.html``
    (self-contained, blank basemap), ``maps/<name>.png`` (static map), ``report.xlsx`` and
    ``summary.md``. This is what ``geogrid demo`` ends with.

    Returns
    -------
    dict of str to Path
        Keys ``map``, ``map_offline``, ``png``, ``report``, ``summary``.

    """
    from .maps import build_map, save_map

    if not _STEM.fullmatch(str(name)) or str(name).startswith("."):
        msg = (
            f"output name {name!r} is not a plain file name; pass letters, digits, Chinese "
            "characters, '_', '-' or '.' (e.g. name='demo')"
        )
        raise InputError(msg)
    folder = Path(out_dir)
    maps_dir = folder / "maps"
    common = {
        "lang": lang,
        "title": title,
        "attribution": attribution,
        "include_personal": include_personal,
    }
    out: dict[str, Path] = {}
    out["map"] = save_map(build_map(layers, tiles=tiles, **common), maps_dir / f"{name}.html")
    out["map_offline"] = save_map(
        build_map(layers, tiles="none", **common),
        maps_dir / f"{name}_offline.html",
        offline=True,
    )
    out["png"] = static_map(
        layers, maps_dir / f"{name}.png", lang=lang, title=title, include_personal=include_personal
    )
    out["report"] = write_report(
        layers, folder / "report.xlsx", lang=lang, title=title, include_personal=include_personal
    )
    out["summary"] = write_summary(
        layers, folder / "summary.md", lang=lang, title=title, include_personal=include_personal
    )
    return out
