"""Who runs which point: the one reader of a study's state, and workers' reservations of points.

Optuna's GridSampler does not promise exactly-once with parallel workers (the tail of a
grid runs twice, and a failed or interrupted point is never run again), so, whatever the
storage:

- Reserve. A worker picks a point with no COMPLETE trial and no live RUNNING one, and
  creates a RUNNING trial that carries the point's key, in one write. Right after, and
  again before reporting its result, it re-reads the study and withdraws (FAIL, tagged
  `duplicate_of`) if the point is complete or a live reservation with a lower trial number
  exists. The lowest number always wins, so two workers that reserve at once still
  complete the point once.
- Liveness (digits.sweeps.liveness). Reading the study only finds dead reservations;
  releasing them (FAIL) is a step of its own, after which the point is free again and the
  dead process, should it wake, can no longer complete it.
- Errors. A point whose training raised an error is tried up to MAX_ERRORS times, then
  given up (GridState.failed), by the workers and in the tables alike. A run whose loss
  became NaN is a result (recorded as diverged), not an error.
"""

from dataclasses import dataclass, field

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from digits.config import OPTIMIZERS
from digits.sweeps.grids import FLOAT_FIELDS
from digits.sweeps.keys import stored_key
from digits.sweeps.liveness import has_heartbeat, is_alive, release_stale, this_process

MAX_ERRORS = 3

# What Optuna raises when a trial was finished meanwhile by another worker (or declared dead by one).
TRIAL_ALREADY_FINISHED = (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError)


@dataclass
class GridState:
    """Where each key of a grid stands, as read from a study at one moment."""

    complete: dict = field(default_factory=dict)  # key -> its lowest-numbered COMPLETE trial
    running: dict = field(default_factory=dict)  # key -> its live RUNNING trials, lowest number first
    dead: list = field(default_factory=list)  # RUNNING trials whose worker is gone (release_dead_reservations)
    errors: dict = field(default_factory=dict)  # key -> number of its trials that ended in an error
    duplicates: dict = field(default_factory=dict)  # key -> COMPLETE trials after its first, which count for nothing
    pending: list = field(default_factory=list)  # keys a worker may reserve now
    failed: list = field(default_factory=list)  # keys given up after MAX_ERRORS errors

    def finished(self):
        """Every key complete or given up."""
        return not self.pending and not self.running

    def winner_over(self, trial_key, number):
        """The trial that holds `trial_key` before trial `number`, if any: a COMPLETE one, else a live
        RUNNING one with a lower number."""
        if trial_key in self.complete and self.complete[trial_key].number != number:
            return self.complete[trial_key]
        return next((t for t in self.running.get(trial_key, []) if t.number < number), None)


def read_grid_state(study, keys=None):
    """Where every key stands (None: every key the study has trials of). Reads, never writes."""
    state, seen = GridState(), {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        trial_key = stored_key(trial.user_attrs.get("key"))
        if trial_key is None or (keys is not None and trial_key not in keys):
            continue
        seen[trial_key] = True
        if trial.state == TrialState.COMPLETE:
            if trial_key in state.complete:
                state.duplicates[trial_key] = state.duplicates.get(trial_key, 0) + 1
            else:
                state.complete[trial_key] = trial
        elif trial.state == TrialState.RUNNING:
            if is_alive(trial):
                state.running.setdefault(trial_key, []).append(trial)
            else:
                state.dead.append(trial)
        elif trial.state == TrialState.FAIL and "error" in trial.user_attrs:
            state.errors[trial_key] = state.errors.get(trial_key, 0) + 1
    for k in keys if keys is not None else seen:
        if k in state.complete or k in state.running:
            continue
        (state.failed if state.errors.get(k, 0) >= MAX_ERRORS else state.pending).append(k)
    return state


def trial_id(study, storage, number):
    """The storage's id of a study's trial."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def release_dead_reservations(study, storage, trials):
    """Mark dead reservations FAIL, freeing their points: `trials` (GridState.dead), and on an RDB
    storage those whose heartbeat stopped."""
    for trial in trials:
        try:
            storage.set_trial_user_attr(trial_id(study, storage, trial.number), "abandoned",
                                        "its worker stopped without finishing")
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except TRIAL_ALREADY_FINISHED:
            pass  # another worker got there first
    release_stale(study)


def optuna_params(config, point):
    """The point's settings and seed as Optuna params (each fixed to its value), for the dashboard."""
    params, distributions = {"seed": config.seed}, {"seed": IntDistribution(config.seed, config.seed)}
    for name in point:
        value = getattr(config, name)
        if name == "optimizer":
            params[name], distributions[name] = value, CategoricalDistribution(OPTIMIZERS)
        elif name == "deterministic":
            params[name], distributions[name] = value, CategoricalDistribution((False, True))
        elif name in FLOAT_FIELDS and value is not None:
            params[name], distributions[name] = float(value), FloatDistribution(value, value)
        elif isinstance(value, int):
            params[name], distributions[name] = value, IntDistribution(value, value)
    return params, distributions


def reserve(study, storage, trial_key, config, point):
    """Create a RUNNING trial for `config`, known by `trial_key`; return it, or None if another worker has the point.

    On an RDB storage its heartbeat is recorded at once: a trial without one is never found stale."""
    params, distributions = optuna_params(config, point)
    template = optuna.trial.create_trial(
        state=TrialState.RUNNING, params=params, distributions=distributions,
        user_attrs={"key": trial_key, "point": {**point, "seed": config.seed}, "process": this_process()},
    )
    new_id = storage.create_new_trial(storage.get_study_id_from_name(study.study_name), template_trial=template)
    if has_heartbeat(storage):
        storage.record_heartbeat(new_id)
    trial = optuna.Trial(study, new_id)
    if withdrawn_for_duplicate(study, trial, trial_key):
        return None
    return trial


def withdrawn_for_duplicate(study, trial, trial_key):
    """Withdraw a reservation when another trial holds its point first (see GridState.winner_over)."""
    winner = read_grid_state(study, {trial_key}).winner_over(trial_key, trial.number)
    if winner is not None:
        withdraw(study, trial, "duplicate_of", winner.number)
    return winner is not None


def withdraw(study, trial, reason, detail):
    """End a reserved trial as FAIL, with `reason` (interrupted, error, duplicate_of) among its attributes."""
    try:
        trial.set_user_attr(reason, detail)
        study.tell(trial, state=TrialState.FAIL)
    except TRIAL_ALREADY_FINISHED:
        pass
