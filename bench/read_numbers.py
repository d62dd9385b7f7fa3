"""How well `add_own_digits.py predict --number` reads handwritten numbers, beside Tesseract on the same images.

    PYTHONPATH=.:bench python bench/read_numbers.py --model models/cnn --count 300

Numbers are composed (digits.composed) from MNIST's test digits, never its training digits, with
varied gaps, size, baseline, slope and stroke, and rendered as scans or as photos (larger,
unevenly lit, blurred, noisy, JPEG, some light on dark); also from scikit-learn's 8x8 digits,
other writers, upscaled. Each kind's images are written as PNG and JPEG files and read by the
real command (`predict --number --json`) and by Tesseract (digits only, one line:
`tesseract --psm 7 -c tessedit_char_whitelist=0123456789`).

Whole-number accuracy counts a number right only if every digit is, none missing, none extra
(with its 95% interval); digit accuracy is 1 - the character error rate (edit distance over the
true length). `--digits validation` composes from MNIST's validation slice instead: the number
reader's settings are chosen there, never on the test digits.
"""

import argparse
from pathlib import Path
import json
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from digits.composed import SPACINGS, numbers, render, scale_box
from digits.data import load_mnist, split_point

# (name, digits' source, lengths, spacing, rendering)
KINDS = (
    ("4 digits, separated, scan", "mnist", 4, "separated", "scan"),
    ("4 digits, separated, photo", "mnist", 4, "separated", "photo"),
    ("2 digits, touching, scan", "mnist", 2, "touching", "scan"),
    ("2 digits, touching, photo", "mnist", 2, "touching", "photo"),
    ("2 digits, overlapping, scan", "mnist", 2, "overlapping", "scan"),
    ("2-8 digits, any spacing, scan", "mnist", (2, 8), SPACINGS, "scan"),
    ("4 digits, separated, scan (sklearn)", "sklearn", 4, "separated", "scan"),
    ("2 digits, touching, scan (sklearn)", "sklearn", 2, "touching", "scan"),
)
TESSERACT = ["--psm", "7", "-c", "tessedit_char_whitelist=0123456789"]


def digit_sources(which):
    """{"mnist": (images, labels), "sklearn": (images, labels)}: MNIST's test digits or its validation slice,
    and scikit-learn's digits brought to 28x28 bright ink on black."""
    from PIL import Image
    from sklearn.datasets import load_digits

    (train_images, train_labels), (test_images, test_labels) = load_mnist()
    cut = split_point(len(train_images), 0.1)
    mnist = (test_images, test_labels) if which == "test" else (train_images[cut:], train_labels[cut:])
    small = load_digits()
    upscaled = np.stack([np.asarray(Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((24, 24), Image.Resampling.BICUBIC))
                         for image in small.images])
    return {"mnist": mnist, "sklearn": (np.pad(upscaled, ((0, 0), (2, 2), (2, 2))), small.target)}


def read_with_toolkit(files, models):
    """The number `predict --number --json` reads in each file ("" where it read none)."""
    script = Path(__file__).resolve().parent.parent / "add_own_digits.py"
    model_flags = [flag for model in models for flag in ("--model", model)]
    command = [sys.executable, str(script), "predict", "--number", "--json", *model_flags, *files]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode not in (0, 2):
        sys.exit(f"{' '.join(command[:6])} ... failed:\n{result.stderr[-2000:]}")
    read = {row["file"]: row["number"] for row in map(json.loads, result.stdout.splitlines())}
    return [read.get(path, "") for path in files]


def read_with_tesseract(files, folder):
    """What Tesseract reads in each file, all in one run of it (a list file), pages split at form feeds."""
    listing = Path(folder) / "files.txt"
    listing.write_text("\n".join(files) + "\n")
    output = subprocess.run(["tesseract", str(listing), "stdout", *TESSERACT], capture_output=True, text=True).stdout
    pages = output.split("\f")
    if len(pages) < len(files):  # a page that gave nothing may lose its separator: read one by one instead
        pages = [subprocess.run(["tesseract", path, "stdout", *TESSERACT], capture_output=True, text=True).stdout
                 for path in files]
    return ["".join(character for character in page if character.isdigit()) for page in pages[:len(files)]]


def edit_distance(read, truth):
    row = list(range(len(truth) + 1))
    for i, character in enumerate(read, 1):
        previous, row[0] = row[0], i
        for j, true_character in enumerate(truth, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (character != true_character))
    return row[-1]


def scores(read, truths):
    """Whole-number accuracy, its 95% interval's half width, and digit accuracy (1 - character error rate)."""
    whole = np.mean([r == t for r, t in zip(read, truths)])
    errors = sum(edit_distance(r, t) for r, t in zip(read, truths)) / sum(len(t) for t in truths)
    return whole, 1.96 * np.sqrt(whole * (1 - whole) / len(truths)), max(0.0, 1 - errors)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, action="append", help="a run folder or model file; again for an ensemble")
    parser.add_argument("--count", type=int, default=300, help="numbers of each kind (default: %(default)s)")
    parser.add_argument("--digits", choices=("test", "validation"), default="test",
                        help="compose from MNIST's test digits (default) or its validation slice")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--no-tesseract", action="store_true", help="leave Tesseract out")
    parser.add_argument("--kinds", help="only the kinds whose name contains this text")
    parser.add_argument("--keep", help="also copy the images into this folder")
    parser.add_argument("--true-boxes", action="store_true",
                        help="also read each digit alone at its true box: what a perfect cut would give")
    args = parser.parse_args()

    tesseract = not args.no_tesseract and shutil.which("tesseract")
    if not args.no_tesseract and not tesseract:
        sys.exit("tesseract not found: apt-get install tesseract-ocr, or --no-tesseract")
    kinds = [kind for kind in KINDS if not args.kinds or args.kinds in kind[0]]
    print(f"{args.count} numbers of each kind from MNIST {args.digits} digits (seed {args.seed}), "
          f"model {' + '.join(args.model)}")
    print(f"{'kind':38} {'ours: numbers':>17} {'digits':>8}" + (f" {'Tesseract: numbers':>20} {'digits':>8}" if tesseract else "")
          + (f" {'true boxes: numbers':>20} {'digits':>8}" if args.true_boxes else ""))
    for name, ours, theirs, perfect_cuts in measure(kinds, digit_sources(args.digits), args.model, args.count,
                                                    args.seed, bool(tesseract), args.keep, args.true_boxes):
        line = f"{name:38} {ours[0]:>9.1%} ± {ours[1]:.1%} {ours[2]:>8.1%}"
        for other in (theirs, perfect_cuts):
            if other:
                line += f" {other[0]:>12.1%} ± {other[1]:.1%} {other[2]:>8.1%}"
        print(line, flush=True)


def measure(kinds, sources, models, count, seed, tesseract=True, keep=None, true_boxes=False):
    """For each kind: its name, our scores, Tesseract's (None without it) and, with `true_boxes`, the scores of
    each digit read alone at its true box (else None), as `scores` gives them."""
    for index, (name, source, lengths, spacing, rendering) in enumerate(kinds):
        rng = np.random.default_rng([seed, KINDS.index((name, source, lengths, spacing, rendering))])
        images, labels = sources[source]
        with tempfile.TemporaryDirectory() as folder:
            files, truths, boxes = [], [], []
            for number, composed in enumerate(numbers(images, labels, count, lengths, spacing, rng)):
                image = render(composed, rendering, rng)
                path = Path(folder) / f"{index}-{number:04d}-{composed.text}.{'jpg' if rendering == 'photo' else 'png'}"
                image.save(path)
                files.append(str(path))
                truths.append(composed.text)
                boxes.append([scale_box(box, composed, image) for box in composed.boxes])
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                for path in files:
                    shutil.copy(path, keep)
            ours = scores(read_with_toolkit(files, models), truths)
            theirs = scores(read_with_tesseract(files, folder), truths) if tesseract else None
            perfect_cuts = scores(read_at_true_boxes(files, boxes, models), truths) if true_boxes else None
        yield name, ours, theirs, perfect_cuts


def read_at_true_boxes(files, boxes, models, margin=0.1):
    """The number read from each digit's true box, each crop (with a margin of paper, and whatever ink of a
    neighbour falls in it) read alone as `predict` reads one digit: what a perfect cut would give."""
    from PIL import Image

    from digits.data import to_inputs
    from digits.ensemble import Ensemble
    from digits.own_digits import to_mnist_format

    crops, owners = [], []
    for owner, (path, number_boxes) in enumerate(zip(files, boxes)):
        with Image.open(path) as image:
            for left, top, right, bottom in number_boxes:
                pad = round(margin * (bottom - top))
                crops.append(to_mnist_format(image.crop((left - pad, top - pad, right + pad, bottom + pad))))
                owners.append(owner)
    _, probabilities = Ensemble(models).probabilities(to_inputs(np.stack(crops)))
    read = [""] * len(files)
    for owner, digit in zip(owners, probabilities.argmax(axis=1)):
        read[owner] += str(digit)
    return read


if __name__ == "__main__":
    main()
