"""Run folders: what a training run leaves behind, and the state that lets it resume.

A finished run folder (default models/cnn/) holds:
    model.keras     the trained model, Keras's native format
    model.h5        the same model in HDF5, the format the report saved
    run.json        config, data, per-epoch history, test loss and accuracy, seconds, versions
    history.csv     the per-epoch history as a table
    not_a_digit.npz its not-a-digit detector, fitted on first use (digits.not_a_digit)
    figures/        the report's figures of this run (train_cnn.py, evaluate.py)
    tensorboard/    TensorBoard's logs of every epoch
While training it also holds checkpoint/, removed once the run is saved:
    checkpoint/config.json                the config being trained, so --resume can check it
    checkpoint/state.json                 after the last finished epoch: its number, the logs of
                                          every epoch so far, the dropout layers' random state
    checkpoint/after-epoch-N.weights.h5   the weights and optimizer state state.json names
Every file is written to a temporary name and renamed, so a crash leaves the
previous version or the new one, never half of one.
"""

import csv
import io
import math
from pathlib import Path
import shutil

from digits.config import RunConfig, load_config
from digits.errors import InputError
from digits.files import atomic_path, read_json, write_json, write_text

# Where runs go unless --out says otherwise: train_cnn.py's run, which predict and the draw page
# also read by default, and the run add_own_digits.py trains on a person's digits.
DEFAULT_RUN = "models/cnn"
OWN_DIGITS_RUN = "models/own-digits"
MODEL_FILES = ("model.keras", "model.h5")


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.model_keras = self.path / "model.keras"
        self.model_h5 = self.path / "model.h5"
        self.run_json = self.path / "run.json"
        self.history_csv = self.path / "history.csv"
        self.figures = self.path / "figures"
        self.tensorboard = self.path / "tensorboard"
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
        from digits.model import save_model

        self.path.mkdir(parents=True, exist_ok=True)
        save_model(model, self.model_keras)
        save_model(model, self.model_h5)
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


def run_name(model_file):
    """A model's short name: its run folder's name for a run's model.keras or model.h5, else the file's stem."""
    model_file = Path(model_file)
    in_a_run = model_file.name in MODEL_FILES and model_file.parent.name
    return model_file.parent.name if in_a_run else model_file.stem


def ensemble_folder(model_files):
    """Where an ensemble's evaluation goes: beside the first model's run, named for every model,
    e.g. models/ensemble-cnn-seed1+cnn-seed2 for models/cnn-seed1 and models/cnn-seed2."""
    first = Path(model_files[0])
    return first.parent.parent / f"ensemble-{'+'.join(run_name(file) for file in model_files)}"


def saved_data_path(run_folder):
    """The data a run was trained on, from its run.json, or None if it has none."""
    run_json = RunFolder(run_folder).run_json
    return load_config(run_json).data if run_json.is_file() else None


def temperature_of(path):
    """The temperature stored with a run: `path` is its run folder or a model file in it.

    None when there is none (a model file without a run.json beside it, or a run trained
    without a validation slice). InputError, naming the file, for a run.json that cannot be read
    or whose "calibration" holds no positive temperature.
    """
    path = Path(path)
    run_json = RunFolder(path if path.is_dir() else path.parent).run_json
    if not run_json.is_file():
        return None
    record = read_json(run_json)
    calibration = record.get("calibration") if isinstance(record, dict) else None
    if calibration is None:
        return None
    temperature = calibration.get("temperature") if isinstance(calibration, dict) else None
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            math.isfinite(temperature) and temperature > 0):
        raise InputError(f'{run_json}: "calibration" holds no positive temperature (got {calibration!r:.80})')
    return float(temperature)


def history_as_csv(history):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(history)
    writer.writerows(zip(*history.values()))
    return text.getvalue()
