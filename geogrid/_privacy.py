"""Keep household-level personal data out of maps and reports.

Governance ledgers (台账) often carry a householder's name, phone number, ID card number, home
address or birth date next to the building a household lives in. None of that belongs on a map
that is e-mailed around or a report that is printed, so maps and reports drop every column whose
name matches :data:`PERSONAL_FIELDS` and aggregate household-level point layers to buildings,
unless the user passes ``include_personal=True``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

logger = logging.getLogger(__name__)

__all__ = [
    "PERSONAL_FIELDS",
    "aggregate_households",
    "drop_personal",
    "is_household_level",
    "personal_columns",
    "protect",
]

_B = r"(?:^|[^a-z])"  # an ASCII word start: start of name or a non-letter (_ : space digit)
_E = r"(?:$|[^a-z])"  # an ASCII word end

#: Regular expressions (case-insensitive, searched in column names) of personal fields: a
#: person's name, phone, ID number, home address, birth date and other sensitive attributes.
#: A plain ``name`` column (of a facility, compound or community) is NOT personal.
PERSONAL_FIELDS: tuple[str, ...] = (
    # names of persons
    r"姓名",
    r"户主",
    r"联系人",
    r"负责人",
    r"家属",
    rf"{_B}(?:first|last|full|given|family|sur|person|resident|owner|holder|contact)_?name",
    r"householder",
    r"head_?of_?household",
    # phone and messaging
    r"电话",
    r"手机",
    r"联系方式",
    r"微信",
    r"邮箱",
    r"phone",
    r"mobile",
    rf"{_B}tel{_E}",
    r"telephone",
    r"e-?mail",
    r"wechat",
    rf"{_B}qq{_E}",
    # identity documents
    r"身份证",
    r"证件",
    r"护照",
    r"id_?card",
    rf"{_B}id_?(?:no|num|number){_E}",
    r"national_?id",
    r"passport",
    rf"{_B}ssn{_E}",
    # a person's address
    r"住址",
    r"家庭地址",
    r"居住地址",
    r"户籍",
    r"门牌",
    r"房号",
    r"室号",
    r"home_?addr",
    r"(?:resident|person|household|personal)_?addr",
    r"room_?(?:no|num|number)",
    # birth, age and sensitive attributes
    r"出生",
    r"生日",
    r"年龄",
    r"性别",
    r"民族",
    r"政治面貌",
    r"婚姻",
    r"健康",
    r"残疾",
    r"低保",
    r"收入",
    r"宗教",
    r"birth",
    rf"{_B}dob{_E}",
    rf"{_B}age{_E}",
    r"gender",
    rf"{_B}sex{_E}",
    r"ethnic",
    r"marital",
    r"religio",
    r"disab",
    r"income",
)

_PATTERN = re.compile("|".join(f"(?:{p})" for p in PERSONAL_FIELDS), re.IGNORECASE)


def personal_columns(columns: Iterable[object]) -> list[str]:
    """Names in ``columns`` that match :data:`PERSONAL_FIELDS` (in their original order)."""
    return [str(c) for c in columns if _PATTERN.search(str(c))]


def drop_personal(gdf: pd.DataFrame, *, include_personal: bool = False) -> pd.DataFrame:
    """Return ``gdf`` without its personal columns (a copy; the input is not modified).

    Parameters
    ----------
    gdf : DataFrame or GeoDataFrame
        Any table.
    include_personal : bool
        ``True`` keeps every column (the user asked for personal data explicitly).

    Returns
    -------
    DataFrame or GeoDataFrame
        The same type, without the columns :func:`personal_columns` finds.

    """
    if include_personal:
        return gdf.copy()
    geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    drop = [c for c in personal_columns(gdf.columns) if c != geom]
    if drop:
        logger.info("left out %d personal column(s): %s", len(drop), ", ".join(drop))
    out = gdf.drop(columns=drop)
    out.attrs = dict(gdf.attrs)
    return out


def _building_keys(gdf: gpd.GeoDataFrame) -> np.ndarray:
    for col in ("building_id", "osmid", "compound_building_id"):
        if col in gdf.columns:
            return gdf[col].astype(str).to_numpy()
    return shapely.to_wkb(np.asarray(gdf.geometry.values), hex=True)


def is_household_level(gdf: gpd.GeoDataFrame) -> bool:
    """Whether ``gdf`` has one row per household rather than per building or compound.

    True when ``gdf.attrs["level"] == "household"`` or when a building (``building_id`` column,
    or else the same geometry) has more than one row.
    """
    level = str(gdf.attrs.get("level", "")).lower()
    if level:
        return level == "household"
    if len(gdf) < 2:
        return False
    keys = _building_keys(gdf)
    return bool(pd.Series(keys).duplicated().any())


def aggregate_households(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Aggregate a household-level layer to one row per building.

    ``households`` is summed (each row counts as one household when the column is missing),
    boolean columns (``within_*``) are true when true for every household of the building,
    other numbers are summed when they are counts (``party_members``, ``population``) and
    dropped otherwise; text columns are kept only when constant within a building and not
    personal.
    """
    keys = _building_keys(gdf)
    base = drop_personal(gdf)
    if "households" in base.columns:
        hh = pd.to_numeric(base["households"], errors="coerce").fillna(1.0)
    else:
        hh = pd.Series(1.0, index=base.index)
    frame = pd.DataFrame({"_key": keys, "households": hh.to_numpy()}, index=base.index)
    geom_name = base.geometry.name
    agg: dict[str, object] = {"households": "sum"}
    for col in base.columns:
        if col in {"households", geom_name}:
            continue
        series = base[col]
        if pd.api.types.is_bool_dtype(series):
            frame[col] = series.to_numpy()
            agg[col] = "all"
        elif pd.api.types.is_numeric_dtype(series):
            if col in {"party_members", "population", "persons"}:
                frame[col] = series.to_numpy()
                agg[col] = "sum"
        else:
            frame[col] = series.astype("object").to_numpy()
            agg[col] = "first"
    grouped = frame.groupby("_key", sort=False)
    out = grouped.agg(agg)
    # text columns that vary inside a building are household details: leave them out
    for col, how in agg.items():
        if how == "first" and (grouped[col].nunique(dropna=False) > 1).any():
            out = out.drop(columns=col)
    first = pd.Series(np.arange(len(frame)), index=frame.index).groupby(frame["_key"], sort=False)
    geoms = base.geometry.to_numpy()[first.first().to_numpy()]
    result = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=list(geoms), crs=gdf.crs)
    result.attrs = {**gdf.attrs, "level": "building"}
    logger.info("aggregated %d household rows to %d buildings", len(gdf), len(result))
    return result


def protect(gdf: gpd.GeoDataFrame, *, include_personal: bool = False) -> gpd.GeoDataFrame:
    """Drop personal columns and aggregate a household-level layer to buildings.

    The one call maps and reports make on every user layer. With ``include_personal=True``
    the layer is returned unchanged (a copy).
    """
    if include_personal:
        return gdf.copy()
    if isinstance(gdf, gpd.GeoDataFrame) and is_household_level(gdf):
        return aggregate_households(gdf)
    return drop_personal(gdf)
