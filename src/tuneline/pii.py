"""Find and redact personal data and secrets in free text (support questions and answers).

Standard library only and built for volume (a million rows per run): every pattern is compiled
once here, and each detector runs only when a test far cheaper than a regex scan says it could
match (no run of ten digits, no card, phone or IBAN; no "@", no e-mail address). Most rows pay
for a handful of `in` tests; run `python -m tuneline.pii` for timings.

Conservative on purpose, because a false positive destroys real support data: cards must pass
the Luhn check and start with 2-6 (the payment-card industries), IBANs must pass ISO 7064
mod-97, national phone numbers must be written with separators in a known layout, and numbers
glued to letters, dashes or "#" (ORD-123456, #5551234567, 1Z999AA10123456784) are never taken.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PII_KINDS: tuple[str, ...] = ("email", "phone", "card", "iban", "api_key")

# Placeholders hold no digit, "@" or key prefix, so redacted text is never flagged again.
PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "card": "[CARD]",
    "iban": "[IBAN]",
    "api_key": "[SECRET]",
}

# Lower wins when two hits overlap: a card number grouped 4-4-4-4 can also look like a phone.
_PRIORITY: dict[str, int] = {"card": 0, "iban": 1, "api_key": 2, "email": 3, "phone": 4}


@dataclass(frozen=True, slots=True)
class PiiHit:
    """One piece of personal data or secret: its kind and the half-open span text[start:end]."""

    kind: str
    start: int
    end: int


# Several patterns test the character before a match only after reading the first character or
# literal prefix, as in "[A-Z](?<![\w-].)": a pattern that starts with a character class or a
# literal lets `re` skip straight to where a match can begin instead of trying every position.
# Likewise single-character repeats: a repeated group such as (?:[ -]?[0-9]){9,} is four times
# slower.

_EMAIL = re.compile(
    r"[\w.%+-](?<![\w.%+-].)[\w.%+-]*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)
_EMAIL_LOCAL_MAX, _EMAIL_DOMAIN_MAX = 64, 255  # RFC 5321 limits, in characters

# Digits and separators long enough to hold a phone number (7+ characters after "+", 10+
# otherwise), a card or an IBAN's account part. The card, phone and IBAN patterns run only where
# there is such a run, so rows whose numbers are short (order 4521, 14:30, $129.99) skip them.
_NUMBER_RUN = re.compile(
    r"[+(0-9](?<![0-9].)(?:(?<=\+)[0-9 ().-]{5,}|[0-9 ().-]{8,})[0-9]", re.ASCII
)
# Whether a row can hold such a run at all, tested without a regex: UTF-8 bytes mapped to a
# "shape" (run characters -> "0", "+" kept, anything else -> "x") in one C-speed pass, then
# two substring tests. A regex scan of the same row costs 5-20x more.
_RUN_SHAPE = bytes(
    ord("0") if chr(byte) in "0123456789 ().-" else byte if chr(byte) == "+" else ord("x")
    for byte in range(256)
)
_DIGITS = tuple("0123456789")
_DIGIT_RUN_SHAPE, _INTL_RUN_SHAPE = b"0" * 10, b"+" + b"0" * 6
_LOOKAHEAD_WIDTH = 2  # the card and phone patterns read at most two characters past a match

# 13-19 digits, bare or in the printed layouts 4-4-4-4(-3), 4-6-5 (Amex) and 4-6-4 (Diners);
# not part of a decimal number (50.26548245743669) or of an identifier (ORD-..., #...).
_CARD = re.compile(
    r"(?<![\w#-])(?<![0-9][.,])[2-6][0-9]{3}"
    r"(?:[0-9]{9,15}|(?P<sep>[ -])(?:[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}"
    r"(?:(?P=sep)[0-9]{3})?|[0-9]{6}(?P=sep)[0-9]{4,5}))"
    r"(?![\w-]|[.,][0-9])",
    re.ASCII,
)

# Not after a letter, digit, "+", "-", "/", "#", "$" or a decimal point: keeps ORD-123-456-7890,
# #555-123-4567, 2+555..., paths, prices and IP addresses out. Not before the same (or ",5").
_PHONE = re.compile(
    r"(?<![\w+\-/#$€£])(?<![0-9][.,])(?:"
    # International: +44 20 7946 0958, +1 (555) 123-4567, +7 (495) 123-45-67.
    r"(?P<intl>\+[0-9]+(?:(?:[ .-]?\([0-9]{1,4}\)[ .-]?|[ .-])[0-9]+)*)"
    # North American: 555-123-4567, 555.123.4567, 1-800-555-1234 (one separator throughout).
    r"|(?:1[ .-])?[2-9][0-9]{2}(?P<nanp>[ .-])[0-9]{3}(?P=nanp)[0-9]{4}"
    # Area code in parentheses: (555) 123-4567, (020) 7946 0958, 8 (495) 123-45-67.
    r"|(?:[178] ?)?\([0-9]{3,5}\) ?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){1,2}"
    # Trunk prefix 0: 020 7946 0958, 0800 123 4567, 07700 900123.
    r"|0[0-9]{2,4}[ -](?:[0-9]{3,4}[ -]?[0-9]{3,4}|[0-9]{6})"
    # French pairs: 06 12 34 56 78.
    r"|0[1-9](?P<pair>[ .-])[0-9]{2}(?:(?P=pair)[0-9]{2}){3}"
    r")(?![\w\-/]|[.,:][0-9])",
    re.ASCII,
)
_INTL_DIGITS = range(7, 16)  # E.164: at most 15 digits; fewer than 7 is a score or a price
_NATIONAL_DIGITS = range(10, 12)

# Country code, check digits, then the account part bare or printed in groups of four.
_IBAN = re.compile(
    r"[A-Z](?<![\w-].)[A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])", re.ASCII
)
_IBAN_MIN_LENGTH, _IBAN_MAX_LENGTH = 15, 34  # Norway .. the ISO 13616 maximum

# Tokens with a fixed prefix: (gate, prefix, rest). A pattern runs only when its gate, a
# character of the prefix rarer than its first one, and then the prefix itself occur in the
# text: a one-character test runs at memchr speed, a regex scan of the row 5-20x slower.
_PREFIXED_SECRET_SPECS: tuple[tuple[str, str, str], ...] = (
    ("-", "sk-", r"[A-Za-z0-9_-]{20,}"),  # OpenAI, also sk-proj-...
    ("K", "AKIA", r"[0-9A-Z]{16}(?![0-9A-Za-z_-])"),  # AWS access key id
    ("_", "gh", r"[pousr]_[A-Za-z0-9]{36,}"),  # GitHub classic tokens
    ("_", "github_pat_", r"[A-Za-z0-9_]{22,}"),  # GitHub fine-grained tokens
    ("-", "xox", r"[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    ("z", "AIza", r"[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),  # Google API key
    ("J", "eyJ", r"[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWT
)
_PREFIXED_SECRETS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (gate, prefix, re.compile(rf"{prefix}(?<![\w-]{prefix}){rest}", re.ASCII))
    for gate, prefix, rest in _PREFIXED_SECRET_SPECS
)
_SECRET_GATES = tuple(dict.fromkeys(gate for gate, _, _ in _PREFIXED_SECRETS))

# `password: value`, `"api_key": "value"`, `token=value`: only the value (12+ chars) is a hit,
# so the redacted text still says what was there. Trailing sentence punctuation is not taken.
_ASSIGNED_SECRET = re.compile(
    r"(?<![a-z0-9])(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|token|passw(?:or)?d)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"'`<>]{11,}[^\s\"'`<>.,;:!?)\]])",
    re.IGNORECASE,
)
_SECRET_WORD_ENDINGS = ("key", "secret", "token", "password", "passwd")  # of the keywords above
_SECRET_WORD_REACH = 24  # characters before a ":" or "=" looked at for one of them

_Detector = Callable[[str], Iterator[PiiHit]]


def _luhn_valid(digits: str) -> bool:
    """True when a string of ASCII digits passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_valid(compact: str) -> bool:
    """True when an IBAN without spaces passes ISO 7064 mod-97 (letters count as 10..35)."""
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any needle occurs in `text` (substring tests, much cheaper than a regex scan)."""
    for needle in needles:
        if needle in text:
            return True
    return False


def _may_hold_number_run(text: str) -> bool:
    """False when `text` certainly has no `_NUMBER_RUN`, so no card, phone number or IBAN."""
    if not _contains_any(text, _DIGITS):  # ten memchr calls: the cheapest test of all
        return False
    shape = text.encode("utf-8").translate(_RUN_SHAPE)
    return _DIGIT_RUN_SHAPE in shape or ("+" in text and _INTL_RUN_SHAPE in shape)


def _email_hits(text: str) -> Iterator[PiiHit]:
    """E-mail addresses, searched only around each "@" (a whole-text scan is 20x slower)."""
    position = 0
    at = text.find("@")
    while at != -1:
        window_start = max(position, at - _EMAIL_LOCAL_MAX)
        match = _EMAIL.search(text, window_start, at + _EMAIL_DOMAIN_MAX)
        if match is None:
            at = text.find("@", at + 1)
            continue
        yield PiiHit("email", match.start(), match.end())
        position = match.end()
        at = text.find("@", position)


def _number_hits(text: str) -> Iterator[PiiHit]:
    """Cards (Luhn-valid) and phone numbers inside long runs of digits, then IBANs if any run
    was found: the national IBAN formats all carry ten or more digits (and spaces) in a row,
    as in GB82 WEST 1234 5698 7654 32 or NL91 ABNA 0417 1643 00."""
    found_run = False
    for run in _NUMBER_RUN.finditer(text):
        found_run = True
        start, end = run.start(), run.end() + _LOOKAHEAD_WIDTH
        for match in _CARD.finditer(text, start, end):
            if _luhn_valid(match.group().replace(" ", "").replace("-", "")):
                yield PiiHit("card", match.start(), match.end())
        for match in _PHONE.finditer(text, start, end):
            digit_count = sum(char.isdigit() for char in match.group())
            allowed = _INTL_DIGITS if match.group("intl") else _NATIONAL_DIGITS
            if digit_count in allowed:
                yield PiiHit("phone", match.start(), match.end())
    if found_run:
        yield from _iban_hits(text)


def _iban_hits(text: str) -> Iterator[PiiHit]:
    """IBANs; when a printed one runs into a following word ("... 1643 THIS"), drop trailing
    groups one at a time until the checksum holds."""
    for match in _IBAN.finditer(text):
        groups = match.group().split(" ")
        for count in range(len(groups), 0, -1):
            compact = "".join(groups[:count])
            if len(compact) < _IBAN_MIN_LENGTH:
                break
            if len(compact) <= _IBAN_MAX_LENGTH and _iban_valid(compact):
                yield PiiHit("iban", match.start(), match.start() + len(" ".join(groups[:count])))
                break


def _prefixed_secret_hits(text: str) -> Iterator[PiiHit]:
    for gate, prefix, pattern in _PREFIXED_SECRETS:
        if gate in text and prefix in text:
            for match in pattern.finditer(text):
                yield PiiHit("api_key", match.start(), match.end())


def _may_assign_secret(text: str) -> bool:
    """Whether a secret-like word comes shortly before some ":" or "=", the only rows on which
    the (slow, case-insensitive) assignment pattern is worth running."""
    for separator in ":=":
        index = text.find(separator)
        while index != -1:
            before = text[max(0, index - _SECRET_WORD_REACH) : index].rstrip(" \t\r\n\"'")
            if before.lower().endswith(_SECRET_WORD_ENDINGS):
                return True
            index = text.find(separator, index + 1)
    return False


def _assigned_secret_hits(text: str) -> Iterator[PiiHit]:
    for match in _ASSIGNED_SECRET.finditer(text):
        yield PiiHit("api_key", match.start("value"), match.end("value"))


def _detectors_for(text: str) -> list[_Detector]:
    """The detectors that could match `text`, chosen by tests far cheaper than a regex scan."""
    detectors: list[_Detector] = []
    if _may_hold_number_run(text):
        detectors.append(_number_hits)
    if "@" in text:
        detectors.append(_email_hits)
    if _contains_any(text, _SECRET_GATES):
        detectors.append(_prefixed_secret_hits)
    if ("=" in text or ":" in text) and _may_assign_secret(text):
        detectors.append(_assigned_secret_hits)
    return detectors


def _drop_overlaps(hits: list[PiiHit]) -> list[PiiHit]:
    """Keep the higher-priority hit wherever two overlap, then order by position."""
    kept: list[PiiHit] = []
    for hit in sorted(hits, key=lambda h: (_PRIORITY[h.kind], h.start)):
        if all(hit.end <= other.start or hit.start >= other.end for other in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def find_pii(text: str) -> list[PiiHit]:
    """All personal data and secrets in `text`: non-overlapping, sorted by start."""
    hits = [hit for detector in _detectors_for(text) for hit in detector(text)]
    return hits if len(hits) < 2 else _drop_overlaps(hits)


def has_pii(text: str) -> bool:
    """Whether `find_pii(text)` would find anything; stops at the first hit."""
    for detector in _detectors_for(text):
        for _hit in detector(text):
            return True
    return False


def redact_pii(text: str) -> tuple[str, Counter[str]]:
    """`text` with every hit replaced by its placeholder ("[EMAIL]", "[SECRET]"...), and how
    many of each kind were replaced. Redacting twice changes nothing the second time."""
    counts: Counter[str] = Counter()
    hits = find_pii(text)
    if not hits:
        return text, counts
    pieces: list[str] = []
    position = 0
    for hit in hits:
        pieces += (text[position : hit.start], PLACEHOLDERS[hit.kind])
        counts[hit.kind] += 1
        position = hit.end
    pieces.append(text[position:])
    return "".join(pieces), counts


def _benchmark(repeats: int = 20_000) -> None:
    """Print microseconds per row of each public function on typical support sentences."""
    import time

    samples = {
        "no digits": "Hello, I would like to change the delivery address for my last order please.",
        "digits": "My order 4521 shipped on 2026-03-14 at 14:30 but cost $129.99, SKU 88-1042.",
        "cyrillic": "Здравствуйте, где мой заказ? Я жду его уже неделю, подскажите пожалуйста.",
        "with pii": "Call me at +44 20 7946 0958 or write to jane.doe@example.com, thanks.",
    }
    for name, sample in samples.items():
        for function in (has_pii, find_pii, redact_pii):
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(repeats):
                    function(sample)
                best = min(best, time.perf_counter() - started)
            print(f"{name:>10} {function.__name__:>10}: {best / repeats * 1e6:.2f} us/row")


if __name__ == "__main__":
    _benchmark()
