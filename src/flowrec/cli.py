"""The ``flowrec`` command line.

Exit status: 0 when every stage reproduced, 1 when one did not, 2 for bad
input (missing file, not a notebook, unknown kernel, invalid parameter or
option). Expected mistakes print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console

from . import __version__
from .errors import BadInputError, FlowrecError
from .export import FORMATS

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NOT_REPRODUCED = 1
EXIT_BAD_INPUT = 2

_INTEGER = re.compile(r"^[+-]?\d+(?:_\d+)*$")
# papermill and the Jupyter clients log every cell at INFO, and repeat as
# errors what flowrec reports itself in one line.
NOISY_LOGGERS = ("papermill", "traitlets", "nbclient", "jupyter_client")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"flowrec: error: {message} (see {self.prog} --help)\n")


def parameter_value(text: str) -> Any:
    """Convert a ``-p NAME VALUE`` value: integers, decimals, True/False/None, else the string.

    Integers and decimals are read as Python reads them (``1_000`` is 1000).
    ``nan``, ``inf`` and numbers too large for a float stay strings.
    """
    if text != text.strip():
        return text  # surrounding spaces were typed on purpose: keep the text
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    constants = {"True": True, "true": True, "False": False, "false": False,
                 "None": None, "null": None}
    return constants.get(text, text)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: give a positive number of seconds")
    return value


def _count(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: give a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: give {low} to {high}")
    return value


def _positive_count(text: str) -> int:
    return _count(text, 1, 1000)


def _retry_count(text: str) -> int:
    return _count(text, 0, 100)


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid tolerance {text!r}: give a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"invalid tolerance {text!r}: give a number of 0 or more")
    return value


def _add_tolerance_options(parser: argparse.ArgumentParser) -> None:
    """Add --rtol and --atol, shared by the commands that compare records."""
    parser.add_argument("--rtol", type=_tolerance, default=None,
                        help="relative tolerance for floats to count as close (default: 1e-05)")
    parser.add_argument("--atol", type=_tolerance, default=None,
                        help="absolute tolerance for floats to count as close (default: 1e-08)")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose what runs and where, shared by check and record."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="set a papermill parameter (repeatable); VALUE is read as an "
                        "integer, decimal, True, False or None when it is one, else as text. "
                        "With --grid, it is added to every parameter set")
    parser.add_argument("-k", "--kernel",
                        help="kernel name (default: the notebook's own, else python3)")
    parser.add_argument("--timeout", type=_positive_seconds, metavar="SECONDS",
                        help="maximum run time of one cell, in seconds (default: no limit)")
    parser.add_argument("--grid", type=Path, metavar="FILE",
                        help="run each notebook once per parameter set in FILE (YAML or JSON: "
                        "a list of sets, or names mapped to lists of values, expanded as "
                        "their product)")
    parser.add_argument("-j", "--jobs", type=_positive_count, metavar="N",
                        help="run N notebooks at once (default: the number of CPU cores; with "
                        "--scheduler, the cluster's worker threads)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run papermill on the Dask cluster at ADDRESS (such as "
                        "tcp://127.0.0.1:8786), or 'local' to start one with 2 worker "
                        "processes on this machine")
    parser.add_argument("--retries", type=_retry_count, default=None, metavar="N",
                        help="with --scheduler, try a run that failed on the cluster (a lost "
                        "worker) N more times before reporting it failed (default: 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flowrec", description="Record notebook flows and check that they reproduce.")
    parser.add_argument("--version", action="version", version=f"flowrec {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more: -v for progress, -vv for debugging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = commands.add_parser(
        "check", help="re-execute notebooks with papermill and judge every stage",
        description="Re-execute each notebook with papermill (the input is never written) and "
        "compare every recorded stage with the records saved in it; a notebook without records "
        "is run twice and the runs are compared. Give several notebooks or folders (searched "
        "recursively) to check them all, in parallel, with one summary table.",
    )
    check.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                       help="a .ipynb file, or a folder to search for notebooks")
    _add_run_options(check)
    check.add_argument("-o", "--output", type=Path,
                       help="where to save the executed notebook (default: a temporary file); "
                       "one notebook only")
    _add_tolerance_options(check)
    check.add_argument("--json", type=Path, metavar="PATH", help="also write the result as JSON to PATH")
    check.add_argument("--runs", type=_positive_count, default=1, metavar="N",
                       help="run the notebook N times and report, per cell, how many runs "
                       "reproduced the reference (default: 1)")
    check.add_argument("--hash-seeds", action="store_true",
                       help="also run under PYTHONHASHSEED=0 and 1 to confirm which cells "
                       "depend on the hash seed")
    check.add_argument("--normalize", action="append", default=[], metavar="REGEX",
                       help="also replace text matching REGEX in outputs before comparing "
                       "(repeatable); notebooks can declare rules in metadata.flowrec.normalize")
    check.add_argument("--html", type=Path, metavar="PATH",
                       help="also write a self-contained HTML page: the flow coloured by "
                       "verdict, values side by side, durations, environment changes; for "
                       "several checks, an index page linking one page per check beside it")
    check.add_argument("--junit", type=Path, metavar="PATH",
                       help="also write JUnit XML to PATH: one test case per recorded cell")
    check.add_argument("--output-dir", type=Path, metavar="DIR",
                       help="keep every executed notebook in DIR (created if missing), named "
                       "by notebook and parameter set")
    check.add_argument("--reference", type=Path, metavar="DIR",
                       help="compare with the runs stored in DIR by flowrec record, per "
                       "notebook and parameter set, instead of the records saved in each "
                       "notebook")

    record = commands.add_parser(
        "record", help="execute notebooks and store their runs as references for check",
        description="Execute each notebook (once per parameter set) with papermill and store "
        "the executed notebook, with its records, in the reference store DIR, with a manifest. "
        "flowrec check --reference DIR compares later runs with them.",
    )
    record.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                        help="a .ipynb file, or a folder to search for notebooks")
    record.add_argument("--store", type=Path, required=True, metavar="DIR",
                        help="the reference store: a new or empty folder, or one flowrec "
                        "record wrote before (its runs of the same notebook and parameter set "
                        "are replaced)")
    _add_run_options(record)

    show = commands.add_parser(
        "show", help="print the flow recorded in a notebook, without running it",
        description="Print the stages recorded in NOTEBOOK in order, with what each read and wrote "
        "and the stages it depends on. Nothing is executed.",
    )
    show.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    show.add_argument("--stages-only", action="store_true", help="leave unnamed steps out")

    diff = commands.add_parser(
        "diff", help="compare the records of two executed notebooks, without running them",
        description="Compare the records saved in NEW with those in REFERENCE, cell by cell, "
        "with the same verdicts as check. Nothing is executed.",
    )
    diff.add_argument("reference", type=Path, metavar="REFERENCE")
    diff.add_argument("new", type=Path, metavar="NEW")
    _add_tolerance_options(diff)

    audit = commands.add_parser(
        "audit", help="score a notebook against a reproducibility checklist, without running it",
        description="Score NOTEBOOK from its saved records and code alone: executed top to "
        "bottom, no hidden state, random generators seeded, input files recorded, environment "
        "pinned, code committed, last check reproduced. Exit 0 when every item passes.",
    )
    audit.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    audit.add_argument("--report", type=Path, metavar="PATH",
                       help="a JSON report of flowrec check (--json), for the last item")
    audit.add_argument("--json", action="store_true", help="print the checklist as JSON")

    export = commands.add_parser(
        "export", help="write the recorded flow as JSON, DOT, Mermaid, PROV-JSON or requirements",
        description="Write the flow recorded in NOTEBOOK in another format, to standard output "
        "or to --output. Nothing is executed.",
    )
    export.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    export.add_argument("-f", "--format", required=True, choices=FORMATS,
                        help="json: flowrec's flow graph; dot: Graphviz; mermaid: a Mermaid "
                        "flowchart; prov: W3C PROV-JSON; requirements: the package versions "
                        "the records saw, pinned")
    export.add_argument("-o", "--output", type=Path,
                        help="file to write (default: standard output); an existing file is "
                        "never replaced")
    return parser


def split_parameters(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Take every ``-p NAME VALUE`` out of ``argv`` before argparse parses it.

    argparse would read a value such as ``-1e-3`` as an option, so here the
    two words after ``-p`` are always the name and the value.
    """
    rest: list[str] = []
    parameters: list[tuple[str, str]] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token in ("-p", "--parameter") and index + 2 < len(argv):
            parameters.append((argv[index + 1], argv[index + 2]))
            index += 3
            continue
        rest.append(token)
        index += 1
    return rest, parameters


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    remaining, parameters = split_parameters(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(remaining)
    if hasattr(args, "parameter"):
        args.parameter = [*args.parameter, *parameters]
    _configure_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        if args.command == "check":
            if _one_notebook(args):
                args.notebook = args.paths[0]
                return _run_check(args)
            from .batch_commands import run_batch_check

            return run_batch_check(args)
        if args.command == "record":
            from .batch_commands import run_record

            return run_record(args)
        if args.command == "diff":
            return _run_diff(args)
        if args.command == "export":
            return _run_export(args)
        if args.command == "audit":
            return _run_audit(args)
        return _run_show(args)
    except BadInputError as error:
        print(f"flowrec: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FlowrecError as error:
        print(f"flowrec: error: {error}", file=sys.stderr)
        return EXIT_NOT_REPRODUCED
    except KeyboardInterrupt:
        print("flowrec: interrupted", file=sys.stderr)
        return 130


def _one_notebook(args: argparse.Namespace) -> bool:
    """True for the single-notebook check: one path that is not a folder, no batch option."""
    batch_options = (args.grid, args.output_dir, args.reference, args.scheduler)
    return (len(args.paths) == 1 and not args.paths[0].is_dir()
            and all(option is None for option in batch_options))


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    logger = logging.getLogger("flowrec")
    logger.addHandler(handler)
    logger.setLevel(level)
    # -v shows the warnings of NOISY_LOGGERS, -vv everything they log.
    third_party = {0: logging.CRITICAL, 1: logging.WARNING}.get(verbosity, logging.DEBUG)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(third_party)


def parameters_of(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``-p`` values, converted, the last of a repeated name winning."""
    parameters: dict[str, Any] = {}
    for name, value in args.parameter:
        parameters[name] = parameter_value(value)
    return parameters


def _run_check(args: argparse.Namespace) -> int:
    from .check import CheckOptions, run_check
    from .compare import DEFAULT_ATOL, DEFAULT_RTOL
    from .report import print_check, write_json

    parameters = parameters_of(args)
    options = CheckOptions(
        notebook=args.notebook,
        parameters=parameters,
        output=args.output,
        kernel=args.kernel,
        timeout=args.timeout,
        rtol=DEFAULT_RTOL if args.rtol is None else args.rtol,
        atol=DEFAULT_ATOL if args.atol is None else args.atol,
        json_path=args.json,
        junit_path=args.junit,
        html_path=args.html,
        normalize=list(args.normalize),
        runs=args.runs,
        hash_seeds=args.hash_seeds,
    )
    result = run_check(options)
    if args.json is not None:
        write_json(result, args.json)
    if args.junit is not None:
        from .junit import write_junit

        write_junit([result], args.junit)
    if args.html is not None:
        from .html_report import write_html

        write_html(result, args.html)
    print_check(result, Console())
    return EXIT_OK if result.reproduced else EXIT_NOT_REPRODUCED


def _run_diff(args: argparse.Namespace) -> int:
    from .compare import DEFAULT_ATOL, DEFAULT_RTOL, compare_runs
    from .notebook import cell_entries, has_records, read_notebook

    entries = []
    for path in (args.reference, args.new):
        notebook_entries = cell_entries(read_notebook(path))
        if not has_records(notebook_entries):
            raise BadInputError(f"{str(path)!r} has no flowrec records; run it with flowrec "
                                "loaded (or with flowrec check --output) first")
        entries.append(notebook_entries)
    comparison = compare_runs(entries[0], entries[1],
                              DEFAULT_RTOL if args.rtol is None else args.rtol,
                              DEFAULT_ATOL if args.atol is None else args.atol)
    from .check import CheckResult
    from .diagnose import diagnose
    from .report import print_check

    environment = diagnose(comparison, entries[0], entries[1], {})
    result = CheckResult(notebook=args.new, reference_source=f"records saved in {args.reference}",
                         comparison=comparison, output_path=None, kernel="", parameters={},
                         execution_error=None, duration=0.0,
                         record_errors=[e for group in entries for entry in group
                                        for e in entry.record_errors],
                         environment_changes=environment)
    print_check(result, Console(), title=f"flowrec diff: {args.reference} -> {args.new}")
    return EXIT_OK if result.reproduced else EXIT_NOT_REPRODUCED


def _run_audit(args: argparse.Namespace) -> int:
    import json

    from .audit import PASSED, audit, read_report
    from .notebook import cell_entries, read_notebook

    entries = cell_entries(read_notebook(args.notebook))
    report = None
    if args.report is not None:
        try:
            report = read_report(args.report)
        except ValueError as error:
            raise BadInputError(str(error)) from None
    items = audit(args.notebook, entries, report)
    passed = all(item.status == PASSED for item in items)
    if args.json:
        print(json.dumps({"notebook": str(args.notebook), "passed": passed,
                          "items": [item.to_json() for item in items]}, indent=2))
    else:
        from rich.markup import escape

        console = Console()
        styles = {"passed": "green", "failed": "bold red", "unknown": "yellow"}
        for item in items:
            style = styles[item.status]
            console.print(f"[{style}]{item.status:8}[/{style}] {escape(item.name)}: "
                          f"{escape(item.evidence)}")
            if item.status != PASSED and item.fix:
                console.print(f"         fix: {escape(item.fix)}")
        score = sum(item.status == PASSED for item in items)
        console.print(f"{score} of {len(items)} items passed")
    return EXIT_OK if passed else EXIT_NOT_REPRODUCED


def _run_export(args: argparse.Namespace) -> int:
    from .export import export_flow
    from .notebook import cell_entries, read_notebook
    from .outputs import check_output_path, write_text_atomic

    if args.output is not None:
        from .export import is_flowrec_export

        check_output_path(args.output, "--output", [args.notebook], is_flowrec_export,
                          args.format)
    text = export_flow(cell_entries(read_notebook(args.notebook)), args.format,
                       args.notebook.name)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
    return EXIT_OK


def _run_show(args: argparse.Namespace) -> int:
    from .notebook import cell_entries, flow_of, read_notebook

    notebook = read_notebook(args.notebook)
    entries = cell_entries(notebook)
    for entry in entries:
        for error in entry.record_errors:
            print(f"flowrec: warning: {error}", file=sys.stderr)
    graph = flow_of(entries)
    print(f"flow recorded in {args.notebook}: " + graph.render_text(not args.stages_only))
    return EXIT_OK
