"""Sparse candidate x demand walking distances from tiled, bounded network searches.

:func:`coverage_pairs` returns the same matrix as :func:`geogrid._paths.bounded_pairs` (both
snap legs included, stored values are distance + 1e-9) but runs each Dijkstra on a small
sub-network. A walk of length at most ``L`` from a candidate never leaves the disc of radius
``L`` around the candidate's snap point (every edge is at least as long as its chord), so the
sub-network induced by the nodes within ``L`` (straight line) of a tile of candidates holds
every such walk and the bounded distances on it are exact. Scipy's Dijkstra then initialises
and scans ``tile sources x sub-network nodes`` instead of ``sources x all nodes``.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse

from geogrid.network import paths as _paths
from geogrid.network.build import WalkNetwork
from geogrid.network.snap import Snap

__all__: list[str] = []

log = logging.getLogger(__name__)

_EPS = 1e-9


def _find(mat: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Positions in ``mat.data`` of entries ``(rows, cols)`` (sorted indices), -1 if absent."""
    if len(rows) == 0 or mat.nnz == 0:
        return np.full(len(rows), -1, dtype=np.int64)
    ncol = np.int64(mat.shape[1])
    keys = np.repeat(np.arange(mat.shape[0], dtype=np.int64), np.diff(mat.indptr)) * ncol
    keys += mat.indices
    want = rows.astype(np.int64) * ncol + cols
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[pos] == want, pos, -1)


def coverage_pairs(
    net: WalkNetwork,
    src: Snap,
    unit: Snap,
    limit_m: float,
    *,
    tile_m: float | None = None,
) -> sparse.csr_matrix:
    """Sparse sources x units matrix of walking distances no longer than ``limit_m``.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    src, unit : Snap
        Snapped sources (candidate sites) and demand units.
    limit_m : float
        Search bound in metres.
    tile_m : float, optional
        Side of the square tiles sources are grouped by (default ``limit_m / 2``, at least
        100 m).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(src) x len(unit)``; stored values are walking distance + 1e-9 (so that a zero
        distance stays stored), exactly as :func:`geogrid._paths.bounded_pairs`.

    """
    n_src, n_unit = len(src), len(unit)
    if n_src == 0 or n_unit == 0:
        return sparse.csr_matrix((n_src, n_unit))
    limit = float(limit_m)
    inc = _paths.node_units(net, unit)
    loc = np.full(_paths.n_graph_nodes(net), -1, dtype=np.int64)
    unit_u, unit_v = _paths.unit_ends(net, unit)  # residents' copies inside gated compounds
    out_r: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    for idx, sub, dist in _paths.tiled_rows(net, src, limit, tile_m=tile_m):
        g, m = dist.shape
        loc[sub] = np.arange(m)
        r, nn = np.nonzero(np.isfinite(dist))
        if len(r) == 0:
            loc[sub] = -1
            continue
        sel = sparse.csr_matrix((np.ones(len(r), np.int8), (r, nn)), shape=(g, m))
        prod = sel @ inc[sub]
        prod.sort_indices()
        touched = prod.tocoo()
        tr, tc = touched.row, touched.col
        # distance at each unit's edge ends (inf when that end lies outside the sub-network)
        lu = loc[unit_u[tc]]
        lv = loc[unit_v[tc]]
        loc[sub] = -1
        du = np.where(lu >= 0, dist[tr, np.maximum(lu, 0)], np.inf) + unit.to_u_m[tc]
        dv = np.where(lv >= 0, dist[tr, np.maximum(lv, 0)], np.inf) + unit.to_v_m[tc]
        d = np.minimum(du, dv) + unit.snap_m[tc]
        ok = d <= limit
        out_r.append(idx[tr[ok]])
        out_c.append(tc[ok])
        out_d.append(d[ok])
    if out_r:
        r = np.concatenate(out_r)
        c = np.concatenate(out_c)
        d = np.concatenate(out_d) + _EPS
    else:
        r = c = np.zeros(0, dtype=np.int64)
        d = np.zeros(0)
    # (source, unit) pairs are unique per tile, every source lies in one tile and each
    # source's units come sorted: a stable sort by source gives the CSR arrays directly
    order = np.argsort(r, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(r, minlength=n_src))]
    out = sparse.csr_matrix((d[order], c[order], indptr), shape=(n_src, n_unit))
    out.has_sorted_indices = True
    pairs = _paths.same_edge_pairs(unit, src)
    if len(pairs):
        pu = pairs["unit"].to_numpy(dtype=np.int64)
        ps = pairs["src"].to_numpy(dtype=np.int64)
        pd_ = pairs["dist"].to_numpy() + unit.snap_m[pu]
        ok = pd_ <= limit
        pu, ps, pd_ = pu[ok], ps[ok], pd_[ok] + _EPS
        # along the shared edge may beat the way round through its ends: keep the minimum
        pos = _find(out, ps, pu)
        hit = pos >= 0
        out.data[pos[hit]] = np.minimum(out.data[pos[hit]], pd_[hit])
        if (~hit).any():
            extra = sparse.csr_matrix((pd_[~hit], (ps[~hit], pu[~hit])), shape=(n_src, n_unit))
            out = (out + extra).tocsr()
            out.sort_indices()
    log.debug(
        "coverage pairs: %d sources x %d units, %d pairs within %.0f m",
        n_src,
        n_unit,
        out.nnz,
        limit,
    )
    return out
