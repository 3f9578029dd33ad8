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
