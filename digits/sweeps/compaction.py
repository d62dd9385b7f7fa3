"""A journal rewritten without the records that no longer count.

A journal only grows: every attribute set is one more record, and replaying it keeps the
last value. compact_journal drops a trial's repeated `heartbeat` attribute records (a
journal may hold one refreshed all through each trial's run), keeping the first, where
the attribute took its place among the others, and the last before the trial finished;
and it drops a study attribute set again to the value it already has, such as a grid
registered by every rerun of its command.
"""

import json
from pathlib import Path

import optuna

from digits.errors import InputError
from digits.files import atomic_path
from digits.sweeps.liveness import is_alive
from digits.sweeps.storage import check_journal, journal_lock

# Optuna's journal records (optuna.storages.journal JournalOperation) that compact_journal thins out.
SET_STUDY_USER_ATTR, SET_TRIAL_STATE_VALUES, SET_TRIAL_USER_ATTR = 2, 6, 8
FINISHED_STATES = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL}
UNSET = object()  # an attribute not set yet, unequal to any value


def compact_journal(path):
    """Rewrite a journal without the records that no longer count; (bytes before, bytes after).

    The compacted journal is replayed and must read back the same studies and trials, to
    the last attribute, its order and every timestamp, before it replaces the old one;
    while any trial still runs it is refused, since a worker reading the journal would
    lose its place.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such journal file")
    check_journal(path)
    with journal_lock(path):
        before = replayed(path)
        running = [f"{study['name']!r} {trial.number}" for study in before for trial in study["trials"]
                   if trial.state == optuna.trial.TrialState.RUNNING and is_alive(trial)]
        if running:
            raise InputError(f"{path}: trial(s) {', '.join(running)} still running; "
                             "compact the journal once its sweeps have stopped")
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line, keep in zip(lines, lines_that_count([json.loads(line) for line in lines])) if keep]
        with atomic_path(path) as temporary:
            temporary.write_bytes(b"".join(kept))
            if as_text(replayed(temporary)) != as_text(before):
                raise InputError(f"{path}: the compacted journal would not read back the same; left as it is")
        return sum(map(len, lines)), sum(map(len, kept))


def lines_that_count(entries):
    """For each journal entry, whether the final state needs it (see the module docstring)."""
    keep = [True] * len(entries)
    beats, finished, study_attrs = {}, set(), {}
    for number, entry in enumerate(entries):
        op, trial = entry.get("op_code"), entry.get("trial_id")
        if op == SET_TRIAL_STATE_VALUES and optuna.trial.TrialState(entry["state"]) in FINISHED_STATES:
            finished.add(trial)
        elif op == SET_TRIAL_USER_ATTR and list(entry["user_attr"]) == ["heartbeat"]:
            keep[number] = False  # a beat after the trial finished was refused when written
            if trial not in finished:
                beats.setdefault(trial, []).append(number)
        elif op == SET_STUDY_USER_ATTR:
            ((name, value),) = entry["user_attr"].items()
            keep[number] = study_attrs.get((entry["study_id"], name), UNSET) != value
            study_attrs[entry["study_id"], name] = value
    for numbers in beats.values():
        keep[numbers[0]] = keep[numbers[-1]] = True
    return keep


def replayed(path):
    """Every study in a journal as Optuna reads it: name, directions, attributes and trials."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return [{"name": study.study_name, "directions": study.directions, "user_attrs": study.user_attrs,
             "system_attrs": study.system_attrs,
             "trials": storage.get_all_trials(storage.get_study_id_from_name(study.study_name), deepcopy=False)}
            for study in storage.get_all_studies()]


def as_text(studies):
    """Studies (replayed) as JSON, every dictionary in the order Optuna built it, so that two compare
    equal only if the tables would read them the same, row order included."""
    return json.dumps(studies, default=lambda value: vars(value) if isinstance(value, optuna.trial.FrozenTrial)
                      else repr(value))
