"""bench/not_a_digit.py on a tiny run: thresholds keep 99% of the validation digits, and an
ensemble of one run twice refuses just what the run refuses alone."""

import numpy as np
import pytest

import not_a_digit as bench


pytestmark = pytest.mark.slow  # scores a few thousand images through two tiny networks


@pytest.fixture(scope="module")
def results(tiny_runs):
    run = str(tiny_runs["calibrated"])  # the tiny run trained with a validation slice
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench, "FASHION_MNIST", bench.Path("/nowhere"))  # measured where installed; not needed here
        few = bench.sklearn_digits()[0][:200], None
        patch.setattr(bench, "sklearn_digits", lambda: few)
        return run, bench.bench_runs([run, run], count=30, ensemble=True)


def test_each_threshold_keeps_99_percent_of_the_validation_digits(results):
    run, figures = results
    for method, refused in figures[run]["refused"].items():
        assert refused["validation digits"] == pytest.approx(0.01, abs=0.01), method
    assert {"MNIST test", "scikit-learn digits", "uniform noise, seed 2"} <= set(figures[run]["refused"]["energy"])


def test_the_method_chosen_refuses_most_of_the_outliers_chosen_on(results):
    run, figures = results
    refused = figures[run]["refused"]
    mean_refused = {method: np.mean([share for name, share in shares.items() if name.endswith(", seed 1")])
                    for method, shares in refused.items()}
    assert mean_refused[figures[run]["chosen"]] == max(mean_refused.values())


def test_an_ensemble_of_one_run_twice_refuses_what_the_run_refuses(results):
    run, figures = results
    alone, ensemble = figures[run], figures["ensemble of 2"]
    # The ensemble's mean probability is the run's own: the same threshold, the same refusals.
    assert ensemble["refused"]["ensemble probability"] == alone["refused"]["probability"]
    for method in bench.METHODS:  # a mean of percentiles among 300 validation digits: ties move a few
        assert ensemble["refused"][method] == pytest.approx(alone["refused"][method], abs=0.1), method
    assert set(ensemble["refused"]) == set(bench.METHODS + bench.ENSEMBLE_METHODS)
    assert 0 <= ensemble["test_ece"]["all"] <= 1 and np.isfinite(ensemble["test_ece"]["temperature"])


def test_runs_on_other_data_make_no_ensemble(tiny_runs):
    with pytest.raises(SystemExit, match="must share their data"):
        bench.bench_runs([str(tiny_runs["calibrated"]), str(tiny_runs["plain"])], count=30, ensemble=True)
