"""The host commands as ``train/cli.py`` and ``export/cli.py`` register them on a typer app.

The command tests of test_cli.py, test_cli_train.py and test_mosi_cli.py run again here on
an app that has only these commands; the commands' help matches the ``edge-affect`` app's;
the modules import nothing heavy at the top; a missing extra is one line naming it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edge_affect.cli import app as runtime_app
from edge_affect_export.cli import register as register_export
from edge_affect_export.exporter import report_path
from edge_affect_train.cli import register as register_train
from edge_affect_train.models import EncoderConfig
from tests import test_cli, test_cli_train, test_export, test_mosi_cli
from tests.conftest import require_program

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def host_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    register_train(app)
    register_export(app)
    return app


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[typer.Typer]:
    """The existing command tests' ``app`` replaced by the registered commands alone."""
    app = host_app()
    for module in (test_cli, test_cli_train, test_mosi_cli):
        monkeypatch.setattr(module, "app", app)
    yield app


COMMANDS = [
    ["synth"],
    ["data"],
    ["data", "describe"],
    ["train"],
    ["train", "teacher"],
    ["train", "student"],
    ["train", "experiment"],
    ["export"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_is_the_edge_affect_app_s(command: list[str]) -> None:
    ours = runner.invoke(host_app(), [*command, "--help"])
    theirs = runner.invoke(runtime_app, [*command, "--help"])
    assert ours.exit_code == theirs.exit_code == 0, ours.output
    assert ours.stdout == theirs.stdout


def test_synth_and_describe_mistakes(
    registered: typer.Typer, tmp_path: Path, corpus_copy: Path
) -> None:
    test_cli.test_user_mistakes_are_one_line_errors(tmp_path, corpus_copy)


def test_teacher_student_and_a_clean_error(
    registered: typer.Typer, tiny_corpus: Path, tmp_path: Path
) -> None:
    test_cli_train.test_teacher_then_student_then_a_clean_error(tiny_corpus, tmp_path)


def test_fast_experiment(registered: typer.Typer, tiny_corpus: Path, tmp_path: Path) -> None:
    test_cli_train.test_fast_experiment_writes_its_tables(tiny_corpus, tmp_path)


def test_mosi_describe(
    registered: typer.Typer, mosi_csd: Path, mosi_pickles: dict[str, Path]
) -> None:
    test_mosi_cli.test_describe_a_csd_folder_as_json(mosi_csd)
    test_mosi_cli.test_describe_a_pickle_as_a_table(mosi_pickles)


def test_mosi_mistakes(
    registered: typer.Typer, mosi_csd: Path, mosi_csd_copy: Path, tmp_path: Path
) -> None:
    test_mosi_cli.test_user_mistakes_are_one_line_errors(mosi_csd, tmp_path)
    test_mosi_cli.test_malformed_files_are_one_line_errors(
        mosi_csd_copy, "length mismatch", "feature rows but"
    )


@pytest.mark.slow
def test_mosi_experiment(registered: typer.Typer, mosi_csd: Path, tmp_path: Path) -> None:
    test_mosi_cli.test_a_short_mosi_experiment_writes_its_tables(mosi_csd, tmp_path)


def test_export_writes_the_model_and_its_report(tmp_path: Path) -> None:
    checkpoint, _ = test_export._checkpoint(
        tmp_path / "checkpoint.pt", EncoderConfig(kind="gru", hidden=16)
    )
    out = tmp_path / "m.onnx"
    args = ["export", str(checkpoint), "--out", str(out)]
    require_program("espeak-ng", "apt-get install espeak-ng")  # the parity clip
    result = runner.invoke(host_app(), args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == f"wrote {out} and {report_path(out)}"
    assert set(json.loads(report_path(out).read_text())["files"]) == {"fp32"}
    for extra, fragment in (
        (["--mode", "x"], "error: --mode x: choose stream or window"),
        (["--int8-scheme", "u4"], "error: unknown int8 scheme 'u4'"),
    ):
        mistake = runner.invoke(host_app(), [*args, *extra])
        assert mistake.exit_code == 2, mistake.output
        assert mistake.stderr.strip().startswith(fragment), mistake.stderr


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
