import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _nxref import compound_reference, nearest_reference, reference_graph
from conftest import real_path
from shapely.geometry import LineString, Point

from geogrid.analyses.coverage.engine import (
    aggregate,
    compute_coverage,
    facility_load,
    gaps,
    run_coverage,
    service_areas,
    two_step_fca,
)
from geogrid.errors import InputError
from geogrid.network.build import network_from_graphml, network_from_ways

CRS = "EPSG:4546"


def line_net(length=2000.0):
    """A straight street from x=0 to x=length with a node every 500 m, plus a side street."""
    ways = gpd.GeoDataFrame(
        {"highway": ["residential", "footway"]},
        geometry=[
            LineString([(x, 0) for x in np.arange(0, length + 1, 500)]),
            LineString([(1000, 0), (1000, 800)]),
        ],
        crs=CRS,
    )
    return network_from_ways(ways)


def test_hand_checked_distances_and_targets():
    net = line_net()
    fac = gpd.GeoDataFrame(
        {"name": ["A", "B"], "type": ["station", "centre_community"], "area_m2": [100, 600]},
        geometry=[Point(100, 10), Point(1000, 700)],
        crs=CRS,
    )
    dem = gpd.GeoDataFrame(
        {"households": [10, 20, 30, 40], "unit_id": ["a", "b", "c", "d"]},
        geometry=[Point(300, -20), Point(1900, 5), Point(1000, 650), Point(600, 0)],
        crs=CRS,
    )
    cov = compute_coverage(net, dem, fac)
    t = cov.table()
    # a: leg 20 + along 200 + facility leg 10 = 230 m to A
    assert t.loc[0, "dist_m"] == pytest.approx(230.0)
    assert t.loc[0, "nearest_id"] == "F0001"
    # b: to A: 5 + 1800 + 10 = 1815; to B: 5 + 900 + 700 = 1605
    assert t.loc[1, "dist_m"] == pytest.approx(1605.0)
    assert t.loc[1, "nearest_name"] == "B"
    assert t.loc[1, "second_dist_m"] == pytest.approx(1815.0)
    # c: on the side street 50 m from B
    assert t.loc[2, "dist_m"] == pytest.approx(50.0)
    assert t.loc[2, "second_id"] == "F0001"
    assert t.loc[2, "second_dist_m"] == pytest.approx(650 + 900 + 10)
    # walk minutes at 4 km/h and targets
    assert t.loc[0, "walk_min"] == pytest.approx(230 / (4000 / 60), abs=1e-3)
    assert list(t["within_5min"]) == [True, False, True, False]
    assert list(t["within_15min"]) == [True, False, True, True]
    assert list(t["within_1km"]) == list(t["within_15min"])
    # per-type columns and type targets (stations 10 min = 666.7 m, centres 15 min)
    assert t.loc[3, "dist_m_station"] == pytest.approx(510.0)
    assert bool(t.loc[3, "meets_station"]) is True
    assert t.loc[0, "dist_m_centre_community"] == pytest.approx(20 + 700 + 700)
    assert list(t["unit_id"]) == ["a", "b", "c", "d"]


def test_speed_changes_minutes_not_metres():
    net = line_net()
    fac = gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(0, 0)], crs=CRS)
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=[Point(900, 0)], crs=CRS)
    slow = compute_coverage(net, dem, fac, speed_kmh=3.0).table()
    fast = compute_coverage(net, dem, fac, speed_kmh=5.0).table()
    assert slow.loc[0, "dist_m"] == fast.loc[0, "dist_m"] == pytest.approx(900)
    assert not slow.loc[0, "within_15min"] and fast.loc[0, "within_15min"]
    assert slow.loc[0, "within_1km"] and fast.loc[0, "within_1km"]


def test_bad_inputs_have_one_line_errors():
    net = line_net()
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=[Point(900, 0)], crs=CRS)
    fac = gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(0, 0)], crs=CRS)
    with pytest.raises(InputError, match="speed"):
        compute_coverage(net, dem, fac, speed_kmh=0)
    with pytest.raises(InputError, match="empty"):
        compute_coverage(net, dem, fac.iloc[:0])
    bad = dem.assign(households=[-3])
    with pytest.raises(InputError, match="negative"):
        compute_coverage(net, bad, fac)
    nocrs = gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(0, 0)])
    with pytest.raises(InputError) as err:
        compute_coverage(net, dem, nocrs)
    assert "\n" not in str(err.value)


def test_unknown_type_kept_with_warning(caplog):
    net = line_net()
    fac = gpd.GeoDataFrame(
        {"type": ["bakery", "党群服务站"]}, geometry=[Point(0, 0), Point(2000, 0)], crs=CRS
    )
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=[Point(900, 0)], crs=CRS)
    cov = compute_coverage(net, dem, fac)
    assert list(cov.facilities["type"]) == ["facility", "station"]
    assert "unknown type" in caplog.text


def test_service_area_partial_edges_and_gaps():
    net = line_net()
    fac = gpd.GeoDataFrame({"type": ["station"], "area_m2": [100]}, geometry=[Point(0, 0)], crs=CRS)
    dem = gpd.GeoDataFrame(
        {"households": [50, 60]}, geometry=[Point(200, 0), Point(1800, 30)], crs=CRS
    )
    cov = compute_coverage(net, dem, fac)
    lines = service_areas(cov, lines=True)
    l5 = lines[(lines.facility_id == "all") & (lines.target == "5min")].geometry.iloc[0]
    assert l5.length == pytest.approx(1000 / 3, abs=1e-6)  # 333.3 m along the street, partial edge
    polys = service_areas(cov)
    p15 = polys[(polys.facility_id == "F0001") & (polys.target == "15min")].geometry.iloc[0]
    assert p15.contains(Point(500, 40)) and not p15.contains(Point(1500, 0))
    assert p15.area == pytest.approx(1000 * 100 + np.pi * 50**2, rel=0.01)  # two round caps
    g = gaps(cov)
    assert len(g) == 1 and g.loc[0, "households"] == pytest.approx(60)
    assert g.loc[0, "miss_m"] == pytest.approx(1800 + 30 - 1000)
    load = facility_load(cov)
    # a station reaches 10 minutes (667 m): the household 1,830 m away is beyond reach, not load
    assert load.loc[0, "served_households"] == 50 and load.loc[0, "beyond_reach_households"] == 60
    assert load.loc[0, "reach_target"] == "10min"
    assert bool(load.loc[0, "overloaded"]) is False  # 100 m2 for 50 households > 30 m2 / 100


def test_what_if_add_remove_move_match_full_recompute():
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    rng = np.random.default_rng(5)

    def pts(n):
        return gpd.points_from_xy(
            rng.uniform(114.0, 114.04, n), rng.uniform(22.52, 22.55, n), crs=4326
        )

    dem = gpd.GeoDataFrame({"households": rng.integers(10, 100, 300)}, geometry=pts(300), crs=4326)
    fac = gpd.GeoDataFrame(
        {"type": ["station"] * 6 + ["centre_community"] * 4}, geometry=pts(10), crs=4326
    )
    cov = compute_coverage(net, dem, fac)
    c2 = cov.copy()
    new = gpd.GeoDataFrame({"type": ["station"]}, geometry=pts(1), crs=4326).to_crs(net.crs)
    c2.add_facility(new)
    c2.remove_facility("F0002")
    c2.move_facility("F0007", cov.unit_snap.points()[3])
    active = c2.facilities[c2.facilities["active"]].drop(columns=["active", "facility_id"])
    ref = compute_coverage(net, dem, gpd.GeoDataFrame(active, crs=net.crs))
    a, b = c2.table(), ref.table()
    np.testing.assert_allclose(a["dist_m"], b["dist_m"], atol=1e-6)
    np.testing.assert_allclose(a["second_dist_m"], b["second_dist_m"], atol=1e-6)
    np.testing.assert_allclose(a["dist_m_station"], b["dist_m_station"], atol=1e-6)
    # the original is untouched
    np.testing.assert_allclose(
        cov.table()["dist_m"], compute_coverage(net, dem, fac).table()["dist_m"]
    )


def _futian_case(seed=5):
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    rng = np.random.default_rng(seed)

    def pts(n):
        return gpd.points_from_xy(
            rng.uniform(114.0, 114.04, n), rng.uniform(22.52, 22.55, n), crs=4326
        )

    dem = gpd.GeoDataFrame({"households": rng.integers(10, 100, 300)}, geometry=pts(300), crs=4326)
    fac = gpd.GeoDataFrame(
        {"type": ["station"] * 6 + ["centre_community"] * 4}, geometry=pts(10), crs=4326
    )
    return net, dem, fac, pts


def _same_fields(a, b):
    ta, tb = a.table(), b.table()
    for col in ("dist_m", "second_dist_m", "dist_m_station", "dist_m_centre_community"):
        np.testing.assert_allclose(ta[col], tb[col], atol=1e-6)
    assert list(ta["nearest_id"]) == list(tb["nearest_id"])


def test_move_keeps_the_id_and_reopen_restores_the_original():
    net, dem, fac, _ = _futian_case()
    cov = compute_coverage(net, dem, fac)
    c2 = cov.copy()
    target = cov.unit_snap.points()[3]
    assert c2.move_facility("F0007", target) == "F0007"
    assert list(c2.facilities["facility_id"]) == list(cov.facilities["facility_id"])
    moved = cov.facilities.copy()
    moved.loc[6, "geometry"] = target
    _same_fields(c2, compute_coverage(net, dem, moved.drop(columns=["active"])))
    c3 = cov.copy()
    c3.remove_facility("F0003")
    c3.reopen_facility("F0003")
    _same_fields(c3, cov)
    with pytest.raises(InputError, match="no closed facility"):
        c3.reopen_facility("F0003")


def test_type_change_and_added_units_match_full_recompute():
    net, dem, fac, pts = _futian_case()
    cov = compute_coverage(net, dem, fac)
    c2 = cov.copy()
    c2.set_facility("F0002", type="centre_community", capacity=900)
    changed = fac.copy()
    changed.loc[1, "type"] = "centre_community"
    _same_fields(c2, compute_coverage(net, dem, changed))
    assert (
        c2.facilities.loc[1, "capacity"] == 900 and c2.facilities.loc[1, "facility_id"] == "F0002"
    )
    extra = gpd.GeoDataFrame({"households": [120, 80]}, geometry=pts(2), crs=4326)
    c2.add_units(extra)
    full = compute_coverage(net, pd.concat([dem, extra], ignore_index=True), changed)
    _same_fields(c2, full)
    c4 = cov.with_targets(["10min", "20min"])
    tbl = c4.table()
    assert "within_20min" in tbl and "within_15min" not in tbl
    assert (tbl["within_20min"] == (tbl["walk_min"] <= 20 + 1e-9)).all()


@pytest.mark.parametrize("which", ["nanjing", "shenzhen"])
def test_real_networks_match_networkx(which):
    from geogrid.network.build import build_network

    if which == "nanjing":
        net = build_network(real_path("nanjing_xuanwu.osm"))
        box = (118.763, 32.035, 118.796, 32.052)
    else:
        net = network_from_graphml(real_path("shenzhen_futian.graphml"))
        box = (114.0, 22.52, 114.04, 22.55)
    rng = np.random.default_rng(11)

    def pts(n):
        return gpd.points_from_xy(
            rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n), crs=4326
        )

    dem = gpd.GeoDataFrame({"households": rng.integers(1, 100, 400)}, geometry=pts(400), crs=4326)
    fac = gpd.GeoDataFrame({"type": ["station"] * 8}, geometry=pts(8), crs=4326)
    cov = compute_coverage(net, dem, fac)
    tbl = cov.table()
    ref_d, ref_s = nearest_reference(net, cov.fac_snap, cov.unit_snap)
    assert np.max(np.abs(tbl["dist_m"].to_numpy() - ref_d)) < 0.01
    ids = cov.facilities["facility_id"].to_numpy()
    same = np.isclose(tbl["dist_m"].to_numpy(), ref_d, atol=0.01)
    assert (tbl["nearest_id"].to_numpy()[same] == ids[ref_s][same]).mean() > 0.99  # ties aside
    # second nearest against per-facility Dijkstra
    import networkx as nx

    g = reference_graph(net, {"f": cov.fac_snap, "d": cov.unit_snap})
    per = []
    for j in range(len(fac)):
        lengths = nx.single_source_dijkstra_path_length(g, ("f", j), weight="weight")
        per.append([lengths.get(("d", i), np.inf) for i in range(len(dem))])
    per = np.array(per)
    assert np.max(np.abs(np.sort(per, axis=0)[1] - tbl["second_dist_m"].to_numpy())) < 0.01
    # service areas: every covered unit's snap point lies on the reached network, no uncovered one
    lines = service_areas(cov, lines=True, per_facility=False)
    sp = cov.unit_snap.points()
    for tname in ("10min", "15min"):
        reach = lines[lines.target == tname].geometry.iloc[0]
        d = shapely.distance(sp, reach)
        lim = cov.max_dist_m(tname)
        covered = tbl[f"within_{tname}"].to_numpy()
        street_d = tbl["dist_m"].to_numpy() - cov.unit_snap.snap_m
        assert covered.any() and d[covered].max() < 1e-6
        beyond = ~covered & (street_d > lim + 1e-3)
        assert beyond.any() and d[beyond].min() > 1e-6
    polys = service_areas(cov, per_facility=False)
    poly15 = polys[polys.target == "15min"].geometry.iloc[0]
    assert shapely.contains(poly15, sp[tbl["within_15min"].to_numpy()]).all()


def test_run_coverage_aggregates_and_2sfca():
    net = line_net()
    fac = gpd.GeoDataFrame(
        {"type": ["station", "centre_community"], "area_m2": [100, 600]},
        geometry=[Point(0, 0), Point(2000, 0)],
        crs=CRS,
    )
    dem = gpd.GeoDataFrame(
        {
            "households": [100, 100, 100, 100],
            "community_code": ["150203001001"] * 2 + ["150203001002"] * 2,
        },
        geometry=[Point(100, 0), Point(900, 0), Point(1100, 0), Point(1950, 0)],
        crs=CRS,
    )
    res = run_coverage(net, dem, fac)
    comm = res.communities.set_index("community_code")
    assert comm.loc["150203001001", "coverage_15min"] == pytest.approx(1.0)
    assert comm.loc["150203001002", "coverage_15min"] == pytest.approx(1.0)
    assert comm.loc["150203001001", "coverage_5min"] == pytest.approx(0.5)
    assert res.streets.loc[0, "street_code"] == "150203001"
    assert res.streets.loc[0, "households"] == pytest.approx(400)
    # 2SFCA: station 100 m2 / (2 units x 262 persons) reaches units 0,1; centre 600 m2 / 524 reaches 2,3
    acc = res.demand["access_2sfca"].to_numpy()
    assert acc[0] == pytest.approx(100 / 524 * 1000, rel=1e-3)
    assert acc[3] == pytest.approx(600 / 524 * 1000, rel=1e-3)
    agg = aggregate(res.demand, by="community_code")
    assert set(agg.columns) >= {
        "mean_walk_min",
        "median_walk_min",
        "p90_walk_min",
        "uncovered_hh_15min",
    }
    assert (two_step_fca(res.coverage) >= 0).all()
    # circle overstatement: a unit 600 m straight-line but 1,400 m walking from a facility
    ways = gpd.GeoDataFrame(
        {"highway": ["residential"]},
        geometry=[LineString([(0, 0), (0, 700), (600, 700), (600, 0)])],
        crs=CRS,
    )
    net2 = network_from_ways(ways)
    res2 = run_coverage(
        net2,
        gpd.GeoDataFrame(
            {"households": [7], "community_code": ["150203001001"]},
            geometry=[Point(600, 0)],
            crs=CRS,
        ),
        gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(0, 0)], crs=CRS),
    )
    assert bool(res2.demand.loc[0, "circle_overstated"]) is True
    assert res2.communities.loc[0, "circle_overstatement_hh"] == pytest.approx(7)


# ---------------------------------------------------------------------- gated compounds
def gated_net(private="residents"):
    """A 400 x 300 m block of public streets with one gated compound inside.

    Gates: g1 (0,150) on the west street, g2 (400,150) and g3 (400,100) on the east street.
    Private paths: g1 - (50,150) - g2 straight across (400 m) and a long way round from g3:
    (400,100) - (350,100) - (350,50) - (50,50) - (50,150) (500 m).
    """
    ways = gpd.GeoDataFrame(
        {
            "highway": ["residential"] * 4 + ["service", "footway"],
            "access": [None] * 4 + ["private", "private"],
        },
        geometry=[
            LineString([(0, 0), (400, 0)]),
            LineString([(400, 0), (400, 100), (400, 150), (400, 300)]),
            LineString([(400, 300), (0, 300)]),
            LineString([(0, 300), (0, 150), (0, 0)]),
            LineString([(0, 150), (50, 150), (400, 150)]),
            LineString([(400, 100), (350, 100), (350, 50), (50, 50), (50, 150)]),
        ],
        crs=CRS,
    )
    compound = gpd.GeoDataFrame(geometry=[shapely.box(20, 20, 380, 280)], crs=CRS)
    return network_from_ways(ways, residential=compound, private=private)


def test_gated_compound_hand_checked():
    net = gated_net()
    assert net.private == "residents"
    assert sorted(set(net.edges["compound"])) == [-1, 0]
    fac = gpd.GeoDataFrame(
        {"name": ["F"], "type": ["station"], "area_m2": [200]},
        geometry=[Point(-10, 160)],
        crs=CRS,
    )
    dem = gpd.GeoDataFrame(
        {"households": [10, 20]},
        geometry=[Point(380, 95), Point(410, 110)],  # R inside (on the long path), O outside
        crs=CRS,
    )
    res = compute_coverage(net, dem, fac).table()
    # R: F leg 10 + 10 to g1 + 400 across to g2 + out, 50 down the street to g3 + 20 in + leg 5
    assert res.loc[0, "dist_m"] == pytest.approx(495.0)
    # O may not cut through: 10 + 150 down + 400 along + 110 up + legs 10 + 10
    assert res.loc[1, "dist_m"] == pytest.approx(690.0)
    every = compute_coverage(net, dem, fac, private="all").table()
    assert every.loc[0, "dist_m"] == pytest.approx(495.0)
    # everybody cuts through: 20 + 400 across + 40 down + leg 10
    assert every.loc[1, "dist_m"] == pytest.approx(470.0)
    none = compute_coverage(net, dem, fac, private="none").table()
    assert none.loc[1, "dist_m"] == pytest.approx(690.0)
    # R now snaps to the east street (20 m) and walks round: 10 + 150 + 400 + 95 + 10... + 20
    assert none.loc[0, "dist_m"] == pytest.approx(10 + 150 + 400 + 95 + 20 + 10)


def test_facility_inside_compound_reaches_outsiders_through_gates():
    net = gated_net()
    fac = gpd.GeoDataFrame(
        {"name": ["in", "out"], "type": ["station", "station"], "area_m2": [200, 200]},
        geometry=[Point(380, 95), Point(200, 310)],  # inside near g3; on the north street
        crs=CRS,
    )
    dem = gpd.GeoDataFrame(
        {"households": [1, 1, 1]},
        geometry=[Point(-10, 160), Point(200, 140), Point(410, 40)],
        crs=CRS,
    )
    cov = compute_coverage(net, dem, fac)
    t = cov.table()
    # west street (outsider): "out": 10 + 200 + 140 + 10 = 360 (north street, then down the
    # west one); "in" leaves by g3 (5 + 20), steps back in at g2 (50) and crosses to g1 (400),
    # 10 up the street and leg 10 = 495 (its own compound's paths, both ways)
    assert t.loc[0, "dist_m"] == pytest.approx(360.0)
    assert t.loc[0, "second_dist_m"] == pytest.approx(495.0)
    # a resident on the straight path (10 m off it at x=200): "in" inside: 5 + 20 + 50 + 300 +
    # 100 + 150 + 10 = 635, or out by g3 and in by g2: 25 + 50 + 200 + 10 = 285
    assert t.loc[1, "dist_m"] == pytest.approx(285.0)
    assert t.loc[1, "nearest_name"] == "in"
    # east street outsider below g3: 25 + 60 + leg 10
    assert t.loc[2, "dist_m"] == pytest.approx(95.0)
    d1, s1, d2, s2 = compound_reference(net, cov.fac_snap, cov.unit_snap)
    assert np.allclose(t["dist_m"], d1, atol=0.01)
    assert np.allclose(t["second_dist_m"], d2, atol=0.01)


@pytest.fixture(scope="module")
def gated_demo():
    from geogrid.demo import make_district

    d = make_district(n_communities=6, seed=3)
    net = network_from_ways(d.ways, residential=d.compounds)
    return d, net


def test_demo_compounds_match_networkx_reference(gated_demo):
    from _nxref import compound_distances

    from geogrid.analyses.siting.matrix import coverage_pairs

    d, net = gated_demo
    comp = net.edges["compound"].to_numpy()
    assert comp.max() >= 5  # several gated compounds
    cov = compute_coverage(net, d.buildings, d.facilities)
    fcomp = comp[cov.fac_snap.edge]
    assert (fcomp >= 0).any() and len(np.unique(comp[cov.unit_snap.edge])) > 3
    dist = compound_distances(net, cov.fac_snap, cov.unit_snap)
    order = np.argsort(dist, axis=1, kind="stable")
    rows = np.arange(len(dist))
    t = cov.table()
    np.testing.assert_allclose(t["dist_m"], dist[rows, order[:, 0]], atol=0.01)
    np.testing.assert_allclose(t["second_dist_m"], dist[rows, order[:, 1]], atol=0.01)
    types = cov.facilities["type"].to_numpy()
    for ftype in np.unique(types):
        ref = dist[:, types == ftype].min(axis=1)
        np.testing.assert_allclose(t[f"dist_m_{ftype}"], ref, atol=0.01)
    # bounded matrices (2SFCA, siting) under the same rule
    pairs = coverage_pairs(net, cov.fac_snap, cov.unit_snap, 1000.0).toarray().T
    within = dist <= 1000.0
    assert np.array_equal(pairs > 0, within)
    np.testing.assert_allclose(pairs[within], dist[within], atol=0.01)
    # today's rule (everyone cuts through) never gives longer walks
    every = compute_coverage(net, d.buildings, d.facilities, private="all").table()
    assert (every["dist_m"].to_numpy() <= t["dist_m"].to_numpy() + 1e-6).all()


def test_demo_what_if_inside_compounds_matches_recompute(gated_demo):
    d, net = gated_demo
    cov = compute_coverage(net, d.buildings, d.facilities)
    comp = net.edges["compound"].to_numpy()
    inside = np.flatnonzero(comp[cov.unit_snap.edge] >= 0)
    c2 = cov.copy()
    pts = cov.unit_snap.points()
    c2.add_facility({"geometry": pts[inside[0]], "type": "station", "name": "new"})
    fin = cov.facilities["facility_id"].to_numpy()[comp[cov.fac_snap.edge] >= 0]
    c2.remove_facility(str(fin[0]))
    c2.move_facility(str(fin[1]), pts[inside[len(inside) // 2]])
    active = c2.facilities[c2.facilities["active"]].drop(columns=["active", "facility_id"])
    ref = compute_coverage(net, d.buildings, gpd.GeoDataFrame(active, crs=net.crs))
    a, b = c2.table(), ref.table()
    for col in ("dist_m", "second_dist_m", "dist_m_station"):
        np.testing.assert_allclose(a[col], b[col], atol=1e-6)


def test_nanjing_has_no_private_paths_so_rules_agree():
    from geogrid.network.build import build_network

    net = build_network(real_path("nanjing_xuanwu.osm"))
    assert net.private == "residents" and int(net.edges["private"].sum()) == 0
    assert net.report["private_in_compounds"] == 0
    rng = np.random.default_rng(2)
    x0, y0, x1, y1 = net.nodes.total_bounds
    dem = gpd.GeoDataFrame(
        {"households": np.ones(200)},
        geometry=gpd.points_from_xy(rng.uniform(x0, x1, 200), rng.uniform(y0, y1, 200)),
        crs=net.crs,
    )
    fac = gpd.GeoDataFrame(
        {"type": ["station"] * 5},
        geometry=gpd.points_from_xy(rng.uniform(x0, x1, 5), rng.uniform(y0, y1, 5)),
        crs=net.crs,
    )
    res = compute_coverage(net, dem, fac).table()
    every = compute_coverage(net, dem, fac, private="all").table()
    np.testing.assert_allclose(res["dist_m"], every["dist_m"])


def _assert_tables_equal(a, b):
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if col == "geometry":
            continue
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, atol=1e-6, err_msg=col)
        else:
            assert (x == y).all(), col


@pytest.mark.parametrize("rule", ["residents", "all"])
def test_incremental_table_and_aggregates_equal_full_recompute(gated_demo, rule):
    d, net = gated_demo
    cov = compute_coverage(net, d.buildings, d.facilities, private=rule)
    cov.table()
    before = cov.aggregates()
    c2 = cov.copy()
    pts = cov.unit_snap.points()
    fac = cov.facilities
    station = str(fac.loc[fac["type"] == "station", "facility_id"].iloc[0])
    centre = str(fac.loc[fac["type"] != "station", "facility_id"].iloc[0])
    # one edit at a time, table and aggregates patched after each
    edits = [
        lambda c: c.add_facility({"geometry": pts[5], "type": "station", "name": "新站"}),
        lambda c: c.remove_facility(station),
        lambda c: c.move_facility(centre, pts[len(pts) // 2]),
        lambda c: c.add_facility({"geometry": pts[-3], "type": "station", "name": "新站二"}),
    ]
    for edit in edits:
        edit(c2)
        got, agg = c2.table(), c2.aggregates()
        active = c2.facilities[c2.facilities["active"]].drop(columns=["active"])
        ref = compute_coverage(
            net, d.buildings, gpd.GeoDataFrame(active, crs=net.crs), private=rule
        )
        want = ref.table()
        _assert_tables_equal(got, want)
        # second-nearest kept incrementally equals the full two-label search
        np.testing.assert_allclose(c2.field.d2, ref.field.d2, atol=1e-6)
        np.testing.assert_allclose(c2.field.d1, ref.field.d1, atol=1e-6)
        full = aggregate(want, by="community_code", targets=ref.targets)
        full["n_facilities"] = (
            full["community_code"]
            .map(active["community_code"].value_counts())
            .fillna(0)
            .astype(int)
        )
        cols = [c for c in full.columns if c in agg.columns]
        assert len(cols) == len(full.columns)
        for col in cols:
            np.testing.assert_allclose(
                agg[col].to_numpy(dtype=float) if col != "community_code" else 0,
                full[col].to_numpy(dtype=float) if col != "community_code" else 0,
                atol=1e-9,
                err_msg=col,
            )
        assert agg["community_code"].tolist() == full["community_code"].tolist()
    # the original is untouched
    np.testing.assert_allclose(
        cov.aggregates()["coverage_15min"].to_numpy(), before["coverage_15min"].to_numpy()
    )


def test_with_speed_equals_full_recompute(gated_demo):
    d, net = gated_demo
    cov = compute_coverage(net, d.buildings, d.facilities)
    cov.table()
    slow = cov.with_speed(3.0)
    ref = compute_coverage(net, d.buildings, d.facilities, speed_kmh=3.0)
    _assert_tables_equal(slow.table(), ref.table())
    agg, full = slow.aggregates(), ref.aggregates()
    np.testing.assert_allclose(agg["coverage_15min"], full["coverage_15min"])
    assert cov.speed_kmh == 4.0 and slow.speed_kmh == 3.0
    with pytest.raises(InputError, match="positive"):
        cov.with_speed(0)


def test_service_areas_per_facility_equal_each_facility_alone():
    """The mosaic of all facilities' fields gives each facility the polygon it gets alone."""
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    rng = np.random.default_rng(7)
    pts = gpd.points_from_xy(
        rng.uniform(114.0, 114.04, 12), rng.uniform(22.52, 22.55, 12), crs=4326
    )
    fac = gpd.GeoDataFrame({"type": ["station"] * 12}, geometry=pts, crs=4326)
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=pts[:1], crs=4326)
    cov = compute_coverage(net, dem, fac)
    polys = service_areas(cov)
    lines = service_areas(cov, lines=True)
    assert (polys[polys.target == "15min"].area > 0).sum() >= 10
    for j in range(len(fac)):
        fid = cov.facilities["facility_id"].iloc[j]
        alone = compute_coverage(net, dem, fac.iloc[[j]])
        ref = service_areas(alone, per_facility=False)
        got = polys[polys.facility_id == fid]
        exact = lines[lines.facility_id == fid]
        assert list(got.target) == list(ref.target)
        for g, r in zip(got.geometry, ref.geometry, strict=True):
            assert shapely.symmetric_difference(g, r).area < 1.0  # m2
        np.testing.assert_allclose(got.reached_km, ref.reached_km, atol=1e-9)
        # reached street length: the polygons' figure against the exact reached lines (the
        # lines mode has no row for a target that reaches no street)
        km = dict(zip(exact.target, exact.reached_km, strict=True))
        want = [km.get(t, 0.0) for t in got.target]
        np.testing.assert_allclose(got.reached_km, want, atol=0.002)


def _full(cov, net, dem, *, second=True):
    active = cov.facilities[cov.facilities["active"]].drop(columns=["active"])
    return compute_coverage(net, dem, gpd.GeoDataFrame(active, crs=net.crs), second=second)


def _same_everything(cov, ref):
    """Table, aggregates and every node field (nearest, second-nearest, per type) as ref's."""
    _assert_tables_equal(cov.table(), ref.table())
    a, b = cov.aggregates(), ref.aggregates()
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-9)
    np.testing.assert_allclose(cov.field.d1, ref.field.d1, atol=1e-6)
    if ref.field.d2 is not None:
        np.testing.assert_allclose(cov.field.d2, ref.field.d2, atol=1e-6)
    active = ref.facilities[ref.facilities["active"]]
    for ftype in sorted(set(active["type"])):
        np.testing.assert_allclose(
            cov.type_field(ftype).d1, ref.type_field(ftype).d1, atol=1e-6, err_msg=ftype
        )


@pytest.mark.parametrize("second", [True, False])
def test_every_incremental_path_equals_full_recompute(gated_demo, second):
    """add, remove (second-nearest repair), move, reopen, type and name changes, withdraw,
    each followed by the patched table, aggregates and fields against a full recompute;
    a coverage built without second-nearest gets it from its kept nearest field."""
    d, net = gated_demo
    cov = compute_coverage(net, d.buildings, d.facilities, second=second)
    cov.table()
    cov.aggregates()
    c = cov.copy()
    pts = cov.unit_snap.points()
    fac = cov.facilities
    station = str(fac.loc[fac["type"] == "station", "facility_id"].iloc[1])
    centre = str(fac.loc[fac["type"] != "station", "facility_id"].iloc[0])
    edits = [
        lambda c: c.add_facility({"geometry": pts[7], "type": "centre_street", "name": "新"}),
        lambda c: c.remove_facility(station),
        lambda c: c.move_facility(centre, pts[len(pts) // 3]),
        lambda c: c.reopen_facility(station),
        lambda c: c.set_facility(station, type="liaison_point"),
        lambda c: c.set_facility(centre, name="改名"),
        lambda c: c.add_facility({"geometry": pts[-9], "type": "recharge_station"}),
        lambda c: c.withdraw_facility(str(c.facilities["facility_id"].iloc[-1])),
    ]
    for edit in edits:
        edit(c)
        _same_everything(c, _full(c, net, d.buildings, second=second))
    assert c.table()["nearest_name"].eq("改名").any()
    if not second:
        c.second = True
        _same_everything(c, _full(c, net, d.buildings))
    # the original is untouched
    _same_everything(cov, compute_coverage(net, d.buildings, d.facilities, second=second))


def test_added_dict_row_equals_a_prepared_one(gated_demo):
    """A dict given to add_facility (fast path) gives the row a one-row layer gives."""
    d, net = gated_demo
    cov = compute_coverage(net, d.buildings, d.facilities)
    at = cov.unit_snap.points()[11]
    cases = [
        {"type": "station"},
        {"type": "党群服务站", "name": "新站", "capacity": 800},
        {"type": " Liaison ", "area_m2": "120", "facility_id": "X1"},
        {"type": "centre_street", "name": None, "capacity": "n/a"},
        {"type": float("nan"), "name": ""},
        {"type": "卫生服务站"},  # unknown: through prepare_facilities, with its warning
    ]
    for case in cases:
        fast, slow = cov.copy(), cov.copy()
        fid = fast.add_facility({"geometry": at, **case})
        assert slow.add_facility(gpd.GeoDataFrame([{"geometry": at, **case}], crs=net.crs)) == fid
        a, b = fast.facilities, slow.facilities
        assert set(a.columns) == set(b.columns)
        for col in b.columns:
            x, y = a[col].iloc[-1], b[col].iloc[-1]
            assert (pd.isna(x) and pd.isna(y)) or x == y, (case, col, x, y)
        _assert_tables_equal(fast.table(), slow.table()[list(fast.table().columns)])
