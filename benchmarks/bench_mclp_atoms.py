"""Benchmark the MCLP solve alone on saved demand atoms (issue 12, the 1 M x 20 k target).

    python benchmarks/bench_mclp_atoms.py /tmp/siting_inst/large_1m.npz --k 50 --time-limit 30

The file holds candidates x atoms (units with the same candidate set merged; format in
``/tmp/siting_inst/README``: ``indptr``, ``indices``, ``shape``, ``weight``), as
``bench_siting.py --only large`` builds it. Prints one row: the model build from the atoms,
the solve's wall and CPU seconds (``time.process_time``, HiGHS on one thread), objective,
bound, gap, method and peak RSS. ``--legacy`` builds the model through the constructor
(``MclpCurve(mat, weight, covered0)``) so the same command runs on older code for an A/B.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
from scipy import sparse

from geogrid.analyses.siting import solve as S


def main() -> None:
    """Load the atoms, solve k, print the row."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("atoms", help="npz of candidates x atoms (indptr, indices, shape, weight)")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds (wall)")
    ap.add_argument("--gap", type=float, default=1e-3, help="relative gap that counts as solved")
    ap.add_argument("--legacy", action="store_true", help="build through the constructor")
    args = ap.parse_args()
    z = np.load(args.atoms)
    mat = sparse.csr_matrix(
        (np.ones(len(z["indices"])), z["indices"], z["indptr"]), shape=tuple(z["shape"])
    )
    w = np.asarray(z["weight"], dtype=float)
    c0, t0 = time.process_time(), time.perf_counter()
    opts = {"time_limit_s": args.time_limit, "mip_rel_gap": args.gap}
    if args.legacy:
        mc = S.MclpCurve(mat, w, np.zeros(mat.shape[1], dtype=bool), **opts)
    else:
        mc = S.MclpCurve.from_atoms(mat, w, **opts)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    sol = mc.solve(args.k)
    cpu = time.process_time() - c0
    row = {
        "case": f"MCLP k={args.k}: {mat.shape[0]} cand x {mat.shape[1]} atoms ({mat.nnz} pairs)",
        "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu, 2),
        "solve_s": round(sol.seconds, 2),
        "solve_cpu_s": round(cpu, 2),
        "time_limit_s": args.time_limit,
        "obj": round(sol.objective, 1),
        "bound": round(sol.bound, 1),
        "gap": round(sol.gap, 5),
        "status": sol.status,
        "method": sol.info.get("method"),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
    }
    print(pd.DataFrame([row]).to_string(index=False))


if __name__ == "__main__":
    main()
