"""Answer-quality metrics: how close generated answers are to the reference answers.

Pure Python on purpose: the evaluation gate and the CLI use these without importing any
heavy library. Every metric works on normalized text (see `normalize_answer`) so that case,
punctuation and English articles do not count as differences.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_ARTICLES = frozenset({"a", "an", "the"})


def normalize_answer(text: str) -> str:
    """Lowercase, NFKC-normalize, drop punctuation and English articles, collapse whitespace.

    Punctuation and symbols are judged by Unicode category, so letters and digits of any
    script (Cyrillic, Greek, CJK...) are kept. Punctuation becomes a space rather than
    vanishing, so "refund/return" is two tokens, not "refundreturn".
    """
    text = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(token for token in kept.split() if token not in _ARTICLES)


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the normalized prediction equals the normalized reference, else 0.0."""
    return 1.0 if normalize_answer(pred) == normalize_answer(ref) else 0.0


def token_f1(pred: str, ref: str) -> float:
    """SQuAD-style F1 of the multiset overlap between normalized tokens.

    Both empty counts as a perfect match (1.0); only one empty scores 0.0.
    """
    pred_tokens = normalize_answer(pred).split()
    ref_tokens = normalize_answer(ref).split()
    if not pred_tokens or not ref_tokens:
        return 1.0 if pred_tokens == ref_tokens else 0.0
    overlap = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists, O(len(a) * len(b))."""
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b, start=1):
            if token_a == token_b:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure (beta = 1) from the LCS of normalized tokens.

    Same empty-input convention as `token_f1`: both empty is 1.0, one empty is 0.0.
    """
    pred_tokens = normalize_answer(pred).split()
    ref_tokens = normalize_answer(ref).split()
    if not pred_tokens or not ref_tokens:
        return 1.0 if pred_tokens == ref_tokens else 0.0
    lcs = _lcs_length(pred_tokens, ref_tokens)
    if lcs == 0:
        return 0.0
    precision = lcs / len(pred_tokens)
    recall = lcs / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default method."""
    if not values:
        raise ValueError("percentile of an empty list is undefined: pass at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be between 0 and 100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


@dataclass(frozen=True)
class AnswerScores:
    """Mean answer-quality scores over `n` prediction/reference pairs."""

    exact_match: float
    token_f1: float
    rouge_l: float
    n: int


def score_answers(preds: list[str], refs: list[str]) -> AnswerScores:
    """Mean exact match, token F1 and ROUGE-L of predictions against their references.

    Pairs are matched by position, so the two lists must have the same length; an empty
    pair of lists has no mean and is refused too.
    """
    if len(preds) != len(refs):
        raise ValueError(
            f"score_answers needs one reference per prediction: got {len(preds)} predictions "
            f"and {len(refs)} references"
        )
    if not preds:
        raise ValueError("score_answers needs at least one prediction/reference pair, got none")
    n = len(preds)
    scores = AnswerScores(
        exact_match=sum(map(exact_match, preds, refs)) / n,
        token_f1=sum(map(token_f1, preds, refs)) / n,
        rouge_l=sum(map(rouge_l, preds, refs)) / n,
        n=n,
    )
    logger.debug("scored %d answers: %s", n, scores)
    return scores
