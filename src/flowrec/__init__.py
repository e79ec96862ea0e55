"""flowrec: record a notebook's model flow and check that it reproduces.

In a notebook::

    %load_ext flowrec

then start the cells that matter with ``%%flow_stage NAME``. From a terminal,
``flowrec check NOTEBOOK`` re-executes the notebook with papermill and
compares every stage with the records saved in it.
"""

from __future__ import annotations

import logging
from typing import Any

from .fingerprints import Fingerprint, NumericSummary, fingerprint
from .record import MIME_TYPE, CellRecord

__all__ = [
    "MIME_TYPE",
    "CellRecord",
    "Fingerprint",
    "NumericSummary",
    "fingerprint",
    "load_ipython_extension",
    "unload_ipython_extension",
    "start_recording",
]
__version__ = "0.1.0"

logging.getLogger("flowrec").addHandler(logging.NullHandler())
log = logging.getLogger(__name__)

# The recorder of each shell, so that loading twice, or loading after
# ``flowrec check`` started recording, reuses one recorder.
_RECORDER_ATTRIBUTE = "_flowrec_recorder"


def start_recording(shell: Any = None, record_current_cell: bool = False) -> Any:
    """Install flowrec's hooks, magics and input transformer in ``shell``.

    Calling it again on the same shell does nothing more. Returns the
    shell's :class:`~flowrec.recorder.Recorder`.
    """
    from .magics import FlowMagics
    from .recorder import Recorder
    from .stage_line import strip_stage_line

    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            raise RuntimeError("flowrec records IPython kernels; no IPython shell is running")
    recorder = getattr(shell, _RECORDER_ATTRIBUTE, None)
    if recorder is not None and recorder.active:
        return recorder
    recorder = Recorder(shell)
    setattr(shell, _RECORDER_ATTRIBUTE, recorder)
    shell.register_magics(FlowMagics(shell, recorder))
    if strip_stage_line not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(strip_stage_line)
    recorder.register()
    if record_current_cell:
        recorder.begin_current_cell()
    log.debug("flowrec recording started")
    return recorder


def load_ipython_extension(shell: Any) -> None:
    """Entry point of ``%load_ext flowrec``; opens the sidebar when the settings ask for it."""
    from .settings import sidebar_setting

    recorder = start_recording(shell, record_current_cell=True)
    side, problem = sidebar_setting(shell)
    if problem or side:
        from .magics import open_sidebar, show_note

        if problem:
            show_note(shell, problem)
        if side:
            open_sidebar(shell, recorder, side)


def unload_ipython_extension(shell: Any) -> None:
    """Entry point of ``%unload_ext flowrec``: remove every hook, magic and transformer."""
    from .stage_line import strip_stage_line

    recorder = getattr(shell, _RECORDER_ATTRIBUTE, None)
    if recorder is not None:
        recorder.unregister()
        delattr(shell, _RECORDER_ATTRIBUTE)
    while strip_stage_line in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(strip_stage_line)
    magics = shell.magics_manager.magics
    magics["cell"].pop("flow_stage", None)
    magics["line"].pop("flow", None)
    log.debug("flowrec unloaded")
