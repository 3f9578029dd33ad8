"""Independent networkx reference: split edges at snap points, attach legs, run Dijkstra."""

from __future__ import annotations

import networkx as nx
import numpy as np


def reference_graph(net, snaps: dict[str, object]) -> nx.Graph:
    """Graph of ``net`` with every snapped point inserted on its edge and joined by its leg.

    ``snaps`` maps a prefix (e.g. "f", "d") to a Snap; point i becomes node (prefix, i).
    """
    g = nx.MultiGraph()
    edges = net.edges
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for prefix, s in snaps.items():
        for i in range(len(s)):
            on_edge.setdefault(int(s.edge[i]), []).append((float(s.pos_m[i]), (prefix, "snap", i)))
            g.add_edge((prefix, i), (prefix, "snap", i), weight=float(s.snap_m[i]))
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    w = edges["length_m"].to_numpy()
    for e in range(len(edges)):
        pts = sorted(on_edge.get(e, []), key=lambda t: t[0])
        prev_node, prev_pos = int(u[e]), 0.0
        for pos, node in pts:
            g.add_edge(prev_node, node, weight=pos - prev_pos)
            prev_node, prev_pos = node, pos
        g.add_edge(prev_node, int(v[e]), weight=float(w[e]) - prev_pos)
    return g


def nearest_reference(net, fac, dem) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest facility for each demand point (networkx)."""
    g = reference_graph(net, {"f": fac, "d": dem})
    dist, paths = nx.multi_source_dijkstra(g, [("f", i) for i in range(len(fac))], weight="weight")
    d = np.array([dist.get(("d", i), np.inf) for i in range(len(dem))])
    src = np.array([paths[("d", i)][0][1] if ("d", i) in paths else -1 for i in range(len(dem))])
    return d, src


def _edge_compound(net) -> np.ndarray:
    if "compound" in net.edges.columns:
        return net.edges["compound"].to_numpy()
    return np.full(len(net.edges), -1)


def compound_distances(net, fac, dem) -> np.ndarray:
    """Units x facilities walking distances under the residents' rule (networkx).

    Written independently of the engine: for each unit, every private edge of a compound other
    than the unit's own and the facility's own is removed (one networkx graph per pair of
    compounds, one single-source Dijkstra per facility). A point's compound is that of the
    edge it snaps to.
    """
    g = reference_graph(net, {"f": fac, "d": dem})
    comp = _edge_compound(net)
    u = net.edges["u"].to_numpy()
    v = net.edges["v"].to_numpy()
    # label every reference-graph edge with the compound of the network edge it lies on
    node_comp: dict[object, int] = {}
    for prefix, s in (("f", fac), ("d", dem)):
        for i in range(len(s)):
            node_comp[(prefix, "snap", i)] = int(comp[s.edge[i]])
    pair_comp: dict[frozenset, int] = {}
    for e in range(len(u)):
        pair_comp[frozenset((int(u[e]), int(v[e])))] = int(comp[e])

    def label(a, b):
        for x in (a, b):
            if isinstance(x, tuple) and len(x) == 3:
                return node_comp[x]
        if isinstance(a, tuple) or isinstance(b, tuple):
            return -1  # snap legs
        return pair_comp.get(frozenset((a, b)), -1)

    edges = [(a, b, d["weight"], label(a, b)) for a, b, d in g.edges(data=True)]
    # a parallel public and private edge between the same nodes: label by exact match
    if len(set(pair_comp.values())) > 1:
        lab = {}
        for e in range(len(u)):
            lab.setdefault(frozenset((int(u[e]), int(v[e]))), set()).add(int(comp[e]))
        assert all(len(x) == 1 for x in lab.values()), "parallel edges of mixed access"
    fcomp = comp[fac.edge]
    dcomp = comp[dem.edge]
    dist = np.full((len(dem), len(fac)), np.inf)
    for cu in np.unique(dcomp).tolist():
        units = np.flatnonzero(dcomp == cu)
        for cf in np.unique(fcomp).tolist():
            allowed = {-1, cu, cf}
            h = nx.MultiGraph()
            h.add_weighted_edges_from(
                [(a, b, w) for a, b, w, c in edges if c in allowed], weight="weight"
            )
            for j in np.flatnonzero(fcomp == cf).tolist():
                if ("f", j) not in h:
                    continue
                lengths = nx.single_source_dijkstra_path_length(h, ("f", j), weight="weight")
                for i in units.tolist():
                    dist[i, j] = lengths.get(("d", i), np.inf)
    return dist


def compound_reference(net, fac, dem, *, second=True):
    """Nearest (and second-nearest distinct) facility per unit under the residents' rule.

    See :func:`compound_distances`. Returns ``d1, s1, d2, s2``.
    """
    dist = compound_distances(net, fac, dem)
    order = np.argsort(dist, axis=1, kind="stable")
    rows = np.arange(len(dem))
    d1 = dist[rows, order[:, 0]]
    s1 = np.where(np.isfinite(d1), order[:, 0], -1)
    if not second or len(fac) < 2:
        return d1, s1, None, None
    d2 = dist[rows, order[:, 1]]
    s2 = np.where(np.isfinite(d2), order[:, 1], -1)
    return d1, s1, d2, s2
