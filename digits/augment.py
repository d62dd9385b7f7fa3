"""Random variations of the training digits, made inside the tf.data pipeline: rotation, shift,
zoom and shear as one affine warp, and a thicker or thinner pen stroke.

Each image gets its own draw of every setting, uniform in [-setting, +setting]. The
four geometric ones are composed into one matrix and applied in one resampling
(keras.ops.image.affine_transform), where four Keras Random* layers in a row would
resample, and blur a 28x28 digit, four times (bench/train_speed.py measures the cost). The stroke is changed by a
grey-scale dilation (thicker) or erosion (thinner) with a 3x3 cross, blended with the
original by the drawn share, so a stroke of 0.5 moves each image up to half a pixel
either way.

The draws come from stateless random ops seeded by the run's seed and a per-batch number
from tf.data.Dataset.random, so the same seed augments the same way in every run, however
many threads the pipeline uses, and each epoch draws anew.
"""

import math

import keras
import tensorflow as tf

from digits.config import IMAGE_SIZE

CENTRE = (IMAGE_SIZE - 1) / 2
# The 3x3 cross a stroke grows or shrinks by: the pixel and its four neighbours. A plain list:
# a tensor made on import would start TensorFlow's runtime before a script sets its threads.
CROSS = [[-1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, -1.0]]


def augmented(batches, config, parallel_calls):
    """The dataset of (images, labels) batches `batches`, each image varied as `config` says,
    `parallel_calls` batches at a time, in order: each batch's variations follow from its own
    draw, so the result does not depend on how many run at once."""
    draws = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(batches, draws).map(
        lambda batch, draw: (augment(batch[0], config, tf.stack([draw, config.seed])), batch[1]),
        num_parallel_calls=parallel_calls, deterministic=True,
    )


def augment(images, config, seed):
    """A batch of float images (N, 28, 28, 1) in [0, 1], each varied by its own draw.

    `seed` is a stateless random seed of shape (2,): the same seed, the same variations.
    """
    count = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=6)

    def uniform(index, largest):
        return tf.random.stateless_uniform([count], seeds[index], -largest, largest)

    if config.stroke:
        images = restroked(images, uniform(0, config.stroke))
    if config.rotation or config.shift or config.zoom or config.shear:
        transforms = affine_transforms(
            rotation=uniform(1, math.radians(config.rotation)),
            shear=uniform(2, math.radians(config.shear)),
            zoom=uniform(3, config.zoom),
            shift_x=uniform(4, config.shift * IMAGE_SIZE),
            shift_y=uniform(5, config.shift * IMAGE_SIZE),
        )
        images = keras.ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant")
    return tf.clip_by_value(images, 0.0, 1.0)


def restroked(images, share):
    """Each image's strokes thickened (share > 0) or thinned (share < 0) by |share| of a pixel's growth."""
    cross = tf.constant(CROSS)[:, :, None]
    thicker = tf.nn.dilation2d(images, cross, strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC",
                               dilations=[1, 1, 1, 1])
    thinner = tf.nn.erosion2d(images, cross, strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC",
                              dilations=[1, 1, 1, 1])
    share = share[:, None, None, None]
    return images + tf.where(share > 0, share * (thicker - images), -share * (thinner - images))


def affine_transforms(rotation, shear, zoom, shift_x, shift_y):
    """Per image, the 8 numbers of the projective transform that rotates, shears, zooms and shifts
    the digit about the image's centre (angles in radians, zoom as a share, shifts in pixels).

    The transform maps each output pixel to where it is sampled in the input, so it holds
    the inverse of the change seen: sampling at a (1 + zoom) scale shrinks the digit by
    that much, and the sign of every uniform draw is symmetric anyway.
    """
    scale = 1.0 + zoom
    cos, sin, tan = tf.cos(rotation), tf.sin(rotation), tf.tan(shear)
    # [[a0, a1], [b0, b1]] = scale * rotation @ [[1, tan(shear)], [0, 1]]
    a0, a1 = scale * cos, scale * (cos * tan - sin)
    b0, b1 = scale * sin, scale * (sin * tan + cos)
    a2 = CENTRE - a0 * CENTRE - a1 * CENTRE + shift_x
    b2 = CENTRE - b0 * CENTRE - b1 * CENTRE + shift_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
