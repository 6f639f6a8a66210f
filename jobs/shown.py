"""How a user's value appears inside a one-line error message.

A message quotes what was given so the user can find it, but the input may be anything:
a key with a newline in it (which would split the message), a megabyte of text, a list
nested a thousand deep, an integer too long for `repr`. `shown` and `plain` keep every
message one short line whatever the input.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_SHOWN = 80

_repr = reprlib.Repr()
_repr.maxstring = MAX_SHOWN
_repr.maxother = MAX_SHOWN
_repr.maxlong = 40
_repr.maxlevel = 2
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = 4


def shown(value: Any) -> str:
    """A bounded, escaped repr: `'wordcount\\n'`, `'aaaa...aaaa'`, `[[...], ...]`."""
    try:
        return _repr.repr(value)
    except ValueError:
        # int → str is refused past 4300 digits (CVE-2020-10735 guard).
        return "a number too long to show"


def plain(text: str, limit: int | None = MAX_SHOWN) -> str:
    """`text` as it is when it is one printable line (and within `limit`), else `shown(text)`."""
    if text.isprintable() and (limit is None or len(text) <= limit):
        return text
    return shown(text) if limit is not None else repr(text)
