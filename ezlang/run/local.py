"""`ezlang run --local`: the three roles as three processes on loopback, for trying and testing.

Why: a secure run needs three programs that find each other; locally the ports can be chosen
for them. Each role is a real `ezlang run --role R` process, so what runs here is what runs
across machines.

Assumes: the program was checked by the caller (so its errors are shown once, not three times).
Guarantees: `run_local` waits for the three processes; if one fails, the others get a short
grace to report their own view of the failure and are then killed, so nothing hangs past the
channel timeout; the result carries each role's exit code, stderr and, on success, the parties'
output texts and stats. Temporary files live in a directory removed on return.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ezlang.passes.pipeline import DEFAULT_SCALE
from ezlang.run.role import RoleStats

ROLES = ("server", "dealer", "client")
POLL_SECONDS = 0.02
GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class LocalRole:
    role: str
    exit_code: int
    stderr: str
    outputs: str
    stats: Optional[RoleStats]


@dataclass(frozen=True)
class LocalRun:
    roles: tuple[LocalRole, ...]
    first_failure: Optional[str]  # the role that failed first, if any

    @property
    def ok(self) -> bool:
        return self.first_failure is None

    def role(self, name: str) -> LocalRole:
        return next(r for r in self.roles if r.role == name)


def free_port() -> int:
    """A port free at this moment (the role binds it a moment later; loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def role_arguments(program: str, inputs: dict[str, Optional[str]], public: Optional[str], bitlen: int,
                   timeout: float, scale: int = DEFAULT_SCALE, optimize: bool = True) -> dict[str, list[str]]:
    """The command line of each role (after `ezlang run PROGRAM`)."""
    server, dealer = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    common = ["--bitlen", str(bitlen), "--scale", str(scale), "--timeout", str(timeout)] + \
        (["--public-inputs", public] if public else []) + ([] if optimize else ["--no-optimize"])
    args = {"server": ["--listen", server], "dealer": ["--listen", dealer, "--connect", server],
            "client": ["--connect", server, "--dealer", dealer]}
    for role in ROLES:
        args[role] = [program, "--role", role, *args[role], *common]
        if inputs.get(role):
            args[role] += ["--inputs", str(inputs[role])]
    return args


def run_local(program: str, inputs: dict[str, Optional[str]], public: Optional[str], bitlen: int,
              timeout: float = 10.0, *, scale: int = DEFAULT_SCALE, optimize: bool = True) -> LocalRun:
    with tempfile.TemporaryDirectory(prefix="ezlang-run-") as scratch:
        folder = Path(scratch)
        processes = {}
        for role, args in role_arguments(program, inputs, public, bitlen, timeout, scale, optimize).items():
            args += ["--outputs", str(folder / f"{role}.out"), "--stats-json", str(folder / f"{role}.json")]
            stderr = open(folder / f"{role}.err", "w", encoding="utf-8")
            processes[role] = subprocess.Popen([sys.executable, "-m", "ezlang", "run", *args],
                                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
            stderr.close()
        first = _wait(processes)
        return LocalRun(tuple(_collect(role, processes[role].returncode, folder) for role in ROLES), first)


def _wait(processes: dict[str, subprocess.Popen]) -> Optional[str]:
    """Waits for every process; after the first failure, the rest get a grace period, then a kill."""
    first: Optional[str] = None
    deadline: Optional[float] = None
    while any(p.poll() is None for p in processes.values()):
        if first is None:
            first = next((role for role, p in processes.items() if p.returncode not in (None, 0)), None)
            if first is not None:
                deadline = time.monotonic() + GRACE_SECONDS
        if deadline is not None and time.monotonic() > deadline:
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
        time.sleep(POLL_SECONDS)
    if first is None:
        first = next((role for role, p in processes.items() if p.returncode != 0), None)
    return first


def _collect(role: str, code: int, folder: Path) -> LocalRole:
    stats_file, outputs_file = folder / f"{role}.json", folder / f"{role}.out"
    stats = RoleStats.from_json(json.loads(stats_file.read_text())) if stats_file.exists() else None
    outputs = outputs_file.read_text(encoding="utf-8") if outputs_file.exists() else ""
    return LocalRole(role, code, (folder / f"{role}.err").read_text(encoding="utf-8"), outputs, stats)
