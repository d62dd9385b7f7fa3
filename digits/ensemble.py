"""Reading digits with one saved model or several: each calibrated, their probabilities averaged.

Each model reads with its run's temperature (T = 1 when its run stored none), and an ensemble's reading
is the mean of its models' calibrated probabilities; one model alone is an ensemble of one. With
test-time augmentation (TTA) each model is also averaged over TTA_COPIES of every image, its
temperature applied to each copy. An export (digits.runtimes) has its temperature inside its graph,
so none is applied to it again. TensorFlow loads only to read with Keras, SciPy only for TTA or a
temperature.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.calibration import calibrated
from digits.errors import InputError, first_line
from digits.files import check_model_format
from digits.export_folder import EXPORT_JSON, applied_temperature, fresh_export
from digits.run_folder import find_model_file, run_name, temperature_of
from digits.runtimes import SUFFIXES, ExportedModel, checked_export_file

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
    from scipy import ndimage

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
    """One model of an ensemble: the file read, the loaded model (a Keras model, or for an export a
    digits.runtimes.ExportedModel) and its run's temperature (None: none stored)."""

    model_file: Path
    model: object
    temperature: float | None
    exported: bool = False
    described: bool = True  # for an export: whether export.json beside it says which temperature it holds

    @property
    def name(self):
        return run_name(self.model_file)

    @property
    def applied_temperature(self):
        """The temperature the ensemble applies to this model's readings: 1 for an export, which has it inside."""
        return 1.0 if self.temperature is None or self.exported else self.temperature

    def read(self, inputs):
        """The model's probabilities (N, 10) of inputs (N, 28, 28, 1): an export's calibrated, a Keras model's not."""
        if self.exported:
            return self.model.probabilities(inputs)
        from digits.model import predict_probabilities

        return predict_probabilities(self.model, inputs)

    def describe_temperature(self):
        """E.g. "temperature 1.310, fitted on its validation slice", for what scripts print; for an export,
        what reads it too."""
        if not self.exported:
            return ("no temperature in its run (uncalibrated, T = 1)" if self.temperature is None
                    else f"temperature {self.temperature:.3f}, fitted on its validation slice")
        read_with = f"read with {self.model.runtime}"
        if not self.described:
            return f"an export with no {EXPORT_JSON} beside it to give its temperature, {read_with} as it is"
        if self.temperature is None:
            return f"no temperature in its run (uncalibrated, T = 1); {read_with}"
        return f"temperature {self.temperature:.3f}, fitted on its validation slice and applied inside the export; {read_with}"


def model_source(path, runtime="keras"):
    """The file a path gives to read with: an export (.onnx, .tflite) as it is, unless `runtime` is keras,
    else the model file of a run folder or model file (digits.run_folder.find_model_file)."""
    if Path(path).suffix in SUFFIXES and runtime != "keras":
        return checked_export_file(path, runtime)
    return find_model_file(path)


def distinct_model_files(paths, runtime="keras"):
    """The model file of each run folder or model file (or export, unless `runtime` is keras); InputError
    for none, or for one given twice."""
    model_files = [model_source(path, runtime) for path in paths]
    if not model_files:
        raise InputError("no model given to read with")
    resolved = [model_file.resolve() for model_file in model_files]
    for model_file, file in zip(model_files, resolved):
        if resolved.count(file) > 1:
            raise InputError(f"{model_file}: given twice; an ensemble's models must be different files")
    return model_files


def load_member(path, runtime="keras"):
    """A run folder or model file (or export) -> Member, read as `runtime` says (digits.export_folder.RUNTIMES; keras:
    as saved, exports refused); InputError, in one line, when it cannot be loaded."""
    model_file = model_source(path, runtime)  # a wrong path answers before TensorFlow loads
    if model_file.suffix in SUFFIXES:
        model = ExportedModel(model_file)
        described, temperature = applied_temperature(model_file)
        return Member(model_file, model, temperature, exported=True, described=described)
    temperature = temperature_of(model_file)
    export = fresh_export(model_file, runtime)
    if export is not None:
        return Member(export, ExportedModel(export), temperature, exported=True)
    check_model_format(model_file)  # a file cut short answers before TensorFlow loads
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


def keras_models(paths, ensemble):
    """The Keras model of each of the ensemble's models, made from `paths`: its own, or for a run read through
    its export, the run's (heat maps follow gradients, which an export has none of)."""
    from digits.model import load_trained_model

    return [load_trained_model(find_model_file(path)) if member.exported else member.model
            for path, member in zip(paths, ensemble.members, strict=True)]


class Ensemble:
    """One saved model or several, read together; made from run folders or model files (or exports), each read
    as `runtime` says (see load_member)."""

    def __init__(self, paths, runtime="keras"):
        self.members = [load_member(model_file, runtime) for model_file in distinct_model_files(paths, runtime)]

    @property
    def name(self):
        """The model file of one model, or 'FILE + FILE + ...' of several."""
        return " + ".join(str(member.model_file) for member in self.members)

    def temperatures(self):
        return [member.applied_temperature for member in self.members]

    def read_copies(self, inputs, tta=False):
        """Each model's probabilities of each copy of `inputs` (N, 28, 28, 1), uncalibrated but for an export's:
        one (copies, N, 10) array per model, one copy (the inputs themselves) without TTA."""
        copies = augmented_copies(inputs) if tta else np.asarray(inputs)[None]
        return [np.stack([member.read(copy) for copy in copies]) for member in self.members]

    def probabilities(self, inputs, tta=False):
        """Each model's calibrated probabilities (N, 10) of `inputs` and their average: (list, array)."""
        return combine(self.read_copies(inputs, tta), self.temperatures())

    def detectors(self):
        """Each model's not-a-digit detector (digits.not_a_digit.detector_of: kept in its run folder, fitted there on
        the run's data when there is none for this model file). InputError, saying why, when a model has none: it
        reads through an export, whose graph gives probabilities only, or it is not in a run folder that names its
        data."""
        from digits import not_a_digit

        detectors = []
        for member in self.members:
            run = member.model_file.parent
            if member.exported:
                raise InputError(f"{member.model_file}: an export gives probabilities only, not the features a "
                                 "not-a-digit verdict reads; read with --runtime keras for one")
            if not (run / "run.json").is_file():
                raise InputError(f"{member.model_file}: no run.json beside it to name the data its detector is fitted on")
            detectors.append(not_a_digit.detector_of(member.model_file, member.model))
        return detectors

    def digit_verdicts(self, inputs, detectors=None):
        """Whether each input (N, 28, 28, 1) looks like a digit at all: (scores, looks like a digit), by each
        model's not-a-digit detector, the majority deciding. One model's score is its detector's; several
        models' is the share of them that take the input for a digit, since each run's detector may read
        another score, on another scale. `detectors`: those of self.detectors(), by default looked up now
        (InputError, saying why, when a model has none); a caller reading again and again keeps them instead."""
        from digits import not_a_digit

        votes, scores = [], []
        for member, detector in zip(self.members, self.detectors() if detectors is None else detectors, strict=True):
            member_scores = detector.scores(not_a_digit.features_of(member.model, inputs))
            scores.append(member_scores)
            votes.append(member_scores >= detector.threshold)
        share = np.mean(votes, axis=0)
        return (scores[0] if len(scores) == 1 else share), share > 0.5
