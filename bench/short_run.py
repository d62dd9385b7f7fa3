"""The fixed cost of a short run: `train_cnn.py` against the report's plain way, each a whole process.

    python bench/short_run.py                          # 3 epochs on 12,000 images, 3 runs of each way
    python bench/short_run.py --runs 5 --json results/short_run.json
    python bench/short_run.py --profile                # and where one train_cnn.py run spends its time

Times, wall clock from start to exit, `python train_cnn.py --epochs E --limit N` (which also holds
out nothing, tests, saves the model in two formats, run.json, a checkpoint per epoch, four figures
and TensorBoard logs) and the report's plain way: a script that imports Keras, reads the same
images, trains the same network with plain `model.fit` on NumPy arrays, tests it and saves
model.keras. The ways take turns, --runs rounds of each, so that the machine's other load hits
them alike; the ratio is the plain way's median over train_cnn.py's.

With --profile it also runs train_cnn.py once under cProfile and splits its time into the steps
a user waits for (the profiler slows Python-heavy steps, so the parts add up to more than a
plain run). Figures hold for this machine and run only.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digits import hardware
from digits.files import write_json

ROOT = Path(__file__).resolve().parent.parent

PLAIN_WAY = """
import sys
import keras
from digits.config import RunConfig
from digits.data import load_mnist, to_inputs, to_one_hot
from digits.model import build_cnn, make_optimizer

epochs, limit, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
config = RunConfig(epochs=epochs, limit=limit)
(x, y), (x_test, y_test) = load_mnist(None, limit)
model = build_cnn(config)
model.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(to_inputs(x), to_one_hot(y), batch_size=config.batch_size, epochs=config.epochs, verbose=2)
loss, accuracy = model.evaluate(to_inputs(x_test), to_one_hot(y_test), verbose=0)
print(f"Test accuracy: {accuracy:.2%}")
model.save(f"{out}/model.keras")
"""

# Where train_cnn.py's time goes, as (step, the functions whose cumulative time it is).
STEPS = (
    ("read and check the data", ("digits/data.py", "load_dataset")),
    ("build the model and print its summary", ("digits/model.py", "build_cnn")),
    ("train (fit: tracing, epochs, checkpoints, TensorBoard)", ("digits/training.py", "fit")),
    ("  of which: a checkpoint per epoch", ("digits/run_folder.py", "save_checkpoint")),
    ("test pass", ("digits/training.py", "loss_and_accuracy")),
    ("save model.keras, model.h5 and run.json", ("digits/run_folder.py", "save")),
    ("figures", ("digits/plots.py", "save_digit_grid", "save_metric_curve", "save_augmented_digits")),
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each run (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=12000, help="training images (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each way, taking turns (default: %(default)s)")
    parser.add_argument("--profile", action="store_true", help="also split one train_cnn.py run into its steps")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    return parser.parse_args()


def ways(epochs, limit, folder):
    """name -> the command of one whole run, writing into a fresh folder under `folder`."""
    return {
        "train_cnn.py": lambda run: [sys.executable, str(ROOT / "train_cnn.py"), "--epochs", str(epochs),
                                     "--limit", str(limit), "--out", str(folder / f"cnn{run}")],
        "the report's plain way": lambda run: [sys.executable, "-c", PLAIN_WAY, str(epochs), str(limit),
                                               str(Path(folder / f"plain{run}").resolve())],
    }


def time_process(command):
    Path(command[-1]).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def race(commands, runs):
    """Each way's wall times, taking turns."""
    seconds = {name: [] for name in commands}
    for run in range(runs):
        for name, command in commands.items():
            seconds[name].append(time_process(command(run)))
            print(f"  run {run + 1}/{runs}, {name}: {seconds[name][-1]:.1f} s", flush=True)
    return seconds


def profiled_steps(epochs, limit, folder):
    """(step, seconds) of one train_cnn.py run under cProfile, the rest being start-up and imports."""
    profile_path = folder / "train_cnn.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(profile_path), str(ROOT / "train_cnn.py"),
               "--epochs", str(epochs), "--limit", str(limit), "--out", str(folder / "profiled")]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    total = time.perf_counter() - started
    stats = pstats.Stats(str(profile_path)).stats  # (file, line, function) -> (.., .., .., cumulative, ..)
    steps = []
    for step, (file, *functions) in STEPS:
        steps.append((step, sum(timing[3] for (path, _, function), timing in stats.items()
                                if path.endswith(file) and function in functions)))
    counted = sum(seconds for step, seconds in steps if not step.startswith(" "))
    return [("start Python, import TensorFlow, Keras, Matplotlib", total - counted), *steps, ("whole process", total)]


def main():
    args = parse_args()
    print(f"{hardware.describe_device()}; {args.epochs} epochs on {args.limit:,} MNIST training images, "
          f"{args.runs} runs of each way, taking turns")
    with tempfile.TemporaryDirectory() as folder:
        seconds = race(ways(args.epochs, args.limit, Path(folder)), args.runs)
        steps = profiled_steps(args.epochs, args.limit, Path(folder)) if args.profile else []

    medians = {name: statistics.median(times) for name, times in seconds.items()}
    ratio = medians["the report's plain way"] / medians["train_cnn.py"]
    print(f"\n| way, whole process | median | fastest | slowest |\n| --- | --- | --- | --- |")
    for name, times in seconds.items():
        print(f"| {name} | {medians[name]:.1f} s | {min(times):.1f} s | {max(times):.1f} s |")
    print(f"\ntrain_cnn.py is {ratio:.2f}x the plain way, whole process (plain median / train_cnn.py median)")
    if steps:
        print("\n| train_cnn.py, one run under cProfile | seconds |\n| --- | --- |")
        for step, step_seconds in steps:
            print(f"| {step} | {step_seconds:.2f} |")
    if args.json:
        write_json(args.json, {"device": hardware.describe_device(), "epochs": args.epochs, "limit": args.limit,
                               "seconds": seconds, "ratio": round(ratio, 3), "profile": dict(steps)})


if __name__ == "__main__":
    main()
