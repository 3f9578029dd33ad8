"""How much coverage today's rule (everyone walks compound private paths) overstates.

Compares ``private="all"`` with ``private="residents"`` (gated compounds: only residents walk
their compound's private paths) on the demo district and on the real Nanjing extract:
households covered within 15 minutes and within 1 km, and their share.

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/private_rule.py [--communities 10]

Nanjing has no facility layer of party-mass service centres; its police stations, hospitals,
schools and town halls (``amenity`` in the extract) stand in as facilities, and its
buildings (households estimated from footprint and levels) as demand.
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
from geogrid.network.build import build_network, network_from_ways

NANJING = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
STAND_INS = ("police", "hospital", "school", "townhall", "community_centre")


def compare(name: str, net, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame) -> None:
    """Print covered households under both rules and the overstatement."""
    tables, secs = {}, {}
    for rule in ("all", "residents"):
        t0 = time.perf_counter()
        tables[rule] = compute_coverage(net, demand, facilities, private=rule).table()
        secs[rule] = time.perf_counter() - t0
    hh = tables["all"]["households"].to_numpy(dtype=float)
    total = hh.sum()
    priv = int(net.edges["private"].sum())
    print(
        f"{name}: {len(demand)} units, {total:,.0f} households, {len(facilities)} facilities, "
        f"{priv} private edges in {int(net.edges['compound'].max()) + 1} compounds"
    )
    for col in ("within_15min", "within_1km"):
        a = hh[tables["all"][col].to_numpy(dtype=bool)].sum()
        r = hh[tables["residents"][col].to_numpy(dtype=bool)].sum()
        print(
            f"  {col}: all {a:,.0f} ({a / total:.2%}), residents {r:,.0f} ({r / total:.2%}), "
            f"overstated {a - r:,.0f} households ({(a - r) / total:.2%} points)"
        )
    print(
        f"  compute_coverage + table(): all {secs['all']:.2f} s, residents {secs['residents']:.2f} s"
    )
    d_all = tables["all"]["dist_m"].to_numpy()
    d_res = tables["residents"]["dist_m"].to_numpy()
    longer = d_res > d_all + 0.01
    print(
        f"  units whose nearest walk is longer for residents: {int(longer.sum())}, "
        f"median +{np.median(d_res[longer] - d_all[longer]) if longer.any() else 0:.1f} m"
    )


def main() -> None:
    """Run both comparisons."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", type=int, default=10)
    a = ap.parse_args()
    d = make_district(n_communities=a.communities)
    net = network_from_ways(d.ways, residential=d.compounds)
    compare(f"demo district ({a.communities} communities)", net, d.buildings, d.facilities)
    path = NANJING / "nanjing_xuanwu.osm"
    osm = read_osm(path)
    fac = osm.pois[osm.pois["amenity"].isin(STAND_INS)].copy()
    fac["type"] = "station"
    compare("Nanjing Xuanwu (OSM)", build_network(path), osm.buildings, fac)


if __name__ == "__main__":
    main()
