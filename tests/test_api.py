"""The public API: light import, verbs over one study area, result objects, CLI parity.

The key figures below were recorded from ``main`` before the API existed (commit b500768;
``geogrid demo``, then ``geogrid coverage``/``grids``/``site`` on the demo's inputs); the
command line and the API must both still give them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

import geogrid
from geogrid.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: ``geogrid demo --out D --json`` on main before the API (n_communities 10, seed 0, k 5).
DEMO = {
    "households": 32561,
    "demand_units": 744,
    "coverage_15min": 0.3974,
    "coverage_1km": 0.3974,
    "uncovered_hh_15min": 19622,
    "gaps": 2,
    "overloaded_facilities": 6,  # 7 before 3ffb8a8 counted loads within each type's target
    "grids": 94,
    "grids_in_band_share": 1.0,
    "new_sites": 2,
    "coverage_15min_after": 1.0,
    "underserved_communities": ["150203001005", "150203001010"],
    "underserved_community_names": ["阳光春天社区", "锦绣嘉园社区"],
}
DEMO_SITES = ["C01597", "C01616"]
DEMO_FILES = [
    "coverage.gpkg",
    "grids.gpkg",
    "grids_quality.csv",
    *[f"inputs/{n}.gpkg" for n in ("buildings", "communities", "compounds")],
    *[f"inputs/{n}.gpkg" for n in ("facilities", "walls", "ways")],
    "maps/demo.html",
    "maps/demo.png",
    "maps/demo_curve.png",  # the siting curve goes with the maps (siting_curve.png without)
    "maps/demo_offline.html",
    "report.xlsx",
    "siting.gpkg",
    "siting_curve.csv",
    "study.gpkg",
    "summary.csv",
    "summary.md",
]
#: ``geogrid coverage`` on the demo's inputs (with --residential compounds.gpkg).
COVERAGE = {"5min": 0.1546, "10min": 0.3481, "15min": 0.3974, "1km": 0.3974}
COVERAGE_UNCOVERED_15 = 19622.0
COVERAGE_FILES = ["coverage.gpkg", "summary.csv"]
#: ``geogrid grids`` on the demo's inputs (communities, buildings, ways).
GRIDS = {"grids": 93, "households_min": 227.0, "households_max": 488.0, "feasible": 10}
GRIDS_FILES = ["grids.gpkg", "grids_certificates.csv", "grids_quality.csv"]
#: ``geogrid site --k 5`` on the demo's inputs (with --residential compounds.gpkg).
SITES = ["C01554", "C01573"]
SITE_FILES = ["siting.gpkg", "siting_curve.csv", "siting_curve.png"]
#: The report ``coverage``, ``grids`` and ``site`` add by default (``--no-report`` skips it);
#: ``curve.png`` only after siting.
REPORT_FILES = ["map.png", "report.xlsx", "summary.md"]


def _written(folder: Path) -> list[str]:
    return sorted(json.loads((folder / "run.json").read_text(encoding="utf-8"))["outputs"])


def _summary(folder: Path) -> dict[str, float]:
    table = pd.read_csv(folder / "summary.csv")
    return dict(zip(table["metric"], table["value"], strict=True))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``geogrid demo`` once: its folder and printed figures."""
    out = tmp_path_factory.mktemp("api") / "demo"
    from contextlib import redirect_stdout
    from io import StringIO

    buf = StringIO()
    with redirect_stdout(buf):
        assert main(["demo", "--out", str(out), "--json"]) == 0
    return out, json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def inputs(demo: tuple[Path, dict]) -> dict[str, str]:
    """The demo's input files, as the other commands take them."""
    folder = demo[0] / "inputs"
    return {n: str(folder / f"{n}.gpkg") for n in ("ways", "buildings", "facilities")} | {
        n: str(folder / f"{n}.gpkg") for n in ("communities", "compounds")
    }


# ---------------------------------------------------------------------- import


def test_import_is_light_and_lazy():
    code = (
        "import sys, geogrid; "
        "heavy = [m for m in ('geopandas', 'folium', 'pandas', 'shapely', 'highspy') "
        "if m in sys.modules]; "
        "print(geogrid.__version__, heavy, sorted(set(geogrid.__all__) - set(dir(geogrid))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split(" ", 1)
    version = re.search(
        r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE
    )
    assert version is not None and out[0] == version.group(1)
    assert out[1].strip() == "[] []"


def test_public_names_resolve():
    for name in geogrid.__all__:
        assert getattr(geogrid, name) is not None, name
    assert geogrid.run_many.__module__ == "geogrid.batch"
    assert issubclass(geogrid.InputError, ValueError)
    with pytest.raises(AttributeError):
        _ = geogrid.demo_district_that_does_not_exist
    assert not hasattr(geogrid, "grids_step") and not hasattr(geogrid, "run_coverage")


# ---------------------------------------------------------------------- CLI parity


def test_demo_command_gives_the_recorded_figures(demo):
    out, figures = demo
    for key, value in DEMO.items():
        expected = pytest.approx(value) if isinstance(value, float) else value
        assert figures[key] == expected, key
    assert _written(out) == sorted(DEMO_FILES)
    sites = gpd.read_file(out / "siting.gpkg", layer="sites")
    assert sites["candidate_id"].tolist() == DEMO_SITES
    grid = gpd.read_file(out / "grids.gpkg", layer="grids")
    assert len(grid) == DEMO["grids"]


def test_coverage_command_and_api_give_the_recorded_figures(demo, inputs, tmp_path):
    args = ["--network", inputs["ways"], "--demand", inputs["buildings"]]
    args += ["--facilities", inputs["facilities"], "--communities", inputs["communities"]]
    args += ["--residential", inputs["compounds"]]
    assert main(["coverage", *args, "--out", str(tmp_path / "cov")]) == 0
    summ = _summary(tmp_path / "cov")
    assert _written(tmp_path / "cov") == sorted(COVERAGE_FILES + REPORT_FILES)
    study = geogrid.load_study(
        network=inputs["ways"],
        demand=inputs["buildings"],
        facilities=inputs["facilities"],
        communities=inputs["communities"],
        residential=inputs["compounds"],
    )
    fig = geogrid.coverage(study).figures()
    for target, share in COVERAGE.items():
        assert summ[f"coverage_{target}"] == pytest.approx(share)
        assert fig[f"coverage_{target}"] == pytest.approx(share)
    assert summ["households"] - summ["covered_hh_15min"] == COVERAGE_UNCOVERED_15
    assert fig["uncovered_hh_15min"] == COVERAGE_UNCOVERED_15
    assert fig["households"] == DEMO["households"]


def test_grids_command_and_api_give_the_recorded_figures(demo, inputs, tmp_path):
    args = ["--communities", inputs["communities"], "--demand", inputs["buildings"]]
    assert main(["grids", *args, "--network", inputs["ways"], "--out", str(tmp_path / "g")]) == 0
    assert _written(tmp_path / "g") == sorted(GRIDS_FILES + REPORT_FILES)
    grid = gpd.read_file(tmp_path / "g" / "grids.gpkg", layer="grids")
    study = geogrid.load_study(
        network=inputs["ways"], demand=inputs["buildings"], communities=inputs["communities"]
    )
    fig = geogrid.grids(study).figures()
    for got in (
        {"grids": len(grid), "min": grid["households"].min(), "max": grid["households"].max()},
        {"grids": fig["grids"], "min": fig["households_min"], "max": fig["households_max"]},
    ):
        assert got == {
            "grids": GRIDS["grids"],
            "min": GRIDS["households_min"],
            "max": GRIDS["households_max"],
        }
    assert fig["communities_feasible"] == GRIDS["feasible"]


def test_site_command_and_api_give_the_recorded_sites(demo, inputs, tmp_path):
    args = ["--network", inputs["ways"], "--demand", inputs["buildings"]]
    args += ["--facilities", inputs["facilities"], "--communities", inputs["communities"]]
    args += ["--residential", inputs["compounds"], "--k", "5"]
    assert main(["site", *args, "--out", str(tmp_path / "s")]) == 0
    assert _written(tmp_path / "s") == sorted([*SITE_FILES, *REPORT_FILES, "curve.png"])
    cli = gpd.read_file(tmp_path / "s" / "siting.gpkg", layer="sites")
    assert cli["candidate_id"].tolist() == SITES
    study = geogrid.load_study(
        network=inputs["ways"],
        demand=inputs["buildings"],
        facilities=inputs["facilities"],
        communities=inputs["communities"],
        residential=inputs["compounds"],
    )
    cov = geogrid.coverage(study)
    assert geogrid.site(study, k=5, coverage=cov).sites["candidate_id"].tolist() == SITES


# ---------------------------------------------------------------------- one study, shared


@pytest.fixture(scope="module")
def small():
    """A small demo study with coverage, grids and sites (4 communities)."""
    study = geogrid.load_demo(n_communities=4, seed=1)
    cov = geogrid.coverage(study)
    return study, cov, geogrid.grids(study, coverage=cov), geogrid.site(study, k=2, coverage=cov)


def test_siting_reuses_the_coverage_and_never_prepares_again(small, monkeypatch):
    from geogrid.analyses.siting import model
    from geogrid.study import area

    study, cov, _, sites = small

    def refuse(*args, **kwargs):
        raise AssertionError("prepared or computed again")

    monkeypatch.setattr(model, "compute_coverage", refuse)
    monkeypatch.setattr(model, "prepare_demand", refuse)
    monkeypatch.setattr(area, "snap_points", refuse)  # the study's snaps are cached
    again = geogrid.site(study, k=2, coverage=cov)
    assert again.sites["candidate_id"].tolist() == sites.sites["candidate_id"].tolist()
    assert geogrid.coverage(study, targets="20min").figures()["coverage_20min"] >= 0
    other = geogrid.load_demo(n_communities=4, seed=2)
    with pytest.raises(geogrid.InputError, match="another study"):
        geogrid.site(other, k=1, coverage=cov)


def test_siting_with_coverage_equals_siting_alone(small):
    study, _, _, sites = small
    alone = geogrid.site(study, k=2)
    pd.testing.assert_frame_equal(alone.curve, sites.curve)


def test_custom_targets_reach_the_figures(small):
    study = small[0]
    cov = geogrid.coverage(study, targets="8min,20min", speed_kmh=3.0)
    fig = cov.figures()
    assert {"coverage_8min", "coverage_20min", "uncovered_hh_20min"} <= set(fig)
    assert fig["speed_kmh"] == 3.0
    assert fig["coverage_8min"] <= fig["coverage_20min"]


def test_grids_project_a_geographic_crs_like_the_other_analyses(small):
    from geogrid.api import grids_step

    study = small[0]
    metric = grids_step(study.communities, study.demand, seed=0)
    lonlat = grids_step(
        study.communities.to_crs("EPSG:4326"), study.demand.to_crs("EPSG:4326"), seed=0
    )
    assert len(lonlat.grids) == len(metric.grids)
    assert lonlat.grids.crs.is_projected
    assert lonlat.grids["households"].sum() == pytest.approx(metric.grids["households"].sum())


# ---------------------------------------------------------------------- result objects


def test_every_result_has_the_same_surface(small, tmp_path):
    study, *results = small
    for res in results:
        layers = res.layers()
        assert layers and all(isinstance(v, gpd.GeoDataFrame) for v in layers.values())
        table = res.summary()
        assert list(table.columns) == ["metric", "value"] and len(table)
        html = res._repr_html_()
        assert len(html.encode()) < 1500, type(res).__name__
        assert type(res).__name__ in repr(res) and len(repr(res)) < 400
        written = res.write(tmp_path / res.command)
        assert written[-1].name == "run.json"
        assert {p.name for p in written} - {"run.json"} <= set(res.planned())
        assert all(p.exists() for p in written)
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == sorted(
        [*GRIDS_FILES, "run.json"]
    )
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == sorted(
        [*SITE_FILES, "run.json"]
    )


def test_repr_html_escapes_and_stays_short(small):
    cov = small[1]
    html = cov._repr_html_()
    assert "<table>" in html and "coverage_15min" in html
    assert len(html) < 1000


def test_write_refuses_a_foreign_file_and_leaves_it(small, tmp_path):
    cov = small[1]
    (tmp_path / "summary.csv").write_text("mine", encoding="utf-8")
    with pytest.raises(geogrid.GeogridError, match="exists"):
        cov.write(tmp_path)
    assert (tmp_path / "summary.csv").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "coverage.gpkg").exists()


def test_explore_is_self_contained(small):
    view = small[1].explore(lang="en")
    (page,) = view.pages
    assert "L.map(" in page
    assert not re.search(r"<script[^>]+src=\"https?:", page)
    assert "<iframe srcdoc=" in view._repr_html_()


def test_report_from_memory(small, tmp_path):
    _, cov, grid, sites = small
    paths = geogrid.report([cov, grid, sites], tmp_path, lang="en", name="area")
    # siting ran: its curve is drawn beside the maps, as `geogrid report` draws curve.png
    assert sorted(paths) == ["curve", "map", "map_offline", "png", "report", "summary"]
    assert paths["curve"] == tmp_path / "maps" / "area_curve.png"
    assert all(p.exists() and p.stat().st_size for p in paths.values())
    no_curve = geogrid.report([cov, grid], tmp_path / "no_siting", name="area")
    assert (
        "curve" not in no_curve
        and not (tmp_path / "no_siting" / "maps" / "area_curve.png").exists()
    )
    assert not list(tmp_path.glob("*.gpkg"))  # nothing written to read back
    with pytest.raises(geogrid.InputError, match="result objects"):
        geogrid.report(["coverage.gpkg"], tmp_path)  # type: ignore[list-item]


def test_readme_library_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Library") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None and "geogrid.load_study(" in code.group(1)
    geogrid.run_demo(tmp_path / "demo_out", maps=False)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), "README.md", "exec"), {"__name__": "__main__"})  # noqa: S102
    assert (tmp_path / "report_out" / "report.xlsx").exists()
    assert (tmp_path / "coverage_out" / "coverage.gpkg").exists()


def test_study_area_displays_compactly(small):
    study = small[0]
    text = repr(study)
    assert text.startswith("<StudyArea ") and "households" in text and len(text) < 200
    assert "&lt;StudyArea" in study._repr_html_()


def test_study_without_network_serves_grids_only(demo, inputs):
    study = geogrid.load_study(
        network=None, demand=inputs["buildings"], communities=inputs["communities"]
    )
    assert study.network is None and "network_nodes" not in study.summary()
    assert geogrid.grids(study).figures()["grids"] > 0
    with pytest.raises(geogrid.InputError, match="network"):
        geogrid.coverage(study)
    with pytest.raises(geogrid.InputError, match="network"):
        geogrid.site(study, k=1)
