"""Measure what the recorder adds to a trivial cell, side by side with a plain kernel.

Two real IPython kernels run the same cells: one with ``%load_ext flowrec``,
one without. Their namespaces hold 1, 1,000 and 10,000 variables, then also
a 1 GiB array that the timed cells never touch. Each timed cell is a small
assignment, executed through the Jupyter messaging protocol; the two
kernels alternate in blocks, so a busy machine slows both alike. The table
shows the median time per cell in each kernel and the difference. Target:
under 1 ms added at every size, and no more added with the untouched array.

    .venv/bin/python benchmarks/overhead.py            # about a minute
    .venv/bin/python benchmarks/overhead.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time

from jupyter_client.manager import start_new_kernel

TIMED_CELL = "trivial = 1"


def run(client, code: str, timeout: float = 600) -> None:
    reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda message: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed in the benchmark kernel: {code!r}: {reply['content']}")


def timed_block(client, count: int) -> list[float]:
    durations = []
    for _ in range(count):
        start = time.perf_counter()
        run(client, TIMED_CELL)
        durations.append(time.perf_counter() - start)
    return durations


def grow_namespace(client, total: int) -> None:
    # The variables are bound in a plain loop so both kernels build them alike.
    run(client, f"for _index in range({total}):\n    globals()[f'v{{_index}}'] = _index")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cells and a small array")
    args = parser.parse_args()
    cells_per_block = 10 if args.quick else 25
    blocks = 2 if args.quick else 8
    array_mib = 16 if args.quick else 1024

    kernels = {}
    for label in ("plain", "flowrec"):
        manager, client = start_new_kernel(kernel_name="python3")
        kernels[label] = (manager, client)
    run(kernels["flowrec"][1], "%load_ext flowrec")
    try:
        rows = []
        configurations = [("1 variable", 1, False), ("1,000 variables", 1000, False),
                          ("10,000 variables", 10000, False),
                          (f"10,000 variables + {array_mib} MiB array", 10000, True)]
        for name, size, with_array in configurations:
            for _, client in kernels.values():
                grow_namespace(client, size)
                if with_array:
                    run(client, f"import numpy\nuntouched = numpy.ones({array_mib} * 131072)")
                timed_block(client, cells_per_block)  # warm up
            samples = {label: [] for label in kernels}
            for _ in range(blocks):
                for label, (_, client) in kernels.items():
                    samples[label].extend(timed_block(client, cells_per_block))
            plain = statistics.median(samples["plain"])
            recorded = statistics.median(samples["flowrec"])
            rows.append((name, plain, recorded))
    finally:
        for manager, client in kernels.values():
            client.stop_channels()
            manager.shutdown_kernel(now=True)

    print(f"{'namespace':42} {'plain ms':>9} {'flowrec ms':>11} {'added ms':>9} {'ratio':>6}")
    met = True
    for name, plain, recorded in rows:
        added = (recorded - plain) * 1000
        met &= added < 1.0
        print(f"{name:42} {plain * 1000:9.3f} {recorded * 1000:11.3f} {added:9.3f} "
              f"{recorded / plain:6.2f}")
    with_array = rows[-1][2] - rows[-1][1]
    without_array = rows[-2][2] - rows[-2][1]
    print(f"added by the untouched array: {(with_array - without_array) * 1000:.3f} ms per cell")
    print("target met: under 1 ms added per trivial cell" if met else "target missed")


if __name__ == "__main__":
    main()
