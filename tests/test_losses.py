import numpy as np
import pytest
import torch

from edge_affect.scoring.metrics import ccc
from edge_affect_train.losses import alignment_loss, ccc_per_dim, task_loss


def _seq(seed: int, frames: int = 400, dims: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, frames // 2, dims, generator=g)


def test_ccc_loss_of_identical_opposite_and_shifted_sequences() -> None:
    gold = _seq(0)
    gold = gold - gold.reshape(-1, 2).mean(0)
    assert task_loss(gold, gold).item() == pytest.approx(0.0, abs=1e-5)
    assert task_loss(-gold, gold).item() == pytest.approx(2.0, abs=1e-5)
    shifted = task_loss(gold + 0.5, gold).item()
    assert 0.05 < shifted < 1.0


def test_ccc_matches_the_avec_metric_over_all_frames() -> None:
    prediction, gold = _seq(1), 0.5 * _seq(1) + 0.5 * _seq(2) + 0.1
    ours = ccc_per_dim(prediction, gold)
    for d in range(2):
        reference = ccc(prediction[..., d].numpy().ravel(), gold[..., d].numpy().ravel())
        assert ours[d].item() == pytest.approx(reference, abs=1e-5)


def test_mse_term_is_added() -> None:
    prediction, gold = _seq(3), _seq(4)
    assert task_loss(prediction, gold, mse_weight=1.0) > task_loss(prediction, gold)


@pytest.mark.parametrize("kind", ["mse", "cosine", "cca"])
def test_alignment_is_lower_for_correlated_than_for_independent_latents(kind: str) -> None:
    teacher = _seq(5, dims=8)
    correlated = teacher + 0.3 * _seq(6, dims=8)
    independent = _seq(7, dims=8)
    assert alignment_loss(correlated, teacher, kind) < alignment_loss(independent, teacher, kind)  # type: ignore[arg-type]


def test_cca_loss_ignores_scale_and_offset_but_mse_does_not() -> None:
    teacher = _seq(8, dims=4)
    affine = 3.0 * teacher + 1.0
    assert alignment_loss(affine, teacher, "cca", decorrelation_weight=0.0).item() == pytest.approx(
        0.0, abs=1e-4
    )
    assert alignment_loss(affine, teacher, "mse").item() > 1.0


def test_cca_decorrelation_penalises_collapsed_dimensions() -> None:
    teacher = _seq(9, dims=4)
    collapsed = teacher[..., :1].repeat(1, 1, 4)
    free = alignment_loss(collapsed, teacher, "cca", decorrelation_weight=0.0)
    penalised = alignment_loss(collapsed, teacher, "cca", decorrelation_weight=1.0)
    assert penalised - free > 0.5


def test_cosine_of_opposite_vectors_is_two_and_errors_are_clear() -> None:
    t = _seq(10, dims=3)
    assert alignment_loss(-t, t, "cosine").item() == pytest.approx(2.0, abs=1e-5)
    with pytest.raises(ValueError, match="equal shapes"):
        alignment_loss(t, t[..., :2], "mse")
    with pytest.raises(ValueError, match="unknown alignment"):
        alignment_loss(t, t, "dtw")  # type: ignore[arg-type]


def test_losses_give_finite_gradients() -> None:
    z = _seq(11, dims=4).requires_grad_(True)
    loss = alignment_loss(z, _seq(12, dims=4), "cca") + task_loss(z[..., :2], _seq(13))
    loss.backward()
    assert z.grad is not None and bool(torch.isfinite(z.grad).all())
    assert float(np.abs(z.grad.numpy()).sum()) > 0
