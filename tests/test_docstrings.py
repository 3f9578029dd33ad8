"""numpydoc sections on the public API: Parameters, Returns and one Examples block.

Checked on every function and public method named in ``geogrid.__all__`` (the lazy front
door) and on the public functions of the modules people call directly (CRSs, settings,
readers and writers, the demo district, governance grids and their parts, HiGHS helpers). Parameters must name every
argument; Returns (or Yields) is needed unless the function returns None. The examples of
the fast modules are run as doctests.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

#: Modules whose every public function is held to the rule (besides ``geogrid.__all__``).
MODULES = (
    "geogrid.crs",
    "geogrid.settings",
    "geogrid.io.readers",
    "geogrid.io.osm",
    "geogrid.io.writers",
    "geogrid.io.osmxml",
    "geogrid.io.runfolder",
    "geogrid.demo",
    "geogrid.analyses.grids.partition",
    "geogrid.analyses.grids.atoms",
    "geogrid.analyses.grids.search",
    "geogrid.analyses.grids.certificate",
    "geogrid.analyses.highs",
)
#: Modules whose examples run here (fast, no network, no real data).
DOCTEST_MODULES = (
    "geogrid.crs",
    "geogrid.settings",
    "geogrid.io.readers",
    "geogrid.io.writers",
    "geogrid.io.osmxml",
    "geogrid.io.runfolder",
    "geogrid.analyses.grids.atoms",
    "geogrid.analyses.grids.search",
    "geogrid.analyses.grids.certificate",
)

_HEADER = re.compile(r"^[ \t]*([A-Z][A-Za-z ]+)\n[ \t]*-{3,}[ \t]*$", re.MULTILINE)


def sections(doc: str) -> dict[str, str]:
    """Section name -> body of a numpydoc docstring (``inspect.cleandoc``-ed)."""
    text = inspect.cleandoc(doc)
    found = list(_HEADER.finditer(text))
    out: dict[str, str] = {}
    for k, m in enumerate(found):
        end = found[k + 1].start() if k + 1 < len(found) else len(text)
        out[m.group(1).strip()] = text[m.end() : end]
    return out


def documented_parameters(body: str) -> set[str]:
    """Parameter names of a Parameters section (``a, b : float`` names two)."""
    names: set[str] = set()
    for line in body.splitlines():
        if not line or line[0].isspace():
            continue
        head = line.split(" : ")[0]
        names.update(n.strip().lstrip("*") for n in head.split(","))
    return names


def problems(obj: Callable[..., Any]) -> list[str]:
    """What the docstring of ``obj`` lacks, as short phrases."""
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return ["no docstring"]
    have = sections(obj.__doc__ or "")
    out = []
    sig = inspect.signature(obj)
    params = [
        p.name
        for p in sig.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if params:
        if "Parameters" not in have:
            out.append("no Parameters section")
        else:
            missing = set(params) - documented_parameters(have["Parameters"])
            if missing:
                out.append(f"Parameters does not name {sorted(missing)}")
    ret = sig.return_annotation
    returns_none = ret in (None, "None")
    if not returns_none and "Returns" not in have and "Yields" not in have:
        out.append("no Returns section")
    if "Examples" not in have:
        out.append("no Examples section")
    elif ">>>" not in have["Examples"]:
        out.append("Examples without a >>> example")
    return out


def _public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, raw in vars(cls).items():
        if name.startswith("_") or isinstance(raw, property):
            continue
        member = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
        if inspect.isfunction(member):
            yield f"{cls.__name__}.{name}", member


def public_api() -> list[tuple[str, Callable[..., Any]]]:
    """Functions and public methods named in ``geogrid.__all__``."""
    geogrid = importlib.import_module("geogrid")
    names = getattr(geogrid, "__all__", None)
    assert names is not None, "geogrid/__init__.py must list the public API in __all__"
    out: list[tuple[str, Callable[..., Any]]] = []
    for name in names:
        obj = getattr(geogrid, name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            out += [(f"geogrid.{n}", m) for n, m in _public_methods(obj)]
        elif inspect.isfunction(obj):
            out.append((f"geogrid.{name}", obj))
    return out


def module_functions(module_name: str) -> list[tuple[str, Callable[..., Any]]]:
    """Public functions (and public methods of public classes) defined in a module."""
    module = importlib.import_module(module_name)
    out: list[tuple[str, Callable[..., Any]]] = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if inspect.isfunction(obj):
            out.append((f"{module_name}.{name}", obj))
        elif inspect.isclass(obj) and not issubclass(obj, BaseException):
            out += [(f"{module_name}.{n}", m) for n, m in _public_methods(obj)]
    return out


def test_public_api_docstrings_have_numpydoc_sections():
    bad = [f"{name}: {', '.join(p)}" for name, obj in public_api() if (p := problems(obj))]
    assert not bad, "numpydoc sections missing:\n" + "\n".join(bad)


@pytest.mark.parametrize("module_name", MODULES)
def test_module_docstrings_have_numpydoc_sections(module_name):
    found = module_functions(module_name)
    assert found, f"{module_name} has no public functions"
    bad = [f"{name}: {', '.join(p)}" for name, obj in found if (p := problems(obj))]
    assert not bad, "numpydoc sections missing:\n" + "\n".join(bad)


@pytest.mark.parametrize("module_name", DOCTEST_MODULES)
def test_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True)
    assert result.attempted > 0, f"{module_name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {module_name} failed (see above)"


# The checker itself: each rule must be able to fail.


def _full(a: int, *, b: str = "") -> int:
    """Add.

    Parameters
    ----------
    a : int
        A number.
    b : str
        A label.

    Returns
    -------
    int

    Examples
    --------
    >>> _full(1)
    1

    """
    return a


def _short(a: int, b: str) -> int:
    """Add.

    Parameters
    ----------
    a : int
        A number.

    """
    return a


def _no_return(a: int) -> None:
    """Do.

    Parameters
    ----------
    a : int
        A number.

    Examples
    --------
    >>> _no_return(1)

    """


def test_checker():
    assert problems(_full) == []
    assert problems(_no_return) == []
    assert problems(_short) == [
        "Parameters does not name ['b']",
        "no Returns section",
        "no Examples section",
    ]
    assert documented_parameters("lon, lat : float\n    Degrees.\n*args : Any\n") == {
        "lon",
        "lat",
        "args",
    }
