"""A run is a unit you can trust: output paths checked first, outputs moved in only when the
whole run succeeded, a manifest (run.json), byte-identical reruns, inputs never modified.

The catalogue cases (ids ``error:<name>`` / ``ok:<name>``) run the command line as a user does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geogrid import cli
from geogrid.io.runfolder import (
    LOCK_NAME,
    MANIFEST,
    TEMP_PREFIX,
    VOLATILE_KEYS,
    OutputError,
    RunFolder,
    check_output_file,
    check_output_folder,
    stable_zip,
)
from geogrid.io.writers import write_layers, write_table

DEAD_PID = 99_999_999  # above any pid_max: never a running process


def run(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geogrid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(),
        **kw,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("geogrid: error:") and "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def wd(tmp_path_factory) -> Path:
    """A small demo (2 communities, with maps): its inputs/ feed the other commands."""
    wd = tmp_path_factory.mktemp("runs")
    proc = run(["demo", "--out", "d", "--communities", "2"], wd)
    assert proc.returncode == 0, proc.stderr
    return wd


INPUTS = {
    "--network": "d/inputs/ways.gpkg",
    "--residential": "d/inputs/compounds.gpkg",
    "--demand": "d/inputs/buildings.gpkg",
    "--facilities": "d/inputs/facilities.gpkg",
    "--communities": "d/inputs/communities.gpkg",
}


def coverage_args(out: str, **override: str) -> list[str]:
    given = {**INPUTS, **override}
    return ["coverage", *[x for kv in given.items() for x in kv], "--out", out]


def command_args(command: str, out: str) -> list[str]:
    if command == "coverage":
        return coverage_args(out)
    if command == "grids":
        return [
            "grids",
            "--communities",
            INPUTS["--communities"],
            "--demand",
            INPUTS["--demand"],
            "--out",
            out,
        ]
    if command == "site":
        return [
            "site",
            *[x for kv in INPUTS.items() for x in kv],
            "--k",
            "2",
            "--out",
            out,
        ]
    if command == "map":
        return ["map", "--results", "d", "--tiles", "none", "--offline", "--out", out]
    raise AssertionError(command)


# --------------------------------------------------------------------------- catalogue


def _setup_existing_file(wd: Path, case: Path) -> list[str]:
    (case / "notes.txt").write_text("mine", encoding="utf-8")
    return coverage_args(str(case / "notes.txt"))


def _setup_inside_file(wd: Path, case: Path) -> list[str]:
    (case / "notes.txt").write_text("mine", encoding="utf-8")
    return coverage_args(str(case / "notes.txt" / "out"))


def _setup_long_name(wd: Path, case: Path) -> list[str]:
    return coverage_args(str(case / ("长" * 100)))  # 300 bytes in UTF-8


def _setup_long_map_name(wd: Path, case: Path) -> list[str]:
    return command_args("map", str(case / ("m" * 300 + ".html")))


def _setup_read_only_fs(wd: Path, case: Path) -> list[str]:
    return coverage_args("/sys/geogrid_out")  # sysfs: nobody may create folders there


def _setup_no_permission(wd: Path, case: Path) -> list[str]:
    if os.geteuid() == 0:
        pytest.skip("root may write into any folder")
    locked = case / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return coverage_args(str(locked / "out"))


def _setup_map_out_folder(wd: Path, case: Path) -> list[str]:
    return command_args("map", str(case))


def _setup_map_out_csv(wd: Path, case: Path) -> list[str]:
    shutil.copy(wd / "d" / "summary.csv", case / "summary.csv")
    return command_args("map", str(case / "summary.csv"))


def _setup_map_out_results_gpkg(wd: Path, case: Path) -> list[str]:
    shutil.copy(wd / "d" / "grids.gpkg", case / "grids.gpkg")
    return command_args("map", str(case / "grids.gpkg"))


def _setup_map_out_not_html(wd: Path, case: Path) -> list[str]:
    return command_args("map", str(case / "map.png"))


def _setup_foreign_file(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    out.mkdir()
    (out / "summary.csv").write_text("my own table\n", encoding="utf-8")
    return coverage_args(str(out))


def _setup_edited_output(wd: Path, case: Path) -> list[str]:
    # an earlier geogrid output, then edited by hand: no longer what geogrid wrote
    out = case / "out"
    shutil.copytree(wd / "d", out)
    with (out / "summary.csv").open("a", encoding="utf-8") as fh:
        fh.write("my,note\n")
    return coverage_args(str(out))


def _setup_output_is_input(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    shutil.copytree(wd / "d", out)
    return coverage_args(str(out), **{"--demand": str(out / "coverage.gpkg")})


def _live_lock(folder: Path, case: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (case / "sleeper.pid").write_text(str(sleeper.pid))
    (folder / LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid, "command": "demo"}))


def _setup_locked_out(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    out.mkdir()
    _live_lock(out, case)
    return coverage_args(str(out))


def _setup_locked_results(wd: Path, case: Path) -> list[str]:
    res = case / "res"
    shutil.copytree(wd / "d", res)
    _live_lock(res, case)
    return ["map", "--results", str(res), "--tiles", "none", "--out", str(case / "m.html")]


def _setup_stale_lock(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": DEAD_PID, "command": "coverage"}))
    return coverage_args(str(out))


def _setup_stale_temporaries(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    shutil.copytree(wd / "d", out)
    stage = out / f"{TEMP_PREFIX}{DEAD_PID}-stage-x"
    stage.mkdir()
    (stage / "coverage.gpkg").write_bytes(b"half")
    (out / f"{TEMP_PREFIX}{DEAD_PID}-ab12.gpkg").write_bytes(b"half")
    return coverage_args(str(out))


def _setup_map_stale_temporary(wd: Path, case: Path) -> list[str]:
    res = case / "res"
    shutil.copytree(wd / "d", res)
    # a killed run's half-written GeoPackage holding a layer map would read: "gaps"
    gaps = gpd.GeoDataFrame(
        {"gap_id": ["LEFTOVER"], "households": [1.0]},
        geometry=[shapely.Point(0, 0)],
        crs=4326,
    )
    pyogrio.write_dataframe(gaps, res / f"{TEMP_PREFIX}{DEAD_PID}-ab12.gpkg", layer="gaps")
    return ["map", "--results", str(res), "--tiles", "none", "--out", str(case / "m.html")]


def _setup_map_over_html(wd: Path, case: Path) -> list[str]:
    (case / "old.html").write_text("<html>old map</html>", encoding="utf-8")
    return command_args("map", str(case / "old.html"))


def _setup_rerun_same_folder(wd: Path, case: Path) -> list[str]:
    out = case / "out"
    assert run(coverage_args(str(out)), wd).returncode == 0
    return coverage_args(str(out))


CATALOGUE = [
    ("error:out-is-existing-file", _setup_existing_file, "is an existing file"),
    ("error:out-inside-a-file", _setup_inside_file, "which is a file"),
    ("error:out-name-too-long", _setup_long_name, "longer than the"),
    ("error:map-out-name-too-long", _setup_long_map_name, "longer than the"),
    ("error:out-read-only-file-system", _setup_read_only_fs, "not writable"),
    ("error:out-no-permission", _setup_no_permission, "not writable"),
    ("error:map-out-is-existing-folder", _setup_map_out_folder, "existing folder"),
    ("error:map-out-is-existing-csv", _setup_map_out_csv, "would not be replaced"),
    ("error:map-out-is-results-gpkg", _setup_map_out_results_gpkg, "would not be replaced"),
    ("error:map-out-not-html", _setup_map_out_not_html, ".html"),
    ("error:out-holds-a-foreign-file", _setup_foreign_file, "not an earlier geogrid output"),
    ("error:out-holds-an-edited-output", _setup_edited_output, "not an earlier geogrid output"),
    ("error:output-is-an-input", _setup_output_is_input, "also an input"),
    ("error:out-locked-by-live-run", _setup_locked_out, "another geogrid run"),
    ("error:map-results-being-written", _setup_locked_results, "right now"),
    ("ok:stale-lock-taken-over", _setup_stale_lock, "no longer running"),
    ("ok:stale-temporaries-removed", _setup_stale_temporaries, "interrupted run"),
    ("ok:map-ignores-stale-temporary", _setup_map_stale_temporary, "interrupted run"),
    ("ok:map-replaces-an-html", _setup_map_over_html, ""),
    ("ok:rerun-into-own-folder", _setup_rerun_same_folder, ""),
]


@pytest.mark.parametrize(
    ("setup", "expect"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE]
)
def test_output_path_catalogue(wd, tmp_path, request, setup, expect):
    args = setup(wd, tmp_path)
    before = tree_hashes(tmp_path)
    try:
        proc = run(args, wd)
    finally:
        pid_file = tmp_path / "sleeper.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
    case = request.node.callspec.id
    if case.startswith("error:"):
        line = one_line_error(proc)
        assert expect in line
        # nothing the user had was touched, nothing was added but the lock's helper file
        after = tree_hashes(tmp_path)
        assert after == before
        assert temporaries(tmp_path) == []
    else:
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        assert expect in proc.stderr
        assert temporaries(tmp_path) == []
        assert not list(tmp_path.rglob(LOCK_NAME))
        if "map" in case and (tmp_path / "m.html").exists():
            assert "LEFTOVER" not in (tmp_path / "m.html").read_text(encoding="utf-8")


def test_paths_are_checked_before_any_computation(wd, monkeypatch, capsys):
    import geogrid.study.area

    def computed(*a, **k):
        raise AssertionError("computation started before the output path was checked")

    monkeypatch.setattr(geogrid.study.area, "load_study", computed)
    monkeypatch.chdir(wd)
    (wd / "a_file.txt").write_text("x")
    assert cli.main(coverage_args("a_file.txt")) == 2
    assert "existing file" in capsys.readouterr().err
    assert cli.main(coverage_args("x" * 300)) == 2
    assert "longer than" in capsys.readouterr().err


def test_check_functions_direct(tmp_path):
    assert check_output_folder(tmp_path / "new" / "folder") == tmp_path / "new" / "folder"
    (tmp_path / "old.html").write_text("x")
    assert check_output_file(tmp_path / "old.html").name == "old.html"
    with pytest.raises(OutputError, match="existing folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="is an existing file"):
        check_output_folder(tmp_path / "old.html")


# --------------------------------------------------------------------------- manifest


def test_manifest_records_the_run(wd, tmp_path):
    proc = run(command_args("site", str(tmp_path / "s")), wd)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "s"
    m = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert m["command"] == "site" and m["geogrid_version"]
    assert m["parameters"]["k"] == 2 and m["parameters"]["target"] == "15min"
    assert "out" not in m["parameters"]  # the folder is where the manifest is
    assert set(m["inputs"]) == {"network", "residential", "demand", "facilities", "communities"}
    for rec in m["inputs"].values():
        assert rec["sha256"] == sha(Path(rec["path"]))
    report = {"report.xlsx", "summary.md", "map.png", "curve.png"}  # written by default
    assert set(m["outputs"]) == {"siting.gpkg", "siting_curve.csv", "siting_curve.png", *report}
    for name, rec in m["outputs"].items():
        assert rec["sha256"] == sha(out / name) and rec["bytes"] == (out / name).stat().st_size
    timing = m["timing"]
    assert timing["duration_s"] > 0 and timing["started"].endswith("+00:00")
    assert {"greedy_seconds", "highs_seconds", "matrix_seconds"} <= set(timing["siting_solver"])
    # the solver timings moved out of the outputs
    solvers = pyogrio.read_dataframe(out / "siting.gpkg", layer="solvers")
    assert "seconds" not in solvers.columns and len(solvers) == 2
    summary = pyogrio.read_dataframe(out / "siting.gpkg", layer="summary")
    assert "matrix_seconds" not in set(summary["metric"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["run.json", "siting.gpkg", "siting_curve.csv", "siting_curve.png", *report]
    )


def test_reader_warns_when_files_do_not_match_the_manifest(wd, tmp_path):
    res = tmp_path / "res"
    assert run(["demo", "--out", str(res), "--communities", "2", "--no-maps"], wd).returncode == 0
    # a second run into the same folder replaces coverage.gpkg and summary.csv only
    assert run(coverage_args(str(res)), wd).returncode == 0
    m = json.loads((res / MANIFEST).read_text(encoding="utf-8"))
    assert m["command"] == "coverage" and "grids.gpkg" in m["earlier_outputs"]
    assert m["earlier_outputs"]["grids.gpkg"]["command"] == "demo"
    proc = run(
        ["map", "--results", str(res), "--tiles", "none", "--out", str(tmp_path / "m.html")], wd
    )
    assert proc.returncode == 0, proc.stderr
    assert "mixes two runs" in proc.stderr and "grids.gpkg" in proc.stderr
    # a file edited by hand, and another run's file dropped in
    write_table(pd.DataFrame({"metric": ["x"], "value": [1]}), res / "summary.csv")
    other = gpd.GeoDataFrame({"rank": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    write_layers(res / "siting.gpkg", {"sites": other})  # another run's siting
    (res / "extra.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    proc = run(
        ["map", "--results", str(res), "--tiles", "none", "--out", str(tmp_path / "m.html")], wd
    )
    assert proc.returncode == 0, proc.stderr
    changed = [ln for ln in proc.stderr.splitlines() if "changed since geogrid wrote" in ln]
    assert changed and "summary.csv" in changed[0] and "siting.gpkg" in changed[0]
    assert any("extra.geojson" in ln and "not written by" in ln for ln in proc.stderr.splitlines())


# --------------------------------------------------------------------------- same bytes


def _without_times(path: Path) -> dict:
    m = json.loads(path.read_text(encoding="utf-8"))
    for key in VOLATILE_KEYS:
        m.pop(key, None)
    return m


def _assert_same_outputs(a: Path, b: Path) -> None:
    ha, hb = tree_hashes(a), tree_hashes(b)
    assert sorted(ha) == sorted(hb)
    differ = [n for n in ha if ha[n] != hb[n] and n != MANIFEST]
    assert differ == []
    assert _without_times(a / MANIFEST) == _without_times(b / MANIFEST)


def test_demo_twice_gives_the_same_bytes(wd, tmp_path):
    for name in ("A", "B"):
        proc = run(["demo", "--out", str(tmp_path / name), "--communities", "2"], wd)
        assert proc.returncode == 0, proc.stderr
    names = set(tree_hashes(tmp_path / "A"))
    assert {"maps/demo.html", "maps/demo_offline.html", "report.xlsx", "study.gpkg"} <= names
    _assert_same_outputs(tmp_path / "A", tmp_path / "B")
    # and the same bytes as the module's first demo run, minutes earlier
    _assert_same_outputs(tmp_path / "A", wd / "d")


@pytest.mark.parametrize("command", ["coverage", "grids", "site", "map"])
def test_each_command_twice_gives_the_same_bytes_and_never_touches_inputs(wd, tmp_path, command):
    inputs = [wd / p for p in INPUTS.values()] if command != "map" else []
    if command == "map":
        inputs = [p for p in (wd / "d").rglob("*") if p.is_file()]
    before = {p: sha(p) for p in inputs}
    outs = []
    for name in ("A", "B"):
        out = tmp_path / name
        target = str(out / "m.html") if command == "map" else str(out)
        proc = run(command_args(command, target), wd)
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    assert {p: sha(p) for p in inputs} == before  # inputs never modified
    if command == "map":
        assert sha(outs[0] / "m.html") == sha(outs[1] / "m.html")
    else:
        _assert_same_outputs(*outs)


# --------------------------------------------------------------------------- byte-level writers


def test_writers_are_byte_stable(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"a": [1, 2]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)], crs=4326
    )
    df = pd.DataFrame({"名称": ["甲", "乙"], "n": [1, 2]})
    write_layers(tmp_path / "x.gpkg", {"l": gdf, "t": df})
    write_table(df, tmp_path / "x.xlsx")
    time.sleep(2.1)  # zip entry times have a 2 s resolution; GeoPackage stamps the second
    write_layers(tmp_path / "y.gpkg", {"l": gdf, "t": df})
    write_table(df, tmp_path / "y.xlsx")
    assert sha(tmp_path / "x.gpkg") == sha(tmp_path / "y.gpkg")
    assert sha(tmp_path / "x.xlsx") == sha(tmp_path / "y.xlsx")
    with zipfile.ZipFile(tmp_path / "x.xlsx") as z:
        core = z.read("docProps/core.xml").decode()
        assert "2000-01-01T00:00:00Z" in core
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
    assert pd.read_excel(tmp_path / "x.xlsx")["名称"].tolist() == ["甲", "乙"]
    # GDAL's clock option is restored afterwards
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None


def test_stable_zip_honours_source_date_epoch(tmp_path, monkeypatch):
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.xlsx")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14T22:13:20Z
    stable_zip(tmp_path / "x.xlsx")
    with zipfile.ZipFile(tmp_path / "x.xlsx") as z:
        assert "2023-11-14T22:13:20Z" in z.read("docProps/core.xml").decode()


def test_map_ids_are_numbered_not_random(tmp_path):
    import re

    import branca.element
    from _maplayers import make_layers

    from geogrid.outputs.webmap import build_map, save_map

    layers = make_layers()
    pages = [
        save_map(build_map(layers, tiles="none"), tmp_path / f"{i}.html").read_text(
            encoding="utf-8"
        )
        for i in range(2)
    ]
    assert pages[0] == pages[1]
    assert not re.search(r"_[0-9a-f]{32}\b", pages[0])  # no branca random id left
    assert re.search(r"var map_\d{4} = L\.map", pages[0])
    # outside geogrid's map building, branca's random ids are untouched
    assert re.fullmatch(r"[0-9a-f]{32}", branca.element.Element()._id)


# --------------------------------------------------------------------------- interruption


def _wait_for(pred, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _staging(out: Path) -> bool:
    return out.is_dir() and any(p.name.startswith(TEMP_PREFIX) for p in out.iterdir())


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_leaves_nothing_behind(wd, tmp_path, sig, code):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "geogrid", "demo", "--out", str(out), "--communities", "2"],
        cwd=wd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert _wait_for(lambda: _staging(out)), "the run never started staging"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert (
        len(lines) == 1 and lines[0].startswith("geogrid: interrupted") and "Traceback" not in err
    )
    assert not out.exists() or list(out.iterdir()) == []


def test_killed_run_leftovers_are_cleaned_by_the_next_run(wd, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "geogrid", "demo", "--out", str(out), "--communities", "2"]
    proc = subprocess.Popen(args, cwd=wd, env=_env(), stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: _staging(out))
    proc.kill()  # SIGKILL: nothing can clean up
    proc.wait()
    assert temporaries(out) and (out / LOCK_NAME).exists()
    done = run(["demo", "--out", str(out), "--communities", "2", "--no-maps"], wd)
    assert done.returncode == 0, done.stderr
    assert "no longer running" in done.stderr and "interrupted run" in done.stderr
    assert temporaries(out) == [] and not (out / LOCK_NAME).exists()
    assert (out / MANIFEST).exists()


def test_second_run_into_a_busy_folder_is_refused(wd, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "geogrid", "demo", "--out", str(out), "--communities", "2"]
    first = subprocess.Popen(
        args, cwd=wd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        assert _wait_for((out / LOCK_NAME).exists)
        second = run(["demo", "--out", str(out), "--communities", "2"], wd)
        line = one_line_error(second)
        assert f"pid {first.pid}" in line and "another geogrid run" in line
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert (out / MANIFEST).exists() and temporaries(out) == []


def test_failed_run_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError), RunFolder(out, command="test") as rf:
        (rf.stage / "result.csv").write_text("half")
        raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError), RunFolder(fresh, command="test"):
        raise RuntimeError("boom")
    assert not fresh.exists()  # created by the run, removed with it
