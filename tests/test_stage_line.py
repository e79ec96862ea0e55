"""Parsing of the ``%%flow_stage`` line."""

from __future__ import annotations

import pytest

from flowrec.stage_line import (
    StageLineError,
    StageOptions,
    parse_stage_arguments,
    parse_stage_cell,
    strip_stage_line,
)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("train", StageOptions("train")),
        ("split_scale", StageOptions("split_scale")),
        ("v2.fit-final", StageOptions("v2.fit-final")),
        ("train --after load,clean", StageOptions("train", ("load", "clean"))),
        ("train --after=load --after clean", StageOptions("train", ("load", "clean"))),
        ("train --ignore fit_seconds,started", StageOptions("train", (), ("fit_seconds", "started"))),
        ("--ignore t train", StageOptions("train", (), ("t",))),
        ("évaluer", StageOptions("évaluer")),
    ],
)
def test_valid_lines(line, expected):
    """Names and options are parsed in any order."""
    assert parse_stage_arguments(line) == expected


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "missing stage name"),
        ("bad name", "unexpected argument 'name': a stage has one name"),
        ("1st", "stage name '1st' is invalid"),
        ("a/b", "stage name 'a/b' is invalid"),
        ("x" * 65, "is invalid: use up to 64 letters"),
        ("train --after", "option --after needs a comma-separated list"),
        ("train --after ,", "option --after needs a comma-separated list"),
        ("train --ignore 2x", "--ignore '2x' is not a valid Python variable name"),
        ("train --seed 3", "unknown option '--seed'"),
        ("train --after train", "stage 'train' cannot run --after itself"),
        ("train 'unclosed", "cannot parse"),
    ],
)
def test_invalid_lines(line, message):
    """Each mistake gets a one-line message that ends with the usage."""
    with pytest.raises(StageLineError) as caught:
        parse_stage_arguments(line)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert text.endswith("usage: %%flow_stage NAME [--after STAGE[,STAGE...]] [--ignore VAR[,VAR...]]")


def test_cell_without_stage_line():
    """A cell whose first line is not ``%%flow_stage`` is not a stage."""
    assert parse_stage_cell("x = 1\n%%flow_stage train") is None
    assert parse_stage_cell("%%flow_stages train\nx = 1") is None
    assert parse_stage_cell("%%flow_stage?") is None


def test_stage_line_after_blank_lines():
    """Leading blank lines before the stage line are allowed, as IPython allows them."""
    assert parse_stage_cell("\n\n%%flow_stage load\nx = 1") == StageOptions("load")


def test_strip_keeps_line_numbers():
    """The transformer blanks a valid stage line so tracebacks keep their line numbers."""
    lines = ["%%flow_stage load\n", "x = 1\n", "y = 2\n"]
    assert strip_stage_line(lines) == ["\n", "x = 1\n", "y = 2\n"]


def test_strip_leaves_invalid_line():
    """An invalid stage line stays, so the magic itself reports the usage error."""
    lines = ["%%flow_stage bad name\n", "x = 1\n"]
    assert strip_stage_line(lines) == lines
    assert strip_stage_line(["x = 1\n"]) == ["x = 1\n"]
