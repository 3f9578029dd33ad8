"""Run every notebook's code cells in order, as a user would (no Jupyter needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pytest
from conftest import real_path

NB = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", sorted(p.name for p in NB.glob("*.ipynb")))
def test_notebook_runs(name, monkeypatch):
    matplotlib.use("Agg")
    if "nanjing" in name:
        real_path("nanjing_xuanwu.osm")  # skip outside CI when the shared data is missing
    monkeypatch.chdir(NB)
    cells = json.loads((NB / name).read_text(encoding="utf-8"))["cells"]
    ns: dict = {"__name__": "__main__"}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{name}:{cell['id']}", "exec"), ns)  # noqa: S102
    assert os.getcwd() == str(NB)
