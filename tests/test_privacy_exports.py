"""Personal data never reaches the files ``coverage``, ``grids``, ``site`` and ``demo`` write.

Inputs as a user has them: the demo district's layers, a demand layer and a facility layer with
a ``manager`` column holding "张伟 13812345678" and a ``备注`` (remarks) column with an ID card
number among other text, and a household-level layer (three households per building, with the
householder's name and phone). Every command runs through the command line; every file it
writes is read back (every GeoPackage layer, every CSV, the manifest, and the raw bytes) and
must hold no phone or ID number, unless ``--include-personal`` was given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from _catalogue import demo_district, demo_inputs, run_cli, run_subprocess

from geogrid.outputs.console import format_summary
from geogrid.outputs.privacy import ExportGuard, is_household_level


def _id_number(first17: str) -> str:
    """A resident ID number with its GB 11643 check digit (computed here, by hand)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return first17 + "10X98765432"[total % 11]


MOBILE = "13812345678"
ID_NUMBER = _id_number("11010519491231002")  # the standard's own example: ...002X
LANDLINE = "0471-6234567"
HOUSEHOLD_PHONES = [f"1390000{k:04d}" for k in range(3)]
HOUSEHOLDERS = ["李建国", "王秀英", "赵丽"]
#: Text that must appear in no output file (unless --include-personal).
SECRETS = [MOBILE, ID_NUMBER, LANDLINE, *HOUSEHOLD_PHONES, *HOUSEHOLDERS, "张伟", "王芳"]
N_HOUSEHOLD_BUILDINGS = 30


def test_id_number_fixture_is_the_standard_example():
    assert ID_NUMBER == "11010519491231002X"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("personal_inputs")
    paths = demo_inputs(folder)
    d = demo_district()
    dem = d.buildings.copy()
    dem["manager"] = f"张伟 {MOBILE}"
    # one remark in five holds an ID number among other text: masked, the rest kept
    dem["备注"] = [
        f"楼长登记 证件 {ID_NUMBER} 已核实" if i % 5 == 0 else "正常" for i in range(len(dem))
    ]
    paths["demand_p"] = folder / "demand_personal.gpkg"
    dem.to_file(paths["demand_p"], layer="demand", driver="GPKG")
    fac = d.facilities.copy()
    fac["manager"] = f"张伟 {MOBILE}"
    fac["备注"] = [
        f"值班 王芳 {LANDLINE}，身份证 {ID_NUMBER}" if i == 0 else "周一至周五开放"
        for i in range(len(fac))
    ]
    paths["facilities_p"] = folder / "facilities_personal.gpkg"
    fac.to_file(paths["facilities_p"], layer="facilities", driver="GPKG")
    homes = dem[dem["building"].isin(["residential", "apartments"])].head(N_HOUSEHOLD_BUILDINGS)
    rows = []
    for _, b in homes.iterrows():
        point = b.geometry.representative_point()
        for k in range(3):
            rows.append(
                {
                    "building_id": int(b["building_id"]),
                    "households": 1,
                    "户主": HOUSEHOLDERS[k],
                    "联系电话": HOUSEHOLD_PHONES[k],
                    "note": f"{HOUSEHOLDERS[k]} {LANDLINE}" if k == 0 else "",
                    "geometry": point,
                }
            )
    hh = gpd.GeoDataFrame(rows, crs=dem.crs)
    assert len(homes) == N_HOUSEHOLD_BUILDINGS
    paths["households"] = folder / "households.gpkg"
    hh.to_file(paths["households"], layer="households", driver="GPKG")
    return paths


def _read_all(folder: Path) -> dict[str, pd.DataFrame]:
    """Every table written into ``folder``: ``file:layer`` -> frame (GeoPackage layers, CSV)."""
    tables: dict[str, pd.DataFrame] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".gpkg":
            for layer, _ in pyogrio.list_layers(path):
                tables[f"{rel}:{layer}"] = pyogrio.read_dataframe(path, layer=layer)
        elif path.suffix == ".csv":
            tables[rel] = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    return tables


def _leaks(folder: Path) -> list[str]:
    """Where a phone number, ID number or person name of the inputs shows in ``folder``."""
    found = []
    for where, frame in _read_all(folder).items():
        for col in frame.columns:
            if col == "geometry":
                continue
            text = "\n".join(map(str, frame[col].tolist()))
            found += [f"{where}:{col}:{s}" for s in SECRETS if s in text]
    for path in sorted(folder.rglob("*")):  # raw bytes: metadata, the manifest, anything else
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}:bytes:{s}" for s in SECRETS if s.encode() in data]
    return found


def _written(folder: Path) -> set[str]:
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return set(manifest["outputs"])


def _withheld(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return manifest["parameters"]["personal_withheld"]


def _coverage(paths: dict[str, Path], out: Path, demand: str, *extra: str) -> list[Any]:
    return [
        "coverage",
        "--network",
        paths["network"],
        "--demand",
        paths[demand],
        "--facilities",
        paths["facilities_p"],
        "--communities",
        paths["communities"],
        *extra,
        "--out",
        out,
    ]


def test_coverage_withholds_personal_columns_and_numbers(inputs, tmp_path, capsys, caplog):
    out = tmp_path / "cov"
    res = run_cli(_coverage(inputs, out, "demand_p"), capsys, caplog)
    assert res.code == 0, str(res)
    assert {"coverage.gpkg", "summary.csv"} <= _written(out)
    assert _leaks(out) == []
    tables = _read_all(out)
    dem = tables["coverage.gpkg:demand"]
    fac = tables["coverage.gpkg:facilities"]
    n_buildings = len(gpd.read_file(inputs["demand_p"]))
    assert len(dem) == n_buildings  # one row per building, as given
    assert "manager" not in dem.columns and "manager" not in fac.columns
    # the remarks stay, with the ID number masked inside the other text
    remarks = dem["备注"].tolist()
    n_masked = sum(1 for r in remarks if "***" in r)
    assert n_masked == (n_buildings + 4) // 5
    assert all("楼长登记" in r and "已核实" in r for r in remarks if "***" in r)
    assert remarks.count("正常") == n_buildings - n_masked
    # the facility remarks hold personal data in half their rows: left out whole
    assert "备注" not in fac.columns
    # what was withheld: one warning with the column names as repr, counts in run.json
    warning = [w for w in res.warnings if "withheld personal data from the outputs" in w]
    assert len(warning) == 1, str(res)
    assert "'manager'" in warning[0] and "'备注'" in warning[0]
    assert f"{n_masked} phone/ID value(s) masked" in warning[0]
    assert "--include-personal" in warning[0]
    info = _withheld(out)
    assert info == {
        "columns": ["manager", "备注"],
        "values": n_masked,
        "household_rows": 0,
        "buildings": 0,
    }
    assert "个人信息未输出" in res.out and f"{n_masked} phone/ID value(s)" in res.out


def test_coverage_aggregates_household_rows_to_buildings(inputs, tmp_path, capsys, caplog):
    out = tmp_path / "cov_hh"
    res = run_cli(_coverage(inputs, out, "households"), capsys, caplog)
    assert res.code == 0, str(res)
    assert _leaks(out) == []
    dem = _read_all(out)["coverage.gpkg:demand"]
    assert len(dem) == N_HOUSEHOLD_BUILDINGS
    assert dem["building_id"].is_unique
    assert pd.to_numeric(dem["households"]).sum() == 3 * N_HOUSEHOLD_BUILDINGS  # whole households
    # what every household of a building shares is kept: its walk and whether it is covered
    assert {"walk_min", "nearest_name", "within_15min"} <= set(dem.columns)
    assert not {"户主", "联系电话", "note", "unit_id"} & set(dem.columns)
    info = _withheld(out)
    assert info["household_rows"] == 3 * N_HOUSEHOLD_BUILDINGS
    assert info["buildings"] == N_HOUSEHOLD_BUILDINGS
    assert {"户主", "联系电话", "manager"} <= set(info["columns"])
    line = next(w for w in res.warnings if "withheld personal data" in w)
    assert (
        f"{3 * N_HOUSEHOLD_BUILDINGS} household rows aggregated to {N_HOUSEHOLD_BUILDINGS} buildings"
        in line
    )
    assert "'户主'" in line and "'联系电话'" in line


def test_include_personal_keeps_everything(inputs, tmp_path, capsys, caplog):
    out = tmp_path / "cov_p"
    res = run_cli(_coverage(inputs, out, "demand_p", "--include-personal"), capsys, caplog)
    assert res.code == 0, str(res)
    tables = _read_all(out)
    dem, fac = tables["coverage.gpkg:demand"], tables["coverage.gpkg:facilities"]
    assert set(dem["manager"]) == {f"张伟 {MOBILE}"}
    assert any(ID_NUMBER in r for r in dem["备注"])
    assert any(ID_NUMBER in r and LANDLINE in r for r in fac["备注"])
    assert not [w for w in res.warnings if "withheld personal data" in w]
    assert _withheld(out) == {"include_personal": True}
    leaks = _leaks(out)  # the checker finds them where they are
    assert "coverage.gpkg:demand:manager:13812345678" in leaks
    assert "coverage.gpkg:facilities:备注:0471-6234567" in leaks
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["parameters"][
        "include_personal"
    ]
    out_hh = tmp_path / "cov_hh_p"
    res = run_cli(_coverage(inputs, out_hh, "households", "--include-personal"), capsys, caplog)
    assert res.code == 0, str(res)
    dem = _read_all(out_hh)["coverage.gpkg:demand"]
    assert len(dem) == 3 * N_HOUSEHOLD_BUILDINGS  # one row per household, as asked
    assert set(dem["联系电话"].astype(str)) == set(HOUSEHOLD_PHONES)
    assert set(dem["户主"]) == set(HOUSEHOLDERS)
    assert any(":联系电话:" in w for w in _leaks(out_hh))


@pytest.mark.parametrize("personal", [False, True], ids=["withheld", "include_personal"])
def test_grids_withholds_personal_data_of_units(inputs, tmp_path, capsys, caplog, personal):
    flag = ["--include-personal"] if personal else []
    out = tmp_path / "grids"
    res = run_cli(
        [
            "grids",
            "--communities",
            inputs["communities"],
            "--demand",
            inputs["demand_p"],
            "--network",
            inputs["network"],
            *flag,
            "--out",
            out,
        ],
        capsys,
        caplog,
    )
    assert res.code == 0, str(res)
    assert {"grids.gpkg", "grids_quality.csv", "grids_certificates.csv"} <= _written(out)
    units = _read_all(out)["grids.gpkg:units"]
    assert units["grid_code"].notna().all()
    if personal:
        assert set(units["manager"]) == {f"张伟 {MOBILE}"}
        assert _withheld(out) == {"include_personal": True}
        return
    assert _leaks(out) == []
    assert "manager" not in units.columns
    assert any("***" in r for r in units["备注"])
    info = _withheld(out)
    assert info["columns"] == ["manager"] and info["values"] > 0
    assert "个人信息未输出" in res.out


@pytest.mark.parametrize("personal", [False, True], ids=["withheld", "include_personal"])
def test_site_writes_no_personal_data(inputs, tmp_path, capsys, caplog, personal):
    flag = ["--include-personal"] if personal else []
    out = tmp_path / "site"
    res = run_cli(
        [
            "site",
            "--network",
            inputs["network"],
            "--demand",
            inputs["demand_p"],
            "--facilities",
            inputs["facilities_p"],
            "--k",
            "2",
            *flag,
            "--out",
            out,
        ],
        capsys,
        caplog,
    )
    assert res.code == 0, str(res)
    assert {"siting.gpkg", "siting_curve.csv"} <= _written(out)
    # siting writes sites, candidates and curves: no user column reaches them either way
    assert _leaks(out) == []
    expected = (
        {"include_personal": True}
        if personal
        else {"columns": [], "values": 0, "household_rows": 0, "buildings": 0}
    )
    assert _withheld(out) == expected


def test_excluded_layer_holds_no_personal_data(inputs, tmp_path, capsys, caplog):
    """A stray facility far away lands in the ``excluded`` layer, without its manager."""
    fac = gpd.read_file(inputs["facilities_p"])
    stray = fac.iloc[[0]].copy()
    stray["facility_id"] = "F9999"
    stray["name"] = "远处的站"
    stray["geometry"] = stray.geometry.translate(200_000, 0)
    both = pd.concat([fac, stray], ignore_index=True)
    path = tmp_path / "facilities_stray.gpkg"
    gpd.GeoDataFrame(both, crs=fac.crs).to_file(path, layer="facilities", driver="GPKG")
    out = tmp_path / "cov_stray"
    paths = {**inputs, "facilities_p": path}
    res = run_cli(_coverage(paths, out, "demand_p"), capsys, caplog)
    assert res.code == 0, str(res)
    excluded = _read_all(out)["coverage.gpkg:excluded"]
    assert list(excluded["source_id"]) == ["F9999"]
    assert _leaks(out) == []


def test_demo_takes_the_flag_and_records_the_counts(tmp_path, capsys, caplog):
    out = tmp_path / "demo"
    res = run_cli(
        ["demo", "--out", out, "--communities", "2", "--no-maps", "--include-personal"],
        capsys,
        caplog,
    )
    assert res.code == 0, str(res)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["include_personal"] is True
    assert manifest["parameters"]["personal_withheld"] == {"include_personal": True}
    out2 = tmp_path / "demo2"
    res = run_cli(["demo", "--out", out2, "--communities", "2", "--no-maps"], capsys, caplog)
    assert res.code == 0, str(res)
    # the synthetic district holds no personal data: nothing is withheld, no warning
    assert _withheld(out2) == {"columns": [], "values": 0, "household_rows": 0, "buildings": 0}
    assert not [w for w in res.warnings if "withheld" in w]
    assert "个人信息未输出" not in res.out


def test_console_warning_in_a_fresh_process(inputs, tmp_path):
    res = run_subprocess(_coverage(inputs, tmp_path / "cov", "households"), cwd=tmp_path)
    assert res.code == 0, str(res)
    lines = [ln for ln in res.err_lines if "withheld personal data from the outputs" in ln]
    assert len(lines) == 1 and lines[0].startswith("WARNING"), str(res)
    assert "'户主'" in lines[0] and "90 household rows aggregated to 30 buildings" in lines[0]


def test_format_summary_shows_withheld_counts():
    info = {"columns": ["manager", "a'b"], "values": 3, "household_rows": 9, "buildings": 3}
    text = format_summary({"households": 10, "personal_withheld": info}, lang="en")
    line = text.splitlines()[-1]
    assert line.startswith("personal data withheld")
    assert "2 column(s) left out ('manager', \"a'b\")" in line
    assert "3 phone/ID value(s) masked" in line and "9 household rows aggregated to 3" in line
    nothing = {"columns": [], "values": 0, "household_rows": 0, "buildings": 0}
    assert format_summary({"households": 10, "personal_withheld": nothing}) == "总户数：10 户"
    assert format_summary({"personal_withheld": {"include_personal": True}}) == ""


def test_guard_counts_over_files_and_keeps_input():
    d = demo_district()
    fac = d.facilities.copy()
    fac["manager"] = f"张伟 {MOBILE}"
    before = fac.copy()
    guard = ExportGuard()
    a = guard.protect_layers({"facilities": fac}, where="a.gpkg")["facilities"]
    b = guard.protect_layer("facilities", fac, where="b.gpkg")
    assert "manager" not in a.columns and "manager" not in b.columns
    pd.testing.assert_frame_equal(fac, before)  # the caller's layer is not modified
    assert guard.columns == {"manager": ["a.gpkg:facilities", "b.gpkg:facilities"]}
    keep = ExportGuard(include_personal=True).protect_layer("facilities", fac)
    assert list(keep.columns) == list(fac.columns)


def test_osm_way_and_relation_with_one_id_are_two_buildings():
    d = demo_district()
    two = d.buildings.iloc[:2].copy()
    two["osmid"] = 5
    two["osm_type"] = ["way", "relation"]
    two = two.drop(columns=["building_id"])
    assert not is_household_level(two)
    assert is_household_level(two.assign(osm_type="way"))


def test_units_without_an_id_are_not_one_building():
    """Raster-cell and compound units appended to OSM buildings have no osmid."""
    d = demo_district()
    rows = d.buildings.iloc[:4].drop(columns=["building_id"]).copy()
    rows["osmid"] = [7.0, 8.0, float("nan"), float("nan")]
    rows["osm_type"] = ["way", "way", None, None]
    rows["geometry"] = rows.geometry.representative_point()
    assert not is_household_level(rows)
    same_place = rows.copy()
    same_place.loc[same_place.index[3], "geometry"] = same_place.geometry.iloc[2]
    assert is_household_level(same_place)  # two units at one point with no id: one building
