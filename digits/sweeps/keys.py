"""What identifies a run: its key, the config as canonical JSON with the data's fingerprint
in place of its path.

A point with its seed is a RunConfig, and its key is what makes "run exactly once"
checkable. The data is named by its fingerprint (digits.data.Dataset.fingerprint), never by
its path, so a run on other data never counts for this data's grid, and the same data
under another path still does. Keys and configs are stored in every trial; read back, they
go through today's RunConfig first, so a field added since they were stored takes its
default and the stored run still counts for the grid that asks for it. A key stored before
keys carried the data matches no grid.
"""

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
    """A key as stored, possibly by an earlier version, in today's form.

    A key that today's RunConfig cannot read (a field since removed) stays as it is,
    so it matches no grid rather than stopping the sweep or the report.
    """
    try:
        values = json.loads(text)
        data = values.pop("data", None)
        return key(RunConfig.from_dict(values), data)
    except (InputError, TypeError, ValueError, AttributeError):
        return text


def data_of(trial_key):
    """The data fingerprint a key names (None for a key stored before keys named their data)."""
    return json.loads(trial_key).get("data")


def stored_config(record):
    """The RunConfig of a stored run record (a trial's attributes or run.json), fields added since at their defaults."""
    return RunConfig.from_dict(record["config"])
