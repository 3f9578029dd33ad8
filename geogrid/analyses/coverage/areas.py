"""Service-area polygons from network distance fields on a fine raster.

Every edge is cut into runs, one per raster cell it crosses (cached on the network). For one
source, each run gets its walking distance (through the nearer end of its edge, or directly
along the source's own edge). The distance field is rasterised (cell = the smallest run
distance in it), spread by the street-side width with a minimum filter whose footprint
approximates a disc by a union of rectangles, and contoured at every target distance
(contourpy). One field gives all targets of a source. The result is the buffer of the reached
street segments to within one raster cell (``resolution_m``).

Many fields are drawn at once: their rasters are stacked in strips of one width
(:class:`FieldStack` for the facilities' fields, :func:`stacked_polygons` for any), each
strip spread in cache-sized bands (:func:`spread_padded`) and contoured by one generator;
lower targets are contoured on each field's box of the cells that can reach them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely

from geogrid.network.build import WalkNetwork
from geogrid.network.snap import Snap

__all__: list[str] = []

MAX_CELLS = 1_000_000  # cells per strip


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


def _group_bounds(key: np.ndarray, n: int) -> np.ndarray:
    """Start offsets (length ``n + 1``) of the groups of a non-decreasing ``key`` in ``0..n-1``."""
    return np.searchsorted(key, np.arange(n + 1), side="left")


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


def _disc_rows(radius_cells: float) -> tuple[int, list[int]]:
    """Margin and row half-width per row offset ``0..hr`` of the :func:`_footprints` union."""
    rects = _footprints(radius_cells)
    hr_max = max((hr for hr, _ in rects), default=0)
    widths = [max((hc for hr, hc in rects if hr >= dy), default=-1) for dy in range(hr_max + 1)]
    margin = max([hr_max] + [hc for _, hc in rects])
    return margin, widths


def _row_windows(f: np.ndarray, halves: set[int], margin: int) -> dict[int, np.ndarray]:
    """Row-direction minima over ``[j - h, j + h]`` for every ``h`` in ``halves``.

    ``f`` carries ``margin`` columns of padding each side; the results have the inner width.
    Windows share one doubling cascade (``m[s][:, j]`` = minimum of ``f[:, j : j + s]``).
    """
    width = f.shape[1] - 2 * margin
    casc = {1: f}
    s = 1
    while 2 * s <= 2 * max(halves) + 1:
        prev = casc[s]
        casc[2 * s] = np.minimum(prev[:, :-s], prev[:, s:])
        s *= 2
    out = {}
    for h in halves:
        size = 1
        while size * 2 <= 2 * h + 1:
            size *= 2
        m = casc[size]
        a = margin - h
        b = margin + h - size + 1
        out[h] = (
            m[:, a : a + width] if a == b else np.minimum(m[:, a : a + width], m[:, b : b + width])
        )
    return out


def spread_padded(
    f: np.ndarray, radius_cells: float, margin: int, *, band_cells: int = 65_536
) -> np.ndarray:
    """Minimum of ``f`` over the street-side disc, on ``f``'s inner part (``margin`` padding).

    The footprint is the union of rectangles of :func:`_footprints` (``f`` outside the
    array counts as ``+inf``), computed as row windows shared through a doubling cascade and
    one pass of row shifts, in bands of rows small enough to stay in the processor's cache
    (about 4x faster than separable filters per rectangle on whole rasters).
    """
    need, widths = _disc_rows(radius_cells)
    if need > margin:
        raise ValueError(f"spread_padded needs a margin of {need} cells, got {margin}")
    h, w = f.shape[0] - 2 * margin, f.shape[1] - 2 * margin
    out = np.empty((h, w), dtype=f.dtype)
    halves = {x for x in widths if x >= 0}
    band = max(16, band_cells // max(w, 1))
    for a in range(0, h, band):
        b = min(a + band, h)
        rows = _row_windows(f[a : b + 2 * margin], halves, margin)
        part = out[a:b]
        part[:] = rows[widths[0]][margin : margin + b - a]
        for dy in range(1, len(widths)):
            if widths[dy] < 0:
                continue
            src = rows[widths[dy]]
            np.minimum(part, src[margin - dy : margin - dy + b - a], out=part)
            np.minimum(part, src[margin + dy : margin + dy + b - a], out=part)
    return out


def _generator(z: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> object:
    """Return a serial contourpy generator on ``z`` (float64, no mask), cell coordinates given.

    ``grid`` holds ``x`` and ``y`` cell coordinates at least as tall as ``z`` and exactly
    as wide; their leading rows are contiguous views, so nothing is rebuilt per call.
    """
    import contourpy

    h = z.shape[0]
    return contourpy.SerialContourGenerator(
        grid[0][:h],
        grid[1][:h],
        z,
        None,  # type: ignore[arg-type]  # no mask, as contour_generator passes it
        corner_mask=True,
        line_type=contourpy.LineType.Separate,
        fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
        quad_as_tri=False,
        z_interp=contourpy.ZInterp.Linear,
        x_chunk_size=0,
        y_chunk_size=0,
    )


def _cell_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row numbers of a ``height x width`` raster (float64, C order)."""
    x, y = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return x, y


def stacked_polygons(
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
    """Polygons of many fields at once: ``out[job][k]`` for ``limits[k]``.

    ``job`` (non-decreasing) names the field of every cell run (cell column ``gx``, row
    ``gy``, distance ``d``). Every field's raster (bounding box of its cells within the
    largest limit, padded by ``side_m`` + 3 cells) is stacked under the previous one in
    strips of at most ``max_cells`` cells and one width (the widest field), so that the
    contour generator's coordinate arrays are built once per call, the spread runs on
    cache-sized bands (:func:`spread_padded`) and every level of a strip is contoured by one
    generator on the same raster.
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
    radius = side_m / res
    margin = _disc_rows(radius)[0]
    pad = int(np.ceil((side_m + 3 * res) / res))
    starts = b[has]
    c0 = np.minimum.reduceat(gx, starts) - pad
    r0 = np.minimum.reduceat(gy, starts) - pad
    ncol = np.maximum.reduceat(gx, starts) + pad + 1 - c0
    nrow = np.maximum.reduceat(gy, starts) + pad + 1 - r0
    width = int(ncol.max())
    # strips: consecutive fields while the strip holds at most max_cells cells
    cum = np.cumsum(nrow)
    strip_of = np.zeros(len(has), dtype=np.int64)
    first, k = 0, 0
    for i in range(len(has)):
        if i > first and (cum[i] - (cum[first - 1] if first else 0)) * width > max_cells:
            k, first = k + 1, i
        strip_of[i] = k
    sb = _group_bounds(strip_of, k + 1)
    row_off = np.zeros(len(has), dtype=np.int64)
    for a, e in zip(sb[:-1].tolist(), sb[1:].tolist(), strict=True):
        row_off[a:e] = np.r_[0, np.cumsum(nrow[a : e - 1])]
    tallest = int(max(row_off[e - 1] + nrow[e - 1] for e in sb[1:].tolist()))
    grid = _cell_grid(tallest, width)
    slot = np.full(n_jobs, -1, dtype=np.int64)
    slot[has] = np.arange(len(has))
    s_of = slot[job]
    ix = gx - c0[s_of]
    iy = gy - r0[s_of] + row_off[s_of]
    big = 10.0 * max(limits) + 1e6
    levels = sorted(set(limits))
    out = empty
    for a, e in zip(sb[:-1].tolist(), sb[1:].tolist(), strict=True):
        sel = slice(b[has[a]], b[has[e - 1] + 1])
        height = int(row_off[e - 1] + nrow[e - 1])
        f = np.full((height + 2 * margin, width + 2 * margin), big, dtype=np.float32)
        np.minimum.at(f, (iy[sel] + margin, ix[sel] + margin), d[sel].astype(np.float32))
        z = spread_padded(f, radius, margin).astype(np.float64)
        del f
        gen = _generator(z, grid)
        polys = {
            lim: _stacked_level(
                gen.filled(-1.0, float(lim)),  # type: ignore[attr-defined]
                row_off[a:e],
                c0[a:e] * res,
                r0[a:e] * res,
                res,
            )
            for lim in levels
        }
        for i in range(e - a):
            out[int(has[a + i])] = [polys[lim][i] for lim in limits]
    return out


def _stacked_level(
    filled: tuple, row_off: np.ndarray, x0: np.ndarray, y0: np.ndarray, res: float
) -> list[object]:
    """Polygons of one filled level of a stacked strip, moved to their fields' coordinates."""
    n = len(row_off)
    pts, offs, outer = filled[0][0], filled[1][0], filled[2][0]
    if pts is None or outer is None or len(outer) < 2:
        return [shapely.Polygon() for _ in range(n)]
    first = pts[offs[outer[:-1]], 1]
    tile = np.searchsorted(row_off, first, side="right") - 1
    npts = offs[outer[1:]] - offs[outer[:-1]]
    pt_tile = np.repeat(tile, npts)
    xy = np.column_stack(
        [
            x0[pt_tile] + (pts[:, 0] + 0.5) * res,
            y0[pt_tile] + (pts[:, 1] - row_off[pt_tile] + 0.5) * res,
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


def edge_cell_bounds(cells: dict[str, np.ndarray]) -> np.ndarray:
    """Per edge: smallest and largest cell column and row of its runs (``4 x n_edges``)."""
    off = cells["offsets"]
    starts = np.minimum(off[:-1], max(len(cells["gx"]) - 1, 0))
    out = np.stack(
        [
            np.minimum.reduceat(cells["gx"], starts),
            np.maximum.reduceat(cells["gx"], starts),
            np.minimum.reduceat(cells["gy"], starts),
            np.maximum.reduceat(cells["gy"], starts),
        ]
    )
    return out


class FieldStack:
    """Many fields' rasters stacked in strips of one width, each strip drawn once it is full.

    Fields arrive in order (:meth:`add`, a group at a time) with the cell runs they reach and
    the runs' walking distances. A field's raster is the box of its reached edges' cells,
    clipped to the cells its source can reach in a straight line (every cell within the
    largest limit lies inside), padded by the street side plus 3 cells: the same raster
    values as :func:`stacked_polygons` on a possibly larger box of empty cells, hence the same
    polygons. All strips have one width (the widest possible box), so a run's position in a
    strip is one precomputed key per run plus one offset per field.
    """

    def __init__(
        self,
        cells: dict[str, np.ndarray],
        n_fields: int,
        limits: list[float],
        *,
        side_m: float,
        resolution_m: float,
        max_cells: int | None = None,
    ) -> None:
        res = float(resolution_m)
        self.cells, self.limits, self.res = cells, limits, res
        self.levels = sorted(set(limits))
        self.radius = side_m / res
        self.margin = _disc_rows(self.radius)[0]
        self.pad = self.margin + 1  # a ring of empty cells round every spread cell
        self.reach = int(np.ceil(max(limits) / res)) + 1
        # no box is wider than the straight-line reach or than the network's cells
        self.extent = (
            (
                int(cells["gx"].min()),
                int(cells["gx"].max()),
                int(cells["gy"].min()),
                int(cells["gy"].max()),
            )
            if len(cells["gx"])
            else (0, 0, 0, 0)
        )
        x_lo, x_hi, y_lo, y_hi = self.extent
        span = 2 * (self.reach + self.pad) + 1
        self.inner = min(span, x_hi - x_lo + 1 + 2 * self.pad)
        tallest = min(span, y_hi - y_lo + 1 + 2 * self.pad)
        self.width = self.inner + 2 * self.margin
        self.key = cells["gy"] * self.width + cells["gx"]
        key = "_cell_bounds"
        if key not in cells:
            cells[key] = edge_cell_bounds(cells)
        self.ebox = cells[key]
        max_cells = MAX_CELLS if max_cells is None else max_cells
        self.max_rows = max(max_cells // self.width, tallest)
        self.big = 10.0 * max(limits) + 1e6
        self.out: list[list[object]] = [
            [shapely.Polygon() for _ in limits] for _ in range(n_fields)
        ]
        self._grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._fields: list[np.ndarray] = []  # per group: field, c0, r0, height, row offset
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self._rows = 0

    def add(
        self,
        fields: np.ndarray,
        fx: np.ndarray,
        fy: np.ndarray,
        row: np.ndarray,
        edge: np.ndarray,
        run_row: np.ndarray,
        run: np.ndarray,
        d: np.ndarray,
    ) -> None:
        """Add fields ``fields`` with their reached edges and cell runs; draw full strips.

        Sources stand at ``fx``, ``fy``; ``row`` / ``edge`` are the pairs (field position in
        ``fields``, reached edge), rows in order; ``run`` are cell-run indices of pair
        ``run_row`` (rows in order) at walking distance ``d``.
        """
        res, g = self.res, len(fields)
        cx = np.floor(fx / res).astype(np.int64)
        cy = np.floor(fy / res).astype(np.int64)
        starts = np.searchsorted(row, np.arange(g))
        present = np.r_[starts[1:], len(row)] > starts
        x_lo, x_hi, y_lo, y_hi = self.extent
        lo_x = np.clip(cx - self.reach, x_lo, x_hi)
        hi_x = np.clip(cx + self.reach, lo_x, x_hi)
        lo_y = np.clip(cy - self.reach, y_lo, y_hi)
        hi_y = np.clip(cy + self.reach, lo_y, y_hi)
        if present.any():
            st = starts[present]
            eb = self.ebox[:, edge]
            lo_x[present] = np.maximum(np.minimum.reduceat(eb[0], st), lo_x[present])
            hi_x[present] = np.minimum(np.maximum.reduceat(eb[1], st), hi_x[present])
            lo_y[present] = np.maximum(np.minimum.reduceat(eb[2], st), lo_y[present])
            hi_y[present] = np.minimum(np.maximum.reduceat(eb[3], st), hi_y[present])
        c0, r0 = lo_x - self.pad, lo_y - self.pad
        height = np.maximum(hi_y + self.pad + 1 - r0, 1)
        # rows in the strips: a field that does not fit starts a new strip
        row_off = np.empty(g, dtype=np.int64)
        strip_start = np.zeros(g, dtype=bool)
        cur = self._rows
        for i, h in enumerate(height.tolist()):
            if cur and cur + h > self.max_rows:
                strip_start[i], cur = True, 0
            row_off[i], cur = cur, cur + h
        # position of each run in its strip's padded raster
        base = (row_off - r0 + self.margin) * self.width + self.margin - c0
        near = d <= max(self.limits)
        run_row, run, d = run_row[near], run[near], d[near]
        flat = self.key[run] + base[run_row]
        cut = np.flatnonzero(strip_start).tolist()
        bounds = [0] + cut + [g]
        rb = np.searchsorted(run_row, bounds)
        for k in range(len(bounds) - 1):
            if k > 0:
                self._draw()
            a, e = bounds[k], bounds[k + 1]
            if e > a:
                self._fields.append(
                    np.stack(
                        [fields[a:e], c0[a:e], r0[a:e], height[a:e], row_off[a:e], cx[a:e], cy[a:e]]
                    )
                )
                self._runs.append((flat[rb[k] : rb[k + 1]], d[rb[k] : rb[k + 1]]))
        self._rows = cur

    def finish(self) -> list[list[object]]:
        """Draw the last strip; return the polygons per field and limit."""
        self._draw()
        return self.out

    def _draw(self) -> None:
        """Rasterise, spread and contour the current strip; store its fields' polygons."""
        if not self._fields:
            self._rows = 0
            return
        fld = np.concatenate(self._fields, axis=1)
        flat = np.concatenate([r[0] for r in self._runs])
        d = np.concatenate([r[1] for r in self._runs]).astype(np.float32)
        self._fields, self._runs = [], []
        field, c0, r0, height, row_off, cx, cy = fld
        rows = int(row_off[-1] + height[-1])
        m = self.margin
        f = np.full((rows + 2 * m) * self.width, self.big, dtype=np.float32)
        np.minimum.at(f, flat, d)
        z = spread_padded(f.reshape(rows + 2 * m, self.width), self.radius, m)
        del f
        z = z.astype(np.float64)
        res = self.res
        top = self.levels[-1]
        filled = _generator(z, self._grid(z.shape)).filled(-1.0, float(top))  # type: ignore[attr-defined]
        polys = {top: _stacked_level(filled, row_off, c0 * res, r0 * res, res)}
        for lim in self.levels[:-1]:
            polys[lim] = self._cropped(z, lim, c0, r0, height, row_off, cx, cy)
        for i, j in enumerate(field.tolist()):
            self.out[j] = [polys[lim][i] for lim in self.limits]
        self._rows = 0

    def _grid(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Cell coordinates at least ``shape`` (rows) tall and exactly as wide (cached by width)."""
        rows, width = int(shape[0]), int(shape[1])
        grid = self._grids.get(width)
        if grid is None or grid[0].shape[0] < rows:
            grid = _cell_grid(max(rows, self.max_rows), width)
            self._grids[width] = grid
        return grid

    def _cropped(
        self,
        z: np.ndarray,
        lim: float,
        c0: np.ndarray,
        r0: np.ndarray,
        height: np.ndarray,
        row_off: np.ndarray,
        cx: np.ndarray,
        cy: np.ndarray,
    ) -> list[object]:
        """Polygons of a lower level, contoured on each field's box of cells that can reach it.

        A cell at most ``lim`` lies within ``lim`` plus the street side of the source (in a
        straight line), so a box of that half-size plus two cells holds every quad the level
        crosses: the same polygons on fewer cells.
        """
        res = self.res
        half = int(np.ceil(lim / res)) + 1 + int(np.ceil(self.radius)) + 2
        lo_r = np.clip(cy - half - r0, 0, height)
        hi_r = np.clip(cy + half + 1 - r0, 0, height)
        lo_c = np.clip(cx - half - c0, 0, self.inner)
        hi_c = np.clip(cx + half + 1 - c0, 0, self.inner)
        h = hi_r - lo_r
        w = int(max((hi_c - lo_c).max(), 2))
        off = np.r_[0, np.cumsum(h)[:-1]]
        crop = np.full((max(int(h.sum()), 2), w), self.big)
        for i in range(len(h)):
            crop[off[i] : off[i] + h[i], : hi_c[i] - lo_c[i]] = z[
                row_off[i] + lo_r[i] : row_off[i] + hi_r[i], lo_c[i] : hi_c[i]
            ]
        return _stacked_level(
            _generator(crop, self._grid(crop.shape)).filled(-1.0, float(lim)),  # type: ignore[attr-defined]
            off,
            (c0 + lo_c) * res,
            (r0 + lo_r) * res,
            res,
        )


def run_distances(
    cells: dict[str, np.ndarray],
    edges: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    length: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cell_distances` without the cell columns and rows: distance, run, pair index."""
    off = cells["offsets"]
    start = off[edges]
    cnt = off[edges + 1] - start
    which = np.repeat(np.arange(len(edges)), cnt)
    idx = np.arange(len(which)) + np.repeat(start - (np.cumsum(cnt) - cnt), cnt)
    d = du[which] + cells["pmin"][idx]
    d2 = length[which] - cells["pmax"][idx]
    d2 += dv[which]
    np.minimum(d, d2, out=d)
    return d, idx, which


# ---------------------------------------------------------------------- exact reached lines
# ``service_areas(lines=True)``: the reached street pieces themselves. Pieces that meet end to
# end (same coordinates) are chained into trails, one LineString per trail instead of one per
# edge piece: the same points, half the parts and a third fewer coordinates at city scale.

ENDPOINT_TOL_M = 1e-9  # an interval this close to both ends of its edge is the whole edge


def end_intervals(
    length: np.ndarray, du: np.ndarray, dv: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reached intervals of edges walked into from their ends within ``limit``.

    Parameters
    ----------
    length, du, dv : numpy.ndarray
        Per entry: the edge's length and the walking distances at its ``u`` and ``v`` ends
        (``inf`` when not reached).
    limit : float
        Walking distance in metres.

    Returns
    -------
    tuple of numpy.ndarray
        Entry index, start and end (metres from ``u``) of each reached interval: the whole
        edge, or ``[0, limit - du]`` and / or ``[length - (limit - dv), length]``.

    """
    a = limit - du
    b = limit - dv
    whole = (a >= length) | (b >= length) | ((a >= 0) & (b >= 0) & (a + b >= length))
    i_w = np.flatnonzero(whole)
    i_u = np.flatnonzero(~whole & (a > 0))
    i_v = np.flatnonzero(~whole & (b > 0))
    idx = np.concatenate([i_w, i_u, i_v])
    start = np.concatenate([np.zeros(len(i_w) + len(i_u)), length[i_v] - b[i_v]])
    end = np.concatenate([length[i_w], a[i_u], length[i_v]])
    return idx, start, end


def own_intervals(
    pos: np.ndarray, leg: np.ndarray, length: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reached intervals of sources' own edges walked directly from the source.

    Parameters
    ----------
    pos, leg, length : numpy.ndarray
        Per source: position along its edge (metres from ``u``), snap leg, edge length.
    limit : float
        Walking distance in metres.

    Returns
    -------
    tuple of numpy.ndarray
        Source index (sources with ``leg < limit``), start and end of the interval.

    """
    r = limit - leg
    ok = np.flatnonzero(r > 0)
    lo = np.clip(pos[ok] - r[ok], 0, length[ok])
    hi = np.clip(pos[ok] + r[ok], 0, length[ok])
    return ok, lo, hi


def merge_intervals(
    group: np.ndarray, edge: np.ndarray, start: np.ndarray, end: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Union of intervals per (group, edge).

    Parameters
    ----------
    group, edge, start, end : numpy.ndarray
        One interval per entry (metres from the edge's ``u``).
    length : numpy.ndarray
        Length of every network edge.

    Returns
    -------
    tuple of numpy.ndarray
        Group, edge, start, end and ``whole`` (the interval is the whole edge) of the
        disjoint merged intervals, sorted by group, edge and start.

    """
    if len(edge) == 0:
        z = np.zeros(0)
        return group, edge, z, z, z.astype(bool)
    order = np.lexsort((start, edge, group))
    g, e, s, t = group[order], edge[order], start[order], end[order]
    same = np.r_[False, (g[1:] == g[:-1]) & (e[1:] == e[:-1])]
    run = np.cumsum(~same)
    # running maximum of the ends within each (group, edge) run, by doubling (runs are short)
    run_end = t.copy()
    k = 1
    while k < len(t):
        joined = run[k:] == run[:-k]
        if not joined.any():
            break
        run_end[k:] = np.where(joined, np.maximum(run_end[k:], run_end[:-k]), run_end[k:])
        k *= 2
    new = ~same | (s > np.r_[-np.inf, run_end[:-1]])
    first = np.flatnonzero(new)
    bs = s[first]
    bt = np.maximum.reduceat(t, first)
    be, bg = e[first], g[first]
    whole = (bs <= ENDPOINT_TOL_M) & (bt >= length[be] - ENDPOINT_TOL_M)
    return bg, be, bs, bt, whole


def piece_coords(
    net: WalkNetwork, edge: np.ndarray, start: np.ndarray, end: np.ndarray, whole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of edge pieces ``[start, end]`` as one ragged array.

    A whole piece is its edge's vertices; a partial one is the point at ``start``, the
    edge's vertices strictly inside, and the point at ``end`` (as ``shapely.substring``).

    Returns
    -------
    tuple of numpy.ndarray
        Coordinates ``(n, 2)`` and offsets (piece ``i`` is ``xy[off[i]:off[i + 1]]``).

    """
    coords, _, cum, voff = edge_vertices(net)
    n = len(edge)
    cnt = voff[edge + 1] - voff[edge]
    owner = np.repeat(np.arange(n), cnt)
    vidx = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(voff[edge], cnt)
    vc = cum[vidx]
    keep = np.flatnonzero(whole[owner] | ((vc > start[owner]) & (vc < end[owner])))
    kept = np.bincount(owner[keep], minlength=n)
    part = np.flatnonzero(~whole)
    size = kept + 2 * (~whole)
    off = np.r_[0, np.cumsum(size)]
    xy = np.empty((int(off[-1]), 2))
    ko = owner[keep]
    rank = np.arange(len(keep)) - (np.cumsum(kept) - kept)[ko]
    xy[off[ko] + (~whole[ko]) + rank] = coords[vidx[keep]]
    if len(part):
        lines = np.asarray(net.edges.geometry.values)[edge[part]]
        xy[off[part]] = shapely.get_coordinates(shapely.line_interpolate_point(lines, start[part]))
        xy[off[part + 1] - 1] = shapely.get_coordinates(
            shapely.line_interpolate_point(lines, end[part])
        )
    return xy, off


def _end_nodes(net: WalkNetwork, edge: np.ndarray, xy: np.ndarray, off: np.ndarray) -> np.ndarray:
    """Node at each piece end, or -1 where the end is not exactly on one of its edge's ends.

    End ``2 i`` is the first point of piece ``i``, ``2 i + 1`` its last.
    """
    nx = net.nodes["x"].to_numpy()
    ny = net.nodes["y"].to_numpy()
    u = net.edges["u"].to_numpy()[edge]
    v = net.edges["v"].to_numpy()[edge]
    node = np.full(2 * len(edge), -1, dtype=np.int64)
    for k, at in ((0, off[:-1]), (1, off[1:] - 1)):
        px, py = xy[at, 0], xy[at, 1]
        on_u = (px == nx[u]) & (py == ny[u])
        on_v = (px == nx[v]) & (py == ny[v])
        node[k::2] = np.where(on_u, u, np.where(on_v, v, -1))
    return node


def _end_partners(group: np.ndarray, node: np.ndarray, n_nodes: int) -> np.ndarray:
    """Pair the piece ends of a group on the same node, two by two.

    Returns the partner end of each end, or -1 (a trail ends there).
    """
    at = np.flatnonzero(node >= 0)
    key = np.repeat(group, 2)[at] * n_nodes + node[at]
    by = np.argsort(key, kind="stable")
    o, sk = at[by], key[by]
    new = np.r_[True, sk[1:] != sk[:-1]]
    first = np.flatnonzero(new)
    run = np.cumsum(new) - 1
    idx = np.arange(len(o))
    rank = idx - first[run]
    run_len = np.diff(np.r_[first, len(o)])[run]
    mate = np.where(rank % 2 == 0, np.where(rank + 1 < run_len, idx + 1, -1), idx - 1)
    partner = np.full(len(node), -1, dtype=np.int64)
    partner[o] = np.where(mate >= 0, o[np.maximum(mate, 0)], -1)
    return partner


def _links(partner: np.ndarray) -> Any:
    """Sparse piece-to-piece links of paired ends (one entry per pair)."""
    from scipy import sparse

    n = len(partner) // 2
    a = np.flatnonzero(partner > np.arange(2 * n))
    row = a // 2  # sorted, since ``a`` is
    indptr = np.searchsorted(row, np.arange(n + 1))
    return sparse.csr_matrix((np.ones(len(a), np.int8), partner[a] // 2, indptr), shape=(n, n))


def _trails(partner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the linked pieces into trails: (partners, trail label, position in the trail).

    Pieces linked by paired ends form paths and cycles (two ends per piece). A path starts at
    its lowest piece with a free end; a cycle is opened at the first end of its lowest piece
    (the returned partners no longer pair that end), so that every trail is a path.
    """
    from scipy.sparse import csgraph

    n = len(partner) // 2
    links = _links(partner)
    _, label = csgraph.connected_components(links, directed=False)
    closed = (partner[0::2] >= 0) & (partner[1::2] >= 0)
    by = np.lexsort((np.arange(n), closed, label))
    heads = by[np.r_[True, label[by][1:] != label[by][:-1]]]
    cyc = heads[closed[heads]]
    if len(cyc):
        partner = partner.copy()
        mate = partner[2 * cyc]
        partner[2 * cyc] = -1
        partner[mate] = -1
        links = _links(partner)
    pos = csgraph.dijkstra(links, directed=False, indices=heads, unweighted=True, min_only=True)
    return partner, label, pos


def chain_pieces(
    group: np.ndarray, xy: np.ndarray, off: np.ndarray, node: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, Any]:
    """MultiLineStrings per group, pieces that meet end to end joined into trails.

    Parameters
    ----------
    group : numpy.ndarray
        Group of each piece.
    xy, off : numpy.ndarray
        Piece coordinates as from :func:`piece_coords`.
    node : numpy.ndarray
        Network node at each piece end (-1: none), ends ``2 i`` and ``2 i + 1`` of piece ``i``.
    n_nodes : int
        Number of network nodes.

    Returns
    -------
    tuple
        The groups present (sorted) and one MultiLineString each. Each trail repeats no piece
        and no point of a piece beyond the joints, so the lines cover exactly the pieces.

    """
    if len(group) == 0:
        return np.zeros(0, dtype=np.int64), np.array([], dtype=object)
    partner, label, pos = _trails(_end_partners(group, node, n_nodes))
    # trails of one group together, each trail in walking order
    order = np.lexsort((pos, label, group))
    head = np.r_[True, label[order][1:] != label[order][:-1]]
    # a piece is walked backwards (last point first) unless its first point joins the
    # previous piece, or, for a trail's first piece, is free
    p0 = partner[2 * order]
    prev = np.r_[-1, order[:-1]]
    rev = np.where(head, p0 >= 0, (p0 < 0) | (p0 // 2 != prev))
    cnt = np.diff(off)[order]
    out = cnt - (~head)  # a joined piece starts at the previous one's last point
    j = np.repeat(np.arange(len(order)), out)
    k = np.arange(out.sum()) - np.repeat(np.cumsum(out) - out, out) + (~head)[j]
    src = off[order][j] + np.where(rev[j], cnt[j] - 1 - k, k)
    t_first = np.flatnonzero(head)
    line_off = np.r_[0, np.cumsum(np.add.reduceat(out, t_first))]
    tg = group[order[t_first]]
    groups, n_parts = np.unique(tg, return_counts=True)
    geoms = shapely.from_ragged_array(
        shapely.GeometryType.MULTILINESTRING,
        xy[src],
        (line_off, np.r_[0, np.cumsum(n_parts)]),
    )
    return groups, geoms


def reached_lines(
    net: WalkNetwork, group: np.ndarray, edge: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact reached lines and metres per group from (possibly overlapping) edge intervals.

    Returns
    -------
    tuple of numpy.ndarray
        The groups present (sorted), metres of street reached and one MultiLineString each.

    """
    length = net.edges["length_m"].to_numpy()
    g, e, s, t, whole = merge_intervals(group, edge, start, end, length)
    xy, off = piece_coords(net, e, s, t, whole)
    groups, geoms = chain_pieces(g, xy, off, _end_nodes(net, e, xy, off), net.n_nodes)
    metres = np.bincount(g, t - s, minlength=int(g.max(initial=-1)) + 1)[groups]
    return groups, metres, geoms


TileEnds = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def service_lines(
    net: WalkNetwork,
    limits: dict[str, float],
    ends: tuple[np.ndarray, np.ndarray],
    sources: Snap,
    ids: np.ndarray,
    tiles: Iterable[TileEnds] = (),
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Rows and geometries of ``service_areas(lines=True)``: exact reached street lines.

    Parameters
    ----------
    net : WalkNetwork
        The walking network.
    limits : dict
        Target name -> walking distance in metres. Targets with the same distance share one
        geometry object (the rows stay cumulative: a 15-minute row holds the 10-minute one).
    ends : tuple of numpy.ndarray
        Distance to the nearest source at the ``u`` and ``v`` end of every edge (the union).
    sources : Snap
        The sources (active facilities), aligned with ``ids``.
    ids : numpy.ndarray
        Facility id of each source.
    tiles : iterable
        Per tile of bounded searches ``(source positions, row, edge, du, dv)``: for each
        source (``row`` indexes ``source positions``) the edges with a reached end and its
        own edge, with the distances at their ends. Empty: the union only.

    Returns
    -------
    tuple of list
        Row dicts (``facility_id``, ``target``, ``max_dist_m``, ``reached_km``) and their
        MultiLineStrings: the union (``"all"``) per target, then per source and target
        reached (a target reaching no street has no per-facility row).

    """
    length = net.edges["length_m"].to_numpy()
    distinct = list(dict.fromkeys(limits.values()))
    own_len = length[sources.edge]
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    union: dict[float, tuple[float, Any]] = {}
    for lim in distinct:
        i, s, t = end_intervals(length, ends[0], ends[1], lim)
        j, os_, ot = own_intervals(sources.pos_m, sources.snap_m, own_len, lim)
        edge = np.concatenate([i, sources.edge[j]])
        _, metres, got = reached_lines(
            net, np.zeros(len(edge), dtype=np.int64), edge, np.r_[s, os_], np.r_[t, ot]
        )
        m = float(metres[0]) if len(got) else 0.0
        union[lim] = (round(m / 1000.0, 3), got[0] if len(got) else shapely.MultiLineString())
    for name, lim in limits.items():
        km, geom = union[lim]
        rows.append({"facility_id": "all", "target": name, "max_dist_m": lim, "reached_km": km})
        geoms.append(geom)
    per: list[dict[float, tuple[float, Any]]] = [{} for _ in range(len(sources))]
    for tidx, r, e, du, dv in tiles:
        for lim in distinct:
            i, s, t = end_intervals(length[e], du, dv, lim)
            j, os_, ot = own_intervals(
                sources.pos_m[tidx], sources.snap_m[tidx], own_len[tidx], lim
            )
            groups, metres, got = reached_lines(
                net,
                np.concatenate([r[i], j]),
                np.concatenate([e[i], sources.edge[tidx[j]]]),
                np.r_[s, os_],
                np.r_[t, ot],
            )
            for g, m, geom in zip(tidx[groups].tolist(), metres.tolist(), got, strict=True):
                per[g][lim] = (round(m / 1000.0, 3), geom)
    for k, got_k in enumerate(per):
        for name, lim in limits.items():
            if lim in got_k:
                km, geom = got_k[lim]
                rows.append(
                    {"facility_id": ids[k], "target": name, "max_dist_m": lim, "reached_km": km}
                )
                geoms.append(geom)
    return rows, geoms
