"""Named what-if scenarios: edits match a full recompute, keep ids, undo, replay and compare."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geogrid.analyses.coverage.engine import compute_coverage
from geogrid.demo import make_district
from geogrid.errors import InputError
from geogrid.network.build import network_from_ways
from geogrid.scenarios import Scenario, compare


@pytest.fixture(scope="module")
def demo():
    d = make_district(n_communities=6, seed=2)
    net = network_from_ways(d.ways, residential=d.compounds)
    cov = compute_coverage(net, d.buildings, d.facilities)
    return d, net, cov


@pytest.fixture()
def base(demo):
    d, _, cov = demo
    return Scenario(cov, name="基准", communities=d.communities)


def _lonlat_of(cov, i):
    p = gpd.GeoSeries([cov.unit_snap.points()[i]], crs=cov.net.crs).to_crs(4326).iloc[0]
    return (p.x, p.y)


def test_edits_match_a_full_recompute_and_keep_ids(demo, base):
    d, net, cov = demo
    first = str(cov.facilities["facility_id"].iloc[0])
    where = _lonlat_of(cov, 40)
    s = (
        base.variant("B")
        .move_station(first, where)
        .close_station(str(cov.facilities["facility_id"].iloc[1]))
    )
    s.add_station(_lonlat_of(cov, 200), name="新站")
    assert first in set(s.loads()["facility_id"])
    fac = s.coverage.facilities
    active = fac[fac["active"]].drop(columns=["active", "facility_id"])
    ref = compute_coverage(net, d.buildings, gpd.GeoDataFrame(active, crs=net.crs))
    np.testing.assert_allclose(s.table()["dist_m"], ref.table()["dist_m"], atol=1e-6)
    mine = s.by_community().set_index("community_code")
    full = ref.aggregates().set_index("community_code")
    np.testing.assert_allclose(mine["covered_hh_15min"], full["covered_hh_15min"])
    # the base is untouched
    np.testing.assert_allclose(base.table()["dist_m"], cov.table()["dist_m"])


def test_undo_restores_and_json_replays(demo, base):
    _, _, cov = demo
    before = base.figures()
    s = base.variant("C").add_station(_lonlat_of(cov, 10)).set_speed(3.0)
    assert s.figures() != before
    s.undo(2)
    assert s.figures() == before and s.edits == []
    with pytest.raises(InputError, match="undo"):
        s.undo()
    s.add_station(_lonlat_of(cov, 10)).close_station(str(cov.facilities["facility_id"].iloc[2]))
    s.set_targets(["10min", "20min"])
    replay = base.variant("C2").apply(json.loads(s.to_json())["edits"])
    assert replay.figures() == pytest.approx(s.figures())
    assert "within_20min" in replay.table()


def test_compare_counts_gains_losses_and_says_so(demo, base):
    _, _, cov = demo
    slower = base.variant("慢行").set_speed(3.0)
    more = base.variant("加站").add_station(_lonlat_of(cov, 300))
    cmp = compare(base, slower, more)
    c = cmp.communities
    assert set(c["scenario"]) == {"基准", "慢行", "加站"}
    slow_rows = c[c["scenario"] == "慢行"]
    lost = slow_rows["lost_hh_15min"].sum()
    drop = base.figures()["covered_hh_15min"] - slower.figures()["covered_hh_15min"]
    assert lost == pytest.approx(drop, abs=len(slow_rows))  # per-community rounding
    assert slow_rows["gained_hh_15min"].sum() == 0
    v = dict(zip(cmp.verdicts.iloc[:, 0], cmp.verdicts.iloc[:, 1], strict=True))
    assert "15分钟覆盖率" in v["慢行"] and "失去" in v["慢行"]
    assert set(cmp.streets["scenario"]) == {"基准", "慢行", "加站"}
    en = compare(base, slower, lang="en").verdicts.iloc[0, 1]
    assert "households gained" in en
    with pytest.raises(InputError, match="names must differ"):
        compare(base, base.variant("基准"))


def test_new_compound_adds_demand(demo, base):
    _, _, cov = demo
    lon, lat = _lonlat_of(cov, 5)
    s = base.variant("新小区").add_compound(Point(lon, lat).buffer(0.001), 500, name="新小区")
    f0, f1 = base.figures(), s.figures()
    assert f1["households"] == pytest.approx(f0["households"] + 500)
    assert f1["covered_hh_15min"] >= f0["covered_hh_15min"]
    with pytest.raises(InputError, match="households"):
        s.add_compound(Point(lon, lat), -3)


def test_display_is_short_and_escaped(demo):
    d, _, cov = demo
    s = Scenario(cov, name="<script>alert(1)</script>{{7*7}}", communities=d.communities)
    html = s._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and len(html) < 2000
    assert "Scenario" in repr(s) and len(repr(s)) < 300


def test_bad_places_are_refused(base):
    with pytest.raises(InputError, match="lon, lat"):
        base.variant("x").add_station((500000.0, 4500000.0))
    with pytest.raises(InputError, match="no active facility"):
        base.variant("y").move_station("NOPE", (109.84, 40.65))


def test_curves_have_values_and_plot(demo, base):
    import matplotlib

    matplotlib.use("Agg")
    sc = base.speed_curve([3.0, 4.0, 5.0])
    share = sc.table["coverage_15min"].to_numpy()
    assert (share[1:] >= share[:-1]).all() and share[1] == pytest.approx(
        base.figures()["coverage_15min"]
    )
    wc = base.walk_time_curve()
    s = wc.table["share_within"].to_numpy()
    assert (s[1:] >= s[:-1]).all() and 0 <= s[0] <= s[-1] <= 1
    assert s[15] == pytest.approx(base.figures()["coverage_15min"], abs=1e-9)
    ax = sc.plot()
    assert ax.get_xlabel() in {"步行速度（公里/小时）", "walking speed (km/h)"}
    assert "<table" in wc._repr_html_()


@pytest.mark.browser
def test_inline_maps_draw_offline_side_by_side(demo, base, tmp_path):
    from _chromium import check_page, find_chromium

    _, _, cov = demo
    hostile = "{{ 7*7 }}</script><img src=x onerror=alert(1)>"
    more = base.variant("加站 <b>&" + hostile).add_station(_lonlat_of(cov, 300), name=hostile)
    view = compare(base, more).explore(height=300, tiles="none")
    html = view._repr_html_()
    assert html.count("<iframe srcdoc=") == 2 and "cdn.jsdelivr" not in html
    assert "加站 &lt;b&gt;&amp;" in html
    assert "<img src=x" not in html and "</script><img" not in html
    page = view.save(tmp_path / "cmp.html")
    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    count = (
        "Array.from(document.querySelectorAll('iframe')).map("
        "f => f.contentDocument.querySelectorAll('.leaflet-interactive').length)"
    )
    caption = "document.querySelectorAll('.geogrid-maps > div > div')[1].textContent"
    result = check_page(page, expressions={"drawn": count, "caption": caption}, settle_ms=1500)
    assert not result.errors and not result.dialogs, result.errors
    assert len(result.values["drawn"]) == 2 and min(result.values["drawn"]) > 10
    assert result.values["caption"] == "加站 <b>&" + hostile  # shown as text, run as nothing


def test_write_and_read_back(demo, base, tmp_path):
    _, _, cov = demo
    s = base.variant("写出").add_station(_lonlat_of(cov, 77), name="新站").set_speed(4.0)
    folder = s.write(tmp_path / "s")
    names = {p.name for p in folder.iterdir()}
    assert {"coverage.gpkg", "summary.csv", "scenario.json", "run.json"} <= names
    back = Scenario.read(folder, base=base)
    assert back.name == "写出" and back.figures() == pytest.approx(s.figures())
    layers = gpd.list_layers(folder / "coverage.gpkg")["name"].tolist()
    assert {"demand", "facilities", "communities"} <= set(layers)
    with pytest.raises(InputError, match="scenario.json"):
        Scenario.read(tmp_path, base=base)


def test_regrid_one_community_with_a_tighter_band(demo, base):
    d, _, _ = demo
    code = str(d.communities["community_code"].iloc[0])
    s = base.variant("收紧").regrid(
        code, min_households=250, target_households=320, max_households=400
    )
    grids = s.grids[code]
    assert len(grids) >= 1 and set(grids["community_code"].astype(str)) == {code}
    hh = base.by_community().set_index("community_code").loc[code, "households"]
    assert grids["households"].sum() == pytest.approx(hh, abs=1.0)
    assert "grids" in s.layers() and s.edits[-1].text() == f"重划网格 {code}"
    s.undo()
    assert s.grids == {}
    with pytest.raises(InputError, match="no community"):
        s.regrid("999")


def _same_state(s, ref_table, ref_agg, ref_fac):
    got = s.table()
    assert list(got.columns) == list(ref_table.columns)
    for col in ("dist_m", "second_dist_m", "dist_m_station"):
        np.testing.assert_allclose(got[col], ref_table[col], atol=1e-6, err_msg=col)
    assert list(got["nearest_id"]) == list(ref_table["nearest_id"])
    agg = s.by_community()
    np.testing.assert_allclose(agg["covered_hh_15min"], ref_agg["covered_hh_15min"])
    np.testing.assert_allclose(agg["mean_walk_min"], ref_agg["mean_walk_min"])
    fac = s.coverage.facilities
    assert list(fac.columns) == list(ref_fac.columns)
    assert list(fac["facility_id"]) == list(ref_fac["facility_id"])
    assert list(fac["active"]) == list(ref_fac["active"])
    assert list(fac["type"]) == list(ref_fac["type"]) and list(fac["name"]) == list(ref_fac["name"])
    assert fac.geometry.geom_equals(ref_fac.geometry).all()
    assert dict(fac.dtypes) == dict(ref_fac.dtypes)


def test_each_station_edit_is_undone_by_its_inverse_edit(demo, base):
    """Station edits run in place and undo runs the inverse edit: each undo restores the
    table, the community figures and the facility table of the state before the edit."""
    _, _, cov = demo
    s = base.variant("撤销")
    ids = [str(x) for x in cov.facilities["facility_id"]]
    steps = [
        lambda s: s.add_station(_lonlat_of(cov, 25), name="新站", capacity=500),
        lambda s: s.move_station(ids[0], _lonlat_of(cov, 120)),
        lambda s: s.close_station(ids[1]),
        lambda s: s.reopen_station(ids[1]),
        lambda s: s.set_station(ids[2], type="centre_street", name="改名", capacity=900),
        lambda s: s.add_station(_lonlat_of(cov, 260), type="liaison_point"),
    ]
    states = []
    for step in steps:
        states.append((s.table(), s.by_community(), s.coverage.facilities.copy()))
        engine = s.coverage
        step(s)
        assert s.coverage is engine  # in place: no copy kept for undo
    for state in reversed(states):
        s.undo()
        _same_state(s, *state)
    assert s.edits == []
    # the state after undo edits on as a fresh one would
    s.add_station(_lonlat_of(cov, 25), name="新站")
    assert s.edits[-1].subject == f"N{len(cov.facilities) + 1:04d}"
