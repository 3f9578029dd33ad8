"""City-scale map benchmark: HTML size and headless Chromium render time.

Builds a map of a synthetic city (``geogrid.synth.make_district(n_communities=300)``: each
community split into 10 grids, so about 3,000 grids; 500+ facilities; 5/10/15-minute service
bands; uncovered buildings), writes the online and the offline HTML and loads the offline one
in headless Chromium with the network disabled.

Targets (issue 6): offline HTML <= 15 MB, rendered within 5 s, no console errors.

Run: ``python benchmarks/bench_maps.py [--communities 300] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geogrid._chromium import check_page, find_chromium
from geogrid.demand import estimate_households
from geogrid.maps import build_map, save_map
from geogrid.synth import make_district


def split_into_grids(communities: gpd.GeoDataFrame, per_community: int = 10) -> gpd.GeoDataFrame:
    """Cut every community into ``per_community`` strips (2 rows x 5 columns of its box)."""
    rows = []
    for comm in communities.itertuples():
        minx, miny, maxx, maxy = comm.geometry.bounds
        nx, ny = 5, max(1, per_community // 5)
        xs = np.linspace(minx, maxx, nx + 1)
        ys = np.linspace(maxy, miny, ny + 1)
        seq = 0
        for j in range(ny):
            for i in range(nx):
                cell = shapely.box(xs[i], ys[j + 1], xs[i + 1], ys[j]).intersection(comm.geometry)
                if cell.is_empty:
                    continue
                seq += 1
                rows.append(
                    {
                        "grid_code": f"{comm.community_code}{seq:03d}",
                        "community_code": comm.community_code,
                        "community_name": comm.name,
                        "geometry": cell,
                    }
                )
    return gpd.GeoDataFrame(rows, crs=communities.crs)


def city(n_communities: int) -> dict[str, gpd.GeoDataFrame]:
    d = make_district(n_communities=n_communities, seed=0)
    b = estimate_households(d.buildings)
    grids = split_into_grids(d.communities)
    pts = b.set_geometry(b.geometry.representative_point())
    joined = gpd.sjoin(
        pts[["households", "geometry"]], grids[["grid_code", "geometry"]], predicate="within"
    )
    hh = joined.groupby("grid_code")["households"].sum()
    grids["households"] = grids["grid_code"].map(hh).fillna(0).astype(int)
    fac = d.facilities
    bands = []
    for target, r in (("5min", 333.0), ("10min", 667.0), ("15min", 1000.0)):
        # straight-line discs stand in for network bands (size proxy only)
        bands.append(
            {
                "facility_id": "all",
                "target": target,
                "geometry": shapely.union_all(fac.geometry.buffer(r * 0.8).values),
            }
        )
    sa = gpd.GeoDataFrame(bands, crs=fac.crs)
    c15 = bands[2]["geometry"]
    b["within_15min"] = shapely.intersects(c15, b.geometry.representative_point().values)
    return {
        "streets": d.streets,
        "communities": d.communities,
        "grids": grids,
        "facilities": fac,
        "service_areas": sa,
        "demand": b[["building_id", "compound_id", "households", "within_15min", "geometry"]],
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
    online = save_map(m, out / "city.html")
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
