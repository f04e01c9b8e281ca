"""`hyper operator` where the operator extra is missing: one line that says what to install,
exit code 2, and no traceback."""

from __future__ import annotations

import io
import sys

import pytest

from hypersearch.cli import main


@pytest.mark.parametrize(
    ("hidden", "named"),
    [(("kopf",), "kopf"), (("kopf", "prometheus_client"), "kopf, prometheus_client")],
)
def test_operator_without_its_extra_names_the_missing_modules_and_the_install_command(
    monkeypatch: pytest.MonkeyPatch, hidden: tuple[str, ...], named: str
) -> None:
    for module in hidden:  # a None entry makes find_spec (and import) see the module as absent
        monkeypatch.setitem(sys.modules, module, None)
    err = io.StringIO()
    code = main(["operator", "--kubeconfig", "/nonexistent"], stderr=err)
    assert code == 2
    assert err.getvalue() == (
        "hyper: hyper operator needs the operator extra, which is not installed here (missing: "
        f"{named}): install it with pip install 'hypersearch[operator]'\n"
    )
