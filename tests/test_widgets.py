"""The what-if panel: callback logic without a browser, and the ipywidgets wiring."""

from __future__ import annotations

import os

import geopandas as gpd
import pytest

from geogrid.analyses.coverage.engine import compute_coverage
from geogrid.demo import make_district
from geogrid.network.build import network_from_ways
from geogrid.scenarios import Scenario
from geogrid.widgets import WhatIf, panel


@pytest.fixture(scope="module")
def base():
    d = make_district(n_communities=5, seed=4)
    net = network_from_ways(d.ways, residential=d.compounds)
    return Scenario(compute_coverage(net, d.buildings, d.facilities), communities=d.communities)


def _lonlat(base, i):
    cov = base.coverage
    p = gpd.GeoSeries([cov.unit_snap.points()[i]], crs=cov.net.crs).to_crs(4326).iloc[0]
    return p.x, p.y


def test_callbacks_update_the_community_table(base):
    logic = WhatIf(base)
    t0 = logic.table()
    assert list(t0.columns[:2]) == ["社区", "户数"] and (t0["变化"] == 0).all()
    slow = logic.set_speed(2.5)
    assert slow["15分钟覆盖率（当前）"].sum() <= t0["15分钟覆盖率（当前）"].sum()
    assert (slow["变化"] <= 1e-12).all() and logic.last_seconds > 0
    n = len(logic.stations())
    lon, lat = _lonlat(base, 123)
    logic.click(lon, lat)
    assert len(logic.stations()) == n + 1
    fid = logic.stations()[0][0]
    logic.drag(fid, lon, lat)
    assert [s for s in logic.stations() if s[0] == fid][0][2] == pytest.approx(lon, abs=1e-6)
    t20 = logic.set_target("20min")
    assert "20分钟覆盖率（当前）" in t20.columns
    logic.undo()
    assert "20min" not in [t.name for t in logic.scenario.coverage.targets]
    # the base never changes
    assert base.edits == [] and len(base.loads()) == n


def test_panel_wires_slider_map_click_and_drag(base):
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.importorskip("ipyleaflet")
    box = panel(base)
    logic = box.whatif
    speed, target = box.controls
    speed.value = 3.0
    assert logic.scenario.coverage.speed_kmh == pytest.approx(3.0)
    target.value = "10min"
    assert logic.target == "10min"
    n = len(logic.stations())
    lon, lat = _lonlat(base, 50)
    box.map._interaction_callbacks(type="click", coordinates=[lat, lon])
    assert len(logic.stations()) == n + 1
    markers = [layer for layer in box.map.layers if type(layer).__name__ == "Marker"]
    assert len(markers) == n + 1
    markers[0].location = (lat, lon)  # a drag, as the browser reports it
    assert logic.scenario.edits[-1].kind == "move"
