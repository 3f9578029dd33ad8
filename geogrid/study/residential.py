"""Is a building housing? A decision per building, with the evidence that made it.

Most Chinese OpenStreetMap buildings are ``building=yes``. Treating all of them as housing turns
campus halls and shopping centres into hundreds of households. :func:`classify_buildings`
decides from the evidence in the data, first match wins:

1. ``override`` - a user column (true/false, 是/否, 1/0, residential/non-residential);
2. ``tag`` - a residential (``apartments``, ``residential``, ``house`` ...) or non-residential
   (``school``, ``office`` ... :data:`geogrid.demand.NON_RESIDENTIAL`) ``building`` value;
3. ``own_tag`` - the building itself carries ``amenity``/``shop``/``office``;
4. ``name`` - 小区, 花园, 家园, 公寓, 苑, 里, 村 ... against 学校, 医院, 大厦, 中心, 公司, 厂 ...;
5. ``poi`` - a school, hospital, government, worship, culture or office POI inside it;
6. ``footprint`` - smaller than ``settings.min_housing_footprint_m2`` (sheds, kiosks);
7. ``compound`` / ``landuse`` - inside a compound polygon or ``landuse=residential``;
8. ``landuse`` - inside non-residential land (commercial, industrial, retail, school and
   hospital grounds ...);
9. ``poi`` - a shop, restaurant or bank inside a building not in residential land;
10. ``footprint`` - larger than ``settings.max_untagged_housing_footprint_m2``;
11. ``landuse`` - within ``settings.near_residential_m`` of residential land;
12. ``default`` - no evidence: residential under rule ``"evidence"`` (most urban buildings in
    China are housing), non-residential under rule ``"strict"``.

Rule ``"tags"`` keeps the old behaviour (only the ``building`` tag decides).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.network.snap import representative_points
from geogrid.settings import DEFAULTS, Settings

__all__ = ["RULES", "classify_buildings", "read_landuse"]

log = logging.getLogger(__name__)

RULES = ("evidence", "strict", "tags")

RESIDENTIAL_TAGS = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
        "cabin",
        "villa",
    }
)
RESIDENTIAL_WORDS = (
    "小区",
    "花园",
    "家园",
    "公寓",
    "宿舍",
    "住宅",
    "新村",
    "公馆",
    "家属院",
    "家属楼",
    "别墅",
    "苑",
    "里",
    "村",
)
NON_RESIDENTIAL_WORDS = (
    "学校",
    "小学",
    "中学",
    "大学",
    "学院",
    "幼儿园",
    "教学楼",
    "实验楼",
    "图书馆",
    "体育馆",
    "游泳馆",
    "博物馆",
    "美术馆",
    "医院",
    "卫生院",
    "诊所",
    "大厦",
    "中心",
    "公司",
    "集团",
    "厂",
    "车间",
    "仓库",
    "市场",
    "商场",
    "超市",
    "百货",
    "广场",
    "酒店",
    "饭店",
    "宾馆",
    "银行",
    "政府",
    "法院",
    "派出所",
    "办事处",
    "委员会",
    "村委会",
    "居委会",
    "食堂",
    "车站",
    "收费站",
    "寺",
    "教堂",
    "写字楼",
)
#: POI amenity values that make a building non-residential wherever it stands.
STRONG_AMENITIES = frozenset(
    {
        "school",
        "university",
        "college",
        "kindergarten",
        "hospital",
        "clinic",
        "townhall",
        "police",
        "courthouse",
        "fire_station",
        "library",
        "place_of_worship",
        "arts_centre",
        "theatre",
        "cinema",
        "post_office",
        "marketplace",
    }
)
#: Land-use and amenity areas that hold no housing.
NON_RESIDENTIAL_LAND = frozenset(
    {
        "commercial",
        "retail",
        "industrial",
        "education",
        "institutional",
        "military",
        "railway",
        "religious",
        "construction",
        "school",
        "university",
        "college",
        "hospital",
        "kindergarten",
    }
)
_TRUE = {"1", "1.0", "true", "yes", "y", "t", "是", "住宅", "residential"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", "否", "非住宅", "non-residential", "nonresidential"}


def _tags(b: gpd.GeoDataFrame) -> pd.Series:
    if "building" not in b.columns:
        return pd.Series("yes", index=b.index, dtype=object)
    t = b["building"].astype(object)
    return t.where(t.notna(), "yes").astype(str).str.strip().str.lower()


def _override(b: gpd.GeoDataFrame, column: str | None) -> pd.Series:
    """Return True/False/NaN per building from the user's column."""
    if column is None:
        return pd.Series(np.nan, index=b.index, dtype=object)
    if column not in b.columns:
        shown = ", ".join(map(str, list(b.columns)[:12]))
        msg = f"residential column {column!r} is not in the demand layer (columns: {shown}); pass one of them"
        raise InputError(msg)
    text = b[column].astype(object).where(b[column].notna(), "").astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE | {"", "nan", "none"})
    if bad.any():
        msg = (
            f"residential column {column!r} has {int(bad.sum())} values that are neither yes nor no "
            f"(first: {text[bad].iloc[0]!r}); use 1/0, true/false or 是/否, or leave empty"
        )
        raise InputError(msg)
    return text.map(lambda s: True if s in _TRUE else (False if s in _FALSE else np.nan))


def _word(names: pd.Series, words: tuple[str, ...]) -> pd.Series:
    pattern = "(" + "|".join(re.escape(w) for w in words) + ")"
    return names.str.extract(pattern, expand=False)


def _inside(pts: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> pd.Series:
    """Name (or '') of the first area containing each point; NaN when none."""
    if areas is None or len(areas) == 0:
        return pd.Series(np.nan, index=pts.index, dtype=object)
    a = areas[areas.geom_type.isin(["Polygon", "MultiPolygon"])]
    name = (
        a["name"].astype(object).where(a["name"].notna(), "")
        if "name" in a.columns
        else pd.Series("", index=a.index)
    )
    a = gpd.GeoDataFrame({"_name": name.astype(str)}, geometry=a.geometry, crs=a.crs)
    hit = gpd.sjoin(pts, a, predicate="within", how="inner")
    hit = hit[~hit.index.duplicated(keep="first")]
    return hit["_name"].reindex(pts.index)


def _named(prefix: str, names: pd.Series) -> pd.Series:
    """``prefix`` followed by the name where there is one."""
    return names.map(lambda n: f"{prefix} {n}" if isinstance(n, str) and n else prefix)


def _poi_kind(b: gpd.GeoDataFrame, pois: gpd.GeoDataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Per building: the strong POI inside (e.g. 'amenity=school') and any weak one."""
    none = pd.Series(np.nan, index=b.index, dtype=object)
    if pois is None or len(pois) == 0:
        return none, none.copy()
    p = pois.to_crs(b.crs)
    p = p[p.geom_type == "Point"]
    amen = p["amenity"] if "amenity" in p.columns else pd.Series(None, index=p.index)
    strong = amen.isin(STRONG_AMENITIES)
    if "office" in p.columns:
        strong |= p["office"].notna()
    label = pd.Series("", index=p.index, dtype=object)
    for key in ("shop", "office", "amenity"):
        if key in p.columns:
            label = label.where(p[key].isna(), key + "=" + p[key].astype(str))
    pts = gpd.GeoDataFrame({"_label": label, "_strong": strong}, geometry=p.geometry, crs=b.crs)
    pts = pts[pts["_label"] != ""]
    polys = gpd.GeoDataFrame(geometry=b.geometry, crs=b.crs)
    hit = gpd.sjoin(pts, polys, predicate="within", how="inner")
    s = hit[hit["_strong"]].drop_duplicates("index_right").set_index("index_right")["_label"]
    w = hit[~hit["_strong"]].drop_duplicates("index_right").set_index("index_right")["_label"]
    return s.reindex(b.index), w.reindex(b.index)


def _own_tag(b: gpd.GeoDataFrame) -> pd.Series:
    out = pd.Series(np.nan, index=b.index, dtype=object)
    for key in ("office", "shop", "amenity"):
        if key in b.columns:
            v = b[key]
            out = out.where(v.isna(), key + "=" + v.astype(str))
    return out


def _split_land(landuse: gpd.GeoDataFrame | None) -> tuple[Any, Any]:
    """Split a land-use layer into residential and non-residential areas."""
    if landuse is None or len(landuse) == 0:
        return None, None
    kind = pd.Series("", index=landuse.index, dtype=object)
    for key in ("amenity", "landuse"):
        if key in landuse.columns:
            kind = kind.where(landuse[key].isna(), landuse[key].astype(str))
    res = landuse[kind == "residential"]
    non = landuse[kind.isin(NON_RESIDENTIAL_LAND)].copy()
    if len(non):
        label = kind[non.index]
        non["name"] = [
            f"{k}{':' + str(n) if isinstance(n, str) and n else ''}"
            for k, n in zip(
                label, non["name"] if "name" in non.columns else [None] * len(non), strict=True
            )
        ]
    return res, non


def classify_buildings(
    buildings: gpd.GeoDataFrame,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    pois: gpd.GeoDataFrame | None = None,
    rule: str = "evidence",
    column: str | None = None,
    settings: Settings = DEFAULTS,
) -> gpd.GeoDataFrame:
    """Decide which buildings are housing, recording the evidence per building.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints (any CRS; the result is metric) with optional ``building``, ``name``,
        ``amenity``, ``shop``, ``office`` columns.
    landuse : GeoDataFrame, optional
        Land-use areas with ``landuse`` and/or ``amenity`` (``landuse=residential`` counts for
        housing; commercial, industrial, school and hospital grounds against). A layer with
        neither column is taken as residential areas (compounds, ``--residential``).
    compounds : GeoDataFrame, optional
        Compound (小区) polygons; points are ignored here.
    pois : GeoDataFrame, optional
        Points of interest with ``amenity``/``shop``/``office``.
    rule : {"evidence", "strict", "tags"}
        What a building without evidence is (housing, not housing), or ``"tags"`` to decide on
        the ``building`` tag alone.
    column : str, optional
        A user column that overrides the decision where it is filled.
    settings : Settings
        ``min_housing_footprint_m2``, ``max_untagged_housing_footprint_m2``,
        ``near_residential_m``.

    Returns
    -------
    GeoDataFrame
        A metric copy with ``residential`` (bool), ``residential_evidence`` (text) and
        ``residential_basis`` (override, tag, own_tag, name, poi, footprint, compound, landuse,
        default); ``attrs["residential_counts"]`` counts ``basis:decision`` pairs.

    """
    if rule not in RULES:
        msg = f"unknown residential rule {rule!r}; pass one of {', '.join(RULES)}"
        raise InputError(msg)
    if buildings.crs is None:
        msg = "buildings have no coordinate system; pass crs= when reading or call .set_crs(...)"
        raise InputError(msg)
    b = to_metric(buildings, None).copy()
    led = _Ledger(b.index)
    tag = _by_tag(b, led, _override(b, column), column)
    if rule == "tags":
        led.put(pd.Series(True, index=b.index), True, "building=" + tag, "tag")
        return led.finish(b)
    weak = _by_own_data(b, led, pois, settings)
    _by_place(b, led, landuse, compounds, weak=weak, settings=settings)
    led.put(pd.Series(True, index=b.index), rule == "evidence", "no evidence", "default")
    log.info("classified %d buildings", len(b))
    return led.finish(b)


class _Ledger:
    """The decision, evidence and basis per building; the first evidence that applies wins."""

    def __init__(self, index: pd.Index) -> None:
        self.decided = pd.Series(np.nan, index=index, dtype=object)
        self.evidence = pd.Series("", index=index, dtype=object)
        self.basis = pd.Series("", index=index, dtype=object)

    def put(self, mask: pd.Series, value: bool, why: pd.Series | str, kind: str) -> None:
        """Decide ``value`` for the undecided buildings in ``mask``, citing ``why``."""
        m = mask.fillna(False).astype(bool) & self.decided.isna()
        self.decided[m] = value
        self.evidence[m] = why[m] if isinstance(why, pd.Series) else why
        self.basis[m] = kind

    def finish(self, b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Write ``residential``, ``residential_evidence``, ``residential_basis`` into ``b``."""
        b["residential"] = self.decided.astype(bool).to_numpy()
        b["residential_evidence"] = self.evidence.astype(str).to_numpy()
        b["residential_basis"] = self.basis.astype(str).to_numpy()
        key = (
            b["residential_basis"]
            + ":"
            + np.where(b["residential"], "residential", "non_residential")
        )
        counts = key.value_counts().sort_index()
        b.attrs["residential_counts"] = {str(k): int(v) for k, v in counts.items()}
        return b


def _by_tag(b: gpd.GeoDataFrame, led: _Ledger, over: pd.Series, column: str | None) -> pd.Series:
    """Decide on the user's column, then on the ``building`` tag; return the tags."""
    from geogrid.study.demand import NON_RESIDENTIAL

    led.put(over == True, True, f"column {column}", "override")  # noqa: E712
    led.put(over == False, False, f"column {column}", "override")  # noqa: E712
    tag = _tags(b)
    led.put(tag.isin(RESIDENTIAL_TAGS), True, "building=" + tag, "tag")
    led.put(tag.isin(NON_RESIDENTIAL), False, "building=" + tag, "tag")
    return tag


def _by_own_data(
    b: gpd.GeoDataFrame, led: _Ledger, pois: gpd.GeoDataFrame | None, settings: Settings
) -> pd.Series:
    """Decide on the building's own tags, its name, strong POIs inside and a tiny footprint.

    Returns the weak POI inside each building (a shop, restaurant or bank), which counts only
    after land use: a shop in a housing estate is usually a ground-floor shop (底商).
    """
    own = _own_tag(b)
    led.put(own.notna(), False, own, "own_tag")
    names = (
        b["name"].astype(object).where(b["name"].notna(), "").astype(str)
        if "name" in b.columns
        else pd.Series("", index=b.index)
    )
    non_w, res_w = _word(names, NON_RESIDENTIAL_WORDS), _word(names, RESIDENTIAL_WORDS)
    led.put(non_w.notna(), False, "name has " + non_w.fillna(""), "name")
    led.put(res_w.notna(), True, "name has " + res_w.fillna(""), "name")
    strong, weak = _poi_kind(b, pois)
    led.put(strong.notna(), False, "POI inside: " + strong.fillna(""), "poi")
    small = b.geometry.area < settings.min_housing_footprint_m2
    led.put(small, False, f"footprint < {settings.min_housing_footprint_m2:g} m2", "footprint")
    return weak


def _by_place(
    b: gpd.GeoDataFrame,
    led: _Ledger,
    landuse: gpd.GeoDataFrame | None,
    compounds: gpd.GeoDataFrame | None,
    *,
    weak: pd.Series,
    settings: Settings,
) -> None:
    """Decide on compounds and land use around the building, weak POIs and a huge footprint."""
    pts = gpd.GeoDataFrame(geometry=representative_points(b), crs=b.crs, index=b.index)
    res_land, non_land = _split_land(_as_landuse(landuse))
    if compounds is not None and len(compounds):
        in_comp = _inside(pts, to_metric(compounds, b.crs))
        led.put(in_comp.notna(), True, _named("inside compound", in_comp), "compound")
    in_res = _inside(pts, to_metric(res_land, b.crs) if res_land is not None else None)
    led.put(in_res.notna(), True, _named("inside landuse=residential", in_res), "landuse")
    in_non = _inside(pts, to_metric(non_land, b.crs) if non_land is not None else None)
    led.put(in_non.notna(), False, _named("inside", in_non), "landuse")
    led.put(weak.notna(), False, "POI inside: " + weak.fillna(""), "poi")
    big = b.geometry.area > settings.max_untagged_housing_footprint_m2
    limit = settings.max_untagged_housing_footprint_m2
    led.put(big, False, f"footprint > {limit:g} m2", "footprint")
    if res_land is not None and len(res_land) and settings.near_residential_m > 0:
        near_area = to_metric(res_land, b.crs).buffer(settings.near_residential_m).union_all()
        near = pd.Series(b.geometry.intersects(near_area), index=b.index)
        why = f"within {settings.near_residential_m:g} m of landuse=residential"
        led.put(near, True, why, "landuse")


def _as_landuse(landuse: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Take a layer with neither ``landuse`` nor ``amenity`` as residential areas (compounds)."""
    if landuse is None or len(landuse) == 0:
        return None
    if "landuse" in landuse.columns or "amenity" in landuse.columns:
        return landuse
    out = landuse.copy()
    out["landuse"] = "residential"
    return out


def read_landuse(path: Any) -> gpd.GeoDataFrame:
    """Read land-use and campus areas (``landuse=*``, school/hospital grounds) from an OSM file.

    Returns polygons in EPSG:4326 with ``landuse``, ``amenity`` and ``name`` (raw tags).
    """
    from pathlib import Path

    import osmium
    import shapely

    from geogrid.io.osmxml import osm_file

    campus = NON_RESIDENTIAL_LAND
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    wkb = osmium.geom.WKBFactory()
    fp = osmium.FileProcessor(osm_file(Path(path))).with_areas()
    try:
        for obj in fp:
            if not isinstance(obj, osmium.osm.Area):
                continue
            tags = obj.tags
            lu, am = tags.get("landuse"), tags.get("amenity")
            if lu is None and am not in campus:
                continue
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
            except RuntimeError:
                continue
            amenity = am if am in campus else None
            rows.append({"landuse": lu, "amenity": amenity, "name": tags.get("name")})
            geoms.append(shapely.make_valid(geom))
    except RuntimeError as exc:
        msg = f"could not read land use from {Path(path).name} ({exc}); pass an OSM XML or PBF file"
        raise InputError(msg) from exc
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["landuse", "amenity", "name"]), geometry=geoms, crs="EPSG:4326"
    )
