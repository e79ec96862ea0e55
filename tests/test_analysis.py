"""Static analysis of cell source: reads, writes, deletes and mutations."""

from __future__ import annotations

import pytest

from flowrec.analysis import analyze_cell

CASES = [
    # source, reads, writes, deletes, mutations
    ("x = 1", [], ["x"], [], []),
    ("y = x + 1", ["x"], ["y"], [], []),
    ("x = x + 1", ["x"], ["x"], [], []),
    ("x += 1", ["x"], ["x"], [], ["x"]),
    ("items.append(4)", ["items"], [], [], []),
    ("df['c'] = 1", ["df"], [], [], ["df"]),
    ("df.loc[mask, 'c'] = value", ["value", "df", "mask"], [], [], ["df"]),
    ("model.coef_ = weights", ["weights", "model"], [], [], ["model"]),
    ("del table['old']", ["table"], [], [], ["table"]),
    ("del a", [], [], ["a"], []),
    ("a, (b, *c) = values", ["values"], ["a", "b", "c"], [], []),
    ("import numpy as np", [], ["np"], [], []),
    ("import os.path", [], ["os"], [], []),
    ("from math import sqrt as root", [], ["root"], [], []),
    ("for i in rows:\n    total = total + i", ["rows", "total"], ["i", "total"], [], []),
    ("with open(path) as handle:\n    text = handle.read()", ["open", "path"], ["handle", "text"], [], []),
    ("squares = [v * k for v in values]", ["values", "k"], ["squares"], [], []),
    ("pairs = {k: v for k, v in zip(keys, vals)}", ["zip", "keys", "vals"], ["pairs"], [], []),
    ("f = lambda t: t * scale", [], ["f"], [], []),
    ("label = f'{name}: {score:.2f}'", ["name", "score"], ["label"], [], []),
    ("def g(a, b=default):\n    return a + offset", ["default"], ["g"], [], []),
    ("def h():\n    global counter\n    counter = 1", [], ["h"], [], []),
    ("def k():\n    state['n'] = 1", [], ["k"], [], []),
    ("class Model(Base):\n    size = width", ["Base", "width"], ["Model"], [], []),
    ("@decorate\ndef run():\n    pass", ["decorate"], ["run"], [], []),
    ("if (n := len(data)) > 3:\n    big = n", ["len", "data"], ["n", "big"], [], []),
    ("value: int = 3", ["int"], ["value"], [], []),
    ("shape = (a + b).shape", ["a", "b"], ["shape"], [], []),
    ("get_ipython().run_line_magic('time', 'x = 1')", ["get_ipython"], [], [], []),
]


@pytest.mark.parametrize("source, reads, writes, deletes, mutations", CASES,
                         ids=[case[0].splitlines()[0] for case in CASES])
def test_cell_names(source, reads, writes, deletes, mutations):
    """Each cell reports the names it reads, binds, deletes and mutates."""
    analysis = analyze_cell(source)
    assert analysis.syntax_error is None
    assert analysis.reads == reads
    assert analysis.writes == writes
    assert analysis.deletes == deletes
    assert analysis.mutations == mutations


def test_function_body_deferred():
    """A function's free names are reads only where the cell calls it."""
    analysis = analyze_cell("def f(x):\n    return x + offset\ny = f(1)")
    assert analysis.reads == []
    assert analysis.deferred == {"f": ["offset"]}
    assert analysis.calls == ["f"]


def test_star_import_flagged():
    """``from m import *`` binds unknown names, so it is flagged for a runtime comparison."""
    assert analyze_cell("from os.path import *").star_import


def test_syntax_error_reported():
    """A cell that does not parse is reported, not raised."""
    analysis = analyze_cell("def broken(:\n    pass")
    assert analysis.syntax_error.startswith("SyntaxError")
    assert analysis.reads == []


def test_except_name_unbound_after_handler():
    """Python deletes an ``except ... as`` name when the handler ends."""
    analysis = analyze_cell("try:\n    pass\nexcept ValueError as error:\n    message = str(error)")
    assert "message" in analysis.writes
    assert "error" not in analysis.writes
    assert "error" not in analysis.reads
