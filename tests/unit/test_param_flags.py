"""The CLI's --param forms: NAME=MIN:MAX[:linear|log][:int|float] and NAME=a,b,c."""

from __future__ import annotations

import pytest

from hypersearch.core.errors import SpecError
from hypersearch.core.param_flags import parse_param_flag
from hypersearch.core.params import CategoricalParam, DiscreteParam, FloatParam, IntParam, Param


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("conv2_filter=16:128:int", IntParam("conv2_filter", 16, 128)),
        ("dropout_3=0.001:0.999", FloatParam("dropout_3", 0.001, 0.999)),
        ("lr=1e-4:1e-1:log", FloatParam("lr", 1e-4, 1e-1, "log")),
        ("lr=1e-4:1e-1:log:float", FloatParam("lr", 1e-4, 1e-1, "log")),
        ("batch=8:512:log:int", IntParam("batch", 8, 512, "log")),
        ("batch=8:512:int:log", IntParam("batch", 8, 512, "log")),
        ("shift=-5:5:linear:int", IntParam("shift", -5, 5)),
        ("x=1:10", FloatParam("x", 1.0, 10.0)),
        ("rate=0.001,0.01,0.1", DiscreteParam("rate", (0.001, 0.01, 0.1))),
        ("layers=1,2,4", DiscreteParam("layers", (1, 2, 4))),
        ("mix=1,2.5", DiscreteParam("mix", (1, 2.5))),
        ("optimizer=adam,sgd", CategoricalParam("optimizer", ("adam", "sgd"))),
        ("act=relu,1,tanh", CategoricalParam("act", ("relu", "1", "tanh"))),
        ("fixed=3", DiscreteParam("fixed", (3,))),
        ("keras.units=32,64", DiscreteParam("keras.units", (32, 64))),
        (" spaced = 1 : 2 : int ", IntParam("spaced", 1, 2)),
    ],
)
def test_valid_flags_parse_to_parameters(flag: str, expected: Param) -> None:
    parsed = parse_param_flag(flag)
    assert parsed == expected
    if isinstance(expected, DiscreteParam):
        assert isinstance(parsed, DiscreteParam)
        assert [type(v) for v in parsed.values] == [type(v) for v in expected.values]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("lr=0.1:0.01", "--param lr=0.1:0.01: MIN must be less than MAX, got MIN=0.1, MAX=0.01"),
        ("k=3:3:int", "--param k=3:3:int: MIN must be less than MAX, got MIN=3, MAX=3"),
        (
            "lr=0:1:log",
            "--param lr=0:1:log: log scaling needs MIN > 0, got MIN=0 (use linear, or MIN > 0)",
        ),
        (
            "k=1.5:3:int",
            "--param k=1.5:3:int: MIN must be an integer (the type is int), got '1.5'",
        ),
        ("lr=a:1", "--param lr=a:1: MIN must be a number, got 'a'"),
        ("lr=0.1:", "--param lr=0.1:: MAX must be a number, got ''"),
        (
            "lr=1:2:cubic",
            "--param lr=1:2:cubic: unexpected 'cubic': after MIN:MAX come at most one scaling "
            "(linear or log) and one type (int or float)",
        ),
        (
            "lr=1:2:log:log",
            "--param lr=1:2:log:log: unexpected 'log': after MIN:MAX come at most one scaling "
            "(linear or log) and one type (int or float)",
        ),
        (
            "lr=1:2:log:int:x",
            "--param lr=1:2:log:int:x: expected MIN:MAX[:linear|log][:int|float], got 5 fields",
        ),
        (
            "lr",
            "--param lr: expected NAME=MIN:MAX[:linear|log][:int|float] or NAME=a,b,c",
        ),
        (
            "2lr=1:2",
            "--param 2lr=1:2: NAME must start with a letter or '_' and hold only letters, "
            "digits, '_', '.' or '-' (at most 63 characters), got '2lr'",
        ),
        (
            "rate=0.1,,1",
            "--param rate=0.1,,1: every list item must be non-empty, e.g. rate=0.001,0.01,0.1",
        ),
        (
            "rate=0.1,0.10",
            "--param rate=0.1,0.10: values[1] duplicates values[0] (0.1); list each value once",
        ),
        (
            "opt=adam,adam",
            "--param opt=adam,adam: values[1] duplicates values[0] ('adam'); list each value once",
        ),
    ],
)
def test_invalid_flags_name_the_flag_and_the_fix(flag: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_param_flag(flag)
    assert str(caught.value) == message


def test_every_problem_of_a_flag_is_reported() -> None:
    with pytest.raises(SpecError) as caught:
        parse_param_flag("bad name=x:y")
    assert [p.message.split(" must")[0] for p in caught.value.problems] == ["NAME", "MIN", "MAX"]
