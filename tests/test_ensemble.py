"""digits.ensemble and the scripts that read with it: averages, calibration, test-time augmentation's copies,
and add_own_digits.py predict with several models."""

import json

import numpy as np
from PIL import Image
import pytest
from scipy import ndimage

import add_own_digits
from digits.calibration import calibrated
from digits.run_folder import temperature_of
from digits.data import to_inputs
from digits.ensemble import TTA_COPIES, TTA_DEGREES, Ensemble, augmented_copies, combine
from digits.errors import InputError
from digits.model import load_trained_model, predict_probabilities


@pytest.fixture(scope="module")
def inputs(digits_npz):
    return to_inputs(np.load(digits_npz)["x_test"][:60])


def raw(run, inputs):
    return predict_probabilities(load_trained_model(run / "model.keras"), inputs)


def test_the_fixture_runs_are_one_calibrated_and_one_not(tiny_runs):
    assert temperature_of(tiny_runs["plain"]) is None
    temperature = temperature_of(tiny_runs["calibrated"])
    assert temperature is not None and abs(temperature - 1) > 1e-3  # else calibration would go unseen below


def test_one_model_alone_reads_as_predict_probabilities(tiny_runs, inputs):
    each, average = Ensemble([tiny_runs["plain"]]).probabilities(inputs)
    expected = raw(tiny_runs["plain"], inputs)
    np.testing.assert_allclose(average, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(each[0], expected, rtol=0, atol=1e-12)


def test_a_calibrated_model_reads_with_its_temperature(tiny_runs, inputs):
    ensemble = Ensemble([tiny_runs["calibrated"] / "model.keras"])
    temperature = temperature_of(tiny_runs["calibrated"])
    assert ensemble.members[0].temperature == temperature
    _, average = ensemble.probabilities(inputs)
    np.testing.assert_allclose(average, calibrated(raw(tiny_runs["calibrated"], inputs), temperature), atol=1e-12)
    assert not np.allclose(average, raw(tiny_runs["calibrated"], inputs), atol=1e-6)


def test_the_ensemble_is_the_mean_of_its_members_calibrated_probabilities(tiny_runs, inputs):
    ensemble = Ensemble([tiny_runs["plain"], tiny_runs["calibrated"]])
    each, average = ensemble.probabilities(inputs)
    np.testing.assert_allclose(average, (each[0] + each[1]) / 2, atol=1e-15)
    np.testing.assert_allclose(each[0], raw(tiny_runs["plain"], inputs), atol=1e-12)
    np.testing.assert_allclose(each[1], calibrated(raw(tiny_runs["calibrated"], inputs),
                                                   temperature_of(tiny_runs["calibrated"])), atol=1e-12)
    np.testing.assert_allclose(average.sum(axis=1), 1, atol=1e-9)
    assert [member.name for member in ensemble.members] == ["plain", "calibrated"]
    assert ensemble.name == f"{tiny_runs['plain'] / 'model.keras'} + {tiny_runs['calibrated'] / 'model.keras'}"


def test_the_same_model_twice_is_refused(tiny_runs):
    with pytest.raises(InputError, match="given twice"):
        Ensemble([tiny_runs["plain"], tiny_runs["plain"] / "model.keras"])


def test_members_say_whether_they_are_calibrated(tiny_runs):
    plain, calibrated_member = Ensemble([tiny_runs["plain"], tiny_runs["calibrated"]]).members
    assert plain.describe_temperature() == "no temperature in its run (uncalibrated, T = 1)"
    assert calibrated_member.describe_temperature().startswith("temperature ")


def test_tta_copies_are_the_image_shifted_one_pixel_and_rotated():
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28, 1)).astype(np.float32)
    copies = augmented_copies(images)
    assert copies.shape == (len(TTA_COPIES), 3, 28, 28, 1) and copies.dtype == np.float32
    np.testing.assert_array_equal(copies[0], images)
    up, down, left, right = copies[1:5]
    np.testing.assert_array_equal(up[:, :-1], images[:, 1:])
    np.testing.assert_array_equal(down[:, 1:], images[:, :-1])
    np.testing.assert_array_equal(left[:, :, :-1], images[:, :, 1:])
    np.testing.assert_array_equal(right[:, :, 1:], images[:, :, :-1])
    assert not up[:, -1].any() and not down[:, 0].any() and not left[:, :, -1].any() and not right[:, :, 0].any()
    for copy, degrees in zip(copies[5:], (TTA_DEGREES, -TTA_DEGREES)):
        for image, rotated in zip(images, copy):
            expected = ndimage.rotate(image[..., 0], degrees, reshape=False, order=1)
            np.testing.assert_allclose(rotated[..., 0], expected, atol=1e-6)


def test_a_positive_rotation_turns_the_image_anticlockwise():
    dot = np.zeros((1, 28, 28, 1), np.float32)
    dot[0, 14, 24] = 1.0  # right of the centre
    turned = augmented_copies(dot)[5, 0, ..., 0]  # TTA_DEGREES anticlockwise: the dot rises
    row, column = np.unravel_index(turned.argmax(), turned.shape)
    assert row < 14 and column <= 24


def test_tta_averages_each_copys_calibrated_probabilities(tiny_runs, inputs):
    ensemble = Ensemble([tiny_runs["calibrated"]])
    temperature = temperature_of(tiny_runs["calibrated"])
    model = ensemble.members[0].model
    expected = np.mean([calibrated(predict_probabilities(model, copy), temperature)
                        for copy in augmented_copies(inputs)], axis=0)
    _, average = ensemble.probabilities(inputs, tta=True)
    np.testing.assert_allclose(average, expected, atol=1e-12)
    assert not np.allclose(average, ensemble.probabilities(inputs)[1], atol=1e-4)


def test_combine_calibrates_then_averages():
    rng = np.random.default_rng(1)
    copies = [rng.dirichlet(np.ones(10), size=(3, 5)) for _ in range(2)]
    each, average = combine(copies, [1.0, 2.0])
    np.testing.assert_allclose(each[0], copies[0].mean(axis=0))
    np.testing.assert_allclose(each[1], calibrated(copies[1], 2.0).mean(axis=0))
    np.testing.assert_allclose(average, (each[0] + each[1]) / 2)


@pytest.mark.slow
def test_predict_with_two_models_reads_with_their_ensemble(tiny_runs, digits_npz, tmp_path, capsys):
    images = np.load(digits_npz)["x_test"][:4]
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(255 - image).save(files[-1])  # dark on white, as a person's scan
    models = [tiny_runs["plain"], tiny_runs["calibrated"]]
    args = ["predict", "--model", str(models[0]), "--model", str(models[1]), "--json", *map(str, files)]
    assert add_own_digits.main(args) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]

    from digits.own_digits import read_digit_image

    _, expected = Ensemble(models).probabilities(to_inputs(np.stack([read_digit_image(path) for path in files])))
    assert [row["digit"] for row in rows] == expected.argmax(axis=1).tolist()
    assert [row["probability"] for row in rows] == pytest.approx(expected.max(axis=1), abs=1e-6)
    assert "no temperature in its run (uncalibrated, T = 1)" in err and "mean of the 2 models" in err


@pytest.mark.slow
def test_an_ensembles_digit_score_is_the_share_of_its_models_taking_the_input_for_a_digit(tiny_runs, inputs, tmp_path):
    import copy
    import shutil

    runs = [shutil.copytree(run, tmp_path / name) for name, run in tiny_runs.items()]  # their detectors are kept there
    ensemble = Ensemble([run / "model.keras" for run in runs])
    def with_thresholds(*thresholds):  # each model's own detector, passing everything (-inf) or nothing (inf)
        detectors = [copy.copy(detector) for detector in ensemble.detectors()]
        for detector, threshold in zip(detectors, thresholds, strict=True):
            detector.threshold = threshold
        return detectors

    split, majority = ensemble.digit_verdicts(inputs[:5], with_thresholds(-np.inf, np.inf))
    assert np.all(split == 0.5) and not np.any(majority)  # one of two is no majority
    agreed, majority = ensemble.digit_verdicts(inputs[:5], with_thresholds(-np.inf, -np.inf))
    assert np.all(agreed == 1.0) and np.all(majority)
