"""Answer-quality metrics: how close generated answers are to the reference answers.

Pure Python on purpose: the evaluation gate and the CLI use these without importing any
heavy library. Exact match, token F1 and ROUGE-L work on normalized text (see
`normalize_answer`) so that case, punctuation and English articles do not count as
differences. chrF follows sacrebleu's definition on the text as written (see `chrf`), so its
figures compare with published ones. The paired bootstrap here gives the confidence
intervals on the differences between two models answering the same questions.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_ARTICLES = frozenset({"a", "an", "the"})
# Per-answer metrics in [0, 1], higher is better: the ones gates and bootstrap intervals use.
QUALITY_METRICS = ("exact_match", "token_f1", "rouge_l", "chrf")


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


def _char_ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf(pred: str, ref: str, order: int = 6, beta: float = 2.0) -> float:
    """Sentence chrF in [0, 1]: sacrebleu's default chrF (chrF2, character n-grams 1..6) / 100.

    As sacrebleu with `whitespace=False`: every whitespace character is removed first, so
    n-grams run across word boundaries ("a b" and "ab" score the same); case and
    punctuation count. For each order n the character n-gram precision and recall are
    taken from clipped multiset matches; precision and recall are each averaged over the
    orders where both texts have n-grams (a 3-character answer is judged on 1..3-grams,
    not punished for having no 6-grams); the result is their F-beta, beta = 2 weighting
    recall twice as much as precision. Both empty is 1.0 (as `token_f1`; sacrebleu gives
    0), only one empty is 0.0. Scores are per answer; the evaluation reports their mean,
    where sacrebleu's corpus chrF would pool the n-gram counts of all answers first.
    """
    hyp, gold = "".join(pred.split()), "".join(ref.split())
    if not hyp or not gold:
        return 1.0 if hyp == gold else 0.0
    precisions, recalls = [], []
    for n in range(1, order + 1):
        hyp_grams, ref_grams = _char_ngrams(hyp, n), _char_ngrams(gold, n)
        if not hyp_grams or not ref_grams:
            continue  # one text is shorter than n characters: this order is not counted
        matched = sum((hyp_grams & ref_grams).values())
        precisions.append(matched / sum(hyp_grams.values()))
        recalls.append(matched / sum(ref_grams.values()))
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision + recall == 0:
        return 0.0
    factor = beta**2
    return (1 + factor) * precision * recall / (factor * precision + recall)


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


_SCORERS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "token_f1": token_f1,
    "rouge_l": rouge_l,
    "chrf": chrf,
}


def per_answer_scores(preds: list[str], refs: list[str]) -> dict[str, list[float]]:
    """Each quality metric for each prediction/reference pair, in order (for bootstraps).

    Pairs are matched by position, so the two lists must have the same length; an empty
    pair of lists has no mean and is refused too.
    """
    if len(preds) != len(refs):
        raise ValueError(
            f"scoring answers needs one reference per prediction: got {len(preds)} predictions "
            f"and {len(refs)} references"
        )
    if not preds:
        raise ValueError("scoring answers needs at least one prediction/reference pair, got none")
    return {name: list(map(score, preds, refs)) for name, score in _SCORERS.items()}


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; refuses an empty sequence rather than dividing by zero."""
    if not values:
        raise ValueError("mean of an empty sequence is undefined: pass at least one value")
    return sum(values) / len(values)


@dataclass(frozen=True)
class Interval:
    """A statistic on the full sample and its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float


def bootstrap_interval(
    n: int,
    statistic: Callable[[list[int]], float],
    samples: int,
    seed: int,
    confidence: float = 0.95,
) -> Interval:
    """Percentile bootstrap of `statistic(indices)` over `n` items resampled with replacement.

    `statistic` receives a list of item indices, so a paired comparison applies the same
    resampled questions to both models. The estimate is the statistic on all items.
    """
    if n < 1 or samples < 1:
        raise ValueError(f"bootstrap needs at least one item and one sample, got {n}, {samples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = random.Random(seed)
    everyone = list(range(n))
    resampled = [statistic(rng.choices(everyone, k=n)) for _ in range(samples)]
    tail = (1 - confidence) / 2 * 100
    return Interval(
        estimate=statistic(everyone),
        low=percentile(resampled, tail),
        high=percentile(resampled, 100 - tail),
    )


def paired_difference(
    before: Sequence[float], after: Sequence[float], samples: int, seed: int
) -> Interval:
    """mean(after) - mean(before) over the same questions, with a paired 95 % interval.

    Each resample draws question indices once and uses them for both models, so the
    interval reflects the difference between the models, not the spread of question
    difficulty that both share.
    """
    if len(before) != len(after):
        raise ValueError(
            f"a paired bootstrap needs the same questions for both models: got {len(before)} "
            f"and {len(after)} scores"
        )
    diffs = [b - a for a, b in zip(before, after, strict=True)]
    return bootstrap_interval(
        len(diffs), lambda idx: sum(diffs[i] for i in idx) / len(idx), samples, seed
    )
