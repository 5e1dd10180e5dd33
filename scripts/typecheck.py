"""mypy over the three import packages, whose folders do not all carry their import names.

``train/`` and ``export/`` install as ``edge_affect_train`` and ``edge_affect_export``
(``[tool.setuptools.package-dir]`` in ``pyproject.toml``). mypy finds modules by folder name
and does not run setuptools' editable import hook, so this script links the two folders under
their import names in a scratch directory, points ``MYPYPATH`` at it and checks the packages
named in ``[tool.mypy]``; reported paths are given back as repository paths.

Usage: ``python scripts/typecheck.py`` (extra arguments go to mypy). Exit status: mypy's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"edge_affect_train": "train", "edge_affect_export": "export"}


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="edge-affect-mypy-") as scratch:
        for name, folder in FOLDERS.items():
            (Path(scratch) / name).symlink_to(ROOT / folder, target_is_directory=True)
        os.environ["MYPYPATH"] = scratch
        os.chdir(ROOT)
        out, err, status = api.run(["--cache-dir", str(Path(scratch) / ".cache"), *argv])
        for name, folder in FOLDERS.items():
            out = out.replace(f"{scratch}/{name}/", f"{folder}/")
        sys.stdout.write(out)
        sys.stderr.write(err)
        return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
