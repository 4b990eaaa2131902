"""The object RPC's wire (relu_course.grading.torch_wire): the grading codec's tags plus
its own (module, handle, stand-in, argument, opaque), identity tracking, strict pipes."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import torch
from torch import nn

from relu_course.grading import codec, torch_layers
from relu_course.grading import torch_wire as tw
from relu_course.grading.torch_wire import Decoder, Encoder, Opaque, RemoteError


def over_json(data):
    """What crosses the pipe: strict JSON text, parsed back."""
    return json.loads(json.dumps(data, allow_nan=False))


def test_the_rpc_tags_are_named_and_do_not_clash_with_the_codec():
    assert tw.TAGS == {"module", "handle", "stand-in", "argument", "opaque"}
    assert not tw.TAGS & codec.TAGS
    wire = Encoder()([torch.ones(1), np.zeros(2), (1, float("nan")), torch.float64])
    assert [w[codec.TAG] for w in wire] == ["tensor", "ndarray", "tuple", "torch-dtype"]
    assert wire[2]["items"][1] == {"@type": "float", "value": "nan"}
    text = json.dumps(wire, allow_nan=False)
    assert '"T"' not in text and '"N"' not in text


def test_arguments_are_recorded_in_the_same_order_on_both_sides():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    args = [torch.arange(3.0), {"a": np.arange(4), "n": np.float32(2.0)}, model, (torch.ones(2),)]
    enc = Encoder()
    wire = over_json(enc(args))
    dec = Decoder()
    back = dec(wire)
    # the tensors inside the model's description are not arguments of their own
    assert [type(o) for o in enc.objs] == [torch.Tensor, np.ndarray, nn.Sequential, torch.Tensor]
    assert [type(o) for o in dec.objs] == [torch.Tensor, np.ndarray, nn.Sequential, torch.Tensor]
    assert dec.objs[0] is back[0] and dec.objs[1] is back[1]["a"] and dec.objs[2] is back[2]
    assert back[1]["n"] == np.float32(2.0) and type(back[1]["n"]) is np.float32
    assert torch.equal(back[2][0].weight, model[0].weight)
    assert isinstance(back[2][0].weight, nn.Parameter)


def test_a_module_with_a_handle_child_round_trips():
    """The judge sends a model whose middle layer lives in the student's process: the
    student's copy holds that very layer."""
    from relu_course.grading.torch_wire import handle_ref

    class Remote(nn.Module):  # the judge's stand-in of the student's layer
        remote_handle = 7

        def forward(self, x):
            return x

    judge_model = nn.Sequential(nn.Linear(2, 2), Remote(), nn.Tanh())
    wire = over_json(Encoder()(judge_model))
    assert wire[codec.TAG] == "module"
    assert wire["children"][1] == ["1", handle_ref(7)]
    students_layer = nn.Softsign()
    dec = Decoder(handles={7: students_layer})
    rebuilt = dec(wire)
    assert rebuilt[1] is students_layer
    assert type(rebuilt[0]) is nn.Linear and type(rebuilt[2]) is nn.Tanh
    assert dec.objs == [rebuilt]  # the layers inside are not arguments of their own
    with pytest.raises(RemoteError, match="unexpected module reference"):
        Decoder(handles={8: students_layer})(wire)
    with pytest.raises(RemoteError, match="unexpected module reference"):
        Decoder()(wire)  # the judge holds no handles


def test_a_layer_the_judge_cannot_rebuild_comes_back_as_a_stand_in():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor([2.0]))

        def forward(self, x):
            return x * self.scale

    result = nn.Sequential(nn.Linear(1, 1), Custom())
    handles = {}

    def describe(m):
        handles[len(handles) + 1] = m
        return torch_layers.enc_stand_in(len(handles), m)

    wire = over_json(Encoder(handles=describe, reverse=True)(result))
    assert wire["children"][1][1][codec.TAG] == "stand-in"
    stand_ins = []

    def remote(s):
        stand_ins.append(s)
        return nn.Identity()

    back = Decoder(remote=remote)(wire)
    (s,) = stand_ins
    assert (s.handle, s.cls, s.training) == (1, "Custom", True)
    assert [n for n, _ in s.params] == ["scale"] and torch.equal(
        s.params[0][1], torch.tensor([2.0])
    )
    assert type(back[1]) is nn.Identity and handles[1] is result[1]


def test_a_result_that_is_an_argument_is_that_same_object():
    x, w = torch.zeros(2), np.ones(3)
    enc = Encoder()
    enc.refs = [x, w]
    wire = over_json(enc({"out": w, "same": [x, x.clone()]}))
    assert wire["out"] == {"@type": "argument", "index": 1}
    back = Decoder(refs=[x, w])(wire)
    assert back["out"] is w and back["same"][0] is x and back["same"][1] is not x
    with pytest.raises(RemoteError, match="no argument 2"):
        Decoder(refs=[x, w])({"@type": "argument", "index": 2})
    with pytest.raises(RemoteError, match="no argument"):
        Decoder(refs=[x])({"@type": "argument", "index": True})


def test_what_cannot_cross_is_opaque_from_the_student_and_refused_by_the_judge():
    from enum import IntEnum

    class Colour(IntEnum):
        RED = 3

    class Sub(np.ndarray):
        pass

    class MyList(list):
        pass

    student = Encoder(handles=lambda m: None, reverse=True)
    back = Decoder()(
        over_json(student([Colour.RED, {1, 2}, MyList([1]), np.arange(2.0).view(Sub)]))
    )
    colour, a_set, a_list, array = back
    assert isinstance(colour, Opaque) and colour.value == 3 and "Colour" in colour.type_name
    assert isinstance(a_set, Opaque) and a_set.type_name == "builtins.set" and a_set.value is None
    assert isinstance(a_list, Opaque) and "MyList" in repr(a_list)
    assert type(array) is np.ndarray  # an array subclass of the student's crosses as plain data
    for value in ({1, 2}, MyList([1]), np.arange(2.0).view(Sub), np.array(["a"])):
        with pytest.raises(TypeError, match="cannot be sent to the student process"):
            Encoder()(value)
    with pytest.raises(TypeError):
        Encoder()(nn.Sequential(nn.Linear(1, 1), nn.Module()))  # a layer it cannot rebuild
    with pytest.raises(RemoteError, match="bad opaque"):
        Decoder()({"@type": "opaque", "type": "x", "value": [1]})


def test_the_state_after_a_call_is_applied_to_the_judges_own_objects():
    t = torch.zeros(3, requires_grad=True)
    a = np.zeros(2)
    student_t = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    student_t.grad = torch.ones(3)
    tw.apply_state(t, over_json(codec.encode_tensor(student_t)))
    assert torch.equal(t.detach(), student_t.detach()) and torch.equal(t.grad, torch.ones(3))
    tw.apply_state(a, over_json(codec.encode_array(np.array([4.0, 5.0]))))
    assert a.tolist() == [4.0, 5.0]
    with pytest.raises(RemoteError, match="came back as something else"):
        tw.apply_state(a, over_json(codec.encode_tensor(torch.zeros(2))))
    with pytest.raises(RemoteError, match="unknown wire tag 'opaque'"):
        tw.apply_state(a, {"@type": "opaque", "type": "x"})


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"@type": "T", "dt": "float32"}, "unknown wire tag 'T'"),
        ({"@type": "module", "cls": "Bilinear"}, "cannot be rebuilt"),
        ({"@type": "module", "cls": "ReLU", "hooks": 10**9}, "bad hooks"),
        ({"@type": "module", "cls": "ReLU", "training": "yes"}, "bad training"),
        ({"@type": "module", "cls": "Linear", "attrs": {"in_features": [1]}}, "Linear.in_features"),
        ({"@type": "module", "cls": "Linear", "attrs": {"in_features": -1, "out_features": 1}},
         "cannot be rebuilt"),
        ({"@type": "module", "cls": "ReLU", "params": [["w", {"@type": "ndarray"}]]}, "bad params"),
        ({"@type": "module", "cls": "ReLU", "children": [["0", 1]]}, "bad children"),
        ({"@type": "tensor", "dtype": "float32", "shape": [2], "data": "AAAAAAAAAAAAAAAA"},
         "expected 8 bytes, got 12"),
        ({"@type": "ndarray", "dtype": "object", "shape": [], "data": ""}, "may not cross"),
        ({"@type": "stand-in", "handle": 1}, "unexpected module reference"),
    ],
)  # fmt: skip
def test_a_hostile_value_is_a_remote_error(wire, message):
    with pytest.raises(RemoteError, match=message):
        Decoder()(wire)


def test_the_pipe_carries_strict_json_under_a_size_cap():
    r, w = os.pipe()
    try:
        tw.send_message(w, Encoder()({"x": float("inf"), "t": torch.tensor([float("nan")])}))
        back = Decoder()(tw.recv_message(r))
        assert back["x"] == float("inf") and torch.isnan(back["t"]).all()
        with pytest.raises(ValueError):
            tw.send_message(w, {"x": float("nan")})  # only tagged non-finite floats
        for text in (b'{"x": NaN}', b"[Infinity]", b"{not json"):
            os.write(w, struct.pack(">Q", len(text)) + text)
            with pytest.raises(RemoteError, match="bad data"):
                tw.recv_message(r)
        os.write(w, struct.pack(">Q", tw.MAX_MESSAGE + 1))
        with pytest.raises(RemoteError, match="limit"):
            tw.recv_message(r)
    finally:
        os.close(r)
        os.close(w)


def test_a_field_of_a_message_must_be_what_it_claims():
    assert tw.decode_field(codec.encode(b"\x01\x02"), bytes) == b"\x01\x02"
    with pytest.raises(RemoteError, match="where it may not"):
        tw.decode_field([1], bytes)
    with pytest.raises(RemoteError, match="bad base64"):
        tw.decode_field({"@type": "bytes", "data": "%%"}, bytes)
