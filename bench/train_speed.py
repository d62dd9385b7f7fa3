"""How fast the report's network trains here: the report's way against the project's, side by side.

    python bench/train_speed.py                                   # on the MNIST shipped in data/mnist/
    python bench/train_speed.py --synthetic --json speed.json     # no MNIST needed: random images
    python bench/train_speed.py --accuracy-seeds 3                # and the accuracy of each

Trains the same network on the same images, one epoch at a time, taking turns between
the ways so that drift in the machine's speed (other load, clock changes) hits them all
alike, and reports the median images/s over --epochs epochs after one warm-up epoch:

- the report's way: plain `model.fit` on NumPy arrays, float32, one step per call;
- the project's path: what `train_cnn.py` and the sweeps run (digits.model.new_model:
  steps_per_execution, and mixed bfloat16 on a CPU that has it);
- one ingredient at a time (tf.data input pipeline, steps per execution, bfloat16, XLA),
  to show what each is worth here;
- the recipes beyond the report (docs/BEYOND.md) on the project's path: the report's recipe
  with and without the modern recipe's augmentation (what the input pipeline's extra work
  costs), and the modern and fast recipes, with each recipe's time per full run.

Also, in the same run: the float32 matrix-product rate of this machine (NumPy, 2048x2048)
and the fraction of it each way reaches, at ~3x the forward FLOPs per image trained;
test-set evaluation images/s; the effect of the batch size; the peak memory of this
process; and each script's `--help` latency. Figures hold for this machine and run only.

With --accuracy-seeds N it also trains both ways in full (15 epochs on every training
image) for seeds 1..N and compares their final test accuracy: the speed must cost nothing.
With --time-to-99 N it trains the fast recipe and the report's, on all the data as
train_cnn.py does, for seeds 1..N, testing after every epoch, and prints the training time
until the test accuracy first reaches 99% (the clock stops for the tests); the report's
recipe has a constant learning rate, so its first --report-epochs epochs are those of a
full run, and it stops there.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
from dataclasses import replace
from pathlib import Path
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from digits import cli, hardware
from digits.config import IMAGE_SIZE, NUM_CLASSES, RunConfig, recipe
from digits.data import Dataset, data_source, describe_source, load_mnist, to_inputs, to_one_hot
from digits.files import write_json
from digits.sweeps.experiments import ELASTIC_TRIAL, INGREDIENTS, other_side_of_the_trade, trade_name

ROOT = Path(__file__).resolve().parent.parent

SCRIPTS = ("train_cnn.py", "evaluate.py", "sweep_hparams.py", "add_own_digits.py")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="'mnist', 'keras', an MNIST-format .npz or IDX folder "
                        "(default: $MNIST_DATA, else 'mnist', the complete MNIST shipped in data/mnist/)")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of MNIST (speed only)")
    parser.add_argument("--images", type=int, default=8_000, help="training images per epoch (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per way, after a warm-up (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=RunConfig.batch_size, help="(default: %(default)s)")
    parser.add_argument("--batch-sizes", type=cli.comma_separated_ints, default=(32, 64, 128, 256),
                        help="batch sizes for the batch-size table (default: 32,64,128,256)")
    parser.add_argument("--threads", type=cli.positive_int, help="TensorFlow threads per op (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="only the two ways: no ingredients, batch sizes or --help")
    parser.add_argument("--accuracy-seeds", type=int, default=0, metavar="N",
                        help="also train both ways in full for seeds 1..N and compare test accuracy (default: none)")
    parser.add_argument("--time-to-99", type=int, default=0, metavar="N",
                        help="also train the fast and the report's recipe for seeds 1..N and time them to 99%% test "
                        "accuracy (default: none)")
    parser.add_argument("--report-epochs", type=int, default=6, metavar="N",
                        help="epochs of the report's recipe in --time-to-99 (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to this JSON file")
    return parser.parse_args()


def load_images(args):
    if args.synthetic:
        generator = np.random.default_rng(0)
        images = generator.integers(0, 256, (args.images + 10_000, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        labels = generator.integers(0, NUM_CLASSES, len(images))
        return (images[: args.images], labels[: args.images]), (images[args.images:], labels[args.images:]), "random images"
    path = data_source(args.data)
    train, test = load_mnist(path)
    return train, test, describe_source(path)


def forward_flops_per_image(config):
    """Multiply-adds x 2 of the convolutions and the Dense layer (pooling and ReLU are negligible)."""
    flops, size, channels = 0, IMAGE_SIZE, 1
    for i, filters in enumerate(config.filters):
        size -= config.kernel_size - 1
        flops += 2 * size * size * config.kernel_size**2 * channels * filters
        channels = filters
        if i < len(config.filters) - 1:
            size //= config.pool_size
    return flops + 2 * size * size * channels * NUM_CLASSES


def matmul_gflops(dtype="float32", size=2048, repeats=5):
    """Best rate of a size x size matrix product: the machine's practical peak for dense arithmetic."""
    if dtype == "float32":
        a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
        multiply = lambda: a @ a  # noqa: E731
    else:
        import tensorflow as tf

        a = tf.cast(tf.random.normal((size, size)), dtype)
        multiply = lambda: tf.matmul(a, a).numpy()  # noqa: E731
    multiply()
    best = min(timed(multiply) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


class Way:
    """One way of training: its own model and input, timed one epoch at a time."""

    def __init__(self, name, model, config, pipeline=False):
        self.name, self.model, self.config, self.pipeline = name, model, config, pipeline
        self.batches = None
        self.rates = []

    def epoch(self, x, y):
        from digits import training

        if not self.pipeline:
            seconds = timed(lambda: self.model.fit(x, y, batch_size=self.config.batch_size, epochs=1, verbose=0))
        else:
            if self.batches is None:
                self.batches, _ = training.input_pipeline(x, y, self.config)
            seconds = timed(lambda: self.model.fit(self.batches, epochs=1, shuffle=False, verbose=0))
        return len(x) / seconds

    @property
    def rate(self):
        return statistics.median(self.rates)


def keras_way(name, config, policy="float32", steps_per_execution=1, jit_compile=False, pipeline=False):
    """A way built by hand: plain Keras with one ingredient or another switched on."""
    import keras

    from digits.model import build_cnn, make_optimizer

    keras.utils.set_random_seed(config.seed)
    model = build_cnn(config, policy)
    model.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return Way(name, model, config, pipeline)


def project_way(name, config, images=None):
    """The model train_cnn.py and the sweeps train (digits.model.new_model), fed by its input
    pipeline; `images` per epoch sets the length of a learning-rate schedule."""
    from digits import training
    from digits.model import new_model

    training.seed_everything(config)
    steps = training.steps_per_epoch(config, images) if images else None
    return Way(name, new_model(config, steps, hardware.precision_policy(config.precision)), config, pipeline=True)


def race(ways, x, y, epochs):
    """Warm each way up, then time `epochs` epochs of each, taking turns."""
    for way in ways:
        way.epoch(x, y)
    for _ in range(epochs):
        for way in ways:
            way.rates.append(way.epoch(x, y))


def ingredient_ways(config, has_bfloat16):
    """The project's ingredients one at a time, each on its own over the report's way."""
    from digits.model import STEPS_PER_EXECUTION

    ways = [
        keras_way("+ tf.data input pipeline (digits.training)", config, pipeline=True),
        keras_way(f"+ steps_per_execution {STEPS_PER_EXECUTION}", config, steps_per_execution=STEPS_PER_EXECUTION),
        keras_way("+ XLA (jit_compile), not used on CPU", config, jit_compile=True),
    ]
    if has_bfloat16:
        ways.append(keras_way("+ mixed bfloat16", config, policy="mixed_bfloat16"))
    return ways


def recipe_ways(config, images):
    """The report's recipe with and without the modern one's augmentation, the modern recipe either
    side of the batch-norm trade, the fast recipe, and the augmentation with an elastic distortion
    (the candidate tried on top of the modern recipe), all on the project's path, as (way, the config
    of its full run) pairs. The ways are timed on every image: no validation slice is held out of an epoch."""
    modern = recipe("modern", config)
    augmentation = {name: getattr(modern, name) for name in INGREDIENTS["augmentation"]}
    other_side = other_side_of_the_trade(modern.batch_norm)
    runs = {
        "report's recipe": config,
        "report's recipe + augmentation": replace(config, **augmentation),
        "modern recipe": modern,
        trade_name(other_side): replace(modern, **other_side),
        "fast recipe": recipe("fast", config),
        "report's recipe + augmentation + elastic distortion": replace(config, **augmentation, elastic=ELASTIC_TRIAL),
    }
    return [(project_way(name, replace(run, validation_split=0.0), images), run) for name, run in runs.items()]


def recipe_table(ways, training_images):
    """Print each recipe's images/s, its speed against the report's recipe and its training time per
    full run (its epochs over `training_images` less its validation slice); return them for the JSON."""
    from digits.data import split_point

    rows, figures = [], {}
    report_rate = ways[0][0].rate
    for way, run in ways:
        images = split_point(training_images, run.validation_split)
        seconds = run.epochs * images / way.rate
        rows.append([way.name, f"{way.rate:,.0f}", f"{way.rate / report_rate:.2f}x", f"{run.epochs} x {images:,}",
                     f"{seconds:,.0f} s"])
        figures[way.name] = {"images_per_second": round(way.rate), "vs_report": round(way.rate / report_rate, 3),
                             "epochs": run.epochs, "images_per_epoch": images, "seconds_per_run": round(seconds)}
    print("Recipes on the project's path (images/s, and a full run's training time from them)")
    print_table(["recipe", "images/s", "vs report", "epochs x images", "per run"], rows)
    cost = 1 - figures["report's recipe + augmentation"]["vs_report"]
    elastic_cost = 1 - figures["report's recipe + augmentation + elastic distortion"]["vs_report"]
    report_seconds = figures["report's recipe"]["seconds_per_run"]
    other_name = ways[3][0].name  # recipe_ways's order: report, + augmentation, modern, the trade's other side, fast, ...
    modern, other = (figures[name]["seconds_per_run"] / report_seconds for name in ("modern recipe", other_name))
    print(f"Augmentation costs {cost:.0%} of the throughput ({elastic_cost:.0%} with an elastic distortion); "
          f"a modern run takes {modern:.2f}x a report run, {other_name} {other:.2f}x.\n")
    return {"ways": figures, "augmentation_cost": round(cost, 3),
            "augmentation_with_elastic_cost": round(elastic_cost, 3), "modern_run_vs_report": round(modern, 3),
            "other_side_of_the_trade_vs_report": round(other, 3)}


def time_to_99(train, test, seeds, report_epochs):
    """Training seconds until the test accuracy first reaches 99%, for the fast recipe and the
    report's, per seed, as train_cnn.py trains them; None where a run never reaches it."""
    from digits import training

    dataset = Dataset(*train, *test, source="the benchmark's data")
    results = {}
    for name, config in (("fast recipe", recipe("fast")), ("report's recipe", RunConfig(epochs=report_epochs))):
        results[name] = []
        for seed in seeds:
            history = training.train(replace(config, seed=seed), dataset, test_each_epoch=True, verbose=False).history
            reached = [epoch for epoch, accuracy in enumerate(history["test_accuracy"]) if accuracy >= 0.99]
            seconds = sum(history["seconds"][: reached[0] + 1]) if reached else None
            results[name].append({"seed": seed, "seconds": seconds, "epochs": reached[0] + 1 if reached else None,
                                  "final_test_accuracy": history["test_accuracy"][-1]})
            print(f"  {name}, seed {seed}: " + (f"99% after epoch {reached[0] + 1}, {seconds:.1f} s of training"
                                                if reached else f"not 99% within {len(history['epoch'])} epochs")
                  + f"; test accuracy after its last epoch {history['test_accuracy'][-1]:.2%}", flush=True)
    return results


def accuracy_race(train, test, seeds):
    """Final test accuracy of the report's way and the project's path (digits.training.train, as
    train_cnn.py runs it), trained in full for each seed."""
    from digits import training

    dataset = Dataset(*train, *test, source="the benchmark's data")
    x, y = to_inputs(dataset.train_images), to_one_hot(dataset.train_labels)
    x_test, y_test = to_inputs(dataset.test_images), to_one_hot(dataset.test_labels)
    results = {"report": [], "project": []}
    for seed in seeds:
        config = RunConfig(seed=seed)
        report = keras_way("report", config)
        report.model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, verbose=0)
        results["report"].append(training.loss_and_accuracy(report.model, x_test, y_test)["accuracy"])
        results["project"].append(training.train(config, dataset, verbose=False).test["accuracy"])
        print(f"  seed {seed}: report's way {results['report'][-1]:.2%}, project's path {results['project'][-1]:.2%}",
              flush=True)
    return results


def mean_std(values):
    values = [100 * value for value in values]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}%"


def evaluation_rate(x_test, y_test, repeats=3):
    """Images/s of test-set evaluation as evaluate.py does it: the saved (float32) model, batches of 500."""
    from digits.model import PREDICTION_BATCH_SIZE, new_model

    model = new_model(RunConfig())
    evaluate = lambda: model.evaluate(x_test, y_test, batch_size=PREDICTION_BATCH_SIZE, verbose=0)  # noqa: E731
    evaluate()
    return len(x_test) / statistics.median(timed(evaluate) for _ in range(repeats))


def help_latency(script, repeats=3):
    run = lambda: subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, check=True)  # noqa: E731
    return statistics.median(timed(run) for _ in range(repeats))


def print_table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))))
    print()


def speed_table(ways, report, config, float32_peak):
    """Print each way's images/s, speed-up and arithmetic rate; return them for the JSON."""
    train_flops = 3 * forward_flops_per_image(config)  # forward, plus backward at about twice the forward
    rows, figures = [], {}
    for way in ways:
        gflops = way.rate * train_flops / 1e9
        rows.append([way.name, f"{way.rate:,.0f}", f"{way.rate / report.rate:.2f}x", f"{gflops:.0f}", f"{gflops / float32_peak:.0%}"])
        figures[way.name] = {"images_per_second": round(way.rate), "speedup": round(way.rate / report.rate, 3),
                             "epoch_rates": [round(rate) for rate in way.rates]}
    print(f"Training ({train_flops / 1e6:.1f} MFLOP per image; float32 matrix product here: {float32_peak:.0f} GFLOP/s;"
          " bfloat16 arithmetic can pass the float32 peak)")
    print_table(["way", "images/s", "vs report", "GFLOP/s", "of fp32 peak"], rows)
    return {"train_mflop_per_image": round(train_flops / 1e6, 2), "ways": figures}


def batch_size_table(config, batch_sizes, x, y, epochs):
    """Race both ways at each batch size; print and return their images/s."""
    ways = [way for size in batch_sizes for way in (
        keras_way(f"report's way, batch {size}", replace(config, batch_size=size)),
        project_way(f"project's path, batch {size}", replace(config, batch_size=size)))]
    race(ways, x, y, max(epochs - 1, 1))
    pairs = list(zip(batch_sizes, ways[::2], ways[1::2]))
    print("Batch size (images/s; each way against its own batch-64 speed is the batch effect)")
    print_table(["batch", "report's way", "project's path", "ratio"],
                [[size, f"{plain.rate:,.0f}", f"{fast.rate:,.0f}", f"{fast.rate / plain.rate:.2f}x"] for size, plain, fast in pairs])
    return {str(size): {"report": round(plain.rate), "project": round(fast.rate)} for size, plain, fast in pairs}


def main():
    args = parse_args()
    (x_train, y_train), test_set, source = load_images(args)
    x, y = to_inputs(x_train[: args.images]), to_one_hot(y_train[: args.images])
    hardware.configure_threads(args.threads)
    import tensorflow as tf

    from digits import training
    from digits.model import STEPS_PER_EXECUTION

    config = RunConfig(batch_size=args.batch_size)
    has_bfloat16 = hardware.cpu_has_bfloat16() and not hardware.gpu_names()
    print(f"Device: {hardware.describe_device()}; TensorFlow {tf.__version__}; threads per op: "
          f"{args.threads or 'default (one per core)'}")
    print(f"Data: {len(x):,} training images ({source}), batch {args.batch_size}; "
          f"median of {args.epochs} epochs after a warm-up, the ways taking turns\n")

    float32_peak = matmul_gflops("float32")
    report = keras_way("report's way: model.fit on NumPy, float32", config)
    project = project_way("project's path", config)
    project.name += f" ({training.precision_of(project.model)}, tf.data, steps_per_execution {STEPS_PER_EXECUTION})"
    ways = [report, project] + ([] if args.quick else ingredient_ways(config, has_bfloat16))
    race(ways, x, y, args.epochs)
    results = {"device": hardware.describe_device(), "tensorflow": tf.__version__, "threads": args.threads,
               "data": source, "images": len(x), "batch_size": args.batch_size, "epochs_timed": args.epochs,
               "float32_matmul_gflops": round(float32_peak, 1), **speed_table(ways, report, config, float32_peak),
               "speedup": round(project.rate / report.rate, 3)}
    if has_bfloat16:
        results["bfloat16_matmul_gflops"] = round(matmul_gflops(tf.bfloat16), 1)
        print(f"bfloat16 matrix product here (tf.matmul): {results['bfloat16_matmul_gflops']:.0f} GFLOP/s\n")
    if not args.quick:
        results["batch_sizes"] = batch_size_table(config, args.batch_sizes, x, y, args.epochs)
        ways = recipe_ways(config, len(x))
        race([way for way, _ in ways], x, y, args.epochs)
        results["recipes"] = recipe_table(ways, len(x_train))

    results["evaluation_images_per_second"] = round(evaluation_rate(to_inputs(test_set[0]), to_one_hot(test_set[1])))
    print(f"Test-set evaluation (float32, batch 500): {results['evaluation_images_per_second']:,} images/s")
    results["peak_memory_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"Peak memory of this process: {results['peak_memory_mib']:,} MiB")
    if not args.quick:
        results["help_seconds"] = {script: round(help_latency(script), 3) for script in SCRIPTS}
        print("--help latency: " + ", ".join(f"{script} {seconds:.2f} s" for script, seconds in results["help_seconds"].items()))
    if args.accuracy_seeds:
        print(f"\nTest accuracy after {RunConfig.epochs} epochs on all {len(x_train):,} training images:")
        results["test_accuracy"] = accuracy = accuracy_race((x_train, y_train), test_set, range(1, args.accuracy_seeds + 1))
        print(f"  mean ± std over {args.accuracy_seeds} seeds: report's way {mean_std(accuracy['report'])}, "
              f"project's path {mean_std(accuracy['project'])}")
    if args.time_to_99:
        print(f"\nTime to 99% test accuracy, training on all {len(x_train):,} training images as train_cnn.py does:")
        results["time_to_99"] = time_to_99((x_train, y_train), test_set, range(1, args.time_to_99 + 1),
                                           args.report_epochs)
    print(f"\nThe project's path trains {results['speedup']:.2f}x as fast as the report's way here.")
    if args.json:
        write_json(args.json, results)
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
