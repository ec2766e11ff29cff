"""Mesos resources as the master counts them: fixed-point scalars and port-style ranges.

Scalars keep Mesos' three-decimal fixed point (``Value::Scalar`` arithmetic), held here as
integer thousandths so that offers, tasks and free resources add up exactly. Only unreserved
resources exist in the emulator (role ``*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: the scalars the state endpoint always lists, in the order Mesos prints them.
SUMMARY_SCALARS = ("disk", "mem", "gpus", "cpus")
#: offers list ranges first, then these scalars (what a real 1.11 agent's offers look like).
OFFER_SCALAR_ORDER = ("cpus", "mem", "disk", "gpus")

Range = tuple[int, int]


class ResourceError(ValueError):
    """A resource list that does not parse; the message is what the caller reports."""


def _milli(value: float) -> int:
    return round(value * 1000)


def _normalize(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for begin, end in sorted(ranges):
        if out and begin <= out[-1][1] + 1:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((begin, end))
    return out


def _ranges_contain(outer: list[Range], inner: list[Range]) -> bool:
    return all(any(b >= ob and e <= oe for ob, oe in outer) for b, e in inner)


def _ranges_sub(outer: list[Range], inner: list[Range]) -> list[Range]:
    out = list(outer)
    for b, e in inner:
        nxt: list[Range] = []
        for ob, oe in out:
            if e < ob or b > oe:
                nxt.append((ob, oe))
                continue
            if ob < b:
                nxt.append((ob, b - 1))
            if e < oe:
                nxt.append((e + 1, oe))
        out = nxt
    return out


def parse_ranges(text: str) -> list[Range]:
    """``"[31000-32000, 33000-33005]"`` -> ``[(31000, 32000), (33000, 33005)]``."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    out: list[Range] = []
    for part in body.split(","):
        part = part.strip()
        if not part:
            continue
        begin, _, end = part.partition("-")
        out.append((int(begin), int(end or begin)))
    return _normalize(out)


def format_ranges(ranges: list[Range]) -> str:
    return "[" + ", ".join(f"{b}-{e}" for b, e in ranges) + "]"


class Resources:
    """A bag of unreserved resources: ``scalars`` in thousandths, ``ranges`` per name."""

    __slots__ = ("ranges", "scalars")

    def __init__(self, scalars: dict[str, int] | None = None, ranges: dict[str, list[Range]] | None = None) -> None:
        self.scalars: dict[str, int] = {k: v for k, v in (scalars or {}).items() if v}
        self.ranges: dict[str, list[Range]] = {k: v for k, v in (ranges or {}).items() if v}

    @classmethod
    def of(cls, *, ports: list[Range] | None = None, **scalars: float) -> Resources:
        return cls({k: _milli(v) for k, v in scalars.items()}, {"ports": ports} if ports else None)

    @classmethod
    def from_json(cls, items: Any, where: str = "resources") -> Resources:
        """Parse a v1 ``Resource`` list; raises ResourceError for shapes Mesos refuses."""
        if not isinstance(items, list):
            raise ResourceError(f"Expecting '{where}' to be a list")
        scalars: dict[str, int] = {}
        ranges: dict[str, list[Range]] = {}
        for item in items:
            if not isinstance(item, dict):
                raise ResourceError(f"Expecting a JSON object in '{where}'")
            name, kind = item.get("name"), item.get("type")
            if not isinstance(name, str) or not name:
                raise ResourceError("Empty resource name")
            if kind == "SCALAR":
                value = (item.get("scalar") or {}).get("value")
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ResourceError(f"Resource '{name}' has no scalar value")
                if value <= 0:
                    raise ResourceError(f"Invalid scalar resource {name}:{value}: it must be positive")
                scalars[name] = scalars.get(name, 0) + _milli(float(value))
            elif kind == "RANGES":
                got = []
                for r in (item.get("ranges") or {}).get("range") or []:
                    begin, end = r.get("begin"), r.get("end")
                    if not isinstance(begin, int) or not isinstance(end, int) or begin > end:
                        raise ResourceError(f"Invalid ranges resource {name}")
                    got.append((begin, end))
                ranges[name] = _normalize([*ranges.get(name, []), *got])
            else:
                raise ResourceError(f"Unsupported resource type {kind!r} of resource '{name}'")
        return cls(scalars, ranges)

    # -- arithmetic ---------------------------------------------------------------------------

    def copy(self) -> Resources:
        return Resources(dict(self.scalars), {k: list(v) for k, v in self.ranges.items()})

    def __add__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = scalars.get(k, 0) + v
        ranges = {k: list(v) for k, v in self.ranges.items()}
        for k, rs in other.ranges.items():
            ranges[k] = _normalize([*ranges.get(k, []), *rs])
        return Resources(scalars, ranges)

    def __sub__(self, other: Resources) -> Resources:
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = scalars.get(k, 0) - v
        ranges = {k: list(v) for k, v in self.ranges.items()}
        for k, rs in other.ranges.items():
            ranges[k] = _ranges_sub(ranges.get(k, []), rs)
        return Resources(scalars, ranges)

    def contains(self, other: Resources) -> bool:
        if any(v > self.scalars.get(k, 0) for k, v in other.scalars.items()):
            return False
        return all(_ranges_contain(self.ranges.get(k, []), v) for k, v in other.ranges.items())

    def is_empty(self) -> bool:
        return not self.scalars and not self.ranges

    def nonnegative(self) -> bool:
        return all(v >= 0 for v in self.scalars.values())

    def scalar(self, name: str) -> float:
        return self.scalars.get(name, 0) / 1000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and self.scalars == other.scalars and self.ranges == other.ranges

    def __hash__(self) -> int:  # pragma: no cover - not used as a key
        raise TypeError("Resources is mutable")

    def __repr__(self) -> str:
        return f"Resources({self.to_string()})"

    # -- renderings ---------------------------------------------------------------------------

    def _ordered_scalars(self) -> list[str]:
        known = [k for k in OFFER_SCALAR_ORDER if k in self.scalars]
        return known + sorted(k for k in self.scalars if k not in OFFER_SCALAR_ORDER)

    def to_json(self, *, role_field: bool = True, allocation_role: str | None = None) -> list[dict[str, Any]]:
        """v1 ``Resource`` list as offers carry it (ranges first, then cpus, mem, disk)."""
        out: list[dict[str, Any]] = []
        for name in sorted(self.ranges):
            out.append(
                {
                    "name": name,
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in self.ranges[name]]},
                }
            )
        for name in self._ordered_scalars():
            out.append({"name": name, "type": "SCALAR", "scalar": {"value": self.scalars[name] / 1000}})
        for item in out:
            if role_field:
                item["role"] = "*"
            if allocation_role is not None:
                item["allocation_info"] = {"role": allocation_role}
        return out

    def summary(self) -> dict[str, Any]:
        """The state endpoint's map: ``{"disk": 0.0, "mem": 64.0, "gpus": 0.0, "cpus": 0.5, "ports": "[...]"}``."""
        out: dict[str, Any] = {k: self.scalars.get(k, 0) / 1000 for k in SUMMARY_SCALARS}
        for name in sorted(self.scalars):
            if name not in out:
                out[name] = self.scalars[name] / 1000
        for name in sorted(self.ranges):
            out[name] = format_ranges(self.ranges[name])
        return out

    def to_string(self, allocation_role: str | None = None) -> str:
        """Mesos' text form, e.g. ``cpus(allocated: *):4; mem(allocated: *):4096``."""
        tag = f"(allocated: {allocation_role})" if allocation_role is not None else ""
        parts = [f"{name}{tag}:{format_ranges(self.ranges[name])}" for name in sorted(self.ranges)]
        for name in self._ordered_scalars():
            value = self.scalars[name] / 1000
            parts.append(f"{name}{tag}:{value:g}")
        return "; ".join(parts)
