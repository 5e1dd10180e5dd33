"""The host commands as ``train/cli.py`` and ``export/cli.py`` register them on a typer app.

The ``edge-affect`` app mounts them (its command tests in test_cli.py, test_cli_train.py and
test_mosi_cli.py run these functions); here: the mount itself, the modules import nothing
heavy at the top, and a missing extra is one line naming it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edge_affect.cli import app as runtime_app
from edge_affect_export.cli import register as register_export
from edge_affect_train.cli import register as register_train

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def host_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    register_train(app)
    register_export(app)
    return app


def _callback_modules(app: typer.Typer) -> set[str]:
    commands = [*app.registered_commands]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            commands += group.typer_instance.registered_commands
    return {c.callback.__module__ for c in commands if c.callback is not None}


def test_the_edge_affect_app_mounts_the_host_command_modules() -> None:
    """The runtime's command line has no copy of the host commands: ``synth``, ``data``,
    ``train`` and ``export`` are the functions the host packages register."""
    modules = _callback_modules(runtime_app)
    assert {"edge_affect_train.cli", "edge_affect_export.cli"} <= modules
    assert not any(m.startswith("edge_affect.cli.host") for m in modules)
    for command in ["synth", "data describe", "train teacher", "train student", "export"]:
        ours = runner.invoke(runtime_app, [*command.split(), "--help"])
        alone = runner.invoke(host_app(), [*command.split(), "--help"])
        assert ours.exit_code == alone.exit_code == 0
        assert ours.stdout == alone.stdout


_BLOCKED = """\
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
import typer
from typer.testing import CliRunner
from edge_affect_export.cli import register as register_export
from edge_affect_train.cli import register as register_train
app = typer.Typer()
register_train(app)
register_export(app)
assert not {"torch", "onnx", "h5py"} & {m.split(".")[0] for m in sys.modules if sys.modules[m]}
result = CliRunner().invoke(app, sys.argv[2:])
print(result.exit_code)
print(result.stderr, end="")
"""


@pytest.mark.parametrize(
    ("blocked", "args", "extra", "missing"),
    [
        (
            "torch,h5py",
            ["train", "student", "--data", "c", "--method", "x", "--out", "o"],
            "train",
            "torch",
        ),
        ("torch,h5py", ["train", "experiment", "--data", "c", "--out", "o"], "train", "torch"),
        ("onnx,onnxscript", ["export", "c.pt", "--out", "m.onnx"], "export", "onnx"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    blocked: str, args: list[str], extra: str, missing: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _BLOCKED, blocked, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    code, *stderr = result.stdout.splitlines()
    assert code == "3"
    assert stderr == [
        f"error: this command needs the [{extra}] extra ({missing} is not installed): "
        f"pip install 'edge-affect[{extra}]'"
    ]


ALLOWED_FIRST_PARTY = {"edge_affect.errors", "edge_affect.paths", "edge_affect.audio"}


def _top_level_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append(node.module or "")
    return modules


@pytest.mark.parametrize(
    ("path", "also_allowed"),
    [("train/cli.py", set()), ("export/cli.py", {"edge_affect_train.cli"})],
)
def test_the_command_modules_import_only_light_modules_at_the_top(
    path: str, also_allowed: set[str]
) -> None:
    imports = _top_level_imports(ROOT / path)
    assert imports
    for module in imports:
        root = module.split(".")[0]
        light = (
            module == "__future__"
            or root in sys.stdlib_module_names
            or root == "typer"
            or module in ALLOWED_FIRST_PARTY | also_allowed
        )
        assert light, f"{path} imports {module} at the top"
        assert root != "importlib", f"{path} imports by name"
