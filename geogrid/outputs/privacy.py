"""Keep household-level personal data out of maps and reports.

Governance ledgers (台账) often carry a householder's name, phone number, ID card number, home
address or birth date next to the building a household lives in. None of that belongs on a map
that is e-mailed around or a report that is printed, so maps and reports drop every column whose
name matches :data:`PERSONAL_FIELDS` and aggregate household-level point layers to buildings,
unless the user passes ``include_personal=True``.

Column names are not enough: a ``manager`` or ``备注`` column may hold "张三 13800138000". So
the values of every text (and integer) column are scanned too (:func:`scan_personal`) for
Chinese mobile numbers (``1[3-9]`` and 9 more digits, optionally ``+86``), landlines with an
area code (``0471-1234567``, ``(010)12345678``), 18-digit resident ID numbers whose check digit
is right (GB 11643), and person names written next to such a number. A column where at least
half of the filled values hold such data is dropped; elsewhere the number and the name next to
it are replaced by ``***``. What was withheld is logged as a warning and counted in
``attrs["personal_withheld"]`` (reports print the count).

The files the commands write pass through one :class:`ExportGuard`, which applies the same
rules to every layer and table, aggregates a household-level ``demand`` layer to buildings, and
counts what it withheld over the whole run (one warning; ``run.json`` and the summary).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.study.households import whole_numbers

logger = logging.getLogger(__name__)

__all__ = [
    "COUNT_COLUMNS",
    "HOUSEHOLD_LAYERS",
    "MASK",
    "PERSONAL_FIELDS",
    "ExportGuard",
    "PersonalScan",
    "aggregate_households",
    "describe_withheld",
    "drop_personal",
    "is_household_level",
    "personal_columns",
    "protect",
    "mask_text",
    "scan_personal",
    "withheld",
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


#: What replaces a masked phone number, ID number or person name.
MASK = "***"

_SEP = r"[\s:：,，;；/、()（）\-]*"
_MOBILE = r"(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
_LANDLINE = r"(?:\(0[1-9]\d{1,2}\)\s?|0[1-9]\d{1,2}[\s-]?)[2-9]\d{6,7}(?:(?:-|转)\d{1,5})?"
_IDCARD = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_NUMBER = re.compile(
    # not inside a longer number, a code or a decimal (coordinates in WKT text)
    rf"(?<![0-9A-Za-z_.])(?:(?P<id>{_IDCARD})|(?P<phone>{_MOBILE}|{_LANDLINE}))"
    r"(?![0-9A-Za-z_]|\.\d)"
)
_CJK_BEFORE = re.compile(rf"([\u4e00-\u9fff·]{{2,12}}){_SEP}$")
_CJK_AFTER = re.compile(rf"^{_SEP}([\u4e00-\u9fff·]{{2,4}})")
_LABEL_BEFORE = re.compile(
    rf"(?:联系|办公|固定|移动)?(?:电话|手机|手机号|号码|电话号码|身份证号?|证件号码?|联系方式|"
    rf"tel|phone|mobile|id){_SEP}$",
    re.IGNORECASE,
)
#: Common Chinese surnames (single and compound): the first characters of a person's name.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
)
#: Last characters of place and organisation names, which are not person names.
_NOT_NAME_END = set(
    "区街道路巷弄村镇乡站点楼栋号室院园苑府城场馆所局委会部处科队门店中心社厦庭里湾"
)


def _is_person_name(text: str) -> bool:
    """Whether ``text`` looks like a Chinese person's name (2-4 characters, a surname)."""
    if not 2 <= len(text) <= 4 or text[-1] in _NOT_NAME_END:
        return False
    if text[:2] in _COMPOUND_SURNAMES:
        return len(text) >= 3
    return text[0] in _SURNAMES and len(text) <= 3


def _id_checksum_ok(number: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def _name_before(text: str) -> tuple[int, int] | None:
    label = _LABEL_BEFORE.search(text)
    if label is not None:  # "李四，电话 0472-..." : the name comes before the label
        text = text[: label.start()]
    m = _CJK_BEFORE.search(text)
    if m is None:
        return None
    run = m.group(1)
    for size in (4, 3, 2):  # the longest tail of the run that is a name: "联系人张三" -> "张三"
        if len(run) >= size and _is_person_name(run[-size:]):
            return m.start(1) + len(run) - size, m.end(1)
    return None


def _name_after(text: str, offset: int) -> tuple[int, int] | None:
    m = _CJK_AFTER.search(text[offset:])
    if m is None:
        return None
    run = m.group(1)
    for size in (4, 3, 2):
        if len(run) >= size and _is_person_name(run[:size]):
            return offset + m.start(1), offset + m.start(1) + size
    return None


def _personal_spans(text: str) -> list[tuple[int, int]]:
    """Spans of phone and ID numbers in ``text`` and of person names right next to them."""
    spans: list[tuple[int, int]] = []
    for m in _NUMBER.finditer(text):
        if m.group("id") is not None and not _id_checksum_ok(m.group("id")):
            continue
        spans.append(m.span())
        before = _name_before(text[: m.start()])
        if before is not None:
            spans.append(before)
        after = _name_after(text, m.end())
        if after is not None:
            spans.append(after)
    return spans


def mask_text(text: str) -> tuple[str, int]:
    """``text`` with phone/ID numbers and the names next to them replaced by :data:`MASK`.

    Returns
    -------
    str, int
        The masked text and how many numbers were found.

    """
    spans = sorted(_personal_spans(text))
    if not spans:
        return text, 0
    out, pos, n = [], 0, 0
    for start, end in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
        n += 1
    out.append(text[pos:])
    return "".join(out), n


@dataclass
class PersonalScan:
    """What :func:`scan_personal` found in a table.

    Attributes
    ----------
    drop : columns to leave out (named like personal data, mostly phone/ID values, or person
        names next to such a column).
    masked : column -> {row label: masked text} for the other values holding phone/ID numbers.
    reasons : column -> why it is withheld.

    """

    drop: list[str] = field(default_factory=list)
    masked: dict[str, dict[object, str]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def n_values(self) -> int:
        """Number of masked values."""
        return sum(len(v) for v in self.masked.values())


#: Integer columns named like identifiers (OSM node ids will soon look like mobile numbers).
_ID_NAME = re.compile(r"(?:^|_)(?:id|osmid|u|v|key|code|index|fid)$|id$", re.IGNORECASE)


def _text_values(series: pd.Series) -> pd.Series | None:
    """Non-empty values of a text or integer column as strings; None for other columns."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_float_dtype(series):
        return None
    if pd.api.types.is_integer_dtype(series) and _ID_NAME.search(str(series.name)):
        return None
    if not (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_integer_dtype(series)
    ):
        return None
    values = series.dropna()
    values = values[[not isinstance(v, (bytes, float)) for v in values]]
    return values.astype(str)[values.astype(str).str.strip() != ""]


#: Share of a column's values that must look like person names for it to be withheld.
PERSON_NAME_SHARE = 0.8


def _scan_names(scan: PersonalScan, texts: dict[str, pd.Series]) -> None:
    """Withhold text columns whose values are mostly person names."""
    for name, values in texts.items():
        if name in scan.drop or name in scan.masked:
            continue
        if values.str.strip().map(_is_person_name).mean() >= PERSON_NAME_SHARE:
            scan.drop.append(name)
            scan.reasons[name] = "person names"


def scan_personal(gdf: pd.DataFrame) -> PersonalScan:
    """Find the personal data of a table by column name and by value.

    Parameters
    ----------
    gdf : DataFrame or GeoDataFrame
        Any table.

    Returns
    -------
    PersonalScan

    """
    scan = PersonalScan()
    geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
    for col in personal_columns(gdf.columns):
        if col != geom:
            scan.drop.append(col)
            scan.reasons[col] = "column name"
    texts: dict[str, pd.Series] = {}
    for col in gdf.columns:
        name = str(col)
        if col == geom or name in scan.drop:
            continue
        values = _text_values(gdf[col])
        if values is None or len(values) == 0:
            continue
        texts[name] = values
        hits = {}
        for value in values.unique():
            new, n = mask_text(value)
            if n:
                hits[value] = new
        if not hits:
            continue
        replaced = values.map(hits)
        replaced = replaced[replaced.notna()]
        masked: dict[object, str] = dict(zip(replaced.index, replaced.tolist(), strict=True))
        if 2 * len(masked) >= len(values):
            scan.drop.append(name)
            scan.reasons[name] = "phone or ID numbers"
        else:
            scan.masked[name] = masked
            scan.reasons[name] = "phone or ID numbers in some values"
    if scan.drop or scan.masked:  # person names in a column next to personal ones
        _scan_names(scan, texts)
    order = {str(c): i for i, c in enumerate(gdf.columns)}
    scan.drop.sort(key=lambda c: order.get(c, 0))
    return scan


def withheld(gdf: pd.DataFrame) -> dict[str, int]:
    """Count what :func:`drop_personal` left out of ``gdf``: ``{"columns": n, "values": n}``."""
    info = gdf.attrs.get("personal_withheld") or {}
    return {"columns": len(info.get("columns", ())), "values": int(info.get("values", 0))}


def personal_columns(columns: Iterable[object]) -> list[str]:
    """Names in ``columns`` that match :data:`PERSONAL_FIELDS` (in their original order)."""
    return [str(c) for c in columns if _PATTERN.search(str(c))]


def _withhold(gdf: pd.DataFrame) -> tuple[pd.DataFrame, PersonalScan]:
    """``gdf`` without the columns :func:`scan_personal` drops and with its masks applied."""
    scan = scan_personal(gdf)
    by_label = {str(c): c for c in gdf.columns}
    out = gdf.drop(columns=[by_label[c] for c in scan.drop])
    for name, masked in scan.masked.items():
        col = by_label[name]
        values = out[col].astype("object").copy()
        values.loc[list(masked)] = list(masked.values())
        out[col] = values
    out.attrs = dict(gdf.attrs)
    prior = gdf.attrs.get("personal_withheld") or {}
    out.attrs["personal_withheld"] = {
        "columns": sorted({*prior.get("columns", ()), *scan.drop}),
        "values": int(prior.get("values", 0)) + scan.n_values,
    }
    return out, scan


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
        The same type, without the columns :func:`scan_personal` drops and with the phone/ID
        numbers (and the names next to them) it finds elsewhere masked; ``attrs
        ["personal_withheld"]`` says what was left out.

    """
    if include_personal:
        return gdf.copy()
    out, scan = _withhold(gdf)
    by_content = [c for c in scan.drop if scan.reasons[c] != "column name"]
    if by_content or scan.masked:
        logger.warning(
            "withheld personal data: %s%s; pass include_personal=True (--include-personal) "
            "to keep it",
            ", ".join(f"column {c!r} ({scan.reasons[c]})" for c in scan.drop) or "no column",
            f" and {scan.n_values} masked value(s) in {', '.join(map(repr, scan.masked))}"
            if scan.masked
            else "",
        )
    elif scan.drop:
        logger.info(
            "left out %d personal column(s): %s", len(scan.drop), ", ".join(map(repr, scan.drop))
        )
    return out


def _building_keys(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """One key per building: its id (OSM type and id), else its geometry.

    Rows without an id (compound or raster-cell units appended to OSM buildings) are keyed by
    their geometry, so they never share the key of every other row without one.
    """
    geom = np.asarray(["g:" + k for k in shapely.to_wkb(np.asarray(gdf.geometry.values), hex=True)])
    for col in ("building_id", "osmid", "compound_building_id"):
        if col in gdf.columns:
            ids = gdf[col]
            keys = "i:" + ids.astype(str)
            if col == "osmid" and "osm_type" in gdf.columns:  # way 5 and relation 5 differ
                keys = "i:" + gdf["osm_type"].astype(str) + "/" + ids.astype(str)
            return np.where(ids.notna().to_numpy(), keys.to_numpy(dtype=object), geom)
    return geom


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


#: Numeric columns that count people or households: summed over a building's households.
COUNT_COLUMNS = frozenset(
    {
        "households",
        "households_est",
        "population",
        "population_est",
        "persons",
        "party_members",
        "elderly",
    }
)


def aggregate_households(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Aggregate a household-level layer to one row per building.

    ``households`` is summed (each row counts as one household when the column is missing),
    boolean columns (``within_*``) are true when true for every household of the building,
    counts (:data:`COUNT_COLUMNS`: ``party_members``, ``population``) are summed; other
    columns are kept only when constant within every building (a walking time, a nearest
    facility) and not personal.
    """
    return _aggregate(gdf, drop_personal(gdf))


def _aggregate(gdf: gpd.GeoDataFrame, base: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Aggregate ``base`` (``gdf`` without its personal columns) to one row per building."""
    keys = _building_keys(gdf)
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
        elif pd.api.types.is_numeric_dtype(series) and col in COUNT_COLUMNS:
            frame[col] = series.to_numpy()
            agg[col] = "sum"
        else:
            frame[col] = series.astype("object").to_numpy()
            agg[col] = "first"
    grouped = frame.groupby("_key", sort=False)
    out = grouped.agg(agg)
    # columns that vary inside a building are household details: leave them out
    for col, how in agg.items():
        if how == "first" and (grouped[col].nunique(dropna=False) > 1).any():
            out = out.drop(columns=col)
    for col in out.columns:  # numbers kept as "first" come back as objects
        if col in base.columns and agg.get(col) == "first":
            out[col] = out[col].astype(base[col].dtype)
    first = pd.Series(np.arange(len(frame)), index=frame.index).groupby(frame["_key"], sort=False)
    geoms = base.geometry.to_numpy()[first.first().to_numpy()]
    result = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=list(geoms), crs=gdf.crs)
    result.attrs = {**base.attrs, "level": "building"}
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


#: Layer names that may hold one row per household (aggregated to buildings in exports):
#: the demand layer and the demand units ``geogrid grids`` writes with their grid codes.
HOUSEHOLD_LAYERS = frozenset({"demand", "units"})


@dataclass
class ExportGuard:
    """The one gate every layer and table a command writes passes through.

    Unless ``include_personal``, each layer loses the columns :func:`scan_personal` drops
    (named like personal data, or holding phone/ID numbers or person names next to them),
    gets the other phone/ID numbers masked, and a household-level layer named in
    :data:`HOUSEHOLD_LAYERS` is aggregated to buildings (:func:`aggregate_households`).
    The guard counts what it withheld over all files; :meth:`warn` logs it as one warning
    and :meth:`withheld` returns it for the run's manifest and summary.

    Parameters
    ----------
    include_personal : bool
        ``True`` writes every layer as it is (the user asked for personal data).

    Examples
    --------
    >>> guard = ExportGuard()
    >>> guard.write_layers(out / "coverage.gpkg", res.layers())  # doctest: +SKIP
    >>> guard.warn()  # doctest: +SKIP

    """

    include_personal: bool = False
    columns: dict[str, list[str]] = field(default_factory=dict)
    values: int = 0
    household_rows: int = 0
    buildings: int = 0

    def protect_layer(self, name: str, gdf: pd.DataFrame, *, where: str = "") -> pd.DataFrame:
        """Return layer ``name`` as it may be written; ``where`` names the file in the counts.

        Household and person counts are whole numbers in every file
        (:func:`geogrid.study.households.whole_numbers`).
        """
        gdf = whole_numbers(gdf)
        if self.include_personal:
            return gdf
        household = (
            name in HOUSEHOLD_LAYERS
            and isinstance(gdf, gpd.GeoDataFrame)
            and len(gdf) > 0
            and is_household_level(gdf)
        )
        out, scan = _withhold(gdf)
        if household:
            agg = _aggregate(gdf, out)
            self.household_rows += len(gdf)
            self.buildings += len(agg)
            out = agg
        label = f"{where}:{name}" if where else name
        for col in scan.drop:
            self.columns.setdefault(col, []).append(label)
        self.values += scan.n_values
        return out

    def protect_layers(
        self, layers: Mapping[str, pd.DataFrame], *, where: str = ""
    ) -> dict[str, pd.DataFrame]:
        """Return every layer of ``layers`` through :meth:`protect_layer`."""
        return {k: self.protect_layer(k, v, where=where) for k, v in layers.items()}

    def write_layers(
        self, path: str | os.PathLike[str], layers: Mapping[str, pd.DataFrame]
    ) -> Path:
        """Protect ``layers`` and write them into one GeoPackage (see ``io.write_layers``)."""
        from geogrid.io.writers import write_layers

        target = Path(path)
        return write_layers(target, self.protect_layers(layers, where=target.name))

    def write_table(self, df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
        """Protect ``df`` and write it as CSV or xlsx (see ``io.write_table``)."""
        from geogrid.io.writers import write_table

        target = Path(path)
        return write_table(self.protect_layer(target.stem, df, where=target.name), target)

    def withheld(self) -> dict[str, Any]:
        """Return what was withheld: column names, masked values, household rows aggregated.

        Keys ``columns`` (sorted names), ``values``, ``household_rows`` and ``buildings``;
        with ``include_personal`` just ``{"include_personal": True}``.
        """
        if self.include_personal:
            return {"include_personal": True}
        return {
            "columns": sorted(self.columns),
            "values": self.values,
            "household_rows": self.household_rows,
            "buildings": self.buildings,
        }

    def warn(self) -> str | None:
        """Log what was withheld as one warning (column names quoted with repr).

        Returns
        -------
        str or None
            The message, or None when nothing was withheld.

        """
        text = describe_withheld(self.withheld())
        if text is None:
            return None
        msg = f"withheld personal data from the outputs: {text}; pass --include-personal to keep it"
        logger.warning("%s", msg)
        return msg


def describe_withheld(info: Mapping[str, Any]) -> str | None:
    """One line naming what :meth:`ExportGuard.withheld` reports; None when nothing was."""
    parts = []
    cols = list(info.get("columns") or ())
    if cols:
        parts.append(f"{len(cols)} column(s) left out ({', '.join(map(repr, cols))})")
    if info.get("values"):
        parts.append(f"{int(info['values'])} phone/ID value(s) masked as {MASK}")
    if info.get("household_rows"):
        parts.append(
            f"{int(info['household_rows'])} household rows aggregated to "
            f"{int(info.get('buildings', 0))} buildings"
        )
    return "; ".join(parts) or None
