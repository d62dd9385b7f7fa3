"""digits.calibration: temperature scaling on synthetic probabilities, the ECE by hand, and reading a run's temperature."""

import json

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.calibration import calibration_curve

from digits.calibration import (
    calibrate,
    calibrated,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability,
)
from digits.errors import InputError
from digits.run_folder import temperature_of


def calibrated_set(n=4000, seed=0):
    """Probabilities that are calibrated by construction: each label is drawn from its own row."""
    rng = np.random.default_rng(seed)
    probabilities = softmax(2.5 * rng.normal(size=(n, 10)), axis=1)
    labels = np.array([rng.choice(10, p=row) for row in probabilities])
    return labels, probabilities


def test_an_over_confident_set_gets_a_temperature_above_1_and_scores_better_after():
    labels, honest = calibrated_set()
    over_confident = calibrated(honest, 0.4)  # sharpened: p ** 2.5, renormalised
    record = calibrate(labels, over_confident)
    assert record["temperature"] == pytest.approx(1 / 0.4, rel=0.1)
    assert record["after"]["nll"] < record["before"]["nll"] - 0.1
    assert record["after"]["ece"] < record["before"]["ece"] / 3
    assert record["images"] == len(labels)


def test_an_under_confident_set_gets_a_temperature_below_1():
    labels, honest = calibrated_set(seed=1)
    assert fit_temperature(labels, calibrated(honest, 2.0)) == pytest.approx(0.5, rel=0.1)


def test_a_calibrated_set_keeps_a_temperature_near_1():
    labels, honest = calibrated_set(seed=2)
    temperature = fit_temperature(labels, honest)
    assert temperature == pytest.approx(1, abs=0.05)
    assert negative_log_likelihood(labels, calibrated(honest, temperature)) <= negative_log_likelihood(labels, honest)


def test_the_fitted_temperature_minimises_the_nll():
    labels, honest = calibrated_set(n=1000, seed=3)
    probabilities = calibrated(honest, 0.6)
    best = fit_temperature(labels, probabilities)
    nll = negative_log_likelihood(labels, calibrated(probabilities, best))
    for other in (best * 0.97, best * 1.03):
        assert nll < negative_log_likelihood(labels, calibrated(probabilities, other))


def test_calibrated_is_p_to_the_power_1_over_t_renormalised_with_zeros_kept():
    p = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0], [0.05] * 8 + [0.3, 0.3]])
    for temperature in (0.5, 1.0, 3.0):
        expected = p ** (1 / temperature)
        expected /= expected.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(calibrated(p, temperature), expected, rtol=1e-12)
    assert (calibrated(p, 2.0)[0, 3:] == 0).all()
    assert (calibrated(p, 2.0).argmax(axis=1) == p.argmax(axis=1)).all()  # the digit read never changes
    np.testing.assert_array_equal(calibrated(p, 1), p)


def confident_rows(confidences):
    """One row per confidence: the first digit gets it, the other nine share the rest evenly."""
    return np.array([[c] + [(1 - c) / 9] * 9 for c in confidences])


def test_ece_of_a_small_example_computed_by_hand():
    # Confidences 0.95 (right), 0.95 (wrong), 0.55 (right), 0.35 (wrong), in 15 bins of width 1/15:
    # bin (14/15, 1] holds two at accuracy 1/2, bin (8/15, 9/15] one right, bin (5/15, 6/15] one wrong.
    probabilities = confident_rows([0.95, 0.95, 0.55, 0.35])
    labels = np.array([0, 4, 0, 2])
    expected = 2 / 4 * abs(0.5 - 0.95) + 1 / 4 * abs(1 - 0.55) + 1 / 4 * abs(0 - 0.35)
    assert expected_calibration_error(labels, probabilities) == pytest.approx(expected, abs=1e-12)  # 0.425
    table = reliability(labels, probabilities)
    assert table["count"].tolist() == [0] * 5 + [1, 0, 0, 1] + [0] * 5 + [2]
    assert table["accuracy"][14] == 0.5 and table["confidence"][14] == pytest.approx(0.95)
    assert np.isnan(table["accuracy"][0]) and len(table["edges"]) == 16


def test_a_confidence_on_a_bin_edge_goes_into_the_bin_it_closes():
    probabilities = confident_rows([1.0, 0.6, 0.2])  # 0.6 = 9/15 and 0.2 = 3/15 exactly
    table = reliability(np.zeros(3, int), probabilities)
    assert table["count"][14] == 1 and table["count"][8] == 1 and table["count"][2] == 1


def test_reliability_bins_as_scikit_learns_calibration_curve():
    labels, honest = calibrated_set(n=2000, seed=4)
    table = reliability(labels, honest)
    filled = table["count"] > 0
    correct = honest.argmax(axis=1) == labels
    accuracy, confidence = calibration_curve(correct, honest.max(axis=1), n_bins=15, strategy="uniform")
    np.testing.assert_allclose(table["accuracy"][filled], accuracy)
    np.testing.assert_allclose(table["confidence"][filled], confidence)
    assert table["count"].sum() == len(labels)


def test_calibrate_measures_before_and_after_on_the_data_it_was_fitted_on():
    labels, honest = calibrated_set(n=1000, seed=5)
    over_confident = calibrated(honest, 0.5)
    record = calibrate(labels, over_confident)
    assert set(record) == {"temperature", "images", "before", "after"}
    after = calibrated(over_confident, record["temperature"])
    assert record["after"] == {"nll": negative_log_likelihood(labels, after), "ece": expected_calibration_error(labels, after)}
    assert record["before"]["nll"] == negative_log_likelihood(labels, over_confident)
    json.dumps(record)  # plain numbers: it goes into run.json as it is


def run_folder(tmp_path, record):
    (tmp_path / "model.keras").write_bytes(b"")
    if record is not None:
        (tmp_path / "run.json").write_text(record if isinstance(record, str) else json.dumps(record))
    return tmp_path


def test_the_temperature_is_read_from_the_run_by_folder_or_model_file(tmp_path):
    run = run_folder(tmp_path, {"config": {}, "calibration": {"temperature": 1.7, "images": 300}})
    assert temperature_of(run) == 1.7 and temperature_of(run / "model.keras") == 1.7


@pytest.mark.parametrize("record", [None, {"config": {}}, {"config": {}, "calibration": None}],
                         ids=["bare-model-file", "no-validation-slice", "null"])
def test_a_run_without_a_temperature_has_none(tmp_path, record):
    run = run_folder(tmp_path, record)
    assert temperature_of(run) is None and temperature_of(run / "model.keras") is None


@pytest.mark.parametrize("record, message", [
    ("{not json", "cannot be read as JSON"),
    ({"calibration": {"temperature": 0}}, '"calibration" holds no positive temperature'),
    ({"calibration": {"temperature": "1.5"}}, '"calibration" holds no positive temperature'),
    ({"calibration": {"temperature": True}}, '"calibration" holds no positive temperature'),
    ({"calibration": {"images": 10}}, '"calibration" holds no positive temperature'),
    ({"calibration": 1.5}, '"calibration" holds no positive temperature'),
])
def test_a_bad_calibration_is_one_line_naming_the_run_json(tmp_path, record, message):
    run = run_folder(tmp_path, record)
    with pytest.raises(InputError) as error:
        temperature_of(run)
    assert str(error.value).startswith(f"{run / 'run.json'}: ") and message in str(error.value)
    assert "\n" not in str(error.value)
