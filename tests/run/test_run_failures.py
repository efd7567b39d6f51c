"""Failures stop every role with a message naming who failed: a handshake mismatch, a killed
client, and operations the secure runtime refuses at compile time."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from ezlang.run.local import free_port

from helpers import ezlang, start

FOREVER = """
def void main() {
  input(SERVER, a, int32_al);
  input(CLIENT, b, int32_al);
  int32_al x = a;
  while (true) {
    x = x * b
  };
  output(ALL, x)
}
"""
UNSUPPORTED = """
def void main() {
  input(SERVER, a, int32_al);
  input(CLIENT, b, int32_al);
  float_fl c = 1.5;
  float_fl d = c * c;
  output(CLIENT, a / b);
  output(CLIENT, d)
}
"""


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def roles(server_program: str, other_program: str, folder: Path, timeout: str = "10") -> dict:
    server, dealer = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    inputs = {"s": write(folder, "s.json", json.dumps({"a": 3})), "c": write(folder, "c.json", json.dumps({"b": 5}))}
    common = ["--timeout", timeout]
    return {
        "server": start(["run", server_program, "--role", "server", "--listen", server, "--inputs", inputs["s"],
                         *common]),
        "dealer": start(["run", other_program, "--role", "dealer", "--listen", dealer, "--connect", server, *common]),
        "client": start(["run", other_program, "--role", "client", "--connect", server, "--dealer", dealer,
                         "--inputs", inputs["c"], *common]),
    }


def finish(processes: dict) -> dict:
    return {role: (p.wait(timeout=60), p.communicate(timeout=60)[1]) for role, p in processes.items()}


def test_a_different_program_fails_the_handshake_naming_both_hashes(tmp_path: Path) -> None:
    program = write(tmp_path, "a.ezpc", FOREVER)
    other = write(tmp_path, "b.ezpc", FOREVER.replace("x * b", "x + b"))
    results = finish(roles(program, other, tmp_path, timeout="3"))  # the dealer waits for a client that left
    assert all(code == 1 for code, _ in results.values()), results
    server_err = results["server"][1]
    assert "program hash differs: this server runs" in server_err, server_err
    assert "ezlang run: server failed during connection" in server_err


def test_a_killed_client_stops_the_server_and_the_dealer(tmp_path: Path) -> None:
    program = write(tmp_path, "forever.ezpc", FOREVER)
    processes = roles(program, program, tmp_path, timeout="60")
    time.sleep(3)  # long enough to be in the endless online loop; not an assertion on time
    processes["client"].send_signal(signal.SIGKILL)
    results = finish(processes)
    assert results["client"][0] == -signal.SIGKILL
    server_code, server_err = results["server"]
    assert server_code == 1 and "server failed during online" in server_err, server_err
    assert "client disconnected" in server_err, server_err
    dealer_code, dealer_err = results["dealer"]
    assert dealer_code == 1 and "dealer failed during online" in dealer_err, dealer_err


def test_unsupported_operations_are_refused_at_compile_time(tmp_path: Path) -> None:
    program = write(tmp_path, "u.ezpc", UNSUPPORTED)
    result = ezlang(["run", program, "--local", "--server-inputs", "examples/inputs/millionaires.server.json"])
    assert result.returncode == 1
    assert "error[E0701]: the secure runtime does not support these 4 operations of this program yet" in result.stderr
    assert f"{program}:5:3: secret float variable" in result.stderr
    assert f"{program}:6:16: secret `*` on float" in result.stderr
    assert ":7:" not in result.stderr  # secret `/` is supported
    assert result.stdout == ""


def test_local_run_reports_the_failing_role_and_phase(tmp_path: Path) -> None:
    program = write(tmp_path, "a.ezpc", FOREVER.replace("while (true)", "for i = [0:2]"))
    result = ezlang(["run", program, "--local", "--server-inputs", write(tmp_path, "s.json", "{}"),
                     "--client-inputs", write(tmp_path, "c.json", json.dumps({"b": 5}))])
    assert result.returncode == 1
    assert "ezlang run --local: the server failed (exit 1)" in result.stderr, result.stderr
    assert "server failed during online" in result.stderr
