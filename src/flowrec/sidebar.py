"""Placing the flow panel in JupyterLab's sidebar, through ipylab.

ipylab adds widgets to the JupyterLab shell from the kernel. Its front-end
part sends a ``lab_ready`` event once it runs, and only JupyterLab has that
part: classic Notebook, VS Code and papermill never send it. The kernel
handles the event only between cells. So the first request, made before
the event arrived, shows the panel under the cell with one short line.
When the event arrives, the panel moves to the sidebar and the line reports
where it went. Later requests place the panel at once.

Opening the sidebar on the new tab waits for ipylab to report the tab as
added, so it can never open another tab by mistake.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as widgets

log = logging.getLogger(__name__)

SIDES = ("left", "right")
# Lower ranks come first in a sidebar; flowrec's tab goes first, so its index is 0.
RANK = -1
CAPTION = "flowrec: model flow"

_frontend: Any = None


def frontend() -> Any:
    """Return this kernel's one ipylab front end, created on first use."""
    global _frontend
    if _frontend is None:
        from ipylab import JupyterFrontEnd

        _frontend = JupyterFrontEnd()
    return _frontend


def in_jupyterlab() -> bool:
    """Return True once JupyterLab's ipylab part has sent its lab_ready event to this kernel."""
    return _frontend is not None and bool(_frontend.version)


class SidebarPlacement:
    """One panel's place in the sidebar: requested, placed, or shown inline instead."""

    def __init__(self, panel: widgets.Widget, side: str = "right") -> None:
        from ipylab import Panel

        if side not in SIDES:
            raise ValueError(f"sidebar side {side!r} is not one of {', '.join(SIDES)}")
        self.panel = panel
        self.side = side
        self.holder = Panel([panel])
        self.holder.title.label = "flowrec"
        self.holder.title.caption = CAPTION
        self.holder.title.closable = True
        self.holder.add_class("flowrec-sidebar")
        self.placed = False
        self._open_when_added = False
        self._notes: list[widgets.Box] = []
        app = frontend()
        app.on_ready(self._on_ready)
        app.shell.observe(self._on_shell_widgets, "_widgets")

    def request(self) -> widgets.Box:
        """Place the panel now if JupyterLab is known to run; return the output for the cell."""
        if in_jupyterlab():
            if not self.placed:
                self._place()
            return self._note(self._placed_text())
        fallback = self._note("flowrec: the sidebar needs JupyterLab (with ipylab); "
                              "showing the flow panel here", with_panel=True)
        self._notes.append(fallback)
        return fallback

    # Internals.

    def _placed_text(self) -> str:
        return f"flowrec: the flow panel is in the {self.side} sidebar (tab \u201cflowrec\u201d)"

    def _note(self, text: str, with_panel: bool = False) -> widgets.Box:
        line = widgets.HTML(html.escape(text))
        box = widgets.VBox([line, self.panel] if with_panel else [line])
        box.add_class("flowrec-sidebar-note")
        return box

    def _place(self) -> None:
        self._open_when_added = True
        frontend().shell.add(self.holder, self.side, {"rank": RANK})
        self.placed = True
        log.debug("flow panel added to the %s sidebar", self.side)

    def _on_ready(self) -> None:
        """Place the panel after the lab_ready event, and turn inline fallbacks into a note."""
        try:
            if self._notes or self.placed:
                self._place()
            for box in self._notes:
                box.children = [widgets.HTML(html.escape(self._placed_text()))]
            self._notes.clear()
        except Exception:  # runs between cells; nothing to raise into
            log.warning("flowrec could not move the panel to the sidebar", exc_info=True)

    def _on_shell_widgets(self, change: Any) -> None:
        """Open the sidebar on the tab once ipylab reports it added; forget it once closed."""
        try:
            ours = f"IPY_MODEL_{self.holder.model_id}"
            present = any(item.get("serializedWidget") == ours for item in change["new"])
            if present and self._open_when_added:
                self._open_when_added = False
                frontend().commands.execute("application:toggle-sidebar-widget",
                                            {"side": self.side, "index": 0})
            elif not present and self.placed and not self._open_when_added:
                self.placed = False  # the user closed the tab
        except Exception:
            log.warning("flowrec could not open the sidebar", exc_info=True)
