"""Reading digits with one saved model or several: each calibrated, their probabilities averaged.

Each model reads with its own run's temperature (digits.calibration; T = 1, uncalibrated,
when its run stored none), and an ensemble's reading is the mean of its models' calibrated
probabilities: probabilities, not logits, are averaged, so each model counts as the
probabilities it stands behind. One model alone is an ensemble of one, whose reading is
that model's.

Test-time augmentation (TTA) reads every image as a few deterministic copies and averages
each model over them: the image itself, shifted one pixel up, down, left and right, and
rotated TTA_DEGREES either way about its centre (TTA_COPIES, in that order; the first copy
is always the image itself). A model's temperature is applied to each copy, as it was
fitted on single images, then the copies are averaged.

TensorFlow loads only when an Ensemble is made, so scripts that import this module still
answer --help at once.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from digits.calibration import calibrated, temperature_of
from digits.errors import InputError, first_line
from digits.runs import find_model_file

TTA_SHIFT = 1  # pixels
TTA_DEGREES = 8.0
# Each copy as (rows down, columns right, degrees anticlockwise); the image itself first.
TTA_COPIES = ((0, 0, 0.0), (-TTA_SHIFT, 0, 0.0), (TTA_SHIFT, 0, 0.0), (0, -TTA_SHIFT, 0.0), (0, TTA_SHIFT, 0.0),
              (0, 0, TTA_DEGREES), (0, 0, -TTA_DEGREES))


def augmented_copies(inputs):
    """The copies TTA reads of a batch of inputs (N, 28, 28, 1), one per TTA_COPIES: (copies, N, 28, 28, 1).

    Shifts move whole pixels in, filling with background (0); rotations interpolate
    bilinearly about the image's centre.
    """
    inputs = np.asarray(inputs)
    copies = []
    for rows, columns, degrees in TTA_COPIES:
        copy = ndimage.shift(inputs, (0, rows, columns, 0), order=0, cval=0.0) if rows or columns else inputs
        if degrees:
            copy = ndimage.rotate(copy, degrees, axes=(2, 1), reshape=False, order=1, cval=0.0)
        copies.append(copy)
    return np.stack(copies).astype(inputs.dtype, copy=False)


@dataclass
class Member:
    """One model of an ensemble: its file, the loaded model, and its run's temperature (None: none stored)."""

    model_file: Path
    model: object
    temperature: float | None

    @property
    def name(self):
        return run_name(self.model_file)

    @property
    def applied_temperature(self):
        return 1.0 if self.temperature is None else self.temperature

    def describe_temperature(self):
        """E.g. "temperature 1.310, fitted on its validation slice", for what scripts print."""
        if self.temperature is None:
            return "no temperature in its run (uncalibrated, T = 1)"
        return f"temperature {self.temperature:.3f}, fitted on its validation slice"


def run_name(model_file):
    """A model's short name: its run folder's name for a run's model.keras or model.h5, else the file's stem."""
    model_file = Path(model_file)
    in_a_run = model_file.name in ("model.keras", "model.h5") and model_file.parent.name
    return model_file.parent.name if in_a_run else model_file.stem


def distinct_model_files(paths):
    """The model file of each run folder or model file; InputError for none, or for one given twice."""
    model_files = [find_model_file(path) for path in paths]
    if not model_files:
        raise InputError("no model given to read with")
    resolved = [model_file.resolve() for model_file in model_files]
    for model_file, file in zip(model_files, resolved):
        if resolved.count(file) > 1:
            raise InputError(f"{model_file}: given twice; an ensemble's models must be different files")
    return model_files


def load_member(path):
    """A run folder or model file -> Member; InputError, in one line, when it cannot be loaded."""
    model_file = find_model_file(path)  # a wrong path answers before TensorFlow loads
    temperature = temperature_of(model_file)
    from digits.model import load_trained_model

    try:
        model = load_trained_model(model_file)
    except OSError as error:  # unreadable (permissions, a folder gone meanwhile)
        raise InputError(f"{model_file}: cannot be read ({error.strerror or first_line(error)})") from None
    return Member(model_file, model, temperature)


def combine(copies, temperatures):
    """Each model's probabilities and their average from each model's uncalibrated readings of each copy.

    copies: one (copies, N, 10) array per model; temperatures: one per model (1: uncalibrated).
    Returns (list of (N, 10) arrays, (N, 10) array).
    """
    each = [calibrated(read, temperature).mean(axis=0) for read, temperature in zip(copies, temperatures, strict=True)]
    return each, np.mean(each, axis=0)


class Ensemble:
    """One saved model or several, read together; made from run folders or model files."""

    def __init__(self, paths):
        self.members = [load_member(model_file) for model_file in distinct_model_files(paths)]

    @property
    def name(self):
        """The model file of one model, or 'FILE + FILE + ...' of several."""
        return " + ".join(str(member.model_file) for member in self.members)

    def temperatures(self):
        return [member.applied_temperature for member in self.members]

    def read_copies(self, inputs, tta=False):
        """Each model's uncalibrated probabilities of each copy of `inputs` (N, 28, 28, 1): one
        (copies, N, 10) array per model, one copy (the inputs themselves) without TTA."""
        from digits.model import predict_probabilities

        copies = augmented_copies(inputs) if tta else np.asarray(inputs)[None]
        return [np.stack([predict_probabilities(member.model, copy) for copy in copies]) for member in self.members]

    def probabilities(self, inputs, tta=False):
        """Each model's calibrated probabilities (N, 10) of `inputs` and their average: (list, array)."""
        return combine(self.read_copies(inputs, tta), self.temperatures())
