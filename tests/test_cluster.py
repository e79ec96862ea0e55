"""Checks through a Dask cluster on loopback: same verdicts as local runs, lost workers."""

from __future__ import annotations

import json

import pytest

from test_cli import flowrec

pytestmark = pytest.mark.kernel

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="session")
def scheduler_address():
    """Start one local cluster for the session: two worker processes on 127.0.0.1."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    yield cluster.scheduler_address
    cluster.close()


def verdicts(report_path):
    """Return each check's status and per-cell verdicts from a combined JSON report."""
    report = json.loads(report_path.read_text())
    return {
        (check["name"], check["parameter_set"]): (
            check["status"],
            [(stage["label"], stage["verdict"], stage["root"])
             for stage in (check["result"] or {}).get("stages", [])])
        for check in report["checks"]
    }


def test_cluster_verdicts_match_local(batch_folder, tmp_path, scheduler_address):
    """The same folder and grid give the same verdicts locally and on the cluster."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps([{"seed": 0}, {"seed": 2}]))
    local = flowrec("check", batch_folder, "--grid", grid, "--jobs", "2",
                    "--json", tmp_path / "local.json")
    remote = flowrec("-v", "check", batch_folder, "--grid", grid, "--scheduler",
                     scheduler_address, "--json", tmp_path / "remote.json",
                     "--output-dir", tmp_path / "executed")
    assert local.returncode == 1, local.stdout + local.stderr
    assert remote.returncode == 1, remote.stdout + remote.stderr
    assert f"connected to the Dask scheduler at {scheduler_address}" in remote.stderr
    local_verdicts = verdicts(tmp_path / "local.json")
    assert verdicts(tmp_path / "remote.json") == local_verdicts
    assert local_verdicts[("unseeded.ipynb", "defaults")][0] == "not reproduced"
    assert local_verdicts[("seeded.ipynb", "seed=2")][0] == "reproduced"
    # The client writes what the workers executed; the input is never among them.
    executed = sorted(path.name for path in (tmp_path / "executed").iterdir())
    assert executed == ["seeded.seed=0.ipynb", "seeded.seed=2.ipynb", "steady.ipynb",
                        "unseeded.ipynb"]


def test_worker_runs_sent_content(scheduler_address, write_notebook):
    """A worker that cannot see the notebook's path runs the content sent to it."""
    from flowrec.cluster import run_on_worker

    path = write_notebook(["%load_ext flowrec", "%%flow_stage one\nx = 1"])
    content = path.read_text()
    with distributed.Client(scheduler_address) as client:
        reply = client.submit(run_on_worker, "/nonexistent/flowrec/sent.ipynb", content, {},
                              "python3", None, None, "token", pure=False).result()
    assert reply["in_place"] is False
    assert reply["error"] is None
    assert "flow_stage one" in reply["notebook"]
    assert "application/vnd.flowrec.stage+json" in reply["notebook"]


def test_lost_worker_reported_failed(write_notebook, tmp_path):
    """A run that kills its worker every time ends as a failed check after its retries."""
    path = write_notebook([
        "import os, signal\n"
        "os.kill(os.getppid(), signal.SIGKILL)  # the worker process that started this kernel\n"
        "os._exit(1)",
    ])
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        completed = flowrec("check", path, "--scheduler", cluster.scheduler_address,
                            "--retries", "1", "--json", tmp_path / "lost.json")
    finally:
        cluster.close()
    assert completed.returncode == 1, completed.stdout + completed.stderr
    check = json.loads((tmp_path / "lost.json").read_text())["checks"][0]
    assert check["status"] == "failed"
    assert "the cluster could not run the notebook after 1 retries" in check["error"]
    assert "KilledWorker" in check["error"]


def test_unreachable_scheduler(write_notebook):
    """An address where no scheduler listens is bad input naming the address."""
    import os
    import subprocess
    import sys

    path = write_notebook(["x = 1"])
    # dask's own setting shortens the wait for a connection from 30 s.
    environment = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    completed = subprocess.run(
        [sys.executable, "-m", "flowrec", "check", str(path), "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, timeout=300, env=environment)
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert "cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'" in lines[-1]


def test_examples_recorded_then_checked_both_ways(tmp_path):
    """The example folder and grid: recorded, then the same verdicts locally and on a cluster."""
    import shutil

    from conftest import EXAMPLES

    folder = tmp_path / "examples"
    folder.mkdir()
    for path in [*EXAMPLES.glob("*.ipynb"), EXAMPLES / "grid.yaml"]:
        shutil.copy(path, folder)
    (folder / "broken.ipynb").write_text('{"cells": [')
    grid = folder / "grid.yaml"
    recorded = flowrec("record", folder, "--grid", grid, "--store", tmp_path / "store",
                       "--jobs", "2")
    assert recorded.returncode == 2, recorded.stdout + recorded.stderr
    assert "6 run(s): 5 recorded, 1 bad input" in recorded.stdout

    local = flowrec("check", folder, "--grid", grid, "--reference", tmp_path / "store",
                    "--jobs", "2", "--json", tmp_path / "local.json")
    remote = flowrec("check", folder, "--grid", grid, "--reference", tmp_path / "store",
                     "--scheduler", "local", "--json", tmp_path / "remote.json")
    assert local.returncode == 2, local.stdout + local.stderr
    assert remote.returncode == 2, remote.stdout + remote.stderr
    local_verdicts = verdicts(tmp_path / "local.json")
    assert verdicts(tmp_path / "remote.json") == local_verdicts
    statuses = {key: value[0] for key, value in local_verdicts.items()}
    assert statuses == {
        ("breast_cancer.ipynb", "seed=42"): "reproduced",
        ("breast_cancer.ipynb", "seed=7"): "reproduced",
        ("co2_forecast.ipynb", "horizon_months=24"): "reproduced",
        ("co2_forecast.ipynb", "horizon_months=48"): "reproduced",
        ("not_reproducible.ipynb", "defaults"): "not reproduced",
        ("broken.ipynb", "defaults"): "bad input",
    }


def test_kernel_missing_on_workers(batch_folder, scheduler_address):
    """A kernel the workers lack is bad input for that notebook, named by the worker's error."""
    completed = flowrec("check", batch_folder / "steady.ipynb", "--kernel", "no-such-kernel",
                        "--scheduler", scheduler_address)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "kernel 'no-such-kernel' could not run the notebook" in completed.stdout
