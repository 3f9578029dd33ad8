"""The PNG map and coverage curve: CJK font by file, English fallback, layout, determinism."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _maplayers import make_layers
from PIL import Image
from shapely import affinity

from geogrid.errors import InputError
from geogrid.outputs import fonts
from geogrid.outputs.curve import curve_figure, curve_png
from geogrid.outputs.static_map import map_figure, static_map
from geogrid.schema import TEXT, target_label

ROOT = Path(__file__).resolve().parents[1]


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _system_cjk_files() -> list[Path]:
    """CJK font files in the system's font folders, found without matplotlib."""
    out = []
    for top in fonts.font_dirs():
        if top.is_dir():
            out += [p for p in top.rglob("*") if p.name.lower().startswith(("notosanscjk", "wqy"))]
    return out


needs_cjk = pytest.mark.skipif(
    not _system_cjk_files(), reason="no CJK font file on this machine (apt install fonts-noto-cjk)"
)


@pytest.fixture
def layers():
    return make_layers()


@pytest.fixture
def no_cjk_font(tmp_path, monkeypatch):
    """A machine without any CJK font file (the font search sees an empty folder)."""
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setattr(fonts, "font_dirs", lambda: [empty])
    monkeypatch.delenv("GEOGRID_CJK_FONT", raising=False)
    fonts.clear_cache()
    yield
    fonts.clear_cache()


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


_SUBPROCESS = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("error")  # a "Glyph missing" warning fails the run
    from matplotlib import font_manager
    # a cache built before the CJK font was installed: matplotlib knows no CJK family
    font_manager.fontManager.ttflist = [
        f for f in font_manager.fontManager.ttflist
        if "CJK" not in f.name and "WenQuanYi" not in f.name
    ]
    sys.path.insert(0, sys.argv[2])
    from _maplayers import make_layers
    from geogrid.outputs.fonts import find_cjk_font
    from geogrid.outputs.static_map import map_figure, save_figure
    font = find_cjk_font()
    fig = map_figure(make_layers(), title="昆都仑区 基层治理网格")
    save_figure(fig, sys.argv[1])
    from matplotlib.text import Text
    title = next(t for t in fig.findobj(Text) if t.get_text() == "昆都仑区 基层治理网格")
    used = font_manager.findfont(title.get_fontproperties(), fallback_to_default=False)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    print(json.dumps({"path": str(font.path), "family": font.family, "title": title.get_text(),
                      "title_font": used, "legend": legend}))
    """
)


@needs_cjk
def test_cjk_font_found_by_file_with_an_empty_matplotlib_cache(tmp_path):
    cache = tmp_path / "mplconfig"
    cache.mkdir()
    env = {**os.environ, "MPLCONFIGDIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("GEOGRID_CJK_FONT", None)
    png = tmp_path / "map.png"
    run = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, str(png), str(ROOT / "tests")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Glyph" not in run.stderr and "missing from font" not in run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(got["path"]).is_file() and "CJK" in got["family"]
    assert got["title"] == "昆都仑区 基层治理网格"  # Chinese title, drawn from the font file
    assert Path(got["title_font"]) == Path(got["path"])
    assert "建议选址" in got["legend"] and "区界" in got["legend"]
    assert png.stat().st_size > 20_000


@needs_cjk
def test_chinese_title_and_legend_without_missing_glyphs(layers):
    import matplotlib.pyplot as plt

    fonts.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = map_figure(layers, title="昆都仑区 友谊大街街道")
        try:
            fig.canvas.draw()  # glyphs are looked up when drawn
            texts = _texts(fig)
        finally:
            plt.close(fig)
    assert "昆都仑区 友谊大街街道" in texts and "北" in texts
    assert {"建议选址", "覆盖缺口", "党群服务站", "网格 200–299 户"} <= set(texts)


def test_no_cjk_font_gives_one_warning_and_an_english_map(layers, no_cjk_font, caplog, tmp_path):
    import matplotlib.pyplot as plt

    curve = pd.DataFrame({"n_new_sites": [0, 1, 2], "households_covered": [1200, 1800, 2050]})
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Glyph missing" warning
        fig = map_figure(layers, lang="zh", title="昆都仑区")
        fig.canvas.draw()
        texts = _texts(fig)
        plt.close(fig)
        static_map(layers, tmp_path / "map.png", lang="zh")
        curve_png(curve, tmp_path / "curve.png", lang="zh")
    ours = [r for r in caplog.records if r.name.startswith("geogrid")]
    assert len(ours) == 1, [r.getMessage() for r in ours]
    assert "fonts-noto-cjk" in ours[0].getMessage() and "English" in ours[0].getMessage()
    assert not any(_has_cjk(t) for t in texts), texts
    # title and legend too: the default English title replaces the Chinese one
    assert TEXT["en"]["title"].format(t=target_label("15min", "en")) in texts
    assert {"Proposed sites", "Coverage gaps", "N"} <= set(texts)


def test_english_on_request_has_no_chinese(layers):
    import matplotlib.pyplot as plt

    fig = map_figure(layers, lang="en")
    try:
        texts = _texts(fig)
    finally:
        plt.close(fig)
    assert not any(_has_cjk(t) for t in texts), texts
    assert "Street party-mass service centre" in texts


def test_legend_beside_the_map_with_north_arrow_and_scale_bar(layers):
    import matplotlib.pyplot as plt

    fig = map_figure(layers)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        box = ax.get_window_extent()
        leg = ax.get_legend().get_window_extent()
        texts = _texts(fig)
    finally:
        plt.close(fig)
    assert leg.x0 >= box.x1  # right of the map, covering none of it
    assert not box.overlaps(leg)
    assert "500 m" in texts or "200 m" in texts  # a 2 km wide district: a round length, with unit
    assert any(t in texts for t in ("北", "N"))


@pytest.mark.parametrize("turn", [0, 90])
def test_canvas_fitted_to_the_area(layers, tmp_path, turn):
    """A wide and a tall district both fill the canvas: no two-thirds white margins."""
    if turn:
        centre = layers["district"].geometry.iloc[0].centroid
        layers = {
            k: g.set_geometry(g.geometry.map(lambda s: affinity.rotate(s, turn, origin=centre)))
            for k, g in layers.items()
        }
    path = static_map(layers, tmp_path / "map.png")
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    height, width = img.shape[:2]
    non_white = (np.abs(img - 255).sum(axis=2) > 30).mean()
    assert non_white > 0.4, non_white
    if turn:
        assert height > width * 0.9  # a tall area makes a tall picture
    else:
        assert width > 1.8 * height  # a 2:1 area (plus legend) makes a wide picture
    assert min(height, width) > 500


def test_png_is_deterministic(layers, tmp_path):
    a = static_map(layers, tmp_path / "a.png").read_bytes()
    b = static_map(layers, tmp_path / "b.png").read_bytes()
    assert a == b
    curve = pd.DataFrame({"n_new_sites": [0, 1], "households_covered": [10.0, 20.0]})
    assert (
        curve_png(curve, tmp_path / "c1.png").read_bytes()
        == curve_png(curve, tmp_path / "c2.png").read_bytes()
    )


def test_curve_figure_labels_and_whole_households():
    import matplotlib.pyplot as plt

    curve = pd.DataFrame(
        {
            "n_new_sites": [0, 1, 2],
            "households_covered": [12939.0, 31099.4, 32561.0],
            "coverage_share": [0.3974, 0.9551, 1.0],
            "status": ["today", "exact", "time_limit"],
            "bound_households": [12939.0, 31099.0, 32600.0],
        }
    )
    fig = curve_figure(curve, lang="en")
    try:
        texts = _texts(fig)
    finally:
        plt.close(fig)
    assert {"12,939", "31,099", "32,561"} <= set(texts)  # whole households, thousands separated
    assert "new stations" in texts and "households covered" in texts
    assert "upper bound (time limit)" in texts and "coverage (%)" in texts


def test_curve_without_columns_names_the_fix(tmp_path):
    with pytest.raises(InputError, match="siting_curve.csv"):
        curve_png(pd.DataFrame({"k": [1]}), tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_font_search_takes_known_files_in_order(tmp_path, monkeypatch):
    """The search order prefers Simplified Chinese sans faces; a file that draws no Chinese
    (a renamed Latin font) is skipped."""
    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans")
    fake = tmp_path / "fonts" / "msyh.ttf"
    fake.parent.mkdir()
    fake.write_bytes(Path(dejavu).read_bytes())
    monkeypatch.delenv("GEOGRID_CJK_FONT", raising=False)
    fonts.clear_cache()
    try:
        assert fonts.find_cjk_font((fake.parent,)) is None
        real = _system_cjk_files()
        if real:
            (tmp_path / "fonts" / "wqy-zenhei.ttc").symlink_to(real[0])
            fonts.clear_cache()
            found = fonts.find_cjk_font((fake.parent,))
            assert found is not None and found.path.name == "wqy-zenhei.ttc"
    finally:
        fonts.clear_cache()
