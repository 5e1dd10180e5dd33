"""scripts/seed_parts.py: which part of a seed decides a label-scarce gain (protocol.md, "which
part of a seed decides the label-scarce gain"). Its output quoted in transfer-study.md is
checked against the committed result files in tests/test_study_docs.py."""

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import load_script, run_script

ROOT = Path(__file__).resolve().parents[1]
script = load_script("seed_parts")


def test_the_correlation_finds_a_shared_part_and_its_absence() -> None:
    rng = np.random.default_rng(0)
    pair = rng.normal(0, 1, 20)  # the part each seed's labelled speakers fix
    shared = script.correlation(pair + rng.normal(0, 0.1, 20), pair + rng.normal(0, 0.1, 20))
    assert shared["r"] > 0.95 and shared["low"] > 0.5
    assert script.reading(shared).startswith("the labelled speakers carry most")
    alone = script.correlation(rng.normal(0, 1, 20), rng.normal(0, 1, 20))
    assert alone["low"] < 0 < alone["high"]
    assert alone["resamples"] == script.RESAMPLES
    # the same figure whatever the order of the seeds, and the point estimate is Pearson's
    x, y = rng.normal(0, 1, 12), rng.normal(0, 1, 12)
    order = rng.permutation(12)
    assert script.correlation(x, y)["r"] == pytest.approx(float(np.corrcoef(x, y)[0, 1]))
    assert script.correlation(x[order], y[order])["r"] == pytest.approx(
        script.correlation(x, y)["r"]
    )


@pytest.mark.parametrize(
    ("low", "high", "start"),
    [
        (0.55, 0.9, "the labelled speakers carry most"),
        (-0.3, 0.45, "the rest of the seed carries most"),
        (0.1, 0.45, "the rest of the seed carries most"),
        (0.2, 0.8, "neither reading holds"),
        (-0.2, 0.5, "neither reading holds"),
    ],
)
def test_the_reading_is_the_protocols(low: float, high: float, start: str) -> None:
    said = script.reading({"r": (low + high) / 2, "low": low, "high": high})
    assert said.startswith(start)
    assert ("carry some" in said) == (high < 0.5 and low > 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-folder"], "no study result files"),
        (["docs/results/study-epyc-avx2", "--regimes", "3"], "no label-scarce cells with 3"),
        (["docs/results/study-epyc-avx2", "--regimes", "two"], "--regimes two"),
        (["docs/results/study-epyc-avx2", "--seeds", "x"], "--seeds 'x'"),
        (["docs/results/study-xeon", "--regimes", "2"], "no results for"),
        (["docs/results/study-xeon", "--regimes", "2", "--pooled"], "no results for"),
        (["docs/results/study-epyc-avx2-t180", "--seeds", "0,1", "--pooled"], "share 2 seeds"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    done = run_script("seed_parts", args)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
