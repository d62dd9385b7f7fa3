"""Local servers for the tests and the benchmarks: started on a free loopback port, waited for,
and always stopped (TensorBoard, optuna-dashboard); stopping a process group."""

from contextlib import contextmanager
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


class ServerDidNotStart(RuntimeError):
    pass


def installed_command(name):
    """A command pip installed beside this Python (a virtual environment's bin/ need not be on PATH), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@contextmanager
def served(arguments, probe, ready=lambda answer: True, timeout=120):
    """The server `arguments` + `--host 127.0.0.1 --port P` on a free port P: yields its URL once
    `ready(the JSON at probe)` is true, and stops its whole process group on the way out (a server
    may start workers of its own). ServerDidNotStart, with the end of its stderr, if it never is."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: a chatty server never blocks on it
        process = subprocess.Popen([*arguments, "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if ready(get_json(url + probe)):
                        break
                except (urllib.error.URLError, ConnectionError, ValueError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr.seek(0)
                    raise ServerDidNotStart(f"{Path(arguments[0]).name} did not serve {probe} within {timeout} s "
                                            f"(exit code {process.poll()}): {stderr.read()[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            kill_group(process)


def kill_group(process):
    """Kill a process started with start_new_session=True and everything it started, and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
