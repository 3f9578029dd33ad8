"""Interactive what-if controls for Jupyter (optional extra ``geogrid[widgets]``).

:class:`WhatIf` holds the callback logic and needs no widgets: a walking-speed change, a
target choice, a click that adds a station and a drag that moves one each update a
:class:`~geogrid.scenarios.Scenario` incrementally and return the community table that the
panel shows beside the map. :func:`panel` wires it to ipywidgets (a speed slider and a
target selector) and an ipyleaflet map (click to add, drag to move), whose scripts ship with
the Jupyter extension, so the panel works on an intranet.

Examples
--------
>>> base = geogrid.scenarios(study)        # doctest: +SKIP
>>> geogrid.widgets.panel(base)           # doctest: +SKIP

"""

from __future__ import annotations

import time
from typing import Any

import geopandas as gpd
import pandas as pd

from geogrid.errors import InputError
from geogrid.scenarios import COMMUNITY, Scenario, headline_target
from geogrid.schema import target_label
from geogrid.settings import parse_targets

__all__ = ["WhatIf", "panel"]

#: Targets offered by the selector besides the scenario's own.
TARGET_CHOICES: tuple[str, ...] = ("5min", "10min", "15min", "20min", "500m", "1km")


class WhatIf:
    """Callback logic of the what-if panel, on a working copy of a scenario.

    Parameters
    ----------
    base : Scenario
        The scenario to start from; it is never changed (edits go to a variant).
    name : str, optional
        Name of the working variant (default: the base's name + ``·交互``).

    """

    def __init__(self, base: Scenario, *, name: str | None = None) -> None:
        self.base = base
        self.scenario = base.variant(name or f"{base.name}·交互")
        self.target = headline_target(base.coverage).name
        self.last_seconds = 0.0

    # ------------------------------------------------------------ callbacks
    def set_speed(self, speed_kmh: float) -> pd.DataFrame:
        """Apply a new walking speed (km/h): recompute minutes and targets; return the table."""
        t0 = time.perf_counter()
        self.scenario.set_speed(float(speed_kmh))
        return self._done(t0)

    def set_target(self, target: str) -> pd.DataFrame:
        """Show another target (e.g. ``"10min"``), measuring it if new; return the table."""
        t0 = time.perf_counter()
        name = parse_targets([target])[0].name
        measured = [t.name for t in self.scenario.coverage.targets]
        if name not in measured:
            self.scenario.set_targets([*measured, name])
        self.target = name
        return self._done(t0)

    def click(self, lon: float, lat: float) -> pd.DataFrame:
        """Add a station where the map was clicked (lon, lat); return the table."""
        t0 = time.perf_counter()
        self.scenario.add_station((float(lon), float(lat)))
        return self._done(t0)

    def drag(self, facility_id: str, lon: float, lat: float) -> pd.DataFrame:
        """Move a dragged station to (lon, lat), keeping its id; return the table."""
        t0 = time.perf_counter()
        self.scenario.move_station(str(facility_id), (float(lon), float(lat)))
        return self._done(t0)

    def undo(self) -> pd.DataFrame:
        """Take back the last edit; return the table."""
        t0 = time.perf_counter()
        if self.scenario.edits:
            self.scenario.undo()
        if self.target not in [t.name for t in self.scenario.coverage.targets]:
            self.target = headline_target(self.scenario.coverage).name
        return self._done(t0)

    # ------------------------------------------------------------ reading
    def table(self) -> pd.DataFrame:
        """Community table at the chosen target: households, share now and in the base, change."""
        col = f"coverage_{self.target}"
        now_col = f"{target_label(self.target, 'zh')}覆盖率（当前）"
        base_col = f"{target_label(self.target, 'zh')}覆盖率（基准）"
        now = self.scenario.by_community()
        base = self.base.by_community()
        if col not in base.columns:
            base = self.base.variant("_").set_targets([self.target]).by_community()
        name_col = "community_name" if "community_name" in now.columns else COMMUNITY
        out = pd.DataFrame(
            {
                "社区": now[name_col].to_numpy(),
                "户数": now["households"].round(0).astype(int).to_numpy(),
                base_col: base.set_index(COMMUNITY)[col].reindex(now[COMMUNITY]).to_numpy(),
                now_col: now[col].to_numpy(),
            }
        )
        out["变化"] = out[now_col] - out[base_col]
        return out.sort_values(now_col, kind="stable").reset_index(drop=True)

    def stations(self) -> list[tuple[str, str, float, float]]:
        """Active stations as ``(facility_id, name, lon, lat)`` for the map's markers."""
        fac = self.scenario.coverage.facilities
        fac = fac[fac["active"].to_numpy(dtype=bool)]
        pts = gpd.GeoSeries(fac.geometry.values, crs=self.scenario.coverage.net.crs).to_crs(4326)
        names = fac["name"].astype(str) if "name" in fac.columns else fac["facility_id"]
        return [
            (str(i), str(n), float(p.x), float(p.y))
            for i, n, p in zip(fac["facility_id"], names, pts, strict=True)
        ]

    def _done(self, t0: float) -> pd.DataFrame:
        out = self.table()
        self.last_seconds = time.perf_counter() - t0
        return out


def panel(base: Scenario) -> Any:
    """Return the interactive what-if panel: speed slider, target selector, map and table.

    Parameters
    ----------
    base : Scenario
        The scenario to explore (never changed).

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell; ``panel.whatif`` is its :class:`WhatIf`.

    Raises
    ------
    InputError
        When ipywidgets or ipyleaflet is not installed (``pip install "geogrid[widgets]"``).

    """
    try:
        import ipyleaflet
        import ipywidgets as w
    except ImportError as exc:
        msg = 'the what-if panel needs ipywidgets and ipyleaflet: pip install "geogrid[widgets]"'
        raise InputError(msg) from exc
    logic = WhatIf(base)
    out = w.Output()
    status = w.HTML()
    speed = w.FloatSlider(
        value=float(base.coverage.speed_kmh),
        min=2.0,
        max=6.0,
        step=0.1,
        description="步速（公里/小时）",
    )
    choices = sorted({*TARGET_CHOICES, *(t.name for t in base.coverage.targets)})
    options = [(target_label(c, "zh"), c) for c in choices]
    target = w.Dropdown(options=options, value=logic.target, description="目标")
    stations = logic.stations()
    lat0 = sum(s[3] for s in stations) / max(len(stations), 1)
    lon0 = sum(s[2] for s in stations) / max(len(stations), 1)
    fmap = ipyleaflet.Map(center=(lat0, lon0), zoom=14, scroll_wheel_zoom=True)

    def show(table: pd.DataFrame) -> None:
        out.clear_output(wait=True)
        with out:
            from IPython.display import display

            display(table.head(15))
        status.value = f"更新耗时 {logic.last_seconds * 1000:.0f} 毫秒"

    def add_marker(fid: str, name: str, lon: float, lat: float) -> None:
        marker = ipyleaflet.Marker(location=(lat, lon), draggable=True, title=name)

        def moved(change: dict[str, Any]) -> None:
            lat_new, lon_new = change["new"]
            show(logic.drag(fid, lon_new, lat_new))

        marker.observe(moved, names="location")
        fmap.add(marker)

    for s in stations:
        add_marker(*s)

    def clicked(**event: Any) -> None:
        if event.get("type") != "click":
            return
        lat, lon = event["coordinates"]
        show(logic.click(lon, lat))
        fid, name, x, y = logic.stations()[-1]
        add_marker(fid, name, x, y)

    fmap.on_interaction(clicked)
    speed.observe(lambda ch: show(logic.set_speed(ch["new"])), names="value")
    target.observe(lambda ch: show(logic.set_target(ch["new"])), names="value")
    show(logic.table())
    box = w.VBox([w.HBox([speed, target, status]), w.HBox([fmap, out])])
    box.whatif = logic
    box.map = fmap
    box.controls = (speed, target)
    return box
