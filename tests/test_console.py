"""What the command line prints: a short human summary (zh/en) or --json; global -v."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import geopandas as gpd
import pytest
from _catalogue import coverage_args, demo_inputs, run_cli

from geogrid.outputs.console import coverage_summary, format_summary, to_json

#: A raw key (snake_case) at the start of a printed line.
RAW_KEY = re.compile(r"^[a-z]+(_[a-z0-9]+)+\b", re.M)


def test_format_summary_is_for_people():
    figures = {
        "households": 32561.4,
        "population": 85313.0,
        "demand_units": 499.0,
        "coverage_15min": 0.3974,
        "uncovered_hh_15min": 19622.0,
        "facilities": {"station": 4, "centre_community": 7},
        "excluded_rows": {},
        "network_dropped_foot_no": 0,
        "personal_withheld": {"columns": ["manager"], "values": 2},
    }
    zh = format_summary(figures)
    assert "总户数：32,561 户" in zh and "15分钟步行覆盖率：39.7%" in zh
    assert "需求单元（楼栋/小区）：499" in zh and "499.0" not in zh
    assert "党群服务站 4" in zh and "社区党群服务中心 7" in zh
    assert "--include-personal" in zh
    assert "excluded" not in zh and "剔除" not in zh  # empty and zero counts are left out
    assert not RAW_KEY.search(zh)
    en = format_summary(figures, lang="en")
    assert "Households: 32,561 households" in en and "Party-mass service station 4" in en
    assert not RAW_KEY.search(en)


def test_format_summary_names_the_underserved_communities():
    figures = {
        "underserved_communities": ["150203001005", "150203001010"],
        "underserved_community_names": ["友谊社区", "钢苑社区"],
    }
    zh = format_summary(figures)
    assert "友谊社区，钢苑社区" in zh and "150203001005" not in zh  # Chinese list comma
    assert zh.count("\n") == 0  # one line: the names replace the codes
    assert "友谊社区" in format_summary(figures, lang="en")
    assert "150203001005" in format_summary({"underserved_communities": ["150203001005"]})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return demo_inputs(tmp_path_factory.mktemp("console_inputs"))


def test_coverage_console_chinese_english_json(inputs, tmp_path, capsys, caplog):
    args = coverage_args(inputs, tmp_path / "zh", communities=inputs["communities"])
    res = run_cli([*args, "--targets", "20min,1km"], capsys, caplog)
    assert res.code == 0, res
    out = res.out
    assert "步行覆盖率（按户）：20分钟 " in out and "1公里 " in out
    assert re.search(r"20分钟外：[\d,]+ 户", out)
    assert "15分钟" not in out  # the custom target reaches the console, not the default
    assert not re.search(r"\d\.\d{4}\b", out)  # no 499.0000 or 0.3974
    assert not RAW_KEY.search(out), out
    comms = gpd.read_file(tmp_path / "zh" / "coverage.gpkg", layer="communities")
    failing = comms[comms["uncovered_hh_20min"] > 0].sort_values("uncovered_hh_20min")
    if len(failing):  # the worst community is named, by name
        assert str(failing["name"].iloc[-1]) in out
    res = run_cli(
        [*coverage_args(inputs, tmp_path / "en"), "--targets", "20min", "--lang", "en"],
        capsys,
        caplog,
    )
    assert res.code == 0, res
    assert "Walking coverage (households): 20 min " in res.out
    assert not re.search("[\u4e00-\u9fff]", res.out.split("wrote")[0].replace("党群", ""))
    res = run_cli([*coverage_args(inputs, tmp_path / "js"), "--json"], capsys, caplog)
    assert res.code == 0, res
    data = json.loads(res.out)  # the whole of stdout is one JSON document
    assert data["households"] == int(data["households"]) and 0 <= data["coverage_15min"] <= 1


def test_global_verbose_works_like_the_subcommand_flag(inputs, tmp_path):
    """``geogrid -v coverage`` logs progress as ``geogrid coverage -v`` does."""
    for name, args in (
        ("before", ["-v", *coverage_args(inputs, tmp_path / "a")]),
        ("after", [*coverage_args(inputs, tmp_path / "b"), "-v"]),
        ("none", coverage_args(inputs, tmp_path / "c")),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "geogrid", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert ("INFO " in proc.stderr) == (name != "none"), (name, proc.stderr[-2000:])


def test_json_for_every_command(inputs, tmp_path, capsys, caplog):
    res = run_cli(
        ["grids", "--demand", inputs["demand"], "--communities", inputs["communities"],
         "--out", tmp_path / "g", "--json"],
        capsys,
        caplog,
    )  # fmt: skip
    assert res.code == 0, res
    assert json.loads(res.out)["grids"] > 0
    res = run_cli(
        ["grids", "--demand", inputs["demand"], "--communities", inputs["communities"],
         "--out", tmp_path / "g2"],
        capsys,
        caplog,
    )  # fmt: skip
    assert "网格 " in res.out and not RAW_KEY.search(res.out)


def test_coverage_summary_names_the_worst_first():
    import shapely

    comms = gpd.GeoDataFrame(
        {
            "name": ["友谊社区", "钢苑社区", "阳光社区"],
            "households": [100, 50, 80],
            "coverage_20min": [1.0, 0.4, 0.5],
            "uncovered_hh_20min": [0, 30, 40],
        },
        geometry=[shapely.box(0, 0, 1, 1)] * 3,
        crs=3857,
    )
    zh = coverage_summary({"communities": comms})
    assert "未达标社区 2 个（20分钟）：阳光社区 40 户，钢苑社区 30 户" in zh
    en = coverage_summary({"communities": comms}, lang="en")
    assert "2 communities below the 20 min target: 阳光社区 40 households" in en
    assert to_json({"n": comms["households"].sum()}) == '{\n "n": 230\n}'


def test_siting_summary_says_the_walks_for_pmedian_and_pcenter():
    """p-median / p-centre: the mean and longest walk before and after, in metres, capped."""
    import pandas as pd

    from geogrid.outputs.console import siting_summary

    rows = {
        "n_chosen": 3,
        "n_requested": 3,
        "households_covered_before": 100,
        "households_covered_after": 200,
        "pmedian_cap_m": 2000.0,
        "mean_walk_m_before": 812.4,
        "mean_walk_m_after": 455.2,
        "longest_walk_m_before": 2000.0,
        "longest_walk_m_after": 1300.7,
    }
    summ = pd.DataFrame({"metric": list(rows), "value": list(rows.values())})
    zh = siting_summary(summ)
    assert "建议新增站点 3 个" in zh
    assert "平均步行距离 812 米 → 455 米（超过 2,000 米的按 2,000 米计）" in zh
    assert "最远步行距离 2,000 米 → 1,301 米" in zh
    en = siting_summary(summ, "en")
    assert "mean walk 812 m -> 455 m (walks beyond 2,000 m count as 2,000 m)" in en
    mclp = summ[~summ["metric"].str.contains("walk")]
    assert "步行距离" not in siting_summary(mclp)  # coverage problems say coverage only
