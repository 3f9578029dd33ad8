"""The one-page summary (Markdown or HTML) of a set of result layers.

Key figures with their units, then the communities that miss the primary target, by name, with
the reason and the suggested fix (and the coverage gaps with theirs). Labels, units and formats
come from :mod:`geogrid.schema`; every text from an input file is escaped for Markdown or HTML.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import failing_communities, key_figures, one_line
from geogrid.schema import (
    TEXT,
    check_lang,
    column_kind,
    column_label,
    coverage_col,
    figure_label,
    fix_column,
    format_figure,
    format_value,
    primary_target,
    reason_column,
    target_label,
    uncovered_col,
)
from geogrid.settings import DEFAULTS

log = logger = logging.getLogger(__name__)

#: Section headings and the fallback reason, by language.
_WORDS: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "failing": "未达标社区",
        "none_failing": "全部社区达到{t}目标。",
        "gaps": "覆盖缺口",
        "beyond": "有 {n}在{t}步行范围外",
        "more": "另有 {n} 个社区未列出，见 report.xlsx。",
    },
    "en": {
        "failing": "Communities below the target",
        "none_failing": "Every community meets the {t} target.",
        "gaps": "Coverage gaps",
        "beyond": "{n} beyond {t} on foot",
        "more": "{n} more communities are listed in report.xlsx.",
    },
}
#: At most this many failing communities are listed (the worst first).
MAX_LISTED = 30


#: Characters with a meaning in Markdown (emphasis, links, code, tables, HTML, math); digit
#: grouping, decimal points, ``%`` and ``-`` inside a line have none and stay readable.
_MD_ACTIVE = re.compile(r"([\\`*_{}\[\]()#+!|~$=>\"':;/@^%])")


class Figure(str):
    """A figure geogrid formatted itself (digits, unit, ``%``): no Markdown to escape."""

    __slots__ = ()


def _md_text(text: str) -> str:
    """Plain text for Markdown: no emphasis, link, heading, table, HTML or math syntax."""
    out = _MD_ACTIVE.sub(r"\\\1", one_line(text))
    return out.replace("&", "&amp;").replace("<", "&lt;")


def _heading(title: str | None, layers: Mapping[str, gpd.GeoDataFrame], lang: str) -> str:
    if title:
        return one_line(title)
    columns = [c for gdf in layers.values() if gdf is not None for c in gdf.columns]
    key = primary_target(columns) or DEFAULTS.primary_target
    text = TEXT[lang]["title"].format(t=target_label(key, lang))
    return f"{text} {TEXT[lang]['summary']}" if lang == "zh" else f"{text}: summary"


def _cell(col: str, value: object, lang: str) -> str:
    """Format a value of ``col``: numbers as :class:`Figure` (our own text), names as text."""
    text = format_value(col, value, lang)
    return text if column_kind(col) == "text" else Figure(text)


def _failing_rows(
    comms: gpd.GeoDataFrame | None, lang: str
) -> tuple[list[str], list[list[str]], int, str | None]:
    """Header, rows (worst first, at most :data:`MAX_LISTED`), how many more, target key."""
    if comms is None:
        return [], [], 0, None
    table, key = failing_communities(comms)
    if key is None:
        return [], [], 0, None
    cov, unc = coverage_col(key), uncovered_col(key)
    cols = [c for c in ("name", "community_code", cov, unc) if c in table]
    why, fix = reason_column(lang), fix_column(lang)
    header: list[str] = [Figure(column_label(c, lang)) for c in (*cols, why)]
    has_fix = fix in table
    if has_fix:
        header.append(Figure(column_label(fix, lang)))
    rows = []
    for _, rec in table.head(MAX_LISTED).iterrows():
        row = [_cell(c, rec[c], lang) for c in cols]
        reason = rec.get(why)
        if not isinstance(reason, str) or not reason:
            n = format_value("households", rec.get(unc), lang)
            reason = _WORDS[lang]["beyond"].format(n=n, t=target_label(key, lang))
        row.append(reason)
        if has_fix:
            row.append(rec[fix] if isinstance(rec[fix], str) else "")
        rows.append(row)
    return header, rows, max(0, len(table) - MAX_LISTED), key


def _gap_rows(gaps: gpd.GeoDataFrame | None, lang: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gaps that carry a reason (largest first)."""
    why = reason_column(lang)
    if gaps is None or why not in gaps or not len(gaps):
        return [], []
    cols = [c for c in ("gap_id", "households") if c in gaps]
    header: list[str] = [Figure(column_label(c, lang)) for c in (*cols, why)]
    order = np.argsort(-pd.to_numeric(gaps["households"], errors="coerce").fillna(0).to_numpy())
    rows = [
        [_cell(c, gaps[c].iloc[i], lang) for c in cols] + [str(gaps[why].iloc[i])]
        for i in order[:MAX_LISTED]
    ]
    return header, rows


def _md_cell(text: str) -> str:
    """One table cell: a :class:`Figure` as it is, any other text escaped."""
    if isinstance(text, Figure) and "|" not in text:
        return one_line(text)
    return _md_text(text)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Build a Markdown table, every text cell escaped."""
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_summary(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | os.PathLike[str],
    *,
    lang: str = "zh",
    title: str | None = None,
    include_personal: bool = False,
) -> Path:
    """Write the one-page summary as Markdown (``.md``) or HTML (``.html``).

    Key figures with units (whole households, percentages), then the communities that miss
    the primary target by name with their reason and suggested fix (``reason_zh``/``fix_zh``
    columns of the communities layer, else the households beyond the target), then the
    coverage gaps with their reasons when the gaps carry them.

    All user text (title, names, reasons that quote names) is escaped: for Markdown every
    ASCII punctuation character backslash-escaped, ``&`` and ``<`` as entities, line breaks
    and control characters as spaces; for HTML as HTML.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        Result layers (``communities``, ``demand``, ``facilities``, ``gaps``, ...).
    path : path-like
        ``.md`` or ``.html`` file, written atomically.
    lang : {"zh", "en"}
        Language of the page.
    title : str, optional
        Heading of the page.
    include_personal : bool
        Count withheld personal data only when False (the default).

    Returns
    -------
    Path
        The page.

    Examples
    --------
    >>> import geopandas as gpd, shapely, tempfile, pathlib
    >>> comms = gpd.GeoDataFrame({"community_code": ["1"], "name": ["友谊社区"],
    ...     "households": [100], "coverage_15min": [0.5], "uncovered_hh_15min": [50]},
    ...     geometry=[shapely.box(0, 0, 1, 1)], crs=3857)
    >>> page = write_summary({"communities": comms}, pathlib.Path(tempfile.mkdtemp()) / "s.md")
    >>> "友谊社区" in page.read_text(encoding="utf-8")
    True

    """
    idx = check_lang(lang)
    target = Path(path)
    if target.suffix.lower() not in {".md", ".html", ".htm"}:
        msg = f"summary file {target.name!r} must end in .md or .html; pass such a path"
        raise InputError(msg)
    figures = key_figures(layers, include_personal=include_personal)
    heading = _heading(title, layers, lang)
    rows: list[list[str]] = [
        [Figure(figure_label(k, lang).strip()), Figure(format_figure(k, v, lang))]
        for k, v in figures.items()
    ]
    item, value = TEXT[lang]["item"], TEXT[lang]["value"]
    fhead, frows, more, key = _failing_rows(layers.get("communities"), lang)
    ghead, grows = _gap_rows(layers.get("gaps"), lang)
    words = _WORDS[("zh", "en")[idx]]
    tlabel = target_label(key, lang) if key else ""
    if target.suffix.lower() == ".md":
        text = _markdown(
            heading, [item, value], rows, (fhead, frows, more), (ghead, grows), words=words,
            tlabel=tlabel,
        )  # fmt: skip
    else:
        text = _html(
            heading, [item, value], rows, (fhead, frows, more), (ghead, grows), words=words,
            tlabel=tlabel,
        )  # fmt: skip
    with atomic_write(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _markdown(
    heading: str,
    head: list[str],
    rows: list[list[str]],
    failing: tuple[list[str], list[list[str]], int],
    gaps: tuple[list[str], list[list[str]]],
    *,
    words: Mapping[str, str],
    tlabel: str,
) -> str:
    lines = [f"# {_md_text(heading)}", "", *_md_table(head, rows)]
    fhead, frows, more = failing
    if fhead:
        lines += ["", f"## {_md_text(words['failing'])}", ""]
        if frows:
            lines += _md_table(fhead, frows)
            if more:
                lines += ["", _md_text(words["more"].format(n=more))]
        else:
            lines.append(_md_text(words["none_failing"].format(t=tlabel)))
    ghead, grows = gaps
    if grows:
        lines += ["", f"## {_md_text(words['gaps'])}", "", *_md_table(ghead, grows)]
    return "\n".join(lines) + "\n"


def _html(
    heading: str,
    head: list[str],
    rows: list[list[str]],
    failing: tuple[list[str], list[list[str]], int],
    gaps: tuple[list[str], list[list[str]]],
    *,
    words: Mapping[str, str],
    tlabel: str,
) -> str:
    parts = [f"<h1>{html.escape(heading)}</h1>", _html_table(head, rows)]
    fhead, frows, more = failing
    if fhead:
        parts.append(f"<h2>{html.escape(words['failing'])}</h2>")
        if frows:
            parts.append(_html_table(fhead, frows))
            if more:
                parts.append(f"<p>{html.escape(words['more'].format(n=more))}</p>")
        else:
            parts.append(f"<p>{html.escape(words['none_failing'].format(t=tlabel))}</p>")
    ghead, grows = gaps
    if grows:
        parts += [f"<h2>{html.escape(words['gaps'])}</h2>", _html_table(ghead, grows)]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(heading)}</title><style>body{{font-family:sans-serif;"
        "max-width:60em;margin:2em auto}td,th{padding:2px 12px;border-bottom:1px solid #ddd;"
        "text-align:left}</style></head><body>" + "".join(parts) + "</body></html>\n"
    )
