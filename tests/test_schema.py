"""The one schema: target columns, labels, units, formats and internal columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geogrid import schema
from geogrid.errors import InputError
from geogrid.settings import Target


def test_target_columns_follow_the_targets():
    cols = schema.target_columns("20min,800m")
    assert [c.key for c in cols] == ["20min", "800m"]
    assert cols[0].within == "within_20min"
    assert cols[0].coverage == "coverage_20min"
    assert cols[0].uncovered_hh == "uncovered_hh_20min"
    assert cols[1].covered_hh == "covered_hh_800m"
    assert schema.within_col(Target("1km", metres=1000)) == "within_1km"
    assert schema.target_key(" 20 Min") == "20min"
    with pytest.raises(InputError):
        schema.target_key("twenty")


def test_target_labels_and_found_targets():
    assert schema.target_label("15min", "zh") == "15分钟"
    assert schema.target_label("1km", "en") == "1 km"
    assert schema.target_label("800m", "zh") == "800米"
    cols = ["name", "within_20min", "coverage_20min", "coverage_1km", "coverage_before"]
    assert schema.targets_in(cols) == ["20min", "1km"]
    assert schema.primary_target(cols) == "20min"
    assert schema.primary_target(["coverage_1km", "coverage_15min"]) == "15min"
    assert schema.primary_target(["name"]) is None


@pytest.mark.parametrize(
    ("col", "zh", "en"),
    [
        ("within_20min", "20分钟内", "Within 20 min"),
        ("coverage_20min", "20分钟覆盖率", "20 min coverage"),
        ("uncovered_hh_20min", "20分钟外户数", "Households beyond 20 min"),
        ("covered_hh_5min", "5分钟内户数", "Households within 5 min"),
        ("coverage_1km", "1公里覆盖率", "1 km coverage"),
        ("dist_m_station", "到最近党群服务站距离", "Walk to nearest party-mass service station"),
        ("households", "户数", "Households"),
    ],
)
def test_labels_built_from_columns(col, zh, en):
    assert schema.column_label(col, "zh") == zh
    assert schema.column_label(col, "en") == en


def test_every_raw_column_the_issue_lists_has_labels():
    raw = [
        "units", "covered_hh_5min", "mean_walk_min", "p90_walk_min", "n_facilities",
        "circle_overstatement_hh", "polsby_popper", "in_band", "workload_h_month", "active",
        "m2_per_100hh",
    ]  # fmt: skip
    for col in raw:
        zh = schema.column_label(col, "zh")
        assert zh != col and not any("a" <= ch <= "z" for ch in zh), col
        assert schema.column_label(col, "en") != col
    for col in ("type_zh", "source", "solver", "snap_m", "type"):
        assert schema.is_internal(col)


def test_units_and_formats():
    assert schema.unit("households") == "户"
    assert schema.unit("coverage_20min") == "%"
    assert schema.unit("dist_m") == "米"
    assert schema.unit("dist_m", "en") == "m"
    assert schema.unit("mean_walk_min") == "分钟"
    assert schema.unit("area_km2") == "km²"
    assert schema.unit("area_m2") == "m²"
    assert schema.unit("population") == "人"
    assert schema.excel_format("households") == "#,##0"
    assert schema.excel_format("party_members") == "#,##0"
    assert schema.excel_format("coverage_15min") == "0.0%"
    assert schema.excel_format("dist_m") == "#,##0"
    assert schema.excel_format("p90_walk_min") == "0.0"
    assert schema.excel_format("area_km2") == "0.00"
    assert schema.excel_format("name") is None
    fmts = {k.excel for k in schema.KINDS.values()}
    assert "#,##0.##" not in fmts
    assert schema.header("dist_m", "zh") == "步行距离(米)"
    assert schema.header("area_km2", "en") == "Area (km²)"


def test_format_value():
    assert schema.format_value("households", 2182.97) == "2,183 户"
    assert schema.format_value("households", np.float64(499.0), "en") == "499 households"
    assert schema.format_value("coverage_20min", 0.39744) == "39.7%"
    assert schema.format_value("dist_m", 1461.6) == "1,462 米"
    assert schema.format_value("walk_min", 24.04, "en") == "24.0 min"
    assert schema.format_value("area_km2", 0.0645) == "0.06km²"
    assert schema.format_value("within_15min", np.True_) == "是"
    assert schema.format_value("overloaded", False, "en") == "no"
    assert schema.format_value("type", "station") == "党群服务站"
    assert schema.format_value("households", math.nan) == "—"
    assert schema.format_value("households", None) == "—"
    assert schema.format_value("name", "友谊十二社区") == "友谊十二社区"


def test_visible_columns():
    cols = ["facility_id", "name", "type", "type_name", "type_zh", "snap_m", "source",
            "nearest_id", "nearest_name", "reason_zh", "reason_en", "fix_zh", "备注"]  # fmt: skip
    assert schema.visible_columns(cols, "zh") == [
        "facility_id", "name", "type_name", "nearest_name", "reason_zh", "fix_zh", "备注",
    ]  # fmt: skip
    assert schema.visible_columns(cols, "en") == [
        "facility_id", "name", "type_name", "nearest_name", "reason_en", "备注",
    ]  # fmt: skip
    assert schema.visible_columns(["nearest_id"], "zh") == ["nearest_id"]


def test_reason_columns_and_layers():
    assert schema.reason_column("zh") == "reason_zh"
    assert schema.fix_column("en") == "fix_en"
    assert schema.layer_label("gaps", "en") == "Coverage gaps"
    assert schema.layer_label("unknown", "zh") == "unknown"
    with pytest.raises(InputError, match="lang='zh'"):
        schema.column_label("households", "fr")
