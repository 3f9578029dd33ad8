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
    """Cut ``polygon`` by ``lines`` into blocks (Polygons) that tile it exactly."""
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
    footprints: np.ndarray,
    points: np.ndarray,
    households: np.ndarray,
    population: np.ndarray,
    party_members: np.ndarray,
    compound: np.ndarray,
    *,
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

    """
    blocks = blocks_of(polygon, lines)
    m = len(points)
    unit_block = np.full(m, -1)
    if m:
        tree = shapely.STRtree(blocks)
        pi, bi = tree.query(points, predicate="intersects")
        # a point on a shared edge: keep the first block, deterministic
        order = np.lexsort((bi, pi))
        pi, bi = pi[order], bi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        unit_block[pi[first]] = bi[first]
        missing = unit_block < 0
        if missing.any():  # float noise at the boundary: nearest block
            near = tree.query_nearest(points[missing], return_distance=False)
            unit_block[np.flatnonzero(missing)[near[0]]] = near[1]
    # label of each unit: its compound when the compound stays whole, else itself
    lab_key = np.array([f"b{i}" for i in range(m)], dtype=object)
    if m:
        comp = np.asarray(compound, dtype=object)
        has = comp != ""
        if has.any():
            uniq, inv = np.unique(comp[has], return_inverse=True)
            hh = np.bincount(inv, weights=households[has], minlength=len(uniq))
            whole = hh[inv] <= max_households
            idx = np.flatnonzero(has)[whole]
            lab_key[idx] = np.array(["c" + str(c) for c in comp[idx]], dtype=object)
    _, unit_lab = np.unique(lab_key, return_inverse=True) if m else (None, np.array([], int))

    geoms: list[Geometry] = []
    kinds: list[str] = []
    atom_lab: list[int] = []  # label (unit group) per atom, -1 for fillers
    atom_block: list[int] = []
    for b, block in enumerate(blocks):
        members = np.flatnonzero(unit_block == b)
        labs = np.unique(unit_lab[members])
        if len(labs) == 0:
            geoms.append(block)
            kinds.append("block")
            atom_lab.append(-1)
            atom_block.append(b)
            continue
        if len(labs) == 1:
            geoms.append(block)
            kinds.append("block")
            atom_lab.append(int(labs[0]))
            atom_block.append(b)
            continue
        cells, clabs = _building_cells(
            block, footprints[members], points[members], unit_lab[members]
        )
        # the part of a label's cell holding its representative point is the atom
        for lab in labs:
            sel = np.flatnonzero(clabs == lab)
            if len(sel) == 0:
                continue
            unit_pts = points[members[unit_lab[members] == lab]]
            if len(sel) == 1:
                main = sel[0]
            else:
                hits = [
                    int(shapely.intersects(cells[s], unit_pts).sum()) + cells[s].area * 1e-12
                    for s in sel
                ]
                main = sel[int(np.argmax(hits))]
            for s in sel:
                geoms.append(cells[s])
                atom_block.append(b)
                if s == main:
                    kinds.append(
                        "compound" if lab_is_compound(lab_key, unit_lab, lab) else "building"
                    )
                    atom_lab.append(int(lab))
                else:
                    kinds.append("filler")
                    atom_lab.append(-1)
    geoms_arr = np.empty(len(geoms), dtype=object)
    geoms_arr[:] = geoms
    atom_lab_arr = np.asarray(atom_lab, dtype=np.int64)
    kind_arr = np.asarray(kinds, dtype=object)
    block_arr = np.asarray(atom_block, dtype=np.int64)
    # a whole compound cut by streets or paths into several blocks: merge its pieces into one
    # atom when they form one polygon; otherwise one atom per piece
    drop = np.zeros(len(geoms_arr), bool)
    labs_multi, counts = np.unique(atom_lab_arr[atom_lab_arr >= 0], return_counts=True)
    for lab in labs_multi[counts > 1]:
        alist = np.flatnonzero(atom_lab_arr == lab)
        if kind_arr[alist[0]] != "compound" and kind_arr[alist[0]] != "block":
            continue
        merged = shapely.union_all(geoms_arr[alist])
        if shapely.get_type_id(merged) == 3:
            geoms_arr[alist[0]] = merged
            kind_arr[alist[0]] = "compound"
            drop[alist[1:]] = True
    if drop.any():
        keep = ~drop
        geoms_arr, atom_lab_arr = geoms_arr[keep], atom_lab_arr[keep]
        kind_arr, block_arr = kind_arr[keep], block_arr[keep]
    # one planar noding of all atom edges: shared edges become identical
    geoms_arr = renode(geoms_arr, polygon)
    keep = ~shapely.is_empty(geoms_arr)
    if not keep.all():
        geoms_arr, atom_lab_arr = geoms_arr[keep], atom_lab_arr[keep]
        kind_arr, block_arr = kind_arr[keep], block_arr[keep]
    if (shapely.get_type_id(geoms_arr) != 3).any():  # split parts: largest keeps the atom
        parts, pidx = shapely.get_parts(geoms_arr, return_index=True)
        area = shapely.area(parts)
        best = np.zeros(len(geoms_arr), int)
        order = np.lexsort((-area, pidx))
        first = np.r_[True, pidx[order][1:] != pidx[order][:-1]]
        best[pidx[order][first]] = order[first]
        main = np.zeros(len(parts), bool)
        main[best] = True
        geoms_arr = parts
        atom_lab_arr = np.where(main, atom_lab_arr[pidx], -1)
        kind_arr = np.where(main, kind_arr[pidx], "filler").astype(object)
        block_arr = block_arr[pidx]
    n = len(geoms_arr)
    unit_atom = np.full(m, -1)
    if m:
        lab_to_atoms: dict[int, list[int]] = {}
        for a, lab in enumerate(atom_lab_arr.tolist()):
            if lab >= 0:
                lab_to_atoms.setdefault(lab, []).append(a)
        for lab, lab_atoms in lab_to_atoms.items():
            units = np.flatnonzero(unit_lab == lab)
            if len(lab_atoms) == 1:
                unit_atom[units] = lab_atoms[0]
            else:  # the piece in the unit's block
                ab = block_arr[lab_atoms]
                for u in units:
                    hit = np.flatnonzero(ab == unit_block[u])
                    if len(hit):
                        unit_atom[u] = lab_atoms[int(hit[0])]
        lost = np.flatnonzero(unit_atom < 0)
        if len(lost):  # a unit whose atom vanished as a sliver: the nearest atom
            tree = shapely.STRtree(geoms_arr)
            near = tree.query_nearest(points[lost], return_distance=False, all_matches=False)
            unit_atom[lost[near[0]]] = near[1]
    atom_hh = np.bincount(unit_atom, weights=households, minlength=n) if m else np.zeros(n)
    pop = np.bincount(unit_atom, weights=population, minlength=n) if m else np.zeros(n)
    pm = np.bincount(unit_atom, weights=party_members, minlength=n) if m else np.zeros(n)
    nu = np.bincount(unit_atom, minlength=n) if m else np.zeros(n, int)
    return Atoms(
        geoms=geoms_arr,
        households=atom_hh,
        population=pop,
        party_members=pm,
        n_units=nu,
        unit_atom=unit_atom,
        kind=kind_arr,
        oversized=atom_hh > max_households,
    )


def dissolve(geoms: np.ndarray) -> Geometry:
    """Union of polygons that tile without overlap (fast coverage union, robust fallback)."""
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
    """Whether unit label ``lab`` stands for a whole compound."""
    idx = np.flatnonzero(unit_lab == lab)
    return bool(len(idx)) and str(lab_key[idx[0]]).startswith("c")


def adjacency(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of atoms sharing a boundary and the shared length in metres.

    Returns ``(i, j, length)`` with ``i < j``; corner contacts are not adjacency.
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
