"""The bad-input catalogue: parameters, files, coordinates and networks (issue 9, section 2).

Each case runs ``geogrid`` as a user would and is classed by its id, ``"<class>:<name>"``:
``error`` (exit 2, one line ``geogrid: error: ...`` naming the fix), ``repair`` (exit 0, a
warning naming the repair, correct result) or ``ok``. Count them with
``pytest tests/test_bad_inputs.py --collect-only -q``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from _catalogue import (
    case,
    check,
    coverage_args,
    demo_district,
    demo_inputs,
    outcome_class,
    run_cli,
    run_subprocess,
)
from conftest import real_path

from geogrid.crs import from_wgs84

Build = Callable[[dict[str, Path], Path], list[str]]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny demo district's layers as GeoPackages (built once for the module)."""
    return demo_inputs(tmp_path_factory.mktemp("demo_inputs"))


def _wgs(layer: str) -> gpd.GeoDataFrame:
    return getattr(demo_district(), layer).to_crs("EPSG:4326")


def _write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    gdf.to_file(path, driver="GPKG" if path.suffix == ".gpkg" else None)
    return path


def _swap_axes(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.copy()
    out.geometry = shapely.transform(np.asarray(gdf.geometry.values), lambda xy: xy[:, ::-1])
    return out


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def cov(**override: Any) -> Build:
    """A ``geogrid coverage`` run on the demo inputs with options or inputs replaced."""

    def build(p: dict[str, Path], tmp: Path) -> list[str]:
        opts = {k: (v(p, tmp) if callable(v) else v) for k, v in override.items()}
        return coverage_args(p, tmp / "out", **opts)

    return build


def site(*extra: str, **override: Any) -> Build:
    """A ``geogrid site`` run on the demo inputs."""

    def build(p: dict[str, Path], tmp: Path) -> list[str]:
        opts = {k: (v(p, tmp) if callable(v) else v) for k, v in override.items()}
        args = coverage_args(p, tmp / "out", **opts)
        return ["site", *args[1:], *extra]

    return build


def raw(*args: str) -> Build:
    """Arguments after ``coverage_args(...)`` that argparse must see as one token."""

    def build(p: dict[str, Path], tmp: Path) -> list[str]:
        return [*coverage_args(p, tmp / "out"), *args]

    return build


# --- file builders (each returns a path in the test's tmp folder) -----------------------------


def metres_labelled_wgs84(p: dict[str, Path], tmp: Path) -> Path:
    gdf = demo_district().buildings.to_crs("EPSG:4546").set_crs("EPSG:4326", allow_override=True)
    return _write(gdf, tmp / "metres.gpkg")


def swapped_buildings(p: dict[str, Path], tmp: Path) -> Path:
    return _write(_swap_axes(_wgs("buildings")), tmp / "swapped.gpkg")


def swapped_facilities(p: dict[str, Path], tmp: Path) -> Path:
    return _write(_swap_axes(_wgs("facilities")), tmp / "swapped_fac.gpkg")


def one_node_network(p: dict[str, Path], tmp: Path) -> Path:
    ways = _wgs("ways").iloc[:1].copy()
    ways.geometry = [shapely.LineString([(109.84, 40.65), (109.84, 40.65)])]
    return _write(ways, tmp / "one_node.gpkg")


def stray_network_way(p: dict[str, Path], tmp: Path) -> Path:
    ways = _wgs("ways")
    row = ways.iloc[[0]].copy()
    row.geometry = [shapely.LineString([(0.0, 0.0), (0.001, 0.0)])]
    return _write(pd.concat([ways, row], ignore_index=True), tmp / "stray_way.gpkg")


def motorway_osm(p: dict[str, Path], tmp: Path) -> Path:
    return _text(
        tmp / "motorway.osm",
        "<osm version='0.6'><node id='1' lat='40.65' lon='109.84'/>"
        "<node id='2' lat='40.66' lon='109.85'/><way id='3'><nd ref='1'/><nd ref='2'/>"
        "<tag k='highway' v='motorway'/></way></osm>",
    )


def buildings_only_osm(p: dict[str, Path], tmp: Path) -> Path:
    return _text(
        tmp / "buildings.osm",
        "<osm version='0.6'><node id='1' lat='40.65' lon='109.84'/>"
        "<node id='2' lat='40.66' lon='109.85'/><node id='4' lat='40.66' lon='109.84'/>"
        "<way id='3'><nd ref='1'/><nd ref='2'/><nd ref='4'/><nd ref='1'/>"
        "<tag k='building' v='yes'/></way></osm>",
    )


def empty_osm(p: dict[str, Path], tmp: Path) -> Path:
    return _text(tmp / "empty.osm", "<osm version='0.6'></osm>")


_GRAPHML_NS = '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'


def truncated_graphml(p: dict[str, Path], tmp: Path) -> Path:
    full = real_path("shenzhen_futian.graphml").read_bytes()
    path = tmp / "truncated.graphml"
    path.write_bytes(full[: len(full) // 2])
    return path


def billion_laughs_graphml(p: dict[str, Path], tmp: Path) -> Path:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return _text(
        tmp / "laughs.graphml",
        f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{"".join(ents)}]>\n{_GRAPHML_NS}'
        '<graph edgedefault="directed"><data key="d0">&lol9;</data></graph></graphml>',
    )


def external_entity_graphml(p: dict[str, Path], tmp: Path) -> Path:
    secret = _text(tmp / "secret.txt", "SECRET-CONTENT")
    return _text(
        tmp / "xxe.graphml",
        f'<?xml version="1.0"?>\n<!DOCTYPE g [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f'{_GRAPHML_NS}<key id="d0" for="graph" attr.name="crs" attr.type="string"/>'
        '<graph edgedefault="directed"><data key="d0">&xxe;</data></graph></graphml>',
    )


def _laughs_prolog(root: str) -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return f'<?xml version="1.0"?>\n<!DOCTYPE {root} [{"".join(ents)}]>\n'


_OSM_BODY = (
    '<osm version="0.6"><node id="1" lat="40.65" lon="109.84"><tag k="name" v="{ent}"/>'
    '</node><node id="2" lat="40.66" lon="109.85"/><way id="3"><nd ref="1"/><nd ref="2"/>'
    '<tag k="highway" v="residential"/></way></osm>'
)


def billion_laughs_osm(p: dict[str, Path], tmp: Path) -> Path:
    return _text(tmp / "laughs.osm", _laughs_prolog("osm") + _OSM_BODY.format(ent="&lol9;"))


def external_entity_osm(p: dict[str, Path], tmp: Path) -> Path:
    secret = _text(tmp / "secret.txt", "SECRET-CONTENT")
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE osm [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
    return _text(tmp / "xxe.osm", prolog + _OSM_BODY.format(ent="&xxe;"))


def not_graphml(p: dict[str, Path], tmp: Path) -> Path:
    return _text(tmp / "other.graphml", '<?xml version="1.0"?><svg/>')


def edgeless_graphml(p: dict[str, Path], tmp: Path) -> Path:
    return _text(
        tmp / "edgeless.graphml",
        f'<?xml version="1.0"?>{_GRAPHML_NS}<key id="d0" for="graph" attr.name="crs" '
        'attr.type="string"/><graph edgedefault="directed"><data key="d0">epsg:4326</data>'
        '<node id="1"/></graph></graphml>',
    )


def empty_file(suffix: str) -> Build:
    def build(p: dict[str, Path], tmp: Path) -> Path:  # type: ignore[return]
        path = tmp / f"empty{suffix}"
        path.write_bytes(b"")
        return path

    return build  # type: ignore[return-value]


def text_file(name: str, text: str) -> Build:
    def build(p: dict[str, Path], tmp: Path) -> Path:  # type: ignore[return]
        return _text(tmp / name, text)

    return build  # type: ignore[return-value]


def two_layers(p: dict[str, Path], tmp: Path) -> Path:
    path = tmp / "two.gpkg"
    _wgs("buildings").to_file(path, layer="buildings")
    _wgs("facilities").to_file(path, layer="facilities")
    return path


def empty_layer(p: dict[str, Path], tmp: Path) -> Path:
    return _write(_wgs("buildings").iloc[:0], tmp / "empty_layer.gpkg")


def mixed_geometries(p: dict[str, Path], tmp: Path) -> Path:
    gdf = _wgs("buildings")
    gdf.loc[gdf.index[0], "geometry"] = gdf.geometry.iloc[0].exterior
    return _write(gdf, tmp / "mixed.gpkg")


def no_crs_layer(p: dict[str, Path], tmp: Path) -> Path:
    gdf = _wgs("buildings").set_crs(None, allow_override=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio: "'crs' was not provided"
        pyogrio.write_dataframe(gdf, tmp / "nocrs.gpkg")
    return tmp / "nocrs.gpkg"


def nan_coordinates(p: dict[str, Path], tmp: Path) -> Path:
    gdf = _wgs("facilities")[["facility_id", "name", "type", "geometry"]].iloc[[0, 0, 1]]
    gdf = gdf.reset_index(drop=True).assign(facility_id=["A", "B", "C"])
    gdf.geometry = [
        shapely.Point(109.84, 40.65),
        shapely.Point(np.inf, 40.65),
        shapely.Point(np.nan, 1),
    ]
    return _write(gdf, tmp / "nan.gpkg")


def stray_building(x: float, y: float) -> Build:
    def build(p: dict[str, Path], tmp: Path) -> Path:  # type: ignore[return]
        gdf = _wgs("buildings")
        row = gdf.iloc[[0]].copy()
        row["building_id"] = "STRAY"
        row.geometry = [shapely.box(x, y, x + 0.0003, y + 0.0003)]
        return _write(pd.concat([gdf, row], ignore_index=True), tmp / "stray.gpkg")

    return build  # type: ignore[return-value]


def stray_facility(p: dict[str, Path], tmp: Path) -> Path:
    gdf = _wgs("facilities")
    row = gdf.iloc[[0]].copy()
    row["facility_id"] = "STRAY"
    row.geometry = [shapely.Point(0.0, 0.0)]
    return _write(pd.concat([gdf, row], ignore_index=True), tmp / "stray_fac.gpkg")


def far_buildings(p: dict[str, Path], tmp: Path) -> Path:
    gdf = _wgs("buildings")
    gdf.geometry = gdf.geometry.translate(5.0, 0.0)
    return _write(gdf, tmp / "far.gpkg")


def _households_of(out: Path) -> float:
    dem = gpd.read_file(out / "coverage.gpkg", layer="demand")
    return float(dem["households"].sum())


def _verify_stray(p: dict[str, Path], tmp: Path) -> None:
    excluded = gpd.read_file(tmp / "out" / "coverage.gpkg", layer="excluded")
    # every row is accounted for: non-residential buildings are listed too (issue 9, part 3)
    excluded = excluded[excluded["reason"].str.contains("outside the study area")]
    assert list(excluded["source_id"]) == ["STRAY"]
    assert set(excluded.columns) >= {"layer", "source_id", "reason", "geometry"}


def _verify_same_households(p: dict[str, Path], tmp: Path) -> None:
    from geogrid.cli import main

    assert main(coverage_args(p, tmp / "clean")) == 0
    assert _households_of(tmp / "out") == pytest.approx(_households_of(tmp / "clean"))


CASES = [
    # --- parameters -------------------------------------------------------------------------
    case("error", "speed-inf", cov(speed="inf"), ["--speed", "positive finite"]),
    case("error", "speed-nan", cov(speed="nan"), ["--speed", "positive finite"]),
    case("error", "speed-negative", raw("--speed=-1"), ["--speed", "positive finite"]),
    case("error", "speed-word", cov(speed="fast"), ["--speed", "not a number"]),
    case("error", "speed-1000", cov(speed="1000"), ["0.5-20 km/h", "--allow-implausible"]),
    case("error", "speed-0.1", cov(speed="0.1"), ["0.5-20 km/h", "--allow-implausible"]),
    case("ok", "speed-1000-allowed", cov(speed="1000", allow_implausible=True), ["已写出："]),
    case("ok", "speed-3", cov(speed="3"), ["步行覆盖率（按户）：", "15分钟 "]),
    case("error", "targets-15", cov(targets="15"), ["'15'", "15min"]),
    case("error", "targets-abcmin", cov(targets="abcmin"), ["abcmin", "15min"]),
    case("error", "targets-empty", cov(targets=""), ["''", "15min"]),
    case("error", "targets-nanmin", cov(targets="nanmin"), ["nanmin", "positive finite"]),
    case("error", "targets-infkm", cov(targets="infkm"), ["infkm", "positive finite"]),
    case("error", "targets-minus-5min", raw("--targets=-5min"), ["-5min", "positive"]),
    case("error", "targets-0min", cov(targets="0min"), ["0min", "positive"]),
    case("error", "targets-500min", cov(targets="500min"), ["1-120 min", "--allow-implausible"]),
    case("error", "targets-20m", cov(targets="20m"), ["50-10,000 m", "--allow-implausible"]),
    case("error", "targets-50km", cov(targets="50km"), ["50-10,000 m"]),
    case(
        "ok", "targets-500min-allowed", cov(targets="500min", allow_implausible=True), ["已写出："]
    ),
    case("ok", "targets-800m-12min", cov(targets="800m, 12min"), ["800米 ", "12分钟 "]),
    case("error", "site-k-0", site("--k", "0"), ["--k", "--k 5"]),
    case("error", "site-k-minus-3", site("--k=-3"), ["--k", "--k 5"]),
    case(
        "error", "demo-k-0", lambda p, t: ["demo", "--out", str(t / "out"), "--k", "0"], ["--k 5"]
    ),
    case("ok", "site-k-larger-than-needed", site("--k", "100000"), ["已写出："]),
    case(
        "error",
        "grids-min-above-max",
        lambda p, t: [
            "grids",
            "--demand",
            str(p["demand"]),
            "--min",
            "600",
            "--max",
            "500",
            "--out",
            str(t / "out"),
        ],
        ["min <= target <= max"],
    ),
    case(
        "error",
        "map-lang-fr",
        lambda p, t: ["map", "--results", str(t), "--lang", "fr", "--out", str(t / "m.html")],
        ["--lang", "zh"],
    ),
    case(
        "error",
        "residential-missing",
        cov(residential="nowhere.gpkg"),
        ["nowhere.gpkg", "check the path"],
    ),
    case(
        "error",
        "candidates-missing",
        site("--k", "1", "--candidates", "nowhere.gpkg"),
        ["nowhere.gpkg"],
    ),
    case("error", "network-without-highway", cov(network=lambda p, t: p["demand"]), ["highway"]),
    case("error", "site-k-abc", site("--k", "abc"), ["--k", "invalid int", "--help"]),
    case("error", "site-target-two", site("--k", "1", "--target", "10min,15min"), ["one target"]),
    case("error", "site-target-nanmin", site("--k", "1", "--target", "nanmin"), ["nanmin"]),
    case("error", "site-speed-100", site("--k", "1", "--speed", "100"), ["0.5-20 km/h"]),
    case("error", "unknown-option", raw("--colour", "red"), ["--colour", "--help"]),
    case("error", "crs-not-a-crs", cov(crs="not-a-crs"), ["not-a-crs", "EPSG:4326"]),
    case("error", "crs-not-a-crs-facilities", cov(facilities_crs="EPSG:99999"), ["EPSG:99999"]),
    # --- files --------------------------------------------------------------------------------
    case("error", "demand-missing", cov(demand="nowhere.gpkg"), ["nowhere.gpkg", "check the path"]),
    case("error", "network-missing", cov(network="nowhere.osm"), ["nowhere.osm", "check the path"]),
    case(
        "error",
        "graphml-missing",
        cov(network="nowhere.graphml"),
        ["nowhere.graphml", "check the path"],
    ),
    case("error", "demand-is-folder", cov(demand=lambda p, t: t), ["folder", "pass a file"]),
    case("error", "network-is-folder", cov(network=lambda p, t: t), ["folder", "pass a file"]),
    case("error", "demand-empty-gpkg", cov(demand=empty_file(".gpkg")), ["empty file", "export"]),
    case("error", "demand-empty-csv", cov(demand=empty_file(".csv"), crs="wgs84"), ["empty file"]),
    case("error", "network-empty-osm-file", cov(network=empty_file(".osm")), ["empty.osm"]),
    case("error", "demand-wrong-extension", cov(demand=text_file("a.dat", "x")), [".dat", ".gpkg"]),
    case(
        "error",
        "csv-without-lonlat",
        cov(demand=text_file("a.csv", "name,households\nA,5\n"), crs="wgs84"),
        ["no lon column", "lon="],
    ),
    case(
        "error",
        "excel-that-is-text",
        cov(demand=text_file("a.xlsx", "lon,lat\n109.8,40.6\n"), crs="wgs84"),
        ["a.xlsx", "cannot be read"],
    ),
    case(
        "error",
        "geojson-not-json",
        cov(demand=text_file("a.geojson", "{not json")),
        ["a.geojson", "GeoJSON", "export it again"],
    ),
    case("error", "gpkg-two-layers", cov(demand=two_layers), ["2 layers", "|layername=buildings"]),
    case(
        "ok",
        "gpkg-layer-picked",
        cov(demand=lambda p, t: f"{two_layers(p, t)}|layername=buildings"),
        ["步行覆盖率（按户）：", "15分钟 "],
    ),
    case("error", "empty-layer", cov(demand=empty_layer), ["no features"]),
    # a line among footprints is excluded with its reason (issue 9 part 3), not refused
    case("repair", "mixed-geometries", cov(demand=mixed_geometries), ["not a point or polygon"]),
    case("error", "layer-without-crs", cov(demand=no_crs_layer), ["no coordinate system", "--crs"]),
    case(
        "error",
        "infinite-coordinate",
        cov(facilities=nan_coordinates),
        ["not finite", "fix those features"],
    ),
    case(
        "error",
        "osm-as-communities",
        cov(communities=motorway_osm),
        ["OSM file"],
    ),
    # --- coordinates --------------------------------------------------------------------------
    case(
        "error",
        "metres-labelled-4326",
        cov(demand=metres_labelled_wgs84),
        ["metres", "--demand-crs", "EPSG:"],
    ),
    case(
        "error", "latlon-swapped-gpkg", cov(demand=swapped_buildings), ["swapped", "swap x and y"]
    ),
    case(
        "error",
        "latlon-swapped-facilities",
        cov(facilities=swapped_facilities),
        ["swapped", "swap x and y"],
    ),
    case("error", "demand-all-far-away", cov(demand=far_buildings), ["none of the", "network"]),
    # --- networks -----------------------------------------------------------------------------
    case("error", "osm-no-ways", cov(network=empty_osm), ["no highway ways", "streets"]),
    case("error", "osm-buildings-only", cov(network=buildings_only_osm), ["no highway ways"]),
    case("error", "osm-no-walkable-ways", cov(network=motorway_osm), ["walkable", "motorway"]),
    case("error", "network-single-node", cov(network=one_node_network), ["single node"]),
    case(
        "error",
        "graphml-truncated",
        cov(network=truncated_graphml),
        ["truncated.graphml", "osmnx.save_graphml"],
    ),
    case(
        "error",
        "graphml-billion-laughs",
        cov(network=billion_laughs_graphml),
        ["entities", "osmnx.save_graphml"],
    ),
    case(
        "error",
        "graphml-external-entity",
        cov(network=external_entity_graphml),
        ["entities", "osmnx.save_graphml"],
    ),
    case("error", "osm-billion-laughs", cov(network=billion_laughs_osm), ["entities"]),
    case("error", "osm-external-entity", cov(network=external_entity_osm), ["entities"]),
    case("error", "graphml-not-graphml", cov(network=not_graphml), ["not a GraphML"]),
    case("error", "graphml-no-edges", cov(network=edgeless_graphml), ["no edges"]),
]

CASES_WITH_CHECKS = [
    case(
        "repair",
        "metres-labelled-4326-with-demand-crs",
        cov(demand=metres_labelled_wgs84, demand_crs="EPSG:4546"),
        ["metres", "EPSG:4546"],
        _verify_same_households,
    ),
    case(
        "repair",
        "network-stray-way-at-0-0",
        cov(network=stray_network_way),
        ["dropped 1", "network ways", "from the rest"],
        _verify_same_households,
    ),
    case(
        "repair",
        "stray-building-at-0-0",
        cov(demand=stray_building(0.0, 0.0)),
        ["dropped 1", "demand", "outside the study area"],
        _verify_stray,
    ),
    case(
        "repair",
        "stray-building-far-away",
        cov(demand=stray_building(120.0, 30.0)),
        ["dropped 1", "outside the study area"],
        _verify_same_households,
    ),
    case(
        "repair",
        "stray-facility-at-0-0",
        cov(facilities=stray_facility),
        ["dropped 1", "facilities", "outside the study area"],
        _verify_same_households,
    ),
]


def grids(demand: Any) -> Build:
    """A ``geogrid grids`` run with the demo communities."""

    def build(p: dict[str, Path], tmp: Path) -> list[str]:
        dem = demand(p, tmp) if callable(demand) else demand
        args = ["grids", "--demand", str(dem), "--communities", str(p["communities"])]
        return [*args, "--out", str(tmp / "out")]

    return build


def _verify_grids_unchanged(p: dict[str, Path], tmp: Path) -> None:
    from geogrid.cli import main

    assert (
        main(
            [
                "grids",
                "--demand",
                str(p["demand"]),
                "--communities",
                str(p["communities"]),
                "--out",
                str(tmp / "clean"),
            ]
        )
        == 0
    )
    got = gpd.read_file(tmp / "out" / "grids.gpkg", layer="grids")
    want = gpd.read_file(tmp / "clean" / "grids.gpkg", layer="grids")
    assert len(got) == len(want)
    assert got["households"].sum() == pytest.approx(want["households"].sum())
    excluded = gpd.read_file(tmp / "out" / "grids.gpkg", layer="excluded")
    excluded = excluded[excluded["reason"].str.contains("outside the study area")]
    assert list(excluded["source_id"]) == ["STRAY"]


CASES_WITH_CHECKS.append(
    case(
        "repair",
        "grids-stray-building-at-0-0",
        grids(stray_building(0.0, 0.0)),
        ["dropped 1", "outside the study area"],
        _verify_grids_unchanged,
    )
)


def _site_curves(p: dict[str, Path], tmp: Path, capsys: Any, caplog: Any) -> list[pd.DataFrame]:
    curves = []
    for speed in ("1", "8"):
        out = tmp / f"site_{speed}"
        args = ["site", *coverage_args(p, out)[1:], "--k", "2", "--speed", speed]
        check("ok", run_cli(args, capsys, caplog))
        curves.append(pd.read_csv(out / "siting_curve.csv", encoding="utf-8-sig"))
    return curves


@pytest.mark.parametrize(
    "name",
    [
        case(
            "ok",
            "site-speed-changes-answer",
            "site",
        )
    ],
)
def test_site_speed_changes_answer(
    name: str,
    inputs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow, fast = _site_curves(inputs, tmp_path, capsys, caplog)
    # 15 minutes is 250 m at 1 km/h and 2 km at 8 km/h: existing centres cover more when fast
    assert fast["households_covered"].iloc[0] > slow["households_covered"].iloc[0]


@pytest.mark.parametrize(("build", "fragments"), CASES)
def test_catalogue(
    build: Build,
    fragments: list[str],
    inputs: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    res = run_cli(build(inputs, tmp_path), capsys, caplog, cwd=tmp_path)
    check(outcome_class(request), res, *fragments)
    if outcome_class(request) == "error":
        assert not (tmp_path / "out").exists(), "an error run must not write outputs"


@pytest.mark.parametrize(("build", "fragments", "verify"), CASES_WITH_CHECKS)
def test_catalogue_with_result_checks(
    build: Build,
    fragments: list[str],
    verify: Callable[[dict[str, Path], Path], None],
    inputs: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    res = run_cli(build(inputs, tmp_path), capsys, caplog, cwd=tmp_path)
    check(outcome_class(request), res, *fragments)
    verify(inputs, tmp_path)


@pytest.mark.parametrize(
    "make",
    [
        case("error", "graphml-external-entity-subprocess", external_entity_graphml),
        case("error", "osm-external-entity-subprocess", external_entity_osm),
    ],
)
def test_external_entity_is_never_read(
    make: Callable[[dict[str, Path], Path], Path], inputs: dict[str, Path], tmp_path: Path
) -> None:
    """An XXE network file errors in one line without its entity's file content showing."""
    args = coverage_args(inputs, tmp_path / "out", network=make(inputs, tmp_path))
    res = run_subprocess(args, cwd=tmp_path)
    assert res.code == 2 and "SECRET-CONTENT" not in res.out + res.err
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("geogrid: error:")


# --- shifted Chinese coordinates labelled WGS84 (real Nanjing and Shenzhen OSM extracts) ------


@pytest.fixture(scope="module")
def real_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Buildings and POIs of the real extracts, as WGS84 and shifted into GCJ-02 and BD-09."""
    from geogrid.io.osm import read_osm

    folder = tmp_path_factory.mktemp("shifted")
    out: dict[str, dict[str, Path]] = {}
    for name in ("nanjing_xuanwu.osm", "shenzhen_longgang.osm"):
        osm = read_osm(real_path(name))
        buildings = osm.buildings[["osmid", "building", "geometry"]]
        pois = osm.pois[["osmid", "name", "geometry"]].assign(type="station")
        stem = name.split(".")[0]
        files: dict[str, Path] = {"network": real_path(name)}
        for system in ("wgs84", "gcj02", "bd09"):
            for key, layer in (("buildings", buildings), ("pois", pois)):
                shifted = layer if system == "wgs84" else from_wgs84(layer, system)
                files[f"{key}_{system}"] = _write(
                    shifted, folder / f"{stem}_{key}_{system}.geojson"
                )
        out[stem] = files
    return out


def _real_args(
    files: dict[str, Path], tmp: Path, demand: str, facilities: str, *extra: str
) -> list[str]:
    return [
        "coverage",
        "--network",
        str(files["network"]),
        "--demand",
        str(files[demand]),
        "--facilities",
        str(files[facilities]),
        "--out",
        str(tmp / "out"),
        *extra,
    ]


SHIFT_CASES = [
    case(
        "error",
        "gcj02-buildings-labelled-wgs84",
        "buildings_gcj02",
        "pois_wgs84",
        ["GCJ-02", "--demand-crs gcj02"],
    ),
    case(
        "error",
        "gcj02-pois-labelled-wgs84",
        "buildings_wgs84",
        "pois_gcj02",
        ["GCJ-02", "--facilities-crs gcj02"],
    ),
    case(
        "error",
        "bd09-buildings-labelled-wgs84",
        "buildings_bd09",
        "pois_wgs84",
        ["BD-09", "--demand-crs bd09"],
    ),
    case(
        "error",
        "bd09-pois-labelled-wgs84",
        "buildings_wgs84",
        "pois_bd09",
        ["BD-09", "--facilities-crs bd09"],
    ),
    case("ok", "wgs84-nanjing-no-false-positive", "buildings_wgs84", "pois_wgs84", ["15分钟 "]),
]


@pytest.mark.parametrize(("demand", "facilities", "fragments"), SHIFT_CASES)
def test_shifted_coordinates_nanjing(
    demand: str,
    facilities: str,
    fragments: list[str],
    real_layers: dict[str, dict[str, Path]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    args = _real_args(real_layers["nanjing_xuanwu"], tmp_path, demand, facilities)
    res = run_cli(args, capsys, caplog)
    check(outcome_class(request), res, *fragments)
    if outcome_class(request) == "ok":
        assert not any("GCJ-02" in w or "BD-09" in w for w in res.warnings)


@pytest.mark.parametrize(
    "demand",
    [
        case("ok", "wgs84-shenzhen-no-false-positive", "buildings_wgs84"),
        case("error", "gcj02-shenzhen-buildings", "buildings_gcj02"),
    ],
)
def test_shifted_coordinates_shenzhen(
    demand: str,
    real_layers: dict[str, dict[str, Path]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    args = _real_args(real_layers["shenzhen_longgang"], tmp_path, demand, "pois_wgs84")
    res = run_cli(args, capsys, caplog)
    cls = outcome_class(request)
    check(cls, res, *(["--demand-crs gcj02"] if cls == "error" else []))


@pytest.mark.parametrize("name", [case("ok", "gcj02-bd09-declared-gives-wgs84-answer", "nanjing")])
def test_declared_shift_gives_the_wgs84_answer(
    name: str,
    real_layers: dict[str, dict[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The fix the error names (--demand-crs gcj02) gives the same households and coverage."""
    files = real_layers["nanjing_xuanwu"]
    res = run_cli(
        _real_args(
            files,
            tmp_path / "a",
            "buildings_gcj02",
            "pois_bd09",
            "--demand-crs",
            "gcj02",
            "--facilities-crs",
            "bd09",
        ),
        capsys,
        caplog,
    )
    check("ok", res)
    res = run_cli(
        _real_args(files, tmp_path / "b", "buildings_wgs84", "pois_wgs84"), capsys, caplog
    )
    check("ok", res)
    a = pd.read_csv(tmp_path / "a" / "out" / "summary.csv", encoding="utf-8-sig")
    b = pd.read_csv(tmp_path / "b" / "out" / "summary.csv", encoding="utf-8-sig")
    va = dict(zip(a["metric"], a["value"], strict=True))
    vb = dict(zip(b["metric"], b["value"], strict=True))
    assert va["households"] == pytest.approx(vb["households"], rel=1e-3)
    assert va["coverage_15min"] == pytest.approx(vb["coverage_15min"], abs=0.01)


def test_small_district_in_wgs84_is_not_taken_for_shifted() -> None:
    """Moving a small layer off its network must not look like a better fit (false positive)."""
    from geogrid.demo import make_district
    from geogrid.network.build import network_from_ways
    from geogrid.study.area import load_study

    d = make_district(n_communities=2, seed=0)
    net = network_from_ways(d.ways, residential=d.compounds)
    study = load_study(
        network=net,
        demand=d.buildings.to_crs(4326),
        facilities=d.facilities.to_crs(4326),
        communities=d.communities,
    )
    assert len(study.demand) == len(d.buildings)
