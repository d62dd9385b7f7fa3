"""The report notebook (notebooks/report.ipynb) runs top to bottom in a fresh kernel, on the first
2,000 training images for one epoch, and shows what it says it shows: the network's 80,266
parameters, the training and test accuracy, every figure, Table 1 from the stored sweep runs,
the report's claims and a person's own digits read. It writes only into a temporary folder:
never into the committed notebook, the committed sweep storage, or models/."""

import hashlib
import importlib.util
import json
from pathlib import Path
import re

import nbformat
import pytest

pytestmark = pytest.mark.slow  # a browser, a server or a whole notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "report.ipynb"
SWEEP_STORAGE = ROOT / "results" / "report" / "sweeps.log"
LIMIT = 2000
FIGURES = ("training_digits", "network", "accuracy_per_epoch", "loss_per_epoch", "classification_report",
           "roc_curves", "precision_recall_curves", "confusion_matrix", "misclassified_digits",
           "reliability_diagram", "own_digits")


def runner():
    """notebooks/run.py, the one way the notebook is executed, by the tests and for its committed outputs."""
    spec = importlib.util.spec_from_file_location("notebook_runner", ROOT / "notebooks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def texts(cell):
    """Everything a code cell shows as text: printed lines, displayed Markdown, plain-text reprs."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("display_data", "execute_result"):
            parts.append(output.data.get("text/markdown") or output.data.get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(the executed notebook, its output folder, all its text), run as CI runs it."""
    out = tmp_path_factory.mktemp("notebook")
    before = {path: digest(path) for path in (NOTEBOOK, SWEEP_STORAGE)}
    run = runner()
    notebook = run.execute(NOTEBOOK, run.settings_env(limit=LIMIT, epochs=1, out=out), timeout=300)
    assert {path: digest(path) for path in before} == before, "the notebook changed a committed file"
    return notebook, out, "\n".join(texts(cell) for cell in notebook.cells if cell.cell_type == "code")


def test_every_cell_runs_in_order_without_an_error(executed):
    notebook, _, _ = executed
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert not [output for cell in code for output in cell.outputs if output.output_type == "error"]


def test_it_reads_its_settings_and_trains_the_reports_network_on_them(executed):
    _, out, text = executed
    assert f"Training images: the first {LIMIT:,}; epochs: 1" in text
    assert "80,266 parameters" in text
    assert re.search(r"epoch 1/1 +loss \d\.\d{4} +accuracy \d+\.\d\d%", text)
    train = float(re.search(r"Train accuracy: (\d+\.\d\d)%", text).group(1))
    test = float(re.search(r"Test accuracy: (\d+\.\d\d)%", text).group(1))
    assert 0 < train <= 100 and 50 < test <= 100  # one epoch on 2,000 images reads most digits right
    record = json.loads((out / "run.json").read_text())  # a run folder, as train_cnn.py saves one
    assert record["config"]["limit"] == LIMIT and record["config"]["epochs"] == 1
    assert record["parameters"] == 80266
    assert record["test"]["accuracy"] == pytest.approx(test / 100, abs=5e-5)
    assert (out / "model.keras").is_file() and (out / "model.h5").is_file()


def test_the_evaluation_prints_its_numbers(executed):
    _, _, text = executed
    assert re.search(r"macro avg +0\.\d{4} +0\.\d{4} +0\.\d{4} +10000", text)  # the classification report
    assert re.search(r"Test loss \d\.\d{4}, accuracy \d+\.\d\d%, top-2 accuracy \d+\.\d\d%, \d+ errors in 10,000", text)
    assert re.search(r"ROC AUC micro-average 0\.\d{6}, macro-average 0\.\d{6}", text)
    assert re.search(r"Expected calibration error: \d+\.\d\d%", text)


def test_every_figure_is_saved_and_shown_inline(executed):
    notebook, out, _ = executed
    for name in FIGURES:
        figure = out / "figures" / f"{name}.png"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    shown = [output for cell in notebook.cells for output in cell.get("outputs", [])
             if "image/png" in output.get("data", {})]
    # Each figure above, the dropout sweep's figure from the stored runs, and np.resize's inputs.
    assert len(shown) >= len(FIGURES) + 2


def test_table_1_and_the_claims_come_from_the_stored_sweep_runs(executed):
    _, out, text = executed
    assert "optimizer: optimizer and dropout (the report's Table 1)" in text
    assert re.search(r"\| adam \| 0\.3 \| \d+\.\d\d ± \d\.\d\d \|", text)
    assert "**Adam with dropout 0.3 is the best row of Table 1" in text
    assert (out / "sweeps" / "dropout.png").is_file()  # drawn from the copy, beside it


def test_the_reports_errors_are_shown(executed):
    _, _, text = executed
    assert "dropout rate 0.3: 30% of the features dropped" in text
    assert "5 as a one-hot vector: [0 0 0 0 0 1 0 0 0 0] (10 positions)" in text
    macro = re.search(r"macro-average precision, scikit-learn (0\.\d+), mean of the ten per-digit precisions (0\.\d+)", text)
    assert macro.group(1) == macro.group(2)


def test_own_digits_are_converted_and_read(executed):
    _, out, text = executed
    for digit in "0147":
        assert (out / "own_digits" / digit / "drawn.png").is_file()
        assert re.search(rf"own_digits/{digit}/drawn\.png: drawn {digit}, read \d \(\d+\.\d%", text)
        assert re.search(rf"own_digits/{digit}/drawn\.png: drawn {digit}; np\.resize gave pixels 255 to 255", text)


def test_the_committed_notebook_is_clean_or_a_full_run():
    """Outputs are committed only from the full run (python notebooks/run.py), never from a quick one."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    if not first.outputs:
        assert not any(cell.get("outputs") for cell in notebook.cells), "outputs of a partial run"
        return
    assert "Training images: all; epochs: 15; output: models/notebook" in texts(first)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "outputs of a partial run"
