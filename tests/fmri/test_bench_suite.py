"""bench/suite.py without running a workload (its --quick run takes about a minute): a row's
table cells and the markdown section, the argmax agreement, and --repeat's lower bound."""

from __future__ import annotations

import numpy as np
import pytest

import suite

ROW = {
    "workload": "rs-fMRI MLP", "size": "batch 1", "queries": 6, "online_s": 0.0262, "query_s": 0.0327,
    "rounds": 8.0, "first_query_s": 5.2848, "first_query_online_s": 5.1,
    "registration": {"slots": 4, "bytes": 175_693_160, "server_s": 1.669, "client_s": 1.277},
    "startup": {"server": {"compile_s": 0.9, "inputs_s": 0.1}, "dealer": {"compile_s": 0.9},
                "client": {"compile_s": 0.8}},
    "dealer_s": 0.0407, "dealer_bytes": {"server": 600_000, "client": 640_000},
    "online_bytes_sent": {"server": 15_000, "client": 890_000},
    "peak_memory_bytes": {"server": 1_095_000_000, "client": 524_000_000, "dealer": 483_000_000},
    "session_wall_s": 9.0, "baseline": "onnxruntime", "plaintext_s": 0.0072, "online_ratio": 3.64,
    "query_ratio": 4.54, "correct": "argmax 6/6"}


def test_a_row_becomes_the_table_cells_in_column_order() -> None:
    assert dict(zip(suite.COLUMNS, suite.cells(ROW))) == {
        "workload": "rs-fMRI MLP", "size": "batch 1", "online ms": "26.2", "query ms": "32.7",
        "plain ms": "7.200 (onnxruntime)", "online/plain": "3.6x", "query/plain": "4.5x", "rounds": "8",
        "query 1 ms": "5285", "registration": "175.7 MB, 1669 ms", "start-up s S/D": "1.0/0.9",
        "dealer ms": "40.7", "dealer MB to S/C": "0.60/0.64", "online MB S/C": "0.015/0.890",
        "peak MB S/C/D": "1095/524/483", "correct": "argmax 6/6"}


def test_a_program_without_one_sided_products_shows_no_registration() -> None:
    row = {**ROW, "registration": {"slots": 0, "bytes": 0, "server_s": 0.0, "client_s": 0.0}}
    assert dict(zip(suite.COLUMNS, suite.cells(row)))["registration"] == "-"


def test_the_markdown_section_names_the_machine_and_the_command() -> None:
    about = {"cpu": "AMD EPYC", "cores": "2", "memory": "23.5 GiB", "os": "Linux-6.18", "python": "3.11.7",
             "numpy": "2.4.6", "onnxruntime": "1.32.0", "ezlang": "0.1.0 (git 3e3e201)", "date": "2026-11-22T21:04"}
    lines = suite.markdown([ROW], about, "python bench/suite.py --quick", quick=True).splitlines()
    assert lines[0] == "### Quick run (small sizes; NOT the benchmark), 2026-11-22T21:04"
    assert lines[2] == ("Machine: AMD EPYC, 2 cores, 23.5 GiB RAM; Linux-6.18; Python 3.11.7, numpy 2.4.6, "
                        "onnxruntime 1.32.0, ezlang 0.1.0 (git 3e3e201).")
    assert lines[4] == "Command: `python bench/suite.py --quick`"
    assert lines[6].startswith("| workload ") and lines[8].startswith("| rs-fMRI MLP ")


def test_the_machine_is_read_from_this_one() -> None:
    about = suite.machine()
    assert int(about["cores"]) >= 1 and about["memory"].endswith(" GiB") and about["numpy"] == np.__version__


def test_argmax_agreement_lists_each_disagreement_with_its_float_margin() -> None:
    reference = np.array([[0.0, 1.0, 0.5], [2.0, 1.999, 0.0]])
    secure = np.array([[0.001, 0.998, 0.5], [1.998, 1.9995, 0.0]])
    result = suite.argmax_agreement(secure, reference)
    assert result["correct"] == "argmax 1/2"
    assert result["max_logit_error"] == pytest.approx(0.002)
    assert result["disagreements"] == [{"row": 1, "onnxruntime": 0, "secure": 1,
                                        "float_margin": pytest.approx(0.001)}]


def test_a_session_needs_a_query_after_the_first(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        suite.main(["--repeat", "0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("error: argument --repeat: 0: give at least 1 (query 1 registers "
                                            "the model; the figures are over the queries after it)\n")
