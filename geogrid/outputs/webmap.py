"""Interactive Folium maps of governance grids, facilities, coverage and proposed sites.

:func:`build_map` turns the layers of an analysis into one Leaflet map: district, street and
community boundaries, grids coloured by households or coverage, facilities by type with popups,
service areas per target, uncovered buildings or compounds, coverage gaps and proposed sites,
with a legend, layer control, full-screen button, measure tool, minimap and search by community
name or grid code. :func:`save_map` writes it atomically, optionally as one self-contained
offline HTML file for government intranets (Leaflet and the plugins are inlined from
``geogrid/outputs/_static``; no CDN is contacted).

Basemaps: ``"osm"`` (OpenStreetMap, default), ``"amap"`` (Amap/Gaode, which is GCJ-02: every
overlay is shifted to GCJ-02 so that it lines up), ``"tianditu"`` (needs the user's key) and
``"none"`` (blank background; what offline maps use, since tiles need the network).

Safety: text from user files (names, codes, column names, the title) is data, never code. It
is written once into the page as a JSON blob (``<script type="application/json">``, with
``<``, ``>``, ``&``, U+2028/9 escaped) and shown by the page's scripts with ``textContent``;
it never becomes Jinja2 template source (folium/branca render every macro's output as a
template a second time, so user text inside a folium element would be evaluated), HTML or
script. Layer names, style functions and the legend are constant text of this module.
Household-level personal fields (names, phones, ID numbers, ...) are left out unless
``include_personal=True`` (see :mod:`geogrid._privacy`).

Size: polygons and lines are simplified in metres (``simplify_m``, default 5 m, topology kept)
and coordinates rounded to ``precision`` decimals of a degree (6 = about 0.1 m), so a city of
3,000 grids and 500 facilities stays well under 15 MB.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import itertools
import json
import logging
import mimetypes
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import Fullscreen, MeasureControl
from folium.template import Template
from folium.utilities import JsCode

from geogrid.crs import from_wgs84, to_metric
from geogrid.errors import CRSError, InputError
from geogrid.io.runfolder import TEMP_PREFIX, check_results_folder
from geogrid.outputs.privacy import drop_personal, personal_columns, protect, scan_personal
from geogrid.schema import LAYER_LABELS, TEXT, check_lang, header, type_label
from geogrid.settings import FACILITY_TYPES

logger = logging.getLogger(__name__)

__all__ = [
    "LAYER_KEYS",
    "TILES",
    "build_map",
    "map_from_results",
    "read_results",
    "save_map",
]

#: Layer keys :func:`build_map` understands, bottom to top.
LAYER_KEYS: tuple[str, ...] = (
    "district",
    "streets",
    "communities",
    "grids",
    "service_areas",
    "demand",
    "gaps",
    "network_edges",
    "facilities",
    "sites",
)

#: Basemap choices.
TILES: tuple[str, ...] = ("osm", "amap", "tianditu", "none")

_STATIC = Path(__file__).resolve().parent / "_static"

_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
_MINIMAP_JS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js"
_MINIMAP_CSS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css"
_SEARCH_JS = "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js"
_SEARCH_CSS = "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css"

#: CDN address -> vendored file in ``geogrid/outputs/_static`` (same package version).
VENDORED: Mapping[str, str] = {
    _LEAFLET_JS: "leaflet/leaflet.js",
    _LEAFLET_CSS: "leaflet/leaflet.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "leaflet.fullscreen/Control.FullScreen.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "leaflet.fullscreen/Control.FullScreen.css"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": (
        "leaflet-measure/leaflet-measure.min.js"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": (
        "leaflet-measure/leaflet-measure.css"
    ),
    _MINIMAP_JS: "leaflet-minimap/Control.MiniMap.min.js",
    _MINIMAP_CSS: "leaflet-minimap/Control.MiniMap.min.css",
    _SEARCH_JS: "leaflet-search/dist/leaflet-search.min.js",
    _SEARCH_CSS: "leaflet-search/dist/leaflet-search.min.css",
}

_OSM_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

# facility type -> (colour, one-character glyph zh, glyph en)
_TYPE_STYLE: Mapping[str, tuple[str, str, str]] = {
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

_CSS = """
<style>
.leaflet-container, .gg-legend, .gg-title { font-family: "Noto Sans CJK SC",
  "Microsoft YaHei", "PingFang SC", "WenQuanYi Zen Hei", sans-serif; }
.gg-blank.leaflet-container { background: #f2f1ec; }
.gg-title { position: absolute; top: 10px; left: 50%; transform: translateX(-50%);
  z-index: 1000; background: rgba(255,255,255,.92); padding: 4px 14px; border-radius: 4px;
  font-size: 16px; font-weight: bold; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.gg-legend { position: absolute; left: 10px; bottom: 40px; z-index: 1000;
  background: rgba(255,255,255,.92); padding: 6px 10px; border-radius: 4px; font-size: 12px;
  line-height: 18px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 60%; overflow-y: auto; }
.gg-legend b { display: block; margin-top: 4px; }
.gg-legend i { display: inline-block; width: 14px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #777; }
.gg-legend .gg-fac { position: static; display: inline-block; margin-right: 6px;
  vertical-align: middle; }
.gg-fac { width: 20px; height: 20px; line-height: 20px; border-radius: 50%; color: #fff;
  text-align: center; font-size: 12px; font-weight: bold; border: 2px solid #fff;
  box-shadow: 0 0 3px rgba(0,0,0,.6); box-sizing: content-box; }
.gg-fac.gg-over { border-color: #ff0; box-shadow: 0 0 0 2px #d00; }
.gg-site { width: 22px; height: 22px; line-height: 22px; color: #000; background: #ffd700;
  text-align: center; font-size: 12px; font-weight: bold; border: 2px solid #000;
  transform: rotate(45deg); }
.gg-site span { display: inline-block; transform: rotate(-45deg); }
table.gg-pop th { text-align: left; padding-right: 8px; white-space: nowrap; color: #444; }
table.gg-pop td { white-space: nowrap; }
</style>
"""

_JS_HELPERS = """
var ggStore = null;
function ggData() {
  if (ggStore === null) {
    var el = document.getElementById('gg-data');
    ggStore = el ? JSON.parse(el.textContent) : {layers: {}};
  }
  return ggStore;
}
function ggEl(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) { e.className = cls; }
  if (text !== undefined && text !== null) { e.textContent = String(text); }
  return e;
}
function ggEsc(text) { return ggEl('div', '', text).innerHTML; }
function ggTip(text) { return ggEl('li', '', text); }
function ggPopup(p, F) {
  var t = ggEl('table', 'gg-pop');
  for (var i = 0; i < F.length; i++) {
    var v = p[F[i][0]];
    if (v === null || v === undefined || v === '') { continue; }
    var tr = ggEl('tr');
    tr.appendChild(ggEl('th', '', F[i][1]));
    tr.appendChild(ggEl('td', '', v));
    t.appendChild(tr);
  }
  if (typeof p._l === 'string' && new RegExp('^[A-Za-z0-9_][A-Za-z0-9_./-]*[.]html$').test(p._l) &&
      p._l.indexOf('..') < 0) {
    var a = ggEl('a', '', ggData().link_text || p._l);
    a.href = p._l;
    var lr = ggEl('tr'), lc = ggEl('td');
    lc.colSpan = 2;
    lc.appendChild(a);
    lr.appendChild(lc);
    t.appendChild(lr);
  }
  return t;
}
function ggBind(key, sticky) {
  var d = ggData().layers[key] || {cols: [], rows: [], fields: []};
  return function (f, l) {
    var row = d.rows[f.properties._i] || [];
    var p = Object.create(null);
    for (var j = 0; j < d.cols.length; j++) {
      p[d.cols[j]] = row[j];
      if (d.cols[j] !== '__proto__' && d.cols[j].charAt(0) !== '_') {
        f.properties[d.cols[j]] = row[j];
      }
    }
    if (p._t !== undefined && p._t !== null) {
      l.bindTooltip(ggEl('span', '', p._t), {sticky: sticky});
    }
    if (d.fields.length) {
      l.bindPopup(function () { return ggPopup(p, d.fields); }, {maxWidth: 360});
    }
  };
}
function ggDecorate(map) {
  var d = ggData();
  if (d.title) { document.body.appendChild(ggEl('div', 'gg-title', d.title)); }
  if (d.attribution) { map.attributionControl.addAttribution(ggEsc(d.attribution)); }
}
"""


# --------------------------------------------------------------------------- elements


class _Literal(Element):
    """Text placed into the page as it is: never compiled as a Jinja2 template.

    branca's ``MacroElement.render`` wraps each rendered macro in ``Element(text)``, which
    compiles ``text`` as a template a second time; anything that holds user text must
    therefore reach the page through this element (or through :class:`_Data`) instead.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "GeogridLiteral"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class _Raw(MacroElement):
    """A fixed piece of header HTML, script or body HTML (constant text from this module)."""

    def __init__(self, *, header_html: str = "", body_html: str = "", script_js: str = ""):
        super().__init__()
        self._name = "GeogridRaw"
        self.header_html = header_html
        self.body_html = body_html
        self.script_js = script_js

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        figure: Any = self.get_root()  # a branca Figure
        if self.header_html:
            figure.header.add_child(_Literal(self.header_html), name=self.get_name() + "_h")
        if self.body_html:
            figure.html.add_child(_Literal(self.body_html), name=self.get_name() + "_b")
        if self.script_js:
            figure.script.add_child(_Literal(self.script_js), name=self.get_name() + "_s")


def _script_json(value: Any) -> str:
    """Return JSON text that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` (so ``</script>`` and ``<!--``), U+2028 and U+2029 are written as
    backslash-u escapes, which JSON and JavaScript decode back to the same characters; lone
    surrogates (not encodable as UTF-8) become U+FFFD.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


class _Data(MacroElement):
    """The one place user text enters a map: a JSON blob the page's scripts read as data.

    Holds the title, the attribution and, per GeoJSON layer, the popup fields and the rows of
    formatted values. Rendered as ``<script type="application/json" id="gg-data">`` through
    :class:`_Literal`, so none of it is ever template source; the scripts build popups,
    tooltips and search tips from it with ``textContent``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._name = "GeogridData"
        self.payload: dict[str, Any] = {"title": None, "attribution": None, "layers": {}}

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        html_text = (
            '<script type="application/json" id="gg-data">'
            + _script_json(self.payload)
            + "</script>"
        )
        figure: Any = self.get_root()  # a branca Figure
        figure.header.add_child(_Literal(html_text), name=self.get_name())


def _data_of(m: folium.Map) -> _Data:
    for child in m._children.values():
        if isinstance(child, _Data):
            return child
    store = _Data()
    store.add_to(m)
    return store


def layer_properties(m: folium.Map) -> dict[str, list[dict[str, Any]]]:
    """Popup and tooltip values of every GeoJSON layer of a map built by :func:`build_map`.

    Returns
    -------
    dict of str to list of dict
        Layer name (as in the layer control) -> one dict of formatted values per feature, in
        the order of the layer's features.

    """
    layers = _data_of(m).payload["layers"]
    return {
        entry["name"]: [dict(zip(entry["cols"], row, strict=True)) for row in entry["rows"]]
        for entry in layers.values()
    }


class _Search(JSCSSMixin, MacroElement):
    """leaflet-search over one GeoJson layer; zooms to the feature and opens its popup."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = new L.Control.Search({
            layer: {{ this.layer.get_name() }},
            propertyName: {{ this.key|tojson }},
            marker: false,
            initial: false,
            collapsed: true,
            position: "topleft",
            textPlaceholder: {{ this.placeholder|tojson }},
            textErr: {{ this.text_err|tojson }},
            textCancel: {{ this.text_cancel|tojson }},
            buildTip: ggTip,
            moveToLocation: function (latlng, title, map) {
                if (latlng.layer && latlng.layer.getBounds) {
                    map.fitBounds(latlng.layer.getBounds(), {maxZoom: 17});
                } else { map.setView(latlng, 17); }
            }
        });
        {{ this.get_name() }}.on("search:locationfound", function (e) {
            if (e.layer && e.layer.openPopup) { e.layer.openPopup(); }
        });
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.GeoJson, *, key: str, placeholder: str, lang: str):
        super().__init__()
        self._name = "GeogridSearch"
        self.layer = layer
        self.key = key
        self.placeholder = placeholder
        self.text_err = TEXT[lang]["not_found"]
        self.text_cancel = TEXT[lang]["cancel"]
        self.default_js = [("Leaflet.Search.js", _SEARCH_JS)]
        self.default_css = [("Leaflet.Search.css", _SEARCH_CSS)]


class _MiniMap(JSCSSMixin, MacroElement):
    """Leaflet-MiniMap over a tile layer, or over the boundary outlines when there are no tiles."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {% if this.tiles %}
        var {{ this.get_name() }}_layer = L.tileLayer({{ this.tiles|tojson }},
            {{ this.tile_options|tojson }});
        {% else %}
        var {{ this.get_name() }}_layer = L.geoJSON({{ this.outline|tojson }},
            {style: {color: "#444", weight: 1, fill: false}, interactive: false});
        {% endif %}
        var {{ this.get_name() }} = new L.Control.MiniMap({{ this.get_name() }}_layer,
            {position: "bottomright", width: 150, height: 150, zoomLevelOffset: -4,
             toggleDisplay: true});
        {{ this._parent.get_name() }}.addControl({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, *, tiles: str | None, tile_options: dict[str, Any], outline: dict[str, Any]):
        super().__init__()
        self._name = "GeogridMiniMap"
        self.tiles = tiles
        self.tile_options = tile_options
        self.outline = outline
        self.default_js = [("Control_MiniMap_js", _MINIMAP_JS)]
        self.default_css = [("Control_MiniMap_css", _MINIMAP_CSS)]


# --------------------------------------------------------------------------- helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt_column(series: pd.Series, col: str, lang: str) -> list[Any]:
    """Format a column for popups: text as is, shares as %, counts with separators."""
    t = TEXT[lang]
    out: list[Any] = []
    share = col.startswith("coverage_")
    is_bool = pd.api.types.is_bool_dtype(series) or col.startswith("within_") or col == "overloaded"
    for v in series.tolist():
        if _is_missing(v):
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


#: Feature properties kept in the GeoJSON itself (read by the style and marker functions);
#: each is computed by this module (palette colour, 0/1 flag, rank digits), never user text.
_STYLE_KEYS = ("_f", "_o", "_r")
_STYLE_OK = {
    "_f": re.compile(r"#[0-9a-fA-F]{6}"),
    "_o": re.compile(r"[01]"),
    "_r": re.compile(r"[0-9]*"),
}


def _geojson(style: pd.DataFrame, geoms: gpd.GeoSeries) -> dict[str, Any]:
    """GeoJSON of the geometries with only ``_i`` (row number) and the style keys."""
    for col in style.columns:
        bad = [v for v in style[col].astype(str) if not _STYLE_OK[col].fullmatch(v)]
        if bad:
            msg = f"internal style value {bad[0]!r} in {col}; this is a bug in geogrid.maps"
            raise ValueError(msg)
    frame = style.reset_index(drop=True)
    frame.insert(0, "_i", np.arange(len(frame)))
    gdf = gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326")
    return json.loads(gdf.to_json(drop_id=True, na="null"))


def _add_geojson(
    parent: folium.Map,
    gdf: gpd.GeoDataFrame,
    props: pd.DataFrame,
    popup: list[list[str]],
    *,
    name: str,
    style_js: str | None = None,
    point_js: str | None = None,
    show: bool = True,
    sticky: bool = True,
    interactive: bool = True,
) -> folium.GeoJson:
    """Add one GeoJSON layer: geometry and style keys to folium, every text to :class:`_Data`.

    ``name``, ``style_js`` and ``point_js`` must be constant text of this module (they become
    template source inside folium); ``props`` and ``popup`` may hold any user text.
    """
    options: dict[str, Any] = {}
    if style_js:
        options["style"] = JsCode(style_js)
    if point_js:
        options["point_to_layer"] = JsCode(point_js)
    if not interactive:
        options["interactive"] = False
    style_cols = [c for c in props.columns if c in _STYLE_KEYS]
    store = _data_of(parent).payload["layers"]
    key = f"L{len(store)}"
    text = props.drop(columns=style_cols)
    store[key] = {
        "name": name,
        "fields": popup if interactive else [],
        "cols": [str(c) for c in text.columns],
        "rows": [
            [None if _is_missing(v) else str(v) for v in row]
            for row in text.itertuples(index=False, name=None)
        ],
    }
    layer = folium.GeoJson(
        _geojson(props[style_cols], gdf.geometry),
        name=name,
        show=show,
        on_each_feature=JsCode(f"ggBind({json.dumps(key)}, {json.dumps(sticky)})")
        if interactive
        else None,
        **options,
    )
    layer.add_to(parent)
    return layer


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
        props["_t"] = [str(v) if not _is_missing(v) else None for v in gdf[label_col]]
    dash_js = f", dashArray: {json.dumps(dash)}" if dash else ""
    style = f"function(f){{return {{color: '{colour}', weight: {weight}, fill: false{dash_js}}};}}"
    return _add_geojson(m, gdf, props, popup, name=_esc(_layer_name(key, lang)), style_js=style)


_LINK_TEXT = {"zh": "打开该地区地图", "en": "Open this area's map"}
_RELATIVE_LINK_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.html")


def _relative_link(value: Any) -> str | None:
    """Return a relative ``.html`` link inside the map's folder, or None (no scheme, no ``..``)."""
    text = "" if _is_missing(value) else str(value)
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
        props["_t"] = [str(v) if not _is_missing(v) else None for v in gdf[tip_col]]
    style = (
        "function(f){return {color: '#555', weight: 1, fillColor: f.properties._f, "
        "fillOpacity: 0.55};}"
    )
    layer = _add_geojson(m, gdf, props, popup, name=_esc(_layer_name(key, lang)), style_js=style)
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
        props["_t"] = [None if _is_missing(v) else str(v) for v in tips]
        props["_o"] = over[sel].astype(int).tolist() if over is not None else 0
        colour, glyph_zh, glyph_en = _TYPE_STYLE[ftype]
        glyph = glyph_zh if lang == "zh" else glyph_en
        point = (
            "function(f, ll){return L.marker(ll, {icon: L.divIcon({className: '', "
            f"iconSize: [24, 24], iconAnchor: [12, 12], html: '<div class=\"gg-fac' + "
            f"(f.properties._o ? ' gg-over' : '') + '\" style=\"background:{colour}\">"
            f"{glyph}</div>'}})}});}}"
        )
        label = type_label(ftype, lang)
        _add_geojson(
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
        _add_geojson(
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


def _legend_html(
    lang: str,
    choropleth: tuple[str, list[str], tuple[str, ...]] | None,
    facilities: list[tuple[str, str, str]],
    bands: list[tuple[str, str]],
    extra: list[tuple[str, str]],
    sites: bool,
) -> str:
    parts = [f'<div class="gg-legend"><b>{_esc(TEXT[lang]["legend"])}</b>']
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
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- element ids

_IDS = threading.local()
_BRANCA_ID = Element._generate_id  # bound classmethod: branca's random hex id


def _counter_or_random_id(cls: type) -> str:
    counter = getattr(_IDS, "counter", None)
    return _BRANCA_ID() if counter is None else f"{next(counter):04d}"


@contextlib.contextmanager
def _counter_ids(start: int = 0) -> Iterator[None]:
    """Give the branca elements created in this thread numbered ids while the block runs.

    branca gives every element a random id, used in its HTML id and JS variable name; numbered
    ids make the same map render to the same bytes. Ids are fixed when an element is created
    and never change, so every name a script already holds stays right. Elsewhere (other
    threads, outside the block) branca's random ids are unchanged.
    """
    if Element._generate_id.__func__ is not _counter_or_random_id:  # type: ignore[attr-defined]
        Element._generate_id = classmethod(_counter_or_random_id)  # type: ignore[method-assign,assignment]
    old = getattr(_IDS, "counter", None)
    _IDS.counter = itertools.count(start)
    try:
        yield
    finally:
        _IDS.counter = old


def _deterministic_ids(func: Callable[..., folium.Map]) -> Callable[..., folium.Map]:
    """Build a map with numbered element ids (see :func:`_counter_ids`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> folium.Map:
        with _counter_ids():
            return func(*args, **kwargs)

    return wrapper


def _next_id(root: Any) -> int:
    """Return one more than the highest numbered id in an element tree (0 if none)."""
    top, queue = -1, [root]
    while queue:
        element = queue.pop()
        ident = str(getattr(element, "_id", ""))
        if ident.isdigit():
            top = max(top, int(ident))
        queue.extend(getattr(element, "_children", {}).values())
    return top + 1


# --------------------------------------------------------------------------- public API


@_deterministic_ids
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
    target = "gcj02" if tiles == "amap" else "EPSG:4326"
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
    n_features = sum(len(g) for g in data.values())
    if prefer_canvas is None:
        prefer_canvas = n_features > 5000

    tile_spec = _tile_spec(tiles, tianditu_key, lang)
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=prefer_canvas, zoom_start=13)
    # only Leaflet itself: no jQuery, Bootstrap, Font Awesome or awesome-markers are used
    m.default_js = [("leaflet", _LEAFLET_JS)]
    m.default_css = [("leaflet_css", _LEAFLET_CSS)]
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
    store = _data_of(m)
    store.payload["title"] = None if title is None else str(title)
    store.payload["attribution"] = None if attribution is None else str(attribution)
    # constant source only below: user text reaches the page through `store` alone
    js = f"L.control.scale({{imperial: false}}).addTo({m.get_name()});\n"
    js += f"ggDecorate({m.get_name()});\n"
    if not tile_spec:
        js += f"document.getElementById({json.dumps(m.get_name())}).classList.add('gg-blank');\n"
    _Raw(header_html=_CSS + "<script>" + _JS_HELPERS + "</script>", script_js=js).add_to(m)

    choropleth = None
    bands: list[tuple[str, str]] = []
    facility_legend: list[tuple[str, str, str]] = []
    extra: list[tuple[str, str]] = []
    searches: list[tuple[folium.GeoJson, str, str]] = []
    if "grids" in data:
        grids = data["grids"]
        by = "coverage" if grid_by == "coverage" and "coverage_15min" in grids else "households"
        layer, choropleth = _choropleth(
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
        if "grid_code" in grids:
            searches.append((layer, "grid_code", TEXT[lang]["search_grid"]))
    if "communities" in data:
        comm = data["communities"]
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
        if "grids" in data or "coverage_15min" not in comm:
            layer = _outline_layer(
                m, comm, "communities", lang, fields=fields, colour="#1f4e79", weight=2.0, dash=None
            )
        else:
            layer, choropleth = _choropleth(
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
                store.payload["link_text"] = _LINK_TEXT[lang]
        if "name" in comm:
            searches.append((layer, "name", TEXT[lang]["search_community"]))
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
    if "service_areas" in data:
        bands = _service_area_layers(m, data["service_areas"], lang)
    if "demand" in data:
        dem = data["demand"]
        props, popup = _props(
            dem,
            [
                "building_id",
                "compound_id",
                "compound_name",
                "name",
                "community_name",
                "households",
                "dist_m",
                "nearest_id",
            ],
            lang,
        )
        if "households" in dem:
            props["_t"] = [f"{TEXT[lang]['uncovered']}: {v}" for v in props["households"]]
        style = (
            "function(f){return {color: '#b10026', weight: 1, fillColor: '#e31a1c', "
            "fillOpacity: 0.6};}"
        )
        point = (
            "function(f, ll){return L.circleMarker(ll, {radius: 4, color: '#b10026', "
            "weight: 1, fillColor: '#e31a1c', fillOpacity: 0.8});}"
        )
        _add_geojson(
            m,
            dem,
            props,
            popup,
            name=_esc(_layer_name("demand", lang)),
            style_js=style,
            point_js=point,
        )
        extra.append(("#e31a1c", _esc(_layer_name("demand", lang))))
    if "gaps" in data:
        gaps = data["gaps"]
        props, popup = _props(gaps, ["gap_id", "households", "nearest_id", "miss_m"], lang)
        if "households" in gaps:
            props["_t"] = [f"{_layer_name('gaps', lang)}: {v}" for v in props["households"]]
        style = (
            "function(f){return {color: '#d94801', weight: 2, dashArray: '4 3', "
            "fillColor: '#fd8d3c', fillOpacity: 0.35};}"
        )
        _add_geojson(m, gaps, props, popup, name=_esc(_layer_name("gaps", lang)), style_js=style)
        extra.append(("#fd8d3c", _esc(_layer_name("gaps", lang))))
    if "network_edges" in data:
        edges = data["network_edges"]
        props, popup = _props(edges, ["highway", "name", "length_m"], lang)
        style = "function(f){return {color: '#636363', weight: 1, opacity: 0.7};}"
        _add_geojson(
            m,
            edges,
            props,
            popup,
            name=_esc(_layer_name("network_edges", lang)),
            style_js=style,
            show=False,
        )
    if "facilities" in data:
        facility_legend = _facility_layers(m, data["facilities"], lang)
    if "sites" in data:
        sites = data["sites"].copy()
        sites = sites.set_geometry(sites.geometry.representative_point())
        props, popup = _props(
            sites,
            [
                "rank",
                "candidate_id",
                "name",
                "gain_households",
                "cum_gain_households",
                "served_households",
            ],
            lang,
        )
        rank = pd.to_numeric(sites["rank"], errors="coerce") if "rank" in sites else None
        props["_r"] = [
            "" if rank is None or _is_missing(r) else str(int(r))
            for r in (rank if rank is not None else range(len(sites)))
        ]
        props["_t"] = [f"{_layer_name('sites', lang)} {r}" for r in props["_r"]]
        point = (
            "function(f, ll){return L.marker(ll, {zIndexOffset: 1000, icon: L.divIcon("
            "{className: '', iconSize: [26, 26], iconAnchor: [13, 13], html: "
            "'<div class=\"gg-site\"><span>' + f.properties._r + '</span></div>'})});}"
        )
        _add_geojson(
            m,
            sites,
            props,
            popup,
            name=_esc(_layer_name("sites", lang)),
            point_js=point,
            sticky=False,
        )

    for layer, key, placeholder in searches:
        _Search(layer, key=key, placeholder=placeholder, lang=lang).add_to(m)
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
    outline_src = next((data[k] for k in ("district", "streets", "communities") if k in data), None)
    outline: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    if outline_src is not None:
        coarse = gpd.GeoSeries(outline_src.geometry.values, crs="EPSG:4326").simplify(
            10.0 ** -min(precision, 4)
        )
        outline = json.loads(gpd.GeoDataFrame(geometry=coarse).to_json(drop_id=True))
    _MiniMap(
        tiles=tile_spec[0][0] if tile_spec else None,
        tile_options={k: v for k, v in tile_spec[0][1].items() if k != "attribution"}
        if tile_spec
        else {},
        outline=outline,
    ).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    body = _legend_html(lang, choropleth, facility_legend, bands, extra, "sites" in data)
    _Raw(body_html=body).add_to(m)
    bounds = _bounds(list(data.values()))
    if bounds is not None:
        m.fit_bounds(bounds)
    logger.info("map: %d layers, %d features, tiles=%s", len(data), n_features, tiles)
    return m


# --------------------------------------------------------------------------- saving


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css(rel: str) -> str:
    path = _STATIC / rel
    text = path.read_text(encoding="utf-8")

    def repl(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:")):
            return match.group(0)
        asset = (path.parent / ref).resolve()
        if not asset.is_file():
            return "url()"  # an optional asset not vendored (e.g. a legacy IE cursor)
        return f'url("{_data_uri(asset)}")'

    text = re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", repl, text)
    return text.replace("</style", "<\\/style")


def _inline_js(rel: str) -> str:
    text = (_STATIC / rel).read_text(encoding="utf-8")
    text = re.sub(r"//# sourceMappingURL=\S+", "", text)
    return text.replace("</script", "<\\/script")


_SCRIPT_RE = re.compile(r'<script\s+src="(https?://[^"]+)"\s*>\s*</script>')
_LINK_RE = re.compile(r'<link\s+rel="stylesheet"\s+href="(https?://[^"]+)"\s*/?>')


def _offline_html(page: str) -> str:
    missing: list[str] = []

    def script(match: re.Match[str]) -> str:
        rel = VENDORED.get(match.group(1))
        if rel is None:
            missing.append(match.group(1))
            return match.group(0)
        return f"<script>{_inline_js(rel)}</script>"

    def link(match: re.Match[str]) -> str:
        rel = VENDORED.get(match.group(1))
        if rel is None:
            missing.append(match.group(1))
            return match.group(0)
        return f"<style>{_inline_css(rel)}</style>"

    page = _SCRIPT_RE.sub(script, page)
    page = _LINK_RE.sub(link, page)
    if missing:
        msg = (
            f"no offline copy of {', '.join(missing)}; remove the plugin that needs it "
            "or pass offline=False"
        )
        raise InputError(msg)
    marker_fix = (
        "<script>L.Icon.Default.prototype.options.iconUrl = "
        f"{json.dumps(_data_uri(_STATIC / 'leaflet/images/marker-icon.png'))};"
        "L.Icon.Default.prototype.options.iconRetinaUrl = "
        f"{json.dumps(_data_uri(_STATIC / 'leaflet/images/marker-icon-2x.png'))};"
        "L.Icon.Default.prototype.options.shadowUrl = "
        f"{json.dumps(_data_uri(_STATIC / 'leaflet/images/marker-shadow.png'))};"
        "L.Icon.Default.imagePath = '';</script>"
    )
    return page.replace("</head>", marker_fix + "\n</head>", 1)


def save_map(m: folium.Map, path: str | os.PathLike[str], *, offline: bool = False) -> Path:
    """Write a map to an HTML file atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    m : folium.Map
        A map, usually from :func:`build_map`.
    path : path-like
        Output ``.html`` file; missing folders are created.
    offline : bool
        Write one self-contained file: Leaflet and every plugin script and stylesheet are
        inlined from ``geogrid/outputs/_static`` (images as ``data:`` URIs), so the page needs no
        network. Tile basemaps still need the network; build offline maps with
        ``tiles="none"`` to show the overlays on a blank background.

    Returns
    -------
    Path
        The written file.

    """
    from geogrid.io.writers import atomic_write

    target = Path(path)
    root = m.get_root()
    with _counter_ids(_next_id(root)):  # elements folium adds while rendering
        page = root.render()
    if offline:
        page = _offline_html(page)
        if re.search(r"L\.tileLayer\(\s*\"https?:", page):
            logger.warning(
                "offline map %s has a tile basemap that needs the network; "
                "build it with tiles='none' for intranets",
                target.name,
            )
    with atomic_write(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    logger.info(
        "wrote %s (%.1f MB%s)", target, target.stat().st_size / 1e6, ", offline" if offline else ""
    )
    return target


# --------------------------------------------------------------------------- results folder


def read_results(results_dir: str | os.PathLike[str]) -> dict[str, gpd.GeoDataFrame]:
    """Read the map layers of a results folder.

    Looks for GeoPackages in ``results_dir`` whose layers (or file stems) are layer keys
    (:data:`LAYER_KEYS`), and for ``<key>.geojson``, ``<key>.gpkg``, ``<key>.parquet`` or
    ``<key>.shp`` files. Temporary files of a run (``.geogrid-tmp-*``) are never read; a folder
    another geogrid run is writing is refused, and files that do not match the folder's
    ``run.json`` are named in a warning (see :func:`geogrid._runfolder.check_results_folder`).

    Returns
    -------
    dict of str to GeoDataFrame

    """
    import pyogrio

    folder = Path(results_dir)
    if not folder.is_dir():
        msg = f"results folder {str(folder)!r} does not exist; pass the folder an analysis wrote"
        raise InputError(msg)
    check_results_folder(folder)  # not while a run writes it; warn if it mixes runs
    out: dict[str, gpd.GeoDataFrame] = {}
    for gpkg in sorted(folder.glob("*.gpkg")):
        if gpkg.name.startswith(TEMP_PREFIX):
            continue  # a run's temporary file, never a result
        names = [str(n) for n in pyogrio.list_layers(gpkg)[:, 0]]
        for name in names:
            key = name if name in LAYER_KEYS else gpkg.stem if len(names) == 1 else None
            if key in LAYER_KEYS and key not in out:
                out[key] = gpd.read_file(gpkg, layer=name)
    for key in LAYER_KEYS:
        if key in out:
            continue
        for ext in (".geojson", ".parquet", ".shp"):
            path = folder / f"{key}{ext}"
            if path.exists():
                out[key] = gpd.read_parquet(path) if ext == ".parquet" else gpd.read_file(path)
                break
    if not out:
        msg = (
            f"no map layers in {str(folder)!r}; expected GeoPackage layers or files named "
            f"{', '.join(LAYER_KEYS)}"
        )
        raise InputError(msg)
    return out


def map_from_results(
    results_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tiles: str = "osm",
    offline: bool = False,
    tianditu_key: str | None = None,
    lang: str = "zh",
    title: str | None = None,
    include_personal: bool = False,
) -> Path:
    """``geogrid map --results DIR [--tiles ...] [--offline] --out FILE.html``.

    Reads the layers with :func:`read_results`, builds the map and saves it. ``offline=True``
    with the default tiles switches to ``tiles="none"`` (tiles need the network).
    """
    layers = read_results(results_dir)
    if offline and tiles == "osm":
        tiles = "none"
    m = build_map(
        layers,
        tiles=tiles,
        tianditu_key=tianditu_key,
        lang=lang,
        title=title,
        include_personal=include_personal,
    )
    return save_map(m, out, offline=offline)
