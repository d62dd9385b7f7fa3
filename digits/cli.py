"""Command-line plumbing the scripts share: flags that fill a RunConfig, and one-line errors.

A flag that sets a RunConfig field defaults to None, which means "not given": a flag given
always applies, even when its value equals the default, and a flag left out takes its value
from the base config (a saved run's, or the report's). Nothing here imports TensorFlow, so
`--help` answers at once.
"""

import argparse
from dataclasses import fields, replace
import os
import sys

from digits.config import AUGMENTATION_LIMITS, OPTIMIZERS, PRECISIONS, RECIPES, SCHEDULES, XLA_CHOICES, RunConfig, recipe
from digits.data import data_source
from digits.errors import InputError

DEFAULTS = RunConfig()


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def comma_separated_ints(text):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 64,64,64, got {text!r}")


def add_data_arguments(parser, limit=True):
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data", metavar="PATH",
        help="the data: 'mnist', the complete MNIST shipped in data/mnist/ (checked against its checksums); "
        "'keras', the Keras cache (~/.keras/datasets/mnist.npz, downloaded if missing); or a path: a "
        "Keras-layout .npz file (x_train, y_train, x_test, y_test) or a folder holding the four IDX files "
        "of MNIST's format, plain or .gz (Fashion-MNIST, say). Default: the data of the saved run the "
        "script starts from, if any, else $MNIST_DATA if set, else 'mnist'.",
    )
    if limit:
        group.add_argument(
            "--limit", type=int, metavar="N",
            help="train on the first N training images only, for quick runs (the test set stays whole)",
        )


def add_model_arguments(parser):
    group = parser.add_argument_group("model")
    group.add_argument(
        "--filters", type=comma_separated_ints, metavar="F1,F2,...",
        help="filters of each Conv2D layer; every layer but the last is followed by max pooling "
        f"(default: {','.join(map(str, DEFAULTS.filters))}, the report's network)",
    )
    group.add_argument("--kernel-size", type=int, metavar="N", help=f"side of each convolution kernel (default: {DEFAULTS.kernel_size})")
    group.add_argument("--pool-size", type=int, metavar="N", help=f"side of each max-pooling window (default: {DEFAULTS.pool_size})")
    group.add_argument(
        "--dropout", type=float, metavar="RATE",
        help=f"fraction of the flattened features dropped before the Dense layer while training (default: {DEFAULTS.dropout})",
    )
    group.add_argument(
        "--batch-norm", action=argparse.BooleanOptionalAction,
        help="batch normalization after each convolution, before its relu (default: off, as in the report)",
    )


def add_training_arguments(parser):
    group = parser.add_argument_group("training")
    group.add_argument(
        "--optimizer", choices=OPTIMIZERS,
        help=f"how the weights are updated: %(choices)s (default: {DEFAULTS.optimizer}, the report's best)",
    )
    group.add_argument(
        "--learning-rate", type=float, metavar="LR",
        help="step size (default: the optimizer's Keras default: 0.001 for adam and rmsprop, 0.01 for sgd)",
    )
    group.add_argument("--epochs", type=int, metavar="N", help=f"passes over the training data (default: {DEFAULTS.epochs})")
    group.add_argument("--batch-size", type=int, metavar="N", help=f"images per gradient step (default: {DEFAULTS.batch_size})")
    group.add_argument(
        "--validation-split", type=float, metavar="FRACTION",
        help="hold out this fraction of the end of the training data and report accuracy on it every epoch, "
        f"so choices can be made without looking at the test set (default: {DEFAULTS.validation_split})",
    )
    group.add_argument("--seed", type=int, metavar="N", help=f"seed for weights, shuffling and dropout; same seed, same run (default: {DEFAULTS.seed})")
    group.add_argument(
        "--deterministic", action=argparse.BooleanOptionalAction,
        help="make TensorFlow's ops bitwise repeatable across runs, at some cost in speed (default: off)",
    )


def add_recipe_arguments(parser, presets=True):
    """Settings beyond the report: augmentation, the learning-rate schedule, label smoothing;
    with `presets`, --recipe names a combination of them."""
    group = parser.add_argument_group("beyond the report (docs/BEYOND.md); every default is the report's")
    if presets:
        group.add_argument(
            "--recipe", choices=tuple(RECIPES),
            help="start from a named combination of settings, which the other flags given override: report "
            "(the default), modern (augmentation, label smoothing, a warmup-cosine schedule, 25 epochs, "
            "a validation slice; the most accurate) or fast (a smaller network, large batches, a short schedule; "
            "the least time to 99%%)",
        )
    group.add_argument(
        "--schedule", choices=SCHEDULES,
        help="the learning rate over training: constant (the report's) or cosine (a linear warmup over "
        "--warmup-epochs from zero to --learning-rate, then a cosine decay to zero)",
    )
    group.add_argument("--warmup-epochs", type=float, metavar="N", help="epochs of warmup for the cosine schedule (default: 0)")
    group.add_argument("--label-smoothing", type=float, metavar="SHARE",
                       help="share of each target spread over the ten classes (default: 0)")
    augmentation = {
        "rotation": "largest rotation, in degrees",
        "shift": "largest shift, as a fraction of the image's side",
        "zoom": "largest zoom in or out, as a fraction",
        "shear": "largest shear, in degrees",
        "stroke": "largest thickening or thinning of the pen stroke, as a share of one pixel's growth",
        "elastic": "strength, in pixels, of an elastic distortion: a smooth random displacement field "
                   "(Simard et al. 2003 used 34)",
    }
    for name, meaning in augmentation.items():
        group.add_argument(f"--{name}", type=float, metavar="X",
                           help=f"augmentation: {meaning}, drawn per image and epoch (0 to "
                           f"{AUGMENTATION_LIMITS[name]:g}; default: 0, off)")


def add_speed_arguments(parser, threads_help):
    group = parser.add_argument_group("speed")
    group.add_argument(
        "--precision", choices=PRECISIONS,
        help="number format of the arithmetic: auto (default) is mixed_bfloat16 on a CPU with native bfloat16 "
        "(AVX-512 BF16 or AMX), faster with the same accuracy (see the README's Speed section), and float32 "
        "elsewhere; mixed policies keep the weights in float32, and the saved model is float32",
    )
    group.add_argument(
        "--mixed-precision", dest="precision", action="store_const", const="mixed_bfloat16",
        help="same as --precision mixed_bfloat16: for GPUs from Ampere (A100, H100) on; "
        "older GPUs want --precision mixed_float16",
    )
    group.add_argument(
        "--xla", choices=XLA_CHOICES,
        help="compile training steps with XLA: auto (default) leaves it to Keras, on for a GPU and off for a "
        "CPU, where XLA makes this network slower",
    )
    group.add_argument("--threads", type=positive_int, metavar="N", help=threads_help)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def given_settings(args):
    """The RunConfig fields set on the command line: {field: value} for every flag given."""
    names = {f.name for f in fields(RunConfig)}
    return {name: value for name, value in vars(args).items() if name in names and value is not None}


def config_from(args, base=None):
    """The run's RunConfig: the flags given, over --recipe's settings if given, over `base`
    (default: the report's settings).

    The data is --data, else the base's data, else $MNIST_DATA, else the shipped MNIST.
    """
    base = base or DEFAULTS
    if getattr(args, "recipe", None):
        base = recipe(args.recipe, base)
    given = given_settings(args)
    given["data"] = data_source(given.get("data"), saved=base.data)
    return replace(base, **given)


def run(main):
    """Run a script's main(): bad input becomes one line on stderr and exit code 2, never a traceback."""
    prog = os.path.basename(sys.argv[0])
    try:
        sys.exit(main())
    except InputError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
