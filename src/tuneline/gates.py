"""Promotion policy as code: the `promotion:` thresholds of params.yaml checked on an evaluation.

Each gate is a plain record (name, passed, a sentence with the numbers) so the evaluation report,
the reviewer pack and the registry all show the same verdicts. Whether a passed candidate still
needs a person is not a gate: it is `promotion.require_human_approval`, true unless params.yaml
says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tuneline.metrics import Interval
from tuneline.params import PromotionParams

# Compared with base and champion when min_metrics is empty, so those gates never vanish.
DEFAULT_GATED_METRIC = "token_f1"


@dataclass(frozen=True)
class Gate:
    name: str  # e.g. min_token_f1, beats_base_token_f1, no_regression_vs_champion_rouge_l
    passed: bool
    detail: str  # a sentence with the numbers, for the reviewer


def gated_metrics(policy: PromotionParams) -> list[str]:
    """The metrics the base and champion comparisons use: those with a floor, else token F1."""
    return list(policy.min_metrics) or [DEFAULT_GATED_METRIC]


def evaluate_gates(
    scores: Mapping[str, Mapping[str, float]],
    policy: PromotionParams,
    differences: Mapping[str, Mapping[str, Interval]],
    champion_note: str | None = None,
) -> list[Gate]:
    """Every gate of `policy` on `scores` ({"base"|"candidate"|"champion": {metric: value}}).

    `champion_note` says why an existing champion is not in `scores` (other base weights): the
    regression gates then fail, so neither the policy nor a hurried reviewer promotes a model
    nobody compared with production.
    `differences` holds the bootstrap intervals ("candidate_vs_base" / "candidate_vs_champion"
    -> metric -> Interval) quoted in the details; the verdicts use the point estimates.
    """
    candidate = scores["candidate"]
    gates = [
        _floor(metric, candidate[metric], floor) for metric, floor in policy.min_metrics.items()
    ]
    if policy.must_beat_base:
        vs_base = differences.get("candidate_vs_base", {})
        gates += [
            _beats_base(m, candidate[m], scores["base"][m], vs_base.get(m))
            for m in gated_metrics(policy)
        ]
    vs_champion = differences.get("candidate_vs_champion", {})
    for metric in gated_metrics(policy):
        if "champion" in scores:
            champion = scores["champion"][metric]
            gates.append(
                _no_regression(
                    metric,
                    candidate[metric],
                    champion,
                    policy.max_regression,
                    vs_champion.get(metric),
                )
            )
        elif champion_note:  # there is a champion, but it could not be compared
            detail = (
                f"not checked: {champion_note}; a person must judge the regression "
                "(approve with --override)"
            )
            gates.append(Gate(f"no_regression_vs_champion_{metric}", False, detail))
        else:
            gates.append(
                Gate(
                    f"no_regression_vs_champion_{metric}",
                    True,
                    "nothing to compare: no other champion",
                )
            )
    gates.append(_latency(candidate["latency_p95_s"] * 1000, policy.latency_p95_ms))
    return gates


def _floor(metric: str, value: float, floor: float) -> Gate:
    passed = value >= floor
    detail = f"candidate {metric} {value:.3f} {'>=' if passed else '<'} {floor:g} (floor)"
    return Gate(f"min_{metric}", passed, detail)


def _beats_base(metric: str, value: float, base: float, interval: Interval | None) -> Gate:
    passed = value > base
    detail = f"candidate {metric} {value:.3f} {'>' if passed else '<='} base {base:.3f}"
    return Gate(f"beats_base_{metric}", passed, detail + _interval_text(interval))


def _no_regression(
    metric: str, value: float, champion: float, margin: float, interval: Interval | None
) -> Gate:
    drop = champion - value
    passed = drop <= margin + 1e-12  # a drop of exactly the margin is allowed
    detail = (
        f"candidate {metric} {value:.3f} vs champion {champion:.3f}: "
        + (f"drop {drop:.3f}" if drop > 0 else f"gain {-drop:.3f}")
        + f" {'within' if passed else 'beyond'} the allowed {margin:g}"
    )
    return Gate(f"no_regression_vs_champion_{metric}", passed, detail + _interval_text(interval))


def _latency(p95_ms: float, budget_ms: float) -> Gate:
    passed = p95_ms <= budget_ms
    detail = f"p95 latency {p95_ms:.0f} ms {'<=' if passed else '>'} budget {budget_ms:g} ms"
    return Gate("latency_p95", passed, detail)


def _interval_text(interval: Interval | None) -> str:
    if interval is None:
        return ""
    return (
        f" (difference {interval.estimate:+.3f}, 95 % CI [{interval.low:+.3f}, "
        f"{interval.high:+.3f}])"
    )


def gates_markdown(gates: list[Gate]) -> str:
    """One table row per gate: name, PASS/FAIL, detail."""
    lines = ["| gate | result | detail |", "|---|---|---|"]
    lines += [f"| {g.name} | {'PASS' if g.passed else 'FAIL'} | {g.detail} |" for g in gates]
    return "\n".join(lines)
