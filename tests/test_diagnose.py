"""Likely causes named by ``flowrec check``, on real notebooks."""

from __future__ import annotations

import pytest

from flowrec.check import CheckOptions, run_check
from flowrec.compare import Verdict

pytestmark = pytest.mark.kernel

LOAD = "%load_ext flowrec"


def stage(result, label):
    return next(item for item in result.comparison.stages if item.label == label)


def test_random_clock_and_hash_seed(write_notebook, monkeypatch):
    """Unseeded draws, the wall clock and set order are each named, with the line."""
    monkeypatch.setenv("PYTHONHASHSEED", "1")
    path = write_notebook([
        LOAD,
        "%%flow_stage draw\nimport numpy as np\nnoise = np.random.normal(size=3)",
        "%%flow_stage clock\nfrom datetime import datetime\nstamp = datetime.now().isoformat()",
        "%%flow_stage order\nwords = list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', "
        "'zeta', 'eta', 'theta', 'iota', 'kappa'})",
        "%%flow_stage seeded\nrng = np.random.default_rng(7)\nfixed = rng.normal(size=2)",
    ], execute=True)
    monkeypatch.setenv("PYTHONHASHSEED", "2")
    result = run_check(CheckOptions(path))
    draw = stage(result, "draw")
    assert draw.root
    assert draw.causes[0].startswith("unseeded random generator: np.random.normal at line 3 "
                                     "(a random draw with no seed set in this cell)")
    assert draw.causes[0].endswith("seed it, for example with rng = np.random.default_rng(0) "
                                   "or np.random.seed(0)")
    assert "the numpy generator state at the stage's start differs" in draw.causes[0]
    clock = stage(result, "clock")
    assert clock.causes == ["per-run value: datetime.now at line 3 reads the wall clock; "
                            "pass it in as a parameter or --ignore the variable"]
    order = stage(result, "order")
    assert order.verdict is Verdict.DIVERGED
    assert order.causes[0].startswith("hash-seed dependent ordering: set iteration at line 2")
    assert stage(result, "seeded").verdict is Verdict.IDENTICAL
    assert stage(result, "seeded").causes == []
    assert "PYTHONHASHSEED 1 -> 2" in result.environment_changes


def test_parameter_cause(write_notebook):
    """A -p value that differs from the reference is named on the stage that reads it."""
    path = write_notebook([
        LOAD,
        ("count = 3", ["parameters"]),
        "%%flow_stage build\nvalues = list(range(count))",
    ], execute=True)
    result = run_check(CheckOptions(path, parameters={"count": 4}))
    assert stage(result, "build").causes == [
        "parameter count is 4 in this run and 3 in the reference"]


def test_no_cause_found(write_notebook, monkeypatch):
    """A divergence with no evidence in the records is reported as having no cause."""
    monkeypatch.setenv("FLOWREC_TEST_LEVEL", "1")
    path = write_notebook([
        LOAD,
        "%%flow_stage hidden\nimport os\nlevel = os.environ['FLOWREC_TEST_LEVEL']",
    ], execute=True)
    monkeypatch.setenv("FLOWREC_TEST_LEVEL", "2")
    result = run_check(CheckOptions(path))
    hidden = stage(result, "hidden")
    assert hidden.verdict is Verdict.DIVERGED
    assert hidden.causes == ["no cause found in the records"]


def test_random_state_evidence(write_notebook):
    """A draw after an unseeded draw in an earlier cell names the differing generator state."""
    path = write_notebook([
        LOAD,
        "import numpy as np\nwarmup = np.random.random()",
        "%%flow_stage later\nvalue = np.random.random()",
    ], execute=True)
    result = run_check(CheckOptions(path))
    later = stage(result, "later")
    assert later.root
    assert "the numpy generator state at the stage's start differs from the reference" in \
        later.causes[0]


def test_parameter_reason_not_out_of_order(write_notebook):
    """A stage reading a changed -p value names it, not an out-of-order reference."""
    path = write_notebook([
        LOAD,
        ("x = 1", ["parameters"]),
        "%%flow_stage use\ny = x * 2\nprint(y)",
    ], execute=True)
    result = run_check(CheckOptions(path, parameters={"x": 3}))
    use = stage(result, "use")
    assert use.root
    assert "its input x was set with -p" in use.reason
    assert "out of order" not in use.reason


def test_runs_count_agreement(write_notebook):
    """--runs counts, per cell, the runs that reproduced the reference."""
    path = write_notebook([
        LOAD,
        "%%flow_stage steady\nx = 1",
        "%%flow_stage draw\nimport random\nvalue = random.random()",
    ], execute=True)
    result = run_check(CheckOptions(path, runs=3))
    steady, draw = stage(result, "steady"), stage(result, "draw")
    assert (steady.runs, steady.agreed) == (3, 3)
    assert (draw.runs, draw.agreed) == (3, 0)
    assert steady.verdict is Verdict.IDENTICAL
    assert result.to_json()["stages"][2]["agreed_runs"] == 0


def test_flaky_cell_fails(write_notebook):
    """A cell that reproduced in only some runs is a divergence, whatever the first run gave."""
    path = write_notebook([
        LOAD,
        "%%flow_stage coin\nimport random\nside = 'heads' if random.random() < 0.5 else 'tails'",
    ], execute=True)
    result = run_check(CheckOptions(path, runs=6))
    coin = stage(result, "coin")
    if 0 < coin.agreed < coin.runs:
        # Whatever the first run gave, a cell that disagreed in some runs is not reproduced.
        assert coin.verdict is Verdict.DIVERGED
        assert not result.reproduced
    assert not result.reproduced or coin.agreed == 6


def test_hash_seed_confirmed(write_notebook, monkeypatch):
    """--hash-seeds runs under two hash seeds and confirms the dependent cell."""
    monkeypatch.setenv("PYTHONHASHSEED", "5")
    path = write_notebook([
        LOAD,
        "%%flow_stage order\nwords = list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', "
        "'zeta', 'eta', 'theta', 'iota', 'kappa'})",
        "%%flow_stage steady\nx = 1",
        "%%flow_stage draw\nimport random\nvalue = random.random()",
    ], execute=True)
    monkeypatch.setenv("PYTHONHASHSEED", "6")
    result = run_check(CheckOptions(path, hash_seeds=True))
    order = stage(result, "order")
    assert order.causes[0] == ("confirmed hash-seed dependence: two runs under PYTHONHASHSEED=0 "
                               "agree, a run under PYTHONHASHSEED=1 differs")
    assert stage(result, "steady").causes == []
    draw = stage(result, "draw")
    assert not any(cause.startswith("confirmed") for cause in draw.causes)


def test_warnings_even_when_reproduced(write_notebook):
    """An overwritten parameter and an out-of-order reference are reported though all reproduce."""
    import nbformat
    from nbclient import NotebookClient

    from conftest import new_notebook

    path = write_notebook([LOAD, ("rate = 0.1", ["parameters"]),
                           "%%flow_stage fix\nrate = 0.5", "%%flow_stage use\nscaled = rate * 2"],
                          execute=True)
    result = run_check(CheckOptions(path))
    assert result.reproduced
    assert result.warnings == ["parameter rate is assigned again by fix (cell 3), so a value "
                               "given with -p only reaches the cells before it"]

    folder = path.parent
    notebook = new_notebook([LOAD, "%%flow_stage a\nx = 1", "%%flow_stage b\ny = 2"])
    client = NotebookClient(notebook, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        for index in (0, 2, 1):
            client.execute_cell(notebook.cells[index], index)
    unordered = folder / "unordered.ipynb"
    nbformat.write(notebook, unordered)
    result = run_check(CheckOptions(unordered))
    assert result.reproduced
    assert result.warnings == ["the reference may not be trustworthy: cell 3 ran as In [2], "
                               "before cell 2 (In [3])"]


def test_seeded_earlier_not_blamed(write_notebook, tmp_path):
    """A draw from a global generator seeded in an earlier stage is not called unseeded."""
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    path = write_notebook([
        LOAD,
        "%%flow_stage seed\nimport numpy as np\nnp.random.seed(3)",
        "%%flow_stage load\nimport pandas as pd\nframe = pd.read_csv('data.csv')\n"
        "noise = np.random.rand(2)",
    ], execute=True)
    data.write_text("x\n2\n")
    result = run_check(CheckOptions(path))
    load = stage(result, "load")
    assert load.causes[0].startswith("input file changed: data.csv")
    assert not any("unseeded" in cause for cause in load.causes)
    completed = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "flowrec", "audit", str(path), "--json"],
        capture_output=True, text=True)
    items = {item["item"]: item for item in __import__("json").loads(completed.stdout)["items"]}
    assert items["random generators seeded"]["status"] == "passed"


def test_deleted_cell_name_error(write_notebook):
    """A NameError from a value only a deleted cell defined is named as hidden state."""
    import nbformat

    path = write_notebook([LOAD, "%%flow_stage make\nv = 2", "%%flow_stage use\nw = v * 2"],
                          execute=True)
    notebook = nbformat.read(path, 4)
    del notebook.cells[1]
    nbformat.write(notebook, path)
    result = run_check(CheckOptions(path))
    use = stage(result, "use")
    assert use.verdict is Verdict.FAILED
    assert use.causes[0].startswith("hidden state: name 'v' is not defined")


def test_environment_change_as_cause(write_notebook, monkeypatch):
    """With no other evidence, a changed thread setting is named as the likely cause."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = write_notebook([
        LOAD,
        "%%flow_stage threads\nimport os\nsetting = os.environ['OMP_NUM_THREADS']",
    ], execute=True)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    result = run_check(CheckOptions(path))
    assert stage(result, "threads").causes == ["changed environment: OMP_NUM_THREADS 1 -> 2"]
