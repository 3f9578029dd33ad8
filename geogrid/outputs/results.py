"""Reading the map layers of a results folder that a geogrid run wrote."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd

from geogrid.errors import InputError
from geogrid.io.runfolder import TEMP_PREFIX, check_results_folder

logger = logging.getLogger(__name__)

__all__ = ["LAYER_KEYS", "read_results"]

#: Layer keys the web map understands, bottom to top.
LAYER_KEYS: tuple[str, ...] = (
    "district",
    "streets",
    "communities",
    "grids",
    "service_areas",
    "demand",
    "gaps",
    "network_edges",
    "facilities",
    "sites",
)


def read_results(results_dir: str | os.PathLike[str]) -> dict[str, gpd.GeoDataFrame]:
    """Read the map layers of a results folder.

    Looks for GeoPackages in ``results_dir`` whose layers (or file stems) are layer keys
    (:data:`LAYER_KEYS`), and for ``<key>.geojson``, ``<key>.gpkg``, ``<key>.parquet`` or
    ``<key>.shp`` files. Temporary files of a run (``.geogrid-tmp-*``) are never read; a folder
    another geogrid run is writing is refused, and files that do not match the folder's
    ``run.json`` are named in a warning (see :func:`geogrid.io.runfolder.check_results_folder`).

    Returns
    -------
    dict of str to GeoDataFrame

    """
    import pyogrio

    folder = Path(results_dir)
    if not folder.is_dir():
        msg = f"results folder {str(folder)!r} does not exist; pass the folder an analysis wrote"
        raise InputError(msg)
    check_results_folder(folder)  # not while a run writes it; warn if it mixes runs
    out: dict[str, gpd.GeoDataFrame] = {}
    for gpkg in sorted(folder.glob("*.gpkg")):
        if gpkg.name.startswith(TEMP_PREFIX):
            continue  # a run's temporary file, never a result
        names = [str(n) for n in pyogrio.list_layers(gpkg)[:, 0]]
        for name in names:
            key = name if name in LAYER_KEYS else gpkg.stem if len(names) == 1 else None
            if key in LAYER_KEYS and key not in out:
                out[key] = gpd.read_file(gpkg, layer=name)
    for key in LAYER_KEYS:
        if key in out:
            continue
        for ext in (".geojson", ".parquet", ".shp"):
            path = folder / f"{key}{ext}"
            if path.exists():
                out[key] = gpd.read_parquet(path) if ext == ".parquet" else gpd.read_file(path)
                break
    if not out:
        msg = (
            f"no map layers in {str(folder)!r}; expected GeoPackage layers or files named "
            f"{', '.join(LAYER_KEYS)}"
        )
        raise InputError(msg)
    return out
