"""The hosted-tool dialect: flags make the same spec a manifest would; mistakes name the flag."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
import yaml
from builders import manifest

from hypersearch.cli import SUBCOMMANDS, build_parser, main, split_command
from hypersearch.cli.dialect import (
    DIALECT_ALGORITHMS,
    LOCAL_IMAGE,
    default_search_name,
    dialect_spec,
)
from hypersearch.core.errors import SpecError
from hypersearch.core.manifest import parse_manifest
from hypersearch.core.params import FloatParam, IntParam

CNN = [
    "bayesian",
    "-t",
    "K80",
    "--param",
    "conv2_filter=16:128:int",
    "--param",
    "dropout_3=0.001:0.999",
    "--num-runs",
    "21",
    "--parallel-runs",
    "3",
    "--metric",
    "keras/val_acc",
    "--metric-agg",
    "last",
    "--",
    "python",
    "cifar10_cnn.py",
    "--conv2_filter",
    ":conv2_filter:",
    "--dropout_3=:dropout_3:",
]


def parse(argv: list[str]) -> argparse.Namespace:
    flags, command = split_command(argv)
    args = build_parser().parse_args(flags)
    args.command = command
    return args


def test_the_motivating_command_becomes_the_expected_spec() -> None:
    spec = dialect_spec(parse(CNN), "bayesian")
    assert spec.name == "cifar10-cnn-bayesian"
    assert spec.space.params == (
        IntParam("conv2_filter", 16, 128),
        FloatParam("dropout_3", 0.001, 0.999),
    )
    assert (spec.max_trials, spec.parallelism, spec.max_failed_trials) == (21, 3, 3)
    assert (spec.objective.metric, spec.objective.goal, spec.objective.aggregation) == (
        "keras/val_acc",
        "maximize",
        "last",
    )
    assert spec.trial.machine_type == "K80"
    assert spec.trial.template["spec"]["containers"] == [
        {"name": "trainer", "image": LOCAL_IMAGE, "command": CNN[CNN.index("--") + 1 :]}
    ]


@pytest.mark.parametrize(
    ("argv", "flags", "command"),
    [
        (
            ["bayesian", "-m", "a", "--", "python", "t.py", "--", "x"],
            3,
            ["python", "t.py", "--", "x"],
        ),
        (["random", "-m", "a"], 3, None),
        (["run", "f.yaml", "--", "x"], 4, None),
    ],
)
def test_split_command_cuts_at_the_first_double_dash_of_dialect_commands(
    argv: list[str], flags: int, command: list[str] | None
) -> None:
    assert split_command(argv) == (argv[:flags], command)


@pytest.mark.parametrize(
    ("command", "algorithm", "name"),
    [
        (["python", "cifar10_cnn.py", "--x", ":x:"], "bayesian", "cifar10-cnn-bayesian"),
        (["python", "dir/Train.Model.py"], "grid", "train-model-grid"),
        (["./run.sh", ":x:"], "random", "run-sh-random"),
        (["/usr/bin/___"], "random", "search-random"),
        (["python", "x" * 80 + ".py"], "bayesian", "x" * 41 + "-bayesian"),
    ],
)
def test_default_search_name_comes_from_the_script_and_algorithm(
    command: list[str], algorithm: str, name: str
) -> None:
    assert default_search_name(command, algorithm) == name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["random", "--param", "x=0:1", "--metric", "m", "--", "t"],
            "--num-runs is required for random (how many trials to run), e.g. --num-runs 20",
        ),
        (
            ["grid", "--param", "x=0:1", "--metric", "m", "--", "t"],
            "--param x=0:1 is a float range, which a grid cannot enumerate; list the values "
            "instead (e.g. --param x=0,0.5,1) or make it an int range (--param x=0:1:int)",
        ),
        (
            ["grid", "--param", "x=0:1", "-n", "3", "--metric", "m", "--", "t"],
            "--param x=0:1 is a float range, which a grid cannot enumerate; list the values "
            "instead (e.g. --param x=0,0.5,1) or make it an int range (--param x=0:1:int)",
        ),
        (
            ["random", "-p", "lr=0:1", "-p", "lr=1:2", "-n", "2", "-m", "m", "--", "t", ":lr:"],
            "--param lr=1:2 (spec.parameters[1].name) duplicates spec.parameters[0].name ('lr'); "
            "give each parameter its own name",
        ),
        (
            ["random", "--num-runs", "2", "--metric", "m", "--", "t"],
            "--param is missing: give at least one, e.g. --param x=0:1",
        ),
        (
            ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--manifest", "--", "t"],
            "--image is required with --manifest: on a cluster the command runs in a container "
            "image that holds your training code, e.g. --image "
            "registry.example.com/team/trainer:1.0",
        ),
        (
            ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--submit", "--", "t"],
            "--image is required with --submit: on a cluster the command runs in a container "
            "image that holds your training code, e.g. --image "
            "registry.example.com/team/trainer:1.0",
        ),
    ],
)
def test_dialect_mistakes_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(SpecError) as err:
        dialect_spec(parse(argv), next(a for a in DIALECT_ALGORITHMS if a == argv[0]))
    assert str(err.value) == message


def test_problems_found_by_the_manifest_parser_name_the_flag_too() -> None:
    argv = ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--name", "Bad_Name", "--", "t"]
    with pytest.raises(SpecError) as err:
        dialect_spec(parse(argv), "random")
    assert str(err.value).startswith("--name (metadata.name) must be lowercase letters")


def test_a_placeholder_without_a_parameter_names_the_command_argument() -> None:
    argv = ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--", "t", ":y:"]
    with pytest.raises(SpecError) as err:
        dialect_spec(parse(argv), "random")
    assert str(err.value) == (
        "the command after -- (argument 1) uses placeholder :y:, which no parameter declares "
        "(parameters: x); add it with --param or correct it"
    )


def test_main_exits_2_with_the_message_for_a_missing_command() -> None:
    err = io.StringIO()
    code = main(["random", "--param", "x=0:1", "-n", "2", "-m", "m"], stderr=err)
    assert code == 2
    assert err.getvalue().startswith("hyper: hyper random: the training command is missing; put")


def test_main_exits_2_for_a_missing_manifest_file(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["run", str(tmp_path / "nope.yaml")], stderr=err)
    assert code == 2
    assert err.getvalue() == (
        f"hyper: {tmp_path / 'nope.yaml'}: cannot read the manifest: No such file or directory\n"
    )


def test_manifest_output_is_yaml_for_the_same_spec(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*CNN[: CNN.index("--")], "--image", "reg/img:1", "--manifest", *CNN[CNN.index("--") :]]
    assert main(argv) == 0
    text = capsys.readouterr().out
    doc = yaml.safe_load(text)
    assert doc["spec"]["trial"]["machineType"] == "K80"
    assert doc["spec"]["trial"]["template"]["spec"]["containers"][0]["image"] == "reg/img:1"
    assert parse_manifest(text).name == "cifar10-cnn-bayesian"


def test_metric_unit_goes_to_the_objective_and_the_manifest_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cut = CNN.index("--")
    argv = [*CNN[:cut], "--metric-unit", "%", "--image", "reg/img:1", "--manifest", *CNN[cut:]]
    assert dialect_spec(parse(argv), "bayesian").objective.unit == "%"
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["spec"]["objective"] == {
        "metric": "keras/val_acc",
        "goal": "maximize",
        "aggregation": "last",
        "unit": "%",
    }
    assert parse_manifest(text).objective.unit == "%"


def test_without_metric_unit_the_manifest_has_no_unit(capsys: pytest.CaptureFixture[str]) -> None:
    cut = CNN.index("--")
    assert main([*CNN[:cut], "--image", "reg/img:1", "--manifest", *CNN[cut:]]) == 0
    assert "unit" not in yaml.safe_load(capsys.readouterr().out)["spec"]["objective"]


def test_noisy_goes_to_the_objective_and_only_a_noisy_manifest_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cut = CNN.index("--")
    argv = [*CNN[:cut], "--noisy", "--image", "reg/img:1", "--manifest", *CNN[cut:]]
    assert dialect_spec(parse(argv), "bayesian").objective.noisy
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["spec"]["objective"]["noisy"] is True
    assert parse_manifest(text).objective.noisy
    assert main([*CNN[:cut], "--image", "reg/img:1", "--manifest", *CNN[cut:]]) == 0
    assert "noisy" not in yaml.safe_load(capsys.readouterr().out)["spec"]["objective"]


def test_a_bad_metric_unit_names_the_flag() -> None:
    argv = ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--metric-unit", "u" * 33]
    with pytest.raises(SpecError) as err:
        dialect_spec(parse([*argv, "--", "t"]), "random")
    assert str(err.value).startswith(
        "--metric-unit (spec.objective.unit) must be at most 32 characters, got 33"
    )


def test_every_subcommand_is_registered_once() -> None:
    names = [s.name for s in SUBCOMMANDS]
    assert len(names) == len(set(names))
    assert {"run", "grid", "random", "bayesian", "status"} <= set(names)


def test_an_unusable_state_dir_exits_1_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = io.StringIO()
    argv = ["random", "-p", "x=0:1", "-n", "1", "-m", "m", "--state-dir", str(blocker / "s")]
    code = main([*argv, "--", "true"], stderr=err)
    assert code == 1
    assert err.getvalue() == f"hyper: [Errno 20] Not a directory: '{blocker / 's'}'\n"


def test_an_unknown_flag_is_reported_by_the_subcommand_with_the_closest_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["random", "--param", "x=0:1", "--nm-runs", "3", "-m", "m", "--", "t", ":x:"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hyper random ")
    assert err.endswith(
        "hyper random: error: unrecognized arguments: --nm-runs 3 (did you mean --num-runs?)\n"
    )


@pytest.mark.parametrize("name", ["grid", "random", "bayesian"])
def test_dialect_help_shows_where_the_command_goes(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--help"]) == 0
    usage = capsys.readouterr().out.split("\n\n")[0]
    assert usage.startswith(f"usage: hyper {name} ")
    assert usage.endswith("-- COMMAND [ARG ...]")


def test_top_level_help_lists_the_exit_codes() -> None:
    text = build_parser().format_help()
    assert "exit codes: 0 the search succeeded; 1 it finished without success" in text


def test_a_command_without_the_double_dash_is_refused_saying_where_it_goes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["random", "-p", "x=0:1", "-n", "2", "-m", "m", "python", "t.py"]) == 2
    assert capsys.readouterr().err.endswith(
        "hyper random: error: unrecognized arguments: python t.py; the training command goes "
        "after --, e.g. hyper random ... -- python train.py --lr :lr:\n"
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--num-runs", "0", "argument --num-runs/-n: must be at least 1, got 0"),
        ("--max-failed", "-1", "argument --max-failed: must be at least 0, got -1"),
        ("--seed", "x", "argument --seed: must be a whole number, got 'x'"),
    ],
)
def test_number_flags_refuse_bad_values_with_the_value_seen(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["random", "-p", "x=0:1", "-n", "2", "-m", "m", flag, value, "--", "t", ":x:"]
    assert main(argv) == 2
    assert capsys.readouterr().err.endswith(f"hyper random: error: {message}\n")


@pytest.mark.parametrize(
    ("argv", "warning"),
    [
        (
            ["random", "-p", "lr=abc", "-n", "3", "-m", "m"],
            "hyper: warning: --param lr=abc (spec.parameters[0]) has a single value ('abc'), so "
            "every trial gets it; for a range write MIN:MAX (e.g. 0.001:0.1:log), for choices "
            "a list a,b,c\n",
        ),
        (
            ["grid", "-p", "x=1,2,3", "-n", "2", "-m", "m"],
            "hyper: warning: --num-runs (spec.maxTrials) is 2 but the grid has 3 points: only "
            "the first 2 in grid order run, and the first parameters barely vary (raise "
            "maxTrials, or use random or bayesian)\n",
        ),
    ],
)
def test_warnings_of_a_dialect_search_name_the_flag(
    argv: list[str], warning: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rest = ["--image", "i:1", "--manifest", "--", "t", ":" + argv[2].split("=")[0] + ":"]
    assert main([*argv, *rest]) == 0
    assert capsys.readouterr().err == warning


def test_detach_without_submit_is_refused_before_anything_runs(tmp_path: Path) -> None:
    err = io.StringIO()
    argv = ["random", "--param", "x=0:1", "-n", "2", "-m", "m", "--detach"]
    code = main([*argv, "--state-dir", str(tmp_path / "s"), "--", "t"], stderr=err)
    assert code == 2
    assert (
        err.getvalue() == "hyper: --detach goes with --submit (a local search always runs here)\n"
    )
    assert not (tmp_path / "s").exists()


def test_manifest_and_submit_are_one_or_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["random", "-p", "x=0:1", "-n", "2", "-m", "m", "--image", "i", "--manifest", "--submit"]
    assert main([*argv, "--", "t"]) == 2
    assert "argument --submit: not allowed with argument --manifest" in capsys.readouterr().err


def test_watching_a_local_search_is_refused_with_where_to_look() -> None:
    err = io.StringIO()
    assert main(["status", "some-search", "--watch"], stderr=err) == 2
    assert err.getvalue().startswith("hyper: --watch follows a cluster search")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--submit", "--fresh"], "--fresh belongs to a local run; with --submit the search"),
        (
            ["--submit", "--fresh", "--state-dir", "s"],
            "--fresh and --state-dir belong to a local run",
        ),
        (["--namespace", "ml"], "--namespace goes with --submit (a local search always runs here)"),
        (["--detach", "--context", "c"], "--detach and --context go with --submit"),
    ],
)
def test_run_refuses_flags_of_the_other_place_naming_them(
    extra: list[str], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(manifest()))
    err = io.StringIO()
    assert main(["run", str(path), *extra], stderr=err) == 2
    assert err.getvalue().startswith(f"hyper: {message}")
    assert not (tmp_path / ".hyper").exists()


def test_run_submit_refuses_a_namespace_flag_that_contradicts_the_manifest(
    tmp_path: Path,
) -> None:
    doc = manifest()
    doc["metadata"]["namespace"] = "team-a"
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(doc))
    err = io.StringIO()
    assert main(["run", str(path), "--submit", "--namespace", "team-b"], stderr=err) == 2
    assert err.getvalue() == (
        "hyper: --namespace team-b differs from the manifest's metadata.namespace team-a; drop "
        "one of them (as kubectl apply refuses the same)\n"
    )


def test_early_stopping_flags_reach_the_spec_and_the_manifest_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cut = CNN.index("--")
    flags = ["--early-stopping", "asha", "--min-resource", "2", "--max-resource", "25"]
    argv = [*CNN[:cut], *flags, "--image", "reg/img:1", "--manifest", *CNN[cut:]]
    rule = dialect_spec(parse(argv), "bayesian").early_stopping
    assert rule is not None
    assert (rule.algorithm, dict(rule.settings)) == (
        "asha",
        {"minResource": 2, "maxResource": 25, "reductionFactor": 3},
    )
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["spec"]["earlyStopping"] == {
        "algorithm": "asha",
        "reductionFactor": 3,
        "minResource": 2,
        "maxResource": 25,
    }
    assert parse_manifest(text).early_stopping == rule


def test_the_extrapolate_switch_reaches_the_median_rule_and_the_manifest_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cut = CNN.index("--")
    flags = ["--early-stopping", "median", "--extrapolate"]
    argv = [*CNN[:cut], *flags, "--image", "reg/img:1", "--manifest", *CNN[cut:]]
    rule = dialect_spec(parse(argv), "bayesian").early_stopping
    assert rule is not None
    assert dict(rule.settings) == {"extrapolate": True, "gracePeriod": 3, "minTrials": 3}
    assert main(argv) == 0
    assert yaml.safe_load(capsys.readouterr().out)["spec"]["earlyStopping"]["extrapolate"] is True


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--early-stopping", "asha", "--min-trials", "4"],
            "--min-trials (spec.earlyStopping.minTrials) is not a setting of the asha rule (a "
            "setting of median, not of asha; its settings: reductionFactor, minResource, "
            "maxResource)",
        ),
        (
            ["--grace-period", "4"],
            "--grace-period set(s) an early-stopping rule's settings, but no rule was chosen; "
            "add --early-stopping median or --early-stopping asha",
        ),
        (
            ["--early-stopping", "median", "--grace-period", "0"],
            "--grace-period (spec.earlyStopping.gracePeriod) must be >= 1, got 0",
        ),
    ],
)
def test_early_stopping_mistakes_name_the_flag(flags: list[str], message: str) -> None:
    argv = ["random", "--param", "x=0:1", "-n", "2", "-m", "m", *flags, "--", "t"]
    with pytest.raises(SpecError) as err:
        dialect_spec(parse(argv), "random")
    assert str(err.value) == message


def test_run_refuses_the_three_manifests_the_crd_now_refuses_naming_each_field(
    tmp_path: Path,
) -> None:
    # Issue 11: a fractional int bound, no containers, an undeclared placeholder. The CRD refuses
    # them at apply (tests/integration/test_operator_crd.py); hyper run reads the same manifest
    # with the parser and must name the same fields.
    doc = manifest()
    doc["spec"]["parameters"][0]["min"] = 1.5
    doc["spec"]["trial"]["template"]["spec"]["containers"][0]["command"] = [
        "python",
        "train.py",
        ":batch_size:",
    ]
    empty = manifest()
    empty["spec"]["trial"]["template"]["spec"]["containers"] = []
    for name, bad in (("placeholder.yaml", doc), ("empty.yaml", empty)):
        (tmp_path / name).write_text(yaml.safe_dump(bad))
    err = io.StringIO()

    assert main(["run", str(tmp_path / "placeholder.yaml")], stderr=err) == 2
    assert main(["run", str(tmp_path / "empty.yaml")], stderr=err) == 2

    assert err.getvalue().splitlines() == [
        f"hyper: {tmp_path / 'placeholder.yaml'}: 2 problems:",
        "  - spec.parameters[0].min must be an int, got 1.5; round it, or use type: float for "
        "fractional values",
        "  - spec.trial.template.spec.containers[0].command[2] uses placeholder :batch_size:, "
        "which no parameter declares (parameters: conv2_filter, dropout_3, lr, optimizer); "
        "declare it in spec.parameters or correct the placeholder",
        f"hyper: {tmp_path / 'empty.yaml'}: spec.trial.template.spec.containers must list at "
        "least one container, got an empty list (e.g. containers: [{name: trainer, image: ..., "
        "command: [...]}])",
    ]
    assert not (tmp_path / ".hyper").exists()
