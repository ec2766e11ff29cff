"""A Mesos 1.11 master with named agents that run tasks for real, for tests.

See ``server.MesosEmulator`` (in-process) and ``python -m tests.emulators.mesos --help`` (CLI).
"""

from .agent import AgentSpec
from .master import EmulatorConfig
from .server import MesosEmulator

__all__ = ["AgentSpec", "EmulatorConfig", "MesosEmulator"]
