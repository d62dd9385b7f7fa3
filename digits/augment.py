"""Random variations of the training digits, made inside the tf.data pipeline: rotation, shift,
zoom and shear as one affine warp, and a thicker or thinner pen stroke.

Each image gets its own draw of every setting, uniform in [-setting, +setting]. The
four geometric ones are composed into one matrix and applied in one resampling
(keras.ops.image.affine_transform), where four Keras Random* layers in a row would
resample, and blur a 28x28 digit, four times. The stroke is changed by a
grey-scale dilation (thicker) or erosion (thinner) with a 3x3 cross, blended with the
original by the drawn share, so a stroke of 0.5 moves each image up to half a pixel
either way. An elastic distortion, if asked, then bends each digit locally by a smooth
random displacement field, in a second resampling.

The draws come from stateless random ops seeded by the run's seed and a per-batch number
from tf.data.Dataset.random, so the same seed augments the same way in every run, however
many threads the pipeline uses, and each epoch draws anew.
"""

import math

import keras
import tensorflow as tf

from digits.config import AUGMENTATION_LIMITS, IMAGE_SIZE

CENTRE = (IMAGE_SIZE - 1) / 2
ELASTIC_SIGMA = 4  # pixels: how smooth an elastic distortion's displacement field is (Simard et al. used 4)


def augmented(batches, config, parallel_calls):
    """The dataset of (images, labels[, weights]) batches `batches`, each image varied as `config` says,
    `parallel_calls` batches at a time, in order: each batch's variations follow from its own
    draw, so the result does not depend on how many run at once."""
    draws = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(batches, draws).map(
        lambda batch, draw: (augment(batch[0], config, tf.stack([draw, config.seed])), *batch[1:]),
        num_parallel_calls=parallel_calls, deterministic=True,
    )


def settings(config):
    """The augmentation's settings in words, e.g. 'rotation 10°, shift 0.1, stroke 0.5'."""
    units = {"rotation": "°", "shear": "°"}
    return ", ".join(f"{name} {getattr(config, name):g}{units.get(name, '')}"
                     for name in AUGMENTATION_LIMITS if getattr(config, name))


def example_draws(images, config, draws):
    """`draws` variations of each image, as the run's seed gives them: (draws, N, 28, 28, 1)."""
    return tf.stack([augment(images, config, tf.constant([config.seed, draw])) for draw in range(draws)])


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
    if config.elastic:
        noise_seed = tf.random.experimental.stateless_fold_in(seeds[0], 1)
        noise = tf.random.stateless_uniform([count, 2, IMAGE_SIZE, IMAGE_SIZE], noise_seed, -1.0, 1.0)
        images = elastically_distorted(images, config.elastic * noise)
    return tf.clip_by_value(images, 0.0, 1.0)


@tf.function(jit_compile=True)
def restroked(images, share):
    """Each image's strokes thickened (share > 0) or thinned (share < 0) by |share| of a pixel's growth.

    Thinning is the mirror of thickening (an erosion of the strokes is a dilation of the
    background, 1 - image), so one dilation over both, side by side as two channels, gives both.
    These are many small operations on small tensors, whose per-operation overhead outweighs
    their arithmetic, so XLA compiles them into one kernel (docs/speed.md has the figures).
    TensorFlow's affine transform has no XLA kernel.
    """
    thicker, background_thicker = tf.split(thickened(tf.concat([images, 1.0 - images], axis=-1)), 2, axis=-1)
    thinner = 1.0 - background_thicker
    share = share[:, None, None, None]
    return images + tf.where(share > 0, share * (thicker - images), -share * (thinner - images))


def thickened(images):
    """A grey-scale dilation by the 3x3 cross: each pixel the brightest of itself and its four neighbours,
    with pixels beyond the edge as 0, below every pixel in [0, 1].

    Four maxima of shifted copies: tf.nn.dilation2d and a max pool with stride 1 give the same
    numbers several times slower on a CPU.
    """
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    centre, up, down = padded[:, 1:-1, 1:-1], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1]
    left, right = padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]
    return tf.maximum(tf.maximum(tf.maximum(centre, up), tf.maximum(down, left)), right)


@tf.function(jit_compile=True)
def elastically_distorted(images, noise):
    """Each image warped by its own smooth random displacement field (Simard, Steinkraus and Platt
    2003, "Best practices for convolutional neural networks applied to visual document
    analysis"): `noise` (N, 2, 28, 28), uniform in [-strength, strength] per pixel and direction,
    smoothed by a Gaussian of ELASTIC_SIGMA pixels, gives each pixel's displacement, and the
    image is sampled there bilinearly, 0 beyond the edge.

    Simard's setting, a strength of 34, moves pixels by about 1.4 pixels (one standard
    deviation), bending a stroke locally the way a hand does where an affine warp bends the
    whole digit alike. The noise is drawn outside: XLA, which compiles the rest into one
    kernel, draws random numbers on a CPU far slower than TensorFlow's own kernel.
    """
    # Smoothing as two products with a matrix of Gaussian weights, cut at the image's edge: the
    # same numbers as a separable convolution with zero padding, several times faster on a CPU.
    def gaussian(distance):
        return tf.exp(-0.5 * (distance / ELASTIC_SIGMA) ** 2)

    pixels = tf.range(IMAGE_SIZE, dtype=tf.float32)
    kernel = gaussian(pixels[:, None] - pixels[None, :]) / tf.reduce_sum(gaussian(tf.range(1.0 - IMAGE_SIZE, IMAGE_SIZE)))
    field = kernel @ noise @ kernel
    rows, columns = tf.meshgrid(pixels, pixels, indexing="ij")
    return bilinear_sample(images, rows + field[:, 0], columns + field[:, 1])


def bilinear_sample(images, rows, columns):
    """Images (N, 28, 28, 1) read at the fractional (rows, columns) given per image, each (N, 28, 28),
    interpolating between the four nearest pixels; pixels beyond the edge are 0."""
    count = tf.shape(images)[0]
    flat = tf.concat([tf.reshape(images, [-1]), [0.0]], axis=0)  # the extra last entry: beyond the edge
    outside = tf.size(flat) - 1
    top, left = tf.floor(rows), tf.floor(columns)
    row_share, column_share = rows - top, columns - left
    first = tf.range(count)[:, None, None] * IMAGE_SIZE * IMAGE_SIZE

    def pixel(row, column):
        row, column = tf.cast(row, tf.int32), tf.cast(column, tf.int32)
        inside = (row >= 0) & (row < IMAGE_SIZE) & (column >= 0) & (column < IMAGE_SIZE)
        return tf.gather(flat, tf.where(inside, first + row * IMAGE_SIZE + column, outside))

    sampled = ((1 - row_share) * ((1 - column_share) * pixel(top, left) + column_share * pixel(top, left + 1))
               + row_share * ((1 - column_share) * pixel(top + 1, left) + column_share * pixel(top + 1, left + 1)))
    return sampled[..., None]


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
