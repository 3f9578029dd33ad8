"""City-scale map benchmark: HTML size and headless Chromium render time.

Builds a map of the demo city ``geogrid.demo.make_district(n_communities=300)`` from the real
pipeline (coverage with network service areas and gaps, about 3,000 governance grids from
``geogrid.grids.partition``, 565 facilities, uncovered buildings), writes the online and the offline HTML and loads the offline one
in headless Chromium with the network disabled.

Targets (issue 6): offline HTML <= 15 MB, rendered within 5 s, no console errors.

Run: ``python benchmarks/bench_maps.py [--communities 300] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd

from geogrid.analyses.coverage.engine import run_coverage
from geogrid.analyses.grids.partition import partition
from geogrid.demo import make_district
from geogrid.network.build import network_from_ways
from geogrid.outputs.webmap import build_map, save_map

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _chromium import check_page, find_chromium  # noqa: E402  (the tests' browser driver)


def city(n_communities: int) -> dict[str, gpd.GeoDataFrame]:
    """Real layers of a demo city: coverage (network service areas, gaps), grids, facilities."""
    d = make_district(n_communities=n_communities, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    res = run_coverage(net, d.buildings, d.facilities, communities=d.communities)
    public = d.ways[d.ways["compound_id"].isna()]
    grids = partition(d.communities, res.demand, network_edges=public, walls=d.walls).grids
    return {
        "streets": d.streets,
        "communities": res.communities,
        "grids": grids,
        "facilities": res.facilities,
        "service_areas": res.service_areas,
        "demand": res.demand,
        "gaps": res.gaps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communities", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_maps_"))
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    layers = city(args.communities)
    t1 = time.perf_counter()
    counts = {k: len(v) for k, v in layers.items()}
    print(f"synthetic city ({args.communities} communities): {counts} in {t1 - t0:.1f} s")
    print(f"uncovered buildings: {int((~layers['demand']['within_15min']).sum())}")

    m = build_map(layers, tiles="none", title="基准测试 城市级地图")
    t2 = time.perf_counter()
    online = save_map(m, out / "city.html", offline=False)
    offline = save_map(m, out / "city_offline.html", offline=True)
    t3 = time.perf_counter()
    print(f"build_map {t2 - t1:.1f} s, save both {t3 - t2:.1f} s")
    size_on = online.stat().st_size / 1e6
    size_off = offline.stat().st_size / 1e6
    print(
        f"HTML size: online {size_on:.2f} MB, offline {size_off:.2f} MB (limit 15 MB): "
        f"{'OK' if size_off <= 15 else 'TOO BIG'}"
    )

    if find_chromium() is None:
        print("chromium not found: render time not measured")
        return
    for run in range(3):
        check = check_page(
            offline,
            timeout_s=120,
            expressions={
                "paths": "document.querySelectorAll('path.leaflet-interactive').length",
                "markers": "document.querySelectorAll('.leaflet-marker-icon').length",
            },
        )
        print(
            f"chromium run {run + 1}: render {check.render_ms / 1000:.2f} s (limit 5 s), "
            f"{len(check.errors)} errors, {check.values}"
        )
    (out / "city_offline.png").write_bytes(check.screenshot)
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
