"""The optional LLM judge against a fake OpenAI-compatible server on localhost.

Good replies, transient 500s (retried with backoff), a server that hangs (hard timeout, then
"judge unavailable"), refused keys, unreachable hosts and garbage replies: the judge must give a
clear result every time and never hang or raise.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from fake_judge import fake_judge, prefers_good

from tuneline.judge import build_messages, judge_pairwise, parse_verdict
from tuneline.params import JudgeParams

N = 12
QUESTIONS = [f"question {i}?" for i in range(N)]
REFERENCES = [f"reference {i}" for i in range(N)]
GOOD = [f"good answer {i}" for i in range(N)]
BAD = [f"bad answer {i}" for i in range(N)]


def _cfg(base_url: str, **changes: Any) -> JudgeParams:
    values = {
        "enabled": True,
        "base_url": base_url,
        "model": "fake-judge",
        "api_key_env": "",
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_s": 0.01,
        "max_questions": 50,
    }
    return JudgeParams(**(values | changes))


def _judge(cfg: JudgeParams, candidate: list[str] = GOOD, opponent: list[str] = BAD) -> Any:
    return judge_pairwise(cfg, QUESTIONS, REFERENCES, candidate, opponent, "champion", 200, 0)


def test_good_judge_gives_every_win_with_an_interval() -> None:
    with fake_judge(prefers_good) as server:
        result = _judge(_cfg(server.base_url))
    assert result.status == "ok"
    assert (result.wins, result.losses, result.ties, result.invalid) == (N, 0, 0, 0)
    assert result.win_rate == 1.0 and result.low == 1.0 and result.high == 1.0
    assert "12 wins" in result.detail
    assert len(server.requests) == N
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["model"] == "fake-judge"


def test_losing_candidate_scores_zero() -> None:
    with fake_judge(prefers_good) as server:
        result = _judge(_cfg(server.base_url), candidate=BAD, opponent=GOOD)
    assert (result.wins, result.losses, result.win_rate) == (0, N, 0.0)


def test_answer_order_is_randomised_to_avoid_position_bias() -> None:
    with fake_judge(prefers_good) as server:
        _judge(_cfg(server.base_url))
    first_is_candidate = [
        "Answer A:\ngood" in r["body"]["messages"][-1]["content"] for r in server.requests
    ]
    assert 0 < sum(first_is_candidate) < N  # the candidate is shown first sometimes, not always


def test_a_judge_that_always_says_a_gets_about_half() -> None:
    # pure position bias must not look like a preference for either model
    with fake_judge(lambda n, body: (200, "A")) as server:
        result = _judge(_cfg(server.base_url))
    assert result.status == "ok"
    assert result.wins > 0 and result.losses > 0
    assert result.low < 0.5 < result.high


def test_server_errors_are_retried_with_backoff_then_succeed() -> None:
    def flaky(number: int, body: dict[str, Any]) -> tuple[int, str | None]:
        return (500, "overloaded") if number < 2 else prefers_good(number, body)

    with fake_judge(flaky) as server:
        result = _judge(_cfg(server.base_url, max_retries=3, backoff_s=0.05))
    assert result.status == "ok" and result.wins == N
    assert len(server.requests) == N + 2


def test_backoff_doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []
    monkeypatch.setattr("tuneline.judge.time.sleep", delays.append)
    with fake_judge(lambda n, body: (503, "busy")) as server:
        result = _judge(_cfg(server.base_url, max_retries=3, backoff_s=0.5))
    assert delays == [0.5, 1.0, 2.0]
    assert result.status == "unavailable"


def test_persistent_server_errors_make_the_judge_unavailable_after_retries() -> None:
    with fake_judge(lambda n, body: (500, "down")) as server:
        result = _judge(_cfg(server.base_url, max_retries=2))
    assert result.status == "unavailable"
    assert result.detail.startswith("judge unavailable: HTTP 500")
    assert "after 3 attempts" in result.detail
    assert len(server.requests) == 3  # gives up on the first question, not once per question
    assert result.win_rate is None


def test_a_hanging_server_times_out_instead_of_hanging() -> None:
    began = time.perf_counter()
    with fake_judge(lambda n, body: (200, None)) as server:
        result = _judge(_cfg(server.base_url, timeout_s=0.2, max_retries=1))
    assert time.perf_counter() - began < 3  # two 0.2 s attempts, not the server's 5 s hang
    assert result.status == "unavailable"
    assert "no reply within 0.2 s" in result.detail
    assert len(server.requests) == 2


def test_refused_key_is_not_retried() -> None:
    with fake_judge(lambda n, body: (401, "bad key")) as server:
        result = _judge(_cfg(server.base_url))
    assert result.status == "unavailable"
    assert "HTTP 401" in result.detail
    assert len(server.requests) == 1


def test_api_key_comes_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TUNELINE_TEST_JUDGE_KEY", "secret-123")
    with fake_judge(prefers_good) as server:
        _judge(_cfg(server.base_url, api_key_env="TUNELINE_TEST_JUDGE_KEY", max_questions=1))
    assert server.requests[0]["headers"]["Authorization"] == "Bearer secret-123"


def test_unset_key_variable_is_reported_without_calling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNELINE_TEST_JUDGE_KEY", raising=False)
    with fake_judge(prefers_good) as server:
        result = _judge(_cfg(server.base_url, api_key_env="TUNELINE_TEST_JUDGE_KEY"))
    assert result.status == "unavailable"
    assert "TUNELINE_TEST_JUDGE_KEY" in result.detail
    assert server.requests == []


def test_unreachable_host_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _judge(_cfg(f"http://127.0.0.1:{port}/v1", max_retries=1))
    assert result.status == "unavailable"
    assert "cannot reach" in result.detail


def test_garbage_replies_are_counted_invalid_not_guessed() -> None:
    def mixed(number: int, body: dict[str, Any]) -> tuple[int, str | bytes | None]:
        if number % 3 == 0:
            return 200, b"<html>not json</html>"
        if number % 3 == 1:
            return 200, "I would rather not say."
        return prefers_good(number, body)

    with fake_judge(mixed) as server:
        result = _judge(_cfg(server.base_url))
    assert result.status == "ok"
    assert result.invalid == 8 and result.wins == 4
    assert result.win_rate == 1.0  # over valid verdicts only
    assert "8 unreadable replies" in result.detail


def test_only_garbage_makes_the_judge_unavailable() -> None:
    with fake_judge(lambda n, body: (200, b'{"choices": []}')) as server:
        result = _judge(_cfg(server.base_url))
    assert result.status == "unavailable"
    assert "no usable verdict in 12 replies" in result.detail


def test_identical_answers_are_ties_without_a_call() -> None:
    with fake_judge(prefers_good) as server:
        result = _judge(_cfg(server.base_url), candidate=GOOD, opponent=list(GOOD))
    assert result.ties == N and result.win_rate == 0.5
    assert server.requests == []


def test_max_questions_limits_the_calls() -> None:
    with fake_judge(prefers_good) as server:
        result = _judge(_cfg(server.base_url, max_questions=3))
    assert len(server.requests) == 3 and result.questions == 3


def test_disabled_judge_calls_nothing() -> None:
    result = _judge(_cfg("http://127.0.0.1:9/v1", enabled=False))
    assert result.status == "disabled" and result.win_rate is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("A", "A"),
        ("b", "B"),
        (" **B** ", "B"),
        ("A.", "A"),
        ("Tie", "tie"),
        ("Verdict: tie", "tie"),
        ('{"verdict": "A"}', "A"),
        ("Answer B is more accurate.", "B"),
        ("I prefer B because it matches the reference.", "B"),
        ("It is a tie.", "tie"),
        ("A and B are both wrong", None),  # names both: not a verdict
        ("This is a good question", None),  # lower-case 'a' is an article
        ("", None),
        ("Both are fine.", None),
    ],
)
def test_parse_verdict(reply: str, expected: str | None) -> None:
    assert parse_verdict(reply) == expected


def test_prompt_shows_question_reference_and_both_answers() -> None:
    messages = build_messages("Q?", "REF", "first", "second")
    assert messages[0]["role"] == "system" and "A, B or tie" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index("Q?") < user.index("REF") < user.index("first") < user.index("second")
