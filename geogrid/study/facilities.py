"""Party-mass service facilities: the ``type`` vocabulary, ids, Chinese names.

=====================  ==========================
``type``               Chinese name
=====================  ==========================
``centre_city``        市级党群服务中心
``centre_district``    区级党群服务中心
``centre_street``      街道党群服务中心
``centre_community``   社区党群服务中心
``station``            党群服务站
``liaison_point``      党群联络点
``recharge_station``   红色蓄能站
``facility``           其他服务设施 (an unknown type is kept as this, with a warning)
=====================  ==========================

The Chinese names (e.g. 党群服务站) and the synonyms in :data:`TYPE_SYNONYMS` (服务站, 联络点,
蓄能站, 党群服务中心 = a community centre...) are understood too, matched exactly: a value
that merely contains one (卫生服务站, 快递服务站, 便民服务站) is an unknown type, reported
with its count. A layer without ``type`` gets a loud warning; name another column with
``type_column=`` (``--facility-type-column 类型``) or give ``default_type=``
(``--facility-type station``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.crs import to_metric
from geogrid.errors import InputError
from geogrid.settings import FACILITY_TYPE_NAMES_ZH, FACILITY_TYPES
from geogrid.study.demand import clean_geometries, drop_duplicates
from geogrid.study.exclusions import Exclusions

__all__ = ["TYPE_SYNONYMS", "normalise_type", "prepare_facilities"]

log = logging.getLogger(__name__)

#: Documented synonyms of the ``type`` vocabulary (matched exactly, after trimming spaces and
#: ignoring case); any other value is an unknown type, counted as ``facility`` with a warning.
TYPE_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        **{k: k for k in FACILITY_TYPE_NAMES_ZH},
        **{v: k for k, v in FACILITY_TYPE_NAMES_ZH.items()},
        "党群服务中心": "centre_community",
        "市党群服务中心": "centre_city",
        "区党群服务中心": "centre_district",
        "街道党群服务中心": "centre_street",
        "社区党群服务中心": "centre_community",
        "服务站": "station",
        "党群服务站点": "station",
        "联络点": "liaison_point",
        "蓄能站": "recharge_station",
        "centre": "centre_community",
        "center": "centre_community",
        "community_centre": "centre_community",
        "community_center": "centre_community",
        "street_centre": "centre_street",
        "district_centre": "centre_district",
        "city_centre": "centre_city",
        "liaison": "liaison_point",
        "other": "facility",
        "其他": "facility",
    }
)
_LOOKUP = {k.strip().lower(): v for k, v in TYPE_SYNONYMS.items()}


def normalise_type(value: Any) -> str | None:
    """Return the ``type`` code of ``value`` (a code, a Chinese name or a synonym), else None.

    Only exact matches count (spaces trimmed, case ignored): ``卫生服务站`` is not a
    ``党群服务站``. Missing values give ``"facility"``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "facility"
    text = " ".join(str(value).split()).lower()
    if not text:
        return "facility"
    return _LOOKUP.get(text)


def _facility_types(
    out: gpd.GeoDataFrame, type_column: str | None, default_type: str | None
) -> pd.Series:
    """Return the raw ``type`` of each facility, from ``type_column`` or ``default_type``."""
    if default_type is not None and normalise_type(default_type) is None:
        msg = f"unknown facility type {default_type!r}; pass one of {', '.join(FACILITY_TYPES)}"
        raise InputError(msg)
    if type_column is not None:
        if type_column not in out.columns:
            shown = ", ".join(map(str, list(out.columns)[:12]))
            msg = (
                f"facility layer has no column {type_column!r} (columns: {shown}); pass one of them"
            )
            raise InputError(msg)
        raw = out[type_column].astype(object)
    elif "type" in out.columns:
        raw = out["type"].astype(object)
    elif default_type is not None:
        return pd.Series(default_type, index=out.index, dtype=object)
    else:
        log.warning(
            "the facility layer has no 'type' column: all %d facilities count as generic "
            "其他服务设施 and per-type coverage is left out; add a 'type' column (%s, or the "
            "Chinese names such as 党群服务站), or pass --facility-type-column COLUMN or "
            "--facility-type TYPE",
            len(out),
            ", ".join(FACILITY_TYPES[:-1]),
        )
        return pd.Series(None, index=out.index, dtype=object)
    if default_type is not None:
        blank = raw.isna() | (raw.astype(str).str.strip() == "")
        raw = raw.where(~blank, default_type)
    return raw


def prepare_facilities(
    facilities: gpd.GeoDataFrame,
    *,
    crs: Any = None,
    type_column: str | None = None,
    default_type: str | None = None,
    exclusions: Exclusions | None = None,
) -> gpd.GeoDataFrame:
    """Validate and complete a facility layer (points or polygons), keeping every column.

    Adds ``facility_id`` (from ``facility_id`` / ``id``, else ``F0001``... by input row),
    ``name``, ``type`` (normalised; the original in ``type_raw`` when it differed),
    ``type_zh``, ``area_m2`` (NaN when unknown) and ``capacity`` (NaN when unknown).

    ``type_column`` names the column holding the type when it is not ``type`` (e.g. ``类型``);
    ``default_type`` is the type of facilities without one. Types are matched exactly against
    the vocabulary and :data:`TYPE_SYNONYMS`; other values count as ``facility`` with a
    warning giving each value and its count. Rows with an empty or unusable geometry and exact
    duplicates are recorded in ``exclusions`` with their reason.
    """
    if facilities.crs is None:
        msg = (
            "facility layer has no coordinate system; pass crs= when reading or call .set_crs(...)"
        )
        raise InputError(msg)
    if len(facilities) == 0:
        msg = "facility layer is empty; pass at least one centre or station"
        raise InputError(msg)
    excl = exclusions if exclusions is not None else Exclusions()
    out = facilities.copy() if facilities.index.is_unique else facilities.reset_index(drop=True)
    before = len(excl)
    if "facility_id" in out.columns:
        ids = out["facility_id"].astype(str)
    elif "id" in out.columns and out["id"].notna().all() and out["id"].is_unique:
        ids = out["id"].astype(str)
    else:
        ids = pd.Series([f"F{i + 1:04d}" for i in range(len(out))], index=out.index)
    out = clean_geometries(out, ids, layer="facilities", exclusions=excl)
    out = drop_duplicates(out, ids, layer="facilities", exclusions=excl)
    out["facility_id"] = ids.loc[out.index]
    if len(out) == 0:
        msg = "no facility has a usable geometry; fix the facility layer (see the warnings)"
        raise InputError(msg)
    if not out["facility_id"].is_unique:
        dup = sorted(set(out.loc[out["facility_id"].duplicated(), "facility_id"]))
        shown = ", ".join(map(repr, dup[:5])) + (
            f" and {len(dup) - 5} more" if len(dup) > 5 else ""
        )
        msg = f"facility_id {shown} appear more than once with different data; make facility ids unique"
        raise InputError(msg)
    out = to_metric(out, crs).copy()
    if "name" not in out.columns:
        out["name"] = out["facility_id"]
    out["name"] = out["name"].astype(object).where(out["name"].notna(), out["facility_id"])
    raw = _facility_types(out, type_column, default_type)
    known = raw.map(normalise_type)
    unknown = known.isna()
    if unknown.any():
        counts = raw[unknown].astype(str).value_counts()
        shown = ", ".join(f"{v!r} x{n}" for v, n in list(counts.items())[:8])
        log.warning(
            "%d facilities have an unknown type (%s%s), not matched to any known name: counted as generic "
            "其他服务设施 'facility'; use one of %s or their Chinese names (see "
            "geogrid.facilities), or fix the values",
            int(unknown.sum()),
            shown,
            f" and {len(counts) - 8} more" if len(counts) > 8 else "",
            ", ".join(FACILITY_TYPES),
        )
    norm = known.fillna("facility").astype(object)
    changed = raw.notna() & (raw.astype(str) != norm)
    if changed.any():
        out["type_raw"] = raw
    out["type"] = norm
    out["type_zh"] = norm.map(FACILITY_TYPE_NAMES_ZH)
    for col in ("area_m2", "capacity"):
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out.columns else np.nan
    return out if len(excl) == before else out.reset_index(drop=True)
