"""One path from a config to a trained and tested model: train_cnn.py and the fine-tuning of
add_own_digits.py both train through digits.training.train and save the record it gives
(the sweeps' trials are checked in test_sweeps.py)."""

import json
from pathlib import Path
import re

import numpy as np
from PIL import Image
import pytest

import add_own_digits
from digits import training
from digits.config import RunConfig
import train_cnn

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def calls(monkeypatch):
    """Every call of training.train during a test: (config, whether it continued a model, its result)."""
    seen = []
    original = training.train

    def spy(config, dataset, start_from=None, **options):
        result = original(config, dataset, start_from=start_from, **options)
        seen.append((config, start_from is not None, result))
        return result

    monkeypatch.setattr(training, "train", spy)
    return seen


@pytest.mark.slow
def test_train_cnn_and_fine_tuning_train_through_the_one_path(tmp_path, digits_npz, calls, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MNIST_DATA", raising=False)
    assert train_cnn.main(["--data", str(digits_npz), "--epochs", "1", "--limit", "300", "--filters", "8,8",
                           "--batch-size", "32", "--seed", "4"]) == 0
    (config, continued, result), = calls
    record = json.loads(Path("models/cnn/run.json").read_text())
    assert not continued and RunConfig.from_dict(record["config"]) == config
    assert record["history"] == result.history and record["test"] == result.test
    assert set(record) >= {"config", "data", "precision", "history", "train", "validation", "test", "diverged",
                           "seconds", "train_seconds", "host", "provenance"}

    for digit in range(10):  # one drawn digit of each kind, enough for the fine-tuning to run
        folder = tmp_path / "data" / "train" / str(digit)
        folder.mkdir(parents=True)
        image = np.full((40, 40), 255, np.uint8)
        image[8:32, 10 + digit:14 + digit] = 0
        Image.fromarray(image).save(folder / "drawn.png")
    assert add_own_digits.main(["--model", "models/cnn", "--fine-tune-epochs", "1", "--batch-size", "64",
                                "--limit", "200"]) == 0
    config, continued, result = calls[-1]
    record = json.loads(Path("models/own-digits/run.json").read_text())
    assert continued and RunConfig.from_dict(record["config"]) == config and record["history"] == result.history
    # The saved run's settings and data, the flags given over them (64 is the default batch size: given, it applies).
    assert (config.filters, config.seed, config.data, config.epochs, config.batch_size, config.limit) == (
        (8, 8), 4, str(digits_npz), 1, 64, 200)


@pytest.mark.slow
def test_fine_tuning_is_seeded(tmp_path, digits_npz, monkeypatch):
    """Two fine-tunings of one saved model with the same seed learn the same; another seed does not."""
    from digits.data import load_dataset
    from digits.model import new_model

    model = new_model(RunConfig(filters=(8,)))
    model.optimizer.build(model.trainable_variables)  # saved with its optimizer state, as a trained model is
    model.save(tmp_path / "model.keras")
    dataset = load_dataset(digits_npz, limit=256)
    histories = [training.train(RunConfig(filters=(8,), epochs=1, seed=seed), dataset, verbose=False,
                                start_from=tmp_path / "model.keras").history["loss"]
                 for seed in (1, 1, 2)]
    assert histories[0] == histories[1] != histories[2]


def test_model_fit_is_called_in_one_place():
    """Every digit network trains in training.py; the number reader's cut verifier, a network of its own that
    reads no digit, is fitted where it is defined."""
    sources = [*ROOT.glob("*.py"), *(ROOT / "digits").rglob("*.py")]
    calls = [(path.name, line) for path in sources for line in path.read_text().splitlines() if re.search(r"\.fit\(", line)]
    assert sorted(name for name, _ in calls) == ["cut_verifier.py", "training.py"], calls
