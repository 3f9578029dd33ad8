"""Walking-network coverage of party-mass service centres and stations.

Every distance is measured on the walking network, edge-snapped at both ends with both snap
legs included. The engine keeps per-node fields (distance to and index of the nearest
facility) so that adding, removing or moving one facility updates only the part of the network
whose nearest facility changes (see :meth:`Coverage.add_facility`).

Output columns of :meth:`Coverage.table` (one row per demand unit, input columns kept):
``nearest_id``, ``nearest_name``, ``nearest_type``, ``dist_m``, ``walk_min``, one boolean
``within_<target>`` per target (``within_5min``, ``within_10min``, ``within_15min``,
``within_1km`` by default), ``second_id``, ``second_dist_m`` (redundancy), ``snap_m``,
``snap_far`` (leg longer than ``max_snap_m``), ``snap_island`` (nearest edge on a network
island, snapped to the main network instead), and per facility type present
``dist_m_<type>`` and ``meets_<type>`` (within the
type's own target, ``settings.type_targets``), plus ``meets_type_targets`` (any facility
within its own type's target).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from geogrid.analyses.coverage.areas import merge_intervals
from geogrid.analyses.coverage.reasons import (
    REASON_COLUMNS,
    gap_reasons,
    unit_causes,
    zone_reasons,
)
from geogrid.analyses.siting.matrix import coverage_pairs
from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.network import paths as _paths
from geogrid.network.build import WalkNetwork
from geogrid.network.snap import Snap, representative_points, snap_points
from geogrid.settings import (
    DEFAULTS,
    FACILITY_TYPE_NAMES_ZH,
    Settings,
    Target,
    parse_targets,
)
from geogrid.study.demand import prepare_demand
from geogrid.study.facilities import normalise_type, prepare_facilities
from geogrid.study.households import round_households

__all__ = [
    "Coverage",
    "aggregate",
    "circle_overstatement",
    "compute_coverage",
    "facility_load",
    "gaps",
    "run_coverage",
    "served_by",
    "service_areas",
    "two_step_fca",
]

log = logging.getLogger(__name__)


def _concat_snaps(a: Snap, b: Snap) -> Snap:
    return Snap(
        **{k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in a.__dataclass_fields__}
    )


def _replace_snap(a: Snap, j: int, b: Snap) -> Snap:
    """Return ``a`` with row ``j`` replaced by the one row of ``b``."""
    out = {}
    for k in a.__dataclass_fields__:
        col = getattr(a, k).copy()
        col[j] = getattr(b, k)[0]
        out[k] = col
    return Snap(**out)


#: Metres within which a reached piece counts as starting or ending at the edge's end.
#: Metres added to a what-if search's straight-line bound so that rounding never prunes a node.
_BOUND_TOL_M = 1e-6


#: Shortest seed length in a region search (csgraph needs positive arc weights).
_SEED_MIN_M = 1e-9


def _seeded_search(
    m: int,
    inner: tuple[np.ndarray, np.ndarray, np.ndarray],
    seeds: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest seed source of each of ``m`` region nodes (one multi-source Dijkstra).

    ``inner``: arcs ``(tail, head, length)`` between region nodes (local numbers); ``seeds``:
    ``(node, distance, source)``, a source reaching a node at that distance from outside.
    Each distinct source becomes one virtual node with an arc to each node it seeds, so
    csgraph's ``min_only`` search names the source of every node's nearest label. Returns
    the distance and source per node (``inf`` / -1: not reached).
    """
    node, dist, src = seeds
    ok = np.isfinite(dist) & (src >= 0)
    node, dist, src = node[ok], dist[ok], src[ok]
    d = np.full(m, np.inf)
    s = np.full(m, -1, dtype=np.int64)
    if len(node) == 0:
        return d, s
    sources, v = np.unique(src, return_inverse=True)
    order = np.lexsort((dist, node, v))
    v, node, dist = v[order], node[order], dist[order]
    first = np.r_[True, (v[1:] != v[:-1]) | (node[1:] != node[:-1])]
    k = len(sources)
    tail, head, length = inner
    graph = sparse.csr_matrix(
        (
            np.concatenate([length, np.maximum(dist[first], _SEED_MIN_M)]),
            (np.concatenate([tail, m + v[first]]), np.concatenate([head, node[first]])),
        ),
        shape=(m + k, m + k),
    )
    dist_all, _, origin = csgraph.dijkstra(
        graph, directed=True, indices=m + np.arange(k), min_only=True, return_predecessors=True
    )
    d = np.asarray(dist_all[:m])
    origin = origin[:m]
    got = np.isfinite(d) & (origin >= m)
    s[got] = sources[origin[got] - m]
    d[~got] = np.inf
    return d, s


def _second_labels(
    fld: _paths.NodeField,
    region: np.ndarray,
    loc: np.ndarray,
    arcs: tuple[np.ndarray, np.ndarray, np.ndarray],
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Second-nearest distinct source of the ``region`` nodes, their nearest already known.

    ``d2(x) = min(min over arcs y->x with s1(y) != s1(x) of d1(y) + w, min over arcs with
    s1(y) == s1(x) of d2(y) + w)`` (:func:`geogrid.network.paths.node_field`), plus the
    links of sources other than ``s1(x)`` into ``x``. Labels outside the region are kept;
    one search along the arcs inside nearest-source cells solves the rest. ``arcs``: the
    region's in-arcs ``(head local, tail node, length)``; ``links``: ``(local, length,
    source)``.
    """
    assert fld.d2 is not None or len(region) == len(fld.d1)
    head, tail, w = arcs
    lx, lw, ls = links
    s1x = fld.s1[region]
    sx, sy = s1x[head], fld.s1[tail]
    inside = loc[tail] >= 0
    valid = (sx >= 0) & (sy >= 0)
    cross = valid & (sy != sx)
    same = valid & (sy == sx)
    keep = same & ~inside
    d2o = fld.d2 if fld.d2 is not None else np.full(len(fld.d1), np.inf)
    s2o = fld.s2 if fld.s2 is not None else np.full(len(fld.d1), -1, dtype=np.int64)
    other = (ls != s1x[lx]) & (s1x[lx] >= 0)
    seeds = (
        np.concatenate([head[cross], head[keep], lx[other]]),
        np.concatenate([fld.d1[tail[cross]] + w[cross], d2o[tail[keep]] + w[keep], lw[other]]),
        np.concatenate([sy[cross], s2o[tail[keep]], ls[other]]),
    )
    inner = same & inside
    return _seeded_search(len(region), (loc[tail[inner]], head[inner], w[inner]), seeds)


_ROW_KEYS = frozenset({"geometry", "name", "type", "area_m2", "capacity", "facility_id"})


def _point_row(facility: dict[str, Any], crs: Any, new_id: str) -> gpd.GeoDataFrame | None:
    """One added facility as :func:`prepare_facilities` would give it, without its overhead.

    Only for the plain case: a dict with a finite point, a known type and no other keys;
    returns None otherwise (the caller then runs :func:`prepare_facilities`). ``new_id``
    is the id when the dict has none.
    """
    geom = facility.get("geometry")
    raw = facility.get("type")
    if (
        not set(facility) <= _ROW_KEYS
        or not isinstance(geom, shapely.Point)
        or geom.is_empty
        or not np.isfinite(shapely.get_coordinates(geom)).all()
        or raw is None
        or (norm := normalise_type(raw)) is None
    ):
        return None
    fid = facility.get("facility_id")
    if fid is None or pd.isna(fid):
        fid = new_id
    name = facility.get("name")
    rec: dict[str, Any] = {
        "facility_id": str(fid),
        "name": str(fid) if name is None or pd.isna(name) else name,
        "type": norm,
        "type_zh": FACILITY_TYPE_NAMES_ZH.get(norm),
        "area_m2": pd.to_numeric(pd.Series([facility.get("area_m2")]), errors="coerce").iloc[0],
        "capacity": pd.to_numeric(pd.Series([facility.get("capacity")]), errors="coerce").iloc[0],
    }
    if not pd.isna(raw) and str(raw) != norm:
        rec["type_raw"] = raw
    return gpd.GeoDataFrame({k: [v] for k, v in rec.items()}, geometry=[geom], crs=crs)


@dataclass
class Coverage:
    """Coverage state of one study area: network, demand, facilities and per-node fields.

    Build it with :func:`compute_coverage`. Facilities are never renumbered: a removed one
    stays in :attr:`facilities` with ``active == False``.
    """

    net: WalkNetwork
    demand: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    targets: tuple[Target, ...]
    speed_kmh: float
    settings: Settings
    unit_snap: Snap
    fac_snap: Snap
    by_type: bool = True
    second: bool = True
    _field: _paths.NodeField | None = field(default=None, repr=False)
    _type_fields: dict[str, _paths.NodeField] = field(default_factory=dict, repr=False)
    _cols: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _touched: np.ndarray | None = field(default=None, repr=False)
    _touched_edges: set[int] = field(default_factory=set, repr=False)
    _dirty: set[str] = field(default_factory=set, repr=False)
    _aggs: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ fields
    def _active(self, idx: np.ndarray | None = None) -> np.ndarray:
        act = np.flatnonzero(self.facilities["active"].to_numpy())
        if idx is None:
            return act
        return np.intersect1d(act, idx)

    def _compute_field(self, idx: np.ndarray, *, second: bool) -> _paths.NodeField:
        sub = self.fac_snap.take(idx)
        fld = _paths.node_field(self.net, sub, second=second)
        s1 = np.where(fld.s1 >= 0, idx[np.maximum(fld.s1, 0)], -1)
        s2 = None
        if fld.s2 is not None:
            s2 = np.where(fld.s2 >= 0, idx[np.maximum(fld.s2, 0)], -1)
        return _paths.NodeField(fld.d1, s1, fld.d2, s2, fld.graph)

    @property
    def field(self) -> _paths.NodeField:
        """Nearest (and second-nearest) active facility per node."""
        if self._field is None:
            self._field = self._compute_field(self._active(), second=self.second)
        elif self.second and self._field.d2 is None:
            # built (and perhaps edited) without second-nearest: add it to the kept nearest
            self._field = self._with_second(self._field)
        return self._field

    def type_field(self, ftype: str) -> _paths.NodeField:
        """Nearest active facility of one type per node."""
        if ftype not in self._type_fields:
            idx = self._active(np.flatnonzero(self.facilities["type"].to_numpy() == ftype))
            self._type_fields[ftype] = self._compute_field(idx, second=False)
        return self._type_fields[ftype]

    def max_dist_m(self, target: str | Target) -> float:
        """Distance in metres a target allows at this coverage's walking speed."""
        if isinstance(target, Target):
            return target.max_dist_m(self.speed_kmh)
        for t in self.targets:
            if t.name == target:
                return t.max_dist_m(self.speed_kmh)
        return parse_targets(target)[0].max_dist_m(self.speed_kmh)

    # ------------------------------------------------------------------ table
    def nearest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Per unit: distance to and index of nearest (and second-nearest) active facility."""
        active = self._active()
        return _paths.unit_nearest(
            self.field, self.unit_snap, self.fac_snap, second=self.second, active=active
        )

    def _present_types(self) -> list[str]:
        types = self.facilities["type"].to_numpy(dtype=object)
        return sorted(str(t) for t in pd.unique(types[self._active()]))

    def _columns(
        self, rows: np.ndarray | None, only: set[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Coverage columns of the units ``rows`` (all units when None), in table order.

        ``only``: recompute only these facility types' columns (the others are read from
        the cached columns, which must then exist).
        """
        unit = self.unit_snap if rows is None else self.unit_snap.take(rows)
        active = self._active()
        ends = self.field.ends(unit)
        d1, s1, d2, s2 = _paths.unit_nearest(
            self.field, unit, self.fac_snap, second=self.second, active=active, ends=ends
        )
        fac = self.facilities
        ids = fac["facility_id"].to_numpy(dtype=object)
        names = fac["name"].to_numpy(dtype=object)
        types = fac["type"].to_numpy(dtype=object)
        has = s1 >= 0
        out: dict[str, Any] = {
            "nearest_id": np.where(has, ids[np.maximum(s1, 0)], None),
            "nearest_name": np.where(has, names[np.maximum(s1, 0)], None),
            "nearest_type": np.where(has, types[np.maximum(s1, 0)], None),
            "dist_m": np.round(d1, 3),
            "walk_min": np.round(d1 / (self.speed_kmh * 1000.0 / 60.0), 3),
            "_d1": d1,
        }
        for t in self.targets:
            out[t.column] = d1 <= t.max_dist_m(self.speed_kmh)
        if self.second and s2 is not None and d2 is not None:
            has2 = s2 >= 0
            out["second_id"] = np.where(has2, ids[np.maximum(s2, 0)], None)
            out["second_dist_m"] = np.round(d2, 3)
        out["snap_m"] = np.round(unit.snap_m, 3)
        out["snap_far"] = unit.far
        out["snap_island"] = unit.island
        if self.by_type:
            meets_any = np.zeros(len(unit), dtype=bool)
            for ftype in self._present_types():
                if only is not None and ftype not in only:
                    assert self._cols is not None and rows is not None
                    meets_any |= self._cols[f"meets_{ftype}"][rows]
                    continue
                fld = self.type_field(ftype)
                idx = self._active(np.flatnonzero(types == ftype))
                dt, _, _, _ = _paths.unit_nearest(
                    fld, unit, self.fac_snap, second=False, active=idx, ends=ends
                )
                out[f"dist_m_{ftype}"] = np.round(dt, 3)
                out[f"_dt_{ftype}"] = dt
                tname = self.settings.type_targets.get(ftype, self.settings.primary_target)
                meets = dt <= self.max_dist_m(tname)
                out[f"meets_{ftype}"] = meets
                meets_any |= meets
            out["meets_type_targets"] = meets_any
        return out

    def _affected_units(self) -> np.ndarray:
        """Units whose edge ends (or edge) an edit touched since the columns were computed."""
        if self._touched is None and not self._touched_edges:
            return np.zeros(0, dtype=np.int64)
        xu, xv = _paths.unit_ends(self.net, self.unit_snap)
        hit = np.zeros(len(self.unit_snap), dtype=bool)
        if self._touched is not None:
            hit = self._touched[xu] | self._touched[xv]
        if self._touched_edges:
            hit |= np.isin(self.unit_snap.edge, np.fromiter(self._touched_edges, np.int64))
        return np.flatnonzero(hit)

    def _refresh(self) -> np.ndarray | None:
        """Bring the cached columns up to date; return the units patched (None: all)."""
        keys = [f"dist_m_{t}" for t in self._present_types()] if self.by_type else []
        if (
            self._cols is None
            or any(k not in self._cols for k in keys)
            or (self.by_type and sum(c.startswith("dist_m_") for c in self._cols) != len(keys))
            or self.second != ("second_id" in self._cols)
        ):
            self._cols = self._columns(None)
            self._touched, self._touched_edges, self._dirty = None, set(), set()
            for agg in self._aggs.values():
                agg["stale"] = True
            return None
        rows = self._affected_units()
        types, self._dirty = self._dirty, set()
        self._touched, self._touched_edges = None, set()
        if len(rows):
            fresh = self._columns(rows, types)
            # aggregates read the nearest distance only: their zones change where it did
            moved = rows[fresh["_d1"] != self._cols["_d1"][rows]]
            for name, values in fresh.items():
                self._cols[name][rows] = values
            for agg in self._aggs.values():
                agg["pending"][moved] = True
        return rows

    def table(self) -> gpd.GeoDataFrame:
        """Return the demand layer with the coverage columns (see module docstring).

        The columns are kept between calls: after :meth:`add_facility`,
        :meth:`remove_facility` or :meth:`move_facility` only the units whose nearest
        facilities changed are recomputed.
        """
        self._refresh()
        assert self._cols is not None
        cols = {k: v for k, v in self._cols.items() if not k.startswith("_")}
        if any(k in self.demand.columns for k in cols) or not self.demand.index.is_unique:
            out = self.demand.copy()
            for name, values in cols.items():
                out[name] = values.copy()
            return out
        # the frame copies the cached columns (pandas' copy-on-write keeps the demand apart)
        return pd.concat(
            [self.demand, pd.DataFrame(cols, index=self.demand.index, copy=True)], axis=1
        )

    def aggregates(self, by: str = "community_code") -> pd.DataFrame:
        """Coverage aggregates per zone of the demand's ``by`` column (see :func:`aggregate`).

        Kept between calls: after an edit only the zones of the units that changed are
        recomputed. ``n_facilities`` counts active facilities when they carry ``by``.
        """
        if by not in self.demand.columns:
            msg = f"demand has no {by!r} column; pass by= one of its zone columns"
            raise InputError(msg)
        self._refresh()
        assert self._cols is not None
        agg = self._aggs.get(by)
        if agg is None or agg["stale"]:
            agg = self._new_aggregates(by)
        cols = {
            **agg["base"],
            **{c: self._cols[c] for c in ["walk_min", *(t.column for t in self.targets)]},
        }
        values = agg["values"]
        if values is None:
            agg["values"] = _zone_values(agg["rows"], cols, self.targets)
            agg["df"] = None
        elif agg["pending"].any():
            todo = np.unique(agg["zone_of"][agg["pending"]])
            fresh = _zone_values([agg["rows"][i] for i in todo.tolist()], cols, self.targets)
            for name, col in fresh.items():
                values[name][todo] = col
            agg["df"] = None
        agg["pending"][:] = False
        if agg["df"] is None:
            agg["df"] = pd.DataFrame({by: agg["zones"], **agg["values"]})
        out = agg["df"].copy()
        if by in self.facilities.columns:
            fzone = self.facilities[by].map(agg["pos"]).to_numpy(dtype=float)
            ok = self.facilities["active"].to_numpy(dtype=bool) & np.isfinite(fzone)
            out["n_facilities"] = np.bincount(
                fzone[ok].astype(np.int64), minlength=len(out)
            ).astype(int)
        return out

    def _new_aggregates(self, by: str) -> dict[str, Any]:
        """Zone index of the demand for :meth:`aggregates` (records filled on first use)."""
        zones, zone_rows = _zone_index(self.demand[by])
        zone_of = np.empty(len(self.demand), dtype=np.int64)
        for i, idx in enumerate(zone_rows):
            zone_of[idx] = i
        agg = {
            "zones": zones,
            "pos": {z: i for i, z in enumerate(zones)},
            "rows": zone_rows,
            "zone_of": zone_of,
            "base": {
                **{
                    c: self.demand[c].to_numpy(dtype=float)
                    for c in ("households", "population", "party_members")
                },
                **(
                    {"elderly": _elderly_values(self.demand)}
                    if "elderly" in self.demand.columns
                    else {}
                ),
            },
            "values": None,
            "df": None,
            "pending": np.zeros(len(self.demand), dtype=bool),
            "stale": False,
        }
        self._aggs[by] = agg
        return agg

    def with_speed(self, speed_kmh: float) -> Coverage:
        """Return a copy at another walking speed (distances are reused, minutes recomputed)."""
        speed = float(speed_kmh)
        if not speed > 0:
            msg = f"walking speed must be positive, got {speed!r}; pass e.g. speed_kmh=4"
            raise InputError(msg)
        out = self.copy()
        out.speed_kmh = speed
        out.settings = replace(self.settings, speed_kmh=speed)
        out._aggs = {
            k: {**a, "values": None, "df": None, "pending": np.zeros_like(a["pending"])}
            for k, a in self._aggs.items()
        }
        if out._cols is not None:
            cols = out._cols
            d1 = cols["_d1"]
            cols["walk_min"] = np.round(d1 / (speed * 1000.0 / 60.0), 3)
            for t in out.targets:
                cols[t.column] = d1 <= t.max_dist_m(speed)
            if out.by_type:
                meets_any = np.zeros(len(d1), dtype=bool)
                for ftype in out._present_types():
                    tname = out.settings.type_targets.get(ftype, out.settings.primary_target)
                    meets = cols[f"_dt_{ftype}"] <= out.max_dist_m(tname)
                    cols[f"meets_{ftype}"] = meets
                    meets_any |= meets
                cols["meets_type_targets"] = meets_any
        return out

    # ------------------------------------------------------------------ what-if
    def _mark(self, nodes: Any) -> None:
        """Remember graph nodes whose fields changed (their units are patched in the table)."""
        if self._touched is None:
            self._touched = np.zeros(_paths.n_graph_nodes(self.net), dtype=bool)
        self._touched[nodes] = True

    def _region(self, region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the in-arcs of the nodes ``region``.

        Returns the local position of every graph node (-1: outside the region), and per arc
        its head (local), its tail (graph node) and its length.
        """
        g = _paths.walk_graph(self.net)
        loc = np.full(g.n, -1, dtype=np.int64)
        loc[region] = np.arange(len(region))
        tin = g.transpose()[region]
        head = np.repeat(np.arange(len(region)), np.diff(tin.indptr))
        return loc, head, tin.indices.astype(np.int64), tin.data

    def _links_into(
        self, loc: np.ndarray, cand: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Source links of facilities ``cand`` that enter the region: (local node, length, facility)."""
        lj, lnode, lw = _paths.source_links(self.net, self.fac_snap.take(cand))
        hit = loc[lnode] >= 0
        return loc[lnode[hit]], lw[hit], cand[lj[hit]]

    def _repair(self, fld: _paths.NodeField, j: int, ftype: str | None) -> None:
        """Remove source ``j`` from a field without second-nearest (``ftype``: a type field).

        Only the nodes ``j`` served change; they are searched again from the kept labels of
        their in-neighbours outside that region and from the sources whose links enter it.
        """
        region = np.flatnonzero(fld.s1 == j)
        if len(region) == 0:
            return
        cand = self._active()
        if ftype is not None:
            cand = cand[self.facilities["type"].to_numpy()[cand] == ftype]
        self._renearest(fld, region, cand)

    def _renearest(
        self, fld: _paths.NodeField, region: np.ndarray, cand: np.ndarray
    ) -> tuple[
        np.ndarray,
        tuple[np.ndarray, np.ndarray, np.ndarray],
        tuple[np.ndarray, np.ndarray, np.ndarray],
    ]:
        """Search the nearest source of the nodes ``region`` again, among facilities ``cand``.

        Seeds: the kept labels of their in-neighbours outside the region and the links of the
        sources entering it. Returns the region's local index, its in-arcs and those links.
        """
        self._mark(region)
        fld.d1[region], fld.s1[region] = np.inf, -1
        loc, head, tail, w = self._region(region)
        out = loc[tail] < 0
        lx, lw, ls = self._links_into(loc, cand)
        seeds = (
            np.concatenate([head[out], lx]),
            np.concatenate([fld.d1[tail[out]] + w[out], lw]),
            np.concatenate([fld.s1[tail[out]], ls]),
        )
        inner = (loc[tail[~out]], head[~out], w[~out])
        fld.d1[region], fld.s1[region] = _seeded_search(len(region), inner, seeds)
        return loc, (head, tail, w), (lx, lw, ls)

    def _repair_second(self, fld: _paths.NodeField, j: int) -> None:
        """Remove source ``j`` from a field with second-nearest.

        Only nodes that had ``j`` as nearest or second-nearest change. Their nearest comes from
        one search seeded at the kept labels of their in-neighbours outside that region and at
        the links of the sources entering it; their second-nearest from a second search (as
        in :func:`geogrid.network.paths.node_field`) along arcs inside nearest-source cells,
        seeded with the best label of another source on each arc into the node.
        """
        assert fld.d2 is not None and fld.s2 is not None
        region = np.flatnonzero((fld.s1 == j) | (fld.s2 == j))
        if len(region) == 0:
            return
        fld.d2[region], fld.s2[region] = np.inf, -1
        loc, arcs, links = self._renearest(fld, region, self._active())
        d2, s2 = _second_labels(fld, region, loc, arcs, links)
        fld.d2[region], fld.s2[region] = d2, s2

    def _with_second(self, fld: _paths.NodeField) -> _paths.NodeField:
        """``fld`` with its second-nearest labels, from its nearest ones (one search)."""
        g = _paths.walk_graph(self.net)
        region = np.arange(g.n)
        loc, head, tail, w = self._region(region)
        links = self._links_into(loc, self._active())
        d2, s2 = _second_labels(fld, region, loc, (head, tail, w), links)
        return _paths.NodeField(fld.d1, fld.s1, d2, s2, fld.graph)

    def _fields_of(self, ftype: str) -> list[_paths.NodeField]:
        """Return the fields an edit of a facility of type ``ftype`` changes (marks its columns)."""
        out = [self.field]
        if ftype in self._type_fields:
            out.append(self._type_fields[ftype])
        self._dirty.add(ftype)
        return out

    def add_facility(self, facility: gpd.GeoDataFrame | dict[str, Any]) -> str:
        """Add one facility and update nearest-facility fields incrementally.

        ``facility`` is a one-row GeoDataFrame or a dict with ``geometry`` (in the study CRS)
        and optional ``name``, ``type``, ``area_m2``, ``capacity``, ``facility_id``. Only nodes
        that the new facility serves better are touched. Returns the new facility id.
        """
        new_id = f"N{len(self.facilities) + 1:04d}"
        row = _point_row(facility, self.net.crs, new_id) if isinstance(facility, dict) else None
        if row is None:
            row = self._prepared_row(facility, new_id)
        fid = str(row["facility_id"].iloc[0])
        if (self.facilities["facility_id"].to_numpy(dtype=object).astype(str) == fid).any():
            msg = f"facility_id {fid!r} exists; pass a new id or use move_facility"
            raise InputError(msg)
        row["active"] = True
        snap = snap_points(
            self.net,
            np.asarray(representative_points(row), dtype=object),
            max_snap_m=self.settings.max_snap_m,
        )
        self.facilities = pd.concat([self.facilities, row], ignore_index=True)
        self.fac_snap = _concat_snaps(self.fac_snap, snap)
        self._open(len(self.facilities) - 1)
        return fid

    def _prepared_row(
        self, facility: gpd.GeoDataFrame | dict[str, Any], new_id: str
    ) -> gpd.GeoDataFrame:
        """One facility through :func:`prepare_facilities`, with the next free id."""
        if isinstance(facility, dict):
            facility = gpd.GeoDataFrame([facility], geometry="geometry", crs=self.net.crs)
        if len(facility) != 1:
            msg = f"add_facility takes one facility, got {len(facility)} rows; call it once per facility"
            raise InputError(msg)
        row = to_metric(facility, self.net.crs).copy()
        if "facility_id" not in row.columns or pd.isna(row["facility_id"].iloc[0]):
            row["facility_id"] = new_id
        return prepare_facilities(row, crs=self.net.crs)

    def _open(self, j: int) -> None:
        """Merge facility ``j`` (already active, snapped) into the nearest-facility fields."""
        snap = self.fac_snap.take([j])
        self._touched_edges.add(int(snap.edge[0]))
        fields = self._fields_of(str(self.facilities.at[j, "type"]))
        dn, reached = self._source_search(snap, fields)
        for fld in fields:
            second = fld.d2 is not None and fld is self._field
            self._merge_source(fld, dn, reached, j, second=second)

    def _source_search(
        self, snap: Snap, fields: list[_paths.NodeField]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the walk from one new source to the nodes where it can be first or second.

        The search passes only nodes whose straight-line bound (snap leg plus the straight
        line from the snapped point) is below the distance the source must beat there (the
        second-nearest in the main field, the nearest in a type field): a walk to such a node
        passes only such nodes (beyond a node the field keeps two sources at least as near).
        Arcs into other nodes get an infinite weight, so the search stops at them. Returns
        the distances (``inf`` where not reached) and the reached nodes.
        """
        g = _paths.walk_graph(self.net)
        slack = np.full(g.n, -np.inf)
        for f in fields:
            beat = f.d2 if f.d2 is not None and f is self._field else f.d1
            np.maximum(slack, beat, out=slack)
        slack -= snap.snap_m[0] - _BOUND_TOL_M
        dx = g.x - snap.x[0]
        dy = g.y - snap.y[0]
        near = (slack > 0) & (dx * dx + dy * dy < slack * slack)
        a = g.csr
        _, nodes, ws = _paths.source_links(self.net, snap)
        n = g.n
        graph = sparse.csr_matrix(
            (
                np.concatenate([np.where(near[a.indices], a.data, np.inf), ws]),
                np.concatenate([a.indices, nodes.astype(a.indices.dtype)]),
                np.r_[a.indptr, a.indptr[-1] + len(nodes)],
            ),
            shape=(n + 1, n + 1),
        )
        # a finite limit: arcs of infinite weight are never taken
        dist = csgraph.dijkstra(
            graph, directed=True, indices=n, min_only=True, limit=np.finfo(float).max
        )
        dn = np.asarray(dist[:n])
        return dn, np.flatnonzero(dn < np.inf)

    def _merge_source(
        self,
        fld: _paths.NodeField,
        dn: np.ndarray,
        reached: np.ndarray,
        j: int,
        *,
        second: bool,
    ) -> None:
        """Merge a new source's distances ``dn`` (finite at ``reached``) into a field."""
        d1, s1 = fld.d1, fld.s1
        dr = dn[reached]
        if not second:
            better = reached[dr < d1[reached]]
            d1[better], s1[better] = dn[better], j
            self._mark(better)
            return
        assert fld.d2 is not None and fld.s2 is not None
        d2, s2 = fld.d2, fld.s2
        d1r, d2r = d1[reached], d2[reached]
        first = reached[dr < d1r]
        runner = reached[(dr >= d1r) & (dr < d2r) & (s1[reached] != j)]
        d2[first], s2[first] = d1[first], s1[first]
        d1[first], s1[first] = dn[first], j
        d2[runner], s2[runner] = dn[runner], j
        self._mark(first)
        self._mark(runner)

    def _index_of(self, facility_id: str) -> int:
        hit = np.flatnonzero(
            (self.facilities["facility_id"].astype(str) == str(facility_id)).to_numpy()
            & self.facilities["active"].to_numpy()
        )
        if len(hit) == 0:
            msg = f"no active facility with id {facility_id!r}; see coverage.facilities['facility_id']"
            raise InputError(msg)
        return int(hit[0])

    def remove_facility(self, facility_id: str) -> None:
        """Remove one facility; only the nodes it served are recomputed."""
        j = self._index_of(facility_id)
        ftype = str(self.facilities.at[j, "type"])
        self.facilities.loc[j, "active"] = False
        self._touched_edges.add(int(self.fac_snap.edge[j]))
        for fld in self._fields_of(ftype):
            if fld.d2 is not None and fld is self._field:
                self._repair_second(fld, j)
            else:
                self._repair(fld, j, ftype if fld is not self._field else None)

    def move_facility(self, facility_id: str, geometry: Any) -> str:
        """Move one facility to ``geometry`` (study CRS), keeping its id and attributes.

        Only the nodes it served before and the nodes it serves now are recomputed.
        """
        j = self._index_of(facility_id)
        if geometry is None or shapely.is_empty(geometry):
            msg = f"no place to move {facility_id!r} to; pass a point (or polygon) in the study CRS"
            raise InputError(msg)
        at = geometry if shapely.get_type_id(geometry) == 0 else shapely.point_on_surface(geometry)
        snap = snap_points(
            self.net, np.array([at], dtype=object), max_snap_m=self.settings.max_snap_m
        )
        self.remove_facility(facility_id)
        self.facilities = self.facilities.copy()
        self.facilities.loc[j, "geometry"] = geometry
        self.facilities.loc[j, "active"] = True
        self.fac_snap = _replace_snap(self.fac_snap, j, snap)
        self._open(j)
        return str(facility_id)

    def withdraw_facility(self, facility_id: str) -> None:
        """Take back the facility added last, as if it had never been added.

        The undo of :meth:`add_facility`: the facility is removed (only the nodes it served
        are recomputed) and its row leaves :attr:`facilities`.
        """
        j = len(self.facilities) - 1
        if j < 0 or str(self.facilities["facility_id"].iloc[j]) != str(facility_id):
            msg = f"{facility_id!r} is not the facility added last; close it with remove_facility"
            raise InputError(msg)
        if bool(self.facilities["active"].iloc[j]):
            self.remove_facility(facility_id)
        self.facilities = self.facilities.iloc[:j].copy()
        self.fac_snap = self.fac_snap.take(np.arange(j))

    def reopen_facility(self, facility_id: str) -> None:
        """Reopen a removed (closed) facility at its place, with its attributes."""
        fid = str(facility_id)
        ids = self.facilities["facility_id"].astype(str).to_numpy()
        hit = np.flatnonzero((ids == fid) & ~self.facilities["active"].to_numpy(dtype=bool))
        if len(hit) == 0:
            msg = f"no closed facility with id {fid!r}; close it first or pass a closed one's id"
            raise InputError(msg)
        j = int(hit[-1])
        self.facilities.loc[j, "active"] = True
        self._open(j)

    def set_facility(self, facility_id: str, **attributes: Any) -> None:
        """Change a facility's ``type``, ``name``, ``capacity`` or ``area_m2`` in place.

        A new type moves it to that type's field (and target); the other attributes change
        loads and labels only. The id stays the same.
        """
        allowed = {"type", "name", "capacity", "area_m2"}
        unknown = sorted(set(attributes) - allowed)
        if unknown:
            msg = f"cannot set {unknown} on a facility; set one of {sorted(allowed)}"
            raise InputError(msg)
        j = self._index_of(facility_id)
        new_type = attributes.pop("type", None)
        if new_type is not None and str(new_type) != str(self.facilities.at[j, "type"]):
            self.remove_facility(facility_id)
            probe = self.facilities.iloc[[j]].drop(columns=["active"]).copy()
            probe["type"] = new_type
            probe = prepare_facilities(gpd.GeoDataFrame(probe, crs=self.net.crs), crs=self.net.crs)
            for col in ("type", "type_zh"):
                if col in probe.columns:
                    self.facilities.loc[j, col] = probe[col].iloc[0]
            self.facilities.loc[j, "active"] = True
            self._open(j)  # both types' columns are patched (or rebuilt if a type came or went)
        for key, value in attributes.items():
            self.facilities.loc[j, key] = value
        if "name" in attributes and self._cols is not None:
            mine = self._cols["nearest_id"] == self.facilities.at[j, "facility_id"]
            self._cols["nearest_name"][mine] = self.facilities.at[j, "name"]

    def add_units(self, units: gpd.GeoDataFrame) -> None:
        """Add demand units (e.g. a new compound's buildings with their households)."""
        new = prepare_demand(units, settings=self.settings, crs=self.net.crs)
        snap = snap_points(self.net, new, max_snap_m=self.settings.max_snap_m)
        self.demand = pd.concat([self.demand, new], ignore_index=True)
        self.unit_snap = _concat_snaps(self.unit_snap, snap)
        self._cols = None
        self._aggs = {}

    def with_targets(self, targets: Any) -> Coverage:
        """Return a copy measured against other targets (distances reused)."""
        out = self.copy()
        out.targets = parse_targets(targets)
        out._aggs = {}
        if out._cols is not None:
            for name in [c for c in out._cols if c.startswith("within_")]:
                del out._cols[name]
            for tg in out.targets:
                out._cols[tg.column] = out._cols["_d1"] <= tg.max_dist_m(out.speed_kmh)
        return out

    def copy(self) -> Coverage:
        """Return an independent copy for what-if edits (the network is shared, read-only)."""

        def cp(f: _paths.NodeField | None) -> _paths.NodeField | None:
            if f is None:
                return None
            return _paths.NodeField(
                f.d1.copy(),
                f.s1.copy(),
                None if f.d2 is None else f.d2.copy(),
                None if f.s2 is None else f.s2.copy(),
                f.graph,
            )

        return replace(
            self,
            facilities=self.facilities.copy(),
            _field=cp(self._field),
            _type_fields={k: cp(v) for k, v in self._type_fields.items()},  # type: ignore[misc]
            _cols=None if self._cols is None else {k: v.copy() for k, v in self._cols.items()},
            _touched=None if self._touched is None else self._touched.copy(),
            _touched_edges=set(self._touched_edges),
            _dirty=set(self._dirty),
            _aggs={
                k: {
                    **a,
                    "values": None
                    if a["values"] is None
                    else {c: v.copy() for c, v in a["values"].items()},
                    "pending": a["pending"].copy(),
                }
                for k, a in self._aggs.items()
            },
        )


def compute_coverage(
    net: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    targets: Any = None,
    speed_kmh: float | None = None,
    by_type: bool = True,
    second: bool = True,
    max_snap_m: float | None = None,
    settings: Settings = DEFAULTS,
    private: str | None = None,
) -> Coverage:
    """Snap demand and facilities and compute nearest-facility fields.

    Parameters
    ----------
    net : WalkNetwork
        The walking network (its CRS is the study area's).
    demand : GeoDataFrame
        Buildings, compounds or points; households are estimated when missing
        (:func:`geogrid.demand.prepare_demand`). Every input column is kept.
    facilities : GeoDataFrame
        Points or polygons with ``name``, ``type`` (see :mod:`geogrid.facilities`),
        ``area_m2``, optional ``capacity``.
    targets : str or sequence, optional
        e.g. ``"5min,10min,15min,1km"`` (the default).
    speed_kmh : float, optional
        Walking speed; default ``settings.speed_kmh`` (4 km/h).
    by_type, second : bool
        Also compute nearest facility per type / the second-nearest facility.
    max_snap_m : float, optional
        Snap legs longer than this are flagged (default ``settings.max_snap_m``, 300 m).
    settings : Settings
        Defaults for everything else (:mod:`geogrid.settings`).
    private : {"residents", "all", "none"}, optional
        Who walks compound private paths (default: the network's rule, ``"residents"``
        unless it was built otherwise): only trips that start or end in that compound, all,
        or nobody (see :meth:`geogrid.network.WalkNetwork.with_private`).

    """
    if private is not None:
        net = net.with_private(private)
    speed = float(speed_kmh if speed_kmh is not None else settings.speed_kmh)
    if not speed > 0:
        msg = f"walking speed must be positive, got {speed!r}; pass e.g. speed_kmh=4"
        raise InputError(msg)
    snap_limit = float(max_snap_m if max_snap_m is not None else settings.max_snap_m)
    dem = prepare_demand(demand, settings=settings, crs=net.crs)
    fac = prepare_facilities(facilities, crs=net.crs)
    fac["active"] = True
    unit_snap = snap_points(net, dem, max_snap_m=snap_limit)
    fac_snap = snap_points(net, fac, max_snap_m=snap_limit)
    cov = Coverage(
        net=net,
        demand=dem,
        facilities=fac,
        targets=parse_targets(targets),
        speed_kmh=speed,
        settings=replace(settings, max_snap_m=snap_limit),
        unit_snap=unit_snap,
        fac_snap=fac_snap,
        by_type=by_type,
        second=second,
    )
    _ = cov.field
    return cov


# ---------------------------------------------------------------------- aggregates
def _wquantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    v, w = values[ok], weights[ok]
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cw = np.cumsum(w)
    return float(v[np.searchsorted(cw, q * cw[-1], side="left").clip(max=len(v) - 1)])


def _attach_zone(table: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, key: str) -> pd.Series:
    z = to_metric(zones, table.crs)
    pts = gpd.GeoDataFrame(geometry=representative_points(table), crs=table.crs, index=table.index)
    hit = gpd.sjoin(pts, z[[key, "geometry"]], predicate="within", how="left")
    hit = hit[~hit.index.duplicated(keep="first")]
    return hit[key].reindex(table.index)


def _zone_index(key: pd.Series) -> tuple[list[Any], list[np.ndarray]]:
    """Zones in sorted order (missing: ``"(outside)"``) and the row positions of each."""
    key = key.astype(object).where(key.notna(), "(outside)")
    codes, uniq = pd.factorize(key, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
    return list(uniq), [order[bounds[i] : bounds[i + 1]] for i in range(len(uniq))]


def _zone_columns(
    tbl: pd.DataFrame, targets: tuple[Target, ...], by: str | None = None
) -> dict[str, np.ndarray]:
    """Return the columns a zone record reads, as arrays.

    Households, population and party members are whole per unit (largest remainder within
    each zone of ``by``, :func:`geogrid.study.households.round_households`), so every zone's
    covered and uncovered households are whole and add up to its total.
    """
    groups = tbl[by].to_numpy(dtype=object) if by is not None and by in tbl.columns else None
    cols = {
        c: round_households(tbl[c].to_numpy(dtype=float), groups).astype(float)
        for c in ("households", "population", "party_members")
    }
    cols["walk_min"] = tbl["walk_min"].to_numpy(dtype=float)
    for t in targets:
        cols[t.column] = tbl[t.column].to_numpy(dtype=bool)
    if "elderly" in tbl.columns:
        cols["elderly"] = _elderly_values(tbl)
    return cols


def _elderly_values(tbl: pd.DataFrame) -> np.ndarray:
    """Elderly residents per unit (non-numbers count 0)."""
    return pd.to_numeric(tbl["elderly"], errors="coerce").fillna(0).to_numpy(dtype=float)


def _whole(x: float) -> int:
    """Return a sum of whole households as an int (half up: fractional input never leaks out)."""
    return int(np.floor(float(x) + 0.5))


def _wholes(x: np.ndarray) -> np.ndarray:
    """:func:`_whole` of each value (int64)."""
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(np.int64)


def _rounded(x: np.ndarray, digits: int) -> np.ndarray:
    """Python's ``round(v, digits)`` of each value (NaN stays NaN), as float64."""
    return np.array([round(v, digits) for v in np.asarray(x, dtype=float).tolist()], dtype=float)


def _shares(part: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``round(part / total, 4)`` where ``total`` is not zero, else NaN."""
    out = np.full(len(total), np.nan)
    ok = total != 0
    out[ok] = _rounded(part[ok] / total[ok], 4)
    return out


def _zone_quantiles(
    z: np.ndarray, v: np.ndarray, w: np.ndarray, nz: int, qs: tuple[float, ...]
) -> list[np.ndarray]:
    """Household-weighted quantiles of ``v`` per zone ``z`` (as :func:`_wquantile` per zone)."""
    ok = np.isfinite(v) & (w > 0)
    z, v, w = z[ok], v[ok], w[ok]
    order = np.lexsort((v, z))
    z, v, w = z[order], v[order], w[order]
    counts = np.bincount(z, minlength=nz)
    ends = np.cumsum(counts)
    starts = ends - counts
    cw = np.cumsum(w)
    before = np.r_[0.0, cw][starts]
    local = cw - before[z]
    total = np.where(counts > 0, np.r_[0.0, cw][ends] - before, 0.0)
    out = []
    for q in qs:
        hit = np.flatnonzero(local >= q * total[z])
        k = np.searchsorted(hit, starts)
        first = np.where(k < len(hit), hit[np.minimum(k, max(len(hit) - 1, 0))], ends - 1)
        first = np.minimum(first, ends - 1)
        res = np.full(nz, np.nan)
        has = counts > 0
        res[has] = v[first[has]]
        out.append(res)
    return out


def _zone_values(
    zone_rows: list[np.ndarray], cols: dict[str, np.ndarray], targets: tuple[Target, ...]
) -> dict[str, np.ndarray]:
    """Columns of :func:`aggregate` (all but the zone) for the zones whose units are ``zone_rows``.

    Sums of whole households are exact in any order; shares and minutes are rounded as
    Python's ``round`` does.
    """
    nz = len(zone_rows)
    sizes = np.array([len(r) for r in zone_rows], dtype=np.int64)
    idx = np.concatenate(zone_rows) if nz else np.zeros(0, dtype=np.int64)
    z = np.repeat(np.arange(nz), sizes)

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(z, weights=x, minlength=nz)

    w = cols["households"][idx]
    hh = total(w)
    out: dict[str, np.ndarray] = {
        "units": sizes,
        "households": _wholes(hh),
        "population": _wholes(total(cols["population"][idx])),
        "party_members": _wholes(total(cols["party_members"][idx])),
    }
    for t in targets:
        cov = total(np.where(cols[t.column][idx], w, 0.0))
        out[f"covered_hh_{t.name}"] = _wholes(cov)
        out[f"coverage_{t.name}"] = np.where(hh > 0, _shares(cov, hh), np.nan)
        out[f"uncovered_hh_{t.name}"] = _wholes(hh) - _wholes(cov)
    if "elderly" in cols:
        e = cols["elderly"][idx]
        etotal = total(e)
        out["elderly"] = _wholes(etotal)
        for t in targets:
            c = total(np.where(cols[t.column][idx], e, 0.0))
            out[f"covered_elderly_{t.name}"] = _wholes(c)
            out[f"coverage_elderly_{t.name}"] = _shares(c, etotal)
    wm = cols["walk_min"][idx]
    fin = np.isfinite(wm)
    weighted = np.bincount(z[fin], weights=w[fin], minlength=nz)
    has = np.bincount(z[fin & (w > 0)], minlength=nz) > 0
    mean = np.full(nz, np.nan)
    mean[has] = _rounded(
        np.bincount(z[fin], weights=wm[fin] * w[fin], minlength=nz)[has] / weighted[has], 2
    )
    out["mean_walk_min"] = mean
    median, p90 = _zone_quantiles(z, wm, w, nz, (0.5, 0.9))
    out["median_walk_min"] = _rounded(median, 2)
    out["p90_walk_min"] = _rounded(p90, 2)
    return out


def aggregate(
    table: gpd.GeoDataFrame,
    *,
    by: str = "community_code",
    zones: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    targets: tuple[Target, ...] | None = None,
) -> pd.DataFrame:
    """Coverage aggregates per zone (community, street, district, grid).

    Columns: ``households``, ``population``, ``party_members``, ``units``; per target
    ``covered_hh_<t>``, ``coverage_<t>`` (share 0-1), ``uncovered_hh_<t>``; household-weighted
    ``mean_walk_min``, ``median_walk_min``, ``p90_walk_min``; ``n_facilities`` inside. Units are
    assigned to zones by ``by`` when the table has that column, else by location in ``zones``.
    """
    tbl = table
    if by not in tbl.columns:
        if zones is None or by not in zones.columns:
            msg = f"demand has no {by!r} column and no zone layer with it was given; pass zones= with {by!r}"
            raise InputError(msg)
        tbl = table.copy()
        tbl[by] = _attach_zone(table, zones, by)
    targets = targets or tuple(
        Target(c[len("within_") :]) for c in tbl.columns if c.startswith("within_")
    )
    names, zone_rows = _zone_index(tbl[by])
    cols = _zone_columns(tbl, targets, by)
    out = pd.DataFrame({by: names, **_zone_values(zone_rows, cols, targets)})
    if facilities is not None and len(out):
        if by in facilities.columns:
            fkey = facilities[by]
        elif zones is not None:
            fkey = _attach_zone(facilities, zones, by)
        else:
            fkey = None
        if fkey is not None:
            if "active" in facilities.columns:
                fkey = fkey[facilities["active"].to_numpy()]
            counts = fkey.value_counts()
            out["n_facilities"] = out[by].map(counts).fillna(0).astype(int)
    return out


def circle_overstatement(
    cov: Coverage,
    *,
    radius_m: float = 1000.0,
    network_target: str = "1km",
    table: gpd.GeoDataFrame | None = None,
) -> np.ndarray:
    """Flag units a straight-line circle counts as covered but the walking network does not.

    Per unit: inside a circle of ``radius_m`` around a facility but not within
    ``network_target`` on the walking network (what a circle map overstates).
    """
    tbl = table if table is not None else cov.table()
    pts = representative_points(tbl)
    fpts = representative_points(cov.facilities[cov.facilities["active"]])
    tree = shapely.STRtree(fpts)
    hit = tree.query(pts, predicate="dwithin", distance=radius_m)
    in_circle = np.zeros(len(tbl), dtype=bool)
    in_circle[np.unique(hit[0])] = True
    col = f"within_{network_target}"
    reached = (
        tbl[col].to_numpy(dtype=bool)
        if col in tbl.columns
        else (tbl["dist_m"].to_numpy() <= cov.max_dist_m(network_target))
    )
    return in_circle & ~reached


# ---------------------------------------------------------------------- service areas
def service_areas(
    cov: Coverage,
    *,
    targets: Any = None,
    street_side_m: float | None = None,
    per_facility: bool = True,
    chunk: int = 64,
    lines: bool = False,
    resolution_m: float = 10.0,
) -> gpd.GeoDataFrame:
    """Service areas from the reached network edges (partial edges included).

    Each area is the reached street segments buffered by ``street_side_m`` (default
    ``settings.street_side_m`` = 50 m: the buildings fronting a street), never a convex hull.
    Rows: ``facility_id`` (``"all"`` for the union over facilities), ``target``,
    ``max_dist_m``, ``reached_km``. ``chunk`` is no longer used (searches run per tile).
    ``lines=True`` returns the reached segments themselves
    (MultiLineStrings, exact) instead of polygons. Polygons are drawn from the walking-distance
    field on a ``resolution_m`` raster (10 m: within one cell of the exact buffer), which
    makes every target of a facility one contouring pass (see :mod:`geogrid._areas`).
    """
    if not lines:
        return _area_polygons(
            cov,
            targets=targets,
            street_side_m=street_side_m,
            per_facility=per_facility,
            resolution_m=resolution_m,
        )
    tlist = parse_targets(targets) if targets is not None else cov.targets
    return _service_lines(cov, {t.name: t.max_dist_m(cov.speed_kmh) for t in tlist}, per_facility)


def _service_lines(cov: Coverage, limits: dict[str, float], per_facility: bool) -> gpd.GeoDataFrame:
    """Reached street lines per target (``service_areas(lines=True)``), exact."""
    from geogrid.analyses.coverage import areas as _areas

    graph = _paths.walk_graph(cov.net)
    active = cov._active()
    ids = cov.facilities["facility_id"].to_numpy(dtype=object)[active]
    tiles = _tile_pairs(cov, active, max(limits.values())) if per_facility and len(active) else ()
    rows, geoms = _areas.service_lines(
        cov.net,
        limits,
        (cov.field.d1[graph.edge_u], cov.field.d1[graph.edge_v]),
        cov.fac_snap.take(active),
        ids,
        tiles,
    )
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=cov.net.crs)


def _area_polygons(
    cov: Coverage,
    *,
    targets: Any,
    street_side_m: float | None,
    per_facility: bool,
    resolution_m: float,
) -> gpd.GeoDataFrame:
    from geogrid.analyses.coverage import areas as _areas

    tlist = parse_targets(targets) if targets is not None else cov.targets
    side = float(street_side_m if street_side_m is not None else cov.settings.street_side_m)
    names = [t.name for t in tlist]
    limits = [t.max_dist_m(cov.speed_kmh) for t in tlist]
    net = cov.net
    samples = _areas.edge_cells(net, resolution_m)
    graph = _paths.walk_graph(net)
    u, v = graph.edge_u, graph.edge_v  # graph nodes at each edge's ends
    length = net.edges["length_m"].to_numpy()
    active = cov._active()
    fs = cov.fac_snap

    def polygons(job: Any, x: Any, y: Any, d: Any, n_jobs: int) -> Any:
        return _areas.stacked_polygons(
            job, x, y, d, n_jobs, limits, side_m=side, resolution_m=resolution_m
        )

    fld = cov.field
    du_all, dv_all = fld.d1[u], fld.d1[v]
    near = np.minimum(du_all, dv_all) <= max(limits)
    near[fs.edge[active]] = True
    touched = np.flatnonzero(near)
    x, y, d, idx, _ = _areas.cell_distances(
        samples, touched, du_all[touched], dv_all[touched], length[touched]
    )
    d = _direct_walks_all(samples, fs, d, idx, active)
    zero = np.zeros(len(touched), dtype=np.int64)
    km = _reached_km(
        cov, limits, zero, touched, du_all[touched], dv_all[touched], 1, active * 0, active
    )
    out_ids: list[Any] = ["all"]
    out_polys = polygons(np.zeros(len(d), dtype=np.int64), x, y, d, 1)
    out_km = [km[0]]
    if per_facility and len(active):
        fid_arr = cov.facilities["facility_id"].to_numpy(dtype=object)[active]
        polys, kms = _facility_polygons(cov, samples, active, limits, side, resolution_m)
        out_ids += fid_arr.tolist()
        out_polys += polys
        out_km += list(kms)
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    for fid, plist, krow in zip(out_ids, out_polys, out_km, strict=True):
        for k, (name, lim) in enumerate(zip(names, limits, strict=True)):
            rows.append(
                {"facility_id": fid, "target": name, "max_dist_m": lim, "reached_km": krow[k]}
            )
            geoms.append(plist[k])
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=net.crs)
    gdf["area_ha"] = (gdf.geometry.area / 1e4).round(2)
    return gdf


def _tile_pairs(
    cov: Coverage, active: np.ndarray, limit: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(source positions, row, edge, du, dv)`` per tile of bounded searches.

    For every source of a tile (``row`` indexes ``source positions``, which index
    ``active``), the edges with a reached end plus its own edge, once each, rows in order,
    with the walking distances at the edge's ends (``inf`` when not reached). Each reached
    node lists its edges (incidence rows); an edge is kept at its ``u`` end, or at ``v`` when
    ``u`` is not reached, and its ends' distances are read off the tile's matrix.
    """
    net, fs = cov.net, cov.fac_snap
    graph = _paths.walk_graph(net)
    u, v = graph.edge_u, graph.edge_v
    inc = _paths.edge_incidence(net)
    ip, ix = inc.indptr.astype(np.int64), inc.indices.astype(np.int64)
    deg = np.diff(ip)
    loc = np.full(graph.n, -1, dtype=np.int64)
    for tidx, nodes, dist in _paths.tiled_rows(net, fs.take(active), limit):
        g, m = dist.shape
        loc[nodes] = np.arange(m)
        full = np.full((g, m + 1), np.inf)  # the last column (index -1): outside
        full[:, :m] = dist
        r, c = np.nonzero(dist < np.inf)
        x = nodes[c]
        lens = deg[x]
        at = np.repeat(ip[x] - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        e = ix[at]
        rr = np.repeat(r, lens)
        ue = u[e]
        keep = (ue == np.repeat(x, lens)) | (full[rr, loc[ue]] == np.inf)
        e, rr = e[keep], rr[keep]
        du = full[rr, loc[u[e]]]
        dv = full[rr, loc[v[e]]]
        own = fs.edge[active[tidx]]
        ou, ov = loc[u[own]], loc[v[own]]
        loc[nodes] = -1
        # the own edge is in the row already when one of its ends is reached
        add = np.flatnonzero(np.minimum(full[np.arange(g), ou], full[np.arange(g), ov]) == np.inf)
        if len(add):
            rr = np.concatenate([rr, add])
            order = np.argsort(rr, kind="stable")
            rr = rr[order]
            e = np.concatenate([e, own[add]])[order]
            du = np.concatenate([du, np.full(len(add), np.inf)])[order]
            dv = np.concatenate([dv, np.full(len(add), np.inf)])[order]
        yield tidx, rr, e, du, dv


def _reached_km(
    cov: Coverage,
    limits: list[float],
    job: np.ndarray,
    edge: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    n_jobs: int,
    src_job: np.ndarray,
    src: np.ndarray,
) -> np.ndarray:
    """Kilometres of street reached per job (rows) and limit (columns), rounded to metres.

    Edges are reached from their ends; a source's own edge (``src`` are facility indices,
    ``src_job`` their jobs) also directly from the source. With one source per job
    (``src_job`` = 0, 1, ...) the three intervals are merged in closed form, else by
    :func:`geogrid.analyses.coverage.areas.merge_intervals`.
    """
    fs = cov.fac_snap
    ln = cov.net.edges["length_m"].to_numpy()[edge]
    one = len(src_job) == n_jobs and np.array_equal(src_job, np.arange(n_jobs))
    if one:
        own = edge == fs.edge[src][job]
    else:
        own = np.isin(job * cov.net.n_edges + edge, src_job * cov.net.n_edges + fs.edge[src])
    own_at = np.flatnonzero(own)
    out = np.zeros((n_jobs, len(limits)))
    for k, lim in enumerate(limits):
        if lim in limits[:k]:  # the same limit under another name
            out[:, k] = out[:, limits.index(lim)]
            continue
        a = np.subtract(lim, du)
        np.clip(a, 0, ln, out=a)
        b = np.subtract(lim, dv)
        np.clip(b, 0, ln, out=b)
        oa, ob = a[own_at], b[own_at]
        a += b
        np.minimum(a, ln, out=a)
        a[own_at] = 0.0
        out[:, k] = np.bincount(job, a, minlength=n_jobs)
        if one:
            out[:, k] += _own_edge_reach(fs, lim, src, job[own_at], oa, ob, ln[own_at], n_jobs)
        else:
            out[:, k] += _merged_reach(cov, lim, job[own_at], edge[own_at], oa, ob, src_job, src)
    return np.round(out / 1000.0, 3)


def _own_edge_reach(
    fs: Snap,
    lim: float,
    src: np.ndarray,
    job: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ln: np.ndarray,
    n_jobs: int,
) -> np.ndarray:
    """Metres of each source's own edge reached: ``[0, a] | [ln - b, ln] | direct walk``."""
    j = src[job]
    rd = lim - fs.snap_m[j]
    lo = np.clip(fs.pos_m[j] - rd, 0, ln)
    hi = np.clip(fs.pos_m[j] + rd, 0, ln)
    direct = np.maximum(hi - lo, 0.0)
    inter = np.maximum(np.minimum(hi, a) - lo, 0.0) + np.maximum(hi - np.maximum(lo, ln - b), 0.0)
    total = np.where(a + b >= ln, ln, a + b + direct - np.minimum(inter, direct))
    return np.bincount(job, total, minlength=n_jobs)


def _merged_reach(
    cov: Coverage,
    lim: float,
    job: np.ndarray,
    edge: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    src_job: np.ndarray,
    src: np.ndarray,
) -> np.ndarray:
    """Metres of own edges reached when several sources share a job (interval union)."""
    fs = cov.fac_snap
    n_jobs = int(max(job.max(initial=0), src_job.max(initial=0))) + 1
    ln = cov.net.edges["length_m"].to_numpy()
    rd = lim - fs.snap_m[src]
    sl = ln[fs.edge[src]]
    g = np.concatenate([job, job, src_job])
    e = np.concatenate([edge, edge, fs.edge[src]])
    st = np.concatenate([np.zeros(len(edge)), ln[edge] - b, np.clip(fs.pos_m[src] - rd, 0, sl)])
    en = np.concatenate([a, ln[edge], np.clip(fs.pos_m[src] + rd, 0, sl)])
    ok = en > st
    mg, _, ms, mt, _ = merge_intervals(g[ok], e[ok], st[ok], en[ok], ln)
    return np.bincount(mg, mt - ms, minlength=n_jobs)


def _direct_walks_all(
    cells: dict[str, np.ndarray], fs: Snap, d: np.ndarray, idx: np.ndarray, js: np.ndarray
) -> np.ndarray:
    """Shorten cell distances by direct walks from any facility ``js`` on the same edge."""
    from geogrid.analyses.coverage.areas import direct_distance

    edge_of = cells["edge"][idx]
    on = np.flatnonzero(np.isin(edge_of, fs.edge[js]))
    if len(on) == 0:
        return d
    m = pd.DataFrame({"s": on, "edge": edge_of[on]}).merge(
        pd.DataFrame({"edge": fs.edge[js], "pf": fs.pos_m[js], "leg": fs.snap_m[js]}), on="edge"
    )
    s = m["s"].to_numpy()
    direct = direct_distance(cells, idx[s], m["pf"].to_numpy(), m["leg"].to_numpy())
    np.minimum.at(d, s, direct)
    return d


def _facility_polygons(
    cov: Coverage,
    samples: dict[str, np.ndarray],
    active: np.ndarray,
    limits: list[float],
    side: float,
    resolution_m: float,
) -> tuple[list[list[Any]], np.ndarray]:
    """Polygons and reached km of every active facility from tiled bounded searches.

    Each tile's facilities go into a :class:`~geogrid.analyses.coverage.areas.FieldStack`
    with the cell runs of their reached edges; strips are drawn as they fill. Nothing loops
    over facilities in Python.
    """
    from geogrid.analyses.coverage import areas as _areas

    fs = cov.fac_snap
    length = cov.net.edges["length_m"].to_numpy()
    kms = np.zeros((len(active), len(limits)))
    stack = _areas.FieldStack(samples, len(active), limits, side_m=side, resolution_m=resolution_m)
    for tidx, r, e, du, dv in _tile_pairs(cov, active, max(limits)):
        g = len(tidx)
        d, idx, which = _areas.run_distances(samples, e, du, dv, length[e])
        job = r[which]
        # direct walks along each source's own edge (no detour through its ends)
        j = active[tidx]
        own = np.flatnonzero(e == fs.edge[j][r])
        for p in own.tolist():  # one own edge per facility: its runs are contiguous
            a, b = np.searchsorted(which, [p, p + 1])
            k = j[r[p]]
            d[a:b] = np.minimum(
                d[a:b], _areas.direct_distance(samples, idx[a:b], fs.pos_m[k], fs.snap_m[k])
            )
        kms[tidx] = _reached_km(cov, limits, r, e, du, dv, g, np.arange(g), j)
        stack.add(tidx, fs.x[j], fs.y[j], r, e, job, idx, d)
    return stack.finish(), kms


def gaps(
    cov: Coverage,
    *,
    target: str | None = None,
    table: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    cluster_m: float = 50.0,
    causes: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Service gaps (服务盲区): populated areas outside every service area of ``target``.

    Uncovered units with households are buffered by ``cluster_m`` and merged into gap
    polygons (minus the service area). Columns: ``gap_id``, ``target``, ``households``,
    ``population`` (whole numbers), ``units``, ``nearest_id`` and ``nearest_name`` (the
    facility the gap misses least), ``miss_m`` (how far beyond the target its nearest
    household is), ``community_codes``, and the reason columns of
    :func:`geogrid.analyses.coverage.reasons.gap_reasons` (``reason_code``, ``reason_zh``,
    ``reason_en``, ``fix_zh``, ``fix_en``; ``causes`` from
    :func:`~geogrid.analyses.coverage.reasons.unit_causes`, computed when not given and the
    table is the whole of ``cov.table()``).
    """
    tname = target or cov.settings.primary_target
    lim = cov.max_dist_m(tname)
    tbl = table if table is not None else cov.table()
    col = f"within_{tname}"
    covered = (
        tbl[col].to_numpy(dtype=bool) if col in tbl.columns else tbl["dist_m"].to_numpy() <= lim
    )
    unc_pos = np.flatnonzero((~covered) & (tbl["households"].to_numpy(dtype=float) > 0))
    unc = tbl.iloc[unc_pos]
    cols = [
        "gap_id",
        "target",
        "households",
        "population",
        "units",
        "nearest_id",
        "nearest_name",
        "miss_m",
        "community_codes",
        *REASON_COLUMNS,
    ]
    if unc.empty:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=cov.net.crs)
    parts, cut = _gap_parts(cov, unc, tname, areas, cluster_m)
    tree = shapely.STRtree(parts)
    hit = tree.query(representative_points(unc), predicate="within")
    owner = np.full(len(unc), -1)
    owner[hit[0]] = hit[1]
    groups = tbl["community_code"] if "community_code" in tbl.columns else None
    hh_all = round_households(tbl["households"].to_numpy(dtype=float), groups)
    pop_all = round_households(tbl["population"].to_numpy(dtype=float), groups)
    df = pd.DataFrame(
        {
            "owner": owner,
            "pos": unc_pos,
            "households": hh_all[unc_pos],
            "population": pop_all[unc_pos],
            "dist_m": unc["dist_m"].to_numpy(dtype=float),
            "nearest_id": unc["nearest_id"].to_numpy(dtype=object),
            "nearest_name": unc["nearest_name"].to_numpy(dtype=object)
            if "nearest_name" in unc.columns
            else None,
            "community_code": unc["community_code"].to_numpy(dtype=object)
            if "community_code" in unc.columns
            else None,
        }
    )
    df = df[df["owner"] >= 0]
    recs = [_gap_record(k, grp, tname, lim) for k, grp in df.groupby("owner", sort=True)]
    out = (
        pd.DataFrame(recs)
        .sort_values("households", ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    out.insert(0, "gap_id", [f"G{i + 1:03d}" for i in range(len(out))])
    if causes is None and len(tbl) == len(cov.unit_snap):
        causes = unit_causes(cov, tbl, target=tname)
    why = (
        gap_reasons(cov, tbl, causes, list(out["members"]), target=tname)
        if causes is not None
        else pd.DataFrame({c: [""] * len(out) for c in REASON_COLUMNS})  # a partial table
    )
    for c in REASON_COLUMNS:
        out[c] = why[c].to_numpy()
    geom = cut[out["owner"].to_numpy()]
    out = out.drop(columns=["owner", "members"])
    return gpd.GeoDataFrame(out, geometry=geom, crs=cov.net.crs)


def _gap_parts(
    cov: Coverage,
    unc: gpd.GeoDataFrame,
    tname: str,
    areas: gpd.GeoDataFrame | None,
    cluster_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of uncovered units (buffered, merged) and the same minus the service area."""
    blobs = shapely.union_all(
        shapely.buffer(np.asarray(unc.geometry.values), cluster_m, quad_segs=4)
    )
    parts = np.asarray(shapely.get_parts(blobs))
    if areas is None:
        areas = service_areas(cov, targets=tname, per_facility=False)
    sa = areas[(areas["facility_id"] == "all") & (areas["target"] == tname)]
    if len(sa):
        cut = np.asarray(shapely.difference(parts, sa.geometry.iloc[0]))
        keep = ~shapely.is_empty(cut)
        return parts[keep], cut[keep]
    return parts, parts


def _gap_record(k: int, grp: pd.DataFrame, tname: str, lim: float) -> dict[str, Any]:
    """One gap's row (``members``: table positions of its units, dropped before writing)."""
    best = grp["dist_m"].idxmin()
    codes = (
        sorted({str(c) for c in grp["community_code"].dropna()})
        if grp["community_code"].notna().any()
        else []
    )
    return {
        "owner": k,
        "members": grp["pos"].to_numpy(dtype=np.int64),
        "target": tname,
        "households": int(grp["households"].sum()),
        "population": int(grp["population"].sum()),
        "units": len(grp),
        "nearest_id": grp.at[best, "nearest_id"],
        "nearest_name": grp.at[best, "nearest_name"],
        "miss_m": round(float(grp.at[best, "dist_m"] - lim), 1)
        if np.isfinite(grp.at[best, "dist_m"])
        else np.nan,
        "community_codes": ",".join(codes),
    }


# ---------------------------------------------------------------------- load and access
def facility_load(cov: Coverage, *, table: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Households each facility serves within its own target, those beyond reach, its load.

    Each household is served by the nearest facility whose type's target
    (``settings.type_targets``: community centres 15 minutes, stations 10 minutes) it lies
    within. Households no facility reaches within its target are *beyond reach*: they count
    for their nearest facility in ``beyond_reach_households``, never as its load.

    Columns added: ``reach_target`` (the type's target), ``reach_m`` (its metres at the
    coverage's speed), ``served_households``, ``served_population``,
    ``served_party_members`` (within reach, whole numbers), ``beyond_reach_households`` (nearest
    facility, but beyond its target), ``hh_per_m2``, ``m2_per_100hh``, ``overloaded`` (less
    than ``settings.min_m2_per_100_households`` m2 per 100 households served within reach, or
    more such households than ``capacity``), and the snap flags ``snap_m``, ``snap_far`` and
    ``snap_island``.
    """
    tbl = table if table is not None else cov.table()
    fac = cov.facilities.copy()
    if "served_by" in tbl.columns:
        server, nearest = _positions(fac, tbl["served_by"]), _positions(fac, tbl["nearest_id"])
    else:
        server, nearest = _reach_servers(cov, tbl)
    nfac = len(fac)
    groups = tbl["community_code"] if "community_code" in tbl.columns else None
    for src, dst in (
        ("households", "served_households"),
        ("population", "served_population"),
        ("party_members", "served_party_members"),
    ):
        w = round_households(tbl[src].to_numpy(dtype=float), groups)
        ok = server >= 0
        fac[dst] = np.bincount(server[ok], weights=w[ok], minlength=nfac).astype(np.int64)
        if src == "households":
            out = (server < 0) & (nearest >= 0)
            beyond = np.bincount(nearest[out], weights=w[out], minlength=nfac)
    types = fac["type"].astype(str)
    fac["reach_target"] = types.map(lambda t: _type_target(cov, t))
    fac["reach_m"] = fac["reach_target"].map(lambda t: round(cov.max_dist_m(t), 1))
    fac["beyond_reach_households"] = beyond.astype(np.int64)
    area = fac["area_m2"].astype(float)
    served = fac["served_households"].astype(float)
    fac["hh_per_m2"] = (served / area).where(area > 0).round(3)
    fac["m2_per_100hh"] = (area / served * 100).where(served > 0).round(2)
    over_area = (fac["m2_per_100hh"] < cov.settings.min_m2_per_100_households).fillna(False)
    over_cap = (served > fac["capacity"]).fillna(False) if "capacity" in fac.columns else False
    fac["overloaded"] = (over_area | over_cap) & fac["active"]
    fac["snap_m"] = np.round(cov.fac_snap.snap_m, 3)
    fac["snap_far"] = cov.fac_snap.far
    fac["snap_island"] = cov.fac_snap.island
    return fac


def _type_target(cov: Coverage, ftype: str) -> str:
    """Return the target name a facility type must meet (``settings.type_targets``)."""
    return str(cov.settings.type_targets.get(ftype, cov.settings.primary_target))


def served_by(cov: Coverage, *, table: gpd.GeoDataFrame | None = None) -> np.ndarray:
    """Per demand unit, the id of the facility serving it within its type's target.

    The nearest facility among those whose own type's target (``settings.type_targets``)
    the unit lies within; ``None`` when no facility reaches it (beyond reach). This is the
    assignment :func:`facility_load` counts.
    """
    tbl = table if table is not None else cov.table()
    server, _ = _reach_servers(cov, tbl)
    ids = cov.facilities["facility_id"].astype(object).to_numpy()
    out: np.ndarray = ids[np.maximum(server, 0)]
    out[server < 0] = None
    return out


def _positions(fac: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Positions in ``fac`` of facility ids (-1 for none or unknown)."""
    pos = {f: i for i, f in enumerate(fac["facility_id"].astype(str))}
    known = ids.notna().to_numpy()
    out = ids.astype(str).map(pos).fillna(-1).to_numpy(dtype=np.int64)
    return np.where(known, out, -1)


def _reach_servers(cov: Coverage, tbl: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the facility serving it within its type's target (-1 none), and its nearest.

    The server is the nearest facility among the types whose target the unit lies within
    (per-type nearest facilities); positions index ``cov.facilities``.
    """
    fac = cov.facilities
    nearest = _positions(fac, tbl["nearest_id"])
    d1 = tbl["dist_m"].to_numpy(dtype=float)
    types = fac["type"].astype(str).to_numpy()
    if not cov.by_type or len(tbl) != len(cov.unit_snap):
        lim = np.array([cov.max_dist_m(_type_target(cov, t)) for t in types])
        ok = (nearest >= 0) & (d1 <= lim[np.maximum(nearest, 0)])
        return np.where(ok, nearest, -1), nearest
    best_d = np.full(len(tbl), np.inf)
    server = np.full(len(tbl), -1, dtype=np.int64)
    active = np.flatnonzero(fac["active"].to_numpy(dtype=bool))
    for ftype in sorted(set(types[active].tolist())):
        idx = active[types[active] == ftype]
        dt, st, _, _ = _paths.unit_nearest(
            cov.type_field(ftype), cov.unit_snap, cov.fac_snap, second=False, active=idx
        )
        better = (dt <= cov.max_dist_m(_type_target(cov, ftype))) & (dt < best_d) & (st >= 0)
        best_d[better], server[better] = dt[better], st[better]
    return server, nearest


def two_step_fca(
    cov: Coverage, *, target: str | None = None, supply: str = "area_m2"
) -> np.ndarray:
    """Two-step floating catchment (2SFCA) accessibility per demand unit.

    Step 1: each facility's supply (``area_m2``, else ``capacity``, else 1) over the population
    within ``target`` walking of it. Step 2: each unit sums the ratios of the facilities within
    ``target``. Returned in supply units per 1,000 residents (m2 per 1,000 persons).
    """
    lim = cov.max_dist_m(target or cov.settings.primary_target)
    active = cov._active()
    pairs = coverage_pairs(cov.net, cov.fac_snap.take(active), cov.unit_snap, lim).tocsr()
    pairs.data[:] = 1.0
    fac = cov.facilities.iloc[active]
    s = (
        pd.to_numeric(fac[supply], errors="coerce")
        if supply in fac.columns
        else pd.Series(np.nan, index=fac.index)
    )
    if "capacity" in fac.columns:
        s = s.fillna(pd.to_numeric(fac["capacity"], errors="coerce"))
    s = s.fillna(1.0).to_numpy(dtype=float)
    pop = cov.demand["population"].to_numpy(dtype=float)
    reach_pop = pairs @ pop
    ratio = np.divide(s, reach_pop, out=np.zeros_like(s), where=reach_pop > 0)
    return np.asarray(pairs.T @ ratio) * 1000.0


# ---------------------------------------------------------------------- one call
@dataclass
class CoverageResult:
    """All coverage outputs: layers for ``coverage.gpkg`` and the summary table."""

    coverage: Coverage
    demand: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame | pd.DataFrame | None
    streets: pd.DataFrame | None
    districts: pd.DataFrame | None
    facilities: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    summary: pd.DataFrame

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layers to write to ``coverage.gpkg``."""
        out = {
            "demand": self.demand,
            "facilities": self.facilities,
            "service_areas": self.service_areas,
            "gaps": self.gaps,
        }
        if isinstance(self.communities, gpd.GeoDataFrame):
            out["communities"] = self.communities
        return out


def run_coverage(
    net: WalkNetwork,
    demand: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    communities: gpd.GeoDataFrame | None = None,
    targets: Any = None,
    speed_kmh: float | None = None,
    settings: Settings = DEFAULTS,
    per_facility_areas: bool = True,
) -> CoverageResult:
    """Everything the ``geogrid coverage`` command writes, from one call."""
    cov = compute_coverage(
        net, demand, facilities, targets=targets, speed_kmh=speed_kmh, settings=settings
    )
    return coverage_result(cov, communities=communities, per_facility_areas=per_facility_areas)


def coverage_result(
    cov: Coverage,
    *,
    communities: gpd.GeoDataFrame | None = None,
    per_facility_areas: bool = True,
) -> CoverageResult:
    """Every coverage output (layers and summary) of a computed, possibly edited, coverage.

    Parameters
    ----------
    cov : Coverage
        From :func:`compute_coverage`, after any what-if edits.
    communities : GeoDataFrame, optional
        Community polygons with ``community_code``; their aggregates become the
        ``communities`` layer.
    per_facility_areas : bool
        Also draw one service area per facility (else only the union per target).

    Returns
    -------
    CoverageResult
        Demand table, community/street/district aggregates, facility loads, service areas,
        gaps and the summary table.

    """
    net = cov.net
    tbl = cov.table()
    tbl["circle_overstated"] = circle_overstatement(cov, table=tbl)
    tbl["access_2sfca"] = np.round(two_step_fca(cov), 4)
    code = "community_code"
    if code not in tbl.columns and communities is not None and code in communities.columns:
        tbl[code] = _attach_zone(tbl, communities, code)
    tbl["served_by"] = served_by(cov, table=tbl)
    fac = facility_load(cov, table=tbl)
    if communities is not None and code in communities.columns and code not in fac.columns:
        fac[code] = _attach_zone(fac, communities, code)
    areas = service_areas(cov, per_facility=per_facility_areas)
    causes = unit_causes(cov, tbl)
    gap = gaps(cov, table=tbl, areas=areas, causes=causes)
    if communities is not None and code in communities.columns:
        gap = _with_community_names(gap, communities, code)
    comm = streets = districts = None
    if code in tbl.columns:
        agg = _community_aggregates(cov, tbl, fac, causes, code)
        if communities is not None:
            base = to_metric(communities, net.crs)
            comm = base.merge(agg, on=code, how="left", suffixes=("", "_agg"))
        else:
            comm = agg
        tbl_s = tbl.assign(
            street_code=tbl[code].astype(str).str[:9], district_code=tbl[code].astype(str).str[:6]
        )
        fs = (
            fac.assign(
                street_code=fac[code].astype(str).str[:9],
                district_code=fac[code].astype(str).str[:6],
            )
            if code in fac.columns
            else None
        )
        streets = aggregate(tbl_s, by="street_code", facilities=fs, targets=cov.targets)
        districts = aggregate(tbl_s, by="district_code", facilities=fs, targets=cov.targets)
    summary = _summary(cov, tbl, fac, gap)
    return CoverageResult(cov, tbl, comm, streets, districts, fac, areas, gap, summary)


def _with_community_names(
    gap: gpd.GeoDataFrame, communities: pd.DataFrame, code: str
) -> gpd.GeoDataFrame:
    """Add ``community_names`` (the names of ``community_codes``) when communities have names."""
    col = next((c for c in ("name", "community_name") if c in communities.columns), None)
    if col is None:
        return gap
    names = dict(zip(communities[code].astype(str), communities[col].astype(object), strict=False))

    def named(codes: Any) -> str:
        parts = [c for c in str(codes or "").split(",") if c]
        return ", ".join(str(names[c]) if pd.notna(names.get(c)) else c for c in parts)

    out = gap.copy()
    pos = (
        out.columns.get_loc("community_codes") + 1 if "community_codes" in out else len(out.columns)
    )
    out.insert(pos, "community_names", [named(c) for c in out.get("community_codes", [])])
    return out


def _community_aggregates(
    cov: Coverage, tbl: pd.DataFrame, fac: pd.DataFrame, causes: pd.DataFrame, code: str
) -> pd.DataFrame:
    """Aggregate per community, with reasons.

    Adds ``circle_overstatement_hh``, ``meets_target`` (no household beyond the primary
    target) and the reason columns (:func:`~geogrid.analyses.coverage.reasons.zone_reasons`).
    """
    agg = aggregate(tbl, by=code, facilities=fac, targets=cov.targets)
    over = (
        tbl.assign(_o=tbl["households"].where(tbl["circle_overstated"], 0.0))
        .groupby(code)["_o"]
        .sum()
    )
    agg["circle_overstatement_hh"] = agg[code].map(over).fillna(0.0).map(_whole)
    unc = f"uncovered_hh_{cov.settings.primary_target}"
    if unc in agg.columns:
        agg["meets_target"] = agg[unc].to_numpy() == 0
    why = zone_reasons(cov, tbl, causes, agg, by=code)
    for c in REASON_COLUMNS:
        agg[c] = why[c].to_numpy()
    return agg


def _elderly_rows(tbl: pd.DataFrame, targets: tuple[Target, ...]) -> list[tuple[str, Any]]:
    """Elderly residents and those within each target, when the demand has ``elderly``."""
    if "elderly" not in tbl.columns:
        return []
    e = pd.to_numeric(tbl["elderly"], errors="coerce").fillna(0).to_numpy(dtype=float)
    total = float(e.sum())
    rows: list[tuple[str, Any]] = [("elderly", _whole(total))]
    for t in targets:
        c = float(e[tbl[t.column].to_numpy(dtype=bool)].sum())
        rows.append((f"covered_elderly_{t.name}", _whole(c)))
        rows.append((f"coverage_elderly_{t.name}", round(c / total, 4) if total else np.nan))
    return rows


def _summary(
    cov: Coverage, tbl: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, gap: gpd.GeoDataFrame
) -> pd.DataFrame:
    hh = tbl["households"].to_numpy(dtype=float)
    total = hh.sum()
    rows: list[tuple[str, Any]] = [
        ("demand_units", len(tbl)),
        ("households", _whole(total)),
        ("population", _whole(tbl["population"].sum())),
        ("facilities", int(fac["active"].sum())),
        ("speed_kmh", cov.speed_kmh),
    ]
    for t in cov.targets:
        c = float(hh[tbl[t.column].to_numpy(dtype=bool)].sum())
        rows.append((f"covered_hh_{t.name}", _whole(c)))
        rows.append((f"coverage_{t.name}", round(c / total, 4) if total else np.nan))
    rows += _elderly_rows(tbl, cov.targets)
    w = hh > 0
    rows += [
        (
            "mean_walk_min",
            round(
                float(
                    np.average(
                        tbl["walk_min"][w & np.isfinite(tbl["walk_min"])],
                        weights=hh[w & np.isfinite(tbl["walk_min"])],
                    )
                ),
                2,
            )
            if w.any()
            else np.nan,
        ),
        ("p90_walk_min", round(_wquantile(tbl["walk_min"].to_numpy(dtype=float), hh, 0.9), 2)),
        (
            "circle_overstated_hh",
            _whole(hh[tbl["circle_overstated"].to_numpy(dtype=bool)].sum())
            if "circle_overstated" in tbl.columns
            else np.nan,
        ),
        ("gaps", len(gap)),
        ("gap_households", _whole(gap["households"].sum()) if len(gap) else 0),
        ("overloaded_facilities", int(fac["overloaded"].sum())),
        ("beyond_reach_households", _whole(fac["beyond_reach_households"].sum())),
        ("units_far_from_network", int(tbl["snap_far"].sum())),
        ("units_snapped_from_island", int(tbl["snap_island"].sum())),
        ("facilities_far_from_network", int(cov.fac_snap.far.sum())),
        ("facilities_snapped_from_island", int(cov.fac_snap.island.sum())),
    ]
    # object values: counts stay ints (32561, not 32561.0) beside shares and minutes
    return pd.DataFrame(rows, columns=["metric", "value"], dtype=object)
