"""The recorder in a real kernel: what each cell's record holds."""

from __future__ import annotations

import pytest

from flowrec.record import MIME_TYPE

pytestmark = pytest.mark.kernel


def stderr_of(entry):
    return "".join(output["text"] for output in entry.normalized_outputs
                   if output.get("stream") == "stderr")


def by_stage(entries):
    return {entry.record.stage: entry.record for entry in entries
            if entry.record is not None and entry.record.stage}


def test_mutations_are_writes(run_cells):
    """Method calls and item assignment that change a read value count as writes."""
    entries = run_cells([
        "%load_ext flowrec",
        "import pandas as pd\nitems = [1, 2, 3]\nframe = pd.DataFrame({'a': [1.0, None, 3.0]})",
        "%%flow_stage mutate\nitems.append(4)\nframe.dropna(inplace=True)\nframe['c'] = 1",
        "%%flow_stage readonly\nrows = len(frame)\nframe.describe()\nitems_count = len(items)",
    ])
    stages = by_stage(entries)
    mutate = stages["mutate"]
    assert set(mutate.writes) == {"items", "frame"}
    assert sorted(mutate.mutated) == ["frame", "items"]
    assert mutate.writes["items"].length == 4
    assert mutate.writes["frame"].shape == (2, 2)
    readonly = stages["readonly"]
    assert set(readonly.writes) == {"rows", "items_count"}
    assert set(readonly.reads) == {"frame", "items"}
    assert readonly.mutated == []


def test_upstream_links_stages(run_cells):
    """A read links to the stage that last wrote the value."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage produce\nvalue = 21",
        "%%flow_stage consume\ndoubled = value * 2",
    ])
    consume = by_stage(entries)["consume"]
    assert [(link.name, link.stage) for link in consume.upstream] == [("value", "produce")]
    assert consume.reads["value"].digest == by_stage(entries)["produce"].writes["value"].digest


def test_magics_and_shell_lines_analyzed(run_cells):
    """``!cmd`` and line magics do not break the analysis; names bound by them are found."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage shell\n!echo hello\n%time timed = 2\nafter = timed + 1",
    ])
    record = by_stage(entries)["shell"]
    assert record.notes == []
    assert set(record.writes) == {"timed", "after"}
    assert any("hello" in output.get("text", "") for output in entries[1].normalized_outputs)


def test_stage_runs_like_plain_cell(run_cells):
    """A stage cell displays exactly what the same cell displays without the magic."""
    body = "import math\nprint('root', math.sqrt(16))\n{'answer': 42}"
    entries = run_cells(["%load_ext flowrec", body, "%%flow_stage same\n" + body])
    plain, stage = entries[1], entries[2]
    assert plain.normalized_outputs == stage.normalized_outputs
    assert stage.normalized_outputs[-1] == {"display": {"text/plain": "{'answer': 42}"}}


def test_exception_reaches_kernel(run_cells):
    """A stage that raises shows the error as a normal cell would, and records it."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage broken\nhalf = 1\nraise ValueError('bad input value')",
    ])
    entry = entries[1]
    assert entry.error_output == {"ename": "ValueError", "evalue": "bad input value"}
    assert entry.record.error == {"ename": "ValueError", "evalue": "bad input value"}
    assert "half" in entry.record.writes


def test_error_traceback_line_numbers(run_cells):
    """The blanked stage line keeps the traceback's line numbers those of the cell."""
    entries = run_cells(["%load_ext flowrec", "%%flow_stage lines\nx = 1\n1 / 0"])
    notebook_outputs = entries[1]
    assert notebook_outputs.error_output["ename"] == "ZeroDivisionError"


def test_bad_stage_line_does_not_run(run_cells):
    """A bad stage line is a one-line usage error and the body never runs."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage bad name\nran = True",
        "print('ran' in globals())",
    ])
    message = stderr_of(entries[1])
    assert message.startswith("UsageError: unexpected argument 'name': a stage has one name.")
    assert message.count("\n") == 1
    assert entries[1].record is None
    assert entries[2].normalized_outputs[0] == {"stream": "stdout", "text": "False\n"}


def test_record_bundles(tmp_path, run_cells):
    """The display bundle of a step holds only the record; a stage's adds text/plain."""
    import nbformat

    run_cells(["%load_ext flowrec", "x = 1", "%%flow_stage named\ny = x + 1"])
    notebook = nbformat.read(tmp_path / "executed.ipynb", 4)
    step_outputs = notebook.cells[1].outputs
    stage_outputs = notebook.cells[2].outputs
    assert [sorted(output.data) for output in step_outputs] == [[MIME_TYPE]]
    assert [sorted(output.data) for output in stage_outputs] == [[MIME_TYPE, "text/plain"]]
    assert stage_outputs[0].data["text/plain"].startswith("flowrec stage 'named': read x; wrote y")


def test_environment_once_per_session(run_cells):
    """Only the session's first record carries the environment."""
    entries = run_cells(["%load_ext flowrec", "import numpy", "x = numpy.zeros(2)"])
    records = [entry.record for entry in entries]
    assert records[0].environment is not None
    assert records[0].environment["python"].count(".") == 2
    assert records[1].environment is None
    assert records[2].environment is None
    assert "numpy" in records[1].packages
    assert records[2].packages == {}
    assert len({record.session for record in records}) == 1


def test_load_twice_and_unload(run_cells):
    """Loading twice keeps one recorder; unloading removes every hook and magic."""
    entries = run_cells([
        "import IPython\nbefore = {event: len(callbacks) for event, callbacks in "
        "get_ipython().events.callbacks.items()}",
        "%load_ext flowrec",
        "%reload_ext flowrec",
        "x = 1",
        "%unload_ext flowrec",
        "after = {event: len(callbacks) for event, callbacks in "
        "get_ipython().events.callbacks.items()}\nprint(before == after)",
        "%%flow_stage gone\ny = 2",
    ])
    assert entries[3].record is not None
    assert entries[5].record is None
    assert entries[5].normalized_outputs == [{"stream": "stdout", "text": "True\n"}]
    assert "UsageError: Cell magic `%%flow_stage` not found" in stderr_of(entries[6])


def test_unfingerprintable_value_never_raises(run_cells):
    """A value whose attributes raise is recorded as opaque, and the cell succeeds."""
    entries = run_cells([
        "%load_ext flowrec",
        "class Hostile:\n    __slots__ = ()\n    def __getattribute__(self, name):\n"
        "        raise RuntimeError('do not touch')\n",
        "%%flow_stage make\nthing = Hostile()\nprint('made')",
    ])
    record = entries[2].record
    assert entries[2].error_output is None
    assert record.writes["thing"].opaque
    assert any(note.startswith("thing is opaque") for note in record.notes)


def flow_listing(notebook, index):
    """Return the text/plain of the %flow display in cell ``index``."""
    for output in notebook.cells[index].outputs:
        if "application/vnd.flowrec.flow+json" in output.get("data", {}):
            return output.data["text/plain"]
    raise AssertionError(f"cell {index} has no %flow listing")


def test_help_and_flow_magic(run_cells, tmp_path):
    """``%%flow_stage`` has help text; ``%flow`` lists, exports and resets the flow."""
    import nbformat

    entries = run_cells([
        "%load_ext flowrec",
        "print(get_ipython().find_cell_magic('flow_stage').__doc__.splitlines()[0])",
        "%%flow_stage first\na = 1",
        "%flow",
        "%flow json",
        "%flow reset",
        "%flow",
        "%flow nonsense",
    ])
    notebook = nbformat.read(tmp_path / "executed.ipynb", 4)
    assert entries[1].normalized_outputs[0]["text"] == "Mark this cell as a stage of the model flow.\n"
    listing = flow_listing(notebook, 3)
    assert "first  (In [3]" in listing
    assert "wrote  a: int" in listing
    assert entries[3].normalized_outputs == []
    exported = flow_listing(notebook, 4)
    assert '"key": "first"' in exported
    assert entries[5].normalized_outputs[0]["text"] == "flowrec: forgot every record of this session\n"
    assert flow_listing(notebook, 6).startswith("0 stage(s), 1 unnamed step(s)")
    assert stderr_of(entries[7]).startswith("UsageError: argument action: invalid choice: 'nonsense'")


def test_function_mutation_credited_to_caller(run_cells):
    """A global changed inside a called user function is a write of the calling stage."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage setup\nimport random\nstate = []\ncounter = 0\n"
        "def helper():\n    global counter\n    counter += 1\n    state.append(random.random())",
        "%%flow_stage run_helper\nhelper()",
        "%%flow_stage later\nsize = len(state)",
    ])
    stages = by_stage(entries)
    run_helper = stages["run_helper"]
    assert set(run_helper.reads) >= {"helper", "state", "random", "counter"}
    assert set(run_helper.writes) == {"state", "counter"}
    assert "state" in run_helper.mutated
    later = stages["later"]
    assert later.writes.keys() == {"size"}
    assert [(link.name, link.stage) for link in later.upstream] == [("state", "run_helper")]


def test_alias_mutation(run_cells):
    """Changing a list through an alias is a write of both names."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage make\na = [1, 2]\nb = a",
        "%%flow_stage grow\nb.append(3)",
        "%%flow_stage use\ntotal = sum(a)",
    ])
    stages = by_stage(entries)
    assert set(stages["grow"].writes) == {"a", "b"}
    assert [(link.name, link.stage) for link in stages["use"].upstream] == [("a", "grow")]


def test_exec_and_globals_rebinding(run_cells):
    """Names bound by exec or globals() are caught by the namespace comparison."""
    entries = run_cells([
        "%load_ext flowrec",
        "existing = 1",
        "%%flow_stage dynamic\nexec('made = 5')\nglobals()['existing'] = 2",
    ])
    record = by_stage(entries)["dynamic"]
    assert set(record.writes) == {"made", "existing"}


def test_file_lineage(run_cells):
    """A CSV written by one stage and read by another is an edge, with both hashes."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage save\nimport pandas as pd\n"
        "pd.DataFrame({'x': [1, 2]}).to_csv('table.csv', index=False)",
        "%%flow_stage read\nimport pandas as pd\ntable = pd.read_csv('table.csv')",
    ])
    stages = by_stage(entries)
    written = stages["save"].files
    read = stages["read"].files
    assert [(access.path, access.mode) for access in written] == [("table.csv", "write")]
    assert [(access.path, access.mode) for access in read] == [("table.csv", "read")]
    assert written[0].digest == read[0].digest
    assert written[0].size == len("x\n1\n2\n")
    file_links = [link for link in stages["read"].upstream if link.kind == "file"]
    assert [(link.name, link.stage) for link in file_links] == [("table.csv", "save")]
    from flowrec.notebook import flow_of

    edges = flow_of(entries).edges
    file_edges = [(edge.source, edge.target, edge.files) for edge in edges if edge.files]
    assert file_edges == [("save", "read", ["table.csv"])]


def test_stale_and_rerun(run_cells, tmp_path):
    """Re-running an upstream stage makes readers stale; %flow rerun refreshes them."""
    import nbformat

    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage load\nscale = 2",
        "%%flow_stage compute\nresult = scale * 10",
        "%%flow_stage report\nsummary = f'result={result}'",
        "%flow stale",
        "%%flow_stage load\nscale = 3",
        "%flow stale",
        "%flow rerun",
        "%flow stale",
        "print(result, summary)",
    ])
    assert entries[4].normalized_outputs[0]["text"] == "flowrec: no stale cells\n"
    stale = entries[6].normalized_outputs[0]["text"]
    assert stale.startswith("flowrec: 2 stale cell(s); run %flow rerun to run them again\n")
    assert "  compute (In [3]): scale changed since it ran (now written by load)" in stale
    assert "  report (In [4]): depends on stale compute" in stale
    rerun = entries[7].normalized_outputs[0]["text"]
    assert "flowrec: re-running compute (In [3])" in rerun
    assert "flowrec: re-running report (In [4])" in rerun
    assert rerun.rstrip().endswith("flowrec: re-ran 2 cell(s); no stale cells left")
    assert entries[8].normalized_outputs[0]["text"] == "flowrec: no stale cells\n"
    assert entries[9].normalized_outputs[0]["text"] == "30 result=30\n"
    notebook = nbformat.read(tmp_path / "executed.ipynb", 4)
    rerun_records = [output for output in notebook.cells[7].outputs
                     if "application/vnd.flowrec.stage+json" in output.get("data", {})]
    # Only the %flow rerun cell's own record is published there, not the re-runs'.
    assert len(rerun_records) == 1
    assert rerun_records[0].data["application/vnd.flowrec.stage+json"]["stage"] is None


def test_unknown_after_and_ignore_noted(run_cells):
    """--after naming no stage and --ignore naming no written value leave notes."""
    entries = run_cells([
        "%load_ext flowrec",
        "%%flow_stage first --after nosuch --ignore missing\nvalue = 1",
    ])
    notes = entries[1].record.notes
    assert "--after names stage 'nosuch', which has not run in this session" in notes
    assert "--ignore names 'missing', which this cell did not write" in notes
