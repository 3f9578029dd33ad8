"""Tests for geogrid.io: layers, GBK shapefiles, lon/lat tables, OSM files, atomic writes."""

from __future__ import annotations

import bz2
import gzip
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import real_path

from geogrid.crs import wgs84_to_bd09, wgs84_to_gcj02
from geogrid.errors import CRSError, GeogridError, InputError
from geogrid.io.osm import OSMData, fetch_osm, read_osm
from geogrid.io.readers import read_layer
from geogrid.io.writers import atomic_write, write_layers, write_table

NAMES = ["玄武区人民政府", "新街口社区党群服务中心", "梅园新村街道"]
LON = np.array([118.7927, 118.7800, 118.7950])
LAT = np.array([32.0507, 32.0420, 32.0450])


def _points(crs: str | int | None = 4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"名称": NAMES, "户数": [120, 350, 80]},
        geometry=gpd.points_from_xy(LON, LAT),
        crs=crs,
    )


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# --- vector layers ------------------------------------------------------------------------------


def test_gbk_shapefile_without_cpg(tmp_path: Path) -> None:
    shp = tmp_path / "社区.shp"
    pyogrio.write_dataframe(_points(), shp, encoding="GBK")
    (tmp_path / "社区.cpg").unlink()
    raw = (tmp_path / "社区.dbf").read_bytes()
    assert "玄武区".encode("gbk") in raw  # really GBK on disk
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    gdf = read_layer(shp)
    assert list(gdf["名称"]) == NAMES
    assert "名称" in gdf.columns
    assert list(gdf["户数"]) == [120, 350, 80]
    # user files untouched, nothing added
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_utf8_shapefile_without_cpg_and_encoding_override(tmp_path: Path) -> None:
    shp = tmp_path / "pts.shp"
    pyogrio.write_dataframe(_points(), shp, encoding="UTF-8")
    (tmp_path / "pts.cpg").unlink()
    assert list(read_layer(shp)["名称"]) == NAMES
    # a wrong explicit encoding is honoured (mojibake), proving the override is used
    forced = read_layer(shp, encoding="latin-1")
    assert "名称" not in forced.columns
    assert len(forced) == 3


def test_shapefile_cpg_is_honoured(tmp_path: Path) -> None:
    shp = tmp_path / "pts.shp"
    pyogrio.write_dataframe(_points(), shp, encoding="GBK")
    assert (tmp_path / "pts.cpg").read_text().strip().upper() == "GBK"
    assert list(read_layer(shp)["名称"]) == NAMES


def test_shapefile_without_prj_needs_crs(tmp_path: Path) -> None:
    shp = tmp_path / "pts.shp"
    pyogrio.write_dataframe(_points(), shp, encoding="UTF-8")
    (tmp_path / "pts.prj").unlink()
    with pytest.raises(CRSError) as exc:
        read_layer(shp)
    assert "crs=" in _one_line(exc) and ".prj" in str(exc.value)
    gdf = read_layer(shp, crs="cgcs2000")
    assert gdf.crs.to_epsg() == 4490


def test_geojson_declared_wgs84_can_be_overridden_as_gcj02(tmp_path: Path) -> None:
    gx, gy = wgs84_to_gcj02(LON, LAT)
    path = tmp_path / "amap.geojson"
    gpd.GeoDataFrame({"名称": NAMES}, geometry=gpd.points_from_xy(gx, gy), crs=4326).to_file(path)
    plain = read_layer(path)
    assert plain.crs.to_epsg() == 4326
    assert "source_crs" not in plain.attrs
    fixed = read_layer(path, crs="gcj02")
    assert fixed.crs.to_epsg() == 4326
    assert fixed.attrs["source_crs"] == "gcj02"
    assert fixed.geometry.x.to_numpy() == pytest.approx(LON, abs=1e-7)
    assert fixed.geometry.y.to_numpy() == pytest.approx(LAT, abs=1e-7)
    # the shift is hundreds of metres, so the override really moved the points
    assert np.abs(plain.geometry.x.to_numpy() - LON).max() > 1e-3


def test_conflicting_crs_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "pts.gpkg"
    pyogrio.write_dataframe(_points().to_crs(3857), path, layer="pts")
    with pytest.raises(CRSError) as exc:
        read_layer(path, crs="EPSG:4490")
    assert "drop crs=" in _one_line(exc)
    with pytest.raises(CRSError):
        read_layer(path, crs="gcj02")  # projected file cannot hold shifted lon/lat
    assert read_layer(path, crs=3857).crs.to_epsg() == 3857
    assert read_layer(path).crs.to_epsg() == 3857


def test_gpkg_layers_must_be_named(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    write_layers(path, {"a": _points(), "b": _points().iloc[:1]})
    with pytest.raises(InputError) as exc:
        read_layer(path)
    assert "layer='a'" in _one_line(exc)
    assert len(read_layer(path, layer="b")) == 1
    with pytest.raises(InputError):
        read_layer(path, layer="zzz")


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.gpkg", None), ("data.docx", b"x"), ("empty.geojson", "empty")],
)
def test_bad_inputs_are_one_line_input_errors(tmp_path: Path, name: str, content: object) -> None:
    path = tmp_path / name
    if content == "empty":
        path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_layer(path)
    assert "; " in _one_line(exc)


def test_swapped_axes_in_geopackage_name_the_fix(tmp_path: Path) -> None:
    swapped = gpd.GeoDataFrame(geometry=gpd.points_from_xy(LAT, LON), crs=4326)
    swapped.to_file(tmp_path / "swapped.gpkg")
    with pytest.raises(CRSError) as exc:
        read_layer(tmp_path / "swapped.gpkg")
    assert "swapped" in _one_line(exc) and "swap x and y" in _one_line(exc).lower()


def test_metres_labelled_wgs84_is_refused_or_relabelled(tmp_path: Path) -> None:
    metres = _points().to_crs(4549)
    metres.set_crs(4326, allow_override=True).to_file(tmp_path / "metres.gpkg")
    with pytest.raises(CRSError) as exc:
        read_layer(tmp_path / "metres.gpkg")
    assert "metres" in _one_line(exc) and "--demand-crs" in _one_line(exc)
    fixed = read_layer(tmp_path / "metres.gpkg", crs="EPSG:4549")
    assert fixed.crs.to_epsg() == 4549
    back = fixed.to_crs(4326)
    np.testing.assert_allclose(back.geometry.x, LON, atol=1e-7)
    # a correct lon/lat file still may not be relabelled as metres
    _points().to_file(tmp_path / "ok.gpkg")
    with pytest.raises(CRSError):
        read_layer(tmp_path / "ok.gpkg", crs="EPSG:4549")


def test_empty_and_non_finite_files(tmp_path: Path) -> None:
    (tmp_path / "empty.gpkg").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_layer(tmp_path / "empty.gpkg")
    bad = _points()
    bad.geometry = [shapely.Point(118.79, 32.05), shapely.Point(np.inf, 32.0), shapely.Point(1, 2)]
    bad.to_file(tmp_path / "inf.gpkg")
    with pytest.raises(InputError, match="not finite"):
        read_layer(tmp_path / "inf.gpkg")
    (tmp_path / "broken.geojson").write_text("{not json")
    with pytest.raises(InputError, match="GeoJSON"):
        read_layer(tmp_path / "broken.geojson")


def test_osm_file_to_read_layer_points_to_read_osm(tmp_path: Path) -> None:
    path = tmp_path / "x.osm"
    path.write_text("<osm/>")
    with pytest.raises(InputError, match="read_osm"):
        read_layer(path)


# --- CSV / Excel ----------------------------------------------------------------------------------


def test_csv_needs_crs_with_one_line_choices(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    pd.DataFrame({"名称": NAMES, "lng": LON, "lat": LAT}).to_csv(path, index=False)
    with pytest.raises(CRSError) as exc:
        read_layer(path)
    text = _one_line(exc)
    assert text.startswith("points.csv has lon/lat columns but no coordinate system")
    for choice in ("'wgs84'", "'gcj02'", "'bd09'", "--crs"):
        assert choice in text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_encodings_and_chinese_columns(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "站点.csv"
    df = pd.DataFrame({"名称": NAMES, "经度": LON, "纬度": LAT})
    path.write_bytes(df.to_csv(index=False).encode(encoding))
    gdf = read_layer(path, crs="wgs84")
    assert list(gdf["名称"]) == NAMES
    assert gdf.geometry.x.to_numpy() == pytest.approx(LON)
    assert gdf.geometry.y.to_numpy() == pytest.approx(LAT)
    assert gdf.crs.to_epsg() == 4326


def test_csv_bd09_converted_and_recorded(tmp_path: Path) -> None:
    bx, by = wgs84_to_bd09(LON, LAT)
    path = tmp_path / "baidu.csv"
    pd.DataFrame({"name": NAMES, "Longitude": bx, "LATITUDE": by}).to_csv(path, index=False)
    gdf = read_layer(path, crs="bd09")
    assert gdf.attrs["source_crs"] == "bd09"
    assert gdf.geometry.x.to_numpy() == pytest.approx(LON, abs=1e-6)
    assert gdf.geometry.y.to_numpy() == pytest.approx(LAT, abs=1e-6)


def test_csv_explicit_columns_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame({"name": NAMES, "E": LON, "N": LAT}).to_csv(path, index=False)
    with pytest.raises(InputError) as exc:
        read_layer(path, crs="wgs84")
    assert "lon=" in _one_line(exc) and "E" in str(exc.value)
    gdf = read_layer(path, crs="wgs84", lon="E", lat="N")
    assert gdf.geometry.x.to_numpy() == pytest.approx(LON)
    with pytest.raises(InputError, match="no column 'Q'"):
        read_layer(path, crs="wgs84", lon="Q", lat="N")


def test_csv_bad_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame({"lon": ["118.79", "abc", "118.8"], "lat": LAT}).to_csv(path, index=False)
    with pytest.raises(InputError) as exc:
        read_layer(path, crs="wgs84")
    assert "row 2" in _one_line(exc) and "'abc'" in str(exc.value)
    pd.DataFrame({"lon": LAT, "lat": LON}).to_csv(path, index=False)
    with pytest.raises(InputError, match="swapped"):
        read_layer(path, crs="wgs84")
    pd.DataFrame({"lon": [500000.0, 500100.0], "lat": [3540000.0, 3541000.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(InputError, match="out of lon/lat range"):
        read_layer(path, crs="wgs84")
    # projected metres are fine with a projected CRS
    assert read_layer(path, crs="EPSG:4549").crs.to_epsg() == 4549


def test_excel_points(tmp_path: Path) -> None:
    path = tmp_path / "stations.xlsx"
    pd.DataFrame({"名称": NAMES, "LNG": LON, "Lat": LAT}).to_excel(path, index=False)
    gdf = read_layer(path, crs="wgs84")
    assert list(gdf["名称"]) == NAMES
    assert gdf.geometry.y.to_numpy() == pytest.approx(LAT)


def test_errors_are_value_errors() -> None:
    assert issubclass(InputError, GeogridError) and issubclass(CRSError, ValueError)


# --- OpenStreetMap --------------------------------------------------------------------------------

NANJING_HIGHWAYS = {
    "footway": 118,
    "residential": 90,
    "living_street": 49,
    "service": 33,
    "secondary": 27,
    "primary": 23,
    "tertiary": 18,
}


@pytest.fixture(scope="module")
def nanjing() -> OSMData:
    return read_osm(real_path("nanjing_xuanwu.osm"))


def _counts(data: OSMData) -> dict[str, object]:
    pois = data.pois
    return {
        "ways": len(data.ways),
        "buildings": len(data.buildings),
        "levels": int(data.buildings["building:levels"].notna().sum()),
        "residential": len(data.residential),
        "townhall": int((pois["amenity"] == "townhall").sum()),
        "school": int((pois["amenity"] == "school").sum()),
        "hospital": int((pois["amenity"] == "hospital").sum()),
        "highway": data.ways["highway"].value_counts().to_dict(),
    }


def test_nanjing_counts(nanjing: OSMData) -> None:
    c = _counts(nanjing)
    assert c["ways"] == 384
    hw = c["highway"]
    assert isinstance(hw, dict)
    assert {k: hw[k] for k in NANJING_HIGHWAYS} == NANJING_HIGHWAYS
    assert c["buildings"] == 1278
    assert c["levels"] == 131
    assert c["residential"] == 11
    assert (c["townhall"], c["school"], c["hospital"]) == (2, 18, 5)
    for layer in nanjing.layers().values():
        assert layer.crs.to_epsg() == 4326
    assert set(nanjing.ways.geom_type) == {"LineString"}
    assert set(nanjing.buildings.geom_type) <= {"Polygon", "MultiPolygon"}
    assert set(nanjing.pois.geom_type) == {"Point"}
    assert nanjing.ways["highway"].notna().all()
    assert "OpenStreetMap" in nanjing.attribution
    assert "384 highway ways" in repr(nanjing)


def test_nanjing_buildings_never_in_ways(nanjing: OSMData) -> None:
    way_ids = set(nanjing.ways["osmid"])
    b = nanjing.buildings
    assert not way_ids & set(b.loc[b["osm_type"] == "way", "osmid"])
    assert (b["osm_type"] == "relation").sum() == 8
    # the incomplete multipolygon (inner member missing from the extract) is still a building
    assert 7098215 in set(b["osmid"])
    required = {"osmid", "building", "building:levels", "building:levels:underground", "height"}
    assert required <= set(b.columns)
    assert any(c.startswith("addr:") for c in b.columns)


def test_nanjing_shared_nodes_are_float_identical(nanjing: OSMData) -> None:
    coords: dict[int, tuple[float, float]] = {}
    shared = 0
    for nodes, geom in zip(nanjing.ways["nodes"], nanjing.ways.geometry, strict=True):
        xy = shapely.get_coordinates(geom)
        assert len(nodes) == len(xy)
        for nid, (x, y) in zip(nodes, xy, strict=True):
            if nid in coords:
                shared += 1
                assert coords[nid] == (x, y)  # exact, not approx: the network splits here
            coords[nid] = (x, y)
    assert shared > 300


def test_nanjing_bbox_filter(nanjing: OSMData) -> None:
    box = (118.775, 32.040, 118.785, 32.048)
    part = read_osm(real_path("nanjing_xuanwu.osm"), bbox=box)
    assert 0 < len(part.ways) < len(nanjing.ways)
    assert 0 < len(part.buildings) < len(nanjing.buildings)
    assert shapely.intersects(np.asarray(part.buildings.geometry.values), shapely.box(*box)).all()
    with pytest.raises(InputError, match="west < east"):
        read_osm(real_path("nanjing_xuanwu.osm"), bbox=(118.8, 32.0, 118.7, 32.1))


def _to_pbf(src: Path, dst: Path) -> None:
    writer = osmium.SimpleWriter(str(dst))
    try:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            else:
                writer.add_relation(obj)
    finally:
        writer.close()


def test_nanjing_compressed_and_pbf_give_same_counts(nanjing: OSMData, tmp_path: Path) -> None:
    src = real_path("nanjing_xuanwu.osm")
    raw = src.read_bytes()
    (tmp_path / "nj.osm.bz2").write_bytes(bz2.compress(raw))
    (tmp_path / "nj.osm.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "nj.osm.xml").write_bytes(raw)
    _to_pbf(src, tmp_path / "nj.osm.pbf")
    expected = _counts(nanjing)
    for name in ("nj.osm.bz2", "nj.osm.gz", "nj.osm.xml", "nj.osm.pbf"):
        data = read_osm(tmp_path / name)
        assert _counts(data) == expected, name
    pbf = read_osm(tmp_path / "nj.osm.pbf")
    assert pbf.ways.geometry.geom_equals_exact(nanjing.ways.geometry, tolerance=0).all()


def test_shanghai_drive_network() -> None:
    data = read_osm(real_path("shanghai_jingan_drive.osm"))
    assert len(data.ways) == 796
    assert len(data.buildings) == 0
    assert list(data.buildings.columns[:3]) == ["osmid", "osm_type", "building"]
    assert data.buildings.crs.to_epsg() == 4326


def test_read_osm_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_osm(tmp_path / "none.osm")
    bad = tmp_path / "bad.txt"
    bad.write_text("x")
    with pytest.raises(InputError, match=r"\.osm\.pbf"):
        read_osm(bad)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat='x'")
    with pytest.raises(InputError) as exc:
        read_osm(broken)
    _one_line(exc)


def _tiny_elements() -> list[dict[str, object]]:
    # a 100 x 100 micro-degree grid of nodes; ids 1..9 row by row
    nodes = [
        {"type": "node", "id": 3 * r + c + 1, "lon": 118.0 + c * 1e-3, "lat": 32.0 + r * 1e-3}
        for r in range(3)
        for c in range(3)
    ]
    nodes[4]["tags"] = {"amenity": "community_centre", "name": "社区党群服务中心"}
    ring = [1, 3, 9, 7, 1]
    return [
        *nodes,
        {"type": "node", "id": 20, "lon": 118.0005, "lat": 32.0005},
        {"type": "node", "id": 21, "lon": 118.0015, "lat": 32.0005},
        {"type": "node", "id": 22, "lon": 118.0015, "lat": 32.0015},
        {"type": "node", "id": 23, "lon": 118.0005, "lat": 32.0015},
        {"type": "way", "id": 100, "nodes": [1, 2, 3], "tags": {"highway": "footway"}},
        {"type": "way", "id": 101, "nodes": [3, 99, 6], "tags": {"highway": "service"}},
        {"type": "way", "id": 102, "nodes": ring, "tags": {"building": "yes"}},
        {"type": "way", "id": 103, "nodes": ring, "tags": {"landuse": "residential"}},
        {"type": "way", "id": 104, "nodes": [4, 5, 6]},  # untagged: dropped
        {"type": "way", "id": 105, "nodes": ring},
        {"type": "way", "id": 106, "nodes": [20, 21, 22, 23, 20]},
        {"type": "way", "id": 107, "nodes": [1, 2, 5, 4, 1], "tags": {"building": "no"}},
        {
            "type": "relation",
            "id": 200,
            "members": [
                {"type": "way", "ref": 105, "role": "outer"},
                {"type": "way", "ref": 106, "role": "inner"},
            ],
            "tags": {"type": "multipolygon", "building": "apartments", "building:levels": "6"},
        },
    ]


def test_tiny_hand_built_file(tmp_path: Path) -> None:
    from geogrid.io import osmxml as _osm

    path = tmp_path / "tiny.osm.pbf"
    assert _osm.write_elements(_tiny_elements(), path) == 22
    data = read_osm(path)
    ways = data.ways.set_index("osmid")
    assert sorted(ways.index) == [100, 101]
    assert ways.loc[100, "nodes"] == [1, 2, 3]
    assert ways.loc[101, "nodes"] == [3, 6]  # node 99 is missing from the file
    assert ways.loc[100, "geometry"].length == pytest.approx(2e-3)
    b = data.buildings.set_index("osmid")
    assert sorted(b.index) == [102, 200]  # building=no is not a building
    assert b.loc[102, "geometry"].area == pytest.approx(4e-6)
    assert b.loc[200, "geometry"].area == pytest.approx(3e-6)  # 1e-6 hole cut out
    assert b.loc[200, "osm_type"] == "relation" and b.loc[200, "building:levels"] == "6"
    assert data.residential["osmid"].tolist() == [103]
    assert data.pois["name"].tolist() == ["社区党群服务中心"]
    assert data.pois.geometry.iloc[0].equals(shapely.Point(118.001, 32.001))


def test_fetch_osm_needs_one_area() -> None:
    with pytest.raises(InputError, match="one area"):
        fetch_osm()
    with pytest.raises(InputError, match="one area"):
        fetch_osm(place="玄武区", bbox=(118.77, 32.03, 118.78, 32.04))


def test_fetch_osm_offline_with_fake_overpass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import osmnx as ox
    from osmnx import _overpass

    calls: list[str] = []

    def fake_request(data: dict[str, str]) -> dict[str, object]:
        calls.append(data["data"])
        return {"elements": _tiny_elements()}

    monkeypatch.setattr(_overpass, "_overpass_request", fake_request)
    before = (ox.settings.use_cache, ox.settings.cache_folder)
    box = (117.9995, 31.9995, 118.0025, 32.0025)
    data = fetch_osm(bbox=box, cache_dir=tmp_path)
    assert len(calls) == 1
    assert 'way["highway"]' in calls[0] and "31.9995000,117.9995000" in calls[0]
    assert sorted(data.ways["osmid"]) == [100, 101]
    assert len(list(tmp_path.glob("osm_*.osm.pbf"))) == 1
    again = fetch_osm(bbox=box, cache_dir=tmp_path)
    assert len(calls) == 1  # served from the cache
    assert again.buildings["osmid"].tolist() == data.buildings["osmid"].tolist()
    assert (ox.settings.use_cache, ox.settings.cache_folder) == before
    # a polygon keeps only what it touches
    small = fetch_osm(polygon=shapely.box(117.9995, 31.9995, 118.0005, 32.0005), cache_dir=tmp_path)
    assert sorted(small.ways["osmid"]) == [100]


@pytest.mark.network
def test_fetch_osm_online_and_cached(tmp_path: Path) -> None:
    box = (118.780, 32.040, 118.785, 32.044)
    data = fetch_osm(bbox=box, cache_dir=tmp_path)
    assert len(data.ways) > 0 and len(data.buildings) > 0
    cached = list(tmp_path.glob("osm_*.osm.pbf"))
    assert len(cached) == 1
    again = fetch_osm(bbox=box, cache_dir=tmp_path)
    assert len(again.ways) == len(data.ways)


# --- writing --------------------------------------------------------------------------------------


def test_write_layers_round_trip_chinese_bool_list(tmp_path: Path) -> None:
    pts = _points().assign(
        覆盖=[True, False, True], 网格=[["A", "B"], [], ["网格1"]], 缺=[True, None, False]
    )
    table = pd.DataFrame({"社区": ["新街口社区"], "户数": [350]})
    path = tmp_path / "out" / "结果.gpkg"
    write_layers(path, {"站点": pts, "汇总": table})
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["站点", "汇总"]
    back = read_layer(path, layer="站点")
    assert list(back["名称"]) == NAMES
    assert back["覆盖"].tolist() == [True, False, True]
    assert [json.loads(v) for v in back["网格"]] == [["A", "B"], [], ["网格1"]]
    assert back["缺"].iloc[0] == 1 and pd.isna(back["缺"].iloc[1]) and back["缺"].iloc[2] == 0
    assert back.geometry.x.to_numpy() == pytest.approx(LON)
    assert "网格" in pts.columns and isinstance(pts["网格"].iloc[0], list)  # input untouched
    summary = pyogrio.read_dataframe(path, layer="汇总")
    assert summary["社区"].tolist() == ["新街口社区"]
    # only the target remains in the folder: no temp or journal files
    assert [p.name for p in path.parent.iterdir()] == ["结果.gpkg"]


def test_write_layers_replaces_and_rejects(tmp_path: Path) -> None:
    path = tmp_path / "o.gpkg"
    write_layers(path, {"a": _points(), "b": _points()})
    write_layers(path, {"c": _points().iloc[:1]})
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["c"]
    with pytest.raises(CRSError, match="set_crs"):
        write_layers(path, {"x": _points(crs=None)})
    with pytest.raises(InputError, match=r"\.gpkg"):
        write_layers(tmp_path / "o.shp", {"a": _points()})
    assert [str(n) for n in pyogrio.list_layers(path)[:, 0]] == ["c"]


def test_write_table_csv_bom_and_round_trip(tmp_path: Path) -> None:
    df = _points().assign(覆盖=[True, False, True], 列表=[[1, 2], [], [3]])
    path = tmp_path / "表.csv"
    write_table(df, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["名称"].tolist() == NAMES
    assert back["覆盖"].tolist() == [True, False, True]
    assert json.loads(back["列表"].iloc[0]) == [1, 2]
    assert back["geometry"].iloc[0].startswith("POINT (118.7927 32.0507")
    xlsx = tmp_path / "表.xlsx"
    write_table(pd.DataFrame({"社区": ["新街口社区"], "户数": [350]}), xlsx)
    assert pd.read_excel(xlsx)["社区"].tolist() == ["新街口社区"]


def test_atomic_write_keeps_old_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "map.html"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as tmp:
            assert tmp.parent == path.parent and tmp.suffix == ".html"
            assert not tmp.exists()
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["map.html"]
    with atomic_write(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["map.html"]


def test_csv_text_keeps_codes_and_words(tmp_path) -> None:
    """Codes keep their leading zeros; 'NA' and 'FALSE' stay text; numbers become numbers."""
    from geogrid.io.readers import read_layer

    p = tmp_path / "t.csv"
    p.write_text(
        "name,community_code,lon,lat,households,flag,note\n"
        "甲,0150203001001,116.4,39.9,12,FALSE,NA\n"
        "乙,150203001002,116.41,39.91,,TRUE,007\n",
        encoding="utf-8",
    )
    g = read_layer(p, crs="wgs84")
    assert list(g["community_code"]) == ["0150203001001", "150203001002"]
    assert list(g["note"]) == ["NA", "007"]
    assert list(g["flag"]) == ["FALSE", "TRUE"]
    assert g["households"].iloc[0] == 12 and g["households"].isna().iloc[1]
