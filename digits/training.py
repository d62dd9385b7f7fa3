"""The one path from a RunConfig to a trained and tested model: seeding, the tf.data input
pipeline, model.fit with its callbacks (per-epoch log, checkpoint and resume, NaN guard), the
float32 copy, and the test.
"""

from dataclasses import dataclass
import math
from pathlib import Path
import shutil
import socket
import time

import keras
import tensorflow as tf

from digits import exposure, hardware
from digits.augment import augmented
from digits.calibration import calibrate
from digits.config import RunConfig
from digits.data import split_point, to_inputs, to_one_hot
from digits.errors import InputError
from digits.keras_internals import flush_tensorboard, skip_epochs
from digits.model import (
    PREDICTION_BATCH_SIZE,
    as_float32,
    compile_model,
    load_trained_model,
    make_optimizer,
    new_model,
    peak_learning_rate,
    predict_probabilities,
)
from digits.hardware import provenance


def seed_everything(config):
    """Seed Python, NumPy and TensorFlow; with config.deterministic, make TensorFlow's ops repeatable too."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()


def steps_per_epoch(config, count):
    """Training steps in an epoch over `count` images, the validation slice held out."""
    return math.ceil(split_point(count, config.validation_split) / config.batch_size)


def precision_of(model):
    """The dtype policy a model computes in, e.g. 'mixed_bfloat16'."""
    return model.layers[0].dtype_policy.name


class EpochTimer(keras.callbacks.Callback):
    """Add each epoch's wall time to its logs as 'seconds', for the callbacks after it."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self.started


class EpochPrinter(keras.callbacks.Callback):
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
        for name, value in loss_and_accuracy(self.model, self.x_test, self.y_test).items():
            logs[f"test_{name}"] = value


class TensorBoardEpochs(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback, logging each epoch's scalars and learning rate into a folder
    (train/ and validation/, step epoch - 1), written to disk after every epoch, so that an epoch checkpointed is an
    epoch logged, even after kill -9."""

    def __init__(self, folder):
        super().__init__(str(folder), write_graph=False)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        flush_tensorboard(self)


def start_epoch_logs(folder, resumed):
    """Prepare `folder` for a run's epoch logs (training.TensorBoardEpochs). A run started afresh first drops
    the logs an earlier run left there (train/ and validation/), as it drops that run's checkpoint;
    a resumed run adds to them, from the epoch it resumes at."""
    if not resumed:
        for part in ("train", "validation"):
            shutil.rmtree(Path(folder) / part, ignore_errors=True)



class HistoryRecorder(keras.callbacks.Callback):
    """Keep every epoch's logs, starting from those of the epochs a resumed run finished before it stopped."""

    def __init__(self, run=None):
        super().__init__()
        self.epochs = run.checkpoint_epochs() if run is not None else {}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[epoch + 1] = {name: float(value) for name, value in logs.items()}

    def history(self):
        """{"epoch": [1, 2, ...], metric: [...], ...}: lists by metric, the metrics sorted."""
        numbers = sorted(self.epochs)
        metrics = sorted({name for values in self.epochs.values() for name in values})
        history = {"epoch": numbers}
        for name in metrics:
            history[name] = [self.epochs[number].get(name, math.nan) for number in numbers]
        return history


def fit(model, config, x_train, y_train, run=None, extra_callbacks=(), verbose=True):
    """Train `model` as `config` says; with a run folder, checkpoint into it after every epoch.

    If the run folder holds an interrupted run, training goes on from its last finished
    epoch as if it had never stopped (resume). `extra_callbacks` run before the history is
    recorded, so what they add to the logs is kept. Returns the history of every epoch,
    resumed ones included, as lists by metric.
    """
    batches, validation = input_pipeline(x_train, y_train, config)
    first_epoch = resume(model, batches, run) if run is not None else 0
    recorder = HistoryRecorder(run)
    callbacks = [EpochTimer(), *extra_callbacks, recorder]
    if run is not None:
        callbacks.append(EpochCheckpoint(run, recorder))
    callbacks.append(keras.callbacks.TerminateOnNaN())
    if verbose:
        callbacks.append(EpochPrinter(config.epochs))  # last: an epoch printed is an epoch saved
    model.fit(batches, epochs=config.epochs, initial_epoch=first_epoch, validation_data=validation, shuffle=False,
              callbacks=callbacks, verbose=0)
    return recorder.history()


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, checkpoint the run into its folder: weights, optimizer state, the history
    so far and the dropout layers' random state, all or nothing (RunFolder.save_checkpoint)."""

    def __init__(self, run, recorder):
        super().__init__()
        self.run, self.recorder = run, recorder

    def on_epoch_end(self, epoch, logs=None):
        seed_states = [generator.state.numpy().tolist() for generator in seed_generators(self.model)]
        self.run.save_checkpoint(self.model, self.recorder.epochs, seed_states)


def resume(model, batches, run):
    """Bring an interrupted run's state back from its checkpoint; the epoch to go on from (0 if none).

    The weights and the optimizer's state come from the checkpoint, and so does the rest of
    the randomness, so that the resumed run is the very run it would have been without the
    stop, to the bit (tests/test_training.py): each dropout layer's seed generator gets its
    saved state, and the training batches are moved on to where the stop left them
    (digits.keras_internals.skip_epochs).
    """
    state = run.last_checkpoint()
    if state is None:
        return 0
    weights = run.checkpoint / state["weights"]
    if not weights.is_file():
        raise InputError(f"{run.checkpoint}: {state['weights']} is missing; start the run afresh")
    if not model.optimizer.built:  # its variables must exist to be loaded into
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)
    for generator, seed_state in zip(seed_generators(model), state["seed_states"], strict=True):
        generator.state.assign(seed_state)
    skip_epochs(batches, state["epoch"])
    return state["epoch"]


def seed_generators(model):
    """The keras.random.SeedGenerator of each layer that draws while training (the dropout layers)."""
    return [value for layer in model.layers for value in vars(layer).values()
            if isinstance(value, keras.random.SeedGenerator)]


@dataclass
class TrainResult:
    """What one training run gives: the trained model in float32, and how it went."""

    config: RunConfig
    data: dict  # what it was trained, validated and tested on (Dataset.fingerprint)
    model: keras.Model  # float32, whatever precision it was trained in: tested, saved and fine-tuned as it is
    history: dict  # per epoch, as lists by metric
    train: dict  # loss and accuracy of the last epoch (dropout on, as the report gives them)
    validation: dict | None  # loss and accuracy on the held-out slice after the last epoch; None without one
    test: dict  # loss and accuracy of the trained model on the test set
    calibration: dict | None  # the temperature fitted on the validation slice (digits.calibration); None without one
    precision: str  # the dtype policy it was trained in
    seconds: float  # the whole call: building, training and testing
    diverged: bool  # the loss became NaN; training stopped there

    def peak_learning_rate(self):
        """The learning rate trained at: the constant one, else the schedule's peak."""
        if self.config.schedule != "constant":
            return peak_learning_rate(self.config)
        return float(self.model.optimizer.learning_rate)

    def raise_if_diverged(self):
        if self.diverged:
            raise TrainingDiverged(self.history)

    def record(self):
        """The run record: run.json of a run folder and the attributes of a sweep trial alike."""
        return {
            "config": self.config.to_dict(),
            "data": self.data,
            "parameters": self.model.count_params(),
            "learning_rate": float(f"{self.peak_learning_rate():.6g}"),
            "precision": self.precision,
            "history": self.history,
            "train": self.train,
            "validation": self.validation,
            "test": self.test,
            "calibration": self.calibration,
            "diverged": self.diverged,
            "train_seconds": round(sum(self.history["seconds"]), 2),
            "seconds": round(self.seconds, 2),
            "host": socket.gethostname(),
            "provenance": provenance(),
        }


def train(config, dataset, start_from=None, run=None, test_each_epoch=False, verbose=True, tensorboard=None):
    """Train a model on `dataset` as `config` says, test it, and return a TrainResult: the one way from
    a config to a trained model, for train_cnn.py, every sweep trial and own-digit fine-tuning.

    start_from: a model file to go on training (it keeps its network, precision and optimizer
    state); it is loaded after seeding, since Keras seeds each dropout layer when it is made.
    run: a started RunFolder, checkpointed after every epoch to resume from; None writes nothing.
    test_each_epoch: record the test loss and accuracy after every epoch (Figures 9 and 10).
    tensorboard: a folder for the epoch logs (default: the run folder's; none without one).
    A loss that becomes NaN stops training, reported as `diverged`, its checkpoint dropped. With
    a validation slice, a temperature fitted on it calibrates the model's probabilities.
    """
    started = time.perf_counter()
    seed_everything(config)
    steps = steps_per_epoch(config, len(dataset.train_images))
    if start_from is None:
        model = new_model(config, steps, hardware.precision_policy(config.precision))
    else:
        model = continued(load_trained_model(start_from), config, steps)
    x_train, y_train = to_inputs(dataset.train_images), to_one_hot(dataset.train_labels)
    x_test, y_test = to_inputs(dataset.test_images), to_one_hot(dataset.test_labels)
    extra = [TestEachEpoch(x_test, y_test)] if test_each_epoch else []
    tensorboard = tensorboard or (run.tensorboard if run is not None else None)
    if tensorboard is not None:
        start_epoch_logs(tensorboard, resumed=run is not None and run.finished_epochs() > 0)
        extra.append(TensorBoardEpochs(tensorboard))
    history = fit(model, config, x_train, y_train, run, extra, verbose)
    diverged = not math.isfinite(history["loss"][-1])
    if diverged and run is not None:
        run.discard_checkpoint()
    precision = precision_of(model)  # before the float32 copy, which computes in float32
    model = as_float32(model, config)
    split = split_point(len(x_train), config.validation_split)
    return TrainResult(
        config=config,
        data=dataset.fingerprint(config.validation_split),
        model=model,
        history=history,
        train={"loss": history["loss"][-1], "accuracy": history["accuracy"][-1]},
        validation=({"loss": history["val_loss"][-1], "accuracy": history["val_accuracy"][-1]}
                    if "val_accuracy" in history else None),
        test=loss_and_accuracy(model, x_test, y_test),
        calibration=fit_calibration(model, x_train[split:], dataset.train_labels[split:]) if not diverged else None,
        precision=precision,
        seconds=time.perf_counter() - started,
        diverged=diverged,
    )


def fit_calibration(model, x_validation, labels):
    """The temperature that calibrates `model`'s probabilities, fitted on the validation slice, with
    the NLL and ECE there before and after (digits.calibration.calibrate); None without a slice."""
    if not len(labels):
        return None
    return calibrate(labels, predict_probabilities(model, x_validation))


def continued(model, config, steps_per_epoch):
    """A saved model to train on. With a constant learning rate it keeps its optimizer and that
    optimizer's state, at the learning rate the config names, if it names one. With the cosine
    schedule it gets a fresh optimizer whose warmup and decay span the continued training:
    the schedule it was trained with ended at zero."""
    if config.schedule != "constant":
        return compile_model(model, config, make_optimizer(config, steps_per_epoch))
    if config.learning_rate is not None:
        model.optimizer.learning_rate.assign(config.learning_rate)
    return model


def describe_training_set(count, config):
    """E.g. 'trained on 4,500 images (500 held out for validation)', for figure titles."""
    split = split_point(count, config.validation_split)
    held_out = f" ({count - split:,} held out for validation)" if split < count else ""
    return f"trained on {split:,} images{held_out}"


PREFETCH_BATCHES = 2  # batches ready ahead of training; slicing arrays is cheap, so two keep it fed


def input_pipeline(x, y, config):
    """(shuffled training batches, validation arrays or None) for model.fit.

    A tf.data pipeline holds the arrays once and shuffles, batches and prefetches in
    TensorFlow's own threads while the previous batch trains, and varies each training image
    when the config asks for augmentation (digits.augment), never the validation images, and
    follows each batch with outliers under outlier exposure (digits.exposure). The
    validation slice is the last `config.validation_split` of the data, as Keras's
    validation_split takes it; the shuffle order follows the seed, so the same seed gives
    the same run.
    """
    split = split_point(len(x), config.validation_split)
    if split < 1:
        raise InputError(f"validation split {config.validation_split} leaves no training images of {len(x)}")
    batches = (
        tf.data.Dataset.from_tensor_slices((x[:split], y[:split]))
        .shuffle(split, seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
    )
    if config.outlier_exposure:  # before augmenting: outliers left crisp would tell themselves apart by that alone
        batches = exposure.exposed(batches, exposure.outlier_pool(x[:split], y[:split], config.seed), config)
    if config.augments():
        batches = augmented(batches, config, parallel_calls=hardware.usable_cores())
    batches = batches.prefetch(PREFETCH_BATCHES).with_options(without_autotuner())
    validation = (x[split:], y[split:]) if split < len(x) else None
    return batches, validation


def without_autotuner():
    """tf.data options with the autotuner off, for a pipeline whose buffers and parallelism are fixed.

    Keras makes a new iterator every epoch, and with the autotuner on an epoch cannot end before
    the tuner next wakes, which costs seconds per epoch (docs/speed.md); the weights learnt are
    the same either way."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def loss_and_accuracy(model, x, y):
    """Loss and accuracy of `model` on (x, y), e.g. the test set."""
    scores = model.evaluate(x, y, batch_size=PREDICTION_BATCH_SIZE, verbose=0, return_dict=True)
    return {name: float(value) for name, value in scores.items()}
