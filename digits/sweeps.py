"""Running a grid of RunConfigs through an Optuna study: every (point, seed) completed exactly
once, by any number of worker processes on any number of machines, through Ctrl-C, kill -9
and reboots.

Optuna stores the study (a journal file by default, SQLite or PostgreSQL on request), but
the sweep picks the points itself. Optuna's GridSampler does not promise exactly-once with
parallel workers (the tail of a grid runs twice, and a failed or interrupted point is
never run again), and its heartbeat exists only for RDB storages driven by optimize().
So, whatever the storage:

- Claim. A worker picks a point with no COMPLETE trial and no live RUNNING one, and creates
  a RUNNING trial that carries the point's key, in one write. Before training, and again
  before reporting its result, it re-reads the study and withdraws (FAIL, tagged
  `duplicate_of`) if the point is complete or a live claim with a lower trial number
  exists. The lowest number always wins, so two workers that claim at once still
  complete the point once.
- Liveness. A running trial records its host, boot and process, and refreshes a heartbeat
  every 30 s. A claim is dead if its process is gone (same machine), the machine has
  rebooted, or its heartbeat is older than 10 minutes (another machine). Any worker marks a
  dead claim FAIL; its point is free again, and the dead process, should it wake, can no
  longer complete it.
- Errors. A point whose training raised an error is retried up to 3 times, then reported
  as failed. A run whose loss became NaN is a result (recorded as diverged), not an error.
"""

from dataclasses import dataclass, field
import hashlib
import json
import logging
import multiprocessing
import os
from pathlib import Path
import random
import signal
import socket
import tempfile
import threading
import time

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from digits import hardware
from digits.config import OPTIMIZERS
from digits.data import load_mnist, to_inputs, to_one_hot
from digits.errors import InputError, first_line
from digits.experiments import FLOAT_FIELDS, key
from digits.runs import RunFolder

DEFAULT_STORAGE = "results/report/sweeps.log"  # the reproduction's runs, committed
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 600
POLL_SECONDS = 15
MAX_ERRORS = 3

optuna.logging.set_verbosity(optuna.logging.WARNING)

# What Optuna raises when a trial was finished meanwhile by another worker (or declared dead by one).
TRIAL_ALREADY_FINISHED = (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError)


# Storage ----------------------------------------------------------------------------------


def open_storage(spec=None):
    """A journal file (the default, results/report/sweeps.log), or an RDB URL: sqlite:///file.db, postgresql://..."""
    spec = spec or DEFAULT_STORAGE
    if "://" not in spec:
        path = Path(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        check_journal(path)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    url = spec
    if url.startswith("postgresql://"):
        # A bare postgresql:// means psycopg2 under SQLAlchemy 2.0 but psycopg 3 under 2.1: name the driver.
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except Exception as error:  # SQLAlchemy and the drivers raise many kinds
            # Workers starting together on an empty database race to create Optuna's tables;
            # the loser finds them made on its next try. Anything else fails every try.
            if attempt == 2:
                raise InputError(f"{redacted(spec)}: cannot open the storage ({first_line(error)})") from None
            time.sleep(1 + attempt)


def check_journal(path):
    """Refuse a file that is not an Optuna journal, and drop a half-written last entry.

    Optuna skips lines it cannot read, so a wrong file would silently look empty and then
    be appended to; and a process killed in mid-append leaves a torn last line that makes
    the whole journal unreadable once anything follows it. The check holds the journal's
    own lock, so no live worker is writing meanwhile.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        *lines, torn = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or "op_code" not in entry:
                raise InputError(f"{path}: line {number} is not an Optuna journal entry; left as it is")
        if torn:
            with open(path, "r+b") as file:
                file.truncate(len(data) - len(torn))
            print(f"{path}: dropped a half-written last entry left by a killed process", flush=True)
    finally:
        lock.release()


def redacted(url):
    """A storage URL with any password replaced, for messages (a file path as it is)."""
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"


def load_or_create_study(storage, name):
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)


def register_grid(study, experiment, runs):
    """Record the grid in the study, so a report can tell what is missing without the command line."""
    keys = [key(config) for config, _ in runs]
    digest = hashlib.sha1(json.dumps(keys).encode()).hexdigest()[:12]
    study.set_user_attr(
        f"grid {digest}",
        {"experiment": experiment.name, "description": experiment.description,
         "test_each_epoch": experiment.test_each_epoch, "keys": keys},
    )


# Liveness ---------------------------------------------------------------------------------

HOST = socket.gethostname()


def read_text(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def boot_id():
    return read_text("/proc/sys/kernel/random/boot_id")


def process_start(pid):
    """The kernel's start time of a process (so a reused pid is told apart), or None off Linux."""
    stat = read_text(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


def this_process():
    return {"host": HOST, "boot": boot_id(), "pid": os.getpid(), "start": process_start(os.getpid())}


def is_alive(trial, now):
    """Whether a RUNNING trial's worker is still at it (see the module docstring)."""
    process = trial.user_attrs.get("process", {})
    if process.get("host") == HOST and process.get("boot") is not None:
        if process["boot"] != boot_id():
            return False  # the machine rebooted since
        if process.get("start") is not None:
            return process_start(process["pid"]) == process["start"]
    return now - trial.user_attrs.get("heartbeat", 0) < STALE_SECONDS


class Heartbeat:
    """Refresh a trial's heartbeat from a background thread while its worker trains."""

    def __init__(self, trial):
        self.trial = trial
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)

    def beat(self):
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


# The grid's state -------------------------------------------------------------------------


@dataclass
class GridStatus:
    complete: dict = field(default_factory=dict)  # key -> the lowest COMPLETE trial
    running: dict = field(default_factory=dict)  # key -> live RUNNING trials
    errors: dict = field(default_factory=dict)  # key -> number of trials that ended in an error
    pending: list = field(default_factory=list)  # keys a worker may claim now
    failed: list = field(default_factory=list)  # keys given up after MAX_ERRORS errors

    def finished(self, keys):
        return all(k in self.complete or k in self.failed for k in keys)


def grid_status(study, storage, keys):
    """Where every key stands; marks dead claims FAIL on the way, freeing their points."""
    status = GridStatus()
    now = time.time()
    for trial in study.get_trials(deepcopy=False):
        trial_key = trial.user_attrs.get("key")
        if trial_key not in keys:
            continue
        if trial.state == TrialState.COMPLETE:
            status.complete.setdefault(trial_key, trial)
        elif trial.state == TrialState.RUNNING:
            if is_alive(trial, now):
                status.running.setdefault(trial_key, []).append(trial)
            else:
                mark_dead(study, storage, trial)
        elif trial.state == TrialState.FAIL and "error" in trial.user_attrs:
            status.errors[trial_key] = status.errors.get(trial_key, 0) + 1
    for k in keys:
        if k in status.complete or k in status.running:
            continue
        (status.failed if status.errors.get(k, 0) >= MAX_ERRORS else status.pending).append(k)
    return status


def mark_dead(study, storage, trial):
    try:
        storage.set_trial_user_attr(trial._trial_id, "abandoned", "its worker stopped without finishing")
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    except TRIAL_ALREADY_FINISHED:
        pass  # another worker got there first


def winner_over(study, trial_key, number):
    """The trial that has the better claim on `trial_key` than trial `number`, if any."""
    now = time.time()
    for rival in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        if rival.number == number or rival.user_attrs.get("key") != trial_key:
            continue
        if rival.state == TrialState.COMPLETE:
            return rival
        if rival.state == TrialState.RUNNING and rival.number < number and is_alive(rival, now):
            return rival
    return None


# Claiming and running a point -------------------------------------------------------------


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


def claim(study, storage, config, point):
    """Create a RUNNING trial for `config`; return it, or None if another worker has the point."""
    trial_key = key(config)
    params, distributions = optuna_params(config, point)
    template = optuna.trial.create_trial(
        state=TrialState.RUNNING, params=params, distributions=distributions,
        user_attrs={"key": trial_key, "point": {**point, "seed": config.seed}, "process": this_process(),
                    "heartbeat": time.time()},
    )
    trial_id = storage.create_new_trial(storage.get_study_id_from_name(study.study_name), template_trial=template)
    trial = optuna.Trial(study, trial_id)
    if withdrawn_for_duplicate(study, trial, trial_key):
        return None
    return trial


def withdrawn_for_duplicate(study, trial, trial_key):
    winner = winner_over(study, trial_key, trial.number)
    if winner is not None:
        withdraw(study, trial, "duplicate_of", winner.number)
    return winner is not None


def train_and_test(config, data, test_each_epoch):
    """Train one config on prepared data and test it; the record a trial stores."""
    import keras

    from digits import training
    from digits.model import as_float32

    (x_train, y_train), (x_test, y_test) = data
    keras.backend.clear_session()  # one worker trains many models: free the previous ones
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # a new model per trial retraces; that is expected
    model = training.new_model(config)
    extra = [training.TestEachEpoch(x_test, y_test)] if test_each_epoch else []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweep-trial-") as folder:
        run = RunFolder(folder)
        run.start(config, resume=False)
        try:
            history, diverged = training.fit(model, config, x_train, y_train, run, extra, verbose=False), False
        except training.TrainingDiverged as divergence:
            history, diverged = divergence.history, True
    test = training.evaluate(as_float32(model, config), x_test, y_test)
    return {
        "config": config.to_dict(),
        "precision": training.precision_of(model),
        "history": history,
        "train": {"loss": history["loss"][-1], "accuracy": history["accuracy"][-1]},
        "validation": ({"loss": history["val_loss"][-1], "accuracy": history["val_accuracy"][-1]}
                       if "val_accuracy" in history else None),
        "test": test,
        "diverged": diverged,
        "seconds": round(time.perf_counter() - started, 2),
        "host": HOST,
    }


def run_trial(study, trial, config, data, test_each_epoch):
    """Train a claimed point and complete its trial; None if it ended otherwise (error, lost claim)."""
    try:
        with Heartbeat(trial):
            result = train_and_test(config, data, test_each_epoch)
    except KeyboardInterrupt:
        ignore_stop_signals()  # a second Ctrl-C or kill must not cut the withdrawal short
        withdraw(study, trial, "interrupted", True)
        raise
    except Exception as error:  # e.g. out of memory: recorded, and the point is tried again
        withdraw(study, trial, "error", f"{type(error).__name__}: {first_line(error)}")
        print(f"trial {trial.number} failed: {type(error).__name__}: {first_line(error)}", flush=True)
        return None
    try:
        if withdrawn_for_duplicate(study, trial, trial.user_attrs["key"]):
            return None
        for name, value in result.items():
            trial.set_user_attr(name, value)
        study.tell(trial, result["test"]["accuracy"])
    except TRIAL_ALREADY_FINISHED:
        return None  # marked dead while it trained (e.g. the machine slept): the point went to another
    return result


def withdraw(study, trial, reason, detail):
    try:
        trial.set_user_attr(reason, detail)
        study.tell(trial, state=TrialState.FAIL)
    except TRIAL_ALREADY_FINISHED:
        pass


# Workers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    """Everything a worker needs, picklable so that spawned processes receive it."""

    storage: str | None
    study_name: str
    experiment: object  # experiments.Experiment
    runs: tuple  # of (RunConfig, the point's own settings)
    threads: int | None = None  # TensorFlow threads per op in each worker; None: its default, all cores

    def points(self):
        """key -> (config, the point's own settings)."""
        return {key(config): (config, point) for config, point in self.runs}


def describe_point(point):
    return " ".join(f"{name}={value}" for name, value in point.items())


def prepared_data(config):
    (x_train, y_train), (x_test, y_test) = load_mnist(config.data, config.limit)
    return (to_inputs(x_train), to_one_hot(y_train)), (to_inputs(x_test), to_one_hot(y_test))


def run_worker(sweep, workers=1):
    """Claim and run points until every point of the sweep is complete or given up."""
    hardware.configure_threads(sweep.threads)
    storage = open_storage(sweep.storage)
    study = optuna.load_study(study_name=sweep.study_name, storage=storage)
    points = sweep.points()
    data = prepared_data(sweep.runs[0][0])
    chooser = random.Random(os.getpid())
    while True:
        status = grid_status(study, storage, set(points))
        if status.finished(points):
            return
        if not status.pending:
            time.sleep(POLL_SECONDS)  # the rest is running elsewhere: wait in case a worker dies
            continue
        trial_key = chooser.choice(status.pending)
        config, point = points[trial_key]
        trial = claim(study, storage, config, point)
        if trial is None:
            continue
        result = run_trial(study, trial, config, data, sweep.experiment.test_each_epoch)
        if result is not None:
            print(progress_line(study, storage, points, trial, {**point, "seed": config.seed}, result, workers), flush=True)


def progress_line(study, storage, points, trial, point, result, workers):
    status = grid_status(study, storage, set(points))
    done, total = len(status.complete), len(points)
    seconds = [t.user_attrs.get("seconds", 0) for t in status.complete.values()]
    left = (total - done - len(status.failed)) * (sum(seconds) / len(seconds)) / max(workers, len(status.running), 1)
    note = " (diverged)" if result["diverged"] else ""
    return (
        f"[{done}/{total}] trial {trial.number}: {describe_point(point)}: test {result['test']['accuracy']:.2%}, "
        f"train {result['train']['accuracy']:.2%}{note}, {result['seconds']:.0f} s; about {format_duration(left)} left"
    )


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
    on a 2-core machine two 1-thread workers finished 1.31x as many trials per hour as
    one 2-thread worker once started (bench/sweep_workers.py), because one small network
    cannot keep two cores busy. Each spawned worker pays TensorFlow's start-up once
    (about 10 s), which only sweeps of a few minutes notice.
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


def ignore_stop_signals():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_sweep(sweep, workers):
    """Run the sweep here with `workers` processes (1: in this process). Returns the final GridStatus.

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
    storage = open_storage(sweep.storage)
    study = optuna.load_study(study_name=sweep.study_name, storage=storage)
    return grid_status(study, storage, set(sweep.points()))
