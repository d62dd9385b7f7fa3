"""Where sweeps keep their studies: a journal file (the default, results/sweeps/sweeps.log;
the reproduction's committed runs are in results/report/sweeps.log), SQLite or PostgreSQL.

Opening a storage checks it (a journal that is not one is refused, a half-written last
entry dropped) and gives an RDB storage its heartbeat (digits.sweeps.liveness). A
storage's tables and figures go beside it.
"""

from contextlib import contextmanager
import json
from pathlib import Path
import time
import warnings

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digits.errors import InputError, first_line
from digits.sweeps.liveness import HEARTBEAT_SECONDS, STALE_SECONDS

DEFAULT_STORAGE = "results/sweeps/sweeps.log"  # a user's own sweeps
# The reproduction's runs, committed with the project: found from wherever a script runs.
REPRODUCTION_STORAGE = str(Path(__file__).resolve().parents[2] / "results" / "report" / "sweeps.log")

optuna.logging.set_verbosity(optuna.logging.WARNING)


def open_storage(spec=None):
    """A journal file (the default, results/sweeps/sweeps.log), or an RDB URL: sqlite:///file.db, postgresql://..."""
    spec = spec or DEFAULT_STORAGE
    path = storage_file(spec)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if "://" not in spec:
        # By its absolute path: the lock is a symlink to the journal, and Optuna frees one left by a
        # killed process only if the link resolves (a relative target would not, from the link's folder).
        check_journal(path)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path.resolve())))
    url = parsed(spec)
    if url.drivername == "postgresql":
        # A bare postgresql:// means psycopg2 under SQLAlchemy 2.0 but psycopg 3 under 2.1: name the driver.
        url = url.set(drivername="postgresql+psycopg2")
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.get_backend_name() == "sqlite" else {"pool_pre_ping": True}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat's
                return optuna.storages.RDBStorage(url.render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                                                  heartbeat_interval=HEARTBEAT_SECONDS, grace_period=STALE_SECONDS)
        except Exception as error:  # SQLAlchemy and the drivers raise many kinds
            # Workers starting together on an empty database race to create Optuna's tables;
            # the loser finds them made on its next try. Anything else fails every try.
            if attempt == 2:
                raise InputError(f"{redacted(spec)}: cannot open the storage ({first_line(error)})") from None
            time.sleep(1 + attempt)


def check_journal(path):
    """Refuse a file that is not an Optuna journal, and drop a half-written last entry.

    Optuna skips lines it cannot read, so a wrong file would silently look empty and then
    be appended to; and a process killed in mid-append leaves a torn last line that makes
    the whole journal unreadable once anything follows it. The check holds the journal's
    own lock, so no live worker is writing meanwhile.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    with journal_lock(path):
        content = path.read_bytes()
        *lines, torn = content.split(b"\n")
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or "op_code" not in entry:
                raise InputError(f"{path}: line {number} is not an Optuna journal entry; left as it is")
        if torn:
            with open(path, "r+b") as file:
                file.truncate(len(content) - len(torn))
            print(f"{path}: dropped a half-written last entry left by a killed process", flush=True)


@contextmanager
def journal_lock(path):
    """Hold the lock Optuna's workers take to append to a journal."""
    lock = optuna.storages.journal.JournalFileSymlinkLock(str(Path(path).resolve()))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def parsed(url):
    """An RDB URL as SQLAlchemy reads it."""
    try:
        return make_url(url)
    except ArgumentError:
        raise InputError(f"{url.partition('://')[0]}://...: not a database URL") from None


def redacted(spec):
    """A storage URL with any password replaced, for messages (a file path as it is)."""
    return parsed(spec).render_as_string(hide_password=True) if "://" in spec else spec


def storage_file(spec):
    """The file a storage lives in: the journal, or an SQLite database (sqlite:///relative.db,
    sqlite:////absolute.db); None for a database server or an in-memory SQLite."""
    if "://" not in spec:
        return Path(spec)
    url = parsed(spec)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def default_out(spec=None):
    """Where a storage's tables go unless --out says: beside the journal or SQLite file
    (results/sweeps/ for the default storage), else results/<database name>/."""
    spec = spec or DEFAULT_STORAGE
    path = storage_file(spec)
    if path is not None:
        return path.parent
    url = parsed(spec)
    return Path("results", url.database or url.get_backend_name())


def study_names(storage):
    """Every study in a storage, in the order they were created."""
    return [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def load_or_create_study(storage, name):
    """The study of that name, created if new; it maximizes the validation accuracy."""
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
