import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from conftest import real_path
from shapely.geometry import LineString, Point, Polygon

from geogrid.errors import NetworkError
from geogrid.io.osm import read_osm
from geogrid.network.build import build_network, network_from_graphml, network_from_ways
from geogrid.network.snap import snap_points
from geogrid.study.demand import estimate_households, prepare_demand

CRS = "EPSG:4546"


def test_split_at_shared_vertices_and_filters():
    ways = gpd.GeoDataFrame(
        {
            "highway": ["residential", "footway", "motorway", "service", "service", "footway"],
            "access": [None, None, None, "private", "private", None],
            "foot": [None, None, None, None, None, "no"],
        },
        geometry=[
            LineString([(0, 0), (100, 0), (200, 0)]),  # crossed at (100, 0)
            LineString([(100, -50), (100, 0), (100, 50)]),
            LineString([(0, 10), (200, 10)]),  # not walkable
            LineString([(200, 0), (260, 60)]),  # private, inside the compound: kept
            LineString([(0, 0), (-50, -50)]),  # private, outside: dropped
            LineString([(100, 50), (150, 80)]),  # foot=no: dropped
        ],
        crs=CRS,
    )
    compound = gpd.GeoDataFrame(
        geometry=[Polygon([(190, -10), (300, -10), (300, 100), (190, 100)])], crs=CRS
    )
    net = network_from_ways(ways, residential=compound)
    assert net.n_edges == 5  # 2 + 2 from the crossing, + the private compound way
    assert net.n_nodes == 6
    assert net.edges["length_m"].sum() == pytest.approx(200 + 100 + np.hypot(60, 60))
    assert net.report["dropped_not_walkable"] == 1
    assert net.report["dropped_private"] == 1 and net.report["dropped_foot_no"] == 1
    assert int(net.edges["private"].sum()) == 1
    strict = network_from_ways(ways, residential=compound, keep_private=False)
    assert strict.n_edges == 4


def test_islands_counted_and_far_points_flagged():
    ways = gpd.GeoDataFrame(
        {"highway": ["residential", "residential"]},
        geometry=[LineString([(0, 0), (1000, 0)]), LineString([(0, 500), (20, 500)])],
        crs=CRS,
    )
    net = network_from_ways(ways)
    s = net.summary()
    assert s["components"] == 2 and s["island_nodes"] == 2
    pts = gpd.GeoDataFrame(geometry=[Point(10, 499), Point(500, 400)], crs=CRS)
    snap = snap_points(net, pts, max_snap_m=300)
    assert bool(snap.island[0]) and snap.snap_m[0] == pytest.approx(
        499
    )  # snapped to the main street
    assert list(snap.far) == [True, True]
    assert snap.pos_m[1] == pytest.approx(500)


def test_empty_or_untagged_input_errors():
    ways = gpd.GeoDataFrame(
        {"highway": ["motorway"]}, geometry=[LineString([(0, 0), (1, 1)])], crs=CRS
    )
    with pytest.raises(NetworkError, match="no walkable"):
        network_from_ways(ways)
    with pytest.raises(NetworkError, match="highway"):
        network_from_ways(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 1)])], crs=CRS))


def test_nanjing_walking_network_and_households():
    path = real_path("nanjing_xuanwu.osm")
    net = build_network(path)
    assert net.crs.to_epsg() == 4549
    assert net.n_nodes > 300 and net.n_edges > 400
    assert set(net.edges["highway"]) <= {
        "footway",
        "residential",
        "living_street",
        "service",
        "secondary",
        "primary",
        "tertiary",
        "path",
        "steps",
        "pedestrian",
        "unclassified",
        "primary_link",
        "secondary_link",
        "tertiary_link",
        "track",
        "cycleway",
        "corridor",
        "road",
    }
    osm = read_osm(path)
    b = estimate_households(osm.buildings)
    assert len(b) == 1278
    assert (b["levels_source"] == "levels").sum() == 131
    assert b["households"].sum() > 1000
    assert (b.loc[~b["residential"], "households"] == 0).all() and (~b["residential"]).sum() > 0
    assert b.attrs["demand_report"]["fell_back_to_default"] == int(
        ((b["levels_source"] == "default") & b["residential"]).sum()
    )
    # distance between two snapped points == networkx shortest path + both legs
    rng = np.random.default_rng(3)
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            rng.uniform(118.765, 118.795, 20), rng.uniform(32.036, 32.051, 20)
        ),
        crs=4326,
    )
    s = snap_points(net, pts)
    g = net.to_networkx()
    from geogrid.network import paths as _paths

    for i in range(0, 20, 2):
        a, bb = s.take([i]), s.take([i + 1])
        field = _paths.node_field(net, a, second=False)
        ours = _paths.unit_nearest(field, bb, a, second=False)[0][0]
        best = np.inf
        for na, da in ((int(a.u[0]), a.to_u_m[0]), (int(a.v[0]), a.to_v_m[0])):
            lengths = nx.single_source_dijkstra_path_length(g, na, weight="length_m")
            for nb, db in ((int(bb.u[0]), bb.to_u_m[0]), (int(bb.v[0]), bb.to_v_m[0])):
                best = min(best, da + lengths.get(nb, np.inf) + db)
        if a.edge[0] == bb.edge[0]:
            best = min(best, abs(a.pos_m[0] - bb.pos_m[0]))
        assert ours == pytest.approx(best + a.snap_m[0] + bb.snap_m[0], abs=0.01)


def test_shenzhen_graphml_loads_as_walking_network():
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    assert 1500 < net.n_nodes < 2000
    assert 150 < net.total_length_km < 340
    assert net.summary()["components"] >= 1
    assert "motorway" not in set(net.edges["highway"])


def test_suzhou_buildings_use_floor_column():
    b = gpd.read_file(real_path("suzhou_buildings_floors.geojson"))
    est = estimate_households(b)
    assert len(est) == 3076
    assert (est["levels_source"] == "floors").sum() == b["Floor"].notna().sum()
    row = est.iloc[0]
    assert row["households"] == pytest.approx(
        row["footprint_m2"] * row["levels_used"] * 0.75 / 90, abs=0.01
    )
    assert est["levels_used"].max() == 28


def test_demand_from_population_and_overrides():
    from geogrid.study.demand import apply_overrides

    pts = gpd.GeoDataFrame(
        {"population": [262.0, 524.0]}, geometry=[Point(0, 0), Point(10, 0)], crs=CRS
    )
    d = prepare_demand(pts)
    assert list(d["households"]) == [100.0, 200.0]
    assert list(d["party_members"]) == [0, 0]
    bld = gpd.GeoDataFrame(
        {"building:levels": [6, 6]},
        geometry=[Point(0, 0).buffer(10, 1), Point(100, 0).buffer(10, 1)],
        crs=CRS,
    )
    est = estimate_households(bld)
    zone = gpd.GeoDataFrame(
        {"households": [500], "party_members": [40]},
        geometry=[Polygon([(-50, -50), (150, -50), (150, 50), (-50, 50)])],
        crs=CRS,
    )
    over = apply_overrides(est, zone)
    assert over["households"].sum() == pytest.approx(500)
    assert over["party_members"].sum() == pytest.approx(40)
    assert over["population"].sum() == pytest.approx(500 * 2.62)


def test_bbox_source_needs_four_numbers():
    with pytest.raises(NetworkError, match="bbox:WEST,SOUTH,EAST,NORTH"):
        build_network("bbox:118.76,32.03")


@pytest.mark.network
def test_online_place_builds_network():
    net = build_network("bbox:118.780,32.040,118.790,32.047")
    assert net.n_edges > 50 and net.crs.to_epsg() == 4549


def test_private_rule_options_and_compounds():
    from geogrid.network.build import compound_pieces

    ways = gpd.GeoDataFrame(
        {
            "highway": ["residential", "service", "footway", "service"],
            "access": [None, "private", "private", "private"],
        },
        geometry=[
            LineString([(0, 0), (300, 0)]),
            LineString([(0, 0), (0, 50), (50, 50)]),  # compound A, gate at (0, 0)
            LineString([(50, 50), (60, 80)]),  # compound A too (shares (50, 50))
            LineString([(300, 0), (300, 50)]),  # compound B
        ],
        crs=CRS,
    )
    polys = gpd.GeoDataFrame(
        geometry=[
            Polygon([(-5, 5), (100, 5), (100, 100), (-5, 100)]),
            Polygon([(250, 5), (350, 5), (350, 100), (250, 100)]),
        ],
        crs=CRS,
    )
    net = network_from_ways(ways, residential=polys)
    assert net.private == "residents"
    comp = net.edges.set_index("way")["compound"]
    assert comp[0] == -1 and comp[1] == comp[2] == 0 and comp[3] == 1
    assert net.with_private("all").private == "all"
    assert net.with_private("none").n_edges == 1
    assert network_from_ways(ways, residential=polys, private="none").n_edges == 1
    with pytest.raises(NetworkError, match="residents, all, none"):
        network_from_ways(ways, residential=polys, private="gated")
    # one polygon, two private pieces that do not touch: two compounds
    u = np.array([0, 1, 5, 6])
    v = np.array([1, 2, 6, 7])
    assert list(compound_pieces(u, v, np.array([0, 0, 0, -1]))) == [0, 0, 1, -1]


def test_cli_private_option_errors_in_one_line(capsys):
    from geogrid.cli import main

    code = main(
        [
            "coverage",
            "--network",
            "x.osm",
            "--demand",
            "x.osm",
            "--facilities",
            "f.csv",
            "--private",
            "all",
            "--drop-private",
            "--out",
            "o",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("geogrid: error: --drop-private contradicts --private all")
    assert "\n" not in err


def test_snap_matches_exact_nearest_edge_search():
    """The KD-tree of edge pieces gives the exact nearest edge (STRtree reference)."""
    from geogrid.demo import make_district

    d = make_district(n_communities=4, seed=1)
    net = network_from_ways(d.ways, residential=d.compounds, private="all")
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = net.edges.total_bounds
    pts = shapely.points(
        rng.uniform(x0 - 400, x1 + 400, 3000), rng.uniform(y0 - 400, y1 + 400, 3000)
    )
    pts = np.concatenate([pts, shapely.get_point(np.asarray(net.edges.geometry.values)[:200], 0)])
    s = snap_points(net, gpd.GeoDataFrame(geometry=pts, crs=net.crs), main_component=False)
    geoms = np.asarray(net.edges.geometry.values)
    ref = shapely.distance(pts, geoms[net.tree.query_nearest(pts, all_matches=False)[1]])
    np.testing.assert_allclose(s.snap_m, ref, atol=1e-9)
    np.testing.assert_allclose(shapely.distance(pts, geoms[s.edge]), s.snap_m, atol=1e-9)
    on = shapely.line_interpolate_point(geoms[s.edge], s.pos_m)
    np.testing.assert_allclose(shapely.get_coordinates(on)[:, 0], s.x, atol=1e-6)
    np.testing.assert_allclose(shapely.get_coordinates(on)[:, 1], s.y, atol=1e-6)
    np.testing.assert_allclose(s.to_u_m + s.to_v_m, net.edges["length_m"].to_numpy()[s.edge])


def test_contracted_fields_equal_brute_force_on_trees_chains_loops_and_rings():
    """Nearest and second-nearest fields on the contracted graph equal networkx on every node.

    The network has dead-end trees (one with a source inside), chains of degree-two nodes,
    a lollipop loop whose chain starts and ends at one node, and a ring with no way out.
    """
    rng = np.random.default_rng(7)
    lines = []
    for i in range(5):  # a 5 x 5 block grid with a few streets missing
        for j in range(5):
            if rng.random() > 0.15:
                lines.append(LineString([(i * 100, j * 100), ((i + 1) * 100, j * 100)]))
            if rng.random() > 0.15:
                lines.append(LineString([(i * 100, j * 100), (i * 100, (j + 1) * 100)]))
    for k in range(12):  # dead ends, some branching, bent (chains of several vertices)
        x0, y0 = 100 * rng.integers(0, 5), 100 * rng.integers(0, 5)
        tip = (x0 + 30 + k, y0 + 40)
        lines.append(LineString([(x0, y0), (x0 + 10 + k, y0 + 20), tip]))
        lines.append(LineString([tip, (tip[0] + 25, tip[1] + 5)]))
        lines.append(LineString([tip, (tip[0] - 5, tip[1] + 30)]))
    lines.append(LineString([(500, 500), (560, 560), (620, 500), (560, 440), (500, 500)]))
    lines.append(LineString([(800, 800), (850, 800), (850, 850), (800, 800)]))  # a ring apart
    lines.append(LineString([(200, 200), (215, 230), (240, 240)]))  # a dead end with a source
    ways = gpd.GeoDataFrame({"highway": ["footway"] * len(lines)}, geometry=lines, crs=CRS)
    net = network_from_ways(ways)
    from geogrid.network import paths as _paths

    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(
            [37.0, 250.0, 430.0, 620.0, 118.0, 333.0, 238.0],
            [52.0, 410.0, 180.0, 505.0, 86.0, 333.0, 245.0],
        ),
        crs=CRS,
    )
    src = snap_points(net, pts)
    field = _paths.node_field(net, src, second=True)
    # brute force: each source's distances from its two edge ends, per node
    g = net.to_networkx()
    per = np.full((len(src), net.n_nodes), np.inf)
    for j in range(len(src)):
        for end, leg in ((int(src.u[j]), src.to_u_m[j]), (int(src.v[j]), src.to_v_m[j])):
            for node, dist in nx.single_source_dijkstra_path_length(
                g, end, weight="length_m"
            ).items():
                per[j, node] = min(per[j, node], leg + src.snap_m[j] + dist)
    order = np.sort(per, axis=0)
    fin = np.isfinite(order[0])
    assert np.array_equal(np.isfinite(field.d1), fin)
    assert np.abs(field.d1[fin] - order[0][fin]).max() < 0.01
    fin2 = np.isfinite(order[1])
    assert np.array_equal(np.isfinite(field.d2), fin2)
    assert np.abs(field.d2[fin2] - order[1][fin2]).max() < 0.01
    unique = fin & ~fin2
    unique[fin2] = order[1][fin2] - order[0][fin2] > 0.01
    assert np.array_equal(field.s1[unique], np.argmin(per, axis=0)[unique])
    ring = net.nodes["component"].to_numpy() > 0
    assert ring.any() and np.isinf(field.d1[ring]).all()
    core = net.report[f"_core_{net.private}"]
    assert len(core.node) < net.n_nodes / 2  # the contraction did fold most nodes away
