# Python 2.7 (run by cluster.sh with the interpreter tests/realmesos/setup.sh found): keep it 2.7-compatible.
# ruff: noqa: UP031  (printf-style formatting: f-strings do not exist in Python 2.7)
# Type hints are comments (PEP 484's Python 2 form), so mypy checks it like the rest of tests/.
#
# One real Mesos 1.11 agent in this process, registered with a remote master (REMOTE_MASTER=master@IP:PORT).
# libmesos (PyPI mesos.scheduler) has no agent entry point, so: the driver's 'local' mode starts a master
# and one agent (MESOS_NUM_SLAVES=1); terminate that master, then appoint the remote one in the
# file-static StandaloneMasterDetector that local::launch() gave the agent (mesos::internal::local::
# detector, a local symbol: DETECTOR_OFF from nm; load base = runtime address of process::UPID::UPID(
# const char*) minus its nm value UPID_CTOR_OFF). Order matters: a master whose detector names another
# master aborts the whole process.
import ctypes
import os
import signal
import site
import sys
import time

site.addsitedir(os.path.join(os.environ["REALMESOS_DIR"], "py2site"))

import mesos.scheduler._scheduler as _so
from mesos.interface import Scheduler, mesos_pb2
from mesos.scheduler import MesosSchedulerDriver


def log(msg):
    # type: (str) -> None
    sys.stderr.write('[run_agent] %s\n' % msg)
    sys.stderr.flush()


lib = ctypes.CDLL(_so.__file__)
upid_ctor = lib._ZN7process4UPIDC1EPKc
upid_ctor_at = ctypes.cast(upid_ctor, ctypes.c_void_p).value
assert upid_ctor_at is not None, 'process::UPID::UPID(const char*) is not in libmesos'
base = upid_ctor_at - int(os.environ['UPID_CTOR_OFF'], 16)


def upid(text):
    # type: (str) -> ctypes.Array[ctypes.c_char]
    buf = ctypes.create_string_buffer(1024)   # kept alive on purpose; sizeof(UPID) is far smaller
    upid_ctor(buf, ctypes.c_char_p(text))  # type: ignore[arg-type]  # Python 2.7: a str is bytes
    return buf


fw = mesos_pb2.FrameworkInfo()
fw.user = 'root'
fw.name = 'run_agent_placeholder'
driver = MesosSchedulerDriver(Scheduler(), fw, 'local')   # the constructor runs local::launch()
local_master = 'master@%s:%s' % (os.environ['LIBPROCESS_IP'], os.environ['LIBPROCESS_PORT'])
lib._ZN7process9terminateERKNS_4UPIDEb(upid(local_master), ctypes.c_bool(True))
time.sleep(0.5)
det = ctypes.c_void_p.from_address(base + int(os.environ['DETECTOR_OFF'], 16)).value
if not det:
    log('mesos::internal::local::detector is NULL: wrong DETECTOR_OFF?')
    os._exit(3)
lib._ZN5mesos6master8detector24StandaloneMasterDetector7appointERKN7process4UPIDE(
    ctypes.c_void_p(det), upid(os.environ['REMOTE_MASTER']))
log('terminated %s; agent detector appointed to %s' % (local_master, os.environ['REMOTE_MASTER']))
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
signal.signal(signal.SIGINT, lambda *a: os._exit(0))
log('READY')
while True:
    time.sleep(1)
