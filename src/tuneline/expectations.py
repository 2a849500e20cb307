"""Data expectations on the Q/A frame, run through Great Expectations behind our own types.

Callers describe checks as `ExpectationSpec`s and get back a `ValidationSummary`; nothing
outside this module touches a Great Expectations object, so a GX upgrade changes this file
only. `great_expectations` (seconds to import) and pandas are imported inside functions, and
the part of GX's import that only unused expectations need is put off (`import_gx`).

Only critical failures fail the validation; warning failures are reported and kept.
Column checks other than `not_null` skip missing values (GX counts them apart), so pair a
`length_between` or `values_in_set` check with a `not_null` one where nulls matter.

Speed (a million rows per run): GX sees only the columns the specs name, and a length check
runs as a range check on the column's lengths, computed here: by pyarrow for pandas ArrowDtype
text (`table.to_pandas(types_mapper=pd.ArrowDtype)`), where GX's own length check would turn
every value into a Python string. A column that is only null- and length-checked reaches GX
as its lengths alone (missing where the value is), so GX never copies its text.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import json
import logging
import re
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneline import atomic
from tuneline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# Our kind -> the GX 1.x expectation class it runs as.
_GX_CLASS_BY_KIND = {
    "row_count_between": "ExpectTableRowCountToBeBetween",
    "not_null": "ExpectColumnValuesToNotBeNull",
    "unique": "ExpectColumnValuesToBeUnique",
    "length_between": "ExpectColumnValuesToBeBetween",  # on the column's lengths: _gx_column
    "values_in_set": "ExpectColumnValuesToBeInSet",
    "not_match_regex": "ExpectColumnValuesToNotMatchRegex",
}
KINDS = tuple(_GX_CLASS_BY_KIND)
SEVERITIES = ("critical", "warning")

# kind -> (args it accepts, args of which at least one is required)
_ARGS_BY_KIND: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "row_count_between": (frozenset({"min_value", "max_value"}),) * 2,
    "not_null": (frozenset(), frozenset()),
    "unique": (frozenset(), frozenset()),
    "length_between": (frozenset({"min_value", "max_value"}),) * 2,
    "values_in_set": (frozenset({"value_set"}),) * 2,
    "not_match_regex": (frozenset({"regex"}),) * 2,
}

# Key in each GX expectation's `meta` that carries our spec name back to us: GX returns
# results in its own order, not the suite's.
_META_NAME_KEY = "tuneline_name"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MAX_EXAMPLES = 3  # unexpected values quoted in `observed`
_MAX_EXAMPLE_CHARS = 40
_LENGTHS_COLUMN = "length of {}"  # the GX column holding a `length_between` column's lengths


@dataclass(frozen=True)
class ExpectationSpec:
    """One check on the data, in our words; validated when built so mistakes fail early."""

    name: str  # our name, e.g. "answer_not_null"
    kind: str  # one of KINDS
    column: str | None  # None for row_count_between
    severity: str  # "critical" | "warning"
    args: dict[str, Any]  # kind-specific: min_value/max_value, value_set, regex
    reason: str  # what it guards against, shown to people

    def __post_init__(self) -> None:
        where = f"expectation {self.name!r}"
        if self.kind not in _GX_CLASS_BY_KIND:
            raise ValueError(f"{where}: unknown kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"{where}: unknown severity {self.severity!r}; use one of {', '.join(SEVERITIES)}"
            )
        if (self.column is None) != (self.kind == "row_count_between"):
            need = "no column" if self.kind == "row_count_between" else "a column"
            raise ValueError(f"{where}: kind {self.kind!r} takes {need}, got {self.column!r}")
        _check_args(where, self.kind, self.args)


def _check_args(where: str, kind: str, args: dict[str, Any]) -> None:
    """Refuse args a kind does not take, a kind's missing required args and a bad regex."""
    accepted, need_one_of = _ARGS_BY_KIND[kind]
    unknown = sorted(set(args) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        raise ValueError(f"{where}: kind {kind!r} does not take {unknown}; it takes: {allowed}")
    if need_one_of and not need_one_of & {key for key, value in args.items() if value is not None}:
        raise ValueError(f"{where}: kind {kind!r} needs {' or '.join(sorted(need_one_of))}")
    if kind == "not_match_regex":
        try:
            re.compile(args["regex"])
        except re.error as exc:
            raise ValueError(f"{where}: regex {args['regex']!r} does not compile: {exc}") from exc


@dataclass(frozen=True)
class CheckOutcome:
    """What one expectation found; `observed` is a short text of what GX saw."""

    name: str
    kind: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int  # 0 for table-level checks, which have no unexpected values
    observed: str  # e.g. "rows=812", "2 of 812 values unexpected; lengths 4210, 5001"
    reason: str
    # Index labels in the frame of the first unexpected values (those `observed` quotes), so a
    # reviewer can find the rows: a length check quotes lengths, not the text.
    example_rows: tuple[int | str, ...] = ()


@dataclass(frozen=True)
class ValidationSummary:
    """The result of one validation run, with the reports written for people."""

    success: bool  # False iff any critical check failed
    rows: int
    outcomes: tuple[CheckOutcome, ...]  # in the order the specs were given
    report_json: Path
    report_html: Path

    @property
    def failed_critical(self) -> list[CheckOutcome]:
        """Critical checks that failed: any one of these fails the validation."""
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def failed_warning(self) -> list[CheckOutcome]:
        """Warning checks that failed: reported, but the validation still passes."""
        return [o for o in self.outcomes if not o.success and o.severity == "warning"]


def run_expectations(
    df: pd.DataFrame,
    specs: list[ExpectationSpec],
    report_dir: Path,
    suite_name: str = "qa_data",
) -> ValidationSummary:
    """Validate `df` against `specs` with GX and write `<suite_name>.json`/`.html` to report_dir.

    Raises ValueError for zero specs (GX passes an empty suite, which would prove nothing)
    or duplicate spec names, and DataError when a spec names a column `df` lacks.
    """
    _check_specs(specs, [str(column) for column in df.columns], suite_name)
    outcomes, gx_version = _validate_with_gx(df, specs, suite_name)
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = ValidationSummary(
        success=not any(o.severity == "critical" and not o.success for o in outcomes),
        rows=len(df),
        outcomes=outcomes,
        report_json=report_dir / f"{suite_name}.json",
        report_html=report_dir / f"{suite_name}.html",
    )
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    with atomic.group():  # the JSON and HTML reports change together, before any gate fails
        _write_json_report(summary, suite_name, timestamp, gx_version)
        _write_html_report(summary, suite_name, timestamp, gx_version)
    _log_summary(summary, suite_name)
    return summary


def _check_specs(specs: list[ExpectationSpec], columns: list[str], suite_name: str) -> None:
    """Refuse what GX would accept but should not: no specs, duplicate names, absent columns."""
    if not specs:
        raise ValueError(
            f"suite {suite_name!r} has zero expectations: Great Expectations passes an empty "
            "suite, so it would prove nothing about the data; give at least one ExpectationSpec"
        )
    if not _SAFE_NAME.match(suite_name):
        raise ValueError(f"suite name {suite_name!r} must match {_SAFE_NAME.pattern} (file name)")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"suite {suite_name!r}: expectation names must be unique: {duplicates}")
    clashing = sorted(
        {_gx_column(spec) or "" for spec in specs if spec.kind == "length_between"}
        & {spec.column or "" for spec in specs if spec.kind != "length_between"}
    )
    if clashing:
        raise ValueError(
            f"suite {suite_name!r}: a length check names its lengths column {clashing}, "
            "which another check also names; rename that column"
        )
    missing = [spec for spec in specs if spec.column is not None and spec.column not in columns]
    if missing:
        listed = "; ".join(f"{spec.name!r} needs column {spec.column!r}" for spec in missing)
        raise DataError(
            f"suite {suite_name!r}: {listed}, but the data has no such column; "
            f"columns present: {columns}"
        )


def _validate_with_gx(
    df: pd.DataFrame, specs: list[ExpectationSpec], suite_name: str
) -> tuple[tuple[CheckOutcome, ...], str]:
    """Run the specs as one GX suite on an ephemeral context; return outcomes in spec order."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm on stderr
    batch_definition = (
        context.data_sources.add_pandas(name="tuneline")
        .add_dataframe_asset(name=suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    gx_columns = _gx_columns(specs)
    for spec in specs:
        suite.add_expectation(_build_expectation(gx.expectations, spec, gx_columns[spec.name]))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    frame = _frame_for_gx(df, specs)
    with _no_batch_fingerprint():
        result = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    by_name = _results_by_spec_name(result.results)
    outcomes = tuple(_to_outcome(spec, by_name[spec.name]) for spec in specs)
    return outcomes, gx.__version__


def _frame_for_gx(df: pd.DataFrame, specs: list[ExpectationSpec]) -> pd.DataFrame:
    """The columns of `df` that `specs` check, as `_gx_columns` names them: a column's lengths
    for its `length_between` check (and for its `not_null` check, when those two are all that
    look at it: a length is missing exactly where the value is, and the text itself then never
    reaches GX). GX copies the whole frame each time it drops the rows a check skips, so it gets
    no other column, its numpy columns in one block (pandas would join them on every copy)
    and its ArrowDtype columns in one chunk each (pyarrow would join them on every copy)."""
    import pandas as pd

    columns = {}
    gx_columns = _gx_columns(specs)
    for spec in specs:
        gx_column = gx_columns[spec.name]
        if spec.column is None or gx_column is None or gx_column in columns:
            continue
        if gx_column == spec.column:
            columns[gx_column] = _one_chunk(df[spec.column])
        else:
            columns[gx_column] = _value_lengths(df[spec.column]).array
    return pd.DataFrame(columns, index=df.index, copy=True)  # pyarrow data is not copied


def _one_chunk(values: pd.Series) -> Any:
    """The column's array; for an ArrowDtype column, its pyarrow chunks joined into one."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(values.dtype, pd.ArrowDtype):
        return values.array
    data = pa.array(values)  # the column's own pyarrow data: an Array, or a ChunkedArray
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks()
    return pd.arrays.ArrowExtensionArray(data)


def _value_lengths(values: pd.Series) -> pd.Series:
    """len(str(value)) per value, what GX's length check measures; missing values stay missing
    (NaN), so the range check skips and counts them as GX's length check did."""
    import pandas as pd
    import pyarrow as pa

    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype) and (
        pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
    ):
        lengths = values.str.len()  # pyarrow's utf8_length: code points, as Python's len
        return lengths.astype("float64" if lengths.hasnans else "int64")
    return values.map(lambda value: len(str(value)), na_action="ignore")


def _gx_column(spec: ExpectationSpec) -> str | None:
    """The column of `_frame_for_gx` that GX checks for a spec of its own."""
    if spec.kind == "length_between":
        return _LENGTHS_COLUMN.format(spec.column)
    return spec.column


def _gx_columns(specs: list[ExpectationSpec]) -> dict[str, str | None]:
    """The column GX checks for each spec (by name): `_gx_column`, except that a `not_null`
    check reads the lengths column when the rest of the suite only measures that column."""
    lengths_only = {
        spec.column
        for spec in specs
        if spec.kind == "length_between"
        and all(
            other.kind in ("not_null", "length_between")
            for other in specs
            if other.column == spec.column
        )
    }
    return {
        spec.name: (
            _LENGTHS_COLUMN.format(spec.column)
            if spec.kind == "not_null" and spec.column in lengths_only
            else _gx_column(spec)
        )
        for spec in specs
    }


def import_gx_in_background() -> Future[Any]:
    """Start `import_gx` (seconds of Python) on another thread, so it runs while the caller
    reads the data with pyarrow, whose kernels release the GIL. A later `import_gx` waits for
    this one and, had it failed, raises the error again itself.

    The libraries both sides use are imported here first, on the calling thread: two threads
    importing modules of one package at once can meet its circular imports half-initialised."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.json  # noqa: F401
    import pyarrow.pandas_compat  # noqa: F401

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx-import")
    future = pool.submit(import_gx)
    pool.shutdown(wait=False)  # its thread ends when the import does
    return future


# Imported by great_expectations at its own import for the only expectations that use them,
# which our suites never run (KL divergence, KS tests, and the KL chart): about a third of
# the import's CPU seconds. `import_gx` has them load on first use instead.
_LOADED_ON_FIRST_USE = ("scipy.stats", "altair")
_GX_IMPORT_LOCK = threading.Lock()
_FIRST_USE_LOCK = threading.RLock()  # loading one may use another


def import_gx() -> types.ModuleType:
    """`import great_expectations`, with its INFO chatter off and the modules it imports only
    for expectations we never run (`_LOADED_ON_FIRST_USE`) left to load when first used."""
    _quiet_gx_logging()
    with _GX_IMPORT_LOCK:  # one import at a time, so a second caller finds it done
        if "great_expectations" not in sys.modules:
            with loaded_on_first_use(_LOADED_ON_FIRST_USE):
                importlib.import_module("great_expectations")
    return sys.modules["great_expectations"]


class _OnFirstUse(types.ModuleType):
    """Stands in for a module: the first attribute asked of it imports the real module, and
    every attribute after that comes from the real one. `__spec__` is the real module's, so
    the import system and `importlib.util.find_spec` see nothing unusual."""

    def __init__(self, name: str, spec: Any) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self._real: types.ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only for what the stand-in itself lacks
        with _FIRST_USE_LOCK:
            if self._real is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                self._real = importlib.import_module(self.__name__)
        return getattr(self._real, attr)


@contextmanager
def loaded_on_first_use(names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, `import NAME` (and `from PARENT import NAME`) gives a stand-in that
    imports NAME when an attribute of it is first used (`_OnFirstUse`): a module imported
    but never used costs nothing. Names already imported, or not installed, are left as they
    are. Afterwards the stand-ins leave sys.modules, so later imports get the real module;
    those handed out inside the block keep working."""
    placed: dict[str, _OnFirstUse] = {}
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)  # imports a parent package, never NAME itself
        if spec is not None:
            placed[name] = sys.modules[name] = _OnFirstUse(name, spec)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


@contextmanager
def _no_batch_fingerprint() -> Iterator[None]:
    """Skip the fingerprint GX 1.x takes of every in-memory frame under 1 GB (pandas hashes of
    each row, then MD5): it only goes into a batch marker that an ephemeral context never
    stores and we never read, and costs 1-2 s per million rows. GX gates it on a module
    constant; this lowers it for the duration of our run (tests/unit/test_expectations.py
    checks the constant still exists)."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0  # memory_usage() is never < 0: no frame is hashed
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


def _results_by_spec_name(gx_results: list[Any]) -> dict[str, Any]:
    """GX results keyed by our spec name, read back from each expectation's meta."""
    by_name = {}
    for gx_result in gx_results:
        config = gx_result.expectation_config
        if config is None or _META_NAME_KEY not in (config.meta or {}):
            raise RuntimeError("GX returned a result without our expectation meta; API change?")
        by_name[config.meta[_META_NAME_KEY]] = gx_result
    return by_name


def _quiet_gx_logging() -> None:
    """Keep GX's INFO chatter (hundreds of lines while importing) out of our logs.

    Only when nobody chose a level for the "great_expectations" logger already.
    """
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)


def _build_expectation(gx_expectations: Any, spec: ExpectationSpec, gx_column: str | None) -> Any:
    """The GX expectation object for one spec, tagged with our name in its meta."""
    expectation_class = getattr(gx_expectations, _GX_CLASS_BY_KIND[spec.kind])
    kwargs = {key: value for key, value in spec.args.items() if value is not None}
    if spec.column is not None:
        kwargs["column"] = gx_column
    return expectation_class(**kwargs, severity=spec.severity, meta={_META_NAME_KEY: spec.name})


def _to_outcome(spec: ExpectationSpec, gx_result: Any) -> CheckOutcome:
    """Our CheckOutcome from one GX ExpectationValidationResult."""
    details = dict(gx_result.result or {})
    error = _gx_error_message(gx_result.exception_info)
    if error is not None:
        observed = f"check could not run: {error}"
    elif spec.kind == "row_count_between":
        observed = f"rows={details.get('observed_value')}"
    else:
        observed = _describe_unexpected(spec.kind, details)
    return CheckOutcome(
        name=spec.name,
        kind=spec.kind,
        column=spec.column,
        severity=spec.severity,
        success=bool(gx_result.success) and error is None,
        unexpected_count=int(details.get("unexpected_count") or 0),
        observed=observed,
        reason=spec.reason,
        example_rows=_example_rows(details),
    )


def _example_rows(details: dict[str, Any]) -> tuple[int | str, ...]:
    """The frame index labels of the first unexpected values GX lists (ints stay ints)."""
    labels = list(details.get("partial_unexpected_index_list") or [])[:_MAX_EXAMPLES]
    return tuple(label if isinstance(label, int) else str(label) for label in labels)


def _gx_error_message(exception_info: Any) -> str | None:
    """The message of an exception GX caught while checking, or None if it ran cleanly.

    GX gives either one {"raised_exception": ...} dict or one such dict per failed metric.
    """
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    raised = [info for info in infos if info.get("raised_exception")]
    messages = [str(info.get("exception_message")) for info in raised]
    return "; ".join(messages) or None


def _describe_unexpected(kind: str, details: dict[str, Any]) -> str:
    """A short text like '2 of 812 values unexpected; e.g. 'ru', 'de''."""
    unexpected = int(details.get("unexpected_count") or 0)
    text = f"{unexpected} of {details.get('element_count', 0)} values unexpected"
    missing = int(details.get("missing_count") or 0)
    if missing and kind != "not_null":
        text += f" ({missing} missing, not checked)"
    examples = list(details.get("partial_unexpected_list") or [])[:_MAX_EXAMPLES]
    if kind == "length_between" and examples:  # GX checked the lengths, not the values
        text += "; lengths " + ", ".join(str(int(value)) for value in examples)
    elif kind != "not_null" and examples:
        text += "; e.g. " + ", ".join(_shorten(repr(value)) for value in examples)
    return text


def _shorten(text: str) -> str:
    """Cut a quoted value so one long answer cannot swamp the report."""
    if len(text) <= _MAX_EXAMPLE_CHARS:
        return text
    return text[: _MAX_EXAMPLE_CHARS - 3] + "..."


def _write_json_report(
    summary: ValidationSummary, suite_name: str, timestamp: str, gx_version: str
) -> None:
    """Our own JSON record of the run: stable keys, no GX objects."""
    record = {
        "suite": suite_name,
        "timestamp": timestamp,
        "great_expectations_version": gx_version,
        "success": summary.success,
        "rows": summary.rows,
        "failed_critical": [o.name for o in summary.failed_critical],
        "failed_warning": [o.name for o in summary.failed_warning],
        "outcomes": [asdict(outcome) for outcome in summary.outcomes],
    }
    atomic.write_text(summary.report_json, json.dumps(record, indent=2) + "\n")


_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.4rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.pass td.status { background: #e3f4e3; }
tr.fail-critical td.status { background: #f8d7d7; font-weight: bold; }
tr.fail-warning td.status { background: #fff1cc; }
.verdict-pass { color: #1a7f37; }
.verdict-fail { color: #b42318; }
"""


def _write_html_report(
    summary: ValidationSummary, suite_name: str, timestamp: str, gx_version: str
) -> None:
    """A self-contained page (no scripts, no external files) with one row per check."""
    esc = html.escape
    verdict, verdict_css = ("PASSED", "pass") if summary.success else ("FAILED", "fail")
    rows = "\n".join(_html_row(outcome) for outcome in summary.outcomes)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Data validation: {esc(suite_name)}</title>
<style>{_HTML_STYLE}</style>
</head>
<body>
<h1>Data validation: {esc(suite_name)}
 <span class="verdict-{verdict_css}">{verdict}</span></h1>
<p>{summary.rows} rows checked at {esc(timestamp)} with Great Expectations {esc(gx_version)}.
 {len(summary.failed_critical)} critical and {len(summary.failed_warning)} warning checks failed;
 only critical failures fail the validation.</p>
<table>
<tr><th>Status</th><th>Check</th><th>Kind</th><th>Column</th><th>Severity</th>
<th>Unexpected</th><th>Observed</th><th>Example rows</th><th>Guards against</th></tr>
{rows}
</table>
</body>
</html>
"""
    atomic.write_text(summary.report_html, page)


def _html_row(outcome: CheckOutcome) -> str:
    """One table row, every value escaped."""
    esc = html.escape
    css = "pass" if outcome.success else f"fail-{outcome.severity}"
    cells = [
        "pass" if outcome.success else "FAIL",
        outcome.name,
        outcome.kind,
        outcome.column or "(table)",
        outcome.severity,
        str(outcome.unexpected_count),
        outcome.observed,
        ", ".join(str(row) for row in outcome.example_rows),
        outcome.reason,
    ]
    tds = "".join(
        f'<td class="status">{esc(cell)}</td>' if i == 0 else f"<td>{esc(cell)}</td>"
        for i, cell in enumerate(cells)
    )
    return f'<tr class="{css}">{tds}</tr>'


def _log_summary(summary: ValidationSummary, suite_name: str) -> None:
    """One line per failed check, then the verdict, so logs alone explain the result."""
    for outcome in summary.failed_critical + summary.failed_warning:
        logger.warning(
            "%s check %r failed on %s: %s (guards against: %s)",
            outcome.severity,
            outcome.name,
            outcome.column or "the table",
            outcome.observed,
            outcome.reason,
        )
    logger.info(
        "suite %r on %d rows: %s; report %s",
        suite_name,
        summary.rows,
        "passed" if summary.success else "FAILED",
        summary.report_html,
    )
