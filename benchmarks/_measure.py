"""Run a command under /usr/bin/time -v and return wall seconds and peak RSS."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path


def machine() -> dict[str, str | int]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version()}


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall time (s) and peak resident memory (MiB) of one run of ``cmd``."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env={**os.environ, **env},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr).group(1))
              for kind in ("User", "System"))
    return {"seconds": round(hours * 3600 + minutes * 60 + seconds, 2),
            "peak_rss_mib": round(rss / 1024, 1), "cpu_seconds": round(cpu, 2),
            "stdout": proc.stdout}
