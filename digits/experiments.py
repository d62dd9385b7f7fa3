"""The report's experiments as grids of RunConfigs, and custom grids from the command line or a file.

An experiment is a list of points, each a few RunConfig fields changed from the
report's baseline (64-64-64, Adam, dropout 0.3, batch 64, 15 epochs); every point
runs once per seed. A point with its seed is a RunConfig, and its key (the config
as canonical JSON, without the data path) is what makes "run exactly once" checkable.
"""

from dataclasses import dataclass, fields, replace
import hashlib
import itertools
import json
from pathlib import Path

from digits.config import RunConfig
from digits.errors import InputError

MAX_EPOCHS = 200
# Sweeps hold out the last tenth of the training images and record the accuracy on them in
# every trial, so a setting can be chosen without looking at the test set (the report chose
# on the test set).
SWEEP_VALIDATION_SPLIT = 0.1


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    points: tuple  # of dicts: RunConfig fields that differ from the baseline
    test_each_epoch: bool = False  # record test loss and accuracy after every epoch


def report_experiments(max_epochs=50):
    """The report's experiments by name; `max_epochs` sets the length of the one long run."""
    if not 1 <= max_epochs <= MAX_EPOCHS:
        raise InputError(f"--max-epochs must be between 1 and {MAX_EPOCHS}, got {max_epochs}")
    learning_rates = {
        "sgd": (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        "rmsprop": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
        "adam": (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
    }
    experiments = [
        Experiment("dropout", "dropout rate with SGD (the report's Figure 4)",
                   tuple({"optimizer": "sgd", "dropout": rate} for rate in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5))),
        Experiment("optimizer", "optimizer and dropout (the report's Table 1)",
                   tuple({"optimizer": opt, "dropout": rate}
                         for opt, rate in (("sgd", 0.3), ("rmsprop", 0.3), ("adam", 0.3), ("adam", 0.2)))),
        Experiment("epochs", "one long run per seed, tested after every epoch (the report's Figures 9 and 10)",
                   ({"epochs": max_epochs},), test_each_epoch=True),
        Experiment("batch_size", "batch size (the report's Figure 11)",
                   tuple({"batch_size": size} for size in (32, 64, 128, 256))),
        Experiment("learning_rate", "learning rate per optimizer on a log grid (the report's section 5.3)",
                   tuple({"optimizer": opt, "learning_rate": rate}
                         for opt, rates in learning_rates.items() for rate in rates)),
    ]
    return {experiment.name: experiment for experiment in experiments}


def parse_value(name, text):
    """A grid value typed like the RunConfig field it sets."""
    default = getattr(RunConfig(), name)
    try:
        if name == "filters":
            return tuple(int(part) for part in text.split("-"))
        if name in FLOAT_FIELDS:
            return float(text)
        if isinstance(default, bool):
            return {"true": True, "false": False}[text.lower()]
        if isinstance(default, int):
            return int(text)
        return text
    except (ValueError, KeyError):
        raise InputError(f"grid: {text!r} is not a valid value for {name}") from None


GRID_FIELDS = {f.name for f in fields(RunConfig)} - {"data", "limit", "seed"}
FLOAT_FIELDS = {"dropout", "learning_rate", "validation_split"}


def grid_points(grid):
    """{field: [values]} -> every combination, as a tuple of point dicts, checking the field names.

    Values are brought to their field's type (dropout 0 -> 0.0, filters [32, 64] -> (32, 64)),
    so that one setting always has one key.
    """
    unknown = sorted(set(grid) - GRID_FIELDS)
    if unknown:
        raise InputError(f"grid: unknown parameter(s) {', '.join(unknown)}; choose from {', '.join(sorted(GRID_FIELDS))}")
    if not grid or any(not values for values in grid.values()):
        raise InputError("grid: empty; give at least one value for each parameter, e.g. --grid dropout=0.1,0.3")
    grid = {name: [typed(name, value) for value in values] for name, values in grid.items()}
    names = list(grid)
    return tuple(dict(zip(names, combination)) for combination in itertools.product(*grid.values()))


def typed(name, value):
    if name in FLOAT_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return tuple(value) if isinstance(value, list) else value


def grid_from_text(text):
    """'dropout=0.1,0.3 optimizer=sgd,adam filters=32-32-32,64-64-64' -> grid points."""
    grid = {}
    for part in text.split():
        name, equals, values = part.partition("=")
        name = name.replace("-", "_")
        if not equals or not values:
            raise InputError(f"grid: expected NAME=VALUE[,VALUE...], got {part!r}")
        if name not in GRID_FIELDS:
            grid_points({name: [None]})  # raises: unknown parameter
        grid[name] = [parse_value(name, value) for value in values.split(",")]
    return grid_points(grid)


def grid_from_file(path):
    """A JSON file {"dropout": [0.1, 0.3], "optimizer": ["sgd", "adam"]} -> grid points."""
    try:
        grid = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a readable JSON grid ({error})") from None
    if not isinstance(grid, dict) or not all(isinstance(values, list) for values in grid.values()):
        raise InputError(f'{path}: expected an object of lists, e.g. {{"dropout": [0.1, 0.3]}}')
    grid = {name.replace("-", "_"): values for name, values in grid.items()}
    try:
        return grid_points(grid)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def custom_experiment(points):
    """A user's grid, named by a digest of its points so that the same grid finds the same study."""
    digest = hashlib.sha1(json.dumps(points, sort_keys=True, default=list).encode()).hexdigest()[:8]
    return Experiment(f"custom-{digest}", "a custom grid", points)


def runs(experiment, base, seeds):
    """Every (point, seed) of an experiment as (RunConfig, point); `base` carries data, limit and an
    epochs override."""
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {seeds}")
    result = []
    for point in experiment.points:
        for seed in range(1, seeds + 1):
            values = {**point, "seed": seed}
            if base.epochs != RunConfig.epochs:  # --epochs overrides every grid's epoch count
                values["epochs"] = base.epochs
            result.append((replace(base, **values), point))
    return result


def key(config):
    """What identifies a run for 'exactly once': every setting but the data path, as canonical JSON."""
    values = config.to_dict()
    del values["data"]
    return json.dumps(values, sort_keys=True)


def study_name(experiment, base):
    """The study an experiment's results live in: its name, plus any option that changes every run."""
    changes = []
    if base.epochs != RunConfig.epochs:
        changes.append(f"epochs={base.epochs}")
    if base.limit is not None:
        changes.append(f"limit={base.limit}")
    if base.validation_split != SWEEP_VALIDATION_SPLIT:
        changes.append(f"validation_split={base.validation_split:g}")
    for name in ("precision", "xla"):
        if getattr(base, name) != getattr(RunConfig, name):
            changes.append(f"{name}={getattr(base, name)}")
    return experiment.name + (f" ({', '.join(changes)})" if changes else "")
