"""Text for people: names that strangers chose (file, class, person and key names) made safe
to print on a terminal or in a line-oriented log.

A file named `evil\\tclosed\\topen 0.999\\nb.png` would forge a line of `robusteye predict`, and a
class name holding `ESC ] 0 ; ... BEL` would retitle the terminal. Every human-readable output
path of the command line goes through `printable` (one name or one line) or `printable_text`
(a block of lines, whose names went through `printable` first), which spell such characters
as escapes instead. JSON output needs neither:
`json.dumps` already escapes every control character.
"""

from __future__ import annotations

import re

#: C0 and C1 control characters, DEL, the Unicode line and paragraph separators, the bidi
#: overrides and isolates ("Trojan source") and lone surrogates (undecodable file-name bytes,
#: which a UTF-8 terminal could not even encode).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`str(value)` with every control or layout character spelled as an escape (`\\x1b`,
    `\\n`, `\\u202e`): safe as one field of one line."""
    return _UNSAFE.sub(_escape, str(value))


def printable_text(text: object) -> str:
    """`printable`, but the line breaks and tabs that lay out a block (a table, tab-separated
    fields) are kept. Names inside the block must have gone through `printable` already."""
    return "\n".join(
        "\t".join(printable(field) for field in line.split("\t")) for line in str(text).split("\n")
    )
