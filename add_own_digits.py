"""Teach the network your own handwritten digits, and let it read them.

train (the default) adds your labelled images in data/train/<digit>/ to MNIST's
training set; predict reads image files with saved models; draw serves a local
page to draw digits, watch the network read them and save them
(docs/own-digits.md).

    python add_own_digits.py --repeat 20           # a new model, MNIST + yours
    python add_own_digits.py --model models/cnn --fine-tune-epochs 3
    python add_own_digits.py predict --model models/cnn my_seven.png
    python add_own_digits.py predict --number --model models/cnn year.jpg
    python add_own_digits.py draw --model models/cnn --open
"""

from dataclasses import replace
import json
from pathlib import Path
import sys

import numpy as np

from digits import cli
from digits.config import load_config
from digits.data import load_dataset, to_inputs
from digits.errors import InputError
from digits.files import check_model_format, short_path
from digits.export_folder import RUNTIMES
from digits.own_digits import open_image, read_digit_folders, read_digit_image, thumbnail
from digits.run_folder import DEFAULT_RUN, OWN_DIGITS_RUN, RunFolder, find_model_file
from digits.runtimes import SUFFIXES

FINE_TUNE_EPOCHS = 3
# What a saved model brings with it when training continues from it (--model): flags that set
# these are refused there rather than silently dropped.
KEPT_BY_A_SAVED_MODEL = ("filters", "kernel_size", "pool_size", "dropout", "batch_norm", "optimizer", "label_smoothing")


def build_parser():
    parser = cli.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="train (the default when none is named), predict or draw")
    add_train_arguments(commands.add_parser(
        "train", help="train on MNIST plus your digits, or continue a saved model on them",
        usage="%(prog)s [--model RUN] [--train-dir DIR] [options]",
        description="Train on MNIST plus your digits, or continue a saved model (--model) on them;\n"
        "print the accuracy on MNIST's test set and on your validation images, before and\nafter."))
    add_predict_arguments(commands.add_parser(
        "predict", help="read digits from image files with a saved model",
        description="Read digits from image files with saved models, calibrated;\n"
        "with several --model, their ensemble."))
    add_draw_arguments(commands.add_parser(
        "draw", help="a local page to draw digits, watch the network read them, and save them",
        description="Serve a local page to draw digits, watch the network read them, and save them\n"
        "as training data."))
    return parser


def add_train_arguments(parser):
    own = parser.add_argument_group("your digits")
    own.add_argument("--train-dir", default="data/train", metavar="DIR", help="training images in DIR/<digit>/ (default: %(default)s)")
    own.add_argument("--validation-dir", default="data/validation", metavar="DIR", help="validation images in DIR/<digit>/ (default: %(default)s)")
    own.add_argument("--repeat", type=cli.positive_int, default=1, metavar="K", help="add each of your training images K times (default: %(default)s)")
    own.add_argument("--model", metavar="RUN", help="continue training this saved model, with its run.json's settings")
    own.add_argument("--fine-tune-epochs", type=cli.positive_int, metavar="K",
                     help=f"epochs when continuing a --model (default: {FINE_TUNE_EPOCHS})")
    cli.add_data_arguments(parser)
    cli.add_model_arguments(parser)
    cli.add_training_arguments(parser)
    cli.add_recipe_arguments(parser, presets=False)
    output = parser.add_argument_group("output")
    output.add_argument("--out", default=OWN_DIGITS_RUN, metavar="DIR", help="run folder to write (default: %(default)s)")
    output.add_argument("--overwrite", action="store_true", help="replace the finished run in --out")
    output.add_argument("--figures", metavar="DIR", help="folder for the figure of your digits (default: --out)")


def add_predict_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE", help="PNG or JPEG images, one digit each (with --number, "
                        "one number each)")
    parser.add_argument("--number", action="store_true",
                        help="read every digit of a handwritten number in each image, left to right")
    parser.add_argument("--model", required=True, action="append", metavar="RUN",
                        help="a run folder, .keras/.h5 or .onnx/.tflite model; again for an ensemble")
    add_runtime_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per file (with --number: its digits, "
                        "their boxes and probabilities)")
    parser.add_argument("--saliency", metavar="DIR",
                        help="also write DIR/<file>.png: where the evidence for the digit read and the runner-up "
                        "lies (with the run's Keras model)")


def add_runtime_argument(parser):
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="auto (default): a run's fresh export, else its Keras model; or only that one")


def add_draw_arguments(parser):
    parser.add_argument("--model", action="append", metavar="RUN",
                        help=f"a run folder, .keras/.h5 or .onnx/.tflite model (default: {DEFAULT_RUN}); again for an ensemble")
    add_runtime_argument(parser)
    parser.add_argument("--runs-dir", metavar="DIR", help="run folders the page can switch to (default: --model's parent)")
    parser.add_argument("--data-dir", default="data", metavar="DIR", help="drawings go to DIR/train/ and DIR/validation/ (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")


def with_default_command(argv):
    """`add_own_digits.py --model RUN` means `add_own_digits.py train --model RUN`."""
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        return ["train", *argv]
    return argv


def print_folder(name, folder):
    for reason in folder.skipped:
        print(f"skipped {reason}")
    counts = "  ".join(f"{digit}: {count}" for digit, count in folder.counts().items())
    print(f"{name}: {len(folder.labels)} image(s) read ({counts})")


def accuracy_line(label, model_scores):
    return f"{label}: " + ", ".join(f"{name} {score:.2%}" for name, score in model_scores.items())


def scores(model, dataset, own_validation):
    """Accuracy on MNIST's test set and on the person's validation images, separately."""
    from digits.model import predict_probabilities

    result = {}
    for name, images, labels in (("MNIST test", dataset.test_images, dataset.test_labels),
                                 ("your validation images", own_validation.images, own_validation.labels)):
        if len(labels):
            predicted = predict_probabilities(model, to_inputs(images)).argmax(axis=1)
            result[name] = float(np.mean(predicted == labels))
    return result


def training_config(args):
    """The RunConfig of the training: a new model's from the flags, or a continued model's from its
    run.json with the flags given over it. A flag that cannot apply to a saved model is refused."""
    given = cli.given_settings(args)
    if not args.model:
        if args.fine_tune_epochs is not None:
            raise InputError("--fine-tune-epochs goes with --model; a new model trains for --epochs")
        return cli.config_from(args), None
    if "epochs" in given:
        raise InputError("--epochs is for a new model; a continued --model trains for --fine-tune-epochs")
    for name in KEPT_BY_A_SAVED_MODEL:
        if name in given:
            raise InputError(f"--{name.replace('_', '-')} cannot change a saved model (--model keeps its network "
                             "and optimizer); leave it out, or train a new model without --model")
    model_file = find_model_file(args.model)
    saved = RunFolder(model_file.parent).run_json
    config = cli.config_from(args, base=load_config(saved) if saved.is_file() else None)
    return replace(config, epochs=args.fine_tune_epochs or FINE_TUNE_EPOCHS), model_file


def train_main(args):
    config, model_file = training_config(args)
    run = RunFolder(args.out)
    run.refuse_to_replace(args.overwrite)
    own_train, own_validation = read_digit_folders(args.train_dir), read_digit_folders(args.validation_dir)
    print_folder(args.train_dir, own_train)
    print_folder(args.validation_dir, own_validation)
    skipped = len(own_train.skipped) + len(own_validation.skipped)
    if not len(own_train.labels) and not len(own_validation.labels):
        raise InputError(f"no usable images in {args.train_dir} or {args.validation_dir} ({skipped} skipped)")
    dataset = load_dataset(config.data, config.limit)
    if model_file:
        check_model_format(model_file)  # before TensorFlow loads
    training_set = dataset.with_extra_training(np.repeat(own_train.images, args.repeat, axis=0),
                                               np.repeat(own_train.labels, args.repeat))

    from digits import training
    from digits.model import load_trained_model

    before = scores(load_trained_model(model_file), dataset, own_validation) if model_file else None
    if before:
        print(accuracy_line(f"Before ({model_file})", before))
    result = training.train(config, training_set, start_from=model_file, tensorboard=run.tensorboard)
    result.raise_if_diverged()
    after = scores(result.model, dataset, own_validation)
    record = result.record()
    record["own_digits"] = {
        "train_dir": args.train_dir, "validation_dir": args.validation_dir, "repeat": args.repeat,
        "train_counts": own_train.counts(), "validation_counts": own_validation.counts(),
        "skipped": own_train.skipped + own_validation.skipped, "continued_from": args.model,
    }
    record["accuracy_before"], record["accuracy_after"] = before, after
    run.save(result.model, record)
    figure = save_own_digits_figure(result.model, own_train, own_validation, args, run)
    print(f"Saved {run.model_keras}, {run.model_h5.name}, {run.run_json.name}; figure {figure}")
    print(accuracy_line("After", after))
    if skipped:
        print(f"{skipped} file(s) or folder(s) skipped")
    print(f"Read with it: python add_own_digits.py draw --model {run.path} (or choose {run.path.name} in the "
          "draw page's list of runs)")
    return 0


def save_own_digits_figure(model, own_train, own_validation, args, run):
    """The person's validation images (else training images) as given and as read by the trained model."""
    from digits import plots
    from digits.model import predict_probabilities

    shown, name, folder = ((own_validation, "validation", args.validation_dir) if len(own_validation.labels)
                           else (own_train, "training", args.train_dir))
    probabilities = predict_probabilities(model, to_inputs(shown.images))
    count = min(len(shown.labels), plots.OWN_DIGITS_SHOWN)
    return plots.save_own_digits(
        [thumbnail(path) for path in shown.paths[:count]], shown.images, shown.labels, probabilities,
        f"{args.figures or run.path}/own_digits.png",
        f"Your {name} images ({short_path(folder)}, {count} of {len(shown.labels)}): "
        f"as given and as {short_path(run.path)} reads them",
    )


def predict_main(args):
    from digits.ensemble import Ensemble, model_source  # TensorFlow loads only to read with Keras

    model_files = [model_source(path, args.runtime) for path in args.model]
    if args.saliency:
        check_saliency_flag(args)
    read = read_number_line if args.number else read_digit_image
    readable, read_files = readable_images(args.files, read)
    ensemble = Ensemble(model_files, args.runtime)
    print_models(ensemble, file=sys.stderr)  # stderr: --json keeps stdout to one object a line
    if args.number:
        print_numbers(ensemble, readable, read_files, args.json)
    else:
        print_digits(ensemble, np.stack(readable), read_files, args)
    if len(read_files) < len(args.files):
        print(f"{len(args.files) - len(read_files)} file(s) skipped", file=sys.stderr)
    return 0


def read_number_line(path):
    """One image file -> its line of ink, cut into parts (digits.numbers.find_line); InputError naming the file."""
    from digits.numbers import find_line

    image = open_image(path)
    try:
        return find_line(image)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def readable_images(files, read):
    """What `read` makes of each file that it can read, and those files. A file it cannot read is skipped with
    its reason on stderr; InputError when none can be: the one file's reason, or a count of them."""
    images, readable = [], []
    for path in files:
        try:
            images.append(read(path))
            readable.append(path)
        except InputError as error:
            if len(files) == 1:
                raise
            print(f"skipped {error}", file=sys.stderr)
    if not images:
        raise InputError(f"none of the {len(files)} file(s) could be read")
    return images, readable


def print_digits(ensemble, images, files, args):
    """One line (or JSON object) per file of one digit: the digit read, the runner-up, and whether it looks like a
    digit at all; heat maps with --saliency."""
    _, probabilities = ensemble.probabilities(to_inputs(images))
    digit_scores, looks_like_a_digit = digit_verdicts(ensemble, to_inputs(images))
    if args.saliency:
        written = save_heat_maps(ensemble, args.model, images, files, probabilities, args.saliency)
        print(f"Saved {len(written)} heat map figure(s) in {args.saliency}/", file=sys.stderr)
    for path, row, score, is_digit in zip(files, probabilities, digit_scores, looks_like_a_digit):
        best, second = np.argsort(-row)[:2]
        if args.json:
            print(json.dumps({"file": str(path), "digit": int(best), "probability": round(float(row[best]), 6),
                              "runner_up": int(second), "runner_up_probability": round(float(row[second]), 6),
                              **verdict_fields(score, is_digit)}))
        else:
            verdict = "" if score is None or is_digit else f"not a digit (digit score {score:.3f}); "
            print(f"{path}: {verdict}{best} ({row[best]:.1%}), runner-up {second} ({row[second]:.1%})")


def print_numbers(ensemble, lines, files, as_json):
    """One line (or JSON object) per file of a number: the number read and each digit's probability, a digit that
    does not look like one marked, the pieces left out as too small to be digits counted."""
    from digits.numbers import read_line

    numbers = [read_line(line, lambda inputs: ensemble.probabilities(inputs)[1]) for line in lines]
    pixels = to_inputs(np.stack([digit.pixels for number in numbers for digit in number.digits]))
    ends = np.cumsum([len(number.digits) for number in numbers])
    verdicts = [np.split(np.asarray(each), ends[:-1]) for each in digit_verdicts(ensemble, pixels)]
    for path, number, scores, looks_like_a_digit in zip(files, numbers, *verdicts):
        if as_json:
            digits = [{"digit": digit.digit, "probability": round(digit.probability, 6), "box": list(digit.box),
                       "probabilities": [round(float(p), 6) for p in digit.probabilities], **verdict_fields(score, is_digit)}
                      for digit, score, is_digit in zip(number.digits, scores, looks_like_a_digit)]
            print(json.dumps({"file": str(path), "number": number.text, "digits": digits,
                              "left_out": [list(box) for box in number.left_out]}))
            continue
        each = ", ".join(f"{digit.digit} {digit.probability:.1%}" + ("" if is_digit in (None, True) else " (not a digit?)")
                         for digit, is_digit in zip(number.digits, looks_like_a_digit))
        left_out = f"; {len(number.left_out)} mark(s) too small for digits left out" if number.left_out else ""
        print(f"{path}: {number.text} ({each}){left_out}")


def verdict_fields(score, is_digit):
    """What --json says of whether an input looks like a digit: nothing when the models have no detector."""
    return {} if score is None else {"looks_like_a_digit": bool(is_digit), "digit_score": round(float(score), 4)}


def digit_verdicts(ensemble, inputs):
    """Each input's digit score and whether it looks like a digit (digits.not_a_digit), or Nones, with a note
    on stderr saying why, where the models have no detector."""
    try:
        return ensemble.digit_verdicts(inputs)
    except InputError as error:
        print(f"No not-a-digit verdict: {error}", file=sys.stderr)
        return [None] * len(inputs), [None] * len(inputs)


def check_saliency_flag(args):
    """--saliency follows gradients through a Keras model: an export given as a file has none, and no run to
    take its Keras model from (a run folder read through its export has: its model.keras)."""
    if args.number:
        raise InputError("--saliency explains one digit per image; leave it out with --number")
    for path in args.model:
        if Path(path).suffix in SUFFIXES:
            raise InputError(f"--saliency: {path} is an export, which has no gradients to follow; give its run "
                             "folder or .keras/.h5 model instead")
    if Path(args.saliency).exists() and not Path(args.saliency).is_dir():
        raise InputError(f"--saliency {args.saliency}: a file, not a folder")


def save_heat_maps(ensemble, paths, images, files, probabilities, folder):
    """One figure per image in `folder`, named for its file: the image, and where the evidence for the digit
    read and for the runner-up lies (digits.saliency, in the Keras models' mean logit). Returns the paths."""
    from digits import plots
    from digits.ensemble import keras_models
    from digits.saliency import heat_map

    models = keras_models(paths, ensemble)
    ranked = np.argsort(-probabilities, axis=1)
    inputs = to_inputs(images)
    read, runner_up = heat_map(models, inputs, ranked[:, 0]), heat_map(models, inputs, ranked[:, 1])
    written, names = [], set()
    for i, (file, row) in enumerate(zip(files, probabilities)):
        best, second = ranked[i, :2]
        name = Path(file).stem
        while name in names:  # files of the same name from different folders
            name += "_"
        names.add(name)
        written.append(plots.save_heat_maps(
            images[i], [read[i], runner_up[i]],
            [f"evidence for {best} ({row[best]:.1%}),\nthe digit read", f"evidence for {second} ({row[second]:.1%}),\nthe runner-up"],
            Path(folder) / f"{name}.png", f"{short_path(file)}: read {best}"))
    return written


def print_models(ensemble, file=None):
    """One line per model read with, with its temperature or that it has none (to `file`, default stdout)."""
    several = len(ensemble.members) > 1
    for member in ensemble.members:
        print(f"{'Model' if not several else 'Ensemble member'} {member.model_file}: {member.describe_temperature()}",
              file=file)
    if several:
        print(f"Reading with the mean of the {len(ensemble.members)} models' calibrated probabilities", file=file)


def draw_main(args):
    from digits import draw_page

    reader = draw_page.Reader(args.model or [DEFAULT_RUN], args.runtime)
    app = draw_page.create_app(reader, args.data_dir, args.port, args.host, runs_dir=args.runs_dir)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Warning: listening on {args.host}, not only this machine: anyone who can reach it can save "
              f"drawings into {args.data_dir}/.", file=sys.stderr)

    def ready(url):
        print_models(reader.ensemble)
        print(f"Drawings are saved in {args.data_dir}/train/<digit>/ and {args.data_dir}/validation/<digit>/.")
        print(f"Open {url} to draw (Ctrl-C to stop).", flush=True)
        if args.open:
            import webbrowser

            if not webbrowser.open(url):
                print("No web browser found to open it: open the address above in one yourself.", flush=True)

    try:
        draw_page.serve(app, args.host, args.port, ready)
    except KeyboardInterrupt:
        print("\nStopped.")
    return 0


def main(argv=None):
    args = build_parser().parse_args(with_default_command(sys.argv[1:] if argv is None else list(argv)))
    return {"train": train_main, "predict": predict_main, "draw": draw_main}[args.command](args)


if __name__ == "__main__":
    cli.run(main)
