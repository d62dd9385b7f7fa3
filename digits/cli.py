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

from digits.config import RECIPES, RunConfig, recipe
from digits.data import data_source
from digits.errors import InputError

DEFAULTS = RunConfig()


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block), exit code 2, and whose --help keeps
    the script's docstring as written, each flag's help beside it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(**kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The script's docstring as written, and each flag's help beside it."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)


def comma_separated_ints(text):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 64,64,64, got {text!r}")


GROUP_TITLES = {"data": "data", "model": "model", "training": "training",
                "recipe": "beyond the report (every default is the report's)", "speed": "speed"}


def add_settings(parser, group, leave_out=()):
    """A flag for each RunConfig field of `group` (its metadata gives the help), default None: not given."""
    arguments = parser.add_argument_group(GROUP_TITLES[group])
    for setting in fields(RunConfig):
        if setting.metadata["group"] != group or setting.name in leave_out:
            continue
        options = {key: value for key, value in setting.metadata.items() if key not in ("group", "help")}
        help_text = setting.metadata["help"]
        if setting.default not in (None, False, 0) and "(default" not in help_text and "choices" not in options:
            help_text += f" (default: {format_default(setting.default)})"
        flag = f"--{setting.name.replace('_', '-')}"
        if setting.type is bool:  # --NAME turns it on, --no-NAME off (over a base that has it on)
            arguments.add_argument(flag, action="store_const", const=True, help=f"{help_text}; --no-{flag[2:]}: off")
            arguments.add_argument(f"--no-{flag[2:]}", dest=setting.name, action="store_const", const=False,
                                   help=argparse.SUPPRESS)
            continue
        if "choices" not in options:
            options["type"] = comma_separated_ints if setting.name == "filters" else number_type(setting.type)
        arguments.add_argument(flag, help=help_text, **options)
    return arguments


def number_type(annotation):
    """int or float for a field typed int, float, int | None or float | None; str otherwise."""
    return next((kind for kind in (int, float) if annotation in (kind, kind | None)), str)


def format_default(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) else value


def add_data_arguments(parser, limit=True):
    add_settings(parser, "data", leave_out=() if limit else ("limit",))


def add_model_arguments(parser):
    add_settings(parser, "model")


def add_training_arguments(parser):
    add_settings(parser, "training")


def add_recipe_arguments(parser, presets=True):
    """Settings beyond the report; with `presets`, --recipe names a combination of them."""
    group = add_settings(parser, "recipe")
    if presets:
        group.add_argument("--recipe", choices=tuple(RECIPES),
                           metavar="NAME", help="report, modern or fast; flags given override it")


def add_speed_arguments(parser, threads_help):
    group = add_settings(parser, "speed")
    group.add_argument("--mixed-precision", dest="precision", action="store_const", const="mixed_bfloat16",
                       help="--precision mixed_bfloat16")
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
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other commands do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        sys.exit(141)
