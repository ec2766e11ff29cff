"""Throughput of the emulator: N short tasks over M agents, driven by a lean scheduler.

    python -m tests.emulators.mesos.bench [--tasks 10000] [--agents 8] [--url http://127.0.0.1:5050]

Without ``--url`` an emulator is started in a child process (uvloop), so that the numbers
show whether the emulator or the scheduler is the bottleneck (both CPU times are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


async def drive(url: str, total: int, cpus_per_task: float, command: str) -> dict[str, Any]:
    api = f"{url}/api/v1/scheduler"
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as s:
        body = {
            "type": "SUBSCRIBE",
            "subscribe": {"framework_info": {"user": "bench", "name": "bench", "failover_timeout": 600.0}},
        }
        resp = await s.post(api, json=body, headers=HEADERS, timeout=aiohttp.ClientTimeout(total=None))
        stream_id = resp.headers["Mesos-Stream-Id"]
        headers = {**HEADERS, "Mesos-Stream-Id": stream_id}
        fid = ""
        next_task = 0
        finished = 0
        failed = 0
        calls: set[asyncio.Task[None]] = set()

        async def call(kind: str, payload: dict[str, Any]) -> None:
            data = json.dumps({"type": kind, "framework_id": {"value": fid}, kind.lower(): payload})
            async with s.post(api, data=data, headers=headers) as r:
                if r.status != 202:
                    raise RuntimeError(f"{kind} -> {r.status} {await r.text()}")

        def spawn(kind: str, payload: dict[str, Any]) -> None:
            t = asyncio.create_task(call(kind, payload))
            calls.add(t)
            t.add_done_callback(calls.discard)

        start = time.monotonic()
        content = resp.content
        while finished + failed < total:
            line = await content.readline()
            if not line:
                raise RuntimeError("stream ended")
            if not line.strip():
                continue
            event = json.loads(await content.readexactly(int(line)))
            kind = event["type"]
            if kind == "SUBSCRIBED":
                fid = event["subscribed"]["framework_id"]["value"]
            elif kind == "OFFERS":
                for offer in event["offers"]["offers"]:
                    cpus = next((r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus"), 0.0)
                    n = min(total - next_task, int(cpus / cpus_per_task + 1e-9))
                    tasks = []
                    for _ in range(n):
                        tid = f"t{next_task}"
                        next_task += 1
                        tasks.append(
                            {
                                "name": tid,
                                "task_id": {"value": tid},
                                "agent_id": offer["agent_id"],
                                "resources": [
                                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus_per_task}},
                                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                                ],
                                "command": {"value": command},
                            }
                        )
                    ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}] if tasks else []
                    spawn("ACCEPT", {"offer_ids": [offer["id"]], "operations": ops, "filters": {"refuse_seconds": 0}})
            elif kind == "UPDATE":
                status = event["update"]["status"]
                if "uuid" in status:
                    ack = {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}
                    spawn("ACKNOWLEDGE", ack)
                if status["state"] == "TASK_FINISHED":
                    finished += 1
                elif status["state"] in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_KILLED"):
                    failed += 1
        elapsed = time.monotonic() - start
        if calls:
            await asyncio.gather(*calls)
        data = json.dumps({"type": "TEARDOWN", "framework_id": {"value": fid}})
        async with s.post(api, data=data, headers=headers):
            pass
        resp.close()
        return {"tasks": total, "finished": finished, "failed": failed, "seconds": round(elapsed, 2)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--agents", type=int, default=8)
    p.add_argument("--cpus", type=float, default=8.0, help="cpus per agent")
    p.add_argument("--task-cpus", type=float, default=0.5)
    p.add_argument("--allocation-interval", type=float, default=1.0)
    p.add_argument("--command", default="true")
    p.add_argument("--url", default=None)
    args = p.parse_args()
    child = None
    url = args.url
    if url is None:
        agents = ",".join(f"node{i}:cpus={args.cpus}:mem=65536" for i in range(args.agents))
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.emulators.mesos",
                "--port",
                "0",
                "--agents",
                agents,
                "--allocation-interval",
                str(args.allocation_interval),
            ],
            cwd=Path(__file__).resolve().parents[3],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        url = child.stdout.readline().split()[1]
    emulator_cpu = None
    try:
        result = asyncio.run(drive(url, args.tasks, args.task_cpus, args.command))
        if child is not None:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            tick = os.sysconf("SC_CLK_TCK")
            emulator_cpu = (
                round((int(fields[11]) + int(fields[12])) / tick, 2),
                round((int(fields[13]) + int(fields[14])) / tick, 2),
            )
    finally:
        if child is not None:
            child.terminate()
            child.wait()
    result["tasks_per_second"] = round(result["finished"] / result["seconds"], 1)
    own = resource.getrusage(resource.RUSAGE_SELF)
    result["scheduler_cpu_s"] = round(own.ru_utime + own.ru_stime, 2)
    if emulator_cpu is not None:
        result["emulator_cpu_s"], result["task_processes_cpu_s"] = emulator_cpu
    print(json.dumps(result))
    os._exit(0)


if __name__ == "__main__":
    main()
