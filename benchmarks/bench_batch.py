"""Batch throughput on dask.distributed: areas per hour at 1 and 2 workers, scheduler overhead.

Twelve synthetic districts of mixed size (make_district with 2-12 communities, written to
GeoPackages like user files) run through geogrid.batch.run_many on a LocalCluster of 1 and then
2 worker processes (one thread each, 2 GiB each), each into a fresh folder, without maps
(--maps adds them). Reports wall time, areas per hour, scaling efficiency
(speed-up / workers), the time inside the area tasks, the per-area overhead (wall minus task
time divided by worker count, per area) and the scheduler's own round trip per task (100
no-op tasks). Usage: python benchmarks/bench_batch.py [--quick] [--maps]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from geogrid import batch
from geogrid.demo import make_district
from geogrid.io.writers import write_layers

SIZES = [2, 2, 3, 3, 4, 4, 6, 6, 8, 8, 12, 12]


def write_areas(root: Path, sizes: list[int]) -> Path:
    rows = ["id,name,network,demand,facilities,communities,residential,k"]
    for i, n in enumerate(sizes):
        d = make_district(n_communities=n, seed=i)
        f = root / f"d{i:02d}"
        f.mkdir(parents=True)
        for name, layer in (
            ("ways", d.ways),
            ("buildings", d.buildings),
            ("facilities", d.facilities),
            ("communities", d.communities),
            ("compounds", d.compounds),
        ):
            write_layers(f / f"{name}.gpkg", {name: layer})
        files = ",".join(
            f"d{i:02d}/{x}.gpkg" for x in ("ways", "buildings", "facilities", "communities")
        )
        rows.append(f"d{i:02d},district {i} ({n} communities),{files},d{i:02d}/compounds.gpkg,3")
    path = root / "areas.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def scheduler_round_trip(n_tasks: int = 100) -> float:
    """Median seconds per no-op task submitted and gathered one at a time (1 worker)."""
    with batch._client(
        None, n_workers=1, memory_limit="1GiB", threads_per_worker=1, allowed_failures=1
    ) as client:
        client.submit(abs, -1, pure=False).result()  # warm
        times = []
        for i in range(n_tasks):
            t = time.perf_counter()
            client.submit(abs, -i, pure=False).result()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(manifest: Path, out: Path, workers: int, maps: bool) -> dict[str, float]:
    t = time.perf_counter()
    res = batch.run_many(manifest, out, n_workers=workers, memory_limit="2GiB", maps=maps)
    wall = time.perf_counter() - t
    assert res.failed == 0, res.summary[["id", "error"]]
    task_s = float(res.summary["seconds"].sum())
    n = len(res.summary)
    return {
        "wall_s": wall,
        "task_s": task_s,
        "areas_per_hour": 3600.0 * n / wall,
        "overhead_per_area_s": (wall - task_s / workers) / n,
        "households": float(res.summary["households"].sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4 small areas")
    ap.add_argument("--maps", action="store_true", help="also each area's maps and report")
    a = ap.parse_args()
    sizes = [2, 2, 3, 3] if a.quick else SIZES
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        manifest = write_areas(root / "in", sizes)
        print(
            f"wrote {len(sizes)} areas ({sum(sizes)} communities) in {time.perf_counter() - t:.1f} s"
        )
        rt = scheduler_round_trip()
        results = {w: run(manifest, root / f"out{w}", w, a.maps) for w in (1, 2)}
    one, two = results[1], results[2]
    print(f"python {platform.python_version()}, {platform.machine()}, maps={a.maps}")
    print(f"households in all areas: {one['households']:,.0f}")
    print("| workers | wall (s) | time in area tasks (s) | areas/hour | overhead per area (s) |")
    print("|---|---|---|---|---|")
    for w, r in results.items():
        print(
            f"| {w} | {r['wall_s']:.1f} | {r['task_s']:.1f} | {r['areas_per_hour']:.0f} | "
            f"{r['overhead_per_area_s']:.2f} |"
        )
    speedup = one["wall_s"] / two["wall_s"]
    print(f"speed-up 2 vs 1 worker: {speedup:.2f}x; scaling efficiency {speedup / 2:.2f}")
    print(f"scheduler round trip per no-op task: {1000 * rt:.1f} ms")
    print(
        f"seconds of area task per 1,000 households (1 worker): {1000 * one['task_s'] / one['households']:.2f}"
    )
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    print(f"peak RSS of a worker process: {rss:.2f} GB")


if __name__ == "__main__":
    sys.exit(main())
