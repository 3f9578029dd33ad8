"""A/B in one process: ``cover_atoms`` against ``coverage_pairs`` + ``reduce_cover``.

    PYTHONPATH=$PWD python benchmarks/ab_siting_atoms.py [n_units] [n_candidates]

Builds the instance of ``bench_siting.py --only large`` (``make_district(300)``, units sampled
in buildings, candidates on random edges, 1,000 m) at the given size (default 300,000 x
20,000: today's path needs about 3 GB there, 9 GB at 1 M x 20 k), times both builds of the
demand atoms (wall, CPU, peak RSS) and checks they are equal.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_siting import _large_instance  # noqa: E402

from geogrid.analyses.siting import solve as S  # noqa: E402
from geogrid.analyses.siting.matrix import cover_atoms, coverage_pairs  # noqa: E402
from geogrid.network import paths as _paths  # noqa: E402


def _rss() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)


def main() -> None:
    nu = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    nc = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    net, cand, units = _large_instance(nu, nc)
    _paths.walk_graph(net)
    w = np.ones(nu)
    t, c = time.perf_counter(), time.process_time()
    at = cover_atoms(net, cand, units, 1000.0, w)
    print(
        f"atoms: wall {time.perf_counter() - t:.1f} s, CPU {time.process_time() - c:.1f} s, "
        f"{at.n_atoms} atoms, {at.mat.nnz} pairs, peak {_rss()} GB",
        flush=True,
    )
    t, c = time.perf_counter(), time.process_time()
    cover = coverage_pairs(net, cand, units, 1000.0)
    t1, c1 = time.perf_counter() - t, time.process_time() - c
    red = S.reduce_cover(cover, w, np.ones(nu, bool), keep=np.arange(nc))
    print(
        f"today: pairs wall {t1:.1f} s CPU {c1:.1f} s ({cover.nnz} pairs); + reduce_cover wall "
        f"{time.perf_counter() - t:.1f} s CPU {time.process_time() - c:.1f} s; "
        f"{red.mat.shape[1]} atoms; peak {_rss()} GB",
        flush=True,
    )
    same = (red.mat != at.mat).nnz == 0 and np.array_equal(red.weight, at.weight)
    print("same atoms:", same)


if __name__ == "__main__":
    main()
