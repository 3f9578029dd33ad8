"""Chinese and English labels of layers and columns, shared by maps and reports."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from geogrid.errors import InputError
from geogrid.settings import FACILITY_TYPE_NAMES_ZH

__all__ = [
    "COLUMN_LABELS",
    "FACILITY_TYPE_NAMES_EN",
    "LAYER_LABELS",
    "TEXT",
    "check_lang",
    "column_label",
    "type_label",
]

#: Column name -> (Chinese header, English header). The documented mapping used by the map
#: popups and the Excel ledger (台账).
COLUMN_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "district_code": ("区县代码", "District code"),
        "district_name": ("区县", "District"),
        "street_code": ("街道代码", "Street code"),
        "street_name": ("街道", "Street"),
        "community_code": ("社区代码", "Community code"),
        "community_name": ("所属社区", "Community"),
        "name": ("名称", "Name"),
        "grid_code": ("网格编码", "Grid code"),
        "households": ("户数", "Households"),
        "population": ("人口", "Population"),
        "party_members": ("党员数", "Party members"),
        "n_grids": ("网格数", "Grids"),
        "n_buildings": ("楼栋数", "Buildings"),
        "area_km2": ("面积(km²)", "Area (km²)"),
        "coverage_5min": ("5分钟覆盖率", "5-min coverage"),
        "coverage_10min": ("10分钟覆盖率", "10-min coverage"),
        "coverage_15min": ("15分钟覆盖率", "15-min coverage"),
        "coverage_1km": ("1公里覆盖率", "1 km coverage"),
        "uncovered_hh_15min": ("15分钟未覆盖户数", "Households beyond 15 min"),
        "uncovered_hh_1km": ("1公里未覆盖户数", "Households beyond 1 km"),
        "facility_id": ("设施编号", "Facility ID"),
        "type": ("类型代码", "Type code"),
        "type_name": ("类型", "Type"),
        "area_m2": ("面积(m²)", "Floor area (m²)"),
        "capacity": ("容量(户)", "Capacity (households)"),
        "served_households": ("服务户数", "Households served"),
        "hh_per_m2": ("负荷(户/m²)", "Load (households/m²)"),
        "overloaded": ("是否超负荷", "Overloaded"),
        "target": ("目标", "Target"),
        "compound_id": ("小区编号", "Compound ID"),
        "compound_name": ("小区名称", "Compound"),
        "building_id": ("楼栋编号", "Building ID"),
        "dist_m": ("步行距离(m)", "Walking distance (m)"),
        "minutes": ("步行时间(分钟)", "Walking time (min)"),
        "nearest_id": ("最近设施", "Nearest facility"),
        "within_5min": ("5分钟内", "Within 5 min"),
        "within_10min": ("10分钟内", "Within 10 min"),
        "within_15min": ("15分钟内", "Within 15 min"),
        "within_1km": ("1公里内", "Within 1 km"),
        "gap_id": ("缺口编号", "Gap ID"),
        "miss_m": ("超出距离(m)", "Beyond target by (m)"),
        "rank": ("优先序", "Rank"),
        "site_id": ("选址编号", "Site ID"),
        "candidate_id": ("候选点编号", "Candidate ID"),
        "reach_households": ("可达户数", "Households within reach"),
        "gain_households": ("新增覆盖户数", "Households gained"),
        "cum_gain_households": ("累计新增覆盖户数", "Cumulative households gained"),
        "lon": ("经度", "Longitude"),
        "lat": ("纬度", "Latitude"),
        "highway": ("道路类型", "Road type"),
        "length_m": ("长度(m)", "Length (m)"),
    }
)

#: Layer key -> (Chinese, English) name shown in the layer control and the legend.
LAYER_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "district": ("区界", "District boundary"),
        "streets": ("街道界", "Street boundaries"),
        "communities": ("社区", "Communities"),
        "grids": ("网格", "Grids"),
        "facilities": ("服务设施", "Facilities"),
        "service_areas": ("服务范围", "Service area"),
        "demand": ("未覆盖楼栋/小区", "Uncovered buildings/compounds"),
        "gaps": ("覆盖缺口", "Coverage gaps"),
        "sites": ("建议选址", "Proposed sites"),
        "network_edges": ("步行路网", "Walking network"),
    }
)

#: Facility type -> English name (the Chinese names are ``settings.FACILITY_TYPE_NAMES_ZH``).
FACILITY_TYPE_NAMES_EN: Mapping[str, str] = MappingProxyType(
    {
        "centre_city": "City party-mass service centre",
        "centre_district": "District party-mass service centre",
        "centre_street": "Street party-mass service centre",
        "centre_community": "Community party-mass service centre",
        "station": "Party-mass service station",
        "liaison_point": "Party-mass liaison point",
        "recharge_station": "Red recharge station",
        "facility": "Other service facility",
    }
)

#: Other interface text, by language.
TEXT: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "zh": MappingProxyType(
            {
                "yes": "是",
                "no": "否",
                "search_community": "搜索社区名称",
                "search_grid": "搜索网格编码",
                "not_found": "未找到",
                "cancel": "取消",
                "fullscreen": "全屏",
                "exit_fullscreen": "退出全屏",
                "legend": "图例",
                "households_class": "网格户数",
                "coverage_class": "15分钟覆盖率",
                "uncovered": "未覆盖楼栋/小区",
                "minutes": "分钟",
                "all": "全部设施",
                "summary": "汇总",
                "value": "数值",
                "item": "指标",
                "other_target": "其他目标",
            }
        ),
        "en": MappingProxyType(
            {
                "yes": "yes",
                "no": "no",
                "search_community": "Search community name",
                "search_grid": "Search grid code",
                "not_found": "Not found",
                "cancel": "Cancel",
                "fullscreen": "Full screen",
                "exit_fullscreen": "Exit full screen",
                "legend": "Legend",
                "households_class": "Households per grid",
                "coverage_class": "15-min coverage",
                "uncovered": "Uncovered buildings/compounds",
                "minutes": "min",
                "all": "all facilities",
                "summary": "Summary",
                "value": "Value",
                "item": "Item",
                "other_target": "Other target",
            }
        ),
    }
)


def check_lang(lang: str) -> int:
    """Index of ``lang`` in the label tuples (0 Chinese, 1 English); InputError otherwise."""
    if lang == "zh":
        return 0
    if lang == "en":
        return 1
    msg = f"unknown language {lang!r}; pass lang='zh' (Chinese) or lang='en' (English)"
    raise InputError(msg)


def column_label(col: str, lang: str) -> str:
    """Header of ``col`` in ``lang``; unknown columns keep their own name."""
    pair = COLUMN_LABELS.get(col)
    return pair[check_lang(lang)] if pair else col


def type_label(ftype: str, lang: str) -> str:
    """Name of a facility type in ``lang``; unknown types keep their own name."""
    names = FACILITY_TYPE_NAMES_ZH if check_lang(lang) == 0 else FACILITY_TYPE_NAMES_EN
    return names.get(ftype, ftype)
