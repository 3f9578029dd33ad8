"""Interleaved A/B under one load: our snapping, reach sets, compute_coverage and table()
against pandana's nearest-node query and ``nodes_in_range`` in the same process (best of 3).

The shared 2-core machine makes separate-process timings drift by several times between
stages; this puts each of our stages right next to a pandana call on the same data.

Run: ``PYTHONPATH=$PWD python benchmarks/ab_coverage.py [--communities 1100]`` (same data as
``bench_coverage.py``: ``make_district(n)``, 300,000 household points at 1,100 communities);
``--areas``: service-area polygons only; ``--lines``: exact reached lines only (CPU, peak).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import shapely
from bench_coverage import UNITS_AT_1100, household_points


def areas_only(net, demand, fac) -> None:
    """Service-area polygons of every facility, 4 default targets, best of 3 (and peak RSS)."""
    import resource

    from geogrid.analyses.coverage.engine import compute_coverage, service_areas

    cov = compute_coverage(net, demand, fac, by_type=False, second=False)
    service_areas(cov, per_facility=False)  # builds the per-network raster caches
    times: dict[str, list[float]] = {"union": [], "per_facility": [], "per_facility_cpu": []}
    for _ in range(3):
        t0 = time.perf_counter()
        service_areas(cov, per_facility=False)
        times["union"].append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        service_areas(cov, per_facility=True)
        times["per_facility"].append(time.perf_counter() - t0)
        times["per_facility_cpu"].append(time.process_time() - c0)  # CPU s (load-robust)
    out = {k: round(min(v), 3) for k, v in times.items()}
    out["peak_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(out))


def lines_only(net, demand, fac) -> None:
    """Exact reached lines of every facility, 4 default targets: CPU, wall, peak RSS, size.

    One call (the peak is the call's own plus the loaded data); the parts and coordinates
    count each distinct geometry once (rows with equal limits may share one).
    """
    import resource

    from geogrid.analyses.coverage.engine import compute_coverage, service_areas

    cov = compute_coverage(net, demand, fac, by_type=False, second=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0, c0 = time.perf_counter(), time.process_time()
    got = service_areas(cov, per_facility=True, lines=True)
    out = {
        "wall_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(time.process_time() - c0, 3),
    }
    geoms = list({id(g): g for g in got.geometry.values}.values())
    out |= {
        "rows": len(got),
        "distinct_geometries": len(geoms),
        "parts": int(shapely.get_num_geometries(geoms).sum()),
        "coords": int(shapely.get_num_coordinates(geoms).sum()),
        "peak_before_gb": round(before, 2),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    print(json.dumps(out))


def main() -> None:
    import pandana

    from geogrid.analyses.coverage.engine import compute_coverage
    from geogrid.demo import make_district
    from geogrid.network import paths as _paths
    from geogrid.network.build import network_from_ways
    from geogrid.network.snap import representative_points, snap_points

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--communities", type=int, default=1100)
    p.add_argument(
        "--areas",
        action="store_true",
        help="time only service-area polygons (union, then all facilities), best of 3, and peak RSS",
    )
    p.add_argument(
        "--lines",
        action="store_true",
        help="time only the exact reached lines of every facility (4 targets): CPU, peak RSS, size",
    )
    a = p.parse_args()
    d = make_district(n_communities=a.communities, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds, private="all")
    demand = household_points(d.buildings, round(UNITS_AT_1100 * a.communities / 1100), 0)
    fac = d.facilities.reset_index(drop=True)
    if a.areas:
        areas_only(net, demand, fac)
        return
    if a.lines:
        lines_only(net, demand, fac)
        return
    e = net.edges
    pn = pandana.Network(
        net.nodes["x"], net.nodes["y"], e["u"], e["v"], e[["length_m"]], twoway=True
    )
    ux, uy = shapely.get_coordinates(representative_points(demand)).T
    fx, fy = shapely.get_coordinates(representative_points(fac)).T
    getattr(net, "prepare_snapping", lambda: snap_points(net, fac.iloc[:3]))()  # main: no method
    times: dict[str, list[float]] = {}

    def rec(key, fn):
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(key, []).append(time.perf_counter() - t0)
        return out

    for _ in range(3):
        rec(
            "pandana_snap",
            lambda: (
                pn.get_node_ids(pd.Series(ux), pd.Series(uy)),
                pn.get_node_ids(pd.Series(fx), pd.Series(fy)),
            ),
        )
        _, fs = rec("ours_snap", lambda: (snap_points(net, demand), snap_points(net, fac)))
        fnode = pn.get_node_ids(pd.Series(fx), pd.Series(fy)).tolist()
        rec("pandana_reach", lambda fnode=fnode: pn.nodes_in_range(fnode, 1000.0))
        rec(
            "ours_reach",
            lambda fs=fs: sum(
                int(np.isfinite(dist).sum()) for _, _, dist in _paths.tiled_rows(net, fs, 1000.0)
            ),
        )
        cov = rec("ours_compute_coverage", lambda: compute_coverage(net, demand, fac))
        rec("ours_table", cov.table)
    print(json.dumps({k: round(min(v), 3) for k, v in times.items()}))


if __name__ == "__main__":
    main()
