"""TensorBoard logs: a training run's per-epoch scalars through an interruption and a resume, and
the HParams summaries of a sweep's trials, written live by the workers and again from the storage."""

import json
import os
from pathlib import Path
import subprocess
import sys

import optuna
from optuna.trial import TrialState
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata
from tensorboard.util import tensor_util

from digits import training
from digits.sweeps.experiments import slug
from digits.sweeps.storage import open_storage
from digits.sweeps.hparams import write_sweep_logs
import train_cnn

ROOT = Path(__file__).resolve().parent.parent
SESSION = metadata.SESSION_START_INFO_TAG
EXPERIMENT = metadata.EXPERIMENT_TAG


def read_run(folder):
    """A TensorBoard run folder: {tag: [(step, value), ...]} of its scalars, and its accumulator."""
    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    accumulator.Reload()
    scalars = {tag: [(event.step, float(tensor_util.make_ndarray(event.tensor_proto)))
                     for event in accumulator.Tensors(tag)]
               for tag in accumulator.Tags()["tensors"] if not tag.startswith("_hparams_/")}
    return scalars, accumulator


def plugin_content(accumulator, tag):
    return accumulator.SummaryMetadata(tag).plugin_data.content


def session_hparams(folder):
    """The settings a trial's folder gives the HParams plugin, as Python values."""
    _, accumulator = read_run(folder)
    start = metadata.parse_session_start_info_plugin_data(plugin_content(accumulator, SESSION))
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}


# Training -----------------------------------------------------------------------------------


def train(*args):
    return train_cnn.main([str(arg) for arg in args])


def tiny(data, epochs):
    """A tiny network on a slice of the data, with a validation slice and a schedule."""
    return ("--data", data, "--limit", 500, "--filters", "4,8", "--epochs", epochs, "--validation-split", 0.2,
            "--schedule", "cosine", "--learning-rate", 0.005)


@pytest.mark.slow
def test_a_run_logs_every_epoch_once_through_an_interruption_and_its_resume(tmp_path, digits_npz, monkeypatch):
    run = tmp_path / "run"
    printed = training.EpochPrinter.on_epoch_end

    def ctrl_c_after_epoch_2(self, epoch, logs=None):
        printed(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochPrinter, "on_epoch_end", ctrl_c_after_epoch_2)
    assert train(*tiny(digits_npz, 3), "--out", run) == 130
    monkeypatch.setattr(training.EpochPrinter, "on_epoch_end", printed)
    logged, _ = read_run(run / "tensorboard" / "train")
    assert [step for step, _ in logged["epoch_loss"]] == [0, 1]  # flushed as each epoch ended
    assert train("--resume", "--out", run) == 0

    assert len(list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))) == 2  # continued, not restarted
    history = json.loads((run / "run.json").read_text())["history"]
    assert history["epoch"] == [1, 2, 3]
    train_logs, _ = read_run(run / "tensorboard" / "train")
    validation_logs, _ = read_run(run / "tensorboard" / "validation")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds"} <= set(train_logs)
    assert {"epoch_loss", "epoch_accuracy"} <= set(validation_logs)
    for logs, prefix in ((train_logs, ""), (validation_logs, "val_")):
        for metric in ("loss", "accuracy"):
            steps, values = zip(*logs[f"epoch_{metric}"])
            assert steps == (0, 1, 2)  # every epoch once, none twice
            assert values == pytest.approx(history[prefix + metric], rel=1e-6)
    rates = [rate for _, rate in train_logs["epoch_learning_rate"]]
    assert 0.005 > rates[0] > rates[1] > rates[2] >= 0  # the cosine schedule, epoch by epoch

    # --tensorboard puts the logs elsewhere; a run started afresh drops the logs an earlier run left there.
    assert train(*tiny(digits_npz, 1), "--out", tmp_path / "other", "--tensorboard", run / "tensorboard") == 0
    assert [step for step, _ in read_run(run / "tensorboard" / "train")[0]["epoch_loss"]] == [0]
    assert [step for step, _ in read_run(run / "tensorboard" / "validation")[0]["epoch_loss"]] == [0]
    assert not (tmp_path / "other" / "tensorboard").exists()


# Sweeps -------------------------------------------------------------------------------------

GRID = "dropout=0.1,0.3 filters=4-8"
LIMIT, EPOCHS = 300, 1
STORAGE = Path("results", "sweeps", "sweeps.log")  # where a sweep keeps its runs by default
LOGS = Path("results", "sweeps", "tensorboard")  # and writes their TensorBoard logs


def sweep_hparams(*args, cwd):
    env = {key: value for key, value in os.environ.items() if key != "MNIST_DATA"}
    result = subprocess.run([sys.executable, str(ROOT / "sweep_hparams.py"), *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def swept(tmp_path_factory, digits_npz):
    """A working folder where a tiny sweep of 2 runs ran with the default storage and logs; its study's name."""
    folder = tmp_path_factory.mktemp("sweep")
    out = sweep_hparams("custom", "--grid", GRID, "--epochs", EPOCHS, "--limit", LIMIT, "--data", digits_npz,
                        "--workers", 1, cwd=folder)
    assert "2 of 2 runs complete" in out
    assert f"TensorBoard HParams logs of 2 runs in {Path('results/sweeps/tensorboard')}/" in out
    (summary,) = optuna.get_all_study_summaries(open_storage(str(folder / STORAGE)))
    return folder, summary.study_name


def completed(folder, name):
    trials = optuna.load_study(study_name=name, storage=open_storage(str(folder / STORAGE))).get_trials()
    return [trial for trial in trials if trial.state == TrialState.COMPLETE]


def assert_logs_match_the_stored_trials(logs, trials, name):
    """Each trial's folder holds its settings, final accuracies and per-epoch history, as stored."""
    assert len(trials) == 2
    for trial in trials:
        folder = logs / slug(name) / f"trial-{trial.number:04d}"
        record = trial.user_attrs
        hparams = session_hparams(folder)
        assert hparams["study"] == name and hparams["data"] == record["data"]["sha256"][:8]
        assert hparams["dropout"] == record["config"]["dropout"] and hparams["filters"] == "4-8"
        assert hparams["seed"] == 1 and hparams["optimizer"] == "adam" and hparams["batch_norm"] is False
        assert hparams["learning_rate"] == record["learning_rate"] == 0.001  # unset: the rate it trained at
        assert hparams["limit"] == LIMIT
        scores, _ = read_run(folder)
        for part in ("validation", "test", "train"):
            assert scores[f"{part}_accuracy"] == [(EPOCHS - 1, pytest.approx(record[part]["accuracy"], rel=1e-6))]
        curves, _ = read_run(folder / "validation")
        assert curves["epoch_accuracy"] == [(0, pytest.approx(record["history"]["val_accuracy"][0], rel=1e-6))]

    # One experiment summary for the whole logdir: the settings that differ (one study: not the study), the metrics.
    (_,) = logs.glob("events.out.tfevents.*.experiment")  # each one written replaces the one before
    _, accumulator = read_run(logs)
    experiment = metadata.parse_experiment_plugin_data(plugin_content(accumulator, EXPERIMENT))
    domains = {info.name: list(info.domain_discrete) for info in experiment.hparam_infos}
    assert domains == {"dropout": [0.1, 0.3]}
    assert [metric.name.tag for metric in experiment.metric_infos] == [
        "validation_accuracy", "test_accuracy", "train_accuracy"]


@pytest.mark.slow
def test_a_sweep_logs_each_trial_for_the_hparams_dashboard(swept):
    folder, name = swept
    assert_logs_match_the_stored_trials(folder / LOGS, completed(folder, name), name)


@pytest.mark.slow
def test_the_logs_of_stored_runs_are_written_from_the_storage_alone(swept, tmp_path):
    folder, name = swept
    sweep_hparams("tables", "--storage", folder / STORAGE, "--out", tmp_path / "report",
                  "--tensorboard", tmp_path / "logs", cwd=tmp_path)
    assert_logs_match_the_stored_trials(tmp_path / "logs", completed(folder, name), name)

    # Written again, the trials' logs are left as they are.
    trial_files = {path: path.read_bytes() for path in (tmp_path / "logs" / slug(name)).rglob("*") if path.is_file()}
    assert write_sweep_logs(open_storage(str(folder / STORAGE)), tmp_path / "logs") == 2
    assert {path: path.read_bytes() for path in (tmp_path / "logs" / slug(name)).rglob("*")
            if path.is_file()} == trial_files
