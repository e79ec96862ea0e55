"""Write the example notebooks and execute them, so they carry reference records.

Run from the repository root with the project's virtual environment:

    .venv/bin/python example_notebooks/build_examples.py

Each notebook loads flowrec itself with ``%load_ext flowrec`` and is executed
by nbclient in this folder, as a user running all cells in Jupyter would.
All data ships with the installed packages: nothing is downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def markdown(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    return cell


BREAST_CANCER = [
    markdown("""
# Breast cancer classifier

A logistic regression on the Wisconsin diagnostic breast cancer data that
ships with scikit-learn (569 tumours, 30 features). Each cell that matters is
a flowrec stage: load, split and scale, train, evaluate. Every stage is
seeded, so `flowrec check breast_cancer.ipynb` should report each one as
identical.
"""),
    code("%load_ext flowrec"),
    code("test_size = 0.25\nseed = 42", tags=["parameters"]),
    code("""
%%flow_stage load
import pandas as pd
from sklearn.datasets import load_breast_cancer

bunch = load_breast_cancer(as_frame=True)
frame = bunch.frame
class_names = list(bunch.target_names)
print(frame.shape)
frame[["mean radius", "mean texture", "target"]].describe()
"""),
    code("""
%%flow_stage split_scale
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

features = frame.drop(columns="target")
target = frame["target"]
X_train, X_test, y_train, y_test = train_test_split(
    features, target, test_size=test_size, random_state=seed, stratify=target
)
scaler = StandardScaler().fit(X_train)
X_train_scaled = scaler.transform(X_train)
X_test_scaled = scaler.transform(X_test)
print(f"{len(X_train)} training rows, {len(X_test)} test rows")
"""),
    code("""
%%flow_stage train
from sklearn.linear_model import LogisticRegression

model = LogisticRegression(max_iter=1000, random_state=seed)
model.fit(X_train_scaled, y_train)
coefficients = pd.Series(model.coef_[0], index=features.columns).sort_values()
coefficients.tail(5)
"""),
    code("""
%%flow_stage evaluate
import matplotlib
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, confusion_matrix

predictions = model.predict(X_test_scaled)
accuracy = accuracy_score(y_test, predictions)
matrix = confusion_matrix(y_test, predictions)
print(f"accuracy: {accuracy:.3f}")
ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(colorbar=False)
plt.title("Confusion matrix on the test set")
plt.show()
"""),
]

CO2 = [
    markdown("""
# Mauna Loa CO2: a seasonal forecast

Weekly CO2 concentrations measured at Mauna Loa from 1958 to 2001, as
bundled with statsmodels. The flow loads the series, resamples it to
monthly means and fills gaps, fits an additive Holt-Winters model, forecasts
four years ahead and plots both. Every step is deterministic.
"""),
    code("%load_ext flowrec"),
    code("horizon_months = 48", tags=["parameters"]),
    code("""
%%flow_stage load
import pandas as pd
import statsmodels.api as sm

weekly = sm.datasets.co2.load_pandas().data
print(f"{len(weekly)} weekly values, {int(weekly['co2'].isna().sum())} missing")
"""),
    code("""
%%flow_stage clean_resample
monthly = weekly["co2"].resample("MS").mean().interpolate()
monthly = monthly["1960-01-01":]
monthly.tail()
"""),
    code("""
%%flow_stage fit
from statsmodels.tsa.holtwinters import ExponentialSmoothing

fitted = ExponentialSmoothing(
    monthly, trend="add", seasonal="add", seasonal_periods=12
).fit()
smoothing = {name: float(value) for name, value in fitted.params.items()
             if name.startswith("smoothing")}
smoothing
"""),
    code("""
%%flow_stage forecast
forecast = fitted.forecast(horizon_months)
forecast.head()
"""),
    code("""
%%flow_stage plot
import matplotlib.pyplot as plt

figure, axes = plt.subplots(figsize=(8, 4))
monthly.plot(ax=axes, label="monthly mean")
forecast.plot(ax=axes, label="Holt-Winters forecast")
axes.set_ylabel("CO2 (ppm)")
axes.legend()
plt.show()
"""),
]

NOT_REPRODUCIBLE = [
    markdown("""
# A flow that does not reproduce

This notebook keeps three mistakes seen in real analyses. Running
`flowrec check not_reproducible.ipynb` should exit with status 1:

* **sample** draws noise from NumPy's global generator without a seed, so
  `noise` and `noisy` differ on every run. It is the first diverged stage (the
  root).
* **summary** only averages `noisy`: it diverges because its input did, so it
  is reported as inherited.
* **stamp** stores the wall-clock time in `run_at`: it diverges on every run.
* **labels** turns a set of strings into a list. String hashing is salted per
  process (unless `PYTHONHASHSEED` is set), so the order of `labels` usually
  differs between runs.
* **data** and **report** are deterministic and stay identical.
"""),
    code("%load_ext flowrec"),
    code("""
%%flow_stage data
import numpy as np

measurements = np.linspace(0.0, 1.0, 50)
"""),
    code("""
%%flow_stage sample
noise = np.random.normal(0.0, 0.1, size=measurements.shape)
noisy = measurements + noise
"""),
    code("""
%%flow_stage summary
mean_noisy = float(noisy.mean())
"""),
    code("""
%%flow_stage stamp
from datetime import datetime

run_at = datetime.now().isoformat()
"""),
    code("""
%%flow_stage labels
labels = list({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"})
"""),
    code("""
%%flow_stage report
print(f"{len(measurements)} measurements between {measurements.min()} and {measurements.max()}")
"""),
]

EXAMPLES = {
    "breast_cancer.ipynb": BREAST_CANCER,
    "co2_forecast.ipynb": CO2,
    "not_reproducible.ipynb": NOT_REPRODUCIBLE,
}


def build(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = cells
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    path = HERE / name
    nbformat.write(notebook, path)
    return path


def main(names: list[str]) -> None:
    for name in names or list(EXAMPLES):
        print(f"executing {name}")
        build(name, EXAMPLES[name])


if __name__ == "__main__":
    main(sys.argv[1:])
