"""Result objects of the public API: one surface for coverage, grids and siting.

Every result of :func:`geogrid.coverage`, :func:`geogrid.grids` and :func:`geogrid.site`
offers

- ``.layers()``: the result's layers, a dict of GeoDataFrames;
- ``.summary()``: one table, ``metric`` / ``value``;
- ``.figures()``: the headline figures as a dict;
- ``.write(folder)``: the files the command line writes for that command, through one
  :class:`~geogrid.io.runfolder.RunFolder` (staged, locked, ``run.json`` last) and one
  :class:`~geogrid.outputs.privacy.ExportGuard` (personal data withheld);
- ``.explore()``: an inline map (:class:`geogrid.outputs.inline.InlineMap`) whose scripts
  are inlined, so it shows on an intranet;
- a short ``_repr_html_`` and ``__repr__`` (a few headline figures).

The analysis' own object (``CoverageResult``, ``GridResult``, ``SitingResult`` in
:mod:`geogrid.analyses`) is ``.raw``; its attributes are reachable on the result too
(``cov.coverage`` is the engine for what-ifs, ``sites.curve`` the per-k curve).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.io.runfolder import RunFolder
from geogrid.outputs.figures import name_compounds
from geogrid.outputs.plots import Curve
from geogrid.outputs.privacy import ExportGuard
from geogrid.study.households import whole_numbers

if TYPE_CHECKING:  # pragma: no cover
    from geogrid.outputs.inline import InlineMap
    from geogrid.study.area import StudyArea
    from geogrid.study.exclusions import Exclusions

__all__ = [
    "CoverageResults",
    "GridsResults",
    "Result",
    "SitingResults",
    "map_layers",
]

log = logging.getLogger(__name__)

#: Layers of the study itself that maps show under the results (outlines, network).
_STUDY_MAP_LAYERS = ("district", "streets", "communities", "network_edges")


def _plain(value: Any) -> Any:
    """Return a figure as a plain Python number (no numpy scalars), NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _figure_text(key: str, value: Any) -> str:
    """One headline figure as people read it: shares in percent, counts with separators."""
    value = _plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and ("coverage" in key or "share" in key) and value <= 1:
        return f"{value:.1%}"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return str(value)


def _metric_table(values: Mapping[str, Any]) -> pd.DataFrame:
    """Return a ``metric`` / ``value`` table of ``values``."""
    return pd.DataFrame({"metric": list(values), "value": [_plain(v) for v in values.values()]})


class Result:
    """The common surface of every analysis result (see the module docstring).

    Parameters
    ----------
    study : StudyArea
        The study area the analysis ran on.
    raw : object
        The analysis' own result object.
    parameters : mapping, optional
        The verb's parameters (recorded in ``run.json`` by :meth:`write`).

    """

    #: The command line command whose files :meth:`write` writes.
    command = ""
    #: Its title in reprs.
    title = ""
    #: Layers this result contributes to a map (keys of :func:`geogrid.outputs.webmap.build_map`).
    map_keys: tuple[str, ...] = ()

    def __init__(
        self, study: StudyArea, raw: Any, *, parameters: Mapping[str, Any] | None = None
    ) -> None:
        self.study = study
        self.raw = raw
        self.parameters = dict(parameters or {})

    def __getattr__(self, name: str) -> Any:
        """Reach the analysis' own attributes (``cov.coverage``, ``sites.curve``...)."""
        if name.startswith("_") or name in {"raw", "study", "parameters"}:
            raise AttributeError(name)
        return getattr(self.raw, name)

    # -- the common surface

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the result's layers.

        Returns
        -------
        dict of str to GeoDataFrame

        Examples
        --------
        >>> sorted(cov.layers())  # doctest: +SKIP

        """
        raise NotImplementedError

    def figures(self) -> dict[str, Any]:
        """Return the headline figures (what the repr shows).

        Returns
        -------
        dict of str to number

        Examples
        --------
        >>> cov.figures()["households"]  # doctest: +SKIP

        """
        raise NotImplementedError

    def summary(self) -> pd.DataFrame:
        """Return the result's summary as one ``metric`` / ``value`` table.

        Returns
        -------
        DataFrame

        Examples
        --------
        >>> cov.summary().set_index("metric")["value"]["coverage_15min"]  # doctest: +SKIP

        """
        return _metric_table(self.figures())

    def planned(self) -> list[str]:
        """Return the names of the files :meth:`write` may write.

        Returns
        -------
        list of str

        Examples
        --------
        >>> cov.planned()  # doctest: +SKIP
        ['coverage.gpkg', 'summary.csv', 'demand_sources.gpkg']

        """
        raise NotImplementedError

    def write_files(self, folder: Path, guard: ExportGuard) -> list[Path]:
        """Write the command's files into an open folder (a run's staging folder).

        Use :meth:`write` unless you run your own :class:`RunFolder`.

        Parameters
        ----------
        folder : Path
            The open folder (a run's staging folder).
        guard : ExportGuard
            The personal-data filter every file passes through.

        Returns
        -------
        list of Path

        Examples
        --------
        >>> with RunFolder("out", command="coverage") as run:  # doctest: +SKIP
        ...     cov.write_files(run.stage, ExportGuard())

        """
        raise NotImplementedError

    def write(self, folder: str | Path, *, include_personal: bool = False) -> list[Path]:
        """Write the files ``geogrid <command>`` writes into ``folder``, as one unit.

        The folder is checked first, locked, and filled only when every file was written
        (each atomically), with ``run.json`` last; personal data is withheld unless
        ``include_personal``.

        Parameters
        ----------
        folder : path-like
            The output folder (created if missing).
        include_personal : bool
            Keep personal data (phone and ID numbers, names, one row per household).

        Returns
        -------
        list of Path
            The files written, ``run.json`` last.

        Examples
        --------
        >>> cov.write("cov_out")  # doctest: +SKIP

        """
        guard = ExportGuard(include_personal=include_personal)
        params = {k: _plain(v) for k, v in self.parameters.items()}
        params["include_personal"] = include_personal
        with RunFolder(
            folder, command=self.command, parameters=params, planned=self.planned()
        ) as run:
            self.write_files(run.stage, guard)
            run.parameters["personal_withheld"] = guard.withheld()
            self._timing(run.timing)
        guard.warn()
        out = Path(folder)
        return [out / name for name in run.written] + [out / "run.json"]

    def _timing(self, timing: dict[str, Any]) -> None:
        """Add the analysis' timings to a run manifest (none by default)."""

    def map_layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the layers a map of this result shows, the study's outlines included.

        Returns
        -------
        dict of str to GeoDataFrame

        Examples
        --------
        >>> sorted(grids.map_layers())  # doctest: +SKIP

        """
        return map_layers([self])

    def explore(
        self,
        *,
        lang: str = "zh",
        tiles: str = "none",
        height: int = 480,
        title: str | None = None,
    ) -> InlineMap:
        """Return an inline map of the result (scripts inlined: it needs no network).

        Parameters
        ----------
        lang : {"zh", "en"}
            Labels.
        tiles : {"none", "osm", "amap", "tianditu"}
            Basemap; the tiles (not the map) need the network.
        height : int
            Height in the notebook, pixels.
        title : str, optional
            Title above the map (default the result's kind).

        Returns
        -------
        InlineMap
            Shown inline by Jupyter; ``.save(path)`` writes the page.

        Examples
        --------
        >>> cov.explore(lang="en")  # doctest: +SKIP

        """
        from geogrid.outputs.inline import InlineMap

        return InlineMap.of(
            self.map_layers(),
            title=self.title if title is None else title,
            height=height,
            lang=lang,
            tiles=tiles,
        )

    # -- display

    def __repr__(self) -> str:
        shown = list(self.figures().items())[:6]
        text = ", ".join(f"{k}={_figure_text(k, v)}" for k, v in shown)
        return f"<{type(self).__name__} {text}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_figure_text(k, v))}</td></tr>"
            for k, v in list(self.figures().items())[:8]
        )
        return (
            f"<b>{html.escape(self.title)}</b>"
            f"<table>{rows}</table><small>.layers() .summary() .write() .explore()</small>"
        )


def _study_excluded(study: StudyArea) -> dict[str, gpd.GeoDataFrame]:
    """Return the study's ``excluded`` layer, when rows were left out."""
    exc = study.excluded.frame(study.crs) if study.excluded else None
    return {"excluded": exc} if exc is not None and len(exc) else {}


def _write_demand_tables(study: StudyArea, folder: Path, guard: ExportGuard) -> list[Path]:
    """Write how each compound was matched and each registry zone scaled, when given."""
    if not study.extra:
        return []
    return [guard.write_layers(folder / "demand_sources.gpkg", study.extra)]


class CoverageResults(Result):
    """Walking coverage of a study area (from :func:`geogrid.coverage`).

    ``.raw`` is the :class:`~geogrid.analyses.coverage.engine.CoverageResult`;
    ``.coverage`` its engine (what-ifs: ``add_facility``, ``move_facility``...).
    """

    command = "coverage"
    title = "覆盖 coverage"
    map_keys = ("demand", "facilities", "service_areas", "gaps", "communities")

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return ``demand``, ``facilities``, ``service_areas``, ``gaps``, ``communities``.

        Returns
        -------
        dict of str to GeoDataFrame

        Examples
        --------
        >>> cov.layers()["gaps"]  # doctest: +SKIP

        """
        return name_compounds(self.raw.layers(), self.study.context.get("compounds"))

    def summary(self) -> pd.DataFrame:
        """Return the coverage summary (``summary.csv``): ``metric`` / ``value``.

        Returns
        -------
        DataFrame

        Examples
        --------
        >>> cov.summary()  # doctest: +SKIP

        """
        return self.raw.summary.copy()

    def figures(self) -> dict[str, Any]:
        """Return households, coverage per target, uncovered households, gaps.

        Returns
        -------
        dict of str to number

        Examples
        --------
        >>> cov.figures()["uncovered_hh_15min"]  # doctest: +SKIP

        """
        summ = dict(zip(self.raw.summary["metric"], self.raw.summary["value"], strict=False))
        total = float(summ["households"])
        out: dict[str, Any] = {"households": _plain(summ["households"])}
        for t in self.raw.coverage.targets:
            out[f"coverage_{t.name}"] = _plain(summ.get(f"coverage_{t.name}"))
        for t in self.raw.coverage.targets:
            covered = float(summ.get(f"covered_hh_{t.name}", np.nan))
            out[f"uncovered_hh_{t.name}"] = round(total - covered, 1)
        for key in ("facilities", "gaps", "gap_households", "overloaded_facilities"):
            out[key] = _plain(summ.get(key))
        out["speed_kmh"] = _plain(summ.get("speed_kmh"))
        return out

    def __repr__(self) -> str:
        fig = self.figures()
        shares = ", ".join(
            f"{t.name} {_figure_text('coverage', fig[f'coverage_{t.name}'])}"
            for t in self.raw.coverage.targets
        )
        return (
            f"<CoverageResults {_figure_text('households', fig['households'])} households; "
            f"covered {shares}; {_figure_text('gaps', fig['gaps'])} gaps>"
        )

    def planned(self) -> list[str]:
        """Return ``coverage.gpkg``, ``summary.csv`` and ``demand_sources.gpkg``.

        Returns
        -------
        list of str

        Examples
        --------
        >>> cov.planned()  # doctest: +SKIP

        """
        return ["coverage.gpkg", "summary.csv", "demand_sources.gpkg"]

    def write_files(
        self, folder: Path, guard: ExportGuard, *, demand_tables: bool = True
    ) -> list[Path]:
        """Write ``coverage.gpkg`` (with ``excluded``), ``summary.csv`` and demand tables.

        Parameters
        ----------
        folder : Path
            The open folder (a run's staging folder).
        guard : ExportGuard
            The personal-data filter every file passes through.
        demand_tables : bool
            Also write the demand source tables.

        Returns
        -------
        list of Path

        Examples
        --------
        >>> cov.write_files(folder, ExportGuard())  # doctest: +SKIP

        """
        from geogrid.api import write_coverage

        study = self.study
        paths = write_coverage(
            self.raw,
            folder,
            excluded=study.excluded.frame(study.crs),
            guard=guard,
            compounds=study.context.get("compounds"),
        )
        out = list(paths.values())
        return out + (_write_demand_tables(study, folder, guard) if demand_tables else [])


class GridsResults(Result):
    """Governance grids of a study area (from :func:`geogrid.grids`).

    ``.raw`` is the :class:`~geogrid.analyses.grids.partition.GridResult` (``grids``,
    ``quality``, ``certificates``, ``assignment``...).
    """

    command = "grids"
    title = "网格 grids"
    map_keys = ("grids",)

    def __init__(
        self,
        study: StudyArea,
        raw: Any,
        *,
        parameters: Mapping[str, Any] | None = None,
        units: gpd.GeoDataFrame | None = None,
        exclusions: Exclusions | None = None,
    ) -> None:
        super().__init__(study, raw, parameters=parameters)
        self._units = study.demand if units is None else units
        self._exclusions = exclusions

    def _units_and_excluded(self) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """Units with their ``grid_code``, and every row left out (outside communities too)."""
        from geogrid.study.area import source_ids
        from geogrid.study.exclusions import Exclusions

        dem = self._units
        excl = Exclusions()
        excl.extend(self._exclusions)
        outside = self.raw.assignment.reindex(dem.index).isna().to_numpy()
        excl.add(
            dem.loc[outside],
            layer="demand",
            reason="outside every community",
            ids=source_ids(dem).loc[outside],
        )
        units = dem.assign(grid_code=self.raw.assignment.reindex(dem.index)).loc[~outside]
        return units, excl.frame(dem.crs)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return ``grids``, ``units`` (demand units with their ``grid_code``) and ``excluded``.

        Returns
        -------
        dict of str to GeoDataFrame

        Examples
        --------
        >>> grids.layers()["grids"]  # doctest: +SKIP

        """
        units, excluded = self._units_and_excluded()
        return {"grids": whole_numbers(self.raw.grids), "units": units, "excluded": excluded}

    def figures(self) -> dict[str, Any]:
        """Return grids, households per grid, share in band, certificates.

        Returns
        -------
        dict of str to number

        Examples
        --------
        >>> grids.figures()["grids"]  # doctest: +SKIP

        """
        g = self.raw.grids
        hh = pd.to_numeric(g["households"], errors="coerce") if len(g) else pd.Series([])
        cert = self.raw.certificates
        status = cert["status"].value_counts() if len(cert) else pd.Series(dtype=int)
        return {
            "grids": len(g),
            "communities": len(self.raw.communities),
            "households": _plain(hh.sum()),
            "households_mean": _plain(round(float(hh.mean()), 1)) if len(g) else None,
            "households_min": _plain(hh.min()) if len(g) else None,
            "households_max": _plain(hh.max()) if len(g) else None,
            "share_in_band": _plain(float(g["in_band"].mean())) if len(g) else None,
            **{f"communities_{k}": int(status.get(k, 0)) for k in ("feasible", "infeasible")},
            "communities_unknown": int(status.get("unknown", 0)),
        }

    def summary(self) -> pd.DataFrame:
        """Return the grid quality (``grids_quality.csv``) as ``metric`` / ``value`` rows.

        Returns
        -------
        DataFrame

        Examples
        --------
        >>> grids.summary()  # doctest: +SKIP

        """
        q = self.raw.quality
        row = q.iloc[0] if len(q) else pd.Series(dtype=object)
        return _metric_table(dict(row.items()))

    def planned(self) -> list[str]:
        """Return ``grids.gpkg``, ``grids_quality.csv`` and ``grids_certificates.csv``.

        Returns
        -------
        list of str

        Examples
        --------
        >>> grids.planned()  # doctest: +SKIP

        """
        return ["grids.gpkg", "grids_quality.csv", "grids_certificates.csv"]

    def write_files(self, folder: Path, guard: ExportGuard) -> list[Path]:
        """Write ``grids.gpkg`` (grids, units, excluded) and the quality and certificates.

        Parameters
        ----------
        folder : Path
            The open folder (a run's staging folder).
        guard : ExportGuard
            The personal-data filter every file passes through.

        Returns
        -------
        list of Path

        Examples
        --------
        >>> grids.write_files(folder, ExportGuard())  # doctest: +SKIP

        """
        return [
            guard.write_layers(folder / "grids.gpkg", self.layers()),
            guard.write_table(self.raw.quality, folder / "grids_quality.csv"),
            guard.write_table(self.raw.certificates, folder / "grids_certificates.csv"),
        ]


class SitingResults(Result):
    """New station sites for a study area (from :func:`geogrid.site`).

    ``.raw`` is the :class:`~geogrid.analyses.siting.model.SitingResult` (``sites``,
    ``curve``, ``communities``, ``solvers``...).
    """

    command = "site"
    title = "选址 siting"
    map_keys = ("sites",)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return ``sites``, ``candidates``, ``allocation``, ``communities``, ``closed``.

        Returns
        -------
        dict of str to GeoDataFrame

        Examples
        --------
        >>> sites.layers()["sites"]  # doctest: +SKIP

        """
        return {k: v for k, v in self.raw.layers().items() if isinstance(v, gpd.GeoDataFrame)}

    def summary(self) -> pd.DataFrame:
        """Return the siting summary: ``metric`` / ``value``.

        Returns
        -------
        DataFrame

        Examples
        --------
        >>> sites.summary()  # doctest: +SKIP

        """
        return self.raw.layers()["summary"].copy()

    def figures(self) -> dict[str, Any]:
        """Return sites requested and chosen, coverage before and after, households gained.

        Returns
        -------
        dict of str to number

        Examples
        --------
        >>> sites.figures()["coverage_after"]  # doctest: +SKIP

        """
        curve = self.raw.curve
        summ = dict(zip(self.raw.summary["metric"], self.raw.summary["value"], strict=False))
        return {
            "sites_requested": _plain(summ.get("n_requested")),
            "sites_chosen": len(self.raw.sites),
            "site_ids": ", ".join(map(str, self.raw.sites.get("candidate_id", []))),
            "coverage_before": _plain(curve["coverage_share"].iloc[0]) if len(curve) else None,
            "coverage_after": _plain(curve["coverage_share"].iloc[-1]) if len(curve) else None,
            "gain_households": _plain(self.raw.sites["gain_households"].sum())
            if "gain_households" in self.raw.sites
            else None,
        }

    def planned(self) -> list[str]:
        """Return ``siting.gpkg``, ``siting_curve.csv``, ``siting_curve.png`` and demand tables.

        Returns
        -------
        list of str

        Examples
        --------
        >>> sites.planned()  # doctest: +SKIP

        """
        return ["siting.gpkg", "siting_curve.csv", "siting_curve.png", "demand_sources.gpkg"]

    def write_files(
        self,
        folder: Path,
        guard: ExportGuard,
        *,
        lang: str = "zh",
        excluded: bool = True,
        plot: bool = True,
        demand_tables: bool = True,
    ) -> list[Path]:
        """Write ``siting.gpkg`` (with ``excluded``), the curve table and plot, demand tables.

        Parameters
        ----------
        folder : Path
            The open folder (a run's staging folder).
        guard : ExportGuard
            The personal-data filter every file passes through.
        lang : {"zh", "en"}
            Language of the curve plot.
        excluded : bool
            Add the study's ``excluded`` layer to ``siting.gpkg``.
        plot : bool
            Also draw ``siting_curve.png``.
        demand_tables : bool
            Also write the demand source tables.

        Returns
        -------
        list of Path

        Examples
        --------
        >>> sites.write_files(folder, ExportGuard())  # doctest: +SKIP

        """
        from geogrid.outputs.curve import curve_png

        study = self.study
        extra = _study_excluded(study) if excluded else {}
        out = [
            guard.write_layers(folder / "siting.gpkg", {**self.raw.layers(), **extra}),
            guard.write_table(self.raw.curve, folder / "siting_curve.csv"),
        ]
        if plot:
            out.append(curve_png(self.raw.curve, folder / "siting_curve.png", lang=lang))
        return out + (_write_demand_tables(study, folder, guard) if demand_tables else [])

    def _timing(self, timing: dict[str, Any]) -> None:
        timing["siting_solver"] = self.raw.timings()

    def coverage_curve(self) -> Curve:
        """Return the best coverage for each number of new stations, with ``.plot()``.

        Returns
        -------
        Curve
            ``n_new_sites`` against ``coverage_share`` (each point the optimum for that number,
            or its proven bound when a time limit stopped it: column ``status``).

        Examples
        --------
        >>> sites.coverage_curve().plot()  # doctest: +SKIP

        """
        return Curve(
            self.raw.curve.copy(),
            "n_new_sites",
            ("coverage_share",),
            {
                "zh": ("每个新增站点数的最优覆盖率", "新增站点数（个）", "覆盖率"),
                "en": ("best coverage per number of new stations", "new stations", "coverage"),
            },
            percent=True,
        )


def map_layers(results: Iterable[Result]) -> dict[str, gpd.GeoDataFrame]:
    """Return the layers of a map or report of several results of one study, from memory.

    Each result gives its own layers (:attr:`Result.map_keys`: coverage its demand,
    facilities, service areas, gaps and communities; grids its grids; siting its sites); the
    first result giving a key wins. The study adds its outlines (``district``, ``streets``),
    ``communities`` (when no result gave them) and ``network_edges``.

    Parameters
    ----------
    results : iterable of Result
        Results of one study area, e.g. ``[cov, grids, sites]``.

    Returns
    -------
    dict of str to GeoDataFrame

    Examples
    --------
    >>> layers = map_layers([cov, grids, sites])  # doctest: +SKIP

    """
    items = list(results)
    out: dict[str, gpd.GeoDataFrame] = {}
    for res in items:
        own = res.raw.layers() if hasattr(res.raw, "layers") else {"grids": res.raw.grids}
        for key in res.map_keys:
            if key not in out and isinstance(own.get(key), gpd.GeoDataFrame):
                out[key] = own[key]
    if items:
        study_layers = items[0].study.layers()
        for key in _STUDY_MAP_LAYERS:
            if key not in out and isinstance(study_layers.get(key), gpd.GeoDataFrame):
                out[key] = study_layers[key]
        out = name_compounds(out, items[0].study.context.get("compounds"))
    return out
