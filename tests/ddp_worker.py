"""Run under ``torch.distributed.run`` by tests/test_ddp.py: one real DDP training run.

Each rank trains the same baseline student with :func:`edge_affect_train.trainer.fit`
(gloo on CPU) and saves the weights it ends with, so the test can check the ranks stayed
identical.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.models import AudioStudent, EncoderConfig, StudentConfig
from edge_affect_train.runs import load_data
from edge_affect_train.trainer import TrainConfig, fit
from edge_affect_train.transfer import StudentTask, TransferConfig, set_student_normalisation


def main(corpus: Path, out: Path) -> None:
    _, splits = load_data(corpus, (), FrontendConfig())
    torch.manual_seed(0)
    student = AudioStudent(StudentConfig(encoder=EncoderConfig(kind="gru", hidden=16), z_dim=16))
    set_student_normalisation(student, splits["train"])
    initial = {k: v.clone() for k, v in student.state_dict().items()}
    task = StudentTask(student, None, TransferConfig(method="baseline"))
    config = TrainConfig(epochs=1, batch_size=2, chunk_s=4.0, quiet=True, threads=1)
    fit(task, splits["train"], splits["dev"], config)
    rank = dist.get_rank()
    torch.save(
        {"initial": initial, "final": student.state_dict(), "world": dist.get_world_size()},
        out / f"rank{rank}.pt",
    )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
