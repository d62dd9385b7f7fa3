"""Beyond the report's recipe: the named recipes, augmentation in the input pipeline, the
learning-rate schedule, label smoothing and batch normalization."""

import json

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from conftest import sklearn_digits_as_mnist
from digits import training
from digits.augment import affine_transforms, augment, bilinear_sample, elastically_distorted, restroked
from digits.augment import settings as augment_settings
from digits.config import RECIPES, RunConfig, recipe
from digits.data import Dataset, to_inputs, to_one_hot
from digits.errors import InputError
from digits.model import build_cnn, layer_table, learning_rate_schedule, peak_learning_rate
from digits.sweeps.experiments import BATCH_NORM_TRADE, INGREDIENTS, beyond_experiments, trade_name
from digits.sweeps.tables import point_label
import train_cnn

AUGMENTED = RunConfig(rotation=10, shift=0.1, zoom=0.1, shear=10, stroke=0.5, elastic=34)


@pytest.fixture(scope="module")
def digits():
    images, labels = sklearn_digits_as_mnist()
    return Dataset(images[:1500], labels[:1500], images[1500:], labels[1500:], source="scikit-learn digits")


@pytest.fixture(scope="module")
def inputs(digits):
    return to_inputs(digits.train_images[:256]), to_one_hot(digits.train_labels[:256])


# Recipes and their settings --------------------------------------------------------------


def test_a_recipe_sets_its_settings_and_flags_given_beside_it_override_them():
    args, config, _ = train_cnn.parse_args(["--recipe", "modern", "--epochs", "3", "--no-batch-norm"])
    expected = {**RECIPES["modern"], "epochs": 3, "batch_norm": False}
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.optimizer == "adam" and config.filters == (64, 64, 64)  # the report's, untouched by the recipe
    assert train_cnn.parse_args(["--recipe", "report"])[1] == train_cnn.parse_args([])[1] == RunConfig(data="mnist")


@pytest.mark.parametrize("settings, message", [
    ({"rotation": 90.0}, "rotation must be between 0 and 45, got 90"),
    ({"stroke": -0.5}, "stroke must be between 0 and 1, got -0.5"),
    ({"warmup_epochs": 1.0}, "warmup epochs go with the cosine schedule"),
    ({"schedule": "cosine", "warmup_epochs": 15.0}, r"warmup epochs must be in \[0, epochs\), got 15 of 15"),
    ({"schedule": "step"}, "unknown schedule 'step': choose from constant, cosine"),
    ({"label_smoothing": 1.0}, r"label smoothing must be in \[0, 1\), got 1.0"),
])
def test_settings_that_cannot_make_a_run_are_refused(settings, message):
    with pytest.raises(InputError, match=message):
        RunConfig(**settings)


def test_an_unknown_recipe_is_refused():
    with pytest.raises(InputError, match="unknown recipe 'best': choose from report, modern, fast"):
        recipe("best")


def test_a_run_record_written_before_these_settings_reads_with_the_report_defaults():
    old = {name: value for name, value in RunConfig().to_dict().items()
           if name not in ("schedule", "warmup_epochs", "label_smoothing", "rotation", "shift", "zoom", "shear",
                           "stroke", "batch_norm")}
    assert RunConfig.from_dict(old) == RunConfig()


def test_the_description_names_what_goes_beyond_the_report():
    assert RunConfig().describe() == "64-64-64 CNN, adam, dropout 0.3, batch 64"
    assert recipe("modern").describe() == (
        "64-64-64 CNN, adam lr 0.002, dropout 0.1, batch 64, 25 epochs, augmented, cosine schedule, "
        "label smoothing 0.1")


# Augmentation ----------------------------------------------------------------------------


def varied(images, **settings):
    """`images` through one geometric transform, the same for every image."""
    count = len(images)
    values = {name: tf.fill([count], float(settings.get(name, 0.0)))
              for name in ("rotation", "shear", "zoom", "shift_x", "shift_y")}
    return keras.ops.image.affine_transform(images, affine_transforms(**values), interpolation="bilinear").numpy()


def test_a_shift_moves_the_digit_by_whole_pixels_and_no_setting_changes_nothing(inputs):
    images = inputs[0][:8]
    np.testing.assert_allclose(varied(images), images, atol=1e-6)
    shifted = varied(images, shift_x=2.0, shift_y=-3.0)  # sampled 2 right and 3 up: the digit moves left and down
    expected = np.zeros_like(images)
    expected[:, 3:, :-2] = images[:, :-3, 2:]
    np.testing.assert_allclose(shifted, expected, atol=1e-6)


def test_a_rotation_turns_the_digit_about_the_centre(inputs):
    images = inputs[0][:8]
    quarter = varied(images, rotation=np.pi / 2)
    np.testing.assert_allclose(quarter, np.rot90(images, k=1, axes=(1, 2)), atol=1e-5)


def test_the_stroke_grows_by_the_cross_and_shrinks_by_it(inputs):
    images = tf.constant(inputs[0][:8])
    thicker = restroked(images, tf.ones([8])).numpy()
    thinner = restroked(images, -tf.ones([8])).numpy()
    same = restroked(images, tf.zeros([8])).numpy()
    np.testing.assert_allclose(same, images.numpy())
    padded = np.pad(images.numpy()[..., 0], ((0, 0), (1, 1), (1, 1)))
    neighbours = [padded[:, 1 + dy:29 + dy, 1 + dx:29 + dx] for dy, dx in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))]
    np.testing.assert_allclose(thicker[..., 0], np.max(neighbours, axis=0), atol=1e-6)
    assert thinner.sum() < images.numpy().sum() < thicker.sum()


def test_bilinear_sampling_reads_whole_pixels_exactly_blends_between_them_and_reads_0_beyond_the_edge(inputs):
    images = tf.constant(inputs[0][:4])
    rows, columns = np.meshgrid(np.arange(28.0), np.arange(28.0), indexing="ij")
    rows, columns = (tf.constant(np.broadcast_to(grid, (4, 28, 28)), tf.float32) for grid in (rows, columns))
    np.testing.assert_array_equal(bilinear_sample(images, rows, columns), images)
    down_one = bilinear_sample(images, rows - 1, columns).numpy()
    np.testing.assert_array_equal(down_one[:, 1:], images.numpy()[:, :-1])
    assert not down_one[:, 0].any()
    halfway = bilinear_sample(images, rows, columns + 0.5).numpy()
    np.testing.assert_allclose(halfway[:, :, :-1], (images.numpy()[:, :, :-1] + images.numpy()[:, :, 1:]) / 2, atol=1e-6)


def test_an_elastic_distortion_bends_strokes_locally_and_keeps_the_digit_in_place(inputs):
    images = tf.constant(inputs[0][:64])
    np.testing.assert_allclose(elastically_distorted(images, tf.zeros([64, 2, 28, 28])), images, atol=1e-6)
    noise = tf.random.stateless_uniform([64, 2, 28, 28], [3, 4], -34.0, 34.0)
    bent = elastically_distorted(images, noise).numpy()
    assert all(not np.allclose(bent[i], images.numpy()[i], atol=0.05) for i in range(64))

    def centre_of_ink(batch):
        weights = batch[..., 0] / batch[..., 0].sum(axis=(1, 2), keepdims=True)
        grid = np.arange(28.0)
        return np.stack([(weights.sum(axis=2) * grid).sum(axis=1), (weights.sum(axis=1) * grid).sum(axis=1)], axis=1)

    moved = np.abs(centre_of_ink(bent) - centre_of_ink(images.numpy()))
    assert moved.mean() < 1 and moved.max() < 4, moved  # bent where it is; pixels move about 1.4 each
    ink_change = np.abs(bent.sum(axis=(1, 2, 3)) / images.numpy().sum(axis=(1, 2, 3)) - 1)
    assert ink_change.mean() < 0.2, ink_change  # strokes stretch and squeeze, but stay strokes


@pytest.mark.slow
def test_an_augmented_run_shows_what_its_augmentation_does(tmp_path, digits_npz):
    """(A run without augmentation draws no such figure: tests/test_train_cli.py lists its figures.)"""
    assert train_cnn.main(["--data", str(digits_npz), "--limit", "200", "--epochs", "1", "--filters", "8,8",
                           "--rotation", "10", "--elastic", "20", "--out", str(tmp_path)]) == 0
    with Image.open(tmp_path / "figures" / "augmented_digits.png") as figure:
        assert figure.width > 400 and figure.height > 500  # six digits, each as it is and in five draws
    assert augment_settings(RunConfig(rotation=10, shift=0.1, elastic=34)) == "rotation 10°, shift 0.1, elastic 34"


def test_augmentation_repeats_with_the_seed_changes_with_it_and_stays_in_range(inputs):
    images = tf.constant(inputs[0][:64])
    first = augment(images, AUGMENTED, tf.constant([7, 1])).numpy()
    again = augment(images, AUGMENTED, tf.constant([7, 1])).numpy()
    other = augment(images, AUGMENTED, tf.constant([8, 1])).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert first.min() >= 0 and first.max() <= 1
    # Each image its own draw: no two images moved alike, and every image changed.
    assert all(not np.allclose(first[i], images.numpy()[i]) for i in range(64))


def test_the_pipeline_augments_training_batches_the_same_way_per_seed_and_never_the_validation_slice(inputs):
    x, y = inputs
    config = RunConfig(**{**AUGMENTED.to_dict(), "validation_split": 0.25, "batch_size": 32})
    batches, validation = training.input_pipeline(x, y, config)
    again, _ = training.input_pipeline(x, y, config)
    plain, _ = training.input_pipeline(x, y, RunConfig(validation_split=0.25, batch_size=32))
    first = [images.numpy() for images, _ in batches]
    for (images, _), expected in zip(again, first):
        np.testing.assert_array_equal(images.numpy(), expected)
    second_epoch = [images.numpy() for images, _ in batches]
    assert not np.array_equal(first[0], second_epoch[0])
    np.testing.assert_array_equal(validation[0], x[192:])  # untouched
    # The same images in the same order as without augmentation, only varied: labels agree batch by batch.
    fresh, _ = training.input_pipeline(x, y, config)
    for (_, labels), (_, plain_labels) in zip(fresh, plain, strict=True):
        np.testing.assert_array_equal(labels.numpy(), plain_labels.numpy())


def test_the_variations_do_not_depend_on_how_many_batches_are_augmented_at_once(inputs, monkeypatch):
    x, y = inputs
    config = RunConfig(**{**AUGMENTED.to_dict(), "batch_size": 32})

    def images_with(cores):
        monkeypatch.setattr(training.hardware, "usable_cores", lambda: cores)
        batches, _ = training.input_pipeline(x, y, config)
        return [images.numpy() for _ in range(2) for images, _ in batches]  # two epochs

    one, four = images_with(1), images_with(4)
    assert len(one) == len(four) == 16
    for a, b in zip(one, four, strict=True):
        np.testing.assert_array_equal(a, b)


# The learning-rate schedule, label smoothing, batch normalization --------------------------


def test_the_cosine_schedule_warms_up_to_the_peak_then_decays_to_zero():
    config = RunConfig(schedule="cosine", warmup_epochs=1.0, learning_rate=0.002, epochs=4)
    schedule = learning_rate_schedule(config, steps_per_epoch=100)
    rates = [float(schedule(step)) for step in (0, 50, 100, 250, 400)]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.001) and rates[2] == pytest.approx(0.002)
    assert rates[3] == pytest.approx(0.001, rel=1e-3) and rates[4] == pytest.approx(0, abs=1e-9)
    assert learning_rate_schedule(RunConfig(), steps_per_epoch=None) == 0.001 == peak_learning_rate(RunConfig())
    assert peak_learning_rate(RunConfig(optimizer="sgd")) == 0.01


def test_batch_norm_puts_a_normalization_between_each_convolution_and_its_relu():
    rows = layer_table(build_cnn(RunConfig(batch_norm=True)))
    kinds = [row["kind"] for row in rows]
    assert kinds == ["Input", "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D", "Conv2D", "BatchNormalization",
                     "ReLU", "MaxPooling2D", "Conv2D", "BatchNormalization", "ReLU", "Flatten", "Dropout", "Dense"]
    # No conv bias (the normalization's offset replaces it), 4 numbers per filter in the normalization.
    assert sum(row["parameters"] for row in rows) == 80_266 - 3 * 64 + 3 * 4 * 64


@pytest.mark.slow
def test_a_short_run_with_every_ingredient_learns_and_reads_held_out_digits_as_well_as_it_trains(digits, tmp_path):
    """Batch norm's moving statistics settle within a short run (they took thousands of steps
    with Keras's default momentum, and held-out accuracy fell to chance)."""
    config = RunConfig(**{**recipe("modern").to_dict(), "batch_norm": True, "epochs": 4, "limit": None})
    result = training.train(config, digits, verbose=False)
    assert result.validation["accuracy"] >= 0.85, result.validation
    assert result.test["accuracy"] >= 0.85, result.test
    assert result.record()["learning_rate"] == 0.002  # the peak, not where the schedule ended
    assert result.model.loss.label_smoothing == 0.1
    # Label smoothing leaves it under-confident: the temperature fitted on the validation slice sharpens it.
    fit = result.record()["calibration"]
    assert fit["images"] == 150 and fit["temperature"] < 1
    assert fit["after"]["nll"] < fit["before"]["nll"] and fit["after"]["ece"] < fit["before"]["ece"]


@pytest.mark.slow
def test_fine_tuning_a_model_trained_on_a_schedule_gets_a_fresh_schedule_over_the_fine_tuning(digits, tmp_path):
    config = RunConfig(schedule="cosine", learning_rate=0.002, epochs=1, filters=(8, 8))
    first = training.train(config, digits, verbose=False)
    assert first.calibration is None  # no validation slice, no temperature
    first.model.save(tmp_path / "model.keras")
    again = training.train(RunConfig(**{**config.to_dict(), "epochs": 2}), digits, start_from=tmp_path / "model.keras",
                           verbose=False)
    steps = training.steps_per_epoch(config, len(digits.train_images))
    assert int(again.model.optimizer.iterations) == 2 * steps  # counted from the fine-tuning's start
    assert float(again.model.optimizer.learning_rate) == pytest.approx(0, abs=1e-9)  # and decayed over it
    assert again.history["loss"][-1] < first.history["loss"][-1]


# The recipe experiment -------------------------------------------------------------------


def test_the_recipe_experiment_adds_each_ingredient_alone_then_the_whole_recipes():
    experiment = beyond_experiments()["recipe"]
    named = dict(zip(experiment.point_names, experiment.points))
    modern = {name: value for name, value in RECIPES["modern"].items() if name != "validation_split"}
    assert named["report"] == {} and named["modern"] == modern
    assert named["batch norm"] == {"batch_norm": True} and named["25 epochs"] == {"epochs": 25}
    ingredients = [named[name] for name in INGREDIENTS]
    assert all(point.items() <= modern.items() for point in ingredients)
    # The ingredients, one side of the batch-norm trade and the dropout tried on top make the modern
    # recipe, each setting in one.
    own_side = {"batch_norm": modern["batch_norm"], "epochs": modern["epochs"]}
    assert own_side in BATCH_NORM_TRADE
    assert sorted([name for point in ingredients for name in point] + list(own_side) + ["dropout"]) == sorted(modern)
    # The modern recipe with the report's dropout, the point the other side of the trade and the
    # elastic distortion are weighed against, each changing nothing else.
    first = named["modern, dropout 0.3"]
    assert RunConfig(**first).dropout == 0.3 and {**first, "dropout": 0.1} == modern
    other_side = next(side for side in BATCH_NORM_TRADE if side != own_side)
    assert named[f"{trade_name(other_side)}, dropout 0.3"] == {**first, **other_side}
    assert named["modern, dropout 0.3 + elastic distortion"] == {**first, "elastic": 34.0}
    # The wider network tried on top of the modern recipe changes its filters and epochs only.
    assert named["modern + third conv 128, 23 epochs"] == {**modern, "filters": (64, 64, 128), "epochs": 23}
    assert len(set(map(json.dumps, experiment.points))) == len(experiment.points) == 12


def test_a_stored_point_reads_back_under_its_name_even_with_lists_for_tuples():
    from digits.sweeps.tables import PointRuns

    experiment = beyond_experiments()["recipe"]
    fast = experiment.points[experiment.point_names.index("fast")]
    stored = json.loads(json.dumps(fast))  # its filters come back a list
    assert point_label(experiment, PointRuns(stored, [])) == "fast"
    assert point_label(experiment, PointRuns({"dropout": 0.5}, [])) == "dropout=0.5"
