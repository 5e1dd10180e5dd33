"""A real two-process DDP run on CPU (gloo): the ranks hold identical weights after it."""

import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_ddp_keeps_ranks_identical(tiny_corpus: Path, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "tests" / "ddp_worker.py"),
        str(tiny_corpus),
        str(tmp_path),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    final0, final1 = ranks[0]["final"], ranks[1]["final"]
    assert all(torch.equal(final0[k], final1[k]) for k in final0)
    moved = [k for k in final0 if not torch.equal(final0[k], ranks[0]["initial"][k])]
    assert "head.weight" in moved  # it trained
