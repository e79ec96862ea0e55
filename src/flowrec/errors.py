"""Exceptions raised by flowrec.

Hierarchy::

    FlowrecError
    ├── BadInputError        the user gave a path, notebook, kernel or parameter
    │                        that cannot be used (the CLI exits with status 2)
    │   └── NotebookError    a file is not a readable Jupyter notebook
    └── RecordFormatError    a saved record is not valid flowrec JSON

The kernel-side recorder never lets any of these reach user code: it logs
them under the ``flowrec`` logger and records the cell as incomplete instead.
"""

from __future__ import annotations


class FlowrecError(Exception):
    """Base class of every error that flowrec raises on purpose."""


class BadInputError(FlowrecError, ValueError):
    """An input named by the user cannot be used. The message names the fix."""


class NotebookError(BadInputError):
    """A path does not hold a readable Jupyter notebook."""


class RecordFormatError(FlowrecError, ValueError):
    """A stage record found in a notebook does not follow the record schema."""
