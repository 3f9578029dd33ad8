"""Leaflet pieces of the web maps: branca/folium elements, page CSS and scripts, the data blob.

Safety: text from user files (names, codes, column names, the title) is data, never code. It
is written once into the page as a JSON blob (``<script type="application/json">``, with
``<``, ``>``, ``&``, U+2028/9 escaped, see :func:`script_json`) held by :class:`DataStore`,
and shown by the page's scripts (:data:`PAGE_JS`) with ``textContent``; it never becomes
Jinja2 template source (folium/branca render every macro's output as a template a second time,
so user text inside a folium element would be evaluated), HTML or script. Everything else this
module puts into a page (:class:`RawHtml`, the controls' templates) is constant text.

Element ids: :func:`deterministic_ids` numbers the ids of the elements a map builder creates,
so that the same map renders to the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template
from folium.utilities import JsCode

from geogrid.schema import TEXT

__all__ = [
    "LEAFLET_CSS",
    "LEAFLET_JS",
    "MINIMAP_CSS",
    "MINIMAP_JS",
    "PAGE_CSS",
    "PAGE_JS",
    "SEARCH_CSS",
    "SEARCH_JS",
    "STYLE_KEYS",
    "DataStore",
    "Literal",
    "MiniMapControl",
    "RawHtml",
    "SearchControl",
    "add_geojson",
    "counter_ids",
    "data_of",
    "deterministic_ids",
    "is_missing",
    "layer_properties",
    "next_id",
    "script_json",
]

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"
MINIMAP_JS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.js"
MINIMAP_CSS = "https://cdnjs.cloudflare.com/ajax/libs/leaflet-minimap/3.6.1/Control.MiniMap.css"
SEARCH_JS = "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js"
SEARCH_CSS = "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css"

PAGE_CSS = """
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
table.gg-pop th { text-align: left; padding-right: 8px; white-space: nowrap; color: #444;
  vertical-align: top; }
table.gg-pop td { white-space: nowrap; }
table.gg-pop td.gg-long { white-space: normal; min-width: 200px; overflow-wrap: anywhere; }
.gg-legend-toggle { display: block; width: 100%; margin: 0; padding: 0; border: 0;
  background: none; font: inherit; font-weight: bold; text-align: left; cursor: pointer; }
.gg-legend-toggle::after { content: " \\25BE"; color: #666; }
.gg-legend.gg-closed .gg-legend-toggle::after { content: " \\25B8"; }
.gg-legend.gg-closed .gg-legend-body { display: none; }
.gg-legend.gg-closed { padding: 6px 10px; }
.gg-legend.gg-compact { font-size: 11px; line-height: 14px; padding: 4px 7px; max-height: 45%;
  bottom: 30px; }
.gg-legend.gg-compact i { width: 11px; height: 9px; margin-right: 4px; }
.gg-legend.gg-compact .gg-fac { width: 14px; height: 14px; line-height: 14px; font-size: 9px; }
.gg-notice { position: absolute; left: 50%; bottom: 8px; transform: translateX(-50%);
  z-index: 1000; background: rgba(255,248,220,.95); border: 1px solid #c9a227; padding: 2px 10px;
  border-radius: 4px; font-size: 12px; max-width: 70%; pointer-events: none; }
@media (max-width: 1099px), (max-height: 699px) {
  .gg-title { font-size: 14px; padding: 3px 10px; max-width: 50%; overflow: hidden;
    text-overflow: ellipsis; white-space: nowrap; }
}
@media (max-width: 599px) {
  .gg-title { font-size: 12px; top: 6px; max-width: 46%; }
  .gg-notice { bottom: 40px; max-width: 60%; font-size: 11px; }
}
</style>
"""

PAGE_JS = """
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
    var v = p[F[i][0]], unless = F[i][2] ? p[F[i][2]] : null;
    if (v === null || v === undefined || v === '') { continue; }
    if (unless !== null && unless !== undefined && unless !== '') { continue; }  // name shown
    var tr = ggEl('tr');
    tr.appendChild(ggEl('th', '', F[i][1]));
    tr.appendChild(ggEl('td', String(v).length > 24 ? 'gg-long' : '', v));  // reasons wrap
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
function ggSmall() { return window.innerWidth < 1100 || window.innerHeight < 700; }
function ggPhone() { return window.innerWidth < 600; }
function ggDecorate(map) {
  var d = ggData();
  if (d.title) { document.body.appendChild(ggEl('div', 'gg-title', d.title)); }
  if (d.attribution) { map.attributionControl.addAttribution(ggEsc(d.attribution)); }
  var warned = false;
  map.eachLayer(function (l) {
    if (!(l instanceof L.TileLayer)) { return; }
    l.on('tileerror', function () {
      if (warned) { return; }
      warned = true;
      map.getContainer().classList.add('gg-blank');
      if (d.tile_notice) { document.body.appendChild(ggEl('div', 'gg-notice', d.tile_notice)); }
    });
  });
}
function ggPad(map) {
  var box = map.getContainer().getBoundingClientRect();
  var pad = {top: 10, left: 10, bottom: 10, right: 10};
  var sel = '.leaflet-control-container .leaflet-control, .gg-title, .gg-legend';
  document.querySelectorAll(sel).forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (!r.width || !r.height) { return; }
    var cx = r.left + r.width / 2 - box.left, cy = r.top + r.height / 2 - box.top;
    var w = r.width + 10, h = r.height + 10;
    // a box in a corner or at an edge pushes the view away from its nearer side
    if (w < box.width / 2 && (h >= box.height / 2 || w <= h * 1.5 || cy > box.height / 3 &&
        cy < 2 * box.height / 3)) {
      if (cx < box.width / 2) { pad.left = Math.max(pad.left, r.right - box.left + 6); }
      else { pad.right = Math.max(pad.right, box.right - r.left + 6); }
    } else if (cy < box.height / 2) { pad.top = Math.max(pad.top, r.bottom - box.top + 6); }
    else { pad.bottom = Math.max(pad.bottom, box.bottom - r.top + 6); }
  });
  pad.left = Math.min(pad.left, box.width / 3); pad.right = Math.min(pad.right, box.width / 3);
  pad.top = Math.min(pad.top, box.height / 3);
  pad.bottom = Math.min(pad.bottom, box.height / 3);
  return pad;
}
function ggLayout(map, control) {
  var d = ggData();
  var legend = document.querySelector('.gg-legend');
  if (legend) {
    var button = legend.querySelector('.gg-legend-toggle');
    if (button) {
      button.addEventListener('click', function (e) {
        e.preventDefault();
        var closed = legend.classList.toggle('gg-closed');
        button.setAttribute('aria-expanded', closed ? 'false' : 'true');
      });
    }
    L.DomEvent.disableClickPropagation(legend);
    L.DomEvent.disableScrollPropagation(legend);
    if (ggSmall()) { legend.classList.add('gg-compact'); }
    if (ggPhone() && button) {
      legend.classList.add('gg-closed');
      button.setAttribute('aria-expanded', 'false');
    }
  }
  if (control && ggSmall()) { control.collapse(); }
  if (d.bounds) {
    var pad = ggPad(map);
    map.fitBounds(d.bounds, {paddingTopLeft: [pad.left, pad.top],
                             paddingBottomRight: [pad.right, pad.bottom]});
  }
}
"""


# --------------------------------------------------------------------------- elements


class Literal(Element):
    """Text placed into the page as it is: never compiled as a Jinja2 template.

    branca's ``MacroElement.render`` wraps each rendered macro in ``Element(text)``, which
    compiles ``text`` as a template a second time; anything that holds user text must
    therefore reach the page through this element (or through :class:`DataStore`) instead.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "GeogridLiteral"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """Return the text unchanged."""
        return self.text


class RawHtml(MacroElement):
    """A fixed piece of header HTML, script or body HTML (constant text from this module)."""

    def __init__(self, *, header_html: str = "", body_html: str = "", script_js: str = ""):
        super().__init__()
        self._name = "GeogridRaw"
        self.header_html = header_html
        self.body_html = body_html
        self.script_js = script_js

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Add the fixed pieces to the page's header, body and script."""
        figure: Any = self.get_root()  # a branca Figure
        if self.header_html:
            figure.header.add_child(Literal(self.header_html), name=self.get_name() + "_h")
        if self.body_html:
            figure.html.add_child(Literal(self.body_html), name=self.get_name() + "_b")
        if self.script_js:
            figure.script.add_child(Literal(self.script_js), name=self.get_name() + "_s")


def script_json(value: Any) -> str:
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


class DataStore(MacroElement):
    """The one place user text enters a map: a JSON blob the page's scripts read as data.

    Holds the title, the attribution and, per GeoJSON layer, the popup fields and the rows of
    formatted values. Rendered as ``<script type="application/json" id="gg-data">`` through
    :class:`Literal`, so none of it is ever template source; the scripts build popups,
    tooltips and search tips from it with ``textContent``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._name = "GeogridData"
        self.payload: dict[str, Any] = {"title": None, "attribution": None, "layers": {}}

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Add the blob to the page header as ``<script type="application/json">``."""
        html_text = (
            '<script type="application/json" id="gg-data">'
            + script_json(self.payload)
            + "</script>"
        )
        figure: Any = self.get_root()  # a branca Figure
        figure.header.add_child(Literal(html_text), name=self.get_name())


def data_of(m: folium.Map) -> DataStore:
    """Return the map's :class:`DataStore`, adding one on first use."""
    for child in m._children.values():
        if isinstance(child, DataStore):
            return child
    store = DataStore()
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
    layers = data_of(m).payload["layers"]
    return {
        entry["name"]: [dict(zip(entry["cols"], row, strict=True)) for row in entry["rows"]]
        for entry in layers.values()
    }


class SearchControl(JSCSSMixin, MacroElement):
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
        self.default_js = [("Leaflet.Search.js", SEARCH_JS)]
        self.default_css = [("Leaflet.Search.css", SEARCH_CSS)]


class MiniMapControl(JSCSSMixin, MacroElement):
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
             toggleDisplay: true, minimized: ggSmall()});
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
        self.default_js = [("Control_MiniMap_js", MINIMAP_JS)]
        self.default_css = [("Control_MiniMap_css", MINIMAP_CSS)]


# --------------------------------------------------------------------------- GeoJSON


def is_missing(value: Any) -> bool:
    """Tell whether a cell value is missing (None, NaN, NaT, pd.NA); False for lists."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


#: Feature properties kept in the GeoJSON itself (read by the style and marker functions);
#: each is computed by this module (palette colour, 0/1 flag, rank digits), never user text.
STYLE_KEYS = ("_f", "_o", "_r")
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
            msg = f"internal style value {bad[0]!r} in {col}; this is a bug in geogrid.outputs.leaflet"
            raise ValueError(msg)
    frame = style.reset_index(drop=True)
    frame.insert(0, "_i", np.arange(len(frame)))
    gdf = gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326")
    return json.loads(gdf.to_json(drop_id=True, na="null"))


def add_geojson(
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
    """Add one GeoJSON layer: geometry and style keys to folium, every text to :class:`DataStore`.

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
    style_cols = [c for c in props.columns if c in STYLE_KEYS]
    store = data_of(parent).payload["layers"]
    key = f"L{len(store)}"
    text = props.drop(columns=style_cols)
    store[key] = {
        "name": name,
        "fields": popup if interactive else [],
        "cols": [str(c) for c in text.columns],
        "rows": [
            [None if is_missing(v) else str(v) for v in row]
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


# --------------------------------------------------------------------------- element ids

_IDS = threading.local()
_BRANCA_ID = Element._generate_id  # bound classmethod: branca's random hex id


def _counter_or_random_id(cls: type) -> str:
    counter = getattr(_IDS, "counter", None)
    return _BRANCA_ID() if counter is None else f"{next(counter):04d}"


@contextlib.contextmanager
def counter_ids(start: int = 0) -> Iterator[None]:
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


def deterministic_ids(func: Callable[..., folium.Map]) -> Callable[..., folium.Map]:
    """Build a map with numbered element ids (see :func:`counter_ids`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> folium.Map:
        with counter_ids():
            return func(*args, **kwargs)

    return wrapper


def next_id(root: Any) -> int:
    """Return one more than the highest numbered id in an element tree (0 if none)."""
    top, queue = -1, [root]
    while queue:
        element = queue.pop()
        ident = str(getattr(element, "_id", ""))
        if ident.isdigit():
            top = max(top, int(ident))
        queue.extend(getattr(element, "_children", {}).values())
    return top + 1
