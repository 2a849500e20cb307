"""The evaluation report from given answers (no model): table, intervals, categories, samples,
judge and gates, and the files write_report leaves for part B and the reviewer."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from fake_judge import fake_judge

from tuneline.evaluate import ModelRun, build_report, write_report
from tuneline.params import Params, load_params

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"
CATEGORIES = ["billing", "shipping", "returns", ""]  # "" = no category
N = 24


def _params(**evaluate: Any) -> Params:
    params = load_params(PARAMS_YAML)
    cfg = dataclasses.replace(params.evaluate, bootstrap_samples=300, **evaluate)
    return dataclasses.replace(params, evaluate=cfg)


def _rows() -> list[dict]:
    return [
        {
            "question": f"How do I do thing number {i}?",
            "answer": f"open settings and press button {i} twice",
            "category": CATEGORIES[i % 4],
        }
        for i in range(N)
    ]


def _run(answers: list[str], nll_per_token: float) -> ModelRun:
    return ModelRun(
        answers=answers,
        nll=[nll_per_token * 8] * len(answers),
        answer_tokens=[8] * len(answers),
        latencies_s=[0.10, 0.12, 0.30],
        generated_tokens=30,
    )


def _runs(with_champion: bool = False) -> dict[str, ModelRun]:
    refs = [r["answer"] for r in _rows()]
    runs = {
        "base": _run(["i do not know"] * N, nll_per_token=3.0),
        # right on most questions, wrong on the last four
        "candidate": _run(refs[:-4] + ["press nothing"] * 4, nll_per_token=1.0),
    }
    if with_champion:
        runs["champion"] = _run(refs, nll_per_token=1.1)  # right everywhere
    return runs


def test_table_has_base_candidate_target_and_intervals() -> None:
    report = build_report(_params(), _rows(), _runs(), None, None, None)
    assert report.table["columns"] == [
        "metric",
        "before (base)",
        "after (candidate)",
        "target",
        "after - before (95 % CI)",
    ]
    rows = {row[0]: row for row in report.table["rows"]}
    assert rows["token_f1"][3] == ">= 0.15"  # promotion.min_metrics is the target column
    assert rows["rouge_l"][3] == ">= 0.12"
    assert rows["exact_match"][3] == "-"
    assert rows["latency_p95_s (lower is better)"][3] == "<= 5"
    assert set(rows) >= {"chrf", "perplexity (lower is better)", "tokens_per_s"}
    # 20 right answers (F1 1) and 4 sharing one token of 7 (F1 2/9): (20 + 8/9) / 24 = 0.8704
    assert "| token_f1 | 0.0000 | 0.8704 | >= 0.15 | +0.8704 [" in report.table_markdown


def test_scores_and_differences_are_computed_from_the_answers() -> None:
    report = build_report(_params(), _rows(), _runs(), None, None, None)
    candidate = report.models["candidate"]
    assert candidate.exact_match == pytest.approx(20 / 24)
    assert candidate.perplexity == pytest.approx(math.e)
    assert report.models["base"].perplexity == pytest.approx(math.e**3)
    assert candidate.latency_p50_s == pytest.approx(0.12)
    assert candidate.tokens_per_s == pytest.approx(30 / 0.52)
    diff = report.differences["candidate_vs_base"]["exact_match"]
    assert diff["estimate"] == pytest.approx(20 / 24)
    assert 0 < diff["low"] <= diff["estimate"] <= diff["high"] <= 1
    ppl = report.differences["candidate_vs_base"]["perplexity"]
    assert ppl["estimate"] == pytest.approx(math.e - math.e**3)
    assert "candidate_vs_champion" not in report.differences


def test_champion_gets_its_own_columns_and_regression_gates() -> None:
    report = build_report(_params(), _rows(), _runs(with_champion=True), "3", "3", None)
    assert "champion" in report.table["columns"]
    assert report.table["columns"][-1] == "after - champion (95 % CI)"
    diff = report.differences["candidate_vs_champion"]["token_f1"]
    assert diff["estimate"] < 0 and diff["high"] <= 0  # the champion is right on 4 more
    gates = {g["name"]: g for g in report.gates}
    assert not gates["no_regression_vs_champion_token_f1"]["passed"]
    assert report.gates_passed is False


def test_gates_pass_and_approval_follows_params() -> None:
    params = _params()
    report = build_report(params, _rows(), _runs(), None, None, None)
    assert report.gates_passed is True
    assert all(g["passed"] for g in report.gates)
    assert report.approval_required is True
    auto = dataclasses.replace(
        params, promotion=dataclasses.replace(params.promotion, require_human_approval=False)
    )
    assert build_report(auto, _rows(), _runs(), None, None, None).approval_required is False


def test_category_breakdown_groups_rows_without_category_under_dash() -> None:
    report = build_report(_params(), _rows(), _runs(), None, None, None)
    assert set(report.categories) == {"billing", "shipping", "returns", "-"}
    assert report.categories["-"]["questions"] == 6
    # the four wrong answers are questions 20..23: one per category
    assert report.categories["billing"]["candidate"]["exact_match"] == pytest.approx(5 / 6)
    assert report.categories["billing"]["base"]["exact_match"] == 0.0


def test_samples_are_stratified_then_largest_regressions() -> None:
    params = _params(samples_to_show=4, regressions_to_show=2)
    report = build_report(params, _rows(), _runs(with_champion=True), "3", "3", None)
    stratified = [s for s in report.samples if s["picked"].startswith("stratified")]
    regressions = [s for s in report.samples if s["picked"].startswith("regression")]
    assert len(stratified) == 4
    assert {s["category"] for s in stratified} == set(CATEGORIES)  # one per category
    assert len(regressions) == 2
    for sample in regressions:
        assert sample["candidate"] == "press nothing"  # where the candidate lost to the champion
        assert "below the champion" in sample["picked"]
        assert sample["token_f1"]["champion"] > sample["token_f1"]["candidate"]
    assert {"question", "reference", "base", "candidate", "champion"} <= set(report.samples[0])


def test_no_regression_samples_when_the_candidate_never_loses() -> None:
    runs = _runs()
    refs = [r["answer"] for r in _rows()]
    runs["candidate"] = dataclasses.replace(runs["candidate"], answers=refs)
    report = build_report(_params(samples_to_show=2), _rows(), runs, None, None, None)
    assert len(report.samples) == 2
    assert all(s["picked"].startswith("stratified") for s in report.samples)


def test_disabled_judge_adds_no_row() -> None:
    report = build_report(_params(), _rows(), _runs(), None, None, None)
    assert report.judge["status"] == "disabled"
    assert not any(row[0].startswith("judge") for row in report.table["rows"])


def test_hanging_judge_is_reported_unavailable_and_the_report_still_builds() -> None:
    with fake_judge(lambda n, body: (200, None)) as server:
        judge = dataclasses.replace(
            load_params(PARAMS_YAML).evaluate.judge,
            enabled=True,
            base_url=server.base_url,
            api_key_env="",
            timeout_s=0.2,
            max_retries=1,
            backoff_s=0.01,
        )
        report = build_report(_params(judge=judge), _rows(), _runs(), None, None, None)
    assert report.judge["status"] == "unavailable"
    judge_row = next(row for row in report.table["rows"] if row[0].startswith("judge"))
    assert judge_row[2].startswith("judge unavailable: no reply within 0.2 s")


def test_working_judge_joins_the_table_with_its_interval() -> None:
    def prefers_candidate(number: int, body: dict) -> tuple[int, str]:
        prompt = body["messages"][-1]["content"]
        answer_a = prompt.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        return 200, "B" if "i do not know" in answer_a else "A"

    with fake_judge(prefers_candidate) as server:
        judge = dataclasses.replace(
            load_params(PARAMS_YAML).evaluate.judge,
            enabled=True,
            base_url=server.base_url,
            api_key_env="",
            backoff_s=0.01,
        )
        report = build_report(_params(judge=judge), _rows(), _runs(), None, None, None)
    assert report.judge["status"] == "ok" and report.judge["opponent"] == "base"
    assert report.judge["win_rate"] == 1.0
    row = next(row for row in report.table["rows"] if row[0] == "judge win rate vs base")
    assert row[2] == "1.0000" and row[-1] == "1.000 [1.000, 1.000]"


def test_write_report_keeps_the_contract_with_registration(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "evaluation"
    report = build_report(_params(), _rows(), _runs(), None, "2", "champion on other weights")
    path = write_report(report, out, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("champion_seen", "champion_version", "champion_note", "models", "table_markdown"):
        assert key in data
    assert data["champion_seen"] == "2"
    assert set(data["models"]) == {"base", "candidate"}
    assert all(set(g) == {"name", "passed", "detail"} for g in data["gates"])
    failed = {g["name"] for g in data["gates"] if not g["passed"]}
    assert failed == {"no_regression_vs_champion_token_f1", "no_regression_vs_champion_rouge_l"}
    assert data["gates_passed"] is False and data["approval_required"] is True
    assert data["reviewer_pack"] == {
        "html": "reports/evaluation/reviewer_pack.html",
        "markdown": "reports/evaluation/reviewer_pack.md",
    }
    assert (tmp_path / data["reviewer_pack"]["html"]).is_file()
    assert (tmp_path / data["reviewer_pack"]["markdown"]).is_file()
    markdown = (out / "evaluation.md").read_text(encoding="utf-8")
    assert "## Promotion gates" in markdown and "champion on other weights" in markdown
