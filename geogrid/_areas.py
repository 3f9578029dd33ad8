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
from scipy import ndimage

from .network import WalkNetwork

__all__: list[str] = []


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


def _footprints(radius_cells: float) -> list[tuple[int, int]]:
    """Half-sizes (rows, cols) of rectangles whose union approximates a disc."""
    r = radius_cells
    out = set()
    for theta in np.deg2rad([12.0, 36.0, 54.0, 78.0]):
        out.add((int(round(r * np.sin(theta))), int(round(r * np.cos(theta)))))
    return sorted(out)


def _spread(field: np.ndarray, radius_cells: float) -> np.ndarray:
    """Minimum over a disc of ``radius_cells`` (union-of-rectangles approximation)."""
    out = np.full_like(field, np.inf)
    for hr, hc in _footprints(radius_cells):
        a = ndimage.minimum_filter1d(field, 2 * hr + 1, axis=0, mode="constant", cval=np.inf)
        a = ndimage.minimum_filter1d(a, 2 * hc + 1, axis=1, mode="constant", cval=np.inf)
        np.minimum(out, a, out=out)
    return out


def field_polygons(
    x: np.ndarray,
    y: np.ndarray,
    d: np.ndarray,
    limits: list[float],
    *,
    side_m: float,
    resolution_m: float,
) -> list[object]:
    """Polygons of ``{p : min over samples s within side_m of p of d(s) <= L}`` per limit."""
    import contourpy

    keep = d <= max(limits)
    if not keep.any():
        return [shapely.Polygon() for _ in limits]
    x, y, d = x[keep], y[keep], d[keep]
    res = float(resolution_m)
    pad = side_m + 3 * res
    x0 = np.floor((x.min() - pad) / res) * res
    y0 = np.floor((y.min() - pad) / res) * res
    nx = int(np.ceil((x.max() + pad - x0) / res)) + 1
    ny = int(np.ceil((y.max() + pad - y0) / res)) + 1
    ix = ((x - x0) / res).astype(np.int64)
    iy = ((y - y0) / res).astype(np.int64)
    field = np.full((ny, nx), np.inf, dtype=np.float32)
    np.minimum.at(field, (iy, ix), d.astype(np.float32))
    spread = _spread(field, side_m / res)
    big = 10.0 * max(limits) + 1e6
    z = np.where(np.isfinite(spread), spread, big).astype(np.float64)
    xs = x0 + (np.arange(nx) + 0.5) * res
    ys = y0 + (np.arange(ny) + 0.5) * res
    gen = contourpy.contour_generator(x=xs, y=ys, z=z, fill_type="OuterOffset")
    out: list[object] = []
    done: dict[float, object] = {}
    for lim in limits:
        if lim in done:
            out.append(done[lim])
            continue
        pts_list, off_list = gen.filled(-1.0, float(lim))
        polys = []
        for pts, offs in zip(pts_list, off_list, strict=True):
            rings = [pts[offs[i] : offs[i + 1]] for i in range(len(offs) - 1)]
            polys.append(shapely.Polygon(rings[0], rings[1:]))
        geom = (
            shapely.make_valid(shapely.MultiPolygon(polys))
            if len(polys) > 1
            else (polys[0] if polys else shapely.Polygon())
        )
        done[lim] = geom
        out.append(geom)
    return out


def sample_distances(
    samples: dict[str, np.ndarray],
    edges: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    length: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the samples of ``edges`` with walking distances from the edge-end distances."""
    off = samples["offsets"]
    cnt = off[edges + 1] - off[edges]
    which = np.repeat(np.arange(len(edges)), cnt)
    idx = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(off[edges], cnt)
    pos = samples["pos"][idx]
    d = np.minimum(du[which] + pos, dv[which] + (length[which] - pos))
    return samples["x"][idx], samples["y"][idx], d, idx
