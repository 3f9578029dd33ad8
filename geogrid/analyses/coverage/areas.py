"""Service-area polygons from network distance fields on a fine raster.

Every edge is sampled once every ``step`` metres (cached on the network). For one source, each
sample gets its walking distance (through the nearer end of its edge, or directly along the
source's own edge). The distance field is rasterised (cell = the smallest sample distance in
it), spread by the street-side width with a minimum filter whose footprint approximates a
disc by a union of rectangles (each done as two separable 1-D filters), and contoured at every
target distance (contourpy). One field gives all targets of a source. The result is the
buffer of the reached street segments to within one raster cell (``resolution_m``).
"""

from __future__ import annotations

import numpy as np
import shapely

from geogrid.network.build import WalkNetwork

__all__: list[str] = []

MAX_CELLS = 1_000_000  # cells per mosaic strip


def edge_vertices(net: WalkNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edge vertex coordinates, owning edge, distance along the edge, per-edge offsets (cached)."""
    cache = net.report.get("_vertex_cache")
    if cache is None:
        coords, owner = shapely.get_coordinates(
            np.asarray(net.edges.geometry.values), return_index=True
        )
        seg = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
        starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
        seg[starts] = 0.0
        cum = np.cumsum(seg)
        cum -= np.repeat(cum[starts], np.diff(np.r_[starts, len(owner)]))
        cache = (coords, owner, cum, np.r_[starts, len(owner)])
        net.report["_vertex_cache"] = cache
    return cache


def edge_samples(net: WalkNetwork, step: float) -> dict[str, np.ndarray]:
    """Points every ``step`` metres along every edge (ends included), cached on the network."""
    key = f"_samples_{step:g}"
    cache = net.report.get(key)
    if cache is not None:
        return cache
    coords, owner, cum, _ = edge_vertices(net)
    length = net.edges["length_m"].to_numpy()
    n_per = np.maximum(np.ceil(length / step).astype(np.int64), 1) + 1
    edge = np.repeat(np.arange(len(length)), n_per)
    k = np.arange(n_per.sum()) - np.repeat(np.cumsum(n_per) - n_per, n_per)
    pos = np.minimum(k * (length[edge] / (n_per[edge] - 1)), length[edge])
    # locate each sample's vertex segment by a global searchsorted on (edge, cum) keys
    scale = float(length.max() + 1.0) * 2.0
    vkey = owner * scale + cum
    skey = edge * scale + pos
    j = np.clip(np.searchsorted(vkey, skey, side="right") - 1, 0, len(vkey) - 2)
    j = np.where(owner[np.minimum(j + 1, len(owner) - 1)] != edge, j - 1, j)
    j = np.clip(j, 0, len(vkey) - 2)
    span = cum[j + 1] - cum[j]
    t = np.where(span > 0, (pos - cum[j]) / np.where(span > 0, span, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    xy = coords[j] + (coords[j + 1] - coords[j]) * t[:, None]
    offsets = np.r_[0, np.cumsum(n_per)]
    cache = {"x": xy[:, 0], "y": xy[:, 1], "edge": edge, "pos": pos, "offsets": offsets}
    net.report[key] = cache
    return cache


def edge_cells(net: WalkNetwork, resolution_m: float) -> dict[str, np.ndarray]:
    """Group each edge's samples (every ``resolution_m / 2``) by raster cell (cached).

    A run is one edge inside one cell of the global ``resolution_m`` grid: its cell
    (``gx``, ``gy`` = floor of coordinate / resolution), its first and last sample positions
    along the edge (``pmin``, ``pmax``). The smallest sample distance in the run is
    ``min(du + pmin, dv + length - pmax)``, so the runs give the rasterised field exactly as
    the samples do, with about half as many entries.
    """
    key = f"_cells_{resolution_m:g}"
    cache = net.report.get(key)
    if cache is not None:
        return cache
    smp = edge_samples(net, resolution_m / 2.0)
    gx = np.floor(smp["x"] / resolution_m).astype(np.int64)
    gy = np.floor(smp["y"] / resolution_m).astype(np.int64)
    edge = smp["edge"]
    new = np.r_[True, (edge[1:] != edge[:-1]) | (gx[1:] != gx[:-1]) | (gy[1:] != gy[:-1])]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(edge)] - 1
    run_edge = edge[first]
    cache = {
        "gx": gx[first],
        "gy": gy[first],
        "pmin": smp["pos"][first],
        "pmax": smp["pos"][last],
        "edge": run_edge,
        "offsets": np.searchsorted(run_edge, np.arange(net.n_edges + 1)),
    }
    net.report[key] = cache
    return cache


def _footprints(radius_cells: float) -> list[tuple[int, int]]:
    """Half-sizes (rows, cols) of rectangles whose union approximates a disc."""
    r = radius_cells
    out = set()
    for theta in np.deg2rad([12.0, 36.0, 54.0, 78.0]):
        out.add((int(round(r * np.sin(theta))), int(round(r * np.cos(theta)))))
    return sorted(out)


def _window_min(f: np.ndarray, h: int, axis: int) -> np.ndarray:
    """Minimum over ``[i - h, i + h]`` along ``axis`` (outside the array counts as ``inf``).

    Doubling windows of shifted ``np.minimum`` (exact; several times faster than
    ``ndimage.minimum_filter1d`` on rasters that fit the cache).
    """
    if h <= 0:
        return f
    pad = [(0, 0)] * f.ndim
    pad[axis] = (h, h)
    cur = np.pad(f, pad, constant_values=np.inf)
    width, size = 2 * h + 1, 1

    def cut(a: np.ndarray, start: int, n: int) -> np.ndarray:
        return a[start : start + n] if axis == 0 else a[:, start : start + n]

    while size * 2 <= width:
        n = cur.shape[axis] - size
        cur = np.minimum(cut(cur, 0, n), cut(cur, size, n))
        size *= 2
    if size < width:
        s = width - size
        n = cur.shape[axis] - s
        cur = np.minimum(cut(cur, 0, n), cut(cur, s, n))
    return cur


def _spread(field: np.ndarray, radius_cells: float) -> np.ndarray:
    """Minimum over a disc of ``radius_cells`` (union-of-rectangles approximation)."""
    out: np.ndarray | None = None
    for hr, hc in _footprints(radius_cells):
        a = _window_min(_window_min(field, hr, 0), hc, 1)
        out = a if out is None else np.minimum(out, a, out=out)
    return out if out is not None else field.copy()


def _group_bounds(key: np.ndarray, n: int) -> np.ndarray:
    """Start offsets (length ``n + 1``) of the groups of a non-decreasing ``key`` in ``0..n-1``."""
    return np.searchsorted(key, np.arange(n + 1), side="left")


def mosaic_polygons(
    job: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    d: np.ndarray,
    n_jobs: int,
    limits: list[float],
    *,
    side_m: float,
    resolution_m: float,
    max_cells: int | None = None,
) -> list[list[object]]:
    """:func:`field_polygons` for many fields at once: ``out[job][k]`` for ``limits[k]``.

    ``job`` (non-decreasing) names the field of every sample. Each field gets the raster it
    would get alone; the rasters are laid side by side in strips of at most ``max_cells``
    cells (their padding of ``side_m`` + 3 cells keeps them apart), spread and contoured once
    per strip and level, and the polygons are handed back to their fields by position.
    """
    max_cells = MAX_CELLS if max_cells is None else max_cells
    empty = [[shapely.Polygon() for _ in limits] for _ in range(n_jobs)]
    keep = d <= max(limits)
    job, gx, gy, d = job[keep], gx[keep], gy[keep], d[keep]
    b = _group_bounds(job, n_jobs)
    has = np.flatnonzero(b[1:] > b[:-1])
    if len(has) == 0:
        return empty
    res = float(resolution_m)
    pad = int(np.ceil((side_m + 3 * res) / res))
    starts = b[has]
    c0 = np.minimum.reduceat(gx, starts) - pad  # raster origin of each field, in cells
    r0 = np.minimum.reduceat(gy, starts) - pad
    ncol = np.maximum.reduceat(gx, starts) + pad + 1 - c0
    nrow = np.maximum.reduceat(gy, starts) + pad + 1 - r0
    slot = np.full(n_jobs, -1, dtype=np.int64)
    slot[has] = np.arange(len(has))
    # strips: consecutive fields until the strip holds max_cells cells
    strip_of = np.zeros(len(has), dtype=np.int64)
    width, height, k = 0, 0, 0
    for i, (w, h) in enumerate(zip(ncol.tolist(), nrow.tolist(), strict=True)):
        if width and max(height, h) * (width + w) > max_cells:
            k, width, height = k + 1, 0, 0
        strip_of[i] = k
        width, height = width + w, max(height, h)
    col_off = np.zeros(len(has), dtype=np.int64)
    sb = _group_bounds(strip_of, int(strip_of[-1]) + 1)
    for a, e in zip(sb[:-1].tolist(), sb[1:].tolist(), strict=True):
        col_off[a:e] = np.r_[0, np.cumsum(ncol[a : e - 1])]
    s_of = slot[job]
    ix = gx - c0[s_of] + col_off[s_of]
    iy = gy - r0[s_of]
    x0 = c0 * res
    y0 = r0 * res
    out = empty
    for a, e in zip(sb[:-1].tolist(), sb[1:].tolist(), strict=True):
        sel = slice(b[has[a]], b[has[e - 1] + 1])
        polys = _strip_polygons(
            ix[sel],
            iy[sel],
            d[sel],
            s_of[sel] - a,
            int(col_off[e - 1] + ncol[e - 1]),
            int(nrow[a:e].max()),
            col_off[a:e],
            x0[a:e],
            y0[a:e],
            limits,
            side_m=side_m,
            resolution_m=res,
        )
        for i, geoms in enumerate(polys):
            out[int(has[a + i])] = geoms
    return out


def _strip_polygons(
    ix: np.ndarray,
    iy: np.ndarray,
    d: np.ndarray,
    fld: np.ndarray,
    width: int,
    height: int,
    col_off: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    limits: list[float],
    *,
    side_m: float,
    resolution_m: float,
) -> list[list[object]]:
    """Rasterise, spread and contour one strip of fields; polygons per field and limit.

    ``fld`` (non-decreasing) is each sample's field in the strip. Levels below the largest
    are contoured on a strip of each field's cells that can reach them (cropped), which
    gives the same polygons on fewer cells.
    """
    res = resolution_m
    d32 = d.astype(np.float32)
    field = np.full((height, width), np.inf, dtype=np.float32)
    np.minimum.at(field, (iy, ix), d32)
    spread = _spread(field, side_m / res)
    big = 10.0 * max(limits) + 1e6
    z = np.where(np.isfinite(spread), spread, big).astype(np.float64)
    del field, spread
    n = len(col_off)
    out: list[list[object]] = [[] for _ in range(n)]
    done: dict[float, list[object]] = {}
    margin = int(np.ceil(side_m / res)) + 1
    for lim in limits:
        if lim not in done:
            if lim >= max(limits):
                done[lim] = _level_polygons(_filled(z, lim), col_off, x0, y0, res)
            else:
                keep = d32.astype(np.float64) <= lim
                done[lim] = _cropped_level(
                    z, ix[keep], iy[keep], fld[keep], n, col_off, x0, y0, lim, margin, res, big
                )
        for i in range(n):
            out[i].append(done[lim][i])
    return out


def _filled(z: np.ndarray, lim: float) -> tuple:
    """Contour ``-1 <= z <= lim`` of a raster (cell coordinates) into combined arrays."""
    import contourpy

    gen = contourpy.contour_generator(z=z, fill_type="ChunkCombinedOffsetOffset")
    return gen.filled(-1.0, float(lim))


def _cropped_level(
    z: np.ndarray,
    ix: np.ndarray,
    iy: np.ndarray,
    fld: np.ndarray,
    n: int,
    col_off: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    lim: float,
    margin: int,
    res: float,
    big: float,
) -> list[object]:
    """Polygons of one level, contoured on each field's bounding box of reaching cells."""
    empty: list[object] = [shapely.Polygon() for _ in range(n)]
    gb = _group_bounds(fld, n)
    has = np.flatnonzero(gb[1:] > gb[:-1])
    if len(has) == 0:
        return empty
    st = gb[has]
    c_lo = np.maximum(np.minimum.reduceat(ix, st) - margin, col_off[has])
    c_hi = np.minimum(np.maximum.reduceat(ix, st) + margin + 1, z.shape[1])
    r_lo = np.maximum(np.minimum.reduceat(iy, st) - margin, 0)
    r_hi = np.minimum(np.maximum.reduceat(iy, st) + margin + 1, z.shape[0])
    w = c_hi - c_lo
    loff = np.r_[0, np.cumsum(w)[:-1]]
    crop = np.full((int((r_hi - r_lo).max()), int(w.sum())), big)
    for i in range(len(has)):
        crop[: r_hi[i] - r_lo[i], loff[i] : loff[i] + w[i]] = z[
            r_lo[i] : r_hi[i], c_lo[i] : c_hi[i]
        ]
    polys = _level_polygons(
        _filled(crop, lim),
        loff,
        x0[has] + (c_lo - col_off[has]) * res,
        y0[has] + r_lo * res,
        res,
    )
    for i, f in enumerate(has.tolist()):
        empty[f] = polys[i]
    return empty


def _level_polygons(
    filled: tuple, col_off: np.ndarray, x0: np.ndarray, y0: np.ndarray, res: float
) -> list[object]:
    """Polygons of one filled level of a strip, moved to their fields' coordinates."""
    n = len(col_off)
    pts, offs, outer = filled[0][0], filled[1][0], filled[2][0]
    if pts is None or outer is None or len(outer) < 2:
        return [shapely.Polygon() for _ in range(n)]
    first = pts[offs[outer[:-1]], 0]
    tile = np.searchsorted(col_off, first, side="right") - 1
    npts = offs[outer[1:]] - offs[outer[:-1]]
    pt_tile = np.repeat(tile, npts)
    xy = np.column_stack(
        [
            x0[pt_tile] + (pts[:, 0] - col_off[pt_tile] + 0.5) * res,
            y0[pt_tile] + (pts[:, 1] + 0.5) * res,
        ]
    )
    polys = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, xy, (offs.astype(np.int64), outer.astype(np.int64))
    )
    order = np.argsort(tile, kind="stable")
    tb = _group_bounds(tile[order], n)
    polys = polys[order]
    result: list[object] = []
    for i in range(n):
        part = polys[tb[i] : tb[i + 1]]
        if len(part) == 0:
            result.append(shapely.Polygon())
        elif len(part) == 1:
            result.append(part[0])
        else:
            result.append(shapely.make_valid(shapely.MultiPolygon(list(part))))
    return result


def cell_distances(
    cells: dict[str, np.ndarray],
    edges: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    length: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the cell runs of ``edges`` with walking distances from the edge-end distances.

    Returns cell column, cell row, distance, run index (into ``cells``) and the position in
    ``edges`` of each run's edge.
    """
    off = cells["offsets"]
    cnt = off[edges + 1] - off[edges]
    which = np.repeat(np.arange(len(edges)), cnt)
    idx = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(off[edges], cnt)
    d = np.minimum(du[which] + cells["pmin"][idx], dv[which] + (length[which] - cells["pmax"][idx]))
    return cells["gx"][idx], cells["gy"][idx], d, idx, which


def direct_distance(
    cells: dict[str, np.ndarray], idx: np.ndarray, pos: np.ndarray, leg: np.ndarray
) -> np.ndarray:
    """Walk from a point ``leg`` metres off the edge at ``pos`` to the cell runs ``idx``."""
    gap = np.maximum(np.maximum(cells["pmin"][idx] - pos, pos - cells["pmax"][idx]), 0.0)
    return leg + gap
