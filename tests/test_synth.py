from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from geogrid.demo import DEMO_CRS, DemoDistrict, make_district
from geogrid.errors import GeogridError, InputError
from geogrid.settings import DEFAULTS, FACILITY_TYPES

NOT_WALKABLE = {"motorway", "trunk"}
HIGHWAYS = {
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "living_street",
    "service",
    "footway",
    "path",
    "steps",
}


@pytest.fixture(scope="module")
def demo() -> DemoDistrict:
    return make_district()


@pytest.fixture(scope="module")
def demo40() -> DemoDistrict:
    return make_district(n_communities=40, seed=7)


def walkable(ways):
    return ways[~ways["highway"].isin(NOT_WALKABLE) & (ways["foot"] != "no")]


def vertex_graph(ways):
    """Graph on exact vertex coordinates: ways connect only where they share a vertex."""
    coords, owner = shapely.get_coordinates(ways.geometry.values, return_index=True)
    uniq, inv = np.unique(coords, axis=0, return_inverse=True)
    inv = inv.ravel()
    same = owner[1:] == owner[:-1]
    a, b = inv[:-1][same], inv[1:][same]
    length = np.hypot(*(uniq[a] - uniq[b]).T)
    g = nx.Graph()
    g.add_nodes_from(np.unique(inv).tolist())
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), length.tolist(), strict=True))
    return g, uniq, a, b


def households(buildings):
    levels = buildings["levels"].fillna(buildings["height"] / DEFAULTS.storey_height_m)
    levels = levels.fillna(buildings["building"].map(DEFAULTS.default_levels))
    res = buildings["building"].isin(["residential", "apartments"])
    hh = buildings.area * levels * DEFAULTS.net_to_gross / DEFAULTS.dwelling_m2
    return float(hh[res].sum())


# --- determinism, CRS, placement -------------------------------------------------------


def test_same_seed_gives_identical_layers():
    a = make_district(n_communities=12, seed=5)
    b = make_district(n_communities=12, seed=5)
    assert a.underserved_codes == b.underserved_codes
    for name, layer in a.layers.items():
        other = b.layers[name]
        pd.testing.assert_frame_equal(
            layer.drop(columns="geometry"), other.drop(columns="geometry")
        )
        assert (
            shapely.to_wkb(layer.geometry.values).tolist()
            == shapely.to_wkb(other.geometry.values).tolist()
        ), name


def test_other_seed_differs():
    a = make_district(n_communities=12, seed=5)
    c = make_district(n_communities=12, seed=6)
    assert not np.allclose(a.buildings.total_bounds, c.buildings.total_bounds)


def test_crs_and_location(demo):
    assert demo.crs == DEMO_CRS == "EPSG:4546"
    for name, layer in demo.layers.items():
        assert layer.crs == pyproj.CRS(DEMO_CRS), name
    c = shapely.union_all(demo.communities.geometry.values).centroid
    lon, lat = pyproj.Transformer.from_crs(DEMO_CRS, "EPSG:4326", always_xy=True).transform(
        c.x, c.y
    )
    assert lon == pytest.approx(109.84, abs=0.03)
    assert lat == pytest.approx(40.65, abs=0.03)


def test_bad_arguments_raise_one_line_errors():
    for kwargs in (
        {"n_communities": 0},
        {"n_communities": "10"},
        {"n_communities": True},
        {"seed": -1},
        {"seed": 1.5},
        {"communities_per_street": 1},
    ):
        with pytest.raises(InputError) as err:
            make_district(**kwargs)
        assert isinstance(err.value, GeogridError)
        assert "\n" not in str(err.value) and "pass" in str(err.value)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_tiny_districts_work(n):
    d = make_district(n_communities=n, seed=1)
    assert len(d.communities) == n
    assert len(d.buildings) > 0 and len(d.ways) > 0
    assert len(d.underserved_codes) == (0 if n == 1 else max(1, n // 4))


# --- divisions ------------------------------------------------------------------------


def test_codes_and_names(demo40):
    com, st = demo40.communities, demo40.streets
    assert com["community_code"].str.fullmatch(r"\d{12}").all()
    assert st["street_code"].str.fullmatch(r"\d{9}").all()
    assert com["community_code"].is_unique and st["street_code"].is_unique
    assert (com["community_code"].str[:9] == com["street_code"]).all()
    assert set(com["street_code"]) == set(st["street_code"])
    assert (com["district_code"] == "150203").all() and (st["district_name"] == "昆都仑区").all()
    assert com["name"].str.endswith("社区").all() and com["name"].is_unique
    assert st["street_name"].str.endswith("街道").all()
    per_street = com.groupby("street_code").size()
    assert per_street.between(8, 12).all(), per_street.to_dict()


def test_communities_tile_streets(demo40):
    com, st = demo40.communities, demo40.streets
    assert (st.geom_type == "Polygon").all()
    union = shapely.union_all(com.geometry.values)
    assert union.area == pytest.approx(st.area.sum(), rel=1e-6)
    assert com.area.sum() == pytest.approx(union.area, rel=1e-6)  # no overlaps
    tree = shapely.STRtree(com.geometry.values)
    i, j = tree.query(com.geometry.values, predicate="intersects")
    keep = i < j
    overlap = shapely.area(
        shapely.intersection(com.geometry.values[i[keep]], com.geometry.values[j[keep]])
    )
    assert overlap.max() < 1e-3
    for code, geom in zip(st["street_code"], st.geometry, strict=True):
        mine = shapely.union_all(com.geometry.values[com["street_code"].to_numpy() == code])
        assert shapely.symmetric_difference(mine, geom).area < 1e-6 * geom.area


def test_superblocks_have_realistic_size(demo40):
    old = demo40.communities[~demo40.communities["community_code"].isin(demo40.underserved_codes)]
    area_km2 = old.area / 1e6
    assert area_km2.between(0.16, 0.36).all()  # arterials 420-580 m apart


# --- compounds, buildings, gates -------------------------------------------------------


def test_buildings_inside_compounds_inside_communities(demo):
    b, c, com = demo.buildings, demo.compounds, demo.communities
    inside = b[b["compound_id"].notna()]
    cgeom = c.set_index("compound_id").geometry
    poly = cgeom.loc[inside["compound_id"].astype(int)].values
    assert shapely.within(inside.geometry.values, shapely.buffer(poly, 1e-6)).all()
    assert (
        c.set_index("compound_id")
        .loc[inside["compound_id"].astype(int), "community_code"]
        .to_numpy()
        == inside["community_code"].to_numpy()
    ).all()
    compoly = com.set_index("community_code").geometry.loc[c["community_code"]].values
    assert shapely.within(c.geometry.values, shapely.buffer(compoly, 1e-6)).all()
    outside = b[b["compound_id"].isna()]
    assert set(outside["building"]) >= {"retail", "school"}
    bpoly = com.set_index("community_code").geometry.loc[b["community_code"]].values
    assert shapely.within(b.geometry.values, shapely.buffer(bpoly, 1e-6)).all()


def test_building_attributes(demo):
    b = demo.buildings
    assert b["building_id"].is_unique
    assert set(b["building"]) <= {"residential", "apartments", "retail", "school", "public"}
    lv = b["levels"].dropna()
    assert lv.between(2, 33).all()
    res = b[b["building"] == "residential"]["levels"].dropna()
    assert res.isin([5, 6, 7]).mean() > 0.95
    assert (b[b["building"] == "apartments"]["levels"].dropna() >= 11).all()
    missing = b["levels"].isna().mean()
    assert 0.05 < missing < 0.15
    assert b.loc[b["levels"].isna(), "height"].notna().sum() > 0
    assert b.loc[b["levels"].isna(), "height"].isna().sum() > 0
    has = b["levels"].notna() & b["building"].isin(["residential", "apartments"])
    hh = b.area[has] * b["levels"][has] * 0.75 / 90
    ratio = b["party_members"][has].sum() / (hh.sum() * 2.62)
    assert 0.05 <= ratio <= 0.08
    assert (b.loc[~b["building"].isin(["residential", "apartments"]), "party_members"] == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_households_in_band(seed):
    d = make_district(seed=seed)
    assert 20_000 <= households(d.buildings) <= 40_000


def test_compounds_and_gates(demo40):
    c, g, walls, ways = demo40.compounds, demo40.gates, demo40.walls, demo40.ways
    assert c["compound_id"].is_unique and c["gated"].mean() > 0.7 and not c["gated"].all()
    gated = c[c["gated"]]
    assert gated["n_gates"].between(1, 3).all()
    assert (c.loc[~c["gated"], "n_gates"] == 0).all()
    per = g.groupby("compound_id").size()
    assert per.reindex(gated["compound_id"]).to_numpy().tolist() == gated["n_gates"].tolist()
    assert walls.groupby("compound_id").size().reindex(gated["compound_id"]).tolist() == (
        gated["n_gates"].tolist()
    )
    # every gate is a vertex shared by the outside connector and the inside path
    coords, owner = shapely.get_coordinates(ways.geometry.values, return_index=True)
    key = pd.Series(owner).groupby([coords[:, 0], coords[:, 1]]).nunique()
    gxy = shapely.get_coordinates(g.geometry.values)
    n_ways = key.reindex(pd.MultiIndex.from_arrays([gxy[:, 0], gxy[:, 1]])).to_numpy()
    assert (n_ways == 2).all()
    assert shapely.distance(g.geometry.values, shapely.union_all(ways.geometry.values)).max() == 0
    # gates lie on the compound outline, in a gap of the wall
    outline = c.set_index("compound_id").geometry.loc[g["compound_id"]].boundary.values
    assert shapely.distance(g.geometry.values, outline).max() < 1e-6
    assert shapely.distance(g.geometry.values, shapely.union_all(walls.geometry.values)).min() > 2


def test_walls_are_crossed_by_no_way(demo40):
    walls, ways = demo40.walls, demo40.ways
    tree = shapely.STRtree(ways.geometry.values)
    hit = tree.query(walls.geometry.values, predicate="intersects")
    assert hit.shape[1] == 0


def test_private_internal_paths(demo):
    w, c = demo.ways, demo.compounds
    private = w[w["access"] == "private"]
    assert set(private["highway"]) >= {"service", "footway"}
    assert private["compound_id"].notna().all()
    gated = set(c.loc[c["gated"], "compound_id"])
    assert gated <= set(private["compound_id"].astype(int))
    assert (w.loc[w["name"] == "小区内部路", "highway"] == "service").all()
    mids = shapely.line_interpolate_point(private.geometry.values, 0.5, normalized=True)
    poly = c.set_index("compound_id").geometry.loc[private["compound_id"].astype(int)].values
    assert shapely.within(mids, poly).all()


def test_only_way_out_of_a_gated_compound_is_a_gate(demo):
    w, gates, c = demo.ways, demo.gates, demo.compounds
    g, uniq, _, _ = vertex_graph(walkable(w))
    index = {tuple(p): k for k, p in enumerate(uniq)}
    gate_nodes = {index[tuple(p)] for p in shapely.get_coordinates(gates.geometry.values)}
    h = g.copy()
    h.remove_nodes_from(gate_nodes)
    public = w[w["access"].isna() & ~w["highway"].isin(NOT_WALKABLE)]
    pub_nodes = {
        index[tuple(p)]
        for p in shapely.get_coordinates(public.geometry.values)
        if tuple(p) in index
    } - gate_nodes
    for cid in c.loc[c["gated"], "compound_id"]:
        ring = w[(w["compound_id"] == cid) & (w["name"] == "小区内部路")].geometry.values[0]
        start = index[tuple(shapely.get_coordinates(ring)[0])]
        comp = nx.node_connected_component(h, start)
        assert not (comp & pub_nodes), cid
        assert nx.has_path(g, start, next(iter(pub_nodes)))


# --- network topology -------------------------------------------------------------------


def test_way_tags(demo):
    w = demo.ways
    assert w["way_id"].is_unique and w["way_id"].dtype.kind == "i"
    assert set(w["highway"]) == HIGHWAYS
    assert set(w["access"].dropna()) == {"private"}
    assert (w["foot"] == "no").sum() >= 2 and set(w["foot"].dropna()) == {"no"}
    assert "driveway" in set(w["service"].dropna())
    names = set(w.loc[w["highway"].isin(["primary", "secondary", "tertiary"]), "name"])
    assert {"阿尔丁大街", "钢铁大街", "友谊大街"} <= names
    assert (w.geom_type == "LineString").all() and (w.length > 0).all()


def test_walkable_network_is_connected(demo40):
    g, _, _, _ = vertex_graph(walkable(demo40.ways))
    assert nx.number_connected_components(g) == 1


def test_ways_meet_only_at_shared_vertices(demo):
    w = walkable(demo.ways)
    geoms = w.geometry.values
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inter = shapely.intersection(geoms[i], geoms[j])
    assert set(shapely.get_type_id(inter).tolist()) <= {0, 4}  # points only, no overlaps
    verts = [set(map(tuple, shapely.get_coordinates(x))) for x in geoms]
    for a, b, x in zip(i, j, inter, strict=True):
        for p in map(tuple, shapely.get_coordinates(x)):
            assert p in verts[a] and p in verts[b], (a, b, p)


def test_motorway_and_trunk_cross_without_sharing_vertices(demo):
    w = demo.ways
    fast = w[w["highway"].isin(NOT_WALKABLE)]
    slow = walkable(w)
    fast_v = set(map(tuple, shapely.get_coordinates(fast.geometry.values)))
    slow_v = set(map(tuple, shapely.get_coordinates(slow.geometry.values)))
    assert not fast_v & slow_v
    assert shapely.intersects(
        shapely.union_all(fast.geometry.values), shapely.union_all(slow.geometry.values)
    )


# --- facilities, coverage gaps -----------------------------------------------------------


def test_facilities(demo40):
    f, com, st = demo40.facilities, demo40.communities, demo40.streets
    assert f["facility_id"].str.fullmatch(r"F\d{4}").all() and f["facility_id"].is_unique
    assert set(f["type"]) <= set(FACILITY_TYPES)
    assert set(f["type"]) == {
        "centre_street",
        "centre_community",
        "station",
        "liaison_point",
        "recharge_station",
    }
    assert (f.groupby("type").size()["centre_street"]) == len(st)
    assert f.loc[f["type"] == "centre_street", "community_code"].str[:9].is_unique
    cc = f.loc[f["type"] == "centre_community", "community_code"]
    assert cc.is_unique and len(cc) > 0.6 * len(com)
    assert (f.loc[f["type"].str.startswith("centre"), "area_m2"] >= 500).all()
    assert f.loc[f["type"] == "station", "area_m2"].between(50, 200).all()
    assert f["capacity"].isna().any() and f["capacity"].notna().mean() > 0.5
    assert f["name"].str.contains("党群服务中心|党群服务站|红色蓄能站|党群联络点").all()
    stations = f[f["type"] == "station"]
    poly = (
        demo40.compounds.set_index("compound_id")
        .geometry.loc[stations["compound_id"].astype(int)]
        .values
    )
    assert shapely.within(stations.geometry.values, poly).all()
    assert not f["community_code"].isin(demo40.underserved_codes).any()


def network_distance_to_facilities(d: DemoDistrict, points) -> np.ndarray:
    """Walking distance from each point to its nearest facility, both snapped to edges."""
    g, uniq, a, b = vertex_graph(walkable(d.ways))
    segs = shapely.linestrings(np.stack([uniq[a], uniq[b]], axis=1))
    tree = shapely.STRtree(segs)

    def attach(pt, name):
        k = int(tree.query_nearest(pt)[0])
        off = shapely.distance(segs[k], pt)
        t = shapely.line_locate_point(segs[k], pt)
        g.add_edge(name, int(a[k]), weight=off + t)
        g.add_edge(name, int(b[k]), weight=off + shapely.length(segs[k]) - t)

    for k, p in enumerate(d.facilities.geometry.values):
        attach(p, ("f", k))
        g.add_edge("src", ("f", k), weight=0.0)
    for k, p in enumerate(points):
        attach(p, ("p", k))
    dist = nx.single_source_dijkstra_path_length(g, "src")
    return np.array([dist.get(("p", k), np.inf) for k in range(len(points))]) - 0.0


@pytest.mark.parametrize("n, seed", [(10, 0), (40, 7)])
def test_underserved_communities_are_far_from_every_facility(n, seed):
    d = make_district(n_communities=n, seed=seed)
    assert max(1, n // 5) <= len(d.underserved_codes) <= max(1, 3 * n // 10)
    com = d.communities
    cen = com.geometry.centroid.values
    dist = network_distance_to_facilities(d, cen)
    under = com["community_code"].isin(d.underserved_codes).to_numpy()
    assert dist[under].min() >= 1500.0
    assert np.median(dist[~under]) < 1000.0  # the old town is mostly covered


# --- scale -------------------------------------------------------------------------------


def test_scales_roughly_linearly(demo, demo40):
    for layer in ("buildings", "ways", "compounds"):
        ratio = len(getattr(demo40, layer)) / len(getattr(demo, layer))
        assert 2.5 < ratio < 6.0, layer
    assert 2.5 < households(demo40.buildings) / households(demo.buildings) < 6.0


def test_geogrid_network_builder_keeps_compound_paths(demo):
    from geogrid.network.build import network_from_ways

    net = network_from_ways(demo.ways, residential=demo.compounds)
    s = net.summary()
    assert s["components"] == 1
    assert s["dropped_private"] == 0 and s["private_edges_kept"] > 0
    assert s["dropped_foot_no"] == int((demo.ways["foot"] == "no").sum())
    assert s["dropped_not_walkable"] == int(demo.ways["highway"].isin(NOT_WALKABLE).sum())
