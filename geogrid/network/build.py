"""Walking network: build from OSM ways or GraphML, project, split, snap points to edges.

The network is undirected. Nodes are way endpoints and vertices shared by two or more ways
(OSM ways connect only at shared nodes). Every edge keeps its geometry in the study area's
metric CRS, oriented from ``u`` to ``v``; ``length_m`` is the projected geometry length, so
distances along an edge and between nodes agree to the millimetre.

Points snap to the nearest *edge* (not node) at the projected point; the snap leg is kept in
``snap_m`` and added to every distance later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from geogrid.crs import far_from_centre, is_metric, metric_crs, to_metric
from geogrid.errors import CRSError, NetworkError

log = logger = logging.getLogger(__name__)


#: Way pieces shorter than this (metres) are dropped: zero-length slivers of shared vertices.
_MIN_PIECE_M = 1e-6

#: OSM ``highway`` values people walk on (motorway, trunk and their links are excluded).
WALKABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "footway",
        "path",
        "pedestrian",
        "steps",
        "living_street",
        "residential",
        "service",
        "unclassified",
        "tertiary",
        "tertiary_link",
        "secondary",
        "secondary_link",
        "primary",
        "primary_link",
        "track",
        "corridor",
        "road",
        "cycleway",
    }
)
_PRIVATE = frozenset({"private", "no", "customers", "residents", "permit"})
_FOOT_YES = frozenset({"yes", "designated", "permissive", "official"})


def _first(value: Any) -> Any:
    """First item of an OSMnx list-valued attribute (``['footway', 'steps']``), else itself."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        inner = [s.strip(" '\"") for s in value[1:-1].split(",")]
        return inner[0] if inner else None
    return value


def _tag(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    return df[name].map(_first).astype(object).where(df[name].notna(), None)


@dataclass
class WalkNetwork:
    """An undirected walking network in a metric CRS.

    Attributes
    ----------
    nodes : GeoDataFrame
        One row per node (index 0..n-1): ``x``, ``y``, ``component`` (0 = largest), Point.
    edges : GeoDataFrame
        One row per edge (index 0..m-1): ``u``, ``v``, ``length_m``, ``highway``, ``access``,
        ``private`` (an access-restricted way kept because it lies in a residential compound),
        ``compound`` (the compound of a private edge, -1 for public ones), ``name``,
        LineString from ``u`` to ``v``.
    crs : pyproj.CRS
        The metric CRS of the study area.
    report : dict
        What the builder did: ways read, kept, dropped by reason, islands.
    private : str
        Who may walk compound private paths: ``"residents"`` (default; trips that start or
        end in that compound), ``"all"`` or ``"none"`` (see :func:`network_from_ways`).

    """

    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    crs: pyproj.CRS
    report: dict[str, Any] = field(default_factory=dict)
    private: str = "residents"
    _csr: sparse.csr_matrix | None = field(default=None, repr=False)
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _incidence: sparse.csr_matrix | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.edges)

    @property
    def csr(self) -> sparse.csr_matrix:
        """Symmetric node x node CSR matrix of edge lengths (shortest of parallel edges)."""
        if self._csr is None:
            u = self.edges["u"].to_numpy()
            v = self.edges["v"].to_numpy()
            w = self.edges["length_m"].to_numpy(dtype=float)
            keep = u != v
            r = np.concatenate([u[keep], v[keep]])
            c = np.concatenate([v[keep], u[keep]])
            ww = np.concatenate([w[keep], w[keep]])
            order = np.lexsort((ww, c, r))
            r, c, ww = r[order], c[order], ww[order]
            first = np.ones(len(r), dtype=bool)
            first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
            n = self.n_nodes
            self._csr = sparse.csr_matrix((ww[first], (r[first], c[first])), shape=(n, n))
            self._csr.sort_indices()
        return self._csr

    @property
    def tree(self) -> shapely.STRtree:
        """STRtree over edge geometries (built once)."""
        if self._tree is None:
            self._tree = shapely.STRtree(np.asarray(self.edges.geometry.values))
        return self._tree

    @property
    def incidence(self) -> sparse.csr_matrix:
        """Node x edge incidence matrix (CSR), 1 where the node is an end of the edge."""
        if self._incidence is None:
            m = self.n_edges
            rows = np.concatenate([self.edges["u"].to_numpy(), self.edges["v"].to_numpy()])
            cols = np.concatenate([np.arange(m), np.arange(m)])
            inc = sparse.csr_matrix(
                (np.ones(2 * m, dtype=np.int8), (rows, cols)), shape=(self.n_nodes, m)
            )
            inc.data[:] = 1
            self._incidence = inc
        return self._incidence

    def prepare_snapping(self) -> None:
        """Build the snapping index now (else the first :func:`snap_points` call builds it)."""
        from geogrid.network.snap import snap_index  # snap builds on this module

        snap_index(self, False)

    def with_private(self, private: str) -> WalkNetwork:
        """Return the network under another private-path rule (residents, all, none).

        ``"none"`` drops the private edges (and the nodes only they reach); the others share
        this network's geometry and only change who walks the private edges, except where a
        private path ends at a wall with no gate (``seal_u`` / ``seal_v`` edge columns): that
        end is a node of its own under ``"residents"`` and joins the way beyond under
        ``"all"`` (open compounds), so the network is rebuilt from its edges.
        """
        mode = _private_mode(private)
        if mode == self.private:
            return self
        priv = self.edges["private"].to_numpy(dtype=bool)
        sealed = "seal_u" in self.edges.columns and "all" in (mode, self.private)
        if (mode == "none" and priv.any()) or (sealed and mode != "none"):
            keep = ~priv if mode == "none" else np.ones(len(priv), dtype=bool)
            ways = self.edges[keep].drop(columns=["u", "v", "length_m", "way"])
            net = network_from_ways(ways, crs=self.crs, walkable_only=False, private=mode)
            fresh = {} if mode == "none" else net.report
            net.report = {
                **{k: v for k, v in self.report.items() if not k.startswith("_")},
                **{k: fresh[k] for k in ("nodes", "edges", "components", "islands") if k in fresh},
                **({"dropped_private": int(priv.sum())} if mode == "none" else {}),
            }
            if "island_nodes" in fresh:
                net.report["island_nodes"] = fresh["island_nodes"]
            return net
        return WalkNetwork(
            nodes=self.nodes,
            edges=self.edges,
            crs=self.crs,
            report={k: v for k, v in self.report.items() if not k.startswith("_walk")},
            private=mode,
            _csr=self._csr,
            _tree=self._tree,
            _incidence=self._incidence,
        )

    @property
    def total_length_km(self) -> float:
        """Total length of all edges in km."""
        return float(self.edges["length_m"].sum() / 1000.0)

    def summary(self) -> dict[str, Any]:
        """Return counts for reports: nodes, edges, km, islands, private edges kept."""
        comp = self.nodes["component"].to_numpy()
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "length_km": round(self.total_length_km, 3),
            "components": int(comp.max() + 1) if len(comp) else 0,
            "island_nodes": int((comp > 0).sum()),
            "private_edges_kept": int(self.edges["private"].sum()),
            **{k: v for k, v in self.report.items() if k.startswith("dropped_")},
            **self._compound_summary(),
        }

    def _compound_summary(self) -> dict[str, int]:
        """Gated compounds, their gates and sealed crossings, when gates or walls were read."""
        rep = self.report.get("compounds")
        if not rep or not rep.get("read"):
            return {}
        return {
            "gated_compounds": int(rep["gated"]),
            "compound_gates": int(rep["gates"]),
            "sealed_crossings": int(rep["sealed_crossings"]),
        }

    def to_networkx(self) -> Any:
        """Return the network as an undirected ``networkx.MultiGraph`` (weights in ``length_m``)."""
        import networkx as nx

        g = nx.MultiGraph()
        g.add_nodes_from(range(self.n_nodes))
        u = self.edges["u"].to_numpy()
        v = self.edges["v"].to_numpy()
        w = self.edges["length_m"].to_numpy(dtype=float)
        g.add_weighted_edges_from(
            zip(u.tolist(), v.tolist(), w.tolist(), strict=False), weight="length_m"
        )
        return g


def _walkable_mask(
    ways: gpd.GeoDataFrame, residential: gpd.GeoDataFrame | None, *, keep_private: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Walkable ways, private compound ways kept, the compound polygon of each, counts."""
    highway = _tag(ways, "highway")
    access = _tag(ways, "access")
    service = _tag(ways, "service")
    foot = _tag(ways, "foot")
    hw_ok = highway.isin(WALKABLE_HIGHWAYS).to_numpy()
    foot_yes = foot.isin(_FOOT_YES).to_numpy()
    foot_no = (foot == "no").to_numpy()
    restricted = (access.isin(_PRIVATE) | (service == "private")).to_numpy() & ~foot_yes
    in_res = np.zeros(len(ways), dtype=bool)
    if residential is not None and len(residential) and restricted.any():
        res = residential.to_crs(ways.crs) if residential.crs != ways.crs else residential
        mids = shapely.line_interpolate_point(
            np.asarray(ways.geometry.values)[restricted], 0.5, normalized=True
        )
        tree = shapely.STRtree(np.asarray(res.geometry.values))
        hit = tree.query(mids, predicate="within")
        idx = np.flatnonzero(restricted)
        in_res[idx[np.unique(hit[0])]] = True
    keep_restricted = restricted & in_res & keep_private
    ok = hw_ok & ~foot_no & (~restricted | keep_restricted)
    owner = np.full(len(ways), -1, dtype=np.int64)
    if in_res.any():
        first = np.unique(hit[0], return_index=True)[1]
        owner[idx[hit[0][first]]] = hit[1][first]
    counts = {
        "ways_read": int(len(ways)),
        "dropped_not_walkable": int((~hw_ok).sum()),
        "dropped_foot_no": int((hw_ok & foot_no).sum()),
        "dropped_private": int((hw_ok & ~foot_no & restricted & ~keep_restricted).sum()),
        "private_in_compounds": int((hw_ok & restricted & in_res).sum()),
    }
    return ok, keep_restricted, owner, counts


_PRIVATE_MODES = ("residents", "all", "none")


def _private_mode(private: str | None, keep_private: bool = True) -> str:
    """Check a ``private=`` option (``keep_private=False`` is the old spelling of "none")."""
    if private is None:
        if not keep_private:
            log.warning("keep_private=False is deprecated; pass private='none'")
            return "none"
        return "residents"
    if private not in _PRIVATE_MODES:
        msg = (
            f"private={private!r} is not one of residents, all, none; pass e.g. private='residents'"
        )
        raise NetworkError(msg)
    return str(private)


def compound_pieces(u: np.ndarray, v: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Compound id per edge (-1 public): connected pieces of private edges of one polygon.

    ``owner`` is the polygon of each private edge (-1 for public edges). Ids are numbered
    0.. in order of each piece's first edge.
    """
    out = np.full(len(u), -1, dtype=np.int64)
    priv = np.flatnonzero(owner >= 0)
    if len(priv) == 0:
        return out
    ends = np.concatenate([u[priv], v[priv]]).astype(np.int64)
    own = np.concatenate([owner[priv], owner[priv]]).astype(np.int64)
    _, key = np.unique(np.column_stack([own, ends]), axis=0, return_inverse=True)
    key = key.ravel()
    k = len(priv)
    nk = int(key.max()) + 1
    adj = sparse.csr_matrix((np.ones(k), (key[:k], key[k:])), shape=(nk, nk))
    _, lab = csgraph.connected_components(adj, directed=False)
    piece = lab[key[:k]]
    _, first = np.unique(piece, return_index=True)
    rank = np.argsort(np.argsort(first))
    out[priv] = rank[piece]
    return out


# --- gated compounds: gates, walls and the private paths they close ---------------------------

#: Minor ``highway`` values that are a gated compound's internal paths (where they lie inside).
INTERNAL_HIGHWAYS: frozenset[str] = frozenset(
    {"service", "footway", "path", "living_street", "steps", "pedestrian"}
)
#: A gate node belongs to the compound whose outline is within this distance (metres).
GATE_TOL_M = 20.0
#: A wall/fence counts along the stretch of outline within this distance of it (metres).
WALL_TOL_M = 10.0
#: Share of a compound's outline that walls/fences must follow for it to count as walled.
WALL_SHARE = 0.75
#: A gate vertex is a way vertex within this distance of a gate point (metres).
_GATE_SNAP_M = 0.05
#: A way vertex this close to a compound's outline lies on it (metres; projected straight
#: outline edges and projected vertices part by millimetres).
_ON_M = 0.05


@dataclass
class _Compounds:
    """Evidence per residential polygon and the open gate points (metric coordinates)."""

    polys: np.ndarray
    gate_xy: np.ndarray
    gate_poly: np.ndarray
    by_gate: np.ndarray
    by_wall: np.ndarray
    by_private: np.ndarray

    @property
    def gated(self) -> np.ndarray:
        return self.by_gate | self.by_wall | self.by_private


def _open_gate_points(gates: gpd.GeoDataFrame | None, target: pyproj.CRS) -> np.ndarray:
    """Coordinates of the gate points walkers may pass (not ``access=no`` / ``foot=no``)."""
    if gates is None or gates.empty:
        return np.empty((0, 2))
    g = to_metric(gates[gates.geometry.notna()], target)
    g = g[g.geom_type == "Point"]
    closed = np.zeros(len(g), dtype=bool)
    foot = _tag(g, "foot")
    closed |= (_tag(g, "access").isin(["no"]) & ~foot.isin(_FOOT_YES)).to_numpy()
    closed |= (foot == "no").to_numpy()
    return shapely.get_coordinates(np.asarray(g.geometry.values)[~closed])


def _walled(polys: np.ndarray, walls: gpd.GeoDataFrame | None, target: pyproj.CRS) -> np.ndarray:
    """Whether walls/fences follow at least :data:`WALL_SHARE` of each polygon's outline."""
    out = np.zeros(len(polys), dtype=bool)
    if walls is None or walls.empty or not len(polys):
        return out
    w = to_metric(walls[walls.geometry.notna()], target)
    if w.empty:
        return out
    band = shapely.buffer(shapely.union_all(np.asarray(w.geometry.values)), WALL_TOL_M)
    outline = shapely.boundary(polys)
    along = shapely.length(shapely.intersection(outline, band))
    total = shapely.length(outline)
    out[total > 0] = along[total > 0] / total[total > 0] >= WALL_SHARE
    return out


def _compound_evidence(
    kept: gpd.GeoDataFrame,
    residential: gpd.GeoDataFrame,
    *,
    gates: gpd.GeoDataFrame | None,
    walls: gpd.GeoDataFrame | None,
    owner: np.ndarray,
    target: pyproj.CRS,
) -> _Compounds:
    """Gate points on walkable ways near each outline, walls, private paths: per polygon."""
    polys = np.asarray(residential.geometry.values, dtype=object).copy()
    area = np.isin(shapely.get_type_id(polys), [3, 6])  # (Multi)Polygon; others are no compound
    polys[~area] = shapely.Polygon()
    bad = area & ~shapely.is_valid(polys)
    polys[bad] = shapely.make_valid(polys[bad])
    xy = _open_gate_points(gates, target)
    if len(xy):
        tree = shapely.STRtree(np.asarray(kept.geometry.values))
        hit = tree.query(shapely.points(xy), predicate="dwithin", distance=_GATE_SNAP_M)
        xy = xy[np.unique(hit[0])]
    gate_poly = np.full(len(xy), -1, dtype=np.int64)
    if len(xy) and len(polys):
        hit = shapely.STRtree(shapely.boundary(polys)).query_nearest(
            shapely.points(xy), max_distance=GATE_TOL_M, all_matches=False
        )
        gate_poly[hit[0]] = hit[1]
    by_gate = np.zeros(len(polys), dtype=bool)
    by_gate[gate_poly[gate_poly >= 0]] = True
    by_private = np.zeros(len(polys), dtype=bool)
    by_private[owner[owner >= 0]] = True
    return _Compounds(polys, xy, gate_poly, by_gate, _walled(polys, walls, target), by_private)


@dataclass
class _Pieces:
    """Ways after cutting gated compounds' internal paths at gates and outline crossings."""

    ways: gpd.GeoDataFrame
    private: np.ndarray
    owner: np.ndarray
    seal_start: np.ndarray
    seal_end: np.ndarray
    sealed: int = 0
    cut_ways: int = 0

    def subset(self, keep: np.ndarray) -> _Pieces:
        """Return the pieces where ``keep`` is True."""
        return _Pieces(
            self.ways[keep].reset_index(drop=True),
            self.private[keep],
            self.owner[keep],
            self.seal_start[keep],
            self.seal_end[keep],
        )


def _seal_columns(ways: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``seal_u`` / ``seal_v`` of edges passed back in (all False when absent)."""
    return tuple(  # type: ignore[return-value]
        ways[c].fillna(False).to_numpy(dtype=bool)
        if c in ways.columns
        else np.zeros(len(ways), dtype=bool)
        for c in ("seal_u", "seal_v")
    )


def _input_masks(
    ways: gpd.GeoDataFrame, residential: gpd.GeoDataFrame | None, mode: str, walkable_only: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Ways kept, private flags, compound polygon (or id) of each, counts."""
    if walkable_only:
        return _walkable_mask(ways, residential, keep_private=mode != "none")
    is_private = (
        ways["private"].fillna(False).to_numpy(dtype=bool)
        if "private" in ways.columns
        else np.zeros(len(ways), dtype=bool)
    )
    ok = ~is_private if mode == "none" else np.ones(len(ways), dtype=bool)
    owner = (
        ways["compound"].fillna(-1).to_numpy(dtype=np.int64)
        if "compound" in ways.columns
        else np.where(is_private, 0, -1)
    )
    return ok, is_private, owner, {"ways_read": len(ways)}


def _cut_positions(
    coords: np.ndarray, line: shapely.LineString, poly: shapely.Geometry, gate_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices with the outline crossings inserted, the cut indices, which cuts are gates."""
    cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(coords, axis=0).T))]
    length = cum[-1]
    cross = shapely.get_parts(shapely.intersection(line, shapely.boundary(poly)))
    cross = cross[shapely.get_type_id(cross) == 0]
    dc = np.unique(shapely.line_locate_point(line, cross)) if len(cross) else np.empty(0)
    dc = dc[(dc > _MIN_PIECE_M) & (dc < length - _MIN_PIECE_M)]
    if len(gate_v) and len(dc):
        dc = dc[np.abs(dc[:, None] - cum[gate_v][None, :]).min(axis=1) > GATE_TOL_M]
    at_vertex = np.isclose(dc[:, None], cum[None, :], rtol=0.0, atol=_ON_M)
    vertex_hit = at_vertex.any(axis=1)
    new_d = dc[~vertex_hit]
    new_xy = shapely.get_coordinates(shapely.line_interpolate_point(line, new_d))
    dist = np.r_[cum, new_d]
    xy = np.vstack([coords, new_xy.reshape(-1, 2)])
    kind = np.zeros(len(dist), dtype=np.int8)  # 0 vertex, 1 gate, 2 crossing or end on it
    ends = np.array([0, len(coords) - 1])
    on_outline = shapely.dwithin(shapely.boundary(poly), shapely.points(coords[ends]), _ON_M)
    kind[ends[on_outline]] = 2
    kind[np.flatnonzero(at_vertex.any(axis=0))] = 2
    kind[len(cum) :] = 2
    kind[gate_v] = 1
    order = np.argsort(dist, kind="stable")
    xy, kind = xy[order], kind[order]
    cuts = np.flatnonzero(kind > 0)
    cuts = np.unique(np.r_[0, cuts[(cuts > 0) & (cuts < len(xy) - 1)], len(xy) - 1])
    return xy, cuts, kind


def _gate_vertices(coords: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """Return the indices of the vertices that are gate points."""
    if not len(gates) or not len(coords):
        return np.empty(0, dtype=np.int64)
    d = np.hypot(coords[:, None, 0] - gates[None, :, 0], coords[:, None, 1] - gates[None, :, 1])
    return np.flatnonzero(d.min(axis=1) <= _GATE_SNAP_M)


def _is_internal(
    whole: shapely.Geometry, highway: Any, poly: shapely.Geometry, gates: np.ndarray
) -> bool:
    """Whether a way (all of it) is an internal path of a gated compound.

    Not internal: a way with no gate on it whose two ends both lie outside the outline (a
    through way), or a residential street with no gate that is not wholly inside.
    """
    if len(_gate_vertices(shapely.get_coordinates(whole), gates)):
        return True
    merged = shapely.line_merge(whole) if whole.geom_type == "MultiLineString" else whole
    parts = shapely.get_parts(merged)
    ends = shapely.points(
        np.concatenate([shapely.get_coordinates(p)[[0, -1]] for p in parts if not p.is_empty])
    )
    if not shapely.intersects(poly, ends).any():
        return False
    return highway != "residential" or bool(shapely.covers(shapely.buffer(poly, 1.0), whole))


def _cut_internal(
    line: shapely.LineString,
    poly: shapely.Geometry,
    gates: np.ndarray,
    seal: bool,
) -> list[tuple[np.ndarray, bool, bool, bool]] | None:
    """Pieces of an internal way in a gated compound: (coords, private, sealed start, end).

    None when no piece lies inside the outline.
    """
    coords = shapely.get_coordinates(line)
    if len(coords) < 2:
        return None
    gate_v = _gate_vertices(coords, gates)
    xy, cuts, kind = _cut_positions(coords, line, poly, gate_v)
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        piece = xy[a : b + 1]
        if len(piece) < 2:
            continue
        mid = shapely.line_interpolate_point(shapely.linestrings(piece), 0.5, normalized=True)
        inside = bool(shapely.contains(poly, mid))
        out.append(
            (piece, inside, inside and seal and kind[a] == 2, inside and seal and kind[b] == 2)
        )
    if not any(p[1] for p in out):
        return None
    return out


def _whole_ways(kept: gpd.GeoDataFrame, rows: np.ndarray) -> dict[int, shapely.Geometry]:
    """All the lines of the same OSM way, for rows whose way comes in several (GraphML edges)."""
    if "osmid" not in kept.columns or not len(rows):
        return {}
    col = kept["osmid"]
    ids = (_tag(kept, "osmid").astype(str) if col.dtype == object else col).to_numpy()
    sel = np.flatnonzero(np.isin(ids, ids[rows]))
    sel = sel[np.argsort(ids[sel], kind="stable")]
    geoms = np.asarray(kept.geometry.values)
    out: dict[int, shapely.Geometry] = {}
    for members in np.split(sel, np.flatnonzero(ids[sel][1:] != ids[sel][:-1]) + 1):
        if len(members) > 1:
            merged = shapely.multilinestrings(geoms[members])
            out.update(dict.fromkeys(members.tolist(), merged))
    return out


def _gate_compounds(
    kept: gpd.GeoDataFrame, is_private: np.ndarray, owner: np.ndarray, ev: _Compounds
) -> _Pieces:
    """Make the internal minor ways of gated compounds private, cut at gates and outlines.

    Ways already private (``access=private`` inside a compound) stay whole, as before. Other
    ``INTERNAL_HIGHWAYS`` ways (and ``residential`` streets wholly inside or through a gate)
    that intersect a gated compound are cut at its gate nodes and where they cross its
    outline; the pieces inside become its private paths. A piece's end at an outline
    crossing with no gate is sealed (not a way in) when the compound has gate nodes.
    """
    n = len(kept)
    none = np.zeros(n, dtype=bool)
    same = _Pieces(kept, is_private, owner, none, none.copy())
    gated = np.flatnonzero(ev.gated)
    if not len(gated) or not n:
        return same
    hw = _tag(kept, "highway").to_numpy()
    cand = np.flatnonzero(~is_private & np.isin(hw, [*INTERNAL_HIGHWAYS, "residential"]))
    geoms = np.asarray(kept.geometry.values)
    pairs = shapely.STRtree(ev.polys[gated]).query(geoms[cand], predicate="intersects")
    if not pairs.shape[1]:
        return same
    share = shapely.length(shapely.intersection(geoms[cand[pairs[0]]], ev.polys[gated[pairs[1]]]))
    order = np.lexsort((pairs[1], -share, pairs[0]))
    first = order[np.r_[True, np.diff(pairs[0][order]) != 0]]
    n_gates = np.bincount(ev.gate_poly[ev.gate_poly >= 0], minlength=len(ev.polys))
    cut: dict[int, list[tuple[np.ndarray, bool, bool, bool]]] = {}
    owners: dict[int, int] = {}
    whole = _whole_ways(kept, cand)
    for k in first[share[first] > _MIN_PIECE_M]:  # ways that only touch an outline: public
        j, i = int(cand[pairs[0][k]]), int(gated[pairs[1][k]])
        gxy = ev.gate_xy[ev.gate_poly == i]
        if not _is_internal(whole.get(j, geoms[j]), hw[j], ev.polys[i], gxy):
            continue
        pieces = _cut_internal(geoms[j], ev.polys[i], gxy, bool(n_gates[i]))
        if pieces is not None:
            cut[j], owners[j] = pieces, i
    if not cut:
        return same
    count = np.ones(n, dtype=np.int64)
    count[list(cut)] = [len(p) for p in cut.values()]
    src = np.repeat(np.arange(n), count)
    rows = kept.iloc[src].reset_index(drop=True)
    geom = geoms[src].copy()
    priv, own = is_private[src].copy(), owner[src].copy()
    sa, sb = np.zeros(len(src), dtype=bool), np.zeros(len(src), dtype=bool)
    at = np.r_[0, np.cumsum(count)]
    for j, pieces in cut.items():
        for q, (xy, inside, s0, s1) in enumerate(pieces):
            r = at[j] + q
            geom[r] = shapely.linestrings(xy)
            priv[r], own[r], sa[r], sb[r] = inside, owners[j] if inside else -1, s0, s1
    rows = rows.set_geometry(gpd.GeoSeries(geom, crs=kept.crs))
    return _Pieces(rows, priv, own, sa, sb, int(sa.sum() + sb.sum()), len(cut))


def _apart_at_seals(
    keys: np.ndarray,
    owner: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    seals: tuple[np.ndarray, np.ndarray],
    private: np.ndarray,
) -> np.ndarray:
    """Vertex keys with a third column that parts public lines from private ones at seals."""
    starts, ends = bounds
    lines = owner[starts]
    sealed_rows = np.r_[starts[seals[0][lines]], ends[seals[1][lines]]]
    if not len(sealed_rows):
        return keys
    _, key_id = np.unique(keys, axis=0, return_inverse=True)
    key_id = key_id.ravel()
    at_seal = np.isin(key_id, key_id[sealed_rows])
    apart = (at_seal & ~private[owner]).astype(np.int64)
    return np.column_stack([keys, apart])


def _split_at_shared_vertices(
    geoms: np.ndarray,
    *,
    precision_m: float = 0.001,
    seal_start: np.ndarray | None = None,
    seal_end: np.ndarray | None = None,
    private: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split lines at vertices shared with other lines (or repeated) and at their ends.

    ``seal_start`` / ``seal_end`` flag line ends that are wall crossings with no gate: there
    the ``private`` lines keep one node and the other lines get another, so nothing passes
    from a compound's private paths to the ways beyond its wall at that point.
    Returns edge geometries, the source line index of each edge, u and v node ids.
    """
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    if len(coords) == 0:
        msg = "no walkable way has coordinates; check the file covers the study area"
        raise NetworkError(msg)
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    ends = np.r_[starts[1:] - 1, len(owner) - 1]
    keys = np.round(coords / precision_m).astype(np.int64)
    if seal_start is not None and seal_end is not None and private is not None:
        keys = _apart_at_seals(keys, owner, (starts, ends), (seal_start, seal_end), private)
    _, key_id, key_count = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    key_id = key_id.ravel()
    is_first = np.zeros(len(owner), dtype=bool)
    is_first[starts] = True
    is_last = np.zeros(len(owner), dtype=bool)
    is_last[ends] = True
    is_node = (key_count[key_id] > 1) | is_first | is_last
    # k = running count of node vertices within each line (first vertex -> 1)
    csum = np.cumsum(is_node)
    base = np.repeat(csum[starts] - 1, ends - starts + 1)
    k: np.ndarray = csum - base
    n_edges_line = k[ends] - 1
    offset = np.r_[0, np.cumsum(n_edges_line)[:-1]]
    off = np.repeat(offset, ends - starts + 1)
    # emit rows: interior/non-node rows and node rows that start an edge -> edge k-1;
    # node rows that end an edge (all node rows but the first) -> edge k-2
    start_rows = ~is_last
    end_rows = is_node & ~is_first
    rows = np.concatenate([np.flatnonzero(start_rows), np.flatnonzero(end_rows)])
    edge = np.concatenate([(k - 1 + off)[start_rows], (k - 2 + off)[end_rows]])
    order = np.lexsort((rows, edge))
    rows, edge = rows[order], edge[order]
    n_edges = int(n_edges_line.sum())
    lines = shapely.linestrings(coords[rows], indices=edge)
    first_row = rows[np.r_[0, np.flatnonzero(np.diff(edge)) + 1]]
    last_row = rows[np.r_[np.flatnonzero(np.diff(edge)), len(rows) - 1]]
    src_line = owner[first_row]
    node_keys, node_of_key = np.unique(key_id[is_node], return_inverse=True)
    lookup = np.full(key_count.shape[0], -1, dtype=np.int64)
    lookup[node_keys] = np.arange(len(node_keys))
    u = lookup[key_id[first_row]]
    v = lookup[key_id[last_row]]
    if len(lines) != n_edges:  # pragma: no cover - internal invariant
        raise NetworkError("edge split failed; please report this with the input file")
    return np.asarray(lines), src_line, u, v


def _drop_far_ways(ways: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop ways far away from all the others (a stray line at 0, 0), with a warning."""
    if len(ways) < 3:
        return ways
    with np.errstate(all="ignore"):
        mid = shapely.line_interpolate_point(
            np.asarray(ways.to_crs("EPSG:4326").geometry.values), 0.5, normalized=True
        )
    xy = shapely.get_coordinates(mid)
    if len(xy) != len(ways):
        return ways
    far, limit = far_from_centre(xy[:, 0], xy[:, 1])
    if far.any() and not far.all():
        log.warning(
            "dropped %d of %d network ways more than %.0f km from the rest of the network; "
            "check their coordinates",
            int(far.sum()),
            len(ways),
            limit,
        )
        ways = ways.loc[~far].reset_index(drop=True)
    return ways


def _prepared_ways(ways: gpd.GeoDataFrame, crs: Any) -> tuple[gpd.GeoDataFrame, pyproj.CRS]:
    """Check the way lines, explode them, drop far-off strays, project to the metric CRS."""
    if not isinstance(ways, gpd.GeoDataFrame) or ways.crs is None:
        msg = "ways need a coordinate system; read them with geogrid.io or call .set_crs(...)"
        raise CRSError(msg)
    if "highway" not in ways.columns:
        msg = "ways have no 'highway' column; pass OSM highway ways (geogrid.io.read_osm(...).ways)"
        raise NetworkError(msg)
    ways = ways[ways.geometry.notna() & ways.geom_type.isin(["LineString", "MultiLineString"])]
    ways = ways.explode(index_parts=False).reset_index(drop=True)
    if ways.empty:
        msg = (
            "the network input has no highway lines; pass an OSM extract or lines with highway tags"
        )
        raise NetworkError(msg)
    ways = _drop_far_ways(ways)
    if crs is not None:
        target = pyproj.CRS(crs)
    elif is_metric(ways.crs):
        target = pyproj.CRS(ways.crs)
    else:
        target = metric_crs(ways)
    return to_metric(ways, target), target


def network_from_ways(
    ways: gpd.GeoDataFrame,
    *,
    residential: gpd.GeoDataFrame | None = None,
    keep_private: bool = True,
    crs: Any = None,
    walkable_only: bool = True,
    private: str | None = None,
    gates: gpd.GeoDataFrame | None = None,
    walls: gpd.GeoDataFrame | None = None,
) -> WalkNetwork:
    """Build a walking network from way lines with OSM tags.

    Parameters
    ----------
    ways : GeoDataFrame
        LineStrings with at least ``highway``; ``access``, ``service``, ``foot``, ``name`` are
        used when present. Ways connect where they share a vertex.
    residential : GeoDataFrame, optional
        ``landuse=residential`` / compound polygons. A polygon is a *gated compound* when
        (1) ways tagged ``access=private`` or ``service=private`` lie inside it (kept whole as
        its private paths, as before), (2) gate nodes (``gates``) on walkable ways lie within
        :data:`GATE_TOL_M` of its outline, or (3) walls/fences (``walls``) follow at least
        :data:`WALL_SHARE` of its outline. In a gated compound the internal minor ways
        (:data:`INTERNAL_HIGHWAYS`: service, footway, path, living_street, steps, pedestrian)
        are cut at its gate nodes and where they cross its outline, and the pieces inside are
        its private paths; so are ``residential`` streets lying wholly inside it or entering
        it through a gate. Not private: a way with no gate on it whose two ends both lie
        outside the outline (a through road crossing it end to end is a public street) and
        every other highway (tertiary and up, unclassified). Its ways in are its gate nodes
        and the junctions of its paths with public streets inside it; a crossing of the
        outline without a gate node is not a way in (its private paths get a node of their own
        there, apart from the way beyond), unless the compound has no gate node at all: then every crossing is a gate,
        as before, and the compound is counted in the report (``gated_without_gate_nodes``).
    gates : GeoDataFrame, optional
        Gate points (``barrier=gate``, ``lift_gate``, ``entrance=*``...,
        :attr:`geogrid.io.OSMData.gates`); ones tagged ``access=no`` or ``foot=no`` are no
        ways in. Only points on a vertex of a walkable way count.
    walls : GeoDataFrame, optional
        ``barrier=wall`` / ``fence`` lines (:attr:`geogrid.io.OSMData.walls`).
    keep_private : bool
        Deprecated: ``False`` is ``private="none"``.
    private : {"residents", "all", "none"}
        Who walks a compound's private paths (default ``"residents"``): only trips that start
        or end inside that compound (a gated compound, 封闭小区; everybody else goes round it
        and enters through its gates); ``"all"``: everybody (open compounds); ``"none"``:
        nobody (the ways are dropped). Each connected piece of private paths inside one
        polygon is one compound; its gates are the nodes where its paths meet any other way.
        What was found is in ``report["compounds"]`` (gated compounds and private edges by
        evidence, gates, sealed crossings) and, when gates or walls were given, in
        :meth:`WalkNetwork.summary`.
    crs : optional
        Metric CRS to use; default :func:`geogrid.crs.metric_crs` of the ways.
    walkable_only : bool
        False keeps every way (for networks already filtered, e.g. generated ones).

    """
    ways, target = _prepared_ways(ways, crs)
    if residential is not None:
        residential = to_metric(residential, target)
    mode = _private_mode(private, keep_private)
    ok, is_private, owner, counts = _input_masks(ways, residential, mode, walkable_only)
    if not ok.any():
        msg = (
            f"no walkable ways among the {len(ways)} highway ways (motorways, trunks, foot=no "
            "and access=no are dropped); pass the streets and paths people walk on"
        )
        raise NetworkError(msg)
    kept = ways[ok].reset_index(drop=True)
    ev = None
    if walkable_only and residential is not None and len(residential):
        ev = _compound_evidence(
            kept, residential, gates=gates, walls=walls, owner=owner, target=target
        )
        sel = _gate_compounds(kept, is_private[ok], owner[ok], ev)
        if mode == "none":  # the new pieces; access=private ways are gone already
            counts["dropped_private"] += int(sel.private.sum())
            sel = sel.subset(~sel.private)
    else:
        sel = _Pieces(kept, is_private[ok], owner[ok], *_seal_columns(kept))
    kept, is_private, owner, seal_a, seal_b = (
        sel.ways,
        sel.private,
        sel.owner,
        sel.seal_start,
        sel.seal_end,
    )
    seal = mode == "residents"
    geoms, src, u, v = _split_at_shared_vertices(
        np.asarray(kept.geometry.values),
        seal_start=seal_a if seal else None,
        seal_end=seal_b if seal else None,
        private=is_private,
    )
    first = np.r_[True, src[1:] != src[:-1]]
    last = np.r_[src[1:] != src[:-1], True]
    seal_u, seal_v = first & seal_a[src], last & seal_b[src]
    length = shapely.length(geoms)
    good = length > _MIN_PIECE_M
    geoms, src, u, v, length = geoms[good], src[good], u[good], v[good], length[good]
    seal_u, seal_v = seal_u[good], seal_v[good]
    if not len(geoms):
        msg = (
            "the walking network has no edge of positive length (a single node); pass streets "
            "that cover the study area"
        )
        raise NetworkError(msg)
    used, u_v = np.unique(np.concatenate([u, v]), return_inverse=True)
    u, v = u_v[: len(u)], u_v[len(u) :]
    edges = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "length_m": length,
            "highway": _tag(kept, "highway").to_numpy()[src],
            "access": _tag(kept, "access").to_numpy()[src],
            "private": is_private[src],
            "name": _tag(kept, "name").to_numpy()[src],
            "way": src,
        },
        geometry=geoms,
        crs=target,
    )
    edge_owner = np.where(is_private[src], owner[src], -1)
    edges["compound"] = compound_pieces(u, v, edge_owner)
    for extra in ("osmid", "way_id"):
        if extra in kept.columns:
            edges[extra] = kept[extra].to_numpy()[src]
    if seal_u.any() or seal_v.any():
        edges["seal_u"], edges["seal_v"] = seal_u, seal_v
    if ev is not None:
        counts["compounds"] = _compound_report(
            ev, edge_owner, (seal_u, seal_v), read=gates is not None or walls is not None
        )
    net = _finish(edges, target, counts)
    net.private = mode
    return net


def _compound_report(
    ev: _Compounds, edge_owner: np.ndarray, seals: tuple[np.ndarray, np.ndarray], *, read: bool
) -> dict[str, Any]:
    """Count gated compounds, gates and private edges by evidence, and sealed crossings."""
    seal_u, seal_v = seals
    n_gates = np.bincount(ev.gate_poly[ev.gate_poly >= 0], minlength=len(ev.polys))
    owned = edge_owner[edge_owner >= 0]
    no_gate = ev.gated & (n_gates == 0)
    rep: dict[str, Any] = {
        "read": read,
        "residential_areas": len(ev.polys),
        "gate_points": len(ev.gate_xy),
        "gated": int(ev.gated.sum()),
        "gated_by": {
            "gate_nodes": int(ev.by_gate.sum()),
            "walls": int(ev.by_wall.sum()),
            "private_paths": int(ev.by_private.sum()),
        },
        "gates": int(n_gates.sum()),
        "private_edges": len(owned),
        "private_edges_by": {
            "gate_nodes": int(ev.by_gate[owned].sum()),
            "walls": int(ev.by_wall[owned].sum()),
            "private_paths": int(ev.by_private[owned].sum()),
        },
        "sealed_crossings": int(seal_u.sum() + seal_v.sum()),
        "gated_without_gate_nodes": int(no_gate.sum()),
    }
    if rep["read"] and no_gate.any():
        log.warning(
            "%d gated compounds have no gate node; every crossing of their outline is taken "
            "as a gate",
            int(no_gate.sum()),
        )
    log.info("gated compounds: %s", rep)
    return rep


def _finish(edges: gpd.GeoDataFrame, target: pyproj.CRS, counts: dict[str, Any]) -> WalkNetwork:
    n = int(max(edges["u"].max(), edges["v"].max()) + 1)
    xy = np.zeros((n, 2))
    first = shapely.get_point(np.asarray(edges.geometry.values), 0)
    last = shapely.get_point(np.asarray(edges.geometry.values), -1)
    xy[edges["u"].to_numpy()] = shapely.get_coordinates(first)
    xy[edges["v"].to_numpy()] = shapely.get_coordinates(last)
    m = len(edges)
    adj = sparse.csr_matrix(
        (np.ones(m), (edges["u"].to_numpy(), edges["v"].to_numpy())), shape=(n, n)
    )
    ncomp, labels = csgraph.connected_components(adj, directed=False)
    sizes = np.bincount(labels, minlength=ncomp)
    rank = np.empty(ncomp, dtype=np.int64)
    rank[np.lexsort((np.arange(ncomp), -sizes))] = np.arange(ncomp)
    comp = rank[labels]
    nodes = gpd.GeoDataFrame(
        {"x": xy[:, 0], "y": xy[:, 1], "component": comp},
        geometry=shapely.points(xy),
        crs=target,
    )
    report = dict(counts)
    report.update(
        {
            "nodes": n,
            "edges": m,
            "components": int(ncomp),
            "island_nodes": int((comp > 0).sum()),
            "islands": int(ncomp - 1),
        }
    )
    if ncomp > 1:
        log.warning(
            "walking network has %d disconnected islands (%d of %d nodes); they are kept, and "
            "points snap to the largest component by default",
            ncomp - 1,
            int((comp > 0).sum()),
            n,
        )
    log.info("walking network: %d nodes, %d edges, %.1f km", n, m, edges["length_m"].sum() / 1e3)
    return WalkNetwork(nodes=nodes, edges=edges, crs=target, report=report)


_XML_HEAD_BYTES = 1 << 20


def _check_graphml(path: Path) -> None:
    """Refuse XML that declares a DTD or entities (entity expansion, external entities).

    A GraphML file needs neither, and a DTD must come before the root element, so the file's
    head up to ``<graphml`` is enough to look at.
    """
    with path.open("rb") as fh:
        head = fh.read(_XML_HEAD_BYTES)
    root = head.find(b"<graphml")
    prolog = head if root < 0 else head[:root]
    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
        msg = (
            f"{path.name} declares a DTD or XML entities, which GraphML never needs and geogrid "
            "refuses (entity expansion); save the graph again with osmnx.save_graphml"
        )
        raise NetworkError(msg)
    if root < 0:
        msg = f"{path.name} is not a GraphML file (no <graphml> element); pass an OSMnx GraphML or OSM file"
        raise NetworkError(msg)


def network_from_graphml(
    path: str | Path,
    *,
    crs: Any = None,
    keep_private: bool = True,
    private: str | None = None,
    residential: gpd.GeoDataFrame | None = None,
    walls: gpd.GeoDataFrame | None = None,
) -> WalkNetwork:
    """Load an OSMnx GraphML file as a walking network (non-walkable edges are dropped).

    Nodes with a ``barrier`` (gate, lift_gate...) or ``entrance`` attribute (osmnx keeps them
    when ``useful_tags_node`` includes those keys) are the gates of the ``residential``
    compounds they lie on (see :func:`network_from_ways`).
    """
    import osmnx as ox

    path = Path(path)
    if not path.exists():
        msg = f"GraphML file {str(path)!r} does not exist; check the path"
        raise NetworkError(msg)
    _check_graphml(path)
    try:
        g = ox.load_graphml(path)
    except Exception as exc:  # ElementTree ParseError, osmnx/networkx KeyError/ValueError
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        msg = (
            f"{path.name} cannot be read as an OSMnx GraphML file ({text}); save it again with "
            "osmnx.save_graphml, or pass the OSM extract"
        )
        raise NetworkError(msg) from exc
    if g.number_of_edges() == 0:
        msg = f"{path.name} has no edges; pass a GraphML of the walking network of the area"
        raise NetworkError(msg)
    if "crs" not in g.graph:
        msg = f"{path.name} has no 'crs' graph attribute; save it with osmnx.save_graphml"
        raise CRSError(msg)
    g = g.to_undirected()
    nodes, edges = ox.graph_to_gdfs(g, fill_edge_geometry=True)
    edges = edges.reset_index(drop=True)
    return network_from_ways(
        edges,
        crs=crs,
        keep_private=keep_private,
        private=private,
        residential=residential,
        gates=_graphml_gates(nodes),
        walls=walls,
    )


def _graphml_gates(nodes: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """Gate nodes of an osmnx graph (``barrier`` in the gate kinds, or any ``entrance``)."""
    from geogrid.io.osmxml import GATE_BARRIERS

    barrier = _tag(nodes, "barrier")
    entrance = _tag(nodes, "entrance")
    gate = (barrier.isin(GATE_BARRIERS) | entrance.notna()).to_numpy()
    if not gate.any():
        return None
    cols = [c for c in ("barrier", "entrance", "access", "foot") if c in nodes.columns]
    return nodes.loc[gate, [*cols, "geometry"]].reset_index(drop=True)


def build_network(source: Any, **kwargs: Any) -> WalkNetwork:
    """Build a walking network from a path (OSM extract, GraphML) or a ways GeoDataFrame.

    ``"place:南京市玄武区"`` or ``"bbox:WEST,SOUTH,EAST,NORTH"`` downloads the area through
    osmnx/Overpass once (cached on disk; needs internet).

    OSM extracts (``.osm``, ``.osm.xml``, ``.osm.bz2``, ``.osm.gz``, ``.osm.pbf``) are read with
    :func:`geogrid.io.read_osm`; their ``landuse=residential`` polygons, gate nodes and
    walls mark gated compounds (see :func:`network_from_ways`).
    """
    if isinstance(source, WalkNetwork):
        return source
    if isinstance(source, gpd.GeoDataFrame):
        return network_from_ways(source, **kwargs)
    if isinstance(source, str) and source.startswith(("place:", "bbox:")):
        from geogrid.io.osm import fetch_osm

        kind, _, value = source.partition(":")
        if kind == "place":
            osm = fetch_osm(place=value)
        else:
            try:
                west, south, east, north = (float(v) for v in value.split(","))
            except ValueError:
                msg = f"cannot read {source!r}; write bbox:WEST,SOUTH,EAST,NORTH in degrees"
                raise NetworkError(msg) from None
            osm = fetch_osm(bbox=(west, south, east, north))
        _osm_layers(osm, kwargs)
        return network_from_ways(osm.ways, **kwargs)
    path = Path(source)
    name = path.name.lower()
    if name.endswith(".graphml"):
        return network_from_graphml(path, **kwargs)
    if name.endswith((".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")):
        from geogrid.io.osm import read_osm

        osm = read_osm(path)
        if osm.ways.empty:
            msg = (
                f"{path.name} has no highway ways, so no walking network; pass an extract that "
                "includes the streets (highway=*) of the study area"
            )
            raise NetworkError(msg)
        _osm_layers(osm, kwargs)
        return _named(path, network_from_ways, osm.ways, **kwargs)
    from geogrid.io.readers import read_layer

    return _named(path, network_from_ways, read_layer(path), **kwargs)


def _osm_layers(osm: Any, kwargs: dict[str, Any]) -> None:
    """Default the residential areas, gates and walls of ``kwargs`` to an extract's layers."""
    kwargs.setdefault("residential", osm.residential)
    kwargs.setdefault("gates", osm.gates)
    kwargs.setdefault("walls", osm.walls)


def _named(path: Path, build: Any, *args: Any, **kwargs: Any) -> WalkNetwork:
    """Call ``build`` and put the file name in front of a network error's message."""
    try:
        return build(*args, **kwargs)
    except NetworkError as exc:
        raise NetworkError(f"{path.name}: {exc}") from exc
