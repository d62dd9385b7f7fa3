"""Choosing the precision and sharing the cores among sweep workers."""

import pytest

from digits import hardware
from digits.sweeps.workers import plan_workers


@pytest.mark.parametrize("bfloat16, gpus, expected", [
    (True, [], "mixed_bfloat16"),
    (False, [], "float32"),
    (True, ["/physical_device:GPU:0"], "float32"),  # on a GPU, mixed precision is the user's choice
])
def test_auto_precision_is_bfloat16_only_on_a_cpu_that_has_it(monkeypatch, bfloat16, gpus, expected):
    monkeypatch.setattr(hardware, "cpu_has_bfloat16", lambda: bfloat16)
    monkeypatch.setattr(hardware, "gpu_names", lambda: gpus)
    assert hardware.precision_policy("auto") == expected


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_a_precision_asked_for_is_used_as_it_is(precision):
    assert hardware.precision_policy(precision) == precision


def test_bfloat16_is_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    assert hardware.cpu_has_bfloat16()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert hardware.cpu_has_bfloat16()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert not hardware.cpu_has_bfloat16()


@pytest.mark.parametrize("workers, threads, runs_left, cores, expected", [
    ("auto", None, 100, 2, (2, 1)),  # one single-threaded worker per core
    ("auto", None, 100, 16, (16, 1)),
    ("auto", None, 1, 8, (1, 8)),  # one run left: one worker with every core
    ("auto", None, 3, 8, (3, 2)),
    ("auto", None, 0, 4, (1, 4)),
    (1, None, 100, 4, (1, 4)),  # workers asked for share the cores out
    (3, None, 100, 8, (3, 2)),
    (4, None, 100, 2, (4, 1)),
    (2, 3, 100, 2, (2, 3)),  # --threads says
])
def test_workers_share_out_the_cores(workers, threads, runs_left, cores, expected):
    assert plan_workers(workers, threads, runs_left, cores) == expected


# What TensorFlow prints before its C++ log reads TF_CPP_MIN_LOG_LEVEL, so the level cannot quiet it;
# twice, as two of its libraries each carry the code (libtensorflow_framework and the profiler plugin).
HARMLESS_START_UP_LINES = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Could not find cuda drivers on your machine, GPU will not be used.",
    "oneDNN custom operations are on.",  # on CPUs where TensorFlow turns oneDNN on by default
)


@pytest.mark.slow
def test_tensorflow_starts_with_only_the_harmless_lines_the_docs_name():
    import os
    from pathlib import Path
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", "import digits, tensorflow"], cwd=Path(__file__).resolve().parents[1],
                            env=env, capture_output=True, text=True, timeout=300)
    unknown = [line for line in result.stderr.splitlines()
               if not any(known in line for known in HARMLESS_START_UP_LINES)]
    assert result.returncode == 0 and not unknown, result.stderr
    documented = " ".join((Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text().split())
    assert all(line in documented for line in HARMLESS_START_UP_LINES)
