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
from geogrid.outputs.results import LAYER_KEYS, read_results
from geogrid.schema import LAYER_LABELS, TEXT, check_lang, header, type_label
from geogrid.settings import FACILITY_TYPES

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
_TYPE_STYLE = TYPE_STYLE  # the name static_map imports today

_TARGET_COLOURS = ("#006d2c", "#31a354", "#74c476", "#a1d99b", "#c7e9c0")

_HH_BREAKS = (0, 200, 300, 400, 500)
_HH_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
_COV_BREAKS = (0.0, 0.5, 0.7, 0.85, 0.95)
_COV_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")

# --------------------------------------------------------------------------- helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt_column(series: pd.Series, col: str, lang: str) -> list[Any]:
    """Format a column for popups: text as is, shares as %, counts with separators."""
    t = TEXT[lang]
    out: list[Any] = []
    share = col.startswith("coverage_")
    is_bool = pd.api.types.is_bool_dtype(series) or col.startswith("within_") or col == "overloaded"
    for v in series.tolist():
        if is_missing(v):
            out.append(None)
        elif is_bool and isinstance(v, (bool, np.bool_, int, np.integer)):
            out.append(t["yes"] if bool(v) else t["no"])
        elif share and isinstance(v, (float, int, np.floating, np.integer)):
            out.append(f"{100.0 * float(v):.1f}%")
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


def _props(
    gdf: gpd.GeoDataFrame, fields: list[str], lang: str
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Format popup properties; also return the ``[key, label]`` list for the JS builder."""
    data: dict[str, list[Any]] = {}
    popup: list[list[str]] = []
    # personal columns are only still there when the user passed include_personal=True
    personal = [*personal_columns(gdf.columns), *gdf.attrs.get("personal_columns", ())]
    for col in [*fields, *(c for c in dict.fromkeys(personal) if c not in fields)]:
        if col in gdf.columns:
            data[col] = _fmt_column(gdf[col], col, lang)
            popup.append([str(col), header(str(col), lang)])
    return pd.DataFrame(data, index=gdf.index), popup


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


def _target_sort_key(name: str) -> tuple[int, float]:
    m = re.fullmatch(r"\s*(\d{1,5}(?:\.\d{1,3})?)\s*(min|km|m)\s*", str(name), re.ASCII)
    if not m:
        return (2, 0.0)
    value = float(m.group(1))
    unit = m.group(2)
    if unit == "min":
        return (0, value)
    return (1, value * (1000.0 if unit == "km" else 1.0))


def _target_label(name: str, lang: str, index: int) -> str:
    """Label of a service-area target; only digits and fixed words, as it names a layer."""
    m = re.fullmatch(r"\s*(\d{1,5}(?:\.\d{1,3})?)\s*(min|km|m)\s*", str(name), re.ASCII)
    if m:
        unit = {"min": ("分钟", " min"), "km": ("公里", " km"), "m": ("米", " m")}[m.group(2)]
        return f"{m.group(1)}{unit[0] if lang == 'zh' else unit[1]}"
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
    props, popup = _props(gdf, fields, lang)
    if links is not None and links in gdf:
        props["_l"] = [_relative_link(v) for v in gdf[links]]
    if by == "coverage":
        colours = _classify(gdf["coverage_15min"], _COV_BREAKS, _COV_COLOURS)
        legend = (
            TEXT[lang]["coverage_class"],
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
        "facility_id",
        "name",
        "type_name",
        "area_m2",
        "capacity",
        "served_households",
        "hh_per_m2",
        "overloaded",
    ]
    gdf = gdf.copy()
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


def _service_area_layers(m: folium.Map, gdf: gpd.GeoDataFrame, lang: str) -> list[tuple[str, str]]:
    if "facility_id" in gdf and (gdf["facility_id"].astype(str) == "all").any():
        # the dissolved band per target is what officials read; per-facility areas stack
        # inside it and would only add megabytes
        gdf = gdf[(gdf["facility_id"].astype(str) == "all").to_numpy()]
    targets = gdf["target"].astype(str) if "target" in gdf else pd.Series("15min", index=gdf.index)
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
        km = name.endswith("km")
        add_geojson(
            m,
            sub,
            props,
            [],
            name=_esc(_layer_name("service_areas", lang, f" {label}")),
            style_js=style,
            show=not km,
            interactive=False,
        )
        legend.append((colour, _esc(label)))
    legend.reverse()
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
            if "within_15min" not in gdf:
                logger.warning("demand layer has no within_15min column; it is not drawn")
                continue
            gdf = gdf[~gdf["within_15min"].fillna(False).astype(bool)]
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
    m: folium.Map, grids: gpd.GeoDataFrame, lang: str, grid_by: str, legend: _Legend
) -> list[tuple[folium.GeoJson, str, str]]:
    """Add the grid choropleth; return the grid-code search it offers."""
    by = "coverage" if grid_by == "coverage" and "coverage_15min" in grids else "households"
    layer, legend.choropleth = _choropleth(
        m,
        grids,
        "grids",
        lang,
        by=by,
        tip_col="grid_code",
        fields=[
            "grid_code",
            "community_name",
            "community_code",
            "households",
            "population",
            "party_members",
            "coverage_15min",
            "coverage_1km",
        ],
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
) -> list[tuple[folium.GeoJson, str, str]]:
    """Add community outlines, or a coverage choropleth without grids; return the name search."""
    fields = [
        "community_code",
        "name",
        "street_name",
        "households",
        "n_grids",
        "coverage_15min",
        "coverage_1km",
        "uncovered_hh_15min",
    ]
    if has_grids or "coverage_15min" not in comm:
        layer = _outline_layer(
            m, comm, "communities", lang, fields=fields, colour="#1f4e79", weight=2.0, dash=None
        )
    else:
        layer, legend.choropleth = _choropleth(
            m,
            comm,
            "communities",
            lang,
            by="coverage",
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


def _add_demand(m: folium.Map, dem: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Add the uncovered buildings or compounds, red."""
    fields = [
        "building_id",
        "compound_id",
        "compound_name",
        "name",
        "community_name",
        "households",
        "dist_m",
        "nearest_id",
    ]
    props, popup = _props(dem, fields, lang)
    if "households" in dem:
        props["_t"] = [f"{TEXT[lang]['uncovered']}: {v}" for v in props["households"]]
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
    """Add the coverage gaps, orange with a dashed outline."""
    props, popup = _props(gaps, ["gap_id", "households", "nearest_id", "miss_m"], lang)
    if "households" in gaps:
        props["_t"] = [f"{_layer_name('gaps', lang)}: {v}" for v in props["households"]]
    style = (
        "function(f){return {color: '#d94801', weight: 2, dashArray: '4 3', "
        "fillColor: '#fd8d3c', fillOpacity: 0.35};}"
    )
    name = _esc(_layer_name("gaps", lang))
    add_geojson(m, gaps, props, popup, name=name, style_js=style)
    legend.extra.append(("#fd8d3c", name))


def _add_edges(m: folium.Map, edges: gpd.GeoDataFrame, lang: str) -> None:
    """Add the walking network, grey and off by default."""
    props, popup = _props(edges, ["highway", "name", "length_m"], lang)
    style = "function(f){return {color: '#636363', weight: 1, opacity: 0.7};}"
    name = _esc(_layer_name("network_edges", lang))
    add_geojson(m, edges, props, popup, name=name, style_js=style, show=False)


def _add_sites(m: folium.Map, sites: gpd.GeoDataFrame, lang: str, legend: _Legend) -> None:
    """Add the proposed sites: yellow diamonds numbered by rank, drawn above everything."""
    sites = sites.copy()
    sites = sites.set_geometry(sites.geometry.representative_point())
    fields = [
        "rank",
        "candidate_id",
        "name",
        "gain_households",
        "cum_gain_households",
        "served_households",
    ]
    props, popup = _props(sites, fields, lang)
    rank = pd.to_numeric(sites["rank"], errors="coerce") if "rank" in sites else None
    props["_r"] = [
        "" if rank is None or is_missing(r) else str(int(r))
        for r in (rank if rank is not None else range(len(sites)))
    ]
    props["_t"] = [f"{_layer_name('sites', lang)} {r}" for r in props["_r"]]
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
    control = folium.LayerControl(collapsed=JsCode("ggSmall()"), position="topright")
    control.add_to(m)
    return control


def _add_layers(
    m: folium.Map,
    data: Mapping[str, gpd.GeoDataFrame],
    lang: str,
    *,
    grid_by: str,
    links: str | None,
) -> tuple[_Legend, list[tuple[folium.GeoJson, str, str]]]:
    """Add every prepared layer, bottom to top; return the legend and the searches."""
    legend = _Legend()
    searches: list[tuple[folium.GeoJson, str, str]] = []
    if "grids" in data:
        searches += _add_grids(m, data["grids"], lang, grid_by, legend)
    if "communities" in data:
        searches += _add_communities(
            m, data["communities"], lang, legend, has_grids="grids" in data, links=links
        )
    _add_outlines(m, data, lang)
    if "service_areas" in data:
        legend.bands = _service_area_layers(m, data["service_areas"], lang)
    if "demand" in data:
        _add_demand(m, data["demand"], lang, legend)
    if "gaps" in data:
        _add_gaps(m, data["gaps"], lang, legend)
    if "network_edges" in data:
        _add_edges(m, data["network_edges"], lang)
    if "facilities" in data:
        legend.facilities = _facility_layers(m, data["facilities"], lang)
    if "sites" in data:
        _add_sites(m, data["sites"], lang, legend)
    return legend, searches


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
) -> folium.Map:
    """Build an interactive map of the analysis layers.

    Parameters
    ----------
    layers : mapping of str to GeoDataFrame
        Any of (all optional, any CRS):

        - ``district``, ``streets`` (``street_code``, ``street_name``): outlines;
        - ``communities`` (``community_code``, ``name``, ``households``, ``coverage_15min``,
          ``coverage_1km``, ``uncovered_hh_15min``): outlines with popups, or a coverage
          choropleth when there are no grids; searchable by ``name``;
        - ``grids`` (``grid_code``, ``community_name``, ``households``, ``coverage_15min``):
          choropleth by ``grid_by``; searchable by ``grid_code``;
        - ``facilities`` (points: ``facility_id``, ``name``, ``type``, ``area_m2``,
          ``served_households``, ``hh_per_m2``, ``overloaded``): one layer per type with its
          own icon (types from ``settings.FACILITY_TYPE_NAMES_ZH``; overloaded ones ringed);
        - ``service_areas`` (polygons: ``facility_id`` or ``"all"``, ``target`` such as
          ``"5min"``): one band layer per target;
        - ``demand`` (buildings/compounds with ``households`` and ``within_15min``): only the
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
        What colours the grids (coverage uses ``coverage_15min``).
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

    Returns
    -------
    folium.Map

    """
    _check_options(
        layers, tiles=tiles, lang=lang, grid_by=grid_by, simplify_m=simplify_m, precision=precision
    )
    data = _prepare_layers(
        layers,
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
    legend, searches = _add_layers(m, data, lang, grid_by=grid_by, links=links)
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
    m = build_map(
        layers,
        tiles=tiles,
        tianditu_key=tianditu_key,
        lang=lang,
        title=title,
        include_personal=include_personal,
    )
    return save_map(m, out, offline=offline)
