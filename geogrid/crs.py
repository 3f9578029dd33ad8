"""Coordinate systems used in China and the metric CRS of a study area.

OpenStreetMap and GPS are WGS84 (EPSG:4326). Official Chinese data is CGCS2000 (EPSG:4490,
within a metre of WGS84; projected Gauss-Kruger zones EPSG:4513-4554). Amap/Gaode, Tencent and
Google China use GCJ-02, shifted 100-700 m from WGS84 by a published obfuscation; Baidu uses
BD-09, a further rotation of GCJ-02. Neither has an EPSG code, so they are named ``"gcj02"``
and ``"bd09"`` here. GCJ-02/BD-09 -> WGS84 is solved iteratively to better than 1 cm.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from geogrid.errors import CRSError

__all__ = [
    "SHIFTED",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "far_from_centre",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "metric_crs",
    "parse_crs",
    "to_metric",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: The shifted Chinese systems that have no EPSG code.
SHIFTED = frozenset({"gcj02", "bd09"})

_ALIASES: dict[str, Any] = {
    "wgs84": "EPSG:4326",
    "wgs-84": "EPSG:4326",
    "gps": "EPSG:4326",
    "osm": "EPSG:4326",
    "cgcs2000": "EPSG:4490",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "mars": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def parse_crs(value: Any) -> str | pyproj.CRS:
    """Parse a user's coordinate system: an EPSG code, a name, or a shifted Chinese system.

    Parameters
    ----------
    value : int, str or pyproj.CRS
        ``4326``, ``"EPSG:4490"``, ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (Amap, Tencent),
        ``"bd09"`` (Baidu), a WKT or PROJ string, or a CRS.

    Returns
    -------
    str or pyproj.CRS
        ``"gcj02"`` or ``"bd09"`` for the shifted systems, a :class:`pyproj.CRS` otherwise.

    Examples
    --------
    >>> parse_crs("gcj02")
    'gcj02'
    >>> parse_crs(4490).to_epsg()
    4490

    """
    if isinstance(value, pyproj.CRS):
        return value
    if value is None:
        msg = "no coordinate system given; pass crs='wgs84', 'cgcs2000', 'gcj02', 'bd09' or an EPSG code"
        raise CRSError(msg)
    key = str(value).strip()
    alias = _ALIASES.get(key.lower().replace("_", ""))
    if alias in SHIFTED:
        return str(alias)
    try:
        return pyproj.CRS.from_user_input(alias or (int(key) if key.isdigit() else key))
    except (pyproj.exceptions.CRSError, ValueError) as exc:
        msg = (
            f"unknown coordinate system {value!r}; pass an EPSG code such as 'EPSG:4326', "
            "or 'wgs84', 'cgcs2000', 'gcj02' (Amap/Tencent), 'bd09' (Baidu)"
        )
        raise CRSError(msg) from exc


# Convergence of the BD-09 inversion (degrees: about 0.01 mm).
_BD09_TOL_DEG = 1e-10
# Longitudes of China's CGCS2000 3-degree Gauss-Kruger zones (EPSG:4534-4554).
_GK_LON_MIN, _GK_LON_MAX = 73.5, 136.5
# The rough box where GCJ-02 applies (the usual open-source convention).
_GCJ_LON_MIN, _GCJ_LON_MAX = 72.004, 137.8347
_GCJ_LAT_MIN, _GCJ_LAT_MAX = 0.8293, 55.8271


def in_china(lon: Any, lat: Any) -> np.ndarray:
    """Whether points fall in the rough box where GCJ-02 applies (outside it, no shift).

    Parameters
    ----------
    lon, lat : float or array-like
        WGS84 longitudes and latitudes in degrees.

    Returns
    -------
    ndarray of bool
        True inside the box.

    Examples
    --------
    >>> in_china([116.4, 2.35], [39.9, 48.86]).tolist()
    [True, False]

    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    inside: np.ndarray = (
        (lon > _GCJ_LON_MIN) & (lon < _GCJ_LON_MAX) & (lat > _GCJ_LAT_MIN) & (lat < _GCJ_LAT_MAX)
    )
    return inside


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sq = np.sqrt(np.abs(x))
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat += common
    d_lon += common
    d_lat += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 longitudes/latitudes to GCJ-02 (points outside China are unchanged).

    Parameters
    ----------
    lon, lat : float or array-like
        WGS84 longitudes and latitudes in degrees.

    Returns
    -------
    (ndarray, ndarray)
        GCJ-02 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.397, 39.909)
    >>> [round(float(v), 6) for v in (lon, lat)]
    [116.403244, 39.910403]

    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    d_lon, d_lat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_wgs84(lon: Any, lat: Any, *, tol_deg: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (error well under 1 cm).

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 longitudes and latitudes in degrees.
    tol_deg : float
        Stop when a step moves the points less than this (degrees).

    Returns
    -------
    (ndarray, ndarray)
        WGS84 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.403244, 39.910403)
    >>> [round(float(v), 5) for v in (lon, lat)]
    [116.397, 39.909]

    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(30):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat), [0.0]]))) < tol_deg:
            break
    return w_lon, w_lat


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 to Baidu BD-09.

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 longitudes and latitudes in degrees.

    Returns
    -------
    (ndarray, ndarray)
        BD-09 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.403244, 39.910403)
    >>> [round(float(v), 6) for v in (lon, lat)]
    [116.409616, 39.916744]

    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 to GCJ-02 (the published closed-form inverse).

    Parameters
    ----------
    lon, lat : float or array-like
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    (ndarray, ndarray)
        GCJ-02 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.409616, 39.916744)
    >>> [round(float(v), 6) for v in (lon, lat)]
    [116.403244, 39.910403]

    """
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd09_to_gcj02_exact(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`gcj02_to_bd09` iteratively (the closed form is off by up to ~1 m)."""
    b_lon = np.asarray(lon, dtype=float)
    b_lat = np.asarray(lat, dtype=float)
    g_lon, g_lat = bd09_to_gcj02(b_lon, b_lat)
    for _ in range(30):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        e_lon, e_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - e_lon, g_lat - e_lat
        if (
            np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat), [0.0]])))
            < _BD09_TOL_DEG
        ):
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 to Baidu BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat : float or array-like
        WGS84 longitudes and latitudes in degrees.

    Returns
    -------
    (ndarray, ndarray)
        BD-09 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(116.397, 39.909)
    >>> [round(float(v), 6) for v in (lon, lat)]
    [116.409616, 39.916744]

    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 to WGS84 (via GCJ-02, both steps inverted iteratively).

    Parameters
    ----------
    lon, lat : float or array-like
        BD-09 longitudes and latitudes in degrees.

    Returns
    -------
    (ndarray, ndarray)
        WGS84 longitudes and latitudes.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(116.409616, 39.916744)
    >>> [round(float(v), 6) for v in (lon, lat)]
    [116.397, 39.909]

    """
    return gcj02_to_wgs84(*_bd09_to_gcj02_exact(lon, lat))


_TO_WGS = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _apply(gdf: gpd.GeoDataFrame, func: Any) -> gpd.GeoDataFrame:
    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = gdf.copy()
    out.geometry = shapely.transform(np.asarray(gdf.geometry.values), fn)
    return out


def to_wgs84(gdf: gpd.GeoDataFrame, source: Any = None) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer. Its own CRS is used unless ``source`` is given.
    source : str, optional
        ``"gcj02"`` or ``"bd09"`` when the coordinates are in a shifted Chinese system (whatever
        the layer declares, since Amap GeoJSON declares WGS84 but is GCJ-02), or any CRS.

    Returns
    -------
    GeoDataFrame
        A copy in EPSG:4326; a shifted source is recorded in ``attrs["source_crs"]``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> amap = gpd.GeoDataFrame(geometry=[shapely.Point(116.403244, 39.910403)], crs=4326)
    >>> to_wgs84(amap, source="gcj02").attrs["source_crs"]
    'gcj02'

    """
    src = parse_crs(source) if source is not None else gdf.crs
    if src is None:
        msg = "layer has no coordinate system; pass source='wgs84', 'gcj02', 'bd09' or an EPSG code"
        raise CRSError(msg)
    if isinstance(src, str):
        out = _apply(gdf.set_crs("EPSG:4326", allow_override=True), _TO_WGS[src])
        out.attrs["source_crs"] = src
        return out
    if gdf.crs is None or not pyproj.CRS(gdf.crs).equals(src):
        gdf = gdf.set_crs(src, allow_override=True)
    return gdf.to_crs("EPSG:4326")


def from_wgs84(gdf: gpd.GeoDataFrame, target: Any) -> gpd.GeoDataFrame:
    """Return ``gdf`` (any CRS) in ``target``; ``"gcj02"``/``"bd09"`` shift the coordinates.

    A shifted result still declares EPSG:4326, since GCJ-02 and BD-09 have no EPSG code; it is
    meant for drawing on Amap or Baidu basemaps only.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer, with a CRS.
    target : int, str or pyproj.CRS
        Anything :func:`parse_crs` reads.

    Returns
    -------
    GeoDataFrame
        The layer in ``target``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> wgs = gpd.GeoDataFrame(geometry=[shapely.Point(116.397, 39.909)], crs=4326)
    >>> round(float(from_wgs84(wgs, "gcj02").geometry.x.iloc[0]), 6)
    116.403244

    """
    if gdf.crs is None:
        msg = "layer has no coordinate system; set one with gdf.set_crs(...) first"
        raise CRSError(msg)
    dst = parse_crs(target)
    wgs = gdf.to_crs("EPSG:4326")
    if isinstance(dst, str):
        return _apply(wgs, _FROM_WGS[dst])
    return wgs.to_crs(dst)


def metric_crs(gdf: gpd.GeoDataFrame | None = None, *, lon: float | None = None) -> pyproj.CRS:
    """Choose the metric CRS of a study area.

    Inside China's longitudes (73.5-136.5 E) the CGCS2000 3-degree Gauss-Kruger zone with central
    meridian nearest the centre (EPSG:4534-4554, metres, no false zone prefix); elsewhere the
    UTM zone of the centre. The centre is the median vertex, so one stray feature (a point at
    0, 0) cannot drag the zone away from where the data is.

    Parameters
    ----------
    gdf : GeoDataFrame, optional
        The layer whose centre decides the zone (it needs a CRS).
    lon : float, optional
        The centre's longitude instead of a layer.

    Returns
    -------
    pyproj.CRS
        A projected CRS in metres.

    Examples
    --------
    >>> metric_crs(lon=116.4).to_epsg()  # Beijing: CGCS2000 / 3-degree GK CM 117E
    4548

    """
    if lon is None:
        if gdf is None or gdf.crs is None:
            msg = "metric_crs needs a layer with a coordinate system or lon=; set gdf.crs first"
            raise CRSError(msg)
        lon, lat = _median_lonlat(gdf)
    else:
        lat = 35.0
    if _GK_LON_MIN <= lon <= _GK_LON_MAX and lat > 0:
        zone = int(round((lon - 75.0) / 3.0))
        return pyproj.CRS.from_epsg(4534 + min(max(zone, 0), 20))
    utm = int((lon + 180.0) // 6.0) + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + utm)


_CENTRE_SAMPLE = 200_000


def _median_lonlat(gdf: gpd.GeoDataFrame) -> tuple[float, float]:
    """Median lon/lat of a layer's vertices (a sample of them for big layers)."""
    xy = shapely.get_coordinates(np.asarray(gdf.geometry.values))
    if len(xy) > _CENTRE_SAMPLE:
        xy = xy[:: len(xy) // _CENTRE_SAMPLE + 1]
    if not len(xy):
        msg = "metric_crs needs a layer with at least one coordinate; pass a non-empty layer"
        raise CRSError(msg)
    pts = gpd.GeoSeries(shapely.points(xy), crs=gdf.crs).to_crs("EPSG:4326")
    with np.errstate(all="ignore"):
        lon = float(np.nanmedian(pts.x.to_numpy()))
        lat = float(np.nanmedian(pts.y.to_numpy()))
    if not (np.isfinite(lon) and np.isfinite(lat)):
        msg = "the layer's coordinates are not finite lon/lat; check its coordinate system"
        raise CRSError(msg)
    return lon, lat


def far_from_centre(
    lon: Any, lat: Any, *, factor: float = 10.0, min_km: float = 30.0
) -> tuple[np.ndarray, float]:
    """Flag points far from the rest: beyond ``factor`` times the median distance to the median.

    Parameters
    ----------
    lon, lat : array-like
        Degrees (WGS84).
    factor, min_km : float
        A point is far when its distance to the median lon/lat exceeds both ``min_km`` and
        ``factor`` times the median of those distances.

    Returns
    -------
    (ndarray of bool, float)
        The mask of far points (non-finite ones included) and the limit in km.

    Examples
    --------
    >>> far, limit_km = far_from_centre([116.40, 116.41, 116.42, 0.0], [39.90, 39.91, 39.92, 0.0])
    >>> far.tolist()
    [False, False, False, True]

    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    with np.errstate(all="ignore"):
        lon0, lat0 = np.nanmedian(x), np.nanmedian(y)
        dx = (x - lon0) * 111.32 * np.cos(np.radians(lat0))
        dy = (y - lat0) * 110.57
        dist = np.hypot(dx, dy)
        limit = max(min_km, factor * float(np.nanmedian(dist)))
    return ~np.isfinite(dist) | (dist > limit), limit


def is_metric(crs: Any) -> bool:
    """Whether ``crs`` is projected with axes in metres.

    Parameters
    ----------
    crs : int, str or pyproj.CRS
        Anything :class:`pyproj.CRS` reads.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_metric("EPSG:4546"), is_metric(4326)
    (True, False)

    """
    c = pyproj.CRS(crs)
    return bool(c.is_projected and c.axis_info and c.axis_info[0].unit_name in ("metre", "meter"))


def to_metric(gdf: gpd.GeoDataFrame, crs: Any = None) -> gpd.GeoDataFrame:
    """Project ``gdf`` to ``crs``; error if it has no CRS.

    Without ``crs`` a layer already in a metric projected CRS is returned as it is, others go to
    :func:`metric_crs` of the layer.

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer, with a CRS.
    crs : int, str or pyproj.CRS, optional
        A projected CRS in metres.

    Returns
    -------
    GeoDataFrame
        The layer in metres.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> wgs = gpd.GeoDataFrame(geometry=[shapely.Point(116.397, 39.909)], crs=4326)
    >>> to_metric(wgs).crs.to_epsg()
    4548

    """
    if gdf.crs is None:
        msg = "layer has no coordinate system; set it with gdf.set_crs('EPSG:4326') or pass crs="
        raise CRSError(msg)
    if crs is None and is_metric(gdf.crs):
        return gdf
    target = pyproj.CRS(crs) if crs is not None else metric_crs(gdf)
    if target.is_geographic:
        msg = f"{target.name} is not in metres; pass a projected CRS such as EPSG:4546"
        raise CRSError(msg)
    return gdf if pyproj.CRS(gdf.crs).equals(target) else gdf.to_crs(target)
