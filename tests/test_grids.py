"""Tests for geogrid.grids: governance grid partition, codes, quality, workload, funds."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import real_path
from shapely.geometry import LineString, Point, box

from geogrid.analyses.grids.partition import (
    community_funds,
    grid_atoms,
    grid_quality,
    partition,
    responsibility_areas,
    workload,
)
from geogrid.errors import CRSError, InputError
from geogrid.study.demand import estimate_households, prepare_demand

CRS = "EPSG:4546"
X0, Y0 = 500000.0, 4000000.0


def make_area(nx=2, ny=1, w=800.0, h=600.0, street=200.0, seed=0, compounds=False):
    """Communities of w x h m, streets every ``street`` m, 22 x 50 m buildings."""
    rng = np.random.default_rng(seed)
    comms, bld, edges = [], [], []
    for cx in range(nx):
        for cy in range(ny):
            x0, y0 = X0 + cx * w, Y0 + cy * h
            code = f"150203001{cx * ny + cy + 1:03d}"
            comms.append(
                {
                    "community_code": code,
                    "name": f"C{code[-3:]}",
                    "geometry": box(x0, y0, x0 + w, y0 + h),
                }
            )
            for bx in np.arange(x0 + 10, x0 + w - 30, 40):
                for by in np.arange(y0 + 10, y0 + h - 60, 70):
                    rx, ry = (bx - x0) % street, (by - y0) % street
                    if rx < 35 or ry < 15 or rx > street - 22 or ry > street - 50:
                        continue  # keep buildings off the streets
                    comp = f"{code}-{int((bx - x0) // street)}-{int((by - y0) // street)}"
                    bld.append(
                        {
                            "households": float(rng.integers(10, 60)),
                            "party_members": float(rng.integers(0, 3)),
                            "compound_id": comp if compounds else None,
                            "geometry": box(bx, by, bx + 22, by + 50),
                        }
                    )
    for x in np.arange(X0, X0 + nx * w + 1, street):
        edges.append(LineString([(x, Y0 - 50), (x, Y0 + ny * h + 50)]))
    for y in np.arange(Y0, Y0 + ny * h + 1, street):
        edges.append(LineString([(X0 - 50, y), (X0 + nx * w + 50, y)]))
    return (
        gpd.GeoDataFrame(comms, crs=CRS),
        gpd.GeoDataFrame(bld, crs=CRS),
        gpd.GeoDataFrame(geometry=edges, crs=CRS),
    )


def check_tiling(grids, communities, rel=1e-6):
    for code, sub in grids.groupby("community_code"):
        c = communities.loc[communities["community_code"] == code].geometry.iloc[0]
        u = shapely.union_all(np.asarray(sub.geometry.values))
        assert shapely.area(shapely.symmetric_difference(u, c)) <= rel * c.area
        assert sub.area.sum() == pytest.approx(c.area, rel=rel)
    assert (grids.geom_type == "Polygon").all()


@pytest.fixture(scope="module")
def area():
    return make_area()


@pytest.fixture(scope="module")
def result(area):
    comm, dem, edges = area
    return partition(comm, dem, network_edges=edges, seed=0)


def test_partition_tiles_contiguous_and_in_band(area, result):
    comm, dem, _ = area
    g = result.grids
    check_tiling(g, comm)
    assert g["in_band"].mean() >= 0.95
    assert g["households"].between(200, 500).mean() >= 0.95
    assert g["households"].sum() == pytest.approx(dem["households"].sum())
    q = result.quality.iloc[0]
    assert q["contiguity_share"] == 1.0
    assert bool(q["tiling_exact"])
    assert q["n_grids"] == len(g)
    assert 0.3 < q["pp_mean"] <= 1.0
    assert result.communities_derived is False
    # p close to total / target
    for _code, sub in g.groupby("community_code"):
        assert abs(len(sub) - sub["households"].sum() / 350) <= 1.5


def test_columns_codes_and_flags(result):
    g = result.grids
    for col in [
        "grid_code",
        "community_code",
        "community_name",
        "households",
        "population",
        "party_members",
        "area_m2",
        "polsby_popper",
        "party_group_eligible",
        "n_units",
        "in_band",
        "grid_workers",
        "workload_h_month",
    ]:
        assert col in g.columns
    assert g["grid_code"].str.fullmatch(r"\d{15}").all()
    assert g["grid_code"].is_unique
    assert (g["grid_code"].str[:12] == g["community_code"]).all()
    assert g["population"].to_numpy() == pytest.approx(g["households"].to_numpy() * 2.62)
    assert (g["party_group_eligible"] == (g["party_members"] >= 3)).all()
    pp = 4 * math.pi * g.area / g.length**2
    assert g["polsby_popper"].to_numpy() == pytest.approx(pp.to_numpy())
    # sequences are 001..p without gaps
    for _, sub in g.groupby("community_code"):
        seq = sorted(int(s[-3:]) for s in sub["grid_code"])
        assert seq == list(range(1, len(sub) + 1))


def test_codes_reading_order(result, area):
    comm, _, _ = area
    for code, group in result.grids.groupby("community_code"):
        cpoly = comm.loc[comm["community_code"] == code].geometry.iloc[0]
        sub = group.sort_values("grid_code")
        h = math.sqrt(cpoly.area / len(sub))
        ymax = sub.total_bounds[3]
        c = sub.geometry.centroid
        row = np.floor((ymax - c.y.to_numpy()) / h)
        # rows never go back north, x increases inside a row
        assert (np.diff(row) >= 0).all()
        for r in np.unique(row):
            xs = c.x.to_numpy()[row == r]
            assert (np.diff(xs) > 0).all()
        # the first grid is in the northern row, the last in the southern row
        assert row[0] == row.min() and row[-1] == row.max()


def test_assignment_matches_grids(area, result):
    _, dem, _ = area
    a = result.assignment
    assert a.index.equals(dem.index)
    assert a.notna().all()
    sums = dem["households"].groupby(a).sum()
    g = result.grids.set_index("grid_code")["households"]
    assert sums.reindex(g.index).to_numpy() == pytest.approx(g.to_numpy())
    # each building lies in the grid it is assigned to (its representative point)
    grids = result.grids.set_index("grid_code").geometry
    pts = dem.geometry.representative_point()
    inside = [grids[c].buffer(0.01).contains(p) for c, p in zip(a, pts, strict=True)]
    assert all(inside)


def test_deterministic_same_seed(area, result):
    comm, dem, edges = area
    again = partition(comm, dem, network_edges=edges, seed=0)
    pd.testing.assert_series_equal(again.assignment, result.assignment)
    assert again.grids["households"].tolist() == result.grids["households"].tolist()
    assert all(again.grids.geometry.geom_equals_exact(result.grids.geometry, 1e-9))


def test_atoms_never_cross_streets(area, result):
    _, _, edges = area
    streets = shapely.union_all(np.asarray(edges.geometry.values))
    atoms = np.asarray(result.atoms.geometry.values)
    crossing = shapely.length(shapely.intersection(shapely.buffer(atoms, -0.5), streets))
    assert crossing.max() == pytest.approx(0.0, abs=1e-6)
    # so every grid boundary runs along streets or between building cells of one block
    assert len(result.atoms) > len(result.grids)


def test_small_community_reported():
    comm = gpd.GeoDataFrame(
        {"community_code": ["150203001001"], "name": ["small"]},
        geometry=[box(X0, Y0, X0 + 200, Y0 + 200)],
        crs=CRS,
    )
    dem = gpd.GeoDataFrame(
        {"households": [40.0, 40.0, 40.0]},
        geometry=[Point(X0 + 50, Y0 + 50), Point(X0 + 150, Y0 + 50), Point(X0 + 100, Y0 + 150)],
        crs=CRS,
    )
    res = partition(comm, dem)
    assert len(res.grids) == 1
    assert res.grids["households"].iloc[0] == pytest.approx(120.0)
    assert not res.grids["in_band"].iloc[0]
    assert len(res.infeasible) == 1
    assert "below the minimum" in res.infeasible["reason"].iloc[0]
    check_tiling(res.grids, comm)


def test_oversized_tower_is_own_grid():
    comm, dem, edges = make_area(nx=1, ny=1)
    tower = gpd.GeoDataFrame(
        {"households": [800.0], "party_members": [0.0]},
        geometry=[box(X0 + 230, Y0 + 230, X0 + 260, Y0 + 260)],
        crs=CRS,
    )
    dem2 = pd.concat([dem, tower], ignore_index=True)
    res = partition(comm, dem2, network_edges=edges)
    check_tiling(res.grids, comm)
    tower_grid = res.assignment.iloc[-1]
    row = res.grids.set_index("grid_code").loc[tower_grid]
    assert row["households"] >= 800.0
    assert row["households"] < 800.0 + 60  # only zero-household fillers may join
    assert res.infeasible["reason"].str.contains("above the maximum").any()
    ok = res.grids[res.grids["grid_code"] != tower_grid]
    assert ok["in_band"].mean() >= 0.95


def test_compounds_kept_whole_unless_too_big():
    comm, dem, edges = make_area(nx=1, ny=1, compounds=True)
    res = partition(comm, dem, network_edges=edges)
    check_tiling(res.grids, comm)
    per_comp = res.assignment.groupby(dem["compound_id"]).nunique()
    comp_hh = dem.groupby("compound_id")["households"].sum()
    assert (per_comp[comp_hh <= 500] == 1).all()
    # a big compound (all buildings in one) is split
    dem_big = dem.assign(compound_id="one")
    res2 = partition(comm, dem_big, network_edges=edges)
    assert res2.assignment.nunique() > 1


def test_walls_cut_atoms():
    comm, dem, edges = make_area(nx=1, ny=1)
    wall = box(X0 + 205, Y0 + 205, X0 + 395, Y0 + 395).exterior
    walls = gpd.GeoDataFrame(geometry=[wall], crs=CRS)
    at = grid_atoms(comm, dem, network_edges=edges, walls=walls)
    # every atom is on one side of the wall
    inside = box(X0 + 205, Y0 + 205, X0 + 395, Y0 + 395)
    share = at.intersection(inside).area / at.area
    assert ((share < 1e-6) | (share > 1 - 1e-6)).all()
    assert at.area.sum() == pytest.approx(comm.area.sum(), rel=1e-9)


def test_atoms_cover_footprints(area):
    comm, dem, edges = area
    at = grid_atoms(comm, dem, network_edges=edges)
    assert at.area.sum() == pytest.approx(comm.area.sum(), rel=1e-9)
    assert at["households"].sum() == pytest.approx(dem["households"].sum())
    res = partition(comm, dem, network_edges=edges)
    grids = res.grids.set_index("grid_code").geometry
    cover = [
        grids[c].intersection(f).area / f.area
        for c, f in zip(res.assignment, dem.geometry, strict=True)
    ]
    # buildings are never split: each footprint lies (almost) wholly in its grid
    assert np.mean(cover) > 0.99
    assert np.min(cover) > 0.9


def test_points_demand():
    comm, dem, edges = make_area(nx=1, ny=1)
    pts = dem.copy()
    pts["geometry"] = dem.geometry.centroid
    res = partition(comm, pts, network_edges=edges)
    check_tiling(res.grids, comm)
    assert res.grids["in_band"].mean() >= 0.95


def test_geographic_crs_raises(area):
    comm, dem, _ = area
    with pytest.raises(CRSError, match="to_crs"):
        partition(comm.to_crs(4326), dem)


def test_bad_inputs_raise(area):
    comm, dem, _ = area
    pts = dem.drop(columns="households").set_geometry(dem.centroid)
    with pytest.raises(InputError, match="households"):
        partition(comm, pts)  # points without households or population
    with pytest.raises(InputError, match="community_code"):
        partition(comm.drop(columns="community_code"), dem)
    with pytest.raises(InputError, match="band"):
        partition(comm, dem, min_households=600, max_households=500)
    with pytest.raises(InputError, match="network_edges"):
        partition(None, dem)


def test_configurable_band(area):
    comm, dem, edges = area
    res = partition(
        comm,
        dem,
        network_edges=edges,
        min_households=100,
        target_households=150,
        max_households=200,
    )
    assert res.grids["households"].between(100, 200).mean() >= 0.95
    assert len(res.grids) > 2 * 20


def test_quality_detects_gaps(area, result):
    comm, _, _ = area
    q = grid_quality(result.grids.iloc[1:], comm)
    assert not bool(q["tiling_exact"].iloc[0])
    assert q["tiling_gap_rel"].iloc[0] > 0.01
    q2 = grid_quality(result.grids, comm)
    assert bool(q2["tiling_exact"].iloc[0])
    hh = result.grids["households"]
    assert q2["households_cv"].iloc[0] == pytest.approx(hh.std(ddof=0) / hh.mean())
    assert q2["households_min"].iloc[0] == pytest.approx(hh.min())


def test_workload_by_hand():
    t = pd.DataFrame({"households": [350.0, 0.0, 3000.0]})
    w = workload(t)
    # 35 vulnerable monthly + 315 / 3 quarterly = 140 visits x 20 min
    # + 120 min x 21.75 days patrol + 240 min x 52 / 12 weeks
    hours = (140 * 20 + 120 * 21.75 + 240 * 52 / 12) / 60
    assert w["visits_month"].iloc[0] == pytest.approx(140.0)
    assert w["workload_h_month"].iloc[0] == pytest.approx(hours)
    assert w["grid_workers"].tolist()[:2] == [1, 1]
    assert w["grid_workers"].iloc[2] == math.ceil(w["workload_h_month"].iloc[2] / 174)
    w2 = workload(t, vulnerable_share=1.0, visit_minutes=30)
    assert w2["visits_month"].iloc[0] == pytest.approx(350.0)
    with pytest.raises(InputError):
        workload(t, vulnerable_share=2.0)


def test_community_funds_by_hand(result):
    t = pd.DataFrame(
        {
            "community_code": ["a", "a", "b"],
            "households": [100, 200, 50],
            "party_members": [3, 1, 0],
        }
    )
    f = community_funds(t).set_index("community_code")
    assert f.loc["a", "funds_total_yuan"] == pytest.approx(300 * 35 + 300 * 50 + 4 * 300)
    assert f.loc["b", "funds_activity_yuan"] == 0
    f2 = community_funds(t, office_per_household=10).set_index("community_code")
    assert f2.loc["b", "funds_office_yuan"] == pytest.approx(500)
    c = result.communities
    assert (c["funds_total_yuan"] > 0).all()
    assert c["households"].sum() == pytest.approx(result.grids["households"].sum())


def test_responsibility_areas(area, result):
    _, dem, _ = area
    ra = responsibility_areas(result, dem)
    assert ra["area_code"].str.fullmatch(r"\d{18}").all()
    assert (ra["area_code"].str[:15] == ra["grid_code"]).all()
    assert ra["households"].sum() == pytest.approx(dem["households"].sum())
    assert ra["buildings"].sum() == len(dem)
    assert ra["in_band"].mean() >= 0.9
    check = ra.rename(columns={"grid_code": "community_code"})
    gg = result.grids.rename(columns={"community_code": "cc", "grid_code": "community_code"})
    check_tiling(check, gg)


def test_derived_communities(area, caplog):
    _, dem, edges = area
    with caplog.at_level(logging.WARNING, logger="geogrid.grids"):
        res = partition(None, dem, network_edges=edges)
    assert res.communities_derived is True
    assert "derived" in caplog.text
    assert res.communities["community_code"].str.fullmatch(r"\d{12}").all()
    assert res.assignment.notna().all()
    check_tiling(res.grids, res.communities)
    assert res.grids["in_band"].mean() >= 0.95


def suzhou_area():
    b = estimate_households(gpd.read_file(real_path("suzhou_buildings_floors.geojson")), crs=4549)
    x0, y0, x1, y1 = b.total_bounds + np.array([-10, -10, 10, 10])
    rows = []
    n = 3
    for i in range(n):
        for j in range(n):
            rows.append(
                {
                    "community_code": f"320508001{i * n + j + 1:03d}",
                    "name": f"S{i * n + j + 1}",
                    "geometry": box(
                        x0 + (x1 - x0) * i / n,
                        y0 + (y1 - y0) * j / n,
                        x0 + (x1 - x0) * (i + 1) / n,
                        y0 + (y1 - y0) * (j + 1) / n,
                    ),
                }
            )
    return gpd.GeoDataFrame(rows, crs=4549), b


def test_real_suzhou_buildings():
    comm, b = suzhou_area()
    res = partition(comm, b)
    check_tiling(res.grids, comm)
    q = res.quality.iloc[0]
    assert bool(q["tiling_exact"])
    assert q["contiguity_share"] == 1.0
    assert q["share_in_band_feasible"] >= 0.95
    assert res.grids["households"].sum() == pytest.approx(b["households"].sum())
    assert 80 <= len(res.grids) <= 120  # about 34,600 households / 350
    assert res.assignment.notna().all()


def test_demo_district_synth():
    from geogrid import demo as synth

    d = synth.make_district(n_communities=8, seed=1)
    b = estimate_households(d.buildings)
    ways = d.ways[d.ways["compound_id"].isna()] if "compound_id" in d.ways else d.ways
    res = partition(d.communities, b, network_edges=ways, walls=d.walls, seed=0)
    q = res.quality.iloc[0]
    assert q["contiguity_share"] == 1.0
    assert bool(q["tiling_exact"])
    assert q["share_in_band"] >= 0.9
    assert q["share_in_band_feasible"] >= 0.95 or np.isnan(q["share_in_band_feasible"])
    # every demo community carries a certificate other than unknown
    assert (res.certificates["status"] != "unknown").all()
    bad = res.certificates["status"] == "infeasible"
    assert (res.certificates.loc[bad, "proof"].str.len() > 0).all()
    check_tiling(res.grids, d.communities)
    # compounds that fit the band stay in one grid
    comp = b["compound_id"].astype("string")
    has = comp.notna() & (b["households"] > 0)
    per = res.assignment[has].groupby(comp[has]).nunique()
    hh = b.loc[has, "households"].groupby(comp[has]).sum()
    assert (per[hh <= 500] == 1).all()
    again = partition(d.communities, b, network_edges=ways, walls=d.walls, seed=0)
    pd.testing.assert_series_equal(again.assignment, res.assignment)


# --------------------------------------------------- exact tiling whatever the lines are


def test_walkable_network_tiles_exactly():
    """Regression: footways along a community edge used to lose a whole block (2.3 %)."""
    from geogrid import demo as synth
    from geogrid.network.build import network_from_ways

    d = synth.make_district()
    dem = prepare_demand(d.buildings)
    dem = dem[dem.households > 0]
    r = partition(d.communities, dem, network_edges=network_from_ways(d.ways).edges, walls=d.walls)
    q = r.quality.iloc[0]
    assert q["tiling_gap_rel"] < 1e-6
    assert q["tiling_overlap_rel"] < 1e-6
    assert bool(q["tiling_exact"])
    assert q["contiguity_share"] == 1.0
    hole = shapely.difference(d.communities.union_all(), r.grids.union_all())
    assert hole.area < 1.0
    assert r.assignment.notna().all()
    assert (r.grids["households"] > 0).all()
    check_tiling(r.grids, d.communities)


# a tilted community (float coordinates, like a projected real one) and a path running along
# its west edge to the corner: noding leaves faces with a zero-width spike on the outline
TILT = [
    (401043.4969279351, 4501766.615583808),
    (401014.1985427896, 4502331.897722618),
    (400492.9842759913, 4502304.883360614),
    (400522.28266113676, 4501739.6012218045),
]


def _on_west_edge(t):
    a, b = np.asarray(TILT[3]), np.asarray(TILT[2])
    return tuple(a + (b - a) * t)


def tilted_case():
    comm = gpd.GeoDataFrame(
        {"community_code": ["150203001001"], "name": ["T"]},
        geometry=[shapely.Polygon(TILT)],
        crs=CRS,
    )
    a, b = _on_west_edge(0.2), _on_west_edge(0.275)
    lines = gpd.GeoDataFrame(
        geometry=[
            LineString([a, TILT[2]]),  # along the edge, up to the corner
            LineString([a, (401100.0, a[1] + 10.0)]),
            LineString([b, (401100.0, b[1] + 10.0)]),
        ],
        crs=CRS,
    )
    # buildings only in the southern block, below both cross lines
    bld = gpd.GeoDataFrame(
        {"households": [60.0] * 6},
        geometry=[box(400600 + 60 * k, 4501780, 400620 + 60 * k, 4501820) for k in range(6)],
        crs=CRS,
    )
    return comm, lines, bld


def test_blocks_tile_with_path_along_outline():
    from geogrid.analyses.grids.atoms import blocks_of

    comm, lines, _ = tilted_case()
    poly = comm.geometry.iloc[0]
    blocks = blocks_of(poly, np.asarray(lines.geometry.values, dtype=object))
    assert len(blocks) == 3
    assert shapely.area(blocks).sum() == pytest.approx(poly.area, rel=1e-9)
    assert shapely.union_all(blocks).symmetric_difference(poly).area < 1e-6 * poly.area


def test_empty_blocks_join_a_grid():
    comm, lines, bld = tilted_case()
    res = partition(comm, bld, network_edges=lines)
    at = res.atoms
    assert at["grid_code"].notna().all()
    assert (at["households"] == 0).sum() >= 2  # the two empty northern blocks
    assert len(res.grids) == 1
    assert res.grids["households"].iloc[0] == pytest.approx(360.0)
    q = res.quality.iloc[0]
    assert q["tiling_gap_rel"] < 1e-6
    assert q["contiguity_share"] == 1.0
    check_tiling(res.grids, comm)


def test_fenced_empty_block_joins_neighbour():
    """An empty park fenced by a closed path inside a block belongs to a grid with people."""
    comm, dem, edges = make_area(nx=1, ny=1)
    park = LineString([(X0 + 230, Y0 + 230), (X0 + 370, Y0 + 230), (X0 + 370, Y0 + 370),
                       (X0 + 230, Y0 + 370), (X0 + 230, Y0 + 230)])  # fmt: skip
    dem = dem[~dem.intersects(shapely.Polygon(park.coords).buffer(1.0))]
    edges = pd.concat([edges, gpd.GeoDataFrame(geometry=[park], crs=CRS)], ignore_index=True)
    res = partition(comm, dem, network_edges=edges)
    at = res.atoms
    empty = at[(at["households"] == 0)]
    assert len(empty) >= 1
    assert at["grid_code"].notna().all()
    assert (res.grids["households"] > 0).all()
    q = res.quality.iloc[0]
    assert bool(q["tiling_exact"])
    assert q["contiguity_share"] == 1.0
    check_tiling(res.grids, comm)


def test_isolated_empty_part_joins_nearest_grid(caplog):
    """An empty separate part of a MultiPolygon community: no 0-household grid, reported."""
    comm, dem, edges = make_area(nx=1, ny=1)
    main = comm.geometry.iloc[0]
    islet = box(X0 + 900, Y0, X0 + 1000, Y0 + 100)  # 100 m east, nobody lives there
    comm = comm.set_geometry([shapely.MultiPolygon([main, islet])], crs=CRS)
    with caplog.at_level(logging.WARNING, logger="geogrid.grids"):
        res = partition(comm, dem, network_edges=edges)
    assert "empty separate part" in caplog.text
    assert (res.grids["households"] > 0).all()
    q = res.quality.iloc[0]
    assert bool(q["tiling_exact"])
    n = len(res.grids)
    assert q["contiguity_share"] == pytest.approx((n - 1) / n)
    multi = res.grids[res.grids.geom_type == "MultiPolygon"]
    assert len(multi) == 1 and multi.geometry.iloc[0].covers(islet)


def test_households_estimated_when_missing(area):
    comm, dem, edges = area
    bld = dem.drop(columns=["households"]).assign(levels=6)
    res = partition(comm, bld, network_edges=edges)
    ref = partition(comm, prepare_demand(bld, crs=comm.crs), network_edges=edges)
    expected = float((bld.area * 6 * 0.75 / 90.0).sum())
    assert res.grids["households"].sum() == pytest.approx(expected, rel=1e-3)
    pd.testing.assert_series_equal(res.assignment, ref.assignment)
    pd.testing.assert_series_equal(res.grids["households"], ref.grids["households"])


# ------------------------------------------------------------------ band certificates


def _path_graph(n):
    return [[b for b in (a - 1, a + 1) if 0 <= b < n] for a in range(n)]


def test_cheap_proofs_by_hand():
    from geogrid.analyses.grids.certificate import band_counts, cheap_proofs

    names = ["A", "B", "C"]
    one = np.zeros(3, int)
    # a single atom above the maximum
    p = cheap_proofs(np.array([620.0, 50.0, 50.0]), one, names, 200, 500)
    assert len(p) == 1 and "A alone holds 620 households" in p[0]
    # total below the minimum
    p = cheap_proofs(np.array([50.0, 50.0, 50.0]), one, names, 200, 500)
    assert len(p) == 1 and "150 households, below the minimum 200" in p[0]
    # 260 households, band 200-250: p = 1 gives 260 > 250, p = 2 needs 400 <= 260
    assert band_counts(260, 200, 250) == (2, 1)
    p = cheap_proofs(np.array([100.0, 80.0, 80.0]), one, names, 200, 250)
    assert any("no whole number of grids" in s for s in p)
    # C (156) needs a partner, the lightest other holds 355: 511 > 500
    p = cheap_proofs(np.array([395.0, 355.0, 156.0]), one, names, 200, 500)
    assert len(p) == 1 and p[0].startswith("C holds 156") and "355" in p[0]
    # per connected part: two parts of 300 and 150
    p = cheap_proofs(np.array([300.0, 100.0, 50.0]), np.array([0, 1, 1]), names, 200, 500)
    assert len(p) == 1 and "separate part (2 atoms)" in p[0]
    assert cheap_proofs(np.array([300.0, 100.0, 150.0]), one, names, 200, 500) == []


def test_contract_leaves_by_hand():
    from geogrid.analyses.grids.certificate import contract_leaves

    # star: centre 0 (100) with leaves 1 (50), 2 (300), 3 (0); band minimum 200. Leaves 1
    # and 3 join 0 (150), which is then a light leaf of 2 and joins it: 450 in one atom
    nbrs = [[1, 2, 3], [0], [0], [0]]
    w, nb, owner = contract_leaves(np.array([100.0, 50.0, 300.0, 0.0]), nbrs, 200)
    assert w.tolist() == [450.0]
    assert nb == [[]]
    assert owner.tolist() == [0, 0, 0, 0]
    # path 250-50-250: nothing to contract (the leaves are not light)
    w, nb, owner = contract_leaves(np.array([250.0, 50.0, 250.0]), _path_graph(3), 200)
    assert w.tolist() == [250.0, 50.0, 250.0] and owner.tolist() == [0, 1, 2]


def test_exact_model_proves_and_finds():
    from geogrid.analyses.grids.certificate import certify, cheap_proofs, exact_feasible

    nbrs = _path_graph(5)
    w = np.array([150.0, 100.0, 150.0, 100.0, 150.0])
    # 650 households in 200-300: three grids, consecutive on the path; every way to cut it
    # leaves a grid of 150 or one of 400. No cheap proof applies; the exact model proves it
    assert cheap_proofs(w, np.zeros(5, int), list("abcde"), 200, 300) == []
    assert exact_feasible(w, nbrs, lo=200, hi=300)[0] == "infeasible"
    cert = certify(w, nbrs, np.zeros(5, int), np.array([0, 0, 1, 1, 2]), list("abcde"),
                   lo=200, hi=300)  # fmt: skip
    assert cert.status == "infeasible" and cert.method == "exact"
    assert "exact model (HiGHS)" in cert.proof[0]
    # with 200-400 it is feasible: 250 + 400 (a, b | c, d, e)
    assert exact_feasible(w, nbrs, lo=200, hi=400)[0] == "feasible"
    # path 150-150-0-150-150 in 200-400: bad labels {150}, {150, 0, 150}, {150}; the exact
    # model finds {150, 150, 0}, {150, 150}
    w = np.array([150.0, 150.0, 0.0, 150.0, 150.0])
    cert = certify(w, _path_graph(5), np.zeros(5, int), np.array([0, 1, 1, 1, 2]),
                   list("abcde"), lo=200, hi=400)  # fmt: skip
    assert cert.status == "feasible" and cert.method == "exact"
    h = np.bincount(cert.labels, weights=w)
    assert sorted(h.tolist()) == [300.0, 300.0]
    # the heuristic's grids are kept when they already meet the band
    cert = certify(w, _path_graph(5), np.zeros(5, int), np.array([0, 0, 0, 1, 1]),
                   list("abcde"), lo=200, hi=400)  # fmt: skip
    assert cert.status == "feasible" and cert.method == "heuristic" and cert.labels is None


def test_partition_certificates(area, result):
    c = result.certificates
    assert list(c["community_code"]) == sorted(area[0]["community_code"])
    assert (c["status"] == "feasible").all()
    assert (c["grids_in_band"] == c["grids"]).all()
    q = result.quality.iloc[0]
    assert q["communities_feasible"] == len(c)
    assert q["communities_infeasible"] == q["communities_unknown"] == 0
    assert result.grids["area_plausible"].all()


def test_certificate_names_oversized_compound():
    comm, dem, edges = make_area(nx=1, ny=1, compounds=True)
    dem = dem.copy()
    dem.loc[dem.index[0], "households"] = 700.0  # one building alone above 500
    res = partition(comm, dem, network_edges=edges)
    c = res.certificates.iloc[0]
    assert c["status"] == "infeasible" and c["method"] == "proof"
    assert "700 households, above the maximum 500" in c["proof"]
    assert c["outside_band_lb_hh"] >= 200.0


def test_balance_measure_small():
    comm, dem, edges = make_area(nx=1, ny=1)
    res = partition(comm, dem, network_edges=edges, certificates="full")
    c = res.certificates.iloc[0]
    assert c["status"] == "feasible"
    assert 0.0 <= c["balance_bound_hh"] <= c["balance_best_hh"] <= c["balance_dev_hh"] + 1e-9
    with pytest.raises(InputError, match="certificates"):
        partition(comm, dem, network_edges=edges, certificates="all")


# ------------------------------------------------------- residential extent on real OSM


@pytest.mark.parametrize(
    ("name", "max_km2"),
    [("nanjing_xuanwu.osm", 4.0), ("guixi_jiangxi.osm", 1.0), ("shenzhen_longgang.osm", 1.0)],
)
def test_real_osm_grids_only_where_households_are(name, max_km2):
    from geogrid.io.osm import read_osm
    from geogrid.network.build import build_network

    path = real_path(name)
    osm = read_osm(path)
    dem = prepare_demand(osm.buildings)
    dem = dem[dem["households"] > 0].reset_index(drop=True)
    edges = build_network(path, crs=dem.crs).edges
    res = partition(None, dem, network_edges=edges, residential=osm.residential)
    g = res.grids
    # before: the network's hull, 12.6 km2 in Nanjing with a 4.57 km2 grid of 11 buildings
    assert g.area.sum() / 1e6 < max_km2
    assert g["area_plausible"].all()
    assert (g["households"] > 0).all()
    assert res.assignment.notna().all()
    assert g["households"].sum() == pytest.approx(dem["households"].sum())
    # every grid holds buildings: no grid is an empty block
    pts = dem.geometry.representative_point()
    holds = [pts.intersects(geom.buffer(0.01)).any() for geom in g.geometry]
    assert all(holds)
    c = res.communities
    assert c["community_code"].str.fullmatch(r"000000000\d{3}").all()
    assert c["code_provisional"].all()
    assert bool(res.quality["tiling_exact"].iloc[0])
    assert set(res.certificates["status"]) <= {"feasible", "infeasible"}
    if name.startswith("nanjing"):
        again = partition(None, dem, network_edges=edges, residential=osm.residential)
        assert again.communities["community_code"].tolist() == c["community_code"].tolist()
        assert all(again.communities.geometry.geom_equals_exact(c.geometry, 1e-6))


# ---------------------------------------------------------------------- command line


def test_cli_grids_needs_communities_or_network(tmp_path, capsys):
    from geogrid.cli import main

    dem = tmp_path / "d.geojson"
    gpd.GeoDataFrame({"households": [300.0]}, geometry=[Point(X0, Y0)], crs=CRS).to_file(dem)
    assert main(["grids", "--demand", str(dem), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("geogrid: error:")
    assert "--communities" in err and "--network" in err and "network_edges" not in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        main(["grids", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "without --communities, --network is required" in out.lower()
