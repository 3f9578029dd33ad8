"""Publishing a set of result layers: interactive and offline maps, workbook, PNG and summary.

Personal fields never reach an output unless ``include_personal=True`` (see
:mod:`geogrid.outputs.privacy`); every file is written atomically.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd

from geogrid.errors import InputError
from geogrid.outputs.markdown import write_summary
from geogrid.outputs.static_map import static_map
from geogrid.outputs.workbook import write_report

log = logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- everything

#: What an output file stem may hold (no separators, no "..", nothing a shell would read).
_STEM = re.compile(r"[\w\-.\u4e00-\u9fff]{1,100}")


def publish(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "demo",
    tiles: str = "osm",
    lang: str = "zh",
    title: str | None = None,
    attribution: str | None = None,
    include_personal: bool = False,
) -> dict[str, Path]:
    """Write the map and report outputs of a run into ``out_dir``.

    Writes ``maps/<name>.html`` (``tiles`` basemap), ``maps/<name>_offline.html``
    (self-contained, blank basemap), ``maps/<name>.png`` (static map), ``report.xlsx`` and
    ``summary.md``. This is what ``geogrid demo`` ends with.

    Returns
    -------
    dict of str to Path
        Keys ``map``, ``map_offline``, ``png``, ``report``, ``summary``.

    """
    from geogrid.outputs.webmap import build_map, save_map

    if not _STEM.fullmatch(str(name)) or str(name).startswith("."):
        msg = (
            f"output name {name!r} is not a plain file name; pass letters, digits, Chinese "
            "characters, '_', '-' or '.' (e.g. name='demo')"
        )
        raise InputError(msg)
    folder = Path(out_dir)
    maps_dir = folder / "maps"
    common = {
        "lang": lang,
        "title": title,
        "attribution": attribution,
        "include_personal": include_personal,
    }
    out: dict[str, Path] = {}
    out["map"] = save_map(build_map(layers, tiles=tiles, **common), maps_dir / f"{name}.html")
    out["map_offline"] = save_map(
        build_map(layers, tiles="none", **common),
        maps_dir / f"{name}_offline.html",
        offline=True,
    )
    out["png"] = static_map(
        layers, maps_dir / f"{name}.png", lang=lang, title=title, include_personal=include_personal
    )
    out["report"] = write_report(
        layers, folder / "report.xlsx", lang=lang, title=title, include_personal=include_personal
    )
    out["summary"] = write_summary(
        layers, folder / "summary.md", lang=lang, title=title, include_personal=include_personal
    )
    return out
