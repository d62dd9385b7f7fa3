"""What the project relies on that Keras does not promise: two facts about its internals, kept here alone
and each checked by tests/test_keras_internals.py, which fails loudly if a Keras release changes them.

- keras.Model.fit makes two iterators of a dataset of known length per epoch: one to train on, and
  one made at the epoch's end that the next epoch replaces (keras/src/trainers/epoch_iterator.py).
  A resumed run moves its training batches on by making and dropping as many, since tf.data draws a
  new shuffle order and new augmentation for each iterator made of a dataset.
- keras.callbacks.TensorBoard keeps its summary writers in `_writers` and flushes them only every two
  minutes; a run checkpointed after an epoch must have that epoch logged, even after kill -9.
"""

ITERATORS_PER_EPOCH = 2


def skip_epochs(batches, epochs):
    """Move a tf.data dataset on by the iterators `epochs` epochs of keras.Model.fit make of it."""
    for _ in range(ITERATORS_PER_EPOCH * epochs):
        iter(batches)


def flush_tensorboard(callback):
    """Write what a keras.callbacks.TensorBoard callback holds of its logs to disk now."""
    for writer in callback._writers.values():
        writer.flush()
