"""Reasons per failing community and gap, loads within reach, whole households (issue 11)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import real_path
from shapely.geometry import LineString, Point

from geogrid.analyses.coverage.engine import (
    compute_coverage,
    coverage_result,
    facility_load,
    run_coverage,
)
from geogrid.analyses.coverage.reasons import REASON_COLUMNS, unit_causes
from geogrid.analyses.siting.matrix import coverage_pairs
from geogrid.network.build import network_from_ways

CRS = "EPSG:4546"
A, B = "150203001001", "150203001002"


def _ways(lines, access=None):
    return gpd.GeoDataFrame(
        {"highway": ["residential"] * len(lines), "access": access or [None] * len(lines)},
        geometry=[LineString(c) for c in lines],
        crs=CRS,
    )


def _fac(rows):
    return gpd.GeoDataFrame(
        {
            "name": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "area_m2": [600] * len(rows),
        },
        geometry=[Point(r[2]) for r in rows],
        crs=CRS,
    )


def _dem(rows):
    return gpd.GeoDataFrame(
        {"households": [r[0] for r in rows], "community_code": [r[1] for r in rows]},
        geometry=[Point(r[2]) for r in rows],
        crs=CRS,
    )


def _comms(boxes):
    return gpd.GeoDataFrame(
        {"community_code": list(boxes), "name": [f"社区{c[-1]}" for c in boxes]},
        geometry=[shapely.box(*b) for b in boxes.values()],
        crs=CRS,
    )


def _row(res, code):
    c = res.communities
    return c[c["community_code"] == code].iloc[0]


def test_no_facility_and_too_far_names_the_nearest_facility():
    # one street 0-4000 m; the only centre at its west end, in community A
    net = network_from_ways(_ways([[(0, 0), (4000, 0)]]))
    fac = _fac([("锦绣路社区党群服务中心", "centre_community", (0, 10))])
    dem = _dem([(10, A, (300, 10)), (40, B, (3000, 10))])
    comms = _comms({A: (-100, -100, 1500, 100), B: (1500, -100, 4100, 100)})
    res = run_coverage(net, dem, fac, communities=comms)
    a, b = _row(res, A), _row(res, B)
    assert a["reason_zh"] == "" and bool(a["meets_target"])
    assert b["reason_code"] == "no_facility,too_far" and not bool(b["meets_target"])
    # 10 + 3000 + 10 m = 3.02 km, 45 minutes at 4 km/h; values inserted, names kept
    assert b["reason_zh"] == (
        "本社区无党群服务设施；最近设施 锦绣路社区党群服务中心 步行 3.0 公里（45 分钟）；"
        "有 40 户在 15 分钟外"
    )
    assert "nearest facility 锦绣路社区党群服务中心 is 3.0 km on foot (45 min)" in b["reason_en"]
    assert "40 households beyond 15 min" in b["reason_en"]
    assert b["fix_zh"].startswith("在本社区新设党群服务站") and "proposed sites" in b["fix_en"]
    g = res.gaps
    assert len(g) == 1 and g.loc[0, "nearest_name"] == "锦绣路社区党群服务中心"
    assert g.loc[0, "community_codes"] == B and g.loc[0, "community_names"] == "社区2"
    assert g.loc[0, "reason_zh"].startswith(
        "本片区 40 户在 15 分钟外；最近设施 锦绣路社区党群服务中心"
    )
    assert "超出目标 2,020 米" in g.loc[0, "reason_zh"] and g.loc[0, "reason_code"] == "too_far"


def test_gaps_of_a_partial_table_keep_the_reason_columns_empty():
    from geogrid.analyses.coverage.engine import gaps

    net = network_from_ways(_ways([[(0, 0), (4000, 0)]]))
    fac = _fac([("甲中心", "centre_community", (0, 10))])
    cov = compute_coverage(net, _dem([(10, A, (300, 10)), (40, B, (3000, 10))]), fac)
    g = gaps(cov, table=cov.table().iloc[1:])
    assert len(g) == 1 and (g[list(REASON_COLUMNS)] == "").all().all()
    assert gaps(cov).loc[0, "reason_code"] == "too_far"


def test_partly_covered_community_counts_households_beyond():
    net = network_from_ways(_ways([[(0, 0), (4000, 0)]]))
    fac = _fac([("甲中心", "centre_community", (0, 10))])
    dem = _dem([(10, A, (300, 10)), (20, A, (1400, 10)), (5, A, (1600, 10))])
    comms = _comms({A: (-100, -100, 4100, 100)})
    res = run_coverage(net, dem, fac, communities=comms)
    a = _row(res, A)
    assert a["reason_code"] == "partial,too_far"
    assert a["reason_zh"].startswith("本社区部分覆盖：10 户在 15 分钟内；最近设施 甲中心")
    assert a["reason_zh"].endswith("有 25 户在 15 分钟外")
    assert "partly covered: 10 households within 15 min" in a["reason_en"]
    assert "在未覆盖片区新设党群服务站" in a["fix_zh"]


def test_barrier_straight_line_short_walk_long():
    # a river between two streets joined only at x=0: the centre is 320 m across, 3,920 m on foot
    net = network_from_ways(
        _ways([[(0, 0), (2000, 0)], [(0, 300), (2000, 300)], [(0, 0), (0, 300)]])
    )
    fac = _fac([("河北中心", "centre_community", (1800, 310))])
    dem = _dem([(30, A, (1800, -10))])
    res = run_coverage(net, dem, fac, communities=_comms({A: (-100, -100, 2100, 400)}))
    a = _row(res, A)
    assert res.demand.loc[0, "dist_m"] == pytest.approx(3920.0)
    assert a["reason_code"] == "barrier"
    assert "其中 30 户距 河北中心 直线仅 320 米，步行却需 3,920 米" in a["reason_zh"]
    assert "320 m from 河北中心 in a straight line but 3,920 m on foot" in a["reason_en"]
    assert a["fix_zh"].startswith("打通步行通道") and "crossing" in a["fix_en"]


def _gated_block(private="residents"):
    """A 600 x 600 m ring of streets; inside, a gated compound entered only at (0, 300).

    Its private path runs from that west gate 500 m east to a dead end at (500, 300).
    """
    ways = _ways(
        [
            [(0, 0), (600, 0)],
            [(600, 0), (600, 300), (600, 600)],
            [(600, 600), (0, 600)],
            [(0, 600), (0, 300), (0, 0)],
            [(0, 300), (500, 300)],
        ],
        access=[None] * 4 + ["private"],
    )
    compound = gpd.GeoDataFrame(geometry=[shapely.box(50, 50, 550, 550)], crs=CRS)
    return network_from_ways(ways, residential=compound, private=private)


def test_gated_compound_reaches_outsiders_only_through_its_gate():
    net = _gated_block()
    fac = _fac([("幸福里党群服务站", "centre_community", (500, 310))])
    # an outsider on the east street 110 m away; a resident on the private path
    dem = _dem([(12, A, (610, 300)), (8, A, (100, 310))])
    res = run_coverage(net, dem, fac, communities=_comms({A: (-100, -100, 700, 700)}))
    # 10 + 300 + 600 + 300 + 500 + 10: round the block to the only gate
    assert res.demand.loc[0, "dist_m"] == pytest.approx(1720.0)
    a = _row(res, A)
    assert a["reason_code"] == "partial,gated"
    assert (
        "其中 12 户附近的 幸福里党群服务站 位于封闭小区内，外部居民只能经小区大门进出"
        "（直线 110 米，步行 1,720 米）"
    ) in a["reason_zh"]
    assert "inside a gated compound" in a["reason_en"] and "开设对外出入口" in a["fix_zh"]
    # an open compound (everybody may walk it): the same detour is the paths' layout
    cov = compute_coverage(_gated_block("all"), dem, fac)
    assert unit_causes(cov, cov.table())["cause"].tolist() == ["barrier", ""]


def test_hostile_names_are_data_not_template():
    net = network_from_ways(_ways([[(0, 0), (4000, 0)]]))
    name = "{n} {0} {name!r} %s <b>"
    fac = _fac([(name, "centre_community", (0, 10))])
    dem = _dem([(40, B, (3000, 10))])
    res = run_coverage(net, dem, fac, communities=_comms({B: (-100, -100, 4100, 100)}))
    assert f"最近设施 {name} 步行 3.0 公里" in _row(res, B)["reason_zh"]


@pytest.fixture(scope="module")
def demo():
    from geogrid.demo import make_district

    d = make_district(n_communities=10, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    cov = compute_coverage(net, d.buildings, d.facilities)
    return d, cov, coverage_result(cov, communities=d.communities)


def test_demo_every_failing_community_has_a_reason_naming_the_nearest(demo):
    d, cov, res = demo
    c = res.communities
    failing = c[c["uncovered_hh_15min"] > 0]
    assert len(failing) >= 2 and set(d.underserved_codes) <= set(failing["community_code"])
    names = set(cov.facilities["name"])
    for _, r in failing.iterrows():
        assert r["reason_zh"] and r["reason_en"] and r["fix_zh"] and r["fix_en"]
        near = r["reason_zh"].split("最近设施 ")[1].split(" 步行")[0]
        assert near in names
        assert f"有 {int(r['uncovered_hh_15min']):,} 户在 15 分钟外" in r["reason_zh"]
    ok = c[c["uncovered_hh_15min"] == 0]
    assert (ok[list(REASON_COLUMNS)] == "").all().all() and ok["meets_target"].all()
    for _, g in res.gaps.iterrows():
        assert g["reason_zh"].startswith(f"本片区 {int(g['households']):,} 户")
        assert g["nearest_name"] in g["reason_zh"]


def test_demo_loads_within_reach_and_totals_reconcile(demo):
    _, cov, res = demo
    fac, tbl = res.facilities, res.demand
    hh = tbl["households"].to_numpy(dtype=float)
    # each facility's load <= the households within its own type's target of it
    for j, row in fac.iterrows():
        pairs = coverage_pairs(cov.net, cov.fac_snap.take([j]), cov.unit_snap, row["reach_m"])
        within = hh[pairs.tocoo().col].sum()
        assert row["served_households"] <= within + 1e-9
    # served within reach + beyond reach = every household; loads are whole numbers
    assert fac["served_households"].sum() + fac["beyond_reach_households"].sum() == hh.sum()
    for col in ("served_households", "beyond_reach_households", "served_population"):
        assert fac[col].dtype.kind == "i"
    served = tbl.groupby("served_by")["households"].sum()
    assert (fac.set_index("facility_id")["served_households"].reindex(served.index) == served).all()
    # a household a station (10 min) misses but a centre (15 min) reaches is the centre's
    far = tbl["served_by"].notna() & (tbl["served_by"] != tbl["nearest_id"])
    assert far.any() and (tbl.loc[far, "dist_m"] < 1000.0).all()


def test_demo_households_whole_and_totals_add_up(demo):
    _, _, res = demo
    c, g = res.communities, res.gaps
    total = int(res.demand["households"].sum())
    summ = dict(zip(res.summary["metric"], res.summary["value"], strict=True))
    assert isinstance(summ["households"], int) and summ["households"] == total
    assert isinstance(summ["covered_hh_15min"], int)
    for col in ("households", "population", "covered_hh_15min", "uncovered_hh_15min"):
        assert c[col].dtype.kind == "i", col
    assert (c["covered_hh_15min"] + c["uncovered_hh_15min"] == c["households"]).all()
    assert c["households"].sum() == total
    assert c["uncovered_hh_15min"].sum() == total - summ["covered_hh_15min"]
    assert g["households"].dtype.kind == "i"
    assert g["households"].sum() == summ["gap_households"] <= c["uncovered_hh_15min"].sum()


def test_real_nanjing_no_facility_serves_households_beyond_its_target():
    from geogrid.study.area import load_study

    osm = real_path("nanjing_xuanwu.osm")
    study = load_study(network=osm, demand=osm)
    net = study.network
    x0, y0, x1, y1 = net.nodes.total_bounds
    xs = np.linspace(x0, x1, 7)[1:-1]
    ys = np.linspace(y0, y1, 7)[1:-1]
    fac = gpd.GeoDataFrame(
        {
            "name": [f"设施{i}" for i in range(5)],
            "type": ["station", "centre_community", "station", "centre_street", "station"],
            "area_m2": [80, 600, 120, 1500, 60],
        },
        geometry=[Point(x, y) for x, y in zip(xs, ys, strict=True)],
        crs=net.crs,
    )
    cov = compute_coverage(net, study.demand, fac)
    tbl = cov.table()
    load = facility_load(cov, table=tbl)
    from geogrid.analyses.coverage.engine import served_by

    by = served_by(cov, table=tbl)
    hh = tbl["households"].to_numpy(dtype=float)
    for j, row in load.iterrows():
        pairs = coverage_pairs(net, cov.fac_snap.take([j]), cov.unit_snap, row["reach_m"]).tocoo()
        reach = np.zeros(len(tbl), dtype=bool)
        reach[pairs.col] = True
        mine = by == row["facility_id"]
        assert reach[mine].all(), row["facility_id"]  # served only within its own target
        assert row["served_households"] == hh[mine].sum()
    assert (load["served_households"] + load["beyond_reach_households"]).sum() == pytest.approx(
        hh[np.isfinite(tbl["dist_m"].to_numpy())].sum()
    )
    assert load["beyond_reach_households"].sum() > 0  # a real district has households far away
    assert pd.api.types.is_integer_dtype(load["served_households"])


def test_demo_sites_explain_their_figures_in_whole_households(demo):
    from geogrid.analyses.siting.model import run_siting

    d, cov, _ = demo
    res = run_siting(
        cov.net, cov.demand, d.facilities, k=2, communities=d.communities, solver="greedy"
    )
    s = res.sites
    assert len(s) >= 1
    for col in ("gain_households", "served_households", "reach_households", "only_households"):
        assert s[col].dtype.kind == "i", col
    for _, r in s.iterrows():
        assert f"新增覆盖 {r['gain_households']:,} 户" in r["reason_zh"]
        assert (
            f"建成后就近服务 {r['served_households']:,} 户（15 分钟内且以本站为最近设施）"
            in r["reason_zh"]
        )
        assert f"{r['reach_households']:,} households within 15 min in all" in r["reason_en"]
        assert r["served_households"] <= r["reach_households"]
    curve = res.curve
    assert curve["households_covered"].dtype.kind == "i"
    assert (
        s["gain_households"].sum()
        == curve["households_covered"].iloc[-1] - curve["households_covered"].iloc[0]
    )
    c = res.communities
    assert (c["covered_hh_before"] + c["gain_households"] == c["covered_hh_after"]).all()
    assert res.allocation["households"].dtype.kind == "i"
    names = dict(zip(d.communities["community_code"], d.communities["name"], strict=True))
    assert s["community_name"].tolist() == [names[c] for c in s["community_code"]]


def test_grid_vulnerable_households_whole_per_community():
    from geogrid.analyses.grids.partition import workload

    t = pd.DataFrame({"community_code": ["a", "a", "a", "b"], "households": [333, 333, 334, 5]})
    w = workload(t)
    assert w["vulnerable_households"].tolist() == [33, 33, 34, 1]  # 100 in a; 0.5 half up in b
    assert w["vulnerable_households"].dtype.kind == "i"


def test_site_and_grids_commands_print_no_highs_banner(tmp_path):
    """HiGHS writes a banner from its constructor; no siting or grids run may show it."""
    import subprocess
    import sys

    from geogrid.demo import make_district

    d = make_district(n_communities=3, seed=1)
    for name in ("ways", "compounds", "buildings", "facilities", "communities"):
        getattr(d, name).to_file(tmp_path / f"{name}.gpkg", layer=name)
    common = ["--demand", "buildings.gpkg"]
    site = ["--network", "ways.gpkg", "--residential", "compounds.gpkg", *common]
    site += ["--facilities", "facilities.gpkg", "--k", "2", "--solver", "exact"]
    runs = [
        ["site", *site, "--out", "s1"],
        ["site", *site, "--problem", "pmedian", "--out", "s2"],
        ["grids", "--communities", "communities.gpkg", *common, "--out", "g"],
    ]
    for args in runs:
        proc = subprocess.run(
            [sys.executable, "-m", "geogrid", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "HiGHS" not in proc.stdout and "Running HiGHS" not in proc.stderr, args
