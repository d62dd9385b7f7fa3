"""bench/outlier_exposure.py: batches of digits and outliers whose weighted loss is the digits' mean
plus the weight times the outliers' mean, and an accuracy that counts digits only."""

from dataclasses import replace

import numpy as np
import pytest

from digits.config import RunConfig
from digits.data import to_inputs, to_one_hot

import outlier_exposure


@pytest.fixture
def batch():
    """One batch of 6 digits and 3 outliers, as exposed_batches makes it."""
    rng = np.random.default_rng(0)
    x = to_inputs(rng.integers(0, 256, (6, 28, 28), dtype=np.uint8))
    y = to_one_hot(rng.integers(0, 10, 6))
    pool = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    config = replace(RunConfig(), batch_size=6, seed=3)
    (images, targets, weights), = list(outlier_exposure.exposed_batches(x, y, pool, config, weight=0.5).take(1))
    return images.numpy(), targets.numpy(), weights.numpy()


def test_each_batch_adds_half_as_many_outliers_with_the_uniform_target(batch):
    images, targets, _ = batch
    assert images.shape == (9, 28, 28, 1)
    assert np.all(targets[:6].max(axis=1) == 1) and np.allclose(targets[6:], 0.1)


def test_the_weighted_loss_is_the_digits_mean_plus_the_weight_times_the_outliers_mean(batch):
    import keras

    images, targets, weights = batch
    probabilities = np.random.default_rng(1).dirichlet(np.ones(10), len(targets)).astype("float32")
    cross_entropy = -(targets * np.log(probabilities)).sum(axis=1)
    weighted = keras.losses.CategoricalCrossentropy()(targets, probabilities, sample_weight=weights)
    assert float(weighted) == pytest.approx(cross_entropy[:6].mean() + 0.5 * cross_entropy[6:].mean(), rel=1e-5)


def test_the_accuracy_counts_the_digits_only(batch):
    _, targets, _ = batch
    predicted = targets.copy()
    predicted[0] = np.roll(predicted[0], 1)  # one digit of six misread; the outliers' argmax is meaningless
    accuracy = outlier_exposure.digit_accuracy()
    accuracy.update_state(targets, predicted)
    assert float(accuracy.result()) == pytest.approx(5 / 6)
