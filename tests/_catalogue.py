"""Shared helpers of the bad-input catalogues (``test_bad_inputs.py``, ``test_bad_data.py``).

Every catalogue case runs the command line the way a user does and is classed by its id,
``"<class>:<name>"``:

``error``
    exit status 2 and exactly one line on stderr, starting ``geogrid: error:``, that names the
    fix; never a traceback.
``repair``
    exit status 0 and a warning naming the repair; the result is correct.
``ok``
    exit status 0, no traceback.

Use :func:`case` to build the parameters, :func:`run_cli` (in-process, with pytest's
``capsys`` and ``caplog``) or :func:`run_subprocess` to run one, and :func:`check` to assert
the outcome class from the case id. :func:`demo_inputs` writes the tiny demo district's layers
into a folder, so cases can start from good files and break one thing.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

CLASSES = ("error", "repair", "ok")

__all__ = [
    "CLASSES",
    "Outcome",
    "case",
    "check",
    "check_error",
    "check_ok",
    "check_repair",
    "demo_district",
    "demo_inputs",
    "run_cli",
    "run_subprocess",
]


@dataclass
class Outcome:
    """What a command run gave: exit status, stdout, stderr and the warnings it logged."""

    code: int
    out: str
    err: str
    warnings: list[str]

    @property
    def err_lines(self) -> list[str]:
        """Non-blank stderr lines."""
        return [ln for ln in self.err.splitlines() if ln.strip()]

    @property
    def warning_text(self) -> str:
        """Every warning, whether logged (in-process) or printed on stderr (subprocess)."""
        return "\n".join([*self.warnings, self.err])

    def __str__(self) -> str:
        return (
            f"exit {self.code}\n--- stdout\n{self.out[-2000:]}\n--- stderr\n{self.err[-4000:]}"
            f"\n--- warnings\n" + "\n".join(self.warnings)
        )


def case(cls: str, name: str, *values: Any, marks: Any = ()) -> Any:
    """One catalogue parameter set with the id ``"<cls>:<name>"``."""
    if cls not in CLASSES:
        msg = f"unknown outcome class {cls!r}; use one of {CLASSES}"
        raise ValueError(msg)
    return pytest.param(*values, id=f"{cls}:{name}", marks=marks)


def outcome_class(request: Any) -> str:
    """The outcome class of the running parametrized test, from its id."""
    callspec = getattr(request.node, "callspec", None)
    ident = callspec.id if callspec is not None else request.node.name
    return ident.split(":", 1)[0]


def run_cli(
    args: Sequence[str | Path], capsys: Any, caplog: Any, *, cwd: Path | None = None
) -> Outcome:
    """Run ``geogrid.cli.main(args)`` in-process and collect what a user would see.

    ``SystemExit`` (argparse) is turned into its exit status; any other exception escapes,
    which fails the test with the traceback the user would have seen.
    """
    import os

    from geogrid.cli import main

    capsys.readouterr()
    caplog.clear()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with caplog.at_level(logging.WARNING):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return Outcome(int(code), captured.out, captured.err, warnings)


def run_subprocess(args: Sequence[str | Path], *, cwd: Path, timeout: float = 300) -> Outcome:
    """Run ``python -m geogrid args`` in a fresh interpreter (warnings land on stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "geogrid", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout, proc.stderr, [])


def _contains_all(text: str, fragments: Iterable[str]) -> list[str]:
    low = text.lower()
    return [f for f in fragments if f.lower() not in low]


def check_error(res: Outcome, *fragments: str) -> None:
    """Exit 2, one stderr line ``geogrid: error: ...`` holding every fragment, no traceback."""
    assert "Traceback" not in res.err, str(res)
    assert res.code == 2, str(res)
    lines = [ln for ln in res.err_lines if not ln.startswith(("WARNING ", "INFO "))]
    assert len(lines) == 1, str(res)
    assert lines[0].startswith("geogrid: error:"), str(res)
    missing = _contains_all(lines[0], fragments)
    assert not missing, f"message lacks {missing}: {lines[0]}"


def check_repair(res: Outcome, *fragments: str) -> None:
    """Exit 0 and a warning holding every fragment, no traceback."""
    assert "Traceback" not in res.err, str(res)
    assert res.code == 0, str(res)
    hits = [w for w in [*res.warnings, *res.err_lines] if not _contains_all(w, fragments)]
    assert hits, f"no warning names {fragments}:\n{res}"


def check_ok(res: Outcome, *fragments: str) -> None:
    """Exit 0, no traceback, stdout holding every fragment."""
    assert "Traceback" not in res.err, str(res)
    assert res.code == 0, str(res)
    missing = _contains_all(res.out, fragments)
    assert not missing, f"stdout lacks {missing}:\n{res}"


def check(cls: str, res: Outcome, *fragments: str) -> None:
    """Assert the outcome of class ``cls`` (``error``, ``repair`` or ``ok``)."""
    {"error": check_error, "repair": check_repair, "ok": check_ok}[cls](res, *fragments)


@functools.cache
def demo_district() -> Any:
    """The tiny demo district (2 communities, seed 0), built once per test session."""
    from geogrid.demo import make_district

    return make_district(n_communities=2, seed=0)


def demo_inputs(folder: Path) -> dict[str, Path]:
    """Write the demo district's layers as GeoPackages into ``folder``; return their paths.

    Keys: ``network`` (OSM-tagged ways), ``demand`` (buildings), ``facilities``,
    ``communities``, ``compounds``. Existing files are reused.
    """
    d = demo_district()
    folder.mkdir(parents=True, exist_ok=True)
    layers: dict[str, gpd.GeoDataFrame] = {
        "network": d.ways,
        "demand": d.buildings,
        "facilities": d.facilities,
        "communities": d.communities,
        "compounds": d.compounds,
    }
    paths: dict[str, Path] = {}
    for key, gdf in layers.items():
        path = folder / f"{key}.gpkg"
        if not path.exists():
            gdf.to_file(path, layer=key, driver="GPKG")
        paths[key] = path
    return paths


def coverage_args(paths: dict[str, Path], out: Path, **override: Any) -> list[str]:
    """``geogrid coverage`` arguments for ``paths`` (from :func:`demo_inputs`) into ``out``.

    Keyword overrides replace an input (``demand=...``) or add an option
    (``speed="3"`` -> ``--speed 3``; ``None`` drops it).
    """
    opts: dict[str, Any] = {
        "network": paths["network"],
        "demand": paths["demand"],
        "facilities": paths["facilities"],
    }
    opts.update(override)
    args = ["coverage"]
    for key, value in opts.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args += [flag, str(value)]
    return [*args, "--out", str(out)]
