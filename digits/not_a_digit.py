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
                  are many for the 6,000 images of a digit

A detector's threshold keeps a chosen share of digits the network did not train on.
"""

from dataclasses import dataclass

import keras
import numpy as np
from scipy.special import logsumexp

from digits.model import PREDICTION_BATCH_SIZE

FEATURE_LAYER = "flatten"
METHODS = ("probability", "max logit", "energy", "mahalanobis")


@dataclass
class Features:
    """What the scores read of a batch of inputs: penultimate features and logits."""

    penultimate: np.ndarray  # (N, D)
    logits: np.ndarray  # (N, 10)


def features_of(model, inputs):
    """The penultimate features and logits of `inputs` (N, 28, 28, 1 in [0, 1])."""
    extractor = keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output)
    penultimate = extractor.predict(inputs, batch_size=PREDICTION_BATCH_SIZE, verbose=0).astype(np.float64)
    kernel, bias = model.layers[-1].get_weights()
    return Features(penultimate, penultimate @ kernel.astype(np.float64) + bias)


@dataclass
class Digitness:
    """The fitted statistics a method needs: per-digit means and a shared precision matrix."""

    means: np.ndarray  # (10, D)
    precision: np.ndarray  # (D, D)


def fit_digitness(features, labels):
    """Per-digit means of the training features and the inverse of their shared, shrunk covariance."""
    from scipy.linalg import pinvh
    from sklearn.covariance import ledoit_wolf

    h, labels = features.penultimate, np.asarray(labels)
    means = np.stack([h[labels == digit].mean(axis=0) for digit in range(len(features.logits[0]))])
    covariance, _ = ledoit_wolf(h - means[labels], assume_centered=True)
    return Digitness(means, pinvh(covariance))


def scores(method, features, digitness=None):
    """Each input's score under `method` (one of METHODS); higher is more like a digit."""
    z = features.logits
    if method == "probability":
        return np.exp(z.max(axis=1) - logsumexp(z, axis=1))
    if method == "max logit":
        return z.max(axis=1)
    if method == "energy":
        return logsumexp(z, axis=1)
    if method == "mahalanobis":
        return -np.min(mahalanobis_squared(features.penultimate, digitness), axis=1)
    raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


def mahalanobis_squared(h, digitness):
    """(N, 10): each input's squared Mahalanobis distance to each digit's mean."""
    whiten = np.linalg.cholesky(digitness.precision)  # S^-1 = L L', so the distance is Euclidean after L
    h, means = h @ whiten, digitness.means @ whiten
    return (h**2).sum(axis=1)[:, None] - 2 * h @ means.T + (means**2).sum(axis=1)[None, :]


def threshold_keeping(digit_scores, keep):
    """The score under which an input is refused, so that a share `keep` of these digits pass."""
    return float(np.quantile(digit_scores, 1 - keep))


@dataclass
class Detector:
    """A method, what it was fitted on, and its threshold."""

    method: str
    threshold: float
    digitness: Digitness | None = None

    def scores(self, features):
        return scores(self.method, features, self.digitness)

    def is_digit(self, features):
        return self.scores(features) >= self.threshold
