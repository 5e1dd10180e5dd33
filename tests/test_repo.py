"""Repository invariants: CI runs the README's test command; import contracts hold."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert block, "the README must start with a code block of set-up commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_the_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    main_job, tests = commands
    assert main_job == "bash scripts/setup.sh && edge-affect demo --fast"  # the main job
    assert tests.startswith("bash scripts/setup.sh && ") and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci


def test_import_contracts_hold() -> None:
    """import-linter: every contract in pyproject.toml is kept (the runtime's layers and its
    forbidden imports; edge_affect never imports train/export/torch/onnx; train never export;
    the AVEC and MOSI experiments stay independent)."""
    import tomllib  # noqa: PLC0415 - Python 3.11+, like the CI interpreter

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    expected = len(contracts["contracts"])
    assert expected >= 6
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{expected} kept, 0 broken" in result.stdout


def test_the_package_list_names_every_package_folder() -> None:
    """pyproject's explicit package list (needed for the package-dir mapping) misses nothing."""
    import tomllib  # noqa: PLC0415 - Python 3.11+, like the CI interpreter

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: Path(folder) for name, folder in setuptools["package-dir"].items()}
    folders.setdefault("edge_affect", Path("edge_affect"))
    found = set()
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *parts)))
    assert sorted(setuptools["packages"]) == sorted(found)
