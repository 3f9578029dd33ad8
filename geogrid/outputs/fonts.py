"""A CJK font for the PNG figures, found by file and independent of matplotlib's font cache.

matplotlib only knows the fonts its cache listed when it was built; a font installed later (or
a cache built before ``fonts-noto-cjk`` was) leaves Chinese text as boxes. :func:`find_cjk_font`
looks for known CJK font files in the usual font folders of Linux, Windows and macOS, checks
that the file really draws Chinese, and registers it with matplotlib
(``font_manager.fontManager.addfont``). With none, :func:`figure_fonts` falls back to English
and logs one warning per process.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geogrid.schema import check_lang

log = logger = logging.getLogger(__name__)

__all__ = [
    "FONT_FILES",
    "CJKFont",
    "cjk_family",
    "clear_cache",
    "figure_fonts",
    "find_cjk_font",
    "font_dirs",
    "keep_drawable",
    "renders",
]

#: Font file names (lower case, shell patterns), best first: Simplified Chinese sans-serif
#: faces, then any CJK face that draws Simplified Chinese.
FONT_FILES: tuple[str, ...] = (
    # Linux: fonts-noto-cjk (Debian/Ubuntu), google-noto-cjk (Fedora), noto-fonts-cjk (Arch)
    "notosanscjk-regular.ttc",
    "notosanscjksc-regular.otf",
    "notosanssc-regular.otf",
    "notosanssc-regular.ttf",
    "notosanssc*.ttf",
    # Source Han Sans (Adobe), the same design as Noto Sans CJK
    "sourcehansanssc-regular.otf",
    "sourcehansans-regular.ttc",
    "sourcehansanscn-regular.otf",
    "sourcehansans*.ttc",
    "sourcehansans*.otf",
    # WenQuanYi (fonts-wqy-zenhei, fonts-wqy-microhei)
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
    # Windows: Microsoft YaHei, SimHei, DengXian, SimSun
    "msyh.ttc",
    "msyh.ttf",
    "simhei.ttf",
    "deng.ttf",
    "simsun.ttc",
    # macOS: PingFang, Hiragino Sans GB, STHeiti, Songti
    "pingfang.ttc",
    "hiragino sans gb.ttc",
    "hiragino sans gb w3.ttc",
    "stheiti light.ttc",
    "stheiti medium.ttc",
    "songti.ttc",
    # any other Noto CJK / AR PL face
    "notosanscjk*.ttc",
    "notosanscjk*.otf",
    "notoserifcjk-regular.ttc",
    "notoserifcjk*.ttc",
    "uming.ttc",
    "ukai.ttc",
)

#: Text a CJK font must draw to be used (the characters of the map's title and legend).
_PROBE = "基层治理网格与分钟服务圈户数社区覆盖缺口建议选址北"

#: Faces of a collection preferred for Simplified Chinese, by family name.
_SIMPLIFIED = ("SC", "GB", "CN", "Hans", "YaHei", "SimHei", "PingFang SC")


@dataclass(frozen=True)
class CJKFont:
    """A CJK font file registered with matplotlib.

    Attributes
    ----------
    path : Path
        The font file.
    family : str
        The family name to ask matplotlib for (e.g. ``"Noto Sans CJK SC"``).

    """

    path: Path
    family: str


def font_dirs() -> list[Path]:
    """Folders that hold fonts on this machine's system (Linux, Windows or macOS), in order."""
    home = Path.home()
    dirs: list[Path] = []
    if sys.platform.startswith("win"):
        windir = Path(os.environ.get("WINDIR", "C:/Windows"))
        dirs += [windir / "Fonts", Path("C:/Windows/Fonts")]
        local = os.environ.get("LOCALAPPDATA")
        if local:
            dirs.append(Path(local) / "Microsoft" / "Windows" / "Fonts")
    elif sys.platform == "darwin":
        dirs += [
            Path("/System/Library/Fonts"),
            Path("/System/Library/Fonts/Supplemental"),
            Path("/Library/Fonts"),
            home / "Library" / "Fonts",
        ]
    else:
        data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        dirs += [
            Path("/usr/share/fonts"),
            Path("/usr/local/share/fonts"),
            data_home / "fonts",
            home / ".fonts",
        ]
    return list(dict.fromkeys(dirs))


def _files(dirs: Iterable[Path]) -> dict[str, Path]:
    """Lower-case file name -> first path with that name under ``dirs`` (searched in order)."""
    found: dict[str, Path] = {}
    for top in dirs:
        if not top.is_dir():
            continue
        for root, subdirs, names in os.walk(top):
            subdirs.sort()
            for name in sorted(names):
                found.setdefault(name.lower(), Path(root) / name)
    return found


def _candidates(files: dict[str, Path], patterns: Sequence[str]) -> list[Path]:
    """Paths whose names match ``patterns``, in the patterns' order (each path once)."""
    out: list[Path] = []
    names = sorted(files)
    for pattern in patterns:
        for name in fnmatch.filter(names, pattern):
            if files[name] not in out:
                out.append(files[name])
    return out


def _faces(path: Path) -> list[str]:
    """Family names of the faces in a font file (one for .ttf/.otf, several for .ttc)."""
    from matplotlib.ft2font import FT2Font

    first = FT2Font(str(path))
    names = [first.family_name]
    for i in range(1, int(getattr(first, "num_faces", 1))):
        try:
            names.append(FT2Font(str(path), face_index=i).family_name)
        except TypeError:  # matplotlib < 3.10 reads only the first face
            break
    return names


def renders(path: str | os.PathLike[str], text: str = _PROBE) -> bool:
    """Tell whether the font file draws every character of ``text`` (no missing glyph)."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(str(path))
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in text if not ch.isspace())


def _register(path: Path) -> CJKFont | None:
    """Register a CJK font file with matplotlib; None when it cannot draw Chinese."""
    from matplotlib import font_manager

    if not renders(path):
        log.info("font %s does not draw Chinese; skipped", path)
        return None
    try:
        faces = _faces(path)
        font_manager.fontManager.addfont(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        log.info("font %s cannot be read (%s); skipped", path, exc)
        return None
    family = next((f for f in faces if any(s in f for s in _SIMPLIFIED)), faces[0])
    return CJKFont(path=path, family=family)


@lru_cache(maxsize=1)
def find_cjk_font(dirs: tuple[Path, ...] | None = None) -> CJKFont | None:
    """Find a CJK font file and register it with matplotlib; None when there is none.

    Looks for the files of :data:`FONT_FILES` (Noto Sans CJK, Source Han Sans, WenQuanYi,
    Microsoft YaHei, SimHei, PingFang, Hiragino Sans GB, ...) under ``dirs`` (default
    :func:`font_dirs`) and takes the first that draws Chinese. The environment variable
    ``GEOGRID_CJK_FONT`` may name a font file to use first. matplotlib's font cache is not
    consulted, so a font installed after the cache was built is found too.

    Parameters
    ----------
    dirs : tuple of Path, optional
        Folders to search instead of the system's font folders.

    Returns
    -------
    CJKFont or None

    """
    chosen = os.environ.get("GEOGRID_CJK_FONT")
    if chosen and Path(chosen).is_file():
        font = _register(Path(chosen))
        if font is not None:
            return font
        log.warning("GEOGRID_CJK_FONT=%s cannot draw Chinese; looking for another font", chosen)
    files = _files(font_dirs() if dirs is None else dirs)
    for path in _candidates(files, FONT_FILES):
        font = _register(path)
        if font is not None:
            log.info("CJK font for figures: %s (%s)", font.family, font.path)
            return font
    return None


@lru_cache(maxsize=1)
def _warn_no_font() -> None:
    """Log, once per process, that the figures fall back to English."""
    log.warning(
        "no Chinese (CJK) font found, so the PNG figures are in English; install one "
        "(Debian/Ubuntu: apt install fonts-noto-cjk; Fedora: google-noto-sans-cjk-fonts) "
        "or set GEOGRID_CJK_FONT to a .ttf/.ttc/.otf file"
    )


def cjk_family() -> str | None:
    """Family name of the CJK font :func:`find_cjk_font` registered, or None."""
    font = find_cjk_font()
    return None if font is None else font.family


def figure_fonts(lang: str, family: str | None) -> tuple[str, list[str]]:
    """Return the language a figure can use and matplotlib's font family list for it.

    Chinese needs a CJK font (``family``, from :func:`cjk_family`); without one the language
    becomes ``"en"`` and one warning is logged (once per process).

    Returns
    -------
    tuple of str and list of str
        ``(lang, ["Noto Sans CJK SC", "DejaVu Sans"])`` or ``("en", ["DejaVu Sans"])``.

    """
    check_lang(lang)
    if family is not None:
        return lang, [family, "DejaVu Sans"]
    if lang == "zh":
        _warn_no_font()
    return "en", ["DejaVu Sans"]


@lru_cache(maxsize=16)
def _font_file(family: str) -> str | None:
    """Return the file matplotlib draws ``family`` from, or None when it does not know it."""
    from matplotlib import font_manager

    try:
        return str(
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        )
    except ValueError:
        return None


def keep_drawable(text: str, families: Sequence[str]) -> str:
    """``text`` with every character none of ``families`` can draw replaced by ``?``.

    matplotlib warns "Glyph ... missing" for such characters and draws a box; this keeps
    figures free of both.
    """
    from matplotlib.ft2font import FT2Font

    fonts = [FT2Font(p) for p in (_font_file(f) for f in families) if p is not None]
    out = []
    for ch in text:
        ok = ch.isspace() or any(f.get_char_index(ord(ch)) for f in fonts)
        out.append(ch if ok else "?")
    return "".join(out)


def clear_cache() -> None:
    """Forget the font found and the warning given (to look again, e.g. after installing one)."""
    find_cjk_font.cache_clear()
    _warn_no_font.cache_clear()
    _font_file.cache_clear()
