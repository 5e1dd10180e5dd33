"""Training throughput of the transfer student on CPU and, when present, CUDA (bf16 autocast).

Random log-mel frames and labels with the shapes of a RECOLA session, so it needs no corpus
(nor espeak-ng) and runs on a bare accelerator machine:

    python scripts/train_throughput.py [--sessions 9] [--epochs 2] [--devices cpu,cuda]

Prints, per device, hours of audio per minute of training and the ratio to CPU measured in the
same run, and checks the loss is finite under bf16.
"""

from __future__ import annotations

import argparse
import time

import torch

from edge_affect.audio import LABEL_RATE_HZ
from edge_affect_train.data.tensors import SessionData
from edge_affect_train.frontend import FrontendConfig
from edge_affect_train.models import (
    AudioStudent,
    EncoderConfig,
    StudentConfig,
    Teacher,
    TeacherConfig,
)
from edge_affect_train.trainer import TrainConfig, fit
from edge_affect_train.transfer import StudentTask, TransferConfig

SESSION_S = 300.0
FEATURE_DIM = 40


def _sessions(n: int, split: str, seed: int) -> list[SessionData]:
    g = torch.Generator().manual_seed(seed)
    fc = FrontendConfig()
    frames = int(SESSION_S * LABEL_RATE_HZ) + 1
    return [
        SessionData(
            f"{split}_{i + 1}",
            split,
            torch.randn(frames * fc.frames_per_hop, fc.n_mels, generator=g),
            torch.rand(frames, 2, generator=g) * 2 - 1,
            torch.randn(frames, FEATURE_DIM, generator=g),
        )
        for i in range(n)
    ]


def _run(device: str, sessions: int, epochs: int) -> float:
    train, dev = _sessions(sessions, "train", 0), _sessions(2, "dev", 1)
    torch.manual_seed(0)
    teacher = Teacher(
        TeacherConfig(("video",), FEATURE_DIM, EncoderConfig(kind="bigru", hidden=64))
    )
    student = AudioStudent(StudentConfig(encoder=EncoderConfig(kind="gru", hidden=64), z_dim=64))
    task = StudentTask(student, teacher, TransferConfig(method="transfer"))
    config = TrainConfig(epochs=epochs, patience=epochs, quiet=True, device=device)
    started = time.perf_counter()
    result = fit(task, train, dev, config)
    losses = [r["train_loss"] for r in result.history]
    if not all(torch.isfinite(torch.tensor(losses))):
        raise SystemExit(f"{device}: non-finite training loss {losses}")
    print(
        f"{device:5s} {result.audio_hours_per_minute:8.2f} h audio/min  "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}  wall {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return result.audio_hours_per_minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--devices", default="cpu,cuda")
    args = parser.parse_args()
    rates = {}
    for device in args.devices.split(","):
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device:5s} skipped: no CUDA device")
            continue
        rates[device] = _run(device, args.sessions, args.epochs)
    if "cpu" in rates:
        for device, rate in rates.items():
            print(f"{device:5s} {rate / rates['cpu']:.1f}x CPU")


if __name__ == "__main__":
    main()
