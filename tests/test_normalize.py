"""Output normalization before comparison."""

from __future__ import annotations

import pytest

from flowrec.normalize import normalize_outputs, normalize_text, outputs_digest
from flowrec.record import MIME_TYPE


def normalized(text):
    applied = set()
    return normalize_text(text, applied), applied


def test_memory_address():
    """Object reprs with addresses compare equal across runs."""
    text, applied = normalized("<object object at 0x7f3a1c2b4d50>")
    assert text == "<object object at 0x<address>>"
    assert applied == {"memory address"}


def test_kernel_temporary_path():
    """Warnings name the kernel's temporary cell file, which changes per run."""
    text, applied = normalized("/tmp/ipykernel_48213/3170512365.py:2: UserWarning: careful")
    assert text == "<kernel temporary file>:2: UserWarning: careful"
    assert applied == {"kernel temporary path"}


def test_timestamp_and_duration():
    """Timestamps and timings are replaced, the words around them kept."""
    text, applied = normalized("run at 2024-03-01T10:20:30.123456+00:00, Wall time: 1.52 s")
    assert text == "run at <timestamp>, Wall time: <duration>"
    assert applied == {"timestamp", "duration"}


@pytest.mark.parametrize("seconds", [2e-7, 999.6e-9, 999.7e-6, 0.9996, 1.5, 123.4, 3700])
def test_ipython_time_output(seconds):
    """Every form IPython's %time prints a duration in is normalized."""
    from IPython.core.magics.execution import _format_time

    shown = _format_time(seconds)
    text, applied = normalized(f"CPU times: user {shown}, sys: {shown}, total: {shown}\n"
                               f"Wall time: {shown}\n")
    assert text == ("CPU times: user <duration>, sys: <duration>, total: <duration>\n"
                    "Wall time: <duration>\n")
    assert applied == {"duration"}


def test_styler_ids_and_numpy_scalars():
    """pandas Styler ids and NumPy 2 scalar reprs compare as their stable forms."""
    text, applied = normalized('<style>#T_8b1c3_row0_col0 {color: red}</style>'
                               '<table id="T_8b1c3">')
    assert text == '<style>#T_<id>_row0_col0 {color: red}</style><table id="T_<id>">'
    assert applied == {"pandas Styler id"}
    text, applied = normalized("[np.float64(1.5), np.int64(3), np.True_]")
    assert text == "[1.5, 3, np.True_]"
    assert applied == {"NumPy 2 scalar repr"}


def test_progress_bar():
    """tqdm progress lines are replaced as a whole."""
    text, applied = normalized("fitting\n 40%|████      | 4/10 [00:01<00:02,  3.9it/s]\ndone")
    assert text == "fitting\n<progress bar>\ndone"
    assert applied == {"progress bar"}


def test_plain_text_untouched():
    """Ordinary numbers and words are not normalized."""
    text, applied = normalized("accuracy: 0.958 on 143 rows in 2024")
    assert text == "accuracy: 0.958 on 143 rows in 2024"
    assert applied == set()


def test_stream_chunks_joined():
    """A stream split into chunks compares equal to the same stream in one piece."""
    applied = set()
    split = normalize_outputs([
        {"output_type": "stream", "name": "stdout", "text": "hello "},
        {"output_type": "stream", "name": "stdout", "text": ["wor", "ld\n"]},
    ], applied)
    whole = normalize_outputs([{"output_type": "stream", "name": "stdout", "text": "hello world\n"}],
                              set())
    assert split == whole
    assert "stream chunks joined" in applied


def test_records_and_tracebacks_left_out():
    """flowrec's own records are skipped and errors keep only their name and value."""
    outputs = [
        {"output_type": "display_data", "data": {MIME_TYPE: {"version": 1},
                                                 "text/plain": "flowrec stage 'a' (0.01 s)"}},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad",
         "traceback": ["File /tmp/ipykernel_1/1.py"]},
    ]
    assert normalize_outputs(outputs, set()) == [{"error": "ValueError", "value": "bad"}]


def test_widget_model_id():
    """Widget views compare equal whatever their random model id."""
    first = normalize_outputs([{"output_type": "display_data", "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2}}}],
        set())
    second = normalize_outputs([{"output_type": "display_data", "data": {
        "application/vnd.jupyter.widget-view+json": {"model_id": "xyz", "version_major": 2}}}],
        set())
    assert outputs_digest(first) == outputs_digest(second)


def test_digest_detects_change():
    """Different normalized outputs have different digests."""
    first = normalize_outputs([{"output_type": "stream", "name": "stdout", "text": "1\n"}], set())
    second = normalize_outputs([{"output_type": "stream", "name": "stdout", "text": "2\n"}], set())
    assert outputs_digest(first) != outputs_digest(second)
