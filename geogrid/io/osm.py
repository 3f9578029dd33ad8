"""OpenStreetMap extracts as the four layers an analysis needs.

:func:`read_osm` reads ``.osm``/``.osm.bz2``/``.osm.gz``/``.osm.pbf`` files with pyosmium
(:mod:`geogrid.io.osmxml`) into an :class:`OSMData` (walkable ways, buildings, residential
areas, points of interest), optionally clipped to a bounding box; :func:`fetch_osm` downloads
the same layers from Overpass into an on-disk cache.

OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from geogrid.errors import InputError
from geogrid.io import osmxml as _osm
from geogrid.io.readers import OSM_ATTRIBUTION

log = logger = logging.getLogger(__name__)


# --- OpenStreetMap ------------------------------------------------------------------------------


@dataclasses.dataclass(repr=False)
class OSMData:
    """The layers of an OpenStreetMap extract that geogrid uses, all in EPSG:4326.

    Attributes
    ----------
    ways : GeoDataFrame
        Every way tagged ``highway``, as a LineString: ``osmid``, ``highway``, ``access``,
        ``service``, ``foot``, ``name``, ``area``, ``oneway``, ``footway``, ``sidewalk``,
        ``crossing``, ``bridge``, ``tunnel``, ``layer``, ``level``, ``indoor``, ``surface``,
        ``width``, ``lanes``, ``maxspeed``, ``junction``, ``bicycle``, ``motor_vehicle``,
        ``ref``, ``name:en`` (raw tag strings or None) and ``nodes`` (list of node ids, one per
        vertex). A node shared by two ways has float-identical coordinates in both.
    buildings : GeoDataFrame
        Building (Multi)Polygons from closed ways and multipolygon relations: ``osmid``,
        ``osm_type`` ("way"/"relation"), ``building``, ``building:levels``,
        ``building:levels:underground``, ``height``, ``min_height``, ``roof:levels``, ``name``,
        ``amenity``, ``shop``, ``office`` and any ``addr:*`` (raw tag strings).
    residential : GeoDataFrame
        ``landuse=residential`` (Multi)Polygons: ``osmid``, ``osm_type``, ``name``.
    pois : GeoDataFrame
        Points of interest tagged amenity/office/shop/government/social_facility/
        community_centre/healthcare: nodes, and closed ways and relations as centroids.
        Columns ``osmid``, ``osm_type``, ``name``, those keys, ``social_facility:for``,
        ``community_centre:for``, ``building``, ``operator`` and any ``addr:*``.
    gates : GeoDataFrame
        Gate nodes (``barrier=gate``, ``lift_gate``, ``swing_gate``, ``entrance``... or any
        ``entrance=*``) as Points: ``osmid``, ``barrier``, ``entrance``, ``access``, ``foot``,
        ``name``. With the walls they mark gated compounds (see
        :func:`geogrid.network.build.network_from_ways`).
    walls : GeoDataFrame
        ``barrier=wall`` / ``fence`` ways as LineStrings: ``osmid``, ``barrier``, ``name``.
    source : str
        The file read, or the cached download.
    attribution : str
        ODbL attribution to show with any result made from these data.

    """

    ways: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    source: str = ""
    attribution: str = OSM_ATTRIBUTION
    gates: gpd.GeoDataFrame = dataclasses.field(default_factory=lambda: _empty("Point"))
    walls: gpd.GeoDataFrame = dataclasses.field(default_factory=lambda: _empty("LineString"))

    def __repr__(self) -> str:
        return (
            f"OSMData({len(self.ways)} highway ways, {len(self.buildings)} buildings, "
            f"{len(self.residential)} residential areas, {len(self.pois)} POIs, "
            f"{len(self.gates)} gates, {len(self.walls)} walls"
            f"{', from ' + Path(self.source).name if self.source else ''})"
        )

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Return the four layers by name, e.g. for :func:`write_layers`.

        Returns
        -------
        dict of str to GeoDataFrame
            ``ways``, ``buildings``, ``residential`` and ``pois``.

        Examples
        --------
        >>> osm = read_osm("../shared/data/real/nanjing_xuanwu.osm")  # doctest: +SKIP
        >>> write_layers("osm.gpkg", osm.layers())  # doctest: +SKIP

        """
        return {
            "ways": self.ways,
            "buildings": self.buildings,
            "residential": self.residential,
            "pois": self.pois,
        }


def _empty(kind: str) -> gpd.GeoDataFrame:
    """Return an empty gates or walls layer in EPSG:4326 (an extract that has none)."""
    cols = _osm.GATE_COLUMNS if kind == "Point" else _osm.WALL_COLUMNS
    return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=_osm.WGS84)


def _check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        msg = f"bbox must be (west, south, east, north) in degrees, got {bbox!r}; pass 4 numbers"
        raise InputError(msg) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = (
            f"bbox must be (west, south, east, north) lon/lat degrees with west < east and "
            f"south < north, got {bbox!r}; pass e.g. (118.763, 32.035, 118.796, 32.052)"
        )
        raise InputError(msg)
    return west, south, east, north


def read_osm(
    path: str | os.PathLike[str], *, bbox: tuple[float, float, float, float] | None = None
) -> OSMData:
    """Read an OpenStreetMap file into highway ways, buildings, residential areas and POIs.

    Parameters
    ----------
    path : str or path-like
        ``.osm``, ``.osm.xml``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` (read with pyosmium).
    bbox : tuple, optional
        ``(west, south, east, north)`` in WGS84 degrees; only features that intersect it are
        kept (whole, not clipped, so streets stay connected).

    Returns
    -------
    OSMData
        All layers in EPSG:4326. Only ``highway`` ways are in ``ways``; buildings and other
        areas never are.

    Raises
    ------
    InputError
        Missing file, unknown extension, or a file osmium cannot parse.

    Examples
    --------
    >>> osm = read_osm("../shared/data/real/nanjing_xuanwu.osm")  # doctest: +SKIP
    >>> sorted(osm.layers())  # doctest: +SKIP
    ['buildings', 'pois', 'residential', 'ways']

    """
    p = Path(path)
    if not p.exists():
        msg = f"{p} does not exist; check the path (relative paths start at {Path.cwd()})"
        raise InputError(msg)
    box = _check_bbox(bbox) if bbox is not None else None
    layers = _osm.parse_osm_file(p)
    if box is not None:
        layers = _osm.clip_layers(layers, shapely.box(*box))
    data = OSMData(**layers, source=str(p))
    log.info("read %r", data)
    return data


def fetch_osm(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    polygon: shapely.Geometry | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> OSMData:
    """Download an :class:`OSMData` from the Overpass API, cached on disk.

    Exactly one of ``place``, ``bbox`` and ``polygon`` is given. The extract is written to
    ``cache_dir`` as ``osm_<hash>.osm.pbf`` and read back with :func:`read_osm`, so a second
    call with the same area needs no network; osmnx's HTTP cache is kept in
    ``cache_dir/osmnx``.

    Parameters
    ----------
    place : str, optional
        A place name geocoded by Nominatim (via osmnx), e.g. ``"玄武区, 南京市"``.
    bbox : tuple, optional
        ``(west, south, east, north)`` in WGS84 degrees.
    polygon : shapely geometry, optional
        A (Multi)Polygon in WGS84 degrees; features intersecting it are kept.
    cache_dir : str or path-like, optional
        Cache folder (default: osmnx's ``settings.cache_folder``).

    Returns
    -------
    OSMData
        As :func:`read_osm`.

    Raises
    ------
    InputError
        Not exactly one area given, or a bad area.
    NetworkError
        The download failed.

    Examples
    --------
    >>> osm = fetch_osm(place="玄武区, 南京市", cache_dir="osm_cache")  # doctest: +SKIP
    >>> again = fetch_osm(place="玄武区, 南京市", cache_dir="osm_cache")  # doctest: +SKIP

    """
    import osmnx as ox

    given = [v is not None for v in (place, bbox, polygon)]
    if sum(given) != 1:
        msg = "fetch_osm needs one area; pass place=, bbox=(west, south, east, north) or polygon="
        raise InputError(msg)
    cache = Path(cache_dir if cache_dir is not None else ox.settings.cache_folder)
    cache.mkdir(parents=True, exist_ok=True)
    old = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache, ox.settings.cache_folder = True, str(cache / "osmnx")
    try:
        if place is not None:
            region = ox.geocode_to_gdf(place).union_all()
        elif bbox is not None:
            region = shapely.box(*_check_bbox(bbox))
        else:
            region = shapely.geometry.shape(polygon) if isinstance(polygon, dict) else polygon
            if not isinstance(region, shapely.Polygon | shapely.MultiPolygon) or region.is_empty:
                kind = type(polygon).__name__
                msg = f"polygon must be a shapely (Multi)Polygon in lon/lat, got {kind}; pass one"
                raise InputError(msg)
        bounds = tuple(round(float(v), 7) for v in region.bounds)
        spec = json.dumps([_osm.CACHE_VERSION, bounds, list(_osm.POI_KEYS)])
        key = hashlib.sha1(spec.encode()).hexdigest()[:16]
        target = cache / f"osm_{key}.osm.pbf"
        if target.exists():
            log.info("using cached OSM extract %s", target)
        else:
            _osm.download_overpass(bounds, target)  # type: ignore[arg-type]
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = old
    layers = _osm.parse_osm_file(target)
    layers = _osm.clip_layers(layers, region)
    return OSMData(**layers, source=str(target))
