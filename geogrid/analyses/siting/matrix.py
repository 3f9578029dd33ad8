"""Sparse candidate x demand walking distances from tiled, bounded network searches.

:func:`coverage_pairs` returns the same matrix as :func:`geogrid._paths.bounded_pairs` (both
snap legs included, stored values are distance + 1e-9) but runs each Dijkstra on a small
sub-network. A walk of length at most ``L`` from a candidate never leaves the disc of radius
``L`` around the candidate's snap point (every edge is at least as long as its chord), so the
sub-network induced by the nodes within ``L`` (straight line) of a tile of candidates holds
every such walk and the bounded distances on it are exact. Scipy's Dijkstra then initialises
and scans ``tile sources x sub-network nodes`` instead of ``sources x all nodes``.

:func:`cover_atoms` goes straight from the same searches to demand atoms (units with the same
set of sources within reach, weighted), never storing the unit x source pairs: the city-scale
maximal-coverage instances (a million demand points) are built this way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


# ------------------------------------------------------------------ demand atoms, no pairs
@dataclass
class CoverAtoms:
    """Demand units with identical source sets merged into weighted atoms.

    ``mat``: sources x atoms, binary (every source of the input kept, in order; sorted
    indices); ``weight``: each atom's summed unit weight; ``unit_atom``: each unit's atom
    (-1: not open, or reaches no source). Atoms are numbered by their first unit, as
    :func:`geogrid.analyses.siting.solve.reduce_cover` numbers them.
    """

    mat: sparse.csr_matrix
    weight: np.ndarray
    unit_atom: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.mat.shape[1])


@dataclass
class EndLists:
    """Sources within reach of a set of graph nodes (:func:`end_lists`).

    Node ``i``'s sources are ``rank[ptr[i]:ptr[i + 1]]`` (ascending) at walking distances
    ``dist[...]``; ``ascending[ptr[i]:ptr[i + 1]]`` holds the same distances sorted.
    ``rank`` numbers the sources in the order the searches met them; ``source[r]`` is the
    source of rank ``r``.
    """

    ptr: np.ndarray
    rank: np.ndarray
    dist: np.ndarray
    ascending: np.ndarray
    source: np.ndarray


def end_lists(
    net: WalkNetwork, src: Snap, nodes: np.ndarray, limit_m: float, *, tile_m: float | None = None
) -> EndLists:
    """Return the sources within ``limit_m`` of each of ``nodes`` and their distances.

    The distances are those :func:`coverage_pairs` reads at a unit's edge ends (the same
    tiled searches). Both orders are made by counting sorts (sparse COO to CSR), except the
    one sort of the distances.
    """
    n_src = len(src)
    pos = np.full(_paths.n_graph_nodes(net), -1, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    source = np.full(n_src, -1, dtype=np.int64)
    seen = 0
    out_n: list[np.ndarray] = []
    out_r: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    for idx, sub, dist in _paths.tiled_rows(net, src, limit_m, tile_m=tile_m):
        at = pos[sub]
        source[seen : seen + len(idx)] = idx
        flat = np.flatnonzero(np.isfinite(dist))  # row-major: by rank, then node
        r = flat // dist.shape[1]
        c = flat - r * dist.shape[1]
        col = at[c]
        keep = col >= 0
        r, c = r[keep], c[keep]
        out_n.append(col[keep].astype(np.int32))
        out_r.append((seen + r).astype(np.int32))
        out_d.append(dist[r, c])
        seen += len(idx)
    missing = np.setdiff1d(np.arange(n_src), source[:seen])
    source[seen:] = missing
    nn = np.concatenate(out_n) if out_n else np.zeros(0, dtype=np.int32)
    rr = np.concatenate(out_r) if out_r else np.zeros(0, dtype=np.int32)
    dd = np.concatenate(out_d) if out_d else np.zeros(0)
    shape = (len(nodes), max(n_src, 1))
    # entries come by rank: a counting sort by node keeps each node's ranks ascending
    by_rank = sparse.csr_matrix((dd, (nn, rr)), shape=shape)
    # each node's distances ascending: a CSR whose column indices are the distances' bit
    # patterns (non-negative doubles order as their int64 bits), sorted row by row
    by_dist = sparse.csr_matrix(
        (np.ones(by_rank.nnz, np.int8), by_rank.data.view(np.int64).copy(), by_rank.indptr),
        shape=(len(nodes), 2**62),
    )
    by_dist.has_sorted_indices = False
    by_dist.sort_indices()
    if by_rank.nnz != len(dd) or by_dist.nnz != len(dd):  # distances are > 0: never pruned
        raise AssertionError("end lists lost entries")
    return EndLists(
        by_rank.indptr.astype(np.int64),
        by_rank.indices.astype(np.int64),
        by_rank.data,
        by_dist.indices.view(np.float64),
        source,
    )


def _prefix_counts(
    ptr: np.ndarray,
    dist: np.ndarray,
    at: np.ndarray,
    leg: np.ndarray,
    snap: np.ndarray,
    *,
    limit: float,
) -> np.ndarray:
    """Per unit, how many sources of its end's list satisfy ``(d + leg) + snap <= limit``.

    The test is :func:`coverage_pairs`' own floating-point expression; it is monotone in
    ``d`` and the lists ascend, so the sources that pass are a prefix (binary search).
    """
    lo = ptr[at].copy()
    hi = ptr[at + 1].copy()
    start = lo.copy()
    if len(dist) == 0:
        return np.zeros(len(at), dtype=np.int64)
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        d = dist[np.minimum(mid, len(dist) - 1)]
        ok = ((d + leg) + snap <= limit) & open_
        lo = np.where(ok, mid + 1, lo)
        hi = np.where(open_ & ~ok, mid, hi)
    return lo - start


def _direct_keys(
    unit: Snap, src: Snap, units: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key units by the sources on their own edge that they reach along it; return the pairs.

    Returns ``key`` (per unit: 0 when it reaches no such source, else a bit mask over the
    sources of its edge, or ``-1 - unit`` when the edge holds more than 62 of them) and the
    pairs ``(unit, source)`` of ``units`` within ``limit`` (:func:`coverage_pairs`' test).
    """
    key = np.zeros(len(unit), dtype=np.int64)
    pairs = _paths.same_edge_pairs(unit.take(units), src)
    if len(pairs) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return key, empty, empty
    pu = units[pairs["unit"].to_numpy(dtype=np.int64)]
    ps = pairs["src"].to_numpy(dtype=np.int64)
    ok = pairs["dist"].to_numpy() + unit.snap_m[pu] <= limit
    # rank of each source among the sources of its edge
    order = np.lexsort((np.arange(len(src)), src.edge))
    se = src.edge[order]
    first = np.r_[True, se[1:] != se[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(se)), 0))
    rank = np.empty(len(src), dtype=np.int64)
    rank[order] = np.arange(len(se)) - start
    count = np.bincount(src.edge, minlength=int(src.edge.max()) + 1)
    many = count[src.edge[ps]] > 62
    bits = np.where(ok & ~many, np.left_shift(np.int64(1), np.minimum(rank[ps], 62)), 0)
    np.add.at(key, pu, bits)  # distinct ranks per unit: the sum is the bit mask
    key[pu[many]] = -1 - pu[many]
    return key, pu[ok], ps[ok]


def _row_keys(rows: sparse.csr_matrix, seed: int = 0) -> np.ndarray:
    """Per row: its length and two random 64-bit sums over its columns (same set, same key)."""
    rng = np.random.default_rng(seed)
    nnz = np.diff(rows.indptr)
    out = np.zeros((rows.shape[0], 3), dtype=np.uint64)
    out[:, 0] = nnz
    full = np.flatnonzero(nnz > 0)
    if len(full):
        for col in (1, 2):
            r = rng.integers(0, 2**63, size=rows.shape[1], dtype=np.uint64, endpoint=False)
            out[full, col] = np.add.reduceat(r[rows.indices], rows.indptr[full])
    return out


def _same_rows(rows: sparse.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether row ``a[i]`` and row ``b[i]`` (same lengths, sorted indices) hold the same set."""
    n = np.diff(rows.indptr)[a]
    pa, seg = _ranges(rows.indptr[a], n)
    ia = rows.indices[pa]
    ib = rows.indices[pa + np.repeat(rows.indptr[b] - rows.indptr[a], n)]
    bad = np.zeros(len(a), dtype=bool)
    bad[seg[ia != ib]] = True
    return ~bad


def _merge_rows(rows: sparse.csr_matrix) -> np.ndarray:
    """Group id of each row by its exact column set (rows with sorted indices).

    Rows are grouped by :func:`_row_keys`, then every row is compared with its group's first
    row; a row that differs (a hash collision, in practice never) is split off and grouped
    again by its exact tuple of columns, so the grouping is exact.
    """
    _, inv = np.unique(_row_keys(rows), axis=0, return_inverse=True)
    inv = inv.ravel().astype(np.int64)
    first = np.full(int(inv.max()) + 1 if len(inv) else 0, -1, dtype=np.int64)
    first[inv[::-1]] = np.arange(len(inv))[::-1]
    rep = first[inv]
    same = np.ones(len(inv), dtype=bool)
    other = np.flatnonzero(rep != np.arange(len(inv)))
    same[other] = _same_rows(rows, other, rep[other])
    if not same.all():
        log.warning("cover atoms: %d row-hash collisions, grouped exactly", int((~same).sum()))
        seen: dict[tuple[int, ...], int] = {}
        nxt = len(first)
        for i in np.flatnonzero(~same).tolist():
            cols = tuple(rows.indices[rows.indptr[i] : rows.indptr[i + 1]].tolist())
            if cols not in seen:
                seen[cols] = nxt
                nxt += 1
            inv[i] = seen[cols]
    return inv


def cover_atoms(
    net: WalkNetwork,
    src: Snap,
    unit: Snap,
    limit_m: float,
    weight: np.ndarray,
    *,
    open_units: np.ndarray | None = None,
    tile_m: float | None = None,
) -> CoverAtoms:
    """Units with the same sources within ``limit_m`` merged, without the unit x source pairs.

    The same atoms, weights and atom order as ``reduce_cover(coverage_pairs(net, src, unit,
    limit_m), weight, open_units)`` before its source step, exactly (the same floating-point
    tests). Units on one edge differ only by their position and snap leg: the sources
    reaching the unit through the edge's end ``u`` are a prefix of the sources sorted by
    their distance to ``u`` (:func:`end_lists`), likewise for ``v``, and the sources on the
    edge itself reached along it are few. So each unit's set is fixed by the two prefix
    lengths (binary searches), its edge's ends and those few sources; the units sharing that
    key share their set, which is written out once per key and merged across keys by
    :func:`_merge_rows`.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    src, unit : Snap
        Snapped sources (candidate sites; existing facilities appended for relocation) and
        demand units.
    limit_m : float
        Walking distance bound in metres.
    weight : numpy.ndarray
        Weight of each unit (e.g. households).
    open_units : numpy.ndarray, optional
        Boolean mask of the units to aggregate (default: all).
    tile_m : float, optional
        Tile side of the bounded searches (:func:`geogrid.network.paths.tiled_rows`).

    Returns
    -------
    CoverAtoms
        Sources x atoms reach, atom weights and each unit's atom.

    """
    n_src, n_unit = len(src), len(unit)
    limit = float(limit_m)
    units = (
        np.arange(n_unit) if open_units is None else np.flatnonzero(np.asarray(open_units, bool))
    )
    unit_atom = np.full(n_unit, -1, dtype=np.int64)
    if n_src == 0 or len(units) == 0:
        return CoverAtoms(sparse.csr_matrix((n_src, 0)), np.zeros(0), unit_atom)
    xu, xv = _paths.unit_ends(net, unit)
    xu, xv = xu[units], xv[units]
    nodes, inv = np.unique(np.r_[xu, xv], return_inverse=True)
    au, av = inv[: len(units)], inv[len(units) :]
    lists = end_lists(net, src, nodes, limit, tile_m=tile_m)
    ptr = lists.ptr
    snap = unit.snap_m[units]
    ku = _prefix_counts(ptr, lists.ascending, au, unit.to_u_m[units], snap, limit=limit)
    kv = _prefix_counts(ptr, lists.ascending, av, unit.to_v_m[units], snap, limit=limit)
    dkey, du, ds = _direct_keys(unit, src, units, limit)
    rank_of = np.empty(n_src, dtype=np.int64)
    rank_of[lists.source] = np.arange(n_src)
    dk = dkey[units]
    edge = np.where(dk != 0, unit.edge[units], -1)
    # units with one key share one set: the key's first unit writes it out
    kfirst, kinv = _group((dk, edge, kv, av, ku, au))
    rep = units[kfirst]
    legs = (unit.to_u_m[rep], unit.to_v_m[rep], unit.snap_m[rep])
    rows = _key_rows(
        (ptr, lists.dist, lists.rank), au[kfirst], av[kfirst], legs, limit=limit, n_src=n_src
    )
    if len(du):
        # sources reached along the unit's own edge, for the keys' first units
        at = np.full(n_unit, -1, dtype=np.int64)
        at[units[kfirst]] = np.arange(len(kfirst))
        hit = at[du] >= 0
        extra = sparse.csr_matrix(
            (np.ones(int(hit.sum()), np.int8), (at[du[hit]], rank_of[ds[hit]])), shape=rows.shape
        )
        rows = rows + extra
    rows.sort_indices()
    rows.data[:] = 1
    reach = np.diff(rows.indptr) > 0
    group = _merge_rows(rows)
    # atoms numbered by their first unit; keys that reach nothing make no atom
    ureach = reach[kinv]
    ug = group[kinv]
    n_group = int(group.max()) + 1
    gfirst = np.full(n_group, n_unit, dtype=np.int64)
    np.minimum.at(gfirst, ug[ureach], units[ureach])
    live = np.flatnonzero(gfirst < n_unit)
    order = live[np.argsort(gfirst[live], kind="stable")]
    rank = np.full(n_group, -1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    unit_atom[units] = np.where(ureach, rank[ug], -1)
    n_atoms = len(order)
    w = np.asarray(weight, dtype=float)
    ok = unit_atom >= 0
    aw = np.bincount(unit_atom[ok], weights=w[ok], minlength=n_atoms)
    # each atom's set: the row of one of its keys
    krep = np.full(n_group, -1, dtype=np.int64)
    krep[group] = np.arange(len(group))
    mat = rows[krep[order]].T.tocsr()[rank_of]  # rows in rank order, back to sources
    mat.sort_indices()
    mat.data = np.ones(mat.nnz)
    log.debug(
        "cover atoms: %d sources x %d units -> %d keys -> %d atoms (%d pairs) within %.0f m",
        n_src,
        len(units),
        len(kfirst),
        n_atoms,
        mat.nnz,
        limit,
    )
    return CoverAtoms(mat, aw, unit_atom)


def _group(cols: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Group equal rows over ``cols`` (last column primary): first member, group of each."""
    order = np.lexsort(cols)
    new = np.zeros(len(order), dtype=bool)
    new[:1] = True
    for c in cols:
        cs = c[order]
        new[1:] |= cs[1:] != cs[:-1]
    gid = np.cumsum(new) - 1
    inv = np.empty(len(order), dtype=np.int64)
    inv[order] = gid
    first = order[new]  # lexsort is stable: the lowest index of each group
    return first, inv


def _ranges(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(start[i], start[i] + count[i])`` and the ``i`` of each."""
    total = int(count.sum())
    seg = np.repeat(np.arange(len(count)), count)
    idx = np.arange(total) - np.repeat(np.cumsum(count) - count - start, count)
    return idx, seg


def _end_unions(
    lists: tuple[np.ndarray, np.ndarray, np.ndarray], au: np.ndarray, av: np.ndarray, n_src: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per end pair ``(au[p], av[p])``: the sources reaching either end, by source index.

    Returns ``ptr, source, a, b``: pair ``p``'s sources are ``source[ptr[p]:ptr[p + 1]]`` at
    distances ``a`` from end ``au[p]`` and ``b`` from ``av[p]`` (``inf``: not within reach).
    """
    ptr, dist, who = lists
    ia, pa = _ranges(ptr[au], ptr[au + 1] - ptr[au])
    ib, pb = _ranges(ptr[av], ptr[av + 1] - ptr[av])
    n_a = len(ia)
    # both halves ascend by (pair, rank): the stable sort merges two runs
    key = np.concatenate([pa * np.int64(n_src) + who[ia], pb * np.int64(n_src) + who[ib]])
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    pos = np.flatnonzero(first)
    o = order[pos]
    from_a = o < n_a
    # a source reached from both ends: its A entry comes first, its B entry next
    dup = np.zeros(len(pos), dtype=bool)
    nxt = pos + 1 < len(key)
    dup[nxt] = ~first[np.minimum(pos + 1, len(key) - 1)][nxt]
    a = np.where(from_a, dist[ia[np.minimum(o, n_a - 1)]] if n_a else np.inf, np.inf)
    ob = np.where(dup, order[np.minimum(pos + 1, len(key) - 1)], o) - n_a
    b = np.where(
        from_a & ~dup, np.inf, dist[ib[np.clip(ob, 0, max(len(ib) - 1, 0))]] if len(ib) else np.inf
    )
    pair = key[pos] // n_src
    src = key[pos] - pair * n_src
    out = np.r_[0, np.cumsum(np.bincount(pair, minlength=len(au)))]
    return out, src, a, b


def _key_rows(
    lists: tuple[np.ndarray, np.ndarray, np.ndarray],
    au: np.ndarray,
    av: np.ndarray,
    legs: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    limit: float,
    n_src: int,
    chunk: int = 1 << 22,
) -> sparse.csr_matrix:
    """Keys x sources: the sources reaching each key's unit through either end of its edge.

    ``legs``: the unit's ``to_u_m``, ``to_v_m`` and ``snap_m``; the test is
    :func:`coverage_pairs`' own expression, per source of the edge's end union.
    """
    to_u, to_v, snap = legs
    pairs, pinv = np.unique(au * np.int64(len(au) + 1) + av, return_inverse=True)
    pinv = pinv.ravel()
    first = np.full(len(pairs), -1, dtype=np.int64)
    first[pinv[::-1]] = np.arange(len(pinv))[::-1]
    uptr, usrc, ua, ub = _end_unions(lists, au[first], av[first], n_src)
    cnt = uptr[pinv + 1] - uptr[pinv]
    cum = np.cumsum(cnt)
    total = int(cum[-1]) if len(cum) else 0
    cuts = np.searchsorted(cum, np.arange(chunk, total, chunk), side="right")
    edges = np.unique(np.r_[0, cuts, len(au)])
    out_src: list[np.ndarray] = []
    row_len = np.zeros(len(au), dtype=np.int64)
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        k = np.arange(lo, hi)
        idx, seg = _ranges(uptr[pinv[k]], cnt[k])
        kk = k[seg]
        ok = (ua[idx] + to_u[kk]) + snap[kk] <= limit
        ok |= (ub[idx] + to_v[kk]) + snap[kk] <= limit
        out_src.append(usrc[idx[ok]].astype(np.int32))
        row_len[lo:hi] = np.bincount(seg[ok], minlength=hi - lo)
    indices = np.concatenate(out_src) if out_src else np.zeros(0, dtype=np.int32)
    indptr = np.r_[0, np.cumsum(row_len)]
    out = sparse.csr_matrix(
        (np.ones(len(indices), np.int8), indices, indptr), shape=(len(au), n_src)
    )
    out.has_sorted_indices = True
    return out
