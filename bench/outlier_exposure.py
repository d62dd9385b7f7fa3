"""Train a recipe with outlier exposure, to compare it with the post-hoc scores of bench/not_a_digit.py.

    python bench/outlier_exposure.py --recipe fast --weight 0.5 --out models/ood/fast-oe-seed1
    python bench/not_a_digit.py models/ood/fast-seed1 models/ood/fast-oe-seed1

Outlier exposure (Hendrycks, Mazeika and Dietterich, ICLR 2019) adds to the loss of each batch of
digits a loss on a batch of things that are not digits, pushing the network's answer for them
toward the uniform distribution:

    loss = CE(digits, labels) + weight * CE(outliers, uniform)

The outliers are the project's own (digits.outliers) from seeds the benchmark never uses, made
from the training digits, in every kind but those --hold-out names, so that the benchmark can say
whether it learned "not a digit" or only the kinds it saw. The run is written as train_cnn.py
writes one (run.json and model.keras, with a validation slice), so bench/not_a_digit.py reads it.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
from dataclasses import replace
from pathlib import Path
import time

import numpy as np

from digits import hardware, outliers
from digits.config import RECIPES, RunConfig, recipe
from digits.data import load_dataset, split_point, to_inputs, to_one_hot
from digits.files import atomic_path, write_json

OUTLIER_SEED = 1000  # the benchmark draws its outliers from seeds 1 and 2


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), help="a recipe (default: the report's settings)")
    parser.add_argument("--weight", type=float, default=0.5, help="weight of the outliers' loss (default: %(default)s)")
    parser.add_argument("--per-kind", type=int, default=3000, help="outliers made of each kind (default: %(default)s)")
    parser.add_argument("--hold-out", default="letters", help="kinds never trained on, comma-separated (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, help="train on the first N training images only")
    parser.add_argument("--out", required=True, help="the run folder to write")
    return parser.parse_args()


def outlier_pool(images, labels, per_kind, held_out, seed):
    """The training outliers, every kind but `held_out`, made from these training digits."""
    kinds = [kind for kind in outliers.KINDS if kind not in held_out]
    return np.concatenate([outliers.make(kind, per_kind, seed, images, labels) for kind in kinds]), kinds


def exposed_batches(x, y, pool, config, weight):
    """Batches of digits, each followed by half as many outliers with the uniform distribution as
    their target, weighted so that the loss is the digits' mean plus `weight` times the outliers'."""
    import tensorflow as tf

    from digits.augment import augmented

    digits = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=config.seed).batch(config.batch_size)
    if config.augments():
        digits = augmented(digits, config, parallel_calls=hardware.usable_cores())
    exposed = max(1, config.batch_size // 2)
    uniform = np.full((len(pool), 10), 0.1, dtype="float32")
    others = (tf.data.Dataset.from_tensor_slices((to_inputs(pool), uniform))
              .shuffle(len(pool), seed=config.seed + 1).repeat().batch(exposed))

    def joined(batch, outlier_batch):
        (images, targets), (outlier_images, outlier_targets) = batch, outlier_batch
        n, m = tf.cast(tf.shape(images)[0], tf.float32), tf.cast(exposed, tf.float32)
        weights = tf.concat([tf.fill([tf.shape(images)[0]], (n + m) / n), tf.fill([exposed], weight * (n + m) / m)], 0)
        return tf.concat([images, outlier_images], 0), tf.concat([targets, outlier_targets], 0), weights

    return tf.data.Dataset.zip(digits, others).map(joined).prefetch(2)


def digit_accuracy():
    """Accuracy over the digits of a batch only: an outlier's uniform target names no digit."""
    import keras

    class DigitAccuracy(keras.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = keras.ops
            right = ops.cast(ops.argmax(y_true, axis=-1) == ops.argmax(y_pred, axis=-1), "float32")
            return super().update_state(right, sample_weight=ops.cast(ops.max(y_true, axis=-1) > 0.5, "float32"))

    return DigitAccuracy(name="accuracy")


def main():
    args = parse_args()
    config = recipe(args.recipe, RunConfig()) if args.recipe else RunConfig()
    config = replace(config, data="mnist", limit=args.limit, seed=args.seed, validation_split=0.1)
    held_out = tuple(kind.strip() for kind in args.hold_out.split(",") if kind.strip())
    dataset = load_dataset(config.data, config.limit)
    cut = split_point(len(dataset.train_images), config.validation_split)
    pool, kinds = outlier_pool(dataset.train_images[:cut], dataset.train_labels[:cut], args.per_kind, held_out,
                               OUTLIER_SEED + args.seed)
    print(f"{cut:,} training digits, {len(pool):,} outliers ({', '.join(kinds)}; held out: {', '.join(held_out) or 'none'})")

    from digits.model import STEPS_PER_EXECUTION, compile_model, new_model
    from digits.training import loss_and_accuracy, seed_everything, steps_per_epoch

    seed_everything(config)
    x, y = to_inputs(dataset.train_images), to_one_hot(dataset.train_labels)
    model = new_model(config, steps_per_epoch(config, cut), hardware.precision_policy("float32"))
    model.compile(optimizer=model.optimizer, loss=model.loss, metrics=[digit_accuracy()],
                  steps_per_execution=STEPS_PER_EXECUTION)
    started = time.perf_counter()
    history = model.fit(exposed_batches(x[:cut], y[:cut], pool, config, args.weight), epochs=config.epochs,
                        validation_data=(x[cut:], y[cut:]), verbose=2).history
    seconds = time.perf_counter() - started
    model = compile_model(model, config, model.optimizer)  # saved as train_cnn.py saves: plain accuracy

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.keras") as temporary:
        model.save(temporary)
    validation = loss_and_accuracy(model, x[cut:], y[cut:])
    write_json(out / "run.json", {
        "config": config.to_dict(),
        "outlier_exposure": {"weight": args.weight, "per_kind": args.per_kind, "kinds": kinds, "held_out": held_out,
                             "seed": OUTLIER_SEED + args.seed},
        "history": {name: [float(value) for value in values] for name, values in history.items()},
        "validation": validation,
        "train_seconds": seconds,
    })
    print(f"validation accuracy {validation['accuracy']:.2%}; {seconds:.0f} s; saved {out}/model.keras and run.json")


if __name__ == "__main__":
    main()
