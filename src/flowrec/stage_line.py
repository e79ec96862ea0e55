"""Parsing of the ``%%flow_stage NAME [--after A,B] [--ignore X,Y]`` line.

The same parser serves the input transformer (which removes a valid stage
line so the cell body runs untouched), the recorder (which names the stage)
and the cell magic (which reports a bad line as a usage error).
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass, field

MAGIC_NAME = "flow_stage"
STAGE_NAME = re.compile(r"^[^\W\d][\w.\-]{0,63}$")
VARIABLE_NAME = re.compile(r"^[^\W\d]\w*$")
USAGE = "usage: %%flow_stage NAME [--after STAGE[,STAGE...]] [--ignore VAR[,VAR...]]"


class StageLineError(ValueError):
    """A ``%%flow_stage`` line that cannot be parsed; the message is one line."""


@dataclass(frozen=True)
class StageOptions:
    """The name and options of a stage, as given on its ``%%flow_stage`` line."""

    name: str
    after: tuple[str, ...] = field(default_factory=tuple)
    ignore: tuple[str, ...] = field(default_factory=tuple)


def stage_line_of(cell: str) -> str | None:
    """Return the arguments of the cell's ``%%flow_stage`` line, or None if it has none."""
    for line in cell.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        prefix = "%%" + MAGIC_NAME
        if stripped == prefix:
            return ""
        if stripped.startswith(prefix) and stripped[len(prefix)].isspace():
            return stripped[len(prefix):].strip()
        return None
    return None


def parse_stage_cell(cell: str) -> StageOptions | None:
    """Parse the stage line of ``cell``; return None for a cell that is not a stage."""
    arguments = stage_line_of(cell)
    if arguments is None:
        return None
    return parse_stage_arguments(arguments)


def parse_stage_arguments(arguments: str) -> StageOptions:
    """Parse what follows ``%%flow_stage``; raise StageLineError with a one-line message.

    Names are compared in Unicode NFC form, as Python compares identifiers,
    so a name typed with combining accents matches its composed spelling.
    """
    arguments = unicodedata.normalize("NFC", arguments)
    try:
        tokens = shlex.split(arguments)
    except ValueError as error:
        raise StageLineError(f"cannot parse {arguments!r}: {error}. {USAGE}") from None
    name: str | None = None
    after: list[str] = []
    ignore: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        option, equals, inline_value = token.partition("=")
        if option in ("--after", "--ignore"):
            if equals:
                value = inline_value
            elif index + 1 < len(tokens):
                index += 1
                value = tokens[index]
            else:
                raise StageLineError(f"option {option} needs a comma-separated list. {USAGE}")
            items = [item.strip() for item in value.split(",") if item.strip()]
            if not items:
                raise StageLineError(f"option {option} needs a comma-separated list. {USAGE}")
            if option == "--after":
                for item in items:
                    _check_stage_name(item, "--after")
                after.extend(items)
            else:
                for item in items:
                    if not VARIABLE_NAME.match(item):
                        raise StageLineError(
                            f"--ignore {item!r} is not a valid Python variable name. {USAGE}"
                        )
                ignore.extend(items)
        elif token.startswith("-"):
            raise StageLineError(f"unknown option {token!r}. {USAGE}")
        elif name is None:
            _check_stage_name(token, "stage name")
            name = token
        elif tokens[index - 1].endswith(",") and tokens[index - 1] != name:
            raise StageLineError(
                f"unexpected argument {token!r}: separate list items with commas and no "
                f"spaces. {USAGE}")
        else:
            raise StageLineError(f"unexpected argument {token!r}: a stage has one name. {USAGE}")
        index += 1
    if name is None:
        raise StageLineError(f"missing stage name. {USAGE}")
    if name in after:
        raise StageLineError(f"stage {name!r} cannot run --after itself. {USAGE}")
    return StageOptions(name, tuple(dict.fromkeys(after)), tuple(dict.fromkeys(ignore)))


def _check_stage_name(value: str, what: str) -> None:
    if not STAGE_NAME.match(value):
        raise StageLineError(
            f"{what} {value!r} is invalid: use up to 64 letters, digits, '_', '-' or '.', "
            f"starting with a letter or '_'. {USAGE}"
        )


def strip_stage_line(lines: list[str]) -> list[str]:
    """Input transformer: blank out a valid ``%%flow_stage`` line, keeping line numbers.

    When another cell magic follows (``%%time``, ``%%capture``), the line is
    removed instead, because IPython only recognizes a cell magic on the first
    line. A line that does not parse is left in place, so IPython runs the
    ``flow_stage`` cell magic, which raises the usage error and skips the body.
    """
    for position, line in enumerate(lines):
        if not line.strip():
            continue
        arguments = stage_line_of(line)
        if arguments is None:
            return lines
        try:
            parse_stage_arguments(arguments)
        except StageLineError:
            return lines
        rest = lines[position + 1:]
        following = next((item for item in rest if item.strip()), "")
        if following.lstrip().startswith("%%"):
            return [*lines[:position], *rest]
        return [*lines[:position], "\n", *rest]
    return lines
