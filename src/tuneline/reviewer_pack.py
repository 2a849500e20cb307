"""The reviewer pack: one self-contained page (HTML, and the same in Markdown) per candidate.

Built only from the reports on disk (evaluation.json, prepare.json, the validation report, the
drift report), so it can be rebuilt at any time with `render(root)`. The page is for a person
who decides whether the model goes live, not for an engineer: the verdict first, then the
numbers with their uncertainty, the gates, real answers side by side, and where the data came
from. Everything from the data is HTML-escaped; the page loads nothing from outside (inline CSS,
no scripts, no fonts, no images).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneline import atomic, layout

PACK_HTML, PACK_MD = "reviewer_pack.html", "reviewer_pack.md"
ANSWER_COLUMNS = ("reference", "base", "candidate", "champion")


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]


Block = str | Table  # a paragraph of plain text, or a table


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block]


def pack_paths(out_dir: Path) -> tuple[Path, Path]:
    """Where the pack's HTML and Markdown files go in `out_dir`."""
    return out_dir / PACK_HTML, out_dir / PACK_MD


def render(
    root: Path,
    reason: str | None = None,
    evaluation: Path | None = None,
    out_dir: Path | None = None,
    drift_report: Path | None = None,
) -> tuple[Path, Path]:
    """(Re)build reviewer_pack.html and .md from the reports under `root`; returns their paths.

    `reason` is why the training ran (the flow's trigger); when it mentions drift, the drift
    report (`drift_report`, else the newest under reports/drift/) is summarised. `out_dir`
    defaults to the evaluation report's folder; pass another one to build a copy without
    touching the DVC-tracked reports/evaluation (for example at registration).
    """
    evaluation = evaluation or root / layout.EVAL_JSON
    if not evaluation.is_file():
        raise FileNotFoundError(
            f"{evaluation}: no evaluation report; run `tuneline stage evaluate` first"
        )
    data = json.loads(evaluation.read_text(encoding="utf-8"))
    return render_data(data, root, out_dir or evaluation.parent, reason, drift_report)


def render_data(
    data: dict[str, Any],
    root: Path,
    out_dir: Path,
    reason: str | None = None,
    drift_report: Path | None = None,
) -> tuple[Path, Path]:
    """The pack for evaluation report `data` (already in memory), both files atomically."""
    sections = build_sections(data, root, reason, drift_report)
    html_path, md_path = pack_paths(out_dir)
    title = "Reviewer pack: candidate model"
    with atomic.group():
        atomic.write_text(html_path, to_html(title, verdict_line(data), sections))
        atomic.write_text(md_path, to_markdown(title, verdict_line(data), sections))
    return html_path, md_path


def verdict_line(data: dict[str, Any]) -> str:
    """The one sentence a reviewer reads first: gates and whether a person must approve."""
    gates = data.get("gates", [])
    failed = [g["name"] for g in gates if not g["passed"]]
    if failed:
        verdict = f"FAILED {len(failed)} of {len(gates)} promotion gates ({', '.join(failed)})"
    else:
        verdict = f"PASSED all {len(gates)} promotion gates"
    approval = (
        "a human approval is required before promotion"
        if data.get("approval_required", True)
        else "no human approval required by params.yaml (promotion.require_human_approval: false)"
    )
    return f"{verdict}; {approval}."


def build_sections(
    data: dict[str, Any], root: Path, reason: str | None, drift_report: Path | None
) -> list[Section]:
    """The pack's content, shared by the HTML and Markdown renderings."""
    return [
        _overview(data, root, reason),
        _metrics(data),
        Section("Promotion gates", [_gates_table(data)]),
        _categories(data),
        _samples(data),
        _data_quality(root),
        _drift(root, reason, drift_report),
    ]


def _overview(data: dict[str, Any], root: Path, reason: str | None) -> Section:
    train = _read_json(root / layout.TRAIN_REPORT) or {}
    compared = data.get("champion_version")
    lines = [
        f"Held-out test questions: {data.get('examples')} (never seen in training).",
        f"Training run (MLflow): {train.get('run_id', 'unknown')}.",
        f"Current champion: {data.get('champion_seen') or 'none yet'}"
        + (f" (compared as version {compared})." if compared else " (not in the comparison)."),
        f"Why this run: {reason}." if reason else "Why this run: recorded at registration.",
    ]
    if data.get("champion_note"):
        lines.append(f"Note: {data['champion_note']}")
    return Section("Overview", list(lines))


def _metrics(data: dict[str, Any]) -> Section:
    table = data.get("table") or {"columns": [], "rows": []}
    blocks: list[Block] = [
        Table(list(table["columns"]), [list(r) for r in table["rows"]]),
        "before = the base model with no adapter; after = this candidate. Intervals are paired "
        "bootstrap 95 % intervals over the test questions: when one excludes 0, the difference "
        "is unlikely to be luck of the question draw. Targets are the promotion gate floors. "
        "exact_match, token_f1, rouge_l and chrf run from 0 (nothing right) to 1 (identical "
        "to the reference). Latency is measured one question at a time.",
    ]
    verdict = data.get("judge") or {}
    if verdict.get("status") in ("ok", "unavailable"):
        blocks.append(f"LLM judge: {verdict['detail']}")
    return Section("Metrics on the held-out test set", blocks)


def _gates_table(data: dict[str, Any]) -> Table:
    return Table(
        ["gate", "result", "detail"],
        [
            [g["name"], "PASS" if g["passed"] else "FAIL", g["detail"]]
            for g in data.get("gates", [])
        ],
    )


def _categories(data: dict[str, Any]) -> Section:
    categories = data.get("categories") or {}
    models = [m for m in ("base", "candidate", "champion") if m in data.get("models", {})]
    metric_names = ["exact_match", "token_f1", "rouge_l", "chrf"]
    rows = [
        [category, str(values["questions"]), model]
        + [f"{values[model][m]:.3f}" for m in metric_names]
        for category, values in categories.items()
        for model in models
        if model in values
    ]
    return Section(
        "By category",
        [Table(["category", "questions", "model", *metric_names], rows)]
        if rows
        else ["No per-category figures in this evaluation."],
    )


def _samples(data: dict[str, Any]) -> Section:
    samples = data.get("samples", [])
    present = [c for c in ANSWER_COLUMNS if any(c in s for s in samples)]
    rows = []
    for s in samples:
        scores = s.get("token_f1", {})
        question = f"[{s.get('category') or '-'}] {s['question']}\n({s.get('picked', '')})"
        rows.append(
            [question]
            + [
                s.get(c, "") + (f"\n(token F1 {scores[c]:.2f})" if c in scores else "")
                for c in present
            ]
        )
    note = (
        "A stratified sample over categories, then the questions where the candidate lost most "
        "against the champion (or the base when there is none)."
    )
    return Section("Sample answers side by side", [note, Table(["question", *present], rows)])


def _data_quality(root: Path) -> Section:
    blocks: list[Block] = []
    prepared = _read_json(root / layout.PREPARE_REPORT)
    if prepared is None:
        blocks.append(f"{layout.PREPARE_REPORT} not found: data preparation figures unknown.")
    else:
        blocks.append(
            f"Rows read {prepared['rows_read']}, kept {prepared['rows_kept']}, quarantined "
            f"{prepared['rows_quarantined']}; conflicting questions "
            f"{prepared.get('conflicting_questions', 0)}; personal data redacted "
            f"{_counts(prepared.get('pii_redacted', {}))}."
        )
        reasons = prepared.get("quarantined_by_reason", {})
        if reasons:
            blocks.append(
                Table(["quarantine reason", "rows"], [[k, str(v)] for k, v in reasons.items()])
            )
    validation = _read_json(root / layout.VALIDATION_JSON)
    if validation is None:
        blocks.append(f"{layout.VALIDATION_JSON} not found: data validation result unknown.")
    else:
        failed = [o for o in validation.get("outcomes", []) if not o.get("success")]
        blocks.append(
            f"Data validation {'passed' if validation.get('success') else 'FAILED'} on "
            f"{validation.get('rows')} rows: {len(failed)} failed expectation(s)."
        )
        if failed:
            blocks.append(
                Table(
                    ["expectation", "severity", "observed", "guards against"],
                    [[o["name"], o["severity"], o["observed"], o["reason"]] for o in failed],
                )
            )
    return Section("Data quality", blocks)


def _drift(root: Path, reason: str | None, drift_report: Path | None) -> Section:
    title = "Drift"
    if reason is None:
        return Section(title, ["Trigger not known when this page was built: no drift summary."])
    if "drift" not in reason.lower():
        return Section(title, [f"Not triggered by drift (reason: {reason})."])
    path = drift_report or _latest_drift_report(root)
    report = _read_json(path) if path is not None else None
    if report is None:
        return Section(
            title,
            [f"The trigger mentions drift but no drift report was found under {layout.DRIFT_DIR}."],
        )
    columns = report.get("columns", {})
    return Section(
        title,
        [
            f"Drift report {path} ({report.get('timestamp')}): "
            f"{'DRIFTED' if report.get('drifted') else 'no drift'}; share of drifted descriptors "
            f"{report.get('share', 0):.2f} (threshold {report.get('threshold', 0):.2f}); "
            f"{report.get('current_rows')} new questions against {report.get('reference_rows')} "
            "training questions.",
            Table(
                ["descriptor", "drifted", "score", "method"],
                [
                    [
                        name,
                        "yes" if c.get("drifted") else "no",
                        _score(c.get("score")),
                        str(c.get("method")),
                    ]
                    for name, c in columns.items()
                ],
            ),
        ],
    )


def _latest_drift_report(root: Path) -> Path | None:
    """The newest reports/drift/<UTC stamp>/question_drift.json (stamps sort by time)."""
    reports = sorted((root / layout.DRIFT_DIR).glob("*/question_drift.json"))
    return reports[-1] if reports else None


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; color: #222;
       line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.verdict { font-size: 1.15rem; padding: 0.8rem 1rem; border-radius: 6px; }
.pass { background: #e6f4ea; border: 1px solid #34a853; }
.fail { background: #fce8e6; border: 1px solid #d93025; }
table { border-collapse: collapse; width: 100%; margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.35rem 0.55rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td { white-space: pre-wrap; }
td.PASS { color: #137333; font-weight: bold; } td.FAIL { color: #b3261e; font-weight: bold; }
"""


def to_html(title: str, verdict: str, sections: list[Section]) -> str:
    """A standalone HTML page: inline CSS, every text escaped."""
    css_class = "fail" if verdict.startswith("FAILED") else "pass"
    body = [f"<h1>{_esc(title)}</h1>", f'<p class="verdict {css_class}">{_esc(verdict)}</p>']
    for section in sections:
        body.append(f"<h2>{_esc(section.title)}</h2>")
        body += [_html_block(block) for block in section.blocks]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _html_block(block: Block) -> str:
    if isinstance(block, str):
        return f"<p>{_esc(block)}</p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in block.columns)
    rows = "".join(
        "<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>\n" for row in block.rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"


def _html_cell(cell: str) -> str:
    css = f' class="{cell}"' if cell in ("PASS", "FAIL") else ""
    return f"<td{css}>{_esc(cell)}</td>"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def to_markdown(title: str, verdict: str, sections: list[Section]) -> str:
    """The same content as Markdown (for MLflow's artifact viewer and code review)."""
    lines = [f"# {_md_text(title)}", "", f"**{_md_text(verdict)}**", ""]
    for section in sections:
        lines += [f"## {_md_text(section.title)}", ""]
        for block in section.blocks:
            lines += [_md_block(block), ""]
    return "\n".join(lines)


def _md_block(block: Block) -> str:
    if isinstance(block, str):
        return _md_text(block)
    lines = ["| " + " | ".join(_md_cell(c) for c in block.columns) + " |"]
    lines.append("|---" * len(block.columns) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join(lines)


def _md_text(text: str) -> str:
    """Text as Markdown shows it literally: no raw HTML from the data gets through."""
    return html.escape(str(text), quote=False)


def _md_cell(text: str) -> str:
    """One table cell: escaped as `_md_text`, pipes escaped, line breaks as <br>."""
    return _md_text(text).replace("|", "\\|").replace("\n", "<br>")
