"""What this machine has, how a run uses it (cores, threads, bfloat16 support, GPUs), and the
provenance a record keeps of it.

The CPU checks read /proc/cpuinfo and do not import TensorFlow; `configure_threads`
must run before TensorFlow executes anything, and `precision_policy` asks TensorFlow
which devices it sees.
"""

from datetime import datetime, timezone
import os
from pathlib import Path
import platform
import sys

# CPU flags of native bfloat16 arithmetic: AVX-512 BF16 (AMD Zen 4, Intel Cooper Lake on)
# and AMX (Intel Sapphire Rapids on). Without them bfloat16 is emulated and slower than float32.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def usable_cores():
    """Cores this process may run on (its affinity), which can be fewer than the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bfloat16():
    return any(flag in cpu_flags() for flag in BFLOAT16_CPU_FLAGS)


def configure_threads(threads):
    """Let TensorFlow use `threads` cores for each op, one op at a time; None keeps its default (all cores).

    Workers that share a machine each get a share of its cores, instead of every one of
    them starting a thread per core and all of them fighting over the same cores.
    """
    if threads is None:
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def threads_per_op():
    """How many threads TensorFlow gives each op: what configure_threads set, else one per core.
    Run records keep it because it changes a run's floating-point sums, so the same seed
    learns bit for bit the same weights only with the same count."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()


def gpu_names():
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


def precision_policy(precision):
    """The Keras dtype policy for a config's precision; 'auto' picks what is fast here.

    'auto' is mixed_bfloat16 on a CPU with native bfloat16 arithmetic and no GPU (faster, with
    the same accuracy: docs/speed.md), and float32 everywhere else: on a GPU, mixed precision
    is a choice the user makes.
    """
    if precision != "auto":
        return precision
    if cpu_has_bfloat16() and not gpu_names():
        return "mixed_bfloat16"
    return "float32"


def describe_device():
    """E.g. 'CPU (AMD EPYC, 2 cores, bfloat16)' or 'GPU (/physical_device:GPU:0)'."""
    gpus = gpu_names()
    if gpus:
        return f"GPU ({', '.join(gpus)})"
    bf16 = ", bfloat16" if cpu_has_bfloat16() else ""
    return f"CPU ({cpu_name()}, {usable_cores()} cores{bf16})"


def has_nvidia_device():
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def quiet_tensorflow():
    """Keep TensorFlow's C++ log to warnings and errors, and on a machine with no NVIDIA device
    to fatal messages; a TF_CPP_MIN_LOG_LEVEL the user set is left as it is.

    TensorFlow prints a screenful of start-up notices; and without an NVIDIA device it logs
    "failed call to cuInit: UNKNOWN ERROR (303)" at error level on every start, which looks
    alarming and only says that there is no GPU (real failures still come as Python exceptions).
    Must run before TensorFlow loads: the package's __init__ calls it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_device() else "3")


def provenance():
    """Library versions, machine, command and time: what a result needs to be put in context."""
    import keras
    import numpy
    import tensorflow

    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads_per_op": threads_per_op(),
        "device": describe_device(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
