"""The reviewer pack: a self-contained, escaped page built from the reports on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_evaluate_report import _params, _rows, _runs

from tuneline import layout
from tuneline.evaluate import build_report, write_report
from tuneline.reviewer_pack import render

EVIL = '<script>alert("pwned")</script>'


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the reports the pack reads; one question carries a script tag."""
    rows = _rows()
    rows[0] = rows[0] | {"question": f"Why {EVIL} & co?"}
    report = build_report(_params(samples_to_show=24), rows, _runs(), None, None, None)
    write_report(report, tmp_path / layout.EVAL_DIR, tmp_path)
    _write(tmp_path / layout.TRAIN_REPORT, {"run_id": "abc123"})
    _write(
        tmp_path / layout.PREPARE_REPORT,
        {
            "rows_read": 1040,
            "rows_kept": 1000,
            "rows_quarantined": 40,
            "quarantined_by_reason": {"empty_answer": 31, "too_long": 9},
            "pii_redacted": {"email": 3},
            "conflicting_questions": 2,
        },
    )
    _write(
        tmp_path / layout.VALIDATION_JSON,
        {
            "success": True,
            "rows": 1000,
            "outcomes": [
                {
                    "name": "enough_rows",
                    "severity": "critical",
                    "success": True,
                    "observed": "rows=1000",
                    "reason": "too few examples",
                },
                {
                    "name": "no_personal_data",
                    "severity": "warning",
                    "success": False,
                    "observed": "2 of 1000 values unexpected",
                    "reason": "e-mails a model could repeat",
                },
            ],
        },
    )
    _write(
        tmp_path / layout.DRIFT_DIR / "20240101T000000Z" / "question_drift.json",
        {"drifted": False, "share": 0.0, "threshold": 0.5, "columns": {}},
    )
    _write(
        tmp_path / layout.DRIFT_DIR / "20240301T060000Z" / "question_drift.json",
        {
            "timestamp": "2024-03-01T06:00:00+00:00",
            "drifted": True,
            "share": 0.67,
            "threshold": 0.5,
            "reference_rows": 800,
            "current_rows": 120,
            "columns": {
                "text_length": {"score": 0.001, "method": "K-S p_value", "drifted": True},
                "word_count": {"score": None, "method": "K-S p_value", "drifted": False},
            },
        },
    )
    return tmp_path


def _html(project: Path, **kwargs: object) -> str:
    html_path, _ = render(project, **kwargs)  # type: ignore[arg-type]
    return html_path.read_text(encoding="utf-8")


def test_script_in_a_question_is_escaped(project: Path) -> None:
    html_path, md_path = render(project)
    page = html_path.read_text(encoding="utf-8")
    assert EVIL not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "&amp; co?" in page
    assert EVIL not in md_path.read_text(encoding="utf-8")


def test_page_is_self_contained(project: Path) -> None:
    page = _html(project)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "<style>" in page  # inline CSS


def test_verdict_comes_first(project: Path) -> None:
    page = _html(project)
    verdict = page.index('class="verdict')
    assert verdict < page.index("<h2>")
    assert "PASSED all 7 promotion gates; a human approval is required" in page


def test_failed_gates_are_named_in_the_verdict(project: Path) -> None:
    path = project / layout.EVAL_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    data["gates"][0]["passed"] = False
    data["approval_required"] = False
    path.write_text(json.dumps(data), encoding="utf-8")
    page = _html(project)
    assert f"FAILED 1 of 7 promotion gates ({data['gates'][0]['name']})" in page
    assert 'class="verdict fail"' in page
    assert "no human approval required" in page


def test_table_gates_samples_and_data_quality_are_shown(project: Path) -> None:
    page = _html(project)
    for text in (
        "after - before (95 % CI)",  # the metrics table with intervals
        "&gt;= 0.15",  # its target column
        "beats_base_token_f1",
        '<td class="PASS">PASS</td>',
        "press nothing",  # sample answers side by side
        "Rows read 1040, kept 1000, quarantined 40",
        "empty_answer",
        "no_personal_data",  # the failed expectation
        "1 failed expectation(s)",
        "abc123",  # the MLflow run
        "By category",
    ):
        assert text in page, text


def test_drift_summary_when_the_trigger_was_drift(project: Path) -> None:
    page = _html(project, reason="drift: 67% of descriptors drifted (data/traffic/latest.csv)")
    assert "DRIFTED" in page and "0.67" in page and "20240301T060000Z" in page
    assert "text_length" in page and "n/a" in page  # a missing score reads n/a


def test_explicit_drift_report_wins(project: Path) -> None:
    older = project / layout.DRIFT_DIR / "20240101T000000Z" / "question_drift.json"
    page = _html(project, reason="drift", drift_report=older)
    assert "20240101T000000Z" in page and "no drift" in page


def test_no_drift_summary_for_other_triggers(project: Path) -> None:
    page = _html(project, reason="scheduled quarterly retrain")
    assert "Not triggered by drift (reason: scheduled quarterly retrain)" in page
    assert "DRIFTED" not in page
    assert "no drift summary" in _html(project)  # reason unknown


def test_drift_trigger_without_report_says_so(project: Path) -> None:
    page = _html(project, reason="drift", drift_report=project / "missing.json")
    assert "no drift report was found" in page


def test_render_can_write_elsewhere_without_touching_the_evaluation_folder(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    before = (project / layout.EVAL_DIR / "reviewer_pack.html").read_text(encoding="utf-8")
    elsewhere = tmp_path_factory.mktemp("pack")
    html_path, md_path = render(project, reason="drift: x", out_dir=elsewhere)
    assert html_path.parent == md_path.parent == elsewhere
    assert "DRIFTED" in html_path.read_text(encoding="utf-8")
    assert (project / layout.EVAL_DIR / "reviewer_pack.html").read_text(encoding="utf-8") == before


def test_markdown_has_the_same_sections(project: Path) -> None:
    _, md_path = render(project)
    text = md_path.read_text(encoding="utf-8")
    for heading in (
        "## Metrics on the held-out test set",
        "## Promotion gates",
        "## Sample answers side by side",
        "## Data quality",
        "## Drift",
    ):
        assert heading in text
    assert text.splitlines()[2].startswith("**PASSED")


def test_missing_reports_are_named_not_fatal(project: Path) -> None:
    (project / layout.PREPARE_REPORT).unlink()
    (project / layout.VALIDATION_JSON).unlink()
    page = _html(project)
    assert "reports/prepare.json not found" in page
    assert "reports/validation/qa_data.json not found" in page


def test_missing_evaluation_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tuneline stage evaluate"):
        render(tmp_path)


def test_champion_columns_appear_when_compared(tmp_path: Path) -> None:
    report = build_report(_params(), _rows(), _runs(with_champion=True), "3", "3", None)
    write_report(report, tmp_path / layout.EVAL_DIR, tmp_path)
    page = (tmp_path / layout.EVAL_DIR / "reviewer_pack.html").read_text(encoding="utf-8")
    assert "<th>champion</th>" in page and "after - champion (95 % CI)" in page
    assert "compared as version 3" in page
