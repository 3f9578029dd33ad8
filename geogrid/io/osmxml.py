"""Private helpers: parse OpenStreetMap files with pyosmium, download extracts from Overpass.

Only ways tagged ``highway`` become network lines; buildings, land use and POIs are kept apart,
so a building outline can never turn into a street (the ``osmnx.graph_from_xml`` pitfall).
Coordinates come from osmium's fixed-point node locations, so a node shared by two ways has
float-identical coordinates in both.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from geogrid.errors import InputError, NetworkError

__all__: list[str] = []

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"

#: osmium format strings by file suffix (longest suffix first).
OSM_FORMATS: tuple[tuple[str, str], ...] = (
    (".osm.xml.bz2", "osm.bz2"),
    (".osm.xml.gz", "osm.gz"),
    (".osm.bz2", "osm.bz2"),
    (".osm.gz", "osm.gz"),
    (".osm.pbf", "pbf"),
    (".osm.xml", "osm"),
    (".osm", "osm"),
    (".pbf", "pbf"),
)

#: Columns of ``OSMData.ways``; the tags after ``area`` are extras useful to a walking network.
WAY_COLUMNS: tuple[str, ...] = (
    "osmid",
    "highway",
    "access",
    "service",
    "foot",
    "name",
    "area",
    "oneway",
    "footway",
    "sidewalk",
    "crossing",
    "bridge",
    "tunnel",
    "layer",
    "level",
    "indoor",
    "surface",
    "width",
    "lanes",
    "maxspeed",
    "junction",
    "bicycle",
    "motor_vehicle",
    "ref",
    "name:en",
)
BUILDING_COLUMNS: tuple[str, ...] = (
    "osmid",
    "osm_type",
    "building",
    "building:levels",
    "building:levels:underground",
    "height",
    "min_height",
    "roof:levels",
    "name",
    "amenity",
    "shop",
    "office",
)
RESIDENTIAL_COLUMNS: tuple[str, ...] = ("osmid", "osm_type", "name")
POI_KEYS: tuple[str, ...] = (
    "amenity",
    "office",
    "shop",
    "government",
    "social_facility",
    "community_centre",
    "healthcare",
)
POI_COLUMNS: tuple[str, ...] = (
    "osmid",
    "osm_type",
    "name",
    *POI_KEYS,
    "social_facility:for",
    "community_centre:for",
    "building",
    "operator",
)
#: ``barrier`` values of nodes that are gates a walker may pass (any ``entrance=*`` is one too).
GATE_BARRIERS: frozenset[str] = frozenset(
    {
        "gate",
        "lift_gate",
        "swing_gate",
        "sliding_gate",
        "entrance",
        "turnstile",
        "full-height_turnstile",
        "kissing_gate",
        "bollard_gate",
    }
)
#: ``barrier`` values of ways that enclose a compound.
WALL_BARRIERS: frozenset[str] = frozenset({"wall", "fence"})
GATE_COLUMNS: tuple[str, ...] = ("osmid", "barrier", "entrance", "access", "foot", "name")
WALL_COLUMNS: tuple[str, ...] = ("osmid", "barrier", "name")
_AREA_RELATION_TYPES = {"multipolygon"}
#: Bump when the Overpass query changes, so cached downloads are not reused.
CACHE_VERSION = 2


def osm_file(path: Path) -> osmium.io.File:
    """Return an osmium ``File`` with the format fixed by the suffix; InputError otherwise.

    Parameters
    ----------
    path : Path
        An ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.

    Returns
    -------
    osmium.io.File

    Examples
    --------
    >>> import pathlib
    >>> type(osm_file(pathlib.Path("extract.osm.pbf"))).__name__
    'File'

    """
    name = path.name.lower()
    for suffix, fmt in OSM_FORMATS:
        if name.endswith(suffix):
            return osmium.io.File(str(path), fmt)
    known = ", ".join(s for s, _ in OSM_FORMATS)
    msg = f"{path.name} is not an OSM file this reader knows; pass a file ending in {known}"
    raise InputError(msg)


def _is_building(tags: dict[str, str]) -> bool:
    value = tags.get("building")
    return value is not None and value != "no"


def _is_residential(tags: dict[str, str]) -> bool:
    return tags.get("landuse") == "residential"


def _is_poi(tags: dict[str, str]) -> bool:
    return any(key in tags for key in POI_KEYS)


def _is_gate(tags: dict[str, str]) -> bool:
    return tags.get("barrier") in GATE_BARRIERS or "entrance" in tags


def _is_wall(tags: dict[str, str]) -> bool:
    return tags.get("barrier") in WALL_BARRIERS


def _pick(tags: dict[str, str], columns: Sequence[str], *, addr: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {c: tags[c] for c in columns if c in tags}
    if addr:
        out.update({k: v for k, v in tags.items() if k.startswith("addr:")})
    return out


class _Collector:
    """Accumulates coordinates and tags while the file is read."""

    def __init__(self) -> None:
        self.way_rows: list[dict[str, Any]] = []
        self.way_coords: list[np.ndarray] = []
        self.area_rows: list[dict[str, Any]] = []  # closed ways + relations, any of the kinds
        self.area_geoms: list[shapely.Geometry] = []
        self.poi_rows: list[dict[str, Any]] = []
        self.poi_points: list[tuple[float, float]] = []
        self.member_coords: dict[int, np.ndarray] = {}
        self.gate_rows: list[dict[str, Any]] = []
        self.gate_points: list[tuple[float, float]] = []
        self.wall_rows: list[dict[str, Any]] = []
        self.wall_coords: list[np.ndarray] = []
        self.skipped_ways = 0
        self.skipped_areas = 0
        self.missing_nodes = 0


def _way_coords(way: Any, col: _Collector) -> tuple[list[int], np.ndarray]:
    ids: list[int] = []
    xy: list[tuple[float, float]] = []
    for n in way.nodes:
        loc = n.location
        if not loc.valid():
            col.missing_nodes += 1
            continue
        ids.append(n.ref)
        xy.append((loc.lon, loc.lat))
    return ids, np.asarray(xy, dtype=float).reshape(-1, 2)


def _scan_relations(f: osmium.io.File) -> tuple[list[dict[str, Any]], set[int]]:
    """First pass: multipolygon relations of interest and the ids of their member ways."""
    relations: list[dict[str, Any]] = []
    wanted: set[int] = set()
    for rel in osmium.FileProcessor(f, osmium.osm.RELATION):
        if not isinstance(rel, osmium.osm.Relation):
            continue
        tags = dict(rel.tags)
        if tags.get("type") not in _AREA_RELATION_TYPES:
            continue
        if not (_is_building(tags) or _is_residential(tags) or _is_poi(tags)):
            continue
        outer: list[int] = []
        inner: list[int] = []
        for m in rel.members:
            if m.type != "w":
                continue
            (inner if m.role == "inner" else outer).append(m.ref)
        relations.append({"id": rel.id, "tags": tags, "outer": outer, "inner": inner})
        wanted.update(outer)
        wanted.update(inner)
    return relations, wanted


def _rings_to_polygon(parts: list[np.ndarray]) -> shapely.Geometry | None:
    lines = [shapely.linestrings(p) for p in parts if len(p) >= 2]
    if not lines:
        return None
    merged = shapely.line_merge(shapely.union_all(lines))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(merged)))
    if len(polys) == 0:
        return None
    return shapely.union_all(polys)


def _relation_geometry(rel: dict[str, Any], col: _Collector) -> shapely.Geometry | None:
    outer = [col.member_coords[w] for w in rel["outer"] if w in col.member_coords]
    inner = [col.member_coords[w] for w in rel["inner"] if w in col.member_coords]
    if len(outer) < len(rel["outer"]) or len(inner) < len(rel["inner"]):
        log.debug("relation %d has members missing from the file", rel["id"])
    shell = _rings_to_polygon(outer)
    if shell is None or shell.is_empty:
        return None
    holes = _rings_to_polygon(inner)
    if holes is not None and not holes.is_empty:
        shell = shapely.difference(shell, holes)
    return None if shell.is_empty else shell


def _valid_polygon(geom: shapely.Geometry) -> shapely.Geometry:
    if shapely.is_valid(geom):
        return geom
    return shapely.make_valid(geom, method="structure", keep_collapsed=False)


def _collect_node(node: osmium.osm.Node, col: _Collector) -> None:
    """Keep a tagged node that is a point of interest or a gate."""
    if not node.tags:
        return
    tags = dict(node.tags)
    if _is_poi(tags):
        col.poi_rows.append({"osmid": node.id, "osm_type": "node", **tags})
        col.poi_points.append((node.location.lon, node.location.lat))
    if _is_gate(tags) and node.location.valid():
        col.gate_rows.append({"osmid": node.id, **tags})
        col.gate_points.append((node.location.lon, node.location.lat))


def _collect_way(way: osmium.osm.Way, col: _Collector, wanted: set[int]) -> None:
    """Keep a highway, a wall, a closed building/residential/POI area, or a member's rings."""
    tags = dict(way.tags)
    is_member = way.id in wanted
    highway = "highway" in tags
    kinds = _is_building(tags) or _is_residential(tags) or _is_poi(tags)
    wall = _is_wall(tags)
    if not (highway or kinds or is_member or wall):
        return
    ids, xy = _way_coords(way, col)
    if is_member:
        col.member_coords[way.id] = xy
    if wall and len(xy) >= 2:
        col.wall_rows.append({"osmid": way.id, **tags})
        col.wall_coords.append(xy)
    if highway:
        if len(xy) < 2:
            col.skipped_ways += 1
        else:
            col.way_rows.append({"osmid": way.id, "nodes": ids, **tags})
            col.way_coords.append(xy)
    elif kinds:
        closed = len(way.nodes) >= 4 and way.nodes[0].ref == way.nodes[-1].ref
        if not closed or len(xy) < 4 or ids[0] != ids[-1]:
            col.skipped_areas += 1
            return
        col.area_rows.append({"osmid": way.id, "osm_type": "way", **tags})
        col.area_geoms.append(_valid_polygon(shapely.polygons(xy)))


def parse_osm_file(path: Path) -> dict[str, gpd.GeoDataFrame]:
    """Read ``path`` into the layers of :class:`geogrid.io.OSMData` (no bbox filter).

    Parameters
    ----------
    path : Path
        An OSM file.

    Returns
    -------
    dict of str to GeoDataFrame
        ``ways``, ``buildings``, ``residential``, ``pois``, ``gates`` and ``walls`` in
        EPSG:4326.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> elements = [
    ...     {"type": "node", "id": 1, "lat": 32.040, "lon": 118.780},
    ...     {"type": "node", "id": 2, "lat": 32.041, "lon": 118.781},
    ...     {"type": "way", "id": 10, "nodes": [1, 2], "tags": {"highway": "footway"}},
    ...     {"type": "node", "id": 3, "lat": 32.0405, "lon": 118.7805,
    ...      "tags": {"amenity": "community_centre", "name": "党群服务中心"}},
    ... ]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
    >>> write_elements(elements, path)
    4
    >>> {k: len(v) for k, v in parse_osm_file(path).items()}
    {'ways': 1, 'buildings': 0, 'residential': 0, 'pois': 1, 'gates': 0, 'walls': 0}

    """
    f = osm_file(path)
    try:
        relations, wanted = _scan_relations(f)
        col = _Collector()
        fp = osmium.FileProcessor(f, osmium.osm.NODE | osmium.osm.WAY).with_locations()
        for obj in fp:
            if isinstance(obj, osmium.osm.Node):
                _collect_node(obj, col)
            elif isinstance(obj, osmium.osm.Way):
                _collect_way(obj, col, wanted)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"could not read {path.name} as OSM data ({first}); pass an OSM XML or PBF file"
        raise InputError(msg) from exc
    for rel in relations:
        geom = _relation_geometry(rel, col)
        if geom is None:
            col.skipped_areas += 1
            continue
        col.area_rows.append({"osmid": rel["id"], "osm_type": "relation", **rel["tags"]})
        col.area_geoms.append(_valid_polygon(geom))
    if col.missing_nodes:
        log.warning(
            "%s: %d way node references have no location in the file (dropped)",
            path.name,
            col.missing_nodes,
        )
    skipped = [
        f"{n} {what}"
        for n, what in (
            (col.skipped_ways, "highway ways with < 2 located nodes"),
            (col.skipped_areas, "unclosed or incomplete areas"),
        )
        if n
    ]
    if skipped:
        log.warning("%s: skipped %s", path.name, " and ".join(skipped))
    return _assemble(col)


def _frame(
    rows: list[dict[str, Any]],
    geoms: Sequence[shapely.Geometry] | np.ndarray,
    columns: Sequence[str],
    *,
    addr: bool = False,
    extra: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    picked = [{**_pick(r, columns, addr=addr), **{k: r[k] for k in extra}} for r in rows]
    df = pd.DataFrame(picked, columns=None if picked else [*columns, *extra])
    addr_cols = sorted(c for c in df.columns if c.startswith("addr:"))
    ordered = [*columns, *extra, *addr_cols]
    df = df.reindex(columns=ordered)
    for c in ordered:
        if c not in ("osmid", *extra):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["osmid"] = df["osmid"].astype("int64")
    return gpd.GeoDataFrame(df, geometry=np.asarray(geoms, dtype=object), crs=WGS84)


def _assemble(col: _Collector) -> dict[str, gpd.GeoDataFrame]:
    ways = _frame(col.way_rows, _lines(col.way_coords), WAY_COLUMNS, extra=("nodes",))

    rows, geoms = col.area_rows, np.asarray(col.area_geoms, dtype=object)
    b_idx = [i for i, r in enumerate(rows) if _is_building(r)]
    r_idx = [i for i, r in enumerate(rows) if _is_residential(r)]
    p_idx = [i for i, r in enumerate(rows) if _is_poi(r)]
    buildings = _frame([rows[i] for i in b_idx], geoms[b_idx], BUILDING_COLUMNS, addr=True)
    residential = _frame([rows[i] for i in r_idx], geoms[r_idx], RESIDENTIAL_COLUMNS)

    poi_rows = col.poi_rows + [rows[i] for i in p_idx]
    node_pts = (
        shapely.points(np.asarray(col.poi_points, dtype=float))
        if col.poi_points
        else np.empty(0, dtype=object)
    )
    area_pts = shapely.centroid(geoms[p_idx]) if p_idx else np.empty(0, dtype=object)
    pois = _frame(poi_rows, np.concatenate([node_pts, area_pts]), POI_COLUMNS, addr=True)
    gate_pts = (
        shapely.points(np.asarray(col.gate_points, dtype=float))
        if col.gate_points
        else np.empty(0, dtype=object)
    )
    gates = _frame(col.gate_rows, gate_pts, GATE_COLUMNS)
    walls = _frame(col.wall_rows, _lines(col.wall_coords), WALL_COLUMNS)
    return {
        "ways": ways,
        "buildings": buildings,
        "residential": residential,
        "pois": pois,
        "gates": gates,
        "walls": walls,
    }


def _lines(coords: list[np.ndarray]) -> np.ndarray:
    """LineStrings from a list of coordinate arrays (each with 2 or more rows)."""
    if not coords:
        return np.empty(0, dtype=object)
    lengths = np.array([len(c) for c in coords])
    lines: np.ndarray = shapely.linestrings(
        np.concatenate(coords), indices=np.repeat(np.arange(len(lengths)), lengths)
    )
    return lines


def clip_layers(
    layers: dict[str, gpd.GeoDataFrame], region: shapely.Geometry
) -> dict[str, gpd.GeoDataFrame]:
    """Keep the features of every layer that intersect ``region`` (EPSG:4326).

    Parameters
    ----------
    layers : dict of str to GeoDataFrame
        Layers in EPSG:4326.
    region : Geometry
        The area to keep (lon/lat).

    Returns
    -------
    dict of str to GeoDataFrame

    Examples
    --------
    >>> import pathlib, tempfile
    >>> elements = [
    ...     {"type": "node", "id": 1, "lat": 32.040, "lon": 118.780},
    ...     {"type": "node", "id": 2, "lat": 32.041, "lon": 118.781},
    ...     {"type": "way", "id": 10, "nodes": [1, 2], "tags": {"highway": "footway"}},
    ...     {"type": "node", "id": 3, "lat": 32.0405, "lon": 118.7805,
    ...      "tags": {"amenity": "community_centre", "name": "党群服务中心"}},
    ... ]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
    >>> write_elements(elements, path)
    4
    >>> import shapely
    >>> near_way = shapely.box(118.7795, 32.0395, 118.7801, 32.0401)
    >>> {k: len(v) for k, v in clip_layers(parse_osm_file(path), near_way).items()}
    {'ways': 1, 'buildings': 0, 'residential': 0, 'pois': 0, 'gates': 0, 'walls': 0}

    """
    out = {}
    for name, gdf in layers.items():
        keep = shapely.intersects(np.asarray(gdf.geometry.values), region)
        out[name] = gdf.loc[keep].reset_index(drop=True)
    return out


# --- Overpass download --------------------------------------------------------------------------

_OVERPASS_BODY = """
(
  way["highway"]({b});
  way["building"]({b});
  relation["building"]["type"="multipolygon"]({b});
  way["landuse"="residential"]({b});
  relation["landuse"="residential"]["type"="multipolygon"]({b});
  node["barrier"]({b});
  node["entrance"]({b});
  way["barrier"~"^(wall|fence)$"]({b});
{pois}
);
(._;>;);
out body;
"""


def overpass_query(bounds: tuple[float, float, float, float], settings_str: str) -> str:
    """Overpass QL for every layer of ``OSMData`` in ``(west, south, east, north)``.

    Parameters
    ----------
    bounds : (float, float, float, float)
        West, south, east, north in degrees.
    settings_str : str
        The query's settings line, e.g. ``[out:json][timeout:180]``.

    Returns
    -------
    str

    Examples
    --------
    >>> print(overpass_query((118.76, 32.03, 118.80, 32.05), "[out:json]").splitlines()[2])
      way["highway"](32.0300000,118.7600000,32.0500000,118.8000000);

    """
    west, south, east, north = bounds
    b = f"{south:.7f},{west:.7f},{north:.7f},{east:.7f}"
    pois = "\n".join(f'  nwr["{k}"]({b});' for k in POI_KEYS)
    return settings_str + _OVERPASS_BODY.format(b=b, pois=pois)


def write_elements(elements: Iterable[dict[str, Any]], path: Path) -> int:
    """Write Overpass JSON ``elements`` to an OSM file (format from the suffix); return count.

    Parameters
    ----------
    elements : iterable of dict
        Overpass JSON elements (nodes before the ways that use them).
    path : Path
        Target ``.osm`` or ``.osm.pbf``.

    Returns
    -------
    int
        Elements written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> elements = [
    ...     {"type": "node", "id": 1, "lat": 32.040, "lon": 118.780},
    ...     {"type": "node", "id": 2, "lat": 32.041, "lon": 118.781},
    ...     {"type": "way", "id": 10, "nodes": [1, 2], "tags": {"highway": "footway"}},
    ...     {"type": "node", "id": 3, "lat": 32.0405, "lon": 118.7805,
    ...      "tags": {"amenity": "community_centre", "name": "党群服务中心"}},
    ... ]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
    >>> write_elements(elements, path)
    4

    """
    order = {"node": 0, "way": 1, "relation": 2}
    items = sorted(
        (e for e in elements if e.get("type") in order),
        key=lambda e: (order[e["type"]], int(e["id"])),
    )
    if path.exists():
        path.unlink()
    writer = osmium.SimpleWriter(str(path))
    try:
        for e in items:
            tags = {str(k): str(v) for k, v in (e.get("tags") or {}).items()}
            if e["type"] == "node":
                loc = (float(e["lon"]), float(e["lat"]))
                writer.add_node(osmium.osm.mutable.Node(id=int(e["id"]), location=loc, tags=tags))
            elif e["type"] == "way":
                nodes = [int(n) for n in e.get("nodes", [])]
                writer.add_way(osmium.osm.mutable.Way(id=int(e["id"]), nodes=nodes, tags=tags))
            else:
                members = [
                    (m["type"][0], int(m["ref"]), str(m.get("role", "")))
                    for m in e.get("members", [])
                ]
                writer.add_relation(
                    osmium.osm.mutable.Relation(id=int(e["id"]), members=members, tags=tags)
                )
    finally:
        writer.close()
    return len(items)


def download_overpass(bounds: tuple[float, float, float, float], out_path: Path) -> None:
    """Download everything ``OSMData`` needs in ``bounds`` into ``out_path`` (.osm.pbf).

    Parameters
    ----------
    bounds : (float, float, float, float)
        West, south, east, north in degrees.
    out_path : Path
        Target ``.osm.pbf``.

    Examples
    --------
    >>> import pathlib
    >>> download_overpass((118.76, 32.03, 118.80, 32.05), pathlib.Path("x.osm.pbf"))  # doctest: +SKIP

    """
    from osmnx import _overpass  # imported lazily: only this online path needs it

    query = overpass_query(bounds, _overpass._make_overpass_settings())
    try:
        response = _overpass._overpass_request(OrderedDict(data=query))
    except Exception as exc:  # requests/osmnx errors vary by version
        msg = (
            f"Overpass download failed ({type(exc).__name__}: {exc}); check the connection "
            "or pass a local .osm/.pbf file to read_osm"
        )
        raise NetworkError(" ".join(msg.split())) from exc
    elements = response.get("elements", [])
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp.osm.pbf")
    try:
        n = write_elements(elements, tmp)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("downloaded %d OSM elements into %s", n, out_path)
    meta = out_path.with_suffix(".json")
    meta.write_text(json.dumps({"bounds": list(bounds), "query": query}), encoding="utf-8")
