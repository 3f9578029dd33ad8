"""Demand from the data offices have: housing decisions, compounds, rasters, registries, whole households."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geogrid.errors import InputError
from geogrid.study.demand import prepare_demand
from geogrid.study.demand_sources import (
    allocate_compounds,
    allocate_rasters,
    parse_rasters,
    read_compounds,
    scale_to_registry,
)
from geogrid.study.households import round_households
from geogrid.study.residential import classify_buildings

UTM = "EPSG:32650"  # metres; the synthetic cases are drawn around (500 km, 4,400 km)
X0, Y0 = 500_000.0, 4_400_000.0


def square(x: float, y: float, side: float):
    return box(X0 + x, Y0 + y, X0 + x + side, Y0 + y + side)


def buildings(rows: list[dict]) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=UTM)


# --- whole households ---------------------------------------------------------------------


def test_round_households_keeps_every_group_total():
    v = np.array([0.4, 0.4, 0.4, 1.8, 2.5, 2.5, 0.3])
    g = ["a", "a", "a", "a", "b", "b", "b"]
    out = round_households(v, g)
    assert out.dtype == np.int64
    # a: 3.0 -> 3 (0.8 remainder first, then the first 0.4); b: 5.3 -> 5
    assert out.tolist() == [1, 0, 0, 2, 3, 2, 0]
    assert out[:4].sum() == 3 and out[4:].sum() == 5
    # no value moves by a whole household or more
    assert np.all(np.abs(out - v) < 1)


def test_round_households_study_total_and_errors():
    rng = np.random.default_rng(0)
    v = rng.uniform(0, 3, 1000)
    assert round_households(v).sum() == int(np.floor(v.sum() + 0.5))
    with pytest.raises(ValueError, match="negative"):
        round_households([1.0, -0.5])
    with pytest.raises(ValueError, match="one label per unit"):
        round_households([1.0, 2.0], ["a"])


# --- housing decision with evidence ------------------------------------------------------


@pytest.fixture
def town():
    """Seven buildings, one land-use area, one POI: each decided by a different piece of evidence."""
    b = buildings(
        [
            {"building": "apartments", "name": None, "geometry": square(0, 0, 20)},
            {"building": "yes", "name": "金贸大厦", "geometry": square(100, 0, 30)},
            {
                "building": "yes",
                "name": None,
                "geometry": square(300, 300, 20),
            },  # in residential land
            {"building": "yes", "name": None, "geometry": square(600, 0, 20)},  # school POI inside
            {"building": "yes", "name": None, "geometry": square(800, 0, 3)},  # 9 m2 shed
            {"building": "yes", "name": None, "geometry": square(1000, 0, 140)},  # 19,600 m2 hall
            {"building": "yes", "name": None, "geometry": square(2000, 2000, 20)},  # no evidence
        ]
    )
    land = gpd.GeoDataFrame(
        {"landuse": ["residential"], "name": ["幸福小区"]},
        geometry=[square(250, 250, 200)],
        crs=UTM,
    )
    pois = gpd.GeoDataFrame(
        {"amenity": ["school"], "name": ["第九中学"]}, geometry=[Point(X0 + 610, Y0 + 10)], crs=UTM
    )
    return b, land, pois


def test_classification_records_evidence(town):
    b, land, pois = town
    out = classify_buildings(b, landuse=land, pois=pois)
    assert out["residential"].tolist() == [True, False, True, False, False, False, True]
    ev = out["residential_evidence"].tolist()
    assert ev[0] == "building=apartments"
    assert ev[1] == "name has 大厦"
    assert ev[2] == "inside landuse=residential 幸福小区"
    assert ev[3] == "POI inside: amenity=school"
    assert ev[4] == "footprint < 20 m2"
    assert ev[5] == "footprint > 4000 m2"
    assert ev[6] == "no evidence"
    counts = out.attrs["residential_counts"]
    assert counts["default:residential"] == 1 and counts["footprint:non_residential"] == 2
    strict = classify_buildings(b, landuse=land, pois=pois, rule="strict")
    assert strict["residential"].tolist()[6] is False or not strict["residential"].iloc[6]
    tags = classify_buildings(b, rule="tags")
    assert tags["residential"].all()  # the old behaviour: every building=yes is housing


def test_override_column_and_bad_values(town):
    b, land, pois = town
    b["住宅"] = ["", "是", "", "", "", "", "否"]
    out = classify_buildings(b, landuse=land, pois=pois, column="住宅")
    assert bool(out["residential"].iloc[1]) and not bool(out["residential"].iloc[6])
    assert out["residential_evidence"].iloc[1] == "column 住宅"
    b["住宅"] = ["maybe", "", "", "", "", "", ""]
    with pytest.raises(InputError, match="neither yes nor no"):
        classify_buildings(b, column="住宅")
    with pytest.raises(InputError, match="not in the demand layer"):
        classify_buildings(b, column="missing")
    with pytest.raises(InputError, match="unknown residential rule"):
        classify_buildings(b, rule="guess")


def test_prepare_demand_keeps_non_residential_rows_with_zero_households(town):
    b, land, pois = town
    out = prepare_demand(b, landuse=land, pois=pois)
    assert len(out) == len(b)  # every building is accounted for
    non = out[~out["residential"]]
    assert (non["households"] == 0).all() and (non["households_est"] == 0).all()
    assert out["households"].dtype.kind == "i"
    assert out["households"].sum() == int(np.floor(out["households_est"].sum() + 0.5))
    rep = out.attrs["demand_report"]
    assert (
        rep["non_residential_units"] == 4 and rep["sources"]["non_residential"]["households"] == 0
    )


def test_household_options_change_the_estimate():
    from dataclasses import replace

    from geogrid.settings import DEFAULTS

    b = buildings(
        [{"building": "residential", "building:levels": "10", "geometry": square(0, 0, 30)}]
    )
    base = prepare_demand(b)
    # 900 m2 x 10 storeys x 0.75 / 90 m2 = 75 households
    assert base["households_est"].iloc[0] == pytest.approx(75.0)
    half = prepare_demand(b, settings=replace(DEFAULTS, occupancy_rate=0.5, dwelling_m2=75.0))
    assert half["households_est"].iloc[0] == pytest.approx(45.0)
    assert half["households"].iloc[0] == 45


# --- compound tables ----------------------------------------------------------------------


def test_compounds_polygon_area_radius_and_point():
    b = buildings(
        [
            {"building": "residential", "building:levels": "6", "geometry": square(0, 0, 10)},
            {
                "building": "residential",
                "building:levels": "6",
                "geometry": square(20, 0, 10 * 3**0.5),
            },
            {"building": "residential", "building:levels": "6", "geometry": square(500, 500, 20)},
            {"building": "residential", "building:levels": "6", "geometry": square(1000, 0, 20)},
            {"building": "school", "geometry": square(1040, 0, 20)},
        ]
    )
    units = prepare_demand(b)
    est_other = units["households_est"].iloc[3]
    comp = gpd.GeoDataFrame(
        {"name": ["甲", "乙", "丙", "丁"], "households": [100, 40, 70, 33]},
        geometry=[
            square(-5, -5, 50),  # polygon around buildings 0 and 1 (floor area 1 : 3)
            Point(X0 + 460, Y0 + 460),  # inside the residential area holding building 2
            Point(X0 + 1100, Y0 + 10),  # 80-100 m from building 3: within the 150 m radius
            Point(X0 + 5000, Y0 + 5000),  # nothing near: becomes a demand unit
        ],
        crs=UTM,
    )
    area = gpd.GeoDataFrame(geometry=[square(400, 400, 200)], crs=UTM)
    out, matched = allocate_compounds(units, comp, areas=area)
    assert matched["match"].tolist() == ["polygon", "area", "radius", "point"]
    assert matched["matched_units"].tolist() == [2, 1, 1, 0]
    assert out["households"].iloc[:2].tolist() == pytest.approx([25.0, 75.0])
    assert out["households"].iloc[2] == pytest.approx(40.0)
    assert out["households"].iloc[3] == pytest.approx(70.0)  # replaces its estimate
    assert out["households"].iloc[4] == 0  # the school gets nothing
    assert out["demand_source"].iloc[-1] == "compound_point" and out["households"].iloc[-1] == 33
    # nothing lost, nothing twice: the compound total is all there
    assert out["households"].sum() == pytest.approx(243.0)
    assert est_other != 70.0


def test_compound_without_households_is_reported_not_zeroed():
    b = buildings([{"building": "residential", "geometry": square(0, 0, 10)}])
    units = prepare_demand(b)
    comp = gpd.GeoDataFrame(
        {"name": ["甲", "乙"], "households": [None, 50]},
        geometry=[square(-5, -5, 30), Point(X0 + 3000, Y0)],
        crs=UTM,
    )
    out, matched = allocate_compounds(units, comp)
    assert matched["match"].tolist() == ["no_figures", "point"]
    assert out["households"].iloc[0] == pytest.approx(units["households_est"].iloc[0])
    assert out["households"].sum() == pytest.approx(units["households_est"].iloc[0] + 50)
    comp["households"] = [10, -3]
    with pytest.raises(InputError, match="negative values"):
        allocate_compounds(units, comp)


def test_compounds_through_prepare_demand_are_whole_and_reported():
    b = buildings(
        [
            {"building": "residential", "geometry": square(0, 0, 10)},
            {"building": "residential", "geometry": square(20, 0, 10)},
            {"building": "residential", "geometry": square(40, 0, 10)},
        ]
    )
    comp = gpd.GeoDataFrame({"households": [100]}, geometry=[square(-5, -5, 60)], crs=UTM)
    out = prepare_demand(b, compounds=comp)
    assert out["households"].tolist() == [34, 33, 33]  # 33.33 each, largest remainder
    rep = out.attrs["demand_report"]
    assert rep["compounds"]["match"] == {"polygon": 1}
    assert rep["sources"]["compound"] == {"units": 3, "households": 100, "population": 262}


def test_lianjia_bd09_compounds_point_path(real):
    path = real("beijing_lianjia_compounds_bd09.csv")
    comp = read_compounds(path, crs="bd09")
    assert len(comp) == 480 and comp["households"].sum() == 798_857
    raw = pd.read_csv(path)
    # BD-09 -> WGS84 moves Beijing points by several hundred metres, never kilometres
    shift = gpd.GeoSeries(gpd.points_from_xy(raw["lng_bd09"], raw["lat_bd09"]), crs=4326).to_crs(
        UTM
    )
    d = shift.distance(comp.geometry.to_crs(UTM))
    assert d.between(300, 1500).all()
    # three buildings next to the first compound; every other compound becomes a point unit
    c0 = comp.geometry.to_crs(UTM).iloc[0]
    b = gpd.GeoDataFrame(
        {"building": ["residential"] * 3},
        geometry=[box(c0.x + dx, c0.y, c0.x + dx + 20, c0.y + 20) for dx in (10, 40, 70)],
        crs=UTM,
    )
    out = prepare_demand(b, compounds=comp)
    rep = out.attrs["demand_report"]["compounds"]
    assert rep["match"]["radius"] >= 1 and rep["match"]["point"] >= 470
    assert out["households"].sum() == 798_857
    assert (
        out["households"].iloc[:3].sum() >= 1124
    )  # 华龙美晟's 1,124 households (plus any neighbour)
    assert (out["demand_source"] == "compound_point").sum() == rep["match"]["point"]


def test_lianjia_compound_in_a_residential_area(real):
    """A Lianjia point inside a synthetic landuse=residential block gives its 户数 to the
    block's buildings, even those beyond the 150 m radius; the school in it gets none."""
    comp = read_compounds(real("beijing_lianjia_compounds_bd09.csv"), crs="bd09")
    c1 = comp.geometry.to_crs(UTM).iloc[1]  # 新景家园东区, 5,389 households
    block = gpd.GeoDataFrame(
        {"landuse": ["residential"]},
        geometry=[box(c1.x - 50, c1.y - 50, c1.x + 350, c1.y + 50)],
        crs=UTM,
    )
    b = gpd.GeoDataFrame(
        {"building": ["yes", "yes", "school"]},
        geometry=[box(c1.x + dx, c1.y - 10, c1.x + dx + 30, c1.y + 10) for dx in (200, 260, 100)],
        crs=UTM,
    )
    out = prepare_demand(b, compounds=comp, landuse=block)
    assert out["residential_evidence"].tolist()[:3] == [
        "inside landuse=residential",
        "inside landuse=residential",
        "building=school",
    ]
    matched = out.attrs["demand_tables"]["compounds_matched"]
    assert matched["match"].iloc[1] == "area" and matched["matched_units"].iloc[1] == 2
    # the block's buildings hold 新景家园东区 and any real neighbour whose point is near them
    near = matched[matched["match"] != "point"]
    assert out["households"].iloc[:2].sum() == near["households"].sum() >= 5389
    assert out["households"].iloc[2] == 0
    assert out["households"].sum() == 798_857


# --- population rasters -------------------------------------------------------------------


def write_tif(path: Path, values: np.ndarray, *, west: float, north: float, cell: float, crs: str):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(west, north, cell, cell),
        nodata=-99999,
    ) as dst:
        dst.write(values.astype("float32"), 1)


def test_raster_dasymetric_hand_checkable(tmp_path):
    # 2 x 2 cells of 100 m: 300 | 50 ; nodata | 20
    write_tif(
        tmp_path / "pop.tif",
        np.array([[300, 50], [-99999, 20]]),
        west=X0,
        north=Y0 + 200,
        cell=100,
        crs=UTM,
    )
    write_tif(
        tmp_path / "old.tif",
        np.array([[30, 5], [0, 2]]),
        west=X0,
        north=Y0 + 200,
        cell=100,
        crs=UTM,
    )
    b = buildings(
        [
            {"building": "residential", "geometry": square(10, 110, 10)},  # top-left, 100 m2
            {"building": "residential", "geometry": square(50, 150, 20)},  # top-left, 400 m2
            {"building": "residential", "geometry": square(110, 10, 10)},  # bottom-right
            {"building": "office", "geometry": square(150, 150, 10)},  # top-right: not housing
        ]
    )
    units = prepare_demand(b)
    out, rep = allocate_rasters(
        units,
        parse_rasters([str(tmp_path / "pop.tif"), f"elderly={tmp_path / 'old.tif'}"]),
        area=box(X0, Y0, X0 + 200, Y0 + 200),
    )
    assert out["population"].iloc[:4].tolist() == pytest.approx([60.0, 240.0, 20.0, 0.0])
    assert out["elderly"].iloc[:4].tolist() == pytest.approx([6.0, 24.0, 2.0, 0.0])
    # the top-right cell has people and no housing: a unit at the cell centre
    cell = out[out["demand_source"] == "raster_cell"]
    assert len(cell) == 1 and cell["population"].iloc[0] == pytest.approx(50.0)
    assert cell.geometry.iloc[0].equals(Point(X0 + 150, Y0 + 150))
    assert rep["population"]["raster_total"] == pytest.approx(370.0)
    assert out["population"].sum() == pytest.approx(370.0) and out[
        "elderly"
    ].sum() == pytest.approx(37.0)
    assert out["households"].iloc[0] == pytest.approx(60.0 / 2.62)


def test_wuhan_worldpop_total_equals_raster_over_the_area(real, tmp_path):
    import rasterio
    import shapely

    adults = real("wuhan_worldpop/adults_20plus.tif")
    elderly = real("wuhan_worldpop/elderly_60plus.tif")
    # a 1.5 km x 1.1 km window of Hankou and synthetic housing in a 50 m lattice over half of it
    area_ll = box(114.270, 30.580, 114.2857, 30.590)
    area = gpd.GeoSeries([area_ll], crs=4326).to_crs(UTM).iloc[0]
    minx, miny, maxx, maxy = area.bounds
    geoms = [
        box(x, y, x + 15, y + 15)
        for x in np.arange(minx + 5, (minx + maxx) / 2, 50)
        for y in np.arange(miny + 5, maxy - 20, 50)
    ]
    b = gpd.GeoDataFrame({"building": ["residential"] * len(geoms)}, geometry=geoms, crs=UTM)
    out = prepare_demand(b, population=[str(adults), f"elderly={elderly}"], study_area=area)
    # independent total: every cell whose centre lies in the area
    with rasterio.open(adults) as src:
        v = src.read(1)
        rows, cols = np.nonzero(v > 0)
        t = src.transform
        x = t.c + t.a * (cols + 0.5)
        y = t.f + t.e * (rows + 0.5)
        # cells holding a building of the area count too (their centre may lie just outside)
        bpts = gpd.GeoSeries(b.representative_point(), crs=UTM).to_crs(4326)
        bpts = bpts[bpts.within(area_ll)]
        held = {src.index(px, py) for px, py in zip(bpts.x, bpts.y, strict=True)}
    inside = shapely.contains_xy(area_ll, np.asarray(x), np.asarray(y))
    inside |= np.array([(r, c) in held for r, c in zip(rows, cols, strict=True)])
    total = float(v[rows[inside], cols[inside]].sum())
    assert total > 10_000  # a dense district: tens of thousands of adults
    assert out["population_est"].sum() == pytest.approx(total, rel=1e-6)
    assert out["population"].sum() == int(np.floor(out["population_est"].sum() + 0.5))
    rep = out.attrs["demand_report"]["rasters"]
    assert rep["population"]["demand_total"] == pytest.approx(rep["population"]["raster_total"])
    assert 0 < rep["elderly"]["raster_total"] < rep["population"]["raster_total"]
    assert out["elderly"].sum() == int(np.floor(out["elderly_est"].sum() + 0.5))
    # the eastern half has no buildings: its cells became units of their own
    assert rep["population"]["cells_without_buildings"] > 0
    assert (out["demand_source"] == "raster_cell").sum() == rep["population"][
        "cells_without_buildings"
    ]


def test_raster_errors(tmp_path):
    b = buildings([{"building": "residential", "geometry": square(0, 0, 10)}])
    with pytest.raises(InputError, match="does not exist"):
        prepare_demand(b, population=str(tmp_path / "missing.tif"))
    (tmp_path / "bad.tif").write_text("not a raster")
    with pytest.raises(InputError, match="GeoTIFF"):
        prepare_demand(b, population=str(tmp_path / "bad.tif"))
    with pytest.raises(InputError, match="given twice"):
        parse_rasters(["elderly=a.tif", "elderly=b.tif"])


# --- registry totals ----------------------------------------------------------------------


def test_registry_scales_within_zones_hand_checkable():
    b = buildings(
        [
            {"building": "residential", "geometry": square(0, 0, 10)},
            {"building": "residential", "geometry": square(20, 0, 20)},
            {"building": "residential", "geometry": square(1000, 0, 10)},
            {"building": "residential", "geometry": square(5000, 0, 10)},  # in no zone
        ]
    )
    zones = gpd.GeoDataFrame(
        {"name": ["东街", "西街", "空街"], "households": [500, 30, 10]},
        geometry=[square(-10, -10, 100), square(900, -100, 300), square(3000, 3000, 10)],
        crs=UTM,
    )
    units = prepare_demand(b)
    out, z = scale_to_registry(units, zones)
    assert out["households"].iloc[:2].tolist() == pytest.approx([100.0, 400.0])  # 1 : 4 floor area
    assert out["households"].iloc[2] == pytest.approx(30.0)
    assert out["households"].iloc[3] == pytest.approx(units["households_est"].iloc[3])
    assert z["status"].tolist() == ["scaled", "scaled", "no_units"]
    whole = prepare_demand(b, registry=zones)
    assert whole.attrs["demand_report"]["registry"]["status"] == {"no_units": 1, "scaled": 2}
    assert whole["households"].iloc[:3].sum() == 530


def test_beijing_townships_registry(real):
    shp = real("beijing_townships/beijing.shp")
    pop = np.load(real("beijing_townships/worldpop.npy"))
    zones = gpd.read_file(shp)
    zones["population"] = pop[:, 0]
    # column 0 sums to 20,755,648 (the data README's 20,771,901 is columns 0 + 1)
    assert len(zones) == 331 and zones["population"].sum() == 20_755_648
    # synthetic housing in three townships, 4 buildings each
    pick = [0, 100, 200]
    metric = zones.to_crs(UTM)
    geoms = []
    for i in pick:
        c = metric.geometry.iloc[i].representative_point()
        geoms += [box(c.x + dx, c.y, c.x + dx + 20, c.y + 20) for dx in (0, 30, 60, 90)]
    b = gpd.GeoDataFrame({"building": ["residential"] * len(geoms)}, geometry=geoms, crs=UTM)
    out = prepare_demand(b, registry=zones)
    per_zone = out.groupby(out.index // 4)["population_est"].sum().to_numpy()
    assert per_zone == pytest.approx(zones["population"].iloc[pick].to_numpy(dtype=float))
    rep = out.attrs["demand_report"]["registry"]["status"]
    assert rep == {"no_units": 328, "scaled": 3}
    assert out["population"].sum() == int(zones["population"].iloc[pick].sum())


# --- the three OSM extracts and the command line --------------------------------------------


@pytest.mark.parametrize(
    "name", ["nanjing_xuanwu.osm", "guixi_jiangxi.osm", "shenzhen_longgang.osm"]
)
def test_osm_extracts_classified_with_evidence(real, name):
    from geogrid.io.osm import read_osm
    from geogrid.study.residential import read_landuse

    path = real(name)
    osm = read_osm(path)
    before = prepare_demand(osm.buildings, residential_rule="tags")
    after = prepare_demand(osm.buildings, landuse=read_landuse(path), pois=osm.pois)
    assert len(after) == len(osm.buildings)  # every building accounted for
    assert after["residential_evidence"].str.len().gt(0).all()
    assert after["households"].sum() < before["households"].sum()
    assert (~after["residential"]).sum() > (~before["residential"]).sum()
    yes = after[osm.buildings["building"].eq("yes").to_numpy()]
    assert (~yes["residential"]).sum() > 0  # some building=yes judged non-residential


def test_cli_coverage_with_compounds_and_flags(real, tmp_path):
    osm = real("guixi_jiangxi.osm")
    (tmp_path / "centres.csv").write_text(
        "name,type,lon,lat,area_m2\n东门社区,centre_community,117.215,28.292,300\n",
        encoding="utf-8",
    )
    (tmp_path / "compounds.csv").write_text(
        "name,households,lng_wgs84,lat_wgs84\n远郊小区,321,117.0,28.0\n", encoding="utf-8"
    )
    cmd = [
        sys.executable,
        "-m",
        "geogrid",
        "coverage",
        "--network",
        str(osm),
        "--demand",
        str(osm),
        "--facilities",
        "centres.csv",
        "--crs",
        "wgs84",
        "--compounds",
        "compounds.csv",
        "--compounds-crs",
        "wgs84",
        "--dwelling-m2",
        "100",
        "--default-storeys",
        "yes=5",
        "--out",
        "out",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    # the household sources are named, not coded (compound_point: 1 units, 321 households)
    assert "小区户数表（无楼栋，按小区位置） 1 个单元，321 户" in proc.stdout
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    assert {"residential", "residential_evidence", "households_est"} <= set(dem.columns)
    assert (dem["households"] % 1 == 0).all() and 321 in dem["households"].tolist()
    matched = gpd.read_file(tmp_path / "out" / "demand_sources.gpkg", layer="compounds_matched")
    assert matched["match"].tolist() == ["point"] and matched["name"].tolist() == ["远郊小区"]
    bad = subprocess.run(
        cmd[:-2] + ["--occupancy", "3", "--out", "o2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("geogrid: error: --occupancy 3")
    assert "Traceback" not in bad.stderr
    json.dumps({})


def test_cli_population_raster_and_registry_codes(real, tmp_path):
    """Raster people spread over Guixi's buildings, then scaled to two communities' registry totals."""
    from geogrid.io.osm import read_osm

    osm = real("guixi_jiangxi.osm")
    w, s, e, n = read_osm(osm).buildings.total_bounds
    cols, rows = int(np.ceil((e - w) / 0.002)) + 1, int(np.ceil((n - s) / 0.002)) + 1
    write_tif(
        tmp_path / "pop.tif",
        np.full((rows, cols), 10.0),
        west=w - 0.001,
        north=n + 0.001,
        cell=0.002,
        crs="EPSG:4326",
    )
    write_tif(
        tmp_path / "old.tif",
        np.full((rows, cols), 2.0),
        west=w - 0.001,
        north=n + 0.001,
        cell=0.002,
        crs="EPSG:4326",
    )
    mid = (w + e) / 2
    com = gpd.GeoDataFrame(
        {"community_code": ["360681001001", "360681001002"], "name": ["东门社区", "西门社区"]},
        geometry=[box(w - 0.01, s - 0.01, mid, n + 0.01), box(mid, s - 0.01, e + 0.01, n + 0.01)],
        crs=4326,
    )
    com.to_file(tmp_path / "communities.gpkg", layer="communities", driver="GPKG")
    (tmp_path / "registry.csv").write_text(
        "community_code,population\n360681001001,5000\n360681001002,7001\n360681009999,99\n",
        encoding="utf-8",
    )
    (tmp_path / "centres.csv").write_text(
        "name,type,lon,lat,area_m2\n东门社区,centre_community,117.215,28.292,300\n",
        encoding="utf-8",
    )
    cmd = [
        sys.executable,
        "-m",
        "geogrid",
        "coverage",
        "--network",
        str(osm),
        "--demand",
        str(osm),
        "--facilities",
        "centres.csv",
        "--crs",
        "wgs84",
        "--communities",
        "communities.gpkg",
        "--population",
        "pop.tif",
        "--population",
        "elderly=old.tif",
        "--registry",
        "registry.csv",
        "--out",
        "out",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    # plain words, not reprs or codes (was "no_geometry: 1", "scaled: 2")
    assert "无边界 1" in proc.stdout and "已校准 2" in proc.stdout
    sources = next(ln for ln in proc.stdout.splitlines() if ln.startswith("户数来源："))
    assert "人口栅格 " not in sources  # every building's cell counted: none left at 0
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    assert dem["population"].sum() == 12_001  # the two communities' registry totals, whole
    inside = gpd.sjoin(
        dem.to_crs(4326).set_geometry(dem.to_crs(4326).representative_point()),
        com,
        predicate="within",
    )
    per = inside.groupby(
        "community_code_right" if "community_code_right" in inside else "community_code"
    )["population"].sum()
    assert per.tolist() == [5000, 7001]
    assert dem["elderly"].sum() > 0 and (dem["elderly"] % 1 == 0).all()
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig").set_index(
        "metric"
    )
    assert float(summary.loc["elderly", "value"]) == dem["elderly"].sum()
    assert 0 <= float(summary.loc["coverage_elderly_15min", "value"]) <= 1
    zones = gpd.read_file(tmp_path / "out" / "demand_sources.gpkg", layer="registry_zones")
    assert zones["status"].tolist() == ["scaled", "scaled", "no_geometry"]
    bad = subprocess.run(
        cmd[:-4] + ["--registry", "centres.csv", "--out", "o2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "registry totals need zone polygons or codes" in bad.stderr


def test_cli_area_bounds_raster_totals(real, tmp_path):
    """With --area, the demand's population is the raster's total over that outline."""
    from geogrid.io.osm import read_osm

    osm = real("guixi_jiangxi.osm")
    w, s, e, n = read_osm(osm).buildings.total_bounds
    cols, rows = int(np.ceil((e - w) / 0.002)) + 1, int(np.ceil((n - s) / 0.002)) + 1
    write_tif(
        tmp_path / "pop.tif",
        np.full((rows, cols), 10.0),
        west=w - 0.001,
        north=n + 0.001,
        cell=0.002,
        crs="EPSG:4326",
    )
    # an outline of whole cells: 3 x 2 cells in the north-west corner
    x0, y1 = w - 0.001, n + 0.001
    outline = box(x0 + 1e-6, y1 - 0.004 + 1e-6, x0 + 0.006 - 1e-6, y1 - 1e-6)
    gpd.GeoDataFrame(geometry=[outline], crs=4326).to_file(tmp_path / "area.geojson")
    (tmp_path / "centres.csv").write_text(
        "name,type,lon,lat,area_m2\n东门社区,centre_community,117.215,28.292,300\n",
        encoding="utf-8",
    )
    cmd = [
        sys.executable,
        "-m",
        "geogrid",
        "coverage",
        "--network",
        str(osm),
        "--demand",
        str(osm),
        "--facilities",
        "centres.csv",
        "--crs",
        "wgs84",
        "--population",
        "pop.tif",
        "--area",
        "area.geojson",
        "--out",
        "out",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    # 6 cells of 10 people, plus the cells outside holding a building of the area (none here:
    # buildings whose point is in the outline lie in its cells)
    assert dem["population"].sum() == 60
