"""Real speech from espeak-ng whose prosody follows the latent affect, placed in time
with pauses, mixed with background noise at a set SNR."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from edge_affect.audio import HOP_S, LABEL_RATE_HZ
from edge_affect.errors import DataFormatError, ToolMissingError
from edge_affect_train.audio_io import resample
from edge_affect_train.synth.config import NoiseParams, SpeechParams
from edge_affect_train.synth.signals import FloatArray, db_to_amplitude, pink_noise

ESPEAK = "espeak-ng"
FLITE = "flite"
ENGINES = (ESPEAK, FLITE)
ESPEAK_TIMEOUT_S = 30.0
#: flite voices (CMU, each built from one recorded speaker) and how their pitch is set:
#: ``f0_shift`` scales the clustergen voices' F0; the diphone voice kal16 takes a target mean.
#: rms (clustergen) ignores both, so it is left out. One voice per split, like the espeak
#: variants: no timbre is shared across train, dev and test.
FLITE_VOICES = {"train": "kal16", "dev": "awb", "test": "slt"}
FLITE_ACCENTS = {"kal16": "en-us", "awb": "en-gb-scotland", "slt": "en-us"}
FLITE_TARGET_MEAN_VOICES = {"kal16": 100.0}  # voice -> F0 target mean (Hz) at no shift
#: espeak ``-p`` units -> flite: one unit is ~0.22 semitone; unit 48 (the middle of the
#: subjects' base range) is the flite voice's own pitch. Rate: 170 wpm is its own tempo.
SEMITONES_PER_PITCH_UNIT = 0.22
FLITE_REFERENCE_PITCH = 48.0
FLITE_REFERENCE_WPM = 170.0
#: Samples quieter than this (relative to full scale) at a phrase's edges are trimmed.
TRIM_THRESHOLD = 1e-3
#: Affect that sets a phrase's prosody: the latent mean over this span from its start.
PROSODY_SPAN_S = 2.0

#: Vocabulary of the spoken phrases (common English words; content carries no affect).
_VOCABULARY = """
    about above across after again against almost alone along already always among answer
    around away back because become before began behind believe below between big both bring
    brother call came carry change children city close cold come could country course cover
    cross dark day different does done door down draw during early earth easy enough even
    evening every example eyes face family far father feel few field find fire first follow
    food form found four friend from front full garden gave given good great green ground
    group grow half hand happy hard head hear heart heavy help here high hold home horse
    hour house idea important inside island just keep kind king know land large last late
    learn leave left letter life light line listen little live long look made make many mark
    market may mean measure might mile mind money more morning most mother mountain move
    much music must name near need never next night nothing notice number often only open
    order other over paper part people perhaps picture place plant play point power problem
    question quick quiet rain read ready real river road rock room round run said same
    school science sea second seem several shall short show side simple since small snow
    something song soon sound south space stand start state still stood story street strong
    study sudden summer sun sure table take talk tell thing think thought through time today
    together told took toward town travel tree true turn under until usual very voice walk
    warm watch water weather week well went while white whole wind window winter without
    word work world write year young
"""
WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True)
class Voice:
    """A simulated subject's voice: engine, accent + variant, base pitch and rate.

    espeak-ng: ``accent`` is a language voice and ``variant`` one of its variants. flite:
    ``variant`` is the flite voice and ``accent`` its speaker's (``en-us``, ``en-gb-scotland``).
    """

    accent: str
    variant: str
    base_pitch: float
    base_rate_wpm: float
    engine: str = ESPEAK

    @property
    def espeak_name(self) -> str:
        return f"{self.accent}+{self.variant}"

    def to_dict(self) -> dict[str, object]:
        """The manifest entry; espeak-ng voices write what they wrote before flite."""
        entry: dict[str, object] = {
            "accent": self.accent,
            "variant": self.variant,
            "base_pitch": self.base_pitch,
            "base_rate_wpm": self.base_rate_wpm,
        }
        if self.engine != ESPEAK:
            entry["engine"] = self.engine
        return entry


@dataclass(frozen=True)
class Phrase:
    start_s: float
    duration_s: float
    words: int
    pitch: int
    rate_wpm: int
    level_dbfs: float


def _tool_output(program: str, why: str) -> str:
    """``program --version``'s output (flite 2.2 prints it and exits 1, so the status is
    not checked); a missing program is a :class:`ToolMissingError` saying what needs it."""
    if shutil.which(program) is None:
        raise ToolMissingError(
            f"{program} is not installed (Debian: apt-get install {program}); {why}"
        )
    return subprocess.run(
        [program, "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout


def espeak_version() -> str:
    """The espeak-ng version string (without the machine's data path)."""
    out = _tool_output(ESPEAK, "the synthetic corpus needs it for real speech")
    match = re.search(r"text-to-speech:\s*(\S+)", out)
    return match.group(1) if match else out.split("Data at")[0].strip()


def flite_version() -> str:
    """The flite version string (``2.2`` style)."""
    out = _tool_output(FLITE, "the presets with flite voices need it")
    match = re.search(r"flite-(\S+)", out)
    return match.group(1) if match else out.strip()


def _engine_command(text: str, voice: Voice, pitch: int, rate_wpm: int, wav: Path) -> list[str]:
    if voice.engine == ESPEAK:
        name = voice.espeak_name
        return [ESPEAK, "-v", name, "-p", str(pitch), "-s", str(rate_wpm), "-w", str(wav), text]
    shift = 2.0 ** ((pitch - FLITE_REFERENCE_PITCH) * SEMITONES_PER_PITCH_UNIT / 12.0)
    target_mean = FLITE_TARGET_MEAN_VOICES.get(voice.variant)
    pitch_setting = (
        f"int_f0_target_mean={target_mean * shift:.2f}"
        if target_mean is not None
        else f"f0_shift={shift:.4f}"
    )
    stretch = f"duration_stretch={FLITE_REFERENCE_WPM / rate_wpm:.4f}"
    settings = ["--setf", stretch, "--setf", pitch_setting]
    return [FLITE, "-voice", voice.variant, *settings, "-t", text, "-o", str(wav)]


def synthesize(
    text: str, voice: Voice, pitch: int, rate_wpm: int, work: Path
) -> tuple[FloatArray, int]:
    """Speak ``text`` with the voice's engine; return trimmed float samples and their rate."""
    wav = work / "phrase.wav"
    cmd = _engine_command(text, voice, pitch, rate_wpm, wav)
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S, check=False
    )
    name = f"{voice.engine} voice {voice.espeak_name if voice.engine == ESPEAK else voice.variant}"
    if result.returncode != 0:
        raise DataFormatError(f"{name} failed: {result.stderr.strip()}")
    samples, rate = soundfile.read(str(wav), dtype="float64")
    loud = np.flatnonzero(np.abs(samples) > TRIM_THRESHOLD)
    if loud.size == 0:
        raise DataFormatError(f"{name} produced silence")
    return samples[loud[0] : loud[-1] + 1], int(rate)


def _phrase_affect(latent: FloatArray, start_s: float) -> tuple[float, float]:
    first = min(int(start_s * LABEL_RATE_HZ), latent.shape[0] - 1)
    span = latent[first : first + int(PROSODY_SPAN_S * LABEL_RATE_HZ)]
    a, v = span.mean(axis=0)
    return float(a), float(v)


def _prosody(voice: Voice, a: float, v: float, p: SpeechParams) -> tuple[int, int, float]:
    pitch = voice.base_pitch + p.pitch_per_arousal * a + p.pitch_per_valence * v
    rate = voice.base_rate_wpm + p.rate_per_arousal * a + p.rate_per_valence * v
    level = p.speech_level_dbfs + p.gain_db_per_arousal * a
    return int(np.clip(round(pitch), 1, 99)), int(np.clip(round(rate), 90, 400)), level


def _pause_s(rng: np.random.Generator, a: float, p: SpeechParams) -> float:
    pause = max(p.pause_min_s, rng.exponential(p.pause_mean_s * (1.0 - p.pause_arousal_factor * a)))
    if rng.random() < p.listening_probability:
        pause += rng.uniform(*p.listening_s)
    return float(pause)


def render_speech(
    rng: np.random.Generator,
    latent: FloatArray,
    voice: Voice,
    n_samples: int,
    sample_rate: int,
    params: SpeechParams,
    work: Path,
) -> tuple[FloatArray, np.ndarray, list[Phrase]]:
    """Lay phrases out over the session; return clean speech, its sample mask, the phrases."""
    speech = np.zeros(n_samples)
    mask = np.zeros(n_samples, dtype=bool)
    phrases: list[Phrase] = []
    t = rng.uniform(0.3, 1.0)
    while True:
        a, v = _phrase_affect(latent, t)
        pitch, rate, level = _prosody(voice, a, v, params)
        n_words = int(rng.integers(params.words_per_phrase[0], params.words_per_phrase[1] + 1))
        text = " ".join(rng.choice(WORDS, n_words))
        raw, raw_rate = synthesize(text, voice, pitch, rate, work)
        wave = resample(raw, raw_rate, sample_rate).astype(np.float64)
        start = round(t * sample_rate)
        if start + wave.shape[0] > n_samples:
            break
        rms = np.sqrt(np.mean(wave**2))
        speech[start : start + wave.shape[0]] = wave * db_to_amplitude(level) / rms
        mask[start : start + wave.shape[0]] = True
        phrases.append(Phrase(t, wave.shape[0] / sample_rate, n_words, pitch, rate, level))
        t += wave.shape[0] / sample_rate + _pause_s(rng, a, params)
    return speech, mask, phrases


def make_noise(
    rng: np.random.Generator, n_samples: int, sample_rate: int, params: NoiseParams
) -> FloatArray:
    """Unit-power background noise: pink noise and mains hum, slowly level-modulated."""
    t = np.arange(n_samples) / sample_rate
    hum = sum(
        np.sin(2 * np.pi * params.hum_hz * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3)
    )
    hum = np.asarray(hum) / np.sqrt(np.mean(np.asarray(hum) ** 2))
    noise = (
        np.sqrt(1 - params.hum_share) * pink_noise(rng, n_samples) + np.sqrt(params.hum_share) * hum
    )
    wobble = params.modulation_db * np.sin(
        2 * np.pi * params.modulation_hz * t + rng.uniform(0, 6.3)
    )
    noise = noise * db_to_amplitude(wobble)
    return np.asarray(noise / np.sqrt(np.mean(noise**2)), dtype=np.float64)


def mix_at_snr(
    speech: FloatArray, mask: np.ndarray, noise: FloatArray, snr_db: float
) -> FloatArray:
    """Add ``noise`` scaled so active-speech power / noise power = ``snr_db``."""
    speech_power = float(np.mean(speech[mask] ** 2)) if mask.any() else 1e-6
    scale = np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return np.asarray(speech + scale * noise, dtype=np.float64)


def frame_speech_flags(mask: np.ndarray, sample_rate: int, n_frames: int) -> FloatArray:
    """1.0 where more than half of the 40 ms around a frame's time is speech."""
    half = round(HOP_S * sample_rate / 2)
    cumulative = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    centres = np.round(np.arange(n_frames) * HOP_S * sample_rate).astype(np.int64)
    lo = np.clip(centres - half, 0, mask.shape[0])
    hi = np.clip(centres + half, 0, mask.shape[0])
    share = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    return np.asarray(share > 0.5, dtype=np.float64)
