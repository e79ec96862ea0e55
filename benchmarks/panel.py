"""Measure how fast the flow panel draws a large generated flow.

A flow of 200 stages (with an unnamed step after every fourth stage, one to
three variables read from recent stages, and some files passed between
them) is built from records, then:

1. the kernel side: building the panel's drawing model (graph, states,
   layered layout, edge labels), and a full panel redraw with its widgets
   (which includes building the model);
2. the browser side, when Debian's chromium is installed: the panel's own
   browser code drawing that model in headless Chromium, timed in the page.

A 20-stage flow is measured beside it, in the same run, so the table also
shows how the time grows. Target: the 200-stage flow drawn in under a
second, kernel and browser together.

    .venv/bin/python benchmarks/panel.py
    .venv/bin/python benchmarks/panel.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from flowrec.fingerprints import fingerprint
from flowrec.flowview import FlowView
from flowrec.panel import STATIC, FlowPanel
from flowrec.record import CellRecord, Upstream

BUDGET = 1.0


def generated_flow(stages: int, seed: int = 7) -> FlowView:
    """Build a flow of ``stages`` stages from records, as a kernel would keep them."""
    rng = random.Random(seed)
    records: list[tuple[str, CellRecord, str]] = []
    writers: list[tuple[str, int]] = []  # (variable, execution count of its writer)
    count = 0
    for index in range(stages):
        count += 1
        reads = rng.sample(writers[-8:], k=min(len(writers[-8:]), rng.randint(1, 3)))
        name = f"stage_{index:03d}_{rng.choice(['load', 'clean', 'fit', 'score'])}"
        written = f"value_{index}"
        files = [(f"/data/part_{index - 1}.parquet", count - 1)] if index % 10 == 5 else []
        record = CellRecord(
            session="bench", execution_count=count, code_hash=f"{count}", started_at="t",
            duration=rng.uniform(0.001, 2.0), stage=name,
            reads={variable: fingerprint(source) for variable, source in reads},
            writes={written: fingerprint(list(range(50)))},
            upstream=[Upstream(variable, None, source, "") for variable, source in reads]
            + [Upstream(path, None, source, "", "file") for path, source in files],
        )
        records.append((str(count), record, f"{written} = compute({len(reads)})"))
        writers.append((written, count))
        if index % 4 == 3:
            count += 1
            step = CellRecord(
                session="bench", execution_count=count, code_hash=f"{count}", started_at="t",
                duration=0.01, reads={written: fingerprint(1)},
                writes={f"summary_{index}": fingerprint(2)},
                upstream=[Upstream(written, name, count - 1, "")])
            records.append((str(count), step, f"summary_{index} = describe({written})"))
            writers.append((f"summary_{index}", count))
    return FlowView.of_records(records, f"{stages} generated stages")


def median_time(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def browser_draw_time(model: dict, repeat: int) -> float | None:
    """Median time for the panel's browser code to draw ``model`` in headless Chromium."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        page_path = Path(folder) / "panel.html"
        (Path(folder) / "flow_panel.js").write_text((STATIC / "flow_panel.js").read_text())
        style = (STATIC / "flow_panel.css").read_text()
        # A stand-in for anywidget's model object: get, set, on, off, save_changes.
        page_path.write_text(f"""<!doctype html><meta charset="utf-8"><style>{style}</style>
<div id="host" style="width: 900px"></div>
<script type="module">
import widget from "./flow_panel.js";
window.drawFlow = (graph) => {{
  const host = document.getElementById("host");
  host.replaceChildren();
  const values = {{graph, selected: ""}};
  const model = {{get: (k) => values[k], set: (k, v) => {{ values[k] = v; }},
                 on() {{}}, off() {{}}, save_changes() {{}}}};
  const start = performance.now();
  widget.render({{model, el: host}});
  host.getBoundingClientRect();  // force layout, so the time includes it
  return performance.now() - start;
}};
window.ready = true;
</script>""")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium,
                                                 args=["--allow-file-access-from-files"])
            try:
                page = browser.new_page()
                page.goto(page_path.as_uri())
                page.wait_for_function("window.ready === true")
                times = [page.evaluate("(graph) => window.drawFlow(graph)", model) / 1000
                         for _ in range(repeat)]
                drawn = page.evaluate("document.querySelectorAll('.flowrec-node').length")
            finally:
                browser.close()
    if drawn != len(model["nodes"]):
        raise RuntimeError(f"the page drew {drawn} nodes, expected {len(model['nodes'])}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat = 3 if args.quick else 15

    print(f"{'flow':>12} {'nodes':>6} {'edges':>6} {'model (s)':>10} {'panel (s)':>10} "
          f"{'browser (s)':>12} {'total (s)':>10} {'of budget':>10}")
    results = {}
    browser = None
    for stages in (20, 200):
        view = generated_flow(stages)
        model = view.model()
        model_time = median_time(view.model, repeat)
        panel = FlowPanel(lambda view=view: view)
        panel_time = median_time(panel.refresh, repeat)
        if panel.status.value or len(panel.drawing.graph["nodes"]) != len(model["nodes"]):
            raise RuntimeError(f"the panel did not draw the flow: {panel.status.value}")
        panel.close()
        browser = browser_draw_time(model, repeat)
        total = panel_time + (browser or 0.0)
        results[stages] = total
        browser_text = "n/a" if browser is None else f"{browser:.4f}"
        print(f"{stages:>5} stages {len(model['nodes']):>6} {len(model['edges']):>6} "
              f"{model_time:>10.4f} {panel_time:>10.4f} {browser_text:>12} {total:>10.4f} "
              f"{total / BUDGET:>9.0%}")
    print(f"200 stages take {results[200] / results[20]:.1f}x the time of 20 stages")
    if browser is None:
        print("chromium is not installed: the browser side was not measured")
    print("target met" if results[200] < BUDGET else "target missed")


if __name__ == "__main__":
    main()
