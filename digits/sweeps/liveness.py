"""Whether a reserved trial's worker is still at it.

On the machine that runs it, the process decides: a reservation records the host, the boot
and the process (its pid and kernel start time, so that a reused pid is told apart), and
it is dead once that process is gone or the machine has rebooted. A reservation made on
another machine cannot be judged from here. An RDB storage (SQLite, PostgreSQL) judges it:
Heartbeat refreshes the storage's own heartbeat row of a running trial, and
optuna.storages.fail_stale_trials fails the trials whose heartbeat stopped. A journal has
no heartbeat, so there another machine's reservation counts as alive: workers on several
machines share a PostgreSQL storage.
"""

import os
from pathlib import Path
import socket
import threading
import warnings

import optuna

HEARTBEAT_SECONDS = 60
# Long enough that a worker busy in one long step, or a machine briefly suspended, keeps its trial.
STALE_SECONDS = 600

HOST = socket.gethostname()


def read_text(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def boot_id():
    return read_text("/proc/sys/kernel/random/boot_id")


def process_start(pid):
    """The kernel's start time of a process, or None off Linux."""
    stat = read_text(f"/proc/{pid}/stat")
    return stat.rsplit(")", 1)[1].split()[19] if stat else None


def this_process():
    return {"host": HOST, "boot": boot_id(), "pid": os.getpid(), "start": process_start(os.getpid())}


def is_alive(trial):
    """Whether a RUNNING trial's worker is still at it, as far as this machine can tell."""
    process = trial.user_attrs.get("process", {})
    if process.get("host") != HOST or process.get("boot") is None:
        return True  # another machine's: its storage's heartbeat decides (release_stale)
    if process["boot"] != boot_id():
        return False
    return process.get("start") is None or process_start(process["pid"]) == process["start"]


def has_heartbeat(storage):
    return isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None


def release_stale(study):
    """Fail the study's RUNNING trials whose storage heartbeat stopped (RDB storages; nothing on a journal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Refresh a trial's heartbeat in an RDB storage from a background thread while its worker trains."""

    def __init__(self, storage, trial_id):
        self.storage, self.trial_id = storage, trial_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)

    def beat(self):
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # a storage hiccup: the next beat tries again
                pass

    def __enter__(self):
        if has_heartbeat(self.storage):
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()
