"""Named what-if scenarios of a study area and their side-by-side comparison.

A :class:`Scenario` holds one coverage state of a study area and the edits that made it:
add, move, close or reopen a station; change a station's type or capacity; add a compound
with its households; change the walking speed or the targets; redraw the grids of one
community. Each edit is incremental where the coverage engine allows it (only the network
nodes and demand units it changes are recomputed), keeps facility ids stable, is timed, and
can be undone. :func:`compare` gives one table per community and per street for a base and
its variants, and a short plain-language verdict per variant.

Examples
--------
>>> import geogrid
>>> study = geogrid.load_demo(n_communities=4)            # doctest: +SKIP
>>> base = geogrid.scenarios(study)                          # doctest: +SKIP
>>> more = base.variant("加两个站").add_station((109.84, 40.65))  # doctest: +SKIP
>>> geogrid.compare(base, more).verdicts                    # doctest: +SKIP

"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point

from geogrid.analyses.coverage.engine import Coverage, aggregate, facility_load
from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.outputs.inline import InlineMap
from geogrid.outputs.plots import Curve
from geogrid.schema import check_lang, target_label
from geogrid.settings import parse_targets

__all__ = ["Comparison", "Edit", "Scenario", "compare", "scenario", "verdict"]

#: Zone code column of communities and its street prefix (9 digits of a 12-digit code).
COMMUNITY = "community_code"
STREET = "street_code"
_STREET_DIGITS = 9
#: The file a written scenario keeps its name and edits in.
SCENARIO_FILE = "scenario.json"


@dataclass(frozen=True)
class Edit:
    """One what-if edit: what was done, to what, the arguments to replay it, and its time."""

    kind: str
    subject: str
    args: dict[str, Any]
    seconds: float

    def text(self, lang: str = "zh") -> str:
        """Describe the edit in one short phrase.

        Parameters
        ----------
        lang : {"zh", "en"}
            Language of the phrase.

        Returns
        -------
        str
            E.g. ``新增站点 N0015`` or ``add station N0015``.

        """
        zh, en = _EDIT_WORDS[self.kind]
        word = zh if check_lang(lang) == 0 else en
        return f"{word} {self.subject}".strip()


_EDIT_WORDS: dict[str, tuple[str, str]] = {
    "add": ("新增站点", "add station"),
    "move": ("迁移站点", "move station"),
    "close": ("关闭站点", "close station"),
    "reopen": ("重开站点", "reopen station"),
    "set": ("调整站点", "change station"),
    "compound": ("新增小区", "add compound"),
    "speed": ("步行速度(公里/小时)", "walking speed (km/h)"),
    "targets": ("目标", "targets"),
    "regrid": ("重划网格", "redraw grids of"),
}


@dataclass
class _State:
    """What an edit changes: the coverage engine and the redrawn grids."""

    cov: Coverage
    grids: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    table: gpd.GeoDataFrame | None = None  # the engine's table, built once per state


#: How a station edit is taken back: called on the engine before the edit, it returns the
#: inverse edit, which is called with the engine and the edit's result.
Inverse = Callable[[Coverage], Callable[[Coverage, Any], None]]


@dataclass
class _Undo:
    """One edit to take back.

    Either an inverse edit of the engine (station edits, made in place) or the whole state
    before it (speed, targets, grids, compounds).
    """

    edit: Edit
    grids: dict[str, gpd.GeoDataFrame]
    state: _State | None = None
    inverse: Callable[[Coverage], None] | None = None


class Scenario:
    """One named coverage state of a study area, built from a base by edits.

    Make the base with :func:`geogrid.scenarios`; derive variants with :meth:`variant`. The
    edit methods change this scenario in place and return it, so they chain:
    ``base.variant("B").move_station("F0010", (lon, lat)).set_speed(3.6)``.

    Parameters
    ----------
    cov : Coverage
        The computed coverage this scenario starts from (it is copied, never changed).
    name : str
        The scenario's name, shown in tables and maps.
    communities : GeoDataFrame, optional
        Community polygons (``community_code``, ``name``) for names and maps.
    regrid : callable, optional
        ``regrid(community_row, demand_rows, network=..., **options) -> GeoDataFrame`` used
        by :meth:`regrid` (default: the grids analysis on that community).
    base : Scenario, optional
        The scenario this one was derived from.

    """

    def __init__(
        self,
        cov: Coverage,
        *,
        name: str = "基准",
        communities: gpd.GeoDataFrame | None = None,
        regrid: Callable[..., gpd.GeoDataFrame] | None = None,
        base: Scenario | None = None,
    ) -> None:
        self.name = str(name)
        self.communities = communities
        self.base = base
        self._regrid = regrid or _partition_one
        self._state = _State(cov.copy())
        self._undo: list[_Undo] = []
        self.edits: list[Edit] = []

    # ----------------------------------------------------------------- reading
    @property
    def coverage(self) -> Coverage:
        """The coverage engine of this scenario (read it; edit through the scenario)."""
        return self._state.cov

    @property
    def grids(self) -> dict[str, gpd.GeoDataFrame]:
        """Redrawn grids by community code (empty until :meth:`regrid` is called)."""
        return dict(self._state.grids)

    def table(self) -> gpd.GeoDataFrame:
        """Demand units with their nearest station, walking distance and time, and targets.

        Returns
        -------
        GeoDataFrame
            One row per demand unit.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.table().columns  # doctest: +SKIP

        """
        return self._table().copy()

    def _table(self) -> gpd.GeoDataFrame:
        """Return the current state's demand table, built once (callers here only read it)."""
        if self._state.table is None:
            self._state.table = self.coverage.table()
        return self._state.table

    def by_community(self) -> pd.DataFrame:
        """Coverage per community (households, coverage per target, walking-time percentiles).

        Returns
        -------
        DataFrame
            One row per community.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.by_community().head()  # doctest: +SKIP

        """
        return self._named(self.coverage.aggregates(by=COMMUNITY))

    def by_street(self) -> pd.DataFrame:
        """Coverage per street (the first 9 digits of the community code).

        Returns
        -------
        DataFrame
            One row per street.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.by_street()  # doctest: +SKIP

        """
        tbl = self._table()
        if COMMUNITY not in tbl.columns:
            msg = "the demand has no community_code; load the study with communities"
            raise InputError(msg)
        tbl = tbl.assign(**{STREET: tbl[COMMUNITY].astype(str).str[:_STREET_DIGITS]})
        out = aggregate(tbl, by=STREET, targets=self.coverage.targets)
        names = self._street_names()
        if names:
            out.insert(1, "street_name", out[STREET].map(names))
        return out

    def loads(self) -> gpd.GeoDataFrame:
        """Active stations with the households each serves and whether it is overloaded.

        Returns
        -------
        GeoDataFrame
            One row per open station.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.loads()[["facility_id", "overloaded"]]  # doctest: +SKIP

        """
        fac = facility_load(self.coverage)
        return fac[fac["active"].to_numpy(dtype=bool)].reset_index(drop=True)

    def figures(self) -> dict[str, float]:
        """Headline figures: households, share and households within each target, P90 walk.

        Returns
        -------
        dict of str to float
            Figure name -> value.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.figures()  # doctest: +SKIP

        """
        tbl = self._table()
        hh = tbl["households"].to_numpy(dtype=float)
        total = float(hh.sum())
        out: dict[str, float] = {"households": total}
        for t in self.coverage.targets:
            within = float(hh[tbl[t.column].to_numpy(dtype=bool)].sum())
            out[f"covered_hh_{t.name}"] = within
            out[f"coverage_{t.name}"] = within / total if total else float("nan")
        out["p90_walk_min"] = _weighted_quantile(tbl["walk_min"].to_numpy(float), hh, 0.9)
        out["stations"] = float(self.coverage.facilities["active"].sum())
        return out

    def history(self, lang: str = "zh") -> pd.DataFrame:
        """Return the edits made since the base, with the milliseconds each took.

        Parameters
        ----------
        lang : {"zh", "en"}
            Language of the descriptions.

        Returns
        -------
        DataFrame
            One row per edit, in order.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.close_station("F0001").history()  # doctest: +SKIP

        """
        zh = check_lang(lang) == 0
        return pd.DataFrame(
            {
                ("编辑" if zh else "edit"): [e.text(lang) for e in self.edits],
                ("耗时(毫秒)" if zh else "time (ms)"): [
                    round(e.seconds * 1000, 1) for e in self.edits
                ],
            }
        )

    def speed_curve(self, speeds: Iterable[float] = (3.0, 3.5, 4.0, 4.5, 5.0, 5.5)) -> Curve:
        """Coverage at each target against the walking speed (distances reused, no re-routing).

        Parameters
        ----------
        speeds : iterable of float
            Walking speeds in km/h.

        Returns
        -------
        Curve
            Columns ``speed_kmh`` and ``coverage_<target>`` (shares); ``.plot()`` draws it.

        Examples
        --------
        >>> base.speed_curve([3, 4, 5]).plot()  # doctest: +SKIP

        """
        rows = []
        for v in speeds:
            f = Scenario(self.coverage.with_speed(float(v)), name="_").figures()
            rows.append(
                {"speed_kmh": float(v)}
                | {f"coverage_{t.name}": f[f"coverage_{t.name}"] for t in self._speed_targets()}
            )
        ys = tuple(f"coverage_{t.name}" for t in self._speed_targets())
        names_zh = tuple(f"{target_label(t.name, 'zh')}覆盖率" for t in self._speed_targets())
        names_en = tuple(f"{t.name} coverage" for t in self._speed_targets())
        return Curve(
            pd.DataFrame(rows),
            "speed_kmh",
            ys,
            {
                "zh": (
                    f"{self.name}：覆盖率与步行速度",
                    "步行速度（公里/小时）",
                    "覆盖率",
                    *names_zh,
                ),
                "en": (
                    f"{self.name}: coverage against walking speed",
                    "walking speed (km/h)",
                    "share of households",
                    *names_en,
                ),
            },
            percent=True,
        )

    def walk_time_curve(self, step_min: float = 1.0) -> Curve:
        """Share of households within each number of walking minutes (a cumulative curve).

        Parameters
        ----------
        step_min : float
            Spacing of the minutes on the curve.

        Returns
        -------
        Curve
            Columns ``minutes`` and ``share_within`` (0-1); ``.plot()`` draws it.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.walk_time_curve().plot()  # doctest: +SKIP

        """
        tbl = self._table()
        hh = tbl["households"].to_numpy(dtype=float)
        walk = tbl["walk_min"].to_numpy(dtype=float)
        finite = walk[np.isfinite(walk)]
        top = float(np.ceil(np.percentile(finite, 99))) if len(finite) else 30.0
        minutes = np.arange(0.0, top + step_min, step_min)
        total = hh.sum() or 1.0
        share = [float(hh[walk <= m].sum() / total) for m in minutes]
        return Curve(
            pd.DataFrame({"minutes": minutes, "share_within": share}),
            "minutes",
            ("share_within",),
            {
                "zh": ("步行时间分布", "步行时间（分钟）", "该时间内可达的户数占比", self.name),
                "en": (
                    "walking times",
                    "walking time (min)",
                    "share of households within",
                    self.name,
                ),
            },
            percent=True,
        )

    def _speed_targets(self) -> list[Any]:
        return [t for t in self.coverage.targets if t.name.endswith("min")] or list(
            self.coverage.targets
        )

    # ----------------------------------------------------------------- deriving
    def variant(self, name: str) -> Scenario:
        """Return a new scenario named ``name`` that starts from this one's current state.

        Parameters
        ----------
        name : str
            The new scenario's name.

        Returns
        -------
        Scenario
            An independent copy: edits to it leave this one as it is.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> more = s.variant("加一站").add_station((109.84, 40.66))  # doctest: +SKIP

        """
        out = Scenario(
            self.coverage,
            name=name,
            communities=self.communities,
            regrid=self._regrid,
            base=self,
        )
        out._state.grids = dict(self._state.grids)
        out.edits = list(self.edits)
        return out

    def undo(self, steps: int = 1) -> Scenario:
        """Take back the last ``steps`` edits.

        Parameters
        ----------
        steps : int
            How many edits to take back.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.close_station("F0001").undo()  # doctest: +SKIP

        """
        if steps > len(self._undo):
            msg = f"only {len(self._undo)} edit(s) to undo; pass steps <= {len(self._undo)}"
            raise InputError(msg)
        for _ in range(steps):
            entry = self._undo.pop()
            if entry.inverse is not None:
                entry.inverse(self._state.cov)
                self._state = _State(self._state.cov, entry.grids)
            else:
                assert entry.state is not None
                self._state = _State(entry.state.cov, entry.grids)
            self.edits.pop()
        return self

    # ----------------------------------------------------------------- edits
    def add_station(
        self,
        where: Any,
        *,
        name: str | None = None,
        type: str = "station",  # noqa: A002  (the facility column is called type)
        capacity: float | None = None,
        area_m2: float | None = None,
        facility_id: str | None = None,
    ) -> Scenario:
        """Add a station at ``where`` (a point in the study CRS, or a ``(lon, lat)`` pair).

        Parameters
        ----------
        where : Point or (float, float)
            The place.
        name : str, optional
            Its name (default: generated).
        type : str
            Facility type (``station`` by default).
        capacity, area_m2 : float, optional
            Households it can serve and floor area.
        facility_id : str, optional
            Its id (default: the next free one).

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.add_station((109.84, 40.66), name="新站")  # doctest: +SKIP

        """
        row: dict[str, Any] = {"geometry": self._point(where), "type": type}
        for key, value in (("name", name), ("capacity", capacity), ("area_m2", area_m2)):
            if value is not None:
                row[key] = value
        if facility_id is not None:
            row["facility_id"] = str(facility_id)

        def run(cov: Coverage) -> str:
            return cov.add_facility(row)

        args = {"where": _lonlat(row["geometry"], self.coverage.net.crs), "type": type}
        args.update({k: v for k, v in row.items() if k in {"name", "capacity", "area_m2"}})
        return self._apply("add", run, args, inverse=_withdraw, subject_from_result=True)

    def move_station(self, facility_id: str, where: Any) -> Scenario:
        """Move a station to ``where``; it keeps its id, type and capacity.

        Parameters
        ----------
        facility_id : str
            The station.
        where : Point or (float, float)
            The new place (study CRS, or lon/lat).

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.move_station("F0001", (109.85, 40.66))  # doctest: +SKIP

        """
        point = self._point(where)
        args = {"facility_id": str(facility_id), "where": _lonlat(point, self.coverage.net.crs)}
        return self._apply(
            "move",
            lambda c: c.move_facility(str(facility_id), point),
            args,
            inverse=_move_back(str(facility_id)),
        )

    def close_station(self, facility_id: str) -> Scenario:
        """Close a station (it can be reopened).

        Parameters
        ----------
        facility_id : str
            The station.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.close_station("F0001")  # doctest: +SKIP

        """
        args = {"facility_id": str(facility_id)}
        return self._apply(
            "close",
            lambda c: c.remove_facility(str(facility_id)),
            args,
            inverse=lambda _c: lambda c, _r: c.reopen_facility(str(facility_id)),
        )

    def reopen_station(self, facility_id: str) -> Scenario:
        """Reopen a closed station at its place.

        Parameters
        ----------
        facility_id : str
            The station.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.close_station("F0001").reopen_station("F0001")  # doctest: +SKIP

        """
        args = {"facility_id": str(facility_id)}
        return self._apply(
            "reopen",
            lambda c: c.reopen_facility(str(facility_id)),
            args,
            inverse=lambda _c: lambda c, _r: c.remove_facility(str(facility_id)),
        )

    def set_station(self, facility_id: str, **attributes: Any) -> Scenario:
        """Change a station's ``type``, ``name``, ``capacity`` or ``area_m2``.

        Parameters
        ----------
        facility_id : str
            The station.
        **attributes : Any
            The new values.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.set_station("F0001", capacity=800)  # doctest: +SKIP

        """
        args = {"facility_id": str(facility_id), **attributes}
        return self._apply(
            "set",
            lambda c: c.set_facility(str(facility_id), **attributes),
            args,
            inverse=_set_back(str(facility_id), list(attributes)),
        )

    def add_compound(
        self,
        geometry: Any,
        households: float,
        *,
        name: str | None = None,
        community_code: str | None = None,
        population: float | None = None,
    ) -> Scenario:
        """Add a new compound (a polygon or point) with its households as new demand.

        Parameters
        ----------
        geometry : Polygon or Point
            Where it stands (study CRS).
        households : float
            Its households.
        name : str, optional
            Its name.
        community_code : str, optional
            Its community (default: the one it lies in).
        population : float, optional
            Persons (default: households x household size).

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.add_compound(shapely.box(0, 0, 100, 100), 300)  # doctest: +SKIP

        """
        geom = self._geometry(geometry)
        if not np.isfinite(float(households)) or float(households) < 0:
            msg = f"households must be a number >= 0, got {households!r}"
            raise InputError(msg)
        row: dict[str, Any] = {"geometry": geom, "households": float(households)}
        if population is not None:
            row["population"] = float(population)
        if name is not None:
            row["name"] = str(name)
        code = community_code or self._community_at(geom)
        if code is not None:
            row[COMMUNITY] = str(code)
        units = gpd.GeoDataFrame([row], geometry="geometry", crs=self.coverage.net.crs)
        args = {
            "wkt_lonlat": gpd.GeoSeries([geom], crs=self.coverage.net.crs).to_crs(4326).iloc[0].wkt,
            "households": float(households),
            **({"name": str(name)} if name is not None else {}),
            **({"community_code": str(code)} if code is not None else {}),
            **({"population": float(population)} if population is not None else {}),
        }
        return self._apply(
            "compound", lambda c: c.add_units(units), args, subject=str(name or code or "")
        )

    def set_speed(self, speed_kmh: float) -> Scenario:
        """Change the walking speed (km/h): distances are kept, minutes and targets recomputed.

        Parameters
        ----------
        speed_kmh : float
            Walking speed.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.set_speed(3.0).figures()  # doctest: +SKIP

        """
        t0 = time.perf_counter()
        new = self.coverage.with_speed(float(speed_kmh))
        return self._replace("speed", new, {"speed_kmh": float(speed_kmh)}, t0)

    def set_targets(self, targets: Any) -> Scenario:
        """Measure against other targets, e.g. ``["10min", "20min"]``.

        Parameters
        ----------
        targets : str or list of str
            Anything :func:`geogrid.settings.parse_targets` reads.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.set_targets("10min,20min")  # doctest: +SKIP

        """
        names = [t.name for t in parse_targets(targets)]
        t0 = time.perf_counter()
        new = self.coverage.with_targets(names)
        return self._replace("targets", new, {"targets": names}, t0)

    def regrid(self, community_code: str, **options: Any) -> Scenario:
        """Redraw the grids of one community (options as for :func:`geogrid.grids`).

        Parameters
        ----------
        community_code : str
            The community.
        **options : Any
            As for :func:`geogrid.grids`.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.regrid("150203001001")  # doctest: +SKIP

        """
        if self._regrid is None or self.communities is None:
            msg = (
                "this scenario has no communities to redraw; make it from a study with communities"
            )
            raise InputError(msg)
        comm = self.communities[self.communities[COMMUNITY].astype(str) == str(community_code)]
        if comm.empty:
            msg = f"no community {community_code!r}; see scenario.communities['community_code']"
            raise InputError(msg)
        t0 = time.perf_counter()
        demand = self.coverage.demand
        rows = demand[demand[COMMUNITY].astype(str) == str(community_code)]
        drawn = self._regrid(comm, rows, network=self.coverage.net, **options)
        state = _State(self.coverage, {**self._state.grids, str(community_code): drawn})
        edit = Edit(
            "regrid",
            str(community_code),
            {"community_code": str(community_code), **options},
            time.perf_counter() - t0,
        )
        self._undo.append(_Undo(edit, self._state.grids, state=self._state))
        self._state = state
        self.edits.append(edit)
        return self

    # ----------------------------------------------------------------- replay
    def apply(self, edits: Iterable[Edit | dict[str, Any]]) -> Scenario:
        """Replay edits (e.g. read from ``scenario.json``) on this scenario.

        Parameters
        ----------
        edits : iterable of Edit or dict
            The edits, in order.

        Returns
        -------
        Scenario
            This scenario, edited (so edits chain).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.apply(json.loads(other.to_json())["edits"])  # doctest: +SKIP

        """
        for e in edits:
            kind, args = (
                (e.kind, dict(e.args)) if isinstance(e, Edit) else (e["kind"], dict(e["args"]))
            )
            self._replay(kind, args)
        return self

    def _replay(self, kind: str, args: dict[str, Any]) -> None:
        if kind == "add":
            where = tuple(args.pop("where"))
            self.add_station(where, **args)
        elif kind == "move":
            self.move_station(args["facility_id"], tuple(args["where"]))
        elif kind == "close":
            self.close_station(args["facility_id"])
        elif kind == "reopen":
            self.reopen_station(args["facility_id"])
        elif kind == "set":
            fid = args.pop("facility_id")
            self.set_station(fid, **args)
        elif kind == "compound":
            geom = shapely.from_wkt(args.pop("wkt_lonlat"))
            hh = args.pop("households")
            self.add_compound(("wgs84", geom), hh, **args)
        elif kind == "speed":
            self.set_speed(args["speed_kmh"])
        elif kind == "targets":
            self.set_targets(args["targets"])
        elif kind == "regrid":
            code = args.pop("community_code")
            self.regrid(code, **args)
        else:
            msg = f"unknown edit {kind!r} in the scenario file; it was written by a newer geogrid?"
            raise InputError(msg)

    def to_json(self) -> str:
        """Return the name and edits as JSON (what :meth:`apply` replays).

        Returns
        -------
        str
            JSON text.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.close_station("F0001").to_json()  # doctest: +SKIP

        """
        payload = {
            "name": self.name,
            "base": None if self.base is None else self.base.name,
            "edits": [{"kind": e.kind, "subject": e.subject, "args": e.args} for e in self.edits],
        }
        return json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=True, default=str)

    # ----------------------------------------------------------------- files
    def write(self, folder: str | Path, *, include_personal: bool = False) -> Path:
        """Write this scenario as a results folder: the files of ``geogrid coverage`` + ``scenario.json``.

        Parameters
        ----------
        folder : str or Path
            The output folder (the same rules as the command line's ``--out``).
        include_personal : bool
            Keep personal columns (off by default).

        Returns
        -------
        Path
            The folder.

        Examples
        --------
        >>> moved.write("out/moved")                       # doctest: +SKIP
        >>> Scenario.read("out/moved", base=base)          # doctest: +SKIP

        """
        from geogrid.analyses.coverage.engine import coverage_result
        from geogrid.api import write_coverage
        from geogrid.io.runfolder import RunFolder
        from geogrid.io.writers import atomic_write
        from geogrid.outputs.privacy import ExportGuard

        planned = ["coverage.gpkg", "summary.csv", SCENARIO_FILE]
        params = {"scenario": self.name, "edits": len(self.edits)}
        with RunFolder(folder, command="scenario", parameters=params, planned=planned) as run:
            res = coverage_result(self.coverage, communities=self.communities)
            write_coverage(res, run.stage, guard=ExportGuard(include_personal=include_personal))
            with atomic_write(run.stage / SCENARIO_FILE) as tmp:
                Path(tmp).write_text(self.to_json() + "\n", encoding="utf-8")
        return Path(folder)

    @classmethod
    def read(cls, folder: str | Path, *, base: Scenario) -> Scenario:
        """Read a scenario written by :meth:`write`: its edits replayed on ``base``.

        Parameters
        ----------
        folder : str or Path
            A folder written by :meth:`write`.
        base : Scenario
            The scenario it was derived from (e.g. ``geogrid.scenarios(study)``).

        Returns
        -------
        Scenario
            Named as written, with the same edits (and the same figures).

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.write("out")  # doctest: +SKIP
        >>> again = geogrid.Scenario.read("out", base=s)  # doctest: +SKIP

        """
        path = Path(folder) / SCENARIO_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            name, edits = str(data["name"]), list(data["edits"])
        except FileNotFoundError as exc:
            msg = f"{str(folder)!r} has no {SCENARIO_FILE}; pass a folder written by Scenario.write"
            raise InputError(msg) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            msg = (
                f"{str(path)!r} is not a scenario file ({exc}); write it again with Scenario.write"
            )
            raise InputError(msg) from exc
        return base.variant(name).apply(edits[len(base.edits) :])

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        f = self.figures()
        t = headline_target(self.coverage)
        return (
            f"<Scenario {self.name!r}: {len(self.edits)} edits, {int(f['stations'])} stations, "
            f"{f[f'coverage_{t.name}']:.1%} of {int(round(f['households'])):,} households "
            f"within {t.name}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        f = self.figures()
        cells = [
            ("户数", f"{int(round(f['households'])):,} 户"),
            ("站点", f"{int(f['stations'])} 个"),
        ]
        for t in self.coverage.targets:
            cells.append((f"{t.name} 覆盖率", f"{f[f'coverage_{t.name}']:.1%}"))
        cells.append(("P90 步行", f"{f['p90_walk_min']:.1f} 分钟"))
        row = "".join(f"<td>{escape(k)}<br><b>{escape(v)}</b></td>" for k, v in cells)
        edits = "；".join(escape(e.text()) for e in self.edits[-5:]) or "无编辑"
        return (
            f"<div><b>情景 {escape(self.name)}</b> <small>({escape(edits)})</small>"
            f"<table><tr>{row}</tr></table></div>"
        )

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Map layers of this scenario: communities with coverage, stations with loads, demand.

        Returns
        -------
        dict of str to GeoDataFrame
            Layer name -> layer.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> sorted(s.layers())  # doctest: +SKIP

        """
        out: dict[str, gpd.GeoDataFrame] = {}
        if self.communities is not None and COMMUNITY in self.communities.columns:
            agg = self.coverage.aggregates(by=COMMUNITY)
            comm = to_metric(self.communities, self.coverage.net.crs)
            keep = [c for c in comm.columns if c not in agg.columns or c == COMMUNITY]
            out["communities"] = comm[keep].merge(agg, on=COMMUNITY, how="left")
        out["facilities"] = self.loads()
        out["demand"] = self.table()
        if self._state.grids:
            drawn = [self._state.grids[k] for k in sorted(self._state.grids)]
            out["grids"] = gpd.GeoDataFrame(pd.concat(drawn, ignore_index=True), crs=drawn[0].crs)
        return out

    def explore(self, *, height: int = 480, lang: str = "zh", tiles: str = "osm") -> InlineMap:
        """Return an inline map of this scenario (scripts inlined: works with no internet).

        Parameters
        ----------
        height : int
            Height of the map in pixels.
        lang : {"zh", "en"}
            Language of layer names, legend and popups.
        tiles : {"osm", "amap", "tianditu", "none"}
            Basemap (tiles need the internet; everything else is in the page).

        Returns
        -------
        InlineMap
            Displays itself in a notebook; ``.html`` is the page.

        Examples
        --------
        >>> s = geogrid.scenario(geogrid.load_demo(n_communities=2))  # doctest: +SKIP
        >>> s.explore(tiles="none")  # doctest: +SKIP

        """
        return InlineMap.of(self.layers(), title=self.name, height=height, lang=lang, tiles=tiles)

    # ----------------------------------------------------------------- helpers
    def _apply(
        self,
        kind: str,
        run: Callable[[Coverage], Any],
        args: dict[str, Any],
        *,
        inverse: Inverse | None = None,
        subject: str | None = None,
        subject_from_result: bool = False,
    ) -> Scenario:
        """Run one engine edit, time it, log it with the way to take it back.

        With an ``inverse`` the edit runs in place and undo runs the inverse edit (as
        incremental as the edit); without one the edit runs on a copy and undo returns to
        the state before it.
        """
        before = self._state
        t0 = time.perf_counter()
        if inverse is not None:
            cov = before.cov
            back = inverse(cov)
        else:  # the copy kept for undo is part of the edit's time
            cov = before.cov.copy()
        result = run(cov)
        seconds = time.perf_counter() - t0
        if subject_from_result:
            subject = str(result)
            args = {**args, "facility_id": subject}
        edit = Edit(
            kind,
            subject if subject is not None else str(args.get("facility_id", "")),
            args,
            seconds,
        )
        if inverse is not None:
            undo = _Undo(edit, before.grids, inverse=lambda c: back(c, result))
        else:
            undo = _Undo(edit, before.grids, state=before)
        self._undo.append(undo)
        self._state = _State(cov, before.grids)
        self.edits.append(edit)
        return self

    def _replace(self, kind: str, cov: Coverage, args: dict[str, Any], t0: float) -> Scenario:
        subject = str(next(iter(args.values())))
        edit = Edit(kind, subject, args, time.perf_counter() - t0)
        self._undo.append(_Undo(edit, self._state.grids, state=self._state))
        self._state = _State(cov, self._state.grids)
        self.edits.append(edit)
        return self

    def _geometry(self, where: Any) -> Any:
        crs = self.coverage.net.crs
        if isinstance(where, tuple) and len(where) == 2 and where[0] == "wgs84":
            return gpd.GeoSeries([where[1]], crs=4326).to_crs(crs).iloc[0]
        if isinstance(where, (tuple, list)) and len(where) == 2:
            lon, lat = (float(v) for v in where)
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                msg = f"({lon}, {lat}) is not a longitude/latitude; pass (lon, lat) in WGS84"
                raise InputError(msg)
            return gpd.GeoSeries([Point(lon, lat)], crs=4326).to_crs(crs).iloc[0]
        if isinstance(where, shapely.Geometry):
            return where
        msg = f"cannot place {where!r}; pass (lon, lat) in WGS84 or a shapely geometry in the study CRS"
        raise InputError(msg)

    def _point(self, where: Any) -> Any:
        geom = self._geometry(where)
        return geom if geom.geom_type == "Point" else geom.representative_point()

    def _community_at(self, geom: Any) -> str | None:
        if self.communities is None or COMMUNITY not in self.communities.columns:
            return None
        comm = to_metric(self.communities, self.coverage.net.crs)
        hit = comm[comm.contains(geom.representative_point())]
        return None if hit.empty else str(hit[COMMUNITY].iloc[0])

    def _named(self, table: pd.DataFrame) -> pd.DataFrame:
        if self.communities is None or "name" not in self.communities.columns:
            return table
        names = dict(
            zip(self.communities[COMMUNITY].astype(str), self.communities["name"], strict=False)
        )
        out = table.copy()
        out.insert(1, "community_name", out[COMMUNITY].astype(str).map(names))
        return out

    def _street_names(self) -> dict[str, str]:
        comm = self.communities
        if comm is None or "street_name" not in comm.columns:
            return {}
        codes = comm[COMMUNITY].astype(str).str[:_STREET_DIGITS]
        return dict(zip(codes, comm["street_name"].astype(str), strict=False))


def _withdraw(cov: Coverage) -> Callable[[Coverage, Any], None]:
    """Inverse of adding a station: withdraw it and put back the facility table as it was."""
    table = cov.facilities

    def back(c: Coverage, facility_id: Any) -> None:
        c.withdraw_facility(str(facility_id))
        c.facilities = table  # the same rows; keeps the column types the append widened

    return back


def _move_back(facility_id: str) -> Inverse:
    """Inverse of moving a station: move it back to where it stood."""

    def before(cov: Coverage) -> Callable[[Coverage, Any], None]:
        fac = cov.facilities
        row = fac.index[(fac["facility_id"].astype(str) == facility_id) & fac["active"]]
        old = fac.geometry.loc[row[0]] if len(row) else None

        def back(c: Coverage, _result: Any) -> None:
            c.move_facility(facility_id, old)

        return back

    return before


def _set_back(facility_id: str, keys: list[str]) -> Inverse:
    """Inverse of changing a station: set its old values again."""

    def before(cov: Coverage) -> Callable[[Coverage, Any], None]:
        fac = cov.facilities
        row = fac.index[(fac["facility_id"].astype(str) == facility_id) & fac["active"]]
        old = {k: fac.at[row[0], k] for k in keys if k in fac.columns} if len(row) else {}

        def back(c: Coverage, _result: Any) -> None:
            c.set_facility(facility_id, **old)

        return back

    return before


def headline_target(cov: Coverage) -> Any:
    """Return the headline target: the primary one (15 min) when measured, else the first.

    Parameters
    ----------
    cov : Coverage
        A computed coverage.

    Returns
    -------
    Target
        One of ``cov.targets``.

    """
    for t in cov.targets:
        if t.name == cov.settings.primary_target:
            return t
    return cov.targets[0]


def _partition_one(
    community: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, *, network: Any, **options: Any
) -> gpd.GeoDataFrame:
    """Grids of one community by the grids analysis (options: household band, seed)."""
    from geogrid.analyses.grids.partition import partition

    comm = to_metric(community, network.crs)
    return partition(comm, demand, network_edges=network.edges, **options).grids


def _lonlat(point: Any, crs: Any) -> list[float]:
    p = gpd.GeoSeries([point], crs=crs).to_crs(4326).iloc[0]
    return [round(float(p.x), 7), round(float(p.y), 7)]


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(values[ok], kind="stable")
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, q * cum[-1])])


def scenario(
    source: Any,
    *,
    name: str = "基准",
    targets: Any = None,
    speed_kmh: float | None = None,
    private: str | None = None,
) -> Scenario:
    """Start a named scenario from a study area or a coverage result.

    Parameters
    ----------
    source : StudyArea or CoverageResults
        A study area (its coverage is computed on its prepared, snapped inputs) or the result
        of :func:`geogrid.coverage` (its engine is copied, nothing is recomputed).
    name : str
        The scenario's name (default 基准, "base").
    targets, speed_kmh, private
        As for :func:`geogrid.coverage`, when ``source`` is a study area.

    Returns
    -------
    Scenario
        Derive variants with :meth:`Scenario.variant`; compare them with :func:`compare`.

    Examples
    --------
    >>> study = geogrid.load_demo()                               # doctest: +SKIP
    >>> base = geogrid.scenarios(study)                            # doctest: +SKIP
    >>> slow = base.variant("慢行").set_speed(3.0)                 # doctest: +SKIP
    >>> geogrid.compare(base, slow).verdicts                      # doctest: +SKIP

    """
    from geogrid.api import coverage_engine
    from geogrid.study.area import StudyArea

    if isinstance(source, StudyArea):
        cov = coverage_engine(source, targets=targets, speed_kmh=speed_kmh, private=private)
        return Scenario(cov, name=name, communities=source.communities)
    engine = getattr(source, "coverage", None)
    if isinstance(engine, Coverage):
        study = getattr(source, "study", None)
        communities = getattr(study, "communities", None)
        return Scenario(engine, name=name, communities=communities)
    msg = (
        f"cannot start a scenario from {type(source).__name__}; pass a study area "
        "(geogrid.load_study) or a coverage result (geogrid.coverage)"
    )
    raise InputError(msg)


# --------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """A base scenario and its variants, side by side.

    Attributes
    ----------
    communities, streets : DataFrame
        One row per community (street) and scenario: households, coverage per target,
        households gained and lost against the base, median and P90 walking minutes.
    stations : DataFrame
        One row per active station and scenario: households served and whether overloaded.
    verdicts : DataFrame
        One plain-language sentence per variant.

    """

    scenarios: list[Scenario]
    communities: pd.DataFrame
    streets: pd.DataFrame
    stations: pd.DataFrame
    verdicts: pd.DataFrame
    lang: str = "zh"

    def explore(self, *, height: int = 420, lang: str = "zh", tiles: str = "osm") -> InlineMap:
        """Return the scenarios' maps side by side (scripts inlined: works with no internet).

        Parameters
        ----------
        height : int
            Height of each map in pixels.
        lang : {"zh", "en"}
            Language of layer names, legend and popups.
        tiles : {"osm", "amap", "tianditu", "none"}
            Basemap (tiles need the internet; everything else is in the page).

        Returns
        -------
        InlineMap
            Displays the maps in a row with each scenario's name above its map.

        """
        maps = [
            InlineMap.of(s.layers(), title=s.name, height=height, lang=lang, tiles=tiles)
            for s in self.scenarios
        ]
        return InlineMap.row(maps)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td><b>{escape(str(s))}</b></td><td>{escape(str(v))}</td></tr>"
            for s, v in zip(self.verdicts.iloc[:, 0], self.verdicts.iloc[:, 1], strict=True)
        )
        return f"<table>{rows}</table>"

    def __repr__(self) -> str:
        return "\n".join(
            f"{s}: {v}"
            for s, v in zip(self.verdicts.iloc[:, 0], self.verdicts.iloc[:, 1], strict=True)
        )


def compare(base: Scenario, *variants: Scenario, lang: str = "zh") -> Comparison:
    """Compare variants with a base, per community, per street and per station.

    Parameters
    ----------
    base : Scenario
        The reference; gains and losses are counted against it.
    *variants : Scenario
        The scenarios to compare with it (at least one).
    lang : {"zh", "en"}
        Language of the verdicts.

    Returns
    -------
    Comparison
        Tables per community, street and station, and a verdict per variant.

    Examples
    --------
    >>> cmp = geogrid.compare(base, moved, added)  # doctest: +SKIP
    >>> cmp.communities.head()                     # doctest: +SKIP

    """
    if not variants:
        msg = "compare needs a base and at least one variant; pass compare(base, variant, ...)"
        raise InputError(msg)
    check_lang(lang)
    scenarios = [base, *variants]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        msg = f"scenario names must differ to be compared, got {names}; name them with variant()"
        raise InputError(msg)
    target = headline_target(base.coverage)
    communities = _stack(scenarios, lambda s: s.by_community(), COMMUNITY, base, target)
    streets = _stack(scenarios, lambda s: s.by_street(), STREET, base, target)
    stations = pd.concat([_station_rows(s) for s in scenarios], ignore_index=True)
    verdicts = pd.DataFrame(
        {
            ("情景" if lang == "zh" else "scenario"): [v.name for v in variants],
            ("结论" if lang == "zh" else "verdict"): [
                verdict(base, v, lang=lang) for v in variants
            ],
        }
    )
    return Comparison(scenarios, communities, streets, stations, verdicts, lang)


def _within(s: Scenario, target_name: str) -> tuple[np.ndarray, np.ndarray]:
    tbl = s._table()
    col = f"within_{target_name}"
    hh = tbl["households"].to_numpy(dtype=float)
    if col not in tbl.columns:
        d = tbl["dist_m"].to_numpy(dtype=float)
        limit = parse_targets([target_name])[0].max_dist_m(s.coverage.speed_kmh)
        return hh, d <= limit
    return hh, tbl[col].to_numpy(dtype=bool)


def _gains(base: Scenario, s: Scenario, target_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Households gained and lost per unit (units added by ``s`` count as gained if within)."""
    hb, wb = _within(base, target_name)
    hs, ws = _within(s, target_name)
    n = min(len(wb), len(ws))
    gained = np.zeros(len(ws))
    lost = np.zeros(len(ws))
    gained[:n] = np.where(ws[:n] & ~wb[:n], hs[:n], 0.0)
    lost[:n] = np.where(~ws[:n] & wb[:n], hs[:n], 0.0)
    gained[n:] = np.where(ws[n:], hs[n:], 0.0)
    return gained, lost


def _stack(
    scenarios: list[Scenario],
    table_of: Callable[[Scenario], pd.DataFrame],
    key: str,
    base: Scenario,
    target: Any,
) -> pd.DataFrame:
    frames = []
    for s in scenarios:
        tab = table_of(s).copy()
        gained, lost = _gains(base, s, target.name)
        tbl = s._table()
        if key == STREET:
            zone = tbl[COMMUNITY].astype(str).str[:_STREET_DIGITS]
        else:
            zone = tbl[COMMUNITY].astype(str)
        g = pd.Series(gained).groupby(zone.to_numpy()).sum()
        lo = pd.Series(lost).groupby(zone.to_numpy()).sum()
        tab[f"gained_hh_{target.name}"] = (
            tab[key].astype(str).map(g).fillna(0.0).round(0).astype(int)
        )
        tab[f"lost_hh_{target.name}"] = (
            tab[key].astype(str).map(lo).fillna(0.0).round(0).astype(int)
        )
        tab.insert(0, "scenario", s.name)
        frames.append(tab)
    return pd.concat(frames, ignore_index=True)


def _station_rows(s: Scenario) -> pd.DataFrame:
    fac = s.loads()
    cols = [
        c for c in ("facility_id", "name", "type", "served_households", "overloaded") if c in fac
    ]
    out = pd.DataFrame(fac[cols]).copy()
    out.insert(0, "scenario", s.name)
    return out


def verdict(base: Scenario, s: Scenario, *, lang: str = "zh") -> str:
    """One sentence on what a variant changes against the base.

    Parameters
    ----------
    base, s : Scenario
        The reference and the variant.
    lang : {"zh", "en"}
        Language of the sentence.

    Returns
    -------
    str
        Coverage before and after at the first target, households gained and lost, the
        change of the 90th-percentile walk, and how many communities still miss the target.

    """
    t = headline_target(base.coverage)
    fb, fs = base.figures(), s.figures()
    gained, lost = _gains(base, s, t.name)
    share_b = fb.get(f"coverage_{t.name}", float("nan"))
    _, within = _within(s, t.name)
    tbl = s._table()
    share_s = float(tbl["households"].to_numpy(float)[within].sum() / max(fs["households"], 1e-9))
    comm = s.by_community()
    col = f"coverage_{t.name}"
    missing = int((comm[col] < 1.0).sum()) if col in comm else 0
    g, lo = int(round(gained.sum())), int(round(lost.sum()))
    if check_lang(lang) == 0:
        return (
            f"{target_label(t.name, 'zh')}覆盖率 {share_b:.1%} → {share_s:.1%}（新增覆盖 {g:,} 户，失去 {lo:,} 户）；"
            f"P90 步行 {fb['p90_walk_min']:.1f} → {fs['p90_walk_min']:.1f} 分钟；"
            f"仍有 {missing} 个社区未全部覆盖。"
        )
    return (
        f"{t.name} coverage {share_b:.1%} -> {share_s:.1%} ({g:,} households gained, {lo:,} lost); "
        f"P90 walk {fb['p90_walk_min']:.1f} -> {fs['p90_walk_min']:.1f} min; "
        f"{missing} communities not fully covered."
    )
