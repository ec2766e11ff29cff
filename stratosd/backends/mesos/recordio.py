"""RecordIO, the framing of the Mesos event stream: `<length>\\n<payload>`, repeated.

Sans-I/O: feed it bytes as they arrive (HTTP chunks bear no relation to records), get
complete records back. Malformed input poisons the decoder for good.
"""

from __future__ import annotations

#: a record longer than this is refused (Mesos events are small; 64 MiB is generous).
MAX_RECORD = 64 << 20


class RecordIOError(ValueError):
    pass


class Decoder:
    def __init__(self, max_record: int = MAX_RECORD) -> None:
        self._buffer = bytearray()
        self._length: int | None = None
        self._max = max_record
        self.failed: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every record they complete, in order."""
        if self.failed is not None:
            raise RecordIOError(f"decoder failed earlier: {self.failed}")
        self._buffer += data
        records: list[bytes] = []
        while True:
            if self._length is None:
                newline = self._buffer.find(b"\n")
                if newline < 0:
                    if len(self._buffer) > 20:
                        self._fail(f"no record length in {bytes(self._buffer[:20])!r}...")
                    return records
                header = bytes(self._buffer[:newline]).strip()
                del self._buffer[: newline + 1]
                if not header:
                    continue  # tolerate blank lines between records
                if not header.isdigit():
                    self._fail(f"record length {header!r} is not a number")
                length = int(header)
                if length == 0 or length > self._max:
                    self._fail(f"record length {length} is out of range")
                self._length = length
            if len(self._buffer) < self._length:
                return records
            records.append(bytes(self._buffer[: self._length]))
            del self._buffer[: self._length]
            self._length = None

    def _fail(self, why: str) -> None:
        self.failed = why
        raise RecordIOError(why)


def encode(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b"\n" + payload
