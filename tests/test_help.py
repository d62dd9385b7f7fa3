"""Each script's --help: what it does, a few examples and its flags, in at most 60 lines of an 80-column
terminal, answered without loading TensorFlow."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (["train_cnn.py"], ["evaluate.py"], ["sweep_hparams.py"], ["export_model.py"], ["add_own_digits.py"],
            ["add_own_digits.py", "train"], ["add_own_digits.py", "predict"], ["add_own_digits.py", "draw"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_fits_a_screen(command):
    environment = {**os.environ, "COLUMNS": "80"}
    script = [sys.executable, "-X", "importtime", str(ROOT / command[0]), *command[1:], "--help"]
    result = subprocess.run(script, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = sum(max(1, -(-len(line) // 80)) for line in result.stdout.splitlines())  # long lines wrap
    assert shown <= 60, f"{' '.join(command)} --help takes {shown} lines of an 80-column terminal"
    assert "tensorflow" not in result.stderr  # -X importtime lists every module imported



def test_output_into_a_pipe_closed_early_stops_quietly():
    """`python sweep_hparams.py tables | head -3`: the reader goes away; the script stops, with no traceback."""
    script = "from digits import cli; cli.run(lambda: print('| row |\\n' * 100_000))"
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    process.stdout.close()
    assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`
    assert process.stderr.read() == ""
