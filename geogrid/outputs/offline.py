"""Self-contained HTML maps: Leaflet and its plugins inlined from ``geogrid/outputs/_static``.

:func:`save_map` writes a map atomically, as one offline file for government intranets (every
script and stylesheet inlined, images as ``data:`` URIs; no CDN is contacted) or, on request,
with the scripts loaded from their CDNs.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import re
from collections.abc import Mapping
from pathlib import Path

import folium

from geogrid.errors import InputError
from geogrid.outputs.leaflet import (
    LEAFLET_CSS,
    LEAFLET_JS,
    MINIMAP_CSS,
    MINIMAP_JS,
    SEARCH_CSS,
    SEARCH_JS,
    counter_ids,
    next_id,
)

logger = logging.getLogger(__name__)

__all__ = ["STATIC", "VENDORED", "inline_assets", "map_html", "save_map"]

#: Folder of the vendored Leaflet and plugin files.
STATIC = Path(__file__).resolve().parent / "_static"

#: CDN address -> vendored file in ``geogrid/outputs/_static`` (same package version).
VENDORED: Mapping[str, str] = {
    LEAFLET_JS: "leaflet/leaflet.js",
    LEAFLET_CSS: "leaflet/leaflet.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
        "leaflet.fullscreen/Control.FullScreen.js"
    ),
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
        "leaflet.fullscreen/Control.FullScreen.css"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js": (
        "leaflet-measure/leaflet-measure.min.js"
    ),
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css": (
        "leaflet-measure/leaflet-measure.css"
    ),
    MINIMAP_JS: "leaflet-minimap/Control.MiniMap.min.js",
    MINIMAP_CSS: "leaflet-minimap/Control.MiniMap.min.css",
    SEARCH_JS: "leaflet-search/dist/leaflet-search.min.js",
    SEARCH_CSS: "leaflet-search/dist/leaflet-search.min.css",
}


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css(rel: str) -> str:
    path = STATIC / rel
    text = path.read_text(encoding="utf-8")

    def repl(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#", "http:", "https:")):
            return match.group(0)
        asset = (path.parent / ref).resolve()
        if not asset.is_file():
            return "url()"  # an optional asset not vendored (e.g. a legacy IE cursor)
        return f'url("{_data_uri(asset)}")'

    text = re.sub(r"url\((['\"]?)([^)'\"]+)\1\)", repl, text)
    return text.replace("</style", "<\\/style")


def _inline_js(rel: str) -> str:
    text = (STATIC / rel).read_text(encoding="utf-8")
    text = re.sub(r"//# sourceMappingURL=\S+", "", text)
    return text.replace("</script", "<\\/script")


_SCRIPT_RE = re.compile(r'<script\s+src="(https?://[^"]+)"\s*>\s*</script>')
_LINK_RE = re.compile(r'<link\s+rel="stylesheet"\s+href="(https?://[^"]+)"\s*/?>')


def inline_assets(page: str) -> str:
    """Inline every CDN script and stylesheet of a rendered page from the vendored copies.

    Parameters
    ----------
    page : str
        HTML of a rendered map.

    Returns
    -------
    str
        The same page with no ``<script src>`` or stylesheet link to the network.

    Raises
    ------
    InputError
        When a script or stylesheet has no vendored copy (a plugin geogrid does not ship).

    """
    missing: list[str] = []

    def script(match: re.Match[str]) -> str:
        rel = VENDORED.get(match.group(1))
        if rel is None:
            missing.append(match.group(1))
            return match.group(0)
        return f"<script>{_inline_js(rel)}</script>"

    def link(match: re.Match[str]) -> str:
        rel = VENDORED.get(match.group(1))
        if rel is None:
            missing.append(match.group(1))
            return match.group(0)
        return f"<style>{_inline_css(rel)}</style>"

    page = _SCRIPT_RE.sub(script, page)
    page = _LINK_RE.sub(link, page)
    if missing:
        msg = (
            f"no offline copy of {', '.join(missing)}; remove the plugin that needs it "
            "or pass offline=False"
        )
        raise InputError(msg)
    marker_fix = (
        "<script>L.Icon.Default.prototype.options.iconUrl = "
        f"{json.dumps(_data_uri(STATIC / 'leaflet/images/marker-icon.png'))};"
        "L.Icon.Default.prototype.options.iconRetinaUrl = "
        f"{json.dumps(_data_uri(STATIC / 'leaflet/images/marker-icon-2x.png'))};"
        "L.Icon.Default.prototype.options.shadowUrl = "
        f"{json.dumps(_data_uri(STATIC / 'leaflet/images/marker-shadow.png'))};"
        "L.Icon.Default.imagePath = '';</script>"
    )
    return page.replace("</head>", marker_fix + "\n</head>", 1)


def map_html(m: folium.Map, *, offline: bool = True) -> str:
    """Render a map to the text of one HTML page.

    Parameters
    ----------
    m : folium.Map
        A map, usually from :func:`geogrid.outputs.webmap.build_map`.
    offline : bool
        Inline Leaflet and every plugin (the default, see :func:`save_map`); ``False`` loads
        them from their CDNs.

    Returns
    -------
    str
        The page; the same map renders to the same text.

    Examples
    --------
    >>> page = map_html(build_map(layers))  # doctest: +SKIP

    """
    root = m.get_root()
    with counter_ids(next_id(root)):  # elements folium adds while rendering
        page = root.render()
    if offline:
        page = inline_assets(page)
        if re.search(r"L\.tileLayer\(\s*\"https?:", page):
            logger.info(
                "the map's basemap tiles need the network; without it the page shows a notice "
                "and draws the layers on a blank background (tiles='none' asks for no tiles)"
            )
    return page


def save_map(m: folium.Map, path: str | os.PathLike[str], *, offline: bool = True) -> Path:
    """Write a map to an HTML file atomically (temporary file, then ``os.replace``).

    Parameters
    ----------
    m : folium.Map
        A map, usually from :func:`geogrid.outputs.webmap.build_map`.
    path : path-like
        Output ``.html`` file; missing folders are created.
    offline : bool
        Write one self-contained file (the default): Leaflet and every plugin script and
        stylesheet are inlined from ``geogrid/outputs/_static`` (images as ``data:`` URIs), so
        the page draws with no network, e.g. on a government intranet. Basemap tiles are the
        only thing it asks the network for: where they do not load, the page says so and draws
        the layers on a blank background (``tiles="none"`` asks for none). ``False`` writes
        the smaller page that loads the scripts from public CDNs.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> save_map(build_map(layers), "out/maps/district.html")  # doctest: +SKIP

    """
    from geogrid.io.writers import atomic_write

    target = Path(path)
    page = map_html(m, offline=offline)
    with atomic_write(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    logger.info(
        "wrote %s (%.1f MB%s)",
        target,
        target.stat().st_size / 1e6,
        ", self-contained" if offline else ", scripts from CDNs",
    )
    return target
