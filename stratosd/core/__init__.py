"""The scheduling core: a pure, synchronous state machine (events in, actions out)."""

from stratosd.core.state import SchedulerState
from stratosd.core.transitions import InvalidTransition

__all__ = ["InvalidTransition", "SchedulerState"]
