"""Small hand-made layers for the map and report tests (EPSG:4546, near Baotou 昆都仑区)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

CRS = "EPSG:4546"
XSS = "<img src=x onerror=alert(1)>"


def origin() -> tuple[float, float]:
    t = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    return t.transform(109.84, 40.65)


def make_layers() -> dict[str, gpd.GeoDataFrame]:
    x0, y0 = origin()
    outline = box(x0, y0, x0 + 2000, y0 + 1000)
    district = gpd.GeoDataFrame(
        {"district_code": ["150203"], "district_name": ["昆都仑区"]}, geometry=[outline], crs=CRS
    )
    streets = gpd.GeoDataFrame(
        {"street_code": ["150203001"], "street_name": ["友谊大街街道"]}, geometry=[outline], crs=CRS
    )
    communities = gpd.GeoDataFrame(
        {
            "community_code": ["150203001001", "150203001002"],
            "name": ["友谊社区", "<b>钢苑</b>社区"],
            "households": [1200, 900],
            "coverage_15min": [0.92, 0.40],
            "coverage_1km": [0.95, 0.45],
            "uncovered_hh_15min": [96, 540],
        },
        geometry=[box(x0, y0, x0 + 1000, y0 + 1000), box(x0 + 1000, y0, x0 + 2000, y0 + 1000)],
        crs=CRS,
    )
    rows = []
    for c in range(2):
        for i in range(2):
            for j in range(2):
                k = i * 2 + j
                rows.append(
                    {
                        "grid_code": f"15020300100{c + 1}{k + 1:03d}",
                        "community_name": communities.name[c],
                        "households": [150, 260, 380, 520][k],
                        "coverage_15min": [1.0, 0.8, 0.6, 0.3][k] if c == 0 else 0.2,
                        "geometry": box(
                            x0 + c * 1000 + i * 500,
                            y0 + j * 500,
                            x0 + c * 1000 + i * 500 + 500,
                            y0 + j * 500 + 500,
                        ),
                    }
                )
    grids = gpd.GeoDataFrame(rows, crs=CRS)
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": ["F0001", "F0002", "F0003", "F0004", "F0005"],
            "name": [
                "友谊大街街道党群服务中心",
                "友谊社区党群服务中心",
                XSS,
                "钢铁大街红色蓄能站",
                '=HYPERLINK("http://x")',
            ],
            "type": [
                "centre_street",
                "centre_community",
                "station",
                "recharge_station",
                "liaison_point",
            ],
            "area_m2": [1500.0, 600.0, 120.0, 80.0, 50.0],
            "served_households": [900, 1200, 400, 300, 100],
            "hh_per_m2": [0.6, 2.0, 3.33, 3.75, 2.0],
            "overloaded": [False, False, True, True, False],
            "负责人电话": ["13800000000"] * 5,
        },
        geometry=[
            Point(x0 + 300, y0 + 300),
            Point(x0 + 600, y0 + 700),
            Point(x0 + 800, y0 + 200),
            Point(x0 + 1200, y0 + 800),
            Point(x0 + 400, y0 + 800),
        ],
        crs=CRS,
    )
    bands = []
    for target, r in (("5min", 333), ("10min", 667), ("15min", 1000), ("1km", 1000)):
        union = shapely.union_all([p.buffer(r * 0.6) for p in facilities.geometry[:2]])
        bands.append({"facility_id": "all", "target": target, "geometry": union})
    service_areas = gpd.GeoDataFrame(bands, crs=CRS)
    rng = np.random.default_rng(0)
    n = 40
    xs = x0 + rng.uniform(50, 1950, n)
    ys = y0 + rng.uniform(50, 950, n)
    demand = gpd.GeoDataFrame(
        {
            "building_id": np.arange(n),
            "compound_id": [f"C{int(x - x0) // 500}" for x in xs],
            "households": rng.integers(10, 80, n),
            "within_15min": xs < x0 + 1300,
            "户主姓名": ["张三"] * n,
            "phone": ["13900000000"] * n,
        },
        geometry=[shapely.box(x - 10, y - 10, x + 10, y + 10) for x, y in zip(xs, ys, strict=True)],
        crs=CRS,
    )
    gaps = gpd.GeoDataFrame(
        {"gap_id": [1], "households": [540], "nearest_id": ["F0002"], "miss_m": [420.0]},
        geometry=[box(x0 + 1400, y0 + 100, x0 + 1900, y0 + 900)],
        crs=CRS,
    )
    sites = gpd.GeoDataFrame(
        {"rank": [1, 2], "gain_households": [400, 140], "served_households": [450, 160]},
        geometry=[Point(x0 + 1650, y0 + 500), Point(x0 + 1500, y0 + 200)],
        crs=CRS,
    )
    return {
        "district": district,
        "streets": streets,
        "communities": communities,
        "grids": grids,
        "facilities": facilities,
        "service_areas": service_areas,
        "demand": demand,
        "gaps": gaps,
        "sites": sites,
    }
