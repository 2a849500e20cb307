"""How a source's records become question/answer pairs.

Known shapes are recognised without configuration: Alpaca (`instruction` + optional `input` ->
question, `output` -> answer), chat (`messages` with user/assistant turns), and
instruction/response pairs. Anything else maps through params.yaml; a record that fits none
gets an error listing the fields found and an example mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tuneline.errors import DataError
from tuneline.params import ColumnMap, SourceParams

CATEGORY_FIELDS = ("category", "intent", "topic")  # used when a known shape has one of them


@dataclass(frozen=True)
class FieldMap:
    shape: str  # columns | alpaca | chat | instruction_response
    question: str
    answer: str
    category: str = ""  # "" when the source has none
    context: str = ""  # Alpaca's `input`, appended to the question when not empty


def choose_field_map(
    source: str, fields: dict[str, Any], default: ColumnMap, override: SourceParams | None
) -> FieldMap:
    """The mapping for `source`, decided from its first record."""
    if override is not None and override.question:
        _require(source, fields, override.question, override.answer)
        return FieldMap(
            "columns", override.question, override.answer, override.category, override.context
        )
    names = set(fields)
    if default.question in names and default.answer in names:
        category = default.category if default.category in names else ""
        return FieldMap("columns", default.question, default.answer, category)
    category = next((c for c in CATEGORY_FIELDS if c in names), "")
    if "messages" in names and isinstance(fields["messages"], list):
        return FieldMap("chat", "messages", "messages", category)
    if {"instruction", "output"} <= names:
        return FieldMap(
            "alpaca", "instruction", "output", category, "input" if "input" in names else ""
        )
    if {"instruction", "response"} <= names:
        return FieldMap("instruction_response", "instruction", "response", category)
    raise DataError(_unmappable(source, sorted(names), fields))


def _require(source: str, fields: dict[str, Any], *columns: str) -> None:
    missing = [c for c in columns if _lookup(fields, c) is _MISSING]
    if missing:
        raise DataError(
            f"{source}: prepare.sources.{source} maps {missing} but the file has {sorted(fields)}"
        )


def _unmappable(source: str, names: list[str], fields: dict[str, Any]) -> str:
    answers = [n for n in names if n in ANSWER_FIELDS]
    nested = _nested_answers(fields)
    if nested:
        answers = nested
        why = (
            f"its answers are nested ({', '.join(nested)}); map them with dotted paths, "
            "one pair per record"
        )
    elif not answers:
        why = (
            "it has no answer field: tuneline trains on question/answer pairs, so questions "
            "alone (e.g. a traffic log) can serve for drift checks, not training"
        )
    else:
        why = "its shape is not one tuneline recognises"
    first = next((n for n in QUESTION_FIELDS if n in names), names[0] if names else "question")
    return (
        f"{source}: cannot map records to question/answer pairs; {why}. Fields found: {names}. "
        "Recognised shapes: Alpaca (instruction, input, output), chat (messages), "
        "instruction/response, or question/answer. Otherwise map it in params.yaml, e.g.\n"
        f"prepare:\n  sources:\n    {source}:\n      question: {first}\n"
        f"      answer: {answers[0] if answers else '<answer field>'}\n      category: ''"
    )


ANSWER_FIELDS = ("answer", "response", "output", "reply", "completion")
QUESTION_FIELDS = ("question", "instruction", "prompt", "query", "text")
_MISSING = object()


def _lookup(fields: dict[str, Any], path: str) -> Any:
    """fields[path], or a dotted path through nested dicts and lists (instances.0.output)."""
    if path in fields:
        return fields[path]
    value: Any = fields
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _nested_answers(fields: dict[str, Any]) -> list[str]:
    """Dotted paths to answer-like fields one level down, e.g. instances.0.output."""
    paths = []
    for name, value in fields.items():
        inner = value[0] if isinstance(value, list) and value else value
        if isinstance(inner, dict):
            index = ".0" if isinstance(value, list) else ""
            paths += [f"{name}{index}.{key}" for key in inner if key in ANSWER_FIELDS]
    return paths


def _field(fields: dict[str, Any], path: str) -> str:
    value = _lookup(fields, path)
    if value is _MISSING:
        raise KeyError(path)
    return _text(value)


def extract_pair(fields: dict[str, Any], fmap: FieldMap) -> tuple[str, str, str]:
    """(question, answer, category) as raw text; KeyError/ValueError when a record lacks them."""
    found = _lookup(fields, fmap.category) if fmap.category else _MISSING
    category = "" if found is _MISSING else _text(found)
    if fmap.shape == "chat":
        question, answer = _first_exchange(fields["messages"])
        return question, answer, category
    question = _field(fields, fmap.question)
    if fmap.context:
        context = _lookup(fields, fmap.context)
        context = "" if context is _MISSING else _text(context)
        if context.strip() and not is_artefact(context):
            question = f"{question}\n\n{context}"
    return question, _field(fields, fmap.answer), category


def _first_exchange(messages: list[Any]) -> tuple[str, str]:
    """The first user turn and the assistant turn that answers it."""
    question = None
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role == "user" and question is None:
            question = _text(message.get("content"))
        elif role == "assistant" and question is not None:
            return question, _text(message.get("content"))
    raise ValueError("no user turn followed by an assistant turn")


# Markers, not answers, compared by their letters alone so "<Noinput>.", "[noinput]" and
# "< no input >" all match; a real answer such as "None." or "N/A" is left alone.
ARTEFACTS = frozenset({"noinput", "nooutput", "blank", "nan", "null"})
_NOT_LETTERS = re.compile(r"[^a-z]+")


def is_artefact(text: str) -> bool:
    """Placeholder text that export tools leave where a value was missing."""
    return len(text) <= 24 and _NOT_LETTERS.sub("", text.lower()) in ARTEFACTS


def _text(value: Any) -> str:
    """A cell as text: null is empty, but 0 or False are real values."""
    return "" if value is None else str(value)
