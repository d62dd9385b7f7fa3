"""How well a trained model reads "photographed" MNIST test digits, against the originals.

    python bench/photographed_digits.py --model models/cnn --count 1000

Takes the first --count genuine test digits, makes a simulated photo of each (dark ink on
white paper, a few hundred pixels, off-centre, cycling through grey, RGB, JPEG, RGBA,
palette, 16-bit and light-on-dark), writes them as files, reads them back through
`add_own_digits.py predict` (the real command, MNIST-style conversion included), and
prints its accuracy beside the model's accuracy on the same originals.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
import json
from pathlib import Path
import subprocess
import sys
import tempfile

import numpy as np

from digits.data import data_source, load_mnist, to_inputs
from harness.photos import PHOTO_KINDS, simulate_photo

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", required=True, help="a run folder or a .keras/.h5 model")
parser.add_argument("--data", help="'mnist', 'keras', an MNIST-format .npz or IDX folder "
                    "(default: 'mnist', the complete MNIST shipped in data/mnist/)")
parser.add_argument("--count", type=int, default=1000, help="test digits to photograph (default: %(default)s)")
args = parser.parse_args()

_, (x_test, y_test) = load_mnist(data_source(args.data))
x_test, y_test = x_test[: args.count], y_test[: args.count]
with tempfile.TemporaryDirectory() as folder:
    files = []
    for i, digit in enumerate(x_test):
        kind = PHOTO_KINDS[i % len(PHOTO_KINDS)]
        path = Path(folder) / f"{i:05d}-{kind}.{'jpg' if kind == 'jpeg' else 'png'}"
        simulate_photo(digit, kind).save(path)
        files.append(str(path))
    script = Path(__file__).resolve().parent.parent / "add_own_digits.py"
    output = subprocess.run([sys.executable, str(script), "predict", "--model", args.model, "--json", *files],
                            capture_output=True, text=True, check=True).stdout
read = {row["file"]: row["digit"] for row in map(json.loads, output.splitlines())}
photo_predictions = np.array([read.get(path, -1) for path in files])

from digits.model import load_trained_model, predict_probabilities  # noqa: E402  (TensorFlow only now)
from digits.run_folder import find_model_file  # noqa: E402

model = load_trained_model(find_model_file(args.model))
original_predictions = predict_probabilities(model, to_inputs(x_test)).argmax(axis=1)
print(f"{len(y_test)} MNIST test digits, model {args.model}")
print(f"originals:    {np.mean(original_predictions == y_test):.2%}")
print(f"photographed: {np.mean(photo_predictions == y_test):.2%} (read through add_own_digits.py predict)")
for kind in PHOTO_KINDS:
    mine = np.array([PHOTO_KINDS[i % len(PHOTO_KINDS)] == kind for i in range(len(y_test))])
    print(f"  {kind:>13}: {np.mean(photo_predictions[mine] == y_test[mine]):.2%} of {mine.sum()}")
