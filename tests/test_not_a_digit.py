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
    statistics = not_a_digit.fit_statistics(not_a_digit.Features(h, np.zeros((600, 3))), labels)
    assert np.allclose(statistics.means, centres, atol=0.4)

    probes = np.array([[2.0, 0.0], [0.0, 2.0]])  # as far from digit 0's mean, along a narrow and a wide axis
    expected = [[((probe - mean) @ statistics.precision @ (probe - mean)) for mean in statistics.means] for probe in probes]
    distances = not_a_digit.mahalanobis_squared(probes, statistics)
    assert np.allclose(distances, expected)
    scores = not_a_digit.scores("mahalanobis", not_a_digit.Features(probes, np.zeros((2, 3))), statistics)
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


def test_the_combined_score_is_the_lower_of_the_two_percentiles_among_training_digits():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 100)
    features = not_a_digit.Features(rng.normal(0, 1, (300, 2)) + 5 * labels[:, None], rng.normal(0, 1, (300, 3)))
    statistics = not_a_digit.fit_statistics(features, labels)
    combined = not_a_digit.scores("energy and mahalanobis", features, statistics)
    energy_rank = np.searchsorted(statistics.energies, not_a_digit.scores("energy", features)) / 300
    distance_rank = np.searchsorted(statistics.mahalanobis, not_a_digit.scores("mahalanobis", features, statistics)) / 300
    assert np.allclose(combined, np.minimum(energy_rank, distance_rank))
    assert combined.min() == 0 and combined.max() < 1 and np.mean(combined <= np.quantile(combined, 0.5)) >= 0.5


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory, mnist_digits):
    """A run folder of an untrained small net on 300 MNIST digits, the last tenth held out for validation."""
    from digits.files import write_json
    from digits.model import build_cnn, save_model

    folder = tmp_path_factory.mktemp("run")
    (images, labels), (test_images, test_labels) = load_mnist(None, 300)
    np.savez(folder / "digits.npz", x_train=images, y_train=labels, x_test=test_images[:50], y_test=test_labels[:50])
    config = RunConfig(filters=(4, 8), data=str(folder / "digits.npz"), validation_split=0.1)
    model = build_cnn(config)
    save_model(model, folder / "model.keras")
    write_json(folder / "run.json", {"config": config.to_dict()})
    return folder, model


@pytest.mark.slow
def test_a_runs_detector_is_fitted_once_kept_and_fitted_again_for_another_model(untrained_run, tmp_path, monkeypatch):
    import shutil

    from digits.model import build_cnn, save_model

    folder, model = shutil.copytree(untrained_run[0], tmp_path / "run"), untrained_run[1]  # its model is replaced below
    detector = not_a_digit.detector_of(folder / "model.keras", model)
    assert (folder / not_a_digit.DETECTOR_FILE).is_file() and detector.held_out == "validation"
    assert detector.method in not_a_digit.METHODS

    fits = []
    monkeypatch.setattr(not_a_digit, "fit_detector", lambda *args: fits.append(args) or pytest.fail("fitted again"))
    kept = not_a_digit.detector_of(folder / "model.keras", model)
    assert kept.threshold == detector.threshold and np.array_equal(kept.statistics.precision, detector.statistics.precision)
    monkeypatch.undo()

    other = build_cnn(RunConfig(filters=(4, 8), seed=2))
    save_model(other, folder / "model.keras")  # the run was trained again: its old detector no longer holds
    refitted = not_a_digit.detector_of(folder / "model.keras", other)
    assert refitted.model_sha256 != detector.model_sha256
    assert not np.allclose(refitted.statistics.means, detector.statistics.means)


def test_a_detector_takes_the_method_that_refuses_most_of_the_outliers_it_chooses_on(mnist_digits):
    from digits import outliers
    from digits.model import build_cnn

    (images, labels), _ = load_mnist(None, 300)
    model = build_cnn(RunConfig(filters=(4, 8)))
    methods = ("probability", "energy", "mahalanobis")
    detector = not_a_digit.fit_detector(model, images[:270], labels[:270], images[270:], methods=methods)
    made = outliers.make_all(not_a_digit.CHOICE_OUTLIERS, not_a_digit.CHOICE_SEED, images[:270], labels[:270])
    features = [not_a_digit.features_of(model, to_inputs(kind)) for kind in made.values()]
    held_out = not_a_digit.features_of(model, to_inputs(images[270:]))

    def refused(method):
        threshold = not_a_digit.threshold_keeping(not_a_digit.scores(method, held_out, detector.statistics),
                                                  not_a_digit.KEEP)
        return np.mean([np.mean(not_a_digit.scores(method, f, detector.statistics) < threshold) for f in features])

    assert detector.method in methods
    assert all(refused(detector.method) >= refused(method) for method in methods)
    assert detector.threshold == not_a_digit.threshold_keeping(detector.scores(held_out), not_a_digit.KEEP)


def test_a_threshold_keeps_its_share_of_the_validation_digits(untrained_run):
    folder, model = untrained_run
    detector = not_a_digit.detector_of(folder / "model.keras", model)
    (images, _), _ = load_mnist(None, 300)
    kept = detector.is_digit(not_a_digit.features_of(model, to_inputs(images[270:])))  # the validation tenth
    assert np.mean(kept) >= not_a_digit.KEEP - 1 / 30


def test_a_damaged_detector_file_is_named(tmp_path):
    from digits.errors import InputError

    path = tmp_path / not_a_digit.DETECTOR_FILE
    path.write_bytes(b"not an npz")
    with pytest.raises(InputError, match=f"{path}: not a saved not-a-digit detector"):
        not_a_digit.load_detector(path)


def predict(capsys, *args):
    """add_own_digits.py predict, run in this process: (stdout, stderr)."""
    import add_own_digits

    capsys.readouterr()
    assert add_own_digits.main(["predict", *map(str, args)]) == 0
    return capsys.readouterr()


def drawn_digits(folder, count):
    from PIL import Image

    (images, _), _ = load_mnist(None, count)
    for index, image in enumerate(images):
        Image.fromarray(255 - image).save(folder / f"digit{index}.png")
    return [folder / f"digit{index}.png" for index in range(count)]


@pytest.mark.slow
def test_predict_says_what_does_not_look_like_a_digit(untrained_run, tmp_path, capsys):
    import json

    folder, _ = untrained_run
    files = drawn_digits(tmp_path, 2)
    rows = [json.loads(line) for line in predict(capsys, "--model", folder, "--json", *files).out.splitlines()]
    detector = not_a_digit.load_detector(folder / not_a_digit.DETECTOR_FILE)  # fitted by the first predict, and kept
    assert [row["looks_like_a_digit"] for row in rows] == [row["digit_score"] >= detector.threshold for row in rows]
    assert all(np.isfinite(row["digit_score"]) for row in rows)

    detector.threshold = np.inf  # nothing passes: each line says so
    not_a_digit.save_detector(detector, folder / not_a_digit.DETECTOR_FILE)
    lines = predict(capsys, "--model", folder, *files).out.splitlines()
    assert len(lines) == 2 and all(": not a digit (digit score " in line for line in lines)


def test_predict_without_a_run_says_why_there_is_no_verdict(untrained_run, tmp_path, capsys):
    import json
    import shutil

    shutil.copy(untrained_run[0] / "model.keras", tmp_path / "bare.keras")
    printed = predict(capsys, "--model", tmp_path / "bare.keras", "--json", *drawn_digits(tmp_path, 1))
    assert "No not-a-digit verdict: " in printed.err and "no run.json beside it" in printed.err
    assert "looks_like_a_digit" not in json.loads(printed.out)
