"""Fitting and testing a model: Keras callbacks for the per-epoch log, resume and a NaN guard."""

import math
import time

import keras
import tensorflow as tf

from digits import hardware
from digits.errors import InputError
from digits.model import PREDICTION_BATCH_SIZE, compile_cnn


def seed_everything(config):
    """Seed Python, NumPy and TensorFlow; with config.deterministic, make TensorFlow's ops repeatable too."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def new_model(config):
    """A seeded, compiled model for `config`, in the precision it asks for, resolved for this machine."""
    seed_everything(config)
    return compile_cnn(config, hardware.precision_policy(config.precision))


def precision_of(model):
    """The dtype policy a model computes in, e.g. 'mixed_bfloat16'."""
    return model.layers[0].dtype_policy.name


class EpochTimer(keras.callbacks.Callback):
    """Add each epoch's wall time to its logs as 'seconds', for the callbacks after it."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self.started


class EpochLine(keras.callbacks.Callback):
    """Print one line per epoch."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        print(format_epoch(epoch + 1, self.epochs, logs), flush=True)


def format_epoch(epoch, epochs, logs):
    """E.g. 'epoch  3/15  loss 0.0412  accuracy 98.71%  val_loss 0.0398  val_accuracy 98.80%  9.1 s'."""
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            value = logs[key]
            parts.append(f"{key} {value:.2%}" if key.endswith("accuracy") else f"{key} {value:.4f}")
    parts.append(f"{logs['seconds']:.1f} s")
    return "  ".join(parts)


class TrainingDiverged(InputError):
    """The loss became NaN; `history` holds the epochs up to and including that one."""

    def __init__(self, history):
        self.history = history
        super().__init__(
            f"training diverged: the loss became NaN in epoch {history['epoch'][-1]}; try a lower --learning-rate"
        )


class TestEachEpoch(keras.callbacks.Callback):
    """Add the test loss and accuracy after every epoch to the logs, as 'test_loss' and 'test_accuracy'.

    For the report's per-epoch curves (its Figures 9 and 10); never used to choose anything.
    """

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test

    def on_epoch_end(self, epoch, logs=None):
        for name, value in evaluate(self.model, self.x_test, self.y_test).items():
            logs[f"test_{name}"] = value


def fit(model, config, x_train, y_train, run, extra_callbacks=(), verbose=True):
    """Train `model` as `config` says, checkpointing into the run folder after every epoch.

    If the run folder holds an interrupted run, BackupAndRestore restores its weights,
    optimizer state and epoch, and training goes on from there. `extra_callbacks` run
    before the history is logged, so what they add to the logs is recorded. Returns
    the history of every epoch, resumed ones included, as lists by metric; raises
    TrainingDiverged if the loss became NaN.
    """
    callbacks = [
        EpochTimer(),
        *extra_callbacks,
        keras.callbacks.CSVLogger(run.checkpoint_history, append=True),
        keras.callbacks.BackupAndRestore(run.backup, double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.TerminateOnNaN(),
    ]
    if verbose:
        callbacks.append(EpochLine(config.epochs))  # last: an epoch printed is an epoch saved
    batches, validation = input_pipeline(x_train, y_train, config)
    model.fit(batches, epochs=config.epochs, validation_data=validation, shuffle=False, callbacks=callbacks, verbose=0)
    history = run.read_checkpoint_history()
    if not math.isfinite(history["loss"][-1]):
        run.discard_checkpoint()  # resuming from NaN weights could only fail again
        raise TrainingDiverged(history)
    return history


def validation_split_at(count, fraction):
    """Where the validation slice starts: the last `fraction` of the data, as Keras's validation_split."""
    return int(math.floor(count * (1.0 - fraction)))


def input_pipeline(x, y, config):
    """(shuffled training batches, validation arrays or None) for model.fit.

    A tf.data pipeline holds the arrays once and shuffles, batches and prefetches in
    TensorFlow's own threads while the previous batch trains. With bfloat16 and 32 steps
    per execution it was 5-7% faster than handing model.fit the NumPy arrays, side by side
    over 5 epochs here; on its own in float32 it is within this machine's noise. The
    validation slice is the last `config.validation_split` of the data, as Keras's
    validation_split takes it; the shuffle order follows the seed, so the same seed gives
    the same run.
    """
    split = validation_split_at(len(x), config.validation_split) if config.validation_split else len(x)
    if split < 1:
        raise InputError(f"validation split {config.validation_split} leaves no training images of {len(x)}")
    batches = (
        tf.data.Dataset.from_tensor_slices((x[:split], y[:split]))
        .shuffle(split, seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = (x[split:], y[split:]) if split < len(x) else None
    return batches, validation


def evaluate(model, x, y):
    """Loss and accuracy of `model` on (x, y), e.g. the test set."""
    scores = model.evaluate(x, y, batch_size=PREDICTION_BATCH_SIZE, verbose=0, return_dict=True)
    return {name: float(value) for name, value in scores.items()}
