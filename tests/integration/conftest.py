from __future__ import annotations

from tests.daemon import daemon_fixture

daemon = daemon_fixture()
