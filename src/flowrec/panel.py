"""The flow panel: an ipywidgets panel that draws the flow and explains each node.

Its parts:

- a drawing of the layered graph, with zoom, a legend, and a click that
  selects a node. It is :class:`FlowGraphWidget`, an anywidget whose browser
  code ships in ``flowrec/static``, so nothing is fetched at run time;
- the selected node's details, rendered as escaped HTML;
- a second tab with a matplotlib bar chart of the durations, drawn only
  while that tab is shown.

A live panel follows the kernel's recorder and redraws after every cell; a
panel of a saved notebook is drawn once.
"""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path
from typing import Any, Callable

import anywidget
import ipywidgets as widgets
import traitlets

from .flowview import FlowView
from .record import FLOW_MIME_TYPE

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

# The durations chart shows every node up to this many, else the slowest ones.
DURATION_BARS = 30


class FlowGraphWidget(anywidget.AnyWidget):
    """The drawing of the flow; ``graph`` comes from :meth:`FlowView.model`."""

    _esm = (STATIC / "flow_panel.js").read_text(encoding="utf-8")
    _css = (STATIC / "flow_panel.css").read_text(encoding="utf-8")
    graph = traitlets.Dict().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    # Counted up by the kernel to ask the view in a sidebar to open its tab.
    reveal = traitlets.Int(0).tag(sync=True)


class FlowPanel(widgets.VBox):
    """The flow drawing, the details of the selected node, and a durations tab.

    ``source`` returns a fresh :class:`FlowView` each time the panel redraws.
    """

    def __init__(self, source: Callable[[], FlowView], report: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        self._source = source
        self.report = report
        self.view: FlowView | None = None
        self.drawing = FlowGraphWidget()
        self.show_steps = widgets.Checkbox(value=True, description="show unnamed steps",
                                           indent=False, layout=widgets.Layout(width="auto"))
        self.details = widgets.HTML(layout=widgets.Layout(overflow="auto"))
        self.details.add_class("flowrec-details-box")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.chart_note = widgets.HTML()
        self.status = widgets.HTML()
        self.tabs = widgets.Tab(children=[
            widgets.VBox([self.show_steps, self.drawing, self.details]),
            widgets.VBox([self.chart_note, self.chart]),
        ])
        self.tabs.set_title(0, "Flow")
        self.tabs.set_title(1, "Durations")
        self._chart_stale = True
        super().__init__(children=[self.status, self.tabs], **kwargs)
        self.add_class("flowrec-panel")
        self.drawing.observe(self._on_select, "selected")
        self.show_steps.observe(lambda _: self.refresh(), "value")
        self.tabs.observe(self._on_tab, "selected_index")
        self.refresh()

    @property
    def is_open(self) -> bool:
        """False once the panel's widgets were closed, for example by ``Widget.close_all()``."""
        return self.comm is not None and all(
            part.comm is not None for part in (self.drawing, self.details, self.tabs))

    # Updating.

    def refresh(self) -> None:
        """Redraw from the source; log and show a short message instead of raising."""
        try:
            view = self._source()
            if self.report is not None:
                view.apply_report(self.report)
            self.view = view
            self.drawing.graph = view.model(show_steps=self.show_steps.value)
            self.status.value = "".join(f"<i>{html.escape(problem)}</i><br>"
                                        for problem in view.problems)
            self._update_details()
            self._chart_stale = True
            if self.tabs.selected_index == 1:
                self._draw_chart()
        except Exception as error:  # a drawing problem must never reach the user's cell
            log.warning("flowrec could not draw the flow", exc_info=True)
            self.status.value = f"<i>flowrec could not draw the flow: {type(error).__name__}</i>"

    def _on_select(self, _change: Any) -> None:
        try:
            self._update_details()
        except Exception:
            log.warning("flowrec could not show the details", exc_info=True)

    def _update_details(self) -> None:
        if self.view is not None:
            self.details.value = self.view.details_html(self.drawing.selected)

    def _on_tab(self, change: Any) -> None:
        if change["new"] == 1 and self._chart_stale:
            self._draw_chart()

    def _draw_chart(self) -> None:
        """Draw the durations chart, or explain in the tab why it cannot be drawn."""
        try:
            self._draw_chart_unguarded()
        except Exception as error:
            log.warning("flowrec could not draw the durations chart", exc_info=True)
            self.chart_note.value = (f"<i>flowrec could not draw the durations chart: "
                                     f"{type(error).__name__}</i>")

    def _draw_chart_unguarded(self) -> None:
        if self.view is None:
            return
        self._chart_stale = False
        bars = self.view.durations(show_steps=self.show_steps.value)
        if not bars:
            self.chart_note.value = "<i>Nothing recorded yet.</i>"
            self.chart.value = b""
            return
        try:
            self.chart.value = duration_chart(bars)
        except ImportError:
            self.chart_note.value = ("<i>Install matplotlib to see the chart of stage "
                                     "durations.</i>")
            return
        if len(bars) > DURATION_BARS:
            self.chart_note.value = (f"The {DURATION_BARS} slowest of {len(bars)} cells, "
                                     "slowest first.")
        else:
            self.chart_note.value = "Seconds per cell, in the order the cells ran."

    # Display.

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """Add a text form for front ends without widgets, and flowrec's tag.

        With the tag, ``flowrec check`` leaves this output out of the
        comparison, because a drawing of the flow differs on every run.
        """
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        bundle = dict(bundle)
        if self.view is not None:
            bundle["text/plain"] = self.view.graph.render_text()
        else:
            bundle["text/plain"] = "flowrec: the flow could not be drawn; see %flow text"
        bundle[FLOW_MIME_TYPE] = {"panel": self.view.title if self.view else ""}
        return bundle


def duration_chart(bars: list[tuple[str, float, bool]]) -> bytes:
    """Draw ``(label, seconds, is_stage)`` bars as a PNG, without touching pyplot's state."""
    from matplotlib.figure import Figure

    if len(bars) > DURATION_BARS:
        bars = sorted(bars, key=lambda bar: -bar[1])[:DURATION_BARS]
    figure = Figure(figsize=(4.4, 0.8 + 0.26 * len(bars)), dpi=96, layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(bars)))
    axes.barh(positions, [bar[1] for bar in bars],
              color=["#3c6fb6" if bar[2] else "#9aa5b5" for bar in bars])
    axes.set_yticks(positions, [bar[0] if len(bar[0]) <= 28 else bar[0][:27] + "\u2026"
                                for bar in bars], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds (grey: unnamed steps)")
    axes.grid(axis="x", alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
