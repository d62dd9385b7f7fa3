"""evaluate.py and digits.metrics: metrics checked against scikit-learn, figures, bad input."""

import json
from pathlib import Path
import subprocess
import sys

import keras
import numpy as np
from PIL import Image
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, log_loss, roc_auc_score
from sklearn.preprocessing import label_binarize

import evaluate
from digits.config import RunConfig
from digits.data import to_inputs, to_one_hot
from digits.errors import InputError
from digits.metrics import metrics_of
from digits.model import new_model

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("network", "classification_report", "roc_curves", "precision_recall_curves", "confusion_matrix",
           "misclassified_digits", "reliability_diagram")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, digits_npz):
    """A small network trained for one epoch on scikit-learn's digits, saved as a run folder."""
    run = tmp_path_factory.mktemp("run")
    data = np.load(digits_npz)
    config = RunConfig(data=str(digits_npz), filters=(8, 8), epochs=1)
    keras.utils.set_random_seed(0)
    model = new_model(config)
    model.fit(to_inputs(data["x_train"]), to_one_hot(data["y_train"]), batch_size=64, epochs=1, verbose=0)
    model.save(run / "model.keras")
    (run / "run.json").write_text(json.dumps({"config": config.to_dict()}))
    return run


def random_probabilities(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    scores = rng.random((n, 10)) + 2.0 * np.eye(10)[labels] * rng.random((n, 1))
    return labels, scores / scores.sum(axis=1, keepdims=True)


def test_numbers_match_scikit_learn_computed_directly():
    labels, probabilities = random_probabilities()
    numbers, text, roc, pr = metrics_of(labels, probabilities)
    onehot = label_binarize(labels, classes=range(10))
    for digit in range(10):
        assert numbers["roc_auc"][str(digit)] == pytest.approx(roc_auc_score(onehot[:, digit], probabilities[:, digit]), abs=1e-9)
        assert numbers["average_precision"][str(digit)] == pytest.approx(
            average_precision_score(onehot[:, digit], probabilities[:, digit]), abs=1e-9)
    assert numbers["roc_auc"]["micro"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr", average="micro"))
    assert numbers["roc_auc"]["macro"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"))
    assert numbers["roc_auc"]["macro"] == pytest.approx(np.mean([numbers["roc_auc"][str(d)] for d in range(10)]))
    predicted = probabilities.argmax(axis=1)
    assert numbers["confusion_matrix"] == confusion_matrix(labels, predicted).tolist()
    test = numbers["test"]
    assert test["accuracy"] == pytest.approx(np.mean(predicted == labels))
    top2 = np.argsort(-probabilities, axis=1)[:, :2]
    assert test["top2_accuracy"] == pytest.approx(np.mean([label in row for label, row in zip(labels, top2)]))
    assert test["loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(labels)), labels])))
    assert test["errors"] == int(np.sum(predicted != labels)) == len(numbers["misclassified"])
    assert numbers["classification_report"]["accuracy"] == pytest.approx(test["accuracy"])
    assert "macro avg" in text and "weighted avg" in text
    # The macro ROC curve averages the per-class curves, so its area is close to the macro AUC.
    assert np.trapezoid(roc["macro"]["tpr"], roc["macro"]["fpr"]) == pytest.approx(numbers["roc_auc"]["macro"], abs=0.01)


@pytest.mark.filterwarnings("ignore::UserWarning")  # four images leave most digits without a positive example
def test_mistakes_are_listed_most_confident_first():
    labels = np.array([0, 1, 2, 3])
    probabilities = np.full((4, 10), 0.01)
    probabilities[0, 0] = 0.91  # right
    probabilities[1, 7] = 0.61  # wrong, less sure
    probabilities[2, 5] = 0.81  # wrong, surer
    probabilities[3, 3] = 0.91  # right
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    numbers, *_ = metrics_of(labels, probabilities)
    assert [(m["index"], m["true"], m["predicted"]) for m in numbers["misclassified"]] == [(2, 2, 5), (1, 1, 7)]
    assert numbers["misclassified"][0]["confidence"] > numbers["misclassified"][1]["confidence"]


def test_each_mistake_is_drawn_with_its_heat_map(tmp_path):
    """Evidence for the digit read is drawn red over the digit, evidence against it blue; without maps, neither."""
    from digits.plots import save_mistakes

    images = np.zeros((2, 28, 28), np.uint8)
    wrong = [{"index": 1, "true": 3, "predicted": 8, "confidence": 0.9}]
    heat = np.zeros((1, 28, 28))
    heat[0, :14], heat[0, 14:] = 1.0, -1.0

    def colours(**maps):
        with Image.open(save_mistakes(images, wrong, tmp_path / "mistakes.png", "mistakes", **maps)) as figure:
            pixels = np.asarray(figure.convert("RGB")).reshape(-1, 3).astype(int)
        red, green, blue = pixels.T
        return ((red - blue > 40) & (red - green > 60)).sum(), ((blue - red > 60) & (blue - green > 30)).sum()

    reds, blues = colours(heat_maps=heat)
    bar_reds, bar_blues = colours(heat_maps=np.zeros_like(heat))  # the colour bar alone
    assert reds - bar_reds > 5000 and blues - bar_blues > 5000
    assert colours() == (0, 0)


@pytest.mark.slow
def test_evaluate_a_run_folder_end_to_end(trained_run, digits_npz, tmp_path):
    figures = tmp_path / "figures"
    result = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), str(trained_run), "--figures", str(figures)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # no --data: the run's own run.json says where its data is
    assert result.returncode == 0, result.stderr
    assert "macro avg" in result.stdout and "ROC AUC micro-average" in result.stdout

    record = json.loads((trained_run / "evaluation.json").read_text())
    data = np.load(digits_npz)
    labels = data["y_test"]
    outputs = keras.models.load_model(trained_run / "model.keras").predict(to_inputs(data["x_test"]), verbose=0)
    outputs = outputs.astype(np.float64)
    probabilities = outputs / outputs.sum(axis=1, keepdims=True)
    onehot = label_binarize(labels, classes=range(10))
    for digit in range(10):
        assert record["roc_auc"][str(digit)] == pytest.approx(roc_auc_score(onehot[:, digit], probabilities[:, digit]), abs=1e-6)
        assert record["average_precision"][str(digit)] == pytest.approx(
            average_precision_score(onehot[:, digit], probabilities[:, digit]), abs=1e-6)
    assert record["roc_auc"]["micro"] == pytest.approx(roc_auc_score(onehot, probabilities, average="micro"), abs=1e-6)
    assert record["roc_auc"]["macro"] == pytest.approx(roc_auc_score(onehot, probabilities, average="macro"), abs=1e-6)
    assert record["average_precision"]["micro"] == pytest.approx(
        average_precision_score(onehot, probabilities, average="micro"), abs=1e-6)
    assert record["confusion_matrix"] == confusion_matrix(labels, probabilities.argmax(axis=1)).tolist()
    assert record["test"]["loss"] == pytest.approx(log_loss(labels, probabilities), abs=1e-6)
    assert record["test"]["images"] == 297 and record["data"]["source"] == str(digits_npz)
    refused = record["not_a_digit"]["refused"]  # by the detector the run now keeps beside its model
    assert 0 <= refused < 297 and (trained_run / "not_a_digit.npz").is_file()
    assert f"Not a digit: {refused:,} of the 297 test digits refused" in result.stdout
    classification_text = (trained_run / "classification_report.txt").read_text()
    assert "weighted avg" in classification_text and classification_text in result.stdout

    for name in FIGURES:
        with Image.open(figures / f"{name}.png") as image:
            assert image.width >= 900 and image.height >= 700, (name, image.size)
    assert not list(trained_run.glob(".*partial*"))


@pytest.mark.slow
def test_figures_as_pdf(trained_run, digits_npz, tmp_path):
    assert evaluate.main([str(trained_run), "--data", str(digits_npz), "--figures", str(tmp_path), "--format", "pdf"]) == 0
    for name in FIGURES:
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")


def save_model(path, inputs, outputs):
    model = keras.Sequential([keras.Input(shape=inputs), keras.layers.Flatten(), keras.layers.Dense(outputs, activation="softmax")])
    model.save(path)
    return path


@pytest.mark.parametrize(
    "make_model, message",
    [
        (lambda tmp: tmp / "nowhere", "nowhere: no such file or folder"),
        (lambda tmp: tmp, "no model.keras or model.h5 in this folder"),
        (lambda tmp: (tmp / "notes.txt").write_text("hi") and tmp / "notes.txt", "expected a .keras or .h5 model file"),
        (lambda tmp: (tmp / "model.keras").write_bytes(b"not a zip") and tmp / "model.keras", "model.keras: not a Keras model"),
        (lambda tmp: (tmp / "model.h5").write_bytes(b"\x89HDF garbage") and tmp / "model.h5", "model.h5: not a Keras model"),
        (lambda tmp: save_model(tmp / "flat.keras", (784,), 10), "maps (None, 784) to (None, 10), but MNIST needs (None, 28, 28, 1)"),
        (lambda tmp: save_model(tmp / "five.keras", (28, 28, 1), 5), "to (None, 5), but MNIST needs"),
    ],
    ids=["missing", "empty-folder", "not-a-model-name", "corrupt-keras", "corrupt-h5", "wrong-input", "wrong-output"],
)
def test_bad_models_are_named_and_nothing_is_written(tmp_path, digits_npz, make_model, message):
    model_path = make_model(tmp_path)
    with pytest.raises(InputError) as error:
        evaluate.main([str(model_path), "--data", str(digits_npz), "--figures", str(tmp_path / "figures")])
    assert message in str(error.value)
    assert not (tmp_path / "evaluation.json").exists() and not (tmp_path / "figures").exists()


def test_bad_data_is_named(trained_run, tmp_path):
    with pytest.raises(InputError, match="nowhere.npz: no such file or folder"):
        evaluate.main([str(trained_run), "--data", str(tmp_path / "nowhere.npz")])


def test_bad_input_from_the_command_line_is_one_line_and_exit_code_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "evaluate.py"), str(tmp_path / "missing")], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"evaluate.py: error: {tmp_path / 'missing'}: no such file or folder"


def test_help_answers_without_importing_tensorflow(tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "evaluate.py"), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0 and "--figures" in result.stdout and "--format" in result.stdout
    assert "tensorflow" not in result.stderr and "keras" not in result.stderr


def test_a_bad_model_is_named_before_the_data_is_read(tmp_path):
    (tmp_path / "model.keras").write_text("a text file, not a model")
    with pytest.raises(InputError) as error:
        evaluate.main([str(tmp_path / "model.keras"), "--data", str(tmp_path / "nowhere.npz")])
    assert "model.keras: not a Keras model (the file is not a zip archive, as .keras models are)" in str(error.value)


@pytest.mark.slow
def test_figures_go_into_the_run_folder_by_default(trained_run, digits_npz, capsys):
    assert evaluate.main([str(trained_run), "--data", str(digits_npz)]) == 0
    assert sorted(path.stem for path in (trained_run / "figures").glob("*.png")) == sorted(FIGURES)

    rows = table_rows(capsys.readouterr().out)  # one run without a temperature says so
    assert list(rows) == [trained_run.name] and rows[trained_run.name][6] == "none"
    record = json.loads((trained_run / "evaluation.json").read_text())
    assert record["models"] == [{"model": str(trained_run / "model.keras"), "temperature": None}]
    assert record["calibration"][0]["before"] == record["calibration"][0]["after"]
    assert record["ensemble"] is None and record["test_time_augmentation"] is None


# Several models, calibration and test-time augmentation ----------------------------------------------

def table_rows(stdout):
    """The calibration table as printed: {reading: [accuracy, errors, NLL before, NLL after, ECE before, ECE after,
    temperature]}, each as its text."""
    lines = stdout.split("\nCalibration on ", 1)[1].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.strip() or line.startswith("Saved"):
            break
        name, cells = line[: line.index("  ")].strip(), line[line.index("  "):].split()
        rows[name] = cells
    return rows


def direct_scores(labels, probabilities):
    from digits.calibration import expected_calibration_error

    predicted = probabilities.argmax(axis=1)
    return [f"{np.mean(predicted == labels):.2%}", f"{int(np.sum(predicted != labels)):,}",
            f"{log_loss(labels, probabilities, labels=range(10)):.4f}",
            f"{expected_calibration_error(labels, probabilities):.2%}"]


@pytest.mark.slow
def test_two_runs_each_alone_and_their_ensemble(tiny_runs, digits_npz, tmp_path, capsys):
    from digits.calibration import calibrated
    from digits.run_folder import temperature_of
    from digits.model import load_trained_model, predict_probabilities

    plain, calibrated_run = tiny_runs["plain"], tiny_runs["calibrated"]
    out = tmp_path / "ensemble"
    assert evaluate.main([str(plain), str(calibrated_run), "--data", str(digits_npz), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out

    data = np.load(digits_npz)
    labels, inputs = data["y_test"], to_inputs(data["x_test"])
    temperature = temperature_of(calibrated_run)
    raw = {name: predict_probabilities(load_trained_model(run / "model.keras"), inputs) for name, run in tiny_runs.items()}
    after = {"plain": raw["plain"], "calibrated": calibrated(raw["calibrated"], temperature)}
    ensemble_before = (raw["plain"] + raw["calibrated"]) / 2
    ensemble_after = (after["plain"] + after["calibrated"]) / 2

    rows = table_rows(stdout)
    assert list(rows) == ["plain", "calibrated", "ensemble of 2"]
    for name, before, calibrated_probabilities in (("plain", raw["plain"], after["plain"]),
                                                   ("calibrated", raw["calibrated"], after["calibrated"]),
                                                   ("ensemble of 2", ensemble_before, ensemble_after)):
        accuracy, errors, nll_before, ece_before = direct_scores(labels, before)
        accuracy, errors, nll_after, ece_after = direct_scores(labels, calibrated_probabilities)
        assert rows[name][:6] == [accuracy, errors, nll_before, nll_after, ece_before, ece_after], name
    assert rows["plain"][6] == "none" and rows["calibrated"][6] == f"{temperature:.3f}"
    assert rows["plain"][2] == rows["plain"][3]  # no temperature: the same before and after
    assert f"{plain / 'model.keras'} (" in stdout and "no temperature in its run (uncalibrated, T = 1)" in stdout

    record = json.loads((out / "evaluation.json").read_text())
    assert record["model"] == f"{plain / 'model.keras'} + {calibrated_run / 'model.keras'}"
    assert [model["temperature"] for model in record["models"]] == [None, temperature]
    assert record["test"]["accuracy"] == pytest.approx(np.mean(ensemble_after.argmax(axis=1) == labels))
    assert record["test"]["loss"] == pytest.approx(log_loss(labels, ensemble_after, labels=range(10)), abs=1e-9)
    assert record["confusion_matrix"] == confusion_matrix(labels, ensemble_after.argmax(axis=1), labels=range(10)).tolist()
    assert [row["reading"] for row in record["calibration"]] == list(rows)
    assert [row["temperature"] for row in record["calibration"]] == [None, temperature, [None, temperature]]
    assert sum(record["reliability"]["after"]["count"]) == len(labels)
    assert (out / "classification_report.txt").read_text() in stdout
    assert sorted(path.stem for path in (out / "figures").glob("*.png")) == sorted(set(FIGURES) - {"network"})
    for run in (plain, calibrated_run):
        assert not (run / "evaluation.json").exists() and not (run / "figures").exists()  # a member's own stays its own


def copied_runs(tiny_runs, folder):
    import shutil

    return [shutil.copytree(run, folder / name) for name, run in tiny_runs.items()]


@pytest.mark.slow
def test_an_ensemble_goes_beside_the_first_run_by_default(tiny_runs, digits_npz, tmp_path):
    first, second = copied_runs(tiny_runs, tmp_path / "models")
    assert evaluate.main([str(first), str(second)]) == 0  # both runs' run.json name the same data
    ensemble = tmp_path / "models" / "ensemble-plain+calibrated"
    assert (ensemble / "evaluation.json").is_file() and (ensemble / "figures" / "reliability_diagram.png").is_file()
    assert json.loads((ensemble / "evaluation.json").read_text())["data"]["source"] == str(digits_npz)


@pytest.mark.slow
def test_tta_adds_a_row_per_reading_and_the_files_are_of_it(tiny_runs, digits_npz, tmp_path, capsys):
    from digits.calibration import calibrated
    from digits.run_folder import temperature_of
    from digits.ensemble import augmented_copies
    from digits.model import load_trained_model, predict_probabilities

    run = tiny_runs["calibrated"]
    out = tmp_path / "tta"
    assert evaluate.main([str(run), "--data", str(digits_npz), "--tta", "--out", str(out)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert list(rows) == ["calibrated", "calibrated + TTA"]

    data = np.load(digits_npz)
    labels = data["y_test"]
    model, temperature = load_trained_model(run / "model.keras"), temperature_of(run)
    copies = [predict_probabilities(model, copy) for copy in augmented_copies(to_inputs(data["x_test"]))]
    before, after = np.mean(copies, axis=0), np.mean([calibrated(copy, temperature) for copy in copies], axis=0)
    accuracy, errors, nll_before, ece_before = direct_scores(labels, before)
    accuracy, errors, nll_after, ece_after = direct_scores(labels, after)
    assert rows["calibrated + TTA"][:6] == [accuracy, errors, nll_before, nll_after, ece_before, ece_after]
    record = json.loads((out / "evaluation.json").read_text())
    assert record["test"]["loss"] == pytest.approx(log_loss(labels, after, labels=range(10)), abs=1e-9)
    assert len(record["test_time_augmentation"]) == 7 and record["test_time_augmentation"][0] == {
        "rows_down": 0, "columns_right": 0, "degrees_anticlockwise": 0.0}
    assert sorted(path.stem for path in (out / "figures").glob("*.png")) == sorted(FIGURES)  # one model: its network too


def fake_run(folder, data):
    """A run folder as far as the checks before loading need it: run.json and a model file."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"config": RunConfig(data=data).to_dict()}))
    (folder / "model.keras").write_bytes(b"")
    return folder


@pytest.mark.parametrize("argv, message", [
    (["{a}", "{a}/model.keras"], "model.keras: given twice; an ensemble's models must be different files"),
    (["{a}", "{b}", "--out", "{b}"], "one of the ensemble's models: the ensemble's evaluation would replace"),
    (["{a}", "{c}"], "the runs were trained on different data (one.npz, two.npz): name the test data with --data"),
    (["{a}", "--out", "{file}"], "notes.txt: a file, not a folder"),
], ids=["twice", "out-is-a-member", "different-data", "out-is-a-file"])
def test_impossible_combinations_are_one_line_and_nothing_is_written(tmp_path, argv, message):
    paths = {"a": fake_run(tmp_path / "a", "one.npz"), "b": fake_run(tmp_path / "b", "one.npz"),
             "c": fake_run(tmp_path / "c", "two.npz"), "file": tmp_path / "notes.txt"}
    paths["file"].write_text("notes")
    before = sorted(tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *(arg.format(**paths) for arg in argv)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before

