"""The printable PNG map (matplotlib), with Chinese labels when a CJK font is found."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geogrid.errors import InputError
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import one_line
from geogrid.outputs.privacy import protect
from geogrid.schema import check_lang, column_label, type_label
from geogrid.settings import FACILITY_TYPES

log = logger = logging.getLogger(__name__)


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

    from geogrid.crs import metric_crs

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

    from geogrid.schema import LAYER_LABELS

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
                from geogrid.outputs.webmap import _TYPE_STYLE

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
            ax.set_title(one_line(heading), fontsize=13, parse_math=False)
            if any(str(g.attrs.get("source", "")).lower().startswith("osm") for g in data.values()):
                fig.text(0.99, 0.01, "© OpenStreetMap contributors (ODbL)", ha="right", fontsize=6)
            fig.tight_layout()
            target = Path(path_png)
            with atomic_write(target) as tmp:
                fig.savefig(tmp, dpi=dpi, format="png")
        finally:
            plt.close(fig)
    return target
