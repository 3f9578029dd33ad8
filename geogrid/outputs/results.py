"""Reading the map layers of a results folder that a geogrid run wrote.

:func:`read_results` reads the layers the run wrote; :func:`read_context` draws what a
site-only folder lacks (walking network, existing facilities, coverage before and after the
new sites) from the inputs its ``run.json`` records, read through the same loaders as the run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from geogrid.errors import GeogridError, InputError
from geogrid.io.runfolder import TEMP_PREFIX, check_results_folder, file_sha256, read_manifest

logger = logging.getLogger(__name__)

__all__ = [
    "CONTEXT_KEYS",
    "LAYER_KEYS",
    "OSM_SUFFIXES",
    "RecordedRun",
    "read_context",
    "read_results",
    "recorded_run",
]

#: Layer keys the web map understands, bottom to top.
LAYER_KEYS: tuple[str, ...] = (
    "district",
    "streets",
    "communities",
    "grids",
    "service_areas",
    "service_areas_after",
    "demand",
    "gaps",
    "network_edges",
    "facilities",
    "sites",
)


def read_results(results_dir: str | os.PathLike[str]) -> dict[str, gpd.GeoDataFrame]:
    """Read the map layers of a results folder.

    Looks for GeoPackages in ``results_dir`` whose layers (or file stems) are layer keys
    (:data:`LAYER_KEYS`), and for ``<key>.geojson``, ``<key>.gpkg``, ``<key>.parquet`` or
    ``<key>.shp`` files. Temporary files of a run (``.geogrid-tmp-*``) are never read; a folder
    another geogrid run is writing is refused, and files that do not match the folder's
    ``run.json`` are named in a warning (see :func:`geogrid.io.runfolder.check_results_folder`).

    Returns
    -------
    dict of str to GeoDataFrame

    """
    import pyogrio

    folder = Path(results_dir)
    if not folder.is_dir():
        msg = f"results folder {str(folder)!r} does not exist; pass the folder an analysis wrote"
        raise InputError(msg)
    check_results_folder(folder)  # not while a run writes it; warn if it mixes runs
    out: dict[str, gpd.GeoDataFrame] = {}
    for gpkg in sorted(folder.glob("*.gpkg")):
        if gpkg.name.startswith(TEMP_PREFIX):
            continue  # a run's temporary file, never a result
        names = [str(n) for n in pyogrio.list_layers(gpkg)[:, 0]]
        for name in names:
            key = name if name in LAYER_KEYS else gpkg.stem if len(names) == 1 else None
            if key in LAYER_KEYS and key not in out:
                out[key] = gpd.read_file(gpkg, layer=name)
    for key in LAYER_KEYS:
        if key in out:
            continue
        for ext in (".geojson", ".parquet", ".shp"):
            path = folder / f"{key}{ext}"
            if path.exists():
                out[key] = gpd.read_parquet(path) if ext == ".parquet" else gpd.read_file(path)
                break
    if not out:
        msg = (
            f"no map layers in {str(folder)!r}; expected GeoPackage layers or files named "
            f"{', '.join(LAYER_KEYS)}"
        )
        raise InputError(msg)
    return out


#: Layers :func:`read_context` can add to a folder's own.
CONTEXT_KEYS: tuple[str, ...] = (
    "network_edges",
    "facilities",
    "service_areas",
    "service_areas_after",
    "communities",
)

#: Inputs of a run the context is read from (``run.json`` option names).
_CONTEXT_INPUTS = ("network", "demand", "facilities", "communities")

#: Endings of OpenStreetMap files (their data carries the ODbL credit on every map).
OSM_SUFFIXES: tuple[str, ...] = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")


@dataclass(frozen=True)
class RecordedRun:
    """What a results folder's ``run.json`` says about the run's inputs.

    Attributes
    ----------
    inputs : dict of str to str
        Option (``network``, ``facilities``...) -> file, as the run read it (absolute path plus
        any ``|layername=``), for the files unchanged since the run.
    parameters : dict
        The run's parameters (CRS, speed, target, type column...).
    unusable : dict of str to str
        Option -> ``"gone"`` or ``"changed"`` for recorded files that cannot be used again.
    osm : bool
        Some recorded input is an OpenStreetMap file (its maps owe OpenStreetMap its credit),
        whether or not the file is still there.

    """

    inputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)
    osm: bool = False


def recorded_run(results_dir: str | os.PathLike[str]) -> RecordedRun | None:
    """Read the inputs and parameters a folder's ``run.json`` records; None without one.

    This is the one reader of a run's recorded inputs: the web map's context
    (:func:`read_context`) and the report's (:func:`geogrid.outputs.publish.report_from_results`)
    both use it. A file is offered again only when it still exists and its SHA-256 is the
    one recorded.

    Examples
    --------
    >>> recorded_run("site_out").inputs["facilities"]  # doctest: +SKIP
    '/data/facilities.gpkg'

    """
    manifest = read_manifest(Path(results_dir))
    if manifest is None:
        return None
    records = manifest.get("inputs") or {}
    params = dict(manifest.get("parameters") or {})
    inputs: dict[str, str] = {}
    unusable: dict[str, str] = {}
    osm = False
    for key, record in records.items():
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            continue
        path = Path(record["path"])
        osm = osm or str(path).lower().endswith(OSM_SUFFIXES)
        if not path.is_file():
            unusable[key] = "gone"
            continue
        if record.get("sha256") and file_sha256(path) != record["sha256"]:
            unusable[key] = "changed"
            continue
        given = params.get(key)
        layer = given.split("|", 1)[1] if isinstance(given, str) and "|" in given else ""
        inputs[key] = str(path) + (f"|{layer}" if layer else "")
    return RecordedRun(inputs=inputs, parameters=params, unusable=unusable, osm=osm)


def _context_inputs(folder: Path) -> tuple[dict[str, str], dict[str, Any]] | None:
    """Return the run's context inputs and parameters, or None when they cannot be drawn."""
    run = recorded_run(folder)
    if run is None:
        return None
    for key in _CONTEXT_INPUTS:
        why = run.unusable.get(key)
        if why == "gone":
            logger.warning("map context: input %s is gone; not drawn", key)
            return None
        if why == "changed":
            logger.warning("map context: input %s changed since the run; not drawn", key)
            return None
    specs = {k: v for k, v in run.inputs.items() if k in _CONTEXT_INPUTS}
    if "network" not in specs or "demand" not in specs:
        return None
    return specs, run.parameters


def _sites_as_facilities(sites: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Return the proposed sites as new stations (ids ``site_<rank>``)."""
    pts = sites.to_crs(crs)
    ranks = pts["rank"] if "rank" in pts else range(1, len(pts) + 1)
    return gpd.GeoDataFrame(
        {
            "facility_id": [f"site_{r}" for r in ranks],
            "name": [f"site_{r}" for r in ranks],
            "type": "station",
        },
        geometry=pts.geometry.representative_point().to_numpy(),
        crs=crs,
    )


def read_context(
    results_dir: str | os.PathLike[str], layers: Mapping[str, gpd.GeoDataFrame]
) -> dict[str, gpd.GeoDataFrame]:
    """Context layers for a results folder that holds proposed sites but not their setting.

    When ``layers`` (the folder's own, from :func:`read_results`) has ``sites`` and lacks
    the existing facilities or service areas, the inputs recorded in the folder's
    ``run.json`` (network, demand, facilities, communities, with the run's CRS and speed
    options) are read again with :func:`geogrid.study.area.load_study`, and coverage is
    computed for the existing facilities (before) and with the sites added (after).

    Parameters
    ----------
    results_dir : path-like
        The results folder.
    layers : mapping of str to GeoDataFrame
        The layers already read from it (never replaced).

    Returns
    -------
    dict of str to GeoDataFrame
        ``network_edges``, ``facilities``, ``service_areas`` (before), ``service_areas_after``
        (the primary target with the new sites) and ``communities`` where missing; empty when
        the folder needs none or its inputs are not known, gone or changed (with a warning).

    Examples
    --------
    >>> layers = read_results("site_out")  # doctest: +SKIP
    >>> layers |= read_context("site_out", layers)  # doctest: +SKIP

    """
    if "sites" not in layers or {"facilities", "service_areas"} <= set(layers):
        return {}
    recorded = _context_inputs(Path(results_dir))
    if recorded is None:
        logger.info("map context: the run's inputs are not known; drawing its own layers only")
        return {}
    specs, params = recorded
    try:
        return _context_layers(specs, params, layers)
    except (GeogridError, ValueError, OSError) as exc:
        logger.warning("map context not drawn: %s", exc)
        return {}


def _context_layers(
    specs: Mapping[str, str], params: Mapping[str, Any], layers: Mapping[str, gpd.GeoDataFrame]
) -> dict[str, gpd.GeoDataFrame]:
    """Read the inputs and compute coverage before and after the sites."""
    import dataclasses

    import pandas as pd

    from geogrid.analyses.coverage.engine import run_coverage
    from geogrid.settings import DEFAULTS
    from geogrid.study.area import load_study

    speed = params.get("speed")
    settings = DEFAULTS if speed is None else dataclasses.replace(DEFAULTS, speed_kmh=float(speed))
    target = params.get("target") or settings.primary_target
    study = load_study(
        network=specs["network"],
        demand=specs["demand"],
        facilities=specs.get("facilities"),
        communities=specs.get("communities"),
        crs=params.get("crs"),
        demand_crs=params.get("demand_crs"),
        facilities_crs=params.get("facilities_crs"),
        settings=settings,
    )
    net = study.walk_network()
    out: dict[str, gpd.GeoDataFrame] = {"network_edges": net.edges}
    existing = study.facilities
    sites = _sites_as_facilities(layers["sites"], study.crs)
    after_fac = sites if existing is None else pd.concat([existing, sites], ignore_index=True)
    after = run_coverage(
        net,
        study.demand,
        gpd.GeoDataFrame(after_fac, crs=study.crs),
        targets=target,
        settings=settings,
        per_facility_areas=False,
    )
    out["service_areas_after"] = after.service_areas
    if existing is not None and len(existing):
        before = run_coverage(
            net,
            study.demand,
            existing,
            communities=study.communities,
            settings=settings,
            per_facility_areas=False,
        )
        out["facilities"] = before.facilities
        out["service_areas"] = before.service_areas
        if isinstance(before.communities, gpd.GeoDataFrame):
            out["communities"] = before.communities
    return {k: v for k, v in out.items() if k not in layers and v is not None and len(v)}
