"""train_cnn.py as a user runs it: a whole run on tiny data, interruptions, and bad input."""

import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from digits import hardware

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "train_cnn.py"


def environment(**changes):
    env = {key: value for key, value in os.environ.items() if key != "MNIST_DATA"}
    env.update(changes)
    return env


def train_cnn(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env or environment(),
        capture_output=True, text=True, timeout=300,
    )


def start_train_cnn(*args, cwd):
    """Start the script in the background, Ctrl-C enabled even if this test runs where it is ignored."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=environment(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def read_until_epoch(process, epoch):
    """Read the script's output until it reports `epoch` done; return what it printed."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.match(rf"epoch +{epoch}/", line):
            return "".join(lines)
    raise AssertionError("the run ended before epoch %d:\n%s" % (epoch, "".join(lines)))


def test_help_answers_without_importing_tensorflow(tmp_path):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(SCRIPT), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0
    for flag in ("--data", "--limit", "--epochs", "--batch-size", "--dropout", "--optimizer", "--learning-rate",
                 "--filters", "--kernel-size", "--pool-size", "--validation-split", "--seed", "--out", "--resume"):
        assert flag in result.stdout
    imported = result.stderr  # -X importtime lists every module imported
    assert "tensorflow" not in imported and "keras" not in imported


@pytest.mark.slow
def test_a_whole_run_saves_a_folder_that_reloads_and_rebuilds(tmp_path, digits_npz):
    result = train_cnn("--data", digits_npz, "--epochs", 2, "--limit", 600, "--validation-split", 0.1, "--threads", 1,
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Total params: 80,266" in result.stdout
    assert len(re.findall(r"^epoch \d/2 .*val_accuracy", result.stdout, re.MULTILINE)) == 2
    printed = float(re.search(r"^Test accuracy: (\d+\.\d\d)%$", result.stdout, re.MULTILINE).group(1))

    run = tmp_path / "models" / "cnn"
    assert sorted(path.name for path in run.iterdir()) == [
        "figures", "history.csv", "model.h5", "model.keras", "run.json", "tensorboard"]
    record = json.loads((run / "run.json").read_text())
    assert record["config"]["data"] == str(digits_npz) and record["config"]["epochs"] == 2
    counts = [record["data"][part]["images"] for part in ("train", "validation", "test")]
    assert counts == [540, 60, 297] and record["data"]["source"].endswith("first 600 training images")
    assert record["parameters"] == 80_266 and record["learning_rate"] == 0.001
    assert record["config"]["precision"] == "auto" and record["precision"] == hardware.precision_policy("auto")
    assert f"in {record['precision']}." in result.stdout
    assert record["history"]["epoch"] == [1, 2]
    assert set(record["history"]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert round(100 * record["test"]["accuracy"], 2) == printed
    assert record["train_seconds"] > 0 and record["provenance"]["tensorflow"]
    assert record["provenance"]["threads_per_op"] == 1  # the same seed repeats its weights only with the same count
    assert (run / "history.csv").read_text().splitlines()[0] == "epoch,accuracy,loss,seconds,val_accuracy,val_loss"

    figures = ["accuracy_per_epoch.png", "loss_per_epoch.png", "training_digits.png"]  # no augmented_digits.png: no augmentation
    assert sorted(path.name for path in (run / "figures").iterdir()) == figures
    for figure in figures:
        with Image.open(run / "figures" / figure) as image:  # a run's figures go with the run
            assert image.width > 500 and image.height > 400

    import keras

    data = np.load(digits_npz)
    x_test = data["x_test"][..., None].astype("float32") / 255
    from_keras = keras.models.load_model(run / "model.keras").predict(x_test, verbose=0)
    from_h5 = keras.models.load_model(run / "model.h5").predict(x_test, verbose=0)
    np.testing.assert_allclose(from_keras, from_h5, atol=1e-6)
    accuracy = np.mean(from_keras.argmax(axis=1) == data["y_test"])
    assert accuracy == pytest.approx(record["test"]["accuracy"], abs=1e-6)

    # The saved config rebuilds the run: same settings, same seed, same thread count, same history.
    again = train_cnn("--config", run, "--out", "models/again", "--threads", 1, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    record_again = json.loads((tmp_path / "models" / "again" / "run.json").read_text())
    assert record_again["config"] == record["config"]
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert record_again["history"][metric] == record["history"][metric]


@pytest.mark.slow
def test_ctrl_c_then_kill_then_resume_completes_every_epoch_once(tmp_path, digits_npz):
    args = ("--data", digits_npz, "--limit", 500, "--epochs", 12, "--filters", "8,8,8", "--out", "run")
    run = tmp_path / "run"

    process = start_train_cnn(*args, cwd=tmp_path)
    read_until_epoch(process, 1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert "add --resume to continue" in process.stdout.read()
    assert (run / "checkpoint" / "state.json").is_file() and not (run / "run.json").exists()

    changed = train_cnn("--resume", "--out", "run", "--epochs", 5, cwd=tmp_path)
    assert changed.returncode == 2 and "other settings (epochs 12 -> 5)" in changed.stderr

    process = start_train_cnn("--resume", "--out", "run", cwd=tmp_path)
    printed = read_until_epoch(process, 4)
    process.kill()  # as a crash or a power cut would
    process.wait(timeout=60)
    assert int(re.search(r"Resuming run after epoch (\d+) of 12", printed).group(1)) >= 1  # a printed epoch is saved

    finished = train_cnn("--resume", "--out", "run", cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert int(re.search(r"Resuming run after epoch (\d+) of 12", finished.stdout).group(1)) >= 4
    record = json.loads((run / "run.json").read_text())
    assert record["history"]["epoch"] == list(range(1, 13))
    assert not (run / "checkpoint").exists()

    again = train_cnn("--resume", "--out", "run", cwd=tmp_path)
    assert again.returncode == 0 and "the run is complete, nothing to resume" in again.stdout


def write_npz(path, **changes):
    from conftest import random_mnist

    np.savez(path, **{**random_mnist(), **changes})
    return path


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp: ["--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
        (lambda tmp: ["--epochs", "-3"], "epochs must be at least 1, got -3"),
        (lambda tmp: ["--filters", "64,x"], "expected comma-separated integers"),
        (lambda tmp: ["--data", tmp / "nowhere"], "nowhere: no such file or folder"),
        (lambda tmp: ["--data", write_npz(tmp / "labels.npz", y_test=np.full(10, 12, np.uint8))], "labels.npz (test set): 10 label(s) outside 0-9"),
        (lambda tmp: ["--data", write_npz(tmp / "shape.npz", x_train=np.zeros((30, 28), np.uint8))], "shape.npz (training set): images must be uint8"),
        (lambda tmp: [(tmp / "cut.npz").write_bytes(b"PK\x03\x04 cut") and "--data", tmp / "cut.npz"], "cut.npz: not a readable .npz file"),
        (lambda tmp: ["--config", tmp / "nowhere"], "nowhere: no such file"),
    ],
    ids=["optimizer", "negative-epochs", "filters", "missing-data", "labels", "shape", "corrupt-npz", "missing-config"],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, make_args, message):
    result = train_cnn(*make_args(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "models").exists()


def offline(tmp_path):
    """An empty home and Keras cache, and a proxy that refuses every connection: offline, even on a machine that is not."""
    return environment(HOME=str(tmp_path), KERAS_HOME=str(tmp_path / "keras"),
                       https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")


@pytest.mark.slow
def test_offline_with_an_empty_home_it_trains_on_the_shipped_mnist(tmp_path):
    result = train_cnn("--epochs", 1, "--limit", 1000, cwd=tmp_path, env=offline(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Data: 1,000 training and 10,000 test images from MNIST shipped in data/mnist" in result.stdout
    assert re.search(r"Test accuracy: \d+\.\d\d%", result.stdout)
    assert not (tmp_path / "keras" / "datasets").exists()  # nothing downloaded into the Keras cache
    record = json.loads((tmp_path / "models" / "cnn" / "run.json").read_text())
    assert record["config"]["data"] == "mnist" and record["data"]["train"]["images"] == 1000


@pytest.mark.slow
def test_the_keras_cache_offline_says_how_to_give_data(tmp_path):
    result = train_cnn("--data", "keras", "--epochs", 1, cwd=tmp_path, env=offline(tmp_path))
    assert result.returncode == 2
    assert "could not be downloaded" in result.stderr and "data/mnist/" in result.stderr and "--data PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_flag_given_applies_even_when_it_equals_the_default(tmp_path, monkeypatch):
    import train_cnn
    from digits.config import RunConfig

    monkeypatch.delenv("MNIST_DATA", raising=False)
    (tmp_path / "saved").mkdir()
    saved = RunConfig(data="saved.npz", epochs=3, batch_size=32, dropout=0.1)
    (tmp_path / "saved" / "run.json").write_text(json.dumps({"config": saved.to_dict()}))
    _, config, _ = train_cnn.parse_args(["--config", str(tmp_path / "saved"), "--epochs", "15", "--batch-size", "64"])
    assert (config.epochs, config.batch_size, config.dropout, config.data) == (15, 64, 0.1, "saved.npz")
    _, config, _ = train_cnn.parse_args(["--config", str(tmp_path / "saved")])
    assert config == saved


@pytest.mark.slow
def test_a_finished_run_is_never_replaced_unless_asked(tmp_path, digits_npz):
    run = tmp_path / "models" / "cnn"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "model.keras").write_bytes(b"the finished model")
    refused = train_cnn("--data", digits_npz, "--epochs", 1, "--limit", 100, cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "models/cnn holds a finished run; choose another --out, or add --overwrite to replace it" in refused.stderr
    assert (run / "model.keras").read_bytes() == b"the finished model"
    replaced = train_cnn("--data", digits_npz, "--epochs", 1, "--limit", 100, "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((run / "run.json").read_text())["config"]["epochs"] == 1
