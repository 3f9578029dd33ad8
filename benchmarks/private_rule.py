"""How much coverage today's rule (everyone walks compound private paths) overstates.

Compares ``private="all"`` with ``private="residents"`` (gated compounds: only residents walk
their compound's private paths) on the demo district and on the real Nanjing, Guixi and
Longgang extracts: households covered within 15 minutes and within 1 km, and their share.
Before the comparison it prints what the network builder found: gated compounds by evidence
(gate nodes, walls, ``access=private`` paths), gates, private edges and sealed crossings.

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/private_rule.py [--communities 10]
    PYTHONPATH=<tree> python benchmarks/private_rule.py --build-only   # CPU of the builds

``--build-only`` times building the networks (CPU seconds, best of two) with calls an older
tree also has, so the same script A/Bs another checkout on ``PYTHONPATH``.

The OSM extracts have no facility layer of party-mass service centres; their police
stations, hospitals, schools, town halls and community centres (``amenity`` in the extract)
stand in as facilities, and their buildings (households estimated from footprint and levels)
as demand. The demo network is built twice, with and without its gate points and walls: the
coverage must not change (its gated compounds are already marked by ``access=private``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from geogrid.analyses.coverage.engine import compute_coverage
from geogrid.demo import make_district
from geogrid.io.osm import read_osm
from geogrid.network.build import WalkNetwork, build_network, network_from_ways

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
EXTRACTS = ("nanjing_xuanwu.osm", "guixi_jiangxi.osm", "shenzhen_longgang.osm")
STAND_INS = ("police", "hospital", "school", "townhall", "community_centre")


def found(net: WalkNetwork) -> str:
    """One line: what the builder found about gated compounds."""
    rep = net.report.get("compounds") or {}
    if not rep:
        return "no residential areas"
    by = rep["gated_by"]
    pe = rep["private_edges_by"]
    return (
        f"{rep['residential_areas']} residential areas, {rep['gate_points']} gate nodes on ways; "
        f"gated {rep['gated']} (gate nodes {by['gate_nodes']}, walls {by['walls']}, private "
        f"paths {by['private_paths']}), gates {rep['gates']}, private edges "
        f"{rep['private_edges']} (gate nodes {pe['gate_nodes']}, walls {pe['walls']}, private "
        f"paths {pe['private_paths']}), sealed crossings {rep['sealed_crossings']}, gated "
        f"without gate nodes {rep['gated_without_gate_nodes']}"
    )


def compare(
    name: str, net: WalkNetwork, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame
) -> dict[str, np.ndarray]:
    """Print covered households under both rules and the overstatement; return the tables."""
    tables, secs = {}, {}
    for rule in ("all", "residents"):
        t0 = time.process_time()
        tables[rule] = compute_coverage(net, demand, facilities, private=rule).table()
        secs[rule] = time.process_time() - t0
    hh = tables["all"]["households"].to_numpy(dtype=float)
    total = hh.sum()
    priv = int(net.edges["private"].sum())
    print(
        f"{name}: {len(demand)} units, {total:,.0f} households, {len(facilities)} facilities, "
        f"{priv} private edges in {int(net.edges['compound'].max()) + 1} compounds"
    )
    print(f"  found: {found(net)}")
    for col in ("within_15min", "within_1km"):
        a = hh[tables["all"][col].to_numpy(dtype=bool)].sum()
        r = hh[tables["residents"][col].to_numpy(dtype=bool)].sum()
        print(
            f"  {col}: all {a:,.0f} ({a / total:.2%}), residents {r:,.0f} ({r / total:.2%}), "
            f"overstated {a - r:,.0f} households ({(a - r) / total:.2%} points)"
        )
    print(
        f"  compute_coverage + table(), CPU: all {secs['all']:.2f} s, "
        f"residents {secs['residents']:.2f} s"
    )
    d_all = tables["all"]["dist_m"].to_numpy()
    d_res = tables["residents"]["dist_m"].to_numpy()
    longer = d_res > d_all + 0.01
    print(
        f"  units whose nearest walk is longer for residents: {int(longer.sum())}, "
        f"median +{np.median(d_res[longer] - d_all[longer]) if longer.any() else 0:.1f} m"
    )
    return {k: t["dist_m"].to_numpy() for k, t in tables.items()}


def build_times(communities: int) -> None:
    """Print the CPU seconds of building each network (best of two) and its size."""
    d = make_district(n_communities=communities)
    builds = {f"demo {communities}": lambda: network_from_ways(d.ways, residential=d.compounds)}
    builds.update({name: (lambda p=REAL / name: build_network(p)) for name in EXTRACTS})
    for name, build in builds.items():
        secs = []
        for _ in range(2):
            t0 = time.process_time()
            net = build()
            secs.append(time.process_time() - t0)
        print(f"{name}: {min(secs):.3f} s CPU, {net.n_nodes} nodes, {net.n_edges} edges")


def main() -> None:
    """Run the comparisons."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=10)
    ap.add_argument("--build-only", action="store_true", help="time the network builds only")
    a = ap.parse_args()
    if a.build_only:
        build_times(a.communities)
        return
    d = make_district(n_communities=a.communities)
    name = f"demo district ({a.communities} communities)"
    net = network_from_ways(d.ways, residential=d.compounds, gates=d.gates, walls=d.walls)
    with_gates = compare(name + ", with gates and walls", net, d.buildings, d.facilities)
    plain = network_from_ways(d.ways, residential=d.compounds)
    without = compare(name, plain, d.buildings, d.facilities)
    same = all(np.allclose(with_gates[k], without[k], atol=1e-6) for k in without)
    print(f"  same distances with and without gates and walls: {same}")
    for extract in EXTRACTS:
        path = REAL / extract
        osm = read_osm(path)
        fac = osm.pois[osm.pois["amenity"].isin(STAND_INS)].copy()
        fac["type"] = "station"
        compare(f"{extract} (OSM)", build_network(path), osm.buildings, fac)
        if len(osm.residential):
            # upper bound: every landuse=residential area taken as a walled compound (with no
            # gate node, so every crossing of its outline is a gate)
            walls = osm.residential.set_geometry(osm.residential.boundary)
            net = build_network(path, walls=walls)
            compare(f"{extract}, every residential area walled", net, osm.buildings, fac)


if __name__ == "__main__":
    main()
