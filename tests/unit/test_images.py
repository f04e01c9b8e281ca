"""The Dockerfiles under images/ reference only files and modules that exist, pin their bases and
dependencies, and run as non-root. No Docker engine here: the files are parsed, not built.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["digits-cnn", "digits-svm"]
DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))
PINNED_TAG = re.compile(r"^[a-z0-9./_-]+:\d+\.\d+\.\d+[A-Za-z0-9._-]*$")
# Import names whose distribution is called something else.
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow"}


@dataclass
class Stage:
    base: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuation lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    assert not pending, f"{path}: a continuation line ends the file"
    result = []
    for line in joined:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def stages(path: Path) -> list[Stage]:
    """The build stages; a FROM's ${ARG} is the default of an ARG declared before the first FROM
    (what a build without --build-arg, as a user runs it, gets)."""
    found: list[Stage] = []
    defaults: dict[str, str] = {}
    for word, rest in instructions(path):
        if word == "ARG" and not found:
            name, _, default = rest.partition("=")
            defaults[name.strip()] = default.strip()
        elif word == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), parts[0])
            alias = parts[2] if len(parts) == 3 and parts[1].lower() == "as" else None
            found.append(Stage(base=base, alias=alias))
        else:
            assert found, f"{path}: {word} before FROM"
            found[-1].instructions.append((word, rest))
    return found


def copy_args(rest: str) -> tuple[list[str], str, dict[str, str]]:
    """Sources, destination and --flags of a COPY/ADD (shell or JSON form)."""
    words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return words[:-1], words[-1], flags


def ignored(path: str, rules: list[str]) -> bool:
    """Whether .dockerignore rules (last match wins, ! re-includes) leave ``path`` out."""
    result = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            result = not negate
    return result


def ignore_rules(dockerfile: Path) -> list[str]:
    own = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not own.exists():
        return []
    lines = own.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def exec_form(stage: Stage, word: str) -> list[str] | None:
    found = [rest for w, rest in stage.instructions if w == word]
    if not found:
        return None
    argv = json.loads(found[-1])
    assert isinstance(argv, list), f"{word} must use the exec (JSON) form so signals reach Python"
    return [str(a) for a in argv]


def copied_destinations(stage: Stage) -> set[str]:
    workdir = "/"
    found: set[str] = set()
    for word, rest in stage.instructions:
        if word == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
        if word in ("COPY", "ADD"):
            sources, dest, _ = copy_args(rest)
            target = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
            if target.endswith("/"):
                found.update(target + Path(s).name for s in sources)
            else:
                found.add(target)
    return found


def final_workdir(stage: Stage) -> str:
    workdirs = [rest for w, rest in stage.instructions if w == "WORKDIR"]
    return workdirs[-1] if workdirs else "/"


def module_file(module: str) -> Path | None:
    base = REPO / "operator" / Path(*module.split("."))
    for candidate in (base / "__main__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for raw in requirements.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"{requirements.name}: {line!r} is not pinned with =="
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-")


def test_there_are_images_for_the_operator_and_the_examples() -> None:
    assert [p.parent.name for p in DOCKERFILES] == [
        "examples-digits-cnn",
        "examples-digits-svm",
        "operator",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_pinned_to_an_exact_version(dockerfile: Path) -> None:
    all_stages = stages(dockerfile)
    aliases = {s.alias for s in all_stages if s.alias}
    for stage in all_stages:
        if stage.base not in aliases:
            assert PINNED_TAG.match(stage.base), (
                f"{dockerfile}: FROM {stage.base} is not an exact tag"
            )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_the_base_is_a_build_argument_defaulting_to_the_public_pinned_image(
    dockerfile: Path,
) -> None:
    # images/build passes BASE (an image made from Debian packages where no registry is reachable).
    text = dockerfile.read_text()
    assert "ARG BASE=python:3.11.7-slim-bookworm" in text
    froms = [rest.split()[0] for word, rest in instructions(dockerfile) if word == "FROM"]
    assert froms and all(base == "${BASE}" for base in froms), froms


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_stage_runs_as_a_non_root_user(dockerfile: Path) -> None:
    users = [rest for word, rest in stages(dockerfile)[-1].instructions if word == "USER"]
    assert users, f"{dockerfile}: the final stage sets no USER (it would run as root)"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_copied_source_exists_in_the_build_context_and_is_not_ignored(
    dockerfile: Path,
) -> None:
    rules = ignore_rules(dockerfile)
    copies = 0
    for stage in stages(dockerfile):
        for word, rest in stage.instructions:
            if word not in ("COPY", "ADD"):
                continue
            sources, _, flags = copy_args(rest)
            if "from" in flags:
                continue
            for source in sources:
                copies += 1
                relative = source.rstrip("/")
                assert (REPO / relative).exists(), (
                    f"{dockerfile}: COPY source {source} does not exist"
                )
                assert not ignored(relative, rules), (
                    f"{dockerfile}: COPY {source} is excluded by its .dockerignore"
                )
    assert copies > 0


@pytest.mark.parametrize(
    ("path", "rules", "expected"),
    [
        ("operator/hypersearch/cli.py", ["*", "!operator/"], False),
        ("tests/unit/x.py", ["*", "!operator/"], True),
        ("operator/x.egg-info", ["*", "!operator/", "operator/*.egg-info"], True),
        ("README.md", [], False),
    ],
    ids=["re-included", "excluded-by-star", "excluded-again", "no-rules"],
)
def test_dockerignore_matching(path: str, rules: list[str], expected: bool) -> None:
    assert ignored(path, rules) is expected


def test_operator_image_entrypoint_is_the_hyper_command_running_the_operator() -> None:
    final = stages(REPO / "images" / "operator" / "Dockerfile")[-1]
    assert exec_form(final, "ENTRYPOINT") == ["hyper"]
    assert exec_form(final, "CMD") == ["operator"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["hyper"].partition(":")
    base = REPO / "operator" / Path(*module.split("."))
    found = [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()]
    assert found, f"hyper's module {module} does not exist under operator/"
    source = found[0]
    tree = ast.parse(source.read_text())
    assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_sidecar_command_the_operator_uses_runs_a_module_the_image_contains() -> None:
    from hypersearch.kube.manifests import PodSettings

    command = list(PodSettings().sidecar_command)
    assert command[:2] in (["python", "-m"], ["python3", "-m"])
    assert module_file(command[2]) is not None, f"{command[2]} has no __main__.py or module file"
    assert command[2].startswith("hypersearch.")  # shipped by COPY operator/ in the operator image


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_trainer_entrypoint_script_is_copied_into_the_working_directory(
    example: str,
) -> None:
    final = stages(REPO / "images" / f"examples-{example}" / "Dockerfile")[-1]
    argv = exec_form(final, "ENTRYPOINT")
    assert argv == ["python", "train.py"]
    assert f"{final_workdir(final)}/train.py" in copied_destinations(final)
    assert (REPO / "examples" / example / "train.py").is_file()


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_search_runs_the_script_the_image_ships_in_that_image(example: str) -> None:
    import yaml

    manifest = yaml.safe_load((REPO / "examples" / example / "search.yaml").read_text())
    [trainer] = manifest["spec"]["trial"]["template"]["spec"]["containers"]
    assert trainer["command"][:2] == ["python", "train.py"]
    assert trainer["image"].split("/")[-1].split(":")[0] == f"examples-{example}"


def test_operator_image_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = {
        requirement_name(r)
        for r in project["dependencies"] + project["optional-dependencies"]["operator"]
    }
    pins = pinned(REPO / "images" / "operator" / "constraints.txt")
    assert needed - set(pins) == set()


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_image_pins_every_third_party_module_the_trainer_imports(example: str) -> None:
    tree = ast.parse((REPO / "examples" / example / "train.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import)]
    modules = {a.name.split(".")[0] for n in imports for a in n.names}
    froms = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    modules |= {str(n.module).split(".")[0] for n in froms}
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "__future__"}
    needed = {DISTRIBUTION.get(m, m).lower() for m in third_party}
    pins = pinned(REPO / "images" / f"examples-{example}" / "requirements.txt")
    assert needed
    assert needed - set(pins) == set()


@pytest.mark.parametrize("example", EXAMPLES)
def test_shared_pins_agree_between_images(example: str) -> None:
    operator = pinned(REPO / "images" / "operator" / "constraints.txt")
    trainer = pinned(REPO / "images" / f"examples-{example}" / "requirements.txt")
    shared = set(operator) & set(trainer)
    assert shared
    for name in shared:
        assert operator[name] == trainer[name], name
