"""Where the evidence for a digit lies in an image: integrated gradients of the class's logit.

Integrated gradients (Sundararajan, Taly and Yan, 2017) credits each pixel with its share of the
change in the logit between a baseline and the image, and its shares add up to that change. The
logit, not the softmax, is explained: a confident softmax is flat, and its gradient near zero.

The baseline is the image blurred, not a black image. A black baseline leaves every pixel without
ink at exactly zero, so it could never show that a gap next to a stroke (the open top of a 4, read
as a 9 when closed) is evidence; the blurred image keeps the ink's amount and place but not its
shape, so the map shows which strokes and gaps make the digit (Sturmfels, Lundberg and Lee,
"Visualizing the Impact of Feature Attribution Baselines", Distill 2020).

Integrated gradients rather than occlusion or Grad-CAM: it is per pixel, where an occluding patch
and this network's last convolution (3x3) are coarse, and its shares add up to the logit. The map
is signed: its magnitudes follow the ink whatever the weights, its signs are what the network
learned (the randomization test in tests/test_saliency.py). tf-keras-vis, the library that works
with Keras 3, has no integrated gradients, so it is the few lines of tf.GradientTape below.
"""

import numpy as np

STEPS = 48  # points on the path from baseline to image: the shares add up to the logit within a few percent
BLUR_SIGMA = 3.0  # pixels: wide enough to smear a stroke's shape, narrow enough to keep the digit's place
BATCH_SIZE = 1024  # path points differentiated at once
DISPLAY_PERCENTILE = 99.5  # a map's scale for display: a few extreme pixels must not wash out the rest


def blurred(inputs):
    """Each input (N, 28, 28, 1) blurred by a Gaussian of BLUR_SIGMA pixels: the baseline."""
    from scipy import ndimage

    return ndimage.gaussian_filter(np.asarray(inputs, dtype=np.float32), sigma=(0, BLUR_SIGMA, BLUR_SIGMA, 0))


def logits(model, inputs):
    """The logits of a Sequential model that ends in Dense(10, softmax): its layers up to the last,
    then the last Dense's kernel and bias without its softmax. Dropout and batch normalisation read
    as at inference."""
    import keras

    dense = model.layers[-1]
    if not isinstance(dense, keras.layers.Dense):
        raise ValueError(f"the model ends in {type(dense).__name__}, not the Dense layer whose logits are explained")
    features = inputs
    for layer in model.layers[:-1]:
        features = layer(features, training=False)
    return keras.ops.matmul(features, dense.kernel) + dense.bias


def integrated_gradients(model, inputs, classes, steps=STEPS):
    """Each pixel's share (N, 28, 28) of the change in the logit of `classes` (one per input) from the
    blurred input to the input itself: positive where the pixel speaks for the class, negative against.

    The path integral is a midpoint sum over `steps` points, all differentiated in batches.
    """
    import tensorflow as tf

    inputs = np.asarray(inputs, dtype=np.float32)
    baselines = blurred(inputs)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    path = baselines[:, None] + alphas[None, :, None, None, None] * (inputs - baselines)[:, None]
    path = path.reshape(-1, *inputs.shape[1:])
    targets = np.repeat(np.asarray(classes, dtype=np.int32), steps)
    gradients = np.concatenate([
        logit_gradients(model, tf.constant(path[start:start + BATCH_SIZE]), tf.constant(targets[start:start + BATCH_SIZE]))
        for start in range(0, len(path), BATCH_SIZE)
    ])
    mean_gradients = gradients.reshape(len(inputs), steps, *inputs.shape[1:]).mean(axis=1)
    return ((inputs - baselines) * mean_gradients)[..., 0]


def logit_gradients(model, points, targets):
    """d logit[target] / d point for each point (a batch of images) and its target class."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(points)
        chosen = tf.gather(logits(model, points), targets, batch_dims=1)
    return tape.gradient(chosen, points).numpy()


def for_display(maps):
    """Maps (N, 28, 28) scaled each into [-1, 1] by its DISPLAY_PERCENTILE of absolute values, clipped."""
    maps = np.asarray(maps, dtype=np.float32)
    scale = np.percentile(np.abs(maps).reshape(len(maps), -1), DISPLAY_PERCENTILE, axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    return np.clip(maps / scale, -1.0, 1.0)


def heat_map(models, inputs, classes):
    """Where the evidence for each input's class lies, signed and scaled for display: (N, 28, 28) in
    [-1, 1], positive where a pixel speaks for the class, negative where it speaks against it.

    models: a Keras model, or several (an ensemble), whose maps are averaged: the map of their mean
    logit. inputs: (N, 28, 28, 1) in [0, 1], as the models read them (digits.data.to_inputs);
    classes: the class to explain for each input, e.g. the digit read.
    """
    models = models if isinstance(models, (list, tuple)) else [models]
    return for_display(np.mean([integrated_gradients(model, inputs, classes) for model in models], axis=0))
