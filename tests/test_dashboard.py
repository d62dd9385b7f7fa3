"""optuna-dashboard on the sweeps' storage, a journal file or SQLite, started as the README says."""

import pytest

from digits.sweeps.storage import load_or_create_study, open_storage
from harness.servers import get_json, installed_command, served

pytestmark = pytest.mark.slow  # a browser, a server or a whole notebook


def dashboard(storage):
    """optuna-dashboard serving `storage` on a free loopback port, as the README starts it."""
    return served([installed_command("optuna-dashboard"), str(storage)], "/api/meta", timeout=60)


def make_studies(storage):
    """Two studies as the sweeps make them (maximizing), with a few trials made by optuna directly, one
    of them failed; {name: number of trials}."""
    counts = {"optimizer (epochs=1)": 3, "custom-1a2b3c4d": 2}
    for name, count in counts.items():
        study = load_or_create_study(storage, name)
        study.optimize(lambda trial: trial.suggest_float("dropout", 0.0, 0.5), n_trials=count)
    study.optimize(lambda trial: float("nan"), n_trials=1)  # a NaN value makes a FAIL trial
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
