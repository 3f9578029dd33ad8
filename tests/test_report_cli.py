"""Every command reports: ``geogrid report --results DIR`` and the default report of
``coverage``, ``grids`` and ``site`` (``--no-report`` to skip), through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from _maplayers import make_layers
from openpyxl import load_workbook
from PIL import Image

from geogrid.cli import main
from geogrid.outputs.publish import input_context
from geogrid.outputs.results import read_results

REPORT = ("report.xlsx", "summary.md", "map.png", "curve.png")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    assert main(["demo", "--out", str(out), "--no-maps"]) == 0
    return out


def _inputs(demo: Path) -> list[str]:
    i = demo / "inputs"
    return [
        "--network",
        str(i / "ways.gpkg"),
        "--residential",
        str(i / "compounds.gpkg"),
        "--demand",
        str(i / "buildings.gpkg"),
        "--facilities",
        str(i / "facilities.gpkg"),
        "--communities",
        str(i / "communities.gpkg"),
    ]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


def _cells(path: Path) -> set[str]:
    wb = load_workbook(path)
    return {str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None}


def test_report_of_the_demo_folder(demo, capsys):
    before = _manifest(demo)
    top = sorted(p.name for p in demo.iterdir())
    assert main(["report", "--results", str(demo)]) == 0
    out = demo / "report"
    assert sorted(p.name for p in out.iterdir()) == sorted([*REPORT, "run.json"])
    manifest = _manifest(out)
    assert manifest["command"] == "report" and sorted(manifest["outputs"]) == sorted(REPORT)
    # the results folder keeps its files and its manifest
    assert _manifest(demo) == before
    assert sorted(p.name for p in demo.iterdir()) == sorted([*top, "report"])
    wb = load_workbook(out / "report.xlsx")
    assert wb.sheetnames[0] == "汇总" and "社区" in wb.sheetnames
    assert (out / "summary.md").read_text(encoding="utf-8").startswith("# ")
    for png in ("map.png", "curve.png"):
        with Image.open(out / png) as img:
            assert img.format == "PNG" and min(img.size) > 300
    assert "report.xlsx" in capsys.readouterr().out
    # a second report replaces the first (its files are recorded outputs)
    assert main(["report", "--results", str(demo)]) == 0


def test_report_is_deterministic_and_english_on_request(demo, tmp_path):
    for name in ("a", "b"):
        args = ["report", "--results", str(demo), "--out", str(tmp_path / name), "--lang", "en"]
        assert main(args) == 0
    for f in REPORT:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    wb = load_workbook(tmp_path / "a" / "report.xlsx")
    assert wb.sheetnames[0] == "Summary" and "Communities" in wb.sheetnames
    md = (tmp_path / "a" / "summary.md").read_text(encoding="utf-8")
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in md.splitlines()[0])


def test_coverage_grids_and_site_write_the_report_by_default(demo, tmp_path):
    cov = tmp_path / "cov"
    assert main(["coverage", *_inputs(demo), "--out", str(cov)]) == 0
    assert {"report.xlsx", "summary.md", "map.png"} <= set(_manifest(cov)["outputs"])
    assert not (cov / "curve.png").exists()  # no siting, no curve
    assert "服务设施" in load_workbook(cov / "report.xlsx").sheetnames

    grids = tmp_path / "grids"
    i = demo / "inputs"
    args = ["grids", "--communities", str(i / "communities.gpkg"), "--demand"]
    assert main([*args, str(i / "buildings.gpkg"), "--out", str(grids), "--lang", "en"]) == 0
    assert "Grids" in load_workbook(grids / "report.xlsx").sheetnames
    assert (grids / "map.png").is_file()

    site = tmp_path / "site"  # without --communities: siting.gpkg holds a communities table
    args = ["site", *_inputs(demo)[:-2], "--k", "1", "--solver", "greedy", "--out", str(site)]
    assert main(args) == 0
    assert set(REPORT) <= set(_manifest(site)["outputs"])
    assert "选址结果" in load_workbook(site / "report.xlsx").sheetnames
    # the site folder holds no facilities: its map draws them from the run's input file
    layers = read_results(site)
    assert "facilities" not in layers
    recorded = _manifest(site)
    inputs = {k: rec["path"] for k, rec in recorded["inputs"].items()}
    context = input_context(inputs, recorded["parameters"], layers)
    facilities = gpd.read_file(demo / "inputs" / "facilities.gpkg")
    assert len(context["facilities"]) == len(facilities)
    assert set(context["facilities"]["type"]) == set(facilities["type"])


def test_no_report_skips_it(demo, tmp_path):
    cov = tmp_path / "cov"
    assert main(["coverage", *_inputs(demo), "--out", str(cov), "--no-report"]) == 0
    assert not any((cov / f).exists() for f in REPORT)
    assert "coverage.gpkg" in _manifest(cov)["outputs"]


def test_report_withholds_personal_data(tmp_path):
    results = tmp_path / "hand_made"
    results.mkdir()
    for key, layer in make_layers().items():
        layer.to_file(results / "coverage.gpkg", layer=key, driver="GPKG")
    assert main(["report", "--results", str(results)]) == 0
    out = results / "report"
    cells = _cells(out / "report.xlsx")
    assert not any("13800000000" in c or "13900000000" in c or "张三" in c for c in cells)
    withheld = _manifest(out)["parameters"]["personal_withheld"]
    assert {"phone", "户主姓名", "负责人电话"} <= set(withheld["columns"])
    # kept only when asked for
    keep = tmp_path / "kept"
    args = ["report", "--results", str(results), "--out", str(keep), "--include-personal"]
    assert main(args) == 0
    assert any("13800000000" in c for c in _cells(keep / "report.xlsx"))


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("missing", "does not exist"),
        ("empty", "no map layers"),
        ("same", "--out is the --results folder"),
    ],
)
def test_report_bad_input_is_one_line(setup, fragment, tmp_path, capsys):
    results = tmp_path / "r"
    if setup != "missing":
        results.mkdir()
    args = ["report", "--results", str(results)]
    if setup == "same":
        make_layers()["communities"].to_file(results / "coverage.gpkg", layer="communities")
        args += ["--out", str(results)]
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("geogrid: error:") and fragment in err[0]
    assert not (results / "report").exists()
