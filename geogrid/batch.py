"""Many study areas at once on dask.distributed: ``geogrid batch``.

Two ways in:

- a manifest CSV (:func:`read_area_manifest`), one row per study area with the columns
  ``id, name, network, demand, facilities, communities`` (paths relative to the manifest) and
  optionally ``residential``, ``boundary``, ``crs``, ``speed``, ``targets``, ``k``;
- a region split (:func:`split_region`): one OpenStreetMap extract plus a boundary layer
  (districts, streets) gives one study area per boundary, cut with a buffer so that residents
  near a border still reach facilities across it (only the area's own residents are counted).

:func:`run_many` runs each area as one Dask task (study, coverage, grids, siting, maps and
report, in that order, through the same pipeline functions as ``geogrid coverage``/``grids``/
``site``) on a :class:`distributed.LocalCluster` of worker processes with a memory limit per
worker, or on an existing cluster by its scheduler address. Each area is written into
``OUT/<id>/`` as one :class:`geogrid._runfolder.RunFolder` (staged, locked, ``run.json``).
An area whose ``run.json`` matches its inputs and parameters is skipped (resume). One area's
failure is recorded with its one-line error and the others go on; a worker that dies is
replaced and the area retried until it has killed ``allowed_failures + 1`` workers, when it is
marked failed (distributed's ``KilledWorker``).

The combined outputs are ``batch_summary.csv`` (one row per area, ranked by 15-minute
coverage), ``batch.xlsx`` and ``batch.gpkg`` (areas, streets, communities) and the offline
overview map ``batch_overview.html`` (areas coloured by 15-minute coverage, each linking to the
area's own offline map).

dask.distributed is an optional dependency (``pip install "geogrid[batch]"``); it is imported
only when a batch runs.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import GeogridError, InputError
from geogrid.io.runfolder import RunFolder, check_output_folder, file_sha256, hash_inputs
from geogrid.io.runfolder import read_manifest as read_run_manifest

__all__ = [
    "AREA_COMMAND",
    "AreaSpec",
    "BatchResult",
    "area_outputs",
    "read_area_manifest",
    "run_area",
    "run_many",
    "split_region",
]

log = logging.getLogger(__name__)

#: The ``command`` recorded in each area's ``run.json``.
AREA_COMMAND = "batch-area"
#: Combined outputs written into the batch folder.
COMBINED = ("batch_summary.csv", "batch.xlsx", "batch.gpkg", "batch_overview.html")
#: Name of each area's own maps (``maps/area.html``, ``maps/area_offline.html``).
MAP_NAME = "area"

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_RESERVED_IDS = {"split"} | (
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
_REQUIRED = ("id", "name", "network", "demand", "facilities", "communities")
_PATHS = ("network", "demand", "facilities", "communities", "residential", "boundary")
_OPTIONAL = ("residential", "boundary", "crs", "speed", "targets", "k")
_DEFAULT_K = 3


# --------------------------------------------------------------------------- areas


@dataclasses.dataclass(frozen=True)
class AreaSpec:
    """One study area of a batch.

    Attributes
    ----------
    id : str
        Folder name of the area's results (letters, digits, ``_``, ``-``; at most 64).
    name : str
        Name shown in maps and tables (any text; data, never a path or template).
    network, demand : str
        Walking network and demand files (absolute paths).
    facilities, communities, residential : str or None
        Facility, community and residential-compound files.
    boundary : str or None
        The area's own boundary (a region split writes it): only residents inside it are
        counted, facilities outside it serve them across the border.
    crs : str or None
        Coordinate system of layers that have none (CSV, Excel).
    speed : float or None
        Walking speed in km/h (default 4).
    targets : str or None
        Coverage targets, e.g. ``"5min,10min,15min,1km"``.
    k : int
        New stations to site (0 skips siting).

    """

    id: str
    name: str
    network: str
    demand: str
    facilities: str | None = None
    communities: str | None = None
    residential: str | None = None
    boundary: str | None = None
    crs: str | None = None
    speed: float | None = None
    targets: str | None = None
    k: int = _DEFAULT_K

    def inputs(self) -> dict[str, str | None]:
        """Input option -> file, as hashed into ``run.json``."""
        return {k: getattr(self, k) for k in _PATHS}

    def parameters(self, *, maps: bool, lang: str) -> dict[str, Any]:
        """Parameters recorded in ``run.json`` (a re-run with other ones is not skipped)."""
        return {
            "id": self.id,
            "name": self.name,
            "crs": self.crs,
            "speed": self.speed,
            "targets": self.targets,
            "k": self.k,
            "maps": maps,
            "lang": lang,
        }


def check_area_id(value: str, where: str) -> str:
    """Return ``value`` when it is a safe folder name, else raise naming the fix."""
    text = str(value).strip()
    if not _ID_RE.fullmatch(text) or text.lower() in _RESERVED_IDS:
        msg = (
            f"{where}: id {text[:40]!r} is not a safe folder name; use 1-64 letters, digits, "
            "'_' or '-', starting with a letter or digit (e.g. xuanwu_01)"
        )
        raise InputError(msg)
    return text


def _cell(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _path_cell(row: Mapping[str, Any], key: str, base: Path, where: str) -> str | None:
    text = _cell(row, key)
    if text is None:
        return None
    p = Path(text.split("|", 1)[0])
    p = p if p.is_absolute() else base / p
    if not p.exists():
        msg = f"{where}: {key} file {str(p)!r} does not exist; fix the path (relative to the manifest)"
        raise InputError(msg)
    return str(p.resolve())


def _number_cell(row: Mapping[str, Any], key: str, where: str, *, integer: bool) -> Any:
    text = _cell(row, key)
    if text is None:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < 0 or (key == "speed" and value == 0):
        kind = "a whole number >= 0, e.g. 3" if integer else "a positive number, e.g. 4.5"
        msg = f"{where}: {key} {text[:20]!r} is not {kind}; fix the cell"
        raise InputError(msg)
    return value


def _check_speed_targets(row: Mapping[str, Any], where: str) -> None:
    """Refuse an implausible walking speed or target, naming the row."""
    from geogrid.settings import check_plausible, parse_targets

    speed = _number_cell(row, "speed", where, integer=False)
    spec = _cell(row, "targets")
    try:
        check_plausible(speed_kmh=speed, targets=parse_targets(spec) if spec else ())
    except GeogridError as exc:
        msg = f"{where}: {exc}"
        raise InputError(msg) from exc


def area_from_row(row: Mapping[str, Any], base: Path, where: str) -> AreaSpec:
    """Check one manifest row and return its :class:`AreaSpec`."""
    aid = check_area_id(_cell(row, "id") or "", where)
    where = f"{where} (id {aid})"
    for key in ("network", "demand"):
        if _cell(row, key) is None:
            msg = f"{where}: the {key} cell is empty; give the {key} file of this area"
            raise InputError(msg)
    k = _number_cell(row, "k", where, integer=True)
    _check_speed_targets(row, where)
    return AreaSpec(
        id=aid,
        name=_cell(row, "name") or aid,
        network=_path_cell(row, "network", base, where) or "",
        demand=_path_cell(row, "demand", base, where) or "",
        facilities=_path_cell(row, "facilities", base, where),
        communities=_path_cell(row, "communities", base, where),
        residential=_path_cell(row, "residential", base, where),
        boundary=_path_cell(row, "boundary", base, where),
        crs=_cell(row, "crs"),
        speed=_number_cell(row, "speed", where, integer=False),
        targets=_cell(row, "targets"),
        k=_DEFAULT_K if k is None else int(k),
    )


def read_area_manifest(path: str | os.PathLike[str]) -> list[AreaSpec]:
    """Read and check a batch manifest CSV; every problem is a one-line error naming the row.

    Raises
    ------
    InputError
        Missing file or column, an unknown column, an unsafe or repeated id, a missing input
        file, or a bad number.

    """
    p = Path(path)
    if not p.is_file():
        msg = f"manifest {str(p)!r} does not exist; pass the CSV with one row per study area"
        raise InputError(msg)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"manifest {p.name!r} is not UTF-8 text; save it as CSV UTF-8"
        raise InputError(msg) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [str(c).strip() for c in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        msg = f"manifest {p.name!r} lacks column(s) {', '.join(missing)}; the header needs {', '.join(_REQUIRED)}"
        raise InputError(msg)
    unknown = [c for c in columns if c not in (*_REQUIRED, *_OPTIONAL)]
    if unknown:
        msg = f"manifest {p.name!r} has unknown column(s) {', '.join(unknown)[:80]}; allowed: {', '.join((*_REQUIRED, *_OPTIONAL))}"
        raise InputError(msg)
    areas: list[AreaSpec] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(reader, start=2):
        row = {str(k).strip(): v for k, v in raw.items() if k is not None}
        if not any(_cell(row, c) for c in columns):
            continue
        where = f"manifest {p.name} line {i}"
        spec = area_from_row(row, p.parent, where)
        key = spec.id.lower()
        if key in seen:
            msg = f"{where}: id {spec.id!r} repeats line {seen[key]}; give each area its own id"
            raise InputError(msg)
        seen[key] = i
        areas.append(spec)
    if not areas:
        msg = f"manifest {p.name!r} has no rows; add one row per study area"
        raise InputError(msg)
    return areas


# --------------------------------------------------------------------------- one area


def area_outputs(spec: AreaSpec, *, maps: bool = True) -> list[str]:
    """Files an area's folder holds (besides ``run.json``)."""
    names = ["coverage.gpkg", "summary.csv", "grids.gpkg", "grids_quality.csv"]
    if spec.k > 0:
        names += ["siting.gpkg", "siting_curve.csv"]
    if maps:
        names += [f"maps/{MAP_NAME}.html", f"maps/{MAP_NAME}_offline.html", f"maps/{MAP_NAME}.png"]
        names += ["report.xlsx", "summary.md"]
        if spec.k > 0:  # the siting curve, drawn beside the maps
            names += [f"maps/{MAP_NAME}_curve.png"]
    return names


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, GeogridError):
        text = f"{type(exc).__name__}: {text}"
    return text[:300]


def _boundary(path: str | None, crs: Any) -> Any:
    if path is None:
        return None
    from geogrid.io.readers import read_layer

    layer = read_layer(path).to_crs(crs)
    return layer.geometry.union_all()


def _compute_area(spec: AreaSpec, folder: Path, *, maps: bool, lang: str) -> dict[str, Any]:
    """Run study, coverage, grids, siting and report of one area into ``folder``."""
    from dataclasses import replace

    from geogrid.api import coverage, grids, report, site
    from geogrid.outputs.privacy import ExportGuard
    from geogrid.settings import DEFAULTS
    from geogrid.study.area import load_study

    guard = ExportGuard()  # personal data withheld, as the single-area commands do

    settings = DEFAULTS if spec.speed is None else replace(DEFAULTS, speed_kmh=spec.speed)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    study = load_study(
        network=spec.network,
        demand=spec.demand,
        facilities=spec.facilities,
        communities=spec.communities,
        crs=spec.crs,
        residential=spec.residential,
        settings=settings,
    )
    own = _boundary(spec.boundary, study.crs)
    if own is not None:  # only the area's own residents are counted
        inside = study.demand.representative_point().within(own)
        study.demand = study.demand[inside.to_numpy()].reset_index(drop=True)
        if len(study.demand) == 0:
            msg = f"no residents inside the boundary of area {spec.id}; check the boundary layer"
            raise InputError(msg)
    if study.facilities is None or len(study.facilities) == 0:
        msg = "no facilities in this area; give a facilities file with centres or stations"
        raise InputError(msg)
    timings["study"] = time.perf_counter() - t
    t = time.perf_counter()
    cov = coverage(study, targets=spec.targets, settings=settings)
    cov.write_files(folder, guard, demand_tables=False)
    timings["coverage"] = time.perf_counter() - t
    t = time.perf_counter()
    grid = grids(study, coverage=cov, residential_only=False, settings=settings)
    guard.write_layers(folder / "grids.gpkg", {"grids": grid.grids})
    guard.write_table(grid.quality, folder / "grids_quality.csv")
    timings["grids"] = time.perf_counter() - t
    results: list[Any] = [cov, grid]
    if spec.k > 0:
        t = time.perf_counter()
        sites = site(study, k=spec.k, coverage=cov, settings=settings)
        sites.write_files(folder, guard, plot=False, demand_tables=False)
        results.append(sites)
        timings["siting"] = time.perf_counter() - t
    if maps:
        t = time.perf_counter()
        report(
            results,
            folder,
            name=MAP_NAME,
            tiles="none",
            lang=lang,
            title=spec.name,
            network=False,  # as before: an area's maps show no street network
        )
        timings["maps_report"] = time.perf_counter() - t
    return {k: round(v, 3) for k, v in timings.items()}


def run_area(
    spec: AreaSpec, out: str | os.PathLike[str], *, maps: bool = True, lang: str = "zh"
) -> dict[str, Any]:
    """Run one area into ``out/<id>/`` (one Dask task); never raises for a bad area.

    Returns
    -------
    dict
        ``id``, ``status`` (``"done"`` or ``"failed"``), ``error`` (one line), ``seconds``
        and the worker's pid.

    """
    t0 = time.perf_counter()
    folder = Path(out) / spec.id
    row: dict[str, Any] = {"id": spec.id, "status": "done", "error": "", "pid": os.getpid()}
    try:
        with RunFolder(
            folder,
            command=AREA_COMMAND,
            parameters=spec.parameters(maps=maps, lang=lang),
            inputs=spec.inputs(),
            planned=area_outputs(spec, maps=maps),
        ) as run:
            run.timing["steps_s"] = _compute_area(spec, run.stage, maps=maps, lang=lang)
    except Exception as exc:  # noqa: BLE001 - a bad area is recorded, not retried
        log.info("area %s failed: %s", spec.id, _one_line(exc))
        row.update(status="failed", error=_one_line(exc))
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def is_finished(spec: AreaSpec, out: str | os.PathLike[str], *, maps: bool, lang: str) -> bool:
    """Whether ``out/<id>/run.json`` records this area's inputs and parameters, outputs intact."""
    folder = Path(out) / spec.id
    manifest = read_run_manifest(folder)
    if manifest is None or manifest.get("command") != AREA_COMMAND:
        return False
    if manifest.get("parameters") != json.loads(json.dumps(spec.parameters(maps=maps, lang=lang))):
        return False
    recorded = manifest.get("inputs") or {}
    now = hash_inputs({k: v for k, v in spec.inputs().items() if v is not None})
    if {k: v["sha256"] for k, v in now.items()} != {
        k: v.get("sha256") for k, v in recorded.items()
    }:
        return False
    outputs = manifest.get("outputs") or {}
    for name in area_outputs(spec, maps=maps):
        rec = outputs.get(name)
        path = folder / name
        if rec is None or not path.is_file() or file_sha256(path) != rec.get("sha256"):
            return False
    return True


# --------------------------------------------------------------------------- figures of an area


def _summary_values(folder: Path) -> dict[str, float]:
    table = pd.read_csv(folder / "summary.csv", encoding="utf-8-sig")
    return {str(m): float(v) for m, v in zip(table["metric"], table["value"], strict=False)}


def _across_border(spec: AreaSpec, folder: Path) -> float | None:
    """Own households covered within 15 min whose nearest facility lies outside the boundary."""
    if spec.boundary is None:
        return None
    dem = gpd.read_file(folder / "coverage.gpkg", layer="demand")
    fac = gpd.read_file(folder / "coverage.gpkg", layer="facilities")
    own = _boundary(spec.boundary, fac.crs)
    outside = set(fac.loc[~fac.geometry.within(own).to_numpy(), "facility_id"].astype(str))
    served = dem["within_15min"].astype(bool) & dem["nearest_id"].astype(str).isin(outside)
    return _whole(float(dem.loc[served.to_numpy(), "households"].sum()))


def _whole(value: float) -> int | float:
    """Whole households or people (people read whole numbers); NaN stays NaN."""
    return int(round(value)) if math.isfinite(value) else float("nan")


def area_figures(spec: AreaSpec, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Headline figures of a finished area, read back from its folder."""
    import pyogrio

    folder = Path(out) / spec.id
    s = _summary_values(folder)
    hh = s.get("households", float("nan"))
    row: dict[str, Any] = {
        "households": _whole(hh),
        "population": _whole(s.get("population", float("nan"))),
        "facilities": int(s.get("facilities", 0)),
        "coverage_15min": s.get("coverage_15min"),
        "coverage_1km": s.get("coverage_1km"),
        "uncovered_hh_15min": _whole(hh - s.get("covered_hh_15min", float("nan"))),
        "grids": int(pyogrio.read_info(folder / "grids.gpkg", layer="grids")["features"]),
    }
    if spec.k > 0:
        curve = pd.read_csv(folder / "siting_curve.csv", encoding="utf-8-sig")
        row["new_sites"] = int(curve["n_new_sites"].max())
        row["coverage_15min_after"] = round(float(curve["coverage_share"].iloc[-1]), 4)
    across = _across_border(spec, folder)
    if across is not None:
        row["served_across_border_hh"] = across
    return row


def _area_shape(spec: AreaSpec, folder: Path) -> Any:
    """Return the area's outline in WGS84: its boundary, its communities, or its residents' hull."""
    import pyogrio

    if spec.boundary is not None:
        return _boundary(spec.boundary, "EPSG:4326")
    layers = set(pyogrio.list_layers(folder / "coverage.gpkg")[:, 0])
    if "communities" in layers:
        com = gpd.read_file(folder / "coverage.gpkg", layer="communities")
        return com.to_crs("EPSG:4326").geometry.union_all()
    dem = gpd.read_file(folder / "coverage.gpkg", layer="demand", columns=[])
    return dem.to_crs("EPSG:4326").geometry.union_all().convex_hull


# --------------------------------------------------------------------------- running many


@dataclasses.dataclass
class BatchResult:
    """What :func:`run_many` did.

    Attributes
    ----------
    summary : DataFrame
        ``batch_summary.csv``: one row per area, ranked by 15-minute coverage.
    out : Path
        The batch folder.
    dashboard : str or None
        The Dask dashboard address while the batch ran (None without bokeh).

    """

    summary: pd.DataFrame
    out: Path
    dashboard: str | None = None

    @property
    def failed(self) -> int:
        """Number of areas that failed."""
        return int((self.summary["status"] == "failed").sum())

    @property
    def skipped(self) -> int:
        """Number of areas skipped because their folder already matched."""
        return int((self.summary["status"] == "skipped").sum())


def _check_memory_limit(limit: str | int) -> None:
    """Refuse a memory limit Dask cannot read (before any work)."""
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        return
    if limit == "auto":
        return
    try:
        from dask.utils import parse_bytes

        ok = parse_bytes(str(limit)) > 0
    except ImportError as exc:
        msg = 'geogrid batch needs dask.distributed; install it with pip install "geogrid[batch]"'
        raise InputError(msg) from exc
    except (ValueError, TypeError):
        ok = False
    if not ok:
        msg = f"memory limit {str(limit)[:30]!r} is not a size; pass e.g. 2GiB, 4GB or auto"
        raise InputError(msg)


def _dashboard_address() -> str | None:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    return ":0"


@contextlib.contextmanager
def _client(
    scheduler: str | None,
    *,
    n_workers: int,
    memory_limit: str | int,
    threads_per_worker: int,
    allowed_failures: int,
) -> Iterator[Any]:
    """Yield a dask.distributed client: on a new LocalCluster, or on the scheduler at an address."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        msg = 'geogrid batch needs dask.distributed; install it with pip install "geogrid[batch]"'
        raise InputError(msg) from exc
    if scheduler is not None:
        if not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://\S+", scheduler):
            msg = f"--scheduler {scheduler[:60]!r} is not a scheduler address; pass e.g. tcp://host:8786"
            raise InputError(msg)
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            msg = f"cannot reach the Dask scheduler at {scheduler} ({_one_line(exc)}); check the address and that it runs"
            raise InputError(msg) from exc
        with client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=_dashboard_address(),
        )
    with cluster, Client(cluster) as client:
        yield client


def _collect(
    client: Any,
    todo: Sequence[AreaSpec],
    out: Path,
    *,
    maps: bool,
    lang: str,
    retries: int,
    progress: bool,
    done: int,
    total: int,
) -> dict[str, dict[str, Any]]:
    """Submit one task per area; gather each area's row as it completes (progress by areas)."""
    import uuid

    from distributed import as_completed
    from tqdm import tqdm

    token = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            run_area,
            spec,
            str(out),
            maps=maps,
            lang=lang,
            key=f"geogrid-area-{spec.id}-{token}",
            pure=False,
            retries=retries,
        ): spec
        for spec in todo
    }
    rows: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=total, initial=done, unit="area", desc="areas", disable=not progress)
    with bar:
        for fut in as_completed(list(futures)):
            spec = futures[fut]
            rows[spec.id] = _row_of(fut, spec)
            bar.update(1)
    return rows


def _row_of(fut: Any, spec: AreaSpec) -> dict[str, Any]:
    from distributed import KilledWorker

    try:
        return dict(fut.result())
    except KilledWorker:
        err = (
            "killed its worker repeatedly (out of memory or a crash); give workers more "
            "memory (--memory-limit) or split the area"
        )
    except Exception as exc:  # noqa: BLE001 - any task error becomes this area's one line
        err = _one_line(exc)
    return {"id": spec.id, "status": "failed", "error": err}


def _as_specs(areas: str | os.PathLike[str] | Iterable[AreaSpec]) -> tuple[list[AreaSpec], Any]:
    if isinstance(areas, str | os.PathLike):
        return read_area_manifest(areas), areas
    specs = list(areas)
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, AreaSpec):
            msg = f"areas must be AreaSpec objects or a manifest path, got {type(spec).__name__}"
            raise InputError(msg)
        check_area_id(spec.id, "area")
        if spec.id.lower() in seen:
            msg = f"area id {spec.id!r} repeats; give each area its own id"
            raise InputError(msg)
        seen.add(spec.id.lower())
    if not specs:
        msg = "no areas given; pass a manifest or a list of AreaSpec"
        raise InputError(msg)
    return specs, None


def run_many(
    areas: str | os.PathLike[str] | Iterable[AreaSpec],
    out: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    memory_limit: str | int = "2GiB",
    threads_per_worker: int = 1,
    retries: int = 1,
    allowed_failures: int = 2,
    maps: bool = True,
    lang: str = "zh",
    resume: bool = True,
    progress: bool = False,
    title: str | None = None,
    on_dashboard: Any = None,
) -> BatchResult:
    """Run many study areas as Dask tasks; write each into ``out/<id>/`` and the combined files.

    Parameters
    ----------
    areas : path or iterable of AreaSpec
        A manifest CSV (see :func:`read_area_manifest`) or the areas themselves.
    out : path-like
        The batch folder.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default: a new
        :class:`distributed.LocalCluster` of ``n_workers`` processes.
    n_workers, threads_per_worker : int
        Size of the local cluster (ignored with ``scheduler``).
    memory_limit : str or int
        Memory limit per local worker (e.g. ``"2GiB"``); the nanny restarts a worker that
        goes above 95% of it, and its area is retried elsewhere.
    retries : int
        Times Dask retries an area whose task raised (a bad area never raises: it is recorded).
    allowed_failures : int
        Workers an area may kill before it is marked failed (local cluster; a remote
        scheduler uses its own ``distributed.scheduler.allowed-failures``).
    maps : bool
        Write each area's maps and report (and the overview map).
    lang : {"zh", "en"}
        Language of maps, reports and the combined workbook.
    resume : bool
        Skip areas whose folder's ``run.json`` matches their inputs and parameters.
    progress : bool
        Show a progress bar by areas (tqdm, on stderr).
    title : str, optional
        Title of the overview map.
    on_dashboard : callable, optional
        Called with the dashboard address, or None when no dashboard runs, before the areas
        start.

    Returns
    -------
    BatchResult

    Examples
    --------
    >>> res = run_many("areas.csv", "batch_out", n_workers=2, memory_limit="2GiB")  # doctest: +SKIP
    >>> res.failed, list(res.summary.columns)[:2]  # doctest: +SKIP
    (0, ['rank', 'id'])

    """
    from geogrid.schema import check_lang

    check_lang(lang)
    specs, manifest = _as_specs(areas)
    for name, value, lo in (
        ("n_workers", n_workers, 1),
        ("threads_per_worker", threads_per_worker, 1),
        ("retries", retries, 0),
        ("allowed_failures", allowed_failures, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            msg = f"{name}={value!r}; pass a whole number >= {lo}"
            raise InputError(msg)
    _check_memory_limit(memory_limit)
    target = check_output_folder(out)
    params = {
        "areas": [s.id for s in specs],
        "maps": maps,
        "lang": lang,
        "title": title,
    }
    inputs = {"manifest": manifest} if manifest is not None else {}
    dashboard = None
    with RunFolder(
        target, command="batch", parameters=params, inputs=inputs, planned=COMBINED
    ) as run:
        rows: dict[str, dict[str, Any]] = {}
        todo = []
        for spec in specs:
            if resume and is_finished(spec, target, maps=maps, lang=lang):
                timing = (read_run_manifest(target / spec.id) or {}).get("timing") or {}
                rows[spec.id] = {
                    "id": spec.id,
                    "status": "skipped",
                    "error": "",
                    "seconds": timing.get("duration_s"),
                }
            else:
                todo.append(spec)
        log.info("%d areas, %d already finished, %d to run", len(specs), len(rows), len(todo))
        t0 = time.perf_counter()
        if todo:
            with _client(
                scheduler,
                n_workers=n_workers,
                memory_limit=memory_limit,
                threads_per_worker=threads_per_worker,
                allowed_failures=allowed_failures,
            ) as client:
                # a remote scheduler's link is given as is (the client cannot tell whether
                # it serves the bokeh pages); a local one has them only with bokeh installed
                dashboard = client.dashboard_link if scheduler or _dashboard_address() else None
                if on_dashboard is not None:
                    on_dashboard(dashboard)
                rows.update(
                    _collect(
                        client,
                        todo,
                        target,
                        maps=maps,
                        lang=lang,
                        retries=retries,
                        progress=progress,
                        done=len(specs) - len(todo),
                        total=len(specs),
                    )
                )
        run.timing["areas_s"] = round(time.perf_counter() - t0, 3)
        summary, shapes = _summary_table(specs, rows, target)
        _write_combined(
            run.stage, specs, summary, shapes, target, maps=maps, lang=lang, title=title
        )
    return BatchResult(summary=summary, out=target, dashboard=dashboard)


# --------------------------------------------------------------------------- combined outputs

_SUMMARY_COLUMNS = (
    "rank",
    "id",
    "name",
    "status",
    "error",
    "households",
    "population",
    "facilities",
    "coverage_15min",
    "coverage_1km",
    "uncovered_hh_15min",
    "served_across_border_hh",
    "grids",
    "new_sites",
    "coverage_15min_after",
    "seconds",
)


def _summary_table(
    specs: Sequence[AreaSpec], rows: Mapping[str, Mapping[str, Any]], out: Path
) -> tuple[pd.DataFrame, dict[str, Any]]:
    records = []
    shapes: dict[str, Any] = {}
    for spec in specs:
        row: dict[str, Any] = {"id": spec.id, "name": spec.name, **rows.get(spec.id, {})}
        row.pop("pid", None)
        if row.get("status") in {"done", "skipped"}:
            try:
                row.update(area_figures(spec, out))
                shapes[spec.id] = _area_shape(spec, out / spec.id)
            except (OSError, ValueError, KeyError) as exc:
                row.update(status="failed", error=f"results unreadable: {_one_line(exc)}")
        records.append(row)
    table = pd.DataFrame.from_records(records)
    for col in _SUMMARY_COLUMNS:
        if col not in table:
            table[col] = np.nan
    cov = pd.to_numeric(table["coverage_15min"], errors="coerce")
    ok = table["status"].isin(["done", "skipped"]) & cov.notna()
    order = table.assign(_c=cov.where(ok)).sort_values(
        ["_c", "id"], ascending=[False, True], na_position="last", kind="stable"
    )
    table = order.drop(columns="_c").reset_index(drop=True)
    table["rank"] = [i + 1 if good else pd.NA for i, good in enumerate(ok.loc[order.index])]
    table["rank"] = table["rank"].astype("Int64")
    table["error"] = table["error"].fillna("")
    for col in ("facilities", "grids", "new_sites"):
        table[col] = pd.to_numeric(table[col], errors="coerce").round().astype("Int64")
    if table["served_across_border_hh"].isna().all():
        table = table.drop(columns="served_across_border_hh")
    cols = [c for c in _SUMMARY_COLUMNS if c in table]
    return table[cols], shapes


def _area_layers(
    specs: Sequence[AreaSpec], summary: pd.DataFrame, shapes: Mapping[str, Any], out: Path
) -> dict[str, pd.DataFrame]:
    """Return the combined layers: areas (polygons), streets (table), communities (polygons)."""
    import pyogrio

    ok = summary[summary["id"].isin(list(shapes))]
    areas = gpd.GeoDataFrame(
        ok.drop(columns=["error"]), geometry=[shapes[i] for i in ok["id"]], crs="EPSG:4326"
    )
    streets, communities = [], []
    names = {s.id: s.name for s in specs}
    for aid in ok["id"]:
        cov = out / aid / "coverage.gpkg"
        layers = set(pyogrio.list_layers(cov)[:, 0])
        if "streets_coverage" in layers:
            t = pd.DataFrame(
                pyogrio.read_dataframe(cov, layer="streets_coverage", read_geometry=False)
            )
            streets.append(t.assign(area_id=aid, area_name=names[aid]))
        if "communities" in layers:
            c = gpd.read_file(cov, layer="communities").to_crs("EPSG:4326")
            communities.append(c.assign(area_id=aid, area_name=names[aid]))
    out_layers: dict[str, pd.DataFrame] = {"areas": areas}
    if streets:
        t = pd.concat(streets, ignore_index=True)
        out_layers["streets"] = t[
            ["area_id", "area_name", *[c for c in t if c not in {"area_id", "area_name"}]]
        ]
    if communities:
        g = pd.concat(communities, ignore_index=True)
        first = ["area_id", "area_name"]
        out_layers["communities"] = gpd.GeoDataFrame(
            g[[*first, *[c for c in g if c not in first]]], geometry="geometry", crs="EPSG:4326"
        )
    return out_layers


def _write_combined(
    stage: Path,
    specs: Sequence[AreaSpec],
    summary: pd.DataFrame,
    shapes: Mapping[str, Any],
    out: Path,
    *,
    maps: bool,
    lang: str,
    title: str | None,
) -> None:
    from geogrid.outputs.privacy import ExportGuard

    guard = ExportGuard()
    guard.write_table(summary, stage / "batch_summary.csv")
    layers = _area_layers(specs, summary, shapes, out)
    guard.write_layers(stage / "batch.gpkg", layers)
    _write_workbook(stage / "batch.xlsx", {"summary": summary, **layers}, lang)
    _overview_map(
        layers["areas"], stage / "batch_overview.html", lang=lang, title=title, links=maps
    )


_SHEETS = {
    "summary": ("汇总", "Summary"),
    "areas": ("研究区", "Areas"),
    "streets": ("街道", "Streets"),
    "communities": ("社区", "Communities"),
}
_EXTRA_LABELS = {
    "id": ("编号", "ID"),
    "status": ("状态", "Status"),
    "error": ("错误", "Error"),
    "facilities": ("设施数", "Facilities"),
    "served_across_border_hh": ("跨界受服务户数", "Households served across the border"),
    "grids": ("网格数", "Grids"),
    "new_sites": ("新增站点数", "New sites"),
    "coverage_15min_after": ("新增站点后15分钟覆盖率", "15-min coverage after new sites"),
    "seconds": ("用时(秒)", "Time (s)"),
    "area_id": ("研究区编号", "Area ID"),
    "area_name": ("研究区", "Area"),
}


def _write_workbook(path: Path, tables: Mapping[str, pd.DataFrame], lang: str) -> None:
    """Write the combined workbook: summary, areas, streets, communities; text never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from geogrid.io.runfolder import stable_zip
    from geogrid.schema import header

    idx = 0 if lang == "zh" else 1
    wb = Workbook()
    wb.remove(wb.active)
    for key, table in tables.items():
        frame = pd.DataFrame(table.drop(columns=[c for c in table if c == "geometry"]))
        ws = wb.create_sheet(_SHEETS[key][idx])
        ws.append(
            [
                _EXTRA_LABELS[c][idx] if c in _EXTRA_LABELS else header(str(c), lang)
                for c in frame.columns
            ]
        )
        for values in frame.itertuples(index=False, name=None):
            ws.append([_xlsx_value(v, ILLEGAL_CHARACTERS_RE) for v in values])
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text from user files is never a formula
        ws.freeze_panes = "A2"
    wb.save(path)
    stable_zip(path)


def _xlsx_value(value: Any, illegal: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value)
    return illegal.sub("\ufffd", str(value))


def _overview_map(
    areas: gpd.GeoDataFrame, path: Path, *, lang: str, title: str | None, links: bool = True
) -> None:
    """Write the areas coloured by 15-minute coverage; each popup links to the area's map."""
    from geogrid.outputs.webmap import build_map, save_map

    layer = areas.assign(
        map_link=[f"{aid}/maps/{MAP_NAME}_offline.html" if links else None for aid in areas["id"]]
    )
    default = "各研究区15分钟覆盖率" if lang == "zh" else "15-minute coverage by area"
    m = build_map(
        {"communities": layer}, tiles="none", lang=lang, title=title or default, links="map_link"
    )
    save_map(m, path, offline=True)


# --------------------------------------------------------------------------- region split

_OSM_NAMES = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")


def _read_any(path: str | os.PathLike[str] | None, crs: Any) -> gpd.GeoDataFrame | None:
    from geogrid.io.readers import read_layer

    return None if path is None else read_layer(path, crs=crs)


def _region_layers(
    network: str | os.PathLike[str],
    *,
    demand: Any,
    facilities: Any,
    residential: Any,
    crs: Any,
) -> dict[str, gpd.GeoDataFrame | None]:
    """Read the whole region once: ways, demand, facilities, residential compounds."""
    from geogrid.io.osm import read_osm
    from geogrid.io.readers import read_layer

    layers: dict[str, gpd.GeoDataFrame | None] = {}
    if Path(network).name.lower().endswith(_OSM_NAMES):
        osm = read_osm(network)
        layers = {
            "ways": osm.ways,
            "demand": osm.buildings,
            "facilities": osm.pois,
            "residential": osm.residential,
        }
    else:
        layers = {"ways": read_layer(network, crs=crs), "demand": None, "facilities": None}
        layers["residential"] = None
    for key, value in (
        ("demand", demand),
        ("facilities", facilities),
        ("residential", residential),
    ):
        if value is not None:
            layers[key] = _read_any(value, crs)
    if layers["demand"] is None:
        msg = "a region split needs buildings: pass an OSM extract as the network, or --demand"
        raise InputError(msg)
    ways = layers["ways"]
    if ways is not None and "nodes" in ways:  # node-id lists: not needed once cut
        layers["ways"] = ways.drop(columns="nodes")
    return layers


def _boundary_ids(
    bounds: gpd.GeoDataFrame, id_column: str | None, name_column: str | None
) -> tuple[list[str], list[str]]:
    for col, option in ((id_column, "--id-column"), (name_column, "--name-column")):
        if col is not None and col not in bounds:
            msg = f"{option} {col!r} is not a column of the boundary layer; pass one of {', '.join(map(str, bounds.columns))[:120]}"
            raise InputError(msg)
    if id_column is None:
        ids = [f"area_{i + 1:03d}" for i in range(len(bounds))]
    else:
        ids = [
            check_area_id(str(v), f"boundary row {i + 1}") for i, v in enumerate(bounds[id_column])
        ]
    if len({i.lower() for i in ids}) != len(ids):
        msg = f"{id_column!r} repeats values; pick a column with one value per boundary"
        raise InputError(msg)
    if name_column is None:
        name_column = next((c for c in ("name", "NAME", "名称") if c in bounds), None)
    names = [
        str(v) if name_column else i
        for i, v in zip(ids, bounds[name_column] if name_column else ids, strict=True)
    ]
    return ids, names


def split_region(
    network: str | os.PathLike[str],
    boundaries: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    buffer_m: float = 2000.0,
    demand: str | os.PathLike[str] | None = None,
    facilities: str | os.PathLike[str] | None = None,
    residential: str | os.PathLike[str] | None = None,
    communities: str | os.PathLike[str] | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    crs: Any = None,
    k: int = _DEFAULT_K,
) -> Path:
    """Cut one region into study areas, one per boundary; return the manifest written.

    Each area gets the streets, facilities and residential compounds within ``buffer_m`` of
    its boundary (so residents near a border reach facilities across it), and only the
    buildings (and communities) inside the boundary: coverage counts the area's own residents.
    The files go to ``out/split/<id>/`` with ``out/split/manifest.csv`` (a ``boundary`` column
    per area), written as one run folder; :func:`run_many` then runs the manifest.

    Parameters
    ----------
    network : path-like
        An OpenStreetMap extract (``.osm``, ``.osm.pbf``, ...; its buildings, POIs and
        residential areas are used unless given separately) or a street-lines layer.
    boundaries : path-like
        Polygons, one per study area (districts, streets).
    out : path-like
        The batch folder.
    buffer_m : float
        Buffer around each boundary in metres (default 2 km).
    demand, facilities, residential, communities : path-like, optional
        Region-wide layers that replace (or add to) the extract's.
    id_column, name_column : str, optional
        Boundary columns for the area ids (safe folder names) and names; default ``area_001``,
        ... and the ``name`` column.
    crs : str, optional
        Coordinate system of layers that have none (CSV).
    k : int
        New stations to site per area.

    Returns
    -------
    Path
        ``out/split/manifest.csv``.

    """
    from geogrid.crs import to_metric
    from geogrid.io.writers import write_layers

    if not (
        isinstance(buffer_m, int | float) and math.isfinite(buffer_m) and 0 <= buffer_m <= 50_000
    ):
        msg = f"buffer {buffer_m!r} m is out of range; pass 0-50000 metres, e.g. 2000"
        raise InputError(msg)
    bounds = _read_any(boundaries, crs)
    assert bounds is not None
    bounds = bounds[~(bounds.geometry.isna() | bounds.geometry.is_empty)].reset_index(drop=True)
    if len(bounds) == 0 or not bounds.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        msg = "the boundary layer needs polygons (one per study area); pass district or street outlines"
        raise InputError(msg)
    ids, names = _boundary_ids(bounds, id_column, name_column)
    layers = _region_layers(
        network, demand=demand, facilities=facilities, residential=residential, crs=crs
    )
    layers["communities"] = _read_any(communities, crs)
    metric = to_metric(bounds)
    mcrs = metric.crs
    region = {k2: (None if v is None else v.to_crs(mcrs)) for k2, v in layers.items()}
    folder = Path(out) / "split"
    rows = ["id,name,network,demand,facilities,communities,residential,boundary,k"]
    inputs = {
        "network": network,
        "boundaries": boundaries,
        "demand": demand,
        "facilities": facilities,
    }
    with RunFolder(
        folder,
        command="split",
        parameters={"buffer_m": buffer_m, "ids": ids, "k": k},
        inputs={**inputs, "residential": residential, "communities": communities},
        planned=["manifest.csv"],
    ) as run:
        for aid, name, own in zip(ids, names, metric.geometry, strict=True):
            zone = own.buffer(buffer_m)
            files = _cut_area(region, own, zone)
            files["boundary"] = gpd.GeoDataFrame(
                {"id": [aid], "name": [name]}, geometry=[own], crs=mcrs
            )
            (run.stage / aid).mkdir()
            cells = {}
            for key, gdf in files.items():
                if gdf is None:
                    cells[key] = ""
                    continue
                write_layers(run.stage / aid / f"{key}.gpkg", {key: gdf})  # metric CRS
                cells[key] = f"{aid}/{key}.gpkg"
            rows.append(
                ",".join(
                    [aid, _csv_text(name), cells["ways"], cells["demand"], cells["facilities"]]
                    + [cells["communities"], cells["residential"], cells["boundary"], str(k)]
                )
            )
        (run.stage / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "manifest.csv"


def _csv_text(text: str) -> str:
    """One CSV field (quoted when needed); a leading formula character gets a quote mark."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([text])
    return buf.getvalue()


def _cut_area(
    region: Mapping[str, gpd.GeoDataFrame | None], own: Any, zone: Any
) -> dict[str, gpd.GeoDataFrame | None]:
    """Return the area's layers: streets, facilities, compounds in the buffer; residents inside."""
    out: dict[str, gpd.GeoDataFrame | None] = {}
    for key in ("ways", "facilities", "residential"):
        gdf = region.get(key)
        out[key] = (
            None if gdf is None else gdf[gdf.intersects(zone).to_numpy()].reset_index(drop=True)
        )
    for key in ("demand", "communities"):
        gdf = region.get(key)
        out[key] = (
            None
            if gdf is None
            else gdf[gdf.representative_point().within(own).to_numpy()].reset_index(drop=True)
        )
    if out["residential"] is not None and len(out["residential"]) == 0:
        out["residential"] = None
    return out
