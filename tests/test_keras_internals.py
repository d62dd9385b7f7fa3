"""The two facts about Keras's internals that digits.keras_internals relies on: if a Keras release changes
either, these fail, naming it."""

import keras
import numpy as np

from digits import training
from digits.config import RunConfig
from digits.keras_internals import ITERATORS_PER_EPOCH, flush_tensorboard, skip_epochs
from digits.model import new_model


def first_batch_labels(batches):
    return next(iter(batches))[1].numpy()


def test_fit_makes_as_many_iterators_per_epoch_as_a_resume_skips():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    config = RunConfig(filters=(2,), batch_size=8, epochs=2)

    def pipeline():  # seeded first, as training does: the shuffle's seed combines the global seed with its own
        training.seed_everything(config)
        return training.input_pipeline(x, y, config)[0]

    first = first_batch_labels(pipeline())
    trained = pipeline()
    new_model(config).fit(trained, epochs=config.epochs, shuffle=False, verbose=0)
    after_training = first_batch_labels(trained)
    skipped = pipeline()
    skip_epochs(skipped, config.epochs)
    after_skipping = first_batch_labels(skipped)
    assert not np.array_equal(first, after_skipping)  # skipping moves the order on
    assert np.array_equal(after_training, after_skipping), (
        f"keras.Model.fit no longer makes {ITERATORS_PER_EPOCH} iterators of a dataset per epoch: "
        "update digits.keras_internals.ITERATORS_PER_EPOCH, or a resumed run is not the run it would have been")


def test_the_tensorboard_callback_writes_an_epoch_when_flushed(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    callback = keras.callbacks.TensorBoard(str(tmp_path), write_graph=False)
    callback.set_model(new_model(RunConfig(filters=(2,))))
    callback.on_train_begin()
    callback.on_epoch_end(0, {"loss": 0.5})
    assert callback._writers, "keras.callbacks.TensorBoard keeps no _writers: update digits.keras_internals"
    flush_tensorboard(callback)
    logged = EventAccumulator(str(tmp_path / "train"))
    logged.Reload()
    assert "epoch_loss" in logged.Tags()["tensors"]
    callback.on_train_end()
