"""sweep_hparams.py: grids, exactly-once with parallel workers, kill -9 and resume, other data, bad input
(its reports: test_sweep_reports.py)."""

from contextlib import contextmanager
from dataclasses import replace
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
from optuna.trial import TrialState
import pytest

from conftest import random_mnist
from harness.servers import kill_group
from digits import cli, training
from digits.config import RunConfig
from digits.data import Dataset, load_dataset
from digits.errors import InputError
from digits.sweeps import compaction, liveness, reservations, tables, workers
from digits.sweeps.experiments import (
    SWEEP_BASE, SWEEP_VALIDATION_SPLIT, beyond_experiments, custom_experiment, planned_runs, report_experiments,
    study_name,
)
from digits.sweeps.grids import grid_from_file, grid_from_text
from digits.sweeps.keys import data_of, key, keyed_runs, register_grid
from digits.sweeps.storage import load_or_create_study, open_storage

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "sweep_hparams.py"
SHIPPED_STORAGE = ROOT / "results" / "report" / "sweeps.log"
SWEEPS = Path("results") / "sweeps"  # where a sweep with the default storage writes, from its working folder


def synthetic_dataset(seed=0):
    """A small Dataset of random images, for tests that key runs but train none."""
    arrays = random_mnist(seed=seed)
    return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source=f"random {seed}")


def fingerprint_of(path, limit=None, validation_split=SWEEP_VALIDATION_SPLIT):
    """The data fingerprint a sweep's runs on this file get."""
    return load_dataset(str(path), limit).fingerprint(validation_split)["sha256"]


def sweep_hparams(*args, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != "MNIST_DATA"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@contextmanager
def started_sweep(*args, cwd):
    """A sweep in its own process group, which is killed whole on the way out, should a test fail midway."""
    process = subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        yield process
    finally:
        kill_group(process)


def trials_of(storage_path):
    """Every trial of the one study in a journal file."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage_path)))
    summaries = optuna.get_all_study_summaries(storage)
    if not summaries:  # the journal exists, but the sweep has not created its study yet
        return []
    (summary,) = summaries
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def wait_for_running_trial(storage_path, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "the sweep ended before a trial was caught running"
        if storage_path.exists() and any(t.state == TrialState.RUNNING and "key" in t.user_attrs
                                         for t in trials_of(storage_path)):
            return
        time.sleep(0.2)
    raise AssertionError("no trial started")


TINY = "filters=8-8-8"  # a network that trains in a moment: the tests of sweeping check the sweep, not the model


def assert_each_key_completed_once(trials, expected):
    complete = [t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == len(set(complete)) == expected, sorted(complete)


# Grids --------------------------------------------------------------------------------------


def test_the_reports_experiments():
    experiments = report_experiments(max_epochs=50)
    assert [p["dropout"] for p in experiments["dropout"].points] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert {p["optimizer"] for p in experiments["dropout"].points} == {"sgd"}
    assert [(p["optimizer"], p["dropout"]) for p in experiments["optimizer"].points] == [
        ("sgd", 0.3), ("rmsprop", 0.3), ("adam", 0.3), ("adam", 0.2)]
    assert experiments["epochs"].points == ({"epochs": 50},) and experiments["epochs"].test_each_epoch
    assert [p["batch_size"] for p in experiments["batch_size"].points] == [32, 64, 128, 256]
    rates = [(p["optimizer"], p["learning_rate"]) for p in experiments["learning_rate"].points]
    assert {o for o, _ in rates} == {"sgd", "rmsprop", "adam"} and ("adam", 0.001) in rates and ("sgd", 0.01) in rates
    with pytest.raises(InputError, match="--max-epochs must be between 1 and 200"):
        report_experiments(max_epochs=201)


def test_runs_repeat_each_point_per_seed_and_epochs_overrides_all(tmp_path, digits_npz):
    experiment = report_experiments()["optimizer"]
    grid = planned_runs(experiment, RunConfig(data="d.npz", epochs=2), seeds=3)
    assert len(grid) == 12 and {config.seed for config, _ in grid} == {1, 2, 3}
    assert {config.epochs for config, _ in grid} == {2} and {config.data for config, _ in grid} == {"d.npz"}
    dataset = synthetic_dataset()
    keyed = keyed_runs(grid, dataset)
    assert [(config, point) for _, config, point in keyed] == grid
    assert len({trial_key for trial_key, _, _ in keyed}) == 12
    assert {data_of(trial_key) for trial_key, _, _ in keyed} == {dataset.fingerprint(0.0)["sha256"]}
    assert all(trial_key == key(config, data_of(trial_key)) for trial_key, config, _ in keyed)

    # The data path is not part of a run's identity, the data is: the same data under two paths
    # gives the same key, and other data (another fingerprint) another key.
    copy = tmp_path / "copy.npz"
    copy.write_bytes(Path(digits_npz).read_bytes())
    arrays = dict(np.load(digits_npz))
    other = tmp_path / "other.npz"
    np.savez(other, **{**arrays, "x_train": arrays["x_train"][::-1], "y_train": arrays["y_train"][::-1]})
    same, moved, changed = (fingerprint_of(path, limit=200) for path in (digits_npz, copy, other))
    assert same == moved and same != changed
    config = RunConfig(data=str(digits_npz), limit=200, validation_split=SWEEP_VALIDATION_SPLIT)
    assert key(config, same) == key(replace(config, data=str(copy)), moved)
    assert key(config, same) != key(replace(config, data=str(other)), changed)
    assert key(config, same) != key(config, changed)  # the same path holding other data is other data
    (mine,), (copied,), (theirs,) = (keyed_runs([(replace(config, data=str(path)), {})], load_dataset(str(path), 200))
                                     for path in (digits_npz, copy, other))
    assert mine[0] == copied[0] != theirs[0] and data_of(mine[0]) == same and data_of(theirs[0]) == changed
    sweep_base = RunConfig(validation_split=SWEEP_VALIDATION_SPLIT)
    assert study_name(experiment, sweep_base) == "optimizer"
    assert study_name(experiment, replace(sweep_base, epochs=1, limit=500)) == "optimizer (epochs=1, limit=500)"
    assert study_name(experiment, RunConfig(precision="float32")) == "optimizer (validation_split=0, precision=float32)"


def planned(*argv):
    """What sweep_hparams.py would run for this command line: [(experiment, runs, study name)]."""
    import sweep_hparams

    args = sweep_hparams.build_parser().parse_args(argv)
    return sweep_hparams.planned_sweeps(args, cli.config_from(args, SWEEP_BASE))


def test_an_epochs_flag_equal_to_the_default_applies_to_the_long_run():
    ((_, grid, name),) = planned("epochs", "--epochs", "15")
    assert {config.epochs for config, _ in grid} == {15} and name == "epochs (epochs=15)"
    ((_, grid, name),) = planned("epochs")
    assert {config.epochs for config, _ in grid} == {50} and name == "epochs"
    ((_, grid, name),) = planned("optimizer", "--epochs", "15")  # changes no run: the same study
    assert {config.epochs for config, _ in grid} == {15} and name == "optimizer"
    ((_, grid, name),) = planned("epochs", "--epochs", "50", "--validation-split", "0.1", "--precision", "auto")
    assert {config.epochs for config, _ in grid} == {50} and name == "epochs"
    ((_, grid, name),) = planned("epochs", "--max-epochs", "200", "--epochs", "3")
    assert {config.epochs for config, _ in grid} == {3} and name == "epochs (epochs=3)"


@pytest.mark.slow
def test_an_explicit_epochs_flag_names_its_study_on_the_command_line(tmp_path):
    result = sweep_hparams("epochs", "--epochs", 15, "--tables-only", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "## epochs (epochs=15)\n\nNo runs stored yet." in result.stdout


def test_custom_grids_from_text_and_json(tmp_path):
    points = grid_from_text("dropout=0.1,0.3 optimizer=sgd,adam filters=32-32,64-64-64")
    assert len(points) == 8 and points[0] == {"dropout": 0.1, "optimizer": "sgd", "filters": (32, 32)}
    (tmp_path / "grid.json").write_text(json.dumps({"batch-size": [32, 64], "filters": [[16, 16]], "dropout": [0]}))
    assert grid_from_file(tmp_path / "grid.json") == ({"batch_size": 32, "filters": (16, 16), "dropout": 0.0},
                                                      {"batch_size": 64, "filters": (16, 16), "dropout": 0.0})
    assert isinstance(grid_from_file(tmp_path / "grid.json")[0]["dropout"], float)  # one setting, one key


@pytest.mark.parametrize("text, message", [
    ("colour=red", "unknown parameter(s) colour"),
    ("dropout", "expected NAME=VALUE"),
    ("dropout=", "expected NAME=VALUE"),
    ("dropout=high", "'high' is not a valid value for dropout"),
    ("", "grid: empty"),
])
def test_bad_grids(text, message):
    with pytest.raises(InputError) as error:
        grid_from_text(text)
    assert message in str(error.value)


# Liveness -----------------------------------------------------------------------------------


class FakeTrial:
    def __init__(self, process):
        self.user_attrs = {"process": process}


def trial_id(storage, trial):
    """The storage's id of a reserved trial (an optuna.Trial)."""
    return reservations.trial_id(trial.study, storage, trial.number)


def test_a_reservation_is_alive_while_its_process_runs_and_another_machines_is_left_to_the_storage():
    me = liveness.this_process()
    assert liveness.is_alive(FakeTrial(me))  # same machine: the process decides
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    gone = {**me, "pid": finished.pid, "start": "1"}
    assert not liveness.is_alive(FakeTrial(gone))
    assert not liveness.is_alive(FakeTrial({**me, "boot": "another-boot"}))
    assert liveness.is_alive(FakeTrial({**me, "host": "another-machine"}))  # judged by an RDB storage's heartbeat


@pytest.mark.slow
def test_an_rdb_storage_releases_another_machines_reservation_once_its_heartbeat_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "HEARTBEAT_SECONDS", 1)
    from digits.sweeps import storage as storages

    monkeypatch.setattr(storages, "STALE_SECONDS", 2)  # SQLite's clock counts whole seconds
    storage = open_storage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    study = load_or_create_study(storage, "stale")
    grid = keyed_runs(planned_runs(custom_experiment(grid_from_text("dropout=0.1,0.2")), SWEEP_BASE, seeds=1),
                      synthetic_dataset())
    keys = [trial_key for trial_key, _, _ in grid]
    beating, stopped = (reservations.reserve(study, storage, *point) for point in grid)
    for trial in (beating, stopped):
        storage.set_trial_user_attr(trial_id(storage, trial), "process",
                                    {**liveness.this_process(), "host": "another-machine"})
    with liveness.Heartbeat(storage, trial_id(storage, beating)):
        time.sleep(4.5)  # the stopped one's heartbeat, recorded when it was reserved, grows stale
        assert list(reservations.read_grid_state(study, keys).running) == keys  # alive until the storage says
        reservations.release_dead_reservations(study, storage, [])
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAIL]
    assert reservations.read_grid_state(study, keys).pending == [keys[1]]


def finished_process():
    """This process's description with the pid of one that has exited."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return {**liveness.this_process(), "pid": finished.pid, "start": "1"}


def test_reading_a_study_never_writes_and_releasing_dead_reservations_is_its_own_step(tmp_path):
    storage = open_storage(str(tmp_path / "sweeps.log"))
    study = load_or_create_study(storage, "state")
    experiment = custom_experiment(grid_from_text("dropout=0.1,0.2,0.3"))
    grid = keyed_runs(planned_runs(experiment, SWEEP_BASE, seeds=1), synthetic_dataset())
    keys = [trial_key for trial_key, _, _ in grid]
    live = reservations.reserve(study, storage, *grid[0])
    dead = reservations.reserve(study, storage, *grid[1])
    storage.set_trial_user_attr(trial_id(storage, dead), "process", finished_process())
    for _ in range(reservations.MAX_ERRORS):
        reservations.withdraw(study, reservations.reserve(study, storage, *grid[2]), "error", "OSError: disk full")
    before = [(t.state, t.user_attrs) for t in study.get_trials()]

    state = reservations.read_grid_state(study, keys)
    assert [(t.state, t.user_attrs) for t in study.get_trials()] == before  # read, and nothing written
    assert list(state.running) == [keys[0]] and [t.number for t in state.dead] == [dead.number]
    assert state.pending == [keys[1]] and state.failed == [keys[2]] and not state.finished()
    assert state.winner_over(keys[0], live.number + 100).number == live.number
    (results,) = tables.read_study(storage, "state")
    assert results.failed == []  # the study registered no grid: nothing expected

    reservations.release_dead_reservations(study, storage, state.dead)
    released = study.get_trials()[dead.number]
    assert released.state == TrialState.FAIL and "abandoned" in released.user_attrs
    assert reservations.read_grid_state(study, keys).dead == []


def test_a_point_given_up_after_repeated_errors_is_failed_for_workers_and_report_alike(tmp_path):
    storage = open_storage(str(tmp_path / "sweeps.log"))
    study = load_or_create_study(storage, "errors")
    experiment = custom_experiment(grid_from_text("dropout=0.1,0.2"))
    dataset = synthetic_dataset()
    grid = keyed_runs(planned_runs(experiment, SWEEP_BASE, seeds=1), dataset)
    register_grid(study, experiment, grid, dataset)
    for tries in (reservations.MAX_ERRORS, reservations.MAX_ERRORS - 1):
        for _ in range(tries):
            reservations.withdraw(study, reservations.reserve(study, storage, *grid[tries == reservations.MAX_ERRORS - 1]), "error", "boom")
    keys = [trial_key for trial_key, _, _ in grid]
    state = reservations.read_grid_state(study, keys)
    assert state.failed == [keys[0]] and state.pending == [keys[1]]
    (results,) = tables.read_study(storage, "errors")
    assert results.failed == [keys[0]] and results.missing == [keys[1]]


# Sweeps for real ----------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_complete_every_point_exactly_once(tmp_path, digits_npz):
    result = sweep_hparams("custom", "--grid", f"dropout=0,0.2 {TINY}", "--seeds", 2, "--epochs", 1, "--limit", 300,
                           "--data", digits_npz, "--workers", 2, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("] trial ") == 4 and "4 of 4 runs complete" in result.stdout
    assert "2 worker(s) here, " in result.stdout
    trials = trials_of(tmp_path / SWEEPS / "sweeps.log")
    assert_each_key_completed_once(trials, 4)
    record = next(t for t in trials if t.state == TrialState.COMPLETE).user_attrs
    assert {"config", "history", "train", "validation", "test", "seconds", "host", "point", "precision"} <= set(record)
    assert record["history"]["epoch"] == [1] and 0 <= record["test"]["accuracy"] <= 1
    assert record["config"]["validation_split"] == 0.1  # the sweeps' held-out slice, beside the test set
    assert record["validation"]["accuracy"] == record["history"]["val_accuracy"][-1]


def swept_in_process(tmp_path, digits_npz, seeds, keep_models=None):
    """A 2-epoch dropout=0.2 grid on 300 digits, swept by one worker in this process: (study, grid, dataset)."""
    storage_path = str(tmp_path / "sweeps.log")
    experiment = custom_experiment(grid_from_text("dropout=0.2"))
    dataset = load_dataset(str(digits_npz), 300)
    grid = keyed_runs(planned_runs(experiment, replace(SWEEP_BASE, data=str(digits_npz), limit=300, epochs=2), seeds=seeds),
                      dataset)
    study = load_or_create_study(open_storage(storage_path), "one trial")
    register_grid(study, experiment, grid, dataset)
    workers.run_worker(workers.Sweep(storage_path, "one trial", experiment, tuple(grid), keep_models=keep_models))
    return study, grid, dataset


@pytest.mark.slow
def test_a_trial_trains_through_training_train_and_optimizes_the_validation_accuracy(tmp_path, digits_npz,
                                                                                   monkeypatch):
    calls = []
    train = training.train

    def spy(config, dataset, **options):
        result = train(config, dataset, **options)
        calls.append((config, options, set(result.record())))
        return result

    monkeypatch.setattr(training, "train", spy)
    study, grid, _ = swept_in_process(tmp_path, digits_npz, seeds=1)

    (trial,) = study.get_trials()
    ((config, options, record_keys),) = calls
    assert trial.state == TrialState.COMPLETE and config == grid[0][1] and options["test_each_epoch"] is False
    assert trial.user_attrs["key"] == grid[0][0]  # stored under the key it was claimed by
    assert trial.user_attrs["data"]["sha256"] == data_of(grid[0][0])  # the data it trained on is the key's
    assert set(trial.user_attrs) == record_keys | {"key", "point", "process"}  # train()'s one record, no heartbeat
    record = trial.user_attrs
    assert trial.value == record["validation"]["accuracy"] == record["history"]["val_accuracy"][-1]
    assert trial.value != record["test"]["accuracy"]  # the study ranks by validation; test is kept beside it
    assert study.best_trial.number == trial.number


@pytest.mark.slow
def test_keep_models_saves_each_completed_run_as_a_run_folder_that_reads_as_its_trial(tmp_path, digits_npz):
    import keras

    from digits.data import to_inputs
    from digits.files import read_json
    from digits.run_folder import RunFolder

    study, _, dataset = swept_in_process(tmp_path, digits_npz, seeds=2, keep_models=str(tmp_path / "models"))

    trials = study.get_trials()
    assert len(trials) == 2
    for trial in trials:
        run = RunFolder(tmp_path / "models" / "one-trial" / f"dropout-0-2-seed{trial.user_attrs['point']['seed']}")
        record = read_json(run.run_json)
        assert record["config"] == trial.user_attrs["config"] and record["test"] == trial.user_attrs["test"]
        model = keras.saving.load_model(run.model_keras)
        predicted = model.predict(to_inputs(dataset.test_images), verbose=0).argmax(axis=1)
        assert np.mean(predicted == dataset.test_labels) == pytest.approx(record["test"]["accuracy"], abs=1e-6)


def test_a_kept_model_of_a_named_point_is_named_for_it():
    recipe = beyond_experiments()["recipe"]
    sweep = workers.Sweep(None, "recipe", recipe, (), keep_models="models/sweeps")
    modern = recipe.points[recipe.point_names.index("modern")]
    assert workers.kept_run(sweep, modern, 4).path == Path("models/sweeps/recipe/modern-seed4")
    assert workers.kept_run(replace(sweep, keep_models=None), modern, 4) is None


def test_a_ctrl_c_that_lands_while_reserving_withdraws_the_new_trial(tmp_path, digits_npz, monkeypatch):
    reserve = workers.reserve

    def reserve_and_be_stopped(study, storage, *point):
        trial = reserve(study, storage, *point)
        signal.raise_signal(signal.SIGINT)  # after the trial exists, before the worker has it
        return trial

    monkeypatch.setattr(workers, "reserve", reserve_and_be_stopped)
    monkeypatch.setattr(workers, "train_trial", lambda *args: pytest.fail("a stopped worker trained"))
    handlers = {signum: signal.getsignal(signum) for signum in workers.STOP_SIGNALS}
    try:
        with pytest.raises(KeyboardInterrupt):
            swept_in_process(tmp_path, digits_npz, seeds=1)
    finally:
        for signum, handler in handlers.items():  # the worker ignores stops once it withdraws: it is exiting
            signal.signal(signum, handler)

    (trial,) = trials_of(tmp_path / "sweeps.log")
    assert trial.state == TrialState.FAIL and trial.user_attrs["interrupted"] is True


@pytest.mark.slow
def test_ctrl_c_and_kill_9_mid_trial_then_rerun_loses_and_repeats_nothing(tmp_path, digits_npz):
    # 20 epochs of a tiny network outlast the moment a trial is seen running by seconds (a new model's
    # tracing alone takes one), and keep the rerun, which trains both points, short.
    args = ("custom", "--grid", f"dropout=0,0.2 {TINY}", "--epochs", 20, "--limit", 300, "--data", digits_npz,
            "--workers", 1)
    storage_path = tmp_path / SWEEPS / "sweeps.log"

    with started_sweep(*args, cwd=tmp_path) as process:
        wait_for_running_trial(storage_path, process)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    assert [t.user_attrs.get("interrupted") for t in trials_of(storage_path)] == [True]  # withdrawn, not left running

    with started_sweep(*args, cwd=tmp_path) as process:
        wait_for_running_trial(storage_path, process)
        process.kill()
        process.wait(timeout=60)
    assert any(t.state == TrialState.RUNNING for t in trials_of(storage_path))  # kill -9 leaves its claim behind

    result = sweep_hparams(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trials = trials_of(storage_path)
    assert_each_key_completed_once(trials, 2)
    assert not any(t.state == TrialState.RUNNING for t in trials)
    assert any("abandoned" in t.user_attrs for t in trials)  # the killed claim was found dead and freed


@pytest.mark.slow
def test_a_stopped_trial_resumes_from_its_last_finished_epoch_and_drops_its_checkpoint(tmp_path, digits_npz):
    from digits.run_folder import RunFolder

    args = ("custom", "--grid", f"dropout=0.2 {TINY}", "--epochs", 20, "--limit", 300, "--data", digits_npz,
            "--workers", 1)
    checkpoints = tmp_path / SWEEPS / "checkpoints"
    with started_sweep(*args, cwd=tmp_path) as process:
        deadline = time.time() + 180
        while not (runs := [RunFolder(path) for path in checkpoints.glob("*")]) or runs[0].finished_epochs() < 2:
            assert process.poll() is None and time.time() < deadline, "no trial checkpointed two epochs"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    (run,) = runs
    kept = run.checkpoint_epochs()  # the epochs finished before the stop, with their timings
    assert len(kept) >= 2 and run.interrupted_config().dropout == 0.2

    result = sweep_hparams(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (trial,) = [t for t in trials_of(tmp_path / SWEEPS / "sweeps.log") if t.state == TrialState.COMPLETE]
    history = trial.user_attrs["history"]
    assert len(history["loss"]) == 20
    # Resumed, not restarted: the epochs finished before the stop are the very ones checkpointed then.
    assert [history["seconds"][epoch - 1] for epoch in sorted(kept)] == [kept[epoch]["seconds"] for epoch in sorted(kept)]
    assert not any(checkpoints.iterdir())  # a complete trial leaves no checkpoint behind


@pytest.mark.slow
def test_kill_of_the_parent_stops_every_worker_and_withdraws_their_trials(tmp_path, digits_npz):
    """`kill PID` reaches only the parent; it must not leave its workers training on as orphans."""
    storage_path = tmp_path / SWEEPS / "sweeps.log"
    with started_sweep("custom", "--grid", "dropout=0,0.2,0.4", "--epochs", 30, "--data", digits_npz,
                       "--workers", 2, cwd=tmp_path) as process:
        deadline = time.time() + 180
        while not storage_path.exists() or sum(t.state == TrialState.RUNNING for t in trials_of(storage_path)) < 2:
            assert process.poll() is None and time.time() < deadline, "two workers never trained at once"
            time.sleep(0.3)
        process.terminate()
        assert process.wait(timeout=90) == 130
        time.sleep(3)  # an orphaned worker would go on and finish its trial
    trials = trials_of(storage_path)
    assert all(t.state == TrialState.FAIL for t in trials)  # none runs on, none completes
    interrupted = [t for t in trials if t.user_attrs.get("interrupted")]
    # the two that trained; any other is a point both workers reserved at once, withdrawn as the duplicate
    assert len(interrupted) == 2 and all("duplicate_of" in t.user_attrs for t in trials if t not in interrupted)


ONE_RUN = ("custom", "--grid", "dropout=0.2", "--epochs", 1, "--limit", 200)


def completed_trials(folder):
    return [t for t in trials_of(folder / SWEEPS / "sweeps.log") if t.state == TrialState.COMPLETE]


@pytest.fixture(scope="module")
def one_run_on_digits(tmp_path_factory, digits_npz):
    """A working folder where ONE_RUN trained its one run on digits_npz with the default storage."""
    folder = tmp_path_factory.mktemp("one-run")
    first = sweep_hparams(*ONE_RUN, "--data", digits_npz, cwd=folder)
    assert first.returncode == 0, first.stderr
    assert "0 already done" in first.stdout and first.stdout.count("] trial ") == 1
    assert len(completed_trials(folder)) == 1
    return folder


def copy_of(folder, tmp_path):
    """A copy of a sweep's working folder, for a test to sweep on in."""
    shutil.copytree(folder / "results", tmp_path / "results")
    return tmp_path


@pytest.mark.slow
def test_a_sweep_on_other_data_with_the_default_storage_trains_its_own_runs(one_run_on_digits, tmp_path, digits_npz):
    copy_of(one_run_on_digits, tmp_path)
    arrays = dict(np.load(digits_npz))
    other = tmp_path / "other.npz"  # the same digits, each pixel one grey level brighter (mod 256)
    np.savez(other, **{**arrays, "x_train": ((arrays["x_train"].astype(np.int16) + 1) % 256).astype(np.uint8)})

    second = sweep_hparams(*ONE_RUN, "--data", other, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "0 already done" in second.stdout and second.stdout.count("] trial ") == 1  # trained its own run
    ours, theirs = fingerprint_of(digits_npz, limit=200), fingerprint_of(other, limit=200)
    assert ours != theirs
    trials = completed_trials(tmp_path)
    assert sorted(data_of(t.user_attrs["key"]) for t in trials) == sorted([ours, theirs])
    assert all(t.user_attrs["data"]["sha256"] == data_of(t.user_attrs["key"]) for t in trials)
    assert_each_key_completed_once(trials, 2)

    # The tables list the study twice, once per data, each section naming its data.
    readme = (tmp_path / SWEEPS / "README.md").read_text()
    (summary,) = optuna.get_all_study_summaries(open_storage(str(tmp_path / SWEEPS / "sweeps.log")))
    name = summary.study_name
    assert name.startswith("custom-")
    assert readme.count(f"## {name}: ") == 2 and readme.count("1 of 1 runs complete") == 2
    data_lines = [line for line in readme.splitlines() if line.startswith("- data: ")]
    assert len(data_lines) == 2
    for path, fingerprint in ((digits_npz, ours), (other, theirs)):
        (line,) = [line for line in data_lines if f"(data {fingerprint[:8]})" in line]
        assert str(path) in line, line
        section = (tmp_path / SWEEPS / f"{tables.slug(name)}-data-{fingerprint[:8]}.md").read_text()
        assert line in section.splitlines() and "1 of 1 runs complete" in section
        assert (tmp_path / SWEEPS / f"{tables.slug(name)}-data-{fingerprint[:8]}.csv").is_file()
    # The files of the tables on one data are gone, not left beside the two.
    assert (one_run_on_digits / SWEEPS / f"{tables.slug(name)}.md").is_file()
    assert not [path.name for path in (tmp_path / SWEEPS).glob(f"{tables.slug(name)}.*")]


@pytest.mark.slow
def test_the_same_data_under_another_path_counts_as_done(one_run_on_digits, tmp_path, digits_npz):
    copy_of(one_run_on_digits, tmp_path)
    copy = tmp_path / "copy of digits.npz"
    copy.write_bytes(Path(digits_npz).read_bytes())

    again = sweep_hparams(*ONE_RUN, "--data", copy, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 already done" in again.stdout and "] trial " not in again.stdout
    (trial,) = completed_trials(tmp_path)  # no new trial trained
    assert data_of(trial.user_attrs["key"]) == fingerprint_of(digits_npz, limit=200) == fingerprint_of(copy, limit=200)
    readme = (tmp_path / SWEEPS / "README.md").read_text()
    assert readme.count("\n## ") == 1 and "1 of 1 runs complete" in readme  # one study, on one data
    assert not list((tmp_path / SWEEPS).glob("*-data-*"))


@pytest.mark.parametrize("args, message", [
    (["sizes"], "argument experiment: invalid choice: 'sizes'"),
    (["custom", "--grid", "colour=red"], "unknown parameter(s) colour"),
    (["custom"], "custom needs exactly one of --grid SPEC or --grid-file JSON"),
    (["custom", "--grid-file", "nowhere.json"], "nowhere.json: no such file"),
    (["optimizer", "--workers", "0"], "argument --workers: expected a whole number of at least 1, got '0'"),
    (["optimizer", "--workers", "many"], "argument --workers: expected a whole number of at least 1, got 'many'"),
    (["optimizer", "--seeds", "0"], "argument --seeds: expected a whole number of at least 1, got '0'"),
    (["optimizer", "--epochs", "0"], "argument --epochs: expected a whole number of at least 1, got '0'"),
    (["dropout", "--epochs", "-3"], "argument --epochs: expected a whole number of at least 1, got '-3'"),
    (["epochs", "--max-epochs", "0"], "argument --max-epochs: expected a whole number of at least 1, got '0'"),
    (["epochs", "--max-epochs", "201"], "--max-epochs must be between 1 and 200, got 201"),
    (["optimizer", "--validation-split", "0"], "argument --validation-split: expected a fraction above 0 and below 1"),
    (["custom", "--grid", "validation_split=0,0.1"], "grid: validation_split must be above 0"),
    (["tables", "--storage", "postgresql://user:secret@127.0.0.1:9/db"], "postgresql://user:***@127.0.0.1:9/db: cannot open the storage"),
    (["tables", "--storage", "nosuchdb://x"], "nosuchdb://x: cannot open the storage"),
    (["optimizer", "--data", "nowhere.npz", "--epochs", "1"], "nowhere.npz: no such file or folder"),
    (["tables", "--keep-models", "models"], "--keep-models keeps the models a sweep trains; 'tables' and"),
    (["optimizer", "--tables-only", "--keep-models", "models"], "'tables' and --tables-only train nothing"),
    (["compact", "--seeds", "3"], "compact takes --storage alone, not --seeds"),
    (["compact", "--storage", "postgresql://user:secret@127.0.0.1:9/db"], "compact works on journal files"),
    (["compact", "--storage", "nowhere.log"], "nowhere.log: no such journal file"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    result = sweep_hparams(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("args", [
    ("custom", "--grid", "dropout=0.1", "--tables-only"),  # the default storage
    ("tables", "--storage", SWEEPS / "sweeps.log"),
])
def test_a_corrupt_journal_is_refused_and_left_as_it_was(tmp_path, args):
    journal = tmp_path / SWEEPS / "sweeps.log"
    journal.parent.mkdir(parents=True)
    journal.write_text("this is not an optuna journal\n")
    result = sweep_hparams(*args, cwd=tmp_path)
    assert result.returncode == 2 and "sweeps.log" in result.stderr
    assert journal.read_text() == "this is not an optuna journal\n"


@pytest.mark.skipif(not os.environ.get("SWEEP_TEST_POSTGRES_URL"),
                    reason="needs a PostgreSQL server: .ci/run starts one and sets SWEEP_TEST_POSTGRES_URL")
def test_two_machines_share_one_study_through_postgresql(tmp_path, digits_npz):
    url = os.environ["SWEEP_TEST_POSTGRES_URL"]
    args = ("custom", "--grid", "dropout=0,0.1,0.2,0.3", "--epochs", 1, "--limit", 200, "--data", digits_npz,
            "--storage", url, "--seeds", 2, "--workers", 1)
    machines = [subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [machine.communicate(timeout=300) for machine in machines]
    assert [machine.returncode for machine in machines] == [0, 0], outputs
    assert sum(out.count("] trial ") for out, _ in outputs) == 8
    storage = open_storage(url)
    name = next(s.study_name for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith("custom-"))
    assert_each_key_completed_once(optuna.load_study(study_name=name, storage=storage).get_trials(), 8)


def test_a_half_written_last_journal_entry_is_dropped_and_the_rest_kept(tmp_path):
    path = tmp_path / "sweeps.log"
    study = load_or_create_study(open_storage(str(path)), "kept")
    study.set_user_attr("note", "still here")
    with open(path, "a") as journal:
        journal.write('{"op_code": 5, "worker_id": "cut off mid-wri')
    storage = open_storage(str(path))
    assert optuna.load_study(study_name="kept", storage=storage).user_attrs == {"note": "still here"}
    assert path.read_text().endswith("\n")


def a_nights_journal(path):
    """A journal as a long sweep leaves it: its grid registered by two commands, a study attribute set
    before it and twice again after it to one new value, a run completed after three heartbeats (and one
    more from another worker after it ended, which Optuna refuses), and a claim whose worker died after
    two: (trial of the run, dead trial)."""
    storage = open_storage(str(path))
    study = load_or_create_study(storage, "night")
    experiment = custom_experiment(grid_from_text("dropout=0.1,0.2"))
    dataset = synthetic_dataset()
    grid = keyed_runs(planned_runs(experiment, SWEEP_BASE, seeds=1), dataset)
    study.set_user_attr("note", "first")
    register_grid(study, experiment, grid, dataset)
    register_grid(study, experiment, grid, dataset)
    study.set_user_attr("note", "second")
    study.set_user_attr("note", "second")
    done = reservations.reserve(study, storage, *grid[0])
    for beat in (1.0, 2.0, 3.0):
        storage.set_trial_user_attr(trial_id(storage, done), "heartbeat", beat)
    study.tell(done, 0.9)
    dead = reservations.reserve(study, storage, *grid[1])
    storage.set_trial_user_attr(trial_id(storage, dead), "process", finished_process())
    for beat in (4.0, 5.0):
        storage.set_trial_user_attr(trial_id(storage, dead), "heartbeat", beat)
    with open(path, "a") as journal:
        journal.write(json.dumps({"op_code": 8, "worker_id": "another", "trial_id": trial_id(storage, done),
                                  "user_attr": {"heartbeat": 9.0}}) + "\n")
    return done, dead


def entries(path, op_code, attribute):
    """The values a journal sets `attribute` to with records of `op_code` (2: a study's, 8: a trial's), in order."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return [record["user_attr"][attribute] for record in records
            if record["op_code"] == op_code and attribute in record["user_attr"]]


def study_as_read(path):
    study = optuna.load_study(study_name="night", storage=open_storage(str(path)))
    return study.user_attrs, [(t.number, t.state, t.values, t.params, t.user_attrs, t.datetime_start, t.datetime_complete)
                              for t in study.get_trials()]


@pytest.mark.slow
def test_compact_drops_stale_heartbeats_and_attributes_and_reads_back_the_same(tmp_path):
    path = tmp_path / "sweeps.log"
    done, dead = a_nights_journal(path)
    assert len([name for name in study_as_read(path)[0] if name.startswith("grid ")]) == 1
    assert len(entries(path, 2, next(name for name in study_as_read(path)[0] if name.startswith("grid ")))) == 1
    before, size = study_as_read(path), path.stat().st_size

    result = sweep_hparams("compact", "--storage", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{size:,} -> {path.stat().st_size:,} bytes" in result.stdout and path.stat().st_size < size
    assert study_as_read(path) == before
    assert entries(path, 8, "heartbeat") == [1.0, 3.0, 4.0, 5.0]  # each trial's first and last; none after it ended
    assert entries(path, 2, "note") == ["first", "second"]  # set again to the value it had: dropped
    assert [t.user_attrs["heartbeat"] for t in optuna.load_study(study_name="night", storage=open_storage(
        str(path))).get_trials()] == [3.0, 5.0]
    assert [p.name for p in tmp_path.iterdir()] == ["sweeps.log"]  # no temporary file left

    again = sweep_hparams("compact", "--storage", path, cwd=tmp_path)
    assert again.returncode == 0 and f"{path.stat().st_size:,} -> {path.stat().st_size:,} bytes" in again.stdout


def test_compact_refuses_a_journal_with_a_live_run_and_leaves_it_as_it_was(tmp_path):
    path = tmp_path / "sweeps.log"
    done, dead = a_nights_journal(path)
    storage = open_storage(str(path))
    storage.set_trial_user_attr(trial_id(storage, dead), "process",
                                liveness.this_process())  # a worker that is alive
    content = path.read_bytes()
    result = sweep_hparams("compact", "--storage", path, cwd=tmp_path)
    assert result.returncode == 2 and "'night' 1 still running" in result.stderr
    assert path.read_bytes() == content


def losing_the_result(records):
    return [record["op_code"] != 6 for record in records]


def keeping_each_study_attributes_last_value_alone(records):
    """Moves "note" after the grid in the study's attributes: the same dictionary, in another order."""
    last = {name: number for number, record in enumerate(records) if record["op_code"] == 2 for name in record["user_attr"]}
    return [record["op_code"] != 2 or number in last.values() for number, record in enumerate(records)]


@pytest.mark.parametrize("wrong", [losing_the_result, keeping_each_study_attributes_last_value_alone])
def test_a_compaction_that_would_change_what_a_journal_says_is_refused(tmp_path, monkeypatch, wrong):
    path = tmp_path / "sweeps.log"
    a_nights_journal(path)
    content = path.read_bytes()
    monkeypatch.setattr(compaction, "lines_that_count", wrong)
    with pytest.raises(InputError, match="would not read back the same; left as it is"):
        compaction.compact_journal(path)
    assert path.read_bytes() == content and [p.name for p in tmp_path.iterdir()] == ["sweeps.log"]
