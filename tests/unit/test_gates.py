"""Promotion gates from params.yaml's `promotion:` section, on hand-made scores."""

from __future__ import annotations

import dataclasses

import pytest

from tuneline.gates import Gate, evaluate_gates, gated_metrics, gates_markdown
from tuneline.metrics import Interval
from tuneline.params import PromotionParams

POLICY = PromotionParams(
    min_metrics={"token_f1": 0.15, "rouge_l": 0.12},
    max_regression=0.02,
    must_beat_base=True,
    latency_p95_ms=500,
    require_human_approval=True,
    allow_self_approval=False,
    approval_timeout_s=60,
)


def _scores(token_f1: float, rouge_l: float, latency_s: float = 0.1) -> dict[str, float]:
    return {"token_f1": token_f1, "rouge_l": rouge_l, "latency_p95_s": latency_s}


def _by_name(gates: list[Gate]) -> dict[str, Gate]:
    return {g.name: g for g in gates}


def test_good_candidate_without_champion_passes_every_gate() -> None:
    scores = {"base": _scores(0.05, 0.04), "candidate": _scores(0.257, 0.2)}
    gates = _by_name(evaluate_gates(scores, POLICY, {}))
    assert set(gates) == {
        "min_token_f1",
        "min_rouge_l",
        "beats_base_token_f1",
        "beats_base_rouge_l",
        "no_regression_vs_champion_token_f1",
        "no_regression_vs_champion_rouge_l",
        "latency_p95",
    }
    assert all(g.passed for g in gates.values())
    assert gates["min_token_f1"].detail == "candidate token_f1 0.257 >= 0.15 (floor)"
    assert "no other champion" in gates["no_regression_vs_champion_token_f1"].detail
    assert gates["latency_p95"].detail == "p95 latency 100 ms <= budget 500 ms"


def test_each_threshold_fails_on_its_own() -> None:
    scores = {
        "base": _scores(0.30, 0.05),  # base better on token F1
        "candidate": _scores(0.20, 0.10, latency_s=0.9),  # rouge below floor, too slow
        "champion": _scores(0.25, 0.11),  # candidate 0.05 token F1 below champion
    }
    gates = _by_name(evaluate_gates(scores, POLICY, {}))
    failed = {name for name, g in gates.items() if not g.passed}
    assert failed == {
        "min_rouge_l",
        "beats_base_token_f1",
        "no_regression_vs_champion_token_f1",
        "latency_p95",
    }
    assert gates["min_rouge_l"].detail == "candidate rouge_l 0.100 < 0.12 (floor)"
    assert (
        "drop 0.050 beyond the allowed 0.02" in gates["no_regression_vs_champion_token_f1"].detail
    )
    assert "drop 0.010 within" in gates["no_regression_vs_champion_rouge_l"].detail
    assert gates["latency_p95"].detail == "p95 latency 900 ms > budget 500 ms"


def test_a_drop_of_exactly_the_margin_is_allowed() -> None:
    scores = {
        "base": _scores(0.0, 0.0),
        "candidate": _scores(0.30, 0.30),
        "champion": _scores(0.32, 0.30),
    }
    gates = _by_name(evaluate_gates(scores, POLICY, {}))
    assert gates["no_regression_vs_champion_token_f1"].passed


def test_equal_to_base_does_not_beat_it() -> None:
    scores = {"base": _scores(0.2, 0.2), "candidate": _scores(0.2, 0.2)}
    assert not _by_name(evaluate_gates(scores, POLICY, {}))["beats_base_token_f1"].passed


def test_must_beat_base_false_drops_those_gates() -> None:
    policy = dataclasses.replace(POLICY, must_beat_base=False)
    scores = {"base": _scores(0.9, 0.9), "candidate": _scores(0.2, 0.2)}
    names = {g.name for g in evaluate_gates(scores, policy, {})}
    assert not any(name.startswith("beats_base") for name in names)


def test_empty_min_metrics_still_compares_token_f1() -> None:
    policy = dataclasses.replace(POLICY, min_metrics={})
    assert gated_metrics(policy) == ["token_f1"]
    scores = {"base": _scores(0.5, 0.0), "candidate": _scores(0.2, 0.0)}
    gates = _by_name(evaluate_gates(scores, policy, {}))
    assert not gates["beats_base_token_f1"].passed
    assert not any(name.startswith("min_") for name in gates)


def test_details_quote_the_bootstrap_interval() -> None:
    scores = {"base": _scores(0.05, 0.04), "candidate": _scores(0.25, 0.2)}
    differences = {"candidate_vs_base": {"token_f1": Interval(0.2, 0.15, 0.26)}}
    gate = _by_name(evaluate_gates(scores, POLICY, differences))["beats_base_token_f1"]
    assert gate.detail.endswith("(difference +0.200, 95 % CI [+0.150, +0.260])")


def test_an_uncompared_champion_fails_the_regression_gates_naming_why() -> None:
    scores = {"base": _scores(0.05, 0.04), "candidate": _scores(0.25, 0.2)}
    note = "champion version 3 was trained on other base weights"
    gates = _by_name(evaluate_gates(scores, POLICY, {}, champion_note=note))
    gate = gates["no_regression_vs_champion_rouge_l"]
    assert note in gate.detail and "--override" in gate.detail
    assert gate.passed is False  # policy promotion must not pass a model nobody compared


@pytest.mark.parametrize("passed", [True, False])
def test_gates_markdown(passed: bool) -> None:
    text = gates_markdown([Gate("latency_p95", passed, "p95 latency 1 ms <= budget 5 ms")])
    assert f"| latency_p95 | {'PASS' if passed else 'FAIL'} | p95 latency" in text
