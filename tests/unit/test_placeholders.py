"""``:name:`` placeholders: found, formatted and replaced without a shell."""

from __future__ import annotations

import numpy as np
import pytest

from hypersearch.core.placeholders import (
    format_value,
    placeholders_in,
    substitute,
    substitute_text,
)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (":lr:", {"lr"}),
        ("--lr=:lr: --units=:units:", {"lr", "units"}),
        (":a::b:", {"a", "b"}),
        (":keras.units: :drop-out:", {"keras.units", "drop-out"}),
        ("http://host:8080/x", set()),
        ("%H:%M:%S", set()),
        (": spaced :", set()),
        ("", set()),
    ],
)
def test_placeholders_in_finds_every_name(text: str, names: set[str]) -> None:
    assert placeholders_in(text) == names


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (-7, "-7"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (0.1 + 0.2, "0.30000000000000004"),
        (2.0, "2.0"),
        (123456789.123456789, "123456789.12345679"),
        ("adam", "adam"),
        ("with space", "with space"),
        (True, "true"),
        (np.float64(0.25), "0.25"),
        (np.int64(64), "64"),
    ],
)
def test_format_value_keeps_full_precision_and_ints_as_ints(value: object, text: str) -> None:
    assert format_value(value) == text


def test_substitute_replaces_whole_and_embedded_placeholders() -> None:
    argv = ["python", "train.py", "--units", ":units:", "--lr=:lr:", "--tag=:opt:-:units:"]
    params = {"units": 64, "lr": 1e-4, "opt": "adam"}
    assert substitute(argv, params) == [
        "python",
        "train.py",
        "--units",
        "64",
        "--lr=0.0001",
        "--tag=adam-64",
    ]


def test_values_with_shell_characters_stay_one_argument() -> None:
    assert substitute(["--name", ":n:"], {"n": "a b; rm -rf $HOME"}) == [
        "--name",
        "a b; rm -rf $HOME",
    ]


def test_unknown_placeholders_and_other_text_are_left_alone() -> None:
    assert substitute([":nope:", "--at=12:30:00"], {"lr": 0.1}) == [":nope:", "--at=12:30:00"]
    assert substitute_text("x=:x:", {}) == "x=:x:"


def test_substitute_returns_a_new_list() -> None:
    argv = [":x:"]
    assert substitute(argv, {"x": 1}) == ["1"]
    assert argv == [":x:"]
