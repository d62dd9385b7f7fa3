"""Training for real on scikit-learn's digits through the one training path: it learns, it repeats
itself, it stops on NaN."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import sklearn_digits_as_mnist
from digits import training
from digits.config import RunConfig
from digits.data import Dataset
from digits.errors import InputError
from digits.run_folder import RunFolder


@pytest.fixture(scope="module")
def digits():
    images, labels = sklearn_digits_as_mnist()
    return Dataset(images[:1500], labels[:1500], images[1500:], labels[1500:], source="scikit-learn digits")


def train(config, dataset, folder):
    """The project's path (mixed bfloat16 where the CPU has it), checkpointing into `folder`."""
    run = RunFolder(folder)
    run.start(config, resume=False)
    result = training.train(config, dataset, run=run, verbose=False)
    result.raise_if_diverged()
    return result


@pytest.mark.slow
def test_the_report_network_learns_digits(digits, tmp_path):
    result = train(RunConfig(epochs=4), digits, tmp_path)
    history, test = result.history, result.test
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["loss"][-1] < history["loss"][0] / 3
    assert test["accuracy"] >= 0.85, f"4 epochs on 1,500 digits reached only {test['accuracy']:.1%}"


@pytest.mark.slow
def test_same_seed_same_history(digits, tmp_path):
    config = RunConfig(filters=(8, 16), epochs=2, seed=5, validation_split=0.2)  # a small net shows it as well
    first = train(config, digits, tmp_path / "first").history
    second = train(config, digits, tmp_path / "second").history
    other_seed = train(replace(config, seed=6), digits, tmp_path / "other").history
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first[metric] == second[metric]
    assert first["loss"] != other_seed["loss"]


@pytest.mark.slow
def test_a_stopped_and_resumed_run_ends_with_the_weights_of_one_never_stopped(digits, tmp_path):
    """Shuffle order, augmentation draws and dropout draws all carry on where the stop left them."""
    config = RunConfig(filters=(8, 16), epochs=3, seed=7, validation_split=0.2, rotation=10, shift=0.1, stroke=0.5)
    straight = train(config, digits, tmp_path / "straight")
    stopped = RunFolder(tmp_path / "stopped")
    stopped.start(config, resume=False)
    training.train(replace(config, epochs=1), digits, run=stopped, verbose=False)  # leaves its checkpoint, as a stop does
    resumed = training.train(config, digits, run=stopped, verbose=False)
    assert resumed.history["loss"] == straight.history["loss"]
    for ours, theirs in zip(resumed.model.get_weights(), straight.model.get_weights(), strict=True):
        assert np.array_equal(ours, theirs)


@pytest.mark.slow
def test_a_diverging_run_stops_with_a_clear_error_and_no_checkpoint(digits, tmp_path):
    with pytest.raises(InputError, match="training diverged: the loss became NaN in epoch 1; try a lower --learning-rate"):
        train(RunConfig(epochs=3, optimizer="sgd", learning_rate=1e10), digits, tmp_path)
    assert not RunFolder(tmp_path).is_interrupted()
