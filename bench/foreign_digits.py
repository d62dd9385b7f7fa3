"""Handwriting by writers not in MNIST: how well saved models read digits that MNIST's writers did not write.

    python bench/foreign_digits.py --model models/cnn
    python bench/foreign_digits.py --model models/cnn-seed1 --model models/cnn-seed2 --ensemble
    python bench/foreign_digits.py --model models/cnn --folder ~/digits --json results/foreign_digits.json

Reads scikit-learn's bundled digits (sklearn.datasets.load_digits: 1,797 digits of 8x8
pixels, values 0-16, a copy of the test set of UCI's Optical Recognition of Handwritten
Digits, written by other people than MNIST's) and, with --folder, any labelled folder of
digit images in the layout `add_own_digits.py` reads (<folder>/<digit>/*.png). Every digit
goes the way a person's photo goes through `add_own_digits.py predict`: each 8x8 image is
drawn dark on white, upscaled to UPSCALED pixels a side with bilinear interpolation and
given a white margin of MARGIN pixels, then brought into MNIST's format by
digits.own_digits.to_mnist_format; a folder's files are read by read_digit_image, as
predict reads them. Each model reads with its run's temperature (uncalibrated without one);
prints accuracy per digit and overall, and the expected calibration error, for each model
side by side, and with --ensemble for the mean of their calibrated probabilities too.

This set is for measuring only, never for making choices: choose a model, a setting or a
number of epochs by how well it reads these digits, and they stop measuring how it reads
writers it has never seen; make choices on a validation slice of the training data.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse

import numpy as np
from PIL import Image, ImageOps

from digits import cli
from digits.data import to_inputs
from digits.errors import InputError
from digits.files import write_json
from digits.own_digits import read_digit_folders, to_mnist_format

UPSCALED = 64  # pixels a side of an 8x8 digit once upscaled, as a photo of it might be
MARGIN = 16  # white paper around it
SKLEARN_DIGITS = "scikit-learn's digits"


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, action="append", metavar="RUN",
                        help="a run folder or a .keras/.h5 model; give it several times to compare models side by side")
    parser.add_argument("--ensemble", action="store_true",
                        help="also read with the mean of the models' calibrated probabilities (two or more --model)")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation (see digits/ensemble.py)")
    parser.add_argument("--folder", action="append", default=[], metavar="DIR",
                        help="also read a labelled folder of digit images, DIR/<digit>/*; may be given several times")
    parser.add_argument("--json", metavar="FILE", help="write every number to FILE as JSON")
    return parser


def as_photo(small):
    """One 8x8 scikit-learn digit (values 0-16) as a person's image of it: dark ink on white paper,
    UPSCALED pixels a side (bilinear), with a MARGIN of white around it."""
    grey = Image.fromarray(np.round(255 - small * (255 / 16)).astype(np.uint8))
    upscaled = grey.resize((UPSCALED, UPSCALED), Image.Resampling.BILINEAR)
    return ImageOps.expand(upscaled, border=MARGIN, fill=255)


def sklearn_digits():
    """scikit-learn's 1,797 digits in MNIST's format, through as_photo and to_mnist_format: (images, labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = []
    for i, small in enumerate(digits.images):
        try:
            images.append(to_mnist_format(as_photo(small)))
        except InputError as error:
            raise InputError(f"{SKLEARN_DIGITS}, image {i}: {error}") from None
    return np.stack(images), digits.target.astype(np.uint8)


def sources(folders):
    """{name: (images, labels)}: scikit-learn's digits, then each folder that holds a usable image."""
    result = {SKLEARN_DIGITS: sklearn_digits()}
    for folder in folders:
        found = read_digit_folders(folder)
        for reason in found.skipped:
            print(f"skipped {reason}")
        if not len(found.labels):
            raise InputError(f"{folder}: no usable digit images in <digit>/ folders")
        result[folder] = (found.images, found.labels)
    return result


def column_names(ensemble, with_ensemble):
    """Each model's run name (its file where two share one), and 'ensemble of N' when asked."""
    names = [member.name for member in ensemble.members]
    if len(set(names)) < len(names):
        names = [str(member.model_file) for member in ensemble.members]
    return names + ([f"ensemble of {len(names)}"] if with_ensemble else [])


def scores(labels, probabilities):
    """{"accuracy", "per_digit": {digit: accuracy, None without images}, "ece"} of one reading."""
    from sklearn.metrics import accuracy_score, recall_score

    from digits.calibration import expected_calibration_error

    predicted = probabilities.argmax(axis=1)
    per_digit = recall_score(labels, predicted, labels=range(10), average=None, zero_division=np.nan)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "per_digit": {str(digit): None if np.isnan(value) else float(value) for digit, value in enumerate(per_digit)},
        "ece": expected_calibration_error(labels, probabilities),
    }


def percent(value):
    return "–" if value is None else f"{value:.2%}"


def print_table(name, labels, readings):
    """Accuracy per digit and overall, and the ECE, one column per reading."""
    width = max(12, *(len(column) for column in readings))
    print(f"\n{name}: {len(labels):,} images")
    print(f"{'digit':<6}{'images':>7}" + "".join(f"{column:>{width + 2}}" for column in readings))
    for digit in range(10):
        cells = "".join(f"{percent(score['per_digit'][str(digit)]):>{width + 2}}" for score in readings.values())
        print(f"{digit:<6}{int((labels == digit).sum()):>7,}{cells}")
    print(f"{'all':<6}{len(labels):>7,}" + "".join(f"{percent(score['accuracy']):>{width + 2}}" for score in readings.values()))
    print(f"{'ECE':<13}" + "".join(f"{percent(score['ece']):>{width + 2}}" for score in readings.values()))


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.ensemble and len(args.model) < 2:
        raise InputError("--ensemble needs two or more --model: one model alone is its own ensemble")

    from digits.ensemble import Ensemble

    ensemble = Ensemble(args.model)
    for member in ensemble.members:
        print(f"Model {member.model_file}: {member.describe_temperature()}")
    columns = column_names(ensemble, args.ensemble)
    results = {}
    for name, (images, labels) in sources(args.folder).items():
        each, average = ensemble.probabilities(to_inputs(images), tta=args.tta)
        readings = dict(zip(columns, [*each, average] if args.ensemble else each))
        results[name] = {"images": int(len(labels)),
                         "readings": {column: scores(labels, read) for column, read in readings.items()}}
        print_table(name, labels, results[name]["readings"])
    if args.json:
        from digits.hardware import provenance

        write_json(args.json, {
            "models": [{"model": str(member.model_file), "temperature": member.temperature}
                       for member in ensemble.members],
            "test_time_augmentation": args.tta, "conversion": {"upscaled": UPSCALED, "margin": MARGIN},
            "sources": results, "provenance": provenance(),
        })
        print(f"\nSaved {args.json}")
    return 0


if __name__ == "__main__":
    cli.run(main)
