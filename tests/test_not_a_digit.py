"""The outliers the project makes, and the scores that tell a digit from anything else."""

import numpy as np
import pytest
from scipy.special import softmax

from digits import not_a_digit, outliers
from digits.config import RunConfig
from digits.data import load_mnist, to_inputs


@pytest.fixture(scope="module")
def mnist_digits():
    (images, labels), _ = load_mnist(None, 300)
    return images, labels


@pytest.mark.parametrize("kind", outliers.KINDS)
def test_each_kind_is_an_mnist_style_image_set_that_its_seed_repeats(kind, mnist_digits):
    images = outliers.make(kind, 12, seed=3, digits=mnist_digits[0], labels=mnist_digits[1])
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, outliers.make(kind, 12, seed=3, digits=mnist_digits[0], labels=mnist_digits[1]))
    assert not np.array_equal(images, outliers.make(kind, 12, seed=4, digits=mnist_digits[0], labels=mnist_digits[1]))
    assert all(image.max() > 100 for image in images)  # each has ink
    assert len({image.tobytes() for image in images}) == 12  # and no two are the same


def test_kinds_made_of_two_digits_never_pair_one_label_with_itself():
    labels = np.array([0, 0, 0, 1])  # a same-label pair is drawn three times in four
    first, second = outliers.pairs_of_different_labels(np.random.default_rng(0), 200, labels)
    assert np.all(labels[first] != labels[second])


def test_kinds_made_of_digits_need_them():
    with pytest.raises(ValueError, match="made from digits"):
        outliers.make("blended digits", 3, seed=0)


def test_make_all_gives_each_kind_its_own_seed(mnist_digits):
    sets = outliers.make_all(5, 1, *mnist_digits)
    assert list(sets) == list(outliers.KINDS)
    assert np.array_equal(sets["strokes"], outliers.make("strokes", 5, [1, list(outliers.KINDS).index("strokes")]))


def test_the_logit_scores_follow_their_definitions():
    logits = np.array([[4.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    features = not_a_digit.Features(np.zeros((2, 4)), logits)
    assert np.allclose(not_a_digit.scores("probability", features), softmax(logits, axis=1).max(axis=1))
    assert np.allclose(not_a_digit.scores("max logit", features), [4.0, 1.0])
    assert np.allclose(not_a_digit.scores("energy", features), np.log(np.exp(logits).sum(axis=1)))
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        not_a_digit.scores("nope", features)


def test_the_mahalanobis_score_is_the_distance_to_the_nearest_digits_mean():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 200)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    h = centres[labels] + rng.normal(0, [1.0, 3.0], (600, 2))  # wider along the second axis
    digitness = not_a_digit.fit_digitness(not_a_digit.Features(h, np.zeros((600, 3))), labels)
    assert np.allclose(digitness.means, centres, atol=0.4)

    probes = np.array([[2.0, 0.0], [0.0, 2.0]])  # as far from digit 0's mean, along a narrow and a wide axis
    expected = [[((probe - mean) @ digitness.precision @ (probe - mean)) for mean in digitness.means] for probe in probes]
    distances = not_a_digit.mahalanobis_squared(probes, digitness)
    assert np.allclose(distances, expected)
    scores = not_a_digit.scores("mahalanobis", not_a_digit.Features(probes, np.zeros((2, 3))), digitness)
    assert np.allclose(scores, -np.min(expected, axis=1))
    assert scores[1] > scores[0]  # a step along the wide axis is the smaller surprise


def test_a_threshold_keeps_the_share_of_digits_asked_for():
    digit_scores = np.arange(1000.0)
    threshold = not_a_digit.threshold_keeping(digit_scores, keep=0.99)
    assert np.mean(digit_scores >= threshold) == pytest.approx(0.99, abs=0.002)
    detector = not_a_digit.Detector("max logit", threshold)
    features = not_a_digit.Features(np.zeros((2, 1)), np.array([[threshold + 1, 0.0], [threshold - 1, 0.0]]))
    assert detector.is_digit(features).tolist() == [True, False]


def test_features_give_back_the_logits_under_the_models_softmax(mnist_digits):
    from digits.model import build_cnn

    model = build_cnn(RunConfig(filters=(4, 8)))
    inputs = to_inputs(mnist_digits[0][:20])
    features = not_a_digit.features_of(model, inputs)
    assert features.penultimate.shape[0] == 20 and features.logits.shape == (20, 10)
    assert np.allclose(softmax(features.logits, axis=1), model.predict(inputs, verbose=0), atol=1e-5)
