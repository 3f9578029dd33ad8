"""The printable PNG map (matplotlib): Chinese whenever a CJK font file exists, else English.

The map is fitted to the area's shape (no wide white margins), with the legend beside the map
(never over it), a north arrow, a scale bar and the title. Fonts come from
:mod:`geogrid.outputs.fonts` (found by file, not from matplotlib's cache). The figure is built
by :func:`map_figure` in named steps (extent, layers, legend, furniture) and saved atomically
by :func:`static_map`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import InputError
from geogrid.io.writers import atomic_write
from geogrid.outputs.figures import one_line
from geogrid.outputs.fonts import cjk_family, figure_fonts, keep_drawable
from geogrid.outputs.privacy import protect
from geogrid.schema import (
    TEXT,
    check_lang,
    layer_label,
    primary_target,
    target_key,
    target_label,
    type_label,
    within_col,
)
from geogrid.settings import DEFAULTS, FACILITY_TYPES

log = logger = logging.getLogger(__name__)

__all__ = ["MAP_TEXT", "cjk_font", "map_figure", "save_figure", "static_map"]

#: Figure text by language (north, household classes, credit); titles and layer names come
#: from :mod:`geogrid.schema`.
MAP_TEXT: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "north": "北",
        "grid_class": "网格 {lo}–{hi} 户",
        "grid_class_top": "网格 {lo} 户以上",
        "grid_class_low": "网格 {hi} 户以下",
        "credit": "© OpenStreetMap 贡献者 (ODbL)",
    },
    "en": {
        "north": "N",
        "grid_class": "Grid {lo}–{hi} households",
        "grid_class_top": "Grid {lo}+ households",
        "grid_class_low": "Grid under {hi} households",
        "credit": "© OpenStreetMap contributors (ODbL)",
    },
}

#: Facility type -> (colour, marker); the colours are the web map's.
_TYPE_MARKS: Mapping[str, tuple[str, str]] = {
    "centre_city": ("#7f0000", "s"),
    "centre_district": ("#b30000", "s"),
    "centre_street": ("#d7301f", "s"),
    "centre_community": ("#ef6548", "D"),
    "station": ("#2171b5", "o"),
    "liaison_point": ("#6a51a3", "^"),
    "recharge_station": ("#cb181d", "P"),
    "facility": ("#525252", "v"),
}

#: Households per grid: class breaks and colours (as on the web map).
_HH_BREAKS = (200, 300, 400, 500)
_HH_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")

#: Layers that fix the map's extent (service areas and the network may reach far beyond).
_EXTENT_LAYERS = (
    "district",
    "streets",
    "communities",
    "grids",
    "demand",
    "gaps",
    "facilities",
    "sites",
)

_MAP_MAX_W_IN = 8.0
_MAP_MAX_H_IN = 7.0
_MARGIN = 0.05


@dataclass
class _Legend:
    """Legend entries in drawing order."""

    handles: list[Any] = field(default_factory=list)

    def add(self, handle: Any) -> None:
        self.handles.append(handle)


def cjk_font() -> str | None:
    """Family name of a CJK font registered for the figures (found by file), or None."""
    return cjk_family()


# --------------------------------------------------------------------------- data


def _prepare(
    layers: Mapping[str, gpd.GeoDataFrame], include_personal: bool
) -> dict[str, gpd.GeoDataFrame]:
    """Return the drawable layers in one metric CRS; demand through the privacy filter."""
    from geogrid.crs import metric_crs

    present = {k: g for k, g in layers.items() if g is not None and len(g) and g.crs is not None}
    present = {k: g for k, g in present.items() if isinstance(g, gpd.GeoDataFrame)}
    if not present:
        msg = "nothing to draw: pass layers with a coordinate system (gdf.set_crs(...))"
        raise InputError(msg)
    first = next(iter(present.values()))
    crs = first.crs if first.crs.is_projected else metric_crs(first)
    data = {k: g.to_crs(crs) for k, g in present.items()}
    if "demand" in data:
        data["demand"] = protect(data["demand"], include_personal=include_personal)
    return data


def _extent(data: Mapping[str, gpd.GeoDataFrame]) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of the area with a small margin, from the layers of :data:`_EXTENT_LAYERS`."""
    keys = [k for k in _EXTENT_LAYERS if k in data] or list(data)
    bounds = np.array([data[k].total_bounds for k in keys], dtype=float)
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(bounds):
        msg = "nothing to draw: the layers have no geometry; check the input files"
        raise InputError(msg)
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    span = max(x1 - x0, y1 - y0, 400.0)  # a few sites close together get a 400 m window
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = max(x1 - x0, span * 0.25) / 2 + _MARGIN * span
    half_h = max(y1 - y0, span * 0.25) / 2 + _MARGIN * span
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _map_size(extent: tuple[float, float, float, float]) -> tuple[float, float]:
    """Width and height of the map in inches, with the area's aspect ratio."""
    x0, y0, x1, y1 = extent
    aspect = (y1 - y0) / (x1 - x0)
    width = _MAP_MAX_W_IN
    height = width * aspect
    if height > _MAP_MAX_H_IN:
        height = _MAP_MAX_H_IN
        width = height / aspect
    return width, height


# --------------------------------------------------------------------------- layers


def _hh_class_label(i: int, lang: str) -> str:
    text = MAP_TEXT[lang]
    if i == 0:
        return text["grid_class_low"].format(hi=_HH_BREAKS[0])
    if i == len(_HH_BREAKS):
        return text["grid_class_top"].format(lo=_HH_BREAKS[-1])
    return text["grid_class"].format(lo=_HH_BREAKS[i - 1], hi=_HH_BREAKS[i] - 1)


def _draw_grids(ax: Any, grids: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Grids filled by households per grid (classes of :data:`_HH_BREAKS`), or outlines."""
    from matplotlib.patches import Patch

    if "households" not in grids:
        grids.boundary.plot(ax=ax, color="#888", linewidth=0.3)
        legend.add(
            Patch(
                facecolor="none",
                edgecolor="#888",
                label=layer_label("grids", lang),
            )
        )
        return
    hh = pd.to_numeric(grids["households"], errors="coerce").round().to_numpy()
    cls = np.digitize(np.nan_to_num(hh, nan=0.0), _HH_BREAKS)
    for i, colour in enumerate(_HH_COLOURS):
        sel = cls == i
        if sel.any():
            grids[sel].plot(ax=ax, color=colour, alpha=0.75, edgecolor="#888", linewidth=0.3)
            legend.add(
                Patch(
                    facecolor=colour, edgecolor="#888", alpha=0.75, label=_hh_class_label(i, lang)
                )
            )


def _draw_service_areas(
    ax: Any, sa: gpd.GeoDataFrame, lang: str, target: str, legend: _Legend
) -> None:
    """Fill the service areas of ``target`` (else of the layer's first target) light green."""
    from matplotlib.patches import Patch

    label = layer_label("service_areas", lang)
    sel = sa
    if "target" in sa and len(sa):
        targets = sa["target"].astype(str).map(_key)
        chosen = target if (targets == target).any() else targets.iloc[0]
        sel = sa[(targets == chosen).to_numpy()]
        label = f"{label} {target_label(chosen, lang)}"
    if len(sel):
        sel.plot(ax=ax, color="#31a354", alpha=0.18, edgecolor="#31a354", linewidth=0.5)
        legend.add(Patch(color="#31a354", alpha=0.3, label=label))


def _draw_boundaries(
    ax: Any, data: Mapping[str, gpd.GeoDataFrame], lang: str, legend: _Legend
) -> None:
    """Community, street and district outlines, finest first."""
    from matplotlib.lines import Line2D

    for key, colour, lw in (
        ("communities", "#1f4e79", 0.8),
        ("streets", "#6a3d9a", 1.6),
        ("district", "#222", 2.2),
    ):
        g = data.get(key)
        if g is not None:
            g.boundary.plot(ax=ax, color=colour, linewidth=lw)
            legend.add(Line2D([], [], color=colour, lw=lw, label=layer_label(key, lang)))


def _draw_gaps(ax: Any, gaps: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Coverage gaps, hatched orange."""
    from matplotlib.patches import Patch

    gaps.plot(ax=ax, color="#fd8d3c", alpha=0.45, edgecolor="#d94801", hatch="//")
    legend.add(
        Patch(
            facecolor="#fd8d3c",
            alpha=0.6,
            hatch="//",
            edgecolor="#d94801",
            label=layer_label("gaps", lang),
        )
    )


def _draw_uncovered(
    ax: Any, dem: gpd.GeoDataFrame, lang: str, target: str, legend: _Legend
) -> None:
    """Mark buildings or compounds beyond ``target`` with red dots."""
    from matplotlib.lines import Line2D

    col = within_col(target)
    if col not in dem:
        return
    inside = dem[col].astype("boolean").fillna(False).to_numpy(dtype=bool)
    unc = dem[~inside]
    if len(unc):
        unc.representative_point().plot(ax=ax, color="#e31a1c", markersize=4)
        legend.add(
            Line2D(
                [],
                [],
                color="#e31a1c",
                marker="o",
                lw=0,
                ms=4,
                label=layer_label("demand", lang),
            )
        )


def _draw_facilities(ax: Any, fac: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Existing centres and stations, one marker and colour per type."""
    from matplotlib.lines import Line2D

    types = fac["type"].astype(str) if "type" in fac else pd.Series("facility", index=fac.index)
    types = types.where(types.isin(FACILITY_TYPES), "facility")
    pts = fac.geometry.representative_point()
    for t in FACILITY_TYPES:
        sel = (types == t).to_numpy()
        if not sel.any():
            continue
        colour, marker = _TYPE_MARKS.get(t, _TYPE_MARKS["facility"])
        ax.scatter(
            pts.x[sel],
            pts.y[sel],
            s=36,
            c=colour,
            marker=marker,
            edgecolors="white",
            linewidths=0.8,
            zorder=10,
        )
        legend.add(
            Line2D([], [], color=colour, marker=marker, lw=0, ms=7, label=type_label(t, lang))
        )


def _draw_sites(ax: Any, sites: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Proposed sites as gold stars, numbered by rank."""
    from matplotlib.lines import Line2D

    pts = sites.geometry.representative_point()
    ax.scatter(
        pts.x, pts.y, s=120, c="#ffd700", marker="*", edgecolors="black", linewidths=0.8, zorder=11
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
    legend.add(
        Line2D(
            [],
            [],
            color="#ffd700",
            marker="*",
            lw=0,
            ms=10,
            markeredgecolor="black",
            label=layer_label("sites", lang),
        )
    )


def _draw_layers(ax: Any, data: Mapping[str, gpd.GeoDataFrame], lang: str, target: str) -> _Legend:
    """Draw every layer, bottom to top; return the legend entries."""
    legend = _Legend()
    if "grids" in data:
        _draw_grids(ax, data["grids"], lang, legend)
    if "service_areas" in data:
        _draw_service_areas(ax, data["service_areas"], lang, target, legend)
    _draw_boundaries(ax, data, lang, legend)
    if "gaps" in data:
        _draw_gaps(ax, data["gaps"], lang, legend)
    if "demand" in data:
        _draw_uncovered(ax, data["demand"], lang, target, legend)
    if "facilities" in data:
        _draw_facilities(ax, data["facilities"], lang, legend)
    if "sites" in data:
        _draw_sites(ax, data["sites"], lang, legend)
    return legend


# --------------------------------------------------------------------------- furniture


def _nice_length(span: float) -> float:
    """Return a round length (1, 2 or 5 x 10^n metres) no longer than ``span``."""
    nice = 10 ** math.floor(math.log10(span))
    for step in (5, 2, 1):
        if step * nice <= span:
            return step * nice
    return nice


def _scale_bar(ax: Any, extent: tuple[float, float, float, float]) -> None:
    """Draw a bar of a round length in the lower left corner, labelled in m or km."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = extent
    width, height = x1 - x0, y1 - y0
    length = _nice_length(width / 5.0)
    bx, by = x0 + 0.04 * width, y0 + 0.04 * height
    ax.add_patch(
        Rectangle(
            (bx - 0.015 * width, by - 0.02 * height),
            length + 0.03 * width,
            0.075 * height,
            facecolor="white",
            alpha=0.8,
            edgecolor="none",
            zorder=19,
        )
    )
    ax.plot([bx, bx + length], [by, by], color="black", lw=3, solid_capstyle="butt", zorder=20)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        bx + length / 2, by + 0.012 * height, label, ha="center", va="bottom", fontsize=8, zorder=20
    )


def _north_arrow(ax: Any, lang: str) -> None:
    """Draw an arrow pointing up (grid north of the metric CRS) in the upper right corner."""
    ax.annotate(
        "",
        xy=(0.96, 0.975),
        xytext=(0.96, 0.885),
        xycoords="axes fraction",
        arrowprops={
            "facecolor": "black",
            "edgecolor": "white",
            "width": 4,
            "headwidth": 11,
            "headlength": 10,
        },
        zorder=21,
    )
    ax.text(
        0.96,
        0.875,
        MAP_TEXT[lang]["north"],
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=10,
        fontweight="bold",
        zorder=21,
    )


def _heading(
    title: str | None, lang: str, target: str, families: list[str], fell_back: bool
) -> str:
    """Return the title on one line, drawable with ``families`` (default title when it is not)."""
    default = TEXT[lang]["title"].format(t=target_label(target, lang))
    if not title:
        return default
    text = one_line(title)
    drawable = keep_drawable(text, families)
    if drawable != text and fell_back:
        log.info("title %r needs a CJK font; the English title is used", text)
        return default
    return drawable


def _key(target: str) -> str:
    """Return the key of a target spelling (``"15 min"`` -> ``"15min"``); unknown ones as they are."""
    try:
        return target_key(target)
    except ValueError:
        return target


def _primary(data: Mapping[str, gpd.GeoDataFrame]) -> str:
    """Return the target the map leads with: the settings' primary target when the layers have it."""
    columns = [c for k in ("demand", "communities", "grids") if k in data for c in data[k].columns]
    found = primary_target(columns)
    if found is None and "service_areas" in data and "target" in data["service_areas"]:
        keys = [_key(str(t)) for t in data["service_areas"]["target"]]
        found = DEFAULTS.primary_target if DEFAULTS.primary_target in keys else keys[0]
    return found or DEFAULTS.primary_target


def _credit(ax: Any, data: Mapping[str, gpd.GeoDataFrame], lang: str) -> None:
    """Write the OSM licence under the map when a layer came from OpenStreetMap."""
    if any(str(g.attrs.get("source", "")).lower().startswith("osm") for g in data.values()):
        ax.text(
            1.0,
            -0.01,
            MAP_TEXT[lang]["credit"],
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=6,
        )


# --------------------------------------------------------------------------- figure


def map_figure(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    lang: str = "zh",
    title: str | None = None,
    dpi: int = 150,
    include_personal: bool = False,
) -> Any:
    """Build the map figure (a matplotlib ``Figure``; close it with ``plt.close(fig)``).

    The map axes have the area's aspect ratio; the legend is anchored to the right of the
    axes, outside them. Chinese text needs a CJK font (:mod:`geogrid.outputs.fonts`); without
    one every text is English and one warning is logged.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    check_lang(lang)
    want = lang
    lang, families = figure_fonts(lang, cjk_font())
    data = _prepare(layers, include_personal)
    extent = _extent(data)
    width, height = _map_size(extent)
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig = plt.figure(figsize=(width + 3.4, height + 0.9), dpi=dpi)
        ax = fig.add_axes(
            (
                0.2 / (width + 3.4),
                0.2 / (height + 0.9),
                width / (width + 3.4),
                height / (height + 0.9),
            )
        )
        target = _primary(data)
        legend = _draw_layers(ax, data, lang, target)
        ax.set_xlim(extent[0], extent[2])
        ax.set_ylim(extent[1], extent[3])
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        _scale_bar(ax, extent)
        _north_arrow(ax, lang)
        _credit(ax, data, lang)
        if legend.handles:
            ax.legend(
                handles=legend.handles,
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0,
                fontsize=8,
                frameon=False,
            )
        heading = _heading(title, lang, target, families, fell_back=lang != want)
        # parse_math=False: a "$x^2$" in a user title is text, not mathtext
        ax.set_title(heading, fontsize=13, parse_math=False, loc="left")
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save a figure as PNG atomically, cropped to its content, without a timestamp."""
    target = Path(path)
    with atomic_write(target) as tmp:
        fig.savefig(
            tmp,
            dpi=dpi,
            format="png",
            bbox_inches="tight",
            pad_inches=0.15,
            facecolor="white",
            metadata={"Software": None},
        )
    return target


def static_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    path_png: str | os.PathLike[str],
    *,
    lang: str = "zh",
    title: str | None = None,
    dpi: int = 150,
    include_personal: bool = False,
) -> Path:
    """Draw a printable PNG map: grids by households, boundaries, service areas, facilities.

    Drawn in the layers' metric CRS, fitted to the area's shape, with the legend beside the
    map, a north arrow and a scale bar (:func:`map_figure`). Chinese labels need a CJK font
    file (:func:`geogrid.outputs.fonts.find_cjk_font`; Debian package ``fonts-noto-cjk``);
    without one the whole map is English and one warning says so.

    Returns
    -------
    Path
        The PNG file (written atomically; same layers, same bytes).

    """
    import matplotlib.pyplot as plt

    fig = map_figure(layers, lang=lang, title=title, dpi=dpi, include_personal=include_personal)
    try:
        return save_figure(fig, path_png, dpi=dpi)
    finally:
        plt.close(fig)
