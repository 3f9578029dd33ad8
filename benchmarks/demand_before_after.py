"""Demand before and after the housing decision on real OSM extracts (issue 16).

``before``: the old rule, every building whose tag is not explicitly non-residential is
housing (``residential_rule="tags"``); ``after``: the evidence rule (land use, names, POIs,
footprint). Prints a Markdown table; run from the project root::

    python benchmarks/demand_before_after.py [--json]

Data: ``../shared/data/real/{nanjing_xuanwu,guixi_jiangxi,shenzhen_longgang}.osm``
(c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from geogrid.io.osm import read_osm
from geogrid.study.demand import prepare_demand
from geogrid.study.residential import read_landuse

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"
EXTRACTS = ("nanjing_xuanwu.osm", "guixi_jiangxi.osm", "shenzhen_longgang.osm")


def compare(path: Path) -> dict[str, Any]:
    """Households and residential shares of one extract, old rule against evidence."""
    osm = read_osm(path)
    b = osm.buildings
    before = prepare_demand(b, residential_rule="tags")
    after = prepare_demand(b, landuse=read_landuse(path), pois=osm.pois)
    yes = b["building"].eq("yes").to_numpy()
    area = after["footprint_m2"]
    rep = after.attrs["demand_report"]
    return {
        "extract": path.name,
        "buildings": len(b),
        "building_yes": int(yes.sum()),
        "households_before": int(before["households"].sum()),
        "households_after": int(after["households"].sum()),
        "residential_share_before": float(before["residential"].mean()),
        "residential_share_after": float(after["residential"].mean()),
        "yes_residential_after": float(after["residential"][yes].mean()),
        "floor_share_after": float(area[after["residential"]].sum() / area.sum()),
        "basis": rep["residential_basis"],
    }


def main() -> None:
    """Print the table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = [compare(REAL / name) for name in EXTRACTS]
    if a.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    print(
        "| extract | buildings (building=yes) | households before | households after "
        "| residential share before | after | building=yes housing after |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['extract']} | {r['buildings']:,} ({r['building_yes']:,}) "
            f"| {r['households_before']:,} | {r['households_after']:,} "
            f"| {r['residential_share_before']:.1%} | {r['residential_share_after']:.1%} "
            f"| {r['yes_residential_after']:.1%} |"
        )
    for r in rows:
        print(
            f"\n{r['extract']} decisions by evidence: "
            + "; ".join(f"{k} {v}" for k, v in r["basis"].items())
        )


if __name__ == "__main__":
    main()
