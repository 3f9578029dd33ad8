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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely

from geogrid.crs import to_metric
from geogrid.errors import CRSError, NetworkError
from geogrid.settings import DEFAULTS

if TYPE_CHECKING:
    from geogrid.network.build import WalkNetwork

log = logger = logging.getLogger(__name__)


@dataclass
class Snap:
    """Points snapped to network edges (arrays aligned with the input rows).

    ``edge``, ``u``, ``v``: the edge and its ends; ``pos_m``: distance along the edge from ``u``
    to the snap point; ``to_u_m`` = ``pos_m`` and ``to_v_m`` = length - ``pos_m``; ``snap_m``:
    the straight leg from the point to the edge; ``x``, ``y``: the snap point; ``far``: leg
    longer than ``max_snap_m``; ``island``: the nearest edge of all lies on a disconnected island.
    """

    edge: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pos_m: np.ndarray
    to_u_m: np.ndarray
    to_v_m: np.ndarray
    snap_m: np.ndarray
    x: np.ndarray
    y: np.ndarray
    far: np.ndarray
    island: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def take(self, idx: Any) -> Snap:
        """Return a subset of the snapped points."""
        return Snap(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})

    def points(self) -> np.ndarray:
        """Snap points as shapely Points."""
        return shapely.points(self.x, self.y)


def representative_points(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """Points for any geometry: points as they are, others by ``point_on_surface``."""
    geoms = np.asarray(gdf.geometry.values)
    if gdf.geometry.isna().any() or shapely.is_empty(geoms).any():
        bad = int(gdf.geometry.isna().sum() + shapely.is_empty(geoms).sum())
        msg = f"{bad} rows have no geometry; drop them or fix the layer before snapping"
        raise NetworkError(msg)
    is_pt = shapely.get_type_id(geoms) == 0
    out = geoms.copy()
    if (~is_pt).any():
        out[~is_pt] = shapely.point_on_surface(geoms[~is_pt])
    return out


_PIECE_M = 20.0  # longest straight piece in the snapping index (half: the search slack)
_SNAP_K = (6, 16)  # nearest piece midpoints tried before an exact radius search


@dataclass
class _SnapIndex:
    """Straight pieces of the edges (each at most ``_PIECE_M`` long) and a KD-tree of their midpoints."""

    tree: Any
    edge: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    along: np.ndarray
    slack: float


def snap_index(net: WalkNetwork, main_only: bool) -> _SnapIndex:
    """Snapping index over all edges or over the main component's (cached on the network)."""
    from scipy.spatial import cKDTree

    key = "_snap_main" if main_only else "_snap_all"
    cached = net.report.get(key)
    if cached is not None:
        return cached
    coords, owner = shapely.get_coordinates(
        np.asarray(net.edges.geometry.values), return_index=True
    )
    seg = np.flatnonzero(owner[1:] == owner[:-1])
    if main_only:
        comp_u = net.nodes["component"].to_numpy()[net.edges["u"].to_numpy()]
        seg = seg[comp_u[owner[seg]] == 0]
    a, b = coords[seg], coords[seg + 1]
    step = np.hypot(*np.diff(coords, axis=0).T)
    step[owner[1:] != owner[:-1]] = 0.0
    cum = np.r_[0.0, np.cumsum(step)]
    first = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    cum -= np.repeat(cum[first], np.diff(np.r_[first, len(owner)]))
    seg_len = step[seg]
    npc = np.maximum(np.ceil(seg_len / _PIECE_M).astype(np.int64), 1)
    rep = np.repeat(np.arange(len(seg)), npc)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(npc) - npc, npc)
    frac0 = k / npc[rep]
    d = (b - a)[rep] / npc[rep][:, None]
    start = a[rep] + (b - a)[rep] * frac0[:, None]
    mid = start + d / 2.0
    # pieces in spatial order (200 m cells), so that nearby points read nearby memory
    cell = np.floor(mid / 200.0)
    order = np.lexsort((cell[:, 0], cell[:, 1]))
    mid, start, d, rep, frac0 = mid[order], start[order], d[order], rep[order], frac0[order]
    idx = _SnapIndex(
        tree=cKDTree(mid, balanced_tree=False, compact_nodes=False),
        edge=owner[seg][rep],
        ax=start[:, 0].copy(),
        ay=start[:, 1].copy(),
        dx=d[:, 0].copy(),
        dy=d[:, 1].copy(),
        along=cum[seg][rep] + seg_len[rep] * frac0,
        slack=float((seg_len / npc).max() / 2.0) if len(seg) else 0.0,
    )
    net.report[key] = idx
    return idx


def _pick(
    ix: _SnapIndex, cand: np.ndarray, px: np.ndarray, py: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest candidate piece per row (first of equals), its distance and parameter."""
    px, py = px[:, None], py[:, None]
    dx, dy = ix.dx[cand], ix.dy[cand]
    rx = px - ix.ax[cand]
    ry = py - ix.ay[cand]
    ll = dx * dx + dy * dy
    t = rx * dx
    t += ry * dy
    np.divide(t, ll, out=t, where=ll > 0)
    t[ll <= 0] = 0.0
    np.clip(t, 0.0, 1.0, out=t)
    rx -= t * dx
    ry -= t * dy
    dist = np.hypot(rx, ry, out=rx)
    rows = np.arange(len(cand))
    j = np.argmin(dist, axis=1)
    return cand[rows, j], dist[rows, j], t[rows, j]


def _nearest_edge(net: WalkNetwork, xy: np.ndarray, main_only: bool) -> tuple[np.ndarray, ...]:
    """Nearest edge for each point: ``(edge, distance, position along the edge, x, y)``.

    Exact: a KD-tree over the midpoints of straight pieces (at most 20 m long) proposes the
    ``k`` nearest pieces and the exact point-segment distance picks among them. The nearest
    piece is certainly among them when the ``k``-th midpoint lies farther than the best
    distance plus half the longest piece; the few other points get a larger ``k``, then every
    piece whose midpoint is within that bound. Points are searched in spatial order (200 m
    cells), which keeps the tree walk in cache.
    """
    ix = snap_index(net, main_only)
    n = len(xy)
    cell = np.floor(xy / 200.0)
    todo = np.lexsort((cell[:, 0], cell[:, 1]))
    px, py = xy[:, 0], xy[:, 1]
    piece = np.zeros(n, dtype=np.int64)
    dist = np.full(n, np.inf)
    t = np.zeros(n)
    for k in _SNAP_K:
        if len(todo) == 0:
            break
        kk = min(k, len(ix.edge))
        dm, cand = ix.tree.query(xy[todo], k=kk, workers=-1)
        dm = dm.reshape(len(todo), kk)
        cand = cand.reshape(len(todo), kk)
        p, d, tt = _pick(ix, cand, px[todo], py[todo])
        piece[todo], dist[todo], t[todo] = p, d, tt
        sure = (dm[:, -1] > d + ix.slack) | (kk == len(ix.edge))
        todo = todo[~sure]
    for i in todo.tolist():
        near = ix.tree.query_ball_point(xy[i], r=dist[i] + ix.slack + 1e-6)
        p, d, tt = _pick(ix, np.asarray([near], dtype=np.int64), px[[i]], py[[i]])
        piece[i], dist[i], t[i] = p[0], d[0], tt[0]
    x = ix.ax[piece] + t * ix.dx[piece]
    y = ix.ay[piece] + t * ix.dy[piece]
    along = ix.along[piece] + t * np.hypot(ix.dx[piece], ix.dy[piece])
    return ix.edge[piece], dist, along, x, y


def snap_points(
    net: WalkNetwork,
    points: gpd.GeoDataFrame | np.ndarray,
    *,
    max_snap_m: float = DEFAULTS.max_snap_m,
    main_component: bool = True,
) -> Snap:
    """Snap points (or polygons, by their representative point) to the nearest edge.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    points : GeoDataFrame or array of shapely geometries in ``net.crs``
        A GeoDataFrame in another CRS is projected.
    max_snap_m : float
        Legs longer than this are flagged ``far`` (and logged), never dropped.
    main_component : bool
        Snap to the largest connected component only (default), so that every point has a
        finite distance; ``island`` flags points whose nearest edge overall is on an island.

    """
    if isinstance(points, gpd.GeoDataFrame):
        if points.crs is None:
            msg = "points have no coordinate system; set it with .set_crs(...) before snapping"
            raise CRSError(msg)
        pts = representative_points(to_metric(points, net.crs))
    else:
        pts = np.asarray(points)
    if len(pts) == 0:
        empty = np.zeros(0)
        ei = np.zeros(0, dtype=np.int64)
        return Snap(
            ei,
            ei,
            ei,
            empty,
            empty,
            empty,
            empty,
            empty,
            empty,
            empty.astype(bool),
            empty.astype(bool),
        )
    comp_u = net.nodes["component"].to_numpy()[net.edges["u"].to_numpy()]
    xy_pts = shapely.get_coordinates(pts)
    if len(xy_pts) != len(pts):
        msg = "snapping needs one point per row; drop empty or multi-part geometries first"
        raise NetworkError(msg)
    edge, leg, pos, x, y = _nearest_edge(net, xy_pts, False)
    island = comp_u[edge] > 0
    if main_component and island.any():
        q = np.flatnonzero(island)
        sub = _nearest_edge(net, xy_pts[q], True)
        edge[q], leg[q], pos[q], x[q], y[q] = sub
        log.warning(
            "%d points lie nearest an island of the network; snapped to the main one",
            int(island.sum()),
        )
    length = net.edges["length_m"].to_numpy()[edge]
    pos = np.clip(pos, 0.0, length)
    far = leg > max_snap_m
    if far.any():
        log.warning(
            "%d points are more than %.0f m from the walking network (flagged far)",
            int(far.sum()),
            max_snap_m,
        )
    return Snap(
        edge=edge,
        u=net.edges["u"].to_numpy()[edge],
        v=net.edges["v"].to_numpy()[edge],
        pos_m=pos,
        to_u_m=pos,
        to_v_m=length - pos,
        snap_m=leg,
        x=x,
        y=y,
        far=far,
        island=island,
    )
