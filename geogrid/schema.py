"""The one schema of geogrid's outputs: layer names, column names, labels, units and formats.

Every output (web map, workbook, summary page, PNG, console) reads names and labels from here;
no output module spells a column name or a target such as ``15min`` on its own.

- **Layers**: :data:`LAYERS` (key -> Chinese and English name).
- **Target columns** are built from the targets: a target key (``"15min"``, ``"1km"``,
  ``"800m"``, ``"20min"``) gives ``within_<key>``, ``coverage_<key>``, ``covered_hh_<key>``
  and ``uncovered_hh_<key>`` (:func:`target_columns`); :func:`target_key`,
  :func:`target_label` and :func:`targets_in` parse, name and find them.
- **Columns**: :func:`column_label` (header text), :func:`unit`, :func:`excel_format`,
  :func:`format_value` (what a person reads), :func:`is_internal` (never shown to people).
- **Reasons**: the communities layer carries a plain-language reason and suggested fix per
  language in :data:`REASON_COLUMNS` and :data:`FIX_COLUMNS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from geogrid.errors import InputError
from geogrid.settings import DEFAULTS, FACILITY_TYPE_NAMES_ZH, Target, parse_targets

__all__ = [
    "COLUMNS",
    "DISPLAY_ORDER",
    "FIGURES",
    "COLUMN_LABELS",
    "DEMAND_TERMS",
    "HIGHWAY_TYPES",
    "HOUSEHOLD_SOURCES",
    "RESIDENTIAL_BASIS",
    "FACILITY_TYPE_NAMES_EN",
    "FIX_COLUMNS",
    "INTERNAL_COLUMNS",
    "KINDS",
    "LANGS",
    "LAYERS",
    "LAYER_LABELS",
    "MEETS_TARGET",
    "REASON_COLUMNS",
    "TEXT",
    "ColumnSpec",
    "TargetColumns",
    "check_lang",
    "column_kind",
    "column_label",
    "column_spec",
    "coverage_col",
    "covered_col",
    "demand_term",
    "display_columns",
    "figure_format",
    "figure_label",
    "figure_spec",
    "format_figure",
    "format_quantity",
    "is_summed",
    "excel_format",
    "fix_column",
    "format_number",
    "format_value",
    "header",
    "highway_label",
    "is_internal",
    "layer_label",
    "primary_target",
    "reason_column",
    "target_columns",
    "target_key",
    "target_label",
    "targets_in",
    "type_label",
    "uncovered_col",
    "unit",
    "visible_columns",
    "within_col",
]

#: Languages of every label tuple, in tuple order.
LANGS: tuple[str, ...] = ("zh", "en")


def check_lang(lang: str) -> int:
    """Index of ``lang`` in the label tuples (0 Chinese, 1 English); InputError otherwise.

    Examples
    --------
    >>> check_lang("en")
    1

    """
    if lang == "zh":
        return 0
    if lang == "en":
        return 1
    msg = f"unknown language {lang!r}; pass lang='zh' (Chinese) or lang='en' (English)"
    raise InputError(msg)


# --------------------------------------------------------------------------- kinds and units


@dataclass(frozen=True)
class _Kind:
    """How one kind of quantity is shown: unit (zh, en), Excel format, Python format."""

    unit: tuple[str, str]
    excel: str
    py: str


#: Kind of quantity -> unit, Excel number format and Python format. Households and persons
#: are whole numbers, shares percentages with one decimal, metres whole, minutes one decimal.
KINDS: Mapping[str, _Kind] = MappingProxyType(
    {
        "households": _Kind(("户", "households"), "#,##0", "{:,.0f}"),
        "persons": _Kind(("人", "persons"), "#,##0", "{:,.0f}"),
        "count": _Kind(("", ""), "#,##0", "{:,.0f}"),
        "share": _Kind(("%", "%"), "0.0%", "{:.1%}"),
        "metres": _Kind(("米", "m"), "#,##0", "{:,.0f}"),
        "km": _Kind(("公里", "km"), "#,##0.0", "{:,.1f}"),
        "minutes": _Kind(("分钟", "min"), "0.0", "{:,.1f}"),
        "km2": _Kind(("km²", "km²"), "0.00", "{:,.2f}"),
        "m2": _Kind(("m²", "m²"), "#,##0", "{:,.0f}"),
        "ha": _Kind(("公顷", "ha"), "#,##0.0", "{:,.1f}"),
        "hours_month": _Kind(("小时/月", "h/month"), "0.0", "{:,.1f}"),
        "visits_month": _Kind(("次/月", "visits/month"), "#,##0", "{:,.0f}"),
        "hh_per_m2": _Kind(("户/m²", "households/m²"), "0.00", "{:,.2f}"),
        "m2_per_100hh": _Kind(("m²/百户", "m²/100 households"), "0.0", "{:,.1f}"),
        "per_1000": _Kind(("m²/千人", "m²/1,000 persons"), "0.00", "{:,.2f}"),
        "index": _Kind(("", ""), "0.00", "{:,.2f}"),
        "ordinal": _Kind(("", ""), "0", "{:.0f}"),
        "degrees": _Kind(("°", "°"), "0.000000", "{:.6f}"),
        "km_h": _Kind(("km/h", "km/h"), "0.0", "{:,.1f}"),
        "bool": _Kind(("", ""), "@", "{}"),
        "target": _Kind(("", ""), "@", "{}"),
        "text": _Kind(("", ""), "@", "{}"),
    }
)


@dataclass(frozen=True)
class ColumnSpec:
    """One column as people read it: Chinese and English label and the kind of quantity."""

    zh: str
    en: str
    kind: str = "text"

    def label(self, lang: str) -> str:
        """Label in ``lang``."""
        return (self.zh, self.en)[check_lang(lang)]


def _c(zh: str, en: str, kind: str = "text") -> ColumnSpec:
    return ColumnSpec(zh, en, kind)


#: Column name -> :class:`ColumnSpec` for every fixed (target-independent) column people read.
COLUMNS: Mapping[str, ColumnSpec] = MappingProxyType(
    {
        # divisions and names
        "district_code": _c("区县代码", "District code"),
        "district_name": _c("区县", "District"),
        "street_code": _c("街道代码", "Street code"),
        "street_name": _c("街道", "Street"),
        "community_code": _c("社区代码", "Community code"),
        "community_name": _c("所属社区", "Community"),
        "community_codes": _c("涉及社区代码", "Community codes"),
        "community_names": _c("涉及社区", "Communities"),
        "name": _c("名称", "Name"),
        "grid_code": _c("网格编码", "Grid code"),
        # people
        "households": _c("户数", "Households", "households"),
        "population": _c("人口", "Population", "persons"),
        "party_members": _c("党员数", "Party members", "persons"),
        "elderly": _c("老年人口", "Elderly residents", "persons"),
        "vulnerable_households": _c("需重点走访户数", "Vulnerable households", "households"),
        "units": _c("楼栋/小区数", "Buildings/compounds", "count"),
        "n_units": _c("楼栋/小区数", "Buildings/compounds", "count"),
        "n_grids": _c("网格数", "Grids", "count"),
        "n_buildings": _c("楼栋数", "Buildings", "count"),
        "n_facilities": _c("设施数", "Facilities", "count"),
        "new_sites": _c("新增站点数", "New sites", "count"),
        # walking
        "mean_walk_min": _c("平均步行时间", "Mean walking time", "minutes"),
        "median_walk_min": _c("步行时间中位数", "Median walking time", "minutes"),
        "p90_walk_min": _c("90%住户步行时间", "Walking time of the 90th percentile", "minutes"),
        "walk_min": _c("步行时间", "Walking time", "minutes"),
        "minutes": _c("步行时间", "Walking time", "minutes"),
        "dist_m": _c("步行距离", "Walking distance", "metres"),
        "walk_m": _c("步行距离", "Walking distance", "metres"),
        "miss_m": _c("超出距离", "Beyond target by", "metres"),
        "max_dist_m": _c("目标距离", "Target distance", "metres"),
        "length_m": _c("长度", "Length", "metres"),
        "reached_km": _c("可达路段长度", "Streets reached", "km"),
        "area_ha": _c("面积", "Area", "ha"),
        "circle_overstatement_hh": _c(
            "圆形半径高估户数", "Households a circle overstates", "households"
        ),
        "circle_overstated_hh": _c(
            "圆形半径高估户数", "Households a circle overstates", "households"
        ),
        "speed_kmh": _c("步行速度", "Walking speed", "km_h"),
        # facilities
        "facility_id": _c("设施编号", "Facility ID"),
        "type": _c("类型代码", "Type code"),
        "type_name": _c("类型", "Type"),
        "type_zh": _c("类型", "Type"),
        "area_m2": _c("面积", "Floor area", "m2"),
        "area_km2": _c("面积", "Area", "km2"),
        "capacity": _c("容量", "Capacity", "households"),
        "served_households": _c("服务户数", "Households served", "households"),
        "served_population": _c("服务人口", "Population served", "persons"),
        "served_party_members": _c("服务党员数", "Party members served", "persons"),
        "beyond_reach_households": _c("服务范围外户数", "Households beyond reach", "households"),
        "hh_per_m2": _c("负荷", "Load", "hh_per_m2"),
        "m2_per_100hh": _c("每百户面积", "Floor area per 100 households", "m2_per_100hh"),
        "overloaded": _c("是否超负荷", "Overloaded", "bool"),
        "active": _c("是否启用", "In use", "bool"),
        "target": _c("目标", "Target", "target"),
        "nearest_id": _c("最近设施编号", "Nearest facility ID"),
        "nearest_name": _c("最近设施", "Nearest facility"),
        "nearest_type": _c("最近设施类型代码", "Nearest facility type code"),
        "nearest_dist_m": _c("到最近设施步行距离", "Walk to nearest facility", "metres"),
        "nearest_walk_min": _c("到最近设施步行时间", "Walk to nearest facility", "minutes"),
        # demand
        "compound_id": _c("小区编号", "Compound ID"),
        "compound_name": _c("小区名称", "Compound"),
        "building_id": _c("楼栋编号", "Building ID"),
        "footprint_m2": _c("占地面积", "Footprint", "m2"),
        "levels": _c("层数", "Storeys", "count"),
        "access_2sfca": _c("设施可达性", "Facility access (2SFCA)", "per_1000"),
        "meets_type_targets": _c("达到类型目标", "Meets its type's target", "bool"),
        # gaps and sites
        "gap_id": _c("缺口编号", "Gap ID"),
        "rank": _c("优先序", "Rank", "ordinal"),
        "site_id": _c("选址编号", "Site ID"),
        "candidate_id": _c("候选点编号", "Candidate ID"),
        "reach_households": _c("可达户数", "Households within reach", "households"),
        "gain_households": _c("新增覆盖户数", "Households gained", "households"),
        "only_households": _c(
            "仅此站点可覆盖户数", "Households only this site reaches", "households"
        ),
        "cum_gain_households": _c("累计新增覆盖户数", "Cumulative households gained", "households"),
        "low_gain": _c("新增覆盖较少", "Low gain", "bool"),
        "required": _c("指定保留", "Required", "bool"),
        "inside_compound": _c("位于小区内", "Inside a compound", "bool"),
        "covered_hh_before": _c("新增前覆盖户数", "Households covered before", "households"),
        "covered_hh_after": _c("新增后覆盖户数", "Households covered after", "households"),
        "coverage_before": _c("新增前覆盖率", "Coverage before", "share"),
        "coverage_after": _c("新增后覆盖率", "Coverage after", "share"),
        "n_new_sites": _c("新增站点数", "New sites", "count"),
        "households_covered": _c("覆盖户数", "Households covered", "households"),
        "coverage_share": _c("覆盖率", "Coverage", "share"),
        # grids
        "polsby_popper": _c("紧凑度", "Compactness (Polsby-Popper)", "index"),
        "in_band": _c("户数在200-500之间", "Households within 200-500", "bool"),
        "party_group_eligible": _c("可建党小组", "Can form a party group", "bool"),
        "visits_month": _c("每月走访", "Visits", "visits_month"),
        "workload_h_month": _c("工作量", "Workload", "hours_month"),
        "grid_workers": _c("网格员数", "Grid workers", "count"),
        "worker_load_share": _c("网格员负荷", "Grid worker load", "share"),
        # coordinates and network
        "lon": _c("经度", "Longitude", "degrees"),
        "lat": _c("纬度", "Latitude", "degrees"),
        "highway": _c("道路类型", "Road type"),
        # reasons (communities and gaps; filled by the coverage metrics)
        "meets_target": _c("是否达标", "Meets the target", "bool"),
        "reason_zh": _c("原因", "Reason (Chinese)"),
        "reason_en": _c("原因(英文)", "Reason"),
        "fix_zh": _c("建议", "Suggested fix (Chinese)"),
        "fix_en": _c("建议(英文)", "Suggested fix"),
        # loads within reach and reason codes (reasons engineer: coverage metrics)
        "served_by": _c("服务设施编号", "Serving facility ID"),
        "reach_m": _c("步行服务半径", "Walking reach", "metres"),
        "reach_target": _c("服务目标", "Reach target"),
        "reason_code": _c("原因类别", "Reason category"),
        # excluded rows
        "layer": _c("图层", "Layer"),
        "source_id": _c("原始编号", "Source ID"),
        "reason": _c("原因代码", "Reason code"),
    }
)

#: Column name -> (Chinese label, English label) of the fixed columns (as before the schema).
COLUMN_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {k: (v.zh, v.en) for k, v in COLUMNS.items()}
)

#: Columns never shown to people (codes where a name exists, solver and snapping internals,
#: bookkeeping). They stay in the GeoPackages for programs.
INTERNAL_COLUMNS: frozenset[str] = frozenset(
    {
        "type",
        "type_zh",
        "nearest_type",
        "snap_m",
        "snap_far",
        "snap_island",
        "solver",
        "status",
        "problem",
        "source",
        "objective",
        "bound",
        "gap",
        "bound_households",
        "closed_existing",
        "sites",
        "highs_status",
        "area_plausible",
        "unit_id",
        "u",
        "v",
        "way_id",
        "second_id",
        "second_dist_m",
        "households_est",
        "population_est",
        "residential_evidence",
        "residential_basis",
        "levels_source",
        "levels_used",
        "demand_source",
        "circle_overstated",
        "reason",
        # reasons engineer: machine-readable twins of columns people read
        "reason_code",
        "reach_target",
        "members",
    }
)

#: Code column -> name column: where both exist, people read the name and the code is hidden.
_NAME_OF: Mapping[str, str] = MappingProxyType(
    {
        "nearest_id": "nearest_name",
        "community_codes": "community_names",
        "compound_id": "compound_name",
    }
)

#: Reason and suggested-fix columns of the communities (and gaps) layer, by language.
REASON_COLUMNS: Mapping[str, str] = MappingProxyType({"zh": "reason_zh", "en": "reason_en"})
FIX_COLUMNS: Mapping[str, str] = MappingProxyType({"zh": "fix_zh", "en": "fix_en"})
#: Boolean column of the communities layer: the community meets the primary target.
MEETS_TARGET = "meets_target"

_LANG_SUFFIX = re.compile(r"_(zh|en)$")


def reason_column(lang: str) -> str:
    """Name of the plain-language reason column in ``lang`` (``reason_zh`` / ``reason_en``).

    Examples
    --------
    >>> reason_column("zh")
    'reason_zh'

    """
    return REASON_COLUMNS[LANGS[check_lang(lang)]]


def fix_column(lang: str) -> str:
    """Name of the suggested-fix column in ``lang`` (``fix_zh`` / ``fix_en``).

    Examples
    --------
    >>> fix_column("en")
    'fix_en'

    """
    return FIX_COLUMNS[LANGS[check_lang(lang)]]


# --------------------------------------------------------------------------- layers

#: Layer key -> (Chinese, English) name shown in the layer control, legend and sheet names.
LAYERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "district": ("区界", "District boundary"),
        "streets": ("街道界", "Street boundaries"),
        "communities": ("社区", "Communities"),
        "grids": ("网格", "Grids"),
        "facilities": ("服务设施", "Facilities"),
        "service_areas": ("服务范围", "Service area"),
        "service_areas_after": ("新增站点后服务范围", "Service area with the new sites"),
        "demand": ("未覆盖楼栋/小区", "Uncovered buildings/compounds"),
        "uncovered": ("未覆盖小区", "Uncovered compounds"),
        "gaps": ("覆盖缺口", "Coverage gaps"),
        "sites": ("建议选址", "Proposed sites"),
        "candidates": ("候选点", "Candidate sites"),
        "allocation": ("分配", "Allocation"),
        "curve": ("选址曲线", "Siting curve"),
        "network_edges": ("步行路网", "Walking network"),
        "compounds": ("小区", "Compounds"),
        "gates": ("小区出入口", "Compound gates"),
        "excluded": ("未纳入计算", "Excluded rows"),
        "summary": ("汇总", "Summary"),
    }
)
#: Former name of :data:`LAYERS`.
LAYER_LABELS = LAYERS


def layer_label(key: str, lang: str) -> str:
    """Name of layer ``key`` in ``lang``; unknown layers keep their key.

    Examples
    --------
    >>> layer_label("gaps", "zh")
    '覆盖缺口'

    """
    pair = LAYERS.get(key)
    return pair[check_lang(lang)] if pair else key


# --------------------------------------------------------------------------- targets


def target_key(target: str | Target) -> str:
    """Return the key of a target as column names spell it (``"15min"``, ``"1km"``, ``"800m"``).

    Parameters
    ----------
    target : str or Target
        A target or its spelling (``"15 min"``, ``"1KM"``).

    Returns
    -------
    str

    Examples
    --------
    >>> target_key(" 20 Min")
    '20min'

    """
    if isinstance(target, Target):
        return target.name
    return parse_targets([str(target)])[0].name


def _target(key: str) -> Target | None:
    try:
        return parse_targets([key])[0]
    except InputError:
        return None


def target_label(target: str | Target, lang: str) -> str:
    """Return a target as people read it: ``15分钟`` / ``15 min``, ``1公里`` / ``1 km``, ``800米``.

    Examples
    --------
    >>> target_label("1km", "zh"), target_label("20min", "en")
    ('1公里', '20 min')

    """
    idx = check_lang(lang)
    t = target if isinstance(target, Target) else _target(str(target))
    if t is None:
        return str(target)
    if t.minutes is not None:
        return f"{t.minutes:g}分钟" if idx == 0 else f"{t.minutes:g} min"
    metres = float(t.metres or 0.0)
    if t.name.endswith("km"):
        return f"{metres / 1000:g}公里" if idx == 0 else f"{metres / 1000:g} km"
    return f"{metres:g}米" if idx == 0 else f"{metres:g} m"


@dataclass(frozen=True)
class TargetColumns:
    """The column names one target gives (see :func:`target_columns`)."""

    key: str
    within: str
    coverage: str
    covered_hh: str
    uncovered_hh: str


def within_col(target: str | Target) -> str:
    """``within_<key>``: the unit is within the target (bool)."""
    return f"within_{target_key(target)}"


def coverage_col(target: str | Target) -> str:
    """``coverage_<key>``: share of households within the target (0-1)."""
    return f"coverage_{target_key(target)}"


def covered_col(target: str | Target) -> str:
    """``covered_hh_<key>``: households within the target."""
    return f"covered_hh_{target_key(target)}"


def uncovered_col(target: str | Target) -> str:
    """``uncovered_hh_<key>``: households beyond the target."""
    return f"uncovered_hh_{target_key(target)}"


def target_columns(targets: Any = None) -> tuple[TargetColumns, ...]:
    """Column names of each target, in target order.

    Parameters
    ----------
    targets : str, sequence or None
        As :func:`geogrid.settings.parse_targets` reads them (``"15min,1km"``,
        ``["20min"]``, Target objects); None: the default targets.

    Returns
    -------
    tuple of TargetColumns

    Examples
    --------
    >>> target_columns("20min")[0].uncovered_hh
    'uncovered_hh_20min'

    """
    return tuple(
        TargetColumns(
            key=t.name,
            within=within_col(t),
            coverage=coverage_col(t),
            covered_hh=covered_col(t),
            uncovered_hh=uncovered_col(t),
        )
        for t in parse_targets(targets)
    )


def targets_in(columns: Iterable[Any]) -> list[str]:
    """Target keys found in ``columns`` (``within_*`` or ``coverage_*``), in column order.

    Examples
    --------
    >>> targets_in(["households", "coverage_20min", "within_1km", "coverage_before"])
    ['20min', '1km']

    """
    out: list[str] = []
    for col in columns:
        split = _split_target(str(col))
        if split and split[0] in {"within", "coverage"} and split[1] not in out:
            out.append(split[1])
    return out


def primary_target(columns: Iterable[Any], preferred: str | None = None) -> str | None:
    """Return the target outputs lead with.

    That is ``preferred`` (default the settings' primary target, ``15min``) when ``columns``
    have it, else the first target in ``columns``, else None.

    Examples
    --------
    >>> primary_target(["coverage_20min", "coverage_1km"])
    '20min'

    """
    keys = targets_in(columns)
    want = preferred or DEFAULTS.primary_target
    if want in keys:
        return want
    return keys[0] if keys else None


# --------------------------------------------------------------------------- columns

#: Target-column stem -> (Chinese template, English template, kind); ``{t}`` is the target.
_TARGET_STEMS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "coverage_elderly": ("{t}老年人覆盖率", "Elderly within {t}", "share"),
        "covered_elderly": ("{t}内老年人口", "Elderly within {t}", "persons"),
        "uncovered_hh": ("{t}外户数", "Households beyond {t}", "households"),
        "covered_hh": ("{t}内户数", "Households within {t}", "households"),
        "coverage": ("{t}覆盖率", "{t} coverage", "share"),
        "within": ("{t}内", "Within {t}", "bool"),
    }
)
#: Facility-type stem -> (Chinese template, English template, kind); ``{t}`` is the type.
_TYPE_STEMS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        "dist_m": ("到最近{t}距离", "Walk to nearest {t}", "metres"),
        "meets": ("{t}达标", "Meets the {t} target", "bool"),
    }
)


def _split_target(col: str) -> tuple[str, str] | None:
    """``(stem, target key)`` of a target column such as ``uncovered_hh_20min``, else None."""
    for stem in _TARGET_STEMS:
        prefix = stem + "_"
        if col.startswith(prefix):
            key = col[len(prefix) :]
            if _target(key) is not None and _target(key).name == key:  # type: ignore[union-attr]
                return stem, key
            return None
    return None


def _split_type(col: str) -> tuple[str, str] | None:
    for stem in _TYPE_STEMS:
        prefix = stem + "_"
        if col.startswith(prefix) and col[len(prefix) :] in FACILITY_TYPE_NAMES_ZH:
            return stem, col[len(prefix) :]
    return None


def column_spec(col: str) -> ColumnSpec | None:
    """Return the :class:`ColumnSpec` of ``col`` (target and type columns too); None if unknown.

    Examples
    --------
    >>> column_spec("coverage_20min").zh
    '20分钟覆盖率'

    """
    spec = COLUMNS.get(col)
    if spec is not None:
        return spec
    split = _split_target(col)
    if split:
        zh, en, kind = _TARGET_STEMS[split[0]]
        return ColumnSpec(
            zh.format(t=target_label(split[1], "zh")),
            en.format(t=target_label(split[1], "en")),
            kind,
        )
    typed = _split_type(col)
    if typed:
        zh, en, kind = _TYPE_STEMS[typed[0]]
        return ColumnSpec(
            zh.format(t=type_label(typed[1], "zh")),
            en.format(t=type_label(typed[1], "en").lower()),
            kind,
        )
    return None


def column_label(col: str, lang: str) -> str:
    """Label of ``col`` in ``lang`` (without unit); unknown columns keep their own name.

    Examples
    --------
    >>> column_label("uncovered_hh_20min", "zh"), column_label("households", "en")
    ('20分钟外户数', 'Households')

    """
    idx = check_lang(lang)
    spec = column_spec(col)
    return (spec.zh, spec.en)[idx] if spec else col


def column_kind(col: str) -> str:
    """Kind of quantity of ``col`` (a key of :data:`KINDS`); ``"text"`` if unknown."""
    spec = column_spec(col)
    return spec.kind if spec else "text"


def unit(col: str, lang: str = "zh") -> str:
    """Return the unit of ``col`` in ``lang`` (``户``, ``%``, ``米``, ``分钟``, ``km²``...) or ``""``.

    Examples
    --------
    >>> unit("dist_m"), unit("area_km2"), unit("name")
    ('米', 'km²', '')

    """
    return KINDS[column_kind(col)].unit[check_lang(lang)]


#: Kinds whose unit a header repeats in brackets (households, shares and counts need none).
_UNIT_IN_HEADER = frozenset(
    {
        "metres",
        "km",
        "minutes",
        "km2",
        "m2",
        "ha",
        "hours_month",
        "visits_month",
        "hh_per_m2",
        "m2_per_100hh",
        "per_1000",
        "km_h",
    }
)


def header(col: str, lang: str) -> str:
    """Column header for a table: label plus the unit in brackets where it is not implied.

    Examples
    --------
    >>> header("dist_m", "zh"), header("area_km2", "en"), header("households", "zh")
    ('步行距离(米)', 'Area (km²)', '户数')

    """
    label = column_label(col, lang)
    kind = column_kind(col)
    if kind not in _UNIT_IN_HEADER:
        return label
    u = KINDS[kind].unit[check_lang(lang)]
    return f"{label}({u})" if check_lang(lang) == 0 else f"{label} ({u})"


def excel_format(col: str) -> str | None:
    """Excel number format of ``col`` (``#,##0``, ``0.0%``, ``0.0``, ``0.00``); None for text.

    Examples
    --------
    >>> excel_format("households"), excel_format("coverage_20min"), excel_format("name")
    ('#,##0', '0.0%', None)

    """
    kind = column_kind(col)
    if kind in _TEXT_KINDS:
        return None
    return KINDS[kind].excel


def is_internal(col: str, columns: Iterable[Any] = ()) -> bool:
    """Tell whether ``col`` is never shown to people.

    Internal are :data:`INTERNAL_COLUMNS`, a code column whose name column is also in
    ``columns`` (``nearest_id`` beside ``nearest_name``), and private columns (``_x``).

    Examples
    --------
    >>> is_internal("snap_m"), is_internal("nearest_id", ["nearest_name"])
    (True, True)

    """
    if col in INTERNAL_COLUMNS or col.startswith("_"):
        return True
    name = _NAME_OF.get(col)
    return name is not None and name in set(map(str, columns))


def visible_columns(columns: Sequence[Any], lang: str) -> list[str]:
    """Return the columns of a table people read, in order: not internal, in ``lang``.

    Left out are :func:`is_internal` columns and the other language's ``*_zh``/``*_en``
    columns. Columns the schema does not know are the user's own (from an input file) and
    are kept under their own name.

    Examples
    --------
    >>> visible_columns(["name", "snap_m", "reason_zh", "reason_en", "备注"], "zh")
    ['name', 'reason_zh', '备注']

    """
    own = LANGS[check_lang(lang)]
    out = []
    for c in map(str, columns):
        m = _LANG_SUFFIX.search(c)
        if m and m.group(1) != own and column_spec(c) is not None:
            continue
        if is_internal(c, columns):
            continue
        out.append(c)
    return out


#: Kinds that are text in a table (no number format).
_TEXT_KINDS = frozenset({"text", "bool", "target"})
#: Kinds a 合计 (total) row adds up.
_SUMMED_KINDS = frozenset({"households", "persons", "count", "km2", "m2", "ha", "km"})
#: Columns of a summed kind that a total row must not add (running totals).
_NOT_SUMMED = frozenset(
    {"cum_gain_households", "households_covered", "levels", "capacity", "reach_households"}
)


def is_summed(col: str) -> bool:
    """Tell whether a total (合计) row adds up ``col`` (households, persons, counts, areas).

    Examples
    --------
    >>> is_summed("uncovered_hh_20min"), is_summed("rank"), is_summed("cum_gain_households")
    (True, False, False)

    """
    return column_kind(col) in _SUMMED_KINDS and col not in _NOT_SUMMED


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, pd.NA raise or compare unequal
    except (TypeError, ValueError):
        return False


def format_number(kind: str, v: Any) -> str:
    """``v`` formatted as a ``kind`` (see :data:`KINDS`) without unit; ``—`` when missing.

    Examples
    --------
    >>> format_number("households", 2182.97), format_number("share", 0.3974)
    ('2,183', '39.7%')

    """
    if _missing(v):
        return "—"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return "—"
    fmt = KINDS[kind].py
    if fmt.endswith(".0f}"):
        x = math.floor(x + 0.5)  # half up, as every whole-number total (12.5 -> 13)
    return fmt.format(x)


def format_value(col: str, v: Any, lang: str = "zh", *, with_unit: bool = True) -> str:
    """``v`` of column ``col`` as people read it, with its unit.

    Households and persons are whole (``2,183 户``), shares percentages (``39.7%``), metres
    whole (``1,462 米``), minutes one decimal (``24.0 分钟``), booleans ``是``/``否``, facility
    types by name; a missing value is ``—``.

    Examples
    --------
    >>> format_value("households", 2182.97, "zh"), format_value("dist_m", 1461.6, "en")
    ('2,183 户', '1,462 m')
    >>> format_value("within_20min", True, "zh")
    '是'

    """
    idx = check_lang(lang)
    if _missing(v):
        return "—"
    kind = column_kind(col)
    if kind == "bool":
        return TEXT[LANGS[idx]]["yes" if bool(v) else "no"]
    if col in {"type", "nearest_type"}:
        return type_label(str(v), lang)
    if col == "highway":
        return highway_label(str(v), lang)
    if kind == "target":
        return target_label(str(v), lang)
    if kind == "text":
        return str(v)
    return _with_unit(kind, format_number(kind, v), idx, with_unit=with_unit)


def _with_unit(kind: str, text: str, idx: int, *, with_unit: bool) -> str:
    """Append the unit of ``kind`` in language ``idx`` to a formatted number."""
    u = KINDS[kind].unit[idx]
    if not with_unit or not u or u == "%" or text == "—":
        return text
    return f"{text}{u}" if idx == 0 and u in {"km²", "m²", "°"} else f"{text} {u}"


# --------------------------------------------------------------------------- table layout

#: Layer -> the order people read its columns in. ``@coverage``, ``@covered_hh``,
#: ``@uncovered_hh`` and ``@within`` stand for that column of every target the table has;
#: ``@reason`` and ``@fix`` for the reason and fix column in the reader's language. Other
#: visible columns follow in their own order.
DISPLAY_ORDER: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "communities": (
            "community_code",
            "name",
            "street_name",
            "households",
            "population",
            "party_members",
            "n_grids",
            "n_facilities",
            "@coverage",
            "@uncovered_hh",
            "mean_walk_min",
            "p90_walk_min",
            "meets_target",
            "@reason",
            "@fix",
        ),
        "grids": (
            "grid_code",
            "community_name",
            "households",
            "population",
            "party_members",
            "area_km2",
            "@coverage",
            "@uncovered_hh",
            "in_band",
            "party_group_eligible",
        ),
        "facilities": (
            "facility_id",
            "name",
            "type_name",
            "community_name",
            "area_m2",
            "capacity",
            "served_households",
            "beyond_reach_households",
            "served_population",
            "hh_per_m2",
            "m2_per_100hh",
            "overloaded",
            "active",
        ),
        "uncovered": (
            "compound_id",
            "compound_name",
            "community_name",
            "n_buildings",
            "households",
            "dist_m",
            "nearest_name",
            "nearest_id",
        ),
        "gaps": (
            "gap_id",
            "target",
            "households",
            "population",
            "units",
            "community_names",
            "nearest_name",
            "nearest_id",
            "miss_m",
            "@reason",
            "@fix",
        ),
        "sites": (
            "rank",
            "candidate_id",
            "name",
            "community_name",
            "gain_households",
            "cum_gain_households",
            "served_households",
            "reach_households",
            "@reason",
            "@fix",
        ),
    }
)


def _expand(token: str, columns: Sequence[str], lang: str) -> list[str]:
    """Columns a :data:`DISPLAY_ORDER` token stands for in a table with ``columns``."""
    if token == "@reason":
        return [reason_column(lang)]
    if token == "@fix":
        return [fix_column(lang)]
    if token.startswith("@"):
        stem = token[1:]
        return [f"{stem}_{key}" for key in targets_in(columns)]
    return [token]


def display_columns(layer: str, columns: Sequence[Any], lang: str) -> list[str]:
    """Columns of a ``layer`` table people read, in reading order (:data:`DISPLAY_ORDER`).

    Only :func:`visible_columns` are returned; coordinates (``lon``, ``lat``) come last.

    Examples
    --------
    >>> display_columns("gaps", ["miss_m", "gap_id", "snap_m", "备注"], "zh")
    ['gap_id', 'miss_m', '备注']
    >>> display_columns("communities", ["coverage_1km", "name", "coverage_20min"], "en")
    ['name', 'coverage_1km', 'coverage_20min']

    """
    cols = [str(c) for c in columns]
    visible = visible_columns(cols, lang)
    first: list[str] = []
    for token in DISPLAY_ORDER.get(layer, ()):
        ordered = _expand(token, [c for c in cols if c in visible], lang)
        first += [c for c in ordered if c in visible and c not in first]
    coords = [c for c in ("lon", "lat") if c in visible]
    rest = [c for c in visible if c not in first and c not in coords]
    return first + rest + coords


# --------------------------------------------------------------------------- key figures

#: Key figure of a summary -> :class:`ColumnSpec`, in summary order. Target figures
#: (``coverage_<t>``, ``uncovered_hh_<t>``, ``coverage_<t>_after``) and facility-type counts
#: (``n_<type>``) are built by :func:`figure_spec`.
FIGURES: Mapping[str, ColumnSpec] = MappingProxyType(
    {
        "n_streets": _c("街道数", "Streets", "count"),
        "n_communities": _c("社区数", "Communities", "count"),
        "n_failing_communities": _c("未达标社区数", "Communities below target", "count"),
        "n_grids": _c("网格数", "Grids", "count"),
        "households": _c("总户数", "Households", "households"),
        "population": _c("估算人口", "Estimated population", "persons"),
        "grid_households_mean": _c("网格平均户数", "Mean households per grid", "households"),
        "grid_households_min": _c("网格最少户数", "Fewest households in a grid", "households"),
        "grid_households_max": _c("网格最多户数", "Most households in a grid", "households"),
        "grids_outside_band": _c(
            f"户数超出{DEFAULTS.grid_min_households}-{DEFAULTS.grid_max_households}的网格数",
            f"Grids outside {DEFAULTS.grid_min_households}-{DEFAULTS.grid_max_households}"
            " households",
            "count",
        ),
        "n_facilities": _c("服务设施数", "Facilities", "count"),
        "n_overloaded": _c("超负荷设施数", "Overloaded facilities", "count"),
        "n_uncovered": _c("未覆盖楼栋/小区数", "Uncovered buildings/compounds", "count"),
        "n_gaps": _c("覆盖缺口数", "Coverage gaps", "count"),
        "gap_households": _c("缺口内户数", "Households in gaps", "households"),
        "n_sites": _c("建议新增站点数", "Proposed sites", "count"),
        "gain_households": _c(
            "新增站点可覆盖户数", "Households the proposed sites add", "households"
        ),
        "personal_columns_withheld": _c(
            "未输出的个人信息列数", "Personal-data columns withheld", "count"
        ),
        "personal_values_withheld": _c(
            "已遮盖的个人信息值数", "Personal-data values masked", "count"
        ),
    }
)


def figure_spec(key: str) -> ColumnSpec:
    """Return the :class:`ColumnSpec` of a key figure (see :data:`FIGURES`).

    Examples
    --------
    >>> figure_spec("coverage_20min").zh, figure_spec("coverage_20min_after").en
    ('20分钟步行覆盖率', '20 min coverage with proposed sites')
    >>> figure_spec("n_station").zh
    '其中：党群服务站'

    """
    spec = FIGURES.get(key)
    if spec is not None:
        return spec
    if key.startswith("n_") and key[2:] in FACILITY_TYPE_NAMES_ZH:
        t = key[2:]
        return ColumnSpec(
            f"其中：{type_label(t, 'zh')}", f"  of which {type_label(t, 'en')}", "count"
        )
    if key.endswith("_after") and key.startswith("coverage_"):
        t = key[len("coverage_") : -len("_after")]
        return ColumnSpec(
            f"新增站点后{target_label(t, 'zh')}覆盖率",
            f"{target_label(t, 'en')} coverage with proposed sites",
            "share",
        )
    split = _split_target(key)
    if split and split[0] == "coverage":
        t = split[1]
        return ColumnSpec(
            f"{target_label(t, 'zh')}步行覆盖率",
            f"Households within {target_label(t, 'en')}",
            "share",
        )
    return column_spec(key) or ColumnSpec(key, key, "text")


def figure_label(key: str, lang: str) -> str:
    """Label of a key figure in ``lang``.

    Examples
    --------
    >>> figure_label("uncovered_hh_1km", "zh")
    '1公里外户数'

    """
    return figure_spec(key).label(lang)


def format_figure(key: str, value: Any, lang: str = "zh", *, with_unit: bool = True) -> str:
    """Return a key figure as people read it (``39.7%``, ``32,561 户``).

    Examples
    --------
    >>> format_figure("households", 32561.4), format_figure("coverage_15min", 0.3974, "en")
    ('32,561 户', '39.7%')

    """
    kind = figure_spec(key).kind
    if kind in _TEXT_KINDS:
        return format_value(key, value, lang)
    return _with_unit(kind, format_number(kind, value), check_lang(lang), with_unit=with_unit)


def format_quantity(kind: str, value: Any, lang: str = "zh") -> str:
    """Return ``value`` formatted as a ``kind`` (see :data:`KINDS`) with its unit.

    Examples
    --------
    >>> format_quantity("km", 89.43, "zh"), format_quantity("households", 2.6, "en")
    ('89.4 公里', '3 households')

    """
    return _with_unit(kind, format_number(kind, value), check_lang(lang), with_unit=True)


def figure_format(key: str) -> str | None:
    """Excel number format of a key figure."""
    kind = figure_spec(key).kind
    return None if kind in _TEXT_KINDS else KINDS[kind].excel


# --------------------------------------------------------------------------- facility types

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


def type_label(ftype: str, lang: str) -> str:
    """Name of a facility type in ``lang``; unknown types keep their own name.

    Examples
    --------
    >>> type_label("station", "zh")
    '党群服务站'

    """
    names = FACILITY_TYPE_NAMES_ZH if check_lang(lang) == 0 else FACILITY_TYPE_NAMES_EN
    return names.get(ftype, ftype)


# --------------------------------------------------------------------------- other text

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
                "uncovered": "未覆盖楼栋/小区",
                "minutes": "分钟",
                "all": "全部设施",
                "summary": "汇总",
                "value": "数值",
                "item": "指标",
                "other_target": "其他目标",
                "total": "合计",
                "unit": "单位",
                "date": "日期",
                "title": "基层治理网格与{t}服务圈",
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
                "uncovered": "Uncovered buildings/compounds",
                "minutes": "min",
                "all": "all facilities",
                "summary": "Summary",
                "value": "Value",
                "item": "Item",
                "other_target": "Other target",
                "total": "Total",
                "unit": "Units",
                "date": "Date",
                "title": "Governance grids and {t} service circle",
            }
        ),
    }
)


# --------------------------------------------------------------------------- demand report

#: Where a unit's households came from (``demand_source``) -> (Chinese, English). A
#: ``+registry`` suffix adds :data:`DEMAND_TERMS` ``"registry"``.
HOUSEHOLD_SOURCES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "storeys": ("按层数估算", "estimated from storeys"),
        "default_storeys": ("按默认层数估算", "estimated from default storeys"),
        "given": ("输入数据给定", "given in the input"),
        "compound": ("小区户数表", "compound table"),
        "compound_point": ("小区户数表（无楼栋，按小区位置）", "compound table (no buildings)"),
        "raster": ("人口栅格", "population raster"),
        "raster_cell": ("人口栅格（无楼栋的格网）", "population raster (cell without buildings)"),
        "non_residential": ("非住宅", "not housing"),
    }
)

#: What decided whether a building is housing (``residential_basis``) -> (Chinese, English).
RESIDENTIAL_BASIS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "override": ("用户指定", "user column"),
        "tag": ("建筑类型标签", "building tag"),
        "own_tag": ("建筑自身其他标签", "the building's other tags"),
        "name": ("建筑名称", "building name"),
        "poi": ("楼内兴趣点", "points of interest inside"),
        "footprint": ("占地面积", "footprint"),
        "compound": ("位于小区内", "inside a compound"),
        "landuse": ("用地性质", "land use"),
        "default": ("无其他证据（按规则）", "no other evidence (rule)"),
        "compound_point": ("小区户数表", "compound table"),
        "raster_cell": ("人口栅格", "population raster"),
        "residential": ("住宅", "housing"),
        "non_residential": ("非住宅", "not housing"),
    }
)

#: Other words of the demand report (compound matches, registry zones, rasters).
DEMAND_TERMS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "units": ("个单元", "units"),
        "registry": ("按户籍表校准", "scaled to the registry"),
        "rows": ("行数", "rows"),
        "households_given": ("表中户数", "households in the table"),
        "match": ("匹配方式", "matched by"),
        "point": ("无楼栋，按小区位置", "at its position (no buildings)"),
        "polygon": ("小区范围", "outline"),
        "area": ("所在区域", "surrounding area"),
        "radius": ("位置半径", "radius"),
        "no_figures": ("无户数", "no figures"),
        "zones": ("区域数", "zones"),
        "status": ("结果", "result"),
        "scaled": ("已校准", "scaled"),
        "no_total": ("无总数", "no total"),
        "no_units": ("区内无住户", "no homes inside"),
        "compounds_exceed": ("小区户数超过总数", "compounds exceed the total"),
        "no_geometry": ("无边界", "no outline"),
        "population": ("人口", "population"),
        "elderly": ("老年人口", "elderly"),
        "file": ("文件", "file"),
        "raster_total": ("栅格总数", "raster total"),
        "demand_total": ("分配到楼栋的总数", "total given to buildings"),
        "cells": ("格网数", "cells"),
        "cells_without_buildings": ("无楼栋的格网数", "cells without buildings"),
    }
)


def demand_term(key: str, lang: str) -> str:
    """Name of a demand-report code in ``lang`` (sources, housing basis, other words).

    ``a+registry`` reads as source ``a`` scaled to the registry; unknown codes keep their
    own spelling.

    Examples
    --------
    >>> demand_term("default_storeys", "zh"), demand_term("storeys+registry", "en")
    ('按默认层数估算', 'estimated from storeys, scaled to the registry')

    """
    idx = check_lang(lang)
    base, plus, extra = str(key).partition("+")
    if plus:
        sep = "，" if idx == 0 else ", "
        return demand_term(base, lang) + sep + demand_term(extra, lang)
    for table in (HOUSEHOLD_SOURCES, RESIDENTIAL_BASIS, DEMAND_TERMS):
        if base in table:
            return table[base][idx]
    return base


# --------------------------------------------------------------------------- road types

_ROADS: dict[str, tuple[str, str]] = {
    "motorway": ("高速公路", "motorway"),
    "trunk": ("快速路", "trunk road"),
    "primary": ("主干路", "primary road"),
    "secondary": ("次干路", "secondary road"),
    "tertiary": ("支路", "tertiary road"),
    "unclassified": ("一般道路", "minor road"),
    "residential": ("居住区道路", "residential street"),
    "living_street": ("生活街道", "living street"),
    "service": ("内部道路", "service road"),
    "pedestrian": ("步行街", "pedestrian street"),
    "footway": ("人行道", "footway"),
    "path": ("小路", "path"),
    "steps": ("台阶", "steps"),
    "cycleway": ("非机动车道", "cycleway"),
    "track": ("机耕路", "track"),
    "corridor": ("室内通道", "corridor"),
    "crossing": ("人行横道", "crossing"),
}
#: OpenStreetMap ``highway`` value -> (Chinese, English) as a walking map names it.
HIGHWAY_TYPES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        **_ROADS,
        **{
            f"{r}_link": (_ROADS[r][0] + "匝道", f"{r} link")
            for r in ("motorway", "trunk", "primary", "secondary", "tertiary")
        },
    }
)


def highway_label(value: str, lang: str) -> str:
    """Name of an OpenStreetMap road type in ``lang``; unknown types keep their own value.

    Examples
    --------
    >>> highway_label("footway", "zh"), highway_label("primary_link", "en")
    ('人行道', 'primary link')

    """
    pair = HIGHWAY_TYPES.get(str(value))
    return pair[check_lang(lang)] if pair else str(value)
