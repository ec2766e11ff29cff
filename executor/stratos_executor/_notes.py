"""Notes for the user, deduplicated.

A monitor that crashes every interval would otherwise add thousands of
identical lines to a record; each kind of note is kept once, with a count.
"""

from __future__ import annotations


class Notes:
    """Appends to a record's ``notes`` list, one line per kind of note."""

    __slots__ = ("_counts", "_index", "_lines")

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._index: dict[str, int] = {}
        self._counts: dict[str, int] = {}

    def add(self, text: str, *, kind: str | None = None) -> None:
        """Add ``text``; a later note of the same ``kind`` replaces it and shows how often it happened."""
        key = text if kind is None else kind
        at = self._index.get(key)
        if at is None:
            self._index[key] = len(self._lines)
            self._counts[key] = 1
            self._lines.append(text)
            return
        count = self._counts[key] + 1
        self._counts[key] = count
        self._lines[at] = f"{text} ({count} times)"
