"""The eval history as a plot: one column per finished run, pass rate as a dot, its 95% CI as a
whisker, the best run of the newest section as a star, a dotted rule where the model weights or
the eval-set version change. Same data as `workbench eval history` (core/evals/history.py).

Drawn as Rich Text by hand (no plotting package): a dozen rows of cells is all a plateau needs.
Variant names never reach the plot (only run ids), so no user text can carry markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widget import Widget

from workbench.core.evals.history import History, HistoryPoint

Y_LABEL = 5  # "100% "


def _row_of(value: float, rows: int, bottom: float = 0.0, top: float = 1.0) -> int:
    """The row (0 = the top of the scale) a rate falls in."""
    return min(rows - 1, max(0, int(round((top - value) / (top - bottom) * (rows - 1)))))


def scale(points: list[HistoryPoint]) -> tuple[float, float]:
    """The y range: the intervals' extent rounded out to tens of percent, at least 20 points
    wide, so a plateau's small differences get rows instead of sharing one."""
    import math

    lows = [p.lo if p.lo is not None else p.rate for p in points if p.rate is not None]
    highs = [p.hi if p.hi is not None else p.rate for p in points if p.rate is not None]
    if not lows:
        return 0.0, 1.0
    bottom = math.floor(min(lows) * 10) / 10
    top = math.ceil(max(highs) * 10) / 10
    if top - bottom < 0.2:
        top, bottom = min(1.0, bottom + 0.2), max(0.0, min(bottom, top - 0.2))
    return bottom, top


class EvalHistoryPlot(Widget):
    """Pass rate with CI whiskers per run, for the eval set of the selected run."""

    COMPONENT_CLASSES = {
        "eval-history--point",
        "eval-history--best",
        "eval-history--whisker",
        "eval-history--rule",
        "eval-history--axis",
    }
    DEFAULT_CSS = """
    EvalHistoryPlot { height: 13; padding: 0 1; }
    EvalHistoryPlot > .eval-history--point { color: $primary; text-style: bold; }
    EvalHistoryPlot > .eval-history--best { color: $success; text-style: bold; }
    EvalHistoryPlot > .eval-history--whisker { color: $primary 70%; }
    EvalHistoryPlot > .eval-history--rule { color: $warning; }
    EvalHistoryPlot > .eval-history--axis { color: $text-muted; }
    """

    @dataclass
    class Loaded(Message):
        """A set's history read from the store."""

        history: History

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: History | None = None
        self._scale = (0.0, 1.0)

    def show_history(self, history: History | None) -> None:
        self.history = history
        self.refresh()

    @work(thread=True, exclusive=True, group="eval-history", exit_on_error=False)
    def load(self, store: Any, evalset: str) -> None:
        from workbench.core.evals.history import load_history

        self.post_message(self.Loaded(load_history(store, evalset)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.show_history(message.history)

    # -- drawing -------------------------------------------------------------------------------
    def render(self) -> Text:
        h = self.history
        if h is None:
            return Text("")
        if not h.points:
            return Text(f"history: no finished whole-set runs of {h.evalset} yet", style="dim")
        return self.draw(h, max(10, self.size.width), max(6, self.size.height))

    def draw(self, h: History, width: int, height: int) -> Text:
        style = self.get_component_rich_style
        axis, rule = style("eval-history--axis"), style("eval-history--rule")
        rows = height - 3  # title, run ids, legend
        col_w = max(4, max(len(f"e{p.run_id}") for p in h.points) + 1)
        fit = max(1, (width - Y_LABEL - 1) // (col_w + 1))
        points = h.points[-fit:]
        out = Text()
        hidden = len(h.points) - len(points)
        out.append(
            f"history · {h.evalset} · {len(points)} runs" + (f" (newest; {hidden} older)" if hidden else ""),
            style="bold",
        )
        out.append("\n")
        bottom, top = scale(points)
        self._scale = (bottom, top)
        for r in range(rows):
            value = {
                0: top,
                (rows - 1) // 2: top - (top - bottom) * ((rows - 1) // 2) / (rows - 1),
                rows - 1: bottom,
            }.get(r)
            label = f"{value:.0%}" if value is not None else ""
            out.append(f"{label:>4} ", axis)
            out.append("┤" if label else "│", axis)
            prev = None
            for p in points:
                if prev is not None and p.segment != prev:
                    out.append("┊", rule)
                else:
                    out.append(" ")
                prev = p.segment
                out.append_text(self._cell(p, r, rows, col_w))
            out.append("\n")
        out.append(" " * Y_LABEL + " ", axis)
        prev = None
        for p in points:
            out.append("┊" if prev is not None and p.segment != prev else " ", rule)
            prev = p.segment
            out.append(f"e{p.run_id}".center(col_w), style("eval-history--best") if p.best else axis)
        out.append("\n")
        out.append_text(self._legend(h))
        return out

    def _cell(self, p: HistoryPoint, r: int, rows: int, width: int) -> Text:
        style = self.get_component_rich_style
        if p.rate is None:
            return Text(" " * width)
        b, t = self._scale
        at = _row_of(p.rate, rows, b, t)
        lo, hi = _row_of(p.lo or 0.0, rows, b, t), _row_of(p.hi if p.hi is not None else 1.0, rows, b, t)
        if r == at:
            glyph, s = ("★", style("eval-history--best")) if p.best else ("●", style("eval-history--point"))
        elif r == hi:
            glyph, s = "┬", style("eval-history--whisker")
        elif r == lo:
            glyph, s = "┴", style("eval-history--whisker")
        elif hi < r < lo:
            glyph, s = "│", style("eval-history--whisker")
        else:
            return Text(" " * width)
        left = (width - 1) // 2
        return Text(" " * left) + Text(glyph, s) + Text(" " * (width - left - 1))

    def _legend(self, h: History) -> Text:
        style = self.get_component_rich_style
        legend = Text()
        legend.append("● pass rate ", style("eval-history--point"))
        legend.append("┬┴ 95% CI", style("eval-history--whisker"))
        best = h.best
        if best is not None and best.rate is not None:
            legend.append(f"  ★ best e{best.run_id} {best.rate:.0%}", style("eval-history--best"))
        if len(h.segments) > 1:
            legend.append("  ┊ other weights or set version", style("eval-history--rule"))
        return legend
