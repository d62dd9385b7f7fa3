"""Whether an input looks like a digit at all: a score per image, and a threshold under which
the reading is refused as "not a digit".

The softmax alone cannot say it: a network trained only on digits gives some digit a high
probability for almost anything. The scores here read the network's last two layers:
the penultimate features h (the Flatten output) and the logits z = h W + b, computed from the
last Dense layer's weights since the softmax drops the part of z the energy needs. Higher
means more like a digit:

    probability   max softmax(z)                      (Hendrycks and Gimpel 2017)
    max logit     max z
    energy        logsumexp(z)                        (Liu et al. 2020)
    mahalanobis   -min over digits c of (h - mu_c)' S^-1 (h - mu_c), with mu_c the training
                  features' mean per digit and S their shared covariance (Lee et al. 2018),
                  shrunk towards a scaled identity (Ledoit-Wolf) since 576 dimensions
                  are many for the images of one digit
    energy and mahalanobis
                  the lower of the two scores' percentiles among training digits: unusual
                  by either is unusual

A detector holds a method, the statistics it needs and a threshold that keeps KEEP of digits the
network did not train on (the run's validation slice). No one method suits every network (label
smoothing blinds the logit scores; outlier exposure, the Mahalanobis distance), so each run's
detector takes the method that refuses most of the project's own outliers at that threshold.
A run's detector is fitted on first use and kept in its folder (`detector_of`), so training
pays nothing for it.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
import weakref

import numpy as np
from scipy.special import logsumexp

from digits.errors import InputError
from digits.files import atomic_path, sha256_of

FEATURE_LAYER = "flatten"
METHODS = ("probability", "max logit", "energy", "mahalanobis", "energy and mahalanobis")
CHOICE_OUTLIERS = 300  # of each kind, to choose a run's method on
CHOICE_SEED = 1  # the outliers chosen on; benchmarks measure on others
KEEP = 0.99  # the share of held-out digits a threshold lets through
STATISTICS_IMAGES = 10_000  # training digits the statistics are fitted on: about a thousand of each
DETECTOR_FILE = "not_a_digit.npz"  # in the run folder, beside the model it was fitted for


@dataclass
class Features:
    """What the scores read of a batch of inputs: penultimate features and logits."""

    penultimate: np.ndarray  # (N, D)
    logits: np.ndarray  # (N, 10)


def features_of(model, inputs):
    """The penultimate features and logits of `inputs` (N, 28, 28, 1 in [0, 1])."""
    from digits.model import PREDICTION_BATCH_SIZE

    extractor = feature_extractor(model)
    penultimate = extractor.predict(inputs, batch_size=PREDICTION_BATCH_SIZE, verbose=0).astype(np.float64)
    kernel, bias = model.layers[-1].get_weights()
    return Features(penultimate, penultimate @ kernel.astype(np.float64) + bias)


EXTRACTORS = weakref.WeakKeyDictionary()  # model -> feature_extractor(model), gone with the model


def feature_extractor(model):
    """The model up to FEATURE_LAYER, made once per model: a new one per call would trace its predict function
    again on every call, which the draw page, reading each stroke, would pay each time."""
    import keras

    if model not in EXTRACTORS:
        EXTRACTORS[model] = keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output)
    return EXTRACTORS[model]


@dataclass
class Statistics:
    """What the training digits' features say a digit is like: each digit's mean, the shared
    precision matrix, and the sorted energy and Mahalanobis scores of the training digits."""

    means: np.ndarray  # (10, D)
    precision: np.ndarray  # (D, D)
    energies: np.ndarray  # (N,), sorted
    mahalanobis: np.ndarray  # (N,), sorted

    @cached_property
    def whitening(self):
        """L with S^-1 = L L': the Mahalanobis distance is the Euclidean one after multiplying by L."""
        return np.linalg.cholesky(self.precision)


def fit_statistics(features, labels):
    """The Statistics of training digits' features and their labels."""
    from scipy.linalg import cho_factor, cho_solve
    from sklearn.covariance import ledoit_wolf

    h, labels = features.penultimate, np.asarray(labels)
    means = np.stack([h[labels == digit].mean(axis=0) for digit in range(features.logits.shape[1])])
    covariance, _ = ledoit_wolf(h - means[labels], assume_centered=True)
    # Shrinkage makes the covariance positive definite: a Cholesky factor inverts it in a fraction of the
    # time an eigendecomposition (pinvh) takes, which counts with thousands of features.
    precision = cho_solve(cho_factor(covariance), np.eye(len(covariance)))
    statistics = Statistics(means, (precision + precision.T) / 2, np.empty(0), np.empty(0))
    statistics.energies = np.sort(scores("energy", features))
    statistics.mahalanobis = np.sort(scores("mahalanobis", features, statistics))
    return statistics


def scores(method, features, statistics=None):
    """Each input's score under `method` (one of METHODS); higher is more like a digit."""
    z = features.logits
    if method == "probability":
        return np.exp(z.max(axis=1) - logsumexp(z, axis=1))
    if method == "max logit":
        return z.max(axis=1)
    if method == "energy":
        return logsumexp(z, axis=1)
    if method == "mahalanobis":
        return -np.min(mahalanobis_squared(features.penultimate, statistics), axis=1)
    if method == "energy and mahalanobis":
        return np.minimum(percentile_among(statistics.energies, scores("energy", features)),
                          percentile_among(statistics.mahalanobis, scores("mahalanobis", features, statistics)))
    raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


def mahalanobis_squared(h, statistics):
    """(N, 10): each input's squared Mahalanobis distance to each digit's mean."""
    h, means = h @ statistics.whitening, statistics.means @ statistics.whitening
    return (h**2).sum(axis=1)[:, None] - 2 * h @ means.T + (means**2).sum(axis=1)[None, :]


def percentile_among(sorted_reference, values):
    """The share of `sorted_reference` below each value, in [0, 1]."""
    return np.searchsorted(sorted_reference, values) / len(sorted_reference)


def threshold_keeping(digit_scores, keep):
    """The score under which an input is refused, so that a share `keep` of these digits pass."""
    return float(np.quantile(digit_scores, 1 - keep))


@dataclass
class Detector:
    """A method, what it was fitted on, and its threshold."""

    method: str
    threshold: float
    statistics: Statistics | None = None
    model_sha256: str = ""  # of the model file it was fitted for
    held_out: str = "validation"  # the digits the threshold keeps KEEP of: "validation" or "training"

    def scores(self, features):
        return scores(self.method, features, self.statistics)

    def is_digit(self, features):
        return self.scores(features) >= self.threshold


def fit_detector(model, train_images, train_labels, held_out_images, methods=METHODS, keep=KEEP):
    """A Detector of `model`: statistics from up to STATISTICS_IMAGES training digits, and of
    `methods` the one that refuses most of the project's own outliers (CHOICE_OUTLIERS of each
    kind of digits.outliers, drawn from CHOICE_SEED and the training digits) at the threshold that
    keeps a share `keep` of `held_out_images`, digits it did not train on."""
    from digits import outliers
    from digits.data import to_inputs

    train_features = features_of(model, to_inputs(train_images[:STATISTICS_IMAGES]))
    statistics = fit_statistics(train_features, train_labels[:STATISTICS_IMAGES])
    held_out = features_of(model, to_inputs(held_out_images))
    made = outliers.make_all(CHOICE_OUTLIERS, CHOICE_SEED, train_images, train_labels)
    made_features = features_of(model, to_inputs(np.concatenate(list(made.values()))))  # one pass: a pass has a cost
    kind_of = np.repeat(np.arange(len(made)), [len(images) for images in made.values()])
    thresholds = {method: threshold_keeping(scores(method, held_out, statistics), keep) for method in methods}
    refused = {}
    for method, threshold in thresholds.items():
        refused_each = scores(method, made_features, statistics) < threshold
        refused[method] = np.mean([refused_each[kind_of == kind].mean() for kind in range(len(made))])
    method = most_refusing(refused)
    return Detector(method, thresholds[method], statistics)


def most_refusing(refused):
    """Of {method: share of outliers it refuses}, the method refusing most; of equals, the first listed."""
    return max(refused, key=refused.get)


def save_detector(detector, path):
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        np.savez(file, method=detector.method, threshold=detector.threshold, model_sha256=detector.model_sha256,
                 held_out=detector.held_out, means=detector.statistics.means, precision=detector.statistics.precision,
                 energies=detector.statistics.energies, mahalanobis=detector.statistics.mahalanobis)


def load_detector(path):
    """The Detector saved in `path`; InputError, naming it, if it cannot be read."""
    try:
        with np.load(path) as saved:
            statistics = Statistics(saved["means"], saved["precision"], saved["energies"], saved["mahalanobis"])
            return Detector(str(saved["method"]), float(saved["threshold"]), statistics, str(saved["model_sha256"]),
                            str(saved["held_out"]))
    except (OSError, KeyError, ValueError) as error:
        raise InputError(f"{path}: not a saved not-a-digit detector ({error})") from None


def detector_of(model_file, model):
    """The detector of `model`, loaded from `model_file` in a run folder: the one kept in the folder if
    it was fitted for this model file, else fitted now on the run's own data and kept.

    The threshold keeps KEEP of the run's validation slice; a run trained without one has only its
    training digits to set it on, which the network knows better than new ones, so it refuses more
    new digits than that. InputError if the run's data cannot be read.
    """
    from digits.config import load_config
    from digits.data import load_dataset, split_point
    from digits.run_folder import RunFolder

    run = RunFolder(Path(model_file).parent)
    model_sha256 = sha256_of(model_file)
    path = run.path / DETECTOR_FILE
    if path.is_file():
        detector = load_detector(path)
        if detector.model_sha256 == model_sha256:
            return detector
    config = load_config(run.run_json)
    dataset = load_dataset(config.data, config.limit)
    cut = split_point(len(dataset.train_images), config.validation_split)
    train_images, train_labels = dataset.train_images[:cut], dataset.train_labels[:cut]
    has_validation = cut < len(dataset.train_images)
    unseen_by_statistics = train_images[STATISTICS_IMAGES:2 * STATISTICS_IMAGES]
    held_out = (dataset.train_images[cut:] if has_validation
                else unseen_by_statistics if len(unseen_by_statistics) else train_images)
    detector = fit_detector(model, train_images, train_labels, held_out)
    detector.model_sha256 = model_sha256
    detector.held_out = "validation" if has_validation else "training"
    save_detector(detector, path)
    return detector
