"""Lineage corpus: what each stage read, wrote and depends on, in a real kernel.

Every case is a few cells; each cell becomes stage ``s0``, ``s1``, ... and
lists the reads, writes and upstream stages its record must show. All cases
run in one kernel, separated by ``%reset -f`` and ``%flow reset``. When a
case is found wrong, add it here.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kernel

# (case id, [(cell source, reads, writes, upstream stages), ...])
CASES = [
    # Plain bindings.
    ("assign", [("x = 1", [], ["x"], []), ("y = x + 1", ["x"], ["y"], ["s0"])]),
    ("rebind", [("x = 1", [], ["x"], []), ("x = x * 2", ["x"], ["x"], ["s0"])]),
    ("tuple unpack", [("a, b = 1, 2", [], ["a", "b"], []), ("c = a - b", ["a", "b"], ["c"], ["s0"])]),
    ("starred unpack", [("first, *rest = [1, 2, 3]", [], ["first", "rest"], []),
                        ("n = len(rest)", ["rest"], ["n"], ["s0"])]),
    ("annotated", [("count: int = 3", [], ["count"], [])]),
    ("chained assign", [("p = q = 0", [], ["p", "q"], [])]),
    ("for target", [("total = 0\nfor i in range(3):\n    total += i", [], ["total", "i"], [])]),
    ("while loop", [("k = 0", [], ["k"], []), ("while k < 3:\n    k += 1", ["k"], ["k"], ["s0"])]),
    ("with target", [("import io", [], ["io"], []),
                     ("with io.StringIO('abc') as handle:\n    text = handle.read()",
                      ["io"], ["handle", "text"], ["s0"])]),
    ("try except", [("try:\n    value = int('x')\nexcept ValueError as error:\n    value = -1",
                     [], ["value"], [])]),
    ("if branch", [("flag = True", [], ["flag"], []),
                   ("if flag:\n    picked = 'yes'\nelse:\n    picked = 'no'", ["flag"], ["picked"], ["s0"])]),
    ("walrus", [("data = [1, 2, 3, 4]", [], ["data"], []),
                ("if (size := len(data)) > 2:\n    big = size", ["data"], ["size", "big"], ["s0"])]),
    # Mutation without assignment.
    ("list append", [("items = [1, 2]", [], ["items"], []),
                     ("items.append(3)", ["items"], ["items"], ["s0"]),
                     ("n = len(items)", ["items"], ["n"], ["s1"])]),
    ("list extend", [("items = [1]", [], ["items"], []), ("items.extend([2, 3])", ["items"], ["items"], ["s0"])]),
    ("list pop", [("items = [1, 2]", [], ["items"], []), ("last = items.pop()", ["items"], ["last", "items"], ["s0"])]),
    ("list sort", [("items = [3, 1, 2]", [], ["items"], []), ("items.sort()", ["items"], ["items"], ["s0"])]),
    ("list sort no change", [("items = [1, 2, 3]", [], ["items"], []), ("items.sort()", ["items"], [], ["s0"])]),
    ("dict update", [("config = {'a': 1}", [], ["config"], []),
                     ("config.update(b=2)", ["config"], ["config"], ["s0"])]),
    ("dict item set", [("config = {}", [], ["config"], []), ("config['k'] = 5", ["config"], ["config"], ["s0"])]),
    ("set add", [("seen = set()", [], ["seen"], []), ("seen.add('x')", ["seen"], ["seen"], ["s0"])]),
    ("list augmented", [("items = [1]", [], ["items"], []), ("items += [2]", ["items"], ["items"], ["s0"])]),
    ("del item", [("table = {'a': 1, 'b': 2}", [], ["table"], []),
                  ("del table['a']", ["table"], ["table"], ["s0"])]),
    ("attribute set", [("import types\nobj = types.SimpleNamespace(a=1)", [], ["types", "obj"], []),
                       ("obj.a = 2", ["obj"], ["obj"], ["s0"])]),
    ("numpy in-place sort", [("import numpy as np\narr = np.array([3, 1, 2])", [], ["np", "arr"], []),
                             ("arr.sort()", ["arr"], ["arr"], ["s0"])]),
    ("numpy shuffle", [("import numpy as np\narr = np.arange(20)", [], ["np", "arr"], []),
                       ("np.random.default_rng(1).shuffle(arr)", ["np", "arr"], ["arr"], ["s0"])]),
    ("numpy augmented", [("import numpy as np\narr = np.ones(3)", [], ["np", "arr"], []),
                         ("arr *= 2", ["arr"], ["arr"], ["s0"])]),
    ("numpy slice assign", [("import numpy as np\narr = np.zeros(4)", [], ["np", "arr"], []),
                            ("arr[1:3] = 7", ["arr"], ["arr"], ["s0"])]),
    ("pandas dropna inplace", [("import pandas as pd\nframe = pd.DataFrame({'a': [1.0, None]})",
                                [], ["pd", "frame"], []),
                               ("frame.dropna(inplace=True)", ["frame"], ["frame"], ["s0"])]),
    ("pandas column set", [("import pandas as pd\nframe = pd.DataFrame({'a': [1, 2]})", [], ["pd", "frame"], []),
                           ("frame['b'] = frame['a'] * 2", ["frame"], ["frame"], ["s0"])]),
    ("pandas loc set", [("import pandas as pd\nframe = pd.DataFrame({'a': [1, 2]})", [], ["pd", "frame"], []),
                        ("frame.loc[0, 'a'] = 9", ["frame"], ["frame"], ["s0"])]),
    ("pandas rename inplace", [("import pandas as pd\nframe = pd.DataFrame({'a': [1]})", [], ["pd", "frame"], []),
                               ("frame.rename(columns={'a': 'z'}, inplace=True)", ["frame"], ["frame"], ["s0"])]),
    # Read-only use is not a write.
    ("describe", [("import pandas as pd\nframe = pd.DataFrame({'a': [1.0, 2.0]})", [], ["pd", "frame"], []),
                  ("stats = frame.describe()", ["frame"], ["stats"], ["s0"])]),
    ("len and shape", [("import numpy as np\narr = np.ones((2, 3))", [], ["np", "arr"], []),
                       ("dims = arr.shape\nn = len(arr)", ["arr"], ["dims", "n"], ["s0"])]),
    ("printing", [("x = [1, 2]", [], ["x"], []), ("print(x)", ["x"], [], ["s0"])]),
    # Aliases.
    ("alias append", [("a = [1]\nb = a", [], ["a", "b"], []),
                      ("b.append(2)", ["b"], ["b", "a"], ["s0"]),
                      ("total = sum(a)", ["a"], ["total"], ["s1"])]),
    ("alias rebind no mutation", [("a = [1]\nb = a", [], ["a", "b"], []),
                                  ("b = [5]", [], ["b"], []),
                                  ("total = sum(a)", ["a"], ["total"], ["s0"])]),
    ("alias dict", [("base = {'k': 1}\nview = base", [], ["base", "view"], []),
                    ("view['j'] = 2", ["view"], ["view", "base"], ["s0"])]),
    # Reads hidden in expressions.
    ("expression attribute", [("import numpy as np\na = np.ones(2)\nb = np.ones(2)", [], ["np", "a", "b"], []),
                              ("shape = (a + b).shape", ["a", "b"], ["shape"], ["s0"])]),
    ("comprehension", [("k = 3\nvalues = [1, 2]", [], ["k", "values"], []),
                       ("scaled = [v * k for v in values]", ["values", "k"], ["scaled"], ["s0"])]),
    ("dict comprehension", [("keys = ['a']\nbase = 2", [], ["keys", "base"], []),
                            ("table = {key: base for key in keys}", ["keys", "base"], ["table"], ["s0"])]),
    ("generator", [("limit = 4", [], ["limit"], []), ("total = sum(i for i in range(limit))", ["limit"], ["total"], ["s0"])]),
    ("lambda free name", [("factor = 3", [], ["factor"], []),
                          ("triple = lambda x: x * factor", [], ["triple"], []),
                          ("nine = triple(3)", ["triple", "factor"], ["nine"], ["s0", "s1"])]),
    ("define and call", [("offset = 5", [], ["offset"], []),
                         ("def shift(x):\n    return x + offset\nmoved = shift(1)",
                          ["offset"], ["shift", "moved"], ["s0"])]),
    ("f-string", [("name = 'ada'\nscore = 0.5", [], ["name", "score"], []),
                  ("label = f'{name}: {score:.1f}'", ["name", "score"], ["label"], ["s0"])]),
    ("default argument", [("default = 10", [], ["default"], []),
                          ("def add(x, y=default):\n    return x + y", ["default"], ["add"], ["s0"])]),
    ("decorator", [("def mark(function):\n    return function", [], ["mark"], []),
                   ("@mark\ndef run():\n    return 1", ["mark"], ["run"], ["s0"])]),
    ("subscript read", [("rows = [[1, 2]]\ni = 0", [], ["rows", "i"], []), ("cell = rows[i][1]", ["rows", "i"], ["cell"], ["s0"])]),
    ("conditional expression", [("a = 1\nb = 2", [], ["a", "b"], []), ("c = a if a > b else b", ["a", "b"], ["c"], ["s0"])]),
    ("slice bounds", [("data = [1, 2, 3]\nstart = 1", [], ["data", "start"], []),
                      ("tail = data[start:]", ["data", "start"], ["tail"], ["s0"])]),
    # User functions defined in earlier cells.
    ("function reads global", [("weight = 2", [], ["weight"], []),
                               ("def apply(x):\n    return x * weight", [], ["apply"], []),
                               ("out = apply(3)", ["apply", "weight"], ["out"], ["s0", "s1"])]),
    ("function transitive", [("offset = 1", [], ["offset"], []),
                             ("def inner(x):\n    return x + offset\n\ndef outer(x):\n    return inner(x) * 2",
                              [], ["inner", "outer"], []),
                             ("out = outer(1)", ["outer", "inner", "offset"], ["out"], ["s0", "s1"])]),
    ("function global write", [("counter = 0", [], ["counter"], []),
                               ("def bump():\n    global counter\n    counter += 1", [], ["bump"], []),
                               ("bump()", ["bump", "counter"], ["counter"], ["s0", "s1"])]),
    ("function mutates global", [("log = []", [], ["log"], []),
                                 ("def note(x):\n    log.append(x)", [], ["note"], []),
                                 ("note('a')", ["note", "log"], ["log"], ["s0", "s1"])]),
    ("class method reads global", [("rate = 0.5", [], ["rate"], []),
                                   ("class Model:\n    def predict(self, x):\n        return x * rate", [], ["Model"], []),
                                   ("y = Model().predict(2)", ["Model", "rate"], ["y"], ["s0", "s1"])]),
    ("redefined function", [("def f():\n    return 1", [], ["f"], []),
                            ("def f():\n    return 2", [], ["f"], []),
                            ("r = f()", ["f"], ["r"], ["s1"])]),
    # Deletion, imports, definitions.
    ("del name", [("temp = 1", [], ["temp"], []), ("del temp", [], [], [])]),
    ("import module", [("import math", [], ["math"], [])]),
    ("import alias", [("import collections as co", [], ["co"], [])]),
    ("import submodule", [("import os.path", [], ["os"], [])]),
    ("from import", [("from math import sqrt, pi", [], ["sqrt", "pi"], [])]),
    ("star import", [("from math import *", [], "*", [])]),
    ("class definition", [("base_size = 3", [], ["base_size"], []),
                          ("class Box:\n    size = base_size", ["base_size"], ["Box"], ["s0"])]),
    # Rebinding the AST cannot see.
    ("exec new name", [("exec('made = 5')", [], ["made"], [])]),
    ("exec rebind", [("old = 1", [], ["old"], []), ("exec('old = 2')", [], ["old"], [])]),
    ("globals item", [("globals()['g'] = 3", [], ["g"], [])]),
    ("line magic binding", [("%time timed = 4", [], ["timed"], [])]),
    ("cell magic body", [("base = 2", [], ["base"], []),
                         ("%%time\ny = base + 1", ["base"], ["y"], ["s0"])]),
    ("exec reads", [("base = 2", [], ["base"], []), ("exec('e = base + 1')", ["base"], ["e"], ["s0"])]),
    ("eval reads", [("base = 2", [], ["base"], []), ("z = eval('base * 3')", ["base"], ["z"], ["s0"])]),
    ("globals item read", [("base = 2", [], ["base"], []),
                           ("q = globals()['base'] + 1", ["base"], ["q"], ["s0"])]),
    ("instance method reads global", [("factor = 3", [], ["factor"], []),
                                      ("class Scaler:\n    def apply(self, x):\n        return x * factor\n"
                                       "scaler = Scaler()", [], ["Scaler", "scaler"], []),
                                      ("scaled = scaler.apply(2)", ["scaler", "factor"], ["scaled"],
                                       ["s0", "s1"])]),
    ("container of changed value", [("a = [1]\nholder = [a]", [], ["a", "holder"], []),
                                    ("a.append(2)", ["a"], ["a"], ["s0"]),
                                    ("size = len(holder[0])", ["holder"], ["size"], ["s0"])]),
    ("random generator state", [("import random\nrng = random.Random(0)", [], ["random", "rng"], []),
                                ("draw = rng.random()", ["rng"], ["draw", "rng"], ["s0"])]),
    ("run script", [("with open('corpus_script.py', 'w') as handle:\n"
                     "    handle.write('made_by_run = 7\\n')", [], ["handle"], []),
                    ("%run corpus_script.py", [], ["made_by_run"], [])]),
    ("global random shuffle", [("import numpy as np\narr = np.arange(10)", [], ["np", "arr"], []),
                               ("np.random.shuffle(arr)", ["np", "arr"], ["arr"], ["s0"])]),
]


def build_cells():
    cells = ["%load_ext flowrec"]
    layout = []
    for number, (case, steps) in enumerate(CASES):
        cells.append("%reset -f\n%flow reset")
        for index, (source, *_expected) in enumerate(steps):
            cells.append(f"%%flow_stage c{number}_s{index}\n{source}")
        layout.append((number, case, steps))
    return cells, layout


@pytest.fixture(scope="module")
def corpus_records(tmp_path_factory):
    from conftest import execute_notebook, new_notebook
    from flowrec.notebook import cell_entries

    cells, layout = build_cells()
    notebook = execute_notebook(new_notebook(cells), tmp_path_factory.mktemp("corpus"),
                                allow_errors=True)
    records = {entry.record.stage: entry.record for entry in cell_entries(notebook)
               if entry.record is not None and entry.record.stage}
    return records


def test_corpus_size():
    """The corpus keeps at least 60 cases."""
    assert len(CASES) >= 60


@pytest.mark.parametrize("number, case", [(number, case) for number, (case, _) in enumerate(CASES)],
                         ids=[case for case, _ in CASES])
def test_lineage_case(corpus_records, number, case):
    """Each cell of the case reads, writes and depends on exactly what the corpus lists."""
    steps = dict(CASES)[case]
    for index, (source, reads, writes, upstream) in enumerate(steps):
        record = corpus_records.get(f"c{number}_s{index}")
        assert record is not None, f"no record for cell {index} of {case!r}"
        assert record.error is None, record.error
        assert sorted(record.reads) == sorted(reads), f"reads of cell {index}"
        if writes == "*":
            assert {"sqrt", "pi", "floor"} <= set(record.writes), f"writes of cell {index}"
        else:
            assert sorted(record.writes) == sorted(writes), f"writes of cell {index}"
        stages = sorted({link.stage.split("_", 1)[1] for link in record.upstream
                         if link.stage and link.kind == "variable"})
        assert stages == sorted(upstream), f"upstream stages of cell {index}"
