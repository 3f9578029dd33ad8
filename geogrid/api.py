"""End-to-end runs behind the command line: inputs -> study area -> analyses -> output files.

Every output is written atomically (a temporary file beside the target, then a rename), so an
interrupted run never leaves a half-written file where a complete one was.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.analyses.coverage.engine import CoverageResult, aggregate, run_coverage
from geogrid.io.runfolder import RunFolder
from geogrid.outputs.privacy import ExportGuard, describe_withheld
from geogrid.settings import DEFAULTS, FACILITY_TYPE_NAMES_ZH, Settings
from geogrid.study.area import StudyArea, load_study

log = logger = logging.getLogger(__name__)


def write_coverage(
    res: CoverageResult,
    out: Path,
    *,
    excluded: gpd.GeoDataFrame | None = None,
    guard: ExportGuard | None = None,
) -> dict[str, Path]:
    """Write ``coverage.gpkg`` and ``summary.csv`` (and per-street/district tables).

    ``excluded`` (the study's :class:`~geogrid._exclusions.Exclusions` frame) becomes the
    ``excluded`` layer, always written, so that every input row is accounted for. Every
    layer passes through ``guard`` (default: a new :class:`ExportGuard`, which withholds
    personal data and aggregates household rows to buildings).
    """
    guard = ExportGuard() if guard is None else guard
    out.mkdir(parents=True, exist_ok=True)
    layers = res.layers()
    if excluded is not None:
        layers["excluded"] = excluded
    if "communities" not in layers and isinstance(res.communities, pd.DataFrame):
        layers["communities_table"] = res.communities  # type: ignore[assignment]
    if res.streets is not None:
        layers["streets_coverage"] = res.streets  # type: ignore[assignment]
    if res.districts is not None:
        layers["districts_coverage"] = res.districts  # type: ignore[assignment]
    paths = {"coverage": guard.write_layers(out / "coverage.gpkg", layers)}
    paths["summary"] = guard.write_table(res.summary, out / "summary.csv")
    return paths


def grids_step(
    communities: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    network_edges: gpd.GeoDataFrame | None = None,
    walls: gpd.GeoDataFrame | None = None,
    coverage_table: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    settings: Settings = DEFAULTS,
    **kwargs: Any,
) -> Any:
    """Partition communities into grids; with a coverage table, add coverage per grid."""
    from geogrid.analyses.grids.partition import partition

    res = partition(
        communities,
        demand,
        network_edges=network_edges,
        walls=walls,
        seed=seed,
        min_households=kwargs.pop("min_households", settings.grid_min_households),
        target_households=kwargs.pop("target_households", settings.grid_target_households),
        max_households=kwargs.pop("max_households", settings.grid_max_households),
        **kwargs,
    )
    if coverage_table is not None:
        tbl = coverage_table.copy()
        tbl["grid_code"] = (
            res.assignment.reindex(tbl.index).to_numpy()
            if hasattr(res.assignment, "reindex")
            else np.asarray(res.assignment)
        )
        agg = aggregate(tbl[tbl["grid_code"].notna()], by="grid_code")
        keep = ["grid_code"] + [
            c
            for c in agg.columns
            if c.startswith(("coverage_", "uncovered_hh_")) or c.endswith("walk_min")
        ]
        res.grids = res.grids.merge(agg[keep], on="grid_code", how="left")
    return res


def siting_step(
    study: StudyArea, *, k: int | None, target: str = "15min", candidates: Any = None, **kwargs: Any
) -> Any:
    """Run the siting model on a study area."""
    from geogrid.analyses.siting.model import run_siting

    # the demo's compounds and gates (study.extra) shape the default candidate pool
    for key in ("compounds", "gates"):
        if kwargs.get(key) is None and key in study.extra:
            kwargs[key] = study.extra[key]
    return run_siting(
        study.network,
        study.demand,
        study.facilities,
        k=k,
        target=target,
        candidates=candidates,
        communities=study.communities,
        **kwargs,
    )


def run_demo(
    out: str | Path,
    *,
    n_communities: int = 10,
    seed: int = 0,
    k: int = 5,
    maps: bool = True,
    settings: Settings = DEFAULTS,
    include_personal: bool = False,
) -> dict[str, Any]:
    """Generate the demo district and run the whole workflow on it, offline.

    Writes ``inputs/*.gpkg`` (the generated layers, one file each, to try the other commands
    on), ``study.gpkg``, ``coverage.gpkg``, ``summary.csv``, ``grids.gpkg``,
    ``grids_quality.csv``, ``siting.gpkg``, ``siting_curve.csv``, ``maps/demo.html``,
    ``maps/demo_offline.html`` and ``report.xlsx`` into ``out``; returns the headline figures.

    The folder is written as one unit (:class:`geogrid._runfolder.RunFolder`): checked before
    any computation, locked, and filled only when the whole run succeeded, with the manifest
    ``run.json`` (parameters, output hashes, timings) written last. Every file passes
    through one :class:`ExportGuard`: personal data is withheld unless ``include_personal``,
    and what was withheld is in ``run.json`` (``parameters.personal_withheld``) and the
    figures.
    """
    parameters = {"communities": n_communities, "seed": seed, "k": k, "maps": maps}
    parameters["include_personal"] = include_personal
    guard = ExportGuard(include_personal=include_personal)
    with RunFolder(out, command="demo", parameters=parameters, planned=demo_outputs(maps)) as run:
        figures = _demo_into(
            run.stage,
            run.timing,
            n_communities=n_communities,
            seed=seed,
            k=k,
            maps=maps,
            settings=settings,
            guard=guard,
        )
        run.parameters["personal_withheld"] = figures["personal_withheld"]
    figures["out"] = str(out)
    return figures


def demo_outputs(maps: bool = True) -> list[str]:
    """Names of the files :func:`run_demo` writes, relative to its folder."""
    names = ["study.gpkg", "coverage.gpkg", "summary.csv", "grids.gpkg", "grids_quality.csv"]
    names += ["siting.gpkg", "siting_curve.csv", "siting_curve.png"]
    names += [f"inputs/{n}.gpkg" for n in _DEMO_INPUTS]
    if maps:
        names += ["maps/demo.html", "maps/demo_offline.html", "maps/demo.png", "report.xlsx"]
        names += ["summary.md"]
    return names


_DEMO_INPUTS = ("ways", "compounds", "walls", "buildings", "facilities", "communities")


def _demo_into(
    folder: Path,
    timing: dict[str, Any],
    *,
    n_communities: int,
    seed: int,
    k: int,
    maps: bool,
    settings: Settings,
    guard: ExportGuard,
) -> dict[str, Any]:
    """Run the demo workflow, writing into ``folder`` (a run's staging folder) via ``guard``."""
    from geogrid.analyses.siting.model import plot_curve
    from geogrid.demo import make_district
    from geogrid.network.build import network_from_ways

    t0 = time.perf_counter()
    d = make_district(n_communities=n_communities, seed=seed)
    net = network_from_ways(d.ways, residential=d.compounds)
    study = load_study(
        network=net,
        demand=d.buildings,
        facilities=d.facilities,
        communities=d.communities,
        settings=settings,
    )
    district = d.streets.dissolve(by="district_code", as_index=False)[
        ["district_code", "district_name", "geometry"]
    ]
    study.extra = {
        "streets": d.streets,
        "district": district,
        "compounds": d.compounds,
        "gates": d.gates,
    }
    guard.write_layers(folder / "study.gpkg", study.layers())
    inputs = folder / "inputs"
    inputs.mkdir(exist_ok=True)
    for name, layer in (
        ("ways", d.ways),
        ("compounds", d.compounds),
        ("walls", d.walls),
        ("buildings", d.buildings),
        ("facilities", d.facilities),
        ("communities", d.communities),
    ):
        guard.write_layers(inputs / f"{name}.gpkg", {name: layer})
    timings = {"study": time.perf_counter() - t0}

    t = time.perf_counter()
    cov = run_coverage(
        net, study.demand, study.facilities, communities=d.communities, settings=settings
    )
    write_coverage(cov, folder, excluded=study.excluded.frame(study.crs), guard=guard)
    timings["coverage"] = time.perf_counter() - t

    t = time.perf_counter()
    walk = net.edges[
        net.edges["highway"].isin(
            ["primary", "secondary", "tertiary", "residential", "living_street", "unclassified"]
        )
    ]
    grid = grids_step(
        d.communities,
        study.demand,
        network_edges=walk,
        walls=d.walls,
        coverage_table=cov.demand,
        seed=seed,
        settings=settings,
    )
    guard.write_layers(folder / "grids.gpkg", {"grids": grid.grids})
    guard.write_table(grid.quality, folder / "grids_quality.csv")
    timings["grids"] = time.perf_counter() - t

    t = time.perf_counter()
    site = siting_step(study, k=k, target=settings.primary_target)
    guard.write_layers(folder / "siting.gpkg", site.layers())
    guard.write_table(site.curve, folder / "siting_curve.csv")
    plot_curve(site.curve, folder / "siting_curve.png")  # numbers only
    timings["siting"] = time.perf_counter() - t
    timing["siting_solver"] = site.timings()

    if maps:
        from geogrid.outputs.publish import publish
        from geogrid.outputs.webmap import read_results

        t = time.perf_counter()
        publish(
            read_results(folder),
            folder,
            name="demo",
            title="geogrid 示范街道 demo district",
            include_personal=guard.include_personal,
        )
        timings["maps_report"] = time.perf_counter() - t

    summ = dict(zip(cov.summary["metric"], cov.summary["value"], strict=False))
    figures: dict[str, Any] = study.summary()
    figures.update(
        {
            "coverage_15min": summ.get("coverage_15min"),
            "coverage_1km": summ.get("coverage_1km"),
            "uncovered_hh_15min": int(summ["households"]) - int(summ["covered_hh_15min"]),
            "gaps": summ.get("gaps"),
            "overloaded_facilities": summ.get("overloaded_facilities"),
            "grids": len(grid.grids),
            "grids_in_band_share": float(grid.grids["in_band"].mean())
            if len(grid.grids)
            else float("nan"),
            "new_sites": len(site.sites),
            "coverage_15min_after": float(site.curve["coverage_share"].iloc[-1]),
            "seconds": {k2: round(v, 2) for k2, v in timings.items()},
            "total_seconds": round(time.perf_counter() - t0, 2),
            "underserved_communities": list(d.underserved_codes),
            "personal_withheld": guard.withheld(),
        }
    )
    guard.warn()
    timing["steps_s"] = figures["seconds"]
    return figures


def _plain(value: Any) -> str:
    """One figure as people read it: no numpy reprs, ``n/a`` for a missing number."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            return "n/a"
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def _is_zero_count(key: str, value: Any) -> bool:
    """Tell whether a figure is a zero count of things left out ("skipped 0 ...")."""
    words = ("excluded", "skipped", "dropped")
    if isinstance(value, np.generic):
        value = value.item()
    return any(w in key for w in words) and isinstance(value, int | float) and not value


def format_summary(figures: dict[str, Any]) -> str:
    """Human-readable lines for the command line.

    Numbers print plainly (never ``np.float64(...)``; a missing one as ``n/a``), and empty
    counts are left out (no "excluded rows: " line when nothing was excluded).
    """
    lines = []
    fac = figures.get("facilities") or {}
    for key, value in figures.items():
        if key == "personal_withheld":
            text = describe_withheld(value) if isinstance(value, dict) else None
            if text is not None:
                lines.append(f"personal data withheld (--include-personal keeps it): {text}")
        elif key == "facilities":
            parts = [f"{FACILITY_TYPE_NAMES_ZH.get(t, t)} {t}: {n}" for t, n in fac.items()]
            lines.append(f"facilities by type: {'; '.join(parts)}")
        elif isinstance(value, dict | list | tuple) and not value:
            continue
        elif _is_zero_count(key, value):
            continue
        else:
            lines.append(f"{key}: {_plain(value)}")
    return "\n".join(lines)
