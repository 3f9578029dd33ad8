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
``facility``           other (an unknown type is kept as this, with a warning)
=====================  ==========================

Chinese type names in the ``type`` column (e.g. 党群服务站) are understood too.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .crs import to_metric
from .errors import InputError
from .settings import FACILITY_TYPE_NAMES_ZH

__all__ = ["prepare_facilities"]

log = logging.getLogger(__name__)

_ZH_TO_TYPE = {v: k for k, v in FACILITY_TYPE_NAMES_ZH.items()}
_ZH_TO_TYPE.update(
    {
        "社区党群服务中心": "centre_community",
        "街道党群服务中心": "centre_street",
        "党群服务中心": "centre_community",
        "服务站": "station",
        "联络点": "liaison_point",
        "蓄能站": "recharge_station",
    }
)


def _normalise_type(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "facility"
    text = str(value).strip()
    low = text.lower()
    if low in FACILITY_TYPE_NAMES_ZH:
        return low
    if text in _ZH_TO_TYPE:
        return _ZH_TO_TYPE[text]
    for zh, t in sorted(_ZH_TO_TYPE.items(), key=lambda kv: -len(kv[0])):
        if zh in text:
            return t
    return "facility"


def prepare_facilities(facilities: gpd.GeoDataFrame, *, crs: Any = None) -> gpd.GeoDataFrame:
    """Validate and complete a facility layer (points or polygons), keeping every column.

    Adds ``facility_id`` (from ``facility_id`` / ``id``, else ``F0001``...), ``name``,
    ``type`` (normalised; the original in ``type_raw`` when it differed), ``type_zh``,
    ``area_m2`` (NaN when unknown) and ``capacity`` (NaN when unknown).
    """
    if facilities.crs is None:
        msg = (
            "facility layer has no coordinate system; pass crs= when reading or call .set_crs(...)"
        )
        raise InputError(msg)
    if len(facilities) == 0:
        msg = "facility layer is empty; pass at least one centre or station"
        raise InputError(msg)
    out = to_metric(facilities, crs).copy()
    if "facility_id" not in out.columns:
        if "id" in out.columns and out["id"].notna().all() and out["id"].is_unique:
            out["facility_id"] = out["id"].astype(str)
        else:
            out["facility_id"] = [f"F{i + 1:04d}" for i in range(len(out))]
    out["facility_id"] = out["facility_id"].astype(str)
    if not out["facility_id"].is_unique:
        dup = out["facility_id"][out["facility_id"].duplicated()].iloc[0]
        msg = f"facility_id {dup!r} appears twice; make facility ids unique"
        raise InputError(msg)
    if "name" not in out.columns:
        out["name"] = out["facility_id"]
    out["name"] = out["name"].astype(object).where(out["name"].notna(), out["facility_id"])
    raw = out["type"] if "type" in out.columns else pd.Series(None, index=out.index, dtype=object)
    norm = raw.map(_normalise_type)
    unknown = raw.notna() & (norm == "facility") & (raw.astype(str).str.lower() != "facility")
    if unknown.any():
        log.warning(
            "%d facilities have an unknown type (%s); kept as generic 'facility'",
            int(unknown.sum()),
            ", ".join(sorted(set(map(str, raw[unknown])))[:5]),
        )
    changed = raw.notna() & (raw.astype(str) != norm)
    if changed.any():
        out["type_raw"] = raw
    out["type"] = norm
    out["type_zh"] = norm.map(FACILITY_TYPE_NAMES_ZH)
    for col in ("area_m2", "capacity"):
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out.columns else np.nan
    return out
