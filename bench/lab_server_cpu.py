"""Lab servers' start: CPU seconds a trainee's single-user server costs to start.

Run from the project root: ``.venv/bin/python bench/lab_server_cpu.py``.

One real hub (``labs/jupyterhub_config.py``, as ``bench/lab_launch.py`` starts it)
spawns servers one at a time over its REST API; each server's process tree's CPU
seconds (user + system) are read when the hub reports it ready, and again 2 s
later (what the start keeps costing once ready). CPU seconds depend much less on
other load on the machine than wall time, so they compare states of the code on a
busy machine; the wall time to ready is reported beside them.

``--against DIR`` runs a second variant side by side, alternating which goes first
each round: trainees' servers started from another copy of
``labs/trainee-jupyter`` (e.g. ``git archive main labs/trainee-jupyter``), with its
``jupyterhub-singleuser`` and its Jupyter config. ``--importtime DIR`` and
``--profile DIR`` write each server's ``python -X importtime`` output or
``cProfile`` data there instead of measuring variants.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_launch import ROOT, Hub, hub_processes, log, percentile  # noqa: E402

# The project's hub config, with each user's server started from the variant that
# its name says (the part before the first "-"), as the environment tells.
OVERLAY = """
import json, os, sys
load_subconfig({config!r})
VARIANTS = json.loads(os.environ["BENCH_VARIANTS"])
WRAP = json.loads(os.environ.get("BENCH_WRAP", "null"))

def _variant(spawner):
    folder = VARIANTS[spawner.user.name.split("-")[0]]
    command = [sys.executable, folder + "/jupyterhub-singleuser"]
    if WRAP:
        out = WRAP["dir"] + "/" + spawner.user.name
        if WRAP["kind"] == "profile":
            command = [sys.executable, "-m", "cProfile", "-o", out + ".prof",
                       folder + "/jupyterhub-singleuser"]
        else:
            command = ["sh", "-c", 'exec "$@" 2>' + out + ".importtime", "sh",
                       sys.executable, "-X", "importtime",
                       folder + "/jupyterhub-singleuser"]
    spawner.cmd = command
    spawner.environment["JUPYTER_CONFIG_DIR"] = folder

c.Spawner.pre_spawn_hook = _variant
"""


def server_cpu(hub: Hub, name: str) -> float | None:
    """CPU seconds of ``name``'s server with everything it started (a server
    forked by the fork server: since the fork)."""
    import psutil

    home = hub.state / "homes" / name
    for server in hub_processes(hub)["servers"]:
        with contextlib.suppress(psutil.Error):
            if Path(server.cwd()) == home:
                total = 0.0
                for process in [server, *server.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = process.cpu_times()
                        # children_*: children it already waited for (a
                        # subprocess run at start-up), not counted anywhere else.
                        total += times.user + times.system
                        total += times.children_user + times.children_system
                return total
    return None


def one_start(client: httpx.Client, hub: Hub, name: str) -> dict[str, float]:
    """Spawn ``name``'s server, wait until ready, read its CPU, stop it."""
    client.post(f"{hub.api}/users/{name}").raise_for_status()
    begun = time.perf_counter()
    client.post(f"{hub.api}/users/{name}/server").raise_for_status()
    while True:
        server = client.get(f"{hub.api}/users/{name}").json()["servers"].get("")
        if server is None:
            raise RuntimeError(f"{name}'s spawn failed:\n{hub.log_tail()}")
        if server.get("ready"):
            break
        if time.perf_counter() - begun > 120:
            raise RuntimeError(f"{name} not ready after 120 s")
        time.sleep(0.05)
    wall = time.perf_counter() - begun
    at_ready = server_cpu(hub, name) or 0.0
    time.sleep(2)
    settled = server_cpu(hub, name) or 0.0
    client.delete(f"{hub.api}/users/{name}/server")
    while client.get(f"{hub.api}/users/{name}").json()["servers"].get(""):
        time.sleep(0.1)
    return {"wall": wall, "cpu_at_ready": at_ready, "cpu_settled": settled}


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {
        key: {
            "p50": round(statistics.median(r[key] for r in rows), 3),
            "min": round(min(r[key] for r in rows), 3),
            "max": round(max(r[key] for r in rows), 3),
            "p95": round(percentile([r[key] for r in rows], 0.95), 3),
        }
        for key in ("cpu_at_ready", "cpu_settled", "wall")
    } | {"n": len(rows), "samples": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds (1)")
    parser.add_argument(
        "--against", type=Path, help="another labs/trainee-jupyter, side by side"
    )
    parser.add_argument("--importtime", type=Path, help="write -X importtime here")
    parser.add_argument("--profile", type=Path, help="write cProfile data here")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    variants = {"now": str(ROOT / "labs" / "trainee-jupyter")}
    if args.against:
        variants["against"] = str(args.against.resolve())
    wrap = None
    for kind in ("importtime", "profile"):
        folder = getattr(args, kind)
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            wrap = {"kind": kind, "dir": str(folder.resolve())}
    hub = Hub()
    overlay = hub.state / "bench_config.py"
    overlay.write_text(
        OVERLAY.format(config=str(ROOT / "labs" / "jupyterhub_config.py"))
    )
    os.environ["BENCH_VARIANTS"] = json.dumps(variants)
    os.environ["BENCH_WRAP"] = json.dumps(wrap)
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    try:
        hub.start(config=overlay)
        hub.wait_ready()
        headers = {"Authorization": f"token {hub.token}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            for round_ in range(args.warmup + args.rounds):
                order = list(variants)
                if round_ % 2:
                    order.reverse()
                for variant in order:
                    row = one_start(client, hub, f"{variant}-{round_}")
                    log(f"round {round_} {variant}: {json.dumps(row)}")
                    if round_ >= args.warmup:
                        rows[variant].append(row)
    finally:
        hub.stop()
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "variants": {v: {"folder": variants[v], **summary(r)} for v, r in rows.items()},
    }
    if args.against:
        now = result["variants"]["now"]["cpu_settled"]["p50"]
        against = result["variants"]["against"]["cpu_settled"]["p50"]
        result["cpu_ratio_now_to_against"] = round(now / against, 3)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
