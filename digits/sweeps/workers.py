"""Worker processes: each reserves a point of a sweep, trains it through digits.training.train,
stores the run's record in its trial, writes the trial's TensorBoard logs (digits.sweeps.hparams)
and prints one progress line, until every point is complete or given up.

`plan_workers` decides how many workers run here and with how many threads each;
`run_sweep` starts them (one runs in this process) and passes Ctrl-C and `kill` on, so
each withdraws its running trial before it exits.
"""

from contextlib import contextmanager
from dataclasses import dataclass
import hashlib
import logging
import math
import multiprocessing
import os
from pathlib import Path
import random
import shutil
import signal
import time

import optuna

from digits import hardware
from digits.data import load_dataset
from digits.errors import first_line
from digits.run_folder import RunFolder
from digits.sweeps.experiments import Experiment, slug
from digits.sweeps.hparams import write_trial
from digits.sweeps.liveness import Heartbeat
from digits.sweeps.reservations import (
    TRIAL_ALREADY_FINISHED, read_grid_state, release_dead_reservations, reserve, trial_id, withdraw,
    withdrawn_for_duplicate,
)
from digits.sweeps.storage import open_storage

# How often a worker with nothing left to reserve looks again: soon enough that a sweep ends within
# moments of its last trial, and reading the grid's state is cheap for a journal or a database.
POLL_SECONDS = 2


@dataclass(frozen=True)
class Sweep:
    """Everything a worker needs, picklable so that spawned processes receive it."""

    storage: str | None
    study_name: str
    experiment: Experiment
    planned: tuple  # of (key, RunConfig, the point's own settings): keys.keyed_runs
    threads: int | None = None  # TensorFlow threads per op in each worker; None: its default, all cores
    tensorboard: str | None = None  # folder for the trials' TensorBoard logs; None: none
    checkpoints: str | None = None  # folder for the running trials' checkpoints (checkpoint_of); None: none
    keep_models: str | None = None  # folder to keep each completed run's model in (kept_run); None: not kept

    def points(self):
        """key -> (config, the point's own settings)."""
        return {trial_key: (config, point) for trial_key, config, point in self.planned}


def run_worker(sweep, workers=1):
    """Reserve and run points until every point of the sweep is complete or given up."""
    hardware.configure_threads(sweep.threads)
    storage = open_storage(sweep.storage)
    study = optuna.load_study(study_name=sweep.study_name, storage=storage)
    points = sweep.points()
    first = sweep.planned[0][1]  # every run of a sweep trains on the same data
    dataset = load_dataset(first.data, first.limit)
    chooser = random.Random(os.getpid())
    while True:
        state = read_grid_state(study, points)
        release_dead_reservations(study, storage, state.dead)
        if state.finished():
            return
        if not state.pending:
            time.sleep(POLL_SECONDS)  # the rest is running elsewhere: wait in case a worker dies
            continue
        trial_key = chooser.choice(resumable(sweep, state.pending) or state.pending)
        config, point = points[trial_key]
        trial = None
        try:
            with stop_signals_deferred():  # a stop while reserving lands once there is a trial to withdraw
                trial = reserve(study, storage, trial_key, config, point)
            if trial is None:
                continue
            record = run_trial(study, storage, trial, config, dataset, sweep.experiment.test_each_epoch,
                               checkpoint_of(sweep, trial_key), kept_run(sweep, point, config.seed))
        except KeyboardInterrupt:
            if trial is not None:
                ignore_stop_signals()  # a second Ctrl-C or kill must not cut the withdrawal short
                withdraw(study, trial, "interrupted", True)
            raise
        if record is not None:
            if sweep.tensorboard:
                write_trial(sweep.tensorboard, sweep.study_name, trial)
            print(progress_line(study, points, trial.number, {**point, "seed": config.seed}, record, workers), flush=True)


def checkpoint_of(sweep, trial_key):
    """The run folder a trial checkpoints into after every epoch, named by its key's SHA-256, or None.

    A trial stopped midway (Ctrl-C, kill, the end of a session) resumes from its last finished
    epoch when its point is reserved again on this machine, so that runs of hours (the epochs
    experiment's 200 epochs) finish across sessions; the folder is removed once the trial is complete.
    """
    if sweep.checkpoints is None:
        return None
    return RunFolder(Path(sweep.checkpoints) / hashlib.sha256(trial_key.encode()).hexdigest()[:16])


def kept_run(sweep, point, seed):
    """The run folder a completed trial's model is kept in with --keep-models, or None:
    DIR/<study>/<point>-seed<N>, e.g. models/sweeps/recipe/modern-seed1, for evaluate.py,
    predict and ensembles."""
    if sweep.keep_models is None:
        return None
    name = sweep.experiment.point_name(point) or " ".join(f"{k}={v}" for k, v in sorted(point.items())) or "baseline"
    return RunFolder(Path(sweep.keep_models) / slug(sweep.study_name) / f"{slug(name)}-seed{seed}")


def resumable(sweep, keys):
    """The keys among `keys` whose trials were stopped midway here: reserved before any other."""
    return [trial_key for trial_key in keys if (run := checkpoint_of(sweep, trial_key)) and run.finished_epochs()]


def train_trial(config, dataset, test_each_epoch, run=None):
    """Train and test one config: its digits.training result, whose record() a trial stores (the same
    as a run folder's run.json). With `run` (checkpoint_of's), it checkpoints every epoch there and
    resumes what a stopped trial left."""
    import keras

    from digits import training

    keras.backend.clear_session()  # one worker trains many models: free the previous ones
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # a new model per trial retraces; that is expected
    if run is not None:
        run.start(config, resume=run.is_interrupted() and run.interrupted_config() == config)
    return training.train(config, dataset, run=run, test_each_epoch=test_each_epoch, verbose=False)


def objective(record):
    """The value a study maximizes: the validation accuracy, so that nothing in a study (its best
    trial, a dashboard's ranking) chooses on the test set. NaN, which Optuna refuses, counts as 0."""
    accuracy = record["validation"]["accuracy"]
    return accuracy if math.isfinite(accuracy) else 0.0


def run_trial(study, storage, trial, config, dataset, test_each_epoch, run=None, kept=None):
    """Train a reserved point and complete its trial; None if it ended otherwise (error, lost reservation).
    A stopped trial (run_worker withdraws it) keeps its checkpoint in `run` to resume from; a finished or failed one drops it.
    A completed trial's model is saved in the run folder `kept`, if given."""
    try:
        with Heartbeat(storage, trial_id(study, storage, trial.number)):
            result = train_trial(config, dataset, test_each_epoch, run)
    except Exception as error:  # e.g. out of memory: recorded, and the point is tried again, from its start
        remove(run)
        withdraw(study, trial, "error", f"{type(error).__name__}: {first_line(error)}")
        print(f"trial {trial.number} failed: {type(error).__name__}: {first_line(error)}", flush=True)
        return None
    record = result.record()
    try:
        if withdrawn_for_duplicate(study, trial, trial.user_attrs["key"]):
            return None
        for name, value in record.items():
            trial.set_user_attr(name, value)
        study.tell(trial, objective(record))
    except TRIAL_ALREADY_FINISHED:
        return None  # marked dead while it trained (e.g. the machine slept): the point went to another
    finally:
        remove(run)
    if kept is not None:
        kept.save(result.model, record)
    return record


def remove(run):
    if run is not None:
        shutil.rmtree(run.path, ignore_errors=True)


def progress_line(study, points, number, point, record, workers):
    """E.g. '[3/8] trial 5: dropout=0.2 seed=1: validation 97.10%, test 97.35%, train 96.80%, 74 s; about 6 min left'."""
    state = read_grid_state(study, points)
    done, total = len(state.complete), len(points)
    seconds = [t.user_attrs.get("seconds", 0) for t in state.complete.values()]
    left = (total - done - len(state.failed)) * (sum(seconds) / len(seconds)) / max(workers, len(state.running), 1)
    scores = ", ".join(f"{part} {record[part]['accuracy']:.2%}" for part in ("validation", "test", "train"))
    note = " (diverged)" if record["diverged"] else ""
    settings = " ".join(f"{name}={value}" for name, value in point.items())
    return (f"[{done}/{total}] trial {number}: {settings}: {scores}{note}, {record['seconds']:.0f} s; "
            f"about {format_duration(left)} left")


def format_duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_workers(workers, threads, runs_left, cores=None):
    """(worker processes, TensorFlow threads per worker) for --workers N|auto and --threads.

    The cores are shared out: N workers get cores // N threads each, unless --threads says.
    'auto' runs one single-threaded worker per core, never more workers than runs left:
    one small network cannot keep several cores busy, so separate workers finish more
    trials per hour once started (bench/sweep_workers.py measures it).
    """
    cores = cores or hardware.usable_cores()
    if workers == "auto":
        workers = max(1, min(cores, runs_left))
    return workers, threads or max(1, cores // workers)


def worker_process(sweep, workers):
    """Entry point of a spawned worker: Ctrl-C and SIGTERM withdraw the running trial, then exit."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run_worker(sweep, workers)
    except KeyboardInterrupt:
        pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def ignore_stop_signals():
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def stop_signals_deferred():
    """Hold Ctrl-C and SIGTERM back until the block ends, then deliver the first one that came.

    Python-level, not pthread_sigmask: a signal blocked in this thread would reach one of
    TensorFlow's threads, and Python would run its handler at once all the same."""
    received = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])


def run_sweep(sweep, workers):
    """Run the sweep here with `workers` processes (1: in this process). Returns the final GridState.

    Ctrl-C reaches every process of the terminal's group; a `kill` (SIGTERM) reaches only
    this one, which passes it on to its workers, so each withdraws its trial either way.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if workers == 1:
        run_worker(sweep)
    else:
        context = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow
        processes = [context.Process(target=worker_process, args=(sweep, workers)) for _ in range(workers)]
        for process in processes:
            process.start()
        try:
            for process in processes:
                process.join()
        except KeyboardInterrupt:
            ignore_stop_signals()
            for process in processes:
                if process.is_alive():
                    process.terminate()  # SIGTERM: the worker withdraws its trial and exits
            for process in processes:
                process.join(timeout=60)
            raise
    study = optuna.load_study(study_name=sweep.study_name, storage=open_storage(sweep.storage))
    return read_grid_state(study, sweep.points())
