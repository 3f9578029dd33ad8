"""The command line as a user runs it: every offline command README shows, --help, errors."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

ROOT = Path(__file__).resolve().parent.parent


def geogrid_cmd() -> list[str]:
    exe = shutil.which("geogrid")
    return [exe] if exe else [sys.executable, "-m", "geogrid"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        geogrid_cmd() + args, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for raw in line.split("&&"):
                part = raw.strip()
                if part.startswith("geogrid "):
                    cmds.append(shlex.split(part)[1:])
    return cmds


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Run every README geogrid command in order, in a fresh folder (demo first)."""
    wd = tmp_path_factory.mktemp("readme")
    cmds = readme_commands()
    assert cmds and cmds[0][:1] == ["demo"], "README must start with geogrid demo"
    for args in cmds:
        proc = run(args, wd)
        assert proc.returncode == 0, f"geogrid {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return wd


def test_readme_shows_install_and_test_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.findall(r"```bash\n(.*?)```", text, flags=re.S)[:2]
    assert "pip install -e ." in first[0] and "geogrid demo" in first[0]
    assert "pytest" in first[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert first[1].strip() in ci  # CI runs exactly the README's test command


def test_demo_outputs(workdir):
    out = workdir / "demo_out"
    study = out / "study.gpkg"
    layers = set(pyogrio.list_layers(study)[:, 0])
    assert {"communities", "demand", "facilities", "network_edges"} <= layers
    com = gpd.read_file(study, layer="communities")
    assert com["community_code"].astype(str).str.fullmatch(r"\d{12}").all() and "name" in com
    dem = gpd.read_file(study, layer="demand")
    assert 20_000 <= dem["households"].sum() <= 40_000
    fac = gpd.read_file(study, layer="facilities")
    assert {"station", "centre_community"} <= set(fac["type"])
    cov = gpd.read_file(out / "coverage.gpkg", layer="communities")
    assert cov["coverage_15min"].between(0, 1).all() and cov["coverage_1km"].between(0, 1).all()
    grids = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert grids["grid_code"].astype(str).str.fullmatch(r"\d{15}").all()
    assert "coverage_15min" in grids.columns
    curve = pd.read_csv(out / "siting_curve.csv", encoding="utf-8-sig")
    assert list(curve.columns[:3]) == ["n_new_sites", "households_covered", "coverage_share"]
    assert curve["households_covered"].is_monotonic_increasing
    sites = gpd.read_file(out / "siting.gpkg", layer="sites")
    assert {"rank", "gain_households", "served_households"} <= set(sites.columns)
    for f in ("maps/demo.html", "maps/demo_offline.html", "report.xlsx", "summary.csv"):
        assert (out / f).stat().st_size > 0
    offline = (out / "maps/demo_offline.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in offline and "unpkg.com" not in offline


def test_coverage_command_output_matches_demo(workdir):
    a = gpd.read_file(workdir / "cov_out" / "coverage.gpkg", layer="communities")
    b = gpd.read_file(workdir / "demo_out" / "coverage.gpkg", layer="communities")
    pd.testing.assert_series_equal(a["coverage_15min"], b["coverage_15min"])
    dem = gpd.read_file(workdir / "cov_out" / "coverage.gpkg", layer="demand")
    assert {
        "building_id",
        "unit_id",
        "nearest_id",
        "dist_m",
        "walk_min",
        "within_15min",
        "within_1km",
        "second_id",
    } <= set(dem.columns)
    assert (workdir / "site_out" / "siting_curve.csv").exists()
    assert (workdir / "grids_out" / "grids.gpkg").exists()


def test_demo_is_deterministic(tmp_path):
    for name in ("a", "b"):
        r = run(["demo", "--out", name, "--no-maps"], tmp_path)
        assert r.returncode == 0
        # the console names the underserved communities rather than listing their codes
        assert "阳光春天社区，锦绣嘉园社区" in r.stdout and "150203001005" not in r.stdout
    for gpkg, layer in (
        ("coverage.gpkg", "demand"),
        ("grids.gpkg", "grids"),
        ("siting.gpkg", "sites"),
    ):
        x = gpd.read_file(tmp_path / "a" / gpkg, layer=layer)
        y = gpd.read_file(tmp_path / "b" / gpkg, layer=layer)
        pd.testing.assert_frame_equal(x.drop(columns="geometry"), y.drop(columns="geometry"))
        assert x.geometry.geom_equals_exact(y.geometry, 1e-9).all()


@pytest.mark.parametrize("command", ["", "demo", "coverage", "grids", "site", "map", "report"])
def test_help_has_example(command, tmp_path):
    proc = run(([command] if command else []) + ["--help"], tmp_path)
    assert proc.returncode == 0 and "example:" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        [
            "coverage",
            "--network",
            "missing.osm",
            "--demand",
            "x.gpkg",
            "--facilities",
            "y.gpkg",
            "--out",
            "o",
        ],
        ["map", "--results", "nowhere", "--out", "m.html"],
        ["demo", "--out", "d", "--communities", "0"],
    ],
)
def test_bad_input_is_one_line_error(args, tmp_path):
    proc = run(args, tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("geogrid: error:")
    assert "Traceback" not in proc.stderr


def test_csv_without_crs_names_the_fix(tmp_path):
    (tmp_path / "fac.csv").write_text(
        "name,type,lon,lat\n站,station,109.84,40.65\n", encoding="utf-8"
    )
    (tmp_path / "dem.csv").write_text("households,lon,lat\n100,109.841,40.651\n", encoding="utf-8")
    assert run(["demo", "--out", "d", "--no-maps"], tmp_path).returncode == 0
    proc = run(
        [
            "coverage",
            "--network",
            "d/inputs/ways.gpkg",
            "--demand",
            "dem.csv",
            "--facilities",
            "fac.csv",
            "--out",
            "o",
        ],
        tmp_path,
    )
    assert proc.returncode == 2 and ("crs=" in proc.stderr or "--crs" in proc.stderr)
    proc = run(
        [
            "coverage",
            "--network",
            "d/inputs/ways.gpkg",
            "--demand",
            "dem.csv",
            "--crs",
            "wgs84",
            "--facilities",
            "fac.csv",
            "--facilities-crs",
            "gcj02",
            "--out",
            "o",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


def test_coverage_command_on_real_osm(tmp_path):
    from conftest import real_path

    osm = real_path("nanjing_xuanwu.osm")
    # two community centres given as Amap (GCJ-02) coordinates, as officials copy them
    from geogrid.crs import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02([118.770, 118.788], [32.040, 32.048])
    rows = "\n".join(
        f"中心{i},社区党群服务中心,{x:.6f},{y:.6f},600"
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    )
    (tmp_path / "centres.csv").write_text(
        "name,type,经度,纬度,area_m2\n" + rows + "\n", encoding="gbk"
    )
    proc = run(
        [
            "coverage",
            "--network",
            str(osm),
            "--demand",
            str(osm),
            "--facilities",
            "centres.csv",
            "--facilities-crs",
            "gcj02",
            "--out",
            "out",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    dem = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="demand")
    assert len(dem) > 1000 and dem["dist_m"].notna().all()
    fac = gpd.read_file(tmp_path / "out" / "coverage.gpkg", layer="facilities").to_crs(4326)
    # converted back to WGS84: within a metre of where they really are
    assert (
        abs(fac.geometry.x.iloc[0] - 118.770) < 1e-5 and abs(fac.geometry.y.iloc[1] - 32.048) < 1e-5
    )
    assert set(fac["type"]) == {"centre_community"}
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", encoding="utf-8-sig")
    assert 0 < float(summary.set_index("metric").loc["coverage_15min", "value"]) <= 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            [
                "site",
                "--network",
                "n.osm",
                "--demand",
                "d",
                "--facilities",
                "f",
                "--k",
                "x",
                "--out",
                "o",
            ],
            "invalid int",
        ),
        (
            [
                "coverage",
                "--network",
                "n.osm",
                "--demand",
                "d",
                "--facilities",
                "f",
                "--speed",
                "inf",
                "--out",
                "o",
            ],
            "positive finite",
        ),
        (
            [
                "coverage",
                "--network",
                "n.osm",
                "--demand",
                "d",
                "--facilities",
                "f",
                "--targets",
                "15",
                "--out",
                "o",
            ],
            "15min",
        ),
    ],
)
def test_argument_errors_are_one_line_in_a_real_process(args, fragment, tmp_path):
    proc = run(args, tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("geogrid: error:") and fragment in lines[0]


def test_plausible_ranges_and_override():
    from geogrid.errors import InputError
    from geogrid.settings import (
        PLAUSIBLE_SPEED_KMH,
        PLAUSIBLE_TARGET_M,
        PLAUSIBLE_TARGET_MIN,
        check_plausible,
        parse_targets,
    )

    assert PLAUSIBLE_SPEED_KMH == (0.5, 20.0)
    assert PLAUSIBLE_TARGET_MIN == (1.0, 120.0) and PLAUSIBLE_TARGET_M == (50.0, 10_000.0)
    check_plausible(speed_kmh=20.0, targets=parse_targets("1min,120min,50m,10km"))
    for kw in (
        {"speed_kmh": 20.5},
        {"targets": parse_targets("121min")},
        {"targets": parse_targets("49m")},
    ):
        with pytest.raises(InputError, match="allow-implausible"):
            check_plausible(**kw)
        check_plausible(**kw, allow_implausible=True)
    with pytest.raises(InputError):
        check_plausible(speed_kmh=float("inf"), allow_implausible=True)
    for bad in ("15", "abcmin", "", "nanmin", "-5min", "0km", "infm"):
        with pytest.raises(InputError):
            parse_targets(bad)
