"""The playground's protocol: every message and state field checked, with a clear error."""

import json
from pathlib import Path

import pytest

from neuralab.playground import protocol
from neuralab.playground._config import PRESETS
from neuralab.playground.protocol import ProtocolError, check_changes, parse_message


def _msg(**fields):
    return json.dumps(fields)


@pytest.mark.parametrize("text, match", [
    ("{not json", "malformed JSON"),
    ("[1, 2]", 'must be a JSON object with a "type"'),
    (_msg(kind="play"), 'must be a JSON object with a "type"'),
    (_msg(type="explode"), "unknown message type 'explode'"),
    (_msg(type="play", speed=3), "play: unknown field 'speed'"),
    (_msg(type="ack"), "ack: missing field 'seq'"),
    (_msg(type="ack", seq=-1), "ack.seq must be between 0"),
    (_msg(type="ack", seq="7"), "ack.seq must be an integer"),
    ('{"type": "edit", "layer": 0, "i": 0, "j": 0, "value": NaN}', "not a number JSON allows"),
    (_msg(type="edit", layer=0, i=0, j=0, value=1e9), "edit.value must be a finite number"),
    (_msg(type="set", state=[1]), "set.state must be an object"),
    (_msg(type="upload", csv=7), "upload.csv must be text"),
    (_msg(type="upload", csv="1,2,3\n" * 50_000), "over the limit"),
    (_msg(type="set", state={"seed": 1}, pad="x" * 20_000), "over the limit"),
    (b"\x00\x01", "binary messages are not accepted"),
])
def test_bad_messages_are_refused_with_a_reason(text, match):
    with pytest.raises(ProtocolError, match=match):
        parse_message(text)


def test_good_messages_pass():
    assert parse_message(_msg(type="play")) == {"type": "play"}
    assert parse_message(_msg(type="ack", seq=3.0))["seq"] == 3
    assert parse_message(_msg(type="focus", layer=None, i=0))["layer"] is None
    assert parse_message(_msg(type="upload", csv="1,2,0\n" * 1000))["type"] == "upload"


@pytest.mark.parametrize("changes, match", [
    ({"hidden": [1000]}, r"hidden\[0\] \(neurons\) must be between 1 and 8"),
    ({"hidden": [2] * 7}, "at most 6 hidden layers"),
    ({"points": 10**9}, "points must be between 20 and 2000"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"lr": 0}, "lr must be a finite number between 1e-06 and 10"),
    ({"lr": "0.03"}, "lr must be a number"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"features": []}, "switch on at least one input"),
    ({"features": ["x3"]}, "'x3' is not allowed"),
    ({"showTest": "yes"}, "showTest must be true or false"),
    ({"race": [{"optimizer": "adam", "lr": 0.1}] * 4}, "at most 3 extra runs"),
    ({"race": [{"optimizer": "lbfgs", "lr": 0.1}]}, r"race\[0\].optimizer"),
    ({"race": [{"optimizer": "adam"}]}, r"race\[0\] must be"),
    ({"colour": "red"}, "unknown state field 'colour'"),
    ({"problem": "regression", "dataset": "xor"}, "does not fit problem 'regression'"),
    ({"stepsPerFrame": 101}, "stepsPerFrame must be between 1 and 100"),
    ({"batchSize": 0}, "batchSize must be between 1 and 30"),
])
def test_bad_state_values_name_the_field(changes, match):
    with pytest.raises(ProtocolError, match=match) as exc:
        check_changes(changes, protocol.default_state())
    assert exc.value.field in changes


def test_state_is_normalized():
    s = check_changes({"features": ["sin(x2)", "x1"], "problem": "regression"},
                      protocol.default_state())
    assert s["features"] == ["x1", "sin(x2)"] and s["dataset"] == "reg-plane"
    assert check_changes({"lr": 1}, s)["lr"] == 1.0


def test_presets_are_valid_states():
    for name, preset in PRESETS.items():
        state = check_changes(preset["state"], protocol.default_state())
        assert preset["title"] and preset["lab"] and preset["text"], name
        assert state["dataset"] in protocol.DATASETS[state["problem"]]


def test_the_tables_document_every_field_and_message():
    doc = protocol.__doc__
    for field in protocol.STATE:
        assert field in doc, field
    for message in protocol.MESSAGES:
        assert f"\n{message} " in doc, message
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "neuralab/playground/protocol.py" in readme


def test_the_schema_has_a_label_a_rebuild_group_and_a_condition_per_field():
    from neuralab.playground import _config, session

    for name, entry in protocol.STATE.items():
        kind, default, allowed, label, rebuilds, when = entry
        assert label and rebuilds in ("data", "network", "live", "view"), name
        if when is not None:
            field, values = when
            assert protocol.STATE[field][0] == "choice", name
            assert set(values) <= set(protocol.STATE[field][2]), name
    assert session.DATA_FIELDS == protocol.fields("data") and "seed" in session.DATA_FIELDS
    assert session.NET_FIELDS == protocol.fields("network") and "init" in session.NET_FIELDS
    assert protocol.VIEW_FIELDS == protocol.fields("view")
    assert session.OPTIMIZER_FIELDS == {"optimizer", "beta", "rho", "beta1", "beta2", "eps",
                                        "weightDecay", "damping"}
    # the library's kinds are read from its registries, in the playground's order
    assert protocol.STATE["optimizer"][2] == protocol.OPTIMIZERS
    assert _config.registered("optimizer", ("adam", "no-such", "sgd")) == ("adam", "sgd")
    assert protocol.STATE["activation"][2] == ("relu", "tanh", "sigmoid", "linear", "leaky_relu")
