"""Curves for notebooks: a small table with ``.plot()`` (Chinese labels when a CJK font exists).

Examples
--------
>>> curve = scenario.speed_curve([3.0, 4.0, 5.0])   # doctest: +SKIP
>>> curve.plot()                                    # doctest: +SKIP

"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import pandas as pd

from geogrid.outputs.fonts import cjk_family
from geogrid.schema import check_lang

__all__ = ["Curve"]


@dataclass
class Curve:
    """A curve as a table: one x column, one or more y columns, and their labels.

    Attributes
    ----------
    table : DataFrame
        The values; ``x`` and ``ys`` name its columns.
    x : str
        Column on the horizontal axis.
    ys : tuple of str
        Columns drawn as lines.
    labels : dict
        ``{"zh": (title, x label, y label, *line labels), "en": (...)}``.
    percent : bool
        Whether the y values are shares (0-1), drawn as percentages.

    """

    table: pd.DataFrame
    x: str
    ys: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]
    percent: bool = False

    def plot(self, ax: Any = None, *, lang: str = "zh") -> Any:
        """Draw the curve on ``ax`` (a new figure when None) and return the axes.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw.
        lang : {"zh", "en"}
            Label language; English when no CJK font is installed.

        Returns
        -------
        matplotlib Axes
            The axes drawn on.

        Examples
        --------
        >>> ax = scenario.walk_time_curve().plot()  # doctest: +SKIP

        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter

        font = cjk_family() if check_lang(lang) == 0 else None
        words = self.labels["zh" if font else "en"]
        title, xlabel, ylabel, *names = words
        family = {"fontfamily": font} if font else {}
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 3.8))
        for col, name in zip(self.ys, names or self.ys, strict=False):
            ax.plot(self.table[self.x], self.table[col], marker="o", ms=3, label=name)
        ax.set_title(title, **family)
        ax.set_xlabel(xlabel, **family)
        ax.set_ylabel(ylabel, **family)
        if self.percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        if len(ax.get_lines()) > 1:
            ax.legend(prop={"family": font} if font else None)
        return ax

    def _repr_html_(self) -> str:
        title = escape(self.labels["zh"][0])
        return f"<b>{title}</b>" + self.table.to_html(index=False, max_rows=20)
