"""Sweep trials per hour: one worker using every core against one single-threaded worker per core.

    python bench/sweep_workers.py
    python bench/sweep_workers.py --epochs 15 --limit 0 --seeds 2   # full-size trials

Runs the same small custom sweep (`sweep_hparams.py custom`, the real command, each time
into a fresh journal) two ways, one after the other and then again in the opposite order
so that drift in the machine's speed is shared out: `--workers 1 --threads CORES` and
`--workers CORES --threads 1`. Prints the wall time and trials per hour of each; the
faster way is what `--workers auto` should do.
"""

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import optuna
from optuna.trial import TrialState

from digits import cli, hardware
from digits.data import absolute, data_source
from digits.sweeps.grids import grid_from_text
from digits.sweeps.storage import open_storage

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="'mnist', 'keras', an MNIST-format .npz or IDX folder "
                        "(default: $MNIST_DATA, else 'mnist', the complete MNIST shipped in data/mnist/)")
    parser.add_argument("--grid", default="dropout=0.1,0.2,0.3,0.4", help='custom grid (default: "%(default)s")')
    parser.add_argument("--seeds", type=cli.positive_int, default=2, help="seeds per point (default: %(default)s)")
    parser.add_argument("--epochs", type=cli.positive_int, default=3, help="epochs per trial (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=12_000, help="training images per trial, 0 for all (default: %(default)s)")
    parser.add_argument("--repeats", type=cli.positive_int, default=2, help="times each way runs, in alternating order (default: %(default)s)")
    return parser.parse_args()


def sweep_seconds(args, workers, threads):
    """(wall time of the whole sweep command, worker start-up included; the mean seconds of
    its trials), run into a fresh journal."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, str(ROOT / "sweep_hparams.py"), "custom", "--grid", args.grid,
                   "--seeds", str(args.seeds), "--epochs", str(args.epochs),
                   "--workers", str(workers), "--threads", str(threads),
                   "--storage", f"{folder}/sweep.log", "--out", f"{folder}/tables"]
        if args.limit:
            command += ["--limit", str(args.limit)]
        if args.data:
            command += ["--data", absolute(args.data)]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=folder)
        wall = time.perf_counter() - started
        storage = open_storage(f"{folder}/sweep.log")
        (summary,) = optuna.get_all_study_summaries(storage)
        trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
        return wall, statistics.mean(t.user_attrs["seconds"] for t in trials if t.state == TrialState.COMPLETE)


def main():
    args = parse_args()
    cores = hardware.usable_cores()
    args.data = data_source(args.data)
    trials = len(grid_from_text(args.grid)) * args.seeds
    ways = {f"1 worker x {cores} threads": (1, cores), f"{cores} workers x 1 thread": (cores, 1)}
    print(f"Device: {hardware.describe_device()}")
    print(f"Sweep: custom --grid {args.grid!r} --seeds {args.seeds} --epochs {args.epochs}"
          f"{f' --limit {args.limit}' if args.limit else ''}: {trials} trials per sweep\n")
    walls, trial_seconds = {name: [] for name in ways}, {name: [] for name in ways}
    for repeat in range(args.repeats):
        order = list(ways) if repeat % 2 == 0 else list(reversed(ways))
        for name in order:
            wall, per_trial = sweep_seconds(args, *ways[name])
            walls[name].append(wall)
            trial_seconds[name].append(per_trial)
            print(f"  {name}: {wall:.1f} s, {per_trial:.1f} s per trial", flush=True)
    print("\nTrials per hour: whole sweeps (worker start-up included), and steady (workers / seconds per trial)")
    rates = {}
    for name, (workers, _) in ways.items():
        whole = trials * 3600 / statistics.median(walls[name])
        steady = workers * 3600 / statistics.median(trial_seconds[name])
        rates[name] = steady
        print(f"{name:>24}: {whole:6,.0f} whole, {steady:6,.0f} steady")
    fastest = max(rates, key=rates.get)
    print(f"\nFaster for long sweeps: {fastest} ({max(rates.values()) / min(rates.values()):.2f}x)")


if __name__ == "__main__":
    main()
