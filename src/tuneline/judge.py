"""An optional LLM judge: an OpenAI-compatible chat endpoint compares two answers to a question.

Pairwise, not absolute: for each test question the judge sees the reference answer and two
answers labelled A and B, the candidate's and the opponent's (champion, or base when there is no
champion) in a random order per question, so a judge that favours the first position cannot
favour one model. Standard library only (urllib): no SDK, no new dependency.

A judge must never hang or crash the evaluation: every request has a hard timeout; 5xx, 429 and
network errors are retried with exponential backoff; anything still failing turns the whole
result into "judge unavailable: <reason>" and the stage goes on. Replies that say neither A, B
nor tie are counted as invalid, not guessed.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from tuneline.metrics import bootstrap_interval, normalize_answer
from tuneline.params import JudgeParams

log = logging.getLogger(__name__)
Verdict = Literal["A", "B", "tie"]
SYSTEM_PROMPT = (
    "You compare two answers to a customer-support question. The reference answer is what the "
    "support team would say. Judge which answer is more correct and helpful with respect to the "
    "reference; ignore length and style. Reply with exactly one word: A, B or tie."
)
_RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class JudgeResult:
    status: Literal["ok", "unavailable", "disabled"]
    opponent: str  # champion | base
    detail: str  # one line for the report: the figures, or why the judge is unavailable
    questions: int  # questions judged (valid + invalid)
    wins: int  # candidate judged better
    losses: int
    ties: int
    invalid: int  # replies that named no verdict
    win_rate: float | None  # (wins + ties / 2) / valid verdicts
    low: float | None  # 95 % bootstrap interval of the win rate
    high: float | None


class JudgeUnavailable(Exception):
    """The endpoint could not give an answer (timeouts, errors, refused key) after retries."""


def _no_verdicts(
    status: Literal["unavailable", "disabled"], opponent: str, detail: str, questions: int
) -> JudgeResult:
    """A result without figures: the judge is off, or could not be used."""
    return JudgeResult(
        status=status,
        opponent=opponent,
        detail=detail,
        questions=questions,
        wins=0,
        losses=0,
        ties=0,
        invalid=0,
        win_rate=None,
        low=None,
        high=None,
    )


def disabled(opponent: str) -> JudgeResult:
    return _no_verdicts("disabled", opponent, "judge disabled (evaluate.judge.enabled: false)", 0)


def judge_pairwise(
    cfg: JudgeParams,
    questions: list[str],
    references: list[str],
    candidate: list[str],
    opponent: list[str],
    opponent_name: str,
    bootstrap_samples: int,
    seed: int,
) -> JudgeResult:
    """Candidate vs opponent on the first `cfg.max_questions` questions.

    Never raises for the endpoint's sake: timeouts, errors and refusals give an "unavailable"
    result with the reason.
    """
    if not cfg.enabled:
        return disabled(opponent_name)
    rng = random.Random(seed)
    outcomes: list[float] = []  # per valid verdict: 1 candidate better, 0.5 tie, 0 worse
    invalid = 0
    rows = list(zip(questions, references, candidate, opponent, strict=True))[: cfg.max_questions]
    try:
        api_key = _api_key(cfg)
        for question, reference, ours, theirs in rows:
            swap = rng.random() < 0.5  # drawn for every question so the order is reproducible
            if normalize_answer(ours) == normalize_answer(theirs):
                outcomes.append(0.5)  # the same answer: a tie without paying for a call
                continue
            a, b = (theirs, ours) if swap else (ours, theirs)
            verdict = parse_verdict(_ask(cfg, api_key, build_messages(question, reference, a, b)))
            if verdict is None:
                invalid += 1
            else:
                outcomes.append(_candidate_score(verdict, swap))
    except JudgeUnavailable as exc:
        log.warning("judge unavailable: %s", exc)
        return _unavailable(opponent_name, str(exc), len(rows))
    if not outcomes:
        return _unavailable(opponent_name, f"no usable verdict in {invalid} replies", len(rows))
    return _summary(opponent_name, outcomes, invalid, bootstrap_samples, seed)


def _unavailable(opponent: str, reason: str, questions: int) -> JudgeResult:
    return _no_verdicts("unavailable", opponent, f"judge unavailable: {reason}", questions)


def _candidate_score(verdict: Verdict, swap: bool) -> float:
    """1.0 when the candidate's answer won, 0.5 for a tie, 0.0 when the opponent's won."""
    if verdict == "tie":
        return 0.5
    candidate_label = "B" if swap else "A"
    return 1.0 if verdict == candidate_label else 0.0


def _summary(
    opponent: str, outcomes: list[float], invalid: int, samples: int, seed: int
) -> JudgeResult:
    interval = bootstrap_interval(
        len(outcomes), lambda idx: sum(outcomes[i] for i in idx) / len(idx), samples, seed
    )
    wins, ties = outcomes.count(1.0), outcomes.count(0.5)
    losses = len(outcomes) - wins - ties
    detail = (
        f"candidate vs {opponent}: {wins} wins, {ties} ties, {losses} losses"
        + (f", {invalid} unreadable replies" if invalid else "")
        + f"; win rate {interval.estimate:.3f} (95 % CI [{interval.low:.3f}, {interval.high:.3f}])"
    )
    return JudgeResult(
        status="ok",
        opponent=opponent,
        detail=detail,
        questions=len(outcomes) + invalid,
        wins=wins,
        losses=losses,
        ties=ties,
        invalid=invalid,
        win_rate=interval.estimate,
        low=interval.low,
        high=interval.high,
    )


def build_messages(question: str, reference: str, answer_a: str, answer_b: str) -> list[dict]:
    """The chat messages for one pairwise comparison."""
    user = (
        f"Question:\n{question}\n\nReference answer:\n{reference}\n\n"
        f"Answer A:\n{answer_a}\n\nAnswer B:\n{answer_b}\n\n"
        "Which answer is better: A, B or tie?"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_BARE = re.compile(r"^(?:(?:verdict|answer|winner|choice)\s*[:\-]?\s*)?(a|b|tie)$")
_LABELLED = re.compile(r"""verdict["']?\s*[:=]\s*["']?(a|b|tie)\b""", re.IGNORECASE)


def parse_verdict(text: str) -> Verdict | None:
    """ "A", "B" or "tie" from a judge's reply, or None when the reply does not say one clearly.

    Accepts a bare word with markdown or punctuation around it ("**B**", "A."), a labelled
    verdict ("Verdict: tie", {"verdict": "A"}), or a sentence naming exactly one of the
    capital letters A / B or the word tie. Lower-case "a" inside a sentence is an article.
    """
    bare = text.strip().strip("*`\"'.!()[]{} \n\t").lower()
    found = _BARE.match(bare) or _LABELLED.search(text)
    if found:
        return _verdict(found.group(1))
    named = set(re.findall(r"\b([AB])\b", text))
    if re.search(r"\btie\b", text, re.IGNORECASE):
        named.add("tie")
    return _verdict(named.pop()) if len(named) == 1 else None


def _verdict(word: str) -> Verdict:
    lowered = word.lower()
    return "tie" if lowered == "tie" else ("A" if lowered == "a" else "B")


def _api_key(cfg: JudgeParams) -> str | None:
    """The key from the environment variable named in params, or None when none is named."""
    if not cfg.api_key_env:
        return None
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise JudgeUnavailable(
            f"environment variable {cfg.api_key_env} (evaluate.judge.api_key_env) is not set"
        )
    return key


def _ask(cfg: JudgeParams, api_key: str | None, messages: list[dict]) -> str:
    """The reply text of one chat completion, retrying transient failures with backoff."""
    body = {"model": cfg.model, "messages": messages, "temperature": 0, "max_tokens": 16}
    last_error = ""
    for attempt in range(cfg.max_retries + 1):
        if attempt:
            time.sleep(cfg.backoff_s * 2 ** (attempt - 1))  # 1x, 2x, 4x ... the first delay
        try:
            return _reply_text(_post(cfg, api_key, body))
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in _RETRYABLE_HTTP:  # a bad key or URL does not heal by waiting
                raise JudgeUnavailable(f"{last_error} from {cfg.base_url}") from exc
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, cut off
            reason = getattr(exc, "reason", exc)
            last_error = (
                f"no reply within {cfg.timeout_s:g} s"
                if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError)
                else f"cannot reach {cfg.base_url}: {reason}"
            )
        log.info("judge: attempt %d/%d failed: %s", attempt + 1, cfg.max_retries + 1, last_error)
    raise JudgeUnavailable(f"{last_error} (after {cfg.max_retries + 1} attempts)")


def _post(cfg: JudgeParams, api_key: str | None, body: dict) -> bytes:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        cfg.base_url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        headers=headers,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=cfg.timeout_s) as response:  # noqa: S310
        return response.read()


def _reply_text(raw: bytes) -> str:
    """choices[0].message.content, or "" for a body that is not a chat completion (invalid)."""
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""
