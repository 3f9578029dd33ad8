"""geogrid batch: many areas on a dask.distributed LocalCluster of 2 worker processes.

Three small synthetic districts (make_district(2..3)) written to files and one area whose
demand file is broken on purpose: the batch's per-area results equal the single-area commands,
the broken area is reported and the others finish, a second run skips the finished areas.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from conftest import real_path

from geogrid import batch
from geogrid.cli import main
from geogrid.demo import make_district
from geogrid.errors import InputError
from geogrid.io.writers import write_layers

pytest.importorskip("distributed")

HEADER = "id,name,network,demand,facilities,communities,residential,k"


def write_district(folder: Path, n: int, seed: int, **kw) -> dict[str, Path]:
    d = make_district(n_communities=n, seed=seed, **kw)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, layer in (
        ("ways", d.ways),
        ("buildings", d.buildings),
        ("facilities", d.facilities),
        ("communities", d.communities),
        ("compounds", d.compounds),
        ("streets", d.streets),
    ):
        paths[name] = write_layers(folder / f"{name}.gpkg", {name: layer})
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("batch_in")
    rows = [HEADER]
    for i, n in enumerate([2, 3, 2]):
        write_district(root / f"a{i}", n, seed=i)
        files = [f"a{i}/{x}.gpkg" for x in ("ways", "buildings", "facilities", "communities")]
        rows.append(f"a{i},示范区{i}=1+1,{','.join(files)},a{i}/compounds.gpkg,2")
    (root / "broken.gpkg").write_bytes(b"this is not a GeoPackage")
    rows.append("bad,坏数据,a0/ways.gpkg,broken.gpkg,a0/facilities.gpkg,a0/communities.gpkg,,2")
    (root / "areas.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def first(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch_out") / "out"
    res = batch.run_many(inputs / "areas.csv", out, n_workers=2, memory_limit="1GiB", maps=False)
    return res, out


def test_summary_ranks_areas_and_reports_the_broken_one(first):
    res, out = first
    s = res.summary
    assert list(s.columns[:5]) == ["rank", "id", "name", "status", "error"]
    assert set(s["id"]) == {"a0", "a1", "a2", "bad"} and res.failed == 1
    done = s[s["status"] == "done"]
    assert len(done) == 3
    assert done["coverage_15min"].is_monotonic_decreasing
    assert list(done["rank"]) == [1, 2, 3]
    bad = s.set_index("id").loc["bad"]
    assert bad["status"] == "failed" and pd.isna(bad["rank"])
    assert "broken.gpkg" in bad["error"] and "\n" not in bad["error"]
    assert not (out / "bad").exists()  # nothing half-written for the failed area
    csv = pd.read_csv(out / "batch_summary.csv", encoding="utf-8-sig")
    assert len(csv) == 4 and {"coverage_15min", "coverage_1km", "households"} <= set(csv.columns)
    assert (csv["name"].str.startswith("'")).sum() == 0  # names kept as they are in the CSV


def test_batch_area_equals_the_single_area_commands(first, inputs, tmp_path):
    _, out = first
    a = inputs / "a1"
    common = ["--network", str(a / "ways.gpkg"), "--residential", str(a / "compounds.gpkg")]
    common += ["--demand", str(a / "buildings.gpkg"), "--facilities", str(a / "facilities.gpkg")]
    common += ["--communities", str(a / "communities.gpkg")]
    assert main(["coverage", *common, "--out", str(tmp_path / "cov")]) == 0
    assert main(["site", *common, "--k", "2", "--out", str(tmp_path / "site")]) == 0
    for name, alone in (
        ("summary.csv", tmp_path / "cov"),
        ("coverage.gpkg", tmp_path / "cov"),
        ("siting_curve.csv", tmp_path / "site"),
    ):
        assert (out / "a1" / name).read_bytes() == (alone / name).read_bytes(), name
    # the combined files hold each area's own figures
    s = pd.read_csv(tmp_path / "cov" / "summary.csv", encoding="utf-8-sig")
    figures = dict(zip(s["metric"], s["value"], strict=True))
    row = first[0].summary.set_index("id").loc["a1"]
    assert row["households"] == pytest.approx(figures["households"], abs=0.1)
    assert float(row["households"]).is_integer()  # whole households, as people read them
    assert row["coverage_15min"] == pytest.approx(figures["coverage_15min"])
    com = gpd.read_file(out / "batch.gpkg", layer="communities")
    alone = gpd.read_file(tmp_path / "cov" / "coverage.gpkg", layer="communities")
    mine = com[com["area_id"] == "a1"].sort_values("community_code")
    assert list(mine["community_code"]) == sorted(alone["community_code"])
    assert mine["households"].sum() == pytest.approx(alone["households"].sum())


def test_combined_outputs(first):
    res, out = first
    layers = set(pyogrio.list_layers(out / "batch.gpkg")[:, 0])
    assert {"areas", "streets", "communities"} <= layers
    areas = gpd.read_file(out / "batch.gpkg", layer="areas")
    assert sorted(areas["id"]) == ["a0", "a1", "a2"] and areas.crs.to_epsg() == 4326
    com = gpd.read_file(out / "batch.gpkg", layer="communities")
    assert len(com) == 2 + 3 + 2
    book = pd.read_excel(out / "batch.xlsx", sheet_name=None)
    assert list(book) == ["汇总", "研究区", "街道", "社区"]
    assert len(book["汇总"]) == 4 and "15分钟覆盖率" in book["汇总"].columns
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "batch"
    assert set(manifest["outputs"]) == set(batch.COMBINED)
    page = (out / "batch_overview.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page and "示范区1=1+1" in page


def test_second_run_skips_finished_areas(first, inputs, capsys):
    _, out = first
    before = {a: (out / a / "run.json").read_bytes() for a in ("a0", "a1", "a2")}
    code = main(["batch", str(inputs / "areas.csv"), "--out", str(out), "--no-maps"])
    printed = capsys.readouterr().out
    assert code == 1  # the broken area was tried again and failed again
    # in Chinese by default (was "0 done, 3 skipped ... 1 failed ... failed bad:")
    assert "完成 0 个，跳过 3 个" in printed and "失败 1 个" in printed and "失败 bad：" in printed
    assert {a: (out / a / "run.json").read_bytes() for a in before} == before
    s = pd.read_csv(out / "batch_summary.csv", encoding="utf-8-sig").set_index("id")
    assert list(s.loc[["a0", "a1", "a2"], "status"]) == ["skipped"] * 3
    assert s.loc["bad", "status"] == "failed"


def test_batch_json_prints_one_document(first, inputs, capsys):
    _, out = first
    args = ["batch", str(inputs / "areas.csv"), "--out", str(out), "--no-maps", "--json"]
    code = main(args)
    doc = json.loads(capsys.readouterr().out)  # stdout is one JSON document, no text lines
    assert code == 1
    assert (doc["areas"], doc["done"], doc["skipped"], doc["failed"]) == (4, 0, 3, 1)
    assert doc["summary"] == str(out / "batch_summary.csv")
    rows = {r["id"]: r for r in doc["rows"]}
    assert rows["a0"]["status"] == "skipped" and rows["bad"]["status"] == "failed"
    assert "broken.gpkg" in rows["bad"]["error"] and rows["bad"]["rank"] is None


def test_changed_parameters_are_not_skipped(first, inputs):
    _, out = first
    spec = batch.read_area_manifest(inputs / "areas.csv")[0]
    assert batch.is_finished(spec, out, maps=False, lang="zh")
    assert not batch.is_finished(spec, out, maps=True, lang="zh")
    faster = batch.AreaSpec(**{**spec.__dict__, "speed": 5.0})
    assert not batch.is_finished(faster, out, maps=False, lang="zh")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("../up,x,a0/ways.gpkg,a0/buildings.gpkg,,,,", "not a safe folder name"),
        ("a b,x,a0/ways.gpkg,a0/buildings.gpkg,,,,", "not a safe folder name"),
        ("ok,x,a0/nope.gpkg,a0/buildings.gpkg,,,,", "line 2 (id ok): network file"),
        ("ok,x,a0/ways.gpkg,,,,,", "demand cell is empty"),
        ("ok,x,a0/ways.gpkg,a0/buildings.gpkg,,,,three", "k 'three' is not a whole number"),
        ("split,x,a0/ways.gpkg,a0/buildings.gpkg,,,,", "not a safe folder name"),
    ],
)
def test_manifest_errors_name_the_row_and_the_fix(inputs, tmp_path, row, message):
    p = inputs / f"m{abs(hash(row))}.csv"
    p.write_text(HEADER + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        batch.read_area_manifest(p)
    assert "\n" not in str(e.value)


def test_manifest_implausible_speed_names_the_row(inputs):
    p = inputs / "speed.csv"
    p.write_text(
        "id,name,network,demand,facilities,communities,speed\n"
        "fast,x,a0/ways.gpkg,a0/buildings.gpkg,,,40\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"line 2 \(id fast\): .*speed"):
        batch.read_area_manifest(p)


def test_manifest_repeated_id_and_missing_column(inputs):
    p = inputs / "twice.csv"
    row = "a,x,a0/ways.gpkg,a0/buildings.gpkg,,,,"
    p.write_text("\n".join([HEADER, row, row.replace("a,", "A,", 1)]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 3.*repeats line 2"):
        batch.read_area_manifest(p)
    p.write_text("id,name,network\nx,y,z\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks column"):
        batch.read_area_manifest(p)


def test_cli_bad_command_line_is_exit_2(capsys, tmp_path):
    assert main(["batch", "--out", str(tmp_path / "o")]) == 2
    assert "pass either a manifest" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")]) == 2


def test_area_that_kills_its_worker_is_marked_failed():
    """A task that kills its worker process is retried on another worker, then given up."""
    spec = batch.AreaSpec(id="crash", name="crash", network="", demand="")
    # two workers: the retry runs on the other one, not on a worker still restarting
    with batch._client(
        None, n_workers=2, memory_limit="1GiB", threads_per_worker=1, allowed_failures=1
    ) as client:
        fut = client.submit(os._exit, 3, key="geogrid-test-crash", pure=False)
        row = batch._row_of(fut, spec)
    assert row["status"] == "failed" and "killed its worker" in row["error"]


def test_overview_links_only_to_area_maps(tmp_path):
    from shapely.geometry import box

    areas = gpd.GeoDataFrame(
        {
            "id": ["a1", "x2"],
            "name": ["</script><b>一区</b>", "二区"],
            "coverage_15min": [0.9, 0.3],
            "households": [100.0, 200.0],
        },
        geometry=[box(116.0, 39.0, 116.01, 39.01), box(116.01, 39.0, 116.02, 39.01)],
        crs="EPSG:4326",
    )
    path = tmp_path / "overview.html"
    batch._overview_map(areas, path, lang="zh", title=None)
    page = path.read_text(encoding="utf-8")
    assert "a1/maps/area_offline.html" in page and "x2/maps/area_offline.html" in page
    assert "</script><b>" not in page  # the name is data in the JSON blob, escaped
    from geogrid.outputs.webmap import build_map

    bad = areas.assign(link=["javascript:alert(1)//.html", "../../etc/x.html"])
    m = build_map({"communities": bad}, tiles="none", links="link")
    html = m.get_root().render()
    assert "javascript:alert" not in html and "etc/x.html" not in html


def test_region_split_of_a_synthetic_district(tmp_path):
    files = write_district(tmp_path / "in", 4, seed=1, communities_per_street=2)
    streets = gpd.read_file(files["streets"])
    assert len(streets) == 2
    manifest = batch.split_region(
        files["ways"],
        files["streets"],
        tmp_path / "out",
        buffer_m=1000,
        demand=files["buildings"],
        facilities=files["facilities"],
        residential=files["compounds"],
        communities=files["communities"],
        id_column="street_code",
        name_column="street_name",
        k=1,
    )
    specs = batch.read_area_manifest(manifest)
    assert [s.id for s in specs] == sorted(streets["street_code"].astype(str))
    buildings = gpd.read_file(files["buildings"])
    own = [gpd.read_file(s.demand) for s in specs]
    assert sum(len(b) for b in own) == len(buildings)  # every building in exactly one area
    across = 0
    for spec in specs:
        fac = gpd.read_file(spec.facilities).to_crs(streets.crs)
        boundary = gpd.read_file(spec.boundary).to_crs(streets.crs).geometry.iloc[0]
        across += int((~fac.within(boundary)).sum())
    assert across > 0  # facilities across the border are kept in the buffer
    res = batch.run_many(manifest, tmp_path / "out", n_workers=2, memory_limit="1GiB", maps=False)
    s = res.summary.set_index("id")
    assert res.failed == 0, s["error"].tolist()
    assert (s["served_across_border_hh"] >= 0).all() and (s["served_across_border_hh"] > 0).any()
    assert (s["served_across_border_hh"] <= s["households"] - s["uncovered_hh_15min"] + 0.2).all()
    total = sum(
        gpd.read_file(s2.demand).pipe(len) for s2 in specs
    )  # the areas count only their own residents
    assert total == len(buildings)


def test_region_split_of_a_real_osm_extract(tmp_path):
    from shapely.geometry import box

    osm = real_path("nanjing_xuanwu.osm")
    boxes = gpd.GeoDataFrame(
        {"code": ["west", "east"], "name": ["西片", "东片"]},
        geometry=[box(118.763, 32.035, 118.7795, 32.052), box(118.7795, 32.035, 118.796, 32.052)],
        crs="EPSG:4326",
    )
    write_layers(tmp_path / "boxes.gpkg", {"boxes": boxes})
    manifest = batch.split_region(osm, tmp_path / "boxes.gpkg", tmp_path / "out", id_column="code")
    specs = {s.id: s for s in batch.read_area_manifest(manifest)}
    assert set(specs) == {"west", "east"} and specs["west"].name == "西片"
    from geogrid.io.osm import read_osm

    total = len(read_osm(osm).buildings)
    own = {k: len(gpd.read_file(s.demand)) for k, s in specs.items()}
    assert 0 < own["west"] < total and 0 < own["east"] < total
    assert own["west"] + own["east"] <= total  # a building is counted in one area at most
    ways = {k: len(gpd.read_file(s.network)) for k, s in specs.items()}
    west_only = gpd.read_file(specs["west"].network).to_crs(4326)
    # the 2 km buffer reaches into the other box: streets east of the border are kept
    assert (west_only.geometry.bounds["maxx"] > 118.7795).any() and min(ways.values()) > 10


OPEN_AREA_POPUP = """
(function () {
  var key = Object.keys(window).find(function (n) { return n.indexOf('map_') === 0; });
  var out = [];
  window[key].eachLayer(function (l) {
    if (l.feature && l.getPopup && l.getPopup()) {
      l.openPopup();
      var a = document.querySelector('.leaflet-popup-content a');
      var b = document.querySelector('.leaflet-popup-content b');
      out.push([a ? a.getAttribute('href') : null, a ? a.textContent : null, b !== null]);
    }
  });
  return out;
})()
"""


@pytest.mark.browser
def test_overview_map_opens_in_chromium_with_links(tmp_path):
    from _chromium import check_page, find_chromium
    from shapely.geometry import box

    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("chromium not installed (CI=true)")
        pytest.skip("chromium not installed")
    areas = gpd.GeoDataFrame(
        {"id": ["a1"], "name": ["<b>一区</b>"], "coverage_15min": [0.9], "households": [10.0]},
        geometry=[box(116.0, 39.0, 116.01, 39.01)],
        crs="EPSG:4326",
    )
    path = tmp_path / "overview.html"
    batch._overview_map(areas, path, lang="zh", title="<i>x</i>")
    check = check_page(path, chromium=chromium, expressions={"popups": OPEN_AREA_POPUP})
    assert check.errors == [] and check.dialogs == []
    assert check.values["popups"] == [["a1/maps/area_offline.html", "打开该地区地图", False]]


@pytest.mark.browser
def test_overview_map_shows_hostile_area_names_literally(tmp_path):
    """Area names and the title from a manifest are data in the overview map, never code."""
    from _chromium import check_page
    from shapely.geometry import box
    from test_hostile_text import PAGE_TEXTS, chromium_or_skip

    chromium = chromium_or_skip()
    pwned = tmp_path / "pwned"
    evil = "{{ 7*7 }}</script><img src=x onerror=alert(1)>"
    areas = gpd.GeoDataFrame(
        {
            "id": ["a1", "a2"],
            "name": [evil, "{{ lipsum.__globals__.os.makedirs('" + str(pwned) + "') }}"],
            "community_code": ["a1", "a2"],
            "coverage_15min": [0.5, 0.9],
        },
        geometry=[box(110.0, 40.0, 110.01, 40.01), box(110.01, 40.0, 110.02, 40.01)],
        crs="EPSG:4326",
    )
    page = tmp_path / "batch_overview.html"
    batch._overview_map(areas, page, lang="zh", title=evil, links=True)
    html = page.read_text(encoding="utf-8")
    assert "</script><img" not in html
    check = check_page(page, chromium=chromium, expressions={"page": PAGE_TEXTS})
    assert check.errors == [] and check.dialogs == []
    seen = check.values["page"]
    assert seen["imgs"] == 0 and seen["title"] == evil
    assert evil in "\n".join(seen["pops"] + seen["tips"])
    assert not pwned.exists()
