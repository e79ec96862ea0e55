"""pytest plugin: check with flowrec that notebooks reproduce their saved records.

``pytest --flowrec PATH...`` collects every .ipynb file under PATH as one
test item. The item runs ``flowrec check`` on the notebook: it passes when
every recorded cell reproduced, and fails with the verdict table and the
likely cause otherwise. The ``--flowrec-*`` options and ``flowrec_*`` ini
options set what the CLI's check options set; a command-line option takes
precedence over its ini option.

pytest loads this module through the ``pytest11`` entry point, and
``-p no:flowrec`` disables it. Without ``--flowrec`` it only adds its
options, so it changes no other test run. Everything beyond pytest and the
standard library is imported once ``--flowrec`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import keyword
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

CHECKPOINTS_FOLDER = ".ipynb_checkpoints"
# One item per notebook, so its node id is ``path/to/notebook.ipynb::flowrec``.
ITEM_NAME = "flowrec"
# Used when pytest cannot tell the terminal width, as in an xdist worker.
DEFAULT_REPORT_WIDTH = 120
MIN_REPORT_WIDTH = 80


@dataclass(frozen=True)
class PluginSettings:
    """The check options of one pytest session, validated."""

    rtol: float
    atol: float
    runs: int = 1
    timeout: float | None = None
    kernel: str | None = None
    hash_seeds: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    normalize: tuple[str, ...] = ()
    output_dir: Path | None = None
    reference: Path | None = None


SETTINGS_KEY = pytest.StashKey[PluginSettings]()


class NotReproducedError(Exception):
    """Raised when a checked notebook did not reproduce. Its message is the rendered report."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowrec", "flowrec: check that notebooks reproduce their records")
    group.addoption("--flowrec", action="store_true", default=False,
                    help="collect the .ipynb files under the given paths and check each with "
                    "flowrec: one test per notebook")
    group.addoption("--flowrec-rtol", metavar="X",
                    help="relative tolerance for floats to count as close (default: 1e-05; "
                    "ini: flowrec_rtol)")
    group.addoption("--flowrec-atol", metavar="Y",
                    help="absolute tolerance for floats to count as close (default: 1e-08; "
                    "ini: flowrec_atol)")
    group.addoption("--flowrec-runs", metavar="N",
                    help="run each notebook N times; a cell that reproduces in only some runs "
                    "fails as flaky (default: 1; ini: flowrec_runs)")
    group.addoption("--flowrec-timeout", metavar="SECONDS",
                    help="maximum run time of one cell, in seconds (default: no limit; "
                    "ini: flowrec_timeout)")
    group.addoption("--flowrec-kernel", metavar="NAME",
                    help="kernel to run every notebook on (default: each notebook's own, else "
                    "python3; ini: flowrec_kernel)")
    group.addoption("--flowrec-hash-seeds", action="store_true", default=False,
                    help="also run under PYTHONHASHSEED=0 and 1 to confirm which cells depend "
                    "on the hash seed (ini: flowrec_hash_seeds)")
    group.addoption("--flowrec-parameter", action="append", default=[], metavar="NAME=VALUE",
                    help="set a papermill parameter in every notebook (repeatable); VALUE is read "
                    "as an integer, decimal, True, False or None when it is one, else as text")
    group.addoption("--flowrec-normalize", action="append", default=[], metavar="REGEX",
                    help="also replace text matching REGEX in outputs before comparing "
                    "(repeatable; added to the ini option flowrec_normalize)")
    group.addoption("--flowrec-output-dir", metavar="DIR",
                    help="keep each executed notebook in DIR, at the notebook's path relative to "
                    "the rootdir (default: discard them)")
    group.addoption("--flowrec-reference", metavar="DIR",
                    help="compare each notebook with the run that flowrec record --store DIR "
                    "stored for it, instead of the records saved in the notebook")

    parser.addini("flowrec_rtol", "relative tolerance for floats to count as close")
    parser.addini("flowrec_atol", "absolute tolerance for floats to count as close")
    parser.addini("flowrec_runs", "number of runs of each notebook")
    parser.addini("flowrec_timeout", "maximum run time of one cell, in seconds")
    parser.addini("flowrec_kernel", "kernel to run every notebook on")
    parser.addini("flowrec_reference", "reference store written by flowrec record --store")
    parser.addini("flowrec_hash_seeds", "also run under PYTHONHASHSEED=0 and 1", type="bool",
                  default=False)
    parser.addini("flowrec_normalize", "regular expressions to replace in outputs before "
                  "comparing, one a line", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("flowrec"):
        config.stash[SETTINGS_KEY] = read_settings(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return None
    kernel = settings.kernel or "each notebook's own"
    header = (f"flowrec: rtol={settings.rtol}, atol={settings.atol}, runs={settings.runs}, "
              f"kernel: {kernel}")
    if settings.hash_seeds:
        header += ", hash seeds 0 and 1 compared"
    if settings.parameters:
        header += ", parameters: " + ", ".join(
            f"{name}={value!r}" for name, value in settings.parameters.items())
    if settings.output_dir is not None:
        header += f", executed notebooks kept in {settings.output_dir}"
    if settings.reference is not None:
        header += f", references from {settings.reference}"
    return header


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> NotebookFile | None:
    if SETTINGS_KEY not in parent.config.stash or file_path.suffix != ".ipynb":
        return None
    from .execute import file_written_by_flowrec

    # A path named on the command line is always collected, as pytest does for .py files.
    skipped = CHECKPOINTS_FOLDER in file_path.parts or file_written_by_flowrec(file_path)
    if skipped and not parent.session.isinitpath(file_path):
        return None
    return NotebookFile.from_parent(parent, path=file_path)


class NotebookFile(pytest.File):
    """A notebook collected with ``--flowrec``. It contains one item, its check."""

    def collect(self) -> Iterator[NotebookItem]:
        yield NotebookItem.from_parent(self, name=ITEM_NAME)


class NotebookItem(pytest.Item):
    """The flowrec check of one notebook."""

    def runtest(self) -> None:
        from .check import (
            DEFAULT_KERNEL,
            CheckOptions,
            check_kernel,
            declared_parameters,
            run_check,
        )
        from .errors import BadInputError
        from .notebook import cell_entries, has_records, kernel_name_of, read_notebook

        settings = self.config.stash[SETTINGS_KEY]
        notebook = read_notebook(self.path)
        entries = cell_entries(notebook)
        unreadable = any(entry.record_errors for entry in entries)
        if settings.reference is None and not has_records(entries) and not unreadable:
            raise BadInputError(
                f"{self.display_path!r} has no flowrec records to compare with: run it with "
                "'%load_ext flowrec' in its first cell and save it, so that its records are "
                "saved in the .ipynb")
        kernel = settings.kernel or kernel_name_of(notebook) or DEFAULT_KERNEL
        check_kernel(kernel, "--flowrec-kernel")
        # As with flowrec check on several notebooks, each notebook takes only the
        # parameters its parameters cell assigns.
        declared = declared_parameters(entries) or set()
        options = CheckOptions(
            notebook=self.path,
            parameters={name: value for name, value in settings.parameters.items()
                        if name in declared},
            output=self._output_path(settings.output_dir),
            kernel=kernel,
            timeout=settings.timeout,
            rtol=settings.rtol,
            atol=settings.atol,
            normalize=list(settings.normalize),
            runs=settings.runs,
            hash_seeds=settings.hash_seeds,
        )
        if settings.reference is not None:
            from .store import ReferenceStore

            options = ReferenceStore.open(settings.reference).reference_options(options)
        with _quiet_loggers(self.config):
            result = run_check(options)
        report = render_report(result, f"flowrec check: {self.display_path}",
                               _report_width(self.config))
        if not result.reproduced:
            raise NotReproducedError(f"{failure_summary(result)}\n\n{report}")
        # pytest shows this section for passed tests with -rP, because warnings can
        # matter even when every cell reproduced.
        self.add_report_section("call", "flowrec", report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        """Return the report or the one-line error alone, since a traceback into flowrec is noise."""
        from .errors import FlowrecError

        if isinstance(excinfo.value, NotReproducedError):
            return str(excinfo.value)
        if isinstance(excinfo.value, FlowrecError):
            return f"flowrec: error: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.display_path

    @property
    def display_path(self) -> str:
        """The notebook's path relative to the folder pytest was started in."""
        try:
            return os.path.relpath(self.path, self.config.invocation_params.dir)
        except ValueError:  # another drive on Windows
            return str(self.path)

    def _output_path(self, output_dir: Path | None) -> Path | None:
        """Choose and check where to keep the executed notebook, and create its folder.

        It is the notebook's rootdir-relative path under ``output_dir``. An
        input notebook or a file flowrec did not write is never replaced.
        """
        from .execute import file_written_by_flowrec
        from .outputs import check_output_path

        if output_dir is None:
            return None
        try:
            relative = self.path.relative_to(self.config.rootpath)
        except ValueError:
            relative = Path(*self.path.parts[1:])  # outside the rootdir: the absolute path
        output = output_dir / relative
        output.parent.mkdir(parents=True, exist_ok=True)
        return check_output_path(output, "--flowrec-output-dir", [self.path],
                                 file_written_by_flowrec, ".ipynb")


def read_settings(config: pytest.Config) -> PluginSettings:
    """Read and validate the ``--flowrec-*`` and ``flowrec_*`` options; raise pytest.UsageError."""
    from .check import check_kernel
    from .cli import _positive_count, _positive_seconds, _tolerance
    from .compare import DEFAULT_ATOL, DEFAULT_RTOL
    from .errors import BadInputError

    kernel = _setting(config, "kernel", str, None)
    if kernel is not None:
        try:
            check_kernel(kernel, "--flowrec-kernel")
        except BadInputError as error:
            raise pytest.UsageError(str(error)) from None
    return PluginSettings(
        rtol=_setting(config, "rtol", _tolerance, DEFAULT_RTOL),
        atol=_setting(config, "atol", _tolerance, DEFAULT_ATOL),
        runs=_setting(config, "runs", _positive_count, 1),
        timeout=_setting(config, "timeout", _positive_seconds, None),
        kernel=kernel,
        hash_seeds=bool(config.getoption("flowrec_hash_seeds") or config.getini("flowrec_hash_seeds")),
        parameters=_parameters(config.getoption("flowrec_parameter")),
        normalize=_normalize_patterns(config),
        output_dir=_output_dir(config),
        reference=_reference_store(config),
    )


def _setting(config: pytest.Config, name: str, parse: Callable[[str], Any], default: Any) -> Any:
    """Parse ``--flowrec-NAME``, else the ini option ``flowrec_NAME``, else return ``default``."""
    text = config.getoption(f"flowrec_{name}")
    source = f"--flowrec-{name}"
    if text is None:
        text = config.getini(f"flowrec_{name}").strip()
        source = f"ini option flowrec_{name}"
        if not text:
            return default
    try:
        return parse(text)
    except argparse.ArgumentTypeError as error:
        raise pytest.UsageError(f"{source}: {error}") from None


def _parameters(values: list[str]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` texts into papermill parameters, converted as the CLI's ``-p``."""
    from .cli import parameter_value

    parameters: dict[str, Any] = {}
    for text in values:
        name, separator, value = text.partition("=")
        if not separator or not name.isidentifier() or keyword.iskeyword(name):
            raise pytest.UsageError(
                f"--flowrec-parameter: invalid value {text!r}: write NAME=VALUE with a Python "
                "identifier as NAME, such as --flowrec-parameter alpha=0.1")
        parameters[name] = parameter_value(value)
    return parameters


def _normalize_patterns(config: pytest.Config) -> tuple[str, ...]:
    """Return the ini option's patterns, then the command line's, each checked to compile."""
    from .normalize import user_rule

    sources = [("ini option flowrec_normalize", pattern)
               for pattern in config.getini("flowrec_normalize")]
    sources += [("--flowrec-normalize", pattern)
                for pattern in config.getoption("flowrec_normalize")]
    for source, pattern in sources:
        try:
            user_rule(pattern, origin=f" given with {source}")
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    return tuple(pattern for _, pattern in sources)


def _reference_store(config: pytest.Config) -> Path | None:
    """Return the reference store's folder, after checking that it is one."""
    from .errors import BadInputError
    from .store import ReferenceStore

    text = config.getoption("flowrec_reference")
    source, base = "--flowrec-reference", config.invocation_params.dir
    if not text:
        # An ini value is relative to the ini file's folder, wherever pytest starts.
        text = config.getini("flowrec_reference").strip()
        source = "ini option flowrec_reference"
        base = config.inipath.parent if config.inipath else config.rootpath
    if not text:
        return None
    folder = Path(base, text)
    try:
        ReferenceStore.open(folder)
    except BadInputError as error:
        raise pytest.UsageError(f"{source}: {error}") from None
    return folder


def _output_dir(config: pytest.Config) -> Path | None:
    text = config.getoption("flowrec_output_dir")
    if text is None:
        return None
    path = Path(config.invocation_params.dir, text)
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"--flowrec-output-dir {text!r} is a file; give a folder")
    return path


@contextlib.contextmanager
def _quiet_loggers(config: pytest.Config) -> Iterator[None]:
    """Keep papermill's and Jupyter's log lines out of failure reports, unless --log-level is given.

    They repeat as errors what the report already shows, such as a cell timeout.
    """
    from .cli import NOISY_LOGGERS

    if config.getoption("log_level", None) is not None:
        yield
        return
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def render_report(result: Any, title: str, width: int) -> str:
    """Render the terminal report of a check as plain text, without colour."""
    from rich.console import Console

    from .report import print_check

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      highlight=False)
    print_check(result, console, title)
    # rich pads every line to the console width.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def failure_summary(result: Any) -> str:
    """Return one line naming the first cell that did not reproduce and its likely cause.

    pytest shows this first line in its short test summary.
    """
    from .report import verdict_text

    first = result.comparison.first_divergence
    if first is not None:
        where = f"stage {first.stage!r}" if first.stage is not None else "unnamed step"
        summary = f"not reproduced: {where} (cell {first.cell}) {verdict_text(first)}"
        if first.causes:
            summary += f"; likely cause: {first.causes[0]}"
        return summary
    if result.execution_error:
        return f"not reproduced: execution stopped: {result.execution_error}"
    if result.record_errors:
        return f"not reproduced: unreadable record: {result.record_errors[0]}"
    return "not reproduced"


def _report_width(config: pytest.Config) -> int:
    if config.pluginmanager.has_plugin("terminalreporter"):
        width = config.get_terminal_writer().fullwidth
    else:
        width = shutil.get_terminal_size((DEFAULT_REPORT_WIDTH, 24)).columns
    return max(MIN_REPORT_WIDTH, width)
