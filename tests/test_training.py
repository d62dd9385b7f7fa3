"""Training for real on scikit-learn's digits: it learns, it repeats itself, it stops on NaN."""

import pytest

from conftest import sklearn_digits_as_mnist
from digits import training
from digits.config import RunConfig
from digits.data import to_inputs, to_one_hot
from digits.errors import InputError
from digits.runs import RunFolder


@pytest.fixture(scope="module")
def digits():
    images, labels = sklearn_digits_as_mnist()
    return (to_inputs(images[:1500]), to_one_hot(labels[:1500])), (to_inputs(images[1500:]), to_one_hot(labels[1500:]))


def train(config, x, y, folder):
    model = training.new_model(config)  # the project's path: mixed bfloat16 where the CPU has it
    run = RunFolder(folder)
    run.start(config, resume=False)
    return model, training.fit(model, config, x, y, run)


def test_the_report_network_learns_digits(digits, tmp_path):
    (x_train, y_train), (x_test, y_test) = digits
    model, history = train(RunConfig(epochs=4), x_train, y_train, tmp_path)
    test = training.evaluate(model, x_test, y_test)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["loss"][-1] < history["loss"][0] / 3
    assert test["accuracy"] >= 0.85, f"4 epochs on 1,500 digits reached only {test['accuracy']:.1%}"


def test_same_seed_same_history(digits, tmp_path):
    (x_train, y_train), _ = digits
    config = RunConfig(epochs=2, seed=5, validation_split=0.2)
    _, first = train(config, x_train, y_train, tmp_path / "first")
    _, second = train(config, x_train, y_train, tmp_path / "second")
    _, other_seed = train(RunConfig(epochs=2, seed=6, validation_split=0.2), x_train, y_train, tmp_path / "other")
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert first[metric] == second[metric]
    assert first["loss"] != other_seed["loss"]


def test_a_diverging_run_stops_with_a_clear_error_and_no_checkpoint(digits, tmp_path):
    (x_train, y_train), _ = digits
    with pytest.raises(InputError, match="training diverged: the loss became NaN in epoch 1; try a lower --learning-rate"):
        train(RunConfig(epochs=3, optimizer="sgd", learning_rate=1e10), x_train, y_train, tmp_path)
    assert not RunFolder(tmp_path).is_interrupted()
