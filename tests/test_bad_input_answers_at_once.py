"""Every script refuses what it can check without TensorFlow (paths, data, run folders, model files)
before TensorFlow, Keras or Optuna load, in one line with exit code 2, and writes nothing."""

from pathlib import Path
import subprocess
import sys
import zipfile

import numpy as np
from PIL import Image, ImageDraw
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"tensorflow", "keras", "optuna"}


def imported_modules(stderr):
    """The modules a run imported, from the lines `python -X importtime` writes to stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def files_in(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.fixture
def inputs(tmp_path):
    """A digit image, a run folder with a model.keras cut short, one with a whole zip archive, and an .npz without MNIST's arrays."""
    np.savez(tmp_path / "empty.npz")
    digit = Image.new("L", (28, 28), 255)
    ImageDraw.Draw(digit).line([(14, 4), (14, 24)], fill=0, width=3)  # a one
    digit.save(tmp_path / "digit.png")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_bytes(b"PK\x03\x04" + bytes(100))  # a zip archive's start only
    (tmp_path / "good").mkdir()
    with zipfile.ZipFile(tmp_path / "good" / "model.keras", "w") as archive:  # whole: only Keras would refuse it
        archive.writestr("config.json", "{}")
    return tmp_path


@pytest.mark.parametrize("script, arguments, message", [
    ("train_cnn.py", ["--data", "empty.npz", "--out", "new-run"], "empty.npz: missing array(s)"),
    ("train_cnn.py", ["--epochs", "-3", "--out", "new-run"], "epochs must be at least 1, got -3"),
    ("evaluate.py", ["good", "--data", "empty.npz"], "empty.npz: missing array(s)"),
    ("evaluate.py", ["run"], "model.keras: not a complete Keras model (the zip archive is cut short"),
    ("sweep_hparams.py", ["dropout", "--data", "nope", "--storage", "x.log"], "nope: no such file or folder"),
    ("sweep_hparams.py", ["dropout", "--data", "empty.npz", "--storage", "x.log"], "empty.npz: missing array(s)"),
    ("add_own_digits.py", ["predict", "--model", "run", "digit.png"], "model.keras: not a complete Keras model"),
    ("add_own_digits.py", ["draw", "--model", "nope"], "nope: no such file or folder"),
    ("export_model.py", ["good", "--data", "empty.npz"], "empty.npz: missing array(s)"),
    ("export_model.py", ["run"], "model.keras: not a complete Keras model"),
])
def test_bad_input_is_refused_before_tensorflow_loads(inputs, script, arguments, message):
    before = files_in(inputs)
    result = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / script), *arguments], cwd=inputs,
                            capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"{script}: error: ") and message in errors[0], errors
    assert not HEAVY & imported_modules(result.stderr)
    assert files_in(inputs) == before  # no storage, run folder or figure left behind
