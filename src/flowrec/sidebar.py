"""Placing the flow panel in JupyterLab's sidebar, through ipylab.

ipylab adds widgets to the JupyterLab shell from the kernel. Its front-end
part sends a ``lab_ready`` event once it runs, and only JupyterLab has that
part: classic Notebook, VS Code and papermill never send it. The kernel
handles the event only between cells. So the first request, made before
the event arrived, shows the panel under the cell with one short line.
When the event arrives, the panel moves to the sidebar and the line reports
where it went. Later requests place the panel at once.

Opening the tab: the kernel cannot see the sidebar's tabs, so it sends a
request to the panel's browser code. That code finds its own tab and
reports the tab's index when the tab is not open. The kernel then runs JupyterLab's
``application:toggle-sidebar-widget`` command on that index.
"""

from __future__ import annotations

import html
import logging
import os
from typing import Any

import ipywidgets as widgets

log = logging.getLogger(__name__)

SIDES = ("left", "right")
# Lower ranks come first in a sidebar.
RANK = 900

_frontend: Any = None


def frontend() -> Any:
    """Return this kernel's one ipylab front end, created on first use."""
    global _frontend
    if _frontend is None or _frontend.comm is None:
        from ipylab import JupyterFrontEnd

        _frontend = JupyterFrontEnd()
    return _frontend


def in_jupyterlab() -> bool:
    """Return True once JupyterLab's ipylab part has sent its lab_ready event to this kernel."""
    return _frontend is not None and _frontend.comm is not None and bool(_frontend.version)


def notebook_name() -> str:
    """Return the name of the kernel's notebook from JPY_SESSION_NAME (set by Jupyter servers), else ''."""
    return os.path.basename(os.environ.get("JPY_SESSION_NAME", ""))


class Note(widgets.VBox):
    """One line of text, optionally with the panel below it; plain text outside widgets."""

    def __init__(self, text: str, panel: widgets.Widget | None = None) -> None:
        self.text = text
        line = widgets.HTML(html.escape(text))
        super().__init__([line] if panel is None else [line, panel])
        self.add_class("flowrec-sidebar-note")

    def show_text(self, text: str) -> None:
        """Replace the line and drop the panel below it."""
        self.text = text
        self.children = [widgets.HTML(html.escape(text))]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle = {**bundle, "text/plain": self.text}
        return bundle


class SidebarPlacement:
    """One panel's place in one sidebar: requested, placed, or shown inline instead."""

    def __init__(self, panel: Any, side: str = "right") -> None:
        from ipylab import Panel

        if side not in SIDES:
            raise ValueError(f"sidebar side {side!r} is not one of {', '.join(SIDES)}")
        self.panel = panel
        self.side = side
        self.holder = Panel([panel])
        name = notebook_name()
        self.holder.title.label = "flowrec"
        self.holder.title.caption = f"flowrec: model flow of {name}" if name else "flowrec: model flow"
        self.holder.title.closable = True
        self.holder.add_class("flowrec-sidebar")
        self.placed = False
        self._seen_in_shell = False
        self._pending: list[Note] = []
        app = frontend()
        app.on_ready(self._on_ready)
        app.shell.observe(self._on_shell_widgets, "_widgets")
        panel.drawing.on_msg(self._on_drawing_message)

    @property
    def closed(self) -> bool:
        return self.holder.comm is None

    def request(self) -> Note:
        """Place and open the panel if JupyterLab runs; return the output for the cell."""
        if in_jupyterlab():
            if not self.placed:
                self._place()
            self._open()
            return Note(self._placed_text())
        fallback = Note("flowrec: the sidebar needs JupyterLab (with ipylab); "
                        "showing the flow panel here", self.panel)
        self._pending.append(fallback)
        return fallback

    def close(self) -> None:
        """Take the tab out of the sidebar, for good."""
        app = frontend()
        app.on_ready(self._on_ready, remove=True)
        app.shell.unobserve(self._on_shell_widgets, "_widgets")
        self.panel.drawing.on_msg(self._on_drawing_message, remove=True)
        ours = f"IPY_MODEL_{self.holder.model_id}"
        # ipylab adds every listed widget again when the page reloads: unlist this one.
        app.shell.set_trait("_widgets", [item for item in app.shell._widgets
                                         if item.get("serializedWidget") != ours])
        self.holder.children = []
        self.holder.close()
        self.placed = False

    # Internals.

    def _placed_text(self) -> str:
        return f"flowrec: the flow panel is in the {self.side} sidebar, tab \u201cflowrec\u201d"

    def _place(self) -> None:
        frontend().shell.add(self.holder, self.side, {"rank": RANK})
        self.placed = True
        self._seen_in_shell = False
        log.debug("flow panel added to the %s sidebar", self.side)

    def _open(self) -> None:
        """Ask the browser code to report the tab's index if the tab is not open."""
        self.panel.drawing.reveal += 1

    def _on_ready(self) -> None:
        """Place the panel for requests made before JupyterLab was known to run.

        On a page reload ipylab adds the widgets it lists again by itself, so
        a placed panel is not added a second time here.
        """
        try:
            if not self._pending:
                return
            if not self.placed:
                self._place()
            self._open()
            for note in self._pending:
                note.show_text(self._placed_text())
            self._pending.clear()
        except Exception:  # runs between cells; nothing to raise into
            log.warning("flowrec could not move the panel to the sidebar", exc_info=True)

    def _on_shell_widgets(self, change: Any) -> None:
        """Notice when the user closes the tab, so that the next request adds it again."""
        ours = f"IPY_MODEL_{self.holder.model_id}"
        present = any(item.get("serializedWidget") == ours for item in change["new"])
        if present:
            self._seen_in_shell = True
        elif self._seen_in_shell:
            self.placed = False
            self._seen_in_shell = False

    def _on_drawing_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Open the tab whose index the browser code reported."""
        if not isinstance(content, dict) or content.get("event") != "open-tab":
            return
        index = content.get("index")
        if content.get("side") != self.side or not isinstance(index, int) or index < 0:
            return
        try:
            frontend().commands.execute("application:toggle-sidebar-widget",
                                        {"side": self.side, "index": index})
        except Exception:
            log.warning("flowrec could not open the sidebar tab %s", index, exc_info=True)
