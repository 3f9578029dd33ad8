"""Service-area polygons: the stacked rasters, the banded spread and the tiled searches."""

import numpy as np
import pytest
import shapely

from geogrid.analyses.coverage import areas
from geogrid.analyses.coverage.engine import compute_coverage, service_areas
from geogrid.network import paths
from geogrid.network.build import network_from_ways
from geogrid.network.snap import snap_points


def brute_spread(f, radius):
    """Minimum over the footprint of ``areas`` (union of rectangles), cell by cell."""
    h, w = f.shape
    out = np.full_like(f, np.inf)
    for i in range(h):
        for j in range(w):
            for hr, hc in areas._footprints(radius):
                block = f[max(i - hr, 0) : i + hr + 1, max(j - hc, 0) : j + hc + 1]
                out[i, j] = min(out[i, j], block.min())
    return out


@pytest.mark.parametrize("radius", [0.4, 1.0, 2.5, 5.0, 8.0])
def test_banded_spread_equals_the_footprint_minimum(radius):
    rng = np.random.default_rng(int(radius * 10))
    f = (rng.random((37, 23)) * 1000).astype(np.float32)
    f[rng.random(f.shape) < 0.85] = np.inf
    margin = 9
    padded = np.full((37 + 2 * margin, 23 + 2 * margin), np.inf, dtype=np.float32)
    padded[margin:-margin, margin:-margin] = f
    # bands of a few rows: every band boundary must give the same values
    got = areas.spread_padded(padded, radius, margin, band_cells=5 * 23)
    np.testing.assert_array_equal(got, brute_spread(f, radius))


def test_spread_needs_its_margin():
    with pytest.raises(ValueError, match="margin"):
        areas.spread_padded(np.zeros((20, 20), dtype=np.float32), 5.0, 2)


@pytest.fixture(scope="module")
def demo():
    from geogrid.demo import make_district

    d = make_district(n_communities=6, seed=3)
    net = network_from_ways(d.ways, residential=d.compounds)
    dem = d.buildings.assign(households=1)
    cov = compute_coverage(net, dem, d.facilities.reset_index(drop=True))
    return net, cov, dem


def test_tiled_searches_equal_one_search_per_source(demo):
    net, cov, dem = demo
    src = cov.fac_snap
    ref = np.vstack([dist for _, dist in paths.bounded_rows(net, src, 700.0)])
    for tile_m in (None, 150.0):
        seen = np.zeros(len(src), dtype=bool)
        for idx, sub, dist in paths.tiled_rows(net, src, 700.0, tile_m=tile_m):
            np.testing.assert_array_equal(dist, ref[np.ix_(idx, sub)])
            outside = np.ones(ref.shape[1], dtype=bool)
            outside[sub] = False
            assert np.isinf(ref[np.ix_(idx, np.flatnonzero(outside))]).all()
            seen[idx] = True
        assert seen.all()


def test_strips_of_any_size_give_the_same_polygons(demo, monkeypatch):
    """Fields split over many strips (and one strip split inside a tile) draw the same."""
    net, cov, dem = demo
    ref = service_areas(cov)
    assert (ref.area > 0).sum() > len(ref) // 2
    monkeypatch.setattr(areas, "MAX_CELLS", 30_000)  # about one field per strip
    got = service_areas(cov)
    assert list(got.facility_id) == list(ref.facility_id)
    diff = shapely.area(shapely.symmetric_difference(got.geometry.values, ref.geometry.values))
    assert diff.max() < 1e-6  # m2
    np.testing.assert_array_equal(got.reached_km, ref.reached_km)


def test_each_facility_polygon_equals_its_field_drawn_alone(demo):
    """The stacked per-facility path against the single-field path, facility by facility."""
    net, cov, dem = demo
    polys = service_areas(cov)
    fac = cov.facilities
    for j in range(0, len(fac), 3):
        one = fac.iloc[[j]]
        snap = snap_points(net, one)
        assert snap.edge[0] == cov.fac_snap.edge[j]
        alone = compute_coverage(net, dem.iloc[:1], one)
        ref = service_areas(alone, per_facility=False)
        got = polys[polys.facility_id == fac["facility_id"].iloc[j]]
        assert list(got.target) == list(ref.target)
        for g, r in zip(got.geometry, ref.geometry, strict=True):
            assert shapely.symmetric_difference(g, r).area < 1.0  # m2
        np.testing.assert_allclose(got.reached_km, ref.reached_km, atol=1e-9)
