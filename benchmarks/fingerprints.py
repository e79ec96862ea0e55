"""Measure flowrec.fingerprint against a memory read pass, joblib.hash and dask's tokenize.

Every case is timed side by side in one process, the methods interleaved in
each round, so a busy machine slows them alike. The table shows medians and
ratios. Calls shorter than 20 ms are repeated until 20 ms have passed and
averaged, for every method alike, and such cases get five times the rounds.
The targets are at least 80 % of the read-pass throughput on the large
array and the numeric frame, and at least 10x joblib.hash on every case.
Fingerprinting a 2 GiB array or a strided view of it must take under
64 MiB of extra peak memory.

    .venv/bin/python benchmarks/fingerprints.py            # full sizes, about 1.5 minutes
    .venv/bin/python benchmarks/fingerprints.py --quick    # small sizes, a smoke run
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from typing import Any, Callable

import numpy as np
import pandas as pd

from flowrec import fingerprint

MIB = 1024 * 1024
TIMING_WINDOW = 0.02  # seconds: shorter calls are repeated to fill it
# Cases whose calls fit in one timing window get this many times the rounds,
# because they cost little. On a shared machine, one busy window swings the
# ratio of two short timings far more than that of two long ones.
SHORT_CASE_ROUND_FACTOR = 5


def build_cases(scale: float) -> list[tuple[str, Any, Callable[[], Any] | None]]:
    """Return (name, value, read pass or None) for every case, sized by ``scale``."""
    rng = np.random.default_rng(0)
    array = rng.random(int(64 * MIB * scale))  # 512 MiB of float64 at scale 1
    strided = array[::2]
    frame = pd.DataFrame(rng.random((int(1_000_000 * scale), 62)),
                         columns=[f"c{i}" for i in range(62)])  # about 500 MiB
    rows = int(1_000_000 * scale)
    text_frame = pd.DataFrame({
        "id": np.arange(rows),
        "value": rng.random(rows),
        "label": [f"sample-{i % 997}" for i in range(rows)],
    })
    small_dict = {f"key{i}": (i, i * 0.5, f"v{i}")[i % 3] for i in range(1000)}
    floats = rng.random(100_000).tolist()
    tiny_frame = pd.DataFrame({"a": range(10), "b": np.linspace(0, 1, 10), "c": list("abcdefghij")})

    def frame_read_pass() -> float:
        return sum(float(frame[name].to_numpy().sum()) for name in frame.columns)

    return [
        (f"array float64 {array.nbytes // MIB} MiB", array, array.sum),
        (f"strided view {strided.nbytes // MIB} MiB", strided, strided.sum),
        (f"numeric frame {frame.memory_usage().sum() // MIB} MiB", frame, frame_read_pass),
        (f"frame with string column, {rows} rows", text_frame, None),
        ("dict of 1,000 ints, floats, short strings", small_dict, None),
        ("list of 100,000 floats", floats, None),
        ("10-row frame", tiny_frame, None),
    ]


def competitors() -> dict[str, Callable[[Any], Any]]:
    methods: dict[str, Callable[[Any], Any]] = {"flowrec": fingerprint}
    try:
        import joblib

        methods["joblib.hash"] = joblib.hash
    except ImportError:
        pass
    try:
        from dask.base import tokenize

        methods["dask tokenize"] = tokenize
    except ImportError:
        pass
    return methods


def time_once(function: Callable[[], Any]) -> float:
    """Return seconds per call, averaged over as many calls as fill the timing window (at least one).

    Every call counts, including the first. Deciding from one probe call
    whether to repeat would time a call alone whenever the machine happened
    to pause it.
    """
    calls = 0
    start = time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= TIMING_WINDOW:
            return elapsed / calls


def measure(cases, rounds: int, slow_limit: float) -> list[dict[str, Any]]:
    methods = competitors()
    rows = []
    for name, value, read_pass in cases:
        timings: dict[str, list[float]] = {method: [] for method in methods}
        if read_pass is not None:
            timings["read pass"] = []
        case_rounds = rounds
        done = 0
        while done < case_rounds:
            if read_pass is not None:
                timings["read pass"].append(time_once(read_pass))
            for method, function in methods.items():
                # A competitor that already took too long runs only once.
                if timings[method] and timings[method][0] > slow_limit:
                    continue
                timings[method].append(time_once(lambda: function(value)))
            done += 1
            if done == 1 and timings["flowrec"][0] < TIMING_WINDOW:
                case_rounds = rounds * SHORT_CASE_ROUND_FACTOR
        medians = {method: statistics.median(values) for method, values in timings.items()}
        rows.append({"case": name, "medians": medians, "bytes": fingerprint(value).nbytes})
    return rows


def peak_memory(size_bytes: int) -> dict[str, float]:
    """Return the extra peak memory, in MiB, of fingerprinting an array and a strided view."""
    array = np.ones(size_bytes // 8)
    views = {
        "contiguous": array,
        "strided view": array.reshape(-1, 64)[:, ::2],
        "Fortran order": array.reshape(64, -1).T,
    }
    peaks = {}
    for name, view in views.items():
        gc.collect()
        tracemalloc.start()
        fingerprint(view)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peaks[name] = peak / MIB
    return peaks


def report(rows: list[dict[str, Any]], peaks: dict[str, float], memory_mib: int) -> bool:
    met = True
    print(f"{'case':44} {'method':14} {'median ms':>10} {'GB/s':>7} {'vs flowrec':>11}")
    for row in rows:
        medians = row["medians"]
        ours = medians["flowrec"]
        for method, seconds in medians.items():
            ratio = seconds / ours
            rate = f"{row['bytes'] / seconds / 1e9:7.2f}" if row["bytes"] else f"{'':>7}"
            print(f"{row['case']:44} {method:14} {seconds * 1000:10.3f} {rate} {ratio:10.2f}x")
        if "read pass" in medians:
            share = medians["read pass"] / ours
            # The strided view is copied slab by slab, so only contiguous data has this target.
            target = " (target 80 %)" if not row["case"].startswith("strided") else ""
            print(f"{'':44} flowrec runs at {share:.0%} of the read-pass throughput{target}")
            if target:
                met &= share >= 0.8
        if "joblib.hash" in medians:
            speedup = medians["joblib.hash"] / ours
            print(f"{'':44} {speedup:.1f}x faster than joblib.hash (target 10x)")
            met &= speedup >= 10
    print()
    for name, peak in peaks.items():
        print(f"extra peak memory, {memory_mib} MiB array, {name}: {peak:.1f} MiB (target < 64)")
        met &= peak < 64
    print("all targets met" if met else "some targets missed")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=5,
                        help=f"rounds per case (default 5; {SHORT_CASE_ROUND_FACTOR} times as many "
                             "for cases whose calls take under 20 ms)")
    args = parser.parse_args()
    scale = 1 / 256 if args.quick else 1.0
    memory_mib = 64 if args.quick else 2048
    rows = measure(build_cases(scale), rounds=2 if args.quick else args.rounds, slow_limit=10.0)
    peaks = peak_memory(memory_mib * MIB)
    report(rows, peaks, memory_mib)


if __name__ == "__main__":
    main()
