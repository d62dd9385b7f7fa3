"""The report's claims judged against the seeds: ahead, behind or within seed noise, and the verdict."""

from digits.sweeps.tables import PointRuns, claims_section
from digits.sweeps.verdicts import AHEAD, BEHIND, BEST, NOISE, REPORT_CLAIMS, against, judge

TABLE_1 = REPORT_CLAIMS[0]  # Adam with dropout 0.3 is the best row


def point(settings, *tests):
    return PointRuns(settings, [{"test": {"accuracy": value}} for value in tests])


def test_ahead_and_behind_need_every_seed_beyond_every_other_seed():
    best = point({}, 0.993, 0.994)
    assert against(best, point({}, 0.990, 0.992)) == AHEAD
    assert against(best, point({}, 0.995, 0.996)) == BEHIND
    assert against(best, point({}, 0.990, 0.9935)) == NOISE  # one seed of the other beats one of ours
    assert against(best, point({}, 0.993)) == NOISE  # a tie is not ahead


def test_a_claim_holds_fails_or_is_not_shown():
    adam = point({"optimizer": "adam", "dropout": 0.3}, 0.9932, 0.9926)
    sgd = point({"optimizer": "sgd", "dropout": 0.3}, 0.9852, 0.9869)
    close = point({"optimizer": "rmsprop", "dropout": 0.3}, 0.9922, 0.9930)
    better = point({"optimizer": "rmsprop", "dropout": 0.3}, 0.9940, 0.9945)

    holds = judge(TABLE_1, [sgd, adam])
    assert holds.outcome == "holds" and holds.runs == 4
    assert [how for _, how in holds.comparisons] == [AHEAD, BEST]
    assert judge(TABLE_1, [sgd, adam, close]).outcome == "not shown"
    assert judge(TABLE_1, [sgd, adam, close, better]).outcome == "fails"  # one setting ahead in every seed


def test_a_claim_without_its_setting_or_a_rival_is_not_testable_yet():
    sgd = point({"optimizer": "sgd", "dropout": 0.3}, 0.985)
    assert judge(TABLE_1, [sgd]).outcome == "not testable yet"
    assert judge(TABLE_1, [point({"optimizer": "adam", "dropout": 0.3}, 0.993)]).outcome == "not testable yet"
    assert "`python sweep_hparams.py optimizer --seeds 3`" in judge(TABLE_1, []).sentence()


def test_the_section_shows_each_seed_and_the_verdict():
    adam = point({"optimizer": "adam", "dropout": 0.3}, 0.9932, 0.9926)
    sgd = point({"optimizer": "sgd", "dropout": 0.3}, 0.9852, 0.9869)
    text = claims_section([judge(TABLE_1, [sgd, adam])])
    assert text.startswith("## The report's claims, against the seeds\n")
    assert "**Adam with dropout 0.3 is the best row of Table 1**: holds: ahead of every other setting in every seed (4 runs)." in text
    assert "| optimizer=sgd dropout=0.3 | 98.52, 98.69 | 98.61 ± 0.12 | ahead in every seed |" in text
    assert "| optimizer=adam dropout=0.3 | 99.32, 99.26 | 99.29 ± 0.04 | the claimed best |" in text
