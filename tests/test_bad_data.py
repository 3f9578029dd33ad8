"""Bad data *content* through the command line: every case is an error, a repair or ok.

Case ids are ``"<class>:<name>"``:

``error``  exit 2, one stderr line ``geogrid: error: ...`` naming the fix, no traceback;
``repair`` exit 0, a warning naming the repair and its count, and the outputs reconcile
           (input rows = output rows + ``excluded`` rows; the same for households);
``ok``     exit 0, no traceback.

Count the catalogue by class with::

    CI=true python -m pytest tests/test_bad_data.py --collect-only -q \\
        | grep -oE '(error|repair|ok):' | sort | uniq -c

The helpers below mirror ``tests/_catalogue.py`` (branch ``badin``) by name and meaning, so
the two can be folded together once both land.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from _catalogue import case, check_error, check_ok, check_repair, run_cli
from conftest import real_path
from shapely.geometry import Point, Polygon

# --------------------------------------------------------------------------- helpers


CHECK = {"error": check_error, "repair": check_repair, "ok": check_ok}


@pytest.fixture(scope="module")
def district() -> Any:
    from geogrid.demo import make_district

    return make_district(n_communities=2, seed=0)


@pytest.fixture(scope="module")
def inputs(district: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny demo district's layers as GeoPackages (good files to break one thing in)."""
    folder = tmp_path_factory.mktemp("demo_inputs")
    out = {}
    for key, gdf in (
        ("network", district.ways),
        ("demand", district.buildings),
        ("facilities", district.facilities),
        ("communities", district.communities),
    ):
        out[key] = folder / f"{key}.gpkg"
        gdf.to_file(out[key], layer=key, driver="GPKG")
    return out


def coverage_args(paths: dict[str, Path], out: Path, **override: Any) -> list[str]:
    """``geogrid coverage`` arguments; ``demand=...`` replaces an input, ``x=None`` drops it."""
    opts: dict[str, Any] = {k: paths[k] for k in ("network", "demand", "facilities")}
    opts.update(override)
    args = ["coverage"]
    for key, value in opts.items():
        if value is not None:
            args += ["--" + key.replace("_", "-"), str(value)]
    return [*args, "--out", str(out)]


def reconcile(inp: gpd.GeoDataFrame, out: Path, *, layer: str = "demand") -> gpd.GeoDataFrame:
    """Assert input rows (and households) = output rows + excluded rows; return ``excluded``."""
    gpkg = out / "coverage.gpkg"
    got = gpd.read_file(gpkg, layer=layer)
    excluded = gpd.read_file(gpkg, layer="excluded")
    mine = excluded[excluded["layer"] == layer]
    assert len(inp) == len(got) + len(mine), (len(inp), len(got), len(mine))
    if layer == "demand" and "households" in inp.columns:
        total = pd.to_numeric(inp["households"], errors="coerce").sum()
        kept = got["households"].sum() + mine["households"].fillna(0).sum()
        assert kept == pytest.approx(total, rel=1e-9)
    return excluded


# --------------------------------------------------------------------------- demand layers


def _with_households(district: Any) -> gpd.GeoDataFrame:
    b = district.buildings.copy()
    b = b[b["building"] != "retail"].reset_index(drop=True)
    b["households"] = np.arange(len(b)) % 40 + 10
    return b


def _bowtie(g: Polygon) -> Polygon:
    x0, y0, x1, y1 = g.bounds
    return Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])


def zero_area_with_households(district: Any) -> gpd.GeoDataFrame:
    """The issue's case: 10 buildings holding 324 households have collapsed footprints."""
    b = _with_households(district)
    geoms = b.geometry.to_numpy().copy()
    for k in range(10):
        x0, y0, x1, _ = geoms[k].bounds
        geoms[k] = Polygon([(x0, y0), (x1, y0), ((x0 + x1) / 2, y0), (x0, y0)])
    b["households"] = b["households"].astype(float)
    b.loc[:9, "households"] = [32, 33, 32, 33, 32, 33, 32, 33, 32, 32]
    return b.set_geometry(geoms)


def bowtie_buildings(district: Any) -> gpd.GeoDataFrame:
    b = district.buildings.copy()
    geoms = b.geometry.to_numpy().copy()
    for k in range(5):
        geoms[k] = _bowtie(geoms[k])
    return b.set_geometry(geoms)


def zero_area_estimated(district: Any) -> gpd.GeoDataFrame:
    b = district.buildings.copy()
    geoms = b.geometry.to_numpy().copy()
    for k in range(3):
        x0, y0, x1, _ = geoms[k].bounds
        geoms[k] = Polygon([(x0, y0), (x1, y0), (x0, y0), (x1, y0)])
    return b.set_geometry(geoms)


def households_value(value: Any, rows: int = 1) -> Any:
    def make(district: Any) -> gpd.GeoDataFrame:
        b = _with_households(district).astype({"households": object})
        b.loc[: rows - 1, "households"] = value
        return b

    return make


def all_zero(district: Any) -> gpd.GeoDataFrame:
    b = _with_households(district)
    b["households"] = 0
    return b


def duplicate_rows(district: Any) -> gpd.GeoDataFrame:
    b = _with_households(district)
    return pd.concat([b, b.iloc[:4]], ignore_index=True)


def duplicate_ids(district: Any) -> gpd.GeoDataFrame:
    b = _with_households(district)
    b["unit_id"] = np.arange(len(b))
    b.loc[1, "unit_id"] = 0
    return b


def mixed_estimated(district: Any) -> gpd.GeoDataFrame:
    b = district.buildings.copy()
    geoms = b.geometry.to_numpy().copy()
    geoms[:6] = shapely.centroid(geoms[:6])
    return b.set_geometry(geoms)


def mixed_with_households(district: Any) -> gpd.GeoDataFrame:
    b = _with_households(district)
    geoms = b.geometry.to_numpy().copy()
    geoms[:6] = shapely.centroid(geoms[:6])
    return b.set_geometry(geoms)


def empty_points(district: Any) -> gpd.GeoDataFrame:
    b = _with_households(district)
    pts = b.set_geometry(shapely.centroid(b.geometry.to_numpy()))
    geoms = pts.geometry.to_numpy().copy()
    geoms[:3] = [Point(), None, Point()]
    return pts.set_geometry(gpd.GeoSeries(geoms, crs=b.crs))


DEMAND_CASES = [
    case("repair", "zero-area-buildings-holding-households", zero_area_with_households,
         ("10 demand rows", "zero area", "324 households"), {"zero area": 10}),
    case("repair", "invalid-buildings-repaired", bowtie_buildings,
         ("repaired 5 invalid demand polygons", "make_valid"), {}),
    case("repair", "zero-area-buildings-estimated", zero_area_estimated,
         ("3 demand rows", "zero area"), {"zero area": 3}),
    case("error", "households-1e12", households_value(1e12),
         ("implausible", "more than 50,000", "ids 1 (1e+12)"), {}),
    case("error", "households-negative", households_value(-5, rows=2),
         ("2 demand rows have negative households", "ids 1 (-5), 2 (-5)"), {}),
    case("error", "households-all-zero", all_zero, ("0 households", "fill"), {}),
    case("error", "households-text", households_value("about 40", rows=3),
         ("3 values that are not numbers", "'about 40'", "plain numbers"), {}),
    case("error", "households-nan", households_value(np.nan, rows=2),
         ("2 demand rows have no households", "ids 1, 2", "fill them"), {}),
    case("repair", "duplicate-demand-rows", duplicate_rows,
         ("4 demand rows repeat an earlier row", "duplicates"), {"duplicate": 4}),
    case("error", "duplicate-demand-ids", duplicate_ids, ("unit_id 0", "make unit ids unique"), {}),
    case("repair", "points-among-footprints-without-households", mixed_estimated,
         ("6 of 152 demand rows are points without households", "households"),
         {"point without households": 6}),
    case("ok", "points-among-footprints-with-households", mixed_with_households, (), {}),
    case("repair", "empty-demand-geometry", empty_points,
         ("dropped 3 rows without geometry",), {"empty geometry": 3}),
]  # fmt: skip


@pytest.mark.parametrize(("make", "fragments", "excluded"), DEMAND_CASES)
def test_bad_demand(request, make, fragments, excluded, district, inputs, tmp_path, capsys, caplog):
    cls = request.node.callspec.id.split(":")[0]
    dem = make(district)
    path = tmp_path / "demand.gpkg"
    dem.to_file(path, layer="demand", driver="GPKG")
    res = run_cli(coverage_args(inputs, tmp_path / "out", demand=path), capsys, caplog)
    CHECK[cls](res, *fragments)
    if cls == "error":
        assert not (tmp_path / "out" / "coverage.gpkg").exists()
        return
    exc = reconcile(pyogrio.read_dataframe(path), tmp_path / "out")
    reasons = exc.loc[exc["layer"] == "demand", "reason"].value_counts().to_dict()
    for reason, n in excluded.items():
        assert reasons.get(reason) == n, reasons
    # the original ids survive: every input id is in the output or the excluded layer
    got = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    if "building_id" in dem.columns and dem["building_id"].is_unique:
        seen = set(got["building_id"].astype(str)) | set(exc["source_id"])
        assert set(dem["building_id"].astype(str)) <= seen


def test_zero_area_case_names_its_households(district, inputs, tmp_path, capsys, caplog):
    path = tmp_path / "demand.gpkg"
    zero_area_with_households(district).to_file(path, layer="demand", driver="GPKG")
    res = run_cli(coverage_args(inputs, tmp_path / "out", demand=path), capsys, caplog)
    check_repair(res, "zero area")
    exc = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="excluded")
    zero = exc[exc["reason"] == "zero area"]
    assert len(zero) == 10 and zero["households"].sum() == 324
    assert set(zero["source_id"]) == {str(i) for i in range(1, 11)}  # building_id 1..10
    assert (zero["reason_zh"] == "面积为零").all()
    assert "未纳入计算的行：楼栋/小区（面积为零）10 行" in res.out
    assert "未纳入计算的户数：324 户" in res.out


# --------------------------------------------------------------------------- facilities


def _fac(district: Any, **cols: Any) -> gpd.GeoDataFrame:
    f = district.facilities.copy()
    for k, v in cols.items():
        if v is None:
            f = f.drop(columns=k)
        else:
            f[k] = v
    return f


def four_facilities(district: Any, types: list[str]) -> gpd.GeoDataFrame:
    f = district.facilities
    rows = pd.concat([f, f], ignore_index=True)
    geoms = rows.geometry.to_numpy().copy()
    geoms[2:] = (
        shapely.affinity.translate(geoms[0], 300, 0),
        shapely.affinity.translate(geoms[1], 0, 300),
    )
    rows = rows.set_geometry(geoms)
    rows["facility_id"] = [f"F{i}" for i in range(4)]
    rows["type"] = types
    return rows


FACILITY_CASES = [
    case("repair", "facilities-without-type", lambda d: _fac(d, type=None), [],
         ("no 'type' column", "2 facilities", "--facility-type-column"),
         {"facility": 2}),
    case("ok", "facility-type-column", lambda d: _fac(d).rename(columns={"type": "类型"}),
         ["--facility-type-column", "类型"], (), {"centre_street": 1, "centre_community": 1}),
    case("ok", "facility-type-default", lambda d: _fac(d, type=None),
         ["--facility-type", "党群服务站"], (), {"station": 2}),
    case("ok", "facility-type-default-fills-blanks", lambda d: _fac(d, type=["", "centre_street"]),
         ["--facility-type", "station"], (), {"station": 1, "centre_street": 1}),
    case("error", "facility-type-unknown-default", lambda d: _fac(d, type=None),
         ["--facility-type", "快递站"], ("unknown facility type '快递站'", "station"), {}),
    case("error", "facility-type-column-missing", _fac,
         ["--facility-type-column", "类别"], ("no column '类别'", "type"), {}),
    case("repair", "unknown-types-not-matched-by-substring",
         lambda d: four_facilities(d, ["卫生服务站", "快递服务站", "便民服务站", "党群服务站"]), [],
         ("3 facilities have an unknown type", "'卫生服务站' x1", "'快递服务站' x1",
          "'便民服务站' x1"), {"facility": 3, "station": 1}),
    case("ok", "documented-synonyms", lambda d: four_facilities(
        d, [" 服务站 ", "Community_Centre", "红色蓄能站", "联络点"]), [], (),
         {"station": 1, "centre_community": 1, "recharge_station": 1, "liaison_point": 1}),
    case("repair", "duplicate-facility-rows",
         lambda d: pd.concat([d.facilities, d.facilities.iloc[[0]]], ignore_index=True), [],
         ("1 facilities rows repeat an earlier row", "duplicates"),
         {"centre_street": 1, "centre_community": 1}),
    case("error", "duplicate-facility-ids", lambda d: four_facilities(
        d, ["station"] * 4).assign(facility_id=["A", "A", "B", "B"]), [],
         ("facility_id 'A', 'B' appear more than once", "make facility ids unique"), {}),
    case("repair", "empty-facility-geometry", lambda d: _fac(d).set_geometry(
        gpd.GeoSeries([d.facilities.geometry.iloc[0], Point()], crs=d.facilities.crs)), [],
         ("dropped 1 rows without geometry",), {"centre_street": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("make", "extra", "fragments", "types"), FACILITY_CASES)
def test_bad_facilities(
    request, make, extra, fragments, types, district, inputs, tmp_path, capsys, caplog
):
    cls = request.node.callspec.id.split(":")[0]
    fac = make(district)
    path = tmp_path / "facilities.gpkg"
    fac.to_file(path, layer="facilities", driver="GPKG")
    args = coverage_args(inputs, tmp_path / "out", facilities=path) + extra
    res = run_cli(args, capsys, caplog)
    CHECK[cls](res, *fragments)
    if cls == "error":
        return
    reconcile(pyogrio.read_dataframe(path), tmp_path / "out", layer="facilities")
    got = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="facilities")
    assert got["type"].value_counts().to_dict() == types


def test_facilities_without_type_in_the_api_too(district, caplog):
    from geogrid.study.facilities import prepare_facilities

    with caplog.at_level(logging.WARNING):
        out = prepare_facilities(district.facilities.drop(columns="type"))
    assert set(out["type"]) == {"facility"}
    assert "add a 'type' column" in caplog.text


# --------------------------------------------------------------------------- communities


def duplicate_codes(district: Any) -> gpd.GeoDataFrame:
    c = district.communities.copy()
    c["community_code"] = c["community_code"].iloc[0]
    return c


COMMUNITY_CASES = [
    case("error", "duplicate-community-code", duplicate_codes,
         ("community_code 150203001001 (2 rows) appear more than once", "own code")),
    case("error", "blank-community-code", lambda d: d.communities.assign(community_code=["", "1"]),
         ("1 communities have no community_code", "fill")),
]  # fmt: skip


@pytest.mark.parametrize(("make", "fragments"), COMMUNITY_CASES)
@pytest.mark.parametrize("command", ["coverage", "grids"])
def test_bad_communities(
    request, make, fragments, command, district, inputs, tmp_path, capsys, caplog
):
    cls = request.node.callspec.id.split(":")[0].split("-")[-1]
    path = tmp_path / "communities.gpkg"
    make(district).to_file(path, layer="communities", driver="GPKG")
    if command == "coverage":
        args = coverage_args(inputs, tmp_path / "out", communities=path)
    else:
        args = ["grids", "--demand", inputs["demand"], "--communities", path, "--out", tmp_path]
    CHECK[cls](run_cli(args, capsys, caplog), *fragments)


# --------------------------------------------------------------------------- grids


def test_grids_accounts_for_every_row(district, inputs, tmp_path, capsys, caplog):
    """`geogrid grids` used to drop zero-household rows silently; now each is excluded."""
    res = run_cli(
        ["grids", "--demand", inputs["demand"], "--communities", inputs["communities"],
         "--out", tmp_path],
        capsys,
        caplog,
    )  # fmt: skip
    check_ok(res, "未纳入计算的楼栋/小区（非住宅建筑）：62 行")
    units = gpd.read_file(tmp_path / "grids.gpkg", layer="units")
    exc = gpd.read_file(tmp_path / "grids.gpkg", layer="excluded")
    grids = gpd.read_file(tmp_path / "grids.gpkg", layer="grids")
    assert len(units) + len(exc) == len(district.buildings)
    assert int(grids["n_units"].sum()) == len(units)
    assert set(exc["reason"]) == {"non-residential building"}
    assert grids["households"].sum() == pytest.approx(units["households"].sum(), rel=1e-6)


# --------------------------------------------------------------------------- snap flags


def test_snap_flags_are_columns(district, inputs, tmp_path, capsys, caplog):
    fac = district.facilities.copy()
    geoms = fac.geometry.to_numpy().copy()
    geoms[1] = shapely.affinity.translate(geoms[1], 2000, 0)  # far outside the district
    path = tmp_path / "facilities.gpkg"
    fac.set_geometry(geoms).to_file(path, layer="facilities", driver="GPKG")
    res = run_cli(coverage_args(inputs, tmp_path / "out", facilities=path), capsys, caplog)
    check_ok(res)
    got = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="facilities")
    assert got["snap_far"].tolist() == [0, 1] or got["snap_far"].tolist() == [False, True]
    assert got["snap_m"].iloc[1] > 300
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    assert {"snap_far", "snap_island", "snap_m"} <= set(dem.columns)
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig")
    assert summary.set_index("metric").loc["facilities_far_from_network", "value"] == 1


# --------------------------------------------------------------------------- summaries


def test_summary_prints_plain_numbers():
    from geogrid.outputs.console import format_summary

    text = format_summary(
        {
            "households": np.float64(12.5),
            "coverage": np.float64("nan"),
            "gaps": np.int64(3),
            "excluded_rows": {},
            "excluded_households": 0.0,
            "skipped": 0,
            "network_dropped_private": np.int64(0),
            "network_dropped_not_walkable": 5,
            "codes": [np.int64(1), np.float64(2.0)],
        }
    )
    assert "np." not in text and "nan" not in text.lower().replace("n/a", "")
    assert "未纳入" not in text and "skipped" not in text
    assert "dropped_private" not in text and "剔除的不可步行道路：5" in text
    assert "coverage：—" in text and "覆盖缺口数：3" in text and "总户数：13 户" in text


# --------------------------------------------------------------------------- reconciliation


def _accounting(out: Path, n_in: int, hh_in: float | None = None) -> dict[str, Any]:
    gpkg = out / "coverage.gpkg"
    dem = gpd.read_file(gpkg, layer="demand")
    exc = gpd.read_file(gpkg, layer="excluded")
    mine = exc[exc["layer"] == "demand"]
    assert len(dem) + len(mine) == n_in
    if hh_in is not None:
        assert dem["households"].sum() + mine["households"].fillna(0).sum() == pytest.approx(hh_in)
    return {"in": n_in, "out": len(dem), "excluded": mine["reason"].value_counts().to_dict()}


def test_nanjing_every_building_accounted_for(tmp_path, capsys, caplog):
    """Every OSM building ends in the demand layer (non-residential ones with 0 households)."""
    from geogrid.io.osm import read_osm

    osm = real_path("nanjing_xuanwu.osm")
    (tmp_path / "centres.csv").write_text(
        "name,type,lon,lat,area_m2\n中心0,社区党群服务中心,118.770,32.040,600\n"
        "中心1,社区党群服务中心,118.788,32.048,600\n",
        encoding="utf-8",
    )
    args = ["coverage", "--network", osm, "--demand", osm, "--facilities",
            tmp_path / "centres.csv", "--crs", "wgs84", "--out", tmp_path / "out"]  # fmt: skip
    res = run_cli(args, capsys, caplog)
    check_ok(res)
    assert "未纳入计算" not in res.out  # nothing left out, so no line for it
    buildings = read_osm(osm).buildings
    acc = _accounting(tmp_path / "out", len(buildings))
    assert acc == {"in": 1278, "out": 1278, "excluded": {}}
    exc = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="excluded")
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    ids = set(dem["osmid"].astype(str)) | set(exc["source_id"])
    assert ids == set(buildings["osmid"].astype(str))
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig")
    hh = float(summary.set_index("metric").loc["households", "value"])
    assert dem["households"].sum() == pytest.approx(hh, abs=0.05)
    assert dem["snap_island"].sum() == 48  # buildings snapped from an island are flagged


def test_demo_every_building_accounted_for(tmp_path):
    from geogrid.api import run_demo
    from geogrid.demo import make_district

    run_demo(tmp_path, n_communities=2, maps=False)
    b = make_district(n_communities=2, seed=0).buildings
    acc = _accounting(tmp_path, len(b))
    assert acc == {"in": len(b), "out": len(b), "excluded": {}}
