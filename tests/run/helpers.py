"""Running the three roles for tests: in threads of this process (fast), or as processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Mapping, Sequence

from ezlang import runtime_lib as rl
from ezlang.inputs import InputSource
from ezlang.run.connect import Address, Endpoints
from ezlang.run.local import free_port
from ezlang.run.program import compile_secure
from ezlang.run.role import RoleConfig, RoleFailure, RoleOutcome, execute
from ezlang.syntax import ast
from ezlang.types import Role

ROOT = Path(__file__).resolve().parents[2]


def run_threads(program: ast.Program, bitlen: int, inputs: Mapping[Role, InputSource]) -> dict[int, object]:
    """Each role compiles the program and runs in its own thread; role -> RoleOutcome or RoleFailure."""
    server, dealer = Address("127.0.0.1", free_port()), Address("127.0.0.1", free_port())
    public = {Role.ALL: inputs[Role.ALL]} if Role.ALL in inputs else {}
    configs = {
        rl.ROLE_SERVER: RoleConfig(rl.ROLE_SERVER, Endpoints(listen=server), {**public, Role.SERVER: inputs[Role.SERVER]}),
        rl.ROLE_DEALER: RoleConfig(rl.ROLE_DEALER, Endpoints(listen=dealer, server=server), public),
        rl.ROLE_CLIENT: RoleConfig(rl.ROLE_CLIENT, Endpoints(server=server, dealer=dealer),
                                   {**public, Role.CLIENT: inputs[Role.CLIENT]}),
    }
    results: dict[int, object] = {}

    def play(role: int) -> None:
        compiled = compile_secure(program, bitlen)
        try:
            results[role] = execute(compiled, configs[role])
        except RoleFailure as failure:
            results[role] = failure

    threads = [threading.Thread(target=play, args=(role,)) for role in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def outcome(result: object) -> RoleOutcome:
    assert isinstance(result, RoleOutcome), result
    return result


def ezlang(args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ezlang", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def start(args: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ezlang", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
