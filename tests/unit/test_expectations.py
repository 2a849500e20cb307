"""The Great Expectations wrapper on small synthetic Q/A frames."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tuneline.errors import DataError
from tuneline.expectations import (
    CheckOutcome,
    ExpectationSpec,
    ValidationSummary,
    _frame_for_gx,
    _gx_error_message,
    _value_lengths,
    import_gx_in_background,
    loaded_on_first_use,
    run_expectations,
)


def _spec(name: str, kind: str, column: str | None, severity: str = "critical", **args):
    return ExpectationSpec(
        name=name, kind=kind, column=column, severity=severity, args=args, reason=f"guards {name}"
    )


def _good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question": ["How do I reset my password?", "Where is my order?", "Refund?"],
            "answer": ["Use Settings > Security.", "Track it under Orders.", "Within 30 days."],
            "lang": ["en", "en", "en"],
        }
    )


ALL_KINDS_PASSING = [
    _spec("rows", "row_count_between", None, min_value=1, max_value=1000),
    _spec("answer_not_null", "not_null", "answer"),
    _spec("question_unique", "unique", "question"),
    _spec("answer_length", "length_between", "answer", min_value=1, max_value=200),
    _spec("lang_known", "values_in_set", "lang", value_set=["en", "de"]),
    _spec("no_emails", "not_match_regex", "answer", regex=r"[\w.]+@[\w.]+"),
]


@pytest.fixture(scope="module")
def passing_summary(tmp_path_factory: pytest.TempPathFactory) -> ValidationSummary:
    report_dir = tmp_path_factory.mktemp("reports")
    return run_expectations(_good_frame(), ALL_KINDS_PASSING, report_dir)


def test_good_frame_passes_every_kind(passing_summary: ValidationSummary) -> None:
    assert passing_summary.success
    assert passing_summary.rows == 3
    assert [o.name for o in passing_summary.outcomes] == [s.name for s in ALL_KINDS_PASSING]
    assert all(o.success and o.unexpected_count == 0 for o in passing_summary.outcomes)
    assert passing_summary.failed_critical == passing_summary.failed_warning == []
    assert passing_summary.outcomes[0].observed == "rows=3"


def test_reports_are_written_and_json_parses(passing_summary: ValidationSummary) -> None:
    record = json.loads(passing_summary.report_json.read_text(encoding="utf-8"))
    assert record["suite"] == "qa_data"
    assert record["success"] is True
    assert record["rows"] == 3
    assert record["great_expectations_version"] == "1.24.1"
    assert record["timestamp"]
    assert [o["name"] for o in record["outcomes"]] == [s.name for s in ALL_KINDS_PASSING]
    page = passing_summary.report_html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "answer_not_null" in page and "guards answer_not_null" in page
    assert "<script" not in page and "http" not in page  # self-contained


@pytest.mark.parametrize(
    ("frame", "spec", "unexpected"),
    [
        (
            pd.DataFrame({"answer": ["a", None, float("nan"), "b"]}),
            _spec("answer_not_null", "not_null", "answer"),
            2,
        ),
        (
            # every copy of a duplicated value counts: two "a" and two "b"
            pd.DataFrame({"question": ["a", "a", "b", "b", "c"]}),
            _spec("question_unique", "unique", "question"),
            4,
        ),
        (
            pd.DataFrame({"answer": ["", "ok", "x" * 50, "fine"]}),
            _spec("answer_length", "length_between", "answer", min_value=1, max_value=10),
            2,
        ),
        (
            pd.DataFrame({"lang": ["en", "ru", "de", "en"]}),
            _spec("lang_known", "values_in_set", "lang", value_set=["en"]),
            2,
        ),
        (
            pd.DataFrame({"answer": ["mail me at bob@example.com", "fine", "x@y.org"]}),
            _spec("no_emails", "not_match_regex", "answer", regex=r"[\w.]+@[\w.]+"),
            2,
        ),
    ],
    ids=["not_null", "unique", "length_between", "values_in_set", "not_match_regex"],
)
def test_each_column_kind_fails_with_its_unexpected_count(
    tmp_path: Path, frame: pd.DataFrame, spec: ExpectationSpec, unexpected: int
) -> None:
    summary = run_expectations(frame, [spec], tmp_path)
    (outcome,) = summary.outcomes
    assert not summary.success
    assert not outcome.success
    assert outcome.unexpected_count == unexpected
    assert outcome.observed.startswith(f"{unexpected} of {len(frame)} values unexpected")
    assert summary.failed_critical == [outcome]


def test_row_count_failure_reports_observed_rows(tmp_path: Path) -> None:
    spec = _spec("enough_rows", "row_count_between", None, min_value=10)
    summary = run_expectations(_good_frame(), [spec], tmp_path)
    assert not summary.success
    assert summary.outcomes[0] == CheckOutcome(
        name="enough_rows",
        kind="row_count_between",
        column=None,
        severity="critical",
        success=False,
        unexpected_count=0,
        observed="rows=3",
        reason="guards enough_rows",
    )


def test_length_failure_shows_the_lengths_seen(tmp_path: Path) -> None:
    frame = pd.DataFrame({"answer": ["ok", "x" * 4210]})
    spec = _spec("answer_length", "length_between", "answer", max_value=4000)
    (outcome,) = run_expectations(frame, [spec], tmp_path).outcomes
    assert outcome.observed == "1 of 2 values unexpected; lengths 4210"
    assert outcome.example_rows == (1,)  # GX checked lengths: the row says which text it was


def test_warning_failure_keeps_success(tmp_path: Path) -> None:
    specs = [
        _spec("rows", "row_count_between", None, min_value=1),
        _spec("lang_known", "values_in_set", "lang", severity="warning", value_set=["de"]),
    ]
    summary = run_expectations(_good_frame(), specs, tmp_path)
    assert summary.success
    assert summary.failed_critical == []
    assert [o.name for o in summary.failed_warning] == ["lang_known"]
    record = json.loads(summary.report_json.read_text(encoding="utf-8"))
    assert record["success"] is True and record["failed_warning"] == ["lang_known"]


def test_zero_specs_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="zero expectations"):
        run_expectations(_good_frame(), [], tmp_path)


def test_missing_column_names_it_and_the_columns_present(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'context'") as caught:
        run_expectations(_good_frame(), [_spec("ctx", "not_null", "context")], tmp_path)
    assert "['question', 'answer', 'lang']" in caught.value.message
    assert not (tmp_path / "qa_data.json").exists()


def test_html_escapes_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"answer": ["<script>alert(1)</script>"]})
    spec = ExpectationSpec(
        name="no_tags",
        kind="not_match_regex",
        column="answer",
        severity="warning",
        args={"regex": "<[a-z]+>"},
        reason="raw <html> & markup in answers",
    )
    summary = run_expectations(frame, [spec], tmp_path, suite_name="escape_check")
    page = summary.report_html.read_text(encoding="utf-8")
    assert summary.report_html.name == "escape_check.html"
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "raw &lt;html&gt; &amp; markup" in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "no_such_kind", "column": "a", "args": {}}, "unknown kind"),
        ({"kind": "not_null", "column": "a", "args": {}, "severity": "fatal"}, "unknown severity"),
        ({"kind": "row_count_between", "column": "a", "args": {"min_value": 1}}, "no column"),
        ({"kind": "not_null", "column": None, "args": {}}, "a column"),
        ({"kind": "values_in_set", "column": "a", "args": {}}, "needs value_set"),
        ({"kind": "length_between", "column": "a", "args": {"min": 1}}, "does not take"),
        ({"kind": "not_match_regex", "column": "a", "args": {"regex": "["}}, "does not compile"),
    ],
)
def test_bad_specs_fail_when_built(kwargs: dict, message: str) -> None:
    fields = {"name": "x", "severity": "critical", "reason": "r", **kwargs}
    with pytest.raises(ValueError, match=message):
        ExpectationSpec(**fields)


def test_duplicate_spec_names_raise(tmp_path: Path) -> None:
    specs = [_spec("same", "not_null", "answer"), _spec("same", "unique", "answer")]
    with pytest.raises(ValueError, match="unique"):
        run_expectations(_good_frame(), specs, tmp_path)


def test_gx_error_message_reads_both_shapes_gx_returns() -> None:
    # GX 1.24.1 gives one flat dict when the check ran, or one dict per failed metric
    clean = {"raised_exception": False, "exception_message": None, "exception_traceback": None}
    assert _gx_error_message(clean) is None
    assert _gx_error_message({}) is None
    failed = {"metric-id": {"raised_exception": True, "exception_message": "bad column type"}}
    assert _gx_error_message(failed) == "bad column type"


def test_batch_fingerprint_is_skipped_for_our_run_only(tmp_path: Path, monkeypatch) -> None:
    """GX gates its whole-frame fingerprint on HASH_THRESHOLD: it must still exist (else the
    fingerprint, seconds per million rows, silently comes back) and be restored afterwards."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    before = engine.HASH_THRESHOLD
    hashed: list[int] = []
    original = engine.hash_pandas_dataframe
    monkeypatch.setattr(
        engine, "hash_pandas_dataframe", lambda df: hashed.append(1) or original(df)
    )
    summary = run_expectations(
        pd.DataFrame({"question": ["q1", "q2"]}), [_spec("q", "not_null", "question")], tmp_path
    )
    assert summary.success
    assert hashed == []
    assert engine.HASH_THRESHOLD == before


def test_gx_import_in_background_yields_the_module() -> None:
    import great_expectations

    assert import_gx_in_background().result(timeout=120) is great_expectations


@pytest.fixture
def counting_package(tmp_path, monkeypatch):
    """A package on sys.path: first_use_pkg.heavy appends to first_use_pkg.LOADS each time its
    code runs; first_use_pkg.user imports it at the top and uses it only inside a function, as
    GX's KL-divergence expectation does scipy.stats. Its modules leave sys.modules afterwards."""
    root = tmp_path / "first_use_pkg"
    root.mkdir()
    (root / "__init__.py").write_text("LOADS = []\n")
    (root / "heavy.py").write_text(
        "import first_use_pkg\nfirst_use_pkg.LOADS.append('heavy')\nANSWER = 42\n"
    )
    (root / "user.py").write_text(
        "from first_use_pkg import heavy\n\ndef answer():\n    return heavy.ANSWER\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [name for name in sys.modules if name.split(".")[0] == "first_use_pkg"]:
        del sys.modules[name]


def test_a_module_loaded_on_first_use_runs_only_when_used(counting_package) -> None:
    with loaded_on_first_use(("first_use_pkg.heavy", "first_use_pkg.absent")):
        import first_use_pkg.user

    import first_use_pkg

    assert first_use_pkg.LOADS == []  # imported by first_use_pkg.user, not yet run
    # The stand-in has left sys.modules: a later import gets the real module.
    assert "first_use_pkg.heavy" not in sys.modules
    assert first_use_pkg.user.answer() == 42
    assert first_use_pkg.LOADS == ["heavy"]
    assert first_use_pkg.user.answer() == 42 and first_use_pkg.LOADS == ["heavy"]  # loaded once
    import first_use_pkg.heavy

    assert first_use_pkg.LOADS == ["heavy"] and first_use_pkg.heavy.ANSWER == 42


def test_a_module_already_imported_is_left_as_it_is(counting_package) -> None:
    import first_use_pkg.heavy

    with loaded_on_first_use(("first_use_pkg.heavy",)):
        assert sys.modules["first_use_pkg.heavy"] is first_use_pkg.heavy
    assert first_use_pkg.LOADS == ["heavy"]


def test_gx_imports_without_scipy_stats_or_altair_and_they_work_when_used() -> None:
    """In a fresh interpreter (this one may hold them already): GX imports without running
    scipy.stats or altair, and its KL-divergence module's `stats` works when called on."""
    script = (
        "import sys\n"
        "from tuneline.expectations import import_gx\n"
        "import_gx()\n"
        "assert 'scipy.stats._stats_py' not in sys.modules, 'scipy.stats ran'\n"
        "assert 'altair.vegalite' not in sys.modules, 'altair ran'\n"
        "assert 'scipy.stats' not in sys.modules and 'altair' not in sys.modules\n"
        "from great_expectations.expectations.core import "
        "expect_column_kl_divergence_to_be_less_than as kl\n"
        "assert kl.stats.norm.cdf(0.0) == 0.5\n"
        "assert 'scipy.stats._stats_py' in sys.modules\n"
        "import scipy.stats\n"
        "assert kl.stats.entropy is scipy.stats.entropy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


# Code points, as Python's len counts them: astral (4 UTF-8 bytes, 2 UTF-16 units), combining
# marks, CJK, an empty text and a missing one.
UNICODE_TEXTS = ["😀" * 5, "é", "e\u0301", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "日本語のテキスト", "", "plain ascii", None]


def _arrow_frame(columns: dict[str, list]) -> pd.DataFrame:
    """A frame of pandas ArrowDtype text columns in several pyarrow chunks, as validate's."""
    table = pa.table(
        {
            name: pa.chunked_array([values[:2], values[2:]], pa.large_string())
            for name, values in columns.items()
        }
    )
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def test_value_lengths_of_arrow_text_equal_python_len() -> None:
    expected = [None if text is None else len(text) for text in UNICODE_TEXTS]
    for frame in (_arrow_frame({"t": UNICODE_TEXTS}), pd.DataFrame({"t": UNICODE_TEXTS})):
        lengths = _value_lengths(frame["t"])
        assert [None if pd.isna(n) else int(n) for n in lengths] == expected


def test_value_lengths_of_other_values_are_those_of_their_text() -> None:
    # what GX's own length check measured: len(str(value)); missing values stay missing
    lengths = _value_lengths(pd.Series([12345, 1.5, "ab", None, float("nan")], dtype=object))
    assert list(lengths[:3]) == [5, 3, 2]
    assert lengths[3:].isna().all()


def test_length_check_gives_the_same_outcome_on_arrow_and_object_text(tmp_path: Path) -> None:
    spec = _spec("answer_length", "length_between", "answer", min_value=1, max_value=5)
    outcomes = [
        run_expectations(frame, [spec], tmp_path / name).outcomes
        for name, frame in (
            ("arrow", _arrow_frame({"answer": UNICODE_TEXTS})),
            ("object", pd.DataFrame({"answer": UNICODE_TEXTS})),
        )
    ]
    assert outcomes[0] == outcomes[1]
    (outcome,) = outcomes[0]
    # too long: 7 ("𝔘𝔫𝔦𝔠𝔬𝔡𝔢"), 8 ("日本語のテキスト"), 11; too short: 0; "😀" * 5 is 5
    assert outcome.unexpected_count == 4
    assert outcome.observed == (
        "4 of 8 values unexpected (1 missing, not checked); lengths 7, 8, 0"
    )
    assert outcome.example_rows == (3, 4, 5)


def test_gx_gets_the_checked_columns_in_one_chunk_and_the_lengths(tmp_path: Path) -> None:
    frame = _arrow_frame({"question": ["q1", "q2", "q3"], "answer": ["a", "bb", "ccc"]})
    frame["unchecked"] = [1, 2, 3]
    specs = [
        _spec("answer_not_null", "not_null", "answer"),
        _spec("answer_length", "length_between", "answer", min_value=1),
    ]
    gx_frame = _frame_for_gx(frame, specs)
    # null and length checks alone: GX gets the lengths, never the text
    assert list(gx_frame.columns) == ["length of answer"]
    assert gx_frame["length of answer"].tolist() == [1, 2, 3]
    assert run_expectations(frame, specs, tmp_path).success
    specs.append(_spec("answer_allowed", "values_in_set", "answer", value_set=["a", "bb", "ccc"]))
    gx_frame = _frame_for_gx(frame, specs)
    assert list(gx_frame.columns) == ["answer", "length of answer"]
    assert pa.array(frame["answer"]).num_chunks == 2
    assert isinstance(pa.array(gx_frame["answer"]), pa.Array)  # one chunk
    assert gx_frame["answer"].tolist() == ["a", "bb", "ccc"]
    assert run_expectations(frame, specs, tmp_path).success


def test_not_null_read_from_the_lengths_counts_the_missing_text(tmp_path: Path) -> None:
    for frame in (
        _arrow_frame({"answer": ["a", None, "ccc", None]}),
        pd.DataFrame({"answer": ["a", None, "ccc", float("nan")]}),
    ):
        specs = [
            _spec("answer_not_null", "not_null", "answer"),
            _spec("answer_length", "length_between", "answer", min_value=1, max_value=2),
        ]
        not_null, length = run_expectations(frame, specs, tmp_path).outcomes
        assert (not_null.success, not_null.unexpected_count, not_null.example_rows) == (
            False,
            2,
            (1, 3),
        )
        assert (length.unexpected_count, length.example_rows) == (1, (2,))
        assert length.observed == "1 of 4 values unexpected (2 missing, not checked); lengths 3"


def test_a_column_named_like_a_lengths_column_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"answer": ["a"], "length of answer": [1]})
    specs = [
        _spec("answer_length", "length_between", "answer", min_value=1),
        _spec("clash", "not_null", "length of answer"),
    ]
    with pytest.raises(ValueError, match="length of answer"):
        run_expectations(frame, specs, tmp_path)


def test_report_lists_example_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"answer": ["fine", None, "ok", None]})
    summary = run_expectations(frame, [_spec("answer_not_null", "not_null", "answer")], tmp_path)
    (outcome,) = summary.outcomes
    assert outcome.example_rows == (1, 3)
    record = json.loads(summary.report_json.read_text(encoding="utf-8"))
    assert record["outcomes"][0]["example_rows"] == [1, 3]
    assert "<td>1, 3</td>" in summary.report_html.read_text(encoding="utf-8")
