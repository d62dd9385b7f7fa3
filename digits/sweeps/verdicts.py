"""The report's claims, each checked against the stored seeds of the study that tests it.

The report ranked its settings by one run each, but another seed of the same recipe (other
starting weights, shuffling and dropout masks) moves the test accuracy by a tenth of a point
or more. So a claimed best setting counts as ahead of another only if every one of its seeds
beats every seed of the other on the test set (the report's own measure), behind it only if
every seed loses, and within seed noise otherwise. A claim holds when its setting is ahead of
every other, fails when some other is ahead of it, and is not shown otherwise. This is a
plain rule, not a significance test: with three seeds a setting can be "ahead" by chance,
and "within seed noise" only says the seeds cannot tell.
"""

from dataclasses import dataclass

AHEAD, BEHIND, NOISE = "ahead in every seed", "behind in every seed", "within seed noise"
BEST = "the claimed best"


@dataclass(frozen=True)
class Claim:
    text: str
    study: str  # the study that tests it, on the report's base settings
    best: dict  # the settings the claim calls best


REPORT_CLAIMS = (
    Claim("Adam with dropout 0.3 is the best row of Table 1", "optimizer", {"optimizer": "adam", "dropout": 0.3}),
    Claim("Dropout 0.3 is the best choice (with SGD, Figure 4)", "dropout", {"optimizer": "sgd", "dropout": 0.3}),
    Claim("Batch size 64 gives the best accuracy (Figure 11)", "batch_size", {"batch_size": 64}),
)


def against(best, other):
    """How the claimed best point compares with another, seed by seed, on the test set."""
    mine, theirs = best.values("test"), other.values("test")
    if all(a > b for a in mine for b in theirs):
        return AHEAD
    if all(a < b for a in mine for b in theirs):
        return BEHIND
    return NOISE


@dataclass
class Verdict:
    claim: Claim
    outcome: str  # "holds", "fails", "not shown" or "not testable yet"
    comparisons: list  # of (PointRuns, how the claimed best compares with it, or BEST for itself)

    @property
    def runs(self):
        return sum(len(point.records) for point, _ in self.comparisons)

    def sentence(self):
        why = {"holds": "holds: ahead of every other setting in every seed",
               "fails": "fails: another setting is ahead of it in every seed",
               "not shown": "not shown: other settings are within seed noise of it",
               "not testable yet": f"not testable yet (`python sweep_hparams.py {self.claim.study} --seeds 3`)"}
        return f"**{self.claim.text}**: {why[self.outcome]}" + (f" ({self.runs} runs)." if self.runs else ".")


def judge(claim, points):
    """The verdict on `claim` from its study's points (tables.PointRuns with at least one seed)."""
    best = next((point for point in points if point.settings == claim.best), None)
    if best is None or len(points) < 2:
        return Verdict(claim, "not testable yet", [])
    comparisons = [(point, BEST if point is best else against(best, point)) for point in points]
    others = [how for _, how in comparisons if how != BEST]
    outcome = "holds" if all(how == AHEAD for how in others) else "fails" if BEHIND in others else "not shown"
    return Verdict(claim, outcome, comparisons)


def report_verdicts(studies):
    """The verdict on each of the report's claims whose study is among `studies` ({name: [StudyResults]});
    a study holding runs on several data is judged on the runs of the data with the most."""
    verdicts = []
    for claim in REPORT_CLAIMS:
        if claim.study in studies:
            results = max(studies[claim.study], key=lambda each: each.complete)
            verdicts.append(judge(claim, results.points))
    return verdicts
