"""Find and redact personal data and secrets in free text (support questions and answers).

Standard library only and built for volume (a million rows per run): every pattern is compiled
once here, and runs only where a test far cheaper than a regex scan says a hit could be (no
long run of digits, no card or phone number; no "@", no e-mail address). A row without digits
pays for a handful of substring tests; `python -m tuneline.pii` prints timings.

Conservative on purpose, because a false positive destroys real support data: cards must pass
the Luhn check and start with 2-6 (the payment-card industries), IBANs must pass ISO 7064
mod-97, national phone numbers must be written with separators in a known layout, and numbers
glued to letters, dashes or "#" (ORD-123456, #5551234567, 1Z999AA10123456784) are never taken.

Look-alike characters: text holding compatibility forms (fullwidth "４１１１" or "ｊａｎｅ＠",
mathematical letters, no-break spaces) is searched twice, as written and with each such
character replaced by its NFKC form; hits found in the folded copy are mapped back onto the
characters they came from, so the text itself is never rewritten (a redaction replaces the
fullwidth original). Folding character by character keeps that map exact.
"""

from __future__ import annotations

import functools
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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


def _shape_table(classes: dict[str, str]) -> bytes:
    """A `bytes.translate` table: each character of a key becomes that key's value (one ASCII
    character), every other byte becomes "x"."""
    table = bytearray(b"x" * 256)
    for characters, shape in classes.items():
        for character in characters:
            table[ord(character)] = ord(shape)
    return bytes(table)


# Speed. Most rows hold no personal data, so each detector first asks a question far cheaper
# than a regex scan (`re` tries a pattern at every position; here that costs 10-20 ns a
# character): substring tests, which run at memchr speed, and a row's "shape", its characters
# mapped one byte each by `bytes.translate`, whose offsets are the row's. Patterns then run only
# in small windows: around each "@", in each long run of digits, at each country-code-and-
# check-digits start, after each secret prefix, after each ":" or "=" that follows a secret name.
# Where a searched pattern must look at the character before a match, it does so after its
# first character or literal prefix ("sk-(?<![\w-]sk-)"), which lets `re` jump to candidates.

_DIGITS = tuple(string.digits)

# Runs of digits and the separators written inside numbers: every card and phone number lies
# in such a run of 8 characters or more (the shortest is "+" and 7 digits).
_RUN_SHAPE = _shape_table({string.digits + " ().+-": "0"})
_SHORTEST_RUN = b"0" * 8
_RUN_SEPARATORS = b" ().+-"
_LOOKAHEAD_WIDTH = 2  # the card and phone patterns read at most two characters past a match

_IBAN_SHAPE = _shape_table({string.ascii_uppercase: "A", string.digits: "0"})
_IBAN_START = b"AA00"  # country code and check digits

_EMAIL = re.compile(
    r"[\w.%+-](?<![\w.%+-].)[\w.%+-]*@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,24}(?![\w-])"
)
_EMAIL_LOCAL_MAX, _EMAIL_DOMAIN_MAX = 64, 255  # RFC 5321 limits, in characters

# 13-19 digits, bare or in the printed layouts 4-4-4-4(-3), 4-6-5 (Amex) and 4-6-4 (Diners);
# not part of a decimal number (50.26548245743669) or of an identifier (ORD-..., #...).
_CARD = re.compile(
    r"(?<![\w#-])(?<![0-9][.,])[2-6][0-9]{3}"
    r"(?:[0-9]{9,15}|(?P<sep>[ -])(?:[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}"
    r"(?:(?P=sep)[0-9]{3})?|[0-9]{6}(?P=sep)[0-9]{4,5}))"
    r"(?![\w-]|[.,][0-9])",
    re.ASCII,
)
_CARD_DIGITS = 13

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
    r"(?<![\w-])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])", re.ASCII
)
_IBAN_MIN_LENGTH, _IBAN_MAX_LENGTH = 15, 34  # Norway .. the ISO 13616 maximum

# Tokens with a fixed prefix: (gate, prefix, rest). A pattern runs only when its gate (a
# character every match holds, rarer than the prefix's first) and then its prefix occur.
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

# `password: value`, `"api_key": "value"`, `token=value`: only the value (12+ characters) is a
# hit, so the redacted text still says what was there. Trailing punctuation is not taken.
_SECRET_NAME = re.compile(
    r"(?<![a-z0-9])(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|token|passw(?:or)?d)"
    r"[\"']?\s*\Z",
    re.IGNORECASE,
)
_SECRET_NAME_ENDINGS = ("key", "secret", "token", "password", "passwd")  # a cheap first test
_SECRET_NAME_REACH = 24  # characters before a ":" or "=" looked at for a secret name
_SECRET_VALUE = re.compile(r"[:=]\s*[\"']?(?P<value>[^\s\"'`<>]{11,}[^\s\"'`<>.,;:!?)\]])")


# Bare AWS secret access keys: exactly 40 characters of base64 ("/" and "+" included) with
# no such character on either side (nor "=" after: that is a longer base64 blob). A hex SHA-1
# or an ordinary word has the length too, so a run counts only when it mixes upper case, lower
# case and digits and its characters are as varied as random keys are (Shannon entropy of at
# least 4.2 bits a character: random keys measure 4.2-5.2, hex digests at most 4.0). A key
# without a digit (about 1 in 900) is missed; a key after `secret=` is caught as assigned.
_KEY_SHAPE = _shape_table({string.ascii_letters + string.digits + "/+": "k"})
_AWS_SECRET_LENGTH = 40
_AWS_SECRET_RUN = b"k" * _AWS_SECRET_LENGTH
_AWS_SECRET_MIN_ENTROPY = 4.2  # bits per character


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


def _digit_count(span: str) -> int:
    """How many digits a span of digits and `_RUN_SEPARATORS` holds (bytes.translate: C speed)."""
    return len(span.encode("ascii").translate(None, _RUN_SEPARATORS))


def _contains_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any needle occurs in `text` (substring tests, much cheaper than a regex scan)."""
    for needle in needles:
        if needle in text:
            return True
    return False


def _number_hits(text: str, run_shape: bytes, start: int) -> Iterator[PiiHit]:
    """Cards (Luhn-valid) and phone numbers, looked for only inside runs of digits and
    separators that hold enough digits (a date such as 2026-03-14 does not), the first of
    which begins at `start`."""
    while start != -1:
        end = run_shape.find(b"x", start)
        end = len(run_shape) if end == -1 else end
        run = text[start:end]
        digits = _digit_count(run)
        window_end = end + _LOOKAHEAD_WIDTH
        if digits >= _CARD_DIGITS:
            for match in _CARD.finditer(text, start, window_end):
                if _luhn_valid(match.group().replace(" ", "").replace("-", "")):
                    yield PiiHit("card", match.start(), match.end())
        if digits >= (_INTL_DIGITS.start if "+" in run else _NATIONAL_DIGITS.start):
            for match in _PHONE.finditer(text, start, window_end):
                allowed = _INTL_DIGITS if match.group("intl") else _NATIONAL_DIGITS
                if _digit_count(match.group()) in allowed:
                    yield PiiHit("phone", match.start(), match.end())
        start = run_shape.find(_SHORTEST_RUN, end)


def _iban_hits(text: str, iban_shape: bytes, start: int) -> Iterator[PiiHit]:
    """IBANs, tried at each capital-capital-digit-digit from `start` on. When a printed one
    runs into a following word ("... 1643 THIS"), trailing groups are dropped until the
    checksum holds."""
    while start != -1:
        resume = start + 1
        match = _IBAN.match(text, start)
        groups = match.group().split(" ") if match else []
        for count in range(len(groups), 0, -1):
            compact = "".join(groups[:count])
            if len(compact) < _IBAN_MIN_LENGTH:
                break
            if len(compact) <= _IBAN_MAX_LENGTH and _iban_valid(compact):
                resume = start + len(" ".join(groups[:count]))
                yield PiiHit("iban", start, resume)
                break
        start = iban_shape.find(_IBAN_START, resume)


def _email_hits(text: str) -> Iterator[PiiHit]:
    """E-mail addresses, searched only around each "@"."""
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


def _prefixed_secret_hits(text: str) -> Iterator[PiiHit]:
    for gate, prefix, pattern in _PREFIXED_SECRETS:
        if gate in text and prefix in text:
            for match in pattern.finditer(text):
                yield PiiHit("api_key", match.start(), match.end())


def _assigned_secret_hits(text: str) -> Iterator[PiiHit]:
    """Values assigned to a secret-like name, looked for after each ":" and "="."""
    for separator in ":=":
        index = text.find(separator)
        while index != -1:
            reach = max(0, index - _SECRET_NAME_REACH)
            before = text[reach:index].rstrip(" \t\r\n\"'").lower()
            if before.endswith(_SECRET_NAME_ENDINGS) and _SECRET_NAME.search(text, reach, index):
                value = _SECRET_VALUE.match(text, index)
                if value:
                    yield PiiHit("api_key", value.start("value"), value.end("value"))
            index = text.find(separator, index + 1)


def _looks_random(token: str) -> bool:
    """Upper case, lower case and digits mixed, with characters as varied as a random key's."""
    if token.islower() or token.isupper() or not _contains_any(token, _DIGITS):
        return False
    counts = Counter(token).values()
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts)
    return entropy >= _AWS_SECRET_MIN_ENTROPY


def _aws_secret_hits(text: str, key_shape: bytes, start: int) -> Iterator[PiiHit]:
    """Bare AWS secret access keys: runs of exactly 40 base64 characters that look random; the
    first run of 40 or more begins at `start`."""
    while start != -1:
        end = key_shape.find(b"x", start)
        end = len(key_shape) if end == -1 else end
        token = text[start:end]
        if len(token) == _AWS_SECRET_LENGTH and text[end : end + 1] != "=" and _looks_random(token):
            yield PiiHit("api_key", start, end)
        start = key_shape.find(_AWS_SECRET_RUN, end)


def _hit_sources(text: str) -> list[Iterator[PiiHit]]:
    """A lazy source of hits for each kind that `text` could hold, chosen by cheap tests."""
    sources: list[Iterator[PiiHit]] = []
    if _contains_any(text, _DIGITS):  # ten memchr calls: the cheapest test of all
        raw = text.encode("latin-1", "replace")  # one byte per character, so offsets agree
        run_shape = raw.translate(_RUN_SHAPE)
        if (first_run := run_shape.find(_SHORTEST_RUN)) != -1:
            sources.append(_number_hits(text, run_shape, first_run))
        iban_shape = raw.translate(_IBAN_SHAPE)
        if (first_iban := iban_shape.find(_IBAN_START)) != -1:
            sources.append(_iban_hits(text, iban_shape, first_iban))
        key_shape = raw.translate(_KEY_SHAPE)
        if (first_key := key_shape.find(_AWS_SECRET_RUN)) != -1:
            sources.append(_aws_secret_hits(text, key_shape, first_key))
    if "@" in text:
        sources.append(_email_hits(text))
    if _contains_any(text, _SECRET_GATES):
        sources.append(_prefixed_secret_hits(text))
    if ":" in text or "=" in text:
        sources.append(_assigned_secret_hits(text))
    return sources


def _drop_overlaps(hits: list[PiiHit]) -> list[PiiHit]:
    """Keep the higher-priority hit wherever two overlap, then order by position."""
    kept: list[PiiHit] = []
    for hit in sorted(hits, key=lambda h: (_PRIORITY[h.kind], h.start)):
        if all(hit.end <= other.start or hit.start >= other.end for other in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


# Non-ASCII characters whose NFKC form holds ASCII ("４" -> "4", "＠" -> "@", "ﬁ" -> "fi",
# no-break space -> " ") lie in these blocks; a test checks every code point against them.
_FOLD_BLOCKS = (
    (0x00A0, 0x00BE), (0x0132, 0x0149), (0x017F, 0x017F), (0x01C4, 0x01F3), (0x02B0, 0x02E3),
    (0x037A, 0x0385), (0x1D2C, 0x1D65), (0x1D9C, 0x1DBB), (0x1E9A, 0x1E9A), (0x1FBD, 0x20A8),
    (0x2100, 0x2189), (0x2460, 0x24EA), (0x2A74, 0x2A76), (0x2C7C, 0x2C7D), (0x3000, 0x3000),
    (0x309B, 0x309C), (0x3200, 0x325F), (0x32B1, 0x32CF), (0x3358, 0x33FF), (0xA7F2, 0xA7F4),
    (0xFB00, 0xFB29), (0xFC5E, 0xFC63), (0xFDFA, 0xFE7E), (0xFF01, 0xFF5E), (0xFFE3, 0xFFE3),
    (0x107A5, 0x107A5), (0x1D400, 0x1D6A3), (0x1D7CE, 0x1D7FF), (0x1F100, 0x1F190),
    (0x1FBF0, 0x1FBF9),
)  # fmt: skip


@functools.cache
def _fold_table() -> dict[int, str]:
    """code point -> its NFKC form, for every character in _FOLD_BLOCKS whose form holds ASCII
    (a str.translate table: folding a text is then one C call)."""
    table: dict[int, str] = {}
    for first, last in _FOLD_BLOCKS:
        for code in range(first, last + 1):
            folded = unicodedata.normalize("NFKC", chr(code))
            if folded != chr(code) and _contains_ascii(folded):
                table[code] = folded
    return table


def _contains_ascii(text: str) -> bool:
    return any(char.isascii() for char in text)


def _folded(text: str) -> str | None:
    """`text` with look-alike characters replaced by their NFKC forms, or None if it has none."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):  # both C-speed checks
        return None
    folded = text.translate(_fold_table())
    return None if folded == text else folded


def _unfolded_hits(text: str, folded: str, hits: list[PiiHit]) -> list[PiiHit]:
    """Hits found in `_folded(text)` as spans of `text`: a character that became several
    (“½” -> "1⁄2") is taken whole when a hit covers any of them."""
    table = _fold_table()
    origin: list[int] = []  # folded position -> text position
    for index, char in enumerate(text):
        origin += [index] * len(table.get(ord(char), char))
    assert len(origin) == len(folded)
    return [PiiHit(hit.kind, origin[hit.start], origin[hit.end - 1] + 1) for hit in hits]


def find_pii(text: str) -> list[PiiHit]:
    """All personal data and secrets in `text`: non-overlapping, sorted by start. Text with
    look-alike characters is searched as written and folded (see the module docstring)."""
    hits = [hit for source in _hit_sources(text) for hit in source]
    folded = _folded(text)
    if folded is not None:
        found = [hit for source in _hit_sources(folded) for hit in source]
        hits += _unfolded_hits(text, folded, found) if found else []
    return hits if len(hits) < 2 else _drop_overlaps(hits)


def has_pii(text: str) -> bool:
    """Whether `find_pii(text)` would find anything; stops at the first hit."""
    for source in _hit_sources(text):
        for _hit in source:
            return True
    folded = _folded(text)
    if folded is not None:
        for source in _hit_sources(folded):
            for _hit in source:
                return True
    return False


def redact_pii(text: str) -> tuple[str, Counter[str]]:
    """`text` with every hit replaced by its placeholder ("[EMAIL]", "[SECRET]"...), and how
    many of each kind were replaced. The result holds nothing `find_pii` would find."""
    counts: Counter[str] = Counter()
    # Repeat until nothing is found: a hit glued to another one ("...0958+44 20 7946 0958") is
    # only recognised once its neighbour has become a placeholder. It ends: each pass removes
    # characters placeholders never contain (digits, "@", lower case) or shortens the text.
    while hits := find_pii(text):
        pieces: list[str] = []
        position = 0
        for hit in hits:
            pieces += (text[position : hit.start], PLACEHOLDERS[hit.kind])
            counts[hit.kind] += 1
            position = hit.end
        pieces.append(text[position:])
        text = "".join(pieces)
    return text, counts


# A superset of the detectors above, as one RE2 pattern (pyarrow.compute runs it over a whole
# column in C): a text that does not match cannot hold a hit, so `candidate_mask` lets a caller
# run `has_pii` on the few texts that do. Each branch is something every hit of one detector
# contains. Cards: 13 digits in a row, or 7 digits with a separator among them (each printed
# layout has one after 4 digits). Phones: "+" and 7 digits, or 7 digits with a separator among
# them: every national layout has one within its first 5 digits, so bare order and tracking
# numbers ("ref 232292048764") are not candidates. IBAN: country code, check digits and the two
# groups of four that _IBAN needs at least (so discount codes such as "SPRING25" are not
# candidates). E-mail: "@". Prefixed secrets: their prefix. Assigned secrets: a secret name
# before a ":" or "=", spelled with every character Python's re.IGNORECASE matches (the Kelvin
# sign for "k", the long s for "s"; a test checks that list against every code point). AWS
# secret keys: a run of 40 base64 characters. Look-alikes: see _look_alike_branches.
_CASE_VARIANTS = {"k": "kK\\x{212A}", "s": "sS\\x{17F}"}


def _any_case(word: str) -> str:
    """`word` as RE2 character classes matching what `(?i)word` matches in Python's re."""
    return "".join(f"[{_CASE_VARIANTS.get(c, c + c.upper())}]" for c in word)


_SECRET_NAME_WORDS = ("key", "secret", "token", "passw")  # every _SECRET_NAME holds one
_NUMBER_SEPARATOR = r"[ ().+\-]"


def _seven_digits_separated() -> str:
    """RE2 for 7 digits with separators between them, at least one gap not empty."""
    gap, digit = f"{_NUMBER_SEPARATOR}*", "[0-9]"
    return "|".join(
        f"{digit}(?:{gap}{digit}){{{k}}}{_NUMBER_SEPARATOR}+{digit}(?:{gap}{digit}){{{5 - k}}}"
        for k in range(6)  # the first not-empty gap follows digit k + 1
    )


def _re2_class(codes: list[int]) -> str:
    """An RE2 character class holding exactly `codes`."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(rf"\x{{{a:X}}}-\x{{{b:X}}}" for a, b in ranges) + "]"


def _look_alike_branches() -> tuple[str, ...]:
    """RE2 for text whose folded copy (see `_folded`) could hold a hit that the text as written
    does not: a character folding to a letter, digit or sign ("４", "＠", "："), or one folding
    to a space (no-break space) in text with a digit (only numbers have spaces inside a hit)."""
    spaces: list[int] = []
    signs: list[int] = []
    for code, folded in _fold_table().items():
        only_spaces = all(char == " " for char in folded if char.isascii())
        (spaces if only_spaces else signs).append(code)
    space = _re2_class(spaces)
    return (_re2_class(signs), f"(?s:{space}.*[0-9]|[0-9].*{space})")


def candidate_re2() -> str:
    """The RE2 superset described above for ASCII text (look-alikes are not ASCII)."""
    return "|".join(PII_CANDIDATE_BRANCHES)


@functools.cache
def look_alike_re2() -> str:
    """The RE2 superset's look-alike branches (built on first use, from the Unicode database).
    Kept apart: joined with the others into one pattern, RE2's automaton grows past its cache
    and the whole scan runs several times slower."""
    return "|".join(_look_alike_branches())


PII_CANDIDATE_BRANCHES = (
    "[0-9]{13}",
    rf"\+[0-9](?:{_NUMBER_SEPARATOR}*[0-9]){{6}}",
    _seven_digits_separated(),
    r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2}",
    "@",
    r"sk-|AKIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ",
    "(?:" + "|".join(_any_case(word) for word in _SECRET_NAME_WORDS) + r")(?s:.)*[:=]",
    f"[A-Za-z0-9/+]{{{_AWS_SECRET_LENGTH}}}",
)


def candidate_mask(texts: Any) -> Any:
    """For a pyarrow string array: a numpy bool array, True where the text could hold personal
    data or a secret. False is a proof (no detector can fire); True asks for `has_pii`."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.match_substring_regex(texts, candidate_re2()).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(~pc.string_is_ascii(texts).to_numpy(zero_copy_only=False))
    if len(rows):  # look-alikes only where they can be: in text that is not ASCII
        subset = texts.take(pa.array(rows))
        mask = mask.copy()
        mask[rows] |= pc.match_substring_regex(subset, look_alike_re2()).to_numpy(
            zero_copy_only=False
        )
    return mask


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
            for _ in range(5):  # best of five, in CPU time: other processes share the machine
                started = time.process_time()
                for _ in range(repeats):
                    function(sample)
                best = min(best, time.process_time() - started)
            print(f"{name:>10} {function.__name__:>10}: {best / repeats * 1e6:.2f} us/row")


if __name__ == "__main__":
    _benchmark()
