"""Where sweeps keep their studies: a journal file (the default, results/sweeps/sweeps.log;
the reproduction's committed runs are in results/report/sweeps.log), SQLite or PostgreSQL.

Opening a storage checks it (a journal that is not one is refused, a half-written
last entry dropped); a study records the grids it was asked to run, so a report can
tell what is missing without the command line; a report's files go beside the
storage they come from. A journal only grows, so `compact_journal` drops the records
that no longer count.
"""

import hashlib
import json
from pathlib import Path
import time

import optuna

from digits.errors import InputError, first_line
from digits.files import atomic_path
from digits.sweeps.claims import is_alive
from digits.sweeps.keys import stored_key

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
        check_journal(path)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    url = spec
    if url.startswith("postgresql://"):
        # A bare postgresql:// means psycopg2 under SQLAlchemy 2.0 but psycopg 3 under 2.1: name the driver.
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
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
    lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
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
    finally:
        lock.release()


def redacted(url):
    """A storage URL with any password replaced, for messages (a file path as it is)."""
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"


def storage_file(spec):
    """The file a storage lives in: the journal, or an SQLite database (sqlite:///relative.db,
    sqlite:////absolute.db); None for a database server or an in-memory SQLite."""
    if "://" not in spec:
        return Path(spec)
    scheme, _, rest = spec.partition("://")
    database = rest[1:].partition("?")[0]
    return Path(database) if scheme.startswith("sqlite") and database else None


def default_out(spec=None):
    """Where a report of a storage goes unless --out says: beside the journal or SQLite file
    (results/sweeps/ for the default storage), else results/<database name>/."""
    spec = spec or DEFAULT_STORAGE
    path = storage_file(spec)
    if path is not None:
        return path.parent
    scheme, _, rest = spec.partition("://")
    name = rest.rpartition("@")[2].partition("?")[0].rpartition("/")[2]
    return Path("results", name or scheme.partition("+")[0])


def study_names(storage):
    """Every study in a storage, in the order they were created."""
    return [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def load_or_create_study(storage, name):
    """The study of that name, created if new; it maximizes the validation accuracy."""
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)


def register_grid(study, experiment, runs, dataset):
    """Record the grid, its keyed runs (keys.keyed_runs) on `dataset`, in the study, so a report can
    tell what is missing, and on what data, without the command line."""
    keys = [trial_key for trial_key, _, _ in runs]
    fingerprints = [dataset.fingerprint(split) for split in dict.fromkeys(config.validation_split for _, config, _ in runs)]
    digest = hashlib.sha1(json.dumps(keys).encode()).hexdigest()[:12]
    grid = {"experiment": experiment.name, "description": experiment.description,
            "test_each_epoch": experiment.test_each_epoch, "keys": keys,
            "data": {fingerprint["sha256"]: fingerprint for fingerprint in fingerprints}}
    if study.user_attrs.get(f"grid {digest}") != json.loads(json.dumps(grid)):  # each rerun would store it again
        study.set_user_attr(f"grid {digest}", grid)


def registered_grids(study):
    """The grids a study was asked to run, their keys in today's form."""
    return [{**grid, "keys": [stored_key(k) for k in grid["keys"]]}
            for name, grid in study.user_attrs.items() if name.startswith("grid ")]


# Optuna's journal records (optuna.storages.journal JournalOperation) that compact_journal thins out.
SET_STUDY_USER_ATTR, SET_TRIAL_STATE_VALUES, SET_TRIAL_USER_ATTR = 2, 6, 8
FINISHED_STATES = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL}
UNSET = object()  # an attribute not set yet, unequal to any value


def compact_journal(path):
    """Rewrite a journal without the records that no longer count; (bytes before, bytes after).

    A running trial refreshes its heartbeat every 30 s (digits.sweeps.claims), and sweep
    commands used to register their grid again at every rerun: in a night's sweep most of
    the journal is records nobody reads. Kept are each trial's first heartbeat (where its attribute
    was set) and its last before it finished; a study attribute set again to the value
    it has is dropped. The compacted journal is replayed and must read back the same
    studies and trials, to the last attribute, its order and every timestamp, before it
    replaces the old one; while any trial still runs it is refused, since a worker
    reading the journal would lose its place.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such journal file")
    check_journal(path)
    lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        before = replayed(path)
        now = time.time()
        running = [f"{study['name']!r} {trial.number}" for study in before for trial in study["trials"]
                   if trial.state == optuna.trial.TrialState.RUNNING and is_alive(trial, now)]
        if running:
            raise InputError(f"{path}: trial(s) {', '.join(running)} still running; "
                             "compact the journal once its sweeps have stopped")
        lines = path.read_bytes().splitlines(keepends=True)
        kept = [line for line, keep in zip(lines, lines_that_count([json.loads(line) for line in lines])) if keep]
        with atomic_path(path) as temporary:
            temporary.write_bytes(b"".join(kept))
            if as_text(replayed(temporary)) != as_text(before):
                raise InputError(f"{path}: the compacted journal would not read back the same; left as it is")
        return sum(map(len, lines)), sum(map(len, kept))
    finally:
        lock.release()


def lines_that_count(entries):
    """For each journal entry, whether the final state needs it (see compact_journal)."""
    keep = [True] * len(entries)
    beats, finished, study_attrs = {}, set(), {}
    for number, entry in enumerate(entries):
        op, trial = entry.get("op_code"), entry.get("trial_id")
        if op == SET_TRIAL_STATE_VALUES and optuna.trial.TrialState(entry["state"]) in FINISHED_STATES:
            finished.add(trial)
        elif op == SET_TRIAL_USER_ATTR and list(entry["user_attr"]) == ["heartbeat"]:
            keep[number] = False  # a beat after the trial finished was refused when written
            if trial not in finished:
                beats.setdefault(trial, []).append(number)
        elif op == SET_STUDY_USER_ATTR:
            ((name, value),) = entry["user_attr"].items()
            keep[number] = study_attrs.get((entry["study_id"], name), UNSET) != value
            study_attrs[entry["study_id"], name] = value
    for numbers in beats.values():
        keep[numbers[0]] = keep[numbers[-1]] = True
    return keep


def replayed(path):
    """Every study in a journal as Optuna reads it: name, directions, attributes and trials."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return [{"name": study.study_name, "directions": study.directions, "user_attrs": study.user_attrs,
             "system_attrs": study.system_attrs, "trials": storage.get_all_trials(study._study_id, deepcopy=False)}
            for study in storage.get_all_studies()]


def as_text(studies):
    """Studies (replayed) as JSON, every dictionary in the order Optuna built it, so that two compare
    equal only if a report would read them the same, row order included."""
    return json.dumps(studies, default=lambda value: vars(value) if isinstance(value, optuna.trial.FrozenTrial)
                      else repr(value))
