"""Benchmark siting: sparse reach build, greedy against HiGHS, and spopt on the same costs.

    python benchmarks/bench_siting.py [--quick] [--only matrix solvers spopt curve large pmedian]
    python benchmarks/bench_siting.py --only spopt-ratios [--quick] [--spopt-limit 600]

1. Sparse candidate x demand reach within 1,000 m (15 minutes at 4 km/h): 5,000 candidates x
   300,000 demand points sampled inside the buildings of ``make_district(n_communities=300)``
   (households-weighted), against ``geogrid._paths.bounded_pairs`` (one Dijkstra per source
   over the whole network) on a 500-candidate slice. ``--quick``: 500 x 30,000 on 30 communities.
2. Greedy (CELF) against the HiGHS MIP on the demo district (``make_district()``, candidates
   every 100 m): MCLP k = 1..5 at 10 and 15 minutes, set cover to 95%, p-median k = 5.
3. spopt 0.7 (PuLP + CBC) ``MCLP``, ``LSCP`` and ``PMedian.from_cost_matrix`` on the same
   costs (our sparse matrix made dense; existing coverage folded in by dropping the units
   it already covers) against our HiGHS MIP: objective equality and time ratio.
4. The MCLP curve k = 1..10 on ``make_district(300)`` with the default (public) candidates,
   every point within 0.1%, and spopt's MCLP at k = 1 and 10 on the same costs.
5. 1,000,000 demand points x 20,000 candidates at 1 km, MCLP k = 50: demand atoms built
   without unit pairs (``cover_atoms``; ``--quick`` also builds today's pairs + aggregation
   and checks them equal), then greedy and swaps, Lagrangian and Benders-cut bounds, HiGHS
   over the candidates left open, within 60 s, with the gap and peak memory; spopt's MCLP on
   20,000 x 1,000 at k = 10.
6. The p-median curve k = 1..5 on the real Nanjing Xuanwu extract (method and gap per k), and
   spopt's PMedian on the same capped costs over every 2nd candidate (``--quick``: 4th).
7. ``spopt-ratios`` (not in the default run): spopt against ours on the same sparse costs at
   sizes CBC finishes: MCLP at 1 km k = 10 on 20,000 units x 1,000 candidates and the curve
   k = 1..5 on 10,000 x 500, LSCP, p-median (walk capped at 3 km) and p-centre on draws in
   ``make_district(30)``; a Markdown table of wall and CPU seconds (spopt's with CBC's child
   process), ratios and whether the objectives agree.
Wall times are noisy on a shared machine; the CPU seconds of our own process are reported too.
"""

from __future__ import annotations

import argparse
import functools
import logging
import time
import warnings

import numpy as np
import pandas as pd
import shapely

from geogrid.analyses.siting.matrix import coverage_pairs
from geogrid.analyses.siting.model import build_model, candidates
from geogrid.analyses.siting.pmedian import PmedianCurve
from geogrid.demo import make_district
from geogrid.network import paths as _paths
from geogrid.network.build import network_from_ways
from geogrid.network.snap import snap_points

warnings.filterwarnings("ignore")
logging.basicConfig(level=logging.WARNING)


def sample_points(buildings, n: int, seed: int = 0) -> np.ndarray:
    from geogrid.study.demand import prepare_demand

    dem = prepare_demand(buildings)
    rng = np.random.default_rng(seed)
    w = dem["households"].to_numpy(dtype=float)
    b = shapely.bounds(np.asarray(dem.geometry.values))
    i = rng.choice(len(dem), n, p=w / w.sum())
    return shapely.points(rng.uniform(b[i, 0], b[i, 2]), rng.uniform(b[i, 1], b[i, 3]))


def bench_matrix(quick: bool) -> list[dict]:
    n_comm, n_units, n_cand = (30, 30_000, 500) if quick else (300, 300_000, 5_000)
    t = time.perf_counter()
    d = make_district(n_communities=n_comm, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    pts = sample_points(d.buildings, n_units)
    units = snap_points(net, pts)
    rng = np.random.default_rng(1)
    e = rng.choice(net.n_edges, n_cand, replace=False)
    cp = shapely.line_interpolate_point(
        np.asarray(net.edges.geometry.values)[e], 0.5, normalized=True
    )
    cand = snap_points(net, cp)
    _ = net.csr
    setup = time.perf_counter() - t
    t = time.perf_counter()
    a = coverage_pairs(net, cand, units, 1000.0)
    ours = time.perf_counter() - t
    part = cand.take(np.arange(min(500, n_cand)))
    t = time.perf_counter()
    ref = _paths.bounded_pairs(net, part, units, 1000.0)
    ref_s = time.perf_counter() - t
    same = abs(a[: len(part)] - ref).max() if ref.nnz else 0.0
    return [
        {
            "case": f"reach {n_cand} cand x {n_units} units (net {net.n_nodes} nodes)",
            "ours_s": round(ours, 2),
            "pairs": a.nnz,
            "bounded_pairs_500_s": round(ref_s, 2),
            "bounded_pairs_est_all_s": round(ref_s * n_cand / len(part), 1),
            "max_abs_diff_m": float(same),
            "setup_s": round(setup, 1),
        }
    ]


def bench_solvers() -> tuple[list[dict], object]:
    d = make_district()
    net = network_from_ways(d.ways, residential=d.compounds)
    cands = candidates(net, every_m=100.0)
    rows = []
    models = {}
    for target in ("10min", "15min"):
        m = build_model(net, d.buildings, d.facilities, cands, target=target)
        models[target] = m
        for k in range(1, 6):
            g = m.maximal_coverage(k=k, solver="greedy")
            e = m.maximal_coverage(k=k, solver="exact", time_limit_s=120)
            rows.append(
                {
                    "problem": f"mclp {target} k={k}",
                    "greedy": round(g.objective, 2),
                    "exact": round(e.objective, 2),
                    "ratio": round(g.objective / e.objective, 4) if e.objective else 1.0,
                    "gap": e.gap,
                    "greedy_s": round(g.seconds, 3),
                    "exact_s": round(e.seconds, 2),
                }
            )
        g = m.set_cover(share=0.95, solver="greedy")
        e = m.set_cover(share=0.95, solver="exact", time_limit_s=120)
        rows.append(
            {
                "problem": f"set cover 95% {target}",
                "greedy": g.objective,
                "exact": e.objective,
                "ratio": round(e.objective / g.objective, 4) if g.objective else 1.0,
                "gap": e.gap,
                "greedy_s": round(g.seconds, 3),
                "exact_s": round(e.seconds, 2),
            }
        )
    m = models["10min"]
    g = m.p_median(k=5, solver="greedy")
    e = m.p_median(k=5, solver="exact", time_limit_s=120)
    rows.append(
        {
            "problem": "pmedian k=5 cap 2x10min",
            "greedy": round(g.objective, 1),
            "exact": round(e.objective, 1),
            "ratio": round(e.objective / g.objective, 4),
            "gap": e.gap,
            "greedy_s": round(g.seconds, 3),
            "exact_s": round(e.seconds, 2),
        }
    )
    return rows, models["10min"]


def bench_spopt(model, *, every: int) -> list[dict]:
    import pulp
    from spopt.locate import LSCP, MCLP, PMedian

    from geogrid.analyses.siting import solve as S

    sub = np.arange(0, model.cover.shape[0], every)
    cover = model.cover[sub]
    w = model.w
    open_units = np.flatnonzero(~model.covered0 & (w > 0) & (np.diff(cover.tocsc().indptr) > 0))
    dense = np.full((len(open_units), len(sub)), 1e7)
    c = cover[:, open_units].tocoo()
    dense[c.col, c.row] = c.data - 1e-9
    rows = []
    solver = pulp.PULP_CBC_CMD(msg=False)
    # MCLP
    k = 3
    t = time.perf_counter()
    sp = MCLP.from_cost_matrix(dense, w[open_units], model.limit_m, p_facilities=k).solve(solver)
    sp_s = time.perf_counter() - t
    sp_obj = pulp.value(sp.problem.objective)
    ours = S.exact_cover(cover, w, model.covered0, k=k)
    rows.append(
        {
            "problem": f"MCLP k={k} ({len(sub)} cand x {len(open_units)} units)",
            "spopt_obj": round(sp_obj, 4),
            "ours_obj": round(ours.objective, 4),
            "equal": bool(np.isclose(sp_obj, ours.objective, rtol=1e-6)),
            "spopt_s": round(sp_s, 2),
            "ours_s": round(ours.seconds, 3),
            "speedup": round(sp_s / max(ours.seconds, 1e-9), 1),
        }
    )
    # LSCP: every reachable unit not yet covered
    t = time.perf_counter()
    sp = LSCP.from_cost_matrix(dense, model.limit_m).solve(solver)
    sp_s = time.perf_counter() - t
    sp_obj = pulp.value(sp.problem.objective)
    need = float(w[open_units].sum())
    ours = S.exact_cover(cover, w, model.covered0, need_w=need)
    rows.append(
        {
            "problem": f"LSCP ({len(sub)} cand x {len(open_units)} units)",
            "spopt_obj": sp_obj,
            "ours_obj": ours.objective,
            "equal": bool(np.isclose(sp_obj, ours.objective)),
            "spopt_s": round(sp_s, 2),
            "ours_s": round(ours.seconds, 3),
            "speedup": round(sp_s / max(ours.seconds, 1e-9), 1),
        }
    )
    # p-median without existing facilities on min(distance, cap)
    cap = 2.0 * model.limit_m
    dist = model.distances(cap)[sub[::2]]
    units = np.flatnonzero(w > 0)
    dm = np.full((len(units), dist.shape[0]), cap)
    dc = dist[:, units].tocoo()
    dm[dc.col, dc.row] = np.minimum(dc.data - 1e-9, cap)
    k = 4
    t = time.perf_counter()
    sp = PMedian.from_cost_matrix(dm, w[units], p_facilities=k).solve(solver)
    sp_s = time.perf_counter() - t
    sp_obj = pulp.value(sp.problem.objective)
    base = np.full(len(w), cap)
    ours = PmedianCurve(dist, w, base).solve(k)
    rows.append(
        {
            "problem": f"PMedian k={k} cap {cap:.0f} m ({dist.shape[0]} cand x {len(units)} units)",
            "spopt_obj": round(sp_obj, 2),
            "ours_obj": round(ours.objective, 2),
            "equal": bool(np.isclose(sp_obj, ours.objective, rtol=1e-6)),
            "spopt_s": round(sp_s, 2),
            "ours_s": round(ours.seconds, 3),
            "speedup": round(sp_s / max(ours.seconds, 1e-9), 1),
        }
    )
    return rows


def _spopt_mclp(cover, w, covered0, k: int, limit_m: float, time_limit_s: float) -> dict:
    """spopt MCLP (PuLP + CBC) on the same sparse costs, made dense over open units."""
    import pulp
    from spopt.locate import MCLP

    open_units = np.flatnonzero(~covered0 & (w > 0) & (np.diff(cover.tocsc().indptr) > 0))
    rows = np.flatnonzero(np.diff(cover[:, open_units].tocsr().indptr) > 0)
    dense = np.full((len(open_units), len(rows)), 1e7)
    c = cover[rows][:, open_units].tocoo()
    dense[c.col, c.row] = c.data - 1e-9
    t = time.perf_counter()
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)
    sp = MCLP.from_cost_matrix(dense, w[open_units], limit_m, p_facilities=k).solve(solver)
    sec = time.perf_counter() - t
    status = pulp.LpStatus[sp.problem.status]
    return {
        "obj": pulp.value(sp.problem.objective),
        "s": sec,
        "status": status,
        "finished": status == "Optimal" and sec < time_limit_s,
        "size": f"{len(rows)} cand x {len(open_units)} units",
    }


def bench_curve(n_comm: int, kmax: int, spopt_limit_s: float) -> list[dict]:
    """MCLP k = 1..kmax on make_district(n_comm), default (public) candidates, gap <= 0.1%."""
    from geogrid.analyses.siting.model import run_siting

    d = make_district(n_communities=n_comm, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    t = time.perf_counter()
    res = run_siting(
        net,
        d.buildings,
        d.facilities,
        k=kmax,
        compounds=d.compounds,
        gates=d.gates,
        solver="exact",
        mip_rel_gap=1e-3,
        time_limit_s=60,
    )
    total = time.perf_counter() - t
    tm = res.timing
    m = res.model
    rows = [
        {
            "case": f"MCLP curve k=1..{kmax}, {n_comm} communities "
            f"({len(m.candidates)} public cand x {len(m.demand)} units, {m.cover.nnz} pairs)",
            "curve_s": round(tm["exact_s"], 2),
            "curve_cpu_s": round(tm["exact_cpu_s"], 2),
            "matrix_s": round(tm["matrix_s"] + tm["existing_s"], 2),
            "run_siting_s": round(total, 2),
            "points_exact": int((res.curve["status"] == "exact").sum()),
            "max_gap": float(res.curve["gap"].iloc[1:].max()),
            "per_k_s": tm["exact_per_k_s"],
        }
    ]
    print(pd.DataFrame(rows).to_string(index=False), flush=True)
    if spopt_limit_s > 0:
        for k in (1, kmax):
            sp = _spopt_mclp(m.cover, m.w, m.covered0, k, m.limit_m, spopt_limit_s)
            ours = res.curve[res.curve["n_new_sites"] == k]
            ours_s = tm["exact_per_k_s"][k - 1]
            rows.append(
                {
                    "case": f"  spopt MCLP k={k} ({sp['size']}, CBC limit {spopt_limit_s:.0f} s)",
                    "spopt_s": round(sp["s"], 2),
                    "spopt_status": sp["status"],
                    "spopt_obj": round(sp["obj"], 2) if sp["obj"] is not None else None,
                    "ours_obj": float(ours["objective"].iloc[0]),
                    "ours_s": round(ours_s, 3),
                    "ratio": round(sp["s"] / max(ours_s, 1e-3), 1) if sp["finished"] else None,
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    return rows


def _large_instance(n_units: int, n_cand: int) -> tuple:
    """Demand points in the buildings of make_district(300), candidates on random edges."""
    d = make_district(n_communities=300, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    pts = sample_points(d.buildings, n_units)
    units = snap_points(net, pts)
    rng = np.random.default_rng(1)
    e = rng.choice(net.n_edges, n_cand, replace=False)
    cp = shapely.line_interpolate_point(
        np.asarray(net.edges.geometry.values)[e], rng.uniform(0, 1, n_cand), normalized=True
    )
    cand = snap_points(net, cp)
    _ = net.csr
    return net, cand, units


def bench_large(
    n_units: int, n_cand: int, k: int, time_limit_s: float = 60.0, *, reference: bool = False
) -> list[dict]:
    """n_units demand points x n_cand candidates at 1 km, MCLP k, on make_district(300).

    The atoms are built by ``cover_atoms`` (walk graph, tiled searches, per-edge keys; no
    unit pairs stored); with ``reference`` also by today's ``coverage_pairs`` +
    ``reduce_cover`` (the pairs, 9 GB at 1 M x 20 k), checked equal. Then greedy + swaps,
    Lagrangian and Benders-cut bounds, HiGHS over the candidates left open
    (``MclpCurve.solve``) within ``time_limit_s``; the gap reported.
    """
    import resource

    from geogrid.analyses.siting import solve as S
    from geogrid.analyses.siting.matrix import cover_atoms

    t = time.perf_counter()
    net, cand, units = _large_instance(n_units, n_cand)
    print(
        f"instance (district, network, {n_units} points snapped): {time.perf_counter() - t:.1f} s"
    )
    t, c0 = time.perf_counter(), time.process_time()
    _paths.walk_graph(net)  # the residents' graph, shared by both paths (timed apart)
    graph_s, graph_cpu = time.perf_counter() - t, time.process_time() - c0
    w = np.ones(n_units)
    rows = []

    def rss() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)

    t, c0 = time.perf_counter(), time.process_time()
    atoms = cover_atoms(net, cand, units, 1000.0, w)
    build_s, build_cpu = time.perf_counter() - t, time.process_time() - c0
    rows.append(
        {
            "case": f"atoms, {n_units} units x {n_cand} cand at 1 km (cover_atoms)",
            "build_s": round(build_s, 1),
            "build_cpu_s": round(build_cpu, 1),
            "atoms": atoms.n_atoms,
            "atom_pairs": atoms.mat.nnz,
            "peak_rss_gb": rss(),
            "walk_graph_s": round(graph_s, 1),
            "walk_graph_cpu_s": round(graph_cpu, 1),
        }
    )
    print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    if reference:
        t, c0 = time.perf_counter(), time.process_time()
        cover = coverage_pairs(net, cand, units, 1000.0)
        red = S.reduce_cover(cover, w, np.ones(n_units, bool), keep=np.arange(n_cand))
        ref_s, ref_cpu = time.perf_counter() - t, time.process_time() - c0
        same = (red.mat != atoms.mat).nnz == 0 and np.array_equal(red.weight, atoms.weight)
        rows.append(
            {
                "case": f"  today: coverage_pairs ({cover.nnz} pairs) + reduce_cover",
                "build_s": round(ref_s, 1),
                "build_cpu_s": round(ref_cpu, 1),
                "atoms": red.mat.shape[1],
                "atom_pairs": red.mat.nnz,
                "peak_rss_gb": rss(),
                "same_atoms": same,
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
        del cover, red
    # end to end within ``time_limit_s``: the solve gets what the build left of the budget
    left = max(time_limit_s - graph_s - build_s, 1.0)
    t, c0 = time.perf_counter(), time.process_time()
    mc = S.MclpCurve.from_atoms(atoms.mat, atoms.weight, mip_rel_gap=1e-3, time_limit_s=left)
    setup_s, setup_cpu = time.perf_counter() - t, time.process_time() - c0
    mc.time_limit_s = max(left - setup_s, 1.0)
    c1 = time.process_time()
    sol = mc.solve(k)
    cpu = time.process_time() - c1
    rows.append(
        {
            "case": f"MCLP k={k} on the atoms (solve limit {mc.time_limit_s:.1f} s)",
            "build_s": round(build_s, 1),
            "build_cpu_s": round(build_cpu, 1),
            "atoms": mc.m,
            "cand_kept": mc.n,
            "setup_s": round(setup_s, 2),
            "setup_cpu_s": round(setup_cpu, 2),
            "solve_s": round(sol.seconds, 2),
            "solve_cpu_s": round(cpu, 2),
            "obj": round(sol.objective, 1),
            "bound": round(sol.bound, 1),
            "gap": round(sol.gap, 6),
            "status": sol.status,
            "method": sol.info["method"],
            "peak_rss_gb": rss(),
        }
    )
    total = graph_s + build_s + setup_s + sol.seconds
    total_cpu = graph_cpu + build_cpu + setup_cpu + cpu
    rows.append(
        {
            "case": f"end to end (walk graph + atoms + solve), budget {time_limit_s:.0f} s",
            "total_s": round(total, 1),
            "total_cpu_s": round(total_cpu, 1),
            "gap": round(sol.gap, 6),
            "met": bool(total <= time_limit_s + 1.0),
        }
    )
    return rows


def bench_large_spopt(n_units: int, n_cand: int, k: int, limit_s: float) -> list[dict]:
    """The same kind of instance at a size spopt (PuLP + CBC) can finish, both solvers."""
    from geogrid.analyses.siting import solve as S

    net, cand, units = _large_instance(n_units, n_cand)
    cover = coverage_pairs(net, cand, units, 1000.0)
    w = np.ones(n_units)
    covered0 = np.zeros(n_units, dtype=bool)
    t = time.perf_counter()
    sol = S.MclpCurve(cover, w, covered0, mip_rel_gap=1e-6, time_limit_s=60).solve(k)
    ours_s = time.perf_counter() - t
    try:
        sp = _spopt_mclp(cover, w, covered0, k, 1000.0, limit_s)
    except ImportError:
        return [{"case": "  spopt not installed (pip install -e .[bench])"}]
    return [
        {
            "case": f"  spopt MCLP k={k} ({sp['size']}, CBC limit {limit_s:.0f} s)",
            "spopt_s": round(sp["s"], 2),
            "spopt_status": sp["status"],
            "spopt_obj": sp["obj"],
            "ours_obj": sol.objective,
            "ours_gap": round(sol.gap, 8),
            "ours_s": round(ours_s, 3),
            "ratio": round(sp["s"] / max(ours_s, 1e-3), 1) if sp["finished"] else None,
        }
    ]


def bench_nanjing_pmedian(k: int, spopt_every: int, spopt_limit_s: float) -> list[dict]:
    """p-median curve k = 1..k on the real Nanjing Xuanwu extract (two centres, public
    candidates), each point's method and gap; spopt's PMedian on a candidate subset."""
    import geopandas as gpd

    from geogrid.analyses.siting.model import run_siting
    from geogrid.study.area import load_study

    osm = "../shared/data/real/nanjing_xuanwu.osm"
    fac = gpd.GeoDataFrame(
        {"name": ["中心0", "中心1"], "type": ["centre_community"] * 2, "area_m2": [600, 600]},
        geometry=shapely.points([118.770, 118.788], [32.040, 32.048]),
        crs=4326,
    )
    study = load_study(network=osm, demand=osm, facilities=fac)
    t = time.perf_counter()
    res = run_siting(
        study.network,
        study.demand,
        study.facilities,
        k=k,
        problem="pmedian",
        solver="exact",
        time_limit_s=60,
    )
    total = time.perf_counter() - t
    tm = res.timing
    m = res.model
    cap = 2.0 * m.limit_m
    rows = [
        {
            "case": f"p-median curve k=1..{k}, Nanjing Xuanwu "
            f"({len(m.candidates)} cand x {len(m.demand)} units, "
            f"{m.distances(cap).nnz} pairs within {cap:.0f} m)",
            "curve_s": round(tm["exact_s"], 2),
            "curve_cpu_s": round(tm["exact_cpu_s"], 2),
            "solve_k_only_s": round(tm["exact_per_k_s"][-1], 2),
            "run_siting_s": round(total, 2),
            "points_exact": int((res.curve["status"] == "exact").sum()),
            "max_gap": float(res.curve["gap"].iloc[1:].max()),
        }
    ]
    print(pd.DataFrame(rows).to_string(index=False), flush=True)
    # per k: how each point was proven (a separate solve, so that the method is known)
    base = np.minimum(m.d0, cap)
    pc = PmedianCurve(m.distances(cap), m.w, base, time_limit_s=60, mip_rel_gap=1e-4)
    prev = None
    for kk in range(1, k + 1):
        c0 = time.process_time()
        sol = pc.solve(kk, prev)
        prev = sol.sites
        rows.append(
            {
                "case": f"  k={kk}",
                "objective_hh_m": round(sol.objective, 1),
                "bound_hh_m": round(sol.bound, 1),
                "gap": round(sol.gap, 8),
                "status": sol.status,
                "method": sol.info["method"],
                "s": round(sol.seconds, 3),
                "cpu_s": round(time.process_time() - c0, 3),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    if spopt_limit_s > 0:
        rows.append(_spopt_pmedian(m, k, cap, spopt_every, spopt_limit_s))
    return rows


def _spopt_pmedian(m, k: int, cap: float, every: int, limit_s: float) -> dict:
    """spopt PMedian (PuLP + CBC) against ours on the same capped costs, no existing centres
    (spopt cannot keep facilities open), every ``every``-th candidate."""
    try:
        import pulp
        from spopt.locate import PMedian
    except ImportError:
        return {"case": "  spopt not installed (pip install -e .[bench])"}
    dist = m.distances(cap)[::every]
    units = np.flatnonzero(m.w > 0)
    dm = np.full((len(units), dist.shape[0]), cap)
    dc = dist[:, units].tocoo()
    dm[dc.col, dc.row] = np.minimum(dc.data - 1e-9, cap)
    t = time.perf_counter()
    model = PMedian.from_cost_matrix(dm, m.w[units], p_facilities=k)
    try:
        sp = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit_s))
        status = pulp.LpStatus[sp.problem.status]
        sp_obj = pulp.value(sp.problem.objective)
    except RuntimeError:  # spopt raises when CBC stops at the time limit without a solution
        status, sp_obj = f"not solved in {limit_s:g} s", None
    sp_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = PmedianCurve(dist, m.w, np.full(len(m.w), cap), time_limit_s=60).solve(k)
    ours_s = time.perf_counter() - t
    finished = status == "Optimal" and sp_s < limit_s
    return {
        "case": f"  spopt PMedian k={k} ({dist.shape[0]} cand x {len(units)} units, no existing)",
        "spopt_s": round(sp_s, 2),
        "spopt_status": status,
        "ours_s": round(ours_s, 3),
        "equal": bool(np.isclose(sp_obj, ours.objective, rtol=1e-6)) if sp_obj else None,
        "ratio": round(sp_s / max(ours_s, 1e-3), 1)
        if finished
        else f"> {sp_s / max(ours_s, 1e-3):.0f}",
    }


# ------------------------------------------------------------------ spopt ratios (issue 12)
def _cpu_all() -> float:
    """CPU seconds of this process and its finished children (CBC runs as a child)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _dense(mat, units: np.ndarray, fill: float) -> np.ndarray:
    """units x candidates dense costs from a sparse candidates x units matrix (+1e-9 m)."""
    dense = np.full((len(units), mat.shape[0]), fill)
    c = mat[:, units].tocoo()
    dense[c.col, c.row] = np.minimum(c.data - 1e-9, fill)
    return dense


def _cbc(build, limit_s: float) -> tuple[float | None, float, float, str]:
    """Build and solve one spopt model with CBC: objective, wall s, CPU s (with CBC), status.

    The status is ``Optimal`` only when CBC proved the optimum (PuLP's ``sol_status`` 1);
    a solution found when CBC's own wall-clock limit stopped it reads ``stopped at ...``.
    """
    import pulp

    t, c0 = time.perf_counter(), _cpu_all()
    model = build()
    try:
        sp = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=limit_s))
        proven = sp.problem.sol_status == pulp.LpSolutionOptimal
        status = "Optimal" if proven else f"stopped at {limit_s:g} s (CBC)"
        obj = pulp.value(sp.problem.objective)
    except RuntimeError:  # spopt raises when CBC stops at its limit without a solution
        status, obj = f"no solution in {limit_s:g} s (CBC)", None
    return obj, time.perf_counter() - t, _cpu_all() - c0, status


def _ratio_row(problem: str, size: str, k, sp: tuple, ours_s: float, ours_cpu: float, ours_obj):
    sp_obj, sp_s, sp_cpu, status = sp
    done = status == "Optimal"
    equal = bool(np.isclose(sp_obj, ours_obj, rtol=1e-6, atol=1e-6)) if done else None
    return {
        "problem": problem,
        "size (cand x units)": size,
        "k": k,
        "spopt_s": round(sp_s, 2),
        "ours_s": round(ours_s, 3),
        "ratio": round(sp_s / max(ours_s, 1e-3), 1)
        if done
        else f"> {sp_s / max(ours_s, 1e-3):.0f}",
        "spopt_cpu_s": round(sp_cpu, 2),
        "ours_cpu_s": round(ours_cpu, 3),
        "cpu_ratio": round(sp_cpu / max(ours_cpu, 1e-3), 1) if done else None,
        "spopt_obj": None if sp_obj is None else round(float(sp_obj), 3),
        "ours_obj": round(float(ours_obj), 3),
        "equal": equal if done else f"spopt {status}",
    }


def _timed(fn):
    t, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c0


def _ratios_mclp(instance: tuple, ks: list[int], limit_s: float, *, lscp: bool) -> list[dict]:
    """MCLP at 1 km for each k in ``ks`` (and their sum when ``ks`` is 1..K) against spopt;
    LSCP (cover every reachable unit) too when ``lscp``. No site exists today."""
    from spopt.locate import LSCP, MCLP

    from geogrid.analyses.siting import solve as S

    cover = coverage_pairs(*instance, 1000.0)
    n = cover.shape[1]
    w = np.ones(n)
    covered0 = np.zeros(n, dtype=bool)
    reach = np.flatnonzero(np.diff(cover.tocsc().indptr) > 0)
    sub = cover[np.flatnonzero(np.diff(cover.tocsr().indptr) > 0)]  # candidates reaching one
    dense = _dense(sub, reach, 1e7)
    size = f"{sub.shape[0]:,} x {len(reach):,}"
    # ours: one MclpCurve, k = 1..max(ks), each k warm-started from k-1 (as run_siting does)
    mc, mc_s, mc_cpu = _timed(
        lambda: S.MclpCurve(sub, w, covered0, mip_rel_gap=1e-9, time_limit_s=limit_s)
    )
    prev, ours = None, {}
    for k in range(1, max(ks) + 1):
        sol, s, cpu = _timed(lambda k=k, prev=prev: mc.solve(k, prev))
        prev = sol.info["open_rows"]
        ours[k] = (sol, s + (mc_s if k == 1 else 0.0), cpu + (mc_cpu if k == 1 else 0.0))
    rows = []
    for k in ks:
        sp = _cbc(
            lambda k=k: MCLP.from_cost_matrix(dense, w[reach], 1000.0, p_facilities=k), limit_s
        )
        sol, s, cpu = ours[k]
        rows.append(_ratio_row("MCLP 1 km", size, k, sp, s, cpu, sol.objective))
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    if ks == list(range(1, max(ks) + 1)) and len(ks) > 1:
        sp_s, sp_cpu = (sum(r[c] for r in rows) for c in ("spopt_s", "spopt_cpu_s"))
        our_s, our_cpu = sum(ours[k][1] for k in ks), sum(ours[k][2] for k in ks)
        rows.append(
            {
                "problem": "MCLP 1 km, curve (sum)",
                "size (cand x units)": size,
                "k": f"1..{max(ks)}",
                "spopt_s": round(sp_s, 2),
                "ours_s": round(our_s, 3),
                "ratio": round(sp_s / max(our_s, 1e-3), 1),
                "spopt_cpu_s": round(sp_cpu, 2),
                "ours_cpu_s": round(our_cpu, 3),
                "cpu_ratio": round(sp_cpu / max(our_cpu, 1e-3), 1),
                "equal": all(r["equal"] is True for r in rows),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    if lscp:  # fewest sites covering every reachable unit: SitingModel.set_cover's exact MIP
        sp = _cbc(lambda: LSCP.from_cost_matrix(dense, 1000.0), limit_s)
        sol, s, cpu = _timed(
            lambda: S.exact_cover(sub, w, covered0, need_w=float(len(reach)), time_limit_s=limit_s)
        )
        rows.append(_ratio_row("LSCP 1 km", size, "-", sp, s, cpu, sol.objective))
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    return rows


def _capped(net, cand, units, cap: float) -> tuple:
    """Candidates x units walks within ``cap`` over the units some candidate reaches."""
    dist = coverage_pairs(net, cand, units, cap)
    reach = np.flatnonzero(np.diff(dist.tocsc().indptr) > 0)
    dist = dist[np.flatnonzero(np.diff(dist.tocsr().indptr) > 0)]
    wr = np.zeros(dist.shape[1])
    wr[reach] = 1.0
    return dist, reach, wr, f"{dist.shape[0]:,} x {len(reach):,}"


def _ratio_pmedian(instance: tuple, k: int, cap: float, limit_s: float) -> dict:
    """p-median on the walk capped at ``cap`` against spopt's PMedian, no existing sites."""
    from spopt.locate import PMedian

    dist, reach, wr, size = _capped(*instance, cap)
    dense = _dense(dist, reach, cap)
    sp = _cbc(lambda: PMedian.from_cost_matrix(dense, wr[reach], p_facilities=k), limit_s)
    sol, s, cpu = _timed(
        lambda: PmedianCurve(dist, wr, np.full(len(wr), cap), time_limit_s=limit_s).solve(k)
    )
    row = _ratio_row(f"p-median, walk capped at {cap:.0f} m", size, k, sp, s, cpu, sol.objective)
    print(pd.DataFrame([row]).to_string(index=False, header=False), flush=True)
    return row


def _ratio_pcentre(instance: tuple, k: int, cap: float, limit_s: float) -> dict:
    """p-centre (longest walk, pairs within ``cap``) against spopt's PCenter, no existing."""
    from spopt.locate import PCenter

    from geogrid.analyses.siting import solve as S

    dist, reach, wr, size = _capped(*instance, cap)
    dense = _dense(dist, reach, 10 * cap)
    sp = _cbc(lambda: PCenter.from_cost_matrix(dense, p_facilities=k), limit_s)
    sol, s, cpu = _timed(
        lambda: S.exact_pcenter(dist, wr, np.full(len(wr), np.inf), k=k, time_limit_s=limit_s)
    )
    row = _ratio_row(f"p-centre, pairs within {cap:.0f} m", size, k, sp, s, cpu, sol.objective)
    print(pd.DataFrame([row]).to_string(index=False, header=False), flush=True)
    return row


def bench_spopt_ratios(quick: bool, limit_s: float) -> list[dict]:
    """spopt (PuLP + CBC) against ours on the same sparse costs, at sizes CBC finishes.

    The large-instance family (demand points in the buildings of ``make_district(300)``,
    candidates on random edges, nobody covered today): MCLP at 1 km, k = 10 on 20,000 units x
    1,000 candidates and the curve k = 1..5 on 10,000 x 500 (each k solved from scratch by
    spopt, warm-started from k-1 by ours), LSCP; p-median and p-centre on draws of the family in
    ``make_district(30)`` (CBC's p-centre model grows too fast for more). Wall and CPU
    seconds (spopt's CPU includes the CBC child process); objectives compared.
    """
    nu, nc = (2_000, 200) if quick else (20_000, 1_000)
    rows = _ratios_mclp(_family(300, nu, nc), [10], limit_s, lscp=True)
    nu, nc = (1_000, 100) if quick else (10_000, 500)
    rows += _ratios_mclp(_family(300, nu, nc), [1, 2, 3, 4, 5], limit_s, lscp=False)
    pu, pc = (300, 60) if quick else (1_500, 150)
    rows.append(_ratio_pmedian(_family(30, pu, pc), 5, 3000.0, limit_s))
    pu, pc = (150, 30) if quick else (300, 40)
    rows.append(_ratio_pcentre(_family(30, pu, pc), 5, 3000.0, limit_s))
    return rows


_COLUMNS = {
    "problem": "problem",
    "size (cand x units)": "size (cand x units)",
    "k": "k",
    "spopt_s": "spopt s",
    "ours_s": "ours s",
    "ratio": "ratio",
    "spopt_cpu_s": "spopt CPU s",
    "ours_cpu_s": "ours CPU s",
    "cpu_ratio": "CPU ratio",
    "equal": "objectives equal",
}


def _markdown(rows: list[dict]) -> str:
    """The ratio rows as a Markdown table (the one benchmarks/README.md carries)."""
    lines = ["| " + " | ".join(_COLUMNS.values()) + " |", "|" + "---|" * len(_COLUMNS)]
    for r in rows:
        cells = [
            ""
            if r.get(c) is None
            else f"{r[c]:,}"
            if isinstance(r[c], float) and c.endswith("s")
            else str(r[c])
            for c in _COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@functools.cache
def _district_net(n_comm: int) -> tuple:
    d = make_district(n_communities=n_comm, seed=0)
    return d, network_from_ways(d.ways, residential=d.compounds)


def _family(n_comm: int, n_units: int, n_cand: int) -> tuple:
    """As ``_large_instance`` on ``make_district(n_comm)`` (the district built once per run)."""
    d, net = _district_net(n_comm)
    units = snap_points(net, sample_points(d.buildings, n_units))
    rng = np.random.default_rng(1)
    e = rng.choice(net.n_edges, n_cand, replace=False)
    cp = shapely.line_interpolate_point(
        np.asarray(net.edges.geometry.values)[e], rng.uniform(0, 1, n_cand), normalized=True
    )
    return net, snap_points(net, cp), units


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument(
        "--only",
        nargs="*",
        default=["matrix", "solvers", "spopt", "curve", "large", "pmedian"],
        help="sections to run: matrix solvers spopt curve large pmedian spopt-ratios",
    )
    ap.add_argument(
        "--spopt-limit",
        type=float,
        default=600.0,
        help="seconds (wall) CBC and HiGHS get per spopt-ratios instance (600)",
    )
    ap.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="seconds (wall) for the large MCLP end to end: walk graph, atoms and solve; the "
        "solve gets what the build leaves (60)",
    )
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_colwidth", 120)
    only = set(args.only)
    if "matrix" in only:
        print("== 1. sparse reach (1,000 m) ==")
        print(pd.DataFrame(bench_matrix(args.quick)).to_string(index=False))
    if "solvers" in only or "spopt" in only:
        print("\n== 2. greedy (CELF) vs HiGHS, demo district, candidates every 100 m ==")
        rows, model = bench_solvers()
        print(pd.DataFrame(rows).to_string(index=False))
        if "spopt" in only:
            print("\n== 3. spopt (PuLP/CBC) vs HiGHS on the same costs ==")
            print(
                pd.DataFrame(bench_spopt(model, every=8 if args.quick else 4)).to_string(
                    index=False
                )
            )
    if "curve" in only:
        print(
            "\n== 4. MCLP curve k = 1..10, every point within 0.1% (district, public candidates) =="
        )
        n, lim = (30, 60.0) if args.quick else (300, 300.0)
        bench_curve(n, 10, lim)
    if "large" in only:
        print("\n== 5. 1,000,000 units x 20,000 candidates at 1 km, k = 50 ==")
        nu, nc = (100_000, 2_000) if args.quick else (1_000_000, 20_000)
        rows = bench_large(nu, nc, 50, args.time_limit, reference=args.quick)
        for row in rows[-2:]:  # the solve, then the end-to-end total
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
        print(pd.DataFrame(bench_large_spopt(20_000, 1_000, 10, 600.0)).to_string(index=False))
    if "pmedian" in only:
        print("\n== 6. p-median k = 5, real Nanjing Xuanwu extract ==")
        rows = bench_nanjing_pmedian(5, 4 if args.quick else 2, 120.0 if args.quick else 600.0)
        print(pd.DataFrame(rows[-1:]).to_string(index=False))
    if "spopt-ratios" in only:
        print("\n== 7. spopt (PuLP + CBC) against ours on the same sparse costs ==")
        rows = bench_spopt_ratios(args.quick, args.spopt_limit)
        print("\n" + _markdown(rows))


if __name__ == "__main__":
    main()
