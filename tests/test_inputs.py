"""Party input sources (ezlang.inputs): formats, per-execution lists, every error message."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ezlang.inputs import InputError, InputRequest, InputSource, load_inputs
from ezlang.types import Base, Label, Role, Type

I32 = Type(Base.INT32, Label.AL)
U32 = Type(Base.UINT32, Label.AL)
I64 = Type(Base.INT64, Label.AL)
U64 = Type(Base.UINT64, Label.BL)
BOOL = Type(Base.BOOL, Label.BL)
FLOAT = Type(Base.FLOAT, Label.FL)


def req(name: str, ty: Type = I32, dims: tuple[int, ...] = (), role: Role = Role.SERVER) -> InputRequest:
    return InputRequest(name, role, ty, dims)


def read_one(values: dict, request: InputRequest):
    return InputSource.from_mapping(values).reader().read(request)


def error_of(fn) -> InputError:
    with pytest.raises(InputError) as caught:
        fn()
    return caught.value


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("ty, raw, expected", [
    (I32, 5, 5), (I32, -2**31, -2**31), (I32, 2**32 - 1, -1), (I32, 2**31, -2**31),
    (U32, -1, 2**32 - 1), (U32, -2**31, 2**31), (U32, 2**32 - 1, 2**32 - 1),
    (I64, 2**64 - 1, -1), (U64, -1, 2**64 - 1), (U64, 2**63, 2**63),
    (BOOL, True, True), (BOOL, 0, False), (BOOL, 1, True),
    (FLOAT, 0.1, float(np.float32(0.1))), (FLOAT, 3, 3.0), (FLOAT, -0.0, -0.0),
    (FLOAT, 3.4028235e38, 3.4028234663852886e38),
])
def test_scalars_are_checked_and_made_canonical(ty, raw, expected):
    value = read_one({"x": raw}, req("x", ty))
    assert value == expected and type(value) is type(expected)


def test_float_infinity_and_nan_are_accepted_when_written():
    assert read_one({"x": math.inf}, req("x", FLOAT)) == math.inf
    assert math.isnan(read_one({"x": math.nan}, req("x", FLOAT)))


def test_nested_lists_and_arrays_have_the_requested_shape():
    assert read_one({"w": [[1, 2, 3], [4, 5, 6]]}, req("w", dims=(2, 3))) == [[1, 2, 3], [4, 5, 6]]
    assert read_one({"w": []}, req("w", dims=(0,))) == []
    assert read_one({"w": np.arange(6).reshape(2, 3) - 3}, req("w", U32, (2, 3))) == \
        [[2**32 - 3, 2**32 - 2, 2**32 - 1], [0, 1, 2]]
    assert read_one({"w": np.array([2**64 - 1], dtype=np.uint64)}, req("w", I64, (1,))) == [-1]
    assert read_one({"w": np.array([-1], dtype=np.int64)}, req("w", U64, (1,))) == [2**64 - 1]
    assert read_one({"b": np.array([0, 1, 1])}, req("b", BOOL, (3,))) == [False, True, True]
    assert read_one({"f": np.array([0.5, 2], dtype=np.float64)}, req("f", FLOAT, (2,))) == [0.5, 2.0]
    assert read_one({"s": np.int16(-4)}, req("s")) == -4
    assert read_one({"z": np.zeros((2, 0))}, req("z", dims=(2, 0))) == [[], []]


def test_array_values_are_python_scalars():
    value = read_one({"w": np.array([[7]], dtype=np.int32)}, req("w", dims=(1, 1)))
    assert type(value[0][0]) is int


# ---------------------------------------------------------------- one value per execution


def test_a_list_one_level_deeper_gives_one_value_per_execution():
    reader = InputSource.from_mapping({"x": [10, 20, 30], "row": [[1, 2], [3, 4]]}).reader()
    assert [reader.read(req("x")) for _ in range(3)] == [10, 20, 30]
    assert reader.read(req("row", dims=(2,))) == [1, 2]
    assert reader.leftovers() == ("`row` in <mapping> holds 2 values, one per execution, but only 1 were read",)


def test_numpy_per_execution_values():
    reader = InputSource.from_mapping({"x": np.arange(6).reshape(3, 2)}).reader()
    assert [reader.read(req("x", dims=(2,))) for _ in range(3)] == [[0, 1], [2, 3], [4, 5]]


def test_running_out_of_per_execution_values():
    reader = InputSource.from_mapping({"x": [1, 2]}).reader()
    reader.read(req("x"))
    reader.read(req("x"))
    error = error_of(lambda: reader.read(req("x")))
    assert error.code == "E0624"
    assert error.message == ("input `x` of SERVER (int32_al) from <mapping>: `x` holds 2 value(s), "
                             "one per execution, but the input statement runs 3 times")


def test_a_single_value_cannot_be_read_twice():
    reader = InputSource.from_mapping({"x": [1, 2]}).reader()
    reader.read(req("x", dims=(2,)))
    error = error_of(lambda: reader.read(req("x", dims=(2,))))
    assert error.code == "E0624"
    assert error.message == ("input `x` of SERVER (int32_al[2]) from <mapping>: the input statement "
                             "runs a second time but `x` holds one value")
    assert error.help == "give a list with one value per execution (2 nesting levels instead of 1)"


def test_each_run_starts_afresh():
    source = InputSource.from_mapping({"x": 3})
    assert source.reader().read(req("x")) == 3
    assert source.reader().read(req("x")) == 3


# ---------------------------------------------------------------- error messages


@pytest.mark.parametrize("values, request_, code, message, help_", [
    ({"y": 1}, req("x"), "E0620",
     "input `x` of SERVER (int32_al) from <mapping>: no value named `x` (the file has `y`)", None),
    ({}, req("x", role=Role.CLIENT), "E0620",
     "input `x` of CLIENT (int32_al) from <mapping>: no value named `x` (the file has nothing)", None),
    ({"x": 1.0}, req("x"), "E0621", "input `x` of SERVER (int32_al) from <mapping>: x = 1.0 is not an integer", None),
    ({"x": True}, req("x"), "E0621", "input `x` of SERVER (int32_al) from <mapping>: x = true is not an integer", None),
    ({"x": "5"}, req("x"), "E0621", "input `x` of SERVER (int32_al) from <mapping>: x = '5' is not an integer", None),
    ({"x": 2}, req("x", BOOL), "E0621",
     "input `x` of SERVER (bool_bl) from <mapping>: x = 2 is not a bool (true, false, 0 or 1)", None),
    ({"x": None}, req("x", FLOAT), "E0621",
     "input `x` of SERVER (float_fl) from <mapping>: x = null is not a number", None),
    ({"x": 2**32}, req("x"), "E0622",
     "input `x` of SERVER (int32_al) from <mapping>: x = 4294967296 does not fit in 32 bits",
     "int32 accepts -2147483648 to 4294967295; 2^31 and more are read as their two's complement bits"),
    ({"x": -2**31 - 1}, req("x", U32), "E0622",
     "input `x` of SERVER (uint32_al) from <mapping>: x = -2147483649 does not fit in 32 bits",
     "uint32 accepts -2147483648 to 4294967295; negative values are read as their two's complement bits"),
    ({"x": 1e39}, req("x", FLOAT), "E0622",
     "input `x` of SERVER (float_fl) from <mapping>: x = 1e+39 is outside the single-precision float range", None),
    ({"x": 10**400}, req("x", FLOAT), "E0622",
     f"input `x` of SERVER (float_fl) from <mapping>: x = {10**400} is outside the single-precision float range", None),
    ({"w": [[1, 2], [3]]}, req("w", dims=(2, 2)), "E0623",
     "input `w` of SERVER (int32_al[2][2]) from <mapping>: w[1] has 1 entries, expected 2", None),
    ({"w": [1, [2]]}, req("w", dims=(2,)), "E0621",
     "input `w` of SERVER (int32_al[2]) from <mapping>: w[1] = a list of 1 is not an integer", None),
    ({"w": [[1], 2]}, req("w", dims=(2, 1)), "E0623",
     "input `w` of SERVER (int32_al[2][1]) from <mapping>: w[1] should be a list of 1, found 2", None),
    ({"w": [[[1]]]}, req("w"), "E0623",
     "input `w` of SERVER (int32_al) from <mapping>: `w` has 3 nesting level(s), expected 0 "
     "(shape [] (a scalar)), or 1 for one value per execution", None),
    ({"w": np.zeros(3, dtype=np.int32)}, req("w", dims=(2,)), "E0623",
     "input `w` of SERVER (int32_al[2]) from <mapping>: w has shape [3], expected [2]", None),
    ({"w": np.array([1, 2.5])}, req("w", dims=(2,)), "E0621",
     "input `w` of SERVER (int32_al[2]) from <mapping>: w[0] = 1.0 is not an integer", None),
    ({"w": np.array([[1, 2**40]])}, req("w", dims=(1, 2)), "E0622",
     "input `w` of SERVER (int32_al[1][2]) from <mapping>: w[0][1] = 1099511627776 does not fit in 32 bits",
     "int32 accepts -2147483648 to 4294967295; 2^31 and more are read as their two's complement bits"),
    ({"w": np.array([True])}, req("w", dims=(1,)), "E0621",
     "input `w` of SERVER (int32_al[1]) from <mapping>: w[0] = true is not an integer", None),
    ({"w": np.array([0, 2])}, req("w", BOOL, (2,)), "E0621",
     "input `w` of SERVER (bool_bl[2]) from <mapping>: w[1] = 2 is not a bool (true, false, 0 or 1)", None),
    ({"w": np.array([1e39])}, req("w", FLOAT, (1,)), "E0622",
     "input `w` of SERVER (float_fl[1]) from <mapping>: w[0] = 1e+39 is outside the single-precision float range",
     None),
    ({"w": np.array(["a"])}, req("w", dims=(1,)), "E0621",
     "input `w` of SERVER (int32_al[1]) from <mapping>: w has element type <U1, not numbers", None),
])
def test_keyed_errors(values, request_, code, message, help_):
    error = error_of(lambda: read_one(values, request_))
    assert (error.code, error.message, error.help) == (code, message, help_)
    assert error.diagnostic.code == code and error.diagnostic.span is None


def test_unused_names_are_reported():
    reader = InputSource.from_mapping({"x": 1, "unused": 2}).reader()
    reader.read(req("x"))
    assert reader.leftovers() == ("`unused` in <mapping> was never read",)


# ---------------------------------------------------------------- sequences and text


def test_sequences_are_consumed_in_order_row_major():
    reader = InputSource.from_sequence([1, 2, 3, 4, "5", True, 0.5]).reader()
    assert reader.read(req("a", dims=(2, 2))) == [[1, 2], [3, 4]]
    assert reader.read(req("b")) == 5
    assert reader.read(req("c", BOOL)) is True
    assert reader.read(req("d", FLOAT)) == 0.5
    assert reader.leftovers() == ()


def test_sequence_errors():
    reader = InputSource.from_sequence([1, 2, 3]).reader()
    reader.read(req("a"))
    error = error_of(lambda: reader.read(req("b", dims=(3,))))
    assert (error.code, error.message) == ("E0624", "input `b` of SERVER (int32_al[3]) from <sequence>: "
                                                    "needs 3 value(s) but only 2 are left after the 1 already read")
    error = error_of(lambda: InputSource.from_sequence([1, 2.5]).reader().read(req("v", dims=(1, 2))))
    assert (error.code, error.message) == ("E0621", "input `v` of SERVER (int32_al[1][2]) from <sequence>: "
                                                    "v[0][1] (item 1) = 2.5 is not an integer")
    with pytest.raises(TypeError):
        InputSource.from_sequence([1, [2]])


def test_sequence_leftovers():
    reader = InputSource.from_sequence([1, 2, 3]).reader()
    reader.read(req("a"))
    assert reader.leftovers() == ("2 value(s) at the end of <sequence> were never read (the first is 2 at item 1)",)


def test_text_files(tmp_path):
    path = tmp_path / "client.txt"
    path.write_text("1 -2\n4294967295\ttrue\n\n0.25 nan 1\n0 17\n")
    reader = load_inputs(path).reader()
    assert reader.read(req("a", dims=(3,))) == [1, -2, -1]
    assert reader.read(req("b", BOOL)) is True
    assert reader.read(req("c", FLOAT)) == 0.25
    assert math.isnan(reader.read(req("d", FLOAT)))
    assert reader.read(req("e", BOOL, (2,))) == [True, False]
    assert reader.leftovers() == (f"1 value(s) at the end of {path} were never read (the first is '17' at line 5)",)
    error = error_of(lambda: load_inputs(path).reader().read(req("a", BOOL, (2,))))
    assert error.message == (f"input `a` of SERVER (bool_bl[2]) from {path}: "
                             f"a[1] (line 1) = '-2' is not a bool (true, false, 0 or 1)")
    error = error_of(lambda: load_inputs(path).reader().read(req("a", FLOAT, (5,))))
    assert error.message == f"input `a` of SERVER (float_fl[5]) from {path}: a[3] (line 2) = 'true' is not a number"


def test_any_other_suffix_is_text(tmp_path):
    path = tmp_path / "inputs.dat"
    path.write_text("7")
    assert load_inputs(path).reader().read(req("x")) == 7


# ---------------------------------------------------------------- files


def test_json_files(tmp_path):
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"w": [[1, 2], [3, 4]], "b": [True, False], "n": -3, "f": 1.5}))
    reader = load_inputs(path).reader()
    assert reader.read(req("w", dims=(2, 2))) == [[1, 2], [3, 4]]
    assert reader.read(req("b", BOOL, (2,))) == [True, False]
    assert reader.read(req("f", FLOAT)) == 1.5
    assert reader.leftovers() == (f"`n` in {path} was never read",)
    error = error_of(lambda: load_inputs(path).reader().read(req("f")))
    assert error.message == f"input `f` of SERVER (int32_al) from {path}: f = 1.5 is not an integer"


def test_npz_and_npy_files(tmp_path):
    np.savez(tmp_path / "model.npz", w=np.arange(4, dtype=np.int64).reshape(2, 2), s=np.array(9))
    reader = load_inputs(tmp_path / "model.npz").reader()
    assert reader.read(req("w", I64, (2, 2))) == [[0, 1], [2, 3]]
    assert reader.read(req("s")) == 9
    np.save(tmp_path / "image.npy", np.array([1.0, 2.0], dtype=np.float32))
    reader = load_inputs(tmp_path / "image.npy").reader()
    assert reader.leftovers() == (f"the array in {tmp_path / 'image.npy'} was never read",)
    assert reader.read(req("img", FLOAT, (2,), Role.CLIENT)) == [1.0, 2.0]
    assert reader.leftovers() == ()
    error = error_of(lambda: reader.read(req("other", role=Role.CLIENT)))
    assert (error.code, error.message, error.help) == (
        "E0620", f"input `other` of CLIENT (int32_al) from {tmp_path / 'image.npy'}: "
                 "a .npy file holds one input and it was used for `img`",
        "give several inputs of one party in a .npz or .json file")


def test_npy_per_execution(tmp_path):
    np.save(tmp_path / "xs.npy", np.array([5, 6]))
    reader = load_inputs(tmp_path / "xs.npy").reader()
    assert [reader.read(req("x")), reader.read(req("x"))] == [5, 6]


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", "{\"x\": ", "bad.json:1:7: invalid JSON: Expecting value"),
    ("list.json", "[1, 2]", "list.json must hold a JSON object mapping input names to values"),
    ("bad.npz", "not a zip", "cannot read input file bad.npz: it is not a .npz archive"),
    ("bad.npy", "[1, 2]", "cannot read input file bad.npy: it is not a .npy file"),
    ("bad.txt", b"\xff\xfe", "cannot read input file bad.txt: 'utf-8' codec can't decode byte 0xff "
                             "in position 0: invalid start byte"),
])
def test_unreadable_files(tmp_path, monkeypatch, name, content, message):
    monkeypatch.chdir(tmp_path)
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    else:
        (tmp_path / name).write_text(content)
    error = error_of(lambda: load_inputs(name))
    assert (error.code, error.message) == ("E0625", message)


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    error = error_of(lambda: load_inputs("absent.json"))
    assert (error.code, error.message) == ("E0625", "cannot read input file absent.json: No such file or directory")


def test_pickled_npy_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    error = error_of(lambda: load_inputs("obj.npy"))
    assert error.code == "E0625" and error.message.startswith("cannot read input file obj.npy: ")
