"""Exact reached lines (``service_areas(lines=True)``): pieces chained into trails, same set."""

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
import shapely.ops
from _nxref import reference_graph
from conftest import real_path
from shapely.geometry import LineString, Point

from geogrid.analyses.coverage.areas import chain_pieces, merge_intervals
from geogrid.analyses.coverage.engine import compute_coverage, service_areas
from geogrid.network.build import network_from_graphml, network_from_ways

CRS = "EPSG:4546"


def grid_net():
    """A 400 m square ring with a street through its middle and a 300 m spur east."""
    ways = gpd.GeoDataFrame(
        {"highway": ["residential"] * 3},
        geometry=[
            LineString(
                [(0, 0), (200, 0), (400, 0), (400, 200), (400, 400), (0, 400), (0, 200), (0, 0)]
            ),
            LineString([(0, 200), (400, 200), (700, 200)]),
            LineString([(200, 0), (200, 100)]),
        ],
        crs=CRS,
    )
    return network_from_ways(ways)


def test_trails_hand_checked():
    net = grid_net()
    fac = gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(0, 100)], crs=CRS)
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=[Point(10, 10)], crs=CRS)
    cov = compute_coverage(net, dem, fac, targets="300m,5km")
    lines = service_areas(cov, lines=True)
    assert list(lines.facility_id) == ["all", "all", "F0001", "F0001"]
    near, far = lines.geometry.iloc[2], lines.geometry.iloc[3]
    # 300 m: 100 m down to the corner then 200 m east, 100 m up then 200 m east on the
    # middle street, and 200 m on up the west side: 300 + 300 + 300 - 0 (the start is shared)
    assert near.length == pytest.approx(100 + 200 + 100 + 200 + 200, abs=1e-9)
    assert lines.reached_km.iloc[2] == pytest.approx(0.8)
    # everything: ring 1,600 m + middle street 700 m + spur 100 m in 3 trails instead of 10
    # edges: one open trail per two odd nodes (the spur's foot and tip, the middle street's
    # west end and east tip), plus the closed one the pairing at a node can leave
    assert far.length == pytest.approx(2400, abs=1e-9)
    assert shapely.get_num_geometries(far) == 3
    assert sum(not p.is_closed for p in far.geoms) == 2
    whole = shapely.union_all(np.asarray(net.edges.geometry.values))
    assert shapely.symmetric_difference(far, whole).length < 1e-9
    assert all(p.length > 0 for p in far.geoms)


def test_cycle_becomes_one_closed_trail():
    ring = gpd.GeoDataFrame(
        {"highway": ["residential"] * 2},
        geometry=[
            LineString([(0, 0), (300, 0), (300, 300)]),
            LineString([(300, 300), (0, 300), (0, 0)]),
        ],
        crs=CRS,
    )
    net = network_from_ways(ring)
    fac = gpd.GeoDataFrame({"type": ["station"]}, geometry=[Point(150, -5)], crs=CRS)
    cov = compute_coverage(net, fac.assign(households=1), fac, targets="2km")
    got = service_areas(cov, lines=True, per_facility=False).geometry.iloc[0]
    assert shapely.get_num_geometries(got) == 1
    assert got.geoms[0].is_ring and got.length == pytest.approx(1200, abs=1e-9)


def test_chain_pieces_joins_only_equal_points():
    # three pieces meeting at (1, 0) in group 0, one piece of group 1 on the same point
    xy = np.array([[0, 0], [1, 0], [1, 0], [2, 0], [1, 1], [1, 0], [1, 0], [5, 5.0]])
    off = np.array([0, 2, 4, 6, 8])
    node = np.array([0, 1, 1, 2, 3, 1, 1, 4])
    groups, geoms = chain_pieces(np.array([0, 0, 0, 1]), xy, off, node, 5)
    assert groups.tolist() == [0, 1]
    assert shapely.get_num_geometries(geoms[0]) == 2 and geoms[0].length == pytest.approx(3)
    assert shapely.get_num_geometries(geoms[1]) == 1


def test_merge_intervals_union():
    length = np.array([10.0, 10.0])
    g, e, s, t, whole = merge_intervals(
        np.array([0, 0, 0, 1, 0]),
        np.array([0, 0, 0, 0, 1]),
        np.array([0.0, 2.0, 6.0, 1.0, 0.0]),
        np.array([3.0, 5.0, 7.0, 2.0, 10.0]),
        length,
    )
    assert list(zip(g, e, s, t, whole, strict=True)) == [
        (0, 0, 0.0, 5.0, False),
        (0, 0, 6.0, 7.0, False),
        (0, 1, 0.0, 10.0, True),
        (1, 0, 1.0, 2.0, False),
    ]


def _reference_lines(net, cov, g, j, limits):
    """Reached lines of facility ``j`` per limit from networkx distances (substrings)."""
    dist = nx.single_source_dijkstra_path_length(g, ("f", j), cutoff=max(limits), weight="weight")
    geoms = np.asarray(net.edges.geometry.values)
    length = net.edges["length_m"].to_numpy()
    fs = cov.fac_snap
    out = []
    for lim in limits:
        parts, total = [], 0.0
        for e, (u, v) in enumerate(zip(net.edges["u"], net.edges["v"], strict=True)):
            ln = length[e]
            iv = []
            a, b = lim - dist.get(int(u), np.inf), lim - dist.get(int(v), np.inf)
            if a > 0:
                iv.append((0.0, min(a, ln)))
            if b > 0:
                iv.append((max(ln - b, 0.0), ln))
            if e == fs.edge[j] and lim > fs.snap_m[j]:
                r = lim - fs.snap_m[j]
                iv.append((max(fs.pos_m[j] - r, 0.0), min(fs.pos_m[j] + r, ln)))
            merged: list[list[float]] = []
            for s, t in sorted(iv):
                if merged and s <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], t)
                else:
                    merged.append([s, t])
            for s, t in merged:
                total += t - s
                parts.append(shapely.ops.substring(geoms[e], s, t))
        out.append((total, shapely.union_all(parts) if parts else None, len(parts)))
    return out


def test_lines_equal_networkx_reference_per_facility():
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    rng = np.random.default_rng(11)
    pts = gpd.points_from_xy(rng.uniform(114.0, 114.04, 6), rng.uniform(22.52, 22.55, 6), crs=4326)
    fac = gpd.GeoDataFrame({"type": ["station"] * 6}, geometry=pts, crs=4326)
    dem = gpd.GeoDataFrame({"households": [1]}, geometry=pts[:1], crs=4326)
    cov = compute_coverage(net, dem, fac)
    lines = service_areas(cov, lines=True)
    limits = [cov.max_dist_m(t.name) for t in cov.targets]
    # equal limits (15 min at 4 km/h = 1 km) share one geometry object, rows stay cumulative
    allr = lines[lines.facility_id == "all"]
    assert allr.geometry.iloc[2] is allr.geometry.iloc[3]
    assert (np.diff(allr.reached_km.to_numpy()[:3]) > 0).all()
    checked = 0
    g = reference_graph(net, {"f": cov.fac_snap})
    for j in range(len(fac)):
        fid = cov.facilities["facility_id"].iloc[j]
        mine = lines[lines.facility_id == fid].set_index("target")
        for t, (total, ref, n_pieces) in zip(
            cov.targets, _reference_lines(net, cov, g, j, limits), strict=True
        ):
            if total == 0:
                assert t.name not in mine.index
                continue
            got = mine.loc[t.name, "geometry"]
            assert got.length == pytest.approx(total, abs=1e-6)
            assert mine.loc[t.name, "reached_km"] == pytest.approx(round(total / 1000, 3))
            # the same set of points: every metre of each lies on the other (an overlay would
            # not do: the streets cross, and it nodes crossings slightly apart in each input)
            for a, b in ((got, ref), (ref, got)):
                pts = shapely.points(shapely.get_coordinates(shapely.segmentize(a, 1.0)))
                assert shapely.distance(pts, b).max() < 1e-6
            # pieces chained: fewer parts than reached edge pieces
            assert shapely.get_num_geometries(got) <= n_pieces
            checked += 1
    assert checked >= 12
