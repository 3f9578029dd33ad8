"""Interactive maps: layers, basemaps, escaping, privacy, offline HTML, size and Chromium."""

from __future__ import annotations

import copy
import io
import json
import os
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from _chromium import check_page, find_chromium
from _maplayers import CRS, XSS, make_layers, origin
from shapely.geometry import Point, box

from geogrid.crs import wgs84_to_gcj02
from geogrid.errors import CRSError, InputError
from geogrid.outputs import offline as maps_offline
from geogrid.outputs import webmap as maps
from geogrid.outputs.webmap import build_map, map_from_results, read_results, save_map


def geojson_layers(m: folium.Map) -> dict[str, dict]:
    """Layer name -> GeoJSON of every GeoJson child, with the text properties merged back.

    The folium layers hold geometry and style keys only; every text lives in the map's JSON
    blob (:func:`geogrid.maps.layer_properties`), matched by the feature's ``_i``.
    """
    text = maps.layer_properties(m)
    out = {}
    for child in m._children.values():
        if isinstance(child, folium.GeoJson):
            data = copy.deepcopy(child.data)
            rows = text[child.layer_name]
            assert len(rows) == len(data["features"])
            for f in data["features"]:
                f["properties"].update(rows[f["properties"]["_i"]])
            out[child.layer_name] = data
    return out


def all_props(m: folium.Map) -> list[dict]:
    return [f["properties"] for d in geojson_layers(m).values() for f in d["features"]]


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return make_layers()


@pytest.fixture(scope="module")
def zh_map(layers) -> folium.Map:
    return build_map(layers, tiles="none", title="测试 <script>alert(2)</script>")


def test_every_layer_is_drawn(zh_map):
    names = set(geojson_layers(zh_map))
    for expected in ("网格", "社区", "街道界", "区界", "未覆盖楼栋/小区", "覆盖缺口", "建议选址"):
        assert expected in names
    assert {"服务范围 5分钟", "服务范围 10分钟", "服务范围 15分钟", "服务范围 1公里"} <= names
    # one layer per facility type with its count
    assert "党群服务站 (1)" in names and "街道党群服务中心 (1)" in names
    page = zh_map.get_root().render()
    for control in (
        "L.control.layers",
        "L.Control.Search",
        "L.control.fullscreen",
        "L.Control.Measure",
        "L.Control.MiniMap",
        "gg-legend",
        "gg-title",
    ):
        assert control in page


def test_only_uncovered_demand_is_drawn(zh_map, layers):
    dem = geojson_layers(zh_map)["未覆盖楼栋/小区"]["features"]
    assert len(dem) == int((~layers["demand"]["within_15min"]).sum())
    assert 0 < len(dem) < len(layers["demand"])


def test_user_text_is_escaped(zh_map):
    page = zh_map.get_root().render()
    assert "<img src=x" not in page
    assert "<script>alert(2)" not in page
    assert "<b>钢苑</b>" not in page and "<b>\\u94a2" not in page
    # user text is data: kept as it is in the JSON blob (shown with textContent), with
    # < > & written as \\u escapes so that it cannot close the <script> element
    names = [p.get("name") for p in all_props(zh_map) if p.get("name")]
    assert XSS in names and "<b>钢苑</b>社区" in names
    assert "\\u003cb\\u003e钢苑\\u003c/b\\u003e社区" in page
    assert "测试 \\u003cscript\\u003ealert(2)\\u003c/script\\u003e" in page


def test_personal_fields_left_out(zh_map, layers):
    page = zh_map.get_root().render()
    for secret in ("13900000000", "13800000000", "户主姓名", "\\u6237\\u4e3b", "张三"):
        assert secret not in page
    keys = {k for p in all_props(zh_map) for k in p}
    assert "phone" not in keys and "户主姓名" not in keys
    m = build_map(layers, tiles="none", include_personal=True)
    assert "13900000000" in m.get_root().render()


def test_household_level_demand_is_aggregated(layers):
    dem = layers["demand"]
    per_household = dem.loc[dem.index.repeat(3)].reset_index(drop=True)
    per_household["households"] = 1
    per_household["户主姓名"] = [f"居民{i}" for i in range(len(per_household))]
    m = build_map({"demand": per_household}, tiles="none")
    feats = next(iter(geojson_layers(m).values()))["features"]
    n_uncovered = int((~dem["within_15min"]).sum())
    assert len(feats) == n_uncovered
    assert {f["properties"]["households"] for f in feats} == {"3 户"}  # units on every figure
    assert "居民" not in json.dumps(feats, ensure_ascii=False)


def test_coordinates_rounded_and_simplified():
    x0, y0 = origin()
    dense = Point(x0, y0).buffer(300, quad_segs=256)  # 1,025 vertices
    gdf = gpd.GeoDataFrame({"gap_id": [1], "households": [10]}, geometry=[dense], crs=CRS)
    m = build_map({"gaps": gdf}, tiles="none", simplify_m=5.0, precision=5)
    coords = np.asarray(geojson_layers(m)["覆盖缺口"]["features"][0]["geometry"]["coordinates"][0])
    assert 20 < len(coords) < 200
    assert np.allclose(coords * 1e5, np.round(coords * 1e5), atol=1e-6)
    raw = build_map({"gaps": gdf}, tiles="none", simplify_m=0.0, precision=7)
    n_raw = len(geojson_layers(raw)["覆盖缺口"]["features"][0]["geometry"]["coordinates"][0])
    assert n_raw == len(dense.exterior.coords)


def test_amap_shifts_overlays_to_gcj02(layers):
    osm = build_map({"facilities": layers["facilities"]}, tiles="osm")
    amap = build_map({"facilities": layers["facilities"]}, tiles="amap")
    name = "党群服务站 (1)"
    lon, lat = geojson_layers(osm)[name]["features"][0]["geometry"]["coordinates"]
    glon, glat = geojson_layers(amap)[name]["features"][0]["geometry"]["coordinates"]
    elon, elat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    assert glon == pytest.approx(float(elon[0]), abs=2e-6)
    assert glat == pytest.approx(float(elat[0]), abs=2e-6)
    assert abs(glon - lon) + abs(glat - lat) > 1e-3  # hundreds of metres
    assert "autonavi.com" in amap.get_root().render()


def test_tiles_and_languages(layers):
    small = {"communities": layers["communities"]}
    with pytest.raises(InputError, match="tianditu_key"):
        build_map(small, tiles="tianditu", tianditu_key=None)
    page = build_map(small, tiles="tianditu", tianditu_key="abc123def456").get_root().render()
    assert "tk=abc123def456" in page and "cva_w" in page
    page_en = build_map(small, tiles="tianditu", tianditu_key="abc123def456", lang="en")
    assert "eva_w" in page_en.get_root().render()
    assert "tile.openstreetmap.org" in build_map(small).get_root().render()
    assert "L.tileLayer" not in build_map(small, tiles="none").get_root().render()
    en = build_map(small, tiles="none", lang="en")
    assert "Communities" in geojson_layers(en)
    with pytest.raises(InputError, match="tianditu key"):
        build_map(small, tiles="tianditu", tianditu_key="x'); alert(1); ('")


def test_bad_inputs_raise_clear_errors(layers):
    with pytest.raises(InputError, match="tiles"):
        build_map({}, tiles="google")
    with pytest.raises(InputError, match="lang"):
        build_map({}, lang="fr")
    with pytest.raises(InputError, match="unknown layer"):
        build_map({"buildings": layers["demand"]})
    no_crs = layers["grids"].set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="set_crs"):
        build_map({"grids": no_crs})


def test_save_online_and_offline(zh_map, tmp_path):
    # self-contained is the default (issue 11); the CDN page only when asked for
    online = save_map(zh_map, tmp_path / "m.html", offline=False)
    offline = save_map(zh_map, tmp_path / "sub" / "m_offline.html")
    page_on = online.read_text(encoding="utf-8")
    page_off = offline.read_text(encoding="utf-8")
    assert '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3' in page_on
    assert not re.search(r"<script[^>]+src=", page_off)
    assert not re.search(r"<link[^>]+href=\"https?:", page_off)
    assert "url(images/" not in page_off and "url(../images/" not in page_off
    assert "data:image/png;base64," in page_off
    # neither jQuery nor Bootstrap nor Font Awesome is needed
    assert "jquery" not in page_on.lower() and "bootstrap" not in page_on.lower()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.html", "m_offline.html", "sub"]


def test_offline_refuses_plugins_without_a_local_copy(layers, tmp_path):
    from folium.plugins import MarkerCluster

    m = build_map({"communities": layers["communities"]}, tiles="none")
    MarkerCluster().add_to(m)
    with pytest.raises(InputError, match="offline"):
        save_map(m, tmp_path / "x.html", offline=True)
    assert not (tmp_path / "x.html").exists()


def test_vendored_files_and_licences():
    static = maps_offline.STATIC
    for rel in maps_offline.VENDORED.values():
        assert (static / rel).is_file()
    for folder in (
        "leaflet",
        "leaflet.fullscreen",
        "leaflet-measure",
        "leaflet-minimap",
        "leaflet-search",
    ):
        assert any(p.name.lower().startswith("license") for p in (static / folder).iterdir())
    total = sum(p.stat().st_size for p in static.rglob("*") if p.is_file())
    assert total < 1_000_000


def test_map_from_results(layers, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for key in ("communities", "grids", "facilities"):
        layers[key].to_file(results / "layers.gpkg", layer=key, driver="GPKG")
    layers["gaps"].to_file(results / "gaps.geojson", driver="GeoJSON")
    read = read_results(results)
    assert set(read) == {"communities", "grids", "facilities", "gaps"}
    out = map_from_results(results, tmp_path / "out.html", tiles="none")
    page = out.read_text(encoding="utf-8")
    assert "L.tileLayer" not in page and not re.search(r"<script[^>]+src=", page)
    default = map_from_results(results, tmp_path / "default.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", default) and "tile.openstreetmap.org" in default
    online = map_from_results(results, tmp_path / "online.html", offline=False)
    assert '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3' in online.read_text("utf-8")
    assert "友谊社区" in page or "\\u53cb\\u8c0a\\u793e\\u533a" in page
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no map layers"):
        read_results(empty)
    with pytest.raises(InputError, match="does not exist"):
        read_results(tmp_path / "missing")


def city_layers(n_grids: int = 3000, n_fac: int = 500) -> dict[str, gpd.GeoDataFrame]:
    """A city-scale synthetic layer set: 3,000 jittered grids, 500 facilities, bands."""
    rng = np.random.default_rng(1)
    x0, y0 = origin()
    side = int(np.ceil(np.sqrt(n_grids)))
    cells = []
    for k in range(n_grids):
        i, j = divmod(k, side)
        # a wobbly 250 m cell with 40 vertices, as real grids follow roads and walls
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        r = 125 + rng.normal(0, 3, 40)
        cx, cy = x0 + i * 250, y0 + j * 250
        ring = np.column_stack([cx + r * np.cos(t) * 1.2, cy + r * np.sin(t) * 1.2])
        cells.append(
            shapely.Polygon(ring).intersection(box(cx - 125, cy - 125, cx + 125, cy + 125))
        )
    grids = gpd.GeoDataFrame(
        {
            "grid_code": [
                f"150203{k // 100:03d}{k // 10 % 1000:03d}{k % 1000:03d}" for k in range(n_grids)
            ],
            "community_name": [f"第{k // 10}社区" for k in range(n_grids)],
            "households": rng.integers(150, 600, n_grids),
            "coverage_15min": rng.uniform(0, 1, n_grids),
        },
        geometry=cells,
        crs=CRS,
    )
    comm = grids.dissolve(by="community_name", as_index=False)[["community_name", "geometry"]]
    comm = comm.rename(columns={"community_name": "name"})
    ext = side * 250
    px = x0 + rng.uniform(0, ext, n_fac)
    py = y0 + rng.uniform(0, ext, n_fac)
    fac = gpd.GeoDataFrame(
        {
            "facility_id": [f"F{k:04d}" for k in range(n_fac)],
            "name": [f"第{k}党群服务站" for k in range(n_fac)],
            "type": rng.choice(["station", "centre_community", "liaison_point"], n_fac),
            "area_m2": rng.uniform(50, 800, n_fac).round(1),
            "served_households": rng.integers(100, 2000, n_fac),
        },
        geometry=gpd.points_from_xy(px, py),
        crs=CRS,
    )
    bands = []
    for target, r in (("5min", 333), ("10min", 667), ("15min", 1000)):
        # network service areas are ragged: buffer jittered stars rather than circles
        polys = []
        for x, y in zip(px, py, strict=True):
            t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            rr = r * (0.6 + 0.4 * rng.uniform(0, 1, 64))
            polys.append(shapely.Polygon(np.column_stack([x + rr * np.cos(t), y + rr * np.sin(t)])))
        bands.append({"facility_id": "all", "target": target, "geometry": shapely.union_all(polys)})
    sa = gpd.GeoDataFrame(bands, crs=CRS)
    return {"communities": comm, "grids": grids, "facilities": fac, "service_areas": sa}


def test_city_scale_map_is_small(tmp_path):
    city = city_layers()
    m = build_map(city, tiles="none")
    out = save_map(m, tmp_path / "city.html", offline=True)
    size_mb = out.stat().st_size / 1e6
    assert size_mb <= 15.0


# --------------------------------------------------------------------------- browser


def chromium_or_skip() -> str:
    path = find_chromium()
    if path is None:
        msg = "chromium not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg + " (CI=true)")
        pytest.skip(msg)
    return path


OPEN_XSS_POPUP = """
(function () {
  var key = Object.keys(window).find(function (n) { return n.indexOf('map_') === 0; });
  var found = null;
  window[key].eachLayer(function (l) {
    if (l.feature && l.feature.properties.facility_id === 'F0003') { found = l; }
  });
  found.openPopup();
  found.openTooltip();
  var pop = document.querySelector('.leaflet-popup-content');
  var tip = document.querySelector('.leaflet-tooltip');
  return [pop.textContent, pop.querySelectorAll('img').length, tip.textContent];
})()
"""


SEARCH_COMMUNITY = """
(function () {
  var keys = Object.keys(window).filter(function (n) {
    return n.indexOf('geogrid_search_') === 0;
  });
  var map = Object.keys(window).find(function (n) { return n.indexOf('map_') === 0; });
  window[map].closePopup();
  var found = null;
  keys.forEach(function (k) {
    if (window[k].options.propertyName === 'name') { found = window[k]; }
  });
  found.searchText('友谊社区');  // fills the tip list after the typing delay (400 ms)
  return new Promise(function (r) { setTimeout(function () {
    found._handleSubmit();
    setTimeout(function () {
      var p = document.querySelector('.leaflet-popup-content');
      r(p ? p.textContent : 'no popup');
    }, 1000);
  }, 800); });
})()
"""


@pytest.mark.browser
def test_offline_map_renders_in_chromium_without_network(zh_map, tmp_path):
    from PIL import Image

    chromium = chromium_or_skip()
    out = save_map(zh_map, tmp_path / "offline.html", offline=True)
    check = check_page(
        out,
        chromium=chromium,
        expressions={
            "paths": "document.querySelectorAll('path.leaflet-interactive').length",
            "icons": "document.querySelectorAll('.leaflet-marker-icon .gg-fac').length",
            "controls": "document.querySelectorAll('.leaflet-control').length",
            "xss": OPEN_XSS_POPUP,
            "search": SEARCH_COMMUNITY,
        },
    )
    (tmp_path / "offline.png").write_bytes(check.screenshot)
    assert check.errors == []
    assert check.dialogs == []
    assert check.values["paths"] >= 20
    assert check.values["icons"] == 5
    assert check.values["controls"] >= 6
    popup_text, n_img, tip_text = check.values["xss"]
    assert XSS in popup_text and n_img == 0 and XSS in tip_text
    assert "150203001001" in check.values["search"]  # search zoomed to it and opened its popup
    img = np.asarray(Image.open(io.BytesIO(check.screenshot)).convert("RGB")).astype(int)
    background = np.array([0xF2, 0xF1, 0xEC])
    centre = img[150:650, 300:1000]
    drawn = np.abs(centre - background).sum(axis=2) > 30
    assert drawn.mean() > 0.3
    red = (img[..., 0] > 180) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 50  # uncovered buildings, overloaded rings


@pytest.mark.browser
def test_unescaped_text_would_fire_an_alert(tmp_path):
    """The Chromium check itself can fail: a raw onerror handler is caught as a dialog."""
    chromium = chromium_or_skip()
    page = tmp_path / "bad.html"
    page.write_text(f"<html><body>{XSS}</body></html>", encoding="utf-8")
    check = check_page(page, chromium=chromium, settle_ms=300)
    assert check.dialogs == ["1"]


# --------------------------------------------------------------------------- default and small screens

MAP_VAR = "Object.keys(window).find(function (n) { return n.indexOf('map_') === 0; })"

LAYOUT = (
    """
(function () {
  var map = window["""
    + MAP_VAR
    + """];
  function box(el) {
    var r = el.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  }
  var covers = [];
  var sel = '.leaflet-control-layers, .gg-legend, .gg-title, .leaflet-control-minimap, ' +
    '.leaflet-top .leaflet-control, .gg-notice';
  document.querySelectorAll(sel).forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) { covers.push(box(el)); }
  });
  var gaps = [], sites = [];
  map.eachLayer(function (l) {
    if (!l.feature) { return; }
    if (l.feature.properties.gap_id !== undefined && l._path) { gaps.push(box(l._path)); }
    if (l._icon && l._icon.querySelector('.gg-site')) {
      sites.push(box(l._icon.querySelector('.gg-site')));
    }
  });
  var ctl = document.querySelector('.leaflet-control-layers');
  var legend = document.querySelector('.gg-legend');
  return {
    covers: covers, gaps: gaps, sites: sites,
    view: [window.innerWidth, window.innerHeight],
    layers_open: ctl.classList.contains('leaflet-control-layers-expanded'),
    legend_closed: legend.classList.contains('gg-closed'),
    legend_box: box(legend)
  };
})()
"""
)

OPEN_LEGEND = """
(function () {
  document.querySelector('.gg-legend-toggle').click();
  var legend = document.querySelector('.gg-legend');
  var r = legend.getBoundingClientRect();
  var after = [legend.classList.contains('gg-closed'), r.height];
  document.querySelector('.gg-legend-toggle').click();  // and back, for the screenshot
  return after;
})()
"""


def _overlap(a: list[float], b: list[float]) -> float:
    """Area of the intersection of two [left, top, right, bottom] boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _visible_share(target: list[float], covers: list[list[float]], view: list[int]) -> float:
    """Share of a box inside the viewport and under no control (controls may overlap)."""
    x = np.linspace(target[0], target[2], 41)
    y = np.linspace(target[1], target[3], 41)
    gx, gy = np.meshgrid(x, y)
    ok = (gx >= 0) & (gy >= 0) & (gx <= view[0]) & (gy <= view[1])
    for c in covers:
        ok &= ~((gx >= c[0]) & (gx <= c[2]) & (gy >= c[1]) & (gy <= c[3]))
    return float(ok.mean())


def _site_and_gap_pixels(png: bytes) -> tuple[int, int]:
    """Yellow site diamonds and orange gap fill in a screenshot (pixel counts)."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    yellow = (r > 230) & (g > 190) & (g < 230) & (b < 40)  # #ffd700
    orange = (r > 230) & (g > 170) & (g < 215) & (b > 120) & (b < 185)  # #fd8d3c at 0.35
    return int(yellow.sum()), int(orange.sum())


@pytest.mark.browser
def test_default_map_draws_without_network(layers, tmp_path):
    """The map as written by default (OSM basemap asked for) draws with the network blocked."""
    chromium = chromium_or_skip()
    out = save_map(build_map(layers, title="默认地图"), tmp_path / "default.html")
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+href=", page)
    check = check_page(
        out,
        chromium=chromium,
        settle_ms=1500,
        expressions={
            "paths": "document.querySelectorAll('path.leaflet-interactive').length",
            "icons": "document.querySelectorAll('.leaflet-marker-icon .gg-fac').length",
            "sites": "document.querySelectorAll('.leaflet-marker-icon .gg-site').length",
            "notice": "(document.querySelector('.gg-notice') || {}).textContent || ''",
            "blank": "document.querySelector('.leaflet-container').classList.contains('gg-blank')",
        },
    )
    (tmp_path / "default.png").write_bytes(check.screenshot)
    # only the basemap tiles fail (they need the network); every script is in the page
    assert all("tile.openstreetmap.org" in e or "ERR_" in e for e in check.errors), check.errors
    assert not any(".js" in e or ".css" in e for e in check.errors), check.errors
    assert check.values["paths"] >= 20 and check.values["icons"] == 5
    assert check.values["sites"] == 2
    assert "底图需联网" in check.values["notice"] and check.values["blank"] is True
    yellow, orange = _site_and_gap_pixels(check.screenshot)
    assert yellow > 100 and orange > 500


@pytest.mark.browser
@pytest.mark.parametrize(
    ("width", "height", "phone"),
    [(1024, 768, False), (390, 844, True), (1280, 800, False)],
)
def test_small_screens_keep_gaps_and_sites_visible(zh_map, tmp_path, width, height, phone):
    chromium = chromium_or_skip()
    out = save_map(zh_map, tmp_path / "small.html")
    check = check_page(
        out,
        chromium=chromium,
        width=width,
        height=height,
        expressions={"layout": LAYOUT, "open": OPEN_LEGEND},
    )
    (tmp_path / f"map_{width}x{height}.png").write_bytes(check.screenshot)
    if os.environ.get("GEOGRID_SHOTS"):  # to look at them: GEOGRID_SHOTS=folder
        Path(os.environ["GEOGRID_SHOTS"], f"map_{width}x{height}.png").write_bytes(check.screenshot)
    assert check.errors == []
    lay = check.values["layout"]
    assert lay["view"] == [width, height]
    assert len(lay["sites"]) == 2 and len(lay["gaps"]) == 1
    # the layer list is collapsed behind its button below 1100 px, open on a wide screen
    assert lay["layers_open"] is (width >= 1100)
    assert lay["legend_closed"] is phone
    for site in lay["sites"]:
        assert _visible_share(site, lay["covers"], lay["view"]) == 1.0, (site, lay["covers"])
    for gap in lay["gaps"]:
        assert _visible_share(gap, lay["covers"], lay["view"]) > 0.9, (gap, lay["covers"])
    # controls cover little of the map: a collapsed legend is a button
    area = width * height
    covered = sum((c[2] - c[0]) * (c[3] - c[1]) for c in lay["covers"])
    assert covered / area < (0.12 if phone else 0.25)
    if phone:
        lb = lay["legend_box"]
        assert (lb[2] - lb[0]) * (lb[3] - lb[1]) < 120 * 40
    closed_after, height_after = check.values["open"]
    assert closed_after is (not phone)  # the button toggles the legend
    # the screenshot shows the proposed sites and the gap (pixels, not just the DOM)
    yellow, orange = _site_and_gap_pixels(check.screenshot)
    assert yellow > 100 and orange > 300


# --------------------------------------------------------------------------- popups and targets


def popup_fields(m: folium.Map) -> dict[str, list[list[str]]]:
    """Layer name -> its popup rows ``[column, label, unless]`` as the page reads them."""
    from geogrid.outputs.leaflet import data_of

    return {e["name"]: e["fields"] for e in data_of(m).payload["layers"].values()}


@pytest.fixture(scope="module")
def rich_layers(layers) -> dict[str, gpd.GeoDataFrame]:
    """The test layers with the columns a coverage and siting run add (names, walks, loads)."""
    out = {k: v.copy() for k, v in layers.items()}
    dem = out["demand"]
    dem["households"] = dem["households"] + 0.44  # estimates are fractional inside
    dem["compound_name"] = [f"第{i % 3 + 1}小区" for i in range(len(dem))]
    dem["community_code"] = "150203001002"
    dem["nearest_id"] = "F0002"
    dem["nearest_name"] = "友谊社区党群服务中心"
    dem["dist_m"] = 1461.6
    dem["walk_min"] = 21.92
    fac = out["facilities"]
    fac["beyond_reach_households"] = [0, 12, 300, 0, 5]
    fac["reach_target"] = ["15min", "15min", "10min", "10min", "5min"]
    out["gaps"]["nearest_name"] = "友谊社区党群服务中心"
    out["gaps"]["community_names"] = "<b>钢苑</b>社区"
    return out


def test_popups_show_names_walks_and_units(rich_layers):
    m = build_map(rich_layers, tiles="none")
    props = maps.layer_properties(m)
    fields = popup_fields(m)
    dem = props["未覆盖楼栋/小区"][0]
    assert dem["households"].endswith(" 户") and "." not in dem["households"]
    assert dem["walk_min"] == "21.9 分钟" and dem["dist_m"] == "1,462 米"
    assert dem["nearest_name"] == "友谊社区党群服务中心"
    assert dem["community_name"] == "<b>钢苑</b>社区"  # name from the communities layer
    assert dem["_t"].startswith("第") and "户" in dem["_t"] and "步行 21.9 分钟" in dem["_t"]
    rows = {f[0]: f for f in fields["未覆盖楼栋/小区"]}
    assert rows["nearest_id"][2] == "nearest_name"  # the code only where no name is known
    assert rows["compound_id"][2] == "compound_name"
    assert rows["walk_min"][1] == "步行时间" and rows["dist_m"][1] == "步行距离"
    station = props["党群服务站 (1)"][0]
    assert station["served_households"] == "400 户"
    assert station["beyond_reach_households"] == "300 户"
    assert station["reach_target"] == "10分钟" and station["area_m2"] == "120m²"
    assert {f[0]: f[2] for f in fields["党群服务站 (1)"]}["facility_id"] == "name"
    gap = props["覆盖缺口"][0]
    assert gap["_t"] == "覆盖缺口 · 540 户 · <b>钢苑</b>社区" and gap["miss_m"] == "420 米"
    comm = {p["name"]: p for p in props["社区"]}["友谊社区"]
    assert comm["coverage_15min"] == "92.0%" and comm["uncovered_hh_15min"] == "96 户"


def test_site_popup_explains_its_figures(rich_layers):
    m = build_map({"sites": rich_layers["sites"]}, tiles="none")
    site = maps.layer_properties(m)["建议选址"][0]
    assert site["gain_households"] == "400 户" and site["served_households"] == "450 户"
    assert "新增覆盖户数" in site["_n"] and "服务户数" in site["_n"] and "15分钟" in site["_n"]
    assert site["_t"] == "建议选址 1 · 新增覆盖 400 户"
    assert ["_n", "说明", ""] in popup_fields(m)["建议选址"]
    # a siting run's own explanation is shown instead, in the map's language
    sites = rich_layers["sites"].assign(reason_zh=["甲", "乙"], reason_en=["A", "B"])
    en = build_map({"sites": sites}, tiles="none", lang="en")
    row = maps.layer_properties(en)["Proposed sites"][0]
    assert row["reason_en"] == "A" and "_n" not in row and "reason_zh" not in row


def test_custom_target_reaches_the_map(layers):
    """A 20-minute run: its columns, bands, legend and uncovered units, no 15-minute left."""

    def to20(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        renamed = {c: c.replace("15min", "20min") for c in gdf.columns if "15min" in c}
        return gdf.rename(columns=renamed).drop(
            columns=[c for c in gdf.columns if c.endswith("1km")]
        )

    custom = {k: to20(v) for k, v in layers.items()}
    sa = custom["service_areas"]
    custom["service_areas"] = sa[sa["target"] == "15min"].assign(target="20min")
    m = build_map(custom, tiles="none", grid_by="coverage")
    names = set(maps.layer_properties(m))
    assert "服务范围 20分钟" in names and not any("15分钟" in n for n in names)
    comm = maps.layer_properties(m)["社区"][0]
    assert "coverage_20min" in comm and "uncovered_hh_20min" in comm
    labels = {f[0]: f[1] for f in popup_fields(m)["社区"]}
    assert (
        labels["coverage_20min"] == "20分钟覆盖率"
        and labels["uncovered_hh_20min"] == "20分钟外户数"
    )
    page = m.get_root().render()
    assert "20分钟覆盖率" in page  # the legend's class title
    assert "15分钟" not in page and "15-min" not in page  # no label says 15 minutes
    en = build_map(custom, tiles="none", grid_by="coverage", lang="en").get_root().render()
    assert "20-min coverage" in en or "20 min coverage" in en
    assert "15-min" not in en and "15 min" not in en
    dem = maps.layer_properties(m)["未覆盖楼栋/小区"]
    assert len(dem) == int((~custom["demand"]["within_20min"]).sum())


def test_interface_text_spells_no_target():
    """Map text names the target in use (from the layers), so no fixed label says 15 minutes."""
    from geogrid.schema import TEXT

    for lang, words in TEXT.items():
        fixed = [k for k, v in words.items() if re.search(r"\d+ ?(分钟|公里|-?min|km)", v)]
        assert not fixed, (lang, fixed)


def test_map_code_spells_no_target():
    """Targets reach the map from the layers and the schema, never as literals."""
    for module in (maps, maps_offline):
        text = Path(module.__file__).read_text(encoding="utf-8")
        assert not re.search(r"['\"_](15min|1km)['\"]", text)
        assert "coverage_15min" not in text and "within_15min" not in text


# --------------------------------------------------------------------------- site-only folder


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory) -> Path:
    """A folder ``geogrid site`` wrote from input files (no coverage or study layers in it)."""
    from geogrid.cli import main
    from geogrid.demo import make_district

    base = tmp_path_factory.mktemp("site_only")
    d = make_district(n_communities=3, seed=3)
    files = {}
    for name, layer in (
        ("ways", d.ways),
        ("buildings", d.buildings),
        ("facilities", d.facilities),
        ("communities", d.communities),
    ):
        files[name] = base / f"{name}.gpkg"
        layer.to_file(files[name], driver="GPKG")
    out = base / "site"
    argv = ["site", "--network", str(files["ways"]), "--demand", str(files["buildings"])]
    argv += ["--facilities", str(files["facilities"]), "--communities", str(files["communities"])]
    assert main([*argv, "--k", "2", "--out", str(out)]) == 0
    return out


def test_site_only_folder_draws_its_setting(site_folder, tmp_path):
    from geogrid.outputs.results import read_context

    own = read_results(site_folder)
    assert "sites" in own and "facilities" not in own and "service_areas" not in own
    ctx = read_context(site_folder, own)
    assert {"network_edges", "facilities", "service_areas", "service_areas_after"} <= set(ctx)
    assert "communities" not in ctx  # the folder's own (with coverage before/after) is kept
    # coverage after the new sites reaches every site and is no smaller than before
    metric = ctx["service_areas"].crs
    before = ctx["service_areas"]
    before = before[(before["target"] == "15min").to_numpy()].union_all()
    after = ctx["service_areas_after"].to_crs(metric).union_all()
    assert after.area >= before.area * 0.999
    assert after.buffer(1.0).contains(own["sites"].to_crs(metric).union_all())
    page = map_from_results(site_folder, tmp_path / "site.html").read_text(encoding="utf-8")
    for name in ("新增站点后服务范围 15分钟", "步行路网", "服务范围 15分钟", "建议选址"):
        assert json.dumps(name)[1:-1] in page or name in page


def test_site_context_needs_the_same_inputs(site_folder, tmp_path, caplog):
    import shutil

    copy = tmp_path / "site"
    shutil.copytree(site_folder, copy)
    manifest = json.loads((copy / "run.json").read_text(encoding="utf-8"))
    facilities = Path(manifest["inputs"]["facilities"]["path"])
    moved = tmp_path / "facilities.gpkg"
    shutil.copy(facilities, moved)
    manifest["inputs"]["facilities"]["path"] = str(moved)
    (copy / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    from geogrid.outputs.results import read_context

    own = read_results(copy)
    assert set(read_context(copy, own)) >= {"facilities", "service_areas_after"}
    with open(moved, "ab") as f:  # the input changed since the run
        f.write(b"\0")
    with caplog.at_level("WARNING"):
        assert read_context(copy, own) == {}
    assert "changed since the run" in caplog.text
    moved.unlink()
    assert read_context(copy, own) == {}  # gone: the folder's own layers only
    out = map_from_results(copy, tmp_path / "own.html").read_text(encoding="utf-8")
    assert "gg-site" in out
