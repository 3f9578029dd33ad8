"""Shortest-path kernels on the CSR walking network (scipy.sparse.csgraph).

Sources (facilities, candidate sites) enter the graph as virtual nodes ``n + j`` with one-way
edges to the ends of the edge they snap to, weighted ``snap leg + distance along the edge``.
One multi-source Dijkstra then gives, for every node, the distance to and the index of the
nearest source, snap legs and partial edges included. The second-nearest distinct source comes
from a second Dijkstra seeded at the boundaries between nearest-source cells (exact, see
:func:`node_field`). Demand units read their distance off the two ends of their edge (plus
sources on the same edge, measured along it) and add their own snap leg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from .network import Snap, WalkNetwork

__all__: list[str] = []

_EPS = 1e-9


def augmented(net: WalkNetwork, src: Snap) -> sparse.csr_matrix:
    """Network CSR plus one virtual node per source with edges to its edge's ends."""
    a = net.csr
    n = a.shape[0]
    f = len(src)
    two = src.u != src.v
    w_u = np.maximum(src.snap_m + src.to_u_m, _EPS)
    w_v = np.maximum(src.snap_m + src.to_v_m, _EPS)
    w_u = np.where(two, w_u, np.minimum(w_u, w_v))
    counts = np.where(two, 2, 1)
    cols = np.column_stack([src.u, src.v]).ravel()
    ws = np.column_stack([w_u, w_v]).ravel()
    keep = np.column_stack([np.ones(f, bool), two]).ravel()
    indptr = np.concatenate([a.indptr, a.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([a.indices, cols[keep]]).astype(np.int32, copy=False)
    data = np.concatenate([a.data, ws[keep]])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + f, n + f))


@dataclass
class NodeField:
    """Per node (and per virtual source node): nearest and second-nearest source."""

    d1: np.ndarray
    s1: np.ndarray
    d2: np.ndarray | None = None
    s2: np.ndarray | None = None


def node_field(net: WalkNetwork, src: Snap, *, second: bool = True) -> NodeField:
    """Nearest (and second-nearest distinct) source for every node.

    The second-nearest source obeys ``d2(x) = min(min_{y: s1(y) != s1(x)} d1(y) + w(y, x),
    min_{y: s1(y) == s1(x)} d2(y) + w(y, x))``: a shortest-path problem on the edges inside
    nearest-source cells, seeded with the best crossing from a neighbouring cell. One more
    Dijkstra from a super-source solves it exactly.
    """
    n = net.n_nodes
    f = len(src)
    if f == 0:
        inf = np.full(n, np.inf)
        neg = np.full(n, -1, dtype=np.int64)
        return NodeField(inf, neg, inf.copy(), neg.copy())
    aug = augmented(net, src)
    d1, _, sources = csgraph.dijkstra(
        aug, directed=True, indices=n + np.arange(f), min_only=True, return_predecessors=True
    )
    s1 = np.where(sources >= 0, sources - n, -1).astype(np.int64)
    if not second:
        return NodeField(d1[:n], s1[:n])
    coo = aug.tocoo()
    r, c, w = coo.row, coo.col, coo.data
    sr, sc = s1[r], s1[c]
    valid = (sr >= 0) & (sc >= 0)
    cross = valid & (sr != sc)
    cand = np.full(n + f, np.inf)
    cand_src = np.full(n + f, -1, dtype=np.int64)
    if cross.any():
        val = d1[r[cross]] + w[cross]
        tgt = c[cross]
        order = np.lexsort((val, tgt))
        tgt, val, by = tgt[order], val[order], sr[cross][order]
        first = np.r_[True, tgt[1:] != tgt[:-1]]
        cand[tgt[first]] = val[first]
        cand_src[tgt[first]] = by[first]
    inner = valid & (sr == sc)
    seeds = np.flatnonzero(np.isfinite(cand))
    big = n + f
    rows = np.concatenate([r[inner], np.full(len(seeds), big)])
    cols = np.concatenate([c[inner], seeds])
    data = np.concatenate([w[inner], np.maximum(cand[seeds], _EPS)])
    h = sparse.csr_matrix((data, (rows, cols)), shape=(big + 1, big + 1))
    d2, pred = csgraph.dijkstra(h, directed=True, indices=big, return_predecessors=True)
    d2 = d2[:big]
    pred = pred[:big]
    root = np.arange(big)
    ok = (pred >= 0) & (pred != big)
    root[ok] = pred[ok]
    for _ in range(64):
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    s2 = np.where(np.isfinite(d2), cand_src[root], -1)
    return NodeField(d1[:n], s1[:n], d2[:n], s2[:n])


def _same_edge_pairs(unit: Snap, src: Snap) -> pd.DataFrame:
    """Pairs (unit, source) on the same edge with their direct along-edge distance."""
    if len(src) == 0 or len(unit) == 0:
        return pd.DataFrame({"unit": [], "src": [], "dist": []})
    s = pd.DataFrame(
        {"edge": src.edge, "src": np.arange(len(src)), "spos": src.pos_m, "sleg": src.snap_m}
    )
    s = s[s["edge"].isin(np.unique(unit.edge))]
    if s.empty:
        return pd.DataFrame({"unit": [], "src": [], "dist": []})
    u = pd.DataFrame({"edge": unit.edge, "unit": np.arange(len(unit)), "upos": unit.pos_m})
    u = u[u["edge"].isin(s["edge"].unique())]
    m = u.merge(s, on="edge")
    m["dist"] = np.abs(m["upos"] - m["spos"]) + m["sleg"]
    return m[["unit", "src", "dist"]]


def unit_nearest(
    field: NodeField,
    unit: Snap,
    src: Snap,
    *,
    second: bool = True,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Nearest (and second-nearest distinct) source of each unit, legs at both ends included.

    ``active`` restricts same-edge sources to those indices (the field already holds global
    source indices). Returns ``dist1, src1, dist2, src2`` (``inf`` / ``-1`` where none).
    """
    pu, pv = unit.to_u_m, unit.to_v_m
    cols_d = [field.d1[unit.u] + pu, field.d1[unit.v] + pv]
    cols_s = [field.s1[unit.u], field.s1[unit.v]]
    if second and field.d2 is not None and field.s2 is not None:
        cols_d += [field.d2[unit.u] + pu, field.d2[unit.v] + pv]
        cols_s += [field.s2[unit.u], field.s2[unit.v]]
    d = np.column_stack(cols_d)
    s = np.column_stack(cols_s)
    if active is None:
        pairs = _same_edge_pairs(unit, src)
    else:
        pairs = _same_edge_pairs(unit, src.take(active))
        if len(pairs):
            pairs["src"] = active[pairs["src"].to_numpy(dtype=np.int64)]
    if len(pairs):
        # widen with the same-edge candidates (few units have any)
        k = pairs.groupby("unit").cumcount().to_numpy()
        width = int(k.max()) + 1
        extra_d = np.full((len(unit), width), np.inf)
        extra_s = np.full((len(unit), width), -1, dtype=np.int64)
        ui = pairs["unit"].to_numpy(dtype=np.int64)
        extra_d[ui, k] = pairs["dist"].to_numpy()
        extra_s[ui, k] = pairs["src"].to_numpy(dtype=np.int64)
        d = np.hstack([d, extra_d])
        s = np.hstack([s, extra_s])
    d = np.where(s >= 0, d, np.inf)
    j1 = np.argmin(d, axis=1)
    rows = np.arange(len(unit))
    dist1 = d[rows, j1] + unit.snap_m
    src1 = np.where(np.isfinite(dist1), s[rows, j1], -1)
    if not second:
        return dist1, src1, None, None
    d_other = np.where(s != src1[:, None], d, np.inf)
    j2 = np.argmin(d_other, axis=1)
    dist2 = d_other[rows, j2] + unit.snap_m
    src2 = np.where(np.isfinite(dist2), s[rows, j2], -1)
    return dist1, src1, dist2, src2


def bounded_rows(net: WalkNetwork, src: Snap, limit_m: float, *, chunk: int = 64):
    """Yield ``(first_source, dense distances chunk x n)`` of bounded searches per source."""
    aug = augmented(net, src)
    n = net.n_nodes
    for start in range(0, len(src), chunk):
        idx = n + np.arange(start, min(start + chunk, len(src)))
        dist = csgraph.dijkstra(aug, directed=True, indices=idx, limit=limit_m)
        yield start, dist[:, :n]


def node_units(net: WalkNetwork, unit: Snap) -> sparse.csr_matrix:
    """Node x unit incidence: 1 where the unit's edge ends at the node."""
    m = len(unit)
    rows = np.concatenate([unit.u, unit.v])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    out = sparse.csr_matrix((np.ones(2 * m, np.int8), (rows, cols)), shape=(net.n_nodes, m))
    out.data[:] = 1
    return out


def bounded_pairs(
    net: WalkNetwork, src: Snap, unit: Snap, limit_m: float, *, chunk: int = 64
) -> sparse.csr_matrix:
    """Sparse sources x units matrix of walking distances no longer than ``limit_m``.

    Distances include both snap legs. Stored values are distance + 1e-9 so that a zero
    distance stays a stored entry; subtract nothing (the offset is below a micrometre).
    """
    inc = node_units(net, unit)
    out_r, out_c, out_d = [], [], []
    for start, dist in bounded_rows(net, src, limit_m, chunk=chunk):
        rr, nn = np.nonzero(np.isfinite(dist))
        if len(rr) == 0:
            continue
        sel = sparse.csr_matrix(
            (np.ones(len(rr), np.int8), (rr, nn)), shape=(dist.shape[0], net.n_nodes)
        )
        touched = (sel @ inc).tocoo()
        r, c = touched.row, touched.col
        du = dist[r, unit.u[c]] + unit.to_u_m[c]
        dv = dist[r, unit.v[c]] + unit.to_v_m[c]
        d = np.minimum(du, dv) + unit.snap_m[c]
        ok = d <= limit_m
        out_r.append(r[ok] + start)
        out_c.append(c[ok])
        out_d.append(d[ok])
    pairs = _same_edge_pairs(unit, src)
    if len(pairs):
        d = pairs["dist"].to_numpy() + unit.snap_m[pairs["unit"].to_numpy(dtype=np.int64)]
        ok = d <= limit_m
        out_r.append(pairs["src"].to_numpy(dtype=np.int64)[ok])
        out_c.append(pairs["unit"].to_numpy(dtype=np.int64)[ok])
        out_d.append(d[ok])
    if not out_r:
        return sparse.csr_matrix((len(src), len(unit)))
    r = np.concatenate(out_r)
    c = np.concatenate(out_c)
    d = np.concatenate(out_d)
    if len(r) == 0:
        return sparse.csr_matrix((len(src), len(unit)))
    order = np.lexsort((d, c, r))
    r, c, d = r[order], c[order], d[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    return sparse.csr_matrix((d[first] + _EPS, (r[first], c[first])), shape=(len(src), len(unit)))


def tiled_rows(net: WalkNetwork, src: Snap, limit_m: float, *, tile_m: float | None = None):
    """Yield ``(source indices, sub-network node ids, distances sources x sub nodes)``.

    Sources are grouped by square tiles; each group runs one bounded Dijkstra on the
    sub-network of the nodes within ``limit_m`` (straight line, a superset of every walk of
    that length, since an edge is never shorter than its chord) of its tile. Distances are
    exact up to ``limit_m`` and ``inf`` beyond. Scipy then scans ``tile sources x sub nodes``
    instead of ``sources x all nodes``.
    """
    limit = float(limit_m)
    tile = float(tile_m) if tile_m is not None else max(limit / 2.0, 100.0)
    nx = net.nodes["x"].to_numpy()
    ny = net.nodes["y"].to_numpy()
    x0 = float(min(nx.min(), src.x.min())) - 1.0
    y0 = float(min(ny.min(), src.y.min())) - 1.0
    ncx = np.floor((nx - x0) / tile).astype(np.int64)
    ncy = np.floor((ny - y0) / tile).astype(np.int64)
    reach = int(np.ceil(limit / tile))
    width = int(max(ncx.max(), 0)) + 1 + reach + 2
    nkey = ncy * width + ncx
    norder = np.argsort(nkey, kind="stable")
    nkey_sorted = nkey[norder]
    scx = np.floor((src.x - x0) / tile).astype(np.int64)
    scy = np.floor((src.y - y0) / tile).astype(np.int64)
    skey = scy * width + scx
    sorder = np.argsort(skey, kind="stable")
    tiles, tstart = np.unique(skey[sorder], return_index=True)
    tend = np.r_[tstart[1:], len(sorder)]
    csr = net.csr
    loc = np.full(net.n_nodes, -1, dtype=np.int64)
    for key, a, b in zip(tiles.tolist(), tstart.tolist(), tend.tolist(), strict=True):
        idx = sorder[a:b]
        cx, cy = key % width, key // width
        rows_y = np.arange(cy - reach, cy + reach + 1)
        lo = np.searchsorted(nkey_sorted, rows_y * width + max(cx - reach, 0), side="left")
        hi = np.searchsorted(nkey_sorted, rows_y * width + (cx + reach), side="right")
        sub = np.concatenate([norder[s:e] for s, e in zip(lo.tolist(), hi.tolist(), strict=True)])
        if len(sub) == 0:
            continue
        sub.sort()
        m = len(sub)
        loc[sub] = np.arange(m)
        rows = csr[sub]
        cols = loc[rows.indices]
        keep = cols >= 0
        rr = np.repeat(np.arange(m), np.diff(rows.indptr))[keep]
        g = len(idx)
        s = src.take(idx)
        su, sv = loc[s.u], loc[s.v]
        loc[sub] = -1
        two = s.u != s.v
        w_u = np.maximum(s.snap_m + s.to_u_m, _EPS)
        w_v = np.maximum(s.snap_m + s.to_v_m, _EPS)
        w_u = np.where(two, w_u, np.minimum(w_u, w_v))
        vr = np.concatenate([np.arange(g), np.arange(g)[two]]) + m
        vc = np.concatenate([su, sv[two]])
        vw = np.concatenate([w_u, w_v[two]])
        ok = vc >= 0
        graph = sparse.csr_matrix(
            (
                np.concatenate([rows.data[keep], vw[ok]]),
                (np.concatenate([rr, vr[ok]]), np.concatenate([cols[keep], vc[ok]])),
            ),
            shape=(m + g, m + g),
        )
        dist = csgraph.dijkstra(graph, directed=True, indices=m + np.arange(g), limit=limit)
        yield idx, sub, dist[:, :m]
