"""What to sweep: the report's experiments and custom grids, each one Experiment.

An Experiment carries everything about it: its points (a few RunConfig fields changed
from the report's baseline: 64-64-64, Adam, dropout 0.3, batch 64, 15 epochs), its
description, the figure drawn beside its table, whether it tests after every epoch,
and the report's own numbers, where the table shows them beside ours. Adding an
experiment is adding it to report_experiments(). Every point runs once per seed, and
the runs of one experiment with one set of command-line settings live in one study.
"""

from dataclasses import dataclass, fields, replace
import hashlib
import json
import re

from digits.config import RECIPES, RunConfig
from digits.errors import InputError

MAX_EPOCHS = 200
# Sweeps hold out the last tenth of the training images, record the accuracy on them in
# every trial and optimize it, so a setting is chosen without looking at the test set
# (the report chose on the test set).
SWEEP_VALIDATION_SPLIT = 0.1
SWEEP_BASE = RunConfig(validation_split=SWEEP_VALIDATION_SPLIT)

# The figures the tables draw (Experiment.figure).
AXIS = "axis"  # accuracy against one setting, Experiment.axis
LEARNING_RATE = "learning_rate"  # accuracy against the learning rate, one colour per optimizer
EPOCH_CURVES = "epoch_curves"  # accuracy and loss after every epoch, one line per seed
RECIPE = "recipe"  # validation and test accuracy of each named point, side by side


@dataclass(frozen=True)
class Reference:
    """Numbers the report itself gave, shown beside ours: for each point, found by the values
    of its `settings`, one number per column."""

    settings: tuple  # e.g. ("optimizer", "dropout")
    columns: tuple  # headers of the columns they fill
    rows: dict  # values of `settings` -> one number per column

    def row(self, point):
        theirs = self.rows.get(tuple(point.get(name) for name in self.settings))
        return [f"{value:.2f}" for value in theirs] if theirs else [""] * len(self.columns)


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    points: tuple  # of dicts: RunConfig fields that differ from the baseline
    figure: str | None = None  # AXIS, LEARNING_RATE or EPOCH_CURVES; None: a table only
    axis: str | None = None  # for AXIS: the setting on the x axis
    test_each_epoch: bool = False  # record test loss and accuracy after every epoch
    reference: Reference | None = None  # the report's own numbers for these points
    point_names: tuple | None = None  # a name for each point, shown in place of its settings
    grid: tuple | None = None  # (row setting, column setting): also a two-way table of test accuracy

    def point_name(self, settings):
        """The name of the point with these settings (as stored: tuples read back as lists); None for an
        experiment without names, or no such point."""
        if self.point_names:
            for point, name in zip(self.points, self.point_names):
                if json.dumps(point, sort_keys=True) == json.dumps(settings, sort_keys=True):
                    return name
        return None


# The report's Table 1: (optimizer, dropout) -> (train accuracy %, test accuracy %).
REPORT_TABLE_1 = Reference(
    settings=("optimizer", "dropout"),
    columns=("report: train (%)", "report: test (%)"),
    rows={("sgd", 0.3): (96.4, 97.33), ("rmsprop", 0.3): (99.47, 99.2), ("adam", 0.3): (99.54, 99.4),
          ("adam", 0.2): (99.33, 99.2)},
)
LEARNING_RATES = {
    "sgd": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
    "rmsprop": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
    "adam": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
}


def report_experiments(max_epochs=50):
    """The report's experiments by name, in the order `all` runs them; `max_epochs` sets the
    length of the one long run."""
    if not 1 <= max_epochs <= MAX_EPOCHS:
        raise InputError(f"--max-epochs must be between 1 and {MAX_EPOCHS}, got {max_epochs}")
    experiments = [
        Experiment("dropout", "dropout rate with SGD (the report's Figure 4)",
                   tuple({"optimizer": "sgd", "dropout": rate} for rate in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)),
                   figure=AXIS, axis="dropout"),
        Experiment("optimizer", "optimizer and dropout (the report's Table 1)",
                   tuple({"optimizer": optimizer, "dropout": rate} for optimizer, rate in REPORT_TABLE_1.rows),
                   reference=REPORT_TABLE_1),
        Experiment("epochs", "one long run per seed, tested after every epoch (the report's Figures 9 and 10)",
                   ({"epochs": max_epochs},), figure=EPOCH_CURVES, test_each_epoch=True),
        Experiment("batch_size", "batch size (the report's Figure 11)",
                   tuple({"batch_size": size} for size in (32, 64, 128, 256)), figure=AXIS, axis="batch_size"),
        Experiment("learning_rate", "learning rate per optimizer on a log grid (the report's section 5.3)",
                   tuple({"optimizer": optimizer, "learning_rate": rate}
                         for optimizer, rates in LEARNING_RATES.items() for rate in rates),
                   figure=LEARNING_RATE, grid=("optimizer", "learning_rate")),
    ]
    return {experiment.name: experiment for experiment in experiments}


# The modern recipe's ingredients: settings of digits.config.RECIPES["modern"] that belong
# together, each added alone to the report's recipe by the recipe experiment.
INGREDIENTS = {
    "augmentation": ("rotation", "shift", "zoom", "shear", "stroke"),
    "label smoothing": ("label_smoothing",),
    "cosine schedule": ("schedule", "warmup_epochs", "learning_rate"),
}
# Batch normalization slows this network, so for the same time it costs epochs: the recipe
# experiment runs both sides, and RECIPES["modern"] takes one (docs/BEYOND.md).
BATCH_NORM_TRADE = ({"batch_norm": True, "epochs": 15}, {"batch_norm": False, "epochs": 25})

# Candidates tried on top of the modern recipe, each alone (docs/BEYOND.md tells which joined it):
ELASTIC_TRIAL = 34.0  # an elastic distortion at Simard et al.'s strength, with the report's dropout (0.3)
WIDER_TRIAL = {"filters": (64, 64, 128), "epochs": 23}  # a wider last convolution, for the modern recipe's time


def other_side_of_the_trade(batch_norm):
    """The side of BATCH_NORM_TRADE that the modern recipe, with or without `batch_norm`, did not take."""
    return next(side for side in BATCH_NORM_TRADE if side["batch_norm"] != batch_norm)


def trade_name(side):
    return f"modern, {'batch norm' if side['batch_norm'] else 'no batch norm'}, {side['epochs']} epochs"


def beyond_experiments():
    """Experiments beyond the report (docs/BEYOND.md), by name: not part of `all`, which is the report's."""
    def settings(name):  # a recipe's settings but its validation slice, which the sweep sets for every run
        return {key: value for key, value in RECIPES[name].items() if key != "validation_split"}

    modern = settings("modern")
    # The modern recipe with the report's dropout, the base that the dropout and elastic trials compare with.
    report_dropout = {key: value for key, value in modern.items() if key != "dropout"}
    other_side = other_side_of_the_trade(modern["batch_norm"])
    longest = max(side["epochs"] for side in BATCH_NORM_TRADE)
    named = [("report", {})]
    named += [(name, {key: modern[key] for key in keys}) for name, keys in INGREDIENTS.items()]
    named += [("batch norm", {"batch_norm": True}), (f"{longest} epochs", {"epochs": longest})]
    named += [("modern, dropout 0.3", report_dropout),
              (f"{trade_name(other_side)}, dropout 0.3", {**report_dropout, **other_side}), ("fast", settings("fast"))]
    named += [("modern, dropout 0.3 + elastic distortion", {**report_dropout, "elastic": ELASTIC_TRIAL}),
              ("modern", modern), ("modern + third conv 128, 23 epochs", {**modern, **WIDER_TRIAL})]
    recipe = Experiment(
        "recipe", "each modern ingredient alone, the modern and fast recipes, and trials on top of modern",
        tuple(point for _, point in named), figure=RECIPE, point_names=tuple(name for name, _ in named))
    return {recipe.name: recipe}


def custom_experiment(points):
    """A user's grid, named by a digest of its points so that the same grid finds the same study."""
    digest = hashlib.sha1(json.dumps(points, sort_keys=True, default=list).encode()).hexdigest()[:8]
    return Experiment(f"custom-{digest}", "a custom grid", points)


def planned_runs(experiment, base, seeds, epochs=None):
    """Every (point, seed) of an experiment as (RunConfig, point): the point's settings over
    `base` (data, limit, validation slice, precision), with seeds 1..N. `epochs`, when given,
    overrides every point's epoch count, the points' own included; None leaves them be."""
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {seeds}")
    override = {} if epochs is None else {"epochs": epochs}
    return [(replace(base, **{**point, "seed": seed, **override}), point)
            for point in experiment.points for seed in range(1, seeds + 1)]


# Settings named in a study's name in this order, before any others.
NAMED_FIRST = ("epochs", "limit", "validation_split", "precision", "xla")


def study_name(experiment, base, epochs=None):
    """The study an experiment's results live in: its name, plus every setting the command line
    changed in its runs, e.g. 'optimizer (epochs=1, limit=500)'.

    The runs decide, not the flags: `--epochs 15` for a 15-epoch grid changes no run and
    so no name, while `epochs --epochs 15` shortens its 50-epoch run and gets a study of
    its own.
    """
    ours = [config for config, _ in planned_runs(experiment, base, 1, epochs)]
    standard = [config for config, _ in planned_runs(experiment, SWEEP_BASE, 1)]
    others = [f.name for f in fields(RunConfig) if f.name not in (*NAMED_FIRST, "data", "seed")]
    changes = [f"{name}={format_setting(getattr(ours[0], name))}" for name in (*NAMED_FIRST, *others)
               if any(getattr(mine, name) != getattr(theirs, name) for mine, theirs in zip(ours, standard))]
    return experiment.name + (f" ({', '.join(changes)})" if changes else "")


def format_setting(value):
    """A setting as tables and names show it: 0.3, 64-64-64, sgd; None as 'default'."""
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def slug(name):
    """A study's name as its files and folders are named: 'optimizer (epochs=1)' -> 'optimizer-epochs-1'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
