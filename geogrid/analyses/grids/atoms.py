"""Atoms for the grid partition: a community cut into blocks, then into building cells.

An *atom* is the smallest piece a governance grid is made of. Atoms tile a community
exactly: the community polygon is cut by streets and walls into blocks (faces of the planar
arrangement of the community boundary and the lines), then every block holding two or more
buildings is cut into building cells (a Voronoi tessellation of points sampled along each
footprint, dissolved per building, so a cell covers its own footprint). Cells of one compound
are dissolved into one atom unless the compound alone holds more than the household maximum.
Blocks and pieces without buildings stay atoms with zero households.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

from geogrid.analyses.grids.search import Graph, make_graph

logger = logging.getLogger(__name__)

#: Shared boundary shorter than this (metres) does not make two atoms neighbours.
MIN_SHARED_M = 0.05
#: Footprint boundaries are sampled every this many metres for the building cells.
SAMPLE_STEP_M = 15.0
#: Faces of a noding smaller than this (m2) are float-noise slivers merged into a neighbour.
SLIVER_M2 = 1.0
#: Grid (metres) of the snap-rounding noding of community outlines and lines into blocks.
NODING_GRID_M = 1e-6


@dataclass
class Atoms:
    """Atoms of one community.

    Attributes
    ----------
    geoms : (n,) array of Polygon atoms tiling the community.
    households, population, party_members : (n,) float arrays, demand summed per atom.
    n_units : (n,) int array, demand units (buildings or points) per atom.
    unit_atom : (m,) int array, the atom of every demand unit given (-1 never happens).
    kind : (n,) array of str, ``block``, ``compound``, ``building`` or ``filler``.
    oversized : (n,) bool array, a single building or indivisible unit above the maximum.

    """

    geoms: np.ndarray
    households: np.ndarray
    population: np.ndarray
    party_members: np.ndarray
    n_units: np.ndarray
    unit_atom: np.ndarray
    kind: np.ndarray
    oversized: np.ndarray


def _inside(faces: np.ndarray, polygon: Geometry) -> np.ndarray:
    """Whether each face of a noding of ``polygon`` lies inside it (not in a hole).

    The interior point test is fast but unreliable for faces with a zero-width spike along
    the outline (a line running almost on the boundary): ``point_on_surface`` may then
    fall on the outline itself. Faces failing it are decided by their area inside.
    """
    ok = shapely.contains(polygon, shapely.point_on_surface(faces))
    if not ok.all():
        rest = np.flatnonzero(~ok)
        inter = shapely.area(shapely.intersection(faces[rest], polygon))
        ok[rest] = inter > 0.5 * shapely.area(faces[rest])
    return ok


def merge_slivers(faces: np.ndarray, *, min_area_m2: float = SLIVER_M2) -> np.ndarray:
    """Merge faces smaller than ``min_area_m2`` into the neighbour sharing most boundary.

    Slivers come from float noise where lines run (almost) along each other; a sliver
    without a neighbour sharing an edge is kept as it is.

    Parameters
    ----------
    faces : ndarray of Polygon
        Faces tiling an area.
    min_area_m2 : float
        Faces below this are slivers.

    Returns
    -------
    ndarray of Polygon
        The faces, slivers merged.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> faces = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 10.01, 10),
    ...                   shapely.box(10.01, 0, 20, 10)], dtype=object)
    >>> len(merge_slivers(faces))
    2

    """
    small = shapely.area(faces) < min_area_m2
    if not small.any() or small.all():
        return faces
    out = faces.copy()
    big = np.flatnonzero(~small)
    tree = shapely.STRtree(faces[big])
    bnd = shapely.boundary(faces)
    gain: dict[int, list[int]] = {}
    for s in np.flatnonzero(small).tolist():
        cand = big[tree.query(faces[s], predicate="intersects")]
        if len(cand) == 0:
            continue
        shared = shapely.length(shapely.intersection(bnd[s], bnd[cand]))
        gain.setdefault(int(cand[int(np.argmax(shared))]), []).append(s)
    drop = np.zeros(len(faces), bool)
    for b, sl in gain.items():
        merged = shapely.union_all(np.concatenate([[faces[b]], faces[sl]]))
        if shapely.get_type_id(merged) == 3:
            out[b] = merged
            drop[sl] = True
    return out[~drop]


def blocks_of(polygon: Geometry, lines: np.ndarray) -> np.ndarray:
    """Cut ``polygon`` by ``lines`` into blocks (Polygons) that tile it exactly.

    Parameters
    ----------
    polygon : Polygon or MultiPolygon
        The area (metric CRS).
    lines : ndarray of LineString
        Streets and walls.

    Returns
    -------
    ndarray of Polygon
        The blocks, slivers merged into their neighbours.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> street = np.array([shapely.LineString([(50, -10), (50, 110)])], dtype=object)
    >>> sorted(b.area for b in blocks_of(shapely.box(0, 0, 100, 100), street))
    [5000.0, 5000.0]

    """
    if len(lines) == 0:
        return np.asarray(shapely.get_parts(polygon))
    cut = shapely.intersection(shapely.union_all(lines), polygon)
    cut = shapely.get_parts(cut)
    cut = cut[shapely.get_type_id(cut) != 0]  # drop stray points
    if len(cut) == 0:
        return np.asarray(shapely.get_parts(polygon))
    # snap-rounding noding: a line ending a hair off the outline (or running along it)
    # is noded onto it instead of being left as a dangle that polygonize ignores
    noded = shapely.union_all(
        np.concatenate([[shapely.boundary(polygon)], cut]), grid_size=NODING_GRID_M
    )
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return np.asarray(shapely.get_parts(polygon))
    faces = faces[shapely.area(faces) > 0]
    faces = faces[_inside(faces, polygon)]
    return merge_slivers(faces)


def _building_cells(
    block: Geometry, footprints: np.ndarray, points: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi cells of sampled footprint points inside ``block``, dissolved per label.

    Returns the cell polygons and their labels; a label may come back with several parts
    (a cell cut by a concave block edge), which the caller turns into filler atoms.
    """
    seeds_xy = []
    seeds_lab = []
    for fp, pt, lab in zip(footprints, points, labels, strict=True):
        xy = np.empty((0, 2))
        if fp is not None:
            ring = shapely.segmentize(shapely.boundary(fp), SAMPLE_STEP_M)
            xy = shapely.get_coordinates(ring)
        xy = np.vstack([xy, shapely.get_coordinates(pt)])
        seeds_xy.append(xy)
        seeds_lab.append(np.full(len(xy), lab))
    xy = np.vstack(seeds_xy)
    lab = np.concatenate(seeds_lab)
    keep = shapely.contains_xy(block, xy[:, 0], xy[:, 1])
    # the representative point of each unit is inside the block by construction; keep it
    xy, lab = xy[keep], lab[keep]
    xy_r = np.round(xy, 3)
    _, first = np.unique(xy_r, axis=0, return_index=True)
    first = np.sort(first)
    xy, lab = xy_r[first], lab[first]
    if len(np.unique(lab)) < 2:
        return np.array([block]), np.array([lab[0]])
    cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=block, ordered=True)
    cells = shapely.get_parts(cells)
    order = np.argsort(lab, kind="stable")
    lab_sorted = lab[order]
    cuts = np.flatnonzero(np.diff(lab_sorted)) + 1
    groups = np.split(order, cuts)
    # dissolve the unclipped cells (a valid coverage) per label, then clip once per label
    merged = np.empty(len(groups), dtype=object)
    merged[:] = [
        shapely.coverage_union_all(cells[g]) if len(g) > 1 else cells[g[0]] for g in groups
    ]
    merged = shapely.intersection(merged, block)
    glab = lab_sorted[np.r_[0, cuts]] if len(cuts) else lab_sorted[:1]
    parts, pidx = shapely.get_parts(merged, return_index=True)
    ok = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    out_geoms = parts[ok]
    out_labs = glab[pidx[ok]]
    return out_geoms, out_labs


def build_atoms(
    polygon: Geometry,
    lines: np.ndarray,
    *,
    footprints: np.ndarray,
    points: np.ndarray,
    households: np.ndarray,
    population: np.ndarray,
    party_members: np.ndarray,
    compound: np.ndarray,
    max_households: float,
) -> Atoms:
    """Build the atoms of one community.

    Parameters
    ----------
    polygon
        The community (Polygon or MultiPolygon, metric CRS).
    lines
        Street and wall LineStrings near the community.
    footprints
        (m,) building footprints (Polygon) or None for point demand.
    points
        (m,) representative points of the demand units, inside ``polygon``.
    households, population, party_members
        (m,) demand per unit.
    compound
        (m,) compound ids as strings ('' when none).
    max_households
        Compounds above this are cut into buildings.

    Returns
    -------
    Atoms

    Examples
    --------
    >>> import numpy as np, shapely
    >>> street = np.array([shapely.LineString([(50, -10), (50, 110)])], dtype=object)
    >>> fp = np.array([shapely.box(10, 10, 30, 30), shapely.box(60, 60, 80, 80)], dtype=object)
    >>> at = build_atoms(shapely.box(0, 0, 100, 100), street, footprints=fp,
    ...                  points=shapely.centroid(fp), households=np.array([100.0, 200.0]),
    ...                  population=np.array([262.0, 524.0]), party_members=np.array([5.0, 9.0]),
    ...                  compound=np.array(["", ""], dtype=object), max_households=500)
    >>> at.households.tolist(), at.kind.tolist(), at.unit_atom.tolist()
    ([200.0, 100.0], ['block', 'block'], [1, 0])

    """
    blocks = blocks_of(polygon, lines)
    m = len(points)
    unit_block = _unit_blocks(blocks, points)
    lab_key, unit_lab = _unit_labels(compound, households, max_households)
    pieces = _block_pieces(
        blocks, unit_block, unit_lab, lab_key, footprints=footprints, points=points
    )
    pieces = _merge_compound_pieces(pieces)
    pieces = _renoded(pieces, polygon)
    n = len(pieces.geoms)
    unit_atom = _atom_of_units(pieces, unit_lab, unit_block, points)
    atom_hh = np.bincount(unit_atom, weights=households, minlength=n) if m else np.zeros(n)
    pop = np.bincount(unit_atom, weights=population, minlength=n) if m else np.zeros(n)
    pm = np.bincount(unit_atom, weights=party_members, minlength=n) if m else np.zeros(n)
    nu = np.bincount(unit_atom, minlength=n) if m else np.zeros(n, int)
    return Atoms(
        geoms=pieces.geoms,
        households=atom_hh,
        population=pop,
        party_members=pm,
        n_units=nu,
        unit_atom=unit_atom,
        kind=pieces.kind,
        oversized=atom_hh > max_households,
    )


@dataclass
class _Pieces:
    """Candidate atoms: polygon, unit label (-1 for fillers), kind and street block each."""

    geoms: np.ndarray
    lab: np.ndarray
    kind: np.ndarray
    block: np.ndarray

    def take(self, keep: np.ndarray) -> _Pieces:
        """Select the pieces ``keep`` names (a mask or indices)."""
        return _Pieces(self.geoms[keep], self.lab[keep], self.kind[keep], self.block[keep])


def _unit_blocks(blocks: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Street block of every demand unit (a point on a shared edge: the first block)."""
    unit_block = np.full(len(points), -1)
    if not len(points):
        return unit_block
    tree = shapely.STRtree(blocks)
    pi, bi = tree.query(points, predicate="intersects")
    order = np.lexsort((bi, pi))  # deterministic
    pi, bi = pi[order], bi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    unit_block[pi[first]] = bi[first]
    missing = unit_block < 0
    if missing.any():  # float noise at the boundary: nearest block
        near = tree.query_nearest(points[missing], return_distance=False)
        unit_block[np.flatnonzero(missing)[near[0]]] = near[1]
    return unit_block


def _unit_labels(
    compound: np.ndarray, households: np.ndarray, max_households: float
) -> tuple[np.ndarray, np.ndarray]:
    """Label of each unit: its compound when the compound stays whole, else itself.

    Returns the label keys (``c<compound>`` or ``b<unit>``) and each unit's label number.
    """
    m = len(households)
    lab_key = np.array([f"b{i}" for i in range(m)], dtype=object)
    if not m:
        return lab_key, np.array([], int)
    comp = np.asarray(compound, dtype=object)
    has = comp != ""
    if has.any():
        uniq, inv = np.unique(comp[has], return_inverse=True)
        hh = np.bincount(inv, weights=households[has], minlength=len(uniq))
        whole = hh[inv] <= max_households
        idx = np.flatnonzero(has)[whole]
        lab_key[idx] = np.array(["c" + str(c) for c in comp[idx]], dtype=object)
    return lab_key, np.unique(lab_key, return_inverse=True)[1]


def _block_pieces(
    blocks: np.ndarray,
    unit_block: np.ndarray,
    unit_lab: np.ndarray,
    lab_key: np.ndarray,
    *,
    footprints: np.ndarray,
    points: np.ndarray,
) -> _Pieces:
    """Cut the blocks into pieces: a block holding one label or none whole, others into cells."""
    geoms: list[Geometry] = []
    kinds: list[str] = []
    atom_lab: list[int] = []  # label (unit group) per atom, -1 for fillers
    atom_block: list[int] = []
    for b, block in enumerate(blocks):
        members = np.flatnonzero(unit_block == b)
        labs = np.unique(unit_lab[members])
        if len(labs) <= 1:
            geoms.append(block)
            kinds.append("block")
            atom_lab.append(int(labs[0]) if len(labs) else -1)
            atom_block.append(b)
            continue
        cells, clabs = _building_cells(
            block, footprints[members], points[members], unit_lab[members]
        )
        for lab in labs:
            sel = np.flatnonzero(clabs == lab)
            if len(sel) == 0:
                continue
            main = _main_cell(cells, sel, points[members[unit_lab[members] == lab]])
            kind = "compound" if lab_is_compound(lab_key, unit_lab, lab) else "building"
            for c in sel:
                geoms.append(cells[c])
                atom_block.append(b)
                kinds.append(kind if c == main else "filler")
                atom_lab.append(int(lab) if c == main else -1)
    geoms_arr = np.empty(len(geoms), dtype=object)
    geoms_arr[:] = geoms
    return _Pieces(
        geoms_arr,
        np.asarray(atom_lab, dtype=np.int64),
        np.asarray(kinds, dtype=object),
        np.asarray(atom_block, dtype=np.int64),
    )


def _main_cell(cells: np.ndarray, sel: np.ndarray, unit_pts: np.ndarray) -> int:
    """Pick the part of a label's cell holding most of its units' points (ties: the larger)."""
    if len(sel) == 1:
        return int(sel[0])
    hits = [int(shapely.intersects(cells[c], unit_pts).sum()) + cells[c].area * 1e-12 for c in sel]
    return int(sel[int(np.argmax(hits))])


def _merge_compound_pieces(pieces: _Pieces) -> _Pieces:
    """Merge a whole compound cut by streets into one atom when its pieces form one polygon."""
    geoms, kind = pieces.geoms.copy(), pieces.kind.copy()
    drop = np.zeros(len(geoms), bool)
    labs_multi, counts = np.unique(pieces.lab[pieces.lab >= 0], return_counts=True)
    for lab in labs_multi[counts > 1]:
        alist = np.flatnonzero(pieces.lab == lab)
        if kind[alist[0]] != "compound" and kind[alist[0]] != "block":
            continue
        merged = shapely.union_all(geoms[alist])
        if shapely.get_type_id(merged) == 3:
            geoms[alist[0]] = merged
            kind[alist[0]] = "compound"
            drop[alist[1:]] = True
    return _Pieces(geoms, pieces.lab, kind, pieces.block).take(~drop)


def _renoded(pieces: _Pieces, polygon: Geometry) -> _Pieces:
    """Node all piece edges together (shared edges identical); split parts become fillers."""
    pieces = _Pieces(renode(pieces.geoms, polygon), pieces.lab, pieces.kind, pieces.block)
    pieces = pieces.take(~shapely.is_empty(pieces.geoms))
    if not (shapely.get_type_id(pieces.geoms) != 3).any():
        return pieces
    parts, pidx = shapely.get_parts(pieces.geoms, return_index=True)
    area = shapely.area(parts)
    best = np.zeros(len(pieces.geoms), int)
    order = np.lexsort((-area, pidx))
    first = np.r_[True, pidx[order][1:] != pidx[order][:-1]]
    best[pidx[order][first]] = order[first]
    main = np.zeros(len(parts), bool)
    main[best] = True  # the largest part keeps the atom
    return _Pieces(
        parts,
        np.where(main, pieces.lab[pidx], -1),
        np.where(main, pieces.kind[pidx], "filler").astype(object),
        pieces.block[pidx],
    )


def _atom_of_units(
    pieces: _Pieces, unit_lab: np.ndarray, unit_block: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Find the atom of every unit: its label's atom (in the unit's block), else the nearest."""
    unit_atom = np.full(len(points), -1)
    if not len(points):
        return unit_atom
    lab_to_atoms: dict[int, list[int]] = {}
    for a, lab in enumerate(pieces.lab.tolist()):
        if lab >= 0:
            lab_to_atoms.setdefault(lab, []).append(a)
    for lab, lab_atoms in lab_to_atoms.items():
        units = np.flatnonzero(unit_lab == lab)
        if len(lab_atoms) == 1:
            unit_atom[units] = lab_atoms[0]
            continue
        ab = pieces.block[lab_atoms]  # the piece in the unit's block
        for u in units:
            hit = np.flatnonzero(ab == unit_block[u])
            if len(hit):
                unit_atom[u] = lab_atoms[int(hit[0])]
    lost = np.flatnonzero(unit_atom < 0)
    if len(lost):  # a unit whose atom vanished as a sliver: the nearest atom
        tree = shapely.STRtree(pieces.geoms)
        near = tree.query_nearest(points[lost], return_distance=False, all_matches=False)
        unit_atom[lost[near[0]]] = near[1]
    return unit_atom


def dissolve(geoms: np.ndarray) -> Geometry:
    """Union of polygons that tile without overlap (fast coverage union, robust fallback).

    Parameters
    ----------
    geoms : ndarray of Polygon
        The pieces.

    Returns
    -------
    Geometry
        Their union.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> squares = np.array([shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(3)], dtype=object)
    >>> dissolve(squares).bounds
    (0.0, 0.0, 30.0, 10.0)

    """
    if len(geoms) == 1:
        return geoms[0]
    try:
        return shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        return shapely.union_all(geoms)


def renode(geoms: np.ndarray, polygon: Geometry) -> np.ndarray:
    """Rebuild polygons that almost tile ``polygon`` so that they tile it exactly.

    All edges are noded together and polygonized; every face goes to the polygon holding
    its interior point (slivers from float noise to the nearest one), faces outside
    ``polygon`` (holes) are dropped. Shared edges of the result are identical, so unions of
    neighbours are single polygons. A polygon left without faces comes back empty; one
    whose faces meet only at corners comes back as a MultiPolygon.

    Parameters
    ----------
    geoms : ndarray of Polygon
        Polygons that almost tile ``polygon``.
    polygon : Polygon or MultiPolygon
        The area they tile.

    Returns
    -------
    ndarray of Polygon
        One polygon per input (possibly empty), tiling ``polygon`` exactly.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> near = np.array([shapely.box(0, 0, 10.001, 10), shapely.box(10, 0, 20, 10)], dtype=object)
    >>> [round(g.area, 2) for g in renode(near, shapely.box(0, 0, 20, 10))]
    [100.01, 99.99]

    """
    if len(geoms) <= 1:
        return geoms
    noded = shapely.union_all(shapely.boundary(geoms))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    pts = shapely.point_on_surface(faces)
    tree = shapely.STRtree(geoms)
    fi, gi = tree.query(pts, predicate="within")
    owner = np.full(len(faces), -1)
    owner[fi[::-1]] = gi[::-1]  # first match wins
    lost = np.flatnonzero(owner < 0)
    if len(lost):  # interior point on an edge (a spiky face): the most overlapping polygon
        li, gi = tree.query(faces[lost], predicate="intersects")
        if len(li):
            ov = shapely.area(shapely.intersection(faces[lost[li]], geoms[gi]))
            order = np.lexsort((-ov, li))
            li, gi, ov = li[order], gi[order], ov[order]
            first = np.r_[True, li[1:] != li[:-1]]
            li, gi, ov = li[first], gi[first], ov[first]
            ok = ov > 0.5 * shapely.area(faces[lost[li]])
            owner[lost[li[ok]]] = gi[ok]
        lost = lost[owner[lost] < 0]
    if len(lost):
        # a face inside the outline that no polygon covers, or a float-noise sliver on the
        # outline, still belongs to the tiling: the nearest polygon takes it
        inside = _inside(faces[lost], polygon) | (shapely.area(faces[lost]) < SLIVER_M2)
        lost = lost[inside]
        if len(lost):
            near = tree.query_nearest(pts[lost], all_matches=False)
            owner[lost[near[0]]] = near[1]
    sel = owner >= 0
    faces, owner = faces[sel], owner[sel]
    order = np.argsort(owner, kind="stable")
    faces, owner = faces[order], owner[order]
    cuts = np.flatnonzero(np.diff(owner)) + 1
    out = np.full(len(geoms), shapely.Polygon(), dtype=object)
    for grp in np.split(np.arange(len(faces)), cuts):
        if len(grp) == 0:
            continue
        a = owner[grp[0]]
        out[a] = faces[grp[0]] if len(grp) == 1 else dissolve(faces[grp])
    return out


def lab_is_compound(lab_key: np.ndarray, unit_lab: np.ndarray, lab: int) -> bool:
    """Whether label ``lab`` is a whole compound (its key starts with ``c``).

    Parameters
    ----------
    lab_key : ndarray of str
        Key of every unit: ``c<compound>`` or ``b<unit>``.
    unit_lab : ndarray of int
        Label number of every unit.
    lab : int
        The label.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> keys, labs = np.array(["cX", "b1"], dtype=object), np.array([0, 1])
    >>> lab_is_compound(keys, labs, 0), lab_is_compound(keys, labs, 1)
    (True, False)

    """
    idx = np.flatnonzero(unit_lab == lab)
    return bool(len(idx)) and str(lab_key[idx[0]]).startswith("c")


def polygon_graph(geoms: np.ndarray, weights: np.ndarray, *, hi: float) -> Graph:
    """Build the adjacency graph of polygons weighted by ``weights`` (households).

    Centroids, areas, perimeters and shared boundary lengths come from the polygons; a polygon
    heavier than ``hi`` is pinned (a region of its own).

    Parameters
    ----------
    geoms : ndarray of Polygon
        The atoms.
    weights : ndarray
        Households per atom.
    hi : float
        Upper end of the household band.

    Returns
    -------
    Graph

    Examples
    --------
    >>> import numpy as np, shapely
    >>> squares = np.array([shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(3)], dtype=object)
    >>> polygon_graph(squares, np.array([150.0, 200.0, 250.0]), hi=500).nbrs
    [[1], [0, 2], [1]]

    """
    return make_graph(
        weights,
        shapely.get_coordinates(shapely.centroid(geoms)),
        shapely.area(geoms),
        shapely.length(geoms),
        adj=adjacency(geoms),
        hi=hi,
    )


def adjacency(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of atoms sharing a boundary and the shared length in metres.

    Corner contacts are not adjacency.

    Parameters
    ----------
    geoms : ndarray of Polygon
        The atoms.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        ``(i, j, length)`` with ``i < j``.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> squares = np.array([shapely.box(i * 10, 0, i * 10 + 10, 10) for i in range(3)], dtype=object)
    >>> [a.tolist() for a in adjacency(squares)]
    [[0, 1], [1, 2], [10.0, 10.0]]

    """
    if len(geoms) < 2:
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return i, j, np.empty(0)
    bnd = shapely.boundary(geoms)
    # atoms come from one planar noding (see renode): shared edges are identical
    length = shapely.length(shapely.intersection(bnd[i], bnd[j]))
    keep = length > MIN_SHARED_M
    return i[keep], j[keep], length[keep]
