"""Settings of the ``%load_ext flowrec`` extension.

They are read from IPython's configuration, for example in
``~/.ipython/profile_default/ipython_kernel_config.py``::

    c.Flowrec.sidebar = "right"

or from the environment of the kernel (``FLOWREC_SIDEBAR=right``), which
wins over the configuration file.
"""

from __future__ import annotations

import os
from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable

SIDEBAR_VARIABLE = "FLOWREC_SIDEBAR"
SIDEBAR_CHOICES = ("", "left", "right")


class Flowrec(Configurable):
    """The ``c.Flowrec`` section of IPython's configuration."""

    sidebar = Unicode(
        "",
        help="Open the flow panel in JupyterLab's 'left' or 'right' sidebar when "
        "%load_ext flowrec runs; empty to leave it closed.",
    ).tag(config=True)


def sidebar_setting(shell: Any) -> tuple[str, str | None]:
    """Return ``(side, problem)``: the side to open on load ('' for none), and why a value was rejected."""
    from_environment = os.environ.get(SIDEBAR_VARIABLE)
    if from_environment is not None:
        value, origin = from_environment.strip().lower(), f"{SIDEBAR_VARIABLE}={from_environment!r}"
    else:
        value = Flowrec(parent=shell).sidebar.strip().lower()
        origin = f"c.Flowrec.sidebar = {value!r}"
    if value in SIDEBAR_CHOICES:
        return value, None
    return "", f"flowrec: ignoring {origin}; use 'left', 'right' or leave it empty"
