"""The coverage curve figure: households covered against the number of new stations.

Drawn from a siting curve table (``siting_curve.csv``, or the ``curve`` table of
``siting.gpkg``), in Chinese whenever a CJK font file exists (:mod:`geogrid.outputs.fonts`),
else in English with one warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.outputs.fonts import cjk_family, figure_fonts
from geogrid.outputs.static_map import save_figure

log = logger = logging.getLogger(__name__)

__all__ = ["CURVE_TEXT", "curve_figure", "curve_png"]

#: Axis, title and legend text of the curve, by language.
CURVE_TEXT: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "x": "新增站点数（个）",
        "y": "覆盖户数（户）",
        "y2": "覆盖率",
        "title": "新增站点数与覆盖户数",
        "exact": "最优方案（精确求解）",
        "other": "时间限制内的最好方案",
        "bound": "上界（时间限制）",
        "today": "现状",
    },
    "en": {
        "x": "new stations",
        "y": "households covered",
        "y2": "coverage",
        "title": "Households covered by number of new stations",
        "exact": "best plan (solved exactly)",
        "other": "best plan within the time limit",
        "bound": "upper bound (time limit)",
        "today": "today",
    },
}

_NEEDED = ("n_new_sites", "households_covered")


def _check(curve: pd.DataFrame) -> pd.DataFrame:
    """Return the curve sorted by number of stations; InputError when columns are missing."""
    missing = [c for c in _NEEDED if c not in curve]
    if missing or not len(curve):
        msg = (
            f"the siting curve lacks {', '.join(missing) or 'rows'}; pass the siting_curve.csv "
            "that geogrid site wrote"
        )
        raise InputError(msg)
    return curve.sort_values("n_new_sites").reset_index(drop=True)


def _draw(ax: Any, curve: pd.DataFrame, text: Mapping[str, str]) -> None:
    """Plot the curve: filled dots where exact, hollow where stopped, bound bars above."""
    n = curve["n_new_sites"].to_numpy(dtype=float)
    y = curve["households_covered"].to_numpy(dtype=float).round()
    status = (
        curve["status"].astype(str) if "status" in curve else pd.Series("exact", index=curve.index)
    )
    exact = status.isin(["exact", "today"]).to_numpy()
    ax.plot(n, y, color="#b22222", lw=1.5, zorder=2)
    ax.scatter(n[exact], y[exact], color="#b22222", zorder=3, label=text["exact"])
    if (~exact).any():
        ax.scatter(
            n[~exact],
            y[~exact],
            facecolors="white",
            edgecolors="#b22222",
            zorder=3,
            label=text["other"],
        )
        if "bound_households" in curve:
            b = pd.to_numeric(curve["bound_households"], errors="coerce").to_numpy(dtype=float)
            ok = ~exact & np.isfinite(b)
            if ok.any():
                ax.vlines(n[ok], y[ok], b[ok].round(), color="#555555", lw=1, label=text["bound"])
    for xi, yi in zip(n, y, strict=True):
        ax.annotate(
            f"{int(yi):,}",
            (xi, yi),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )


def _share_axis(ax: Any, curve: pd.DataFrame, text: Mapping[str, str]) -> None:
    """Add a right-hand axis in per cent of all households (when the curve gives the share)."""
    if "coverage_share" not in curve:
        return
    share = pd.to_numeric(curve["coverage_share"], errors="coerce").to_numpy(dtype=float)
    hh = curve["households_covered"].to_numpy(dtype=float)
    ok = np.isfinite(share) & (share > 0)
    if not ok.any():
        return
    total = float(np.median(hh[ok] / share[ok]))
    right = ax.secondary_yaxis(
        "right", functions=(lambda v: 100 * v / total, lambda p: p * total / 100)
    )
    right.set_ylabel(f"{text['y2']} (%)")


def curve_figure(curve: pd.DataFrame, *, lang: str = "zh", dpi: int = 150) -> Any:
    """Build the curve figure (a matplotlib ``Figure``; close it with ``plt.close(fig)``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    curve = _check(curve)
    lang, families = figure_fonts(lang, cjk_family())
    text = CURVE_TEXT[lang]
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=dpi)
        _draw(ax, curve, text)
        _share_axis(ax, curve, text)
        ax.set_xlabel(text["x"])
        ax.set_ylabel(text["y"])
        ax.set_title(text["title"], loc="left")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.margins(y=0.12)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return fig


def curve_png(curve: pd.DataFrame, path: str | os.PathLike[str], *, lang: str = "zh") -> Path:
    """Write the coverage curve as a PNG (atomically; same curve, same bytes).

    Parameters
    ----------
    curve : DataFrame
        The siting curve: ``n_new_sites``, ``households_covered`` and, when known,
        ``coverage_share``, ``status`` and ``bound_households``.
    path : path-like
        The PNG file.
    lang : {"zh", "en"}
        Language of the labels (English when no CJK font exists).

    Returns
    -------
    Path
        The PNG file.

    """
    import matplotlib.pyplot as plt

    fig = curve_figure(curve, lang=lang)
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)
