"""Outlier exposure (Hendrycks, Mazeika and Dietterich, ICLR 2019): training that also shows the
network things that are not digits, and teaches it to give them no digit.

Each batch of digits is followed by half as many of the project's own outliers
(digits.outliers), whose target is the uniform distribution, weighted so that the loss is

    cross-entropy(digits, labels) + weight * cross-entropy(outliers, uniform)

A network trained so gives a non-digit a flat answer, which the "not a digit" scores
(digits.not_a_digit) read. The outliers are made once per run from its training digits and
seed, half as many as there are training digits, so that an epoch shows each about once.
Letters, blends of two digits and digit halves are never shown: blends and halves cost
accuracy on real digits, and letters stay unseen so that the benchmark can tell whether the
network learned "not a digit" or only the kinds it was shown.
"""

import numpy as np
import tensorflow as tf

from digits import outliers
from digits.config import NUM_CLASSES

HELD_OUT = ("letters", "blended digits", "digit halves")
KINDS = tuple(kind for kind in outliers.KINDS if kind not in HELD_OUT)
SEED_OFFSET = 1000  # outlier seeds of training runs start here: checks of them draw from low seeds
UNIFORM = 1 / NUM_CLASSES  # the target of every class for an outlier


def outlier_pool(x, y, seed):
    """Outliers for training on inputs `x` (N, 28, 28, 1 in [0, 1]) with one-hot labels `y`: half as
    many as the digits, of every kind in KINDS, made from these digits; float inputs like `x`."""
    digits = np.rint(x[..., 0] * 255).astype(np.uint8)
    labels = np.argmax(y, axis=1)
    per_kind = max(1, len(x) // (2 * len(KINDS)))
    made = [outliers.make(kind, per_kind, SEED_OFFSET + seed, digits, labels) for kind in KINDS]
    return (np.concatenate(made)[..., None] / np.float32(255)).astype(np.float32)


def exposed(batches, pool, config):
    """`batches` of (digits, one-hot labels), each followed by batch_size // 2 outliers from `pool`
    with the uniform target, as (images, targets, sample weights) for model.fit."""
    count = max(1, config.batch_size // 2)
    targets = np.full((len(pool), NUM_CLASSES), UNIFORM, dtype=np.float32)
    shown = (tf.data.Dataset.from_tensor_slices((pool, targets))
             .shuffle(len(pool), seed=config.seed + SEED_OFFSET, reshuffle_each_iteration=True)
             .repeat().batch(count))
    weight = config.outlier_exposure

    def joined(digit_batch, outlier_batch):
        (images, labels), (outlier_images, outlier_targets) = digit_batch, outlier_batch
        n = tf.shape(images)[0]
        total = tf.cast(n + count, tf.float32)
        weights = tf.concat([tf.fill([n], total / tf.cast(n, tf.float32)), tf.fill([count], weight * total / count)], 0)
        return (tf.concat([images, outlier_images], 0), tf.concat([tf.cast(labels, tf.float32), outlier_targets], 0),
                weights)

    return tf.data.Dataset.zip(batches, shown).map(joined)
