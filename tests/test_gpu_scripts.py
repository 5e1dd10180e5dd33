"""scripts/gpu-bundle.sh and scripts/gpu-study.sh: the transfer study on a GPU machine that
reaches no package registry (docs/results/transfer-study.md, "On an NVIDIA H100"). The GPU
itself is not here: the study script runs on the CPU (GPU_STUDY_DEVICE=cpu), so what these
tests check is everything around `train study --device cuda`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.helpers import require_program

ROOT = Path(__file__).resolve().parents[1]


def _bash(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_program("espeak-ng", "apt-get install espeak-ng")
    folder = tmp_path_factory.mktemp("gpu") / "bundle"
    done = _bash("scripts/gpu-bundle.sh", folder, "--espeak-only")
    assert done.returncode == 0, done.stderr
    assert not (folder / "whl").exists()  # --espeak-only needs no registry
    return folder


def test_the_carried_espeak_ng_runs_on_its_own_data_and_speaks_the_hosts_bytes(
    bundle: Path, tmp_path: Path
) -> None:
    carried = bundle / "espeak" / "bin" / "espeak-ng"
    version = subprocess.run(
        [carried, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert f"Data at: {bundle.resolve() / 'espeak' / 'espeak-ng-data'}" in version
    # glibc stays the machine's own: a copied libc would not load beside its loader
    libraries = {p.name for p in (bundle / "espeak" / "lib").iterdir()}
    assert "espeak-ng.real" in libraries and any(n.startswith("libespeak-ng") for n in libraries)
    assert not [n for n in libraries if n.startswith(("libc.so", "libm.so", "ld-linux"))]
    text = "the market was full of people this morning"
    for program, name in ((carried, "carried.wav"), (shutil.which("espeak-ng"), "host.wav")):
        assert program is not None
        subprocess.run(
            [program, "-v", "en-us", "-p", "40", "-s", "170", "-w", tmp_path / name, text],
            check=True,
            timeout=30,
        )
    carried_wav = (tmp_path / "carried.wav").read_bytes()
    assert len(carried_wav) > 20_000  # speech, not an empty file
    assert carried_wav == (tmp_path / "host.wav").read_bytes()


def test_the_bundle_script_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    done = _bash("scripts/gpu-bundle.sh", tmp_path / "b", "--wheels-only")
    assert done.returncode == 2
    assert done.stderr.strip() == "gpu-bundle: unknown option --wheels-only"
    assert not (tmp_path / "b").exists()
    usage = _bash("scripts/gpu-study.sh", tmp_path / "b")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: bash scripts/gpu-study.sh")


@pytest.mark.slow
def test_the_study_script_runs_the_study_and_brings_back_what_it_reports(
    bundle: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    shutil.copytree(tiny_corpus, work / "corpus")  # there from an earlier call: no synth
    env = {"GPU_STUDY_WORK": str(work), "GPU_STUDY_DEVICE": "cpu", "PYTHON": sys.executable}
    args = ["--plan", "smoke", "--seeds", "1", "--cell", "all/baseline"]
    done = _bash("scripts/gpu-study.sh", bundle, out, *args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "torch " in log and "eSpeak NG" in log and "train study: exit 0" in log
    assert "synth " not in log  # the corpus was there
    listed = (out / "corpus.sha256").read_text(encoding="utf-8").splitlines()
    files = sorted(
        f"./{p.relative_to(work / 'corpus').as_posix()}"
        for p in (work / "corpus").rglob("*")
        if p.is_file()
    )
    assert [line.split(maxsplit=1)[1] for line in listed] == files
    with tarfile.open(out / "results.tar.gz") as archive:
        names = set(archive.getnames())
    assert {"results/all--baseline--s0.json", "results/table.md"} <= names
    # a failing study is the script's failure, and what it wrote so far still comes back
    again = _bash("scripts/gpu-study.sh", bundle, out, "--plan", "nonesuch", env=env)
    assert again.returncode != 0
    assert "train study: exit" in (out / "log.txt").read_text(encoding="utf-8")
    assert "train study: exit 0" not in again.stdout
