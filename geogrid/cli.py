"""The ``geogrid`` command line: demo, coverage, grids, site, map.

Every command prints a one-line error naming the fix on bad input (exit status 2), never a
traceback; ``--verbose`` shows progress logs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from geogrid.errors import GeogridError

__all__ = ["main"]

_EPILOG = {
    "demo": "example:\n  geogrid demo --out demo_out\n  geogrid demo --out big --communities 60 --k 10",
    "coverage": (
        "example:\n  geogrid coverage --network xuanwu.osm --demand xuanwu.osm "
        "--facilities centres.csv --crs gcj02 --out cov_out\n"
        "  (an OSM file as --demand uses its buildings, households estimated from storeys)"
    ),
    "grids": (
        "example:\n  geogrid grids --communities communities.gpkg --demand buildings.gpkg "
        "--network streets.gpkg --out grids_out\n"
        "  geogrid grids --demand xuanwu.osm --network xuanwu.osm --out grids_out\n"
        "  (no --communities: provisional communities from where people live; "
        "--network is then required)\n"
        "writes grids.gpkg, grids_quality.csv and grids_certificates.csv"
    ),
    "site": (
        "example:\n  geogrid site --network city.osm.pbf --demand buildings.gpkg "
        "--facilities centres.gpkg --k 5 --target 15min --out site_out\n"
        "examples of each option:\n"
        "  --problem setcover --share 0.95      fewest sites reaching 95% of households\n"
        "  --problem pmedian --k 5 --cap 2000   shortest household-weighted walk (capped at 2 km)\n"
        "  --problem pcenter --k 5              shortest longest walk\n"
        "  --speed 3                            walking speed 3 km/h (15 min = 750 m)\n"
        "  --exclude parks_water.gpkg           no station inside these polygons\n"
        "  --capacity 3000                      households one new station can serve\n"
        "  --weight weighted_hh                 demand weights from a column (e.g. elderly x2)\n"
        "  --require C00012,C00345              sites that must be in the answer\n"
        "  --require premises.gpkg              ... or a file of points\n"
        "  --relocate 2                         may close or move up to 2 existing stations\n"
        "  --relocate 2 --closable all          ... centres may close too (default: stations)\n"
        "  --candidates public                  streets and gates outside compounds (default)\n"
        "  --candidates compounds | all | vacant_premises.gpkg\n"
        "  --gates gates.gpkg                   compound gates join the public pool\n"
        "  --every 50                           a street candidate every 50 m (default 100)\n"
        "  --min-gain 200                       flag sites adding fewer than 200 households\n"
        "  --solver both --time-limit 60 --gap 0.0001   HiGHS per k, greedy compared"
    ),
    "map": "example:\n  geogrid map --results demo_out --out demo_out/maps/map.html",
    "report": (
        "example:\n  geogrid report --results cov_out\n"
        "  geogrid report --results demo_out --out demo_report --lang en\n"
        "writes report.xlsx, summary.md, map.png and (with siting results) curve.png; "
        "the default --out is DIR/report"
    ),
    "batch": (
        "examples:\n  geogrid batch areas.csv --out batch_out --workers 4 --memory-limit 4GiB\n"
        "  geogrid batch --split-network region.osm.pbf --boundaries districts.gpkg "
        "--id-column gb --out batch_out\n"
        "  (areas.csv: id,name,network,demand,facilities,communities[,residential,boundary,crs,"
        "speed,targets,k];\n   exit status 1 when an area failed, 2 on a bad command line or "
        "manifest; a re-run skips finished areas)"
    ),
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``geogrid: error: ...``, naming the fix."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        """Print one line naming the fix and exit with status 2."""
        command = self.prog.split()[1:]
        helper = " ".join(["geogrid", *command, "--help"])
        self.exit(2, f"geogrid: error: {message}; run '{helper}' for the options\n")


def _number(text: str) -> float:
    """Parse a positive finite number for ``--speed`` (nan, inf and words are refused)."""
    try:
        value = float(text)
    except ValueError:
        msg = f"{text!r} is not a number; pass e.g. 4"
        raise argparse.ArgumentTypeError(msg) from None
    if not math.isfinite(value) or value <= 0:
        msg = f"{text!r} must be a positive finite number; pass e.g. 4"
        raise argparse.ArgumentTypeError(msg)
    return value


def _personal_flag(sp: argparse.ArgumentParser, what: str) -> None:
    """Add ``--include-personal`` (personal data is withheld from ``what`` by default)."""
    sp.add_argument(
        "--include-personal",
        action="store_true",
        help=f"keep personal data (phone and ID numbers, householders' names, one row per "
        f"household) in {what}; withheld by default",
    )


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="geogrid",
        description=(
            "Governance grids, 15-minute walking coverage and station siting for Chinese "
            "urban grassroots governance (党群服务中心/站, 网格, 15分钟服务圈)."
        ),
        epilog="example:\n  geogrid demo --out demo_out\n\nrun 'geogrid COMMAND --help' for each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log progress")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=_EPILOG[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            conflict_handler="resolve",  # a command may define its own --lang
        )
        # SUPPRESS: without -v here, the global `geogrid -v COMMAND` stays in force
        sp.add_argument(
            "--verbose", "-v", action="store_true", default=argparse.SUPPRESS, help="log progress"
        )
        sp.add_argument("--json", action="store_true", help="print the figures as JSON")
        sp.add_argument(
            "--lang", default="zh", choices=["zh", "en"], help="language of what is printed (zh)"
        )
        return sp

    d = add(
        "demo", "generate the offline demo district and run coverage, grids, siting, maps, report"
    )
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--communities", type=int, default=10, help="number of communities (default 10)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--k", type=int, default=5, help="new stations to site (default 5)")
    d.add_argument("--no-maps", action="store_true", help="skip maps and report")
    d.add_argument(
        "--lang", default="zh", choices=["zh", "en"], help="language printed and written (zh)"
    )
    _personal_flag(d, "the files, maps and report")

    def inputs(sp: argparse.ArgumentParser, *, facilities: bool = True) -> None:
        sp.add_argument(
            "--network",
            required=True,
            help="walking network: OSM extract (.osm/.osm.bz2/.osm.pbf) or OSMnx GraphML",
        )
        sp.add_argument(
            "--demand",
            required=True,
            help="buildings, compounds or points (GeoPackage, GeoJSON, Shapefile, CSV, Excel, or an OSM file)",
        )
        if facilities:
            sp.add_argument(
                "--facilities", required=True, help="centres and stations with name, type, area_m2"
            )
            sp.add_argument(
                "--facility-type-column",
                metavar="COLUMN",
                help="the facility layer's type column when it is not 'type', e.g. 类型",
            )
            sp.add_argument(
                "--facility-type",
                metavar="TYPE",
                help="type of facilities without one, e.g. station or 党群服务站",
            )
        sp.add_argument(
            "--communities", help="community polygons with community_code (12 digits) and name"
        )
        sp.add_argument(
            "--crs",
            help="coordinate system of layers that have none (CSV/Excel): wgs84, gcj02, bd09, EPSG:xxxx",
        )
        sp.add_argument("--demand-crs", help="override for the demand layer, e.g. gcj02")
        sp.add_argument(
            "--facilities-crs", help="override for the facility layer, e.g. gcj02 (Amap points)"
        )
        sp.add_argument(
            "--residential",
            help="compound / landuse=residential polygons whose private paths stay walkable "
            "(an OSM network file brings its own)",
        )
        sp.add_argument(
            "--private",
            choices=["residents", "all", "none"],
            default=None,
            help="who walks access=private paths inside residential compounds: residents "
            "(default: only trips to or from that gated compound; others go round to its "
            "gates), all (open compounds, the old rule) or none",
        )
        sp.add_argument(
            "--drop-private",
            action="store_true",
            help="deprecated: same as --private none",
        )
        sp.add_argument(
            "--speed", type=_number, help="walking speed in km/h (default 4; plausible 0.5-20)"
        )
        sp.add_argument(
            "--allow-implausible",
            action="store_true",
            help="accept a speed or target outside the plausible ranges (for experiments)",
        )
        _demand_options(sp)

    c = add("coverage", "walking-network coverage of centres and stations (15 min / 1 km)")
    inputs(c)
    c.add_argument(
        "--targets",
        help="targets, default '5min,10min,15min,1km' (plausible 1-120 min, 50-10,000 m)",
    )
    c.add_argument("--out", required=True, help="output folder for coverage.gpkg and summary.csv")
    _personal_flag(c, "the output files")
    _report_flags(c, lang=True)

    g = add("grids", "partition communities into balanced, contiguous, coded governance grids")
    g.description = (
        "partition communities into balanced, contiguous, coded governance grids, with a "
        "certificate per community (feasible / infeasible with the proof / unknown).\n"
        "Give --communities, or --network: without --communities, --network is required and "
        "provisional communities (codes 000000000NNN) are derived from where people live."
    )
    g.add_argument(
        "--communities",
        help="community polygons with community_code (12 digits) and name; "
        "when omitted, --network is required",
    )
    g.add_argument(
        "--demand",
        required=True,
        help="buildings or points with households (estimated when missing), or an OSM file",
    )
    g.add_argument(
        "--network",
        help="streets to follow (OSM extract, GraphML or lines); required without "
        "--communities, to derive provisional communities from residential areas, "
        "building clusters and the street blocks holding them",
    )
    g.add_argument(
        "--residential",
        help="landuse=residential / compound polygons used to derive communities "
        "(an OSM --demand or --network file brings its own)",
    )
    g.add_argument(
        "--balance",
        action="store_true",
        help="also measure how far each feasible community's grids are from the most "
        "balanced partition the exact model finds (slow: about 1-2 s per community)",
    )
    g.add_argument("--crs", help="coordinate system of layers that have none")
    g.add_argument(
        "--min", type=int, default=200, dest="min_hh", help="minimum households per grid (200)"
    )
    g.add_argument(
        "--target", type=int, default=350, dest="target_hh", help="target households per grid (350)"
    )
    g.add_argument(
        "--max", type=int, default=500, dest="max_hh", help="maximum households per grid (500)"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--out", required=True, help="output folder for grids.gpkg and grids_quality.csv"
    )
    _personal_flag(g, "the output files")
    _report_flags(g, lang=True)

    s = add(
        "site",
        "site k new stations (maximal coverage, set cover, p-median, p-centre) with the "
        "best coverage for every number of stations",
    )
    inputs(s)
    s.add_argument(
        "--k", type=int, help="number of new stations (for setcover an optional upper limit)"
    )
    s.add_argument(
        "--problem",
        default="mclp",
        choices=["mclp", "setcover", "pmedian", "pcenter"],
        help="mclp: most households within the target (default); setcover: fewest sites to "
        "--share; pmedian: shortest average walk; pcenter: shortest longest walk",
    )
    s.add_argument(
        "--target", default="15min", help="coverage target, e.g. 15min, 10min, 1km (default 15min)"
    )
    s.add_argument("--share", type=float, help="setcover: share of households to reach (1.0)")
    s.add_argument("--capacity", type=float, help="mclp: households one new station can serve")
    s.add_argument(
        "--cap", type=float, help="pmedian/pcenter distance cap in metres (twice the target)"
    )
    s.add_argument(
        "--candidates",
        default="public",
        help="public (streets and gates outside gated compounds, default), compounds, all, "
        "or a file of candidate sites (vacant premises, offices)",
    )
    s.add_argument("--every", type=float, default=100.0, help="street sampling step, m (100)")
    s.add_argument("--gates", help="compound gates (points) added to the public pool")
    s.add_argument("--exclude", help="polygons where no station may go (parks, water, schools)")
    s.add_argument("--weight", help="demand column with weights (default: households)")
    s.add_argument(
        "--require",
        help="sites that must be in the answer: candidate ids (C00012,C00345) or a file",
    )
    s.add_argument(
        "--relocate", type=int, help="may close up to M existing stations, each freeing a new site"
    )
    s.add_argument(
        "--closable",
        help="facility types --relocate may close, comma separated, or all "
        "(default: every type but the centres)",
    )
    s.add_argument(
        "--min-gain", type=float, help="flag sites adding fewer households than this (low_gain)"
    )
    s.add_argument(
        "--solver", default="both", choices=["both", "exact", "greedy"], help="default both"
    )
    s.add_argument("--time-limit", type=float, default=60.0, help="HiGHS seconds per k (60)")
    s.add_argument("--gap", type=float, default=1e-4, help="relative gap counted exact (1e-4)")
    s.add_argument("--lang", default="zh", choices=["zh", "en"], help="curve plot labels (zh)")
    s.add_argument(
        "--out",
        required=True,
        help="output folder for siting.gpkg, siting_curve.csv and siting_curve.png",
    )
    _personal_flag(s, "the output files")
    _report_flags(s, lang=False)

    m = add("map", "interactive Folium map of a results folder")
    m.add_argument(
        "--results", required=True, help="folder written by demo, coverage, grids or site"
    )
    m.add_argument(
        "--tiles",
        default="osm",
        choices=["osm", "amap", "tianditu", "none"],
        help="basemap (amap shifts overlays to GCJ-02; tianditu needs --tianditu-key)",
    )
    m.add_argument("--tianditu-key", help="your Tianditu key")
    net = m.add_mutually_exclusive_group()
    net.add_argument(
        "--offline",
        action="store_true",
        help="ask the network for nothing, not even basemap tiles (blank basemap); the page is "
        "always self-contained unless --online",
    )
    net.add_argument(
        "--online",
        action="store_true",
        help="smaller page that loads Leaflet from public CDNs (needs the internet to draw)",
    )
    m.add_argument("--lang", default="zh", choices=["zh", "en"], help="labels (default zh)")
    m.add_argument(
        "--include-personal",
        action="store_true",
        help="include household-level personal fields (off by default)",
    )
    m.add_argument("--out", required=True, help="output HTML file")
    _report_parser(
        add("report", "the report (ledger, summary, PNG map and curve) of a results folder")
    )
    _batch_parser(add("batch", "many study areas at once on dask.distributed (local or a cluster)"))
    return p


#: Files a run's report adds to its folder (``geogrid.outputs.publish.REPORT_FILES``).
_REPORT_FILES = ("report.xlsx", "summary.md", "map.png", "curve.png")


def _report_flags(sp: argparse.ArgumentParser, *, lang: bool) -> None:
    """Add ``--no-report`` (and ``--lang`` when the command has none) to a computing command."""
    sp.add_argument(
        "--no-report",
        action="store_true",
        help="skip the report (report.xlsx, summary.md, map.png, curve.png)",
    )
    if lang:
        sp.add_argument("--lang", default="zh", choices=["zh", "en"], help="report labels (zh)")


def _report_parser(r: argparse.ArgumentParser) -> None:
    """Options of ``geogrid report``."""
    r.add_argument(
        "--results",
        required=True,
        help="folder written by coverage, grids, site, demo or one batch area",
    )
    r.add_argument("--out", help="output folder (default: DIR/report inside --results)")
    r.add_argument("--lang", default="zh", choices=["zh", "en"], help="labels (default zh)")
    r.add_argument("--title", help="title of the ledger, summary and map")
    _personal_flag(r, "the report")


def _report_out(a: argparse.Namespace) -> None:
    """Give ``geogrid report`` its default --out (DIR/report); refuse the results folder itself."""
    from geogrid.errors import InputError

    results = Path(a.results)
    if not results.is_dir():
        msg = f"results folder {str(results)!r} does not exist; pass the folder a geogrid run wrote"
        raise InputError(msg)
    if a.out is None:
        a.out = str(results / "report")
    if Path(a.out).resolve() == results.resolve():
        msg = (
            "--out is the --results folder; the report needs its own folder so the results "
            "keep their run.json (omit --out for DIR/report)"
        )
        raise InputError(msg)


def _report(a: argparse.Namespace, out: Path, guard: Any) -> int:
    """Run ``geogrid report``: read --results, write the report files into ``out``."""
    from geogrid.outputs.publish import report_from_results

    report_from_results(a.results, out, lang=a.lang, title=a.title, guard=guard)
    return 0


def _run_report(a: argparse.Namespace, out: Path, guard: Any) -> None:
    """Write the report of a coverage/grids/site run from the files it just wrote in ``out``."""
    if getattr(a, "no_report", True):
        return
    from geogrid.outputs.publish import report_from_results

    params = {k: v for k, v in vars(a).items() if k not in _NOT_PARAMETERS}
    report_from_results(
        out, out, lang=a.lang, guard=guard, inputs=_input_paths(a), parameters=params
    )


def _batch_parser(b: argparse.ArgumentParser) -> None:
    """Options of ``geogrid batch`` (run by :mod:`geogrid.batch`)."""
    b.add_argument("manifest", nargs="?", help="CSV with one row per study area")
    b.add_argument(
        "--out", required=True, help="batch folder: one folder per area + combined files"
    )
    b.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    b.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    b.add_argument("--memory-limit", default="2GiB", help="memory per local worker (default 2GiB)")
    b.add_argument("--retries", type=int, default=1, help="retries of a task that raised (1)")
    b.add_argument(
        "--allowed-failures",
        type=int,
        default=2,
        help="workers an area may kill before it is marked failed (default 2)",
    )
    b.add_argument("--no-maps", action="store_true", help="skip each area's maps and report")
    b.add_argument("--lang", default="zh", choices=["zh", "en"], help="labels (default zh)")
    b.add_argument("--rerun", action="store_true", help="run finished areas again too")
    b.add_argument("--split-network", help="region split: one OSM extract (or street lines)")
    b.add_argument("--boundaries", help="region split: district/street polygons, one per area")
    b.add_argument("--buffer-m", type=float, default=2000.0, help="region split buffer (2000 m)")
    b.add_argument("--id-column", help="region split: boundary column of area ids")
    b.add_argument("--name-column", help="region split: boundary column of area names")
    b.add_argument("--demand", help="region split: buildings (default: the extract's)")
    b.add_argument("--facilities", help="region split: facilities (default: the extract's POIs)")
    b.add_argument("--communities", help="region split: community polygons")
    b.add_argument("--k", type=int, default=3, help="region split: new stations per area (3)")
    b.add_argument("--crs", help="coordinate system of layers that have none (CSV)")


def _batch_json(res: Any, out: Path, manifest: str | Path) -> str:
    """Return ``geogrid batch --json``'s document: counts, files and one row per area."""
    from geogrid.outputs import console

    n = len(res.summary)
    return console.to_json(
        {
            "areas": n,
            "done": n - res.failed - res.skipped,
            "skipped": res.skipped,
            "failed": res.failed,
            "manifest": str(manifest),
            "summary": str(out / "batch_summary.csv"),
            "rows": res.summary,
        }
    )


def _batch(a: argparse.Namespace) -> int:
    """``geogrid batch``: exit 0 when every area is done or skipped, 1 when any failed."""
    from geogrid.batch import run_many, split_region

    if (a.manifest is None) == (a.split_network is None):
        msg = "pass either a manifest CSV or --split-network with --boundaries"
        raise GeogridError(msg)
    manifest = a.manifest
    if a.split_network is not None:
        if a.boundaries is None:
            msg = "--split-network needs --boundaries (one polygon per study area)"
            raise GeogridError(msg)
        manifest = split_region(
            a.split_network,
            a.boundaries,
            a.out,
            buffer_m=a.buffer_m,
            demand=a.demand,
            facilities=a.facilities,
            communities=a.communities,
            id_column=a.id_column,
            name_column=a.name_column,
            crs=a.crs,
            k=a.k,
        )
        if not a.json:  # with --json, stdout is one JSON document
            from geogrid.outputs.console import wrote

            print(wrote([manifest], a.lang))

    with contextlib.suppress(ImportError):  # distributed sets up its loggers on import
        import distributed  # noqa: F401
    if not a.verbose:  # distributed logs every worker start and stop at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)

    out = sys.stderr if a.json else sys.stdout  # with --json, stdout is one JSON document

    def dashboard(link: str | None) -> None:
        from geogrid.outputs.console import dashboard_line

        print(dashboard_line(link, remote=bool(a.scheduler), lang=a.lang), file=out)

    res = run_many(
        manifest,
        a.out,
        scheduler=a.scheduler,
        n_workers=a.workers,
        memory_limit=a.memory_limit,
        retries=a.retries,
        allowed_failures=a.allowed_failures,
        maps=not a.no_maps,
        lang=a.lang,
        resume=not a.rerun,
        progress=True,
        on_dashboard=dashboard,
    )
    if a.json:
        print(_batch_json(res, Path(a.out), manifest))
        return 1 if res.failed else 0
    from geogrid.outputs.console import batch_line, failed_area

    n = len(res.summary)
    done = n - res.failed - res.skipped
    table = Path(a.out) / "batch_summary.csv"
    counts = {"n": n, "done": done, "skipped": res.skipped, "failed": res.failed}
    print(batch_line(counts, table, a.lang))
    for row in res.summary[res.summary["status"] == "failed"].itertuples():
        print(failed_area(row.id, row.error, a.lang))
    return 1 if res.failed else 0


def _private_rule(a: argparse.Namespace) -> str:
    """Return the --private rule (--drop-private is its deprecated spelling of "none")."""
    rule = getattr(a, "private", None)
    if getattr(a, "drop_private", False):
        if rule not in (None, "none"):
            msg = f"--drop-private contradicts --private {rule}; pass only --private"
            raise GeogridError(msg)
        logging.getLogger(__name__).warning("--drop-private is deprecated; use --private none")
        rule = "none"
    return rule or "residents"


def _demand_options(sp: argparse.ArgumentParser) -> None:
    """Demand sources and household assumptions (shared by coverage and site)."""
    from geogrid.settings import DEFAULTS

    g = sp.add_argument_group("demand sources and household assumptions")
    g.add_argument(
        "--compounds",
        metavar="FILE",
        help="compound (小区) table, points or polygons with households (户数); its households "
        "replace the estimates of the buildings inside or nearby",
    )
    g.add_argument(
        "--compounds-crs",
        help="coordinate system of the compound table: bd09 (Baidu, Lianjia), gcj02 (Amap, "
        "Anjuke), wgs84, EPSG:xxxx",
    )
    g.add_argument(
        "--population",
        action="append",
        metavar="[NAME=]FILE.tif",
        help="population raster (WorldPop, GHS-POP) spread over residential buildings, totals over "
        "the area the buildings span; repeat "
        "with a name for more, e.g. --population adults.tif --population elderly=old.tif",
    )
    g.add_argument(
        "--area",
        metavar="FILE",
        help="study-area outline (e.g. the street boundary); raster totals are taken over it "
        "(default: the area the residential buildings span)",
    )
    g.add_argument(
        "--registry",
        metavar="FILE",
        help="zones (community/street/township polygons) with households or population; the "
        "estimates inside each zone are scaled to its total",
    )
    g.add_argument("--registry-crs", help="coordinate system of the registry zones")
    g.add_argument(
        "--residential-rule",
        choices=["evidence", "strict", "tags"],
        default="evidence",
        help="building=yes without evidence counts as housing (evidence, default), does not "
        "(strict); tags: decide on the building tag only",
    )
    g.add_argument(
        "--residential-column",
        metavar="COLUMN",
        help="demand column that overrides the housing decision (1/0, true/false, 是/否)",
    )
    g.add_argument(
        "--dwelling-m2",
        type=float,
        help=f"floor area per household in m2 (default {DEFAULTS.dwelling_m2:g})",
    )
    g.add_argument(
        "--net-to-gross",
        type=float,
        help=f"dwelling share of gross floor area (default {DEFAULTS.net_to_gross:g})",
    )
    g.add_argument(
        "--occupancy",
        type=float,
        help=f"share of dwellings occupied (default {DEFAULTS.occupancy_rate:g})",
    )
    g.add_argument(
        "--household-size",
        type=float,
        help=f"persons per household (default {DEFAULTS.household_size:g}, 7th census)",
    )
    g.add_argument(
        "--min-footprint",
        type=float,
        help=f"smallest footprint that can be housing, m2 (default {DEFAULTS.min_housing_footprint_m2:g})",
    )
    g.add_argument(
        "--default-storeys",
        metavar="TAG=N,...",
        help="storeys by building tag when none is known, e.g. yes=6,apartments=18 "
        "(default yes=3, apartments/residential=6, house=2)",
    )


def _demand_settings(a: argparse.Namespace, settings: Any) -> Any:
    """Apply the household-assumption flags to ``settings``."""
    from dataclasses import replace
    from types import MappingProxyType

    from geogrid.errors import InputError

    changes: dict[str, Any] = {}
    for flag, key, low, high in (
        ("dwelling_m2", "dwelling_m2", 10.0, 1000.0),
        ("net_to_gross", "net_to_gross", 0.05, 1.0),
        ("occupancy", "occupancy_rate", 0.05, 1.0),
        ("household_size", "household_size", 1.0, 10.0),
        ("min_footprint", "min_housing_footprint_m2", 0.0, 1000.0),
    ):
        value = getattr(a, flag, None)
        if value is None:
            continue
        if not low <= value <= high:
            msg = f"--{flag.replace('_', '-')} {value:g} is out of range; pass a value from {low:g} to {high:g}"
            raise InputError(msg)
        changes[key] = value
    spec = getattr(a, "default_storeys", None)
    if spec:
        levels = dict(settings.default_levels)
        for item in spec.split(","):
            tag, _, num = item.partition("=")
            try:
                n = int(num)
            except ValueError:
                n = 0
            if not tag.strip() or not 1 <= n <= 200:
                msg = (
                    f"--default-storeys item {item!r} is not TAG=N; write e.g. yes=6,apartments=18"
                )
                raise InputError(msg)
            levels[tag.strip()] = n
        changes["default_levels"] = MappingProxyType(levels)
    return replace(settings, **changes) if changes else settings


def _study(a: argparse.Namespace) -> Any:
    from geogrid.settings import DEFAULTS
    from geogrid.study.area import load_study

    settings = DEFAULTS
    if getattr(a, "speed", None) is not None:
        from dataclasses import replace

        settings = replace(DEFAULTS, speed_kmh=a.speed)
    settings = _demand_settings(a, settings)
    return load_study(
        network=a.network,
        demand=a.demand,
        facilities=getattr(a, "facilities", None),
        communities=a.communities,
        crs=a.crs,
        demand_crs=a.demand_crs,
        facilities_crs=a.facilities_crs,
        private=_private_rule(a),
        residential=a.residential,
        settings=settings,
        compounds=a.compounds,
        compounds_crs=a.compounds_crs,
        population=a.population,
        registry=a.registry,
        registry_crs=a.registry_crs,
        residential_rule=a.residential_rule,
        residential_column=a.residential_column,
        study_area=a.area,
        facility_type_column=getattr(a, "facility_type_column", None),
        facility_type=getattr(a, "facility_type", None),
    ), settings


def _check_args(a: argparse.Namespace) -> None:
    """Refuse implausible speeds and targets before any file is read."""
    from geogrid.settings import check_plausible, parse_targets

    spec = getattr(a, "targets", None) if a.command == "coverage" else getattr(a, "target", None)
    targets = parse_targets(spec) if spec is not None else ()
    if a.command == "site" and len(targets) != 1:
        msg = f"--target takes one target, got {spec!r}; pass e.g. --target 15min"
        raise GeogridError(msg)
    k = getattr(a, "k", None)
    if k is not None and k < 1:
        msg = f"--k must be a positive whole number of new stations, got {k}; pass e.g. --k 5"
        raise GeogridError(msg)
    check_plausible(
        speed_kmh=getattr(a, "speed", None),
        targets=targets,
        allow_implausible=getattr(a, "allow_implausible", False),
    )


#: Files each folder-writing command writes (checked against the folder before computing).
_OUTPUTS = {
    "coverage": ("coverage.gpkg", "summary.csv", "demand_sources.gpkg"),
    "grids": ("grids.gpkg", "grids_quality.csv", "grids_certificates.csv"),
    "site": ("siting.gpkg", "siting_curve.csv", "siting_curve.png", "demand_sources.gpkg"),
    "report": _REPORT_FILES,
}
_NOT_PARAMETERS = {"command", "verbose", "out", "json", "results"}


def _input_paths(a: argparse.Namespace) -> dict[str, str]:
    """Return option -> file for every argument naming an existing file (hashed in run.json)."""
    out: dict[str, str] = {}
    for key, value in sorted(vars(a).items()):
        if key in _NOT_PARAMETERS:
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            path = item.split("|", 1)[0] if isinstance(item, str) else ""  # file.gpkg|layername=
            if path and Path(path).is_file():
                out[key if i == 0 else f"{key}_{i + 1}"] = path
    return out


def _planned(a: argparse.Namespace) -> tuple[str, ...]:
    """Files the command plans to write: its own, and the report's unless --no-report."""
    own = _OUTPUTS[a.command]
    if a.command in ("coverage", "grids", "site") and not getattr(a, "no_report", False):
        return own + _REPORT_FILES
    return own


def _run(a: argparse.Namespace) -> int:
    """Run a command; a folder-writing one inside a :class:`RunFolder` (staged, locked)."""
    from geogrid.io.runfolder import RunFolder, check_output_file

    if a.command == "batch":
        return _batch(a)
    if a.command == "map":
        check_output_file(a.out)  # the results folder is checked as it is read
    if a.command == "report":
        _report_out(a)
    if a.command not in _OUTPUTS:
        return _command(a, Path(a.out), {}, {})
    params = {k: v for k, v in sorted(vars(a).items()) if k not in _NOT_PARAMETERS}
    inputs = _input_paths(a)
    planned = _planned(a)
    with RunFolder(
        a.out, command=a.command, parameters=params, inputs=inputs, planned=planned
    ) as run:
        code = _command(a, run.stage, run.timing, run.parameters)
    out = Path(a.out)
    if not a.json:  # with --json, stdout is one JSON document
        from geogrid.outputs.console import wrote

        print(wrote([*(out / n for n in run.written), out / "run.json"], a.lang))
    return code


def _command(
    a: argparse.Namespace, out: Path, timing: dict[str, Any], parameters: dict[str, Any]
) -> int:
    """Compute a command; write its files into ``out`` (a run's staging folder, or --out).

    Every file goes through one :class:`ExportGuard` (personal data withheld unless
    ``--include-personal``); what it withheld is warned about and recorded in ``parameters``
    (the run's manifest).
    """
    from geogrid.outputs.console import format_summary
    from geogrid.outputs.privacy import ExportGuard

    guard = ExportGuard(include_personal=bool(getattr(a, "include_personal", False)))
    code = _compute(a, out, timing, guard)
    if code == 0 and a.command in ("coverage", "grids", "site"):
        _run_report(a, out, guard)
    if a.command in _OUTPUTS:
        parameters["personal_withheld"] = guard.withheld()
        guard.warn()
        if a.command != "coverage":  # coverage prints it with the study summary
            line = format_summary({"personal_withheld": guard.withheld()}, a.lang)
            if line and not a.json:
                print(line)
    return code


def _print_coverage(a: argparse.Namespace, study: Any, res: Any, guard: Any, secs: float) -> None:
    """Print what ``geogrid coverage`` found: the human summary, or the figures as JSON."""
    from geogrid.outputs import console

    figures = {**study.summary(), "personal_withheld": guard.withheld()}
    if a.json:
        metrics = dict(zip(res.summary["metric"], res.summary["value"], strict=False))
        print(console.to_json({**figures, **metrics}))
        return
    print(console.format_summary(figures, a.lang))
    print(console.coverage_summary(res.layers(), a.lang))
    print(console.seconds(secs, a.lang))


def _print_grids(a: argparse.Namespace, res: Any, excluded: dict[str, int]) -> None:
    """Print what ``geogrid grids`` made: the human summary, or the figures as JSON."""
    from geogrid.outputs import console

    if a.json:
        counts = res.certificates["status"].value_counts().to_dict()
        data = {"grids": len(res.grids), "excluded": excluded, "certificates": counts}
        print(console.to_json({**data, "quality": res.quality}))
        return
    for key, n in excluded.items():
        print(console.excluded_line(key, n, a.lang))
    print(console.grids_summary(res.grids, res.certificates, a.lang))


def _compute(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """Run one command over the public API, writing its files into ``out`` through ``guard``."""
    commands = {
        "demo": _demo,
        "coverage": _coverage,
        "grids": _grids,
        "site": _site,
        "report": _report_command,
        "map": _map,
    }
    run = commands.get(a.command)
    return 2 if run is None else run(a, out, timing, guard)


def _report_command(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid report``: the report of a results folder (see :func:`_report`)."""
    return _report(a, out, guard)


def _demo(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid demo``: :func:`geogrid.run_demo`, then its figures."""
    from geogrid.api import run_demo
    from geogrid.outputs import console

    figures = run_demo(
        a.out,
        n_communities=a.communities,
        seed=a.seed,
        k=a.k,
        maps=not a.no_maps,
        include_personal=a.include_personal,
        lang=a.lang,
    )
    print(console.to_json(figures) if a.json else console.format_summary(figures, a.lang))
    return 0


def _coverage(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid coverage``: :func:`geogrid.coverage` on the study, its files and summary."""
    from geogrid.api import coverage

    t0 = time.perf_counter()
    study, settings = _study(a)
    res = coverage(study, targets=a.targets, settings=settings)
    res.write_files(out, guard)
    _print_coverage(a, study, res.raw, guard, time.perf_counter() - t0)
    return 0


def _grids(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid grids``: :func:`geogrid.grids` on the study, its files and quality."""
    from geogrid.api import grids
    from geogrid.errors import InputError
    from geogrid.study.area import load_study, read_input

    if not 0 < a.min_hh <= a.target_hh <= a.max_hh:
        msg = (
            f"--min, --target and --max must satisfy 0 < min <= target <= max, got "
            f"{a.min_hh}, {a.target_hh}, {a.max_hh}; pass e.g. --min 200 --target 350 --max 500"
        )
        raise InputError(msg)
    if not a.communities and not a.network:
        msg = (
            "grids needs --communities (community polygons) or --network (streets, to "
            "derive provisional communities from where people live); pass one of them"
        )
        raise InputError(msg)
    study = load_study(network=a.network, demand=a.demand, communities=a.communities, crs=a.crs)
    residential = read_input(a.residential, crs=a.crs, what="residential")
    if residential is None and study.communities is None:
        residential = _osm_residential(a.demand, a.network)
    res = grids(
        study,
        residential=residential,
        seed=a.seed,
        min_households=a.min_hh,
        target_households=a.target_hh,
        max_households=a.max_hh,
        certificates="full" if a.balance else "band",
    )
    excluded = res.layers()["excluded"]
    res.write_files(out, guard)
    counts = excluded.groupby(["layer", "reason"]).size()
    _print_grids(
        a, res.raw, {f"{layer}: {reason}": int(n) for (layer, reason), n in counts.items()}
    )
    return 0


def _osm_residential(*paths: str | None) -> Any:
    """Residential polygons of the first OSM file among ``paths`` (None when there is none)."""
    from geogrid.io.osm import read_osm

    osm_ext = (".osm", ".osm.xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")
    osm_file = next((f for f in paths if f and str(f).lower().endswith(osm_ext)), None)
    return None if osm_file is None else read_osm(osm_file).residential


def _site(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid site``: :func:`geogrid.site` with every option of the library."""
    from geogrid.api import site
    from geogrid.errors import InputError
    from geogrid.study.area import read_input

    if a.k is None and a.problem != "setcover":
        msg = f"--problem {a.problem} needs --k, the number of new stations; pass e.g. --k 5"
        raise InputError(msg)
    study, settings = _study(a)

    def layer(path: str | None, what: str) -> Any:
        return read_input(path, crs=a.crs, what=what)

    pool = a.candidates if a.candidates in ("public", "compounds", "all") else "public"
    cand = (
        None
        if a.candidates in ("public", "compounds", "all")
        else layer(a.candidates, "candidates")
    )
    required: Any = None
    if a.require:
        if Path(a.require).suffix or Path(a.require).exists():
            required = layer(a.require, "required sites")
        else:
            required = [x.strip() for x in a.require.split(",") if x.strip()]
    res = site(
        study,
        k=a.k,
        target=a.target,
        candidates=cand,
        problem=a.problem,
        share=a.share,
        capacity_hh=a.capacity,
        pmedian_cap_m=a.cap,
        solver=a.solver,
        time_limit_s=a.time_limit,
        mip_rel_gap=a.gap,
        every_m=a.every,
        exclude=layer(a.exclude, "exclude zones"),
        speed_kmh=a.speed,
        weight=a.weight,
        required=required,
        relocate=a.relocate,
        closable=None if a.closable is None else [t.strip() for t in a.closable.split(",")],
        candidate_pool=pool,
        gates=layer(a.gates, "gates"),
        min_gain=a.min_gain,
        settings=settings,
    )
    res.write_files(out, guard, lang=a.lang)
    timing["siting_solver"] = res.timings()
    timing["siting_points"] = res.solver_points()  # status, method, bound and gap per k
    from geogrid.outputs import console

    if a.json:
        summ = dict(zip(res.raw.summary["metric"], res.raw.summary["value"], strict=False))
        print(console.to_json({**summ, "curve": res.curve.drop(columns=["sites"])}))
    else:
        print(console.siting_summary(res.raw.summary, a.lang))
    return 0


def _map(a: argparse.Namespace, out: Path, timing: dict[str, Any], guard: Any) -> int:
    """``geogrid map``: the map of a results folder."""
    from geogrid.outputs import console
    from geogrid.outputs.webmap import map_from_results

    path = map_from_results(
        a.results,
        a.out,
        tiles="none" if a.offline else a.tiles,
        offline=not a.online,
        tianditu_key=a.tianditu_key,
        lang=a.lang,
        include_personal=a.include_personal,
    )
    print(console.to_json({"map": str(path)}) if a.json else console.wrote([path], a.lang))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``geogrid`` command."""
    parser = _parser()
    a = parser.parse_args(argv)
    if a.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.INFO if a.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from geogrid.io.runfolder import RunInterrupted, handle_signals

    try:
        with handle_signals():
            _check_args(a)
            return _run(a)
    except RunInterrupted as exc:
        print(
            f"geogrid: interrupted by {exc}; no partial output or temporary file was left",
            file=sys.stderr,
        )
        return exc.exit_code
    except GeogridError as exc:
        print(f"geogrid: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"geogrid: error: {exc.filename or exc} not found; check the path", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, read-only file system, name too long
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"geogrid: error: cannot use{where} ({exc.strerror or exc}); check the path, "
            "its permissions and the free disk space",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("geogrid: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
