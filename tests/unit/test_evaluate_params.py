"""params.yaml rules for evaluation and its gates: one set of thresholds, a judge that is off by
default and never holds a key, and gate metrics the evaluation actually computes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneline.errors import ConfigError
from tuneline.params import load_params

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"
RAW = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))


def _error(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> str:
    raw = copy.deepcopy(RAW)
    change(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_params(path)
    return info.value.message


def test_defaults_judge_off_and_human_approval_on() -> None:
    params = load_params(PARAMS_YAML)
    assert params.evaluate.judge.enabled is False
    assert params.promotion.require_human_approval is True
    assert params.evaluate.bootstrap_samples >= 1000


def test_evaluate_targets_is_gone_in_favour_of_promotion_min_metrics(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["evaluate"].update(targets={"token_f1": 0.4}))
    assert "targets" in message and "unknown" in message


def test_api_key_in_params_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["evaluate"]["judge"].update(api_key_env="sk-abc123"))
    assert "evaluate.judge.api_key_env" in message and "NAME" in message


def test_enabled_judge_needs_a_url(tmp_path: Path) -> None:
    def change(raw: dict[str, Any]) -> None:
        raw["evaluate"]["judge"].update(enabled=True, base_url="localhost:8000")

    assert "base_url" in _error(tmp_path, change)


def test_judge_timeout_must_be_positive(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["evaluate"]["judge"].update(timeout_s=0))
    assert "timeout_s" in message


def test_bootstrap_samples_must_be_positive(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["evaluate"].update(bootstrap_samples=0))
    assert "evaluate.bootstrap_samples" in message


def test_unknown_gate_metric_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["promotion"]["min_metrics"].update(bleu=0.2))
    assert "bleu" in message
    for metric in ("exact_match", "token_f1", "rouge_l", "chrf"):
        assert metric in message


def test_gate_floor_outside_zero_one_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["promotion"]["min_metrics"].update(token_f1=15))
    assert "promotion.min_metrics.token_f1" in message


def test_negative_regression_margin_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, lambda r: r["promotion"].update(max_regression=-0.1))
    assert "max_regression" in message


def test_latency_must_be_measured(tmp_path: Path) -> None:
    # a latency gate on zero measured answers would pass on nothing
    message = _error(tmp_path, lambda r: r["evaluate"].update(latency_examples=0))
    assert "evaluate.latency_examples" in message


@pytest.mark.parametrize(
    "value",
    [
        "AKIAIOSFODNN7EXAMPLE",  # an AWS access key id: a valid identifier all the same
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # an AWS secret access key
        "ghp_" + "a1B2c3D4e5" * 4,  # a GitHub token
        "Xk3fP9qLm2Rt7Vb8Nz4Wc1Ys",  # 24 random mixed-case characters with digits
        "my-judge-key",  # not a variable name (dashes)
        "Bearer abc",
    ],
)
def test_a_key_in_api_key_env_is_refused_without_echoing_it(tmp_path: Path, value: str) -> None:
    message = _error(tmp_path, lambda r: r["evaluate"]["judge"].update(api_key_env=value))
    assert "evaluate.judge.api_key_env" in message and "NAME" in message
    assert value not in message and value[:8] not in message


@pytest.mark.parametrize("name", ["JUDGE_API_KEY", "OPENAI_API_KEY", "judge_key", "_K2", ""])
def test_variable_names_in_api_key_env_load(tmp_path: Path, name: str) -> None:
    path = tmp_path / "params.yaml"
    raw = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    raw["evaluate"]["judge"]["api_key_env"] = name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert load_params(path).evaluate.judge.api_key_env == name
