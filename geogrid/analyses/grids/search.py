"""Balanced contiguous partition of an atom adjacency graph into regions inside a band.

The engine behind :func:`geogrid.grids.partition`. It works on one community's atoms:
weights (households), centroids, areas, perimeters and shared boundary lengths. Steps:

1. per connected component, pick the number of regions ``p`` that makes the band
   ``[lo, hi]`` reachable and is closest to ``total / target``; atoms heavier than ``hi``
   are pinned as regions of their own;
2. seeds by weighted k-means (k-means++ start from a seeded RNG), balanced region growing
   (the lightest region takes its nearest free neighbour);
3. local search: move boundary atoms between neighbouring regions when that lowers
   ``band penalty + deviation from target + compactness`` and keeps the donor connected;
4. merge regions below ``lo`` into a neighbour, split regions above ``hi`` in two, repeat.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: Weight of the band penalty (households outside the band, per target household).
W_BAND = 20.0
#: Weight of the squared relative deviation from the target.
W_TARGET = 1.0
#: Weight of the compactness term (perimeter^2 / (4 pi area), i.e. 1 / Polsby-Popper).
W_COMPACT = 0.08
#: Maximum local-search passes per round.
MAX_PASSES = 40
#: Merge / split rounds.
MAX_ROUNDS = 4
#: A move must lower the cost by more than this (float noise is not a gain).
MIN_GAIN = 1e-9


@dataclass
class Graph:
    """Atom graph of one community."""

    w: np.ndarray
    xy: np.ndarray
    area: np.ndarray
    perim: np.ndarray
    nbrs: list[list[int]]
    shared: list[list[float]]
    pinned: np.ndarray  # atoms that are a region of their own (heavier than hi)


def make_graph(
    w: np.ndarray,
    xy: np.ndarray,
    area: np.ndarray,
    perim: np.ndarray,
    *,
    adj: tuple[np.ndarray, np.ndarray, np.ndarray],
    hi: float,
) -> Graph:
    """Build a :class:`Graph` from arrays; ``adj`` = (i, j, shared length), ``i < j``.

    Parameters
    ----------
    w, xy, area, perim : ndarray
        Households, centroid coordinates (n x 2), area and perimeter of every atom.
    adj : (ndarray, ndarray, ndarray)
        Adjacent pairs ``i < j`` and the boundary length they share.
    hi : float
        Atoms heavier than this are pinned (a region of their own).

    Returns
    -------
    Graph

    Examples
    --------
    >>> import numpy as np
    >>> g = make_graph(np.array([150.0, 600.0]), np.zeros((2, 2)), np.ones(2), np.ones(2),
    ...                adj=(np.array([0]), np.array([1]), np.array([10.0])), hi=500)
    >>> g.nbrs, g.pinned.tolist()
    ([[1], [0]], [False, True])

    """
    adj_i, adj_j, adj_len = adj
    n = len(w)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    shared: list[list[float]] = [[] for _ in range(n)]
    order = np.lexsort((adj_j, adj_i))
    for i, j, s in zip(
        adj_i[order].tolist(), adj_j[order].tolist(), adj_len[order].tolist(), strict=True
    ):
        nbrs[i].append(j)
        shared[i].append(s)
        nbrs[j].append(i)
        shared[j].append(s)
    return Graph(
        w=np.asarray(w, float),
        xy=np.asarray(xy, float),
        area=np.asarray(area, float),
        perim=np.asarray(perim, float),
        nbrs=nbrs,
        shared=shared,
        pinned=np.asarray(w, float) > hi,
    )


def components(g: Graph) -> np.ndarray:
    """Return the connected component label of every atom.

    Parameters
    ----------
    g : Graph
        The atom graph.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> g = make_graph(np.ones(3), np.zeros((3, 2)), np.ones(3), np.ones(3),
    ...                adj=(np.array([0]), np.array([1]), np.array([1.0])), hi=500)
    >>> components(g).tolist()
    [0, 0, 1]

    """
    n = len(g.w)
    if n == 0:
        return np.empty(0, int)
    rows = [i for i in range(n) for _ in g.nbrs[i]]
    cols = [j for i in range(n) for j in g.nbrs[i]]
    mat = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return connected_components(mat, directed=False)[1]


def choose_p(total: float, *, lo: float, target: float, hi: float, n_max: int) -> int:
    """Return the number of regions closest to ``total / target`` keeping the band reachable.

    Parameters
    ----------
    total : float
        Households of the component.
    lo, target, hi : float
        The household band and its target.
    n_max : int
        Most regions possible (atoms with households).

    Returns
    -------
    int

    Examples
    --------
    >>> choose_p(600.0, lo=200, target=350, hi=500, n_max=3)
    2

    """
    if total <= 0 or n_max <= 1:
        return 1
    p = max(1, round(total / target))
    p_lo = max(1, math.ceil(total / hi))
    p_hi = max(1, math.floor(total / lo))
    if p_lo <= p_hi:
        p = min(max(p, p_lo), p_hi)
    return int(max(1, min(p, n_max)))


class _State:
    """Region labels with running weight, area and perimeter per region."""

    def __init__(
        self,
        g: Graph,
        labels: np.ndarray,
        atoms: np.ndarray,
        *,
        lo: float,
        target: float,
        hi: float,
    ) -> None:
        self.g = g
        self.lab = labels  # global array, only ``atoms`` are used
        self.atoms = atoms
        self.lo, self.target, self.hi = float(lo), float(target), float(hi)
        regions = np.unique(labels[atoms])
        self.members: dict[int, set[int]] = {int(r): set() for r in regions}
        for a in atoms.tolist():
            self.members[int(labels[a])].add(a)
        self.h = {r: float(g.w[list(m)].sum()) for r, m in self.members.items()}
        self.A = {r: float(g.area[list(m)].sum()) for r, m in self.members.items()}
        self.P = {r: self._perimeter(m) for r, m in self.members.items()}

    def _perimeter(self, members: set[int]) -> float:
        g = self.g
        p = 0.0
        for a in members:
            p += g.perim[a]
            for b, s in zip(g.nbrs[a], g.shared[a], strict=True):
                if b in members:
                    p -= s
        return p

    def band_cost(self, h: float) -> float:
        t = self.target
        viol = max(0.0, self.lo - h) + max(0.0, h - self.hi)
        return W_BAND * viol / t + W_TARGET * ((h - t) / t) ** 2

    def compact_cost(self, perim: float, area: float) -> float:
        if area <= 0:
            return 0.0
        return W_COMPACT * perim * perim / (4.0 * math.pi * area)

    def region_cost(self, r: int) -> float:
        return self.band_cost(self.h[r]) + self.compact_cost(self.P[r], self.A[r])

    def connected_without(self, r: int, a: int) -> bool:
        """Whether region ``r`` stays connected when atom ``a`` leaves it."""
        g = self.g
        mem = self.members[r]
        inside = [b for b in g.nbrs[a] if b in mem]
        if len(inside) <= 1:
            return True
        start = inside[0]
        seen = {a, start}
        queue = deque([start])
        need = len(mem)
        while queue:
            x = queue.popleft()
            for y in g.nbrs[x]:
                if y in mem and y not in seen:
                    seen.add(y)
                    queue.append(y)
        return len(seen) == need

    def move(self, a: int, r_from: int, r_to: int, s_from: float, s_to: float) -> None:
        g = self.g
        self.members[r_from].discard(a)
        self.members[r_to].add(a)
        self.lab[a] = r_to
        w = g.w[a]
        self.h[r_from] -= w
        self.h[r_to] += w
        self.A[r_from] -= g.area[a]
        self.A[r_to] += g.area[a]
        self.P[r_from] += -g.perim[a] + 2.0 * s_from
        self.P[r_to] += g.perim[a] - 2.0 * s_to

    def local_search(self) -> None:
        """Move boundary atoms while the cost goes down (first improvement, fixed order)."""
        g = self.g
        order = self.atoms.tolist()
        for _ in range(MAX_PASSES):
            moved = 0
            for a in order:
                if g.pinned[a] or len(self.members[int(self.lab[a])]) <= 1:
                    continue
                ra = int(self.lab[a])
                sh: dict[int, float] = {}  # shared boundary with each region around ``a``
                for b, s in zip(g.nbrs[a], g.shared[a], strict=True):
                    rb = int(self.lab[b])
                    sh[rb] = sh.get(rb, 0.0) + s
                if len(sh) == 1 and ra in sh:  # interior atom
                    continue
                best_r = self.best_move(a, ra, sh)
                if best_r < 0 or not self.connected_without(ra, a):
                    continue
                self.move(a, ra, best_r, sh.get(ra, 0.0), sh[best_r])
                moved += 1
            if moved == 0:
                break

    def best_move(self, a: int, ra: int, sh: dict[int, float]) -> int:
        """Return the neighbouring region whose taking ``a`` lowers the cost most, or -1."""
        g = self.g
        s_from = sh.get(ra, 0.0)
        w, ar, pe = g.w[a], g.area[a], g.perim[a]
        base_from = self.region_cost(ra)
        new_from = self.band_cost(self.h[ra] - w) + self.compact_cost(
            self.P[ra] - pe + 2.0 * s_from, self.A[ra] - ar
        )
        best, best_r = -MIN_GAIN, -1
        for rb in sorted(sh):
            if rb == ra:
                continue
            d = (
                new_from
                - base_from
                + self.band_cost(self.h[rb] + w)
                + self.compact_cost(self.P[rb] + pe - 2.0 * sh[rb], self.A[rb] + ar)
                - self.region_cost(rb)
            )
            if d < best:
                best, best_r = d, rb
        return best_r


def _kmeans_seeds(g: Graph, atoms: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """``k`` seed atoms by weighted k-means on atom centroids (k-means++ start)."""
    pos = atoms[g.w[atoms] > 0]
    if len(pos) < k:
        pos = atoms
    xy = g.xy[pos]
    wt = np.maximum(g.w[pos], 1e-9)
    centers = [xy[int(rng.choice(len(pos), p=wt / wt.sum()))]]
    for _ in range(1, k):
        d2 = np.min(((xy[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        pr = d2 * wt
        if pr.sum() <= 0:
            pr = wt
        centers.append(xy[int(rng.choice(len(pos), p=pr / pr.sum()))])
    c = np.asarray(centers, float)
    for _ in range(15):
        d2 = ((xy[:, None, :] - c[None]) ** 2).sum(-1)
        lab = d2.argmin(1)
        sw = np.bincount(lab, weights=wt, minlength=k)
        has = sw > 0
        for dim in (0, 1):
            sx = np.bincount(lab, weights=wt * xy[:, dim], minlength=k)
            c[has, dim] = sx[has] / sw[has]
    seeds: list[int] = []
    taken: set[int] = set()
    for j in range(k):
        d2 = ((xy - c[j]) ** 2).sum(1)
        for idx in np.argsort(d2, kind="stable"):
            a = int(pos[idx])
            if a not in taken:
                seeds.append(a)
                taken.add(a)
                break
    return seeds


def grow(g: Graph, atoms: np.ndarray, seeds: list[int], labels: np.ndarray, first: int) -> None:
    """Balanced region growing from ``seeds`` over ``atoms``; labels start at ``first``.

    Parameters
    ----------
    g : Graph
        The atom graph.
    atoms : ndarray of int
        The atoms to label.
    seeds : list of int
        One seed atom per region.
    labels : ndarray of int
        Written in place for ``atoms``.
    first : int
        Label of the first region.

    Examples
    --------
    >>> import numpy as np
    >>> g = make_graph(np.array([150.0, 200.0, 250.0]), np.c_[[0, 10, 20], [0, 0, 0]],
    ...                np.full(3, 100.0), np.full(3, 40.0),
    ...                adj=(np.array([0, 1]), np.array([1, 2]), np.array([10.0, 10.0])), hi=500)
    >>> labels = np.full(3, -1)
    >>> grow(g, np.arange(3), [0, 2], labels, 0)
    >>> labels.tolist()
    [0, 0, 1]

    """
    allowed = np.zeros(len(g.w), bool)
    allowed[atoms] = True
    free = allowed.copy()
    frontier: list[list[tuple[float, int]]] = []
    heap: list[tuple[float, int]] = []
    weight = []
    cxy = []
    for r, s in enumerate(seeds):
        labels[s] = first + r
        free[s] = False
        weight.append(float(g.w[s]))
        cxy.append(g.xy[s])
        fr: list[tuple[float, int]] = []
        for b in g.nbrs[s]:
            if free[b]:
                heapq.heappush(fr, (float(((g.xy[b] - g.xy[s]) ** 2).sum()), b))
        frontier.append(fr)
        if not g.pinned[s]:
            heapq.heappush(heap, (weight[r], r))
    while heap:  # the lightest region takes the nearest free atom on its frontier
        _, r = heapq.heappop(heap)
        a = _claim_next(g, frontier[r], free, labels, label=first + r, centre=cxy[r])
        if a >= 0:
            weight[r] += float(g.w[a])
            heapq.heappush(heap, (weight[r], r))
    # atoms cut off behind pinned regions (or everything, if all seeds are pinned)
    if free[atoms].any():
        heap = [(0.0, r) for r, s in enumerate(seeds) if g.pinned[s]]
        while heap:
            _, r = heapq.heappop(heap)
            if _claim_next(g, frontier[r], free, labels, label=first + r, centre=cxy[r]) >= 0:
                heapq.heappush(heap, (0.0, r))


def _claim_next(
    g: Graph,
    fr: list[tuple[float, int]],
    free: np.ndarray,
    labels: np.ndarray,
    *,
    label: int,
    centre: np.ndarray,
) -> int:
    """Give ``label`` the nearest free atom on frontier ``fr``; -1 when none is left."""
    while fr and not free[fr[0][1]]:
        heapq.heappop(fr)
    if not fr:
        return -1
    _, a = heapq.heappop(fr)
    labels[a] = label
    free[a] = False
    for b in g.nbrs[a]:
        if free[b]:
            heapq.heappush(fr, (float(((g.xy[b] - centre) ** 2).sum()), b))
    return a


def _split_region(g: Graph, st: _State, r: int, new_r: int, rng: np.random.Generator) -> bool:
    """Split region ``r`` in two by growing from two k-means seeds; True when done."""
    mem = np.asarray(sorted(st.members[r]))
    if len(mem) < 2 or g.pinned[mem].any():
        return False
    seeds = _kmeans_seeds(g, mem, 2, rng)
    if len(set(seeds)) < 2:
        return False
    tmp = st.lab.copy()
    grow(g, mem, seeds, tmp, 0)
    st.lab[mem] = np.where(tmp[mem] == 0, r, new_r)
    return True


def _merge_light(
    g: Graph, st: _State, atoms: np.ndarray, *, lo: float, target: float, hi: float
) -> tuple[_State, bool]:
    """Merge regions below ``lo`` into the lightest neighbour that keeps them within ``hi``."""
    changed = False
    for r in sorted(st.members, key=lambda x: (st.h[x], x)):
        if r not in st.members or st.h[r] >= lo or len(st.members) <= 1:
            continue
        if any(g.pinned[a] for a in st.members[r]):
            continue
        nb: set[int] = set()
        for a in st.members[r]:
            nb.update(int(st.lab[b]) for b in g.nbrs[a])
        nb.discard(r)
        cand = sorted(
            (st.h[q] + st.h[r], q) for q in nb if st.h[q] + st.h[r] <= hi and q in st.members
        )
        if not cand:
            continue
        q = cand[0][1]
        for a in st.members[r]:
            st.lab[a] = q
        changed = True
        st = _State(g, st.lab, atoms, lo=lo, target=target, hi=hi)
    return st, changed


def partition_component(
    g: Graph,
    atoms: np.ndarray,
    labels: np.ndarray,
    first: int,
    *,
    lo: float,
    target: float,
    hi: float,
    rng: np.random.Generator,
) -> int:
    """Partition one connected component; write labels from ``first``; return next label.

    Parameters
    ----------
    g : Graph
        The atom graph.
    atoms : ndarray of int
        The atoms of one connected component.
    labels : ndarray of int
        Written in place for ``atoms``.
    first : int
        Label of the first region.
    lo, target, hi : float
        The household band and its target.
    rng : numpy.random.Generator
        Draws the k-means seeds.

    Returns
    -------
    int
        The next free label.

    Examples
    --------
    >>> import numpy as np
    >>> g = make_graph(np.array([150.0, 200.0, 250.0]), np.c_[[0, 10, 20], [0, 0, 0]],
    ...                np.full(3, 100.0), np.full(3, 40.0),
    ...                adj=(np.array([0, 1]), np.array([1, 2]), np.array([10.0, 10.0])), hi=500)
    >>> labels = np.full(3, -1)
    >>> partition_component(g, np.arange(3), labels, 5, lo=200, target=350, hi=500,
    ...                     rng=np.random.default_rng(0)), labels.tolist()
    (7, [6, 6, 5])

    """
    total = float(g.w[atoms].sum())
    pinned = [int(a) for a in atoms if g.pinned[a]]
    rest = atoms[~g.pinned[atoms]]
    rest_total = total - float(g.w[pinned].sum()) if pinned else total
    n_pos = int((g.w[rest] > 0).sum())
    if rest_total > 0:
        p_rest = choose_p(rest_total, lo=lo, target=target, hi=hi, n_max=max(1, n_pos))
    else:
        p_rest = 0 if pinned else 1
    if len(atoms) == 1 or (not pinned and p_rest == 1):
        labels[atoms] = first
        return first + 1
    seeds = list(pinned)
    if p_rest:
        seeds += _kmeans_seeds(g, rest, p_rest, rng)
    grow(g, atoms, seeds, labels, first)
    st = _State(g, labels, atoms, lo=lo, target=target, hi=hi)
    st.local_search()
    nxt = first + len(seeds)
    for _ in range(MAX_ROUNDS):
        st, changed = _merge_light(g, st, atoms, lo=lo, target=target, hi=hi)
        # split heavy regions
        for r in sorted(st.members):
            if st.h[r] > hi and _split_region(g, st, r, nxt, rng):
                nxt += 1
                changed = True
        if not changed:
            break
        st = _State(g, st.lab, atoms, lo=lo, target=target, hi=hi)
        st.local_search()
    return nxt


def partition_graph(g: Graph, *, lo: float, target: float, hi: float, seed: int = 0) -> np.ndarray:
    """Partition every connected component into contiguous regions inside the band.

    Parameters
    ----------
    g : Graph
        The atom graph of one community.
    lo, target, hi : float
        The household band and its target.
    seed : int
        RNG seed (k-means seeds); the same graph and seed give the same regions.

    Returns
    -------
    ndarray of int
        Region label of every atom, 0..p-1.

    Examples
    --------
    >>> import numpy as np
    >>> g = make_graph(np.array([150.0, 200.0, 250.0]), np.c_[[0, 10, 20], [0, 0, 0]],
    ...                np.full(3, 100.0), np.full(3, 40.0),
    ...                adj=(np.array([0, 1]), np.array([1, 2]), np.array([10.0, 10.0])), hi=500)
    >>> partition_graph(g, lo=200, target=350, hi=500).tolist()
    [1, 1, 0]

    """
    n = len(g.w)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    rng = np.random.default_rng(seed)
    comp = components(g)
    nxt = 0
    for c in np.unique(comp):
        atoms = np.flatnonzero(comp == c)
        nxt = partition_component(g, atoms, labels, nxt, lo=lo, target=target, hi=hi, rng=rng)
    # compact the labels to 0..p-1
    _, labels = np.unique(labels, return_inverse=True)
    return labels
