from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import real_path

from geogrid.analyses.coverage.engine import compute_coverage
from geogrid.analyses.siting.matrix import coverage_pairs
from geogrid.analyses.siting.model import build_model, candidates, run_siting
from geogrid.errors import GeogridError, InputError
from geogrid.network import paths as _paths
from geogrid.network.build import network_from_graphml, network_from_ways
from geogrid.network.snap import snap_points

CRS = "EPSG:4546"
X0, Y0 = 400000.0, 4500000.0


def grid_net(nx: int = 11, ny: int = 11, step: float = 100.0):
    lines = []
    for j in range(ny):
        y = Y0 + j * step
        for i in range(nx - 1):
            lines.append(shapely.LineString([(X0 + i * step, y), (X0 + (i + 1) * step, y)]))
    for i in range(nx):
        x = X0 + i * step
        for j in range(ny - 1):
            lines.append(shapely.LineString([(x, Y0 + j * step), (x, Y0 + (j + 1) * step)]))
    ways = gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines, crs=CRS)
    return network_from_ways(ways)


def points(xy, **cols):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(cols, geometry=shapely.points(xy[:, 0], xy[:, 1]), crs=CRS)


def random_demand(rng, n, extent_m, households=None):
    xy = np.column_stack([X0 + rng.uniform(0, extent_m, n), Y0 + rng.uniform(0, extent_m, n)])
    hh = households if households is not None else rng.integers(5, 200, n).astype(float)
    return points(xy, households=hh)


@pytest.fixture(scope="module")
def line_net():
    # a 3 km straight street, nodes every 100 m
    lines = [
        shapely.LineString([(X0 + i * 100.0, Y0), (X0 + (i + 1) * 100.0, Y0)]) for i in range(30)
    ]
    ways = gpd.GeoDataFrame({"highway": ["residential"] * 30}, geometry=lines, crs=CRS)
    return network_from_ways(ways)


@pytest.fixture(scope="module")
def grid():
    return grid_net(16, 16, 100.0)


# ---------------------------------------------------------------------- matrix
@pytest.mark.parametrize("tile_m", [None, 150.0, 700.0])
def test_coverage_pairs_equals_bounded_pairs(grid, tile_m):
    rng = np.random.default_rng(1)
    units = snap_points(grid, random_demand(rng, 400, 1500.0))
    cand_xy = np.column_stack([X0 + rng.uniform(0, 1500, 60), Y0 + rng.uniform(0, 1500, 60)])
    cand = snap_points(grid, points(cand_xy))
    ref = _paths.bounded_pairs(grid, cand, units, 450.0)
    got = coverage_pairs(grid, cand, units, 450.0, tile_m=tile_m)
    assert got.nnz == ref.nnz > 0
    assert abs(got - ref).max() == pytest.approx(0.0, abs=1e-6)
    # same-edge pairs are present (some unit shares an edge with some candidate)
    assert np.intersect1d(units.edge, cand.edge).size > 0


def test_coverage_pairs_real_shenzhen():
    net = network_from_graphml(real_path("shenzhen_futian.graphml"))
    rng = np.random.default_rng(3)
    b = net.nodes.total_bounds
    pts = shapely.points(rng.uniform(b[0], b[2], 2000), rng.uniform(b[1], b[3], 2000))
    units = snap_points(net, pts)
    cand = snap_points(net, pts[:150])
    ref = _paths.bounded_pairs(net, cand, units, 1000.0)
    got = coverage_pairs(net, cand, units, 1000.0)
    assert got.nnz == ref.nnz > 0
    assert abs(got - ref).max() == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------- hand-checkable
def test_line_street_obvious_site(line_net):
    # households at 0-200 m and 2,600-3,000 m; the far cluster is bigger -> one site goes there
    dem = points(
        [(X0 + 50, Y0 + 5), (X0 + 150, Y0 + 5), (X0 + 2700, Y0 + 5), (X0 + 2900, Y0 + 5)],
        households=[100.0, 100.0, 300.0, 300.0],
    )
    fac = points([(X0 + 1500, Y0 + 10)], name=["centre"], type=["centre_community"])
    cands = points([(X0 + x, Y0) for x in (100, 1200, 1500, 2800)])
    res = run_siting(line_net, dem, fac, k=1, target="1km", candidates=cands, solver="both")
    assert res.sites["candidate_id"].tolist() == ["C00004"]
    assert res.sites["gain_households"].iloc[0] == pytest.approx(600.0)
    assert res.curve["households_covered"].tolist() == pytest.approx([0.0, 600.0])
    res2 = run_siting(line_net, dem, fac, k=2, target="1km", candidates=cands, solver="exact")
    assert sorted(res2.sites["candidate_id"]) == ["C00001", "C00004"]
    assert res2.sites["rank"].tolist() == [1, 2]
    assert res2.sites["gain_households"].tolist() == pytest.approx([600.0, 200.0])
    # the centre at 1,500 m reaches nobody within 1 km; 10-minute target (667 m) neither
    assert res2.curve["coverage_share"].iloc[-1] == pytest.approx(1.0)


def test_pmedian_line_matches_hand(line_net):
    # one unit at each end, no facility; one site: anywhere between minimises w-weighted sum
    # only when weights are equal, so make the east end heavier -> site at the east end
    dem = points([(X0 + 100, Y0), (X0 + 2900, Y0)], households=[10.0, 30.0])
    cands = points([(X0 + x, Y0) for x in (100, 1500, 2900)])
    res = run_siting(
        line_net,
        dem,
        None,
        k=1,
        target="1km",
        candidates=cands,
        problem="pmedian",
        pmedian_cap_m=5000.0,
        solver="both",
    )
    assert res.sites["candidate_id"].tolist() == ["C00003"]
    summ = dict(zip(res.summary["metric"], res.summary["value"], strict=False))
    # everyone walks to the east site: 10 hh x 2,800 m / 40 hh
    assert summ["mean_walk_m_after"] == pytest.approx(10 * 2800 / 40, abs=0.01)
    assert summ["objective"] == pytest.approx(28000.0, abs=1e-3)


# ---------------------------------------------------------------------- solvers
def _brute(model, k, kind):
    best = -np.inf
    n = model.cover.shape[0]
    for combo in itertools.combinations(range(n), k):
        if kind == "mclp":
            d = model.after(np.array(combo))
            val = float(model.w[(d <= model.limit_m) & ~model.covered0].sum())
        else:
            dist = model.distances(900.0)
            base = np.minimum(model.d0, 900.0)
            sub = dist[list(combo)].tocoo()
            cur = base.copy()
            np.minimum.at(cur, sub.col, sub.data - 1e-9)
            val = -float(np.sum(model.w * cur))
        best = max(best, val)
    return best


@pytest.fixture(scope="module")
def small_model(grid):
    rng = np.random.default_rng(7)
    dem = random_demand(rng, 150, 1500.0)
    fac = points([(X0 + 200, Y0 + 200)], name=["centre"], type=["centre_community"])
    cands = candidates(grid, every_m=250.0)
    cands = cands.iloc[::7].reset_index(drop=True)
    return build_model(grid, dem, fac, cands, target="400m")


def test_greedy_exact_and_brute_force(small_model):
    m = small_model
    assert 10 <= m.cover.shape[0] <= 80
    for k in (1, 2, 3):
        g = m.maximal_coverage(k=k, solver="greedy")
        e = m.maximal_coverage(k=k, solver="exact")
        brute = _brute(m, k, "mclp") if k <= 2 else None
        assert e.objective >= g.objective - 1e-6
        assert e.gap == pytest.approx(0.0, abs=1e-6)
        assert e.status == "Optimal"
        if k == 1:
            assert g.objective == pytest.approx(e.objective)
        if brute is not None:
            assert e.objective == pytest.approx(brute)
        assert g.objective >= (1 - 1 / np.e) * e.objective
    # p-median: exact equals brute force, greedy no better
    for k in (1, 2):
        g = m.p_median(k=k, cap_m=900.0, solver="greedy")
        e = m.p_median(k=k, cap_m=900.0, solver="exact")
        assert e.objective == pytest.approx(-_brute(m, k, "pmedian"), rel=1e-9)
        assert g.objective >= e.objective - 1e-6


def test_greedy_gains_nonincreasing_and_lazy(small_model):
    g = small_model.maximal_coverage(k=6, solver="greedy", swap=False)
    gains = g.info["gains"]
    assert np.all(np.diff(gains) <= 1e-9)
    assert g.objective == pytest.approx(gains.sum())
    # lazy evaluation re-evaluates far fewer than k x candidates
    assert g.evaluations < 6 * small_model.cover.shape[0]


def test_set_cover_reaches_share(small_model):
    m = small_model
    for share in (0.5, 0.8):
        need, ok = m.needed_households(share)
        assert ok
        g = m.set_cover(share=share, solver="greedy")
        e = m.set_cover(share=share, solver="exact")
        for sol in (g, e):
            d = m.after(sol.sites)
            assert m.w[d <= m.limit_m].sum() >= share * m.households - 1e-6
        assert len(e.sites) <= len(g.sites)
        assert e.objective == len(e.sites)


def test_set_cover_out_of_reach_is_flagged(line_net):
    dem = points([(X0 + 100, Y0), (X0 + 2900, Y0)], households=[10.0, 30.0])
    cands = points([(X0 + 100, Y0)])
    res = run_siting(
        line_net,
        dem,
        None,
        target="1km",
        candidates=cands,
        problem="set_cover",
        share=1.0,
        solver="both",
    )
    assert res.solvers["feasible"].tolist() == [False, False]
    assert res.curve["coverage_share"].iloc[-1] == pytest.approx(0.25)


def test_capacity(small_model):
    m = small_model
    cap = 400.0
    for solver in ("greedy", "exact"):
        sol = m.maximal_coverage(k=3, solver=solver, capacity_hh=cap)
        per_site = np.asarray(sol.assign.sum(axis=1)).ravel()
        assert per_site.max() <= cap + 1e-6
        assert per_site.sum() == pytest.approx(sol.objective, rel=1e-6)
        # assigned households are within reach and not covered today
        coo = sol.assign.tocoo()
        assert np.all(np.asarray(m.cover[coo.row, coo.col]).ravel() > 0)
        assert not m.covered0[coo.col].any()
    g = m.maximal_coverage(k=3, solver="greedy", capacity_hh=cap)
    e = m.maximal_coverage(k=3, solver="exact", capacity_hh=cap)
    assert e.objective >= g.objective - 1e-6


# ---------------------------------------------------------------------- run_siting end to end
def test_curve_matches_coverage_engine(grid):
    rng = np.random.default_rng(11)
    dem = random_demand(rng, 300, 1500.0)
    fac = points(
        [(X0 + 300, Y0 + 300), (X0 + 1200, Y0 + 400)],
        name=["a", "b"],
        type=["centre_community", "station"],
        facility_id=["F1", "F2"],
    )
    res = run_siting(grid, dem, fac, k=4, target="5min", every_m=150.0, solver="both")
    curve = res.curve
    assert curve["n_new_sites"].tolist() == list(range(len(curve)))
    assert np.all(np.diff(curve["households_covered"]) > 0)
    assert len(res.sites) == len(curve) - 1 <= 4
    before = compute_coverage(grid, dem, fac, targets="5min").table()
    assert curve["households_covered"].iloc[0] == pytest.approx(
        before.loc[before["within_5min"], "households"].sum(), abs=0.01
    )
    new = res.sites[["geometry"]].assign(
        facility_id=[f"N{i}" for i in range(len(res.sites))], type="station"
    )
    after = compute_coverage(
        grid, dem, pd.concat([fac, new], ignore_index=True), targets="5min"
    ).table()
    assert curve["households_covered"].iloc[-1] == pytest.approx(
        after.loc[after["within_5min"], "households"].sum(), abs=0.01
    )
    # ranked by marginal gain, gains add up to the curve
    assert res.sites["gain_households"].sum() == pytest.approx(
        curve["households_covered"].iloc[-1] - curve["households_covered"].iloc[0], abs=0.05
    )
    assert np.all(np.diff(res.sites["gain_households"]) <= 1e-6)
    # served: households whose nearest facility a new site becomes (within the target)
    assert res.sites["served_households"].sum() <= res.sites["reach_households"].sum() + 1e-6
    assert res.sites["served_households"].sum() >= res.sites["gain_households"].sum() - 0.05
    cmp_ = res.solvers.set_index("solver")
    assert cmp_.loc["highs", "objective"] >= cmp_.loc["greedy", "objective"] - 1e-6
    assert cmp_.loc["greedy", "ratio_to_exact"] >= 0.9


def test_communities_before_after(grid):
    rng = np.random.default_rng(5)
    dem = random_demand(rng, 200, 1500.0)
    west = shapely.box(X0 - 10, Y0 - 10, X0 + 750, Y0 + 1510)
    east = shapely.box(X0 + 750, Y0 - 10, X0 + 1510, Y0 + 1510)
    comm = gpd.GeoDataFrame(
        {"community_code": ["150203001001", "150203001002"]}, geometry=[west, east], crs=CRS
    )
    fac = points([(X0 + 300, Y0 + 700)], name=["w"], type=["centre_community"])
    res = run_siting(
        grid, dem, fac, k=2, target="5min", every_m=200.0, communities=comm, solver="greedy"
    )
    c = res.communities.set_index("community_code")
    assert isinstance(res.communities, gpd.GeoDataFrame)
    assert c["households"].sum() == pytest.approx(dem["households"].sum())
    assert c["covered_hh_after"].sum() == pytest.approx(
        res.curve["households_covered"].iloc[-1], abs=0.05
    )
    assert c["covered_hh_before"].sum() == pytest.approx(
        res.curve["households_covered"].iloc[0], abs=0.05
    )
    assert (c["coverage_after"] >= c["coverage_before"]).all()
    assert c["new_sites"].sum() == len(res.sites)


def test_no_existing_facilities_and_write(tmp_path, grid):
    rng = np.random.default_rng(2)
    dem = random_demand(rng, 120, 1500.0)
    res = run_siting(grid, dem, None, k=3, target="10min", every_m=300.0, solver="greedy")
    assert res.curve["households_covered"].iloc[0] == 0.0
    paths = res.write(tmp_path)
    import pyogrio

    layers = dict(pyogrio.list_layers(paths["gpkg"]))
    assert {"sites", "curve", "candidates", "solvers", "summary"} <= set(layers)
    sites = gpd.read_file(paths["gpkg"], layer="sites")
    assert {"rank", "gain_households", "served_households"} <= set(sites.columns)
    csv = pd.read_csv(paths["curve"], encoding="utf-8-sig")
    assert csv.columns[:3].tolist() == ["n_new_sites", "households_covered", "coverage_share"]
    assert csv["n_new_sites"].iloc[0] == 0


# ---------------------------------------------------------------------- candidates
def test_candidates_sources_spacing_and_exclude(grid):
    n_edges = grid.n_edges  # 100 m edges
    c = candidates(grid, every_m=50.0)
    assert len(c) == 2 * n_edges
    assert set(c["source"]) == {"network"}
    assert c["candidate_id"].is_unique
    c1 = candidates(grid, every_m=100.0)
    assert len(c1) == n_edges
    # every point lies on the network
    assert (
        shapely.distance(
            np.asarray(c1.geometry.values),
            shapely.union_all(np.asarray(grid.edges.geometry.values)),
        ).max()
        < 1e-6
    )
    user = points([(X0 + 10, Y0 + 20)], name=["空置门面"])
    gates = points([(X0 + 500, Y0 + 500)])
    zones = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 40, Y0 - 5, X0 + 460, Y0 + 5)], crs=CRS)
    polys = gpd.GeoDataFrame(
        geometry=[shapely.box(X0 + 610, Y0 + 620, X0 + 690, Y0 + 690)], crs=CRS
    )
    mixed = candidates(
        grid, user=user, gates=gates, every_m=100.0, grid_centroids=polys, exclude=zones
    )
    assert mixed["source"].value_counts().to_dict() == {
        "network": n_edges - 5,
        "user": 1,
        "gate": 1,
        "grid": 1,
    }
    assert mixed.loc[mixed["source"] == "user", "name"].iloc[0] == "空置门面"
    g = mixed[mixed["source"] == "grid"].geometry.iloc[0]
    assert g.distance(shapely.union_all(np.asarray(grid.edges.geometry.values))) < 1e-6


def test_candidates_wgs84_user_list(grid):
    user = points([(X0 + 10, Y0 + 20)]).to_crs("EPSG:4326")
    c = candidates(grid, user=user)
    assert c.crs == grid.crs
    assert c.geometry.iloc[0].x == pytest.approx(X0 + 10, abs=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be"),
        ({"k": 2, "problem": "maxcover"}, "unknown siting problem"),
        ({"k": 2, "solver": "cbc"}, "unknown solver"),
        ({"problem": "set_cover", "share": 1.5}, "share must be"),
        ({"k": 2, "capacity_hh": -1}, "capacity_hh must be"),
    ],
)
def test_errors_name_the_fix(grid, kwargs, match):
    dem = random_demand(np.random.default_rng(0), 20, 1000.0)
    with pytest.raises(GeogridError, match=match):
        run_siting(grid, dem, None, every_m=500.0, **kwargs)


def test_candidates_errors(grid):
    with pytest.raises(InputError, match="no candidate sites"):
        candidates(grid)
    with pytest.raises(InputError, match="every_m must be positive"):
        candidates(grid, every_m=0)
    everything = gpd.GeoDataFrame(
        geometry=[shapely.box(X0 - 100, Y0 - 100, X0 + 2000, Y0 + 2000)], crs=CRS
    )
    with pytest.raises(InputError, match="excluded zone"):
        candidates(grid, every_m=100.0, exclude=everything)


def test_swap_never_worse(small_model):
    for k in (2, 4, 6):
        plain = small_model.maximal_coverage(k=k, solver="greedy", swap=False)
        swapped = small_model.maximal_coverage(k=k, solver="greedy")
        exact = small_model.maximal_coverage(k=k, solver="exact")
        assert plain.objective - 1e-6 <= swapped.objective <= exact.objective + 1e-6
        d = small_model.after(swapped.sites)
        newly = small_model.w[(d <= small_model.limit_m) & ~small_model.covered0].sum()
        assert swapped.objective == pytest.approx(newly)


def test_deterministic(small_model):
    a = small_model.maximal_coverage(k=4, solver="greedy")
    b = small_model.maximal_coverage(k=4, solver="greedy")
    assert a.sites.tolist() == b.sites.tolist()


# ---------------------------------------------------------------------- issue 12
@pytest.fixture(scope="module")
def demo():
    from geogrid.demo import make_district

    d = make_district()
    net = network_from_ways(d.ways, residential=d.compounds)
    return d, net


@pytest.mark.parametrize("pool, target, k", [("public", "15min", 4), ("all", "10min", 6)])
def test_curve_each_k_equals_independent_highs(demo, pool, target, k):
    from geogrid.analyses.siting import solve as S

    d, net = demo
    res = run_siting(
        net,
        d.buildings,
        d.facilities,
        k=k,
        target=target,
        candidate_pool=pool,
        compounds=d.compounds,
        gates=d.gates,
        solver="exact",
        mip_rel_gap=1e-9,
    )
    m = res.model
    curve = res.curve.iloc[1:]
    assert len(curve) >= 2 and (curve["status"] == "exact").all()
    for _, row in curve.iterrows():
        kk = int(row["n_new_sites"])
        ref = S.exact_cover(m.cover, m.w, m.covered0, k=kk, mip_rel_gap=1e-9)
        assert ref.status == "Optimal"
        assert row["objective"] == pytest.approx(ref.objective, abs=0.01)
        assert row["households_covered"] == pytest.approx(
            m.w[m.covered0].sum() + ref.objective, abs=0.01
        )
        assert row["bound_households"] >= row["households_covered"] - 0.01
    # the best single site, not the first of a k-site answer
    best1 = S.greedy_cover(m.cover, m.w, m.covered0, k=1).objective
    assert curve["objective"].iloc[0] == pytest.approx(best1, abs=0.01)


def test_k_asked_k_returned(demo, tmp_path):
    d, net = demo
    res = run_siting(
        net,
        d.buildings,
        d.facilities,
        k=5,
        compounds=d.compounds,
        gates=d.gates,
        communities=d.communities,
    )
    summ = dict(zip(res.summary["metric"], res.summary["value"], strict=False))
    n = len(res.sites)
    assert res.curve["coverage_share"].iloc[-1] == pytest.approx(1.0)
    assert summ["n_requested"] == 5 and summ["n_chosen"] == n == summ["new_sites"] < 5
    assert summ["reason"].startswith("target met")
    highs = res.solvers.set_index("solver").loc["highs"]
    assert highs["n_requested"] == 5 and highs["n_chosen"] == n
    assert len(res.curve) - 1 == n
    assert res.communities["new_sites"].sum() == n
    paths = res.write(tmp_path)
    assert len(gpd.read_file(paths["gpkg"], layer="sites")) == n


def test_marginal_gain_and_min_gain_flag(demo):
    d, net = demo
    res = run_siting(net, d.buildings, d.facilities, k=3, compounds=d.compounds, min_gain=2500)
    s = res.sites
    assert s["gain_households"].sum() == pytest.approx(
        res.curve["households_covered"].iloc[-1] - res.curve["households_covered"].iloc[0],
        abs=0.05,
    )
    assert (s["only_households"] <= s["gain_households"] + 0.01).all()
    assert s["low_gain"].tolist() == (s["only_households"] < 2500).tolist()
    assert s["low_gain"].any() and not s["low_gain"].all()
    assert not s["inside_compound"].any()  # public pool (private compound paths left out)


def test_speed_changes_the_answer(demo):
    d, net = demo
    slow = run_siting(net, d.buildings, d.facilities, k=2, speed_kmh=1.0, solver="exact")
    fast = run_siting(net, d.buildings, d.facilities, k=2, speed_kmh=8.0, solver="exact")
    assert slow.model.limit_m == pytest.approx(250.0) and fast.model.limit_m == pytest.approx(
        2000.0
    )
    assert slow.curve["households_covered"].iloc[-1] < fast.curve["households_covered"].iloc[-1]


def test_cli_site_speed_and_options(demo, tmp_path):
    from geogrid.cli import main
    from geogrid.io.writers import write_layers

    d, _ = demo
    for name, layer in (
        ("ways", d.ways),
        ("buildings", d.buildings),
        ("facilities", d.facilities),
        ("compounds", d.compounds),
    ):
        write_layers(tmp_path / f"{name}.gpkg", {name: layer})
    base = [
        "site",
        "--network",
        str(tmp_path / "ways.gpkg"),
        "--demand",
        str(tmp_path / "buildings.gpkg"),
        "--facilities",
        str(tmp_path / "facilities.gpkg"),
        "--residential",
        str(tmp_path / "compounds.gpkg"),
        "--k",
        "2",
    ]
    curves = {}
    for speed in ("1", "8"):
        out = tmp_path / f"s{speed}"
        assert main([*base, "--speed", speed, "--out", str(out)]) == 0
        curves[speed] = pd.read_csv(out / "siting_curve.csv", encoding="utf-8-sig")
        assert (out / "siting_curve.png").stat().st_size > 0
        # run.json: per curve point the status, method, bound and gap
        import json

        points = json.loads((out / "run.json").read_text("utf-8"))["timing"]["siting_points"]
        exact = curves[speed].iloc[1:]
        assert [p["k"] for p in points] == exact["n_new_sites"].tolist()
        for p, (_, row) in zip(points, exact.iterrows(), strict=True):
            assert p["status"] == row["status"] == "exact"
            assert p["method"] in {"enumeration", "lagrangian", "lp", "branch", "highs"}
            assert p["gap"] == pytest.approx(row["gap"], abs=1e-6)
            assert p["bound"] == pytest.approx(row["bound"], rel=1e-6)
    assert not curves["1"]["households_covered"].equals(curves["8"]["households_covered"])
    out = tmp_path / "pc"
    assert main([*base, "--problem", "pcenter", "--candidates", "all", "--out", str(out)]) == 0
    summ = pd.read_csv(out / "siting_curve.csv", encoding="utf-8-sig")
    assert np.all(np.diff(summ["objective"]) <= 1e-9)  # longest walk shrinks with k
    assert main([*base, "--weight", "nope", "--out", str(tmp_path / "x")]) == 2


def test_pcenter_line_and_brute_force(line_net, small_model):
    dem = points([(X0 + 100, Y0), (X0 + 2900, Y0)], households=[10.0, 30.0])
    cands = points([(X0 + x, Y0) for x in (100, 1500, 2900)])
    res = run_siting(
        line_net,
        dem,
        None,
        k=1,
        target="1km",
        candidates=cands,
        problem="pcenter",
        pmedian_cap_m=5000.0,
    )
    assert res.sites["candidate_id"].tolist() == ["C00002"]
    assert res.curve["objective"].iloc[-1] == pytest.approx(1400.0, abs=0.01)
    from geogrid.analyses.siting import solve as S

    m = small_model
    dist = m.distances(900.0)
    base = np.minimum(m.d0, np.inf)
    for k in (1, 2):
        sol = S.exact_pcenter(dist, m.w, base, k=k)
        best = np.inf
        for combo in itertools.combinations(range(dist.shape[0]), k):
            cur = base.copy()
            sub = dist[list(combo)].tocoo()
            np.minimum.at(cur, sub.col, sub.data - 1e-9)
            best = min(best, float(np.max(np.where(m.w > 0, cur, 0.0))))
        reach = np.isfinite(best)
        if reach:
            assert sol.objective == pytest.approx(best, abs=1e-6)


def test_required_relocate_and_weights(line_net):
    dem = points(
        [(X0 + 100, Y0), (X0 + 2900, Y0), (X0 + 1500, Y0)],
        households=[10.0, 30.0, 5.0],
        elderly=[10.0, 0.0, 0.0],
    )
    cands = points([(X0 + x, Y0) for x in (100, 1500, 2900)])
    fac = points([(X0 + 1500, Y0 + 5)], name=["centre"], type=["centre_community"])
    kw = dict(target="500m", candidates=cands, solver="exact")
    plain = run_siting(line_net, dem, fac, k=1, **kw)
    assert plain.sites["candidate_id"].tolist() == ["C00003"]
    # weights: households + elderly households (elderly count double) -> 20 at the west end
    # still less than 30; triple them and the west end wins
    heavy = dem.assign(w=dem["households"] + 3 * dem["elderly"])
    wres = run_siting(line_net, heavy, fac, k=1, weight="w", **kw)
    assert wres.sites["candidate_id"].tolist() == ["C00001"]
    assert wres.curve["households_covered"].iloc[-1] == pytest.approx(15.0)  # households
    req = run_siting(line_net, dem, fac, k=2, required=["C00002"], **kw)
    assert set(req.sites["candidate_id"]) == {"C00002", "C00003"}
    assert req.sites.set_index("candidate_id").loc["C00002", "required"]
    # relocation: the centre reaches 5 households; closing it frees a site for both ends
    rel = run_siting(line_net, dem, fac, k=1, relocate=1, closable=["all"], **kw)
    assert set(rel.sites["candidate_id"]) == {"C00001", "C00003"}
    assert len(rel.closed) == 1
    assert rel.curve["households_covered"].iloc[-1] == pytest.approx(40.0)
    with pytest.raises(InputError, match="not among the candidates"):
        run_siting(line_net, dem, fac, k=1, required=["C09999"], **kw)
    with pytest.raises(InputError, match="weight column"):
        run_siting(line_net, dem, fac, k=1, weight="missing", **kw)


def test_allocation_lines_and_byte_identical_outputs(demo, tmp_path):
    d, net = demo
    res = run_siting(net, d.buildings, d.facilities, k=3, compounds=d.compounds, gates=d.gates)
    al = res.allocation
    assert len(al) and (al.geometry.geom_type == "LineString").all()
    assert set(al["candidate_id"]) <= set(res.sites["candidate_id"])
    assert (al["walk_m"] <= res.model.limit_m + 1e-6).all()
    # every newly covered household is allocated once
    assert al["households"].sum() == pytest.approx(res.sites["gain_households"].sum(), abs=0.05)
    assert not al["unit_id"].duplicated().any()
    a, b = tmp_path / "a", tmp_path / "b"
    res.write(a)
    run_siting(net, d.buildings, d.facilities, k=3, compounds=d.compounds, gates=d.gates).write(b)
    for f in ("siting_curve.csv", "siting_curve.png"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert "total_s" in res.timings() and "seconds" not in res.solvers.columns


def test_candidate_pools(demo):
    from geogrid.analyses.siting.model import _pool, inside_compounds

    d, net = demo
    allc = _pool(net, "all", every_m=100.0, exclude=None, compounds=d.compounds, gates=d.gates)
    inside = inside_compounds(net, allc, d.compounds)
    pub = _pool(net, "public", every_m=100.0, exclude=None, compounds=d.compounds, gates=d.gates)
    comp = _pool(
        net, "compounds", every_m=100.0, exclude=None, compounds=d.compounds, gates=d.gates
    )
    assert len(pub) == int((~inside).sum()) and inside.sum() > len(pub)
    assert (pub["source"] == "gate").sum() == len(d.gates)
    assert set(pub["candidate_id"]).isdisjoint(comp["candidate_id"])


def test_highs_banner_is_not_printed() -> None:
    """HiGHS prints a banner from its constructor; geogrid's solvers print nothing."""
    import subprocess
    import sys

    code = "from geogrid.analyses.highs import quiet_highs; quiet_highs(); print('done')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "done\n"
    loud = subprocess.run(
        [sys.executable, "-c", "import highspy; highspy.Highs()"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "HiGHS" in loud.stdout  # the banner this guards against


@pytest.mark.parametrize("path", ["default", "branch", "highs"])
def test_pmedian_curve_equals_reference_mip(small_model, path):
    """Every p-median point equals the plain assignment MIP solved on its own, whichever
    way (Lagrangian, branch and bound, HiGHS over the fixed candidates) proves it."""
    from geogrid.analyses.siting import solve as S
    from geogrid.analyses.siting.pmedian import PmedianCurve

    m = small_model
    dist = m.distances(900.0)
    base = np.minimum(m.d0, 900.0)
    # duplicate the demand so that units with identical distance columns merge
    w2 = np.r_[m.w, m.w]
    dist2 = sparse_hstack(dist)
    base2 = np.r_[base, base]
    pc = PmedianCurve(dist2, w2, base2, required=np.array([3]), mip_rel_gap=1e-9)
    assert pc.n_units >= 2 * pc.m  # every unit has its twin in the same atom
    if path != "default":
        pc.patience = 0  # leave the Lagrangian at once
    if path == "highs":
        pc.max_nodes = 0
    prev = None
    methods = set()
    for k in range(1, 5):
        sol = pc.solve(k, prev)
        prev = sol.sites
        ref = S.exact_pmedian(dist2, w2, base2, k=k, required=np.array([3]), mip_rel_gap=1e-9)
        assert sol.objective == pytest.approx(ref.objective, rel=1e-7)
        assert 3 in sol.sites and len(sol.sites) <= k
        assert sol.bound <= sol.objective + 1e-6 and sol.gap <= 1e-7
        cur = base2.copy()
        sub = dist2[sol.sites].tocoo()
        np.minimum.at(cur, sub.col, sub.data - 1e-9)
        assert float(np.sum(w2 * cur)) == pytest.approx(sol.objective, rel=1e-9)
        methods.add(sol.info["method"])
    if path == "branch":
        assert "branch" in methods
    if path == "highs":
        assert "highs" in methods


def sparse_hstack(mat):
    from scipy import sparse

    return sparse.hstack([mat, mat], format="csr")


def test_curve_sheet_with_chart_in_workbook(tmp_path, grid):
    """The per-k curve becomes a workbook sheet (选址曲线) with a line chart, same bytes twice."""
    import openpyxl

    from geogrid.outputs.workbook import write_report

    rng = np.random.default_rng(2)
    dem = random_demand(rng, 120, 1500.0)
    res = run_siting(grid, dem, None, k=3, target="10min", every_m=300.0, solver="exact")
    layers = {"sites": res.sites, "curve": res.curve}
    a = write_report(layers, tmp_path / "a.xlsx")
    b = write_report(layers, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()
    wb = openpyxl.load_workbook(a)
    assert "选址曲线" in wb.sheetnames
    ws = wb["选址曲线"]
    rows = list(ws.iter_rows(values_only=True))[2:]  # below the title and unit/date rows
    assert rows[0][:2] == ("新增站点数(个)", "覆盖户数(户)")
    assert [r[0] for r in rows[1:]] == res.curve["n_new_sites"].tolist()
    assert [r[1] for r in rows[1:]] == pytest.approx(res.curve["households_covered"].tolist())
    assert rows[1][4] == "现状" and all(r[4] == "最优（已证明）" for r in rows[2:])
    assert len(ws._charts) == 1  # openpyxl keeps the loaded chart
    en = openpyxl.load_workbook(write_report(layers, tmp_path / "en.xlsx", lang="en"))
    assert "Siting curve" in en.sheetnames
    # without a curve there is no curve sheet
    plain = openpyxl.load_workbook(write_report({"sites": res.sites}, tmp_path / "p.xlsx"))
    assert "选址曲线" not in plain.sheetnames


@pytest.mark.parametrize("path", ["lp", "reduced"])
def test_mclp_curve_paths_equal_independent_highs(small_model, path):
    """Whichever step proves a point (the LP bound met by the swap search, HiGHS over the
    candidates the bound left open), it equals the plain MIP solved on its own."""
    from geogrid.analyses.siting import solve as S

    m = small_model
    tol = 1e-9
    mc = S.MclpCurve(m.cover, m.w, m.covered0, mip_rel_gap=tol)
    mc.small_nnz = 0
    if path == "reduced":
        mc.lp_rounds = 1  # one master over the greedy's sites: a weak bound, HiGHS proves
    prev = None
    methods = set()
    for k in range(1, 6):
        sol = mc.solve(k, prev)
        prev = sol.info["open_rows"]
        methods.add(sol.info["method"])
        ref = S.exact_cover(m.cover, m.w, m.covered0, k=k, mip_rel_gap=1e-9)
        assert sol.objective == pytest.approx(ref.objective, rel=tol, abs=1e-6)
        assert sol.bound >= ref.objective - 1e-6 and sol.gap <= tol
        got = float(m.w[(m.after(sol.sites) <= m.limit_m) & ~m.covered0].sum())
        assert got == pytest.approx(sol.objective, abs=1e-6)
    assert {"lp": "lp", "reduced": "highs"}[path] in methods


def test_relocation_closes_no_station_for_nothing(demo):
    """Relocation on the demo: k = 2 alone reaches everyone, so with k = 1 and up to two
    closures one closure suffices; no idle new site, curve and sites layer agree."""
    d, net = demo
    kw = dict(compounds=d.compounds, gates=d.gates, solver="exact")
    plain = run_siting(net, d.buildings, d.facilities, k=2, **kw)
    assert plain.curve["coverage_share"].iloc[-1] == pytest.approx(1.0)
    rel = run_siting(net, d.buildings, d.facilities, k=1, relocate=2, **kw)
    assert rel.curve["coverage_share"].iloc[-1] == pytest.approx(1.0)
    assert len(rel.closed) == 1  # not 2: the second closure bought nothing
    assert len(rel.sites) == 2 and (rel.sites["gain_households"] > 0).all()
    last = rel.curve.iloc[-1]
    assert last["n_new_sites"] == len(rel.sites) and last["closed_existing"] == 1
    assert set(last["sites"].split()) == set(rel.sites["candidate_id"])
    summ = dict(zip(rel.summary["metric"], rel.summary["value"], strict=False))
    assert summ["n_requested"] == 1 and summ["n_chosen"] == 2
    assert summ["reason"].startswith("relocation") and "迁址" in summ["reason_zh"]


def test_relocation_closes_stations_not_centres(demo):
    """By default relocation never closes a party-mass service centre; ``closable=["all"]``
    lets it; an unknown type or no closable facility is a one-line error naming the fix."""
    from geogrid.errors import InputError

    d, net = demo
    kw = dict(compounds=d.compounds, gates=d.gates, solver="exact", k=1, relocate=2)
    types = d.facilities.set_index("facility_id")["type"].astype(str)
    rel = run_siting(net, d.buildings, d.facilities, **kw)
    closed = rel.closed["facility_id"].astype(str) if len(rel.closed) else pd.Series([], dtype=str)
    assert len(closed) == 1 and not types.loc[list(closed)].str.startswith("centre_").any()
    free = run_siting(net, d.buildings, d.facilities, closable=["all"], **kw)
    # more freedom never covers fewer households
    assert free.curve["households_covered"].iloc[-1] >= rel.curve["households_covered"].iloc[-1]
    only_centres = d.facilities[d.facilities["type"].astype(str).str.startswith("centre_")]
    with pytest.raises(InputError, match="--closable"):
        run_siting(net, d.buildings, only_centres, **kw)
    with pytest.raises(InputError, match="unknown facility type"):
        run_siting(net, d.buildings, d.facilities, closable=["kiosk"], **kw)


def test_cli_site_every_option(demo, tmp_path):
    """Each option of ``geogrid site`` reaches the answer a planner reads in the outputs."""
    from geogrid.cli import main
    from geogrid.io.writers import write_layers

    d, net = demo
    layers = {
        "ways": d.ways,
        "buildings": d.buildings.assign(w=d.buildings["levels"].fillna(1).astype(float)),
        "facilities": d.facilities,
        "compounds": d.compounds,
    }
    for name, layer in layers.items():
        write_layers(tmp_path / f"{name}.gpkg", {name: layer})
    base = [
        "site",
        *("--network", str(tmp_path / "ways.gpkg")),
        *("--demand", str(tmp_path / "buildings.gpkg")),
        *("--facilities", str(tmp_path / "facilities.gpkg")),
        *("--residential", str(tmp_path / "compounds.gpkg")),
        "--no-report",
    ]

    def run(name: str, *args: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict]:
        out = tmp_path / name
        assert main([*base, *args, "--out", str(out)]) == 0
        gpkg = out / "siting.gpkg"
        summ = gpd.read_file(gpkg, layer="summary")
        curve = pd.read_csv(out / "siting_curve.csv", encoding="utf-8-sig")
        return (
            gpd.read_file(gpkg, layer="sites"),
            curve,
            dict(zip(summ.metric, summ.value, strict=True)),
        )

    plain, _, _ = run("plain", "--k", "2")
    # --exclude: a zone around the best site; nothing inside it is chosen
    zone = plain.geometry.iloc[0].buffer(150.0)
    write_layers(tmp_path / "zone.gpkg", {"zone": gpd.GeoDataFrame(geometry=[zone], crs=CRS)})
    sites, curve, summ = run(
        "sc", "--problem", "setcover", "--share", "0.9", "--exclude", str(tmp_path / "zone.gpkg")
    )
    assert curve["coverage_share"].iloc[-1] >= 0.9 and summ["problem"] == "set_cover"
    assert not sites.geometry.within(zone).any()
    # p-median with its cap: the mean walk shrinks
    sites, curve, summ = run("pm", "--problem", "pmedian", "--k", "2", "--cap", "2000")
    assert float(summ["pmedian_cap_m"]) == 2000.0
    assert float(summ["mean_walk_m_after"]) < float(summ["mean_walk_m_before"])
    # capacity and the low-gain flag
    sites, curve, summ = run("cap", "--k", "2", "--capacity", "3000", "--min-gain", "2999")
    assert (sites["gain_households"] <= 3000).all() and sites["low_gain"].tolist() == (
        sites["only_households"] < 2999
    ).tolist()
    # a required site (a public candidate the plain answer does not use) and weights
    cands = gpd.read_file(tmp_path / "plain" / "siting.gpkg", layer="candidates")
    pick = next(c for c in cands["candidate_id"] if c not in set(plain["candidate_id"]))
    sites, curve, summ = run("req", "--k", "2", "--require", pick, "--weight", "w")
    assert pick in set(sites["candidate_id"]) and summ["weight"] == "w"
    assert sites.set_index("candidate_id").loc[pick, "required"]
    # relocation: the closed layer, and the reason in both languages
    sites, curve, summ = run("rel", "--k", "1", "--relocate", "1")
    closed = gpd.read_file(tmp_path / "rel" / "siting.gpkg", layer="closed")
    assert len(closed) == 1 and len(sites) == 2 and "迁址" in summ["reason_zh"]
    assert not closed["type"].astype(str).str.startswith("centre_").any()  # stations only
    sites, curve, summ = run("rel_all", "--k", "1", "--relocate", "1", "--closable", "all")
    closed = gpd.read_file(tmp_path / "rel_all" / "siting.gpkg", layer="closed")
    assert len(closed) == 1
    assert (
        main([*base, "--relocate", "1", "--closable", "kiosk", "--out", str(tmp_path / "y")]) == 2
    )
    # candidate pools: inside compounds only, or a file of points
    sites, _, _ = run("comp", "--k", "2", "--candidates", "compounds")
    assert sites["inside_compound"].all()
    mine = cands.iloc[::7][["geometry"]].reset_index(drop=True)
    write_layers(tmp_path / "mine.gpkg", {"mine": mine})
    sites, _, summ = run("file", "--k", "2", "--candidates", str(tmp_path / "mine.gpkg"))
    assert int(summ["candidates"]) == len(mine)
    assert sites.geometry.apply(lambda g: mine.distance(g).min() < 0.01).all()


def test_site_help_shows_every_siting_option_in_an_example(capsys):
    """Each siting option of ``geogrid site`` has an example line in ``--help``."""
    from geogrid.cli import main

    with pytest.raises(SystemExit):
        main(["site", "--help"])
    text = capsys.readouterr().out.split("example:", 1)[1]
    options = (
        "--k --problem --target --share --capacity --cap --candidates --every --gates --exclude "
        "--weight --require --relocate --min-gain --solver --time-limit --gap --speed"
    ).split()
    missing = [o for o in options if not any(f"{o} " in ln for ln in text.splitlines())]
    assert not missing
    for word in ("setcover", "pmedian", "pcenter", "compounds", "all", "public"):
        assert word in text
