"""Encoders and the audio student: causality, streaming == whole sequence, shapes."""

import numpy as np
import pytest
import torch

from edge_affect.audio import HOP_SAMPLES
from edge_affect_train.models import (
    AudioStudent,
    EncoderConfig,
    SequenceEncoder,
    StudentConfig,
    Teacher,
    TeacherConfig,
)


def _student(kind: str = "gru") -> AudioStudent:
    torch.manual_seed(0)
    student = AudioStudent(
        StudentConfig(encoder=EncoderConfig(kind=kind, hidden=32, dropout=0.0), z_dim=16)
    )  # type: ignore[arg-type]
    return student.eval()


@pytest.mark.parametrize(
    ("kind", "causal"), [("gru", True), ("bigru", False), ("transformer", False)]
)
def test_only_the_causal_encoder_ignores_the_future(kind: str, causal: bool) -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(8, EncoderConfig(kind=kind, hidden=16, dropout=0.0)).eval()  # type: ignore[arg-type]
    x = torch.randn(1, 30, 8)
    changed = x.clone()
    changed[:, 20:] += 1.0
    with torch.no_grad():
        a, _ = encoder(x)
        b, _ = encoder(changed)
    assert a.shape == (1, 30, 16)
    past_moves = float((a[:, :20] - b[:, :20]).abs().max())
    assert (past_moves < 1e-6) == causal


def test_streaming_student_equals_the_whole_sequence_on_speech(speech_16k: np.ndarray) -> None:
    student = _student("gru")
    pcm = torch.from_numpy(speech_16k).unsqueeze(0)
    with torch.no_grad():
        whole = student(pcm)[0]
        state = student.initial_state(1)
        steps = []
        for start in range(0, pcm.shape[1], HOP_SAMPLES):
            prediction, state = student.step(pcm[:, start : start + HOP_SAMPLES], state)
            steps.append(prediction[0])
    streamed = torch.stack(steps)
    assert whole.shape == (pcm.shape[1] // HOP_SAMPLES, 2)
    assert float((streamed - whole).abs().max()) < 1e-5
    assert float(whole.std(0).min()) > 0  # the output moves with the audio


def test_student_refuses_partial_hops_and_non_causal_state() -> None:
    with pytest.raises(ValueError, match="not a multiple of 640"):
        _student()(torch.zeros(1, 1000))
    with pytest.raises(ValueError, match="no streaming state"):
        _student("bigru").initial_state(1)


@pytest.mark.parametrize("kind", ["gru", "bigru", "transformer"])
def test_every_encoder_gives_one_reading_per_hop(kind: str) -> None:
    student = _student(kind)
    with torch.no_grad():
        out = student(torch.randn(2, 25 * HOP_SAMPLES) * 0.1)
    assert out.shape == (2, 25, 2)
    teacher = Teacher(
        TeacherConfig(
            modalities=("video",), input_dim=5, encoder=EncoderConfig(kind=kind, hidden=8)
        )
    )  # type: ignore[arg-type]
    prediction, latent = teacher.represent(torch.randn(3, 11, 5))
    assert prediction.shape == (3, 11, 2) and latent.shape == (3, 11, 8)
