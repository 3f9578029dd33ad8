"""Why households miss their walking target, in plain words, and the fix each cause suggests.

Every demand unit with households beyond the target gets one cause read from the data
(:func:`unit_causes`):

``too_far``
    every facility is farther than the target even in a straight line (or the walk is only
    the usual detour longer than the straight line);
``barrier``
    a facility lies within the target in a straight line but the walk to it is at least
    :data:`BARRIER_RATIO` times longer (a river, motorway, railway or wall in the way);
``gated``
    that facility lies inside a gated compound (封闭小区) the household is not in, so it is
    reached only through the compound's gates;
``unreachable``
    no facility can be reached on the walking network at all.

:func:`zone_reasons` and :func:`gap_reasons` turn these into one sentence per community or
gap, in Chinese and English (``reason_zh``, ``reason_en``) with the fix they suggest
(``fix_zh``, ``fix_en``) and the causes as codes (``reason_code``: ``no_facility``,
``partial`` and the unit causes, comma-separated, the largest first). Sentences are built from
the fixed templates below: names and figures are inserted as values, never as template text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geogrid.network import paths as _paths
from geogrid.network.snap import representative_points
from geogrid.settings import Target, parse_targets

if TYPE_CHECKING:
    from geogrid.analyses.coverage.engine import Coverage

__all__ = [
    "BARRIER_RATIO",
    "REASON_COLUMNS",
    "gap_reasons",
    "site_reasons",
    "target_text",
    "unit_causes",
    "zone_reasons",
]

#: A walk at least this many times the straight line to a facility within the target counts
#: as blocked by a barrier (ordinary street grids detour 1.2-1.4 times the straight line).
BARRIER_RATIO = 1.6

#: Columns :func:`zone_reasons` and :func:`gap_reasons` add.
REASON_COLUMNS = ("reason_code", "reason_zh", "reason_en", "fix_zh", "fix_en")

#: Unit causes in the order they are reported when households tie.
CAUSES = ("too_far", "barrier", "gated", "unreachable")

# Sentence templates, (Chinese, English). Only literal text here: every name and figure is a
# keyword argument of str.format, so user text is never read as template source.
_T: Mapping[str, tuple[str, str]] = {
    "no_facility": ("本社区无党群服务设施", "no party-mass service facility in this community"),
    "partial": (
        "本社区部分覆盖：{covered} 户在 {target}内",
        "partly covered: {covered} households within {target}",
    ),
    "nearest": (
        "最近设施 {name} 步行 {km} 公里（{minutes} 分钟）",
        "nearest facility {name} is {km} km on foot ({minutes} min)",
    ),
    "beyond": ("有 {n} 户在 {target}外", "{n} households beyond {target}"),
    "gap": ("本片区 {n} 户在 {target}外", "{n} households in this area beyond {target}"),
    "miss": ("超出目标 {m} 米", "{m} m beyond the target"),
    "barrier": (
        "其中 {n} 户距 {name} 直线仅 {line} 米，步行却需 {walk} 米（河流、快速路、铁路或围墙阻隔）",
        "{n} of them are {line} m from {name} in a straight line but {walk} m on foot "
        "(a river, motorway, railway or wall in the way)",
    ),
    "gated": (
        "其中 {n} 户附近的 {name} 位于封闭小区内，外部居民只能经小区大门进出"
        "（直线 {line} 米，步行 {walk} 米）",
        "for {n} of them the nearby {name} is inside a gated compound that outsiders enter "
        "only through its gates ({line} m in a straight line, {walk} m on foot)",
    ),
    "unreachable": (
        "其中 {n} 户无法沿路网步行到达任何设施",
        "{n} of them cannot reach any facility on the walking network",
    ),
}

_SITE: Mapping[str, tuple[str, str]] = {
    "gain": (
        "新增覆盖 {n} 户（此前 {target}内没有设施的住户，按优先序计入排在前面的站点）",
        "newly covers {n} households (none within {target} before; each counted for the "
        "first site in rank order that reaches it)",
    ),
    "served": (
        "建成后就近服务 {n} 户（{target}内且以本站为最近设施）",
        "would serve {n} households within {target} as their nearest facility",
    ),
    "reach": ("{target}内共有 {n} 户", "{n} households within {target} in all"),
}

_FIX: Mapping[str, tuple[str, str]] = {
    "no_facility": (
        "在本社区新设党群服务站，建议选址见 选址结果",
        "open a party-mass service station in this community; see the proposed sites",
    ),
    "too_far": (
        "在未覆盖片区新设党群服务站，建议选址见 选址结果",
        "open a station where households are beyond reach; see the proposed sites",
    ),
    "barrier": (
        "打通步行通道（过街设施、桥梁或围墙开口），或在阻隔另一侧设站",
        "open a walking link (a crossing, bridge or opening in the wall) "
        "or site a station on the far side",
    ),
    "gated": (
        "协调小区为服务设施开设对外出入口，或在小区外另设服务点",
        "have the compound open an outside entrance to the facility, "
        "or site a service point outside the compound",
    ),
    "unreachable": (
        "核对路网是否缺少道路或步道，或就近新设服务点",
        "check the network for missing streets or footpaths, or site a service point nearby",
    ),
}


def _say(key: str, lang: int, **values: Any) -> str:
    """One template of :data:`_T` in language ``lang`` (0 zh, 1 en) with ``values`` inserted."""
    return _T[key][lang].format(**values)


def target_text(target: Target, lang: int) -> str:
    """Say a target as people do: ``15 分钟`` / ``15 min``, ``1 公里`` / ``1 km``, ``800 米``."""
    if target.minutes is not None:
        return f"{target.minutes:g} 分钟" if lang == 0 else f"{target.minutes:g} min"
    m = float(target.metres or 0.0)
    if m >= 1000:
        return f"{m / 1000:g} 公里" if lang == 0 else f"{m / 1000:g} km"
    return f"{m:g} 米" if lang == 0 else f"{m:g} m"


def _hh(n: float) -> str:
    return f"{round(float(n)):,}"


def _metres(d: float) -> str:
    return f"{round(float(d)):,}"


# ---------------------------------------------------------------------- per unit
def unit_causes(cov: Coverage, table: pd.DataFrame, *, target: str | None = None) -> pd.DataFrame:
    """Cause of each unit's households being beyond ``target`` (see the module docstring).

    Parameters
    ----------
    cov : Coverage
        The coverage the table was made from.
    table : DataFrame
        ``cov.table()`` (all units, in order), with ``households``, ``dist_m`` and
        ``nearest_id``.
    target : str, optional
        Target name (default ``settings.primary_target``).

    Returns
    -------
    DataFrame
        Indexed like ``table``: ``cause`` (empty for units within the target or without
        households), ``line_fac`` (position in ``cov.facilities`` of the facility nearest in a
        straight line, -1 none), ``line_m`` (straight-line metres to it), ``line_walk_m``
        (walking metres to it, NaN when not needed).

    """
    tname = target or cov.settings.primary_target
    lim = cov.max_dist_m(tname)
    n = len(table)
    if n != len(cov.unit_snap):
        msg = f"table has {n} rows for {len(cov.unit_snap)} units; pass cov.table() unfiltered"
        raise ValueError(msg)
    out = pd.DataFrame(
        {
            "cause": np.full(n, "", dtype=object),
            "line_fac": np.full(n, -1, dtype=np.int64),
            "line_m": np.full(n, np.nan),
            "line_walk_m": np.full(n, np.nan),
        },
        index=table.index,
    )
    d = table["dist_m"].to_numpy(dtype=float)
    hh = table["households"].to_numpy(dtype=float)
    rows = np.flatnonzero(~(d <= lim) & (hh > 0))
    active = np.flatnonzero(cov.facilities["active"].to_numpy(dtype=bool))
    if len(rows) == 0:
        return out
    cause = np.full(len(rows), "too_far", dtype=object)
    cause[~np.isfinite(d[rows])] = "unreachable"
    if len(active):
        line_j, line_m = _straight_nearest(cov, table, rows, active)
        walk = _walks_to(cov, table, rows, line_j, line_m <= lim)
        blocked = (line_m <= lim) & np.isfinite(d[rows])
        gated = blocked & _gated(cov, rows, line_j)
        barrier = blocked & ~gated & ~(walk < BARRIER_RATIO * line_m)
        cause[gated] = "gated"
        cause[barrier] = "barrier"
        out.iloc[rows, out.columns.get_loc("line_fac")] = line_j
        out.iloc[rows, out.columns.get_loc("line_m")] = np.round(line_m, 1)
        out.iloc[rows, out.columns.get_loc("line_walk_m")] = np.round(walk, 1)
    out.iloc[rows, out.columns.get_loc("cause")] = cause
    return out


def _straight_nearest(
    cov: Coverage, table: pd.DataFrame, rows: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per unit of ``rows``: the active facility nearest in a straight line, and its metres."""
    fpts = representative_points(cov.facilities.iloc[active])
    upts = representative_points(table.iloc[rows])
    tree = shapely.STRtree(fpts)
    (ui, fi), dist = tree.query_nearest(upts, all_matches=False, return_distance=True)
    line_j = np.full(len(rows), -1, dtype=np.int64)
    line_m = np.full(len(rows), np.inf)
    line_j[ui] = active[fi]
    line_m[ui] = dist
    return line_j, line_m


def _walks_to(
    cov: Coverage, table: pd.DataFrame, rows: np.ndarray, line_j: np.ndarray, need: np.ndarray
) -> np.ndarray:
    """Return walking metres from each unit of ``rows`` to facility ``line_j`` (where ``need``)."""
    walk = np.full(len(rows), np.nan)
    ids = cov.facilities["facility_id"].astype(str).to_numpy()
    nearest = table["nearest_id"].astype(object).to_numpy()[rows]
    same = need & (line_j >= 0) & (nearest == ids[np.maximum(line_j, 0)])
    walk[same] = table["dist_m"].to_numpy(dtype=float)[rows[same]]
    todo = need & ~same & (line_j >= 0)
    for j in np.unique(line_j[todo]).tolist():
        sel = np.flatnonzero(todo & (line_j == j))
        src = cov.fac_snap.take(np.array([j]))
        fld = _paths.node_field(cov.net, src, second=False)
        dj, _, _, _ = _paths.unit_nearest(fld, cov.unit_snap.take(rows[sel]), src, second=False)
        walk[sel] = dj
    return walk


def _gated(cov: Coverage, rows: np.ndarray, line_j: np.ndarray) -> np.ndarray:
    """Whether facility ``line_j`` is inside a gated compound the unit is not in."""
    if cov.net.private == "all" or "compound" not in cov.net.edges.columns:
        return np.zeros(len(rows), dtype=bool)
    comp = cov.net.edges["compound"].to_numpy(dtype=np.int64)
    fcomp = np.where(line_j >= 0, comp[cov.fac_snap.edge[np.maximum(line_j, 0)]], -1)
    ucomp = comp[cov.unit_snap.edge[rows]]
    return (fcomp >= 0) & (ucomp != fcomp)


# ---------------------------------------------------------------------- sentences
def _weighted_mode(keys: np.ndarray, w: np.ndarray) -> Any:
    """Return the key with the most weight (ties: the smallest key as text), None when empty."""
    ok = pd.notna(keys)
    if not ok.any():
        return None
    s = pd.Series(w[ok]).groupby(pd.Series(keys[ok]).astype(str).to_numpy()).sum()
    top = s[s == s.max()].index
    return sorted(top)[0]


def _wmedian(values: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(values) & (w > 0)
    if not ok.any():
        return float("nan")
    v, ww = values[ok], w[ok]
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(ww[order])
    return float(v[order][np.searchsorted(cw, 0.5 * cw[-1], side="left")])


class _Context:
    """What the sentences of one coverage need: facility names, speed, target, units."""

    def __init__(self, cov: Coverage, table: pd.DataFrame, causes: pd.DataFrame, tname: str):
        fac = cov.facilities
        self.ids = fac["facility_id"].astype(str).to_numpy()
        names = fac["name"] if "name" in fac.columns else fac["facility_id"]
        names = names.where(
            names.notna() & (names.astype(str).str.strip() != ""), fac["facility_id"]
        )
        self.name_of = dict(zip(self.ids.tolist(), names.astype(str).tolist(), strict=True))
        self.m_per_min = cov.speed_kmh * 1000.0 / 60.0
        self.target = _target(cov, tname)
        self.lim = cov.max_dist_m(tname)
        self.hh = table["households"].to_numpy(dtype=float)
        self.dist = table["dist_m"].to_numpy(dtype=float)
        self.nearest = table["nearest_id"].astype(object).to_numpy()
        self.cause = causes["cause"].to_numpy(dtype=object)
        self.line_fac = causes["line_fac"].to_numpy(dtype=np.int64)
        self.line_m = causes["line_m"].to_numpy(dtype=float)
        self.line_walk = causes["line_walk_m"].to_numpy(dtype=float)

    def nearest_part(self, idx: np.ndarray, lang: int, *, shortest: bool = False) -> str | None:
        """``最近设施 X 步行 1.6 公里（24 分钟）`` for the units ``idx`` (None: none reachable)."""
        fid = _weighted_mode(self.nearest[idx], self.hh[idx])
        if fid is None:
            return None
        mine = idx[self.nearest[idx].astype(str) == fid]
        d = self.dist[mine]
        walk = float(np.nanmin(d)) if shortest else _wmedian(d, self.hh[mine])
        return _say(
            "nearest",
            lang,
            name=self.name_of.get(fid, fid),
            km=f"{walk / 1000:.1f}",
            minutes=f"{walk / self.m_per_min:.0f}",
        )

    def cause_part(self, idx: np.ndarray, cause: str, lang: int) -> str:
        """Return the sentence of one cause (``barrier``, ``gated``, ``unreachable``) for ``idx``."""
        mine = idx[self.cause[idx] == cause]
        n = _hh(self.hh[mine].sum())
        if cause == "unreachable":
            return _say(cause, lang, n=n)
        j = int(_weighted_mode(self.line_fac[mine], self.hh[mine]))
        at = mine[self.line_fac[mine] == j]
        return _say(
            cause,
            lang,
            n=n,
            name=self.name_of.get(self.ids[j], self.ids[j]),
            line=_metres(_wmedian(self.line_m[at], self.hh[at])),
            walk=_metres(_wmedian(self.line_walk[at], self.hh[at])),
        )

    def causes_by_size(self, idx: np.ndarray) -> list[str]:
        """Causes present among ``idx``, the most households first."""
        w = {c: float(self.hh[idx][self.cause[idx] == c].sum()) for c in CAUSES}
        return sorted((c for c in CAUSES if w[c] > 0), key=lambda c: (-w[c], CAUSES.index(c)))


def _target(cov: Coverage, tname: str) -> Target:
    for t in cov.targets:
        if t.name == tname:
            return t
    return parse_targets(tname)[0]


def _sentence(
    ctx: _Context, idx: np.ndarray, head: list[tuple[str, dict[str, Any]]], *, shortest: bool
) -> dict[str, str]:
    """Reason and fix columns for the beyond-target units ``idx``.

    ``head`` lists the opening parts as (template key, values); the key ``nearest`` marks
    where the nearest facility goes (left out when none can be reached).
    """
    causes = ctx.causes_by_size(idx)
    keys = [k for k, _ in head]
    out: dict[str, str] = {}
    for lang, sfx in ((0, "zh"), (1, "en")):
        tt = target_text(ctx.target, lang)
        parts = []
        for k, v in head:
            part = (
                ctx.nearest_part(idx, lang, shortest=shortest)
                if k == "nearest"
                else _say(k, lang, **{**v, "target": tt})
            )
            if part is not None:
                parts.append(part)
        parts += [ctx.cause_part(idx, c, lang) for c in causes if c != "too_far"]
        sep = "；" if lang == 0 else "; "
        out[f"reason_{sfx}"] = sep.join(parts)
        fixes = ["no_facility"] if "no_facility" in keys else []
        fixes += [c for c in causes if not (c == "too_far" and fixes)]
        out[f"fix_{sfx}"] = sep.join(_FIX[c][lang] for c in fixes)
    out["reason_code"] = ",".join([k for k in keys if k in ("no_facility", "partial")] + causes)
    return out


def _empty(n: int) -> dict[str, list[str]]:
    return {c: [""] * n for c in REASON_COLUMNS}


def zone_reasons(
    cov: Coverage,
    table: pd.DataFrame,
    causes: pd.DataFrame,
    zones: pd.DataFrame,
    *,
    by: str = "community_code",
    target: str | None = None,
) -> pd.DataFrame:
    """Reason and fix per zone (community) that has households beyond ``target``.

    Parameters
    ----------
    cov, table, causes
        The coverage, its table and :func:`unit_causes` of it.
    zones : DataFrame
        One row per zone with ``by`` and ``n_facilities`` when known (facilities inside).
    by : str
        The zone column of ``table`` and ``zones``.
    target : str, optional
        Target name (default ``settings.primary_target``).

    Returns
    -------
    DataFrame
        :data:`REASON_COLUMNS`, indexed like ``zones``; empty strings where the zone meets
        the target. Example ``reason_zh``: ``本社区无党群服务设施；最近设施 锦绣路社区党群服务中心
        步行 1.6 公里（24 分钟）；有 10,450 户在15 分钟外``.

    """
    tname = target or cov.settings.primary_target
    ctx = _Context(cov, table, causes, tname)
    cols = _empty(len(zones))
    if by not in table.columns:
        return pd.DataFrame(cols, index=zones.index)
    key = table[by].astype(object).where(table[by].notna(), "(outside)").astype(str).to_numpy()
    beyond = ctx.cause != ""
    groups = pd.Series(np.arange(len(key))).groupby(key).indices
    nfac = zones["n_facilities"].to_numpy() if "n_facilities" in zones.columns else None
    for i, z in enumerate(zones[by].astype(str).tolist()):
        idx = np.asarray(groups.get(z, []), dtype=np.int64)
        idx_b = idx[beyond[idx]]
        if len(idx_b) == 0:
            continue
        total = float(ctx.hh[idx].sum())
        missing = float(ctx.hh[idx_b].sum())
        head: list[tuple[str, dict[str, Any]]] = []
        if nfac is not None and pd.notna(nfac[i]) and int(nfac[i]) == 0:
            head.append(("no_facility", {}))
        if total - missing > 0:
            head.append(("partial", {"covered": _hh(total - missing)}))
        head += [("nearest", {}), ("beyond", {"n": _hh(missing)})]
        for c, v in _sentence(ctx, idx_b, head, shortest=False).items():
            cols[c][i] = v
    return pd.DataFrame(cols, index=zones.index)


def gap_reasons(
    cov: Coverage,
    table: pd.DataFrame,
    causes: pd.DataFrame,
    members: list[np.ndarray],
    *,
    target: str | None = None,
) -> pd.DataFrame:
    """Reason and fix per gap; ``members[i]`` are the table positions of gap ``i``'s units."""
    tname = target or cov.settings.primary_target
    ctx = _Context(cov, table, causes, tname)
    cols = _empty(len(members))
    for i, idx in enumerate(members):
        idx_b = idx[ctx.cause[idx] != ""]
        if len(idx_b) == 0:
            continue
        miss = float(np.nanmin(ctx.dist[idx_b])) - ctx.lim
        head: list[tuple[str, dict[str, Any]]] = [
            ("gap", {"n": _hh(ctx.hh[idx_b].sum())}),
            ("nearest", {}),
        ]
        if np.isfinite(miss):
            head.append(("miss", {"m": _metres(miss)}))
        for c, v in _sentence(ctx, idx_b, head, shortest=True).items():
            cols[c][i] = v
    return pd.DataFrame(cols)


def site_reasons(
    gain: np.ndarray, served: np.ndarray, reach: np.ndarray, target: Target
) -> pd.DataFrame:
    """Explain each proposed site's household figures in words (``reason_zh``, ``reason_en``).

    ``gain``: households newly within the target, in rank order (``gain_households``);
    ``served``: households within the target whose nearest facility the site would be
    (``served_households``); ``reach``: all households within the target
    (``reach_households``).
    """
    out: dict[str, list[str]] = {"reason_zh": [], "reason_en": []}
    for g, sv, r in zip(gain, served, reach, strict=True):
        for lang, sfx in ((0, "zh"), (1, "en")):
            tt = target_text(target, lang)
            parts = [
                _SITE[k][lang].format(n=_hh(v), target=tt)
                for k, v in (("gain", g), ("served", sv), ("reach", r))
            ]
            out[f"reason_{sfx}"].append(("；" if lang == 0 else "; ").join(parts))
    return pd.DataFrame(out)
