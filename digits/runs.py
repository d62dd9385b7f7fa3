"""Run folders: what a training run leaves behind, and the state that lets it resume.

A finished run folder (default models/cnn/) holds:
    model.keras     the trained model, Keras's native format
    model.h5        the same model in HDF5, the format the report saved
    run.json        config, data, per-epoch history, test loss and accuracy, seconds, versions
    history.csv     the per-epoch history as a table
    curves.png      accuracy and loss per epoch
    figures/        the report's figures of this run (train_cnn.py, evaluate.py)
While training it also holds checkpoint/, removed once the run is saved:
    checkpoint/config.json                the config being trained, so --resume can check it
    checkpoint/state.json                 after the last finished epoch: its number, the logs of
                                          every epoch so far, the dropout layers' random state
    checkpoint/after-epoch-N.weights.h5   the weights and optimizer state state.json names
Every file is written to a temporary name and renamed, so a crash leaves the
previous version or the new one, never half of one.
"""

from contextlib import contextmanager
import csv
from datetime import datetime, timezone
import io
import logging
import os
from pathlib import Path
import platform
import shutil
import sys

from digits import hardware
from digits.config import RunConfig, load_config
from digits.errors import InputError
from digits.files import atomic_path, read_json, write_json, write_text


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.model_keras = self.path / "model.keras"
        self.model_h5 = self.path / "model.h5"
        self.run_json = self.path / "run.json"
        self.history_csv = self.path / "history.csv"
        self.curves_png = self.path / "curves.png"
        self.figures = self.path / "figures"
        self.checkpoint = self.path / "checkpoint"
        self.checkpoint_config = self.checkpoint / "config.json"
        self.checkpoint_state = self.checkpoint / "state.json"

    def model_file(self):
        """Its model.keras, else its model.h5, else None."""
        return next((path for path in (self.model_keras, self.model_h5) if path.is_file()), None)

    def is_complete(self):
        return self.run_json.is_file() and self.model_keras.is_file()

    def is_interrupted(self):
        return self.checkpoint_config.is_file()

    def interrupted_config(self):
        return load_config(self.checkpoint_config)

    def finished_epochs(self):
        """Epochs an interrupted run has finished."""
        return len(self.checkpoint_epochs())

    def checkpoint_epochs(self):
        """{epoch number: its logs} of the epochs finished so far; empty for a run not started."""
        state = self.last_checkpoint()
        return {int(number): logs for number, logs in state["history"].items()} if state else {}

    def last_checkpoint(self):
        """The state after the last finished epoch, as save_checkpoint wrote it, or None."""
        return read_json(self.checkpoint_state) if self.checkpoint_state.is_file() else None

    def checkpoint_weights(self, epoch):
        return self.checkpoint / f"after-epoch-{epoch}.weights.h5"

    def save_checkpoint(self, model, epochs, seed_states):
        """Checkpoint the training state after the last of `epochs` ({number: logs}).

        The weights (with the optimizer's state) go to a file of their own, then state.json,
        which names them, replaces the last one in a single rename, then the older weights
        go: a stop at any moment, kill -9 included, leaves the state after the previous
        epoch or after this one, whole, with the history of exactly the epochs it holds.
        """
        epoch = max(epochs)
        weights = self.checkpoint_weights(epoch)
        with atomic_path(weights) as temporary:
            model.save_weights(temporary)
        write_json(self.checkpoint_state, {
            "epoch": epoch,
            "weights": weights.name,
            "seed_states": seed_states,
            "history": {str(number): logs for number, logs in sorted(epochs.items())},
        })
        for older in self.checkpoint.glob("after-epoch-*.weights.h5"):
            if older != weights:
                older.unlink()

    def refuse_to_replace(self, overwrite):
        """A finished run is replaced only when asked: InputError unless `overwrite`."""
        if self.is_complete() and not overwrite:
            raise InputError(
                f"{self.path} holds a finished run; choose another --out, or add --overwrite to replace it"
            )

    def discard_checkpoint(self):
        shutil.rmtree(self.checkpoint, ignore_errors=True)

    def start(self, config: RunConfig, resume: bool):
        """Prepare the checkpoint folder: kept as it is to resume, else made afresh."""
        if resume:
            return
        self.discard_checkpoint()
        self.checkpoint.mkdir(parents=True)
        write_json(self.checkpoint_config, {"config": config.to_dict()})

    def save(self, model, record):
        """Write the finished run, each file atomically, then drop the checkpoint."""
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.model_keras) as temporary:
            model.save(temporary)
        with atomic_path(self.model_h5) as temporary, absl_warnings_silenced():
            model.save(temporary)  # Keras warns that HDF5 is legacy; it is the report's format, on purpose
        write_text(self.history_csv, history_as_csv(record["history"]))
        write_json(self.run_json, record)
        self.discard_checkpoint()


def find_model_file(path):
    """The model a user points at: a .keras or .h5 file, or a run folder's model.keras (else model.h5)."""
    path = Path(path)
    if path.is_dir():
        model_file = RunFolder(path).model_file()
        if model_file is None:
            raise InputError(f"{path}: no model.keras or model.h5 in this folder")
        return model_file
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix not in (".keras", ".h5"):
        raise InputError(f"{path}: expected a .keras or .h5 model file, or a run folder")
    return path


def saved_data_path(run_folder):
    """The data a run was trained on, from its run.json, or None if it has none."""
    run_json = RunFolder(run_folder).run_json
    return load_config(run_json).data if run_json.is_file() else None


@contextmanager
def absl_warnings_silenced():
    """Keras logs its warnings through absl's Python logger."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def history_as_csv(history):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(history)
    writer.writerows(zip(*history.values()))
    return text.getvalue()


def provenance():
    """Library versions, machine, command and time: what a result needs to be put in context."""
    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu": hardware.cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads_per_op": hardware.threads_per_op(),
        "device": hardware.describe_device(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
