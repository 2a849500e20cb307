"""Serving the champion: base + adapter from the registry, the training run's prompt, the
integrity checks on adapter and base, and the traffic log the drift check reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny_candidates as tiny
import yaml

from tuneline import approval
from tuneline.errors import ConfigError, RegistryError
from tuneline.params import load_params


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose champion is a tiny registered adapter; params.yaml edited afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        root = tiny.make_project(tmp_path_factory.mktemp("predict") / "project")
        version = tiny.register(root, None)
        request = approval.DecisionRequest(
            version, True, "ok", approval.Identity("ann", "self-declared"), "cli"
        )
        approval.decide(load_params(root / "params.yaml"), root, request)
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["model"]["system_prompt"] = "A prompt written after training."
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        return root


def test_champion_answers_with_the_training_prompt_and_logs_the_traffic(project: Path) -> None:
    from tuneline.monitor import read_questions
    from tuneline.predict import load_model

    model = load_model("champion", project)
    answer = model.answer("  Where is my order?  ", max_new_tokens=4)

    trained = yaml.safe_load((tiny.REPO / "params.yaml").read_text())["model"]["system_prompt"]
    assert model.system_prompt == trained  # from the run's params.yaml, not today's
    assert answer.model_uri == "models:/tuneline-support/1" and answer.new_tokens <= 4
    assert answer.question == "Where is my order?" and answer.latency_s > 0
    traffic_log = project / "data/traffic/predictions.jsonl"  # schedule.traffic_path
    (line,) = traffic_log.read_text().splitlines()
    logged = json.loads(line)
    assert logged["answer"] == answer.answer and logged["time"].endswith("+00:00")
    assert read_questions(traffic_log, "question") == ["Where is my order?"]


def test_answer_is_the_greedy_continuation_of_build_prompt(project: Path) -> None:
    import torch

    from tuneline.predict import load_model
    from tuneline.prompts import build_prompt

    model = load_model("1", project, record_traffic=False)
    prompt = build_prompt(model.tokenizer, "Where is my order?", model.system_prompt)
    ids = model.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        logits = model.model(**ids).logits  # (1, T, V)
    first = model.tokenizer.decode([int(logits[0, -1].argmax())], skip_special_tokens=True)

    answer = model.answer("Where is my order?", max_new_tokens=1).answer

    assert answer == first.strip()


def test_empty_question_and_unknown_version_are_clear_errors(project: Path) -> None:
    from tuneline.errors import DataError
    from tuneline.predict import load_model

    with pytest.raises(RegistryError, match="no version or alias 'challenger'"):
        load_model("challenger", project)
    with pytest.raises(DataError, match="question is empty"):
        load_model("champion", project, record_traffic=False).answer("   ")


def test_base_weights_that_differ_from_training_are_refused(project: Path) -> None:
    from tuneline.predict import load_model

    weights = project / "models/demo-base/model.safetensors"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
        with pytest.raises(ConfigError, match=r"differ from the ones this adapter was trained on"):
            load_model("champion", project, record_traffic=False)
    finally:
        weights.write_bytes(original)


def test_the_traffic_log_holds_no_personal_data_only_what_was_redacted(tmp_path: Path) -> None:
    from tuneline.predict import Answer, log_traffic

    secrets = [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
        "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ]
    question = f"My card {secrets[1]} was charged twice, mail {secrets[0]} or {secrets[3]}"
    reply = f"We will call {secrets[2]}; never share keys like {secrets[4]}."
    path = tmp_path / "traffic" / "predictions.jsonl"
    log_traffic(path, Answer(question, reply, "models:/m/1", 0.5, 12))
    text = path.read_text(encoding="utf-8")
    assert not [secret for secret in secrets if secret in text or secret[:9] in text]
    logged = json.loads(text)
    assert logged["question"] == "My card [CARD] was charged twice, mail [EMAIL] or [EMAIL]"
    assert logged["answer"] == "We will call [PHONE]; never share keys like [SECRET]."
    assert logged["pii_redacted"] == {"api_key": 1, "card": 1, "email": 2, "phone": 1}
    assert logged["model_uri"] == "models:/m/1" and logged["new_tokens"] == 12


def test_a_served_question_with_personal_data_is_logged_redacted(project: Path) -> None:
    from tuneline.predict import load_model

    answer = load_model("champion", project).answer("Mail me at jane@example.com", max_new_tokens=2)
    assert answer.question == "Mail me at jane@example.com"  # the caller gets it as asked
    traffic_log = project / "data/traffic/predictions.jsonl"
    last = json.loads(traffic_log.read_text(encoding="utf-8").splitlines()[-1])
    assert last["question"] == "Mail me at [EMAIL]"
    assert last["pii_redacted"].get("email") == 1
    assert "jane@example.com" not in traffic_log.read_text(encoding="utf-8")
