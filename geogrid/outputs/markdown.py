"""The one-page summary (Markdown or HTML) of a set of result layers."""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd

from geogrid.errors import InputError
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import SUMMARY_LABELS, key_figures, one_line
from geogrid.schema import TEXT, check_lang

log = logger = logging.getLogger(__name__)


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
    figures = key_figures(layers, include_personal=include_personal)
    heading = (
        one_line(title)
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


def _md_text(text: str) -> str:
    """Plain text for Markdown: no emphasis, link, heading, table, HTML or math syntax."""
    out = re.sub(r"([!-%'-/:;=-@\[-`{-~])", r"\\\1", one_line(text))
    return out.replace("&", "&amp;").replace("<", "&lt;")
