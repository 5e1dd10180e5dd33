"""Every command in the README's code blocks exists, and the cheap ones run.

Commands come from the README's fenced ``bash`` blocks: continuation lines (``\\``) are joined,
``&&`` chains split, comments dropped. For each ``edge-affect ...`` command the subcommand path
must resolve in the real CLI (the click tree typer builds) and every ``--option`` it shows must
be an option of that command; usage lines (``[--seed 0]``, ``tiny|small|avec``) are read the
same way. Scripts run with ``bash`` must exist and parse (``bash -n``).

Checked for valid syntax only: the long or hardware-bound commands — training, experiments and
export on a real AVEC 2016 folder, ``synth --preset avec``, ``listen`` and ``devices`` (the
audio-stack tests run them against PulseAudio), ``scripts/make_default_model.sh`` (minutes of
training; it made the bundled model) and ``scripts/setup.sh`` (CI runs it). The quick-start
commands that take seconds run for real, in order, in a scratch folder: the main job
(``demo --fast``), ``info`` on the bundled model, ``run`` on the demo clip, ``evaluate`` and
``plot`` of that log.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from edge_affect.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

#: README commands run for real by :func:`test_the_cheap_readme_commands_run`, in this order.
RUN_FOR_REAL = [
    "edge-affect demo --fast",
    "edge-affect demo --fast --quiet --out demo-runs",
    "edge-affect info edge_affect/models/default.int8.onnx",
    "edge-affect run edge_affect/demo/demo.ogg --out demo.csv --no-gate",
    "edge-affect evaluate demo.csv edge_affect/demo/arousal.arff edge_affect/demo/valence.arff "
    "--delay-search 4",
    "edge-affect plot demo.csv --gold edge_affect/demo/arousal.arff "
    "--gold edge_affect/demo/valence.arff --out demo.png",
]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"^\s*```(?:bash|sh)\n(.*?)^\s*```", text, re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            code = line.split(" #", 1)[0].strip()
            if code and not code.startswith("#"):
                commands += [part.strip() for part in code.split("&&")]
    return commands


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer vendors click: no isinstance against click


def _resolve(tokens: list[str]) -> tuple[Any, list[str]]:
    """The (click) command a token list names, and the tokens after its name."""
    command = typer.main.get_command(app)
    rest = tokens
    while _is_group(command) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def _options(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts + param.secondary_opts)
    return names


def edge_affect_commands() -> list[str]:
    return [c for c in readme_commands() if c.startswith("edge-affect ")]


def test_the_readme_shows_edge_affect_commands() -> None:
    commands = edge_affect_commands()
    assert len(commands) > 30
    for expected in RUN_FOR_REAL:
        assert expected in commands, f"the README no longer shows {expected!r}"


@pytest.mark.parametrize("command", edge_affect_commands())
def test_every_readme_command_names_real_subcommands_and_options(command: str) -> None:
    tokens = command.split()[1:]
    resolved, rest = _resolve(tokens)
    assert not _is_group(resolved), f"{command!r}: no subcommand of {resolved.name}"
    shown = {name for token in rest for name in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", token)}
    unknown = shown - _options(resolved)
    assert not unknown, f"{command!r}: {resolved.name} has no option {sorted(unknown)}"


def test_readme_scripts_exist_and_parse() -> None:
    scripts = {
        token
        for command in readme_commands()
        if command.startswith("bash ")
        for token in command.split()[1:2]
    }
    assert "scripts/setup.sh" in scripts and "scripts/make_default_model.sh" in scripts
    for script in scripts:
        path = ROOT / script
        assert path.is_file(), script
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def _localise(token: str) -> str:
    """README paths are relative to the repository root; the commands run elsewhere."""
    return str(ROOT / token) if token.startswith("edge_affect/") else token


def test_the_cheap_readme_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for command in RUN_FOR_REAL:
        args = [_localise(t) for t in shlex.split(command)[1:]]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{command}\n{result.output}"
    assert len(list((tmp_path / "edge-affect-demo").glob("demo-*.png"))) == 1
    assert len(list((tmp_path / "demo-runs").glob("demo-*.csv"))) == 1
    assert (tmp_path / "demo.csv").stat().st_size > 0
    assert (tmp_path / "demo.png").read_bytes().startswith(b"\x89PNG")


def test_the_python_example_runs(tmp_path: Path) -> None:
    """The README's "Use it from Python" example runs as a script and writes its log."""
    section = (ROOT / "README.md").read_text().split("### Use it from Python", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example, "the README's Python section has no python block"
    done = subprocess.run(
        [sys.executable, "-c", example.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("750 readings, mean arousal ")
    assert edge_affect_log_rows(tmp_path / "demo.jsonl") == 750


def edge_affect_log_rows(path: Path) -> int:
    from edge_affect.logs.reader import read_log  # noqa: PLC0415

    return read_log(path).n_rows
