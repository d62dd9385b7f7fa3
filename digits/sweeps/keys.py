"""What identifies a run: its key, the config as canonical JSON with the data's fingerprint
in place of its path; and the keyed grids a study records.

A point with its seed is a RunConfig, and its key is what makes "run exactly once"
checkable. The data is named by its fingerprint (digits.data.Dataset.fingerprint), never by
its path, so a run on other data never counts for this data's grid, and the same data
under another path still does. Keys and configs are stored in every trial; read back, they
go through today's RunConfig first, so a field added since they were stored takes its
default and the stored run still counts for the grid that asks for it. A study records
each grid it was asked to run, so its tables tell what is missing without the command line.
"""

import hashlib
import json

from digits.config import RunConfig
from digits.errors import InputError


def key(config, data):
    """Every setting but the data path, and `data`, the SHA-256 fingerprint of the data, as canonical JSON."""
    values = config.to_dict()
    del values["data"]
    return json.dumps({**values, "data": data}, sort_keys=True)


def keyed_runs(runs, dataset):
    """A sweep's runs on `dataset`, each (config, point) as (key, config, point)."""
    fingerprints = {}  # by validation split, the one setting that changes what a run sees of the data
    keyed = []
    for config, point in runs:
        if config.validation_split not in fingerprints:
            fingerprints[config.validation_split] = dataset.fingerprint(config.validation_split)["sha256"]
        keyed.append((key(config, fingerprints[config.validation_split]), config, point))
    return keyed


def stored_key(text):
    """A key as stored, in today's form.

    A key that today's RunConfig cannot read (a field since removed) stays as it is,
    so it matches no grid rather than stopping the sweep or the tables.
    """
    try:
        values = json.loads(text)
        data = values.pop("data", None)
        return key(RunConfig.from_dict(values), data)
    except (InputError, TypeError, ValueError, AttributeError):
        return text


def data_of(trial_key):
    """The data fingerprint a key names."""
    return json.loads(trial_key)["data"]


def stored_config(record):
    """The RunConfig of a stored run record (a trial's attributes or run.json), fields added since at their defaults."""
    return RunConfig.from_dict(record["config"])


def register_grid(study, experiment, runs, dataset):
    """Record the grid, its keyed runs (keyed_runs) on `dataset`, in the study, so that its tables
    tell what is missing, and on what data, without the command line."""
    keys = [trial_key for trial_key, _, _ in runs]
    fingerprints = [dataset.fingerprint(split) for split in dict.fromkeys(config.validation_split for _, config, _ in runs)]
    digest = hashlib.sha1(json.dumps(keys).encode()).hexdigest()[:12]
    grid = {"experiment": experiment.name, "description": experiment.description,
            "test_each_epoch": experiment.test_each_epoch, "keys": keys,
            "data": {fingerprint["sha256"]: fingerprint for fingerprint in fingerprints}}
    if study.user_attrs.get(f"grid {digest}") != json.loads(json.dumps(grid)):  # a rerun of a command stores nothing
        study.set_user_attr(f"grid {digest}", grid)


def registered_grids(study):
    """The grids a study was asked to run, their keys in today's form."""
    return [{**grid, "keys": [stored_key(k) for k in grid["keys"]]}
            for name, grid in study.user_attrs.items() if name.startswith("grid ")]
