"""Time each what-if step of notebooks/01_what_if.ipynb, and its undo.

    python benchmarks/scenario_steps.py [--communities 10] [--repeat 3]
    python benchmarks/scenario_steps.py --engine --communities 300 --repeat 3

On the demo district (``geogrid.load_demo``; 10 communities as in the notebook, 300 for the
city-scale district of ``bench_coverage.py --whatif``): per step, the edit's own time as the
scenario logs it (``Edit.seconds``, wall), the CPU seconds of the edit call and of its undo,
mean and max over the repeats. The machine is shared: read the CPU columns.

``--engine``: the engine edits of ``bench_coverage.py --_worker whatif`` (add a station at
the worst-covered communities, move one there, remove one; each with the updated
``Coverage.table()`` and ``Coverage.aggregates()``; and ``with_speed(3)`` with both), CPU
and wall milliseconds, mean and max.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import geogrid
from geogrid.analyses.coverage.engine import Coverage


def engine_edits(communities: int, repeat: int) -> None:
    """The bench's what-if edits on the engine, CPU and wall per edit (table and aggregates in)."""
    from geogrid.analyses.coverage.engine import aggregate, compute_coverage
    from geogrid.demo import make_district
    from geogrid.network.build import network_from_ways

    d = make_district(n_communities=communities, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    cov = compute_coverage(net, d.buildings, d.facilities)
    agg = aggregate(cov.copy().table(), by="community_code", targets=cov.targets)
    cov.table()
    cov.aggregates()
    comm = d.communities.set_index("community_code")
    worst = agg.sort_values("coverage_15min")["community_code"].tolist()
    stations = cov.facilities.loc[cov.facilities["type"] == "station", "facility_id"].tolist()
    cpu: dict[str, list[float]] = defaultdict(list)
    wall: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, edit: Callable[[], Any]) -> None:
        t0, w0 = time.process_time(), time.perf_counter()
        edit()
        cpu[name].append(time.process_time() - t0)
        wall[name].append(time.perf_counter() - w0)

    def edits(k: int) -> list[tuple[str, Callable[[Coverage], Any]]]:
        where = comm.loc[worst[k], "geometry"].centroid
        away = where.buffer(300).exterior.interpolate(0)
        return [
            ("add", lambda c: c.add_facility({"geometry": where, "type": "station"})),
            ("move", lambda c: c.move_facility(stations[k], away)),
            ("remove", lambda c: c.remove_facility(stations[-1 - k])),
        ]

    for with_table in (False, True):
        for k in range(repeat):
            c = cov.copy()
            for name, edit in edits(k):
                label = f"{name} + table + aggregates" if with_table else name
                timed(label, partial(_edit_and_read, edit, c, with_table))
                _edit_and_read(lambda _c: None, c, True)
    for _ in range(repeat):
        timed("speed + table + aggregates", partial(_with_speed, cov, 3.0))
    print(
        f"make_district({communities}): {net.n_nodes:,} nodes, {len(d.buildings):,} units, "
        f"{repeat} repeats, ms (mean / max):"
    )
    for name, ts in cpu.items():
        print(
            f"  {name:28s} CPU {1000 * np.mean(ts):6.1f} / {1000 * np.max(ts):6.1f}"
            f" | wall {1000 * np.mean(wall[name]):6.1f} / {1000 * np.max(wall[name]):6.1f}"
        )


def _edit_and_read(edit: Callable[[Coverage], Any], c: Coverage, read: bool) -> None:
    edit(c)
    if read:
        c.table()
        c.aggregates()


def _with_speed(cov: Coverage, speed: float) -> None:
    s = cov.with_speed(speed)
    s.table()
    s.aggregates()


def main() -> None:
    """Run the notebook's edits ``--repeat`` times and print one line per step."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", action="store_true", help="the engine edits of bench_coverage")
    a = ap.parse_args()
    if a.engine:
        engine_edits(a.communities, a.repeat)
        return
    study = geogrid.load_demo(n_communities=a.communities, seed=0)
    base = geogrid.scenario(study)
    loads = base.loads().sort_values("served_households")
    quiet = loads["facility_id"].iloc[0]
    worst = base.by_community().sort_values("coverage_15min").head(2)
    areas = study.communities.set_index("community_code").geometry
    w1, w2 = (areas[c].representative_point() for c in worst["community_code"])
    steps = {
        "move a station": lambda s: s.move_station(quiet, w1),
        "add two stations": lambda s: s.add_station(w1).add_station(w2),
        "close a station": lambda s: s.close_station(quiet),
        "walking speed 3 km/h": lambda s: s.set_speed(3.0),
    }
    logged: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    undo: dict[str, list[float]] = defaultdict(list)
    for _rep in range(a.repeat):
        for name, step in steps.items():
            s = base.variant(name)
            t0 = time.process_time()
            step(s)
            cpu[name].append(time.process_time() - t0)
            logged[name].append(sum(e.seconds for e in s.edits))
            n = len(s.edits)
            t0 = time.process_time()
            s.undo(n)
            undo[name].append(time.process_time() - t0)
    print(f"make_district({a.communities}), {a.repeat} repeats, ms (mean / max):")
    for name in steps:
        parts = [
            f"{label} {1000 * np.mean(v[name]):.1f} / {1000 * np.max(v[name]):.1f}"
            for label, v in (("logged", logged), ("CPU", cpu), ("undo CPU", undo))
        ]
        print(f"  {name:22s} " + " | ".join(parts))


if __name__ == "__main__":
    main()
