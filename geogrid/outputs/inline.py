"""Maps inside notebooks: a self-contained page in an ``<iframe srcdoc>``, no CDN needed.

The page is the same as the exported offline map (Leaflet, plugins and styles inlined), so an
inline map draws on an intranet JupyterLab and in an exported notebook opened with no
network. User text stays data: the page is escaped once more as an HTML attribute value.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from geogrid.outputs.webmap import build_map, save_map

__all__ = ["InlineMap"]


@dataclass(frozen=True)
class InlineMap:
    """One or more self-contained map pages shown inline in a notebook.

    Attributes
    ----------
    pages : tuple of str
        The full HTML page of each map.
    titles : tuple of str
        The caption above each map (plain text).
    height : int
        Height of each map in pixels.

    """

    pages: tuple[str, ...]
    titles: tuple[str, ...]
    height: int = 480

    @classmethod
    def of(
        cls,
        layers: Mapping[str, gpd.GeoDataFrame],
        *,
        title: str,
        height: int = 480,
        lang: str = "zh",
        tiles: str = "osm",
    ) -> InlineMap:
        """Build the offline map page of ``layers``.

        Parameters
        ----------
        layers : mapping of str to GeoDataFrame
            As for :func:`geogrid.outputs.webmap.build_map`.
        title : str
            Map title and caption (plain text).
        height : int
            Height in pixels.
        lang : {"zh", "en"}
            Language of the map.
        tiles : str
            Basemap name.

        Returns
        -------
        InlineMap
            One map.

        """
        m = build_map(layers, title=title, lang=lang, tiles=tiles)
        with tempfile.TemporaryDirectory(prefix="geogrid-inline-") as tmp:
            path = save_map(m, Path(tmp) / "map.html", offline=True)
            page = path.read_text(encoding="utf-8")
        return cls((page,), (str(title),), height)

    @classmethod
    def row(cls, maps: Sequence[InlineMap]) -> InlineMap:
        """Put maps side by side (one row, equal widths).

        Parameters
        ----------
        maps : sequence of InlineMap
            The maps, left to right.

        Returns
        -------
        InlineMap
            All their pages in one row.

        """
        pages = tuple(p for m in maps for p in m.pages)
        titles = tuple(t for m in maps for t in m.titles)
        return cls(pages, titles, max((m.height for m in maps), default=480))

    @property
    def html(self) -> str:
        """The notebook output: a row of captioned iframes (each page in ``srcdoc``)."""
        width = f"{100 / max(len(self.pages), 1):.4f}%"
        cells = "".join(
            f'<div style="flex:0 0 {width};box-sizing:border-box;padding:2px">'
            f'<div style="font-weight:bold;margin:2px 0">{html.escape(title)}</div>'
            f'<iframe srcdoc="{html.escape(page, quote=True)}" '
            f'style="width:100%;height:{int(self.height)}px;border:1px solid #ccc"></iframe></div>'
            for page, title in zip(self.pages, self.titles, strict=True)
        )
        return f'<div class="geogrid-maps" style="display:flex;width:100%">{cells}</div>'

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        names = ", ".join(self.titles)
        return f"<InlineMap: {len(self.pages)} map(s): {names}>"

    def save(self, path: str | Path) -> Path:
        """Write the row of maps as one HTML page (self-contained).

        Parameters
        ----------
        path : str or Path
            Where to write.

        Returns
        -------
        Path
            The file written.

        """
        from geogrid.io.writers import atomic_write

        target = Path(path)
        with atomic_write(target) as tmp:
            Path(tmp).write_text(
                f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{self.html}'
                "</body></html>",
                encoding="utf-8",
            )
        return target
