"""Time batch checks of small notebooks against plain sequential papermill runs.

The script writes 40 small real notebooks into a temporary folder, each
with four ``%%flow_stage`` cells of numpy and pandas work, and runs them
once with papermill so they carry records. Then, in each round and side by
side, it times:

- papermill: each notebook run with ``papermill.execute_notebook``, one
  after the other, in this process (the notebooks load flowrec themselves,
  so the recorder runs here too);
- ``flowrec check FOLDER --jobs 1``, the command in a subprocess;
- ``flowrec check FOLDER --jobs N`` with N the number of CPU cores.

It prints the speed-up of the parallel check over the ``--jobs 1`` check
(target: at least 1.6x on 2 cores). It also prints flowrec's time per
notebook beyond papermill's (target: under 10 %), from the wall clocks and
from the check's JSON report, which gives each check's papermill time.

    .venv/bin/python benchmarks/batch.py             # 40 notebooks, about 4 minutes on 2 cores
    .venv/bin/python benchmarks/batch.py --rounds 3  # repeat the three runs, report medians
    .venv/bin/python benchmarks/batch.py --quick     # 3 notebooks, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

SPEED_UP_TARGET = 1.6
OVERHEAD_TARGET = 0.10


def notebook_cells(number: int, rows: int) -> list[str]:
    """Return the cells of benchmark notebook ``number``: seeded numpy and pandas stages."""
    return [
        "%load_ext flowrec",
        f"%%flow_stage load\nimport numpy as np\nimport pandas as pd\n"
        f"rng = np.random.default_rng({number})\n"
        f"frame = pd.DataFrame(rng.normal(size=({rows}, 8)), columns=list('abcdefgh'))",
        "%%flow_stage features\nframe['total'] = frame.sum(axis=1)\n"
        "frame['bucket'] = pd.cut(frame['total'], 5, labels=False)\n"
        "summary = frame.groupby('bucket').mean()",
        "%%flow_stage fit\nfeatures = frame[list('abcdefg')].to_numpy()\n"
        "coefficients = np.linalg.lstsq(features, frame['h'].to_numpy(), rcond=None)[0]\n"
        "residual = float(np.abs(features @ coefficients - frame['h'].to_numpy()).mean())",
        "%%flow_stage report\nprint(f'{len(frame)} rows, mean residual {residual:.4f}')\n"
        "summary.round(3)",
    ]


def write_notebooks(folder: Path, count: int, rows: int) -> list[Path]:
    paths = []
    for number in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        notebook.cells = [nbformat.v4.new_code_cell(source)
                          for source in notebook_cells(number, rows)]
        path = folder / f"analysis_{number:02d}.ipynb"
        nbformat.write(notebook, path)
        paths.append(path)
    return paths


def run_papermill(sources: list[Path], outputs: Path) -> float:
    """Run every notebook with papermill, one after another; return the wall time."""
    import papermill

    start = time.perf_counter()
    for source in sources:
        # The kernel's start-up warnings are silenced as flowrec check silences them.
        papermill.execute_notebook(str(source), str(outputs / source.name), kernel_name="python3",
                                   progress_bar=False, cwd=str(source.parent),
                                   extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    return time.perf_counter() - start


def run_check(folder: Path, jobs: int, report: Path) -> float:
    """Run ``flowrec check FOLDER --jobs N`` in a subprocess; return the wall time."""
    command = [sys.executable, "-m", "flowrec", "check", str(folder), "--jobs", str(jobs),
               "--json", str(report)]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"flowrec check --jobs {jobs} exited {completed.returncode}:\n"
                           f"{completed.stdout}\n{completed.stderr}")
    return elapsed


def own_share(report: Path) -> float:
    """Return flowrec's time beyond papermill's, as a share of papermill's, from a JSON report."""
    checks = json.loads(report.read_text())["checks"]
    total = sum(check["seconds"] for check in checks)
    papermill = sum(check["result"]["duration"] for check in checks)
    return (total - papermill) / papermill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 small notebooks, one round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three runs")
    args = parser.parse_args()
    count = 3 if args.quick else 40
    rows = 200 if args.quick else 20_000
    rounds = 1 if args.quick else max(1, args.rounds)
    cores = os.cpu_count() or 1

    print(f"{count} notebooks, {cores} cores, load average before: "
          f"{', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="flowrec-batch-bench-") as scratch:
        root = Path(scratch)
        for name in ("sources", "executed", "papermill-out", "reports"):
            (root / name).mkdir()
        sources = write_notebooks(root / "sources", count, rows)
        # The executed notebooks carry the records that the checks compare with.
        run_papermill(sources, root / "executed")
        samples: dict[str, list[float]] = {"papermill": [], "jobs 1": [], f"jobs {cores}": []}
        shares = []
        for number in range(1, rounds + 1):
            samples["papermill"].append(run_papermill(sources, root / "papermill-out"))
            report = root / "reports" / f"jobs-1-{number}.json"
            samples["jobs 1"].append(run_check(root / "executed", 1, report))
            shares.append(own_share(report))
            samples[f"jobs {cores}"].append(
                run_check(root / "executed", cores, root / "reports" / f"jobs-n-{number}.json"))
            print(f"round {number}: " + ", ".join(f"{name} {values[-1]:.1f} s"
                                                  for name, values in samples.items()))
    print(f"load average after: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{'run':28} {'total s':>8} {'per notebook s':>15}")
    print(f"{'papermill, sequential':28} {medians['papermill']:8.1f} "
          f"{medians['papermill'] / count:15.2f}")
    print(f"{'flowrec check --jobs 1':28} {medians['jobs 1']:8.1f} {medians['jobs 1'] / count:15.2f}")
    parallel = medians[f"jobs {cores}"]
    print(f"{f'flowrec check --jobs {cores}':28} {parallel:8.1f} {parallel / count:15.2f}")

    speed_up = medians["jobs 1"] / parallel
    overhead = (medians["jobs 1"] - medians["papermill"]) / medians["papermill"]
    share = statistics.median(shares)
    print(f"speed-up of --jobs {cores} over --jobs 1: {speed_up:.2f}x "
          f"(over sequential papermill: {medians['papermill'] / parallel:.2f}x)")
    print(f"flowrec time per notebook beyond papermill: {overhead:+.1%} of papermill's by wall "
          f"clock, {share:+.1%} inside the checks (from the JSON report)")
    met = speed_up >= SPEED_UP_TARGET and overhead < OVERHEAD_TARGET
    if cores < 2:
        print(f"the speed-up target needs 2 cores or more; this machine has {cores}")
        met = False
    print("all targets met" if met else "some targets missed")


if __name__ == "__main__":
    main()
