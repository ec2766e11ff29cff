"""The scheduling core: a pure, synchronous state machine (events in, actions out)."""

from stratosd.core.state import InvalidTransition, SchedulerState

__all__ = ["InvalidTransition", "SchedulerState"]
