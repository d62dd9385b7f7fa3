"""What identifies a run: its key, the config as canonical JSON without the data path.

A point with its seed is a RunConfig, and its key is what makes "run exactly once"
checkable. Keys and configs are stored in every trial; read back, they go through
today's RunConfig first, so a field added since they were stored takes its default and
the stored run still counts for the grid that asks for it.
"""

import json

from digits.config import RunConfig
from digits.errors import InputError


def key(config):
    """Every setting but the data path, as canonical JSON."""
    values = config.to_dict()
    del values["data"]
    return json.dumps(values, sort_keys=True)


def stored_key(text):
    """A key as stored, possibly by an earlier version, in today's form.

    A key that today's RunConfig cannot read (a field since removed) stays as it is,
    so it matches no grid rather than stopping the sweep or the report.
    """
    try:
        return key(RunConfig.from_dict(json.loads(text)))
    except (InputError, TypeError, ValueError):
        return text


def stored_config(record):
    """The RunConfig of a stored run record (a trial's attributes or run.json), fields added since at their defaults."""
    return RunConfig.from_dict(record["config"])
