"""Outlier exposure (digits.exposure): each batch of digits followed by half as many made outliers
with the uniform target, weighted so that the loss is the digits' mean plus the weight times the
outliers' mean; an accuracy that counts the digits only; and a run trained so."""

from dataclasses import replace

import numpy as np
import pytest

from digits import exposure
from digits.config import RunConfig
from digits.data import to_inputs, to_one_hot


@pytest.fixture(scope="module")
def mnist_digits():
    from digits.data import load_mnist

    (images, labels), _ = load_mnist(None, 240)
    return images, labels


@pytest.fixture
def batch():
    """One batch of 6 digits and 3 outliers, as a run with outlier exposure 0.5 trains on it."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = to_inputs(rng.integers(0, 256, (6, 28, 28), dtype=np.uint8))
    y = to_one_hot(rng.integers(0, 10, 6))
    config = replace(RunConfig(), batch_size=6, seed=3, outlier_exposure=0.5)
    digits = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)
    (images, targets, weights), = list(exposure.exposed(digits, exposure.outlier_pool(x, y, 3), config).take(1))
    return images.numpy(), targets.numpy(), weights.numpy()


def test_the_pool_is_half_as_many_outliers_as_digits_of_every_kind_shown(mnist_digits):
    images, labels = mnist_digits
    x, y = to_inputs(images[:240]), to_one_hot(labels[:240])
    pool = exposure.outlier_pool(x, y, seed=1)
    assert pool.shape == (120, 28, 28, 1) and pool.dtype == np.float32 and 0 <= pool.min() < pool.max() <= 1
    assert not set(exposure.KINDS) & set(exposure.HELD_OUT) and "letters" in exposure.HELD_OUT
    assert np.array_equal(pool, exposure.outlier_pool(x, y, seed=1))  # the run's seed repeats its outliers


def test_each_batch_adds_half_as_many_outliers_with_the_uniform_target(batch):
    images, targets, _ = batch
    assert images.shape == (9, 28, 28, 1)
    assert np.all(targets[:6].max(axis=1) == 1) and np.allclose(targets[6:], 0.1)


def test_the_weighted_loss_is_the_digits_mean_plus_the_weight_times_the_outliers_mean(batch):
    import keras

    _, targets, weights = batch
    probabilities = np.random.default_rng(1).dirichlet(np.ones(10), len(targets)).astype("float32")
    cross_entropy = -(targets * np.log(probabilities)).sum(axis=1)
    weighted = keras.losses.CategoricalCrossentropy()(targets, probabilities, sample_weight=weights)
    assert float(weighted) == pytest.approx(cross_entropy[:6].mean() + 0.5 * cross_entropy[6:].mean(), rel=1e-5)


def test_the_accuracy_counts_the_digits_only(batch):
    from digits.model import DigitAccuracy

    _, targets, _ = batch
    predicted = targets.copy()
    predicted[0] = np.roll(predicted[0], 1)  # one digit of six misread; the outliers' argmax is meaningless
    accuracy = DigitAccuracy(name="accuracy")
    accuracy.update_state(targets, predicted)
    assert float(accuracy.result()) == pytest.approx(5 / 6)


@pytest.mark.slow
def test_a_run_with_outlier_exposure_gives_made_outliers_a_flatter_answer_than_without(digits_npz):
    from digits import outliers
    from digits.data import load_dataset
    from digits.model import load_trained_model, predict_probabilities
    from digits.training import train

    dataset = load_dataset(str(digits_npz), None)
    base = RunConfig(data=str(digits_npz), filters=(8, 8), epochs=3, learning_rate=0.005)
    results = {weight: train(replace(base, outlier_exposure=weight), dataset, verbose=False) for weight in (0.0, 1.0)}
    unseen = outliers.make("shapes", 300, 7)  # a kind shown in training, from a seed it never drew
    highest = {weight: predict_probabilities(result.model, to_inputs(unseen)).max(axis=1).mean()
               for weight, result in results.items()}
    assert highest[1.0] < highest[0.0] - 0.1
    assert results[1.0].test["accuracy"] > 0.5  # it still reads digits
    assert set(results[1.0].history) >= {"accuracy", "loss"}


def test_augmentation_varies_the_outliers_as_it_varies_the_digits(mnist_digits):
    """Outliers left crisp beside resampled digits would be told apart by that alone, and clean digits
    would come to look like outliers."""
    from digits.training import input_pipeline

    images, labels = mnist_digits
    x, y = to_inputs(images[:60]), to_one_hot(labels[:60])
    config = replace(RunConfig(), batch_size=20, rotation=10.0, outlier_exposure=0.5)
    pool = exposure.outlier_pool(x, y, config.seed)
    batches, _ = input_pipeline(x, y, config)
    shown, targets, _ = next(iter(batches))
    outliers_shown = shown.numpy()[targets.numpy().max(axis=1) < 0.5]
    assert len(outliers_shown) == 10
    nearest = [np.abs(pool - image).reshape(len(pool), -1).max(axis=1).min() for image in outliers_shown]
    assert min(nearest) > 1e-3  # none is shown as it was made
