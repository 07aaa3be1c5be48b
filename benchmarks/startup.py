"""How long `python app.py` takes from launch to its first answer (target: under 5 s once
installed and the database exists).

    python -m benchmarks.startup [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_response_seconds(port: int, extra_env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **extra_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("app.py exited before answering")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING"}
    first_response_seconds(free_port(), env)  # warm-up: migrates and seeds the demo database once
    runs = [first_response_seconds(free_port(), env) for _ in range(args.runs)]
    result = {"runs_s": [round(r, 3) for r in runs], "median_s": round(statistics.median(runs), 3), "target_s": 5.0}
    print(json.dumps(result) if args.json else f"first response: median {result['median_s']} s over {args.runs} runs")


if __name__ == "__main__":
    main()
