"""geogrid: walking coverage, governance grids and station siting for Chinese cities.

The public API, importable from the top. ``import geogrid`` stays light: the names below are
imported on first use, so geopandas, folium and the solvers load only when an analysis runs.

Examples
--------
>>> import geogrid
>>> study = geogrid.load_demo()  # doctest: +SKIP
>>> cov = geogrid.coverage(study, targets="10min,15min")  # doctest: +SKIP
>>> grids = geogrid.grids(study, coverage=cov)  # doctest: +SKIP
>>> sites = geogrid.site(study, k=3, coverage=cov)  # doctest: +SKIP
>>> geogrid.report([cov, grids, sites], "out")  # doctest: +SKIP

"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "CRSError",
    "CoverageResults",
    "GeogridError",
    "GridsResults",
    "InputError",
    "NetworkError",
    "Result",
    "Scenario",
    "SitingResults",
    "StudyArea",
    "__version__",
    "compare",
    "coverage",
    "grids",
    "load_demo",
    "load_study",
    "report",
    "run_demo",
    "run_many",
    "scenario",
    "site",
]

#: Public name -> the module that defines it (imported on first use).
_LAZY: dict[str, str] = {
    "CRSError": "geogrid.errors",
    "GeogridError": "geogrid.errors",
    "InputError": "geogrid.errors",
    "NetworkError": "geogrid.errors",
    "StudyArea": "geogrid.study.area",
    "load_study": "geogrid.study.area",
    "Result": "geogrid.results",
    "CoverageResults": "geogrid.results",
    "GridsResults": "geogrid.results",
    "SitingResults": "geogrid.results",
    "coverage": "geogrid.api",
    "grids": "geogrid.api",
    "site": "geogrid.api",
    "report": "geogrid.api",
    "load_demo": "geogrid.api",
    "run_demo": "geogrid.api",
    "run_many": "geogrid.batch",
    "scenario": "geogrid.scenarios",
    "Scenario": "geogrid.scenarios",
    "compare": "geogrid.scenarios",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from geogrid.api import coverage, grids, load_demo, report, run_demo, site
    from geogrid.batch import run_many
    from geogrid.errors import CRSError, GeogridError, InputError, NetworkError
    from geogrid.results import CoverageResults, GridsResults, Result, SitingResults
    from geogrid.scenarios import Scenario, compare, scenario
    from geogrid.study.area import StudyArea, load_study


def _version() -> str:
    """Return the installed version, else the one in ``pyproject.toml`` (a source checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("geogrid")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            text = pyproject.read_text(encoding="utf-8")
        except OSError:
            return "0+unknown"
        found = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.MULTILINE)
        return found.group(1) if found else "0+unknown"


__version__ = _version()


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'geogrid' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """List the public API (for tab completion)."""
    return sorted(set(globals()) | set(__all__))
