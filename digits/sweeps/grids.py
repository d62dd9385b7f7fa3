"""Custom grids, from the command line ("dropout=0.1,0.3 optimizer=sgd,adam") or a JSON file.

A grid is {RunConfig field: [values]}; its points are every combination, each a dict of
the fields it sets. Values are brought to their field's type (dropout 0 -> 0.0, filters
[32, 64] -> (32, 64)), so that one setting always has one key.
"""

from dataclasses import fields
import itertools
import json
from pathlib import Path

from digits.config import RunConfig
from digits.errors import InputError

GRID_FIELDS = {f.name for f in fields(RunConfig)} - {"data", "limit", "seed"}
FLOAT_FIELDS = {f.name for f in fields(RunConfig) if f.type in (float, float | None)}


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


def grid_points(grid):
    """{field: [values]} -> every combination, as a tuple of point dicts, checking the field names."""
    unknown = sorted(set(grid) - GRID_FIELDS)
    if unknown:
        raise InputError(f"grid: unknown parameter(s) {', '.join(unknown)}; choose from {', '.join(sorted(GRID_FIELDS))}")
    if not grid or any(not values for values in grid.values()):
        raise InputError("grid: empty; give at least one value for each parameter, e.g. --grid dropout=0.1,0.3")
    grid = {name: [typed(name, value) for value in values] for name, values in grid.items()}
    if any(isinstance(split, float) and split <= 0 for split in grid.get("validation_split", [])):
        raise InputError("grid: validation_split must be above 0: a sweep chooses by the validation accuracy")
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
