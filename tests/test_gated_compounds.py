"""Gated compounds from OSM gate nodes, walls and private paths (issue 14, part 1).

A hand-built OSM XML: compound 1 is walled and has two gate nodes, a through street and an
internal path that crosses its wall without a gate; compound 2 is walled with no gate node
(every crossing is a gate); compound 3 is open. Which ways become private paths and where
the ways in are is checked by hand; distances against an independent networkx computation
(for each unit, every other compound's private edges removed: ``tests/_nxref.py``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from _nxref import compound_distances
from shapely.geometry import Point

from geogrid.analyses.coverage.engine import compute_coverage
from geogrid.io.osm import read_osm
from geogrid.io.osmxml import write_elements
from geogrid.network.build import build_network

LOCAL = pyproj.CRS.from_proj4("+proj=tmerc +lat_0=32.04 +lon_0=118.78 +k=1 +x_0=0 +y_0=0")
TO_LL = pyproj.Transformer.from_crs(LOCAL, "EPSG:4326", always_xy=True)

# way id -> (highway or barrier, points in local metres, tags); nodes are shared by position
WAYS = {
    1: ("residential", [(-20, -20), (-20, 50), (-20, 60), (-20, 100), (-20, 150), (-20, 220)]),
    2: ("residential", [(-20, -20), (150, -20), (220, -20)]),
    3: ("residential", [(220, -20), (220, 50), (220, 60), (220, 150), (220, 220)]),
    4: ("residential", [(-20, 220), (100, 220), (150, 220), (220, 220)]),
    5: ("residential", [(-20, 150), (50, 150), (100, 150), (220, 150)]),  # through street
    10: ("service", [(-20, 100), (0, 100), (20, 100), (100, 100), (150, 100)]),  # via gate 1
    11: ("footway", [(100, 100), (100, 150)]),  # meets the through street
    12: ("footway", [(150, 100), (150, 0), (150, -20)]),  # crosses the wall, no gate
    13: ("footway", [(50, 150), (50, 180), (150, 180), (150, 200), (150, 220)]),  # via gate 2
    14: ("residential", [(20, 100), (20, 20), (120, 20)]),  # wholly inside
    15: ("residential", [(220, 60), (180, 60)]),  # enters from the east: not wholly inside
    20: ("footway", [(220, 50), (260, 50), (310, 50), (310, 90)]),  # compound 2
    30: ("footway", [(-20, 50), (-80, 50), (-80, 80)]),  # compound 3 (open)
}
GATES = {(0, 100): {"barrier": "gate"}, (150, 200): {"barrier": "lift_gate"}}
BOXES = {
    100: (0, 0, 200, 200),  # compound 1
    200: (260, 0, 360, 100),  # compound 2
    300: (-120, 0, -40, 100),  # compound 3
}


def _elements() -> list[dict]:
    ids: dict[tuple[float, float], int] = {}
    out: list[dict] = []

    def node(p: tuple[float, float]) -> int:
        if p not in ids:
            ids[p] = len(ids) + 1
            lon, lat = TO_LL.transform(*p)
            out.append({"type": "node", "id": ids[p], "lon": lon, "lat": lat})
            if p in GATES:
                out[-1]["tags"] = GATES[p]
        return ids[p]

    for wid, (hw, pts) in WAYS.items():
        out.append(
            {"type": "way", "id": wid, "nodes": [node(p) for p in pts], "tags": {"highway": hw}}
        )
    for wid, (x0, y0, x1, y1) in BOXES.items():
        ring = [node(p) for p in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]
        out.append(
            {
                "type": "way",
                "id": wid,
                "nodes": [*ring, ring[0]],
                "tags": {"landuse": "residential"},
            }
        )
        if wid != 300:
            out.append(
                {
                    "type": "way",
                    "id": wid + 1,
                    "nodes": [*ring, ring[0]],
                    "tags": {"barrier": "wall"},
                }
            )
    return out


@pytest.fixture(scope="module")
def osm_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("gated") / "gated.osm"
    write_elements(_elements(), path)
    return path


@pytest.fixture(scope="module")
def net(osm_path):
    return build_network(osm_path)


def _local(net, xy):
    """Network coordinates of local-metre points."""
    ll = TO_LL.transform(*np.asarray(xy, dtype=float).T)
    return pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(*ll)


def test_layers_read(osm_path):
    osm = read_osm(osm_path)
    assert sorted(osm.gates["barrier"]) == ["gate", "lift_gate"]
    assert sorted(osm.walls["osmid"]) == [101, 201]
    assert len(osm.residential) == 3
    assert "2 gates, 2 walls" in repr(osm)


def test_private_paths_gates_and_seal(net):
    e = net.edges
    priv = e[e["private"]]
    assert set(priv["osmid"]) == {10, 11, 12, 13, 14, 20}  # parts of 10, 12, 13, 20
    assert not e.loc[e["osmid"].isin([1, 2, 3, 4, 5, 15, 30]), "private"].any()
    # the pieces outside the outlines stay public: the service way up to gate 1, the
    # footway beyond the wall, the step from gate 2 to the north street, compound 2's lead-in
    for wid, outside in ((10, 20.0), (12, 20.0), (13, 20.0), (20, 40.0)):
        public = e[(e["osmid"] == wid) & ~e["private"]]
        assert public["length_m"].sum() == pytest.approx(outside, rel=1e-3)
    rep = net.report["compounds"]
    assert rep["gated"] == 2
    assert rep["gated_by"] == {"gate_nodes": 1, "walls": 2, "private_paths": 0}
    assert rep["gates"] == 2
    assert rep["gated_without_gate_nodes"] == 1  # compound 2: its crossing is its gate
    assert rep["sealed_crossings"] == 1  # footway 12 at the south wall of compound 1
    s = net.summary()
    assert (s["gated_compounds"], s["compound_gates"], s["sealed_crossings"]) == (2, 2, 1)
    # compound 1 is cut in two by the through street: three compounds in all
    assert sorted(set(e["compound"])) == [-1, 0, 1, 2]
    # the sealed end: footway 12's private piece and its public stub meet at (150, 0) but
    # share no node; under "all" (open compounds) they do
    x, y = _local(net, [(150, 0)])
    at = np.hypot(net.nodes["x"] - x[0], net.nodes["y"] - y[0]) < 0.01
    assert at.sum() == 2
    every = net.with_private("all")
    at = np.hypot(every.nodes["x"] - x[0], every.nodes["y"] - y[0]) < 0.01
    assert at.sum() == 1 and every.n_nodes == net.n_nodes - 1
    assert every.with_private("residents").n_nodes == net.n_nodes
    none = net.with_private("none")
    assert not none.edges["private"].any()


def _points(net, xy):
    x, y = _local(net, xy)
    return [Point(a, b) for a, b in zip(x, y, strict=True)]


@pytest.fixture(scope="module")
def study(net):
    units = [
        (120, 105),  # on the service way inside compound 1
        (155, 10),  # by the sealed crossing of footway 12
        (150, -30),  # south street
        (310, 60),  # compound 2
        (100, 185),  # compound 1, north of the through street
        (-80, 55),  # open compound 3
        (185, 60),  # the residential stub from the east
        (75, 155),  # on the through street
    ]
    dem = gpd.GeoDataFrame(
        {"households": np.arange(1, len(units) + 1)}, geometry=_points(net, units), crs=net.crs
    )
    fac_xy = [(-30, 100), (100, 230), (60, 185), (305, 80), (100, -30)]
    fac = gpd.GeoDataFrame(
        {"name": list("WNICS"), "type": ["station"] * 5, "area_m2": [200] * 5},
        geometry=_points(net, fac_xy),
        crs=net.crs,
    )
    return dem, fac


def test_distances_match_networkx_reference(net, study):
    dem, fac = study
    cov = compute_coverage(net, dem, fac)
    dist = compound_distances(net, cov.fac_snap, cov.unit_snap)
    order = np.argsort(dist, axis=1, kind="stable")
    rows = np.arange(len(dist))
    t = cov.table()
    np.testing.assert_allclose(t["dist_m"], dist[rows, order[:, 0]], atol=0.01)
    np.testing.assert_allclose(t["second_dist_m"], dist[rows, order[:, 1]], atol=0.01)
    comp = net.edges["compound"].to_numpy()
    assert (comp[cov.unit_snap.edge] >= 0).sum() >= 4  # units inside compounds 1 and 2
    every = compute_coverage(net, dem, fac, private="all").table()
    d_all, d_res = every["dist_m"].to_numpy(), t["dist_m"].to_numpy()
    assert (d_all <= d_res + 1e-6).all()
    # unit 1 may not leave through the wall beside it: 5 + 90 up footway 12 + 150 along the
    # service way + 20 through gate 1 + 10 to W (275 m); through the wall, S is 95 m away
    assert d_res[1] == pytest.approx(275.0, rel=2e-3)
    assert d_all[1] == pytest.approx(95.0, rel=2e-3)
    # unit 7 on the through street may not cut through to S: 400 m round, 310 m through
    south = fac[fac["name"] == "S"]
    s_res = compute_coverage(net, dem, south).table()["dist_m"].to_numpy()
    s_all = compute_coverage(net, dem, south, private="all").table()["dist_m"].to_numpy()
    assert s_res[7] == pytest.approx(400.0, rel=2e-3)
    assert s_all[7] == pytest.approx(310.0, rel=2e-3)
    # the open compound 3 is public: its unit walks the same under both rules
    assert d_res[5] == pytest.approx(d_all[5], abs=1e-6)


def test_nanjing_detection(real):
    """What the real Nanjing extract holds: gate nodes, but none on a compound's outline."""
    path = real("nanjing_xuanwu.osm")
    osm = read_osm(path)
    assert len(osm.gates) == 16  # 8 barrier=gate (one access=private), 1 lift_gate, 7 entrance
    assert osm.walls.empty
    net = build_network(path)
    rep = net.report["compounds"]
    assert rep["residential_areas"] == 11
    assert rep["gate_points"] == 5  # gates on walkable ways (the others stand alone)
    assert rep["gated"] == 0 and rep["gates"] == 0 and rep["private_edges"] == 0
    assert net.summary()["gated_compounds"] == 0


def test_graphml_gates_match_the_osm_reading(osm_path, net, tmp_path):
    """An osmnx graph of the same ways (one edge per node pair, gates as node attributes)."""
    import networkx as nx
    import osmnx as ox

    from geogrid.network.build import network_from_graphml

    elements = _elements()
    nodes = {e["id"]: e for e in elements if e["type"] == "node"}
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for nid, e in nodes.items():
        g.add_node(nid, x=e["lon"], y=e["lat"], **e.get("tags", {}))
    for e in elements:
        if e["type"] == "way" and "highway" in e["tags"]:
            for a, b in zip(e["nodes"][:-1], e["nodes"][1:], strict=True):
                g.add_edge(a, b, osmid=e["id"], highway=e["tags"]["highway"], length=1.0)
    path = tmp_path / "gated.graphml"
    ox.save_graphml(g, path)
    osm = read_osm(osm_path)
    gm = network_from_graphml(path, residential=osm.residential, walls=osm.walls)
    rep, ref = gm.report["compounds"], net.report["compounds"]
    for key in ("gated", "gated_by", "gates", "sealed_crossings", "gated_without_gate_nodes"):
        assert rep[key] == ref[key], key
    assert set(gm.edges.loc[gm.edges["private"], "osmid"]) == {10, 11, 12, 13, 14, 20}
    priv_m = gm.edges.loc[gm.edges["private"], "length_m"].sum()
    # (the two readers may pick different metric CRSs: millimetres apart)
    assert priv_m == pytest.approx(net.edges.loc[net.edges["private"], "length_m"].sum(), rel=1e-4)


def test_paths_ending_on_a_wall_stay_joined_and_apart_from_the_way_beyond():
    """Two internal footways end on the wall where a public footway goes on outside."""
    from shapely.geometry import LineString, box

    from geogrid.network.build import network_from_ways

    crs = "EPSG:4547"
    ways = gpd.GeoDataFrame(
        {"highway": ["residential", "footway", "footway", "footway", "footway", "residential"]},
        geometry=[
            LineString([(-10, -10), (-10, 50), (-10, 110)]),
            LineString([(-10, 50), (0, 50), (50, 50)]),  # through the gate at (0, 50)
            LineString([(50, 50), (100, 50)]),  # A, ends on the east wall
            LineString([(80, 90), (100, 50)]),  # C, ends there too
            LineString([(100, 50), (150, 50)]),  # B, outside
            LineString([(150, -10), (150, 50), (150, 110)]),
        ],
        crs=crs,
    )
    compound = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100)], crs=crs)
    gates = gpd.GeoDataFrame(geometry=[Point(0, 50)], crs=crs)
    net = network_from_ways(ways, residential=compound, gates=gates)
    e = net.edges
    assert e["private"].tolist() == [False, False, False, True, True, True, False, False, False]
    assert net.report["compounds"]["sealed_crossings"] == 2
    at = np.flatnonzero(np.hypot(net.nodes["x"] - 100, net.nodes["y"] - 50) < 1e-6)
    assert len(at) == 2
    a_c = e[e["private"] & (e["geometry"].intersects(Point(100, 50)))]
    ends = set(a_c["u"]) | set(a_c["v"])
    assert len(ends & set(at)) == 1  # A and C share their node on the wall
    b = e[~e["private"] & (e["geometry"].intersects(Point(100, 50)))]
    assert len((set(b["u"]) | set(b["v"])) & set(at)) == 1 and not (
        ends & set(b["u"]) | ends & set(b["v"])
    )
    assert net.edges["compound"].max() == 0  # one compound, reached through its gate
    # under "all" the wall point joins them all
    every = net.with_private("all")
    assert (np.hypot(every.nodes["x"] - 100, every.nodes["y"] - 50) < 1e-6).sum() == 1
