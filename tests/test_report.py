"""Reports: Excel ledger, summary, static PNG map, publish; and the privacy filter."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
from _maplayers import XSS, make_layers
from openpyxl import load_workbook
from PIL import Image

import geogrid.outputs.static_map
from geogrid.errors import InputError
from geogrid.outputs.figures import key_figures as summary
from geogrid.outputs.markdown import write_summary
from geogrid.outputs.privacy import (
    aggregate_households,
    drop_personal,
    is_household_level,
    personal_columns,
)
from geogrid.outputs.publish import publish
from geogrid.outputs.static_map import static_map
from geogrid.outputs.workbook import write_report
from geogrid.schema import COLUMN_LABELS


@pytest.fixture(scope="module")
def layers() -> dict[str, gpd.GeoDataFrame]:
    return make_layers()


def test_personal_columns_found():
    cols = [
        "name",
        "户主姓名",
        "phone",
        "联系电话",
        "身份证号",
        "id_card",
        "usage",
        "age",
        "birth_date",
        "mobile_no",
        "households",
        "within_15min",
        "type",
        "page",
        "家庭住址",
        "contact_name",
        "stage",
        "负责人",
    ]
    assert personal_columns(cols) == [
        "户主姓名",
        "phone",
        "联系电话",
        "身份证号",
        "id_card",
        "age",
        "birth_date",
        "mobile_no",
        "家庭住址",
        "contact_name",
        "负责人",
    ]


def test_drop_personal_keeps_input(layers):
    dem = layers["demand"]
    out = drop_personal(dem)
    assert "户主姓名" not in out and "phone" not in out and "户主姓名" in dem
    assert list(drop_personal(dem, include_personal=True).columns) == list(dem.columns)


def test_household_rows_aggregate_to_buildings(layers):
    dem = layers["demand"]
    assert not is_household_level(dem)
    rows = dem.loc[dem.index.repeat(2)].reset_index(drop=True)
    rows["households"] = 1
    assert is_household_level(rows)
    agg = aggregate_households(rows)
    assert len(agg) == len(dem)
    assert agg["households"].sum() == pytest.approx(2 * len(dem))
    assert "phone" not in agg and "户主姓名" not in agg
    assert agg.attrs["level"] == "building"
    marked = dem.copy()
    marked.attrs["level"] = "household"
    assert is_household_level(marked)


def test_summary_figures(layers):
    fig = summary(layers)
    dem = layers["demand"]
    hh = dem["households"].to_numpy(dtype=float)
    inside = dem["within_15min"].to_numpy()
    assert fig["households"] == int(hh.sum())
    assert fig["coverage_15min"] == pytest.approx(hh[inside].sum() / hh.sum(), abs=1e-4)
    assert fig["uncovered_hh_15min"] == int(hh[~inside].sum())
    assert fig["n_facilities"] == 5 and fig["n_station"] == 1 and fig["n_overloaded"] == 2
    assert fig["n_grids"] == 8 and fig["grids_outside_band"] == 4
    assert fig["grid_households_max"] == 520
    assert fig["n_gaps"] == 1 and fig["gap_households"] == 540
    assert fig["n_sites"] == 2 and fig["gain_households"] == 540
    # personal columns the outputs leave out are counted (facilities' 负责人电话, demand's
    # 户主姓名 and phone), not when the user keeps them
    assert fig["personal_columns_withheld"] == 3
    assert "personal_columns_withheld" not in summary(layers, include_personal=True)
    # without demand, coverage comes from the communities, household-weighted
    no_demand = {k: v for k, v in layers.items() if k != "demand"}
    fig2 = summary(no_demand)
    assert fig2["coverage_15min"] == pytest.approx((1200 * 0.92 + 900 * 0.40) / 2100, abs=1e-4)


def test_workbook(layers, tmp_path):
    path = write_report(layers, tmp_path / "台账.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["台账.xlsx"]
    wb = load_workbook(path)
    assert wb.sheetnames == [
        "汇总",
        "社区",
        "网格",
        "服务设施",
        "未覆盖小区",
        "覆盖缺口",
        "选址结果",
    ]
    ws = wb["服务设施"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["设施编号", "名称", "类型代码"]
    assert COLUMN_LABELS["served_households"][0] in headers
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width >= 20  # long Chinese names
    names = [ws.cell(row=r, column=2).value for r in range(2, ws.max_row + 1)]
    assert XSS in names  # Excel is not HTML: the text is kept as it is
    formula = next(c for c in ws["B"][1:] if str(c.value).startswith("="))
    assert formula.data_type == "s"  # text from a user file never becomes a formula
    every_value = {str(c.value) for s in wb for row in s.iter_rows() for c in row}
    assert "13800000000" not in every_value and "13900000000" not in every_value
    assert not any("电话" in v or "姓名" in v for v in every_value)
    comm = wb["社区"]
    cov_col = [c.value for c in comm[1]].index("15分钟覆盖率") + 1
    assert comm.cell(row=2, column=cov_col).number_format == "0.0%"
    assert comm.cell(row=2, column=cov_col).value == pytest.approx(0.92)
    # uncovered compounds: grouped by compound, households add up
    unc = wb["未覆盖小区"]
    head = [c.value for c in unc[1]]
    assert head[0] == "小区编号" and "楼栋数" in head
    dem = layers["demand"]
    missing = dem[~dem["within_15min"]]
    assert unc.max_row - 1 == missing["compound_id"].nunique()
    hh_col = head.index("户数") + 1
    total = sum(unc.cell(row=r, column=hh_col).value for r in range(2, unc.max_row + 1))
    assert total == int(missing["households"].sum())
    summ = wb["汇总"]
    labels = {
        summ.cell(row=r, column=1).value: summ.cell(row=r, column=2).value
        for r in range(3, summ.max_row + 1)
    }
    assert labels["服务设施数"] == 5 and labels["超负荷设施数"] == 2


def test_workbook_english_and_errors(layers, tmp_path):
    path = write_report(layers, tmp_path / "ledger.xlsx", lang="en", summary=False)
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "Communities"
    assert [c.value for c in wb["Grids"][1]][0] == "Grid code"
    with pytest.raises(InputError, match=r"\.xlsx"):
        write_report(layers, tmp_path / "ledger.csv")
    with pytest.raises(InputError, match="lang"):
        write_report(layers, tmp_path / "x.xlsx", lang="fr")
    with pytest.raises(InputError, match="nothing to report"):
        write_report({}, tmp_path / "x.xlsx", summary=False)


def test_static_map_png(layers, tmp_path):
    path = static_map(layers, tmp_path / "map.png", title="昆都仑区")
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    # fitted to the 2:1 district (no fixed 1500x1200 canvas that was two thirds white)
    assert img.shape[0] > 500 and img.shape[1] > 2 * img.shape[0]
    non_white = (np.abs(img - 255).sum(axis=2) > 30).mean()
    assert non_white > 0.4


def test_static_map_without_cjk_font_is_quiet(layers, tmp_path, monkeypatch):
    monkeypatch.setattr(geogrid.outputs.static_map, "cjk_font", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing-glyph warning would fail the test
        path = static_map(layers, tmp_path / "map_en.png", lang="zh")
    assert path.stat().st_size > 10_000


def test_summary_page(layers, tmp_path):
    md = write_summary(layers, tmp_path / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("# ") and "| 服务设施数 | 5 |" in md and "15分钟步行覆盖率" in md
    page = write_summary(layers, tmp_path / "summary.html", lang="en").read_text(encoding="utf-8")
    assert "<table>" in page and "Facilities" in page
    with pytest.raises(InputError, match=r"\.md"):
        write_summary(layers, tmp_path / "summary.txt")


def test_publish_writes_everything(layers, tmp_path):
    out = publish(layers, tmp_path / "demo", title="演示")
    assert set(out) == {"map", "map_offline", "png", "report", "summary"}
    assert out["map"] == tmp_path / "demo" / "maps" / "demo.html"
    assert out["map_offline"] == tmp_path / "demo" / "maps" / "demo_offline.html"
    assert out["report"] == tmp_path / "demo" / "report.xlsx"
    for path in out.values():
        assert path.stat().st_size > 0
    offline = out["map_offline"].read_text(encoding="utf-8")
    assert "<script src=" not in offline and "L.tileLayer" not in offline
