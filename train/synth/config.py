"""Presets and every number of the synthetic corpus's generative model.

``docs/synthetic_corpus.md`` explains what drives what; the numbers live here only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

SPLITS = ("train", "dev", "test")
DIMENSIONS = ("arousal", "valence")


@dataclass(frozen=True)
class Preset:
    """Size of a corpus, and whether each session passes through a random recording chain."""

    name: str
    sessions_per_split: int
    duration_s: float
    snr_db: tuple[float, float]
    chain: bool = False  # the *-chain presets: gain and colouring per session (ChannelParams)
    flite_share: float = 0.0  # share of each split's sessions spoken by a flite voice
    #: scale of valence's effect on pitch and rate (SpeechParams); ``synth --valence-cue``
    #: overrides it
    valence_cue: float = 1.0
    #: scale of arousal's effect on pitch, rate and level (SpeechParams)
    arousal_cue: float = 1.0
    #: the video modality's numbers when they differ from :class:`VideoParams`' defaults
    video: VideoParams | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry; the presets before the chain write what they wrote before it."""
        entry = asdict(self)
        defaults = (
            ("chain", False),
            ("flite_share", 0.0),
            ("valence_cue", 1.0),
            ("arousal_cue", 1.0),
        )
        for key, off in defaults:
            if entry[key] == off:
                del entry[key]
        if entry["video"] is None:
            del entry["video"]
        return entry

    @property
    def flite_sessions(self) -> int:
        """Sessions per split spoken by flite (the last ones of each split)."""
        return round(self.flite_share * self.sessions_per_split)


@dataclass(frozen=True)
class LatentParams:
    """Latent arousal/valence at 25 Hz: episodes + smooth fluctuation, squashed by tanh."""

    subject_offset_sd: tuple[float, float] = (0.15, 0.20)  # arousal, valence
    episode_s: tuple[float, float] = (4.0, 15.0)  # uniform episode length
    episode_sd: tuple[float, float] = (0.50, 0.55)  # spread of episode targets
    episode_correlation: float = 0.25  # arousal-valence correlation of targets
    transition_tau_s: float = 1.5  # zero-phase first-order smoothing of targets
    fluctuation_sd: float = 0.10  # Ornstein-Uhlenbeck fluctuation
    fluctuation_tau_s: float = 3.0


@dataclass(frozen=True)
class SpeechParams:
    """espeak-ng prosody as a function of the latent (a, v) at each phrase.

    Arousal drives pitch, rate, loudness and pause length strongly; valence nudges pitch
    and rate slightly, so that audio is informative for arousal and weak for valence.
    """

    base_pitch: tuple[float, float] = (30.0, 66.0)  # espeak -p per subject (0-99)
    base_rate_wpm: tuple[float, float] = (150.0, 190.0)  # espeak -s per subject
    pitch_per_arousal: float = 20.0  # -p units per unit arousal (one unit ~0.22 semitone)
    pitch_per_valence: float = 3.0
    rate_per_arousal: float = 55.0  # words per minute per unit arousal
    rate_per_valence: float = 6.0
    gain_db_per_arousal: float = 6.0  # active-speech level change per unit arousal (dB)
    words_per_phrase: tuple[int, int] = (3, 10)
    pause_mean_s: float = 0.7  # short pause between phrases at arousal 0
    pause_arousal_factor: float = 0.5  # pauses shrink by this share at arousal +1
    pause_min_s: float = 0.15
    listening_probability: float = 0.2  # chance of a long turn pause after a phrase
    listening_s: tuple[float, float] = (1.5, 5.0)
    speech_level_dbfs: float = -26.0  # active speech RMS at arousal 0, before noise


@dataclass(frozen=True)
class NoiseParams:
    """Background noise: pink noise plus mains hum, slowly modulated, at a session SNR."""

    hum_hz: float = 50.0
    hum_share: float = 0.15  # share of noise power in the hum and its harmonics
    modulation_db: float = 2.0  # slow level wobble of the noise
    modulation_hz: float = 0.05


@dataclass(frozen=True)
class ChannelParams:
    """The recording chain of the ``*-chain`` presets (``train/synth/channel.py``).

    Drawn per session from a stream of its own, independent of affect: a recording gain and
    one colouring (a microphone's magnitude response, jittered, or a generated room).
    """

    gain_db: tuple[float, float] = (-12.0, 12.0)
    colourings: tuple[str, ...] = ("flat", "laptop", "headset", "phone", "room")
    shape_jitter_db: float = 3.0  # each point of a magnitude response moves by up to this
    shape_jitter_oct: float = 0.25  # ... and its frequency by up to this many octaves
    rt60_s: tuple[float, float] = (0.2, 0.7)  # room: reverberation time
    drr_db: tuple[float, float] = (0.0, 10.0)  # room: direct-to-reverberant ratio


@dataclass(frozen=True)
class VideoParams:
    """Video-like appearance features: a fixed random mixing of facial drivers + noise.

    Drivers: valence, smile, frown, arousal, eye openness, head motion, mouth motion
    (speaking), blinks. Present in silence too; valence-dominated.
    """

    dimension: int = 40
    lag_s: float = 0.2
    identity_sd: float = 0.5  # per-subject constant offset of every feature
    noise_sd: float = 0.4  # AR(1) noise per feature
    noise_ar: float = 0.9
    drift_sd: float = 0.2  # slow common-mode (illumination) drift
    arousal_scale: float = 1.0  # how strongly arousal drives the face (eyes, head, blinks)


@dataclass(frozen=True)
class PhysioParams:
    """Physiology-like features: slow, lagged arousal (skin conductance, heart rate...)."""

    dimension: int = 6
    scl_tau_s: float = 10.0
    scl_lag_s: float = 3.0
    hr_tau_s: float = 4.0
    hr_lag_s: float = 1.5
    noise_sd: float = 0.35


@dataclass(frozen=True)
class RaterParams:
    """Six raters per dimension (RECOLA: FM1-3, FF1-3) with delay, bias, gain and noise."""

    names: tuple[str, ...] = ("FM1 ", "FM2 ", "FM3 ", "FF1 ", "FF2 ", "FF3 ")
    delay_s: tuple[float, float] = (1.5, 3.5)
    lag_tau_s: tuple[float, float] = (0.3, 1.2)
    gain: tuple[float, float] = (0.6, 1.2)
    bias_sd: float = 0.06
    noise_sd: tuple[float, float] = (0.10, 0.25)
    noise_tau_s: float = 2.0


@dataclass(frozen=True)
class GenerativeModel:
    latent: LatentParams = field(default_factory=LatentParams)
    speech: SpeechParams = field(default_factory=SpeechParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    video: VideoParams = field(default_factory=VideoParams)
    physio: PhysioParams = field(default_factory=PhysioParams)
    raters: RaterParams = field(default_factory=RaterParams)
    channel: ChannelParams | None = None  # None: no recording chain (the presets before it)

    def to_dict(self) -> dict[str, Any]:
        entry = asdict(self)
        if self.channel is None:
            del entry["channel"]
        if self.video.arousal_scale == 1.0:  # the corpora before the field write what they did
            del entry["video"]["arousal_scale"]
        return entry


_SIZES = {
    "tiny": Preset("tiny", sessions_per_split=2, duration_s=20.0, snr_db=(12.0, 30.0)),
    "small": Preset("small", sessions_per_split=3, duration_s=60.0, snr_db=(8.0, 30.0)),
    "avec": Preset("avec", sessions_per_split=9, duration_s=300.0, snr_db=(5.0, 30.0)),
}
#: flite speaks this share of each split in the ``*-chain-flite`` presets.
FLITE_SHARE = 1 / 3
PRESETS: dict[str, Preset] = {
    **_SIZES,
    **{
        f"{name}-chain": replace(size, name=f"{name}-chain", chain=True)
        for name, size in _SIZES.items()
    },
    **{
        f"{name}-chain-flite": replace(
            size, name=f"{name}-chain-flite", chain=True, flite_share=FLITE_SHARE
        )
        for name, size in _SIZES.items()
    },
}
#: The study preset of docs/results/transfer-study.md: uni-modal strengths calibrated by
#: measurement to RECOLA's published figures (docs/synthetic_corpus.md), twice RECOLA's
#: speakers per split so that the label-scarce regime has 18 training speakers and the test
#: interval has 18 sessions.
PRESETS["recola"] = Preset(
    "recola",
    sessions_per_split=18,
    duration_s=150.0,
    snr_db=(10.0, 30.0),
    chain=True,
    valence_cue=8.0,
    arousal_cue=1.6,
    video=VideoParams(noise_sd=4.0, arousal_scale=0.9),
)


#: Accents (espeak-ng language voices) and human-sounding voice variants. A subject is
#: one (accent, variant, base pitch, base rate); variants are split disjointly between
#: train, dev and test so no voice timbre is shared across partitions.
ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
VARIANTS = (
    "Adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "Antonio",
    "Auntie",
    "Belinda",
    "Benjamin",
    "Boris",
    "Caleb",
    "David",
    "Denis",
    "Diogo",
    "Ed",
    "Edward",
    "Gene",
    "Gustave",
    "Henrique",
    "Hugo",
    "Jacky",
    "John",
    "Lee",
    "Linda",
    "Marcelo",
    "Marco",
    "Mario",
    "Max",
    "Michael",
    "Michel",
    "Miguel",
    "Mike",
    "Nguyen",
    "Pablo",
    "Paul",
    "Pedro",
    "Quincy",
    "Rob",
    "Robert",
    "Steph",
    "Zac",
    "anika",
    "female1",
    "female2",
    "female3",
    "female4",
    "female5",
    "grandma",
    "grandpa",
    "male1",
    "male2",
    "male3",
    "male4",
    "male5",
    "male6",
    "male7",
    "male8",
    "norbert",
    "sandro",
    "shelby",
    "travis",
    "victor",
)
