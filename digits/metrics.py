"""The report's section 4 scores from labels and predicted probabilities, computed with scikit-learn.

Averages follow scikit-learn's definitions, not the report's printed formula: the micro average pools
every (image, digit) decision into one binary problem, the macro average is the mean of the ten
per-digit AUCs, and the macro ROC curve averages the per-digit TPRs on a common FPR grid.
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    auc,
    average_precision_score,
    classification_report,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
    top_k_accuracy_score,
)
from sklearn.preprocessing import label_binarize

from digits import calibration
from digits.config import NUM_CLASSES

CLASSES = list(range(NUM_CLASSES))


def summary_scores(labels, probabilities):
    """Test loss, accuracy, top-2 accuracy and the number of errors."""
    predicted = probabilities.argmax(axis=1)
    return {
        "images": int(len(labels)),
        "loss": calibration.negative_log_likelihood(labels, probabilities),
        "accuracy": float(accuracy_score(labels, predicted)),
        "top2_accuracy": float(top_k_accuracy_score(labels, probabilities, k=2, labels=CLASSES)),
        "errors": int((predicted != labels).sum()),
    }


def classification_report_of(labels, probabilities):
    """scikit-learn's classification report: (printable text, dict) with 4 decimals in the text."""
    predicted = probabilities.argmax(axis=1)
    names = [str(digit) for digit in CLASSES]
    text = classification_report(labels, predicted, labels=CLASSES, target_names=names, digits=4, zero_division=0)
    values = classification_report(
        labels, predicted, labels=CLASSES, target_names=names, output_dict=True, zero_division=0
    )
    return text, values


def roc_curves(labels, probabilities):
    """One-vs-rest ROC curve per digit, plus micro and macro averages, each with its AUC.

    Returns {name: {"fpr", "tpr", "auc"}} with names "0".."9", "micro", "macro".
    """
    onehot = label_binarize(labels, classes=CLASSES)
    curves = {}
    for digit in CLASSES:
        fpr, tpr, _ = roc_curve(onehot[:, digit], probabilities[:, digit])
        curves[str(digit)] = {"fpr": fpr, "tpr": tpr, "auc": float(auc(fpr, tpr))}
    fpr, tpr, _ = roc_curve(onehot.ravel(), probabilities.ravel())
    curves["micro"] = {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(onehot, probabilities, average="micro"))}
    fpr_grid = np.unique(np.concatenate([curves[str(digit)]["fpr"] for digit in CLASSES]))
    mean_tpr = np.mean([np.interp(fpr_grid, curves[str(d)]["fpr"], curves[str(d)]["tpr"]) for d in CLASSES], axis=0)
    curves["macro"] = {"fpr": fpr_grid, "tpr": mean_tpr, "auc": float(roc_auc_score(onehot, probabilities, average="macro"))}
    return curves


def precision_recall_curves(labels, probabilities):
    """Precision-recall curve and average precision per digit, plus the micro average.

    Returns {name: {"precision", "recall", "average_precision"}} with names "0".."9", "micro".
    """
    onehot = label_binarize(labels, classes=CLASSES)
    curves = {}
    for digit in CLASSES:
        precision, recall, _ = precision_recall_curve(onehot[:, digit], probabilities[:, digit])
        ap = average_precision_score(onehot[:, digit], probabilities[:, digit])
        curves[str(digit)] = {"precision": precision, "recall": recall, "average_precision": float(ap)}
    precision, recall, _ = precision_recall_curve(onehot.ravel(), probabilities.ravel())
    ap = average_precision_score(onehot, probabilities, average="micro")
    curves["micro"] = {"precision": precision, "recall": recall, "average_precision": float(ap)}
    return curves


def mistakes(labels, probabilities):
    """The misclassified images, most confident first: [{"index", "true", "predicted", "confidence"}]."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")]
    return [
        {
            "index": int(i),
            "true": int(labels[i]),
            "predicted": int(predicted[i]),
            "confidence": float(probabilities[i, predicted[i]]),
        }
        for i in order
    ]


def metrics_of(labels, probabilities):
    """Every score as JSON-ready values, the classification report's text, and the curves for the figures:
    (numbers, text, roc, pr)."""
    text, per_digit = classification_report_of(labels, probabilities)
    roc = roc_curves(labels, probabilities)
    pr = precision_recall_curves(labels, probabilities)
    numbers = {
        "test": summary_scores(labels, probabilities),
        "classification_report": per_digit,
        "roc_auc": {name: curve["auc"] for name, curve in roc.items()},
        "average_precision": {name: curve["average_precision"] for name, curve in pr.items()},
        "confusion_matrix": confusion_matrix(labels, probabilities.argmax(axis=1), labels=CLASSES).tolist(),
        "misclassified": mistakes(labels, probabilities),
    }
    return numbers, text, roc, pr


def calibration_scores(labels, uncalibrated, calibrated):
    """One reading's accuracy and errors (of the calibrated probabilities, the ones read with) and its
    NLL and ECE before and after calibration: {"accuracy", "errors", "before": {"nll", "ece"}, "after": {...}}."""
    predicted = calibrated.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "errors": int((predicted != labels).sum()),
        "before": calibration.scores(labels, uncalibrated),
        "after": calibration.scores(labels, calibrated),
    }
