"""Interactive Folium maps of governance grids, facilities, coverage and proposed sites.

:func:`build_map` turns the layers of an analysis into one Leaflet map: district, street and
community boundaries, grids coloured by households or coverage, facilities by type with popups,
service areas per target, uncovered buildings or compounds, coverage gaps and proposed sites,
with a legend, layer control, full-screen button, measure tool, minimap and search by community
name or grid code. :func:`geogrid.outputs.offline.save_map` writes it (one self-contained
file by default); :func:`map_from_results` maps a results folder.

The pieces live in: :mod:`geogrid.outputs.leaflet` (folium/branca elements, page CSS and
scripts, the JSON data blob), :mod:`geogrid.outputs.offline` (inlining vendored assets,
saving) and :mod:`geogrid.outputs.results` (reading a results folder); this module builds the
layers.

Basemaps: ``"osm"`` (OpenStreetMap, default), ``"amap"`` (Amap/Gaode, which is GCJ-02: every
overlay is shifted to GCJ-02 so that it lines up), ``"tianditu"`` (needs the user's key) and
``"none"`` (blank background).

Safety: text from user files (names, codes, column names, the title) is data, never code: it
reaches the page only through :class:`geogrid.outputs.leaflet.DataStore` (a JSON blob shown
with ``textContent``), never as Jinja2 template source, HTML or script. Layer names, style
functions and the legend are constant text of this module. Household-level personal fields
(names, phones, ID numbers, ...) are left out unless ``include_personal=True`` (see
:mod:`geogrid.outputs.privacy`).

Size: polygons and lines are simplified in metres (``simplify_m``, default 5 m, topology kept)
and coordinates rounded to ``precision`` decimals of a degree (6 = about 0.1 m), so a city of
3,000 grids and 500 facilities stays well under 15 MB.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import Fullscreen, MeasureControl
from folium.utilities import JsCode

from geogrid.crs import from_wgs84, to_metric
from geogrid.errors import CRSError, InputError
from geogrid.outputs.leaflet import (
    LEAFLET_CSS,
    LEAFLET_JS,
    PAGE_CSS,
    PAGE_JS,
    MiniMapControl,
    RawHtml,
    SearchControl,
    add_geojson,
    data_of,
    deterministic_ids,
    is_missing,
    layer_properties,
)
from geogrid.outputs.offline import VENDORED, map_html, save_map
from geogrid.outputs.privacy import drop_personal, personal_columns, protect, scan_personal
from geogrid.outputs.results import LAYER_KEYS, read_context, read_results
from geogrid.schema import (
    LAYER_LABELS,
    TEXT,
    check_lang,
    column_label,
    column_spec,
    coverage_col,
    fix_column,
    format_value,
    primary_target,
    reason_column,
    target_key,
    target_label,
    targets_in,
    type_label,
    uncovered_col,
    within_col,
)
from geogrid.settings import DEFAULTS, FACILITY_TYPES, Target, parse_targets

logger = logging.getLogger(__name__)

__all__ = [
    "LAYER_KEYS",
    "TILES",
    "TYPE_STYLE",
    "VENDORED",
    "build_map",
    "layer_properties",
    "map_from_results",
    "map_html",
    "read_results",
    "save_map",
]

#: Basemap choices.
TILES: tuple[str, ...] = ("osm", "amap", "tianditu", "none")

_OSM_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

#: Facility type -> (colour, one-character glyph zh, glyph en); the static map uses it too.
TYPE_STYLE: Mapping[str, tuple[str, str, str]] = {
    "centre_city": ("#7f0000", "市", "M"),
    "centre_district": ("#b30000", "区", "D"),
    "centre_street": ("#d7301f", "街", "S"),
    "centre_community": ("#ef6548", "社", "C"),
    "station": ("#2171b5", "站", "s"),
    "liaison_point": ("#6a51a3", "联", "L"),
    "recharge_station": ("#cb181d", "蓄", "R"),
    "facility": ("#525252", "设", "F"),
}

_TARGET_COLOURS = ("#006d2c", "#31a354", "#74c476", "#a1d99b", "#c7e9c0")

_HH_BREAKS = (0, 200, 300, 400, 500)
_HH_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
_COV_BREAKS = (0.0, 0.5, 0.7, 0.85, 0.95)
_COV_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")

# --------------------------------------------------------------------------- helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt_column(series: pd.Series, col: str, lang: str) -> list[Any]:
    """Format a column as people read it: the schema's units and formats, names of types.

    Columns the schema knows get their unit on every figure (``61 户``, ``1,462 米``,
    ``24.0 分钟``, ``39.7%``; households whole); other columns are shown as they are, numbers
    with separators.
    """
    if column_spec(col) is not None:
        return [None if is_missing(v) else format_value(col, v, lang) for v in series.tolist()]
    t = TEXT[lang]
    out: list[Any] = []
    for v in series.tolist():
        if is_missing(v):
            out.append(None)
        elif isinstance(v, (bool, np.bool_)):
            out.append(t["yes"] if v else t["no"])
        elif isinstance(v, (int, np.integer)):
            out.append(f"{int(v):,}")
        elif isinstance(v, (float, np.floating)):
            fv = float(v)
            out.append(f"{fv:,.0f}" if abs(fv) >= 100 or fv == int(fv) else f"{fv:,.2f}")
        else:
            out.append(str(v))  # shown with textContent: no HTML escaping needed
    return out


def _prepare(
    gdf: gpd.GeoDataFrame,
    key: str,
    *,
    target: str,
    simplify_m: float,
    precision: int,
    include_personal: bool,
) -> gpd.GeoDataFrame:
    """Check, protect, simplify (metres), reproject (WGS84 or GCJ-02) and round one layer."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"layer {key!r} is a {type(gdf).__name__}; pass a GeoDataFrame"
        raise InputError(msg)
    if gdf.crs is None:
        msg = f"layer {key!r} has no coordinate system; set it with gdf.set_crs(...) first"
        raise CRSError(msg)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if key == "demand":  # the only layer that may hold one row per household
        gdf = protect(gdf, include_personal=include_personal)
    else:
        gdf = drop_personal(gdf, include_personal=include_personal)
    if len(gdf) == 0:
        return gdf
    if simplify_m > 0 and not (gdf.geom_type == "Point").all():
        metric = to_metric(gdf)
        metric = metric.set_geometry(
            shapely.simplify(np.asarray(metric.geometry.values), simplify_m, preserve_topology=True)
        )
        gdf = metric
    out = from_wgs84(gdf, target)
    geoms = shapely.transform(np.asarray(out.geometry.values), lambda c: np.round(c, precision))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs="EPSG:4326"))
    out = out[~out.geometry.is_empty]
    if include_personal:  # the user asked for them: show the personal columns in popups
        scan = scan_personal(out)
        out.attrs["personal_columns"] = [*scan.drop, *scan.masked]
    return out


#: Code column -> the name column people read instead; a popup shows the code only for a
#: feature whose name is missing.
_NAME_FOR_CODE: Mapping[str, str] = {
    "facility_id": "name",
    "candidate_id": "name",
    "compound_id": "compound_name",
    "nearest_id": "nearest_name",
    "community_codes": "community_names",
}


def _props(
    gdf: gpd.GeoDataFrame, fields: list[str], lang: str
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Format popup properties; also return the ``[key, label, unless]`` list for the JS builder.

    ``unless`` names the column whose value, when present, hides this row (a code beside its
    name); labels come from the schema and carry no unit, as every value carries its own.
    """
    data: dict[str, list[Any]] = {}
    popup: list[list[str]] = []
    # personal columns are only still there when the user passed include_personal=True
    personal = [*personal_columns(gdf.columns), *gdf.attrs.get("personal_columns", ())]
    for col in [*fields, *(c for c in dict.fromkeys(personal) if c not in fields)]:
        if col in gdf.columns:
            data[col] = _fmt_column(gdf[col], col, lang)
            name = _NAME_FOR_CODE.get(col, "")
            popup.append([str(col), column_label(str(col), lang), name if name in gdf else ""])
    return pd.DataFrame(data, index=gdf.index), popup


def _targets_of(gdf: gpd.GeoDataFrame, primary: str) -> list[str]:
    """Targets of a layer's columns, the map's primary target first."""
    keys = targets_in(gdf.columns)
    return sorted(keys, key=lambda k: k != primary)


def _reason_fields(gdf: gpd.GeoDataFrame, lang: str) -> list[str]:
    """Return the reason and suggested-fix columns in ``lang`` that the layer has."""
    return [c for c in (reason_column(lang), fix_column(lang)) if c in gdf]


def _classify(values: pd.Series, breaks: tuple[float, ...], colours: tuple[str, ...]) -> list[str]:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    idx = np.clip(np.searchsorted(np.asarray(breaks), v, side="right") - 1, 0, len(colours) - 1)
    return [colours[i] if np.isfinite(x) else "#cccccc" for i, x in zip(idx, v, strict=False)]


def _class_labels(breaks: tuple[float, ...], *, share: bool) -> list[str]:
    def f(x: float) -> str:
        return f"{100 * x:.0f}%" if share else f"{x:,.0f}"

    labels = [f"{f(a)} - {f(b)}" for a, b in zip(breaks[:-1], breaks[1:], strict=False)]
    labels.append(f"≥ {f(breaks[-1])}")
    return labels


def _parse_target(name: str) -> Target | None:
    """Return the target a service-area value names, or None when it names none."""
    try:
        return parse_targets([str(name)])[0]
    except ValueError:
        return None


def _target_sort_key(name: str) -> tuple[int, float]:
    """Sort walking times first, then distances, each by size; unknown targets last."""
    t = _parse_target(name)
    if t is None:
        return (2, 0.0)
    if t.minutes is not None:
        return (0, float(t.minutes))
    return (1, float(t.metres or 0.0))


def _target_label(name: str, lang: str, index: int) -> str:
    """Label of a service-area target; only digits and fixed words, as it names a layer."""
    t = _parse_target(name)
    if t is not None:
        return target_label(t, lang)
    return f"{TEXT[lang]['other_target']} {index + 1}"


def _tile_spec(tiles: str, key: str | None, lang: str) -> list[tuple[str, dict[str, Any]]]:
    if tiles == "osm":
        return [
            (
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                {"attribution": _OSM_ATTR, "maxZoom": 19},
            )
        ]
    if tiles == "amap":
        amap_lang = "zh_cn" if lang == "zh" else "en"
        return [
            (
                "https://webrd0{s}.is.autonavi.com/appmaptile?lang="
                + amap_lang
                + "&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                {"attribution": "&copy; 高德地图 AutoNavi", "subdomains": "1234", "maxZoom": 18},
            )
        ]
    if tiles == "tianditu":
        key = key or os.environ.get("TIANDITU_KEY")
        if not key:
            msg = "tiles='tianditu' needs a key; pass tianditu_key=... or set TIANDITU_KEY"
            raise InputError(msg)
        if not re.fullmatch(r"[A-Za-z0-9]{8,64}", key):
            msg = f"tianditu key {key!r} is not a Tianditu key; pass the 32-character key"
            raise InputError(msg)
        base = (
            "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
            "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key
        )
        opts = {"attribution": "&copy; 天地图 Tianditu", "subdomains": "01234567", "maxZoom": 18}
        note = "cva" if lang == "zh" else "eva"
        return [
            (base.replace("{layer}", "vec"), opts),
            (base.replace("{layer}", note), opts),
        ]
    return []


# --------------------------------------------------------------------------- layers


def _layer_name(key: str, lang: str, suffix: str = "") -> str:
    return LAYER_LABELS[key][check_lang(lang)] + suffix


def _outline_layer(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    key: str,
    lang: str,
    *,
    fields: list[str],
    colour: str,
    weight: float,
    dash: str | None,
) -> folium.GeoJson:
    props, popup = _props(gdf, fields, lang)
    label_col = next((c for c in ("name", "street_name", "district_name") if c in gdf), None)
    if label_col is not None:
        props["_t"] = [str(v) if not is_missing(v) else None for v in gdf[label_col]]
    dash_js = f", dashArray: {json.dumps(dash)}" if dash else ""
    style = f"function(f){{return {{color: '{colour}', weight: {weight}, fill: false{dash_js}}};}}"
    return add_geojson(m, gdf, props, popup, name=_esc(_layer_name(key, lang)), style_js=style)


_LINK_TEXT = {"zh": "打开该地区地图", "en": "Open this area's map"}
_WALK = {"zh": "步行", "en": "walk"}
_GAIN = {"zh": "新增覆盖", "en": "gains"}
_NOTE_LABEL = {"zh": "说明", "en": "Note"}
_SITE_NOTE = {
    "zh": "新增覆盖户数：此前{t}内没有设施、由本站新纳入覆盖的户数（按优先序计入排在前面的站点）；"
    "服务户数：建成后{t}内且以本站为最近设施的户数。两者口径不同，不能相加。",
    "en": "Households gained: households with no facility within {t} before that this site "
    "brings within reach (counted for the higher-ranked site first). Households served: "
    "households within {t} whose nearest facility this site would be. The two are counted "
    "differently and do not add up.",
}
_TILE_NOTICE = {
    "zh": "底图需联网，未能加载；专题图层照常显示",
    "en": "The basemap needs the internet and did not load; the map layers are shown",
}
_RELATIVE_LINK_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.html")


def _relative_link(value: Any) -> str | None:
    """Return a relative ``.html`` link inside the map's folder, or None (no scheme, no ``..``)."""
    text = "" if is_missing(value) else str(value)
    return text if _RELATIVE_LINK_RE.fullmatch(text) and ".." not in text else None


def _choropleth(
    m: folium.Map,
    gdf: gpd.GeoDataFrame,
    key: str,
    lang: str,
    *,
    fields: list[str],
    by: str,
    tip_col: str,
    links: str | None = None,
) -> tuple[folium.GeoJson, tuple[str, list[str], tuple[str, ...]]]:
    """Add a layer filled by class; ``by`` is ``"households"`` or a coverage column."""
    props, popup = _props(gdf, fields, lang)
    if links is not None and links in gdf:
        props["_l"] = [_relative_link(v) for v in gdf[links]]
    if by != "households":
        colours = _classify(gdf[by], _COV_BREAKS, _COV_COLOURS)
        legend = (
            column_label(by, lang),
            _class_labels(_COV_BREAKS, share=True),
            _COV_COLOURS,
        )
    else:
        hh = gdf["households"] if "households" in gdf else pd.Series(np.nan, index=gdf.index)
        colours = _classify(hh, _HH_BREAKS, _HH_COLOURS)
        legend = (
            TEXT[lang]["households_class"],
            _class_labels(_HH_BREAKS, share=False),
            _HH_COLOURS,
        )
    props["_f"] = colours
    if tip_col in gdf:
        props["_t"] = [str(v) if not is_missing(v) else None for v in gdf[tip_col]]
    style = (
        "function(f){return {color: '#555', weight: 1, fillColor: f.properties._f, "
        "fillOpacity: 0.55};}"
    )
    layer = add_geojson(m, gdf, props, popup, name=_esc(_layer_name(key, lang)), style_js=style)
    return layer, legend


def _facility_layers(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> list[tuple[str, str, str]]:
    """One layer per facility type; returns legend rows ``(colour, glyph, label)``."""
    fields = [
        "name",
        "facility_id",
        "type_name",
        "area_m2",
        "capacity",
        "reach_target",
        "served_households",
        "beyond_reach_households",
        "hh_per_m2",
        "overloaded",
    ]
    gdf = gdf.copy()
    if "reach_target" in gdf:  # the facility's own target, as people read it
        gdf["reach_target"] = [
            None if is_missing(v) else _target_label(str(v), lang, 0) for v in gdf["reach_target"]
        ]
    raw_type = gdf["type"].astype("object") if "type" in gdf else pd.Series("facility", gdf.index)
    raw_type = raw_type.where(raw_type.notna(), "facility").astype(str)
    group = raw_type.where(raw_type.isin(FACILITY_TYPES), "facility")
    gdf["type_name"] = [type_label(t, lang) for t in raw_type]
    pts = gdf.geometry.representative_point()
    gdf = gdf.set_geometry(pts)
    over = gdf["overloaded"].fillna(False).astype(bool) if "overloaded" in gdf else None
    legend = []
    for ftype in FACILITY_TYPES:
        sel = (group == ftype).to_numpy()
        if not sel.any():
            continue
        sub = gdf[sel]
        props, popup = _props(sub, fields, lang)
        tips = sub["name"] if "name" in sub else sub["type_name"]
        props["_t"] = [None if is_missing(v) else str(v) for v in tips]
        props["_o"] = over[sel].astype(int).tolist() if over is not None else 0
        colour, glyph_zh, glyph_en = TYPE_STYLE[ftype]
        glyph = glyph_zh if lang == "zh" else glyph_en
        point = (
            "function(f, ll){return L.marker(ll, {icon: L.divIcon({className: '', "
            f"iconSize: [24, 24], iconAnchor: [12, 12], html: '<div class=\"gg-fac' + "
            f"(f.properties._o ? ' gg-over' : '') + '\" style=\"background:{colour}\">"
            f"{glyph}</div>'}})}});}}"
        )
        label = type_label(ftype, lang)
        add_geojson(
            m,
            sub,
            props,
            popup,
            name=_esc(f"{label} ({len(sub)})"),
            point_js=point,
            sticky=False,
        )
        legend.append((colour, glyph, _esc(label)))
    return legend


def _service_area_layers(
    m: folium.Map, gdf: gpd.GeoDataFrame, lang: str, primary: str
) -> list[tuple[str, str]]:
    """Add one band layer per target (distance targets off by default); return legend rows."""
    if "facility_id" in gdf and (gdf["facility_id"].astype(str) == "all").any():
        # the dissolved band per target is what officials read; per-facility areas stack
        # inside it and would only add megabytes
        gdf = gdf[(gdf["facility_id"].astype(str) == "all").to_numpy()]
    targets = gdf["target"].astype(str) if "target" in gdf else pd.Series(primary, index=gdf.index)
    names = sorted(targets.unique(), key=_target_sort_key, reverse=True)
    legend = []
    by_size = sorted(names, key=_target_sort_key)
    colours = {n: _TARGET_COLOURS[min(i, len(_TARGET_COLOURS) - 1)] for i, n in enumerate(by_size)}
    others = [n for n in by_size if _target_sort_key(n)[0] == 2]
    for name in names:  # largest first, so smaller bands are drawn on top
        sub = gdf[(targets == name).to_numpy()]
        props = pd.DataFrame(index=sub.index)
        label = _target_label(name, lang, others.index(name) if name in others else 0)
        colour = colours[name]
        style = (
            f"function(f){{return {{color: '{colour}', weight: 1, fillColor: '{colour}', "
            "fillOpacity: 0.18};}"
        )
        parsed = _parse_target(name)
        distance = parsed is not None and parsed.minutes is None
        add_geojson(
            m,
            sub,
            props,
            [],
            name=_esc(_layer_name("service_areas", lang, f" {label}")),
            style_js=style,
            show=not distance,
            interactive=False,
        )
        legend.append((colour, _esc(label)))
    legend.reverse()
    return legend


def _after_layers(
    m: folium.Map, gdf: gpd.GeoDataFrame, lang: str, primary: str
) -> list[tuple[str, str]]:
    """Add the service area with the new sites: a dashed blue outline per target."""
    targets = gdf["target"].astype(str) if "target" in gdf else pd.Series(primary, index=gdf.index)
    legend = []
    for i, name in enumerate(sorted(targets.unique(), key=_target_sort_key)):
        sub = gdf[(targets == name).to_numpy()]
        label = _esc(_layer_name("service_areas_after", lang, f" {_target_label(name, lang, i)}"))
        style = (
            "function(f){return {color: '#08519c', weight: 2, dashArray: '6 4', "
            "fillColor: '#6baed6', fillOpacity: 0.12};}"
        )
        add_geojson(
            m, sub, pd.DataFrame(index=sub.index), [], name=label, style_js=style, interactive=False
        )
        legend.append(("#6baed6", label))
    return legend


def _bounds(layers: list[gpd.GeoDataFrame]) -> list[list[float]] | None:
    boxes = np.array([g.total_bounds for g in layers if len(g)])
    if len(boxes) == 0 or not np.isfinite(boxes).all():
        return None
    return [
        [float(boxes[:, 1].min()), float(boxes[:, 0].min())],
        [float(boxes[:, 3].max()), float(boxes[:, 2].max())],
    ]


def _legend_html(lang: str, legend: _Legend) -> str:
    """Return the legend box (constant text of this module and escaped labels)."""
    choropleth, facilities, bands = legend.choropleth, legend.facilities, legend.bands
    extra, sites = legend.extra, legend.sites
    parts = [
        '<div class="gg-legend"><button type="button" class="gg-legend-toggle" '
        f'aria-expanded="true">{_esc(TEXT[lang]["legend"])}</button><div class="gg-legend-body">'
    ]
    if choropleth is not None:
        title, labels, colours = choropleth
        parts.append(f"<b>{_esc(title)}</b>")
        parts.extend(
            f'<div><i style="background:{c}"></i>{_esc(lab)}</div>'
            for c, lab in zip(colours, labels, strict=False)
        )
    if facilities:
        parts.append(f"<b>{_esc(_layer_name('facilities', lang))}</b>")
        parts.extend(
            f'<div><span class="gg-fac" style="background:{c}">{g}</span>{lab}</div>'
            for c, g, lab in facilities
        )
    if bands:
        parts.append(f"<b>{_esc(_layer_name('service_areas', lang))}</b>")
        parts.extend(
            f'<div><i style="background:{c};opacity:.6"></i>{lab}</div>' for c, lab in bands
        )
    for colour, label in extra:
        parts.append(f'<div><i style="background:{colour}"></i>{label}</div>')
    if sites:
        parts.append(
            '<div><span class="gg-site" style="display:inline-block;width:10px;height:10px;'
            f'line-height:10px;margin:0 8px 0 2px"></span>{_esc(_layer_name("sites", lang))}</div>'
        )
    parts.append("</div></div>")
    return "".join(parts)


# --------------------------------------------------------------------------- map pieces


@dataclass
class _Legend:
    """What the legend lists, collected while the layers are added."""

    choropleth: tuple[str, list[str], tuple[str, ...]] | None = None
    facilities: list[tuple[str, str, str]] = field(default_factory=list)
    bands: list[tuple[str, str]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    sites: bool = False


def _check_options(
    layers: Mapping[str, Any],
    *,
    tiles: str,
    lang: str,
    grid_by: str,
    simplify_m: float,
    precision: int,
) -> None:
    """Refuse unknown options and layer keys with a one-line error naming the fix."""
    check_lang(lang)
    if tiles not in TILES:
        msg = f"unknown basemap tiles={tiles!r}; pass one of {', '.join(TILES)}"
        raise InputError(msg)
    if grid_by not in {"households", "coverage"}:
        msg = f"unknown grid_by={grid_by!r}; pass 'households' or 'coverage'"
        raise InputError(msg)
    if simplify_m < 0 or not 0 <= precision <= 10:
        msg = f"simplify_m={simplify_m!r}, precision={precision!r}; pass simplify_m>=0, 0-10"
        raise InputError(msg)
    unknown = sorted(set(layers) - set(LAYER_KEYS))
    if unknown:
        msg = f"unknown layer key(s) {unknown}; pass only {', '.join(LAYER_KEYS)}"
        raise InputError(msg)


def _prepare_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    primary: str,
    target: str,
    simplify_m: float,
    precision: int,
    include_personal: bool,
) -> dict[str, gpd.GeoDataFrame]:
    """Prepare every given layer (see :func:`_prepare`); demand keeps its uncovered rows."""
    data: dict[str, gpd.GeoDataFrame] = {}
    for key in LAYER_KEYS:
        gdf = layers.get(key)
        if gdf is None or len(gdf) == 0:
            continue
        if key == "demand":
            within = within_col(primary)
            if within not in gdf:
                logger.warning("demand layer has no %s column; it is not drawn", within)
                continue
            gdf = gdf[~gdf[within].fillna(False).astype(bool)]
        tol = 0.0 if key in {"facilities", "sites"} else simplify_m
        data[key] = _prepare(
            gdf,
            key,
            target=target,
            simplify_m=tol,
            precision=precision,
            include_personal=include_personal,
        )
    return data


def _base_map(
    tile_spec: list[tuple[str, dict[str, Any]]],
    *,
    tiles: str,
    prefer_canvas: bool,
    title: str | None,
    attribution: str | None,
) -> folium.Map:
    """Make an empty map with the basemap, the page CSS and scripts, the title and attribution."""
    m = folium.Map(
        tiles=None,
        control_scale=False,
        prefer_canvas=prefer_canvas,
        zoom_start=13,
        zoomSnap=0.25,  # fit the district closely on any screen
    )
    # only Leaflet itself: no jQuery, Bootstrap, Font Awesome or awesome-markers are used
    m.default_js = [("leaflet", LEAFLET_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS)]
    for i, (url, opts) in enumerate(tile_spec):
        folium.TileLayer(
            tiles=url,
            attr=opts["attribution"],
            max_zoom=opts["maxZoom"],
            subdomains=opts.get("subdomains", "abc"),
            name=_esc(tiles) + (f" {i}" if i else ""),
            control=False,
            overlay=False if i == 0 else True,
        ).add_to(m)
    store = data_of(m)
    store.payload["title"] = None if title is None else str(title)
    store.payload["attribution"] = None if attribution is None else str(attribution)
    # constant source only below: user text reaches the page through `store` alone
    js = f"L.control.scale({{imperial: false}}).addTo({m.get_name()});\n"
    js += f"ggDecorate({m.get_name()});\n"
    if not tile_spec:
        js += f"document.getElementById({json.dumps(m.get_name())}).classList.add('gg-blank');\n"
    RawHtml(header_html=PAGE_CSS + "<script>" + PAGE_JS + "</script>", script_js=js).add_to(m)
    return m


def _add_grids(
    m: folium.Map,
    grids: gpd.GeoDataFrame,
    lang: str,
    grid_by: str,
    *,
    legend: _Legend,
    primary: str,
) -> list[tuple[folium.GeoJson, str, str]]:
    """Add the grid choropleth; return the grid-code search it offers."""
    cov = coverage_col(primary)
    by = cov if grid_by == "coverage" and cov in grids else "households"
    fields = ["grid_code", "community_name", "households", "population", "party_members"]
    fields += [coverage_col(t) for t in _targets_of(grids, primary)]
    fields += [uncovered_col(primary), "mean_walk_min", "n_units"]
    layer, legend.choropleth = _choropleth(
        m, grids, "grids", lang, by=by, tip_col="grid_code", fields=fields
    )
    return [(layer, "grid_code", TEXT[lang]["search_grid"])] if "grid_code" in grids else []


def _add_communities(
    m: folium.Map,
    comm: gpd.GeoDataFrame,
    lang: str,
    legend: _Legend,
    *,
    has_grids: bool,
    links: str | None,
    primary: str,
) -> list[tuple[folium.GeoJson, str, str]]:
    """Add community outlines, or a coverage choropleth without grids; return the name search."""
    fields = ["name", "community_code", "street_name", "households", "n_grids"]
    fields += [coverage_col(t) for t in _targets_of(comm, primary)]
    fields += [uncovered_col(primary), "mean_walk_min", "n_facilities", "meets_target"]
    fields += ["coverage_before", "coverage_after", "gain_households", "new_sites"]
    fields += _reason_fields(comm, lang)
    cov = coverage_col(primary)
    if has_grids or cov not in comm:
        layer = _outline_layer(
            m, comm, "communities", lang, fields=fields, colour="#1f4e79", weight=2.0, dash=None
        )
    else:
        layer, legend.choropleth = _choropleth(
            m,
            comm,
            "communities",
            lang,
            by=cov,
            tip_col="name",
            fields=fields,
            links=links,
        )
        if links is not None:
            data_of(m).payload["link_text"] = _LINK_TEXT[lang]
    return [(layer, "name", TEXT[lang]["search_community"])] if "name" in comm else []


def _add_outlines(m: folium.Map, data: Mapping[str, gpd.GeoDataFrame], lang: str) -> None:
    """Add the street and district boundaries."""
    if "streets" in data:
        _outline_layer(
            m,
            data["streets"],
            "streets",
            lang,
            fields=["street_code", "street_name"],
            colour="#6a3d9a",
            weight=3.0,
            dash="8 4",
        )
    if "district" in data:
        _outline_layer(
            m,
            data["district"],
            "district",
            lang,
            fields=["district_code", "district_name", "name"],
            colour="#222",
            weight=4.0,
            dash=None,
        )


def _tip(*parts: Any) -> str | None:
    """Join the present parts of a tooltip with `` · ``."""
    text = " · ".join(str(p) for p in parts if p is not None and not is_missing(p) and str(p))
    return text or None


def _add_demand(
    m: folium.Map,
    dem: gpd.GeoDataFrame,
    lang: str,
    legend: _Legend,
    community_names: Mapping[str, str],
) -> None:
    """Add the uncovered buildings or compounds, red; named by compound and community."""
    dem = dem.copy()
    if "community_name" not in dem and "community_code" in dem and community_names:
        dem["community_name"] = dem["community_code"].astype(str).map(community_names)
    fields = ["compound_name", "name", "community_name", "households", "nearest_name"]
    fields += ["nearest_id", "walk_min", "dist_m", "building_id", "compound_id"]
    props, popup = _props(dem, fields, lang)
    place = next(
        (props[c] for c in ("compound_name", "name", "community_name") if c in props), None
    )
    hh = props["households"] if "households" in props else None
    walk = props["walk_min"] if "walk_min" in props else None
    props["_t"] = [
        _tip(
            TEXT[lang]["uncovered"]
            if place is None or is_missing(place.iloc[i])
            else place.iloc[i],
            None if hh is None else hh.iloc[i],
            None if walk is None or is_missing(walk.iloc[i]) else f"{_WALK[lang]} {walk.iloc[i]}",
        )
        for i in range(len(props))
    ]
    style = (
        "function(f){return {color: '#b10026', weight: 1, fillColor: '#e31a1c', fillOpacity: 0.6};}"
    )
    point = (
        "function(f, ll){return L.circleMarker(ll, {radius: 4, color: '#b10026', "
        "weight: 1, fillColor: '#e31a1c', fillOpacity: 0.8});}"
    )
    name = _esc(_layer_name("demand", lang))
    add_geojson(m, dem, props, popup, name=name, style_js=style, point_js=point)
    legend.extra.append(("#e31a1c", name))


def _add_gaps(m: folium.Map, gaps: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Add the coverage gaps, orange with a dashed outline, with their reasons."""
    fields = ["gap_id", "community_names", "community_codes", "households", "population"]
    fields += ["nearest_name", "nearest_id", "miss_m", *_reason_fields(gaps, lang)]
    props, popup = _props(gaps, fields, lang)
    where = props["community_names"] if "community_names" in props else None
    hh = props["households"] if "households" in props else None
    props["_t"] = [
        _tip(
            _layer_name("gaps", lang),
            None if hh is None else hh.iloc[i],
            None if where is None else where.iloc[i],
        )
        for i in range(len(props))
    ]
    style = (
        "function(f){return {color: '#d94801', weight: 2, dashArray: '4 3', "
        "fillColor: '#fd8d3c', fillOpacity: 0.35};}"
    )
    name = _esc(_layer_name("gaps", lang))
    add_geojson(m, gaps, props, popup, name=name, style_js=style)
    legend.extra.append(("#fd8d3c", name))


def _add_edges(m: folium.Map, edges: gpd.GeoDataFrame, lang: str, *, show: bool) -> None:
    """Add the walking network, grey (off by default where boundaries give the setting)."""
    props, popup = _props(edges, ["highway", "name", "length_m"], lang)
    style = "function(f){return {color: '#636363', weight: 1, opacity: 0.7};}"
    name = _esc(_layer_name("network_edges", lang))
    add_geojson(m, edges, props, popup, name=name, style_js=style, show=show)


def _add_sites(
    m: folium.Map, sites: gpd.GeoDataFrame, lang: str, legend: _Legend, primary: str
) -> None:
    """Add the proposed sites: yellow diamonds numbered by rank, drawn above everything.

    The popup explains its figures: the site's own reason (from the siting run) or, without
    one, what households gained and households served each count.
    """
    sites = sites.copy()
    sites = sites.set_geometry(sites.geometry.representative_point())
    if "name" in sites and "candidate_id" not in sites:
        sites["candidate_id"] = None
    fields = ["rank", "name", "candidate_id", "gain_households", "only_households"]
    fields += ["served_households", "reach_households", "cum_gain_households", "low_gain"]
    fields += _reason_fields(sites, lang)
    props, popup = _props(sites, fields, lang)
    if reason_column(lang) not in sites and "gain_households" in sites:
        props["_n"] = _SITE_NOTE[lang].format(t=target_label(primary, lang))
        popup.append(["_n", _NOTE_LABEL[lang], ""])
    rank = pd.to_numeric(sites["rank"], errors="coerce") if "rank" in sites else None
    props["_r"] = [
        "" if rank is None or is_missing(r) else str(int(r))
        for r in (rank if rank is not None else range(len(sites)))
    ]
    gain = props["gain_households"] if "gain_households" in props else None
    props["_t"] = [
        _tip(
            f"{_layer_name('sites', lang)} {r}",
            None if gain is None or is_missing(gain.iloc[i]) else f"{_GAIN[lang]} {gain.iloc[i]}",
        )
        for i, r in enumerate(props["_r"])
    ]
    point = (
        "function(f, ll){return L.marker(ll, {zIndexOffset: 1000, icon: L.divIcon("
        "{className: '', iconSize: [26, 26], iconAnchor: [13, 13], html: "
        "'<div class=\"gg-site\"><span>' + f.properties._r + '</span></div>'})});}"
    )
    name = _esc(_layer_name("sites", lang))
    add_geojson(m, sites, props, popup, name=name, point_js=point, sticky=False)
    legend.sites = True


def _minimap_outline(data: Mapping[str, gpd.GeoDataFrame], precision: int) -> dict[str, Any]:
    """Return coarse GeoJSON of the outermost boundary layer, the minimap's background without tiles."""
    src = next((data[k] for k in ("district", "streets", "communities") if k in data), None)
    if src is None:
        return {"type": "FeatureCollection", "features": []}
    coarse = gpd.GeoSeries(src.geometry.values, crs="EPSG:4326").simplify(
        10.0 ** -min(precision, 4)
    )
    return json.loads(gpd.GeoDataFrame(geometry=coarse).to_json(drop_id=True))


def _add_controls(
    m: folium.Map,
    searches: list[tuple[folium.GeoJson, str, str]],
    tile_spec: list[tuple[str, dict[str, Any]]],
    outline: dict[str, Any],
    lang: str,
) -> folium.LayerControl:
    """Add search, full screen, measure, minimap and the layer control; return the latter."""
    for layer, key, placeholder in searches:
        SearchControl(layer, key=key, placeholder=placeholder, lang=lang).add_to(m)
    Fullscreen(
        position="topleft",
        title=TEXT[lang]["fullscreen"],
        title_cancel=TEXT[lang]["exit_fullscreen"],
    ).add_to(m)
    MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
        localization="cn" if lang == "zh" else "en",
    ).add_to(m)
    MiniMapControl(
        tiles=tile_spec[0][0] if tile_spec else None,
        tile_options={k: v for k, v in tile_spec[0][1].items() if k != "attribution"}
        if tile_spec
        else {},
        outline=outline,
    ).add_to(m)
    # expanded on wide screens; collapsed behind its button below 1100 x 700 pixels
    # folium renders a JsCode option as code; its stub says bool
    small = JsCode("ggSmall()")
    control = folium.LayerControl(collapsed=small, position="topright")  # type: ignore[arg-type]
    control.add_to(m)
    return control


def _add_layers(
    m: folium.Map,
    data: Mapping[str, gpd.GeoDataFrame],
    lang: str,
    *,
    grid_by: str,
    links: str | None,
    primary: str,
) -> tuple[_Legend, list[tuple[folium.GeoJson, str, str]]]:
    """Add every prepared layer, bottom to top; return the legend and the searches."""
    legend = _Legend()
    searches: list[tuple[folium.GeoJson, str, str]] = []
    if "grids" in data:
        searches += _add_grids(m, data["grids"], lang, grid_by, legend=legend, primary=primary)
    if "communities" in data:
        searches += _add_communities(
            m,
            data["communities"],
            lang,
            legend,
            has_grids="grids" in data,
            links=links,
            primary=primary,
        )
    _add_outlines(m, data, lang)
    if "service_areas" in data:
        legend.bands = _service_area_layers(m, data["service_areas"], lang, primary)
    if "demand" in data:
        _add_demand(m, data["demand"], lang, legend, _community_names(data))
    if "gaps" in data:
        _add_gaps(m, data["gaps"], lang, legend)
    if "service_areas_after" in data:
        legend.bands += _after_layers(m, data["service_areas_after"], lang, primary)
    if "network_edges" in data:
        shown = not ({"district", "streets", "grids"} & set(data))  # the only street context
        _add_edges(m, data["network_edges"], lang, show=shown)
    if "facilities" in data:
        legend.facilities = _facility_layers(m, data["facilities"], lang)
    if "sites" in data:
        _add_sites(m, data["sites"], lang, legend, primary)
    return legend, searches


def _community_names(data: Mapping[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Community code -> name, from the communities layer (empty without one)."""
    comm = data.get("communities")
    if comm is None or not {"community_code", "name"} <= set(comm.columns):
        return {}
    pairs = comm[["community_code", "name"]].dropna()
    return dict(zip(pairs["community_code"].astype(str), pairs["name"].astype(str), strict=True))


def _primary(layers: Mapping[str, gpd.GeoDataFrame], target: str | None) -> str:
    """Return the target the map leads with.

    That is ``target``, else the settings' primary target when the layers have it, else the
    first target in the layers' columns.
    """
    columns = [c for g in layers.values() if g is not None for c in g.columns]
    if target is not None:
        return target_key(target)
    return primary_target(columns) or DEFAULTS.primary_target


def _finish(
    m: folium.Map,
    control: folium.LayerControl,
    legend: _Legend,
    bounds: list[list[float]] | None,
    lang: str,
) -> None:
    """Add the legend and the layout script: small screens, fitting the view between controls.

    The view is fitted in the page (not by folium) once the controls are laid out, so that the
    layers are drawn in the part of the map no control, legend or title covers.
    """
    RawHtml(body_html=_legend_html(lang, legend)).add_to(m)
    store = data_of(m).payload
    store["bounds"] = bounds
    store["tile_notice"] = _TILE_NOTICE[lang]
    if bounds is not None:  # a first view for the scripts that run before the layout
        m.location = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    RawHtml(script_js=f"ggLayout({m.get_name()}, {control.get_name()});\n").add_to(m)


# --------------------------------------------------------------------------- public API


@deterministic_ids
def build_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    tiles: str = "osm",
    tianditu_key: str | None = None,
    lang: str = "zh",
    title: str | None = None,
    include_personal: bool = False,
    simplify_m: float = 5.0,
    precision: int = 6,
    grid_by: str = "households",
    attribution: str | None = None,
    prefer_canvas: bool | None = None,
    links: str | None = None,
    target: str | None = None,
) -> folium.Map:
    """Build an interactive map of the analysis layers.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        Any of (all optional, any CRS):

        - ``district``, ``streets`` (``street_code``, ``street_name``): outlines;
        - ``communities`` (``community_code``, ``name``, ``households``, ``coverage_<t>``,
          ``uncovered_hh_<t>``, reasons): outlines with popups, or a coverage
          choropleth when there are no grids; searchable by ``name``;
        - ``grids`` (``grid_code``, ``community_name``, ``households``, ``coverage_<t>``):
          choropleth by ``grid_by``; searchable by ``grid_code``;
        - ``facilities`` (points: ``facility_id``, ``name``, ``type``, ``area_m2``,
          ``served_households``, ``hh_per_m2``, ``overloaded``): one layer per type with its
          own icon (types from ``settings.FACILITY_TYPE_NAMES_ZH``; overloaded ones ringed);
        - ``service_areas`` (polygons: ``facility_id`` or ``"all"``, ``target`` such as
          ``"5min"``): one band layer per target;
        - ``demand`` (buildings/compounds with ``households`` and ``within_<t>``): only the
          uncovered ones are drawn; a household-level layer is aggregated to buildings;
        - ``gaps`` (``gap_id``, ``households``, ``nearest_id``, ``miss_m``);
        - ``sites`` (points: ``rank``, ``gain_households``, ``served_households``);
        - ``network_edges`` (lines; off by default).
    tiles : {"osm", "amap", "tianditu", "none"}
        Basemap. ``"amap"`` shifts every overlay to GCJ-02 so it lines up with Amap tiles.
    tianditu_key : str, optional
        Tianditu key (or ``$TIANDITU_KEY``); required for ``tiles="tianditu"``.
    lang : {"zh", "en"}
        Language of the layer names, legend, popups and (Amap, Tianditu) tile labels.
    title : str, optional
        Title shown at the top of the map (as plain text).
    include_personal : bool
        Keep personal columns and household-level points (off by default).
    simplify_m : float
        Simplification tolerance of polygons and lines in metres (0 turns it off).
    precision : int
        Decimals of a degree kept in coordinates (6 is about 0.1 m).
    grid_by : {"households", "coverage"}
        What colours the grids (coverage uses ``coverage_<t>`` of the primary target).
    attribution : str, optional
        Data attribution added to the map corner (as plain text), e.g.
        ``"© OpenStreetMap contributors (ODbL)"``.
    prefer_canvas : bool, optional
        Draw vectors on a canvas rather than SVG; default: when there are more than 5,000
        features.
    links : str, optional
        Column of the ``communities`` layer holding a relative link to another page of the
        same folder (e.g. ``"a1/maps/area_offline.html"``), shown in its popup (what the
        ``geogrid batch`` overview map uses); other values (schemes, ``..``) are dropped.
    target : str, optional
        The target the map leads with (``"20min"``): which uncovered units are drawn, what
        colours coverage and the order of the popups' coverage rows. Default: the settings'
        primary target when the layers have its columns, else the first target they have.

    Returns
    -------
    folium.Map

    """
    _check_options(
        layers, tiles=tiles, lang=lang, grid_by=grid_by, simplify_m=simplify_m, precision=precision
    )
    primary = _primary(layers, target)
    data = _prepare_layers(
        layers,
        primary=primary,
        target="gcj02" if tiles == "amap" else "EPSG:4326",
        simplify_m=simplify_m,
        precision=precision,
        include_personal=include_personal,
    )
    n_features = sum(len(g) for g in data.values())
    tile_spec = _tile_spec(tiles, tianditu_key, lang)
    m = _base_map(
        tile_spec,
        tiles=tiles,
        prefer_canvas=n_features > 5000 if prefer_canvas is None else prefer_canvas,
        title=title,
        attribution=attribution,
    )
    legend, searches = _add_layers(m, data, lang, grid_by=grid_by, links=links, primary=primary)
    control = _add_controls(m, searches, tile_spec, _minimap_outline(data, precision), lang)
    core = [g for k, g in data.items() if k not in {"service_areas", "network_edges"}]
    _finish(m, control, legend, _bounds(core or list(data.values())), lang)
    logger.info("map: %d layers, %d features, tiles=%s", len(data), n_features, tiles)
    return m


def map_from_results(
    results_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tiles: str = "osm",
    offline: bool = True,
    tianditu_key: str | None = None,
    lang: str = "zh",
    title: str | None = None,
    include_personal: bool = False,
) -> Path:
    """Map a results folder into one HTML file (``geogrid map --results DIR --out FILE``).

    Parameters
    ----------
    results_dir : path-like
        Folder written by ``demo``, ``coverage``, ``grids`` or ``site`` (see
        :func:`geogrid.outputs.results.read_results`).
    out : path-like
        The ``.html`` file to write.
    tiles : {"osm", "amap", "tianditu", "none"}
        Basemap (see :func:`build_map`); ``"none"`` makes a page that asks the network for
        nothing at all.
    offline : bool
        One self-contained page (the default); ``False`` loads the scripts from CDNs.
    tianditu_key, lang, title, include_personal
        As for :func:`build_map`.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> map_from_results("demo_out", "demo_out/maps/map.html")  # doctest: +SKIP

    """
    layers = read_results(results_dir)
    layers |= read_context(results_dir, layers)  # a site-only folder: its setting too
    m = build_map(
        layers,
        tiles=tiles,
        tianditu_key=tianditu_key,
        lang=lang,
        title=title,
        include_personal=include_personal,
    )
    return save_map(m, out, offline=offline)
