"""Shared test fixtures: the real-data folder beside the project, skipped or failed when missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"


def real_path(name: str) -> Path:
    """Path of a file in ``../shared/data/real``; skip outside CI when missing, fail in CI."""
    path = REAL / name
    if not path.exists():
        msg = f"real data file {path} is missing"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(msg + " (CI=true: ../shared/data must be beside the project)")
        pytest.skip(msg)
    return path


@pytest.fixture
def real() -> type[RealData]:
    """Accessor for real data files: ``real("nanjing_xuanwu.osm")``."""
    return real_path  # type: ignore[return-value]


class RealData:  # pragma: no cover - typing helper only
    """Callable that returns a real data path."""
