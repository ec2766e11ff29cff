"""The seed's first example, on this machine: gsnap over every *_2* snapshot, then statistics.

    python examples/demo.py

Runs on the embedded local backend (a stratosd is started in the background if none
runs). Running it again starts a new run of the job "demo"; the earlier run stays
readable as demo.1, demo.2, ...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from stratos import Processor

HERE = Path(__file__).resolve().parent
GSNAP = HERE / "bin" / "gsnap"


def main() -> None:
    job = Processor(master="local", threads_per_task=1, job_id="demo")
    counts = job.glob_batch(f"{GSNAP} -nt 01111 %f%", f"{HERE}/data/snapshots/*_2*")
    print(f"job {job.job_id}: {counts}")
    results = job.get_results()

    vel_disp = np.array([float(res.split("\t")[1]) for res in results])
    print(f"{len(results)} snapshots analysed")
    print(f"velocity dispersion: min {vel_disp.min():.2f}  mean {vel_disp.mean():.2f}  "
          f"max {vel_disp.max():.2f}  std {vel_disp.std():.2f}  median {np.median(vel_disp):.2f}")
    print(f"mode {stats.mode(vel_disp).mode:.2f}  kurtosis {stats.kurtosis(vel_disp):.3f}  "
          f"skewness {stats.skew(vel_disp):.3f}  5th moment {stats.moment(vel_disp, 5):.1f}")


if __name__ == "__main__":
    main()
