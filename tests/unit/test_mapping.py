"""Which fields of a record become the question and the answer: known shapes without
configuration, params.yaml mappings (dotted paths into nested records) when given, and an error
that lists the fields found and the mapping to add when neither fits.
"""

from __future__ import annotations

import pytest

from tuneline.errors import DataError
from tuneline.mapping import FieldMap, choose_field_map, extract_pair, is_artefact
from tuneline.params import ColumnMap, SourceParams

COLUMNS = ColumnMap(question="question", answer="answer", category="category")


def _choose(fields: dict, override: SourceParams | None = None) -> FieldMap:
    return choose_field_map("export.jsonl", fields, COLUMNS, override)


# --- recognised shapes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"question": "Q", "answer": "A", "category": "c", "output": "x"},
            FieldMap("columns", "question", "answer", "category"),
        ),
        ({"question": "Q", "answer": "A"}, FieldMap("columns", "question", "answer", "")),
        (
            {"instruction": "I", "input": "", "output": "O"},
            FieldMap("alpaca", "instruction", "output", "", "input"),
        ),
        ({"instruction": "I", "output": "O"}, FieldMap("alpaca", "instruction", "output")),
        (
            {"messages": [], "topic": "billing"},
            FieldMap("chat", "messages", "messages", "topic"),
        ),
        (
            {"instruction": "I", "response": "R", "intent": "cancel_order"},
            FieldMap("instruction_response", "instruction", "response", "intent"),
        ),
    ],
    ids=["columns", "columns-no-category", "alpaca", "alpaca-no-input", "chat", "instr-resp"],
)
def test_known_shapes_map_without_configuration(fields: dict, expected: FieldMap) -> None:
    assert _choose(fields) == expected


def test_alpaca_input_is_appended_to_the_question_as_its_own_paragraph() -> None:
    fmap = _choose({"instruction": "Translate.", "input": "Good morning", "output": "Bonjour."})
    pair = extract_pair(
        {"instruction": "Translate.", "input": "Good morning", "output": "B."}, fmap
    )
    assert pair == ("Translate.\n\nGood morning", "B.", "")


@pytest.mark.parametrize("context", ["", "   ", "<noinput>", '"<noinput>"', " <No Input> "])
def test_empty_or_artefact_alpaca_input_is_not_appended(context: str) -> None:
    record = {"instruction": "Name a colour.", "input": context, "output": "Blue."}
    assert extract_pair(record, _choose(record)) == ("Name a colour.", "Blue.", "")


def test_chat_takes_the_first_user_turn_and_the_assistant_turn_answering_it() -> None:
    record = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "Hello, how can I help?"},  # greeting, no question yet
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "It ships today."},
            {"role": "user", "content": "Thanks!"},
            {"role": "assistant", "content": "You're welcome."},
        ],
        "topic": "orders",
    }
    assert extract_pair(record, _choose(record)) == (
        "Where is my order?",
        "It ships today.",
        "orders",
    )


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Anyone there?"}],
        [{"role": "assistant", "content": "Hi!"}],
        ["not a message"],
    ],
)
def test_chat_without_a_user_then_assistant_turn_is_unmappable(messages: list) -> None:
    record = {"messages": messages}
    with pytest.raises(ValueError, match="no user turn followed by an assistant turn"):
        extract_pair(record, _choose(record))


# --- per-file overrides ----------------------------------------------------------------------


def test_override_maps_dotted_paths_into_nested_records() -> None:
    record = {
        "instruction": "Сколько будет 2+2?",
        "instances": [{"input": "Ответь числом.", "output": "4"}],
        "meta": {"topic": "математика"},
    }
    override = SourceParams(
        question="instruction",
        answer="instances.0.output",
        category="meta.topic",
        context="instances.0.input",
    )
    fmap = _choose(record, override)
    assert fmap.shape == "columns"
    assert extract_pair(record, fmap) == ("Сколько будет 2+2?\n\nОтветь числом.", "4", "математика")


def test_override_wins_over_a_recognised_shape() -> None:
    record = {"instruction": "I", "output": "O", "summary": "S"}
    fmap = _choose(record, SourceParams(question="instruction", answer="summary"))
    assert extract_pair(record, fmap) == ("I", "S", "")


def test_override_without_question_keeps_shape_detection() -> None:
    # an override that only sets the encoding must not disable recognition of the shape
    fmap = _choose({"instruction": "I", "output": "O"}, SourceParams(encoding="cp1252"))
    assert fmap.shape == "alpaca"


def test_override_naming_a_missing_field_names_the_key_and_the_fields_found() -> None:
    with pytest.raises(DataError) as info:
        _choose({"prompt": "P", "completion": "C"}, SourceParams(question="prompt", answer="reply"))
    message = info.value.message
    assert "prepare.sources.export.jsonl" in message  # the params.yaml key to fix
    assert "['reply']" in message  # what is missing
    assert "['completion', 'prompt']" in message  # what the file has


def test_record_lacking_a_mapped_path_raises_key_error_for_quarantine() -> None:
    fmap = FieldMap("columns", "instruction", "instances.0.output")
    with pytest.raises(KeyError):
        extract_pair({"instruction": "I", "instances": []}, fmap)


# --- refusals --------------------------------------------------------------------------------


def test_questions_only_record_is_refused_with_no_answer_field() -> None:
    with pytest.raises(DataError) as info:
        choose_field_map("traffic.csv", {"text": "t", "category": "c"}, COLUMNS, None)
    message = info.value.message
    assert "traffic.csv" in message
    assert "no answer field" in message
    assert "drift" in message  # what such a file is good for instead
    assert "['category', 'text']" in message


def test_nested_answers_are_refused_with_the_dotted_paths_to_map() -> None:
    record = {"instruction": "I", "instances": [{"input": "x", "output": "y"}], "id": "1"}
    with pytest.raises(DataError) as info:
        choose_field_map("seed.jsonl", record, COLUMNS, None)
    message = info.value.message
    assert "seed.jsonl" in message
    assert "answers are nested" in message and "instances.0.output" in message
    # the block to paste into params.yaml, already filled in for this file
    assert "seed.jsonl:\n      question: instruction\n      answer: instances.0.output" in message


# --- artefacts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["<noinput>", " <NoInput> ", '"<noinput>"', "'<nooutput>'", "<no output>", "nan"]
)
def test_export_placeholders_are_artefacts(text: str) -> None:
    assert is_artefact(text)


@pytest.mark.parametrize("text", ["None.", "N/A", "No input needed.", "0", "<b>bold</b>"])
def test_real_short_answers_are_not_artefacts(text: str) -> None:
    assert not is_artefact(text)
