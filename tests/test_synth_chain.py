"""The ``*-chain`` and ``*-chain-flite`` presets: another microphone, another engine."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge_affect_train.data import AvecCorpus
from edge_affect_train.synth import PRESETS, generate_corpus, speech
from edge_affect_train.synth.channel import SHAPES, Chain, apply_chain, draw_chain, magnitude_fir
from edge_affect_train.synth.config import ChannelParams
from tests.helpers import require_program

RATE = 16_000


@pytest.fixture(scope="module")
def chain_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chain") / "tiny-chain"
    generate_corpus(root, preset="tiny-chain", seed=0, sample_rate=RATE, jobs=2)
    return root


def test_every_size_has_a_chain_preset_and_the_old_ones_keep_their_manifest() -> None:
    for name in ("tiny", "small", "avec"):
        plain, chained = PRESETS[name], PRESETS[f"{name}-chain"]
        assert not plain.chain and chained.chain
        assert (plain.sessions_per_split, plain.duration_s) == (
            chained.sessions_per_split,
            chained.duration_s,
        )
        assert "chain" not in plain.to_dict()  # the manifests written before the chain


def test_the_chain_changes_the_recording_and_nothing_else(
    tiny_corpus: Path, chain_corpus: Path
) -> None:
    """Labels, features and latent are the plain corpus's bytes; the audio is not."""
    manifest = json.loads((chain_corpus / "synth.json").read_text())
    assert manifest["model"]["channel"] == json.loads(json.dumps(ChannelParams().__dict__))
    for path in sorted(tiny_corpus.rglob("*")):
        relative = path.relative_to(tiny_corpus)
        if not path.is_file() or relative.name == "synth.json":
            continue
        same = path.read_bytes() == (chain_corpus / relative).read_bytes()
        assert same == (relative.parts[0] != "recordings_audio"), relative


def test_a_flat_chain_is_the_plain_recording_at_the_drawn_gain(
    tiny_corpus: Path, chain_corpus: Path
) -> None:
    sessions = json.loads((chain_corpus / "synth.json").read_text())["sessions"]
    flat = [s for s in sessions if s["chain"]["colouring"] == "flat" and not s["clipped_samples"]]
    assert flat, "seed 0 of tiny-chain draws a flat, unclipped session"
    for session in flat:
        name = session["name"]
        plain, _ = soundfile.read(tiny_corpus / "recordings_audio" / f"{name}.wav")
        chained, _ = soundfile.read(chain_corpus / "recordings_audio" / f"{name}.wav")
        level_db = 20 * np.log10(np.std(chained) / np.std(plain))
        assert level_db == pytest.approx(session["chain"]["gain_db"], abs=0.01)


def test_gains_and_colourings_are_drawn_over_the_documented_ranges() -> None:
    params = ChannelParams()
    chains = [draw_chain(np.random.default_rng([0, i]), params) for i in range(400)]
    gains = np.array([c.gain_db for c in chains])
    assert gains.min() < -11 and gains.max() > 11 and np.all(np.abs(gains) <= 12)
    counts = {name: sum(c.colouring == name for c in chains) for name in params.colourings}
    assert min(counts.values()) > 400 / len(counts) / 2  # every colouring is drawn


@pytest.mark.parametrize("shape", [name for name, points in SHAPES.items() if points])
def test_a_colouring_fir_follows_its_magnitude_points(shape: str) -> None:
    points = SHAPES[shape]
    taps = magnitude_fir(points, RATE)
    assert np.allclose(taps, taps[::-1])  # symmetric: zero phase once the delay is removed
    response = np.abs(np.fft.rfft(taps, 1 << 16))
    freqs = np.fft.rfftfreq(1 << 16, 1 / RATE)
    for hz, db in points:
        measured = 20 * np.log10(response[np.argmin(np.abs(freqs - hz))])
        # the Hann window smooths corners by ~2 FIR bins (31 Hz); points lie on corners
        assert measured == pytest.approx(db, abs=2.0), (shape, hz)


def test_a_room_adds_a_tail_at_the_drawn_direct_to_reverberant_ratio() -> None:
    chain = Chain("room", gain_db=0.0, rt60_s=0.4, drr_db=6.0)
    impulse = np.zeros(RATE)
    impulse[100] = 1.0
    out = apply_chain(np.random.default_rng(0), impulse, chain, RATE)
    assert out[100] == pytest.approx(1.0) and np.max(np.abs(out[:100])) < 1e-12  # causal
    tail = out[101 : 101 + round(0.4 * RATE)]
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0, abs=0.01)
    first, last = np.std(tail[:800]), np.std(tail[-800:])
    expected_db = 60.0 * (tail.size - 800) / tail.size  # window centres 0.35 s apart
    assert 20 * np.log10(first / last) == pytest.approx(expected_db, abs=1.0)


def _median_f0(samples: np.ndarray, rate: int) -> float:
    """Autocorrelation F0 (60-400 Hz) over the voiced 64 ms frames."""
    f0 = []
    for start in range(0, samples.size - 1024, 512):
        frame = samples[start : start + 1024]
        if np.std(frame) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[1023:]
        lo, hi = rate // 400, rate // 60
        f0.append(rate / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0))


@pytest.mark.parametrize("variant", sorted(set(speech.FLITE_VOICES.values())))
def test_flite_voices_follow_the_pitch_and_rate_they_are_given(
    variant: str, tmp_path: Path
) -> None:
    """The prosody cues of the corpus exist for the second engine too: +40 pitch units is
    +8.8 semitones asked (F0 ratio 1.66); 130 -> 220 wpm is a 0.59 duration ratio asked."""
    require_program("flite", "apt-get install flite")
    voice = speech.Voice("en-us", variant, 48.0, 170.0, engine=speech.FLITE)
    text = "the weather is warm today and the river is quiet"
    low, rate = speech.synthesize(text, voice, 28, 130, tmp_path)
    high, _ = speech.synthesize(text, voice, 68, 220, tmp_path)
    assert 1.3 < _median_f0(high, rate) / _median_f0(low, rate) < 2.1
    assert 0.45 < high.size / low.size < 0.75


def test_a_flite_preset_gives_each_split_its_own_flite_voice(tmp_path: Path) -> None:
    require_program("flite", "apt-get install flite")
    root = tmp_path / "flite"
    generate_corpus(root, preset="tiny-chain-flite", seed=0, sample_rate=RATE, jobs=2)
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["flite"].startswith("2.")
    flite = {s["split"]: s["flite_voice"] for s in manifest["sessions"] if "flite_voice" in s}
    assert flite == speech.FLITE_VOICES  # one session per split in tiny (a third of 2)
    assert sum(s.split == "test" for s in AvecCorpus(root).sessions) == 2  # read like any
