"""Demand atoms built without unit x candidate pairs equal today's pairs + aggregation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy import sparse

from geogrid.analyses.siting import matrix as M
from geogrid.analyses.siting.solve import MclpCurve, reduce_cover
from geogrid.demo import make_district
from geogrid.network.build import network_from_ways
from geogrid.network.snap import snap_points

CRS = "EPSG:4546"
X0, Y0 = 400000.0, 4500000.0


def _grid(n: int = 12, step: float = 100.0):
    lines = []
    for j in range(n):
        for i in range(n - 1):
            y, x = Y0 + j * step, X0 + j * step
            lines.append(shapely.LineString([(X0 + i * step, y), (X0 + (i + 1) * step, y)]))
            lines.append(shapely.LineString([(x, Y0 + i * step), (x, Y0 + (i + 1) * step)]))
    ways = gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines, crs=CRS)
    return network_from_ways(ways)


def _on_edges(net, edges, rng):
    geoms = np.asarray(net.edges.geometry.values)[edges]
    pts = shapely.line_interpolate_point(geoms, rng.uniform(0, 1, len(edges)), normalized=True)
    return snap_points(net, pts)


def _reference(net, cand, units, limit, weight, open_units):
    cover = M.coverage_pairs(net, cand, units, limit)
    red = reduce_cover(cover, weight, open_units, keep=np.arange(len(cand)))
    mat = red.mat.tocsr()
    mat.sort_indices()
    return cover, mat, red.weight


def _assert_same(net, cand, units, limit, weight, open_units, **kw):
    cover, mat, wref = _reference(net, cand, units, limit, weight, open_units)
    got = M.cover_atoms(net, cand, units, limit, weight, open_units=open_units, **kw)
    assert got.mat.shape == mat.shape
    assert got.n_atoms > 0
    assert (got.mat != mat).nnz == 0
    np.testing.assert_allclose(got.weight, wref, rtol=0, atol=1e-9)
    # every open unit that reaches a candidate sits in the atom holding exactly its set
    cols = sparse.csr_matrix(cover.T)
    cols.sort_indices()
    reach = np.diff(cols.indptr) > 0
    np.testing.assert_array_equal(got.unit_atom >= 0, reach & open_units)
    atoms = got.mat.T.tocsr()
    for i in np.flatnonzero(got.unit_atom >= 0):
        a = got.unit_atom[i]
        unit_set = cols.indices[cols.indptr[i] : cols.indptr[i + 1]]
        atom_set = atoms.indices[atoms.indptr[a] : atoms.indptr[a + 1]]
        np.testing.assert_array_equal(unit_set, atom_set)
    return cover, got


@pytest.fixture(scope="module")
def demo():
    d = make_district(seed=0)
    return d, network_from_ways(d.ways, residential=d.compounds)


@pytest.mark.parametrize("limit", [300.0, 1000.0])
@pytest.mark.parametrize("private", ["residents", "all"])
def test_atoms_equal_pairs_demo_district(demo, limit, private):
    d, net0 = demo
    net = net0.with_private(private) if private != net0.private else net0
    rng = np.random.default_rng(3)
    b = shapely.bounds(np.asarray(d.buildings.geometry.values))
    i = rng.integers(0, len(b), 4000)
    pts = shapely.points(rng.uniform(b[i, 0], b[i, 2]), rng.uniform(b[i, 1], b[i, 3]))
    units = snap_points(net, pts)
    # random edges (compound paths among them) and the units' own edges
    edges = np.r_[rng.choice(net.n_edges, 120, replace=False), units.edge[:60]]
    cand = _on_edges(net, edges, rng)
    weight = rng.integers(1, 6, len(units)).astype(float)
    open_units = rng.random(len(units)) > 0.15
    _assert_same(net, cand, units, limit, weight, open_units)


@pytest.mark.parametrize("tile_m", [None, 150.0])
def test_atoms_equal_pairs_grid_random_points(tile_m):
    net = _grid()
    rng = np.random.default_rng(7)
    pts = shapely.points(X0 + rng.uniform(-50, 1150, 3000), Y0 + rng.uniform(-50, 1150, 3000))
    units = snap_points(net, pts)
    edges = np.r_[rng.choice(net.n_edges, 25, replace=False), units.edge[:25]]
    cand = _on_edges(net, edges, rng)
    weight = np.ones(len(units))
    _assert_same(net, cand, units, 350.0, weight, np.ones(len(units), bool), tile_m=tile_m)


def test_atoms_many_candidates_on_one_edge():
    # 70 candidates on the unit's own edge: more than the 62 of the bit-mask key
    net = _grid(4, 100.0)
    rng = np.random.default_rng(11)
    e = int(np.argmax(net.edges["length_m"].to_numpy()))
    cand = _on_edges(net, np.full(70, e), rng)
    units = _on_edges(net, np.r_[np.full(40, e), rng.choice(net.n_edges, 40)], rng)
    weight = np.ones(len(units))
    _assert_same(net, cand, units, 60.0, weight, np.ones(len(units), bool))


def test_merge_rows_exact_under_hash_collisions(monkeypatch):
    rows = sparse.csr_matrix(
        np.array([[1, 0, 1, 0], [0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 1, 1, 0]], np.int8)
    )
    honest = M._merge_rows(rows)
    assert honest[0] == honest[2] != honest[1] == honest[4] != honest[3]
    # every row hashes alike: the check against the group's first row must split them again
    monkeypatch.setattr(M, "_row_keys", lambda r, seed=0: np.zeros((r.shape[0], 3), np.uint64))
    forced = M._merge_rows(rows)
    assert forced[0] == forced[2]
    assert forced[1] == forced[4]
    assert len({forced[0], forced[1], forced[3]}) == 3


def test_atoms_mclp_objective_equal(demo):
    d, net = demo
    rng = np.random.default_rng(5)
    b = shapely.bounds(np.asarray(d.buildings.geometry.values))
    i = rng.integers(0, len(b), 3000)
    units = snap_points(
        net, shapely.points(rng.uniform(b[i, 0], b[i, 2]), rng.uniform(b[i, 1], b[i, 3]))
    )
    cand = _on_edges(net, rng.choice(net.n_edges, 80, replace=False), rng)
    weight = rng.integers(1, 4, len(units)).astype(float)
    covered0 = rng.random(len(units)) < 0.2
    cover = M.coverage_pairs(net, cand, units, 500.0)
    atoms = M.cover_atoms(net, cand, units, 500.0, weight, open_units=~covered0)
    ref = MclpCurve(cover, weight, covered0, time_limit_s=60)
    new = MclpCurve(atoms.mat, atoms.weight, np.zeros(atoms.n_atoms, bool), time_limit_s=60)
    for k in (1, 2, 4):
        a, b_ = ref.solve(k), new.solve(k)
        assert a.gap <= 1e-6 and b_.gap <= 1e-6
        assert b_.objective == pytest.approx(a.objective, rel=1e-9)


def test_atoms_when_nothing_reaches():
    net = _grid(4, 100.0)
    rng = np.random.default_rng(2)
    units = _on_edges(net, rng.choice(net.n_edges, 30), rng)
    cand = _on_edges(net, rng.choice(net.n_edges, 5), rng)
    w = np.ones(len(units))
    none = M.cover_atoms(net, cand, units, 1e-3, w)  # no walk that short from any candidate
    assert none.n_atoms == 0
    assert none.mat.shape == (5, 0)
    assert (none.unit_atom == -1).all()
    closed = M.cover_atoms(net, cand, units, 500.0, w, open_units=np.zeros(len(units), bool))
    assert closed.n_atoms == 0
    assert (closed.unit_atom == -1).all()
    nosrc = M.cover_atoms(net, cand.take(np.zeros(0, dtype=np.int64)), units, 500.0, w)
    assert nosrc.mat.shape == (0, 0)
