"""Answer-quality metrics and the paired bootstrap against hand-computed values."""

from __future__ import annotations

import pytest

from tuneline.metrics import (
    Interval,
    bootstrap_interval,
    chrf,
    exact_match,
    normalize_answer,
    paired_difference,
    per_answer_scores,
    percentile,
    rouge_l,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat sat on a mat.", "cat sat on mat"),
        ("  An   answer\n\twith  spaces ", "answer with spaces"),
        ("refund/return policy!!", "refund return policy"),
        ("Привет, МИР!", "привет мир"),  # Cyrillic letters survive, punctuation goes
        ("\uff21\uff22\uff23 \uff11\uff12\uff13", "abc 123"),  # NFKC folds full-width ABC 123
        ("\ufb01le", "file"),  # NFKC folds the "fi" ligature
        ("price: $5 + 10%", "price 5 10"),
        ("theory anthem", "theory anthem"),  # articles only as whole tokens
        ("", ""),
        ("the a an", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("The refund takes 5 days.", "refund takes 5 days") == 1.0
    assert exact_match("refund takes 6 days", "refund takes 5 days") == 0.0
    assert exact_match("", "") == 1.0
    assert exact_match("", "something") == 0.0


def test_token_f1_hand_computed() -> None:
    # pred 5 tokens, ref 3, overlap 3: P = 3/5, R = 1, F1 = 0.75
    pred, ref = "reset your password in settings", "reset password settings"
    assert token_f1(pred, ref) == pytest.approx(0.75)
    # order does not matter for a bag of tokens
    assert token_f1("settings password reset", "reset password settings") == 1.0
    assert token_f1("completely different", "nothing shared") == 0.0


def test_token_f1_counts_repeated_tokens_once_per_occurrence() -> None:
    # multiset overlap of [no, no, no] and [no] is 1: P = 1/3, R = 1, F1 = 0.5
    assert token_f1("no no no", "no") == pytest.approx(0.5)


def test_token_f1_empty_conventions() -> None:
    assert token_f1("", "") == 1.0
    assert token_f1("the", "") == 1.0  # only an article: empty after normalization
    assert token_f1("", "answer") == 0.0
    assert token_f1("answer", "") == 0.0


def test_rouge_l_hand_computed() -> None:
    # "cat sat on mat" vs "cat is on mat": LCS "cat on mat" = 3, P = R = 3/4
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(0.75)
    # "police killed gunman" vs "police kill gunman": LCS 2, P = R = 2/3
    assert rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(2 / 3)
    # LCS 3 of 5 and 3 tokens: P = 3/5, R = 1, F = 0.75
    pred, ref = "reset your password in settings", "reset password settings"
    assert rouge_l(pred, ref) == pytest.approx(0.75)


def test_rouge_l_respects_order_where_token_f1_does_not() -> None:
    # same bag of tokens, reversed: LCS is 1 of 3, F = 1/3
    assert rouge_l("settings password reset", "reset password settings") == pytest.approx(1 / 3)
    assert token_f1("settings password reset", "reset password settings") == 1.0


def test_rouge_l_empty_conventions() -> None:
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "answer") == 0.0
    assert rouge_l("answer", "") == 0.0
    assert rouge_l("alpha beta", "gamma delta") == 0.0


def test_metrics_on_cyrillic() -> None:
    # pred 4 tokens ("в" is a Russian preposition, not an article), ref 2, overlap 2
    pred, ref = "Сбросьте пароль в настройках.", "сбросьте ПАРОЛЬ"
    assert token_f1(pred, ref) == pytest.approx(2 / 3)
    assert rouge_l(pred, ref) == pytest.approx(2 / 3)
    assert exact_match("Сбросьте пароль!", "сбросьте пароль") == 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("reset your password in settings", "reset password settings"),
        ("settings password reset", "reset password settings"),
        ("the cat sat on the mat", "the cat is on the mat"),
        ("Сбросьте пароль в настройках", "сбросьте пароль"),
        ("", "answer"),
    ],
)
def test_metrics_are_symmetric_and_bounded(a: str, b: str) -> None:
    for metric in (exact_match, token_f1, rouge_l):
        assert metric(a, b) == pytest.approx(metric(b, a))
        assert 0.0 <= metric(a, b) <= 1.0


@pytest.mark.parametrize("text", ["How do I reset my password?", "Привет мир", "42"])
def test_identical_answers_score_one(text: str) -> None:
    assert exact_match(text, text) == token_f1(text, text) == rouge_l(text, text) == 1.0


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 25, 1.75),  # numpy.percentile gives 1.75
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 90, 3.7),  # order of input does not matter
        ([7.0], 95, 7.0),
        ([10.0, 20.0], 95, 19.5),
    ],
)
def test_percentile_linear_interpolation(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_does_not_reorder_its_input() -> None:
    values = [3.0, 1.0, 2.0]
    percentile(values, 50)
    assert values == [3.0, 1.0, 2.0]


def test_percentile_refuses_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_per_answer_scores_pairs_each_prediction_with_its_reference() -> None:
    preds = ["The refund takes 5 days.", "settings password reset"]
    refs = ["refund takes 5 days", "reset password settings"]
    each = per_answer_scores(preds, refs)
    assert each["exact_match"] == [1.0, 0.0]
    assert each["token_f1"] == [1.0, 1.0]
    assert each["rouge_l"] == [pytest.approx(1.0), pytest.approx(1 / 3)]
    assert each["chrf"] == [chrf(preds[0], refs[0]), chrf(preds[1], refs[1])]


def test_per_answer_scores_refuses_mismatched_or_empty_lists() -> None:
    with pytest.raises(ValueError, match="2 predictions and 1 references"):
        per_answer_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one"):
        per_answer_scores([], [])


# chrF: sacrebleu's default (character 1..6-grams, beta 2, whitespace removed), scaled to 0-1.


def test_chrf_hand_computed_short_hypothesis() -> None:
    # "ab" vs "abc": 1-grams P = 2/2, R = 2/3; 2-grams {ab} vs {ab, bc}: P = 1, R = 1/2;
    # 3..6-grams: the hypothesis has none, so those orders are not averaged in.
    # mean P = 1, mean R = 7/12; F2 = 5 * P * R / (4 * P + R) = (35/12) / (55/12) = 7/11
    assert chrf("ab", "abc") == pytest.approx(7 / 11)


def test_chrf_hand_computed_repeated_characters() -> None:
    # "aaa" vs "a": 1-grams clipped match 1: P = 1/3, R = 1; higher orders absent in the ref.
    # F2 = 5 * (1/3) * 1 / (4/3 + 1) = 5/7
    assert chrf("aaa", "a") == pytest.approx(5 / 7)


def test_chrf_hand_computed_two_orders_of_mixed_precision() -> None:
    # "abd" vs "abc": 1-grams a,b match: P = R = 2/3; 2-grams {ab, bd} vs {ab, bc}: P = R = 1/2;
    # 3-grams {abd} vs {abc}: P = R = 0. mean P = mean R = (2/3 + 1/2 + 0) / 3 = 7/18 = F2
    assert chrf("abd", "abc") == pytest.approx(7 / 18)


def test_chrf_recall_weighs_more_than_precision() -> None:
    # beta = 2: missing reference characters cost more than extra ones
    assert chrf("abcdefgh", "abcd") > chrf("ab", "abcd")


def test_chrf_matches_sacrebleu_published_example() -> None:
    # the example in the Hugging Face chrF metric card, computed with sacrebleu: 61.576379378
    pred = "The relationship between Obama and Netanyahu is not exactly friendly."
    ref = "The ties between Obama and Netanyahu are not particularly friendly."
    assert chrf(pred, ref) == pytest.approx(0.61576379378113785, abs=1e-9)


def test_chrf_whitespace_is_removed_but_case_and_punctuation_count() -> None:
    assert chrf("reset  the\tpassword", "resetthe password") == 1.0
    assert chrf("AB", "ab") == 0.0
    assert chrf("ab.", "ab") < 1.0


def test_chrf_empty_conventions() -> None:
    assert chrf("", "") == 1.0
    assert chrf("   ", "") == 1.0
    assert chrf("", "abc") == 0.0
    assert chrf("abc", "") == 0.0


def test_per_answer_scores_keeps_order_and_every_metric() -> None:
    each = per_answer_scores(["yes", "no"], ["yes", "maybe"])
    assert set(each) == {"exact_match", "token_f1", "rouge_l", "chrf"}
    assert each["exact_match"] == [1.0, 0.0]
    assert each["chrf"][0] == 1.0


# Paired bootstrap


def test_bootstrap_clearly_better_model_has_interval_above_zero() -> None:
    before = [0.1, 0.2, 0.0, 0.3, 0.1, 0.2, 0.15, 0.05] * 5
    after = [b + 0.4 + 0.05 * (i % 3) for i, b in enumerate(before)]
    interval = paired_difference(before, after, samples=1000, seed=0)
    assert interval.estimate == pytest.approx(sum(after) / 40 - sum(before) / 40)
    assert 0 < interval.low <= interval.estimate <= interval.high


def test_bootstrap_identical_models_interval_contains_zero() -> None:
    scores = [0.0, 1.0, 0.5, 0.25, 0.75] * 8
    interval = paired_difference(scores, list(scores), samples=500, seed=1)
    assert interval == Interval(0.0, 0.0, 0.0)
    assert interval.low <= 0 <= interval.high


def test_bootstrap_noisy_equal_models_interval_contains_zero() -> None:
    # same mean, answers swap places: the differences cancel on average
    a = [1.0, 0.0] * 20
    b = [0.0, 1.0] * 20
    interval = paired_difference(a, b, samples=1000, seed=2)
    assert interval.low < 0 < interval.high


def test_bootstrap_is_paired_not_independent() -> None:
    # the candidate is always exactly 0.05 better, on questions of very different difficulty:
    # paired resampling sees a constant difference; resampling each model alone would not
    before = [0.0, 0.9, 0.1, 0.8, 0.2, 0.7] * 5
    after = [b + 0.05 for b in before]
    interval = paired_difference(before, after, samples=300, seed=3)
    assert interval.low == pytest.approx(0.05)
    assert interval.high == pytest.approx(0.05)


def test_bootstrap_fixed_seed_is_reproducible_and_seed_matters() -> None:
    a = [0.1 * (i % 7) for i in range(30)]
    b = [0.1 * (i % 5) for i in range(30)]
    first = paired_difference(a, b, samples=200, seed=7)
    assert paired_difference(a, b, samples=200, seed=7) == first
    assert paired_difference(a, b, samples=200, seed=8) != first


def test_bootstrap_interval_of_a_custom_statistic() -> None:
    values = list(range(10))
    interval = bootstrap_interval(10, lambda idx: max(values[i] for i in idx), 200, seed=0)
    assert interval.estimate == 9
    assert interval.high == 9
    assert 0 <= interval.low <= 9


def test_bootstrap_refuses_mismatched_or_empty_input() -> None:
    with pytest.raises(ValueError, match="same questions"):
        paired_difference([1.0], [1.0, 2.0], samples=10, seed=0)
    with pytest.raises(ValueError, match="at least one"):
        paired_difference([], [], samples=10, seed=0)
