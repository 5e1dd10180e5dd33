"""What moves a model's readings: recording gain, tempo and pitch of the same utterances.

    python scripts/voice_robustness.py make OUT            # the utterances and their versions
    python scripts/voice_robustness.py measure OUT MODEL.onnx [MODEL.onnx ...] [--json FILE]

``make`` writes, per voice, a session of four sentences with 0.4 s pauses of faint noise
between them, in eight versions: as spoken, at -12, -8 and +6 dB (a constant gain over the
whole session, clipped to int16 like a recording), at tempo 0.8 and 1.25 and at -300 and
+300 cents (sox ``tempo``/``pitch`` on each sentence, so the pauses stay). The voices: 16
espeak-ng voices (random accent + variant, neutral settings), the 4 flite voices, and
``real``: the 8 human prompts of alsa-utils (48 kHz read speech, ``/usr/share/sounds/alsa``),
resampled to 16 kHz, one session.

``measure`` streams every version through the model hop by hop, without the speech gate (as
``edge-affect run --no-gate``), and takes each sentence's mean reading over the hops inside
it. A session's first sentence is the warm-up and is left out of every figure. It prints, per
model, the table: mean arousal of the low and high version, the share of sentences whose
high version reads higher, and for the gains the mean change of arousal and valence.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import soxr

from edge_affect import AffectModel
from edge_affect.audio import HOP_SAMPLES, SAMPLE_RATE

SENTENCES = (
    "the old bridge was closed for the winter",
    "she left the letter on the kitchen table",
    "we walked along the river until it was dark",
    "the train to the city leaves at seven",
)
ALSA_PROMPTS = Path("/usr/share/sounds/alsa")
ALSA_NAMES = (
    "Front_Center", "Front_Left", "Front_Right", "Rear_Center",
    "Rear_Left", "Rear_Right", "Side_Left", "Side_Right",
)  # fmt: skip
PAUSE_S = 0.4
NOISE_DBFS = -60.0
#: version name -> (kind, amount); "orig" is the session as spoken
VERSIONS = {
    "orig": ("none", 0.0),
    "gain-12": ("gain", -12.0),
    "gain-8": ("gain", -8.0),
    "gain+6": ("gain", 6.0),
    "tempo0.8": ("tempo", 0.8),
    "tempo1.25": ("tempo", 1.25),
    "pitch-300": ("pitch", -300.0),
    "pitch+300": ("pitch", 300.0),
}
#: the table: (row, low version, high version)
PAIRS = (
    ("gain -8 dB -> 0 dB", "gain-8", "orig"),
    ("gain -12 dB -> 0 dB", "gain-12", "orig"),
    ("gain 0 dB -> +6 dB", "orig", "gain+6"),
    ("tempo 0.8 -> 1.25", "tempo0.8", "tempo1.25"),
    ("pitch -300 -> +300 cents", "pitch-300", "pitch+300"),
)
ESPEAK_VOICES = 16
FLITE_VOICES = ("kal16", "awb", "slt", "rms")


def _espeak(text: str, voice: str, out: Path) -> None:
    cmd = ["espeak-ng", "-v", voice, "-p", "50", "-s", "170", "-w", str(out), text]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _flite(text: str, voice: str, out: Path) -> None:
    cmd = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _read_16k(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(mono) > 1e-3)
    trimmed = mono[loud[0] : loud[-1] + 1]
    return np.asarray(trimmed / np.sqrt(np.mean(trimmed**2)) * 10 ** (-26 / 20))  # -26 dBFS


def _sox(samples: np.ndarray, effect: list[str], work: Path) -> np.ndarray:
    source, target = work / "in.wav", work / "out.wav"
    soundfile.write(str(source), samples, SAMPLE_RATE, subtype="FLOAT")
    cmd = ["sox", "-V1", str(source), str(target), *effect]  # -V1: no header warnings
    subprocess.run(cmd, check=True, timeout=60)
    out, _ = soundfile.read(str(target), dtype="float64")
    return np.asarray(out)


def _session(
    sentences: list[np.ndarray], kind: str, amount: float, work: Path, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The sentences with pauses between them; the sample span of each sentence."""
    parts, spans, at = [], [], 0
    for spoken in sentences:
        sentence = spoken
        if kind == "tempo":
            sentence = _sox(spoken, ["tempo", "-s", str(amount)], work)
        elif kind == "pitch":
            sentence = _sox(spoken, ["pitch", str(amount)], work)
        pause = rng.normal(0, 10 ** (NOISE_DBFS / 20), round(PAUSE_S * SAMPLE_RATE))
        parts += [sentence, pause]
        spans.append((at, at + sentence.size))
        at += sentence.size + pause.size
    audio = np.concatenate(parts)
    if kind == "gain":
        audio = audio * 10 ** (amount / 20)
    return audio, spans


def make(out: Path) -> None:
    """Write every voice's session in every version, with the sentence spans."""
    out.mkdir(parents=True, exist_ok=True)
    accents = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
    variants = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
    picker = np.random.default_rng(0)
    voices: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for i in range(ESPEAK_VOICES):
            name = f"{picker.choice(accents)}+{variants[i % len(variants)]}"
            voices[f"espeak:{name}"] = [_speak(_espeak, s, name, work) for s in SENTENCES]
        for voice in FLITE_VOICES:
            voices[f"flite:{voice}"] = [_speak(_flite, s, voice, work) for s in SENTENCES]
        voices["real:alsa-utils"] = [_read_16k(ALSA_PROMPTS / f"{n}.wav") for n in ALSA_NAMES]
        index: dict[str, Any] = {}
        for v, (voice, sentences) in enumerate(voices.items()):
            for version, (kind, amount) in VERSIONS.items():
                rng = np.random.default_rng([v, 1])  # the same pauses in every version
                audio, spans = _session(sentences, kind, amount, work, rng)
                pcm = np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)
                name = f"{v:02d}-{version}.wav"
                soundfile.write(str(out / name), pcm, SAMPLE_RATE, subtype="PCM_16")
                clipped = int(np.count_nonzero(np.abs(audio) >= 1.0))
                index.setdefault(voice, {})[version] = {
                    "file": name,
                    "spans": spans,
                    "clipped": clipped,
                }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def _speak(engine: Any, text: str, voice: str, work: Path) -> np.ndarray:
    wav = work / "speech.wav"
    engine(text, voice, wav)
    return _read_16k(wav)


def sentence_means(model: AffectModel, path: Path, spans: list[tuple[int, int]]) -> np.ndarray:
    """``[sentences, 2]``: the mean reading over the hops that lie inside each sentence."""
    pcm, _ = soundfile.read(str(path), dtype="int16")
    hops = pcm[: pcm.size // HOP_SAMPLES * HOP_SAMPLES].reshape(-1, HOP_SAMPLES)
    stream = model.stream()
    readings = np.stack([stream.step(hop) for hop in hops])
    means = []
    for start, stop in spans:
        first, last = -(-start // HOP_SAMPLES), stop // HOP_SAMPLES  # hops fully inside
        means.append(readings[first:last].mean(axis=0))
    return np.stack(means)


def measure(folder: Path, model_path: Path) -> dict[str, Any]:
    """The table for one model: every pair over every voice's scored sentences."""
    index = json.loads((folder / "index.json").read_text())
    model = AffectModel(model_path)
    means: dict[str, dict[str, np.ndarray]] = {}
    for voice, versions in index.items():
        means[voice] = {
            version: sentence_means(model, folder / entry["file"], entry["spans"])[1:]
            for version, entry in versions.items()
        }
    groups = {
        "synthetic": [v for v in means if not v.startswith("real:")],
        "real": [v for v in means if v.startswith("real:")],
    }
    result: dict[str, Any] = {"model": str(model_path), "voices": len(means), "groups": {}}
    for group, voices in groups.items():
        stacked = {ver: np.concatenate([means[v][ver] for v in voices]) for ver in VERSIONS}
        rows = []
        for row, low, high in PAIRS:
            lo, hi = stacked[low], stacked[high]
            rows.append(
                {
                    "change": row,
                    "sentences": int(lo.shape[0]),
                    "arousal_low": round(float(lo[:, 0].mean()), 3),
                    "arousal_high": round(float(hi[:, 0].mean()), 3),
                    "valence_low": round(float(lo[:, 1].mean()), 3),
                    "valence_high": round(float(hi[:, 1].mean()), 3),
                    "high_reads_higher_arousal": round(float(np.mean(hi[:, 0] > lo[:, 0])), 3),
                    "mean_abs_change": [round(float(x), 3) for x in np.abs(hi - lo).mean(axis=0)],
                }
            )
        orig = stacked["orig"]
        result["groups"][group] = {
            "rows": rows,
            "as_spoken": [round(float(x), 3) for x in orig.mean(axis=0)],
        }
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"{result['model']} ({result['voices']} voices)")
    for group, table in result["groups"].items():
        arousal, valence = table["as_spoken"]
        print(f"  {group}: as spoken arousal {arousal:+.3f} valence {valence:+.3f}")
        for r in table["rows"]:
            print(
                f"    {r['change']:26s} arousal {r['arousal_low']:+.3f} -> "
                f"{r['arousal_high']:+.3f}, higher in {100 * r['high_reads_higher_arousal']:5.1f} %"
                f" of {r['sentences']}; mean |change| a {r['mean_abs_change'][0]:.3f}"
                f" v {r['mean_abs_change'][1]:.3f}"
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("make").add_argument("out", type=Path)
    measure_args = sub.add_parser("measure")
    measure_args.add_argument("folder", type=Path)
    measure_args.add_argument("models", type=Path, nargs="+")
    measure_args.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        make(args.out)
        return 0
    results = [measure(args.folder, model) for model in args.models]
    for result in results:
        _print(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
