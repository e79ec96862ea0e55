"""The ``%%flow_stage`` cell magic and the ``%flow`` line magic."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .errors import BadInputError
from .flowview import FlowView, read_check_report
from .graph import FlowGraph
from .record import FLOW_MIME_TYPE
from .stage_line import StageLineError, parse_stage_arguments

if TYPE_CHECKING:
    from .recorder import Recorder

log = logging.getLogger(__name__)


@magics_class
class FlowMagics(Magics):
    """Magics that mark stages and show the flow recorded in this kernel."""

    def __init__(self, shell, recorder: Recorder) -> None:
        super().__init__(shell)
        self.recorder = recorder

    @cell_magic
    def flow_stage(self, line: str, cell: str) -> None:
        """Mark this cell as a stage of the model flow.

        Usage::

            %%flow_stage NAME [--after STAGE[,STAGE...]] [--ignore VAR[,VAR...]]

        NAME      the stage name: up to 64 letters, digits, '_', '-' or '.',
                  starting with a letter or '_'.
        --after   stages this one must follow even though it reads nothing
                  they wrote (an ordering the analysis cannot see).
        --ignore  variables whose values are known to vary from run to run;
                  they are recorded but not compared by ``flowrec check``.

        The cell body runs exactly as it would without this line: same
        result, same display, and its exceptions reach the kernel. flowrec
        records what the cell read and wrote, with content fingerprints, in
        a display output that is saved with the notebook.

        Example::

            %%flow_stage train --after split --ignore fit_seconds
            model = LogisticRegression(max_iter=500).fit(X_train, y_train)
        """
        try:
            parse_stage_arguments(line)
        except StageLineError as error:
            raise UsageError(str(error)) from None
        # A valid stage line normally never reaches this method: the input
        # transformer blanks it so the body runs as the cell itself. It gets
        # here only through an explicit run_cell_magic call.
        result = self.shell.run_cell(cell, store_history=False)
        if result.error_in_exec is not None:
            raise UsageError(
                f"the body of stage {line.split()[0]!r} raised "
                f"{type(result.error_in_exec).__name__}: {result.error_in_exec}"
            )

    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        default="show",
        choices=["show", "sidebar", "text", "json", "stale", "rerun", "reset"],
        help="show: draw the flow panel under the cell (default), or with PATH the flow "
        "saved in another notebook; sidebar: put the panel in JupyterLab's sidebar; "
        "text: print the flow as text; json: print it as JSON, or write it to --output; "
        "stale: list the cells whose inputs changed after they ran; rerun: run the stale "
        "cells again, in the order they last ran; reset: forget every record of this session",
    )
    @argument("path", nargs="?", help="an executed notebook whose saved flow to show "
              "(with show, text or json) instead of this kernel's")
    @argument("-o", "--output", help="file to write the JSON flow to (with the json action)")
    @argument("--report", help="a flowrec check --json report: colour stages by its "
              "verdicts (kept for this kernel's panel until another is given)")
    @argument("--side", choices=["left", "right"], default=None,
              help="the sidebar to use (with sidebar; default: right)")
    @line_magic
    def flow(self, line: str) -> None:
        """Show the flow panel, list or export the flow, or reset it.

        Usage::

            %flow                      draw this kernel's flow, live
            %flow show PATH.ipynb      draw the flow saved in another notebook
            %flow sidebar              put the live panel in JupyterLab's sidebar
            %flow --report check.json  colour stages by a check's verdicts
            %flow text | json | stale | rerun | reset
        """
        try:
            argv = shlex.split(line)
        except ValueError as error:  # an unclosed quote
            raise UsageError(f"invalid %flow arguments {line!r}: {error}") from None
        try:
            args = self.flow.parser.parse_args(argv)
        except UsageError:
            raise
        except SystemExit:  # argparse exits on a bad choice; report it as a usage error
            raise UsageError(f"invalid %flow arguments {line!r}; see %flow?") from None
        if args.path and args.action not in ("show", "text", "json"):
            raise UsageError(f"%flow {args.action} takes no notebook path; got {args.path!r}")
        if args.side and args.action != "sidebar":
            raise UsageError("--side goes with %flow sidebar")
        if args.report and args.action not in ("show", "sidebar"):
            raise UsageError("--report goes with %flow, %flow show or %flow sidebar")
        if args.output and args.action != "json":
            raise UsageError("--output goes with %flow json")
        report = self._read_report(args.report) if args.report else None
        if args.action == "stale":
            self._print_stale()
        elif args.action == "rerun":
            self._rerun_stale()
        elif args.action == "reset":
            self.recorder.reset()
            print("flowrec: forgot every record of this session")
        elif args.action in ("text", "json"):
            graph = (self._saved_view(args.path).graph if args.path
                     else FlowView.of_recorder(self.recorder).graph)
            if args.action == "text":
                self._show({"text/plain": graph.render_text()}, graph.to_json())
            else:
                self._show_json(graph, args.output)
        elif args.action == "sidebar":
            panel = live_panel(self.recorder)
            if report is not None:
                panel.report = report
            open_sidebar(self.shell, self.recorder, args.side or "right")
        elif args.path:
            from .panel import FlowPanel

            view = self._saved_view(args.path)
            if report is not None:
                self._warn_other_notebook(report, Path(args.path).name)
            show_widget(self.shell, FlowPanel(lambda: view, report))
        else:
            panel = live_panel(self.recorder)
            if report is not None:
                panel.report = report
            panel.refresh()
            show_widget(self.shell, panel)

    def _show_json(self, graph: FlowGraph, output: str | None) -> None:
        data = graph.to_json()
        text = json.dumps(data, indent=2)
        if not output:
            self._show({"application/json": data, "text/plain": text}, data)
            return
        path = Path(output).expanduser()
        try:
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {str(path)!r}: {error.strerror}") from None
        print(f"flowrec: wrote the flow to {path}")

    def _read_report(self, text: str) -> dict:
        try:
            return read_check_report(Path(text).expanduser())
        except BadInputError as error:
            raise UsageError(str(error)) from None

    def _warn_other_notebook(self, report: dict, name: str) -> None:
        checked = Path(str(report.get("notebook") or "")).name
        if checked and checked != name:
            show_note(self.shell, f"flowrec: the report is for {checked}, not {name}; "
                      "stages are matched by name")

    def _saved_view(self, text: str) -> FlowView:
        try:
            return FlowView.of_notebook(Path(text).expanduser())
        except BadInputError as error:
            raise UsageError(str(error)) from None

    def _print_stale(self) -> None:
        stale = self.recorder.stale()
        if not stale:
            print("flowrec: no stale cells")
            return
        print(f"flowrec: {len(stale)} stale cell(s); run %flow rerun to run them again")
        for key, reason in stale.items():
            record = self.recorder.latest[key]
            print(f"  {record.label} (In [{record.execution_count}]): {reason}")

    def _rerun_stale(self) -> None:
        """Run stale cells again, one at a time, until none is stale or one fails."""
        done: set[str] = set()
        while True:
            stale = self.recorder.stale()
            pending = [key for key in stale if key not in done]
            if not pending:
                break
            key = pending[0]
            done.add(key)
            record = self.recorder.latest[key]
            print(f"flowrec: re-running {record.label} (In [{record.execution_count}]): "
                  f"{stale[key]}")
            result = self.recorder.rerun(record)
            if not result.success:
                print(f"flowrec: {record.label} failed; stopped re-running")
                return
        remaining = self.recorder.stale()
        if remaining:
            names = ", ".join(self.recorder.latest[key].label for key in remaining)
            print(f"flowrec: still stale after one re-run each: {names}")
        elif done:
            print(f"flowrec: re-ran {len(done)} cell(s); no stale cells left")
        else:
            print("flowrec: no stale cells")

    def _show(self, bundle: dict, graph_json: dict) -> None:
        """Display a listing tagged with flowrec's flow MIME type.

        The tag lets ``flowrec check`` skip it when comparing outputs: a
        listing of the flow contains timings that differ on every run.
        """
        self.shell.display_pub.publish(data={FLOW_MIME_TYPE: graph_json, **bundle}, metadata={})


def live_panel(recorder: Recorder):
    """Return the kernel's one live flow panel, created on first use.

    Every ``%flow`` shows this same panel, so all its views stay in step,
    and the recorder redraws it after each cell. A panel whose widgets were
    closed (``Widget.close_all()``) is replaced by a new one.
    """
    from .panel import FlowPanel

    panel = recorder.panel
    if panel is not None and not panel.is_open:
        if panel.refresh in recorder.listeners:
            recorder.listeners.remove(panel.refresh)
        panel = None
    if panel is None:
        panel = FlowPanel(lambda: FlowView.of_recorder(recorder))
        recorder.panel = panel
        recorder.listeners.append(panel.refresh)
    return panel


def sidebar_of(recorder: Recorder, side: str):
    """Return the sidebar placement of the live panel on ``side``, moving it from the other side.

    Raises ImportError when ipylab is not installed.
    """
    from .sidebar import SidebarPlacement

    panel = live_panel(recorder)
    placement = recorder.sidebar
    if placement is not None and (placement.side != side or placement.closed
                                  or placement.panel is not panel):
        if not placement.closed:
            placement.close()
        placement = None
    if placement is None:
        placement = SidebarPlacement(panel, side)
        recorder.sidebar = placement
    return placement


def open_sidebar(shell: Any, recorder: Recorder, side: str) -> None:
    """Put the live panel in JupyterLab's ``side`` sidebar, or under the cell outside JupyterLab."""
    panel = live_panel(recorder)
    panel.refresh()
    try:
        shown = sidebar_of(recorder, side).request()
    except ImportError:
        show_note(shell, "flowrec: the sidebar needs ipylab (pip install ipylab); "
                  "showing the flow panel here")
        shown = panel
    show_widget(shell, shown)


def show_widget(shell: Any, widget: Any) -> None:
    """Display a panel or note under the running cell, tagged so that checks skip it."""
    try:
        bundle = widget._repr_mimebundle_()
    except Exception:
        log.warning("flowrec could not display the panel", exc_info=True)
        bundle = None
    if not bundle:
        print("flowrec: the panel could not be displayed; see %flow text for the flow")
        return
    shell.display_pub.publish(data={FLOW_MIME_TYPE: {"panel": True}, **bundle}, metadata={})


def show_note(shell: Any, text: str) -> None:
    """Display one line of flowrec's own, tagged so that checks skip it."""
    shell.display_pub.publish(data={FLOW_MIME_TYPE: {"note": text}, "text/plain": text},
                              metadata={})
