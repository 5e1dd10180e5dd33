"""``train student --train-labels latent``: the audio-only ceiling's training targets."""

import shutil
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from edge_affect.cli import app
from edge_affect_train.commands import latent_labels
from edge_affect_train.data import AvecCorpus
from edge_affect_train.data.tensors import load_splits
from edge_affect_train.frontend import FrontendConfig
from tests.test_cli_train import FAST

runner = CliRunner()


def test_latent_labels_replace_the_gold_standard_with_the_truth(tiny_corpus: Path) -> None:
    splits = load_splits(AvecCorpus(tiny_corpus), FrontendConfig(), splits=("train",))
    truth = latent_labels(tiny_corpus, splits["train"])
    for gold, latent in zip(splits["train"], truth, strict=True):
        table = np.loadtxt(tiny_corpus / "latent" / f"{gold.name}.csv", delimiter=";", skiprows=1)
        assert latent.labels.shape == gold.labels.shape
        np.testing.assert_array_equal(latent.labels.numpy(), table[:, 1:3].astype(np.float32))
        assert torch.equal(latent.mel, gold.mel)  # the audio is the same
        # the raters' mean is delayed and noisy: it is not the truth
        assert float(torch.mean(torch.abs(latent.labels - gold.labels))) > 0.05


def test_a_student_trained_on_the_truth_records_it(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ceiling"
    args = ["train", "student", "--data", str(tiny_corpus), "--method", "baseline"]
    result = runner.invoke(app, [*args, "--train-labels", "latent", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["train_args"]["train_labels"] == "latent"


def test_the_truth_needs_a_synthetic_corpus_and_a_known_name(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    args = ["train", "student", "--method", "baseline", "--out", str(tmp_path / "s"), *FAST]
    unknown = runner.invoke(app, [*args, "--data", str(tiny_corpus), "--train-labels", "raw"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().startswith("error: unknown training labels 'raw'")
    recola_like = tmp_path / "recola-like"
    shutil.copytree(tiny_corpus, recola_like, ignore=shutil.ignore_patterns("latent"))
    missing = runner.invoke(app, [*args, "--data", str(recola_like), "--train-labels", "latent"])
    assert missing.exit_code == 2
    assert "--train-labels latent needs a synthetic corpus" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
