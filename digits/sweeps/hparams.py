"""The HParams plugin's view of the sweeps: TensorBoard logs written from the trials' stored records.

A trial appears once it is complete, and stored runs can be written again at any time without
training:

    <logdir>/events.out.tfevents.*.experiment   one HParams experiment for every study
    <logdir>/<study>/trial-0004/                a trial: its settings and final accuracies,
    <logdir>/<study>/trial-0004/train/ ...      and its per-epoch history, as Keras's TensorBoard
                                                callback logs a run's (epoch_loss in train/, ...)

TensorBoard's HParams plugin reads one experiment summary per logdir (the first it finds), so
one covers every study: its columns are the settings that differ between the runs planned or
stored (the study, when there are several), each with the values it takes. Nothing here
imports TensorFlow: the event files and protocol buffers come from the tensorboard package,
so a sweep's main process and its tables stay light.
"""

from dataclasses import fields
import json
import os
from pathlib import Path
import secrets
import shutil
import socket
import time

from tensorboard.compat.proto.event_pb2 import Event
# The HParams API without its Keras callback, whose module imports TensorFlow.
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.record_writer import RecordWriter

from digits.config import RunConfig
from digits.sweeps.experiments import slug
from digits.sweeps.keys import stored_key

# The final scores each trial records, as (metric tag, part of the run record, shown as).
METRICS = (("validation_accuracy", "validation", "validation accuracy"),
           ("test_accuracy", "test", "test accuracy"),
           ("train_accuracy", "train", "train accuracy (last epoch)"))
# Where the callback logs a history's metric, by its prefix in the logs: val_loss -> validation/epoch_loss.
PARTS = {"val_": "validation", "test_": "test"}


def write_sweep_logs(storage, logdir):
    """Write the experiment summary of every study in `storage`, and the folder of every completed
    trial not yet written (the lowest-numbered of each key, as the tables count); return the
    number of completed trials, written now or before."""
    import optuna

    from digits.sweeps.keys import registered_grids
    from digits.sweeps.reservations import read_grid_state
    from digits.sweeps.storage import study_names

    runs, trials = [], []
    for name in study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        complete = read_grid_state(study).complete
        planned = {trial_key for grid in registered_grids(study) for trial_key in grid["keys"]}
        runs += [hparams(name, trial_key) for trial_key in planned - complete.keys()]
        runs += [hparams(name, trial_key, trial.user_attrs) for trial_key, trial in complete.items()]
        trials += [(name, trial) for trial in complete.values()]
    write_experiment(logdir, runs)
    for name, trial in trials:
        write_trial(logdir, name, trial)
    return len(trials)


def hparams(study_name, trial_key, record=None):
    """A run's settings as the HParams plugin takes them, from its key (keys.key): the study, and every
    RunConfig setting, the data named by its fingerprint's first 8 digits; numbers as floats, lists
    as 64-64-64.

    With the run's record, an unset learning rate reads as the rate it trained at (its optimizer's
    default) and an unset limit as the training images it took, so that the runs that left them
    unset still have a place on the parallel coordinates beside those that set them. Settings
    still unset (None) are left out.
    """
    values = {"study": study_name}
    settings = json.loads(stored_key(trial_key))
    if record is not None:
        data = record.get("data") or {}
        taken = sum((data.get(part) or {}).get("images", 0) for part in ("train", "validation"))
        settings["learning_rate"] = settings.get("learning_rate") or record.get("learning_rate")
        settings["limit"] = settings.get("limit") or taken or None
    for name, value in settings.items():
        if name == "data" and value is not None:
            value = value[:8]
        if isinstance(value, list):
            value = "-".join(str(part) for part in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
        if value is not None:
            values[name] = value
    return values


def write_experiment(logdir, runs):
    """The experiment summary of the runs' settings (hparams() dicts): each setting that differs
    between them, the study among them, with the values it takes; the metrics are METRICS.

    It replaces the one written before: a new file is written, then every older one removed, so
    a TensorBoard running meanwhile reads the new one, and two sweeps writing at once leave one.
    """
    order = ["study", *(field.name for field in fields(RunConfig))]
    taken = {name: sorted({run[name] for run in runs if name in run}) for name in order}
    settings = [hp.HParam(name, hp.Discrete(values)) for name, values in taken.items() if len(values) > 1]
    metrics = [hp.Metric(tag, display_name=shown) for tag, _, shown in METRICS]
    logdir = Path(logdir)
    path = logdir / f"events.out.tfevents.{time.time_ns()}.{socket.gethostname()}.{os.getpid()}.experiment"
    temporary = logdir / f".experiment.{os.getpid()}-{secrets.token_hex(4)}.partial"
    write_events(temporary, [(0, hp.hparams_config_pb(settings, metrics))])
    os.replace(temporary, path)
    for older in sorted(logdir.glob("events.out.tfevents.*.experiment"))[:-1]:
        older.unlink(missing_ok=True)


def trial_folder(logdir, study_name, number):
    return Path(logdir) / slug(study_name) / f"trial-{number:04d}"


def write_trial(logdir, study_name, trial):
    """Write a completed trial's folder (an optuna Trial or FrozenTrial): its settings, its final
    accuracies (METRICS) and its per-epoch history. A folder already there is left as it is.

    The folder is written under a temporary name and renamed into place, so it is whole or
    absent, and two processes writing the same trial leave one.
    """
    final = trial_folder(logdir, study_name, trial.number)
    if final.exists():
        return
    record = trial.user_attrs
    epochs = len(record.get("history", {}).get("epoch", [])) or 1
    session = hp.hparams_pb(hparams(study_name, record["key"], record), trial_id=f"{slug(study_name)}/{final.name}",
                            start_time_secs=trial.datetime_start.timestamp())
    scores = [(epochs - 1, scalar_pb(tag, record[part]["accuracy"])) for tag, part, _ in METRICS if record.get(part)]
    temporary = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        write_events(temporary / "events.out.tfevents.session", [(0, session), *scores])
        for part, summaries in history_summaries(record.get("history", {})).items():
            write_events(temporary / part / "events.out.tfevents.history", summaries)
        os.rename(temporary, final)
    except OSError:
        if not final.exists():  # else another process wrote it meanwhile
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def history_summaries(history):
    """{part: [(step, summary), ...]}: a run record's per-epoch history with the callback's tags and steps."""
    parts = {}
    for name, values in history.items():
        if name == "epoch":
            continue
        prefix = next((prefix for prefix in PARTS if name.startswith(prefix)), "")
        summaries = parts.setdefault(PARTS.get(prefix, "train"), [])
        summaries += [(epoch - 1, scalar_pb(f"epoch_{name[len(prefix):]}", value))
                      for epoch, value in zip(history["epoch"], values)]
    return parts


def write_events(path, summaries):
    """Write an event file of (step, Summary) pairs, as TensorFlow's summary writer would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        writer = RecordWriter(file)
        writer.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        for step, summary in summaries:
            writer.write(Event(wall_time=time.time(), step=step, summary=summary).SerializeToString())
