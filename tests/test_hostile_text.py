"""Hostile text in every layer: it is shown literally in maps, workbooks and summaries, never run.

Names from user files reach Jinja2 (folium/branca render every element through it, twice),
HTML, JavaScript, Excel, Markdown and matplotlib's mathtext. The demo pipeline runs here on a
district whose facility, community, street, district, compound and road names are hostile,
then the results get hostile grid codes, gap ids, site names and compound names too; the maps
are opened in headless Chromium (network off) and every popup and tooltip is read back.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import geopandas as gpd
import pytest
from _chromium import check_page, find_chromium
from openpyxl import load_workbook

from geogrid import api as pipeline
from geogrid import demo as synth
from geogrid.cli import main
from geogrid.errors import InputError
from geogrid.outputs import leaflet
from geogrid.outputs import markdown as _markdown_mod
from geogrid.outputs import publish as _publish_mod
from geogrid.outputs import static_map as _static_mod
from geogrid.outputs import webmap as maps
from geogrid.outputs import workbook as _workbook_mod
from geogrid.outputs.privacy import MASK, mask_text, scan_personal
from geogrid.outputs.webmap import build_map, read_results, save_map

PHONE = "13812345678"
ID_NO = "110101199003074477"  # check digit right (GB 11643)


def hostile_texts(pwned: Path) -> list[str]:
    """The hostile names; the ``lipsum`` one creates ``pwned`` if a template ever runs it."""
    return [
        "{{ 7*7 }}",
        "{% for x in range(3) %}x{% endfor %}",
        "{# c #}",
        f"{{{{ lipsum.__globals__.os.makedirs('{pwned}') }}}}",
        "</script><script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "quotes ' \" ` end",
        "back\\slash \\u0041 \\n \\",
        "$x^2$ and $",
        '=HYPERLINK("http://example.invalid","click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "-2+3",
        "\ttab first",
        "ctl\x01\x07\x1b\x7f end",
        "<!-- \u2028 \u2029 --> ]]>",
        "社区{{ 7*7 }}",
    ]


def cycle(texts: list[str], n: int, offset: int = 0) -> list[str]:
    return [texts[(i + offset) % len(texts)] for i in range(n)]


def xlsx_form(text: str) -> str:
    """What a workbook cell holds: XML-illegal control characters become U+FFFD."""
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", text)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """The demo pipeline on a hostile district, then hostile results; returns paths and texts."""
    base = tmp_path_factory.mktemp("hostile")
    pwned = base / "pwned"
    texts = hostile_texts(pwned)
    real = synth.make_district

    def make(**kwargs):
        d = real(**kwargs)
        d.facilities["name"] = cycle(texts, len(d.facilities))
        d.facilities["manager"] = [f"张三 {PHONE}"] * len(d.facilities)
        d.facilities["备注"] = [f"联系人李四 身份证{ID_NO}"] + ["周末开放"] * (
            len(d.facilities) - 1
        )
        d.communities["name"] = cycle(texts, len(d.communities), 5)
        d.communities["street_name"] = texts[4]
        d.communities["district_name"] = texts[0]
        d.streets["street_name"] = texts[4]
        d.streets["district_name"] = texts[0]
        d.compounds["name"] = cycle(texts, len(d.compounds), 9)
        d.ways["name"] = cycle(texts, len(d.ways), 2)
        return d

    run = base / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synth, "make_district", make)
        pipeline.run_demo(run, n_communities=4, seed=3, maps=True)
    # the results, with hostile text in the layers the pipeline fills with its own ids
    layers = read_results(run)
    # and the personal data the demo's files withheld, as in results written with
    # --include-personal: the map and the workbook must withhold it again
    fac = layers["facilities"]
    fac["manager"] = [f"张三 {PHONE}"] * len(fac)
    fac["备注"] = [f"联系人李四 身份证{ID_NO}"] + ["周末开放"] * (len(fac) - 1)
    layers["grids"]["grid_code"] = cycle(texts, len(layers["grids"]))
    layers["grids"]["community_name"] = cycle(texts, len(layers["grids"]), 3)
    layers["gaps"]["gap_id"] = cycle(texts, len(layers["gaps"]), 6)
    layers["sites"]["name"] = cycle(texts, len(layers["sites"]), 8)
    layers["demand"]["compound_name"] = cycle(texts, len(layers["demand"]), 1)
    layers["service_areas"]["target"] = layers["service_areas"]["target"].replace({"1km": texts[0]})
    results = base / "results"
    results.mkdir()
    for key, gdf in layers.items():
        gdf.to_file(results / f"{key}.gpkg", layer=key, driver="GPKG")
    title = " | ".join(texts[:6] + [texts[8]])
    published = _publish_mod.publish(layers, base / "published", tiles="none", title=title)
    return {
        "texts": texts,
        "pwned": pwned,
        "run": run,
        "results": results,
        "layers": layers,
        "published": published,
        "title": title,
        "base": base,
    }


def test_no_template_ran(hostile):
    assert not hostile["pwned"].exists()
    for page in (
        hostile["run"] / "maps" / "demo.html",
        hostile["run"] / "maps" / "demo_offline.html",
        hostile["published"]["map"],
        hostile["published"]["map_offline"],
    ):
        text = page.read_text(encoding="utf-8")
        assert "{{ 7*7 }}" in text  # in the JSON blob, as it is
        assert "xxx" not in text.replace("xxxx", "")  # the {% for %} loop never ran
        assert "</script><script>alert" not in text and "<img src=x" not in text
        assert "\u2028" not in text and "\u2029" not in text
        assert not hostile["pwned"].exists()


def test_demo_files_hold_no_personal_data(hostile):
    """The demo run wrote its files through the export guard: no phone, ID number or name."""
    files = [
        p
        for p in hostile["run"].rglob("*")
        if p.suffix in {".gpkg", ".csv", ".html", ".md", ".json"}
    ]
    assert any(p.name == "coverage.gpkg" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (PHONE, ID_NO, "张三", "李四"):
            assert secret.encode() not in data, (path.name, secret)


def test_cli_map_of_hostile_results(hostile):
    out = hostile["base"] / "cli" / "map.html"
    assert main(["map", "--results", str(hostile["results"]), "--out", str(out)]) == 0
    assert (
        main(
            [
                "map",
                "--results",
                str(hostile["results"]),
                "--offline",
                "--out",
                str(out.with_name("offline.html")),
            ]
        )
        == 0
    )
    page = out.read_text(encoding="utf-8")
    assert "{{ 7*7 }}" in page and not hostile["pwned"].exists()
    assert PHONE not in page and "张三" not in page and ID_NO not in page
    personal = out.with_name("personal.html")
    argv = ["map", "--results", str(hostile["results"]), "--include-personal", "--out"]
    assert main([*argv, str(personal)]) == 0
    assert PHONE in personal.read_text(encoding="utf-8")


def test_blob_is_safe_inside_script():
    value = {"a": "</script><!-- \u2028\u2029 & > \ud800 {{ 7*7 }}", "b": [None, "x"]}
    text = leaflet.script_json(value)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in text
    back = json.loads(text)
    assert back["a"] == "</script><!-- \u2028\u2029 & > \ufffd {{ 7*7 }}" and back["b"] == [
        None,
        "x",
    ]


def test_folium_objects_hold_no_user_text(hostile):
    """Every folium element is template source; none may hold a hostile name."""
    m = build_map(hostile["layers"], tiles="none", title=hostile["title"], attribution="{{ 1 }}")
    for child in m._children.values():
        if isinstance(child, leaflet.DataStore):
            continue
        blob = json.dumps(getattr(child, "data", None), ensure_ascii=False)
        blob += json.dumps(getattr(child, "layer_name", ""), ensure_ascii=False)
        assert "{{" not in blob and "{%" not in blob and "{#" not in blob
        assert "<" not in blob and "$x" not in blob
    names = set(maps.layer_properties(m))
    assert "服务范围 其他目标 1" in names  # a hostile target names no layer


PAGE_TEXTS = """
(function () {
  var key = Object.keys(window).find(function (n) { return n.indexOf('map_') === 0; });
  var map = window[key];
  var pops = [], tips = [];
  map.eachLayer(function (l) {
    if (!l.feature) { return; }
    if (l.getTooltip && l.getTooltip()) {
      var c = l.getTooltip().getContent();
      tips.push(typeof c === 'string' ? 'STRING:' + c : c.textContent);
    }
    if (l.getPopup && l.getPopup()) {
      l.openPopup();
      var p = document.querySelector('.leaflet-popup-content');
      pops.push(p ? p.textContent : '');
      l.closePopup();
    }
  });
  var title = document.querySelector('.gg-title');
  return {
    pops: pops,
    tips: tips,
    title: title ? title.textContent : null,
    attribution: document.querySelector('.leaflet-control-attribution').textContent,
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: document.querySelectorAll('script').length
  };
})()
"""

SEARCH_TIPS = """
(function () {
  var keys = Object.keys(window).filter(function (n) {
    return n.indexOf('geogrid_search_') === 0;
  });
  var found = null;
  keys.forEach(function (k) {
    if (window[k].options.propertyName === 'grid_code') { found = window[k]; }
  });
  found.expand();
  found.searchText('img');
  return new Promise(function (r) { setTimeout(function () {
    var tips = Array.prototype.map.call(document.querySelectorAll('.search-tip'),
      function (e) { return e.textContent; });
    r([tips, document.querySelectorAll('.search-tooltip img').length]);
  }, 900); });
})()
"""


def chromium_or_skip() -> str:
    path = find_chromium()
    if path is None:
        msg = "chromium not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg + " (CI=true)")
        pytest.skip(msg)
    return path


@pytest.mark.browser
def test_hostile_map_shows_text_literally_in_chromium(hostile):
    chromium = chromium_or_skip()
    m = build_map(
        hostile["layers"],
        tiles="none",
        title=hostile["title"],
        attribution="{{ 6*7 }} <b>OSM</b>",
    )
    page = save_map(m, hostile["base"] / "browser.html", offline=True)
    check = check_page(
        page,
        chromium=chromium,
        expressions={"page": PAGE_TEXTS, "search": SEARCH_TIPS},
    )
    assert check.errors == []
    assert check.dialogs == []
    seen = check.values["page"]
    assert seen["imgs"] == 0
    assert not any(t.startswith("STRING:") for t in seen["tips"])  # tooltips are text nodes
    assert seen["title"] == hostile["title"]
    assert "{{ 6*7 }} <b>OSM</b>" in seen["attribution"]
    shown = "\n".join(seen["pops"] + seen["tips"])
    for text in hostile["texts"]:
        assert text in shown, text
    assert "社区49" not in shown and "xxx" not in shown  # no template evaluated anywhere
    # facility, community, street, grid, gap, site and compound names each reach a popup
    layers = hostile["layers"]
    for key, col in (
        ("facilities", "name"),
        ("communities", "name"),
        ("streets", "street_name"),
        ("grids", "grid_code"),
        ("gaps", "gap_id"),
        ("sites", "name"),
    ):
        for text in layers[key][col].astype(str):
            assert text in shown, (key, text)
    assert PHONE not in shown and "张三" not in shown
    tips, n_img = check.values["search"]
    assert "<img src=x onerror=alert(1)>" in tips and n_img == 0
    assert not hostile["pwned"].exists()


@pytest.mark.browser
def test_demo_maps_render_hostile_names(hostile):
    chromium = chromium_or_skip()
    check = check_page(
        hostile["run"] / "maps" / "demo_offline.html",
        chromium=chromium,
        expressions={"page": PAGE_TEXTS},
    )
    assert check.errors == [] and check.dialogs == []
    shown = "\n".join(check.values["page"]["pops"] + check.values["page"]["tips"])
    fac = hostile["layers"]["facilities"]["name"]
    assert set(fac) <= {t for t in hostile["texts"] if t in shown}
    assert "{{ 7*7 }}" in shown and "{% for x in range(3) %}x{% endfor %}" in shown


def test_workbook_holds_literal_text_and_no_formula(hostile):
    wb = load_workbook(hostile["published"]["report"])
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    values = {c.value for c in cells if isinstance(c.value, str)}
    assert all(c.data_type != "f" for c in cells)
    for c in cells:
        if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert c.data_type == "s" and c.quotePrefix, c.value
    for text in hostile["texts"]:
        assert xlsx_form(text) in values, text
    ws = wb["服务设施"]
    header = [c.value for c in ws[3]]  # below the title and the unit/date line
    assert "manager" not in header  # phone numbers in a free-text column: left out
    col = header.index("备注") + 1
    notes = [ws.cell(row=r, column=col).value for r in range(4, ws.max_row)]  # without 合计
    assert f"联系人{MASK} 身份证{MASK}" in notes and "周末开放" in notes
    flat = "\n".join(map(str, values))
    assert PHONE not in flat and ID_NO not in flat and "张三" not in flat and "李四" not in flat
    summ = wb["汇总"]
    labels = {r[0].value: r[1].value for r in summ.iter_rows(min_row=3) if r[0].value}
    assert labels["未输出的个人信息列数"] >= 1 and labels["已遮盖的个人信息值数"] >= 1
    assert summ["A1"].value == xlsx_form(hostile["title"]) and summ["A1"].data_type == "s"


def test_summary_markdown_is_escaped(hostile):
    md = hostile["published"]["summary"].read_text(encoding="utf-8")
    heading = md.splitlines()[0]
    assert heading.startswith("# \\{\\{ 7\\*7 \\}\\}")
    for raw in ("{{", "{%", "<img", "<script"):
        assert raw not in md
    assert "\\$x\\^2\\$" in heading and not re.search(r"(?<!\\)[$*_`|{}]", heading[2:])
    assert "&lt;img src\\=x onerror\\=alert\\(1\\)\\>" in heading
    assert "| 未输出的个人信息列数 |" in md and "| 已遮盖的个人信息值数 |" in md


def test_static_map_title_is_not_mathtext(hostile, tmp_path):
    layers = {"communities": hostile["layers"]["communities"]}
    for title in ("$x^2$", "unbalanced $ sign", "$\\frac{1}{", "{{ 7*7 }}\n\x07"):
        path = _static_mod.static_map(layers, tmp_path / "t.png", title=title)
        assert path.stat().st_size > 1000


def test_publish_name_is_a_plain_file_name(hostile, tmp_path):
    layers = {"communities": hostile["layers"]["communities"]}
    for bad in ("../escape", "a/b", ".hidden", "x;rm -rf", "{{ 7*7 }}", ""):
        with pytest.raises(InputError, match="plain file name"):
            _publish_mod.publish(layers, tmp_path / "p", name=bad)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "p").exists()


def test_nul_and_surrogates_do_not_break_outputs(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"facility_id": ["F1", "F2"], "name": ["a\x00b", "c\ud800d"], "type": ["station"] * 2},
        geometry=gpd.points_from_xy([109.84, 109.85], [40.65, 40.66]),
        crs="EPSG:4326",
    )
    out = save_map(build_map({"facilities": gdf}, tiles="none"), tmp_path / "m.html")
    assert "\ud800" not in out.read_text(encoding="utf-8")
    wb = load_workbook(_workbook_mod.write_report({"facilities": gdf}, tmp_path / "r.xlsx"))
    names = [c.value for c in wb["服务设施"]["B"][3:-1]]  # below title, units, header; no 合计
    assert names == ["a\ufffdb", "c\ufffdd"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"张三 {PHONE}", f"{MASK} {MASK}"),
        ("负责人王小明 手机:138-1234-5678", f"负责人{MASK} 手机:{MASK}"),
        ("联系人：李四，电话0472-5123456", f"联系人：{MASK}，电话{MASK}"),
        ("(010)62345678转123", MASK),
        (f"+86 {PHONE} 欧阳娜娜", f"{MASK} {MASK}"),
        (f"身份证{ID_NO}", f"身份证{MASK}"),
        ("友谊社区 0472-5123456", f"友谊社区 {MASK}"),
        # not personal: a wrong check digit, codes, ids, a place name
        ("110101199003074478", "110101199003074478"),
        ("150203001001", "150203001001"),
        ("F0001", "F0001"),
        ("grid 15020300100101", "grid 15020300100101"),
        ("钢铁大街红色蓄能站", "钢铁大街红色蓄能站"),
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text)[0] == masked


def test_scan_finds_personal_data_in_any_column():
    import pandas as pd

    df = pd.DataFrame(
        {
            "name": ["友谊站", "钢苑站", "和平站", "幸福站"],
            "manager": ["张三", "李四", "王五", "赵六"],
            "contact": [PHONE, "13900139000", "0472-5123456", ""],
            "note": ["周末开放", f"找赵六 {PHONE}", "", "无"],
            "c_int": [13812345678, 13912345678, 15012345678, 18812345678],
            "households": [1, 2, 3, 4],
        }
    )
    scan = scan_personal(df)
    assert scan.drop == ["manager", "contact", "c_int"]
    assert scan.masked == {"note": {1: f"找{MASK} {MASK}"}}
    assert scan_personal(df[["name", "households"]]).drop == []


def test_tables_written_by_commands_hold_no_formula(hostile, tmp_path):
    """``write_table`` (grids_quality.csv, siting_curve.csv, ...) guards CSV and xlsx too."""
    import pandas as pd

    from geogrid.io.writers import write_table

    texts = hostile["texts"]
    df = pd.DataFrame({"name": texts, "n": range(len(texts))})
    csv = write_table(df, tmp_path / "t.csv").read_text(encoding="utf-8-sig")
    for line in csv.splitlines()[1:]:
        assert not line.startswith(("=", "+", "-", "@")), line
    assert "'=HYPERLINK(" in csv and "{{ 7*7 }}" in csv
    wb = load_workbook(write_table(df, tmp_path / "t.xlsx"))
    cells = [c for row in wb.active.iter_rows(min_row=2) for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert [c.value for c in cells if c.column == 1] == [xlsx_form(t) for t in texts]


def test_include_personal_keeps_it_and_html_summary_is_escaped(hostile, tmp_path):
    layers = {"facilities": hostile["layers"]["facilities"]}
    wb = load_workbook(
        _workbook_mod.write_report(layers, tmp_path / "p.xlsx", include_personal=True)
    )
    header = [c.value for c in wb["服务设施"][3]]  # below the title and the unit/date line
    assert "manager" in header
    assert "未输出的个人信息列数" not in {c.value for c in wb["汇总"]["A"]}
    page = _markdown_mod.write_summary(layers, tmp_path / "s.html", title=hostile["title"])
    text = page.read_text(encoding="utf-8")
    assert "<img" not in text and "<script>alert" not in text and "&lt;img src=x" in text


def test_identifier_integers_are_not_phone_numbers():
    import pandas as pd

    ids = [13812345678, 13912345678, 15012345678]
    df = pd.DataFrame({"osmid": ids, "u": ids, "building_id": ids, "n": [1, 2, 3]})
    assert scan_personal(df).drop == []


def test_coordinates_in_text_are_not_phone_numbers():
    wkt = "POLYGON ((116.05942102702 40.3334160274234, 116.0594210 40.04721234567))"
    assert mask_text(wkt) == (wkt, 0)
    assert mask_text(f"电话{PHONE}。")[0] == f"电话{MASK}。"
