"""Calibrated confidence: temperature scaling (Guo, Pleiss, Sun and Weinberger, 2017).

One number T divides the logits, fitted to minimise the negative log-likelihood (NLL) on held-out data
(a run's validation slice, never the test set); T > 1 softens over-confident probabilities. The digit
read never changes. The models end in softmax, so `calibrated` works on probabilities p:
softmax(log(p) / T), which is softmax(logits / T). run.json keeps `calibrate`'s record as "calibration";
digits.run_folder.temperature_of reads it. SciPy and scikit-learn load only when used, so that
predict with an export, which has its temperature inside, does not import them.
"""

import numpy as np

from digits.config import NUM_CLASSES

TEMPERATURE_BOUNDS = (0.05, 20.0)  # far beyond any temperature a trained network needs
BINS = 15  # equal-width confidence bins of the expected calibration error, as Guo et al. use
CLASSES = list(range(NUM_CLASSES))


def calibrated(probabilities, temperature):
    """softmax(log(p) / T) along the last axis, in float64: p**(1/T) renormalised, zeros kept zero."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1:
        return probabilities
    from scipy.special import softmax

    with np.errstate(divide="ignore"):  # log(0) = -inf, which softmax turns back into 0
        return softmax(np.log(probabilities) / temperature, axis=-1)


def negative_log_likelihood(labels, probabilities):
    """Mean -log p(true digit): the test loss of digits.metrics, scikit-learn's log_loss."""
    from sklearn.metrics import log_loss

    return float(log_loss(labels, probabilities, labels=CLASSES))


def fit_temperature(labels, probabilities):
    """The temperature that minimises the NLL of `probabilities` (N, 10) for `labels` (N,).

    Searched on log T, within TEMPERATURE_BOUNDS, with scipy's bounded scalar minimiser.
    """
    from scipy.optimize import minimize_scalar

    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(lambda log_t: negative_log_likelihood(labels, calibrated(probabilities, np.exp(log_t))),
                             bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    return float(np.exp(result.x))


def reliability(labels, probabilities, bins=BINS):
    """The reliability diagram's numbers, by the top probability (the confidence of the digit read).

    Confidences fall into `bins` equal-width bins (lower, upper]; returns {"edges": bins + 1
    edges, "confidence": mean confidence per bin, "accuracy": share read right per bin (both
    NaN for an empty bin), "count": images per bin}.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")  # (lower, upper]: a confidence of 1 goes last
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):  # 0 / 0 in an empty bin: NaN
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return {"edges": edges, "confidence": mean_confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(labels, probabilities, bins=BINS):
    """Top-label ECE: the gap |accuracy - confidence| of each confidence bin, weighted by its share of images."""
    table = reliability(labels, probabilities, bins)
    filled = table["count"] > 0
    gaps = np.abs(table["accuracy"][filled] - table["confidence"][filled])
    return float(np.sum(gaps * table["count"][filled]) / np.sum(table["count"]))


def scores(labels, probabilities):
    """{"nll", "ece"} of probabilities (N, 10) for labels (N,)."""
    return {"nll": negative_log_likelihood(labels, probabilities),
            "ece": expected_calibration_error(labels, probabilities)}


def calibrate(labels, probabilities):
    """Fit a temperature on held-out (labels, probabilities): the record run.json keeps as "calibration".

    {"temperature", "images", "before": {"nll", "ece"}, "after": {"nll", "ece"}}, before and
    after measured on the very data it was fitted on. Never call it with the test set.
    """
    temperature = fit_temperature(labels, probabilities)
    return {
        "temperature": temperature,
        "images": int(len(labels)),
        "before": scores(labels, probabilities),
        "after": scores(labels, calibrated(probabilities, temperature)),
    }
