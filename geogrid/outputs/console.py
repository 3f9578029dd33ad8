"""What the command line prints: a short human summary, or the machine-readable figures.

People read Chinese by default (English with ``lang="en"``): coverage as percentages per target,
whole households with their unit, the names of the communities furthest from the target, and no
snake_case keys or ``499.0000``. Programs read :func:`to_json` (``geogrid ... --json``). Labels,
units and formats come from :mod:`geogrid.schema`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.outputs.figures import failing_communities, key_figures
from geogrid.outputs.privacy import describe_withheld
from geogrid.schema import (
    check_lang,
    column_spec,
    coverage_col,
    demand_term,
    figure_spec,
    format_figure,
    format_quantity,
    format_value,
    primary_target,
    target_label,
    targets_in,
    type_label,
    uncovered_col,
)
from geogrid.study.exclusions import REASONS

__all__ = [
    "coverage_summary",
    "excluded_key",
    "excluded_line",
    "format_summary",
    "grids_summary",
    "seconds",
    "siting_summary",
    "batch_line",
    "dashboard_line",
    "failed_area",
    "to_json",
    "wrote",
]

log = logging.getLogger(__name__)

#: Console-only figures (study, demo and run keys) -> (Chinese, English, kind).
_CONSOLE: Mapping[str, tuple[str, str, str]] = {
    "demand_units": ("需求单元（楼栋/小区）", "Demand units (buildings/compounds)", "count"),
    "network_nodes": ("路网节点", "Network nodes", "count"),
    "network_edges": ("路网路段", "Network edges", "count"),
    "network_length_km": ("路网长度", "Network length", "km"),
    "network_components": ("路网连通片数", "Network components", "count"),
    "network_island_nodes": ("孤立路网节点", "Island nodes", "count"),
    "network_private_edges_kept": ("保留的小区内部道路", "Private compound paths kept", "count"),
    "network_dropped_not_walkable": ("剔除的不可步行道路", "Non-walkable ways dropped", "count"),
    "network_dropped_foot_no": ("剔除的禁止步行道路", "Ways closed to walkers dropped", "count"),
    "network_dropped_private": ("剔除的非公共道路", "Private ways dropped", "count"),
    "network_gated_compounds": ("识别出的封闭小区", "Gated compounds found", "count"),
    "network_compound_gates": ("封闭小区出入口", "Compound gates", "count"),
    "network_sealed_crossings": ("围墙上无门的穿越处", "Wall crossings without a gate", "count"),
    "communities": ("社区数", "Communities", "count"),
    "demand_sources": ("户数来源", "Household sources", "text"),
    "demand_residential_basis": ("住宅判定依据", "Residential evidence", "text"),
    "demand_compounds": ("小区户数", "Compound households", "text"),
    "demand_registry": ("户籍表", "Household registry", "text"),
    "demand_rasters": ("人口栅格", "Population rasters", "text"),
    "excluded_rows": ("未纳入计算的行", "Rows left out", "text"),
    "excluded_households": ("未纳入计算的户数", "Households left out", "households"),
    "gaps": ("覆盖缺口数", "Coverage gaps", "count"),
    "overloaded_facilities": ("超负荷设施数", "Overloaded facilities", "count"),
    "grids": ("网格数", "Grids", "count"),
    "grids_in_band_share": ("户数达标的网格占比", "Grids within the household band", "share"),
    "new_sites": ("建议新增站点数", "Proposed sites", "count"),
    "underserved_communities": ("示范中服务不足的社区", "Demo's underserved communities", "text"),
    "seconds": ("各步用时（秒）", "Seconds per step", "text"),
    "total_seconds": ("总用时（秒）", "Total seconds", "index"),
    "out": ("输出目录", "Output folder", "text"),
}

_WORDS: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "seconds": "用时 {s:.1f} 秒",
        "excluded": "未纳入计算的{key}：{n} 行（见 excluded 图层）",
        "excluded_item": "{key}{n} 行",
        "sep": "：",
        "list": "，",
        "items": "；",
        "coverage": "步行覆盖率（按户）",
        "beyond": "{t}外",
        "failing": "未达标社区 {n} 个（{t}）",
        "all_meet": "全部社区达到{t}目标",
        "facilities": "服务设施",
        "withheld": "个人信息未输出（--include-personal 可保留）",
        "more": "等",
        "grids": "网格 {n} 个，每格 {lo}–{hi} 户，{out} 个不在 {a}–{b} 户之间",
        "certs": "可行性证明：可行 {f}，不可行 {i}，未定 {u}（共 {n} 个社区，见 grids_certificates.csv）",
        "sites": "建议新增站点 {n} 个（要求 {k} 个），新增覆盖 {gain}",
        "after": "{t}覆盖率 {a} → {b}",
        "mean_walk": "平均步行距离 {a} → {b}",
        "longest_walk": "最远步行距离 {a} → {b}",
        "walk_cap": "（超过 {c}的按 {c}计）",
        "reason": "原因",
        "wrote": "已写出：{files}",
        "and": "和",
        "batch": "{n} 个片区：完成 {done} 个，跳过 {skipped} 个（此前已完成），失败 {failed} 个；已写出 {file}",
        "failed_area": "  失败 {id}：{error}",
        "dashboard": "Dask 监控面板：{link}",
        "dashboard_remote": "Dask 监控面板（若调度器提供）：{link}",
        "no_dashboard": "无 Dask 监控面板（安装 bokeh 后可用）",
    },
    "en": {
        "seconds": "computed in {s:.1f} s",
        "excluded": "left out {key}: {n} rows (see the 'excluded' layer)",
        "excluded_item": "{key}: {n} rows",
        "sep": ": ",
        "list": ", ",
        "items": "; ",
        "coverage": "Walking coverage (households)",
        "beyond": "beyond {t}",
        "failing": "{n} communities below the {t} target",
        "all_meet": "Every community meets the {t} target",
        "facilities": "Facilities",
        "withheld": "personal data withheld (--include-personal keeps it)",
        "more": "and more",
        "grids": "{n} grids, {lo}-{hi} households each, {out} outside {a}-{b}",
        "certs": "certificates: feasible {f}, infeasible {i}, unknown {u} of {n} communities "
        "(proofs in grids_certificates.csv)",
        "sites": "{n} new sites proposed ({k} requested), {gain} more within reach",
        "after": "{t} coverage {a} -> {b}",
        "mean_walk": "mean walk {a} -> {b}",
        "longest_walk": "longest walk {a} -> {b}",
        "walk_cap": " (walks beyond {c} count as {c})",
        "reason": "reason",
        "wrote": "wrote {files}",
        "and": "and",
        "batch": "{n} areas: {done} done, {skipped} skipped (finished before), {failed} failed; "
        "wrote {file}",
        "failed_area": "  failed {id}: {error}",
        "dashboard": "Dask dashboard: {link}",
        "dashboard_remote": "Dask dashboard, if the scheduler serves one: {link}",
        "no_dashboard": "no Dask dashboard (install bokeh for one)",
    },
}
#: The console names at most this many failing communities.
MAX_NAMED = 5


def _plain(value: Any) -> Any:
    """``value`` as plain Python (numpy scalars unwrapped, NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return [_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def to_json(data: Any) -> str:
    """Return the machine-readable form (``--json``): numbers as numbers, NaN as null, UTF-8 text.

    Examples
    --------
    >>> import numpy as np
    >>> print(to_json({"households": np.int64(499), "share": np.float64("nan")}))
    {
     "households": 499,
     "share": null
    }

    """
    return json.dumps(_jsonable(data), ensure_ascii=False, indent=1)


def _text(value: Any, lang: str) -> str:
    """Write a nested value (dict, list, number) as one line of text."""
    value = _plain(value)
    if value is None:
        return "—"
    w = _WORDS[lang]
    if isinstance(value, Mapping):
        return w["items"].join(f"{k}{w['sep']}{_text(v, lang)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return w["list"].join(_text(v, lang) for v in value)
    if isinstance(value, bool):
        return format_value("overloaded", value, lang)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def _sources_text(value: Mapping[str, Any], lang: str) -> str:
    """Household sources: ``按层数估算 410 个单元，32,010 户；非住宅 317 个单元``."""
    w = _WORDS[lang]
    parts = []
    for key, v in value.items():
        if not isinstance(v, Mapping):
            parts.append(f"{demand_term(key, lang)} {_term_text(v, lang)}")
            continue
        n = format_quantity("count", v.get("units"), lang)
        text = f"{demand_term(key, lang)} {n} {demand_term('units', lang)}"
        if v.get("households"):
            text += f"{w['list']}{format_value('households', v['households'], lang)}"
        parts.append(text)
    return w["items"].join(parts)


def _basis_text(value: Mapping[str, Any], lang: str) -> str:
    """Housing evidence: ``建筑类型标签 住宅 427，非住宅 317`` (``basis:decision`` counts)."""
    w = _WORDS[lang]
    by_basis: dict[str, list[str]] = {}
    for key, n in value.items():
        basis, _, decision = str(key).partition(":")
        text = f"{demand_term(decision, lang)} {format_quantity('count', n, lang)}"
        by_basis.setdefault(basis, []).append(text.strip())
    return w["items"].join(
        f"{demand_term(b, lang)}{w['sep']}{w['list'].join(v)}" for b, v in by_basis.items()
    )


def _term_text(value: Any, lang: str, *, inner: bool = False) -> str:
    """Word a demand report (compounds, registry, rasters) with its codes named in ``lang``.

    Levels are joined by ``；`` then ``，``; counts and totals are whole numbers (households
    with their unit).
    """
    value = _plain(value)
    w = _WORDS[lang]
    if isinstance(value, Mapping):
        parts = []
        for k, v in value.items():
            if isinstance(_plain(v), Mapping):
                parts.append(
                    f"{demand_term(str(k), lang)}{w['sep']}{_term_text(v, lang, inner=True)}"
                )
            elif "households" in str(k):
                parts.append(f"{demand_term(str(k), lang)} {format_value('households', v, lang)}")
            else:
                parts.append(f"{demand_term(str(k), lang)} {_term_text(v, lang)}")
        return (w["list"] if inner else w["items"]).join(parts)
    if isinstance(value, str):
        return demand_term(value, lang)
    if isinstance(value, float):
        return format_quantity("count", value, lang)
    return _text(value, lang)


def _excluded_text(value: Mapping[str, Any], lang: str) -> str:
    """Rows left out per layer and reason: ``楼栋/小区（非住宅建筑）317 行``."""
    parts = [
        _WORDS[lang]["excluded_item"].format(
            key=excluded_key(str(k), lang), n=format_quantity("count", v, lang)
        )
        for k, v in value.items()
    ]
    return _WORDS[lang]["items"].join(parts)


#: Steps of a run (``seconds``) -> (Chinese, English).
_STEPS: Mapping[str, tuple[str, str]] = {
    "study": ("数据准备", "study"),
    "coverage": ("覆盖分析", "coverage"),
    "grids": ("网格划分", "grids"),
    "siting": ("选址", "siting"),
    "maps_report": ("地图与报告", "maps and report"),
}


def _steps_text(value: Mapping[str, Any], lang: str) -> str:
    """Seconds per step: ``数据准备 0.60；覆盖分析 0.40``."""
    idx = check_lang(lang)
    return _WORDS[lang]["items"].join(
        f"{_STEPS.get(str(k), (str(k), str(k)))[idx]} {float(v):.2f}" for k, v in value.items()
    )


#: Study figures worded from the schema's terms instead of their codes.
_DEMAND_TEXT = {
    "demand_sources": _sources_text,
    "demand_residential_basis": _basis_text,
    "excluded_rows": _excluded_text,
    "seconds": _steps_text,
}


def _is_zero_count(key: str, value: Any) -> bool:
    """Tell whether a figure is a zero count of things left out ("skipped 0 ...")."""
    words = ("excluded", "skipped", "dropped")
    value = _plain(value)
    return any(w in key for w in words) and isinstance(value, int | float) and not value


def _special(key: str, value: Any, lang: str) -> str | None:
    """Word a figure that has its own wording (withheld data, facilities by type)."""
    w = _WORDS[lang]
    if key == "personal_withheld":
        text = describe_withheld(value) if isinstance(value, Mapping) else None
        return f"{w['withheld']}{w['sep']}{text}" if text else ""
    parts = [f"{type_label(str(t), lang)} {int(n)}" for t, n in value.items()]
    return f"{w['facilities']}{w['sep']}{w['list'].join(parts)}"


def _label_text(key: str, value: Any, lang: str) -> tuple[str, str]:
    """Return the label and formatted value of a figure (schema, console or unknown key)."""
    if key in _CONSOLE:
        zh, en, kind = _CONSOLE[key]
        if key in _DEMAND_TEXT and isinstance(value, Mapping):
            text = _DEMAND_TEXT[key](value, lang)
        elif key.startswith("demand_"):
            text = _term_text(value, lang)
        elif kind == "text":
            text = _text(value, lang)
        else:
            text = format_quantity(kind, _plain(value), lang)
        return (zh, en)[check_lang(lang)], text
    spec = figure_spec(key)
    if spec.kind == "text" and column_spec(key) is None and spec.zh == key:
        return key, _text(value, lang)  # a key the schema does not know
    if isinstance(value, Mapping | list | tuple):
        return spec.label(lang).strip(), _text(value, lang)
    return spec.label(lang).strip(), format_figure(key, _plain(value), lang)


def _line(key: str, value: Any, lang: str) -> str | None:
    """Return the ``label: value`` line of a figure, or None when there is nothing to say."""
    if key == "personal_withheld" or (key == "facilities" and isinstance(value, Mapping)):
        return _special(key, value, lang) or None
    empty = isinstance(value, Mapping | list | tuple) and not value
    if empty or _is_zero_count(key, value):
        return None
    label, text = _label_text(key, value, lang)
    return f"{label}{_WORDS[lang]['sep']}{text}"


def format_summary(figures: Mapping[str, Any], lang: str = "zh") -> str:
    """Human-readable lines of a figures dict, one ``label: value`` per figure.

    Labels and formats come from :mod:`geogrid.schema` (whole households with ``户``, shares
    as percentages); numbers print plainly (never ``np.float64(...)`` or ``499.0000``; a
    missing one as ``—``), and empty counts are left out (no "excluded rows" line when
    nothing was excluded).

    Parameters
    ----------
    figures : mapping
        E.g. :meth:`geogrid.study.area.StudyArea.summary` or the figures of ``run_demo``.
    lang : {"zh", "en"}
        Language of the labels.

    Returns
    -------
    str

    Examples
    --------
    >>> print(format_summary({"households": 32561.4, "coverage_15min": 0.3974, "gaps": 2.0}))
    总户数：32,561 户
    15分钟步行覆盖率：39.7%
    覆盖缺口数：2

    """
    check_lang(lang)
    figures = _named(figures)
    lines = [_line(str(k), v, lang) for k, v in figures.items()]
    return "\n".join(line for line in lines if line)


def _named(figures: Mapping[str, Any]) -> dict[str, Any]:
    """Put the names of the underserved communities in place of their codes, when known.

    ``run_demo`` gives both ``underserved_communities`` (codes, for ``--json``) and
    ``underserved_community_names``; people read the names, once.
    """
    out = dict(figures)
    names = out.pop("underserved_community_names", None)
    if names and "underserved_communities" in out:
        out["underserved_communities"] = list(names)
    return out


def coverage_summary(layers: Mapping[str, gpd.GeoDataFrame], lang: str = "zh") -> str:
    """Summarise coverage: percentages per target, households beyond, worst communities.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> comms = gpd.GeoDataFrame({"name": ["友谊社区", "钢苑社区"], "households": [100, 50],
    ...     "coverage_20min": [1.0, 0.4], "uncovered_hh_20min": [0, 30]},
    ...     geometry=[shapely.box(0, 0, 1, 1)] * 2, crs=3857)
    >>> print(coverage_summary({"communities": comms}))
    步行覆盖率（按户）：20分钟 80.0%
    20分钟外：30 户
    未达标社区 1 个（20分钟）：钢苑社区 30 户

    """
    w = _WORDS[lang]
    figures = key_figures(layers, include_personal=True)  # counts only: nothing is written
    columns = [c for gdf in layers.values() if gdf is not None for c in gdf.columns]
    keys = [k for k in targets_in(figures) if coverage_col(k) in figures] or targets_in(columns)
    lines = []
    shares = [
        f"{target_label(k, lang)} {format_figure(coverage_col(k), figures[coverage_col(k)], lang)}"
        for k in keys
        if coverage_col(k) in figures
    ]
    if shares:
        lines.append(f"{w['coverage']}{w['sep']}{w['list'].join(shares)}")
    key = primary_target([coverage_col(k) for k in keys])
    if key is not None and uncovered_col(key) in figures:
        n = format_figure("households", figures[uncovered_col(key)], lang)
        lines.append(f"{w['beyond'].format(t=target_label(key, lang))}{w['sep']}{n}")
    lines += _failing_line(layers.get("communities"), lang)
    for k in ("n_gaps", "gap_households", "n_overloaded"):
        if k in figures:
            lines.append(_line(k, figures[k], lang) or "")
    return "\n".join(line for line in lines if line)


def _failing_line(comms: gpd.GeoDataFrame | None, lang: str) -> list[str]:
    """``未达标社区 N 个：name households, ...`` (worst first), or that all meet the target."""
    if comms is None:
        return []
    w = _WORDS[lang]
    table, key = failing_communities(comms)
    if key is None:
        return []
    t = target_label(key, lang)
    if not len(table):
        return [w["all_meet"].format(t=t)]
    names = []
    for _, row in table.head(MAX_NAMED).iterrows():
        name = str(row.get("name", row.get("community_code", "")))
        if uncovered_col(key) in row:
            name += f" {format_value('households', row[uncovered_col(key)], lang)}"
        names.append(name)
    more = f" {w['more']}" if len(table) > MAX_NAMED else ""
    head = w["failing"].format(n=len(table), t=t)
    return [f"{head}{w['sep']}{w['list'].join(names)}{more}"]


def grids_summary(
    grids: gpd.GeoDataFrame, certificates: pd.DataFrame | None, lang: str = "zh"
) -> str:
    """Summarise the grids: how many, households per grid, how many outside the band."""
    w = _WORDS[lang]
    fig = key_figures({"grids": grids}, include_personal=True)  # counts only
    lines = []
    if "grid_households_min" in fig:
        from geogrid.settings import DEFAULTS

        lines.append(
            w["grids"].format(
                n=fig["n_grids"],
                lo=f"{fig['grid_households_min']:,}",
                hi=f"{fig['grid_households_max']:,}",
                out=fig["grids_outside_band"],
                a=DEFAULTS.grid_min_households,
                b=DEFAULTS.grid_max_households,
            )
        )
    if certificates is not None and "status" in certificates:
        counts = certificates["status"].value_counts()
        lines.append(
            w["certs"].format(
                f=int(counts.get("feasible", 0)),
                i=int(counts.get("infeasible", 0)),
                u=int(counts.get("unknown", 0)),
                n=len(certificates),
            )
        )
    return "\n".join(lines)


def siting_summary(summary: pd.DataFrame, lang: str = "zh") -> str:
    """Summarise proposed sites: how many, households gained, coverage before and after."""
    w = _WORDS[lang]
    s = {str(m): _plain(v) for m, v in zip(summary["metric"], summary["value"], strict=False)}
    before, after = s.get("households_covered_before"), s.get("households_covered_after")
    gain = (after or 0) - (before or 0)
    k = s.get("n_requested")
    line = w["sites"].format(
        n=int(s.get("n_chosen") or 0),
        k="—" if k is None or (isinstance(k, float) and math.isnan(k)) else int(k),
        gain=format_value("households", gain, lang),
    )
    why = (s.get("reason_zh") or s.get("reason")) if lang == "zh" else s.get("reason")
    if why:
        line += f"（{w['reason']}：{why}）" if lang == "zh" else f" ({why})"
    lines = [line]
    if s.get("coverage_before") is not None and s.get("target"):
        lines.append(
            w["after"].format(
                t=target_label(str(s["target"]), lang),
                a=format_value("coverage_share", s["coverage_before"], lang),
                b=format_value("coverage_share", s["coverage_after"], lang),
            )
        )
    lines.extend(_walk_lines(s, lang))
    return "\n".join(lines)


def _walk_lines(s: Mapping[str, Any], lang: str) -> list[str]:
    """p-median and p-centre: the mean and the longest walk before and after (``米``)."""
    out = []
    for key in ("mean_walk", "longest_walk"):
        a, b = s.get(f"{key}_m_before"), s.get(f"{key}_m_after")
        if a is None or b is None:
            continue
        out.append(
            _WORDS[lang][key].format(
                a=format_value("walk_m", a, lang), b=format_value("walk_m", b, lang)
            )
        )
    cap = s.get("pmedian_cap_m")
    if out and cap is not None:
        out[0] += _WORDS[lang]["walk_cap"].format(c=format_value("walk_m", cap, lang))
    return out


def seconds(value: float, lang: str = "zh") -> str:
    """Say how long a command took (``用时 2.3 秒``)."""
    return _WORDS[lang]["seconds"].format(s=value)


#: Input layers whose rows can be left out -> (Chinese, English).
_INPUT_LAYERS: Mapping[str, tuple[str, str]] = {
    "demand": ("楼栋/小区", "buildings/compounds"),
    "facilities": ("服务设施", "facilities"),
    "communities": ("社区", "communities"),
    "compounds": ("小区", "compounds"),
    "residential": ("住宅区", "residential areas"),
    "network": ("路网", "network"),
}


def excluded_key(key: str, lang: str = "zh") -> str:
    """``demand: zero area`` as people read it (``楼栋/小区：面积为零``).

    Examples
    --------
    >>> excluded_key("demand: non-residential building")
    '楼栋/小区（非住宅建筑）'

    """
    idx = check_lang(lang)
    layer, _, reason = str(key).partition(": ")
    layer_text = _INPUT_LAYERS.get(layer, (layer, layer))[idx]
    if not reason:
        return layer_text
    if idx == 0:  # the detail after "reason: " stays in the excluded layer
        reason = REASONS.get(reason) or REASONS.get(reason.partition(": ")[0], reason)
        return f"{layer_text}（{reason}）"
    return f"{layer_text} ({reason})"


def excluded_line(key: str, n: int, lang: str = "zh") -> str:
    """Say how many rows of one layer and reason were left out, and where they are listed."""
    return _WORDS[lang]["excluded"].format(key=excluded_key(key, lang), n=f"{int(n):,}")


def wrote(paths: Sequence[Any], lang: str = "zh") -> str:
    """Say which files a command wrote (``已写出：a、b 和 run.json``).

    Examples
    --------
    >>> wrote(["out/coverage.gpkg", "out/run.json"])
    '已写出：out/coverage.gpkg 和 out/run.json'
    >>> wrote(["map.html"], "en")
    'wrote map.html'

    """
    w = _WORDS[lang]
    names = [str(p) for p in paths]
    joiner = "、" if lang == "zh" else ", "
    text = names[-1] if len(names) < 2 else f"{joiner.join(names[:-1])} {w['and']} {names[-1]}"
    return w["wrote"].format(files=text)


def batch_line(counts: Mapping[str, int], file: Any, lang: str = "zh") -> str:
    """Sum up a batch: ``counts`` of areas (``n``, ``done``, ``skipped``, ``failed``), its table."""
    return _WORDS[lang]["batch"].format(file=file, **counts)


def failed_area(area: Any, error: Any, lang: str = "zh") -> str:
    """Name one area that failed and why (the error as the run reported it)."""
    return _WORDS[lang]["failed_area"].format(id=area, error=error)


def dashboard_line(link: str | None, *, remote: bool = False, lang: str = "zh") -> str:
    """Say where the Dask dashboard of a batch is (or that there is none)."""
    w = _WORDS[lang]
    if remote:
        return w["dashboard_remote"].format(link=link)
    return w["dashboard"].format(link=link) if link else w["no_dashboard"]
