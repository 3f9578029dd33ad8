"""Shortest-path kernels on the CSR walking network (scipy.sparse.csgraph).

Sources (facilities, candidate sites) enter the graph as virtual nodes ``n + j`` with one-way
edges to the ends of the edge they snap to, weighted ``snap leg + distance along the edge``.
One multi-source Dijkstra then gives, for every node, the distance to and the index of the
nearest source, snap legs and partial edges included. The second-nearest distinct source comes
from a second Dijkstra seeded at the boundaries between nearest-source cells (exact, see
:func:`node_field`). Demand units read their distance off the two ends of their edge (plus
sources on the same edge, measured along it) and add their own snap leg.

Gated compounds (``net.private == "residents"``, see :func:`walk_graph`): the kernels run on a
directed graph in which a compound's private paths appear twice. The *residents' copy* is
entered from the real network at the compound's gates and never left: units on its private
edges read their distances there. The *leavers' copy* is left through the gates and never
entered: sources on its private edges start there (and in the residents' copy, for the
residents of their own compound). The real network carries the public edges only. A walk from
a source to a unit therefore uses the private paths of the source's compound and of the
unit's compound and no others, in one Dijkstra. Both copies also carry, between two gates of
the same compound, the public walk from one to the other when it is shorter than the inside
one, so that a resident may step out and back in (exact for walks that use each of the two
compounds in one stretch, which is every walk when compounds do not interleave).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from geogrid.network.build import WalkNetwork
from geogrid.network.snap import Snap

__all__: list[str] = []

_EPS = 1e-9
_BATCH = 4096


@dataclass
class WalkGraph:
    """The directed graph the kernels search (see the module docstring).

    ``edge_u`` / ``edge_v``: per network edge, the graph nodes at its ends for people standing
    on it (the residents' copies for a private edge); ``out_u`` / ``out_v``: the leavers'
    copies for sources on a private edge (-1 on public edges); ``base``: the network node of
    every graph node; ``x``, ``y``: its coordinates.
    """

    csr: sparse.csr_matrix
    base: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    out_u: np.ndarray
    out_v: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        """Number of graph nodes."""
        return int(self.csr.shape[0])

    def transpose(self) -> sparse.csr_matrix:
        """In-edges as a CSR matrix (cached)."""
        t = getattr(self, "_t", None)
        if t is None:
            t = self.csr.T.tocsr()
            t.sort_indices()
            self._t = t
        return t


def _min_csr(r: np.ndarray, c: np.ndarray, w: np.ndarray, n: int) -> sparse.csr_matrix:
    """CSR of directed edges keeping the shortest of parallel ones."""
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    indptr = np.r_[0, np.cumsum(np.bincount(r[first], minlength=n))]
    out = sparse.csr_matrix((w[first], c[first].astype(np.int32), indptr), shape=(n, n))
    out.has_sorted_indices = True
    return out


def walk_graph(net: WalkNetwork) -> WalkGraph:
    """Return the graph of ``net`` under its private-path rule (cached on the network)."""
    key = f"_walk_{net.private}"
    cached = net.report.get(key)
    if cached is not None:
        return cached
    e = net.edges
    u = e["u"].to_numpy()
    v = e["v"].to_numpy()
    n = net.n_nodes
    xy = (net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy())
    comp = (
        e["compound"].to_numpy(dtype=np.int64)
        if "compound" in e.columns
        else np.where(e["private"].to_numpy(dtype=bool), 0, -1)
    )
    none = np.full(len(e), -1, dtype=np.int64)
    if net.private != "residents" or not (comp >= 0).any():
        g = WalkGraph(net.csr, np.arange(n), u, v, none, none, *xy)
    else:
        g = _residents_graph(net, comp, xy)
    net.report[key] = g
    return g


def _residents_graph(
    net: WalkNetwork, comp: np.ndarray, xy: tuple[np.ndarray, np.ndarray]
) -> WalkGraph:
    e = net.edges
    u = e["u"].to_numpy().astype(np.int64)
    v = e["v"].to_numpy().astype(np.int64)
    w = e["length_m"].to_numpy(dtype=float)
    n = net.n_nodes
    pub = comp < 0
    pe = np.flatnonzero(~pub)
    keys = np.concatenate([comp[pe] * n + u[pe], comp[pe] * n + v[pe]])
    uk, inv = np.unique(keys, return_inverse=True)
    big = len(uk)
    kn = uk % n
    iu, iv = inv[: len(pe)], inv[len(pe) :]
    deg = np.bincount(np.concatenate([u, v]), minlength=n)
    gate = np.flatnonzero(np.bincount(inv, minlength=big) < deg[kn])
    r_off, o_off = n, n + big
    size = n + 2 * big
    # public edges (both ways), both copies of the private ones (both ways), gate links
    pl = pub & (u != v)
    ql = u[pe] != v[pe]
    a, b, ww = iu[ql], iv[ql], w[pe][ql]
    rows = [u[pl], v[pl], r_off + a, r_off + b, o_off + a, o_off + b, kn[gate], o_off + gate]
    cols = [v[pl], u[pl], r_off + b, r_off + a, o_off + b, o_off + a, r_off + gate, kn[gate]]
    wts = [w[pl], w[pl], ww, ww, ww, ww, np.full(2 * len(gate), _EPS)]
    public = _min_csr(
        np.concatenate([u[pl], v[pl]]),
        np.concatenate([v[pl], u[pl]]),
        np.concatenate([w[pl], w[pl]]),
        n,
    )
    inner = _min_csr(np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([ww, ww]), big)
    gb, gc, gw = _excursions(public, inner, gate, uk // n, kn, xy)
    rows += [r_off + gb, o_off + gb]
    cols += [r_off + gc, o_off + gc]
    wts += [gw, gw]
    csr = _min_csr(np.concatenate(rows), np.concatenate(cols), np.concatenate(wts), size)
    base = np.concatenate([np.arange(n), kn, kn])
    eu = u.copy()
    ev = v.copy()
    eu[pe], ev[pe] = r_off + iu, r_off + iv
    ou = np.full(len(e), -1, dtype=np.int64)
    ov = ou.copy()
    ou[pe], ov[pe] = o_off + iu, o_off + iv
    return WalkGraph(csr, base, eu, ev, ou, ov, xy[0][base], xy[1][base])


def _excursions(
    public: sparse.csr_matrix,
    inner: sparse.csr_matrix,
    gate: np.ndarray,
    gcomp_all: np.ndarray,
    kn: np.ndarray,
    xy: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gate pairs (copy indices) of one compound whose public walk beats the inside one."""
    gcomp = gcomp_all[gate]
    multi = np.bincount(gcomp)[gcomp] >= 2
    gate, gcomp = gate[multi], gcomp[multi]
    empty = np.zeros(0, dtype=np.int64)
    if len(gate) == 0:
        return empty, empty, np.zeros(0)
    # inside distances gate -> gate, a batch of whole compounds (contiguous copies) at a time
    comps, first = np.unique(gcomp, return_index=True)
    lo = np.searchsorted(gcomp_all, comps, side="left")
    hi = np.searchsorted(gcomp_all, comps, side="right")
    bounds = np.r_[first, len(gate)]
    pa, pb, pin = [], [], []
    i = 0
    while i < len(comps):
        j = i + 1
        while j < len(comps) and hi[j] - lo[i] <= _BATCH:
            j += 1
        a0, a1 = lo[i], hi[j - 1]
        gi = np.arange(bounds[i], bounds[j])
        d = csgraph.dijkstra(inner[a0:a1, a0:a1], directed=True, indices=gate[gi] - a0)
        same = gcomp[gi][:, None] == gcomp[gi][None, :]
        ii, jj = np.nonzero(same & ~np.eye(len(gi), dtype=bool))
        pa.append(gi[ii])
        pb.append(gi[jj])
        pin.append(d[ii, gate[gi[jj]] - a0])
        i = j
    pa_, pb_, din = np.concatenate(pa), np.concatenate(pb), np.concatenate(pin)
    # public distances between the same gates, bounded by the longest inside one (compounds
    # are connected pieces, so every inside distance is finite)
    limit = float(din.max())
    nodes = kn[gate]
    zero = np.zeros(len(gate))
    src = Snap(
        edge=np.zeros(len(gate), dtype=np.int64),
        u=nodes,
        v=nodes,
        pos_m=zero,
        to_u_m=zero,
        to_v_m=zero,
        snap_m=zero,
        x=xy[0][nodes],
        y=xy[1][nodes],
        far=zero.astype(bool),
        island=zero.astype(bool),
    )
    dpub = np.full(len(pa_), np.inf)
    order = np.argsort(pa_, kind="stable")
    starts = np.searchsorted(pa_[order], np.arange(len(gate) + 1))
    loc = np.full(public.shape[0], -1, dtype=np.int64)
    for idx, sub, dist in _tiled(public, xy[0], xy[1], src, _links(src, None), limit):
        loc[sub] = np.arange(len(sub))
        for r, gsrc in enumerate(idx.tolist()):
            k = order[starts[gsrc] : starts[gsrc + 1]]
            col = loc[nodes[pb_[k]]]
            ok = col >= 0
            dpub[k[ok]] = dist[r, col[ok]]
        loc[sub] = -1
    better = dpub < din - 1e-9
    return gate[pa_[better]], gate[pb_[better]], dpub[better]


def _links(src: Snap, g: WalkGraph | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Virtual source edges ``(source, graph node, weight)``, sorted by source."""
    f = len(src)
    two = src.u != src.v
    w_u = np.maximum(src.snap_m + src.to_u_m, _EPS)
    w_v = np.maximum(src.snap_m + src.to_v_m, _EPS)
    w_u = np.where(two, w_u, np.minimum(w_u, w_v))
    if g is None:
        xu, xv = src.u, src.v
        ou = np.full(f, -1, dtype=np.int64)
        ov = ou
    else:
        xu, xv = g.edge_u[src.edge], g.edge_v[src.edge]
        ou, ov = g.out_u[src.edge], g.out_v[src.edge]
    j = np.arange(f)
    jj = np.concatenate([j, j, j, j])
    nodes = np.concatenate([xu, xv, ou, ov])
    ws = np.concatenate([w_u, w_v, w_u, w_v])
    keep = np.concatenate([np.ones(f, bool), two, ou >= 0, two & (ov >= 0)])
    jj, nodes, ws = jj[keep], nodes[keep], ws[keep]
    order = np.argsort(jj, kind="stable")
    return jj[order], nodes[order].astype(np.int64), ws[order]


def source_links(net: WalkNetwork, src: Snap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Virtual edges ``(source index, graph node, weight)`` by which sources enter the graph."""
    return _links(src, walk_graph(net))


def unit_ends(net: WalkNetwork, unit: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Graph nodes at the two ends of each unit's edge (residents' copies inside compounds)."""
    g = walk_graph(net)
    return g.edge_u[unit.edge], g.edge_v[unit.edge]


def n_graph_nodes(net: WalkNetwork) -> int:
    """Return the node count of the graph the kernels search (nodes plus compound copies)."""
    return walk_graph(net).n


def augmented(net: WalkNetwork, src: Snap) -> sparse.csr_matrix:
    """Walk graph CSR plus one virtual node per source with edges into the graph."""
    g = walk_graph(net)
    a = g.csr
    n = a.shape[0]
    f = len(src)
    jj, nodes, ws = _links(src, g)
    counts = np.bincount(jj, minlength=f)
    indptr = np.concatenate([a.indptr, a.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([a.indices, nodes]).astype(np.int32, copy=False)
    data = np.concatenate([a.data, ws])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + f, n + f))


@dataclass
class NodeField:
    """Per graph node: nearest and second-nearest source (``graph``: the graph searched)."""

    d1: np.ndarray
    s1: np.ndarray
    d2: np.ndarray | None = None
    s2: np.ndarray | None = None
    graph: WalkGraph | None = None

    def ends(self, unit: Snap) -> tuple[np.ndarray, np.ndarray]:
        """Graph nodes at the ends of each unit's edge."""
        if self.graph is None:
            return unit.u, unit.v
        return self.graph.edge_u[unit.edge], self.graph.edge_v[unit.edge]


@dataclass
class Core:
    """The walk graph with dead-end trees and two-way chains contracted (see :func:`core_graph`).

    ``csr``: the core graph; ``node``: graph node of each core node; ``pos``: core index of
    each graph node (-1: contracted). Trees: ``tree_x`` was peeled off ``tree_p`` (weight
    ``tree_w``), in rounds ``tree_cut`` (a node's parent is peeled in a later round or kept).
    Chains: ``chain_x`` lies ``chain_da`` from core node ``chain_a`` and ``chain_db`` from
    ``chain_b`` along its chain.
    """

    csr: sparse.csr_matrix
    node: np.ndarray
    pos: np.ndarray
    tree_x: np.ndarray
    tree_p: np.ndarray
    tree_w: np.ndarray
    tree_cut: np.ndarray
    chain_x: np.ndarray
    chain_a: np.ndarray
    chain_da: np.ndarray
    chain_b: np.ndarray
    chain_db: np.ndarray
    protected: np.ndarray


def _two_way(a: sparse.csr_matrix) -> np.ndarray:
    """Nodes whose out-arcs are exactly their in-arcs (same neighbours, same weights)."""
    diff = abs(a - a.T).tocsr()
    diff.eliminate_zeros()
    return np.diff(diff.indptr) == 0


def _peel(
    a: sparse.csr_matrix, removable: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Peel removable leaves round by round; return trees ``x, p, w, cut``, alive, degree."""
    n = a.shape[0]
    alive = np.ones(n, dtype=bool)
    deg = np.diff(a.indptr).astype(np.int64)
    xs, ps, ws, cut = [], [], [], [0]
    front = np.flatnonzero(removable & (deg == 1))
    while len(front):
        rows = a[front]
        keep = alive[rows.indices]
        owner = np.repeat(np.arange(len(front)), np.diff(rows.indptr))[keep]
        par = np.empty(len(front), dtype=np.int64)
        wt = np.empty(len(front))
        par[owner] = rows.indices[keep]
        wt[owner] = rows.data[keep]
        infront = np.zeros(n, dtype=bool)
        infront[front] = True
        go = ~(infront[par] & (par < front))  # two leaves of one edge: peel the smaller only
        front, par, wt = front[go], par[go], wt[go]
        alive[front] = False
        deg[front] = 0
        np.subtract.at(deg, par, 1)
        xs.append(front)
        ps.append(par)
        ws.append(wt)
        cut.append(cut[-1] + len(front))
        nxt = np.unique(par)
        front = nxt[removable[nxt] & alive[nxt] & (deg[nxt] == 1)]

    def cat(parts: list[np.ndarray], dt: type) -> np.ndarray:
        return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

    return (
        cat(xs, np.int64),
        cat(ps, np.int64),
        cat(ws, float),
        np.asarray(cut, dtype=np.int64),
        alive,
        deg,
    )


def core_graph(g: WalkGraph, protected: np.ndarray) -> Core:
    """Contract the walk graph, keeping every ``protected`` node (where sources enter).

    Dead-end trees of two-way arcs are peeled off leaf by leaf and chains of two-way nodes of
    degree two become one arc between their ends. Neither holds a protected node, so every
    walk from a source to a core node stays in the core (with the chains' lengths), a peeled
    node is reached through its parent and a chain node through one of its chain's ends:
    distances on the core, expanded by :func:`expand_field`, are exact.
    """
    a = g.csr
    n = a.shape[0]
    removable = _two_way(a)
    removable[protected] = False
    tx, tp, tw, tcut, alive, deg = _peel(a, removable)
    chain = removable & alive & (deg == 2)
    # chains: components of the arcs between chain nodes; ends: the arcs leaving them
    coo = a.tocoo()
    r, c, w = coo.row, coo.col, coo.data
    inner = chain[r] & chain[c]
    ncomp, lab = csgraph.connected_components(
        sparse.csr_matrix((w[inner], (r[inner], c[inner])), shape=(n, n)), directed=False
    )
    exit_ = chain[r] & alive[c] & ~chain[c]
    er, ec, ew = r[exit_], c[exit_], w[exit_]
    n_exit = np.bincount(lab[er], minlength=ncomp)
    chain &= n_exit[lab] == 2  # rings of chain nodes stay in the core
    inner = chain[r] & chain[c]
    exit_ = chain[r] & alive[c] & ~chain[c]
    er, ec, ew = r[exit_], c[exit_], w[exit_]
    length = np.bincount(lab[r[inner]], weights=w[inner], minlength=ncomp) / 2.0
    length += np.bincount(lab[er], weights=ew, minlength=ncomp)
    order = np.argsort(lab[er], kind="stable")
    ends = ec[order].reshape(-1, 2)
    comps = lab[er][order][::2]
    end1 = np.full(ncomp, -1, dtype=np.int64)
    end2 = end1.copy()
    end1[comps], end2[comps] = ends[:, 0], ends[:, 1]
    into = sparse.csr_matrix(
        (
            np.concatenate([w[inner], ew]),
            (np.concatenate([r[inner], ec]), np.concatenate([c[inner], er])),
        ),
        shape=(n, n),
    )
    starts = np.unique(ec)
    cx = np.flatnonzero(chain)
    if len(starts):
        dist, _, near = csgraph.dijkstra(
            into, directed=True, indices=starts, min_only=True, return_predecessors=True
        )
    else:
        dist, near = np.zeros(n), np.zeros(n, dtype=np.int64)
    cl = lab[cx]
    ca, cda = near[cx].astype(np.int64), dist[cx]
    cb = np.where(ca == end1[cl], end2[cl], end1[cl])
    cdb = length[cl] - cda
    # core: kept nodes, their arcs and one arc per chain between its two ends
    keep = alive & ~chain & ~(removable & (deg == 0))  # isolated nodes: never reached
    both = keep[r] & keep[c]
    two = end1[comps] != end2[comps]
    sa, sb, sl = end1[comps][two], end2[comps][two], length[comps][two]
    node = np.flatnonzero(keep)
    pos = np.full(n, -1, dtype=np.int64)
    pos[node] = np.arange(len(node))
    csr = _min_csr(
        pos[np.concatenate([r[both], sa, sb])],
        pos[np.concatenate([c[both], sb, sa])],
        np.concatenate([w[both], sl, sl]),
        len(node),
    )
    return Core(csr, node, pos, tx, tp, tw, tcut, cx, ca, cda, cb, cdb, protected)


def _core_for(net: WalkNetwork, g: WalkGraph, nodes: np.ndarray) -> Core:
    """Return the cached core of ``net`` keeping ``nodes`` (rebuilt when one is contracted)."""
    key = f"_core_{net.private}"
    core = net.report.get(key)
    if core is None or (core.pos[nodes] < 0).any():
        kept = np.unique(nodes if core is None else np.concatenate([core.protected, nodes]))
        core = core_graph(g, kept)
        net.report[key] = core
    return core


def _best_two(
    d: np.ndarray, s: np.ndarray, second: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Per row: the best candidate and the best of another source (``inf`` / -1: none)."""
    d = np.where(s >= 0, d, np.inf)
    rows = np.arange(len(d))
    j1 = np.argmin(d, axis=1)
    d1 = d[rows, j1]
    s1 = np.where(np.isfinite(d1), s[rows, j1], -1)
    if not second:
        return d1, s1, None, None
    other = np.where(s != s1[:, None], d, np.inf)
    j2 = np.argmin(other, axis=1)
    d2 = other[rows, j2]
    return d1, s1, d2, np.where(np.isfinite(d2), s[rows, j2], -1)


def expand_field(
    core: Core, d1: np.ndarray, s1: np.ndarray, d2: np.ndarray | None, s2: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Field values of every graph node from those of the core nodes."""
    n = len(core.pos)
    second = d2 is not None and s2 is not None
    fd1, fs1 = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    fd1[core.node], fs1[core.node] = d1, s1
    fd2 = fs2 = None
    if second:
        assert d2 is not None and s2 is not None
        fd2, fs2 = np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
        fd2[core.node], fs2[core.node] = d2, s2
    a, b, x = core.chain_a, core.chain_b, core.chain_x
    if second:
        assert fd2 is not None and fs2 is not None
        da, db = core.chain_da[:, None], core.chain_db[:, None]
        cd = np.hstack([fd1[a][:, None] + da, fd2[a][:, None] + da, fd1[b][:, None] + db])
        cd = np.hstack([cd, fd2[b][:, None] + db])
        cs = np.column_stack([fs1[a], fs2[a], fs1[b], fs2[b]])
        e1, e2, e3, e4 = _best_two(cd, cs, True)
        assert e3 is not None and e4 is not None
        fd1[x], fs1[x], fd2[x], fs2[x] = e1, e2, e3, e4
    else:  # the nearer end (``a`` on ties), as _best_two picks
        via_a = fd1[a] + core.chain_da
        via_b = fd1[b] + core.chain_db
        take_b = via_b < via_a
        fd1[x] = np.where(take_b, via_b, via_a)
        fs1[x] = np.where(np.isfinite(fd1[x]), np.where(take_b, fs1[b], fs1[a]), -1)
    cut = core.tree_cut
    for k in range(len(cut) - 2, -1, -1):  # parents before children
        x, p, w = (arr[cut[k] : cut[k + 1]] for arr in (core.tree_x, core.tree_p, core.tree_w))
        fd1[x], fs1[x] = fd1[p] + w, fs1[p]
        if second:
            assert fd2 is not None and fs2 is not None
            fd2[x], fs2[x] = fd2[p] + w, fs2[p]
    return fd1, fs1, fd2, fs2


def node_field(net: WalkNetwork, src: Snap, *, second: bool = True) -> NodeField:
    """Nearest (and second-nearest distinct) source for every node.

    The searches run on the contracted graph (:func:`core_graph`, cached on the network,
    rebuilt when a source enters at a contracted node) and are expanded to every node.
    The second-nearest source obeys ``d2(x) = min(min_{y: s1(y) != s1(x)} d1(y) + w(y, x),
    min_{y: s1(y) == s1(x)} d2(y) + w(y, x))``: a shortest-path problem on the edges inside
    nearest-source cells, seeded with the best crossing from a neighbouring cell. One more
    Dijkstra from a super-source solves it exactly (on the directed walk graph too).
    """
    g = walk_graph(net)
    n = g.n
    f = len(src)
    if f == 0:
        inf = np.full(n, np.inf)
        neg = np.full(n, -1, dtype=np.int64)
        return NodeField(inf, neg, inf.copy(), neg.copy(), g)
    jj, nodes, ws = _links(src, g)
    core = _core_for(net, g, nodes)
    fields = _field_on(core.csr, f, (jj, core.pos[nodes], ws), second=second)
    d1, s1, d2, s2 = expand_field(core, *fields)
    return NodeField(d1, s1, d2, s2, g)


def _field_on(
    csr: sparse.csr_matrix,
    f: int,
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    second: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """:func:`node_field` on any graph with ``f`` sources entering by ``links``."""
    n = csr.shape[0]
    jj, nodes, ws = links
    counts = np.bincount(jj, minlength=f)
    indptr = np.concatenate([csr.indptr, csr.indptr[-1] + np.cumsum(counts)])
    aug = sparse.csr_matrix(
        (
            np.concatenate([csr.data, ws]),
            np.concatenate([csr.indices, nodes]).astype(np.int32, copy=False),
            indptr,
        ),
        shape=(n + f, n + f),
    )
    d1, _, sources = csgraph.dijkstra(
        aug, directed=True, indices=n + np.arange(f), min_only=True, return_predecessors=True
    )
    s1 = np.where(sources >= 0, sources - n, -1).astype(np.int64)
    if not second:
        return d1[:n], s1[:n], None, None
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
    return d1[:n], s1[:n], d2[:n], s2[:n]


def same_edge_pairs(unit: Snap, src: Snap) -> pd.DataFrame:
    """Pairs (unit, source) on the same edge with their direct along-edge distance.

    Rows are ordered by unit, then by source (as a merge of units with sources on ``edge``).
    """
    empty = pd.DataFrame({"unit": [], "src": [], "dist": []})
    if len(src) == 0 or len(unit) == 0:
        return empty
    top = int(max(unit.edge.max(), src.edge.max())) + 1
    has_src = np.zeros(top, dtype=bool)
    has_src[src.edge] = True
    ui = np.flatnonzero(has_src[unit.edge])
    if len(ui) == 0:
        return empty
    order = np.argsort(src.edge, kind="stable")
    sedge = src.edge[order]
    lo = np.searchsorted(sedge, unit.edge[ui], side="left")
    hi = np.searchsorted(sedge, unit.edge[ui], side="right")
    cnt = hi - lo
    uu = np.repeat(ui, cnt)
    k = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ss = order[np.repeat(lo, cnt) + k]
    dist = np.abs(unit.pos_m[uu] - src.pos_m[ss]) + src.snap_m[ss]
    return pd.DataFrame({"unit": uu, "src": ss, "dist": dist})


def unit_nearest(
    field: NodeField,
    unit: Snap,
    src: Snap,
    *,
    second: bool = True,
    active: np.ndarray | None = None,
    ends: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Nearest (and second-nearest distinct) source of each unit, legs at both ends included.

    ``active`` restricts same-edge sources to those indices (the field already holds global
    source indices); ``ends``: :meth:`NodeField.ends` of ``unit`` when already known.
    Returns ``dist1, src1, dist2, src2`` (``inf`` / ``-1`` where none).
    """
    pu, pv = unit.to_u_m, unit.to_v_m
    xu, xv = ends if ends is not None else field.ends(unit)
    cols_d = [field.d1[xu] + pu, field.d1[xv] + pv]
    cols_s = [field.s1[xu], field.s1[xv]]
    if second and field.d2 is not None and field.s2 is not None:
        cols_d += [field.d2[xu] + pu, field.d2[xv] + pv]
        cols_s += [field.s2[xu], field.s2[xv]]
    if second:
        dist1, src1, dist2, src2 = _best_two(np.column_stack(cols_d), np.column_stack(cols_s), True)
    else:  # the same choice as _best_two (the first of equals), without the stacking
        du = np.where(cols_s[0] >= 0, cols_d[0], np.inf)
        dv = np.where(cols_s[1] >= 0, cols_d[1], np.inf)
        take_v = dv < du
        dist1 = np.where(take_v, dv, du)
        src1 = np.where(np.isfinite(dist1), np.where(take_v, cols_s[1], cols_s[0]), -1)
        dist2 = src2 = None
    if active is None:
        pairs = same_edge_pairs(unit, src)
    else:
        pairs = same_edge_pairs(unit, src.take(active))
        if len(pairs):
            pairs["src"] = active[pairs["src"].to_numpy(dtype=np.int64)]
    if len(pairs):
        # the few units with sources on their own edge: again, with those as more candidates
        ui = pairs["unit"].to_numpy(dtype=np.int64)
        rows, start = np.unique(ui, return_index=True)
        k = np.arange(len(ui)) - np.repeat(start, np.diff(np.r_[start, len(ui)]))
        at = np.searchsorted(rows, ui)
        extra_d = np.full((len(rows), int(k.max()) + 1), np.inf)
        extra_s = np.full(extra_d.shape, -1, dtype=np.int64)
        extra_d[at, k] = pairs["dist"].to_numpy()
        extra_s[at, k] = pairs["src"].to_numpy(dtype=np.int64)
        d = np.hstack([np.column_stack([c[rows] for c in cols_d]), extra_d])
        s = np.hstack([np.column_stack([c[rows] for c in cols_s]), extra_s])
        r1, r2, r3, r4 = _best_two(d, s, second)
        dist1[rows], src1[rows] = r1, r2
        if second:
            assert dist2 is not None and src2 is not None and r3 is not None and r4 is not None
            dist2[rows], src2[rows] = r3, r4
    dist1 = dist1 + unit.snap_m
    if second:
        assert dist2 is not None
        dist2 = dist2 + unit.snap_m
    return dist1, src1, dist2, src2


def bounded_rows(
    net: WalkNetwork, src: Snap, limit_m: float, *, chunk: int = 64
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_source, dense distances chunk x graph nodes)`` of bounded searches.

    Columns are walk-graph nodes (:func:`walk_graph`; the network's nodes first, then the
    compound copies); read a unit's distance at :func:`unit_ends`.
    """
    aug = augmented(net, src)
    n = walk_graph(net).n
    for start in range(0, len(src), chunk):
        idx = n + np.arange(start, min(start + chunk, len(src)))
        dist = csgraph.dijkstra(aug, directed=True, indices=idx, limit=limit_m)
        yield start, dist[:, :n]


def node_units(net: WalkNetwork, unit: Snap) -> sparse.csr_matrix:
    """Graph node x unit incidence: 1 where the unit's edge ends at the node."""
    m = len(unit)
    xu, xv = unit_ends(net, unit)
    rows = np.concatenate([xu, xv])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    out = sparse.csr_matrix((np.ones(2 * m, np.int8), (rows, cols)), shape=(n_graph_nodes(net), m))
    out.data[:] = 1
    return out


def edge_incidence(net: WalkNetwork) -> sparse.csr_matrix:
    """Graph node x network edge incidence (residents' copies for private edges; cached)."""
    key = f"_walk_inc_{net.private}"
    inc = net.report.get(key)
    if inc is None:
        g = walk_graph(net)
        m = net.n_edges
        rows = np.concatenate([g.edge_u, g.edge_v])
        cols = np.concatenate([np.arange(m), np.arange(m)])
        inc = sparse.csr_matrix((np.ones(2 * m, np.int8), (rows, cols)), shape=(g.n, m))
        inc.data[:] = 1
        net.report[key] = inc
    return inc


def bounded_pairs(
    net: WalkNetwork, src: Snap, unit: Snap, limit_m: float, *, chunk: int = 64
) -> sparse.csr_matrix:
    """Sparse sources x units matrix of walking distances no longer than ``limit_m``.

    Distances include both snap legs. Stored values are distance + 1e-9 so that a zero
    distance stays a stored entry; subtract nothing (the offset is below a micrometre).
    """
    inc = node_units(net, unit)
    xu, xv = unit_ends(net, unit)
    out_r, out_c, out_d = [], [], []
    for start, dist in bounded_rows(net, src, limit_m, chunk=chunk):
        rr, nn = np.nonzero(np.isfinite(dist))
        if len(rr) == 0:
            continue
        sel = sparse.csr_matrix(
            (np.ones(len(rr), np.int8), (rr, nn)), shape=(dist.shape[0], inc.shape[0])
        )
        touched = (sel @ inc).tocoo()
        r, c = touched.row, touched.col
        du = dist[r, xu[c]] + unit.to_u_m[c]
        dv = dist[r, xv[c]] + unit.to_v_m[c]
        d = np.minimum(du, dv) + unit.snap_m[c]
        ok = d <= limit_m
        out_r.append(r[ok] + start)
        out_c.append(c[ok])
        out_d.append(d[ok])
    pairs = same_edge_pairs(unit, src)
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


def tiled_rows(
    net: WalkNetwork, src: Snap, limit_m: float, *, tile_m: float | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(source indices, sub-graph node ids, distances sources x sub nodes)``.

    Sources are grouped by square tiles; each group runs one bounded Dijkstra on the
    sub-graph of the nodes within ``limit_m`` (straight line, a superset of every walk of
    that length, since an edge is never shorter than its chord) of its tile. Distances are
    exact up to ``limit_m`` and ``inf`` beyond. Scipy then scans ``tile sources x sub nodes``
    instead of ``sources x all nodes``. Node ids are walk-graph nodes (:func:`walk_graph`),
    in no particular order; read a unit's distance at :func:`unit_ends`. Tiles are ``tile_m``
    wide (default ``limit_m``, at least 100 m).
    """
    g = walk_graph(net)
    yield from _tiled(g.csr, g.x, g.y, src, _links(src, g), limit_m, tile_m=tile_m)


def _tiled(
    csr: sparse.csr_matrix,
    nx: np.ndarray,
    ny: np.ndarray,
    src: Snap,
    links: tuple[np.ndarray, np.ndarray, np.ndarray],
    limit_m: float,
    *,
    tile_m: float | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`tiled_rows` on any graph with node coordinates and source links.

    The graph is renumbered once in tile order, so that a tile's sub-graph is a few
    contiguous row ranges of that CSR (sliced, not fancy-indexed); its arcs leaving the
    sub-graph are dropped and the sources' rows appended, giving the sub-graph's CSR arrays
    directly.
    """
    limit = float(limit_m)
    if len(src) == 0:
        return
    tile = float(tile_m) if tile_m is not None else max(limit, 100.0)
    x0 = float(min(nx.min(), src.x.min())) - 1.0
    y0 = float(min(ny.min(), src.y.min())) - 1.0
    ncx = np.floor((nx - x0) / tile).astype(np.int64)
    ncy = np.floor((ny - y0) / tile).astype(np.int64)
    reach = int(np.ceil(limit / tile))
    width = int(max(ncx.max(), np.floor((src.x.max() - x0) / tile), 0)) + 1 + reach + 2
    nkey = ncy * width + ncx
    norder = np.argsort(nkey, kind="stable")
    nkey_sorted = nkey[norder]
    n = csr.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[norder] = np.arange(n)
    # the graph in tile order: row i is node norder[i], columns are ranks
    lens = np.diff(csr.indptr)[norder]
    indptr = np.r_[0, np.cumsum(lens)]
    take = np.repeat(csr.indptr[norder] - indptr[:-1], lens) + np.arange(indptr[-1])
    p_cols = rank[csr.indices[take]]
    p_data = csr.data[take]
    scx = np.floor((src.x - x0) / tile).astype(np.int64)
    scy = np.floor((src.y - y0) / tile).astype(np.int64)
    skey = scy * width + scx
    sorder = np.argsort(skey, kind="stable")
    tiles, tstart = np.unique(skey[sorder], return_index=True)
    tend = np.r_[tstart[1:], len(sorder)]
    lj, lnode, lw = links
    lrank = rank[lnode]
    lstart = np.searchsorted(lj, np.arange(len(src) + 1))
    loc = np.full(n, -1, dtype=np.int64)
    for key, a, b in zip(tiles.tolist(), tstart.tolist(), tend.tolist(), strict=True):
        idx = sorder[a:b]
        cx, cy = key % width, key // width
        rows_y = np.arange(cy - reach, cy + reach + 1)
        lo = np.searchsorted(nkey_sorted, rows_y * width + max(cx - reach, 0), side="left")
        hi = np.searchsorted(nkey_sorted, rows_y * width + (cx + reach), side="right")
        ranges = [(s, e) for s, e in zip(lo.tolist(), hi.tolist(), strict=True) if e > s]
        if not ranges:
            continue
        sub_rank = np.concatenate([np.arange(s, e) for s, e in ranges])
        m = len(sub_rank)
        loc[sub_rank] = np.arange(m)
        cols = loc[np.concatenate([p_cols[indptr[s] : indptr[e]] for s, e in ranges])]
        data = np.concatenate([p_data[indptr[s] : indptr[e]] for s, e in ranges])
        arc_row = np.repeat(np.arange(m), lens[sub_rank])
        keep = cols >= 0
        g = len(idx)
        pick = np.concatenate([np.arange(lstart[j], lstart[j + 1]) for j in idx.tolist()])
        vr = m + np.repeat(np.arange(g), lstart[idx + 1] - lstart[idx])
        vc = loc[lrank[pick]]
        loc[sub_rank] = -1
        ok = vc >= 0
        rows = np.concatenate([arc_row[keep], vr[ok]])
        counts = np.bincount(rows, minlength=m + g)
        graph = sparse.csr_matrix(
            (
                np.concatenate([data[keep], lw[pick][ok]]),
                np.concatenate([cols[keep], vc[ok]]).astype(np.int32),
                np.r_[0, np.cumsum(counts)],
            ),
            shape=(m + g, m + g),
        )
        dist = csgraph.dijkstra(graph, directed=True, indices=m + np.arange(g), limit=limit)
        yield idx, norder[sub_rank], dist[:, :m]
