"""Benchmark: geogrid grid partition vs spopt regionalization on the same atoms.

Peers (spopt 0.7, same process, same atoms, same adjacency):

* ``MaxPHeuristic`` with a households floor (threshold 200 households; attributes: atom
  centroid x, y, so it also seeks compact regions);
* ``Skater`` with the same number of regions as geogrid (attributes x, y).

Metrics per method: share of grids inside the 200-500 band, CV of households, mean
Polsby-Popper of the dissolved grids, contiguity, seconds spent partitioning the atoms.
Also times the full pipeline (atoms + partition + band certificates + report) at scale,
gives the share of communities proven feasible, proven infeasible and unknown, and times
redrawing one community (its atoms kept: partition + certificate).

Run: ``python benchmarks/bench_grids.py`` (300 communities, 20 for the peers) or
``python benchmarks/bench_grids.py --quick`` (20 communities, 6 for the peers).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, box

from geogrid.analyses.grids import certificate as _cert
from geogrid.analyses.grids import search as _search
from geogrid.analyses.grids.atoms import adjacency
from geogrid.analyses.grids.certificate import certify
from geogrid.analyses.grids.partition import partition
from geogrid.analyses.grids.search import components, make_graph, partition_graph

LO, TARGET, HI = 200.0, 350.0, 500.0


def demo_inputs(n_communities: int, seed: int = 0):
    """Demo district from geogrid.demo when available, else a simple street-grid city."""
    try:
        from geogrid.demo import make_district

        d = make_district(n_communities=n_communities, seed=seed)
        from geogrid.study.demand import estimate_households

        b = estimate_households(d.buildings)
        walls = d.walls
        ways = d.ways
        if "compound_id" in ways.columns:  # public streets cut blocks; walls cut compounds
            ways = ways[ways["compound_id"].isna()]
        return d.communities, b, ways, walls, "geogrid.demo.make_district"
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    nx = int(math.ceil(math.sqrt(n_communities)))
    comms, bld, edges = [], [], []
    w = h = 600.0
    x00, y00 = 500000.0, 4000000.0
    for k in range(n_communities):
        cx, cy = k % nx, k // nx
        x0, y0 = x00 + cx * w, y00 + cy * h
        code = f"150203{k // 100 + 1:03d}{k % 100 + 1:03d}"
        comms.append(
            {"community_code": code, "name": f"C{k}", "geometry": box(x0, y0, x0 + w, y0 + h)}
        )
        for bx in np.arange(x0 + 35, x0 + w - 22, 36):
            for by in np.arange(y0 + 15, y0 + h - 50, 62):
                rx, ry = (bx - x0) % 150, (by - y0) % 150
                if rx < 35 or ry < 15 or rx > 128 or ry > 100:
                    continue
                hh = float(
                    rng.choice(
                        [12, 24, 36, 54, 90, 180, 320], p=[0.3, 0.25, 0.15, 0.12, 0.1, 0.05, 0.03]
                    )
                )
                bld.append({"households": hh, "geometry": box(bx, by, bx + 20, by + 45)})
    ny = int(math.ceil(n_communities / nx))
    for x in np.arange(x00, x00 + nx * w + 1, 150):
        edges.append(LineString([(x, y00), (x, y00 + ny * h)]))
    for y in np.arange(y00, y00 + ny * h + 1, 150):
        edges.append(LineString([(x00, y), (x00 + nx * w, y)]))
    crs = "EPSG:4546"
    return (
        gpd.GeoDataFrame(comms, crs=crs),
        gpd.GeoDataFrame(bld, crs=crs),
        gpd.GeoDataFrame(geometry=edges, crs=crs),
        None,
        "built-in street grid (geogrid.demo not available)",
    )


def _metrics(name: str, polys: list, hh: np.ndarray, seconds: float) -> dict:
    geoms = np.asarray(polys, dtype=object)
    pp = 4 * math.pi * shapely.area(geoms) / shapely.length(geoms) ** 2
    return {
        "method": name,
        "grids": len(hh),
        "in_band": float(((hh >= LO) & (hh <= HI)).mean()),
        "above_floor": float((hh >= LO).mean()),
        "hh_cv": float(hh.std() / hh.mean()),
        "hh_min": float(hh.min()),
        "hh_max": float(hh.max()),
        "pp_mean": float(np.mean(pp)),
        "contiguous": float((shapely.get_type_id(geoms) == 3).mean()),
        "seconds": seconds,
    }


def compare_on_atoms(atoms: gpd.GeoDataFrame, n_peer: int, seed: int = 0) -> pd.DataFrame:
    """Ours vs MaxP vs SKATER on the atoms of the first ``n_peer`` communities."""
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic, Skater

    codes = sorted(atoms["community_code"].unique())[:n_peer]
    res: dict[str, tuple[list, list, float]] = {
        k: ([], [], 0.0) for k in ("geogrid", "maxp", "skater")
    }

    def add(key, polys, hh, dt):
        p, h, t = res[key]
        res[key] = (p + polys, h + hh, t + dt)

    for code in codes:
        sub = atoms[atoms["community_code"] == code].reset_index(drop=True)
        geoms = np.asarray(sub.geometry.values, dtype=object)
        hh = sub["households"].to_numpy(float)
        i, j, s = adjacency(geoms)
        xy = shapely.get_coordinates(shapely.centroid(geoms))
        t = time.perf_counter()
        g = make_graph(hh, xy, shapely.area(geoms), shapely.length(geoms), adj=(i, j, s), hi=HI)
        lab = partition_graph(g, lo=LO, target=TARGET, hi=HI, seed=seed)
        dt = time.perf_counter() - t
        p = int(lab.max()) + 1
        add(
            "geogrid",
            [shapely.union_all(geoms[lab == r]) for r in range(p)],
            list(np.bincount(lab, weights=hh, minlength=p)),
            dt,
        )
        neigh = {k: [] for k in range(len(geoms))}
        for a, b in zip(i.tolist(), j.tolist(), strict=True):
            neigh[a].append(b)
            neigh[b].append(a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = W(neigh, silence_warnings=True)
        df = sub[["households", "geometry"]].copy()
        df["x"], df["y"] = xy[:, 0], xy[:, 1]
        for key in ("maxp", "skater"):
            np.random.seed(seed)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    if key == "maxp":
                        m = MaxPHeuristic(
                            df,
                            w,
                            ["x", "y"],
                            "households",
                            LO,
                            top_n=2,
                            max_iterations_construction=20,
                            max_iterations_sa=5,
                        )
                    else:
                        m = Skater(df, w, ["x", "y"], n_clusters=p, floor=1)
                    m.solve()
                    lab2 = np.asarray(m.labels_)
                except Exception as exc:  # noqa: BLE001 - peer failures are reported
                    logging.warning("%s failed on %s: %s", key, code, exc)
                    lab2 = np.zeros(len(geoms), int)
            dt = time.perf_counter() - t
            _, lab2 = np.unique(lab2, return_inverse=True)
            p2 = int(lab2.max()) + 1
            add(
                key,
                [shapely.union_all(geoms[lab2 == r]) for r in range(p2)],
                list(np.bincount(lab2, weights=hh, minlength=p2)),
                dt,
            )
    rows = [_metrics(k, v[0], np.asarray(v[1]), v[2]) for k, v in res.items()]
    return pd.DataFrame(rows).set_index("method")


def certificate_table(cert: pd.DataFrame) -> pd.DataFrame:
    """Communities and shares per certificate status, with how each was settled."""
    rows = []
    for status in ("feasible", "infeasible", "unknown"):
        sub = cert[cert["status"] == status]
        by = sub["method"].value_counts().sort_index()
        rows.append(
            {
                "status": status,
                "communities": len(sub),
                "share": len(sub) / max(len(cert), 1),
                "settled_by": ", ".join(f"{k} {v}" for k, v in by.items()) or "-",
            }
        )
    return pd.DataFrame(rows).set_index("status")


def redraw_seconds(
    atoms: gpd.GeoDataFrame, n: int = 30
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds to redraw one community from its atoms: wall, the certificate's part, CPU."""
    total, cert, cpu = [], [], []
    for code in sorted(atoms["community_code"].unique())[:n]:
        sub = atoms[atoms["community_code"] == code]
        geoms = np.asarray(sub.geometry.values, dtype=object)
        hh = sub["households"].to_numpy(float)
        t, c = time.perf_counter(), time.process_time()
        i, j, s = adjacency(geoms)
        xy = shapely.get_coordinates(shapely.centroid(geoms))
        g = make_graph(hh, xy, shapely.area(geoms), shapely.length(geoms), adj=(i, j, s), hi=HI)
        lab = partition_graph(g, lo=LO, target=TARGET, hi=HI, seed=0)
        t1 = time.perf_counter()
        names = [str(k) for k in range(len(hh))]
        certify(g.w, g.nbrs, components(g), lab, names, lo=LO, hi=HI, balance=False)
        t2 = time.perf_counter()
        total.append(t2 - t)
        cert.append(t2 - t1)
        cpu.append(time.process_time() - c)
    return np.asarray(total), np.asarray(cert), np.asarray(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small size (20 communities)")
    ap.add_argument("--communities", type=int, default=None)
    ap.add_argument("--peer-communities", type=int, default=None)
    args = ap.parse_args()
    n = args.communities or (20 if args.quick else 300)
    n_peer = args.peer_communities or (6 if args.quick else 20)
    t = time.perf_counter()
    comm, dem, ways, walls, source = demo_inputs(n)
    print(
        f"data: {source}: {len(comm)} communities, {len(dem)} buildings, "
        f"{dem['households'].sum():,.0f} households ({time.perf_counter() - t:.1f} s)"
    )

    spent = {"certify": 0.0, "restarts": 0.0}
    real_certify, real_pg = _cert.certify, _search.partition_graph

    def timed_certify(*a, **k):
        t0 = time.process_time()
        try:
            return real_certify(*a, **k)
        finally:
            spent["certify"] += time.process_time() - t0

    def timed_pg(*a, **k):
        t0 = time.process_time()
        try:
            return real_pg(*a, **k)
        finally:
            if k.get("seed", 0) != 0:
                spent["restarts"] += time.process_time() - t0

    _cert.certify, _search.partition_graph = timed_certify, timed_pg
    t, c = time.perf_counter(), time.process_time()
    try:
        res = partition(comm, dem, network_edges=ways, walls=walls, seed=0)
    finally:
        _cert.certify, _search.partition_graph = real_certify, real_pg
    full, cpu = time.perf_counter() - t, time.process_time() - c
    q = res.quality.iloc[0]
    print(
        f"\nfull pipeline (atoms + partition + certificates + report): {len(comm)} communities "
        f"-> {len(res.grids)} grids in {full:.1f} s wall, {cpu:.1f} s CPU of this process; "
        f"certificates {spent['certify']:.1f} s CPU, heuristic restarts "
        f"{spent['restarts']:.1f} s CPU"
    )
    print(q.to_string())
    print("\nband certificates per community:")
    print(certificate_table(res.certificates).to_string(float_format=lambda v: f"{v:.1%}"))
    big = res.grids[~res.grids["area_plausible"]]
    print(f"grids above the plausible area for their households: {len(big)}")
    if len(big):
        print(big[["grid_code", "households", "area_m2", "n_units"]].to_string(index=False))
    rd, rc, rcpu = redraw_seconds(res.atoms)
    print(
        f"redraw one community (atoms kept; {len(rd)} communities): median "
        f"{np.median(rd) * 1000:.0f} ms wall ({np.median(rcpu) * 1000:.0f} ms CPU), max "
        f"{rd.max() * 1000:.0f} ms wall ({rcpu.max() * 1000:.0f} ms CPU); of which the "
        f"certificate median {np.median(rc) * 1000:.1f} ms, max {rc.max() * 1000:.1f} ms"
    )
    t = time.perf_counter()
    res2 = partition(comm, dem, network_edges=ways, walls=walls, seed=0)
    print(
        f"same seed again ({time.perf_counter() - t:.1f} s): identical = "
        f"{res2.assignment.equals(res.assignment)}"
    )

    atoms = res.atoms  # the atoms partition() built (same as grid_atoms(...))
    table = compare_on_atoms(atoms, n_peer)
    first = sorted(atoms["community_code"].unique())[:n_peer]
    n_atoms = int(atoms["community_code"].isin(first).sum())
    print(f"\nsame atoms, first {n_peer} communities ({n_atoms} atoms):")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    ours = table.loc["geogrid"]
    for peer in ("maxp", "skater"):
        r = table.loc[peer]
        print(
            f"geogrid vs {peer}: in-band {ours.in_band:.1%} vs {r.in_band:.1%}, "
            f"PP {ours.pp_mean / r.pp_mean:.2f}x, "
            f"time {r.seconds / max(ours.seconds, 1e-9):.1f}x faster"
        )


if __name__ == "__main__":
    main()
