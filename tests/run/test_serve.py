"""Sessions: `ezlang serve` keeps a program and its inputs loaded and serves sessions; `ezlang
query` runs many queries over one session. Each query prints what `ezlang interpret` prints for
its CLIENT, a serve pair outlives its sessions, the SERVER reads its weights once, every role's
figures reach JSON (`serve --stats-json`, merged by `query --local --json`), and every failure a
user can meet names who failed and when."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import threading
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from ezlang import runtime_lib as rl
from ezlang.cli import main
from ezlang.inputs import InputReader, InputRequest, InputSource, load_inputs
from ezlang.lib import nn
from ezlang.passes.ranges_format import format_for
from ezlang.run.command import Compiled, compile_program
from ezlang.run.connect import Address, Endpoints
from ezlang.run.local import free_port
from ezlang.run.role import RoleConfig, RoleFailure
from ezlang.run.serve import ClientSession, ServeConfig, SessionEnd, serve
from ezlang.run.session_stats import SessionStats, peak_memory_bytes
from ezlang.source import SourceFile
from ezlang.types import Role

from helpers import ezlang, start

MAIN = """
def void main() {
  input(SERVER, w1, fixed_al[6*4], [-1.0, 1.0]);
  input(SERVER, b1, fixed_al[4], [-1.0, 1.0]);
  input(SERVER, w2, fixed_al[4*3], [-1.0, 1.0]);
  input(SERVER, b2, fixed_al[3], [-1.0, 1.0]);
  input(CLIENT, x, fixed_al[6], [-1.0, 1.0]);
  fixed_al[4] h;
  GemmRelu(1, 6, 4, x, w1, b1, h);
  fixed_al[3] y;
  Gemm(1, 4, 3, h, w2, b2, y);
  output(CLIENT, y)
}
"""


@dataclass(frozen=True)
class Model:
    program: str
    weights: str
    queries: tuple[str, ...]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A 6→4→3 MLP written as `ezlang import` writes one, its weights, three client inputs."""
    folder = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(6)
    (folder / "mlp.ezpc").write_text(nn.source_for(["GemmRelu", "Gemm"]) + MAIN)
    weights = {"w1": 24, "b1": 4, "w2": 12, "b2": 3}
    np.savez(folder / "weights.npz", **{name: rng.uniform(-1, 1, n).astype(np.float32) for name, n in weights.items()})
    for k in range(3):
        (folder / f"c{k + 1}.json").write_text(json.dumps({"x": rng.uniform(-1, 1, 6).round(3).tolist()}))
    return Model(str(folder / "mlp.ezpc"), str(folder / "weights.npz"),
                 tuple(str(folder / f"c{k + 1}.json") for k in range(3)))


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def interpreted(model: Model, client: str) -> str:
    """The CLIENT section `ezlang interpret` prints for one query."""
    code, out, err = cli("interpret", model.program, "--server-inputs", model.weights, "--client-inputs", client)
    assert code == 0, err
    return out[out.index("CLIENT:"):]


def expected_answers(model: Model, clients: tuple[str, ...]) -> str:
    return "\n".join(f"query {n}: {client}\n" + interpreted(model, client) for n, client in enumerate(clients, 1))


def compiled(model: Model) -> Compiled:
    source = SourceFile.read(model.program)
    bitlen, scale = format_for(source)
    return compile_program(source, Namespace(bitlen=bitlen, scale=scale, optimize=True))


def serve_pair(model: Model, *extra: str, figures: Optional[Path] = None) -> tuple[Endpoints, dict[str, subprocess.Popen]]:
    """`ezlang serve` as the server and the dealer; with `figures`, each writes --stats-json ROLE.json there."""
    server, dealer = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    json_flag = {role: ["--stats-json", str(figures / f"{role}.json")] if figures else [] for role in ("server", "dealer")}
    processes = {
        "server": start(["serve", model.program, "--role", "server", "--listen", server,
                         "--server-inputs", model.weights, *extra, *json_flag["server"]]),
        "dealer": start(["serve", model.program, "--role", "dealer", "--listen", dealer, "--connect", server, *extra,
                         *json_flag["dealer"]]),
    }
    address = {name: Address("127.0.0.1", int(text.rsplit(":", 1)[1])) for name, text in (("s", server), ("d", dealer))}
    return Endpoints(server=address["s"], dealer=address["d"]), processes


def finish(processes: dict[str, subprocess.Popen]) -> dict[str, tuple[int, str]]:
    return {role: (p.wait(timeout=60), p.communicate(timeout=60)[1]) for role, p in processes.items()}


def client_inputs(program: Compiled, path: str) -> dict[Role, InputSource]:
    return program.prepared.inputs({Role.CLIENT: load_inputs(path)})


# ---------------------------------------------------------------- answers


def test_query_local_answers_each_query_as_interpret_does_over_one_session(model: Model, tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    run = ezlang(["query", model.program, "--local", "--server-inputs", model.weights, "--client-inputs",
                  *model.queries, "--stats", "--json", str(figures)])
    assert run.returncode == 0, run.stderr
    assert run.stdout == expected_answers(model, model.queries)
    assert "client session: connect" in run.stderr and "[server] ezlang serve: session 1 ended after 3 queries" \
        in run.stderr and "[dealer] ezlang serve: session 1 ended after 3 queries" in run.stderr
    document = json.loads(figures.read_text())
    queries = document["session"]["queries"]
    assert [q["inputs"] for q in queries] == list(model.queries)
    assert [list(a["outputs"]) for a in document["outputs"]] == [["y"]] * 3
    assert all(q["query_s"] >= q["online_s"] > 0 and q["offline_s"] >= 0 for q in queries)
    sent = [q["traffic"]["server"]["bytes_sent"] + q["offline_traffic"]["server"]["bytes_sent"] for q in queries]
    received = [q["traffic"]["server"]["bytes_received"] for q in queries]
    registration = (6 * 4 + 4 * 3) * document["bitlen"] // 8 + 2 * 8  # both masked matrices, one message each
    assert sent[0] == sent[1] == sent[2] and received[0] - registration == received[1] == received[2]
    onesided = document["session"]["onesided"]
    assert (onesided["slots"], onesided["precomputed_hits"]) == (2, 4)  # queries 2 and 3 use the refilled values
    assert document["session"]["median_others"]["count"] == 2
    assert document["startup"]["compile_s"] > 0 and document["peak_memory_bytes"] > 0


def test_query_local_json_holds_the_server_and_the_dealer_figures_from_their_own_processes(
        model: Model, tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    run = ezlang(["query", model.program, "--local", "--server-inputs", model.weights, "--client-inputs",
                  *model.queries[:2], "--json", str(figures)])
    assert run.returncode == 0, run.stderr
    document = json.loads(figures.read_text())
    client = document["session"]["queries"]
    roles = document["roles"]
    assert sorted(roles) == ["dealer", "server"]
    for role, figures_of in roles.items():
        assert figures_of["role"] == role and [s["number"] for s in figures_of["sessions"]] == [1]
        assert figures_of["startup"]["compile_s"] > 0 and figures_of["startup"]["inputs_s"] >= 0
        assert 0 < figures_of["peak_memory_bytes"] < 2**31  # VmHWM: this process since its exec, not the parent
        assert figures_of["sessions"][0]["median_others"]["query_s"] is None  # only the client times a whole query
    server, dealer = (roles[role]["sessions"][0] for role in ("server", "dealer"))
    for k in range(2):  # each side of a channel counts the same bytes
        assert server["queries"][k]["traffic"]["client"]["bytes_sent"] == client[k]["traffic"]["server"]["bytes_received"]
        assert dealer["queries"][k]["offline_traffic"]["client"]["bytes_sent"] == \
            client[k]["offline_traffic"]["dealer"]["bytes_received"]
    assert server["onesided"]["setup_bytes"] == (6 * 4 + 4 * 3) * document["bitlen"] // 8 + 2 * 8


def test_the_server_reads_its_inputs_once_for_every_query_of_every_session(model: Model) -> None:
    reads: list[str] = []
    weights = _Counting(load_inputs(model.weights), reads, model.weights)
    roles = {role: compiled(model) for role in (rl.ROLE_SERVER, rl.ROLE_DEALER, rl.ROLE_CLIENT)}
    server, dealer = Address("127.0.0.1", free_port()), Address("127.0.0.1", free_port())
    configs = {
        rl.ROLE_SERVER: RoleConfig(rl.ROLE_SERVER, Endpoints(listen=server),
                                   roles[rl.ROLE_SERVER].prepared.inputs({Role.SERVER: weights})),
        rl.ROLE_DEALER: RoleConfig(rl.ROLE_DEALER, Endpoints(listen=dealer, server=server), {}),
    }
    ends: dict[int, list[SessionEnd]] = {role: [] for role in configs}
    threads = [threading.Thread(target=serve, args=(roles[role].program, ServeConfig(config, 2, 10_000),
                                                    lambda query: None, lambda n, end, r=role: ends[r].append(end)),
                                daemon=True)  # a failed client must not leave the test run waiting for them
               for role, config in configs.items()]
    for thread in threads:
        thread.start()
    client = roles[rl.ROLE_CLIENT]
    answers = []
    for clients in (model.queries, model.queries[:1]):
        with ClientSession(client.program, Endpoints(server=server, dealer=dealer), 10_000) as session:
            for path in clients:
                run, _, _ = session.query(client_inputs(client, path))
                answers.append(client.prepared.outputs(run.outputs)[0].value)
                session.offline()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(reads) == ["b1", "b2", "w1", "w2"]  # once, in the first query of the first session
    assert all(isinstance(end, SessionStats) for role_ends in ends.values() for end in role_ends)
    assert [len(end.queries) for end in ends[rl.ROLE_SERVER] if isinstance(end, SessionStats)] == [3, 1]
    expected = [json.loads(_value_line(interpreted(model, path))) for path in (*model.queries, model.queries[0])]
    assert answers == expected


@dataclass(frozen=True, eq=False)
class _Counting(InputSource):
    """An InputSource that records the name of every value read from it."""

    inner: InputSource
    reads: list[str]
    origin: str

    def reader(self) -> InputReader:
        return _CountingReader(self.inner.reader(), self.reads)


@dataclass(frozen=True)
class _CountingReader(InputReader):
    inner: InputReader
    reads: list[str]

    def read(self, request: InputRequest) -> Any:
        self.reads.append(request.name)
        return self.inner.read(request)

    def leftovers(self) -> tuple[str, ...]:
        return self.inner.leftovers()


def _value_line(section: str) -> str:
    return section.split(" = ", 1)[1].strip()


def test_one_serve_pair_serves_two_sessions_in_a_row(model: Model, tmp_path: Path) -> None:
    where, processes = serve_pair(model, "--sessions", "2", figures=tmp_path)
    address = ["--connect", str(where.server), "--dealer", str(where.dealer)]
    try:
        first = cli("query", model.program, *address, "--client-inputs", model.queries[2])
        second = cli("query", model.program, *address, "--client-inputs", *model.queries[:2])
    finally:
        results = finish(processes)
    assert first == (0, expected_answers(model, model.queries[2:]), "")
    assert second == (0, expected_answers(model, model.queries[:2]), "")
    for role, (code, stderr) in results.items():
        assert code == 0, stderr
        assert f"ezlang serve: {role} ready: listening on" in stderr
        assert "session 1 ended after 1 query\n" in stderr and "session 2 ended after 2 queries" in stderr
        document = json.loads((tmp_path / f"{role}.json").read_text())  # rewritten after each session
        assert document["role"] == role
        assert [(s["number"], len(s["queries"])) for s in document["sessions"]] == [(1, 1), (2, 2)]


# ---------------------------------------------------------------- failures


def test_a_server_gone_mid_session_fails_the_next_query_naming_role_and_phase(model: Model) -> None:
    where, processes = serve_pair(model, "--sessions", "1")
    client = compiled(model)
    failure: Optional[RoleFailure] = None
    try:
        with ClientSession(client.program, where, 10_000) as session:
            session.query(client_inputs(client, model.queries[0]))
            session.offline()
            processes["server"].send_signal(signal.SIGKILL)
            processes["server"].wait(timeout=10)
            session.query(client_inputs(client, model.queries[1]))
    except RoleFailure as error:
        failure = error
    results = finish(processes)
    assert failure is not None and (failure.role, failure.phase) == ("client", "query 2 (online)")
    assert "server disconnected during online phase" in failure.message, failure.message
    assert str(failure).startswith("client failed during query 2 (online): ")
    code, stderr = results["dealer"]  # it hears of query 2 or not, as the client's send to the server fails first
    assert code == 1 and "ezlang serve: session 1 failed: dealer failed during " in stderr, stderr


def test_a_client_idle_beyond_the_idle_timeout_loses_its_session(model: Model, tmp_path: Path) -> None:
    where, processes = serve_pair(model, "--sessions", "1", "--idle-timeout", "0.5", figures=tmp_path)
    client = compiled(model)
    with pytest.raises(RoleFailure) as failure, ClientSession(client.program, where, 10_000) as session:
        session.query(client_inputs(client, model.queries[0]))
        session.offline()
        results = finish(processes)  # the idle timeout passes while this client waits
        session.query(client_inputs(client, model.queries[1]))
    assert failure.value.phase == "query 2 (online)"
    code, stderr = results["server"]
    idle = "session 1 failed: server failed during idle: no message from client for 0.5 s during idle phase"
    assert code == 1 and idle in stderr, stderr
    assert json.loads((tmp_path / "server.json").read_text())["sessions"] == [
        {"number": 1, "failure": idle.removeprefix("session 1 failed: ")}]


USAGE_ERRORS = {
    "query_missing_client_inputs": (
        ["query", "{program}", "--local", "--server-inputs", "{weights}", "--client-inputs", "{c1}", "absent.json"],
        "ezlang query: error: absent.json: no such file"),
    "query_local_without_server_inputs": (
        ["query", "{program}", "--local", "--client-inputs", "{c1}"],
        "ezlang query: error: the program reads SERVER inputs (`w1`, `b1`, `w2`, ...): give --local --server-inputs F"),
    "query_without_addresses": (
        ["query", "{program}", "--client-inputs", "{c1}"],
        ("ezlang query: error: give --connect SERVER --dealer DEALER, or --local to start the server and the dealer "
         "here")),
    "query_local_with_an_address": (
        ["query", "{program}", "--local", "--server-inputs", "{weights}", "--connect", "127.0.0.1:1",
         "--client-inputs", "{c1}"],
        "ezlang query: error: --local starts the server and the dealer itself: drop --connect"),
    "query_server_inputs_without_local": (
        ["query", "{program}", "--connect", "127.0.0.1:1", "--dealer", "127.0.0.1:2", "--server-inputs", "{weights}",
         "--client-inputs", "{c1}"],
        "ezlang query: error: --server-inputs goes with --local; a served model's inputs stay with `ezlang serve`"),
    "serve_as_client": (
        ["serve", "{program}", "--role", "client", "--connect", "127.0.0.1:1"],
        ("ezlang serve: error: the client does not serve: run its queries with `ezlang query FILE --connect SERVER "
         "--dealer DEALER --client-inputs F ...`")),
    "serve_dealer_with_server_inputs": (
        ["serve", "{program}", "--role", "dealer", "--listen", "127.0.0.1:1", "--connect", "127.0.0.1:2",
         "--server-inputs", "{weights}"],
        "ezlang serve: error: the dealer has no inputs of its own (public inputs: --public-inputs)"),
    "serve_server_without_its_inputs": (
        ["serve", "{program}", "--role", "server", "--listen", "127.0.0.1:1"],
        "ezlang serve: error: the program reads SERVER inputs (`w1`, `b1`, `w2`, ...): give --server-inputs F"),
    "serve_dealer_without_addresses": (
        ["serve", "{program}", "--role", "dealer"],
        "ezlang serve: error: the dealer needs --listen HOST:PORT and --connect HOST:PORT"),
    "serve_stats_json_in_a_missing_folder": (
        ["serve", "{program}", "--role", "dealer", "--listen", "127.0.0.1:1", "--connect", "127.0.0.1:2",
         "--stats-json", "absent/figures.json"],
        "ezlang serve: error: --stats-json absent/figures.json: directory absent does not exist"),
    "query_json_in_a_missing_folder": (
        ["query", "{program}", "--local", "--server-inputs", "{weights}", "--client-inputs", "{c1}",
         "--json", "absent/figures.json"],
        "ezlang query: error: --json absent/figures.json: directory absent does not exist"),
    "serve_idle_timeout_zero": (
        ["serve", "{program}", "--role", "server", "--listen", "127.0.0.1:1", "--idle-timeout", "0"],
        "ezlang serve: error: --idle-timeout 0: give a positive number of seconds"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_flags_that_do_not_fit_are_usage_errors_before_anything_connects(model: Model, case: str) -> None:
    args, message = USAGE_ERRORS[case]
    names = {"program": model.program, "weights": model.weights, "c1": model.queries[0]}
    code, out, err = cli(*(arg.format(**names) for arg in args))
    assert (code, out, err.strip()) == (2, "", message)


def test_an_unreadable_client_inputs_file_ends_the_session_cleanly_after_the_queries_before_it(
        model: Model, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    run = ezlang(["query", model.program, "--local", "--server-inputs", model.weights, "--client-inputs",
                  model.queries[0], str(broken)])
    assert run.returncode == 1
    assert run.stdout == expected_answers(model, model.queries[:1])
    assert f"error[E0625]: {broken}:1:2: invalid JSON" in run.stderr, run.stderr
    assert "[server]" not in run.stderr  # the session ended with END: the server saw no failure


def test_a_serve_process_that_fails_to_start_is_reported_by_query_local(model: Model, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text("[1, 2]")
    started = time.monotonic()
    run = ezlang(["query", model.program, "--local", "--server-inputs", str(wrong), "--client-inputs",
                  model.queries[0]])
    assert run.returncode == 1 and time.monotonic() - started < 30
    assert run.stderr.startswith("ezlang query --local: the server failed (exit 1)\n\nerror[E0625]: "), run.stderr


def test_peak_memory_is_read_from_vmhwm_in_kilobytes(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tezlang\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n")
    assert peak_memory_bytes(status) == 123456 * 1024
    assert peak_memory_bytes(tmp_path / "absent") > 0  # without /proc: ru_maxrss
