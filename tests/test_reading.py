"""What officials and analysts read: whole households that add up, names not codes, Chinese.

Runs ``geogrid demo`` once (and ``geogrid report`` on it) and reads every file it wrote:
GeoPackage layers, CSV tables, the workbook's sheets, the summary page and the map pages.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from PIL import Image

from geogrid.cli import main
from geogrid.outputs.console import excluded_line, format_summary, wrote
from geogrid.schema import column_kind, demand_term

#: Columns named like whole counts of households or persons (estimates and means are not).
COUNT_NAME = re.compile(r"(^|_)(households|hh|population|party_members)(_|$)")
NOT_A_COUNT = re.compile(r"(_est|_mean|_cv|_share|_dev|_lb|_best|_bound|per_)")
#: A fractional number of households or persons as people read it.
FRACTIONAL = re.compile(r"\d\.\d+ ?(户|人|households|persons)(?![/\w])")
#: snake_case keys and raw codes that must not reach people.
RAW = re.compile(r"\b(default_storeys|non_residential|storeys:|tag:\w|landuse:\w|maps_report)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reading") / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    assert main(["report", "--results", str(out)]) == 0
    return out


def _is_count(col: str) -> bool:
    if column_kind(col) in ("households", "persons"):
        return True
    return bool(COUNT_NAME.search(col)) and not NOT_A_COUNT.search(col)


def _gpkg_tables(folder: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for path in sorted(folder.rglob("*.gpkg")):
        for name in pyogrio.list_layers(path)[:, 0]:
            out[f"{path.relative_to(folder)}:{name}"] = pyogrio.read_dataframe(
                path, layer=name, read_geometry=False
            )
    return out


def _csv_tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        str(p.relative_to(folder)): pd.read_csv(p, encoding="utf-8-sig")
        for p in sorted(folder.rglob("*.csv"))
    }


def test_every_table_the_demo_wrote_holds_whole_households(demo):
    tables = {**_gpkg_tables(demo), **_csv_tables(demo)}
    assert len(tables) > 20
    checked = 0
    for where, table in tables.items():
        if list(table.columns[:2]) == ["metric", "value"]:
            continue  # checked below, as text
        for col in filter(_is_count, map(str, table.columns)):
            values = pd.to_numeric(table[col], errors="coerce").dropna().to_numpy(float)
            assert (values == np.round(values)).all(), (where, col)
            if len(values) == len(table) and len(table):
                assert pd.api.types.is_integer_dtype(table[col].dtype), (where, col)
            checked += 1
    assert checked > 40
    # metric/value tables write whole counts as integers, not 32561.0
    text = (demo / "summary.csv").read_text(encoding="utf-8-sig")
    for metric in ("households", "population", "covered_hh_15min", "gaps"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{metric},"))
        assert re.fullmatch(rf"{metric},\d+", line), line


def test_household_totals_add_up_across_layers(demo):
    comms = pyogrio.read_dataframe(demo / "coverage.gpkg", layer="communities")
    demand = pyogrio.read_dataframe(demo / "coverage.gpkg", layer="demand", read_geometry=False)
    grids = pyogrio.read_dataframe(demo / "grids.gpkg", layer="grids", read_geometry=False)
    total = int(comms["households"].sum())
    assert total == int(demand["households"].sum()) == int(grids["households"].sum())
    per_grid = grids.groupby("community_code")["households"].sum()
    per_comm = comms.set_index("community_code")["households"]
    assert per_grid.reindex(per_comm.index).astype(int).tolist() == per_comm.astype(int).tolist()
    summary = pd.read_csv(demo / "summary.csv", encoding="utf-8-sig")
    assert int(summary.set_index("metric").loc["households", "value"]) == total
    assert f"{total:,} 户" in (demo / "summary.md").read_text(encoding="utf-8")


def _sheet_counts(path: Path) -> list[tuple[str, str, list[object], object]]:
    """(sheet, header, values, 合计 cell) of every household/person column of a workbook."""
    out = []
    for ws in load_workbook(path):
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        head = next((i for i, r in enumerate(rows) if r and r[0] in ("指标", "Item")), None)
        if head is None:
            head = next((i for i, r in enumerate(rows) if sum(v is not None for v in r) > 2), 0)
        header = rows[head]
        body = [r for r in rows[head + 1 :] if r and r[0] not in ("合计", "Total")]
        total = next((r for r in rows[head + 1 :] if r and r[0] in ("合计", "Total")), None)
        for j, name in enumerate(header):
            if isinstance(name, str) and re.search(r"户数|人口|党员数", name):
                values = [r[j] for r in body if j < len(r) and r[j] is not None]
                out.append((ws.title, name, values, total[j] if total else None))
    return out


def test_workbook_households_are_whole_and_total(demo):
    for book in (demo / "report.xlsx", demo / "report" / "report.xlsx"):
        columns = _sheet_counts(book)
        assert {s for s, *_ in columns} >= {"社区", "网格", "服务设施"}
        for sheet, name, values, total in columns:
            numbers = [v for v in values if isinstance(v, int | float)]
            assert all(isinstance(v, int) for v in numbers), (sheet, name, numbers[:5])
            if total is not None and numbers and "率" not in name:
                assert total == sum(numbers), (sheet, name)


def test_pages_people_read_show_whole_households(demo):
    pages = [demo / "summary.md", demo / "report" / "summary.md"]
    pages += sorted((demo / "maps").glob("*.html"))
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not FRACTIONAL.search(text), (page, FRACTIONAL.search(text))
    assert re.search(r"\d[\d,]* 户", (demo / "maps" / "demo_offline.html").read_text("utf-8"))


def test_demo_maps_carry_the_siting_curve(demo):
    """Siting ran, so the maps folder has its curve, as `geogrid report` writes curve.png."""
    for png in (demo / "maps" / "demo_curve.png", demo / "report" / "curve.png"):
        with Image.open(png) as img:
            assert img.format == "PNG" and min(img.size) > 300
    assert not (demo / "siting_curve.png").exists()  # one figure, beside the maps


def test_demo_without_maps_draws_the_curve_on_its_own(tmp_path):
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--no-maps", "--communities", "3"]) == 0
    assert (out / "siting_curve.png").is_file() and not (out / "maps").exists()


def test_demo_console_names_sources_and_steps(demo, tmp_path, capsys):
    capsys.readouterr()
    assert main(["demo", "--out", str(tmp_path / "zh"), "--no-maps"]) == 0
    zh = capsys.readouterr().out
    sources = next(ln for ln in zh.splitlines() if ln.startswith("户数来源："))
    assert "按层数估算" in sources and re.search(r"\d+ 个单元，[\d,]+ 户", sources)
    basis = next(ln for ln in zh.splitlines() if ln.startswith("住宅判定依据："))
    assert "建筑类型标签" in basis and "住宅" in basis
    steps = next(ln for ln in zh.splitlines() if ln.startswith("各步用时"))
    assert "数据准备" in steps and "选址" in steps
    assert not RAW.search(zh), RAW.search(zh)
    assert not re.search(r"[\u4e00-\u9fff], [\u4e00-\u9fff]", zh)  # Chinese lists use ，
    assert main(["demo", "--out", str(tmp_path / "en"), "--no-maps", "--lang", "en"]) == 0
    en = capsys.readouterr().out
    assert "Household sources: " in en and "estimated from storeys" in en
    assert "Residential evidence: building tag: " in en
    assert not RAW.search(en), RAW.search(en)


def test_demand_words_come_from_the_schema():
    figures = {
        "demand_sources": {
            "storeys+registry": {"units": 3, "households": 1200},
            "non_residential": {"units": 2, "households": 0},
        },
        "demand_residential_basis": {"landuse:residential": 4, "default:non_residential": 1},
        "demand_compounds": {"rows": 2, "households_given": 321.0, "match": {"polygon": 2}},
        "excluded_rows": {"demand: zero area": 3},
    }
    zh = format_summary(figures)
    assert demand_term("storeys", "zh") in zh and "按户籍表校准" in zh and "1,200 户" in zh
    assert "用地性质：住宅 4" in zh and "无其他证据（按规则）：非住宅 1" in zh
    assert "表中户数 321 户" in zh and "小区范围 2" in zh and "楼栋/小区（面积为零）3 行" in zh
    assert not re.search(r"[a-z]{3,}", zh), zh
    en = format_summary(figures, "en")
    assert "estimated from storeys, scaled to the registry 3 units, 1,200 households" in en
    assert "land use: housing 4" in en


def test_console_words_in_chinese_and_english():
    assert wrote(["a/coverage.gpkg", "a/run.json"]) == "已写出：a/coverage.gpkg 和 a/run.json"
    assert wrote(["m.html"], "en") == "wrote m.html"
    assert excluded_line("demand: non-residential building", 317).startswith(
        "未纳入计算的楼栋/小区（非住宅建筑）：317 行"
    )


def test_report_command_says_what_it_wrote_in_chinese(demo, tmp_path, capsys):
    capsys.readouterr()
    assert main(["report", "--results", str(demo), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("已写出：") and out.endswith("run.json") and "wrote" not in out
    args = ["report", "--results", str(demo), "--out", str(tmp_path / "e"), "--lang", "en"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("wrote ")


def test_one_reader_of_a_runs_recorded_inputs(demo, tmp_path):
    """The report and the web map read a run's inputs through ``recorded_run`` only."""
    import inspect
    import json
    import shutil

    from geogrid.io.runfolder import file_sha256
    from geogrid.outputs import publish, results, webmap
    from geogrid.outputs.results import recorded_run

    for module in (publish, webmap):
        assert "read_manifest" not in inspect.getsource(module), module.__name__
    assert "read_manifest(" in inspect.getsource(results.recorded_run)
    folder = tmp_path / "site"
    folder.mkdir()
    facilities = tmp_path / "facilities.gpkg"
    shutil.copy(demo / "inputs" / "facilities.gpkg", facilities)
    osm = tmp_path / "gone.osm.pbf"  # recorded, since moved: still an OpenStreetMap run
    manifest = {
        "geogrid_manifest": 1,
        "command": "site",
        "parameters": {"facilities": f"{facilities}|layername=facilities", "crs": None},
        "inputs": {
            "facilities": {"path": str(facilities), "sha256": file_sha256(facilities)},
            "network": {"path": str(osm), "sha256": "0" * 64},
        },
        "outputs": {},
    }
    (folder / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = recorded_run(folder)
    assert run is not None and run.osm and run.unusable == {"network": "gone"}
    assert run.inputs == {"facilities": f"{facilities}|layername=facilities"}
    assert publish.used_osm(folder)
    with open(facilities, "ab") as f:  # changed since the run: not offered again
        f.write(b"\0")
    changed = recorded_run(folder)
    assert changed is not None and changed.unusable["facilities"] == "changed"
    assert changed.inputs == {}
    assert recorded_run(tmp_path) is None  # no run.json
