"""Publishing a set of result layers: interactive and offline maps, workbook, PNG and summary.

:func:`publish` writes everything ``geogrid demo`` shows; :func:`write_run_report` and
:func:`report_from_results` write the report (ledger, summary page, map and coverage curve)
of any run, as ``geogrid report`` and ``coverage``/``grids``/``site`` do.

Personal fields never reach an output unless ``include_personal=True`` (see
:mod:`geogrid.outputs.privacy`); every file is written atomically.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geogrid.errors import InputError
from geogrid.outputs.markdown import write_summary
from geogrid.outputs.privacy import ExportGuard
from geogrid.outputs.results import OSM_SUFFIXES, RecordedRun, read_results, recorded_run
from geogrid.outputs.static_map import static_map
from geogrid.outputs.workbook import write_report
from geogrid.schema import check_lang
from geogrid.study.households import whole_numbers

log = logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- everything

#: What an output file stem may hold (no separators, no "..", nothing a shell would read).
_STEM = re.compile(r"[\w\-.\u4e00-\u9fff]{1,100}")


def publish(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "demo",
    tiles: str = "osm",
    lang: str = "zh",
    title: str | None = None,
    attribution: str | None = None,
    include_personal: bool = False,
) -> dict[str, Path]:
    """Write the map and report outputs of a run into ``out_dir``.

    Writes ``maps/<name>.html`` (``tiles`` basemap), ``maps/<name>_offline.html``
    (self-contained, blank basemap), ``maps/<name>.png`` (static map), ``report.xlsx`` and
    ``summary.md``. This is what ``geogrid demo`` ends with. A ``curve`` entry (the siting
    curve table) goes to the workbook and is drawn as ``maps/<name>_curve.png``
    (:func:`geogrid.outputs.curve.curve_png`), as ``geogrid report`` draws ``curve.png``.
    Household and person counts are whole numbers in every file.

    Returns
    -------
    dict of str to Path
        Keys ``map``, ``map_offline``, ``png``, ``report``, ``summary`` and, with a curve,
        ``curve``.

    """
    from geogrid.outputs.curve import curve_png
    from geogrid.outputs.webmap import build_map, save_map

    if not _STEM.fullmatch(str(name)) or str(name).startswith("."):
        msg = (
            f"output name {name!r} is not a plain file name; pass letters, digits, Chinese "
            "characters, '_', '-' or '.' (e.g. name='demo')"
        )
        raise InputError(msg)
    folder = Path(out_dir)
    maps_dir = folder / "maps"
    common = {
        "lang": lang,
        "title": title,
        "attribution": attribution,
        "include_personal": include_personal,
    }
    report_layers = {k: whole_numbers(v) for k, v in layers.items()}
    curve = report_layers.get("curve")
    layers = {k: v for k, v in report_layers.items() if k != "curve"}  # curve: workbook, PNG
    out: dict[str, Path] = {}
    out["map"] = save_map(build_map(layers, tiles=tiles, **common), maps_dir / f"{name}.html")
    out["map_offline"] = save_map(
        build_map(layers, tiles="none", **common),
        maps_dir / f"{name}_offline.html",
        offline=True,
    )
    out["png"] = static_map(
        layers, maps_dir / f"{name}.png", lang=lang, title=title, include_personal=include_personal
    )
    out["report"] = write_report(
        report_layers,
        folder / "report.xlsx",
        lang=lang,
        title=title,
        include_personal=include_personal,
    )
    out["summary"] = write_summary(
        layers, folder / "summary.md", lang=lang, title=title, include_personal=include_personal
    )
    if curve is not None and len(curve):
        out["curve"] = curve_png(curve, maps_dir / f"{name}_curve.png", lang=lang)
    return out


# --------------------------------------------------------------------------- a run's report

#: Files :func:`write_run_report` writes, relative to its folder (``curve.png`` only when
#: the results hold a siting curve).
REPORT_FILES: tuple[str, ...] = ("report.xlsx", "summary.md", "map.png", "curve.png")


def read_curve(results_dir: str | os.PathLike[str]) -> pd.DataFrame | None:
    """Return the siting curve of a results folder, or None when it holds no siting results.

    Reads ``siting_curve.csv``, else the ``curve`` table of ``siting.gpkg``.
    """
    import pyogrio

    folder = Path(results_dir)
    csv = folder / "siting_curve.csv"
    if csv.is_file():
        return pd.read_csv(csv, encoding="utf-8-sig")
    gpkg = folder / "siting.gpkg"
    if gpkg.is_file() and "curve" in {str(n) for n in pyogrio.list_layers(gpkg)[:, 0]}:
        return pd.DataFrame(pyogrio.read_dataframe(gpkg, layer="curve", read_geometry=False))
    return None


def input_context(
    inputs: Mapping[str, Any], parameters: Mapping[str, Any], layers: Mapping[str, Any]
) -> dict[str, gpd.GeoDataFrame]:
    """Existing facilities and community outlines from a run's input files, for its map.

    A site-only results folder holds the new sites but not the centres and stations already
    there; when the run's ``--facilities`` (and ``--communities``) files are known (``inputs``,
    option -> path, as in ``run.json``) and ``layers`` lack them, they are read again
    (``parameters`` give their coordinate systems and type column) so that the map shows the
    proposed sites among them. Only what is drawn is kept (type and geometry; outlines), so no
    other column of a user file reaches the report. A file that cannot be read is left out
    (logged).

    Returns
    -------
    dict of str to GeoDataFrame
        ``facilities`` and/or ``communities``, only those missing from ``layers``.

    """
    from geogrid.io.readers import read_layer
    from geogrid.study.facilities import prepare_facilities

    def has(key: str) -> bool:
        return isinstance(layers.get(key), gpd.GeoDataFrame) and layers[key].crs is not None

    out: dict[str, gpd.GeoDataFrame] = {}
    crs = parameters.get("crs")
    fac = inputs.get("facilities")
    if fac and not has("facilities"):
        try:
            raw = read_layer(fac, crs=parameters.get("facilities_crs") or crs)
            fac_layer = prepare_facilities(
                raw,
                type_column=parameters.get("facility_type_column"),
                default_type=parameters.get("facility_type"),
            )
            out["facilities"] = fac_layer[["type", fac_layer.geometry.name]]  # what is drawn
        except (ValueError, OSError) as exc:
            logger.info("facilities %s are not drawn on the report map (%s)", fac, exc)
    com = inputs.get("communities")
    if com and not has("communities"):
        try:
            com_layer = read_layer(com, crs=crs)
            out["communities"] = com_layer[[com_layer.geometry.name]]  # outlines only
        except (ValueError, OSError) as exc:
            logger.info("communities %s are not drawn on the report map (%s)", com, exc)
    return out


def used_osm(results_dir: str | os.PathLike[str]) -> bool:
    """Tell whether a folder's ``run.json`` records an OpenStreetMap file among its inputs.

    The recorded name is enough (the file may have moved since): its data are in the results,
    so their maps owe OpenStreetMap its credit.
    """
    run = recorded_run(results_dir)
    return run is not None and run.osm


def _osm_sourced(layers: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Return copies of the layers marked as OpenStreetMap data (the static map credits it)."""
    out = {}
    for key, layer in layers.items():
        marked = layer.copy()
        marked.attrs["source"] = "osm"
        out[key] = marked
    return out


def _geo_layers(layers: Mapping[str, pd.DataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """Return the layers with plain tables (e.g. communities without outlines) as GeoDataFrames."""
    out = {}
    for key, layer in layers.items():
        if isinstance(layer, gpd.GeoDataFrame):
            out[key] = layer
        else:
            out[key] = gpd.GeoDataFrame(
                layer, geometry=gpd.GeoSeries([None] * len(layer), index=layer.index)
            )
    return out


def write_run_report(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | os.PathLike[str],
    *,
    curve: pd.DataFrame | None = None,
    context: Mapping[str, gpd.GeoDataFrame] | None = None,
    lang: str = "zh",
    title: str | None = None,
    guard: ExportGuard | None = None,
) -> dict[str, Path]:
    """Write a run's report into ``out_dir``: ledger, summary page, map and coverage curve.

    ``context`` layers (e.g. :func:`input_context`) are drawn on the map only, under the
    results.

    Writes ``report.xlsx`` (:func:`write_report`), ``summary.md`` (:func:`write_summary`),
    ``map.png`` (:func:`static_map`) and, when ``curve`` (a siting curve) is given,
    ``curve.png`` (:func:`geogrid.outputs.curve.curve_png`). Every layer passes through
    ``guard`` first (default: a new :class:`ExportGuard`, which withholds personal data); every
    file is written atomically, and the same layers give the same bytes.

    Returns
    -------
    dict of str to Path
        Keys ``report``, ``summary``, ``png`` and, with a curve, ``curve``.

    """
    from geogrid.outputs.curve import curve_png

    check_lang(lang)
    guard = ExportGuard() if guard is None else guard
    safe = guard.protect_layers(_geo_layers(layers), where="report")  # whole numbers too
    common: dict[str, Any] = {
        "lang": lang,
        "title": title,
        "include_personal": guard.include_personal,
    }
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "report": write_report(safe, folder / "report.xlsx", **common),
        "summary": write_summary(safe, folder / "summary.md", **common),
        "png": static_map(
            {**guard.protect_layers(dict(context or {}), where="map.png"), **safe},
            folder / "map.png",
            **common,
        ),
    }
    if curve is not None and len(curve):
        out["curve"] = curve_png(curve, folder / "curve.png", lang=lang)
    return out


def report_from_results(
    results_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    lang: str = "zh",
    title: str | None = None,
    guard: ExportGuard | None = None,
    inputs: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the report of any results folder (coverage, grids, site, demo or a batch area).

    Reads the folder's layers (:func:`geogrid.outputs.results.read_results`) and siting curve
    (:func:`read_curve`), then writes :func:`write_run_report` into ``out_dir``. The map also
    shows the existing facilities and community outlines from the run's input files
    (:func:`input_context`): ``inputs`` and ``parameters``, by default those the folder's
    ``run.json`` records (files changed since the run are not used).
    """
    layers = read_results(results_dir)
    run = recorded_run(results_dir) or RecordedRun()
    if inputs is None:
        inputs = run.inputs
        parameters = run.parameters if parameters is None else parameters
    context = input_context(inputs, parameters or {}, layers)
    osm_inputs = any(str(p).lower().endswith(OSM_SUFFIXES) for p in inputs.values())
    if osm_inputs or run.osm:
        layers = _osm_sourced(layers)  # read back from files, the layers lost their source
    return write_run_report(
        layers,
        out_dir,
        curve=read_curve(results_dir),
        context=context,
        lang=lang,
        title=title,
        guard=guard,
    )
