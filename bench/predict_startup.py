"""How long `add_own_digits.py predict` takes for one image, start to exit: with Keras and with each export.

    python export_model.py models/cnn                 # once: the exports to time
    python bench/predict_startup.py                   # models/cnn, 5 runs of each way
    python bench/predict_startup.py --model models/cnn-seed2 --runs 9 --json results/predict_startup.json

Times the whole process `python add_own_digits.py predict --model M --json IMAGE`, wall clock, for
one image (the run's first test digit, written as a PNG): with the Keras model (`--runtime keras`,
which loads TensorFlow), with the run as predict reads it by default (`--runtime auto`: its fresh
export/model.onnx if there is one, else model.tflite, else Keras), and with each export in RUN/export/
given directly (model.onnx with ONNX Runtime, model.tflite and model_int8.tflite with LiteRT; no
TensorFlow). The ways take turns, --runs rounds of each, so that the machine's other load hits them
alike, and the table gives each way's median, fastest and slowest run, and the digit it read (every
way must read the same). The last row, `python -c pass`, is the floor under all of them: starting
Python itself.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

from digits import hardware
from digits.data import data_source, load_dataset
from digits.files import write_json
from digits.export_folder import EXPORT_FOLDER, FILES
from digits.run_folder import DEFAULT_RUN, find_model_file, saved_data_path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "add_own_digits.py"
EXPORTS = ("onnx", "tflite", "tflite-int8")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_RUN, help="the run folder to time (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each way (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write every time to FILE as JSON")
    return parser.parse_args()


def ways(run):
    """(name, the --model and --runtime arguments, shown as) of each way to time: Keras, the default (auto), then
    each export present."""
    found = [("keras", ["--model", str(run), "--runtime", "keras"], f"{run} (--runtime keras)"),
             ("auto", ["--model", str(run)], f"{run} (the default, --runtime auto)")]
    for kind in EXPORTS:
        export = run / EXPORT_FOLDER / FILES[kind]
        if export.is_file():
            found.append((kind, ["--model", str(export)], str(export)))
    return found


def timed(command):
    """(seconds, stdout) of one run of `command`; exits with its stderr if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return seconds, result.stdout


def main():
    args = parse_args()
    run = find_model_file(args.model).parent
    chosen = ways(run)
    if len(chosen) == 2:
        print(f"No exports in {run / EXPORT_FOLDER}: only Keras is timed (python export_model.py {run} makes them).")
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "digit.png"
        dataset = load_dataset(data_source(None, saved=saved_data_path(run)))
        Image.fromarray(dataset.test_images[0]).save(image)
        commands = {name: [sys.executable, str(SCRIPT), "predict", *model, "--json", str(image)] for name, model, _ in chosen}
        commands["python alone"] = [sys.executable, "-c", "pass"]
        seconds, digits = {name: [] for name in commands}, {}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for name, command in commands.items():
                took, output = timed(command)
                seconds[name].append(took)
                if output:
                    digits[name] = json.loads(output.splitlines()[0])["digit"]

    shown = {name: model for name, _, model in chosen} | {"python alone": "python -c pass"}
    width = max(map(len, shown.values()))
    print(f"add_own_digits.py predict for one image (a test digit labelled {dataset.test_labels[0]}), whole process, "
          f"wall clock, {args.runs} runs of each way")
    print(f"on {hardware.cpu_name()}, {hardware.usable_cores()} cores; load average {load:.2f} when it started\n")
    print(f"{'way':<13} {'--model':<{width}} {'median':>8} {'fastest':>8} {'slowest':>8}  digit")
    for name, times in seconds.items():
        print(f"{name:<13} {shown[name]:<{width}} {statistics.median(times):>7.2f}s {min(times):>7.2f}s "
              f"{max(times):>7.2f}s  {digits.get(name, '')}")
    if len(set(digits.values())) > 1:
        print("The ways read different digits!")
    if args.json:
        write_json(args.json, {
            "command": "python add_own_digits.py predict --model M --json IMAGE", "runs": args.runs,
            "label": int(dataset.test_labels[0]), "cpu": hardware.cpu_name(), "cores": hardware.usable_cores(),
            "load_average": load,
            "ways": {name: {"model": shown[name], "seconds": times, "median": statistics.median(times),
                            "digit": digits.get(name)} for name, times in seconds.items()},
        })
        print(f"\nSaved {args.json}")
    return 1 if len(set(digits.values())) > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
