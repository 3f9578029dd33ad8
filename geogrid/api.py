"""The public API: one verb per analysis over a study area, and the end-to-end demo.

:func:`coverage`, :func:`grids` and :func:`site` each take a :class:`StudyArea` (from
:func:`geogrid.load_study` or :func:`load_demo`) and return a result object
(:mod:`geogrid.results`) with ``.layers()``, ``.summary()``, ``.write(folder)`` and
``.explore()``; :func:`report` publishes several results as maps, workbook and summary. The
study area is prepared once: the verbs share its prepared demand, facilities and snaps, and
:func:`site` given ``coverage=`` reuses that coverage engine instead of computing it again.

The engine functions the verbs call (:func:`write_coverage`, :func:`grids_step`,
:func:`siting_step`, and in the analyses ``run_coverage``, ``partition``, ``run_siting``)
take loose frames; the command line and :mod:`geogrid.batch` run through the verbs.

Every output is written atomically (a temporary file beside the target, then a rename), so an
interrupted run never leaves a half-written file where a complete one was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.analyses.coverage.engine import (
    Coverage,
    CoverageResult,
    aggregate,
    coverage_result,
)
from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.io.runfolder import RunFolder
from geogrid.outputs.console import format_summary  # moved there; kept for callers
from geogrid.outputs.figures import name_compounds
from geogrid.outputs.privacy import ExportGuard
from geogrid.results import CoverageResults, GridsResults, Result, SitingResults, map_layers
from geogrid.schema import check_lang
from geogrid.settings import DEFAULTS, Settings, parse_targets
from geogrid.study.area import StudyArea, load_study, residential_units
from geogrid.study.exclusions import Exclusions

__all__ = [
    "coverage",
    "demo_outputs",
    "format_summary",
    "grids",
    "load_demo",
    "report",
    "run_demo",
    "site",
]

log = logger = logging.getLogger(__name__)


def write_coverage(
    res: CoverageResult,
    out: Path,
    *,
    excluded: gpd.GeoDataFrame | None = None,
    guard: ExportGuard | None = None,
    compounds: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``coverage.gpkg`` and ``summary.csv`` (and per-street/district tables).

    ``excluded`` (the study's :class:`~geogrid._exclusions.Exclusions` frame) becomes the
    ``excluded`` layer, always written, so that every input row is accounted for. Every
    layer passes through ``guard`` (default: a new :class:`ExportGuard`, which withholds
    personal data and aggregates household rows to buildings). With ``compounds`` (a table of
    ``compound_id`` and ``name``), layers carry the ``compound_name`` beside the id.
    """
    guard = ExportGuard() if guard is None else guard
    out.mkdir(parents=True, exist_ok=True)
    layers = name_compounds(res.layers(), compounds)
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
    """Partition communities into grids; with a coverage table, add coverage per grid.

    The engine function behind :func:`grids`. Layers in a geographic CRS (lon/lat) are
    projected to the local metric CRS first, as coverage and siting do.
    """
    from geogrid.analyses.grids.partition import partition

    crs = _metric_crs(communities, demand)
    if kwargs.get("residential") is not None:
        kwargs["residential"] = _projected(kwargs["residential"], crs)
    res = partition(
        _projected(communities, crs),
        _projected(demand, crs),
        network_edges=_projected(network_edges, crs),
        walls=_projected(walls, crs),
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


def _metric_crs(communities: Any, demand: gpd.GeoDataFrame) -> Any:
    """Return the metric CRS grids are drawn in: the communities' (else demand's), or a local one."""
    base = communities if communities is not None else demand
    if base is None or base.crs is None or base.crs.is_projected:
        return None if base is None else base.crs
    return to_metric(base).crs


def _projected(gdf: Any, crs: Any) -> Any:
    """Return ``gdf`` in ``crs`` when it has a geographic CRS (else unchanged)."""
    if gdf is None or crs is None or getattr(gdf, "crs", None) is None or gdf.crs.is_projected:
        return gdf
    return gdf.to_crs(crs)


def siting_step(
    study: StudyArea, *, k: int | None, target: str = "15min", candidates: Any = None, **kwargs: Any
) -> Any:
    """Run the siting model on a study area (the engine function behind :func:`site`)."""
    from geogrid.analyses.siting.model import run_siting

    # the study's compounds and gates (study.context) shape the default candidate pool
    for key in ("compounds", "gates"):
        if kwargs.get(key) is None and key in study.context:
            kwargs[key] = study.context[key]
    cov = kwargs.get("coverage")
    return run_siting(
        study.walk_network() if cov is None else cov.net,
        study.demand,
        study.facilities,
        k=k,
        target=target,
        candidates=candidates,
        communities=study.communities,
        **kwargs,
    )


# ---------------------------------------------------------------------- the study area


def load_demo(
    *, n_communities: int = 10, seed: int = 0, settings: Settings = DEFAULTS
) -> StudyArea:
    """Return the synthetic demo district as a study area, in memory (no file is written).

    Parameters
    ----------
    n_communities : int
        Communities (superblocks) to generate (10 by default, about 32,000 households).
    seed : int
        The same seed gives the same district.
    settings : Settings
        Household assumptions and defaults.

    Returns
    -------
    StudyArea
        With ``context`` holding the demo's ``streets``, ``district``, ``compounds``,
        ``gates`` and ``walls``.

    Examples
    --------
    >>> import geogrid
    >>> study = geogrid.load_demo(n_communities=4)  # doctest: +SKIP
    >>> study.summary()["communities"]  # doctest: +SKIP
    4

    """
    return _demo_study(n_communities, seed, settings)[0]


def _demo_study(n_communities: int, seed: int, settings: Settings) -> tuple[StudyArea, Any]:
    """Return the demo study area and its district (outlines, compounds, gates, walls)."""
    from geogrid.demo import make_district
    from geogrid.network.build import network_from_ways

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
    study.context = {
        "streets": d.streets,
        "district": district,
        "compounds": d.compounds,
        "gates": d.gates,
        "walls": d.walls,
    }
    return study, d


# ---------------------------------------------------------------------- the verbs


def _settings(study: StudyArea, settings: Settings | None) -> Settings:
    """Return the settings an analysis runs with: the given ones, else the study's."""
    return study.settings if settings is None else settings


def coverage_engine(
    study: StudyArea,
    *,
    targets: Any = None,
    speed_kmh: float | None = None,
    private: str | None = None,
    settings: Settings | None = None,
) -> Coverage:
    """Build the coverage engine on the study's prepared, snapped demand and facilities.

    Nothing is prepared again: the study's demand and facilities are used as they are, and
    their snaps are computed once per study (:meth:`StudyArea.snap`) and shared by every
    engine built on it.

    Returns
    -------
    Coverage
        Nearest-facility fields computed; see :class:`geogrid.analyses.coverage.engine.Coverage`.

    Examples
    --------
    >>> cov = coverage_engine(study, targets="15min")  # doctest: +SKIP

    """
    if study.network is None:
        msg = "coverage needs the walking network; pass network= to load_study"
        raise InputError(msg)
    if study.facilities is None or len(study.facilities) == 0:
        msg = "the study area has no facilities; pass facilities= (centres, stations) to load_study"
        raise InputError(msg)
    settings = _settings(study, settings)
    net = study.network if private is None else study.network.with_private(private)
    speed = float(speed_kmh if speed_kmh is not None else settings.speed_kmh)
    if not speed > 0:
        msg = f"walking speed must be positive, got {speed!r}; pass e.g. speed_kmh=4"
        raise InputError(msg)
    fac = study.facilities.copy()
    fac["active"] = True
    engine = Coverage(
        net=net,
        demand=study.demand,
        facilities=fac,
        targets=parse_targets(targets),
        speed_kmh=speed,
        settings=settings,
        unit_snap=study.snap("demand", net, max_snap_m=settings.max_snap_m),
        fac_snap=study.snap("facilities", net, max_snap_m=settings.max_snap_m),
    )
    _ = engine.field
    return engine


def coverage(
    study: StudyArea,
    *,
    targets: Any = None,
    speed_kmh: float | None = None,
    private: str | None = None,
    per_facility_areas: bool = True,
    settings: Settings | None = None,
) -> CoverageResults:
    """Measure the walking coverage of the study's centres and stations.

    Parameters
    ----------
    study : StudyArea
        From :func:`geogrid.load_study` or :func:`load_demo`; it needs facilities.
    targets : str or sequence, optional
        Targets such as ``"5min,10min,15min,1km"`` (the default) or ``["20min"]``.
    speed_kmh : float, optional
        Walking speed (default ``settings.speed_kmh``, 4 km/h).
    private : {"residents", "all", "none"}, optional
        Who walks compound private paths (default: the network's rule).
    per_facility_areas : bool
        Also draw each facility's own service area (default True).
    settings : Settings, optional
        Defaults; the study's settings by default.

    Returns
    -------
    CoverageResults
        ``.layers()``: ``demand``, ``facilities``, ``service_areas``, ``gaps``,
        ``communities``; ``.summary()``: the metric/value table of ``summary.csv``.

    Examples
    --------
    >>> import geogrid
    >>> study = geogrid.load_demo()  # doctest: +SKIP
    >>> cov = geogrid.coverage(study, targets="10min,15min")  # doctest: +SKIP
    >>> cov.figures()["coverage_15min"]  # doctest: +SKIP

    """
    settings = _settings(study, settings)
    engine = coverage_engine(
        study, targets=targets, speed_kmh=speed_kmh, private=private, settings=settings
    )
    raw = coverage_result(
        engine, communities=study.communities, per_facility_areas=per_facility_areas
    )
    params = {"targets": targets, "speed_kmh": engine.speed_kmh, "private": private}
    return CoverageResults(study, raw, parameters=params)


def _grid_units(study: StudyArea, residential_only: bool) -> tuple[gpd.GeoDataFrame, Exclusions]:
    """Return the demand units grids are drawn from, keeping the study's row labels.

    ``residential_only`` leaves out non-residential buildings and units without households
    (recorded with their reason), as ``geogrid grids`` does.
    """
    excl = Exclusions()
    excl.extend(study.excluded)
    if not residential_only:
        return study.demand, excl
    labelled = study.demand.assign(_study_row=study.demand.index)
    kept = residential_units(labelled, excl)
    kept.index = pd.Index(kept.pop("_study_row").to_numpy(), name=study.demand.index.name)
    return kept, excl


def grids(
    study: StudyArea,
    *,
    coverage: CoverageResults | None = None,
    min_households: float | None = None,
    target_households: float | None = None,
    max_households: float | None = None,
    seed: int = 0,
    network_edges: gpd.GeoDataFrame | None = None,
    walls: gpd.GeoDataFrame | None = None,
    residential: gpd.GeoDataFrame | None = None,
    residential_only: bool = True,
    certificates: str = "band",
    settings: Settings | None = None,
) -> GridsResults:
    """Partition the study's communities into balanced, contiguous, coded governance grids.

    Parameters
    ----------
    study : StudyArea
        Without communities, provisional ones are derived from where people live.
    coverage : CoverageResults, optional
        Adds coverage per grid (``coverage_15min``, ``uncovered_hh_15min``...).
    min_households, target_households, max_households : float, optional
        The household band (default ``settings``: 200, 350, 500).
    seed : int
        The same inputs and seed give the same grids.
    network_edges, walls : GeoDataFrame, optional
        Lines grids follow: default the study's network edges and ``context["walls"]``.
    residential : GeoDataFrame, optional
        Residential polygons used to derive communities (default ``context["compounds"]``).
    residential_only : bool
        Draw grids from residential units only (default, as ``geogrid grids``); False keeps
        every demand unit (non-residential buildings too), as ``geogrid demo`` does.
    certificates : {"band", "full"}
        ``"full"`` also measures how balanced each feasible community's grids are (slow).
    settings : Settings, optional
        Defaults; the study's settings by default.

    Returns
    -------
    GridsResults
        ``.layers()``: ``grids``, ``units``, ``excluded``; ``.summary()``: grid quality.

    Examples
    --------
    >>> g = geogrid.grids(study, coverage=cov, max_households=400)  # doctest: +SKIP
    >>> len(g.grids)  # doctest: +SKIP

    """
    settings = _settings(study, settings)
    demand, excl = _grid_units(study, residential_only)
    edges = network_edges
    if edges is None and study.network is not None:
        edges = study.network.edges
    raw = grids_step(
        study.communities,
        demand,
        network_edges=edges,
        walls=study.context.get("walls") if walls is None else walls,
        residential=study.context.get("compounds") if residential is None else residential,
        coverage_table=None if coverage is None else coverage.raw.demand,
        seed=seed,
        settings=settings,
        min_households=settings.grid_min_households if min_households is None else min_households,
        target_households=(
            settings.grid_target_households if target_households is None else target_households
        ),
        max_households=settings.grid_max_households if max_households is None else max_households,
        certificates=certificates,
    )
    params = {
        "min_households": min_households,
        "target_households": target_households,
        "max_households": max_households,
        "seed": seed,
        "residential_only": residential_only,
    }
    return GridsResults(study, raw, parameters=params, units=demand, exclusions=excl)


def site(
    study: StudyArea,
    *,
    k: int | None = None,
    coverage: CoverageResults | None = None,
    target: str | None = None,
    problem: str = "mclp",
    candidates: gpd.GeoDataFrame | None = None,
    share: float | None = None,
    capacity_hh: float | None = None,
    pmedian_cap_m: float | None = None,
    solver: str = "both",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-4,
    every_m: float = 100.0,
    exclude: gpd.GeoDataFrame | None = None,
    speed_kmh: float | None = None,
    weight: str | None = None,
    required: Any = None,
    relocate: int | None = None,
    closable: Sequence[str] | None = None,
    candidate_pool: str = "public",
    compounds: gpd.GeoDataFrame | None = None,
    gates: gpd.GeoDataFrame | None = None,
    min_gain: float | None = None,
    settings: Settings | None = None,
) -> SitingResults:
    """Site ``k`` new stations with the best coverage for every number of stations.

    Parameters
    ----------
    study : StudyArea
        The study area (facilities may be absent: no station today).
    k : int, optional
        New stations (``mclp``, ``pmedian``, ``pcenter``); for ``setcover`` an upper limit.
    coverage : CoverageResults, optional
        Coverage of the same study: its engine, prepared demand and snaps are reused, so
        coverage is not computed again (its walking speed is the default ``speed_kmh``).
    target : str, optional
        Coverage target, e.g. ``"15min"`` (default ``settings.primary_target``).
    problem : {"mclp", "setcover", "pmedian", "pcenter"}
        Maximal coverage (default), set cover to ``share``, capped p-median, p-centre.
    candidates : GeoDataFrame, optional
        Candidate sites (vacant premises); default the ``candidate_pool``.
    share, capacity_hh, pmedian_cap_m : float, optional
        Set-cover share, households one new station can serve, p-median/p-centre cap (m).
    solver : {"both", "exact", "greedy"}
        HiGHS per k with greedy compared (default), or one of them.
    time_limit_s, mip_rel_gap : float
        HiGHS seconds per k and the relative gap counted exact.
    every_m : float
        Street sampling step of the default candidates (m).
    exclude : GeoDataFrame, optional
        Polygons where no station may go.
    speed_kmh : float, optional
        Walking speed (default: the coverage's, else ``settings.speed_kmh``).
    weight : str, optional
        Demand column of weights (default households).
    required : list of str or GeoDataFrame, optional
        Sites that must be in the answer (candidate ids, or points).
    relocate : int, optional
        May close up to this many existing stations, each freeing a new site.
    closable : list of str, optional
        Facility types relocation may close (``["all"]``: every type); default every type
        but the centres.
    candidate_pool : {"public", "compounds", "all"}
        Default candidates: outside gated compounds, inside them, or both.
    compounds, gates : GeoDataFrame, optional
        Gated compounds and their gates (default ``context["compounds"]``, ``["gates"]``).
    min_gain : float, optional
        Flag sites adding fewer households than this (``low_gain``).
    settings : Settings, optional
        Defaults; the study's settings by default.

    Returns
    -------
    SitingResults
        ``.layers()``: ``sites``, ``candidates``, ``allocation``...; ``.summary()``.

    Examples
    --------
    >>> sites = geogrid.site(study, k=3, coverage=cov)  # doctest: +SKIP
    >>> sites.sites["candidate_id"].tolist()  # doctest: +SKIP

    """
    settings = _settings(study, settings)
    if study.network is None:
        msg = "siting needs the walking network; pass network= to load_study"
        raise InputError(msg)
    engine = None
    if coverage is not None:
        if coverage.study is not study:
            msg = "coverage= belongs to another study area; pass the coverage of this study"
            raise InputError(msg)
        engine = coverage.raw.coverage
        speed_kmh = engine.speed_kmh if speed_kmh is None else speed_kmh
    raw = siting_step(
        study,
        k=k,
        target=settings.primary_target if target is None else target,
        candidates=candidates,
        problem=problem,
        share=share,
        capacity_hh=capacity_hh,
        pmedian_cap_m=pmedian_cap_m,
        solver=solver,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        every_m=every_m,
        exclude=exclude,
        speed_kmh=speed_kmh,
        weight=weight,
        required=required,
        relocate=relocate,
        closable=closable,
        candidate_pool=candidate_pool,
        compounds=compounds,
        gates=gates,
        min_gain=min_gain,
        settings=settings,
        coverage=engine,
    )
    params = {"k": k, "target": target, "problem": problem, "speed_kmh": speed_kmh}
    return SitingResults(study, raw, parameters=params)


def report(
    results: Result | list[Result],
    out: str | Path,
    *,
    lang: str = "zh",
    name: str = "report",
    title: str | None = None,
    tiles: str = "osm",
    attribution: str | None = None,
    include_personal: bool = False,
    network: bool = True,
) -> dict[str, Path]:
    """Publish results as maps, workbook, static map and summary page, from memory.

    Writes ``maps/<name>.html``, ``maps/<name>_offline.html``, ``maps/<name>.png``,
    ``report.xlsx`` and ``summary.md`` into ``out`` (each file atomically), from the
    results' layers and their study's outlines and network.

    Parameters
    ----------
    results : Result or list of Result
        e.g. ``[cov, grids, sites]`` (of one study area).
    out : path-like
        Output folder.
    lang : {"zh", "en"}
        Language of every label.
    name : str
        File stem of the maps.
    title, attribution : str, optional
        Shown on the maps and pages (as plain text).
    tiles : {"osm", "amap", "tianditu", "none"}
        Basemap of the online map (the offline one has none).
    include_personal : bool
        Keep personal data (withheld by default).
    network : bool
        Draw the study's walking network on the maps (a layer off by default).

    Returns
    -------
    dict of str to Path
        Keys ``map``, ``map_offline``, ``png``, ``report``, ``summary``.

    Examples
    --------
    >>> geogrid.report([cov, grids, sites], "out", lang="en")  # doctest: +SKIP

    """
    from geogrid.outputs.publish import publish

    items = [results] if isinstance(results, Result) else list(results)
    if not items or not all(isinstance(r, Result) for r in items):
        msg = "report needs result objects, e.g. report([cov, grids, sites], out)"
        raise InputError(msg)
    layers: dict[str, Any] = dict(map_layers(items))
    if not network:
        layers.pop("network_edges", None)
    curves = [r.raw.curve for r in items if isinstance(r, SitingResults)]
    if curves:
        layers["curve"] = curves[0]  # the workbook's 选址曲线 sheet, not a map layer
    return publish(
        layers,
        out,
        name=name,
        tiles=tiles,
        lang=lang,
        title=title,
        attribution=attribution,
        include_personal=include_personal,
    )


# ---------------------------------------------------------------------- the demo


def run_demo(
    out: str | Path,
    *,
    n_communities: int = 10,
    seed: int = 0,
    k: int = 5,
    maps: bool = True,
    settings: Settings = DEFAULTS,
    include_personal: bool = False,
    lang: str = "zh",
) -> dict[str, Any]:
    """Generate the demo district and run the whole workflow on it, offline.

    Writes ``inputs/*.gpkg`` (the generated layers, one file each, to try the other commands
    on), ``study.gpkg``, ``coverage.gpkg``, ``summary.csv``, ``grids.gpkg``,
    ``grids_quality.csv``, ``siting.gpkg``, ``siting_curve.csv``, ``maps/demo.html``,
    ``maps/demo_offline.html``, ``maps/demo.png``, ``maps/demo_curve.png`` (the siting curve),
    ``report.xlsx`` and ``summary.md`` into ``out`` (without maps: ``siting_curve.png`` for
    the curve); returns the headline figures.
    Maps and report are drawn from the results in memory (:func:`report`), never read back.

    The folder is written as one unit (:class:`geogrid.io.runfolder.RunFolder`): checked
    before any computation, locked, and filled only when the whole run succeeded, with the
    manifest ``run.json`` (parameters, output hashes, timings) written last. Every file
    passes through one :class:`ExportGuard`: personal data is withheld unless
    ``include_personal``, and what was withheld is in ``run.json``
    (``parameters.personal_withheld``) and the figures.

    Parameters
    ----------
    out : str or Path
        The results folder.
    n_communities, seed : int
        Size of the demo district and its seed (the same seed, the same district).
    k : int
        New stations to site.
    maps : bool
        Also draw the maps and the workbook.
    settings : Settings
        Defaults for every analysis.
    include_personal : bool
        Keep personal data in the files.
    lang : {"zh", "en"}
        Language of the maps, workbook, summary page and curve.

    Returns
    -------
    dict
        Households, coverage shares, grids, new sites, seconds per step...

    Examples
    --------
    >>> figures = geogrid.run_demo("demo_out")  # doctest: +SKIP
    >>> figures["coverage_15min"]  # doctest: +SKIP

    """
    check_lang(lang)
    parameters: dict[str, Any] = {"communities": n_communities, "seed": seed, "k": k}
    parameters.update(maps=maps, include_personal=include_personal)
    if lang != "zh":  # recorded only when not the default (earlier manifests stay the same)
        parameters["lang"] = lang
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
            lang=lang,
        )
        run.parameters["personal_withheld"] = figures["personal_withheld"]
    figures["out"] = str(out)
    return figures


def demo_outputs(maps: bool = True) -> list[str]:
    """Names of the files :func:`run_demo` writes, relative to its folder."""
    names = ["study.gpkg", "coverage.gpkg", "summary.csv", "grids.gpkg", "grids_quality.csv"]
    names += ["siting.gpkg", "siting_curve.csv"]
    names += [f"inputs/{n}.gpkg" for n in _DEMO_INPUTS]
    if maps:
        names += ["maps/demo.html", "maps/demo_offline.html", "maps/demo.png", "report.xlsx"]
        names += ["summary.md", "maps/demo_curve.png"]
    else:  # the curve figure goes with the maps, or on its own
        names += ["siting_curve.png"]
    return names


#: Title of the demo's maps, workbook and summary page, by language.
DEMO_TITLE = {"zh": "geogrid 示范街道", "en": "geogrid demo district"}
_DEMO_INPUTS = ("ways", "compounds", "walls", "buildings", "facilities", "communities")
#: Streets the demo's grids follow (not footways, paths or service roads).
_DEMO_GRID_STREETS: tuple[str, ...] = (
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "living_street",
)
_DEMO_GRID_STREETS += ("unclassified",)


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
    lang: str = "zh",
) -> dict[str, Any]:
    """Run the demo workflow, writing into ``folder`` (a run's staging folder) via ``guard``."""
    t0 = time.perf_counter()
    study, district = _demo_study(n_communities, seed, settings)
    guard.write_layers(folder / "study.gpkg", study.layers())
    (folder / "inputs").mkdir(exist_ok=True)
    for name in _DEMO_INPUTS:
        guard.write_layers(folder / "inputs" / f"{name}.gpkg", {name: getattr(district, name)})
    timings = {"study": time.perf_counter() - t0}

    t = time.perf_counter()
    cov = coverage(study, settings=settings)
    cov.write_files(folder, guard)
    timings["coverage"] = time.perf_counter() - t

    t = time.perf_counter()
    edges = study.walk_network().edges
    grid = grids(
        study,
        coverage=cov,
        network_edges=edges[edges["highway"].isin(_DEMO_GRID_STREETS)],
        residential_only=False,
        seed=seed,
        settings=settings,
    )
    guard.write_layers(folder / "grids.gpkg", {"grids": grid.raw.grids})
    guard.write_table(grid.raw.quality, folder / "grids_quality.csv")
    timings["grids"] = time.perf_counter() - t

    t = time.perf_counter()
    sites = site(study, k=k, coverage=cov, settings=settings)
    sites.write_files(folder, guard, lang=lang, excluded=False, plot=not maps, demand_tables=False)
    timings["siting"] = time.perf_counter() - t
    timing["siting_solver"] = sites.raw.timings()
    timing["siting_points"] = sites.raw.solver_points()  # status, method, bound, gap per k

    if maps:
        t = time.perf_counter()
        report(
            [cov, grid, sites],
            folder,
            name="demo",
            lang=lang,
            title=DEMO_TITLE[lang],
            include_personal=guard.include_personal,
        )
        timings["maps_report"] = time.perf_counter() - t

    figures: dict[str, Any] = study.summary()
    figures.update(_demo_figures(cov, grid, sites))
    figures.update(
        {
            "seconds": {k2: round(v, 2) for k2, v in timings.items()},
            "total_seconds": round(time.perf_counter() - t0, 2),
            "underserved_communities": list(district.underserved_codes),
            "underserved_community_names": _community_names(
                district.communities, district.underserved_codes
            ),
            "personal_withheld": guard.withheld(),
        }
    )
    guard.warn()
    timing["steps_s"] = figures["seconds"]
    return figures


def _community_names(communities: gpd.GeoDataFrame, codes: Sequence[str]) -> list[str]:
    """Return the names of the communities ``codes`` (the code where a name is missing)."""
    names = dict(zip(communities["community_code"], communities["name"], strict=True))
    return [str(names.get(c) or c) for c in codes]


def _demo_figures(cov: CoverageResults, grid: GridsResults, sites: SitingResults) -> dict[str, Any]:
    """Return the demo's headline figures of its three analyses."""
    summ = dict(zip(cov.raw.summary["metric"], cov.raw.summary["value"], strict=False))
    g = grid.raw.grids
    return {
        "coverage_15min": summ.get("coverage_15min"),
        "coverage_1km": summ.get("coverage_1km"),
        "uncovered_hh_15min": int(summ["households"]) - int(summ["covered_hh_15min"]),
        "gaps": summ.get("gaps"),
        "overloaded_facilities": summ.get("overloaded_facilities"),
        "grids": len(g),
        "grids_in_band_share": float(g["in_band"].mean()) if len(g) else float("nan"),
        "new_sites": len(sites.raw.sites),
        "coverage_15min_after": float(sites.raw.curve["coverage_share"].iloc[-1]),
    }
