"""Every notebook runs in a real Jupyter kernel (nbclient), as an analyst runs it.

The notebooks in the repository carry no outputs. One executed notebook is exported to HTML
and opened in headless Chromium with networking off: its inline maps must draw.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import real_path

NB = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NB.glob("*.ipynb"))
#: Seconds each notebook took in this run (printed at the end of the session by -s/-rA).
TIMES: dict[str, float] = {}


def _needs_real_data(name: str) -> None:
    text = (NB / name).read_text(encoding="utf-8")
    for rel in ("nanjing_xuanwu.osm",):
        if rel in text:
            real_path(rel)  # skip outside CI when the shared data is missing


def execute(name: str):
    """Run a notebook in a fresh python3 kernel from the notebooks folder; return it."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NB / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NB)}},
        extra_arguments=["--HistoryManager.enabled=False"],
    )
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    client.execute()
    TIMES[name] = time.perf_counter() - t0
    return nb


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_no_stale_outputs(name):
    cells = json.loads((NB / name).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, cell["id"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_a_kernel(name):
    _needs_real_data(name)
    nb = execute(name)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    first = nb.cells[0]
    assert first.cell_type == "markdown" and (
        "licence" in first.source.lower() or "许可" in first.source
    )


_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


@pytest.mark.browser
def test_exported_notebook_maps_draw_offline(tmp_path):
    from _chromium import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed")
    jinja2 = pytest.importorskip("jinja2")
    nbconvert = pytest.importorskip("nbconvert")
    nb = execute("01_what_if.ipynb")
    exporter = nbconvert.HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb)
    assert "cdn.jsdelivr" not in body and "unpkg.com" not in body
    page = tmp_path / "01_what_if.html"
    page.write_text(body, encoding="utf-8")
    count = (
        "Array.from(document.querySelectorAll('iframe')).map("
        "f => f.contentDocument ? f.contentDocument.querySelectorAll('.leaflet-interactive').length : -1)"
    )
    result = check_page(page, expressions={"drawn": count}, settle_ms=2000, height=2000)
    tiles = re.compile(r"https?://\S+/\d+/\d+/\d+\.png")  # basemap tiles need the internet
    errors = [e for e in result.errors if not tiles.search(e)]
    assert not errors and not result.dialogs, errors
    drawn = result.values["drawn"]
    assert drawn and min(drawn) > 10, drawn
