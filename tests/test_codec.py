"""The one wire format of the grading processes (relu_course.grading.codec)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from relu_course.grading import codec
from relu_course.grading.codec import CodecError, decode, dumps, encode, loads


def roundtrip(value):
    """Encode, send as strict JSON text, parse and decode."""
    return loads(dumps(value).decode())


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Exactly equal: type, dtype, shape and every bit (NaN payloads and -0.0 included)."""
    return (
        type(a) is type(b) is np.ndarray
        and a.dtype == b.dtype
        and a.shape == b.shape
        and a.tobytes() == b.tobytes()
    )


SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-310, -1.5, np.finfo(np.float64).max]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "complex128"])
def test_float_arrays_keep_every_bit(dtype):
    with np.errstate(over="ignore"):
        a = np.array(SPECIAL).astype(dtype)
        if a.dtype.kind == "c":
            a.imag = SPECIAL[::-1]
    back = roundtrip(a)
    assert same_array(back, a)
    assert np.signbit(back.real[3])  # -0.0 stays negative
    assert back.flags.writeable and back.flags.c_contiguous


@pytest.mark.parametrize(
    "a",
    [
        np.array([True, False, True]),
        np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64),
        np.array([0, 2**64 - 1], dtype=np.uint64),
        np.arange(-5, 5, dtype=np.int8),
        np.arange(12, dtype=np.uint16).reshape(3, 4),
        np.array(2.5),  # 0-d
        np.array(7, dtype=np.int32),  # 0-d int
        np.zeros((0,)),  # empty
        np.zeros((0, 3), dtype=np.float32),
        np.zeros((2, 0, 4), dtype=np.int16),
        np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1),  # not contiguous
        np.arange(6.0)[::2],
        np.arange(4, dtype=">f8"),  # big-endian in, native out
    ],
    ids=lambda a: f"{a.dtype}{list(a.shape)}",
)
def test_arrays_round_trip(a):
    back = roundtrip(a)
    assert type(back) is np.ndarray
    assert back.dtype == a.dtype.newbyteorder("=")
    assert back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def test_an_array_subclass_arrives_as_a_plain_array():
    class Fake(np.ndarray):
        def __eq__(self, other):  # noqa: ARG002
            return True

    back = roundtrip(np.arange(3.0).view(Fake))
    assert type(back) is np.ndarray
    assert same_array(back, np.arange(3.0))


@pytest.mark.parametrize(
    "scalar", [np.float32(0.5), np.float64(-0.0), np.int64(-3), np.bool_(True), np.uint8(255)]
)
def test_numpy_scalars_stay_scalars(scalar):
    back = roundtrip(scalar)
    assert type(back) is type(scalar)
    assert back.tobytes() == scalar.tobytes()


def test_python_values_and_nesting():
    value = {
        "none": None,
        "flags": [True, False],
        "ints": [0, -1, 2**70],
        "floats": [1.5, -0.0, float("inf"), float("-inf")],
        "text": "ünïcode",
        "tuple": (1, (2, [3]), ()),
        "bytes": b"\x00\xff",
        "nested": {"deeper": [{"x": np.arange(3)}]},
        7: "an int key",
        (1, "a"): "a tuple key",
    }
    back = roundtrip(value)
    assert back.keys() == value.keys()
    assert back["tuple"] == (1, (2, [3]), ())
    assert back["bytes"] == b"\x00\xff"
    assert np.signbit(back["floats"][1]) and back["floats"][2:] == [float("inf"), float("-inf")]
    assert same_array(back["nested"]["deeper"][0]["x"], np.arange(3))
    assert back[(1, "a")] == "a tuple key"
    nan = roundtrip(float("nan"))
    assert isinstance(nan, float) and nan != nan


def test_a_dict_with_the_tag_as_key_is_still_a_dict():
    value = {"@type": "ndarray", "dtype": "float64"}
    assert roundtrip(value) == value


def test_the_wire_is_strict_json():
    text = dumps({"x": np.array([np.nan]), "y": float("nan")}).decode()

    def refuse(name):
        raise AssertionError(f"{name} in the wire text")

    json.loads(text, parse_constant=refuse)
    assert '"@type": "ndarray"' in text and '"@type": "float"' in text


def test_the_tags_are_named():
    assert all(len(tag) > 2 for tag in codec.TAGS)
    assert encode((1,)) == {"@type": "tuple", "items": [1]}
    wire = encode(np.array([[1, 2]], dtype=np.int32))
    assert wire == {
        "@type": "ndarray",
        "dtype": "int32",
        "shape": [1, 2],
        "data": base64.b64encode(np.array([1, 2], dtype="<i4").tobytes()).decode(),
    }


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int32, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
    )
)
def test_any_array_round_trips_bit_for_bit(a):
    assert same_array(roundtrip(a), a)


# ----------------------------------------------------------------------------- rejection


def test_an_unknown_tag_is_rejected_with_the_known_ones():
    with pytest.raises(CodecError, match=r"unknown wire tag 'T' \(known: bytes, dict, .*tuple\)"):
        decode({"x": [{"@type": "T", "b": ""}]})
    with pytest.raises(CodecError, match="unknown wire tag"):
        decode({"@type": ["not", "a", "name"]})


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"@type": "ndarray", "dtype": "object", "shape": [1], "data": ""}, "dtype 'object'"),
        ({"@type": "ndarray", "dtype": "float128", "shape": [], "data": ""}, "dtype"),
        ({"@type": "ndarray", "dtype": "float64", "shape": [2], "data": "AAAA"}, "expected 16"),
        ({"@type": "ndarray", "dtype": "float64", "shape": [-1], "data": ""}, "bad shape"),
        ({"@type": "ndarray", "dtype": "float64", "shape": [True], "data": ""}, "bad shape"),
        ({"@type": "ndarray", "dtype": "float64", "shape": "3", "data": ""}, "bad shape"),
        ({"@type": "ndarray", "dtype": "uint8", "shape": [1], "data": "**"}, "base64"),
        ({"@type": "ndarray", "dtype": "uint8", "shape": [1], "data": 5}, "base64 text"),
        ({"@type": "float", "value": "1.0"}, "bad float"),
        ({"@type": "tuple", "items": "ab"}, "must be a list"),
        ({"@type": "dict", "items": [[1, 2, 3]]}, "pairs"),
        ({"@type": "dict", "items": [[[1], 2]]}, "not hashable"),
    ],
)
def test_malformed_data_is_rejected(wire, message):
    with pytest.raises(CodecError, match=message):
        decode(wire)


def test_caps_on_bytes_and_depth():
    big = encode(np.zeros(1000))
    assert decode(big, max_bytes=8000).shape == (1000,)
    with pytest.raises(CodecError, match="more bytes"):
        decode(big, max_bytes=7999)
    with pytest.raises(CodecError, match="more bytes"):  # the total over a message counts
        decode([big, big], max_bytes=12000)
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(CodecError, match="nest deeper"):
        decode(deep)
    with pytest.raises(CodecError, match="nest deeper"):
        encode(deep)


def test_encode_takes_the_receivers_depth_limit():
    nested: list = [1]  # the 1 is five levels down
    for _ in range(4):
        nested = [nested]
    assert decode(encode(nested, max_depth=5), max_depth=5) == nested
    with pytest.raises(CodecError, match="nest deeper than 4"):
        encode(nested, max_depth=4)


def test_parse_is_strict_json_without_decoding():
    assert codec.parse(b'{"@type": "T", "x": [1.5]}') == {"@type": "T", "x": [1.5]}
    for text in ("[NaN]", '{"x": -Infinity}', "[1,"):
        with pytest.raises(CodecError):
            codec.parse(text)


def test_non_json_and_untagged_non_finite_floats_are_rejected():
    with pytest.raises(CodecError, match="NaN is not JSON"):
        loads('{"x": NaN}')
    with pytest.raises(CodecError, match="not JSON"):
        loads(b"{")
    with pytest.raises(CodecError, match="non-finite"):
        decode(float("inf"))
    with pytest.raises(CodecError, match="not wire data"):
        decode({1, 2})


def test_what_cannot_be_encoded():
    with pytest.raises(CodecError, match="dtype object"):
        encode(np.array([None, 1], dtype=object))
    with pytest.raises(CodecError, match="builtins.set cannot be put on the wire"):
        encode({1, 2})
    with pytest.raises(CodecError, match="cannot be put on the wire"):
        encode(np.array(["a"]))


def test_own_tags_through_hook_and_tags():
    class Handle:
        def __init__(self, n):
            self.n = n

    def hook(value):
        return {"@type": "handle", "n": value.n} if isinstance(value, Handle) else None

    wire = dumps({"h": Handle(3), "x": (Handle(4), 1.0)}, hook=hook)
    back = loads(wire, tags={"handle": lambda d, inner: ("handle", inner(d["n"]))})
    assert back == {"h": ("handle", 3), "x": (("handle", 4), 1.0)}
    with pytest.raises(CodecError, match="unknown wire tag 'handle'"):
        loads(wire)
    with pytest.raises(ValueError, match="codec's own"):
        decode(1, tags={"tensor": lambda d, inner: None})


def test_seen_meets_each_array_and_tensor_in_order():
    """``seen`` is how a process finds the objects it decoded again (the torch RPC applies
    a call's changes to them): depth first, also inside a caller's tags, never a grad."""
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.ones(2))
    w.grad = torch.full((2,), 5.0)

    def hook(value):
        return {"@type": "box", "inner": encode(value.x)} if type(value) is Box else None

    class Box:
        def __init__(self, x):
            self.x = x

    wire = encode([np.zeros(1), {"w": w, "s": np.float64(1.0)}, (Box(np.ones(3)), 7)], hook=hook)
    met = []
    back = decode(wire, tags={"box": lambda d, inner: inner(d["inner"])}, seen=met.append)
    assert len(met) == 3
    assert met[0] is back[0] and met[1] is back[1]["w"] and met[2] is back[2][0]
    assert met[2].tolist() == [1.0, 1.0, 1.0]  # the array inside the caller's own tag
    assert back[1]["w"].grad.tolist() == [5.0, 5.0]  # decoded, but not met: not an object
    decode(wire, tags={"box": lambda d, inner: None}, seen=met.append)
    assert len(met) == 5  # without decode_inner, the box's array is not built nor met


def test_patching_base64_or_json_later_does_not_change_the_wire(monkeypatch):
    want = dumps({"x": np.arange(3.0)})
    monkeypatch.setattr(base64, "b64encode", lambda data: b"forged")
    monkeypatch.setattr(json, "dumps", lambda *a, **k: '"forged"')
    assert dumps({"x": np.arange(3.0)}) == want


# ----------------------------------------------------------------------------- torch


def test_tensors_round_trip():
    torch = pytest.importorskip("torch")
    cases = [
        torch.tensor([np.nan, np.inf, -0.0, 1.5], dtype=torch.float32),
        torch.tensor([1.0, -2.0], dtype=torch.bfloat16),
        torch.tensor([1.0, -0.0], dtype=torch.float16),
        torch.arange(-3, 3, dtype=torch.int64).reshape(2, 3),
        torch.tensor([True, False]),
        torch.tensor(3.25, dtype=torch.float64),  # 0-d
        torch.zeros(0, 3),  # empty
        torch.arange(12.0).reshape(3, 4).t(),  # not contiguous
        torch.tensor([1 + 2j], dtype=torch.complex64).conj(),  # conjugate bit resolved
    ]
    for t in cases:
        back = roundtrip(t)
        assert type(back) is torch.Tensor and back.dtype == t.dtype and back.shape == t.shape
        want = t.resolve_conj().contiguous().reshape(-1)
        assert torch.equal(back.reshape(-1).view(torch.uint8), want.view(torch.uint8))


def test_tensor_flags_parameters_and_grads():
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    (w * 3).sum().backward()
    back = roundtrip({"w": w, "x": torch.ones(2, requires_grad=True), "d": torch.float64})
    assert isinstance(back["w"], torch.nn.Parameter) and back["w"].requires_grad
    assert torch.equal(back["w"].grad, torch.tensor([3.0, 3.0]))
    assert back["x"].requires_grad and back["x"].is_leaf
    assert back["d"] is torch.float64
    assert roundtrip(torch.device("cpu")) == torch.device("cpu")


def test_a_tensor_subclass_cannot_fake_its_values():
    torch = pytest.importorskip("torch")

    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(2)

    back = roundtrip(torch.tensor([5.0, 6.0]).as_subclass(Liar))
    assert type(back) is torch.Tensor and back.tolist() == [5.0, 6.0]


def test_malformed_tensors_are_rejected():
    torch = pytest.importorskip("torch")
    good = codec.encode_tensor(torch.ones(2))
    assert decode(good).tolist() == [1.0, 1.0]
    for change, message in [
        ({"dtype": "float128"}, "dtype"),
        ({"shape": [3]}, "expected 12 bytes"),
        ({"requires_grad": "yes"}, "booleans"),
        ({"dtype": "int64", "data": base64.b64encode(bytes(16)).decode()}, None),
        ({"grad": {"@type": "ndarray", "dtype": "float32", "shape": [2], "data": ""}}, "grad"),
    ]:
        wire = dict(good, **change)
        if message is None:
            assert decode(wire).tolist() == [0, 0]
            wire["requires_grad"] = True
            message = "cannot require gradients"
        with pytest.raises(CodecError, match=message):
            decode(wire)
