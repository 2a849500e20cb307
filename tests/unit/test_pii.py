"""Personal data and secret detection: real formats are found and redacted, and the numbers that
fill ordinary support text (order ids, dates, prices, SKUs, tracking codes) are left alone.

False positives matter as much as misses here: a redacted order number destroys the example.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from tuneline.pii import PII_KINDS, PLACEHOLDERS, PiiHit, find_pii, has_pii, redact_pii

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _only_hit(text: str) -> PiiHit:
    hits = find_pii(text)
    assert len(hits) == 1, hits
    return hits[0]


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        # Cards: test numbers from the card networks, printed and bare.
        ("my card is 4111 1111 1111 1111, exp 12/27", "card", "4111 1111 1111 1111"),
        ("card: 5500-0000-0000-0004", "card", "5500-0000-0000-0004"),
        ("4111111111111111", "card", "4111111111111111"),
        ("amex 378282246310005 ok", "card", "378282246310005"),
        ("amex 3782 822463 10005", "card", "3782 822463 10005"),  # Amex 4-6-5 layout
        ("discover 6011111111111117.", "card", "6011111111111117"),
        # IBANs: printed in groups of four, bare, with letters in the account part.
        ("IBAN GB82 WEST 1234 5698 7654 32, thanks", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00"),
        ("pay to DE89370400440532013000.", "iban", "DE89370400440532013000"),
        ("FR14 2004 1010 0505 0001 3M02 606", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
        ("NO93 8601 1117 947", "iban", "NO93 8601 1117 947"),  # shortest country format
        # A printed IBAN followed by a capitalised word: the word is not part of it.
        ("NL91 ABNA 0417 1643 00 THIS is mine", "iban", "NL91 ABNA 0417 1643 00"),
        # Phones: international and the common national layouts.
        ("call +44 20 7946 0958 today", "phone", "+44 20 7946 0958"),
        ("+1 (555) 123-4567", "phone", "+1 (555) 123-4567"),
        ("+7 (495) 123-45-67", "phone", "+7 (495) 123-45-67"),
        ("ring (555) 123-4567 or", "phone", "(555) 123-4567"),
        ("phone: 555-123-4567", "phone", "555-123-4567"),
        ("call 555.123.4567.", "phone", "555.123.4567"),
        ("toll free 1-800-555-1234", "phone", "1-800-555-1234"),
        ("London 020 7946 0958", "phone", "020 7946 0958"),
        ("mobile 07700 900123", "phone", "07700 900123"),
        ("portable 06 12 34 56 78", "phone", "06 12 34 56 78"),
        # E-mail addresses, including a non-Latin one and a sentence-final full stop.
        ("write to jane.doe+orders@example.co.uk.", "email", "jane.doe+orders@example.co.uk"),
        ("почта: иван@пример.рф", "email", "иван@пример.рф"),
        # Secrets with a fixed prefix.
        ("key sk-abcdefghijklmnopqrstuvwx1234", "api_key", "sk-abcdefghijklmnopqrstuvwx1234"),
        ("sk-proj-Ab12Cd34Ef56Gh78Ij90Kl", "api_key", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "api_key", "AKIAIOSFODNN7EXAMPLE"),
        ("ghp_" + "a1B2" * 9, "api_key", "ghp_" + "a1B2" * 9),
        ("github_pat_" + "A1b2" * 6, "api_key", "github_pat_" + "A1b2" * 6),
        ("xoxb-1234567890-abcdefghij", "api_key", "xoxb-1234567890-abcdefghij"),
        ("AIza" + "Sy0_-" * 7, "api_key", "AIza" + "Sy0_-" * 7),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-_123",
            "api_key",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-_123",
        ),
        # Generic assignments: only the value is a hit, so the redacted text keeps the name.
        ("password: hunter2hunter2.", "api_key", "hunter2hunter2"),
        ('{"api_key": "abcdef1234567890"}', "api_key", "abcdef1234567890"),
        ("token=abcdefghijkl", "api_key", "abcdefghijkl"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "api_key", "wJalrXUtnFEMI/K7MDENG"),
        # A bare AWS secret access key: 40 random-looking base64 characters.
        (
            "the key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, keep it",
            "api_key",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
            "api_key",
            "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        ),
        # Look-alike characters: found through their NFKC forms, spans on the text as written.
        (
            "card ４１１１ １１１１ １１１１ １１１１ ok",
            "card",
            "４１１１ １１１１ １１１１ １１１１",
        ),
        ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
        ("mail jane＠example.com.", "email", "jane＠example.com"),
        ("call +44\u00a020\u00a07946\u00a00958 now", "phone", "+44\u00a020\u00a07946\u00a00958"),
        (
            "ＩＢＡＮ ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
            "iban",
            "ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
        ),
        ("𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", "card", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏"),  # mathematical bold digits
        ("password： hunter2hunter2", "api_key", "hunter2hunter2"),  # fullwidth colon
        (
            "ｓｋ－ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘ",
            "api_key",
            "ｓｋ－ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘ",
        ),
    ],
)
def test_finds_each_kind(text: str, kind: str, found: str) -> None:
    hit = _only_hit(text)
    assert (hit.kind, text[hit.start : hit.end]) == (kind, found)
    assert has_pii(text)


@pytest.mark.parametrize(
    "text",
    [
        # Look like PII but fail the checksum or the format.
        "4111 1111 1111 1112",  # fails Luhn
        "1234 5678 9012 3456",  # fails Luhn
        "GB82 WEST 1234 5698 7654 33",  # IBAN with its last digit changed
        "DE89 3704 0044 0532 0130 01",
        "GB28 WEST 1234 5698 7654 32",  # check digits swapped
        "user@localhost",  # no top-level domain
        "@john thanks!",
        "sk-short",
        "password: hunter2",  # shorter than 12 characters
        "AKIA1234567890ABCDE",  # 15 characters after AKIA, not 16
        # Ordinary support text: none of this may be redacted.
        "ORD-123456",
        "order 4521 shipped on 2026-03-14 at 14:30",
        "$129.99",
        "tracking 1Z999AA10123456784",
        "SKU 88-1042",
        "{{Order Number}}",
        "Здравствуйте, где мой заказ?",
        "ORD-555-123-4567",  # an order id shaped like a phone number
        "#555-123-4567",
        "order #4111111111111111",  # an order id that happens to pass Luhn
        "ref ORD-4111111111111111",
        "purchase 113542617735902",  # 15-digit order id (Bitext), not a card prefix
        "invoice 5551234567",  # ten bare digits are an id here, not a phone
        "from 2026-01-15 to 2026-02-15, 12:30-14:45",
        "total 1,234,567.89 RUB or 1 234 567 890 RUB",
        "size 50.26548245743669 cm",  # a decimal, not a card
        "IP 192.168.100.200, version 3.11.7",
        "isbn 978-3-16-148410-0",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "+10% off, score 3-1, 2+2=4",
        "risk-free returns for desk-top and task-management users",
        "Your token: {{Token}}",
        # 40-character runs that are not secret keys.
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a hex SHA-1
        "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
        "pneumonoultramicroscopicsilicovolcanoconiosis",  # a long word (45)
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "AAAAAAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbbbbb1",  # mixed but not varied
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",  # 41 characters: a longer blob
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY==",  # base64 with padding
        # Look-alikes that fold to ordinary text.
        "Ｏｒｄｅｒ ＯＲＤ－１２３４５６",
        "Bonjour\u00a0! Où est ma commande\u00a0? Réf. 2026-03-14",
        "½ price, ①②③, ﬁne",
    ],
)
def test_leaves_lookalikes_and_ordinary_text_alone(text: str) -> None:
    assert find_pii(text) == []
    assert not has_pii(text)
    assert redact_pii(text) == (text, {})


def test_card_wins_over_phone_on_overlap() -> None:
    # "+4222222222222" is both an international phone number and a 13-digit Visa test card.
    assert find_pii("+4222222222222") == [PiiHit("card", 1, 14)]


def test_hits_are_sorted_non_overlapping_and_exact() -> None:
    text = (
        "Hi, I'm jane@example.com, phone +44 20 7946 0958. Card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00, key AKIAIOSFODNN7EXAMPLE. Order ORD-123456."
    )
    hits = find_pii(text)
    assert [hit.kind for hit in hits] == ["email", "phone", "card", "iban", "api_key"]
    assert all(left.end <= right.start for left, right in zip(hits, hits[1:], strict=False))
    assert text[hits[1].start : hits[1].end] == "+44 20 7946 0958"


def test_redact_replaces_with_placeholders_and_counts_by_kind() -> None:
    text = "Mail a@example.com or b@example.org, call 555-123-4567, card 5500-0000-0000-0004."
    redacted, counts = redact_pii(text)
    assert redacted == "Mail [EMAIL] or [EMAIL], call [PHONE], card [CARD]."
    assert counts == {"email": 2, "phone": 1, "card": 1}


def test_redact_keeps_the_name_of_an_assigned_secret() -> None:
    assert redact_pii("password: hunter2hunter2")[0] == "password: [SECRET]"


@pytest.mark.parametrize(
    "text",
    [
        "call +44 20 7946 0958 or write jane@example.com",
        "password: [PHONE][CARD]x",  # placeholders inside a secret value
        # Hits glued together: the second is only valid once the first is a placeholder.
        "+44 20 7946 0958+44 20 7946 0958+44 20 7946 0958",
        "AKIAIOSFODNN7EXAMPLE+1jane.doe@example.com",
        "pw: x password: hunter2hunter2:4111 1111 1111 1111",
    ],
)
def test_redaction_is_idempotent(text: str) -> None:
    once, _ = redact_pii(text)
    assert find_pii(once) == []
    assert redact_pii(once) == (once, {})


def test_look_alike_redaction_replaces_the_characters_as_written() -> None:
    text = (
        "Ｍｙ ｃａｒｄ: ４１１１ １１１１ １１１１ １１１１, "
        + "ｍａｉｌ ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ!"
    )
    redacted, counts = redact_pii(text)
    assert redacted == "Ｍｙ ｃａｒｄ: [CARD], ｍａｉｌ [EMAIL]!"
    assert counts == {"card": 1, "email": 1}


def test_a_hit_inside_a_character_that_folds_to_several_takes_it_whole() -> None:
    # superscript digits fold to digits; "½" folds to three characters, "1⁄2"
    text = "x ⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹ y"
    hit = _only_hit(text)
    assert (hit.kind, text[hit.start : hit.end]) == ("card", "⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹")


def test_a_hit_ending_inside_a_character_that_folds_to_several_takes_it_whole() -> None:
    text = "call 555-123-456½ now"  # folded: "555-123-4561⁄2"; the phone ends inside "½"
    hits = find_pii(text)
    assert [(h.kind, text[h.start : h.end]) for h in hits] == [("phone", "555-123-456½")]


def test_fold_blocks_hold_every_character_whose_nfkc_form_has_ascii() -> None:
    """pii folds only characters inside _FOLD_BLOCKS; a newer Unicode may add some elsewhere."""
    import unicodedata

    from tuneline import pii

    outside = []
    for code in range(0x80, 0x110000):
        char = chr(code)
        if not unicodedata.decomposition(char):
            continue
        folded = unicodedata.normalize("NFKC", char)
        if folded != char and any(c.isascii() for c in folded):
            if not any(first <= code <= last for first, last in pii._FOLD_BLOCKS):
                outside.append(f"U+{code:04X}")
    assert outside == []


def test_placeholders_are_not_pii() -> None:
    assert set(PLACEHOLDERS) == set(PII_KINDS)
    assert find_pii(" ".join(PLACEHOLDERS.values())) == []
    assert find_pii("password: [SECRET], token=[SECRET]") == []


def test_has_pii_agrees_with_find_pii() -> None:
    texts = [
        "nothing here",
        "555-123-4567",
        "order 4521",
        "a@b.co",
        "4111 1111 1111 1112 and 4111 1111 1111 1111",
        "ghp_short_" + "x" * 40,
        "Здравствуйте +7 (495) 123-45-67",
        "",
    ]
    assert [has_pii(text) for text in texts] == [bool(find_pii(text)) for text in texts]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_real_support_questions_are_not_flagged() -> None:
    # Bitext questions carry 473 order ids, 159 invoice ids and refund amounts, and no personal
    # data by our definition: any hit here is a false positive on real support text.
    path = SHARED_DATA / "bitext_customer_support_4514.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with path.open(newline="", encoding="utf-8") as handle:
        questions = [row["instruction"] for row in csv.DictReader(handle)]
    assert len(questions) == 4514
    assert [question for question in questions if has_pii(question)] == []


def test_invariants_hold_on_random_glued_fragments() -> None:
    # Fragments glued without spaces are the hard case for boundaries and overlaps.
    fragments = [
        "4111 1111 1111 1111", "DE89370400440532013000", "+44 20 7946 0958", "(555) 123-4567",
        "jane.doe@example.com", "AKIAIOSFODNN7EXAMPLE", "password: hunter2hunter2",
        "2026-03-14", "ORD-123456", "[PHONE]", "Здравствуйте", " ", "-", ".", "+", "@", ":", "7",
        "４１１１ １１１１ １１１１ １１１１", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "＠", "７", "\u00a0", "ﬁ", "½",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ]  # fmt: skip
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 6)))
        hits = find_pii(text)
        assert has_pii(text) == bool(hits), text
        assert all(left.end <= right.start for left, right in zip(hits, hits[1:], strict=False))
        redacted, counts = redact_pii(text)
        assert sum(counts.values()) >= len(hits), text
        assert find_pii(redacted) == [], text
