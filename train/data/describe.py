"""``edge-affect data describe``: what a corpus holds and, for the synthetic corpus,
measured evidence that the simulation is not degenerate.

Evidence (synthetic corpus only; it needs the latent truth in ``latent/``):

* ``energy_arousal_r`` / ``f0_arousal_r``: Pearson r between log-energy (dB) or F0
  (semitones re the session median) and latent arousal, both averaged over the speech
  frames of 2 s windows and centred per session (speaker normalisation). ``*_valence_r``
  is the same for valence; since arousal and valence are correlated, the audio's own
  valence cue is ``*_valence_partial_r`` (valence given arousal), which must be weak.
* ``video_valence_r`` etc.: r of a least-squares linear readout fitted on train sessions
  and scored on dev + test (features z-scored per session): the stronger modality.
* ``gold_latent_ccc`` and ``rater_delay_s``: how the gold standard relates to the truth,
  and the delay (0-8 s) that maximises their correlation (the annotation delay).
* ``speech_ratio`` and measured ``snr_db`` (speech-frame vs pause-frame power).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S, HOP_SAMPLES, LABEL_NAMES, LABEL_RATE_HZ, SAMPLE_RATE
from edge_affect.errors import DataFormatError
from edge_affect.scoring.metrics import ccc
from edge_affect_train.data.avec import AUDIO_SHORTFALL_TOLERANCE_S, SPLITS, AvecCorpus, Session
from edge_affect_train.data.mosi import is_mosi_source, open_mosi
from edge_affect_train.data.mosi_describe import describe_mosi, format_mosi
from edge_affect_train.data.text import section

MANIFEST = "synth.json"
LATENT_DIR = "latent"
#: Analysis window around each 40 ms frame (samples at 16 kHz): 64 ms.
ANALYSIS_SAMPLES = 1024
F0_RANGE_HZ = (60.0, 400.0)
VOICING_THRESHOLD = 0.45
MAX_DELAY_S = 8.0
#: Acoustic evidence compares means over windows this long (phrase scale).
EVIDENCE_WINDOW_S = 2.0
_CHUNK_FRAMES = 2048


@dataclass(frozen=True)
class SessionAnalysis:
    name: str
    split: str
    latent: FloatArray  # (frames, 2)
    speech: FloatArray  # (frames,) 0/1
    energy_db: FloatArray
    f0_semitones: FloatArray  # NaN where unvoiced
    snr_db: float


# ---------------------------------------------------------------------- acoustics


def _frames(samples: FloatArray, n_frames: int) -> Iterator[tuple[int, FloatArray]]:
    """Windows of ANALYSIS_SAMPLES centred on each frame time, in chunks."""
    half = ANALYSIS_SAMPLES // 2
    padded = np.pad(samples.astype(np.float64), (half, half + n_frames * HOP_SAMPLES))
    windows = np.lib.stride_tricks.sliding_window_view(padded, ANALYSIS_SAMPLES)[::HOP_SAMPLES]
    for start in range(0, n_frames, _CHUNK_FRAMES):
        yield start, np.asarray(windows[start : min(start + _CHUNK_FRAMES, n_frames)])


def frame_energy_f0(samples: FloatArray, n_frames: int) -> tuple[FloatArray, FloatArray]:
    """Per-frame log energy (dB) and autocorrelation F0 (Hz, NaN when unvoiced) at 16 kHz."""
    energy = np.empty(n_frames)
    f0 = np.full(n_frames, np.nan)
    lo = int(SAMPLE_RATE / F0_RANGE_HZ[1])
    hi = int(SAMPLE_RATE / F0_RANGE_HZ[0])
    window = np.hanning(ANALYSIS_SAMPLES)
    for start, chunk in _frames(samples, n_frames):
        centred = chunk - chunk.mean(axis=1, keepdims=True)
        energy[start : start + len(chunk)] = 10 * np.log10(np.mean(centred**2, axis=1) + 1e-10)
        spectrum = np.fft.rfft(centred * window, 2 * ANALYSIS_SAMPLES)
        acf = np.fft.irfft(np.abs(spectrum) ** 2)[:, : hi + 1]
        # unbias the Hann-windowed autocorrelation by the window's own autocorrelation
        norm = np.correlate(window, window, "full")[ANALYSIS_SAMPLES - 1 :][: hi + 1]
        acf = acf / np.maximum(acf[:, :1], 1e-12) / (norm / norm[0])
        lag = lo + np.argmax(acf[:, lo:hi], axis=1)
        peak = acf[np.arange(len(chunk)), lag]
        voiced = peak > VOICING_THRESHOLD
        f0[start : start + len(chunk)][voiced] = SAMPLE_RATE / lag[voiced]
    return energy, f0


def _measured_snr_db(energy_db: FloatArray, speech: FloatArray) -> float:
    if speech.all() or not speech.any():
        return float("nan")
    p_speech = np.mean(10 ** (energy_db[speech > 0] / 10))
    p_noise = np.mean(10 ** (energy_db[speech == 0] / 10))
    return float(10 * np.log10(max(p_speech - p_noise, 1e-12) / p_noise))


def _read_latent(corpus: AvecCorpus, session: Session) -> FloatArray:
    path = corpus.root / LATENT_DIR / f"{session.name}.csv"
    try:
        table = np.loadtxt(path, delimiter=";", skiprows=1, ndmin=2)
    except (OSError, ValueError) as error:
        raise DataFormatError(f"{path}: cannot read the latent truth ({error})") from None
    return np.asarray(table, dtype=np.float64)


def analyse_session(corpus: AvecCorpus, session: Session) -> SessionAnalysis:
    latent = _read_latent(corpus, session)
    n = latent.shape[0]
    samples = corpus.audio(session).samples.astype(np.float64)
    energy, f0 = frame_energy_f0(samples, n)
    speech = latent[:, 3]
    voiced = np.isfinite(f0) & (speech > 0)
    semitones = np.full(n, np.nan)
    if voiced.any():
        semitones[voiced] = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    return SessionAnalysis(
        name=session.name,
        split=session.split,
        latent=latent[:, 1:3],
        speech=speech,
        energy_db=energy,
        f0_semitones=semitones,
        snr_db=_measured_snr_db(energy, speech),
    )


# ---------------------------------------------------------------------- evidence


def _pearson(x: FloatArray, y: FloatArray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(y[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(x[keep], y[keep])[0, 1])


def _windows(values: FloatArray, keep: FloatArray) -> FloatArray:
    """Means of ``values`` over the kept frames of each EVIDENCE_WINDOW_S window."""
    size = int(EVIDENCE_WINDOW_S * LABEL_RATE_HZ)
    n = values.shape[0] // size * size
    v = np.where(keep, values, np.nan)[:n].reshape(-1, size)
    counts = np.sum(np.isfinite(v), axis=1)
    means = np.full(v.shape[0], np.nan)
    enough = counts >= size // 4
    means[enough] = np.nanmean(v[enough], axis=1)
    return means


def _centred(x: FloatArray) -> FloatArray:
    return x - np.nanmean(x, axis=0) if np.isfinite(x).any() else x


def _windowed_speech(
    analyses: list[SessionAnalysis], attribute: str
) -> tuple[FloatArray, FloatArray]:
    """Session-centred window means of an acoustic measure and of the latent (w, 2)."""
    xs, ys = [], []
    for a in analyses:
        values = getattr(a, attribute)
        keep = (a.speech > 0) & np.isfinite(values)
        xs.append(_centred(_windows(values, keep)))
        ys.append(np.column_stack([_centred(_windows(a.latent[:, d], keep)) for d in (0, 1)]))
    return np.concatenate(xs), np.concatenate(ys)


def _residual(y: FloatArray, x: FloatArray) -> FloatArray:
    keep = np.isfinite(x) & np.isfinite(y)
    out = np.full_like(y, np.nan)
    slope = np.dot(x[keep], y[keep]) / max(float(np.dot(x[keep], x[keep])), 1e-12)
    out[keep] = y[keep] - slope * x[keep]
    return out


def acoustic_evidence(analyses: list[SessionAnalysis]) -> dict[str, float]:
    """r of windowed energy/F0 with arousal, with valence, and with valence given arousal."""
    out: dict[str, float] = {}
    for attribute, label in (("energy_db", "energy"), ("f0_semitones", "f0")):
        x, latent = _windowed_speech(analyses, attribute)
        arousal, valence = latent[:, 0], latent[:, 1]
        out[f"{label}_arousal_r"] = _pearson(x, arousal)
        out[f"{label}_valence_r"] = _pearson(x, valence)
        out[f"{label}_valence_partial_r"] = _pearson(
            _residual(x, arousal), _residual(valence, arousal)
        )
    return out


def linear_readout_r(
    corpus: AvecCorpus, analyses: list[SessionAnalysis], modality: str, dim: int
) -> float:
    """Within-session r of a ridge readout from ``modality`` to latent ``dim``.

    Features and targets are centred per session (subject identity removed); the readout
    is fitted on train sessions and scored on dev + test frames.
    """

    def stack(splits: tuple[str, ...]) -> tuple[FloatArray, FloatArray]:
        chosen = [a for a in analyses if a.split in splits]
        if not chosen:
            return np.empty((0, 1)), np.empty(0)
        x = [_centred(corpus.features(corpus.session(a.name), modality)) for a in chosen]
        y = [_centred(a.latent[:, dim]) for a in chosen]
        return np.concatenate(x), np.concatenate(y)

    x_train, y_train = stack(("train",))
    x_eval, y_eval = stack(("dev", "test"))
    if y_train.size == 0 or y_eval.size == 0:
        return float("nan")
    ridge = 1e-3 * len(x_train) * np.eye(x_train.shape[1])
    weights = np.linalg.solve(x_train.T @ x_train + ridge, x_train.T @ y_train)
    return _pearson(x_eval @ weights, y_eval)


def _gold_relation(
    corpus: AvecCorpus, analyses: list[SessionAnalysis], dim: int
) -> tuple[float, float]:
    golds = [corpus.gold(corpus.session(a.name), LABEL_NAMES[dim]) for a in analyses]
    truth = [a.latent[:, dim] for a in analyses]
    raw = ccc(np.concatenate(golds), np.concatenate(truth))
    best_r, best_shift = -2.0, 0
    for shift in range(int(MAX_DELAY_S * LABEL_RATE_HZ) + 1):
        r = _pearson(
            np.concatenate([g[shift:] for g in golds]),
            np.concatenate([t[: len(t) - shift] for t in truth]),
        )
        if r > best_r:
            best_r, best_shift = r, shift
    return raw, best_shift * HOP_S


def synthetic_evidence(corpus: AvecCorpus) -> dict[str, Any]:
    analyses = [analyse_session(corpus, s) for s in corpus.sessions]
    evidence: dict[str, Any] = {}
    evidence.update({k: round(v, 4) for k, v in acoustic_evidence(analyses).items()})
    for modality in corpus.modalities:
        for dim, name in enumerate(LABEL_NAMES):
            key = f"{modality}_{name}_r"
            evidence[key] = round(linear_readout_r(corpus, analyses, modality, dim), 4)
    for dim, name in enumerate(LABEL_NAMES):
        raw, delay_s = _gold_relation(corpus, analyses, dim)
        evidence[f"gold_latent_ccc_{name}"] = round(raw, 4)
        evidence[f"rater_delay_s_{name}"] = round(delay_s, 2)
    speech = np.concatenate([a.speech for a in analyses])
    snrs = np.array([a.snr_db for a in analyses])
    evidence["speech_ratio"] = round(float(speech.mean()), 4)
    evidence["snr_db"] = {
        "min": round(float(np.nanmin(snrs)), 2),
        "median": round(float(np.nanmedian(snrs)), 2),
        "max": round(float(np.nanmax(snrs)), 2),
    }
    return evidence


# ---------------------------------------------------------------------- description


def _label_stats(corpus: AvecCorpus) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for name in LABEL_NAMES:
        per_split = {}
        for split in SPLITS:
            sessions = [s for s in corpus.split(split) if corpus.has_labels(s)]
            if not sessions:
                continue
            values = np.concatenate([corpus.gold(s, name) for s in sessions])
            per_split[split] = {
                "mean": round(float(values.mean()), 4),
                "sd": round(float(values.std()), 4),
                "min": round(float(values.min()), 4),
                "max": round(float(values.max()), 4),
            }
        stats[name] = per_split
    return stats


def _inter_rater_r(corpus: AvecCorpus) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in LABEL_NAMES:
        rs, raters = [], 0
        for session in corpus.sessions:
            path = corpus.root / "ratings_individual" / name / f"{session.name}.csv"
            if not path.is_file():
                continue
            values = corpus.ratings(session, name).values
            raters = values.shape[1]
            matrix = np.corrcoef(values.T)
            rs.append(matrix[np.triu_indices(raters, 1)].mean())
        if rs:
            out[name] = {"raters": raters, "mean_pairwise_r": round(float(np.mean(rs)), 4)}
    return out


def _label_overrun(corpus: AvecCorpus, session: Session, audio_s: float) -> str | None:
    """A warning when the gold standard runs past the end of the audio (a label file that
    belongs to another recording, or a cut recording); training would refuse the session."""
    if not corpus.has_labels(session):
        return None
    labels_s = (corpus.n_frames(session) - 1) * HOP_S
    if labels_s <= audio_s + AUDIO_SHORTFALL_TOLERANCE_S:
        return None
    return (
        f"{session.name}: the gold standard runs to {labels_s:.2f} s but the audio lasts "
        f"{audio_s:.2f} s (training refuses this session)"
    )


def describe(corpus: AvecCorpus, *, evidence: bool = True) -> dict[str, Any]:
    """A JSON-ready description of ``corpus``; ``warnings`` lists problems found."""
    splits: dict[str, Any] = {}
    rates: set[int] = set()
    channels: set[int] = set()
    warnings: list[str] = []
    for split in SPLITS:
        sessions = corpus.split(split)
        durations = []
        for session in sessions:
            rate, n_channels, duration = corpus.audio_info(session)
            rates.add(rate)
            channels.add(n_channels)
            durations.append(duration)
            overrun = _label_overrun(corpus, session, duration)
            if overrun is not None:
                warnings.append(overrun)
        splits[split] = {
            "sessions": len(sessions),
            "labelled": sum(corpus.has_labels(s) for s in sessions),
            "duration_s": round(float(sum(durations)), 2),
        }
    modalities = {}
    for modality in corpus.modalities:
        first = corpus.sessions[0]
        modalities[modality] = {
            "dimension": len(corpus.feature_table(first, modality).feature_names)
        }
    description: dict[str, Any] = {
        "kind": "synthetic" if (corpus.root / MANIFEST).is_file() else "avec2016",
        "splits": splits,
        "audio": {"sample_rates_hz": sorted(rates), "channels": sorted(channels)},
        "modalities": modalities,
        "labels": _label_stats(corpus),
        "raters": _inter_rater_r(corpus),
        "warnings": warnings,
    }
    if description["kind"] == "synthetic":
        manifest = json.loads((corpus.root / MANIFEST).read_text(encoding="utf-8"))
        description["synthetic"] = {
            "preset": manifest["preset"]["name"],
            "seed": manifest["seed"],
            "espeak_ng": manifest["espeak_ng"],
            "configured_snr_db": [s["snr_db"] for s in manifest["sessions"]],
        }
        if evidence:
            description["evidence"] = synthetic_evidence(corpus)
    return description


# ---------------------------------------------------------------------- text


def format_description(d: dict[str, Any]) -> str:
    """The description as readable aligned text."""
    lines: list[str] = [f"corpus kind: {d['kind']}", ""]
    if d.get("warnings"):
        lines += ["warnings", *(f"  ! {w}" for w in d["warnings"]), ""]
    lines += section(
        "splits",
        [
            (
                s,
                f"{v['sessions']} sessions ({v['labelled']} labelled), "
                f"{v['duration_s'] / 60:.1f} min",
            )
            for s, v in d["splits"].items()
        ],
    )
    audio = d["audio"]
    lines += section(
        "audio",
        [
            ("sample rate (Hz)", ", ".join(map(str, audio["sample_rates_hz"]))),
            ("channels", ", ".join(map(str, audio["channels"]))),
        ],
    )
    lines += section("modalities", [(m, f"{v['dimension']}-d") for m, v in d["modalities"].items()])
    label_rows = [
        (
            f"{dim} {split}",
            f"mean {v['mean']:+.3f}  sd {v['sd']:.3f}  range [{v['min']:+.3f}, {v['max']:+.3f}]",
        )
        for dim, splits in d["labels"].items()
        for split, v in splits.items()
    ]
    lines += section("gold standard", label_rows)
    lines += section(
        "raters",
        [
            (dim, f"{v['raters']} raters, mean pairwise r {v['mean_pairwise_r']:.3f}")
            for dim, v in d["raters"].items()
        ],
    )
    if "evidence" in d:
        rows = [
            (k, json.dumps(v) if isinstance(v, dict) else f"{v}") for k, v in d["evidence"].items()
        ]
        lines += section(
            f"synthetic evidence (preset {d['synthetic']['preset']}, "
            f"seed {d['synthetic']['seed']})",
            rows,
        )
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------- dispatch


def describe_path(path: Path, *, evidence: bool = True) -> dict[str, Any]:
    """Describe an AVEC-layout corpus or a CMU-MOSI source (``.csd`` folder or pickle).

    For a ``.csd`` folder, videos in no standard fold are listed, not an error."""
    if is_mosi_source(path):
        return describe_mosi(open_mosi(path, unassigned="drop" if path.is_dir() else "error"))
    return describe(AvecCorpus(path), evidence=evidence)


def format_any(d: dict[str, Any]) -> str:
    if d["kind"].startswith(("cmu-mosi", "mult", "mmsa")):
        return format_mosi(d)
    return format_description(d)
