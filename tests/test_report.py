"""Reports: Excel ledger, summary, static PNG map, publish; and the privacy filter."""

from __future__ import annotations

import re
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


def _rows(ws, first=4):
    """Data rows of a table sheet (below title, unit/date line and header; without 合计)."""
    return list(ws.iter_rows(min_row=first, max_row=ws.max_row - 1, values_only=True))


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
    headers = [c.value for c in ws[3]]
    # 类型 once, by name: no 类型代码 column (issue 11)
    assert headers[:3] == ["设施编号", "名称", "类型"]
    assert "类型代码" not in headers and headers.count("类型") == 1
    assert COLUMN_LABELS["served_households"][0] in headers
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["B"].width >= 20  # long Chinese names
    names = [row[1] for row in _rows(ws)]
    assert XSS in names  # Excel is not HTML: the text is kept as it is
    formula = next(c for c in ws["B"][3:] if str(c.value).startswith("="))
    assert formula.data_type == "s"  # text from a user file never becomes a formula
    every_value = {str(c.value) for s in wb for row in s.iter_rows() for c in row}
    assert "13800000000" not in every_value and "13900000000" not in every_value
    assert not any("电话" in v or "姓名" in v for v in every_value)
    comm = wb["社区"]
    cov_col = [c.value for c in comm[3]].index("15分钟覆盖率") + 1
    assert comm.cell(row=4, column=cov_col).number_format == "0.0%"
    assert comm.cell(row=4, column=cov_col).value == pytest.approx(0.92)
    # uncovered compounds: grouped by compound, households add up
    unc = wb["未覆盖小区"]
    head = [c.value for c in unc[3]]
    assert head[0] == "小区编号" and "楼栋数" in head
    dem = layers["demand"]
    missing = dem[~dem["within_15min"]]
    assert len(_rows(unc)) == missing["compound_id"].nunique()
    hh_col = head.index("户数")
    total = sum(row[hh_col] for row in _rows(unc))
    assert total == int(missing["households"].sum())
    assert unc.cell(row=unc.max_row, column=hh_col + 1).value == total
    summ = wb["汇总"]
    labels = {
        summ.cell(row=r, column=1).value: summ.cell(row=r, column=2).value
        for r in range(4, summ.max_row + 1)
    }
    assert labels["服务设施数"] == 5 and labels["超负荷设施数"] == 2
    assert "#,##0.##" not in {c.number_format for s in wb for row in s.iter_rows() for c in row}


#: A raw column name (snake_case or a single lower-case word) left in a header.
RAW = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_workbook_headers_titles_and_print_setup(layers, tmp_path, lang):
    wb = load_workbook(write_report(layers, tmp_path / "r.xlsx", lang=lang))
    for ws in wb:
        title, line = ws["A1"].value, ws["A2"].value
        assert title and (ws.title in title or ws.title in {"汇总", "Summary"})
        assert "2000-01-01" in line  # the run's fixed date, never the clock
        headers = [c.value for c in ws[3] if c.value is not None]
        raw = [h for h in headers if RAW.match(str(h))]
        assert raw == [], (ws.title, raw)
        if lang == "zh":
            assert all(re.search("[\u4e00-\u9fff]", str(h)) for h in headers), headers
        # print setup: A4, fitted to the page width, header rows repeated on every page
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
        assert ws.print_title_rows == "$1:$3"
        assert ws.page_margins.left <= 0.5
        if ws.title not in {"汇总", "Summary"}:
            assert ws.page_setup.orientation == "landscape"
    facilities = wb["服务设施" if lang == "zh" else "Facilities"]
    assert [c.value for c in facilities[3]][2] == ("类型" if lang == "zh" else "Type")
    assert "m²" in facilities["A2"].value


@pytest.fixture(scope="module")
def run20():
    """The demo district's coverage with a custom 20-minute target only."""
    from geogrid.analyses.coverage.engine import run_coverage
    from geogrid.demo import make_district
    from geogrid.network.build import network_from_ways

    d = make_district(n_communities=3, seed=1)
    net = network_from_ways(d.ways, residential=d.compounds)
    res = run_coverage(net, d.buildings, d.facilities, communities=d.communities, targets="20min")
    return res.layers()


def test_workbook_totals_reconcile_and_custom_target(run20, tmp_path):
    wb = load_workbook(write_report(run20, tmp_path / "r.xlsx"))
    summ = {
        r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=4, values_only=True) if r[0] is not None
    }
    assert "20分钟步行覆盖率" in summ and "20分钟外户数" in summ
    assert not any("15分钟" in str(k) for k in summ)
    comm = wb["社区"]
    head = [c.value for c in comm[3]]
    assert "20分钟覆盖率" in head and "20分钟外户数" in head
    assert not any("15分钟" in str(h) for h in head)
    total = [c.value for c in comm[comm.max_row]]
    assert total[0] == "合计"
    rows = _rows(comm)
    for label in ("户数", "人口", "党员数", "20分钟外户数", "20分钟内户数"):
        j = head.index(label)
        values = [r[j] for r in rows]
        assert all(isinstance(v, int) for v in values), (label, values)  # whole numbers
        assert total[j] == sum(values), label  # 合计 is the sum
    # the 合计 rows agree with the summary sheet and with each other
    assert total[head.index("户数")] == summ["总户数"]
    assert total[head.index("20分钟外户数")] == summ["20分钟外户数"]
    j = head.index("20分钟覆盖率")
    assert total[j] == pytest.approx(summ["20分钟步行覆盖率"], abs=1e-4)
    hh, out = head.index("户数"), head.index("20分钟外户数")
    inside = head.index("20分钟内户数")
    assert all(r[hh] == r[out] + r[inside] for r in rows)
    for ws in wb:
        for row in ws.iter_rows(min_row=4):
            for c in row:
                if c.number_format == "#,##0" and isinstance(c.value, float):
                    assert c.value.is_integer() or "°" in ws["A2"].value, (ws.title, c.value)


def test_workbook_same_bytes(run20, tmp_path):
    a = write_report(run20, tmp_path / "a.xlsx").read_bytes()
    b = write_report(run20, tmp_path / "b.xlsx").read_bytes()
    assert a == b


def test_workbook_english_and_errors(layers, tmp_path):
    path = write_report(layers, tmp_path / "ledger.xlsx", lang="en", summary=False)
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "Communities"
    assert [c.value for c in wb["Grids"][3]][0] == "Grid code"
    assert wb["Grids"].cell(row=wb["Grids"].max_row, column=1).value == "Total"
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
    assert img.shape[0] > 500 and img.shape[1] > 1.8 * img.shape[0]
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
    # the failing communities by name (escaped), with the households beyond the target
    assert "## 未达标社区" in md
    assert "<b>" not in md and "&lt;b\\>钢苑" in md  # a name is text, not HTML
    assert "友谊社区" in md and "| 540 户 |" in md
    assert re.search(r"\| 总户数 \| [0-9,]+ 户 \|", md)  # whole households, with the unit
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


@pytest.mark.parametrize("osm", [True, False])
def test_report_of_an_osm_run_credits_openstreetmap(layers, tmp_path, monkeypatch, osm):
    """Layers read back from a folder lost their source; run.json's OSM input restores the credit."""
    import json

    import matplotlib.pyplot as plt

    from geogrid.io.writers import write_layers
    from geogrid.outputs import publish as pub
    from geogrid.outputs.static_map import map_figure

    folder = tmp_path / "run"
    folder.mkdir()
    keep = ("communities", "facilities", "demand")
    write_layers(folder / "coverage.gpkg", {k: layers[k] for k in keep})
    network = "region.osm.pbf" if osm else "streets.gpkg"
    inputs = {"network": {"path": str(tmp_path / network), "sha256": "0" * 64}}  # moved since
    (folder / "run.json").write_text(
        json.dumps({"geogrid_manifest": 1, "inputs": inputs}), encoding="utf-8"
    )
    drawn = {}

    def capture(data, path, **kwargs):
        drawn.update(data)
        return path

    monkeypatch.setattr(pub, "static_map", capture)
    pub.report_from_results(folder, tmp_path / "report")
    fig = map_figure(drawn)
    texts = [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    assert any("OpenStreetMap" in t and "ODbL" in t for t in texts) == osm
