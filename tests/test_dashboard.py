"""optuna-dashboard on the sweeps' storage, a journal file or SQLite, started as the README says."""

from contextlib import contextmanager
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from optuna.trial import TrialState
import pytest

from digits.sweeps.storage import load_or_create_study, open_storage


def dashboard_command():
    """optuna-dashboard as pip installed it beside this Python (a virtual environment's bin/ need not
    be on PATH), else from PATH."""
    beside = Path(sys.executable).with_name("optuna-dashboard")
    return str(beside) if beside.exists() else "optuna-dashboard"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def dashboard(storage, timeout=20):
    """optuna-dashboard serving `storage` on a free loopback port: yields its URL, and always stops it."""
    port = free_port()
    process = subprocess.Popen([dashboard_command(), str(storage), "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                get_json(f"{url}/api/meta")
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, f"optuna-dashboard stopped: {process.stderr.read()}"
                assert time.monotonic() < deadline, f"optuna-dashboard did not answer within {timeout} s"
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its whole group: a server may start workers of its own
        process.wait()
        process.stderr.close()


def make_studies(storage):
    """Two studies as the sweeps make them (maximizing), with a few trials made by optuna directly, one
    of them failed; {name: number of trials}."""
    counts = {"optimizer (epochs=1)": 3, "custom-1a2b3c4d": 2}
    for name, count in counts.items():
        study = load_or_create_study(storage, name)
        study.optimize(lambda trial: trial.suggest_float("dropout", 0.0, 0.5), n_trials=count)
    study.tell(study.ask(), state=TrialState.FAIL)
    return {**counts, study.study_name: counts[study.study_name] + 1}


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_the_dashboard_lists_the_studies_and_their_trials(tmp_path, kind):
    storage_path = tmp_path / "sweeps.log" if kind == "journal" else f"sqlite:///{tmp_path / 'sweeps.db'}"
    expected = make_studies(open_storage(str(storage_path)))
    with dashboard(storage_path) as url:
        studies = {study["study_name"]: study for study in get_json(f"{url}/api/studies")["study_summaries"]}
        assert set(studies) == set(expected)
        for name, count in expected.items():
            detail = get_json(f"{url}/api/studies/{studies[name]['study_id']}")
            assert detail["name"] == name and len(detail["trials"]) == count
            assert detail["directions"] == ["maximize"]
