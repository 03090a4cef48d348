"""The reproduction report (python -m studies summary): verdict rule and completeness."""
import numpy as np
from scipy import stats

from studies.summary import build, prediction_verdict


def test_prediction_interval_verdict_by_hand():
    v = np.array([2.0, 2.2, 1.8, 2.1, 1.9])
    m, sd, n = v.mean(), v.std(ddof=1), v.size
    t = stats.t.ppf(0.975, n - 1)
    pi = t * sd * np.sqrt(1 + 1 / n)
    verdict, mean, ci, half = prediction_verdict(v, m + 0.99 * pi)
    assert verdict == "reproduced" and np.isclose(mean, m) and np.isclose(half, pi)
    assert np.isclose(ci, t * sd / np.sqrt(n))
    assert prediction_verdict(v, m + 1.01 * pi)[0] == "differs (ours lower)"
    assert prediction_verdict(v, m - 1.01 * pi)[0] == "differs (ours higher)"
    assert prediction_verdict(v[:1], 2.0)[0].startswith("undetermined")
    assert prediction_verdict(np.array([np.nan]), 2.0)[0] == "not run"


def test_summary_on_empty_results_lists_every_study_as_not_run(tmp_path):
    path = build(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "REPORT.md"
    assert "| [adadelta-table1](#adadelta-table1) |" in text
    assert "0/160 (not run)" in text
    assert "selftest" not in text  # internal studies are not part of the reproduction
