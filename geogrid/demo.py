"""Deterministic Chinese-style demo district: streets, communities, compounds, buildings, ways.

:func:`make_district` builds, offline and from a seed alone, a district that looks like the
inner city of Baotou 昆都仑区 (around 109.84E 40.65N): a jittered grid of arterial roads
400-600 m apart (大街 east-west, 路 north-south), each superblock (街坊) one community (社区)
split by local residential streets into gated compounds (封闭小区) of six-storey walk-up slabs
and high-rise towers, street-front shops, schools and pocket parks; a new-build edge area of
larger tower blocks lies beyond the G65 motorway and is reached on foot only through a few
underpasses, so its communities are deliberately left without any party-mass service
facility within about 1.5 km walking (``DemoDistrict.underserved_codes``). Every layer is in
the metric CRS EPSG:4546 (CGCS2000 / 3-degree Gauss-Kruger CM 111E).

Network topology contract of ``ways``: ways that connect share an exactly identical
(float-equal) vertex, also in the middle of a way; ways that cross without connecting (the
motorway and trunk over- and underpasses) share no vertex.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geogrid.errors import InputError

__all__ = [
    "DEMO_CENTER_LONLAT",
    "DEMO_CRS",
    "DISTRICT_CODE",
    "DISTRICT_NAME",
    "DemoDistrict",
    "make_district",
]

log = logging.getLogger(__name__)

#: Metric CRS of every layer: CGCS2000 / 3-degree Gauss-Kruger CM 111E.
DEMO_CRS = "EPSG:4546"
#: Longitude and latitude (WGS84 / CGCS2000) the district is centred on (Baotou 昆都仑区).
DEMO_CENTER_LONLAT = (109.84, 40.65)
#: Division code and name of the district (昆都仑区, Baotou).
DISTRICT_CODE = "150203"
DISTRICT_NAME = "昆都仑区"

# --- geometry constants (metres) -------------------------------------------------------
_SETBACK_ART_M = 36.0  # arterial centreline -> compound wall (road, pavement, shops)
_SETBACK_LOCAL_M = 12.0  # local street centreline -> compound wall
_RING_M = 5.0  # compound wall -> internal ring road
_MARGIN_M = 10.0  # ring road -> first buildings
_GATE_GAP_M = 3.0  # half-width of the wall gap at a gate
_GAP_M = 90.0  # motorway corridor between the old town and the new-build area
_UNDERSERVED_M = 1500.0  # no facility within this walking distance of an underserved centroid
# The recipe's shares: each is the probability of one draw of the district's RNG.
_MODERN_NAME_SHARE = 0.2  # old-town communities with a modern name (新城/花园 style)
_COMMUNITY_CENTRE_SHARE = 0.92  # old-town communities with their own centre
_RECHARGE_SHARE = 0.3  # old-town communities with a 红色蓄能站
_STATION_SHARE = 0.3  # eligible compounds with a station
_CAPACITY_UNKNOWN_SHARE = 0.25  # facilities whose capacity is not recorded
_LEVELS_MISSING_SHARE = 0.10  # buildings without storeys
_HEIGHT_GIVEN_SHARE = 0.6  # of those, with a height instead
_FLOOR_SHARE = 0.75  # usable share of a building's floor area
_M2_PER_HOUSEHOLD = 90.0  # floor area per household (m2)
_SHOP_BAND = (15.0, 27.0)  # street-front shop band, metres from the arterial centreline

# --- names -------------------------------------------------------------------------------
_EW_NAMES = (
    "阿尔丁大街",
    "钢铁大街",
    "友谊大街",
    "团结大街",
    "幸福大街",
    "民族大街",
    "建设大街",
    "文化大街",
    "劳动大街",
    "和平大街",
    "胜利大街",
    "光明大街",
    "富强大街",
    "繁荣大街",
    "振华大街",
    "兴业大街",
    "昌盛大街",
    "长青大街",
)
_NS_NAMES = (
    "少先路",
    "林荫路",
    "青年路",
    "白云路",
    "昆工路",
    "市府东路",
    "鞍山道",
    "前进道",
    "黄河西路",
    "钢城路",
    "包钢路",
    "呼得木林路",
    "阿吉奈道",
    "赛罕路",
    "银河路",
    "新都路",
    "工业路",
    "民主路",
    "体育路",
    "站前路",
    "凯旋路",
    "昆仑路",
)
_LOCAL_NAMES = (
    "富强路",
    "幸福路",
    "文化路",
    "科学路",
    "健康路",
    "光荣路",
    "育才路",
    "兴业路",
    "和平巷",
    "胜利巷",
    "团结巷",
    "民主巷",
    "友好巷",
    "红星巷",
    "春光巷",
    "新风巷",
)
_STREET_NAMES = (
    "友谊大街街道",
    "阿尔丁大街街道",
    "少先路街道",
    "沼潭街道",
    "林荫路街道",
    "团结大街街道",
    "鞍山道街道",
    "前进道街道",
    "市府东路街道",
    "白云路街道",
    "黄河西路街道",
    "昆工路街道",
    "昆北街道",
    "钢铁大街街道",
    "青年路街道",
    "民族大街街道",
    "建设大街街道",
    "文化大街街道",
    "昆仑路街道",
    "包钢路街道",
)
_BLOCK_PREFIXES = ("友谊", "钢", "团结", "青年", "少先", "阿尔丁", "林荫", "白云")
_MODERN_COMMUNITY = (
    "阳光春天",
    "锦绣嘉园",
    "禧瑞都",
    "龙悦",
    "恒悦",
    "万和",
    "悦和",
    "裕民",
    "国泰",
    "天赐新城",
    "海威",
    "华盛",
    "丽日",
    "明日星城",
    "保丰",
    "金帝",
    "华发",
    "新星",
    "佳园",
    "惠民",
)
_COMPOUND_OLD = (
    "阳光",
    "钢苑",
    "青松",
    "乌兰",
    "惠民",
    "富强",
    "幸福",
    "和平",
    "光明",
    "胜利",
    "建设",
    "长青",
    "松石",
    "钢花",
    "冶金",
    "机电",
    "丰产",
    "民主",
    "文化",
    "康乐",
    "安居",
    "祥和",
    "振兴",
    "铁花",
)
_COMPOUND_MID = (
    "金华",
    "广恩",
    "锡华",
    "佳园",
    "新星",
    "华发",
    "东亚",
    "黄河",
    "昆仑",
    "北辰",
    "南湖",
    "万青",
    "世纪",
    "富力",
)
_COMPOUND_NEW = (
    "锦绣",
    "龙悦",
    "恒悦",
    "悦和",
    "万和",
    "丽日",
    "海威",
    "天赐",
    "禧瑞",
    "碧水",
    "书香",
    "御景",
    "中央",
    "紫金",
)
_SUFFIX_MID = ("花园", "家园", "嘉园", "苑")
_SUFFIX_NEW = ("华府", "公馆", "雅居", "名苑", "花园", "新城")
_ZH_DIGITS = "零一二三四五六七八九"


def _zh_number(k: int) -> str:
    """Chinese numeral for 1 <= k <= 9999 (``23 -> 二十三``, ``10 -> 十``)."""
    if k < 10:
        return _ZH_DIGITS[k]
    if k < 20:
        return "十" + (_ZH_DIGITS[k % 10] if k % 10 else "")
    if k < 100:
        return _ZH_DIGITS[k // 10] + "十" + (_ZH_DIGITS[k % 10] if k % 10 else "")
    if k < 1000:
        rest = k % 100
        head = _ZH_DIGITS[k // 100] + "百"
        if rest == 0:
            return head
        return head + (
            "零" + _ZH_DIGITS[rest]
            if rest < 10
            else _ZH_DIGITS[rest // 10] + "十" + (_ZH_DIGITS[rest % 10] if rest % 10 else "")
        )
    return str(k)


def _pool_name(pool: tuple[str, ...], k: int, fallback: str) -> str:
    """Return the k-th name of a pool, then ``fallback`` formatted with a Chinese numeral."""
    if k < len(pool):
        return pool[k]
    return fallback.format(_zh_number(k - len(pool) + 1))


@dataclass(eq=False)
class DemoDistrict:
    """A generated demo district; every layer is a GeoDataFrame in :data:`DEMO_CRS`.

    Attributes
    ----------
    ways : street and path network; ``way_id``, ``highway``, ``access``, ``service``,
        ``foot``, ``name``, ``compound_id`` (nullable; set on a compound's internal ways).
    compounds : residential compounds (封闭小区); ``compound_id``, ``name``,
        ``community_code``, ``gated``, ``n_gates`` (1-3 for gated compounds, 0 for open ones),
        ``kind`` (``old`` walk-ups / ``mid`` mixed / ``new`` towers).
    walls : compound walls with gaps at the gates; ``compound_id``.
    gates : gate points; ``gate_id``, ``compound_id``.
    buildings : footprints; ``building_id``, ``building``, ``levels`` (about 10% NaN),
        ``height`` (metres, set on some buildings without levels), ``compound_id``
        (nullable), ``community_code``, ``party_members``.
    communities : 社区 polygons tiling the streets; ``community_code`` (12 digits), ``name``,
        ``street_code`` (9 digits), ``street_name``, ``district_code``, ``district_name``.
    streets : 街道 polygons; ``street_code``, ``street_name``, ``district_code``,
        ``district_name``.
    facilities : party-mass service facilities; ``facility_id``, ``name``, ``type``,
        ``area_m2``, ``capacity`` (households, some NaN), ``community_code``,
        ``compound_id`` (nullable).
    underserved_codes : community codes with no facility within about 1.5 km walking.
    crs : ``"EPSG:4546"``.
    seed : the seed the district was made from.

    """

    ways: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    walls: gpd.GeoDataFrame
    gates: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    underserved_codes: tuple[str, ...]
    crs: str = DEMO_CRS
    seed: int = 0

    @property
    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Every layer by name (for writing them all to one GeoPackage)."""
        return {
            "ways": self.ways,
            "compounds": self.compounds,
            "walls": self.walls,
            "gates": self.gates,
            "buildings": self.buildings,
            "communities": self.communities,
            "streets": self.streets,
            "facilities": self.facilities,
        }


# ---------------------------------------------------------------------------------------
# layout: which cells (superblocks = communities) exist, grid lines, streets
# ---------------------------------------------------------------------------------------


@dataclass
class _Layout:
    rows: int
    x: dict[str, np.ndarray]  # region -> vertical grid lines ("o" old town, "n" new-build)
    y: np.ndarray  # horizontal grid lines (shared by both regions)
    cells: pd.DataFrame  # region, col, row, rx0, rx1, ry0, ry1, px0, street, seq
    crossings: list[tuple[int, str]]  # (row line j, "foot" | "road")


def _layout(n: int, rng: np.random.Generator, per_street: int) -> _Layout:
    n_new = max(1, n // 4) if n >= 2 else 0
    n_old = n - n_new
    rows = max(1, round(math.sqrt(n / 2.0)))
    c_old = math.ceil(n_old / rows)
    c_new = math.ceil(n_new / rows) if n_new else 0
    x_old = np.concatenate([[0.0], np.cumsum(rng.uniform(420.0, 580.0, c_old))])
    x_new = (
        x_old[-1] + _GAP_M + np.concatenate([[0.0], np.cumsum(rng.uniform(720.0, 900.0, c_new))])
    )
    y = np.concatenate([[0.0], np.cumsum(rng.uniform(420.0, 580.0, rows))])
    k_old, k_new = np.arange(n_old), np.arange(n_new)
    region = np.r_[np.full(n_old, "o"), np.full(n_new, "n")]
    col = np.r_[k_old // rows, k_new // rows]
    row = np.r_[k_old % rows, k_new % rows]
    xs = np.where(region == "o", x_old[np.minimum(col, c_old)], x_new[np.minimum(col, c_new)])
    xe = np.where(
        region == "o", x_old[np.minimum(col + 1, c_old)], x_new[np.minimum(col + 1, c_new)]
    )
    px0 = xs.copy()
    first_new = (region == "n") & (col == 0)
    old_last = set(row[(region == "o") & (col == c_old - 1)].tolist())
    for idx in np.flatnonzero(first_new):
        px0[idx] = x_old[c_old] if int(row[idx]) in old_last else x_old[c_old - 1]
    cells = pd.DataFrame(
        {
            "region": region,
            "col": col,
            "row": row,
            "rx0": xs,
            "rx1": xe,
            "ry0": y[row],
            "ry1": y[row + 1],
            "px0": px0,
        }
    )
    gcol = np.where(region == "o", col, c_old + col)
    street = np.zeros(n, dtype=np.int64)
    bands = np.array_split(np.arange(rows)[::-1], max(1, math.ceil(rows / 3)))  # north first
    s_next = 0
    for band in bands:
        in_band = np.isin(row, band)
        cols = np.unique(gcol[in_band])
        counts = np.array([(in_band & (gcol == c)).sum() for c in cols])
        n_s = max(1, round(counts.sum() / per_street))
        cum = np.cumsum(counts)
        cuts = np.unique(np.searchsorted(cum, cum[-1] * np.arange(1, n_s) / n_s, side="left"))
        raw_group = np.searchsorted(cuts, np.arange(len(cols)), side="left")
        group = np.unique(raw_group, return_inverse=True)[1].ravel()
        col_group = dict(zip(cols.tolist(), group.tolist(), strict=True))
        band_idx = np.flatnonzero(in_band)
        street[band_idx] = s_next + np.array([col_group[int(c)] for c in gcol[band_idx]])
        s_next += int(group.max()) + 1
    order = np.lexsort((gcol, -row, street))  # per street: north to south, west to east
    seq = np.empty(n, dtype=np.int64)
    for s in np.unique(street):
        members = order[street[order] == s]
        seq[members] = np.arange(1, len(members) + 1)
    cells["street"] = street
    cells["seq"] = seq
    crossings: list[tuple[int, str]] = []
    if n_new:
        old_rows = set(row[(region == "o") & (col == c_old - 1)].tolist())
        new_rows = set(row[(region == "n") & (col == 0)].tolist())
        valid = [j for j in range(rows + 1) if ({j - 1, j} & old_rows) and ({j - 1, j} & new_rows)]
        for k, j in enumerate(valid[::5]):
            crossings.append((j, "foot" if k % 2 == 0 else "road"))
    return _Layout(rows=rows, x={"o": x_old, "n": x_new}, y=y, cells=cells, crossings=crossings)


# ---------------------------------------------------------------------------------------
# builder: accumulates ways, buildings, compounds in a local metric frame
# ---------------------------------------------------------------------------------------

_Meta = tuple[str, Any, Any, Any, Any, int]  # highway, access, service, foot, name, compound


class _Builder:
    """Collects geometry as arrays; ways that take mid-way vertices are keyed lines."""

    def __init__(self, rng: np.random.Generator, layout: _Layout) -> None:
        self.rng = rng
        self.lay = layout
        self.klines: dict[tuple, list[Any]] = {}  # key -> [orient, fixed, pts, meta]
        self.segs: list[tuple[np.ndarray, np.ndarray, _Meta]] = []
        self.lines: list[tuple[np.ndarray, _Meta]] = []
        self.b_rect: list[np.ndarray] = []
        self.b_cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("building", "levels", "compound", "cell", "host_road")
        }
        self.compounds: list[dict[str, Any]] = []
        self.walls: list[tuple[np.ndarray, int]] = []
        self.gates: list[tuple[float, float, int]] = []
        self.stations: list[tuple[float, float, int, int]] = []  # x, y, compound, cell
        self.liaisons: list[tuple[float, float, int, int, int]] = []  # x, y, compound, cell, no
        self.road_names: list[str] = []
        self.n_ramps = 0
        self._line_meta: dict[tuple[str, int], _Meta] = {}
        self._name_use: dict[str, int] = {}
        self._local_k = 0

    # -- ways ------------------------------------------------------------------------
    def kline(
        self, key: tuple, orient: str, fixed: float, span: tuple[float, float], meta: _Meta
    ) -> tuple:
        """Register a keyed line (``h`` at y = ``fixed`` or ``v`` at x = ``fixed``) once."""
        if key not in self.klines:
            self.klines[key] = [orient, fixed, [span[0], span[1]], meta]
        return key

    def attach(self, key: tuple, *values: Any) -> None:
        self.klines[key][2].extend(np.atleast_1d(np.asarray(values, dtype=float)).ravel().tolist())

    def seg(self, p0: np.ndarray, p1: np.ndarray, meta: _Meta) -> None:
        self.segs.append((np.atleast_2d(p0), np.atleast_2d(p1), meta))

    def line_meta(self, orient: str, j: int, region: str) -> _Meta:
        """Class and name of arterial grid line ``j`` (``h`` east-west, ``v`` north-south)."""
        key = (orient + region if orient == "v" else orient, j)
        if key not in self._line_meta:
            rng = self.rng
            if region == "n":
                hw = str(rng.choice(["secondary", "tertiary"], p=[0.5, 0.5]))
            else:
                hw = str(rng.choice(["primary", "secondary", "tertiary"], p=[0.35, 0.4, 0.25]))
            if orient == "h":
                name = _pool_name(_EW_NAMES, j, "纬{}路")
            else:
                k = j if region == "o" else len(self.lay.x["o"]) + j
                name = _pool_name(_NS_NAMES, k, "经{}路")
            self._line_meta[key] = (hw, None, None, None, name, -1)
        return self._line_meta[key]

    def art_h(self, region: str, j: int, i: int) -> tuple[tuple, float, bool]:
        x, y = self.lay.x[region], self.lay.y
        key = ("H", region, j, i)
        self.kline(
            key, "h", float(y[j]), (float(x[i]), float(x[i + 1])), self.line_meta("h", j, region)
        )
        return key, float(y[j]), True

    def art_v(self, region: str, i: int, j: int) -> tuple[tuple, float, bool]:
        x, y = self.lay.x[region], self.lay.y
        key = ("V", region, i, j)
        self.kline(
            key, "v", float(x[i]), (float(y[j]), float(y[j + 1])), self.line_meta("v", i, region)
        )
        return key, float(x[i]), True

    def local_meta(self, region: str) -> _Meta:
        rng = self.rng
        hw = "living_street" if (region == "o" and rng.random() < 0.2) else "residential"
        name = None
        if rng.random() < 0.7:
            name = _LOCAL_NAMES[self._local_k % len(_LOCAL_NAMES)]
            self._local_k += 1
        return (hw, None, None, None, name, -1)

    # -- names -----------------------------------------------------------------------
    def unique_name(self, base: str, suffix: str) -> str:
        name = base + suffix
        k = self._name_use.get(name, 0)
        self._name_use[name] = k + 1
        return name if k == 0 else f"{name}{_zh_number(k + 1)}期"

    # -- buildings -------------------------------------------------------------------
    def add_buildings(
        self,
        rect: np.ndarray,
        building: Any,
        levels: Any,
        *,
        compound: int,
        cell: int,
        host_road: Any = "",
    ) -> None:
        m = len(rect)
        if m == 0:
            return
        self.b_rect.append(rect)
        self.b_cols["building"].append(np.broadcast_to(np.asarray(building, dtype=object), m))
        self.b_cols["levels"].append(np.broadcast_to(np.asarray(levels, dtype=float), m))
        self.b_cols["compound"].append(np.full(m, compound, dtype=np.int64))
        self.b_cols["cell"].append(np.full(m, cell, dtype=np.int64))
        self.b_cols["host_road"].append(np.broadcast_to(np.asarray(host_road, dtype=object), m))


def _fill(
    rng: np.random.Generator,
    lo: float,
    hi: float,
    length: tuple[float, float],
    gap: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Return starts and ends of objects packed along [lo, hi], centred, random sizes."""
    m = int((hi - lo) // (length[0] + gap[0])) + 1
    ln = rng.uniform(*length, m)
    gp = rng.uniform(*gap, m)
    starts = lo + np.concatenate([[0.0], np.cumsum(ln + gp)[:-1]])
    ends = starts + ln
    keep = ends <= hi
    starts, ends = starts[keep], ends[keep]
    if len(ends):
        shift = (hi - ends[-1]) / 2.0
        starts, ends = starts + shift, ends + shift
    return starts, ends


# row types: depth, spacing, length, gap, unit length, levels (values, probabilities), tag
_ROW_TYPES: dict[str, dict[str, Any]] = {
    "slab": {
        "depth": (10.0, 13.0),
        "space": (22.0, 28.0),
        "len": (45.0, 72.0),
        "gap": (8.0, 16.0),
        "unit": 14.0,
        "levels": ([5, 6, 7], [0.15, 0.6, 0.25]),
        "tag": "residential",
    },
    "mid_tower": {
        "depth": (14.0, 18.0),
        "space": (30.0, 40.0),
        "len": (28.0, 45.0),
        "gap": (14.0, 22.0),
        "unit": 22.0,
        "levels": ([11, 12, 14, 16, 17, 18], [0.25, 0.2, 0.15, 0.15, 0.1, 0.15]),
        "tag": "apartments",
    },
    "tower": {
        "depth": (15.0, 20.0),
        "space": (40.0, 55.0),
        "len": (25.0, 42.0),
        "gap": (18.0, 28.0),
        "unit": 22.0,
        "levels": ([18, 22, 24, 26, 28, 30, 32, 33], [0.15, 0.1, 0.15, 0.15, 0.15, 0.1, 0.1, 0.1]),
        "tag": "apartments",
    },
}


def _setback(side: tuple[tuple, float, bool]) -> float:
    return _SETBACK_ART_M if side[2] else _SETBACK_LOCAL_M


def _perimeter_pieces(
    a0: float, b0: float, a1: float, b1: float, gate_s: np.ndarray
) -> list[np.ndarray]:
    """Wall pieces of rectangle [a0,a1]x[b0,b1] (anticlockwise from SW) with gaps at gates."""
    w, h = a1 - a0, b1 - b0
    total = 2 * (w + h)
    corner_s = np.array([0.0, w, w + h, 2 * w + h])
    corner_xy = np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]])

    def at(s: float) -> np.ndarray:
        s = s % total
        k = int(np.searchsorted(corner_s, s, side="right") - 1)
        p, q = corner_xy[k], corner_xy[(k + 1) % 4]
        seg = w if k % 2 == 0 else h
        return p + (q - p) * (s - corner_s[k]) / seg

    gs = np.sort(gate_s)
    pieces = []
    for k in range(len(gs)):
        start = gs[k] + _GATE_GAP_M
        end = gs[(k + 1) % len(gs)] - _GATE_GAP_M
        if end <= start:
            end += total
        inner = np.r_[corner_s, corner_s + total]
        inner = inner[(inner > start) & (inner < end)]
        pts = [at(start)] + [at(s) for s in inner] + [at(end)]
        pieces.append(np.asarray(pts))
    return pieces


@dataclass(frozen=True)
class _Box:
    """A compound: wall rectangle (a0, b0)-(a1, b1) and ring road rectangle (r0, q0)-(r1, q1)."""

    a0: float
    b0: float
    a1: float
    b1: float
    cid: int
    cell: int
    access: str | None  # "private" when gated

    @property
    def r0(self) -> float:  # noqa: D102
        return self.a0 + _RING_M

    @property
    def r1(self) -> float:  # noqa: D102
        return self.a1 - _RING_M

    @property
    def q0(self) -> float:  # noqa: D102
        return self.b0 + _RING_M

    @property
    def q1(self) -> float:  # noqa: D102
        return self.b1 - _RING_M


def _compound(b: _Builder, sb: dict[str, Any], cell: int, kind: str, gated: bool) -> None:
    """One compound in sub-block ``sb``: ring road, building rows, lanes, entrances, gates."""
    sides = sb["sides"]
    box = _Box(
        a0=sb["x0"] + _setback(sides["W"]),
        b0=sb["y0"] + _setback(sides["S"]),
        a1=sb["x1"] - _setback(sides["E"]),
        b1=sb["y1"] - _setback(sides["N"]),
        cid=len(b.compounds) + 1,
        cell=cell,
        access="private" if gated else None,
    )
    r0, r1, q0, q1, cid = box.r0, box.r1, box.q0, box.q1, box.cid
    ring_meta: _Meta = ("service", box.access, None, None, "小区内部路", cid)
    ring = {
        "S": b.kline(("R", cid, "S"), "h", q0, (r0, r1), ring_meta),
        "N": b.kline(("R", cid, "N"), "h", q1, (r0, r1), ring_meta),
        "W": b.kline(("R", cid, "W"), "v", r0, (q0, q1), ring_meta),
        "E": b.kline(("R", cid, "E"), "v", r1, (q0, q1), ring_meta),
    }
    _building_rows(b, box, kind, ring)
    n_g = _entrances(b, sb, box, ring, gated)
    if kind == "new" and b.rng.random() < 0.5:  # underground garage ramp, no pedestrians
        g = float(b.rng.uniform(r0 + 5.0, r1 - 5.0))
        b.attach(ring["S"], g)
        b.seg(
            np.array([g, q0]),
            np.array([g, q0 + 8.0]),
            ("service", "private", "driveway", "no", None, cid),
        )
        b.n_ramps += 1
    b.compounds.append(
        {
            "compound_id": cid,
            "rect": (box.a0, box.b0, box.a1, box.b1),
            "cell": cell,
            "gated": gated,
            "n_gates": n_g if gated else 0,
            "kind": kind,
        }
    )


def _building_rows(b: _Builder, box: _Box, kind: str, ring: dict[str, tuple]) -> None:
    """Rows of buildings from south to north, each with a lane and footpaths to its doors."""
    rng = b.rng
    cid, cell = box.cid, box.cell
    foot_meta: _Meta = ("footway", box.access, None, None, None, cid)
    zx0, zx1 = box.r0 + _MARGIN_M, box.r1 - _MARGIN_M
    yr = box.q0 + _MARGIN_M
    n_row = 0
    n_bld = 0
    while True:
        if kind == "old":
            rtype = "slab"
        elif kind == "mid":
            rtype = "slab" if rng.random() < 0.5 else "mid_tower"
        else:
            rtype = "tower"
        p = _ROW_TYPES[rtype]
        depth = float(rng.uniform(*p["depth"]))
        space = float(rng.uniform(*p["space"]))
        lane_y = yr + depth + 7.0
        if lane_y > box.q1 - 8.0:
            break
        x0s, x1s = _fill(rng, zx0, zx1, p["len"], p["gap"])
        m = len(x0s)
        if m == 0:
            break
        vals, probs = p["levels"]
        levels = rng.choice(vals, size=m, p=probs).astype(float)
        rect = np.column_stack([x0s, np.full(m, yr), x1s, np.full(m, yr + depth)])
        b.add_buildings(rect, p["tag"], levels, compound=cid, cell=cell)
        units = np.clip(np.round((x1s - x0s) / p["unit"]).astype(int), 1, 6)
        owner = np.repeat(np.arange(m), units)
        pos = np.arange(units.sum()) - np.repeat(np.cumsum(units) - units, units)
        xe = x0s[owner] + (x1s - x0s)[owner] * (pos + 0.5) / units[owner]
        lane_hw = "service" if (kind != "old" or rng.random() < 0.5) else "footway"
        lane_name = "小区内部路" if lane_hw == "service" else None
        lane_meta: _Meta = (lane_hw, box.access, None, None, lane_name, cid)
        lane = b.kline(("A", cid, n_row), "h", lane_y, (box.r0, box.r1), lane_meta)
        b.attach(lane, xe)
        b.attach(ring["W"], lane_y)
        b.attach(ring["E"], lane_y)
        top = yr + depth
        b.seg(
            np.column_stack([xe, np.full(len(xe), top)]),
            np.column_stack([xe, np.full(len(xe), lane_y)]),
            foot_meta,
        )
        if rng.random() < 0.03:
            b.liaisons.append((float(xe[0]), top + 2.0, cid, cell, n_bld + 1))
        n_bld += m
        n_row += 1
        yr = yr + depth + space


def _entrances(
    b: _Builder, sb: dict[str, Any], box: _Box, ring: dict[str, tuple], gated: bool
) -> int:
    """Gates (or open entrances of an un-gated compound), walls with gaps, the station."""
    rng = b.rng
    sides = sb["sides"]
    a0, b0, a1, b1, cid = box.a0, box.b0, box.a1, box.b1, box.cid
    n_g = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])) if gated else int(rng.integers(2, 4))
    names = np.array(["S", "N", "W", "E"])
    weight = np.array([1.0 if sides[s][2] else 3.0 for s in names])
    drawn = set(rng.choice(names, size=n_g, replace=False, p=weight / weight.sum()).tolist())
    chosen = [s for s in names if s in drawn]  # fixed side order
    gate_s = []
    w, h = a1 - a0, b1 - b0
    for k, s in enumerate(chosen):
        key, fixed, _ = sides[s]
        hw = "service" if k == 0 else "footway"
        if s in ("S", "N"):
            g = float(rng.uniform(box.r0 + 12.0, box.r1 - 12.0))
            gate = np.array([g, b0 if s == "S" else b1])
            inner = np.array([g, box.q0 if s == "S" else box.q1])
            road = np.array([g, fixed])
            gate_s.append(g - a0 if s == "S" else w + h + (a1 - g))
        else:
            g = float(rng.uniform(box.q0 + 12.0, box.q1 - 12.0))
            gate = np.array([a0 if s == "W" else a1, g])
            inner = np.array([box.r0 if s == "W" else box.r1, g])
            road = np.array([fixed, g])
            gate_s.append(w + (g - b0) if s == "E" else 2 * w + h + (b1 - g))
        b.attach(ring[s], g)
        b.attach(key, g)
        b.seg(road, gate, (hw, None, None, None, None, -1))
        b.seg(gate, inner, (hw, box.access, None, None, None, cid))
        sb["gates"].setdefault(s, []).append(g)
        if gated:
            b.gates.append((float(gate[0]), float(gate[1]), cid))
            if k == 0:
                step = (inner - gate) / _RING_M
                st = inner + step * 4.0
                b.stations.append((float(st[0]), float(st[1]), cid, box.cell))
    if gated:
        for piece in _perimeter_pieces(a0, b0, a1, b1, np.asarray(gate_s)):
            b.walls.append((piece, cid))
    return n_g


def _school(b: _Builder, sb: dict[str, Any], cell: int) -> None:
    """Add a school campus: teaching blocks, a gym and a driveway from the quietest side."""
    rng = b.rng
    sides = sb["sides"]
    a0 = sb["x0"] + _setback(sides["W"])
    a1 = sb["x1"] - _setback(sides["E"])
    b0 = sb["y0"] + _setback(sides["S"])
    b1 = sb["y1"] - _setback(sides["N"])
    local = [s for s in ("S", "N") if not sides[s][2]]
    s = local[0] if local else ("S" if rng.random() < 0.5 else "N")
    length = min(90.0, 0.6 * (a1 - a0))
    xc = 0.5 * (a0 + a1) + float(rng.uniform(-10.0, 10.0))
    depth = float(rng.uniform(16.0, 20.0))
    if s == "S":
        y0 = b0 + 10.0
        face = y0
    else:
        y0 = b1 - 10.0 - depth
        face = y0 + depth
    rects = [[xc - length / 2, y0, xc + length / 2, y0 + depth]]
    y2 = y0 + depth + 30.0 if s == "S" else y0 - 30.0 - 14.0
    if b0 + 5.0 < y2 and y2 + 14.0 < b1 - 5.0:
        rects.append([xc - 0.4 * length, y2, xc + 0.4 * length, y2 + 14.0])
    # gym in the far corner, beyond the sports ground, if it fits
    gx = a0 + 10.0 if rng.random() < 0.5 else a1 - 46.0
    gy = b1 - 34.0 if s == "S" else b0 + 10.0
    ys = np.array([r[1] for r in rects] + [r[3] for r in rects])
    gym = False
    if (s == "S" and gy > ys.max() + 20.0) or (s == "N" and gy + 24.0 < ys.min() - 20.0):
        rects.append([gx, gy, gx + 36.0, gy + 24.0])
        gym = True
    levels = rng.integers(3, 6, len(rects)).astype(float)
    if gym:
        levels[-1] = 2.0
    b.add_buildings(np.asarray(rects), "school", levels, compound=-1, cell=cell)
    key, fixed, _ = sides[s]
    b.attach(key, xc)
    b.seg(
        np.array([xc, fixed]), np.array([xc, face]), ("service", None, "driveway", None, None, -1)
    )


def _park(b: _Builder, sb: dict[str, Any]) -> None:
    """Add a pocket park (街头游园): four paths from the roads around it to its centre."""
    xm = 0.5 * (sb["x0"] + sb["x1"])
    ym = 0.5 * (sb["y0"] + sb["y1"])
    centre = np.array([xm, ym])
    meta: _Meta = ("path", None, None, None, None, -1)
    for s in ("S", "N", "W", "E"):
        key, fixed, _ = sb["sides"][s]
        if s in ("S", "N"):
            b.attach(key, xm)
            b.seg(np.array([xm, fixed]), centre, meta)
        else:
            b.attach(key, ym)
            b.seg(np.array([fixed, ym]), centre, meta)


def _frontage(b: _Builder, sb: dict[str, Any], cell: int) -> None:
    """Street-front shops (底商) along the arterial sides of a compound's sub-block."""
    rng = b.rng
    sides = sb["sides"]

    def corner(s: str) -> float:
        return 30.0 if sides[s][2] else 16.0

    lo_in, hi_in = _SHOP_BAND
    for s in ("S", "N", "W", "E"):
        key, fixed, art = sides[s]
        if not art or rng.random() < 0.35:
            continue
        if s in ("S", "N"):
            lo, hi = sb["x0"] + corner("W"), sb["x1"] - corner("E")
        else:
            lo, hi = sb["y0"] + corner("S"), sb["y1"] - corner("N")
        st, en = _fill(rng, lo, hi, (16.0, 36.0), (3.0, 10.0))
        gates = np.asarray(sb["gates"].get(s, []), dtype=float)
        if len(gates) and len(st):
            clash = (st[:, None] < gates[None, :] + 6.0) & (en[:, None] > gates[None, :] - 6.0)
            st, en = st[~clash.any(axis=1)], en[~clash.any(axis=1)]
        m = len(st)
        if m == 0:
            continue
        sign = 1.0 if s in ("S", "W") else -1.0
        d0, d1 = sorted((fixed + sign * lo_in, fixed + sign * hi_in))
        if s in ("S", "N"):
            rect = np.column_stack([st, np.full(m, d0), en, np.full(m, d1)])
        else:
            rect = np.column_stack([np.full(m, d0), st, np.full(m, d1), en])
        levels = rng.choice([2.0, 3.0], size=m, p=[0.6, 0.4])
        b.add_buildings(
            rect, "retail", levels, compound=-1, cell=cell, host_road=b.klines[key][3][4]
        )


def _cell(b: _Builder, ci: int, cell: pd.Series) -> None:
    """One superblock (community): local streets, then a compound, school or park per part."""
    rng = b.rng
    reg, i, j = str(cell["region"]), int(cell["col"]), int(cell["row"])
    rx0, rx1, ry0, ry1 = (float(cell[k]) for k in ("rx0", "rx1", "ry0", "ry1"))
    S, N = b.art_h(reg, j, i), b.art_h(reg, j + 1, i)
    W, E = b.art_v(reg, i, j), b.art_v(reg, i + 1, j)
    if reg == "o":
        layout = str(rng.choice(["cross", "ns", "ew"], p=[0.6, 0.2, 0.2]))
    else:
        layout = str(rng.choice(["ns", "cross"], p=[0.6, 0.4]))
    xl = rx0 + (rx1 - rx0) * float(rng.uniform(0.42, 0.58))
    yl = ry0 + (ry1 - ry0) * float(rng.uniform(0.42, 0.58))
    subs: list[dict[str, Any]] = []

    def sub(x0: float, x1: float, y0: float, y1: float, **sides: Any) -> None:
        subs.append({"x0": x0, "x1": x1, "y0": y0, "y1": y1, "sides": sides, "gates": {}})

    if layout in ("cross", "ns"):
        lns = b.kline(("L", ci, "ns"), "v", xl, (ry0, ry1), b.local_meta(reg))
        b.attach(S[0], xl)
        b.attach(N[0], xl)
        LNS = (lns, xl, False)
    if layout in ("cross", "ew"):
        lew = b.kline(("L", ci, "ew"), "h", yl, (rx0, rx1), b.local_meta(reg))
        b.attach(W[0], yl)
        b.attach(E[0], yl)
        LEW = (lew, yl, False)
    if layout == "cross":
        b.attach(lns, yl)
        b.attach(lew, xl)
        sub(rx0, xl, ry0, yl, S=S, N=LEW, W=W, E=LNS)
        sub(xl, rx1, ry0, yl, S=S, N=LEW, W=LNS, E=E)
        sub(rx0, xl, yl, ry1, S=LEW, N=N, W=W, E=LNS)
        sub(xl, rx1, yl, ry1, S=LEW, N=N, W=LNS, E=E)
    elif layout == "ns":
        sub(rx0, xl, ry0, ry1, S=S, N=N, W=W, E=LNS)
        sub(xl, rx1, ry0, ry1, S=S, N=N, W=LNS, E=E)
    else:
        sub(rx0, rx1, ry0, yl, S=S, N=LEW, W=W, E=E)
        sub(rx0, rx1, yl, ry1, S=LEW, N=N, W=W, E=E)
    for sb, kind_of_use in zip(subs, _uses(rng, reg, len(subs)), strict=True):
        _sub_block(b, sb, ci, reg, kind_of_use)


def _uses(rng: np.random.Generator, reg: str, n: int) -> list[str]:
    """Use of each sub-block: compounds, in the old town sometimes a school or a park."""
    use = ["compound"] * n
    if reg == "o":
        if rng.random() < 0.3:
            use[int(rng.integers(n))] = "school"
        if n == 4 and rng.random() < 0.15:
            k = int(rng.integers(n))
            if use[k] == "compound":
                use[k] = "park"
    return use


def _sub_block(b: _Builder, sb: dict[str, Any], ci: int, reg: str, kind_of_use: str) -> None:
    """Build a school, a park, or a compound of a kind drawn for the region and its frontage."""
    if kind_of_use == "school":
        _school(b, sb, ci)
        return
    if kind_of_use == "park":
        _park(b, sb)
        return
    rng = b.rng
    kind = "new" if reg == "n" else str(rng.choice(["old", "mid", "new"], p=[0.55, 0.35, 0.10]))
    gated = bool(rng.random() < {"old": 0.75, "mid": 0.92, "new": 1.0}[kind])
    _compound(b, sb, ci, kind, gated)
    _frontage(b, sb, ci)


def _edge_roads(b: _Builder) -> None:
    """Add the G65 motorway, its crossings into the new-build area, the G110 trunk road."""
    lay = b.lay
    y, xo, xn = lay.y, lay.x["o"], lay.x["n"]
    x_edge = float(xo[-1])
    x_m = x_edge + _GAP_M / 2.0 if len(xn) > 1 else x_edge + 150.0
    ys = np.r_[y[0] - 350.0, 0.5 * (y[:-1] + y[1:])[1::3], y[-1] + 350.0]
    for k in range(len(ys) - 1):
        b.lines.append(
            (
                np.array([[x_m, ys[k]], [x_m, ys[k + 1]]]),
                ("motorway", None, None, None, "G65包茂高速", -1),
            )
        )
    x_max = float(xn[-1]) if len(xn) > 1 else x_edge
    y_t = float(y[0]) - 90.0
    xs = np.linspace(float(xo[0]) - 300.0, x_max + 300.0, 4)
    for k in range(3):
        b.lines.append(
            (
                np.array([[xs[k], y_t], [xs[k + 1], y_t]]),
                ("trunk", None, None, None, "G110国道", -1),
            )
        )
    for j, how in lay.crossings:
        yj = float(y[j])
        a, c = np.array([x_edge, yj]), np.array([float(xn[0]), yj])
        if how == "road":
            b.seg(a, c, b.line_meta("h", j, "o"))
            continue
        xs_t = [x_edge, x_m - 25.0, x_m - 15.0, x_m + 15.0, x_m + 25.0, float(xn[0])]
        kinds = ["path", "steps", "footway", "steps", "path"]
        for k, hw in enumerate(kinds):
            name = "人行地道" if hw == "footway" else None
            b.seg(
                np.array([xs_t[k], yj]),
                np.array([xs_t[k + 1], yj]),
                (hw, None, None, None, name, -1),
            )


# ---------------------------------------------------------------------------------------
# assembly into GeoDataFrames
# ---------------------------------------------------------------------------------------


def _assemble_ways(b: _Builder) -> tuple[np.ndarray, pd.DataFrame]:
    coords: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    metas: list[tuple[_Meta, int]] = []
    for orient, fixed, pts, meta in b.klines.values():
        t = np.unique(np.asarray(pts, dtype=float))
        xy = np.column_stack([t, np.full(len(t), fixed)])
        coords.append(xy if orient == "h" else xy[:, ::-1])
        counts.append(np.array([len(t)]))
        metas.append((meta, 1))
    for xy, meta in b.lines:
        coords.append(xy)
        counts.append(np.array([len(xy)]))
        metas.append((meta, 1))
    for p0, p1, meta in b.segs:
        m = len(p0)
        coords.append(np.stack([p0, p1], axis=1).reshape(-1, 2))
        counts.append(np.full(m, 2))
        metas.append((meta, m))
    cnt = np.concatenate(counts)
    idx = np.repeat(np.arange(len(cnt)), cnt)
    geoms = shapely.linestrings(np.concatenate(coords), indices=idx)
    reps = np.array([m for _, m in metas])
    cols = {}
    for k, name in enumerate(["highway", "access", "service", "foot", "name", "compound_id"]):
        vals = np.empty(len(metas), dtype=object)
        vals[:] = [meta[k] for meta, _ in metas]
        cols[name] = np.repeat(vals, reps)
    df = pd.DataFrame(cols)
    cid = df["compound_id"].astype(np.int64)
    df["compound_id"] = pd.array(np.where(cid > 0, cid, 0), dtype="Int64")
    df.loc[cid.to_numpy() <= 0, "compound_id"] = pd.NA
    return geoms, df


def _check_int(value: Any, name: str, lo: int, hi: int, hint: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (lo <= int(value) <= hi)
    ):
        msg = f"{name} must be an integer from {lo} to {hi}, got {value!r}; pass {hint}"
        raise InputError(msg)
    return int(value)


def make_district(
    *, n_communities: int = 10, seed: int = 0, communities_per_street: int = 10
) -> DemoDistrict:
    """Generate a deterministic Chinese-style demo district (offline, a few seconds).

    The same arguments always give identical layers. Each community (社区) is one
    superblock (街坊) of 400-600 m between jittered arterial roads, split by local streets
    into two to four parts, each a gated (or, for some old ones, open) compound, a school
    or a pocket park. About a quarter of the communities (``n_communities // 4``, e.g. 2
    of 10) form a new-build area of 720-900 m tower blocks east of the G65 motorway,
    joined to the old town only by underpasses about every 2.5 km; they get no facility
    and every facility lies more than 1.5 km walking from their centroids
    (``underserved_codes``). Streets (街道) are contiguous groups of 8-12 communities
    (fewer when ``n_communities`` is smaller).

    Sizes and timings measured (seeds 0-3, one CPU core; "vertices" = distinct way
    endpoints and vertices shared by two or more ways, roughly the nodes a network builder
    makes; households estimated as in the Notes):

    ==============  ==========  ========  ==================  ==========  =======
    n_communities   households  ways      vertices            facilities  seconds
    ==============  ==========  ========  ==================  ==========  =======
    10 (default)    ~32,000     ~1,500    ~2,800              ~14         0.2
    300             ~1.1 M      ~51,000   ~96,000             ~565        2.5-4
    1000            ~3.4 M      ~160,000  296,000-314,000     ~1,800      4-9
    1100            ~3.8 M      ~180,000  333,000-346,000     ~2,000      5-10
    ==============  ==========  ========  ==================  ==========  =======

    ``n_communities=1100`` gives at least 300,000 network vertices (and about 2,000
    facilities; 500 facilities are reached from about 280 communities). ``n_communities=300``
    (about 1.1 million households) suits a 3,000-grid benchmark.

    Parameters
    ----------
    n_communities : int
        Number of communities (1-5000); everything scales roughly linearly with it.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the only source of randomness.
    communities_per_street : int
        Target number of communities per street (街道), 2-30 (default 10).

    Returns
    -------
    DemoDistrict
        Layers ``ways``, ``compounds``, ``walls``, ``gates``, ``buildings``,
        ``communities``, ``streets``, ``facilities`` (see :class:`DemoDistrict`), all in
        EPSG:4546, plus ``underserved_codes``.

    Notes
    -----
    Households are not stored: estimate them as ``footprint_m2 * levels * 0.75 / 90``
    (:class:`geogrid.settings.Settings` ``net_to_gross`` and ``dwelling_m2``); about 10%
    of buildings have no ``levels`` (some of those have ``height`` in metres instead).
    ``party_members`` is 5-8% of the residents (households x 2.62) of each residential
    building.

    Examples
    --------
    >>> d = make_district(n_communities=2, seed=0)
    >>> len(d.communities), len(d.facilities), d.underserved_codes
    (2, 2, ('150203001002',))
    >>> sorted(d.layers)
    ['buildings', 'communities', 'compounds', 'facilities', 'gates', 'streets', 'walls', 'ways']

    """
    n = _check_int(n_communities, "n_communities", 1, 5000, "e.g. n_communities=10")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        msg = f"seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0"
        raise InputError(msg)
    per_street = _check_int(
        communities_per_street, "communities_per_street", 2, 30, "e.g. communities_per_street=10"
    )
    rng = np.random.default_rng(int(seed))
    lay = _layout(n, rng, per_street)
    b = _Builder(rng, lay)
    cells = lay.cells
    for ci in range(n):
        _cell(b, ci, cells.iloc[ci])
    _edge_roads(b)
    return _finalise(b, int(seed))


def _finalise(b: _Builder, seed: int) -> DemoDistrict:
    """Name, populate, equip and place the built district (draws stay in a fixed order)."""
    admin = _admin(b)
    bld = _building_arrays(b)
    fac = _Facilities(b, admin, bld)
    fac.place_centres()
    cmp_name = _compound_names(b)
    fac.place_compound_points(cmp_name)
    levels, height = _missing_levels(b.rng, fac.levels)
    move = _mover(b)
    communities, streets = _admin_frames(admin, move)
    buildings = gpd.GeoDataFrame(
        {
            "building_id": np.arange(1, bld.n + 1),
            "building": fac.building_tag.astype(object),
            "levels": levels,
            "height": height,
            "compound_id": pd.array(np.where(bld.compound > 0, bld.compound, 0), dtype="Int64"),
            "community_code": admin.comm_code[bld.cell],
            "party_members": bld.party,
        },
        geometry=move(bld.geoms),
        crs=DEMO_CRS,
    )
    buildings.loc[bld.compound <= 0, "compound_id"] = pd.NA
    compounds, walls, gates = _compound_frames(b, cmp_name, admin.comm_code, move)
    wgeom, wdf = _assemble_ways(b)
    wdf.insert(0, "way_id", np.arange(1, len(wdf) + 1))
    ways = gpd.GeoDataFrame(wdf, geometry=move(wgeom), crs=DEMO_CRS)
    facilities = _facility_frame(fac.rows, admin.comm_code, move)
    underserved = tuple(sorted(admin.comm_code[fac.under].tolist()))
    log.info(
        "demo district: %d streets, %d communities, %d compounds, %d buildings, %d ways, "
        "%d facilities, %d underserved",
        len(admin.street_code),
        len(admin.comm_code),
        len(compounds),
        bld.n,
        len(ways),
        len(facilities),
        len(underserved),
    )
    return DemoDistrict(
        ways=ways,
        compounds=compounds,
        walls=walls,
        gates=gates,
        buildings=buildings,
        communities=communities,
        streets=streets,
        facilities=facilities,
        underserved_codes=underserved,
        crs=DEMO_CRS,
        seed=seed,
    )


@dataclass
class _Admin:
    """Streets (街道) and communities (社区) of the layout: codes, names, local-frame polygons."""

    street: np.ndarray  # street of every cell
    street_code: np.ndarray
    street_name: np.ndarray
    comm_code: np.ndarray
    comm_name: np.ndarray
    comm_poly: np.ndarray
    street_poly: np.ndarray


def _admin(b: _Builder) -> _Admin:
    """Codes and names of streets and communities (old-style block names or modern ones)."""
    rng = b.rng
    cells = b.lay.cells
    n_street = int(cells["street"].max()) + 1
    street_code = np.array([f"{DISTRICT_CODE}{s + 1:03d}" for s in range(n_street)])
    street_name = np.array([_pool_name(_STREET_NAMES, s, "新城第{}街道") for s in range(n_street)])
    st = cells["street"].to_numpy()
    comm_code = np.array(
        [f"{street_code[s]}{q:03d}" for s, q in zip(st, cells["seq"], strict=True)]
    )
    comm_name = np.empty(len(cells), dtype=object)
    block_no: dict[str, int] = {}
    k_modern = 0
    for ci in np.lexsort((cells["seq"].to_numpy(), st)):
        if cells["region"].iat[ci] == "n" or rng.random() < _MODERN_NAME_SHARE:
            base = _MODERN_COMMUNITY[k_modern % len(_MODERN_COMMUNITY)]
            rep = k_modern // len(_MODERN_COMMUNITY)
            comm_name[ci] = base + (_zh_number(rep + 1) if rep else "") + "社区"
            k_modern += 1
        else:
            prefix = _BLOCK_PREFIXES[st[ci] % len(_BLOCK_PREFIXES)]
            block_no[prefix] = block_no.get(prefix, int(rng.integers(1, 12))) + 1
            comm_name[ci] = f"{prefix}{_zh_number(block_no[prefix])}社区"
    comm_poly = shapely.box(cells["px0"], cells["ry0"], cells["rx1"], cells["ry1"])
    street_poly = np.array([shapely.union_all(comm_poly[st == s]) for s in range(n_street)])
    return _Admin(st, street_code, street_name, comm_code, comm_name, comm_poly, street_poly)


@dataclass
class _Buildings:
    """Every building as arrays: footprint boxes, tags, storeys, compound, cell, members."""

    rect: np.ndarray
    cols: dict[str, np.ndarray]
    geoms: np.ndarray
    levels: np.ndarray
    party: np.ndarray

    @property
    def n(self) -> int:  # noqa: D102
        return len(self.rect)

    @property
    def compound(self) -> np.ndarray:  # noqa: D102
        return self.cols["compound"]

    @property
    def cell(self) -> np.ndarray:  # noqa: D102
        return self.cols["cell"]


def _building_arrays(b: _Builder) -> _Buildings:
    """Gather the buildings collected by the builder, with party members of the residential ones."""
    rect = np.concatenate(b.b_rect)
    bcol = {k: np.concatenate(v) for k, v in b.b_cols.items()}
    foot = (rect[:, 2] - rect[:, 0]) * (rect[:, 3] - rect[:, 1])
    levels = bcol["levels"].astype(float)
    residential = np.isin(bcol["building"], ["residential", "apartments"])
    hh = foot * levels * _FLOOR_SHARE / _M2_PER_HOUSEHOLD
    share = b.rng.uniform(0.05, 0.08, len(rect))
    party = np.where(residential, np.round(hh * 2.62 * share), 0).astype(np.int64)
    return _Buildings(
        rect=rect,
        cols=bcol,
        geoms=shapely.box(rect[:, 0], rect[:, 1], rect[:, 2], rect[:, 3]),
        levels=levels,
        party=party,
    )


class _Facilities:
    """Party-mass service facilities placed in the old town, > 1.5 km from underserved areas.

    Street and community centres take a retail building (which becomes ``public``);
    stations and liaison points stand in compounds. Every draw comes from the builder's RNG.
    """

    def __init__(self, b: _Builder, admin: _Admin, bld: _Buildings) -> None:
        self.b, self.admin, self.rng = b, admin, b.rng
        cells = b.lay.cells
        self.under = np.flatnonzero(cells["region"].to_numpy() == "n")
        self.old_town = cells["region"].to_numpy() == "o"  # the new-build area gets none
        self.cen = shapely.get_coordinates(shapely.centroid(admin.comm_poly))
        rect = bld.rect
        self.bcen = np.column_stack([(rect[:, 0] + rect[:, 2]) / 2, (rect[:, 1] + rect[:, 3]) / 2])
        self.bcell = bld.cell
        self.host_road = bld.cols["host_road"]
        self.retail_ok = (
            (bld.cols["building"] == "retail")
            & self.old_town[bld.cell]
            & (self.bound(self.bcen) > _UNDERSERVED_M)
        )
        self.building_tag = bld.cols["building"].copy()
        self.levels = bld.levels.copy()
        self.used = np.zeros(bld.n, dtype=bool)
        self.rows: list[dict[str, Any]] = []

    def bound(self, pts: np.ndarray) -> np.ndarray:
        """Lower bound of walking distance from any underserved centroid to each point.

        Every walkable way of the local frame is axis-parallel, so a walk is at least the
        L1 distance; a walk from the new-build area to the old town uses a crossing.
        """
        lay = self.b.lay
        if len(self.under) == 0 or len(pts) == 0:
            return np.full(len(pts), np.inf)
        xo, xn, y = lay.x["o"], lay.x["n"], lay.y
        best = np.full(len(pts), np.inf)
        for j, _how in lay.crossings:
            c_new = np.array([xn[0], y[j]])
            c_old = np.array([xo[-1], y[j]])
            reach = np.min(np.abs(self.cen[self.under] - c_new).sum(axis=1)) + float(xn[0] - xo[-1])
            best = np.minimum(best, reach + np.abs(pts - c_old).sum(axis=1))
        return best

    def take_host(self, ci: int, target: np.ndarray | None = None) -> int:
        """Take a free eligible retail building of cell ``ci`` (nearest ``target``, else random)."""
        cand = np.flatnonzero(self.retail_ok & ~self.used & (self.bcell == ci))
        if len(cand) == 0:
            return -1
        if target is None:
            k = int(cand[self.rng.integers(len(cand))])
        else:
            k = int(cand[np.argmin(np.hypot(*(self.bcen[cand] - target).T))])
        self.used[k] = True
        return k

    def add(
        self,
        name: str,
        typ: str,
        xy: np.ndarray,
        *,
        area: tuple[float, float],
        ci: int,
        cid: int = -1,
        cap: tuple[float, float] = (2.0, 3.0),
    ) -> None:
        """Record a facility; floor area and capacity (households, some unknown) drawn."""
        rng = self.rng
        a = float(np.round(rng.uniform(*area)))
        known = rng.random() > _CAPACITY_UNKNOWN_SHARE
        capacity = float(np.round(a * rng.uniform(*cap), -1)) if known else np.nan
        self.rows.append(
            {
                "name": name,
                "type": typ,
                "x": float(xy[0]),
                "y": float(xy[1]),
                "area_m2": a,
                "capacity": capacity,
                "cell": ci,
                "compound": cid,
            }
        )

    def place_centres(self) -> None:
        """Place a street centre near each street's middle; community centres and recharge stations."""
        rng, admin, cen, bcen = self.rng, self.admin, self.cen, self.bcen
        for s in range(len(admin.street_code)):
            members = np.flatnonzero((admin.street == s) & self.old_town)
            if len(members) == 0:
                continue
            scen = shapely.get_coordinates(shapely.centroid(admin.street_poly[s]))[0]
            for ci in members[np.argsort(np.hypot(*(cen[members] - scen).T))]:
                k = self.take_host(int(ci), scen)
                if k >= 0:
                    self.building_tag[k] = "public"
                    self.levels[k] = float(rng.integers(3, 5))
                    name = f"{admin.street_name[s]}党群服务中心"
                    self.add(name, "centre_street", bcen[k], area=(1000.0, 3000.0), ci=int(ci))
                    break
        for ci in np.flatnonzero(self.old_town):
            if rng.random() < _COMMUNITY_CENTRE_SHARE:
                k = self.take_host(int(ci), cen[ci])
                if k >= 0:
                    self.building_tag[k] = "public"
                    self.levels[k] = float(rng.integers(2, 4))
                    name = f"{admin.comm_name[ci]}党群服务中心"
                    self.add(name, "centre_community", bcen[k], area=(500.0, 1500.0), ci=int(ci))
            if rng.random() < _RECHARGE_SHARE:
                k = self.take_host(int(ci))
                if k >= 0:
                    name = f"{self.host_road[k]}红色蓄能站"
                    self.add(
                        name, "recharge_station", bcen[k], area=(30.0, 120.0), ci=int(ci),
                        cap=(2.0, 2.0),
                    )  # fmt: skip

    def place_compound_points(self, cmp_name: dict[int, str]) -> None:
        """Stations in about 30% of eligible compounds; liaison points in buildings."""
        b = self.b
        if b.stations:
            sxy = np.array([[s[0], s[1]] for s in b.stations])
            s_cell = np.array([s[3] for s in b.stations])
            ok = self.old_town[s_cell] & (self.bound(sxy) > _UNDERSERVED_M)
            valid = np.flatnonzero(ok)
            pick = np.zeros(len(sxy), dtype=bool)
            if len(valid):  # about 30% of the eligible compounds, at least one
                k = max(1, round(_STATION_SHARE * len(valid)))
                pick[self.rng.choice(valid, size=k, replace=False)] = True
            for (x, yy, cid, ci), good, p in zip(b.stations, ok, pick, strict=True):
                if good and p:
                    self.add(
                        f"{cmp_name[cid]}党群服务站", "station", np.array([x, yy]),
                        area=(50.0, 200.0), ci=ci, cid=cid, cap=(3.0, 5.0),
                    )  # fmt: skip
        if b.liaisons:
            lxy = np.array([[s[0], s[1]] for s in b.liaisons])
            l_cell = np.array([s[3] for s in b.liaisons])
            ok = self.old_town[l_cell] & (self.bound(lxy) > _UNDERSERVED_M)
            for (x, yy, cid, ci, no), good in zip(b.liaisons, ok, strict=True):
                if good:
                    self.add(
                        f"{cmp_name[cid]}{_zh_number(no)}号楼党群联络点", "liaison_point",
                        np.array([x, yy]), area=(20.0, 60.0), ci=ci, cid=cid, cap=(2.0, 2.0),
                    )  # fmt: skip


def _compound_names(b: _Builder) -> dict[int, str]:
    """Name every compound uniquely in Chinese, in the style of its kind."""
    rng = b.rng
    cmp_name = {}
    for c in b.compounds:
        kind = c["kind"]
        if kind == "old":
            base = _COMPOUND_OLD[int(rng.integers(len(_COMPOUND_OLD)))]
            suffix = "小区"
        elif kind == "mid":
            base = _COMPOUND_MID[int(rng.integers(len(_COMPOUND_MID)))]
            suffix = _SUFFIX_MID[int(rng.integers(len(_SUFFIX_MID)))]
        else:
            base = _COMPOUND_NEW[int(rng.integers(len(_COMPOUND_NEW)))]
            suffix = _SUFFIX_NEW[int(rng.integers(len(_SUFFIX_NEW)))]
        cmp_name[c["compound_id"]] = b.unique_name(base, suffix)
    return cmp_name


def _missing_levels(rng: np.random.Generator, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Storeys with about 10% missing, some of those with a height (m) instead."""
    nb = len(levels)
    out = levels.copy()
    drop = rng.random(nb) < _LEVELS_MISSING_SHARE
    height = np.full(nb, np.nan)
    with_h = drop & (rng.random(nb) < _HEIGHT_GIVEN_SHARE)
    height[with_h] = np.round(levels[with_h] * rng.uniform(2.9, 3.2, nb)[with_h], 1)
    out[drop] = np.nan
    return out, height


def _mover(b: _Builder) -> Any:
    """Turn local-frame geometries a little and place them in Baotou (:data:`DEMO_CRS`)."""
    lay = b.lay
    e0, n0 = pyproj.Transformer.from_crs("EPSG:4326", DEMO_CRS, always_xy=True).transform(
        *DEMO_CENTER_LONLAT
    )
    all_x = np.r_[lay.x["o"], lay.x["n"]]
    cx, cy = 0.5 * (all_x.min() + all_x.max()), 0.5 * (lay.y.min() + lay.y.max())
    theta = math.radians(float(b.rng.uniform(1.0, 4.0)))
    cos_t, sin_t = math.cos(theta), math.sin(theta)

    def f(xy: np.ndarray) -> np.ndarray:
        dx, dy = xy[:, 0] - cx, xy[:, 1] - cy
        return np.column_stack([e0 + cos_t * dx - sin_t * dy, n0 + sin_t * dx + cos_t * dy])

    def move(geoms: Any) -> np.ndarray:
        return shapely.transform(np.asarray(geoms), f)

    return move


def _admin_frames(admin: _Admin, move: Any) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Build the communities and streets layers."""
    st = admin.street
    communities = gpd.GeoDataFrame(
        {
            "community_code": admin.comm_code,
            "name": admin.comm_name,
            "street_code": admin.street_code[st],
            "street_name": admin.street_name[st],
            "district_code": DISTRICT_CODE,
            "district_name": DISTRICT_NAME,
        },
        geometry=move(admin.comm_poly),
        crs=DEMO_CRS,
    )
    communities = communities.sort_values("community_code", kind="stable").reset_index(drop=True)
    streets = gpd.GeoDataFrame(
        {
            "street_code": admin.street_code,
            "street_name": admin.street_name,
            "district_code": DISTRICT_CODE,
            "district_name": DISTRICT_NAME,
        },
        geometry=move(admin.street_poly),
        crs=DEMO_CRS,
    )
    return communities, streets


def _compound_frames(
    b: _Builder, cmp_name: dict[int, str], comm_code: np.ndarray, move: Any
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Build the compounds, walls and gates layers."""
    crect = np.array([c["rect"] for c in b.compounds])
    ccell = np.array([c["cell"] for c in b.compounds])
    cids = np.array([c["compound_id"] for c in b.compounds])
    compounds = gpd.GeoDataFrame(
        {
            "compound_id": cids,
            "name": [cmp_name[c] for c in cids],
            "community_code": comm_code[ccell],
            "gated": np.array([c["gated"] for c in b.compounds], dtype=bool),
            "n_gates": np.array([c["n_gates"] for c in b.compounds], dtype=np.int64),
            "kind": [c["kind"] for c in b.compounds],
        },
        geometry=move(shapely.box(crect[:, 0], crect[:, 1], crect[:, 2], crect[:, 3])),
        crs=DEMO_CRS,
    )
    w_len = np.array([len(p) for p, _ in b.walls], dtype=np.int64)
    wall_geoms = shapely.linestrings(
        np.concatenate([p for p, _ in b.walls] or [np.empty((0, 2))]).reshape(-1, 2),
        indices=np.repeat(np.arange(len(w_len)), w_len),
    )
    walls = gpd.GeoDataFrame(
        {"compound_id": np.array([c for _, c in b.walls], dtype=np.int64)},
        geometry=move(wall_geoms),
        crs=DEMO_CRS,
    )
    garr = np.array(b.gates, dtype=float).reshape(-1, 3)
    gates = gpd.GeoDataFrame(
        {"gate_id": np.arange(1, len(garr) + 1), "compound_id": garr[:, 2].astype(np.int64)},
        geometry=move(shapely.points(garr[:, :2])),
        crs=DEMO_CRS,
    )
    return compounds, walls, gates


def _facility_frame(
    rows: list[dict[str, Any]], comm_code: np.ndarray, move: Any
) -> gpd.GeoDataFrame:
    """Build the facilities layer, ids ``F0001`` ... in placing order."""
    fdf = pd.DataFrame(rows)
    if fdf.empty:
        fdf = pd.DataFrame(
            columns=["name", "type", "x", "y", "area_m2", "capacity", "cell", "compound"]
        )
    fcid = fdf["compound"].to_numpy(dtype=np.int64)
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": [f"F{k + 1:04d}" for k in range(len(fdf))],
            "name": fdf["name"].to_numpy(dtype=object),
            "type": fdf["type"].to_numpy(dtype=object),
            "area_m2": fdf["area_m2"].to_numpy(dtype=float),
            "capacity": fdf["capacity"].to_numpy(dtype=float),
            "community_code": comm_code[fdf["cell"].to_numpy(dtype=np.int64)],
            "compound_id": pd.array(np.where(fcid > 0, fcid, 0), dtype="Int64"),
        },
        geometry=move(shapely.points(fdf[["x", "y"]].to_numpy(dtype=float))),
        crs=DEMO_CRS,
    )
    facilities.loc[fcid <= 0, "compound_id"] = pd.NA
    return facilities
