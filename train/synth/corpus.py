"""Generate a synthetic multimodal corpus in the exact AVEC 2016 / RECOLA layout.

Layout written under ``OUT``::

    recordings_audio/<split>_<n>.wav                   16-bit PCM, mono
    ratings_gold_standard/{arousal,valence}/<s>.arff   mean of the six raters
    ratings_individual/{arousal,valence}/<s>.csv       time;FM1 ;FM2 ;FM3 ;FF1 ;FF2 ;FF3
    features_video_appearance/{arousal,valence}/<s>.arff
    features_physio/{arousal,valence}/<s>.arff
    latent/<s>.csv                                     time;arousal;valence;speech (truth)
    synth.json                                         how it was made

Every session has its own random stream derived from (seed, split, index), so the output
does not depend on ``jobs`` and is byte-identical for a seed and an espeak-ng version.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge_affect import __version__
from edge_affect.errors import EdgeAffectError
from edge_affect.formats.arff import FrameTable, gold_standard_table, write_arff
from edge_affect.formats.raters import write_ratings
from edge_affect.formats.timegrid import frame_times, n_frames_for_duration
from edge_affect.pcm import float_to_int16_sndfile
from edge_affect_train.synth import channel, modalities, raters, speech
from edge_affect_train.synth import latent as latent_model
from edge_affect_train.synth.channel import Chain
from edge_affect_train.synth.config import (
    ACCENTS,
    DIMENSIONS,
    PRESETS,
    SPLITS,
    VARIANTS,
    ChannelParams,
    GenerativeModel,
    Preset,
    SpeechParams,
    VideoParams,
)
from edge_affect_train.synth.signals import FloatArray

MANIFEST = "synth.json"
VIDEO_MODALITY = "video_appearance"
PHYSIO_MODALITY = "physio"
_PLAN_STREAM = 7
_MIXING_STREAM = 99
_CHAIN_STREAM = 11  # a session's recording chain: its own stream, so nothing else moves
#: The subjects of ``--extra-train`` / ``--extra-test`` sessions: a stream each, under the
#: plan stream, so adding one kind moves neither the other kind nor the preset's sessions.
_EXTRA_STREAMS = {"train": 1, "test": 3}
#: The most extra sessions of a split (a larger training set for a headroom measurement, a
#: larger test split for a narrower interval).
MAX_EXTRA_SESSIONS = 500


@dataclass(frozen=True)
class SessionSpec:
    name: str
    split: str
    index: int
    seed: tuple[int, int, int]
    voice: speech.Voice
    snr_db: float
    duration_s: float
    sample_rate: int


@dataclass(frozen=True)
class CorpusSummary:
    root: Path
    sessions: int
    audio_s: float
    bytes_on_disk: int
    elapsed_s: float


def plan_sessions(
    preset: Preset,
    seed: int,
    sample_rate: int,
    speech_params: SpeechParams | None = None,
    extra_train: int = 0,
    extra_test: int = 0,
) -> list[SessionSpec]:
    """Subjects and SNRs for every session; voice variants are disjoint across splits.

    ``extra_train`` adds training sessions ``train_{n+1}`` ... after the preset's ``n``: new
    subjects (accent, base pitch and rate drawn on their own random stream, the variants of
    the training pool in turn), so every session of the preset keeps its plan and its bytes.
    ``extra_test`` adds test sessions ``test_{n+1}`` ... alike, on the test pool's variants
    and a stream of their own (espeak-ng voices only, as the preset's own sessions are when
    it has no flite sessions).
    """
    voice_params = speech_params or SpeechParams()
    rng = np.random.default_rng([seed, _PLAN_STREAM])
    variants = [str(v) for v in rng.permutation(np.array(VARIANTS))]
    specs = []
    for split_index, split in enumerate(SPLITS):
        pool = variants[split_index :: len(SPLITS)]
        if preset.sessions_per_split > len(pool):
            raise EdgeAffectError(
                f"{preset.sessions_per_split} sessions per split need as many voices; "
                f"only {len(pool)} are available per split"
            )
        first_flite = preset.sessions_per_split - preset.flite_sessions + 1
        for index in range(1, preset.sessions_per_split + 1):
            voice = speech.Voice(
                accent=str(rng.choice(np.array(ACCENTS))),
                variant=pool[index - 1],
                base_pitch=round(float(rng.uniform(*voice_params.base_pitch)), 1),
                base_rate_wpm=round(float(rng.uniform(*voice_params.base_rate_wpm)), 1),
            )
            if index >= first_flite:
                flite_voice = speech.FLITE_VOICES[split]
                voice = replace(
                    voice,
                    engine=speech.FLITE,
                    accent=speech.FLITE_ACCENTS[flite_voice],
                    variant=flite_voice,
                )
            specs.append(
                SessionSpec(
                    name=f"{split}_{index}",
                    split=split,
                    index=index,
                    seed=(seed, split_index, index),
                    voice=voice,
                    snr_db=round(float(rng.uniform(*preset.snr_db)), 2),
                    duration_s=preset.duration_s,
                    sample_rate=sample_rate,
                )
            )
    for split, count in (("train", extra_train), ("test", extra_test)):
        pool = variants[SPLITS.index(split) :: len(SPLITS)]
        specs += _extra_sessions(preset, seed, sample_rate, voice_params, split, pool, count)
    return specs


def check_extra(split: str, count: int) -> None:
    """``--extra-<split> count`` must be within 0-MAX_EXTRA_SESSIONS."""
    if not 0 <= count <= MAX_EXTRA_SESSIONS:
        raise EdgeAffectError(f"--extra-{split} {count} is outside 0-{MAX_EXTRA_SESSIONS}")


def _extra_sessions(
    preset: Preset,
    seed: int,
    sample_rate: int,
    voice_params: SpeechParams,
    split: str,
    pool: list[str],
    count: int,
) -> list[SessionSpec]:
    check_extra(split, count)
    rng = np.random.default_rng([seed, _PLAN_STREAM, _EXTRA_STREAMS[split]])
    specs = []
    for k in range(count):
        index = preset.sessions_per_split + 1 + k
        voice = speech.Voice(
            accent=str(rng.choice(np.array(ACCENTS))),
            variant=pool[k % len(pool)],
            base_pitch=round(float(rng.uniform(*voice_params.base_pitch)), 1),
            base_rate_wpm=round(float(rng.uniform(*voice_params.base_rate_wpm)), 1),
        )
        specs.append(
            SessionSpec(
                name=f"{split}_{index}",
                split=split,
                index=index,
                seed=(seed, SPLITS.index(split), index),
                voice=voice,
                snr_db=round(float(rng.uniform(*preset.snr_db)), 2),
                duration_s=preset.duration_s,
                sample_rate=sample_rate,
            )
        )
    return specs


def _feature_table(name: str, modality: str, values: FloatArray, names: list[str]) -> FrameTable:
    return FrameTable(
        relation=f"features_{modality}",
        instance=name,
        times=frame_times(values.shape[0]),
        feature_names=tuple(names),
        values=values,
    )


def _write_labels(
    root: Path, name: str, dimension: str, ratings: FloatArray, rater_names: tuple[str, ...]
) -> None:
    times = frame_times(ratings.shape[0])
    write_ratings(
        root / "ratings_individual" / dimension / f"{name}.csv", times, rater_names, ratings
    )
    gold = gold_standard_table(name, dimension, ratings.mean(axis=1))
    write_arff(root / "ratings_gold_standard" / dimension / f"{name}.arff", gold)


def _write_latent(root: Path, name: str, latent: FloatArray, flags: FloatArray) -> None:
    path = root / "latent" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.column_stack([frame_times(latent.shape[0]), latent, flags])
    np.savetxt(
        path,
        data,
        fmt=["%.2f", "%.6f", "%.6f", "%d"],
        delimiter=";",
        header="time;arousal;valence;speech",
        comments="",
    )


def _write_audio(path: Path, mixed: FloatArray, sample_rate: int) -> int:
    clipped = int(np.count_nonzero(np.abs(mixed) > 1.0))
    pcm = float_to_int16_sndfile(mixed)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return clipped


def generate_session(
    spec: SessionSpec, root: Path, mixing: FloatArray, model: GenerativeModel
) -> dict[str, Any]:
    """Generate and write one session; return its manifest entry."""
    rng = np.random.default_rng(list(spec.seed))
    n_frames = n_frames_for_duration(spec.duration_s)
    n_samples = round(spec.duration_s * spec.sample_rate)
    offsets = latent_model.subject_offsets(rng, model.latent)
    latent = latent_model.latent_trajectory(rng, n_frames, offsets, model.latent)
    with tempfile.TemporaryDirectory(prefix="edge-affect-synth-") as work:
        clean, mask, phrases = speech.render_speech(
            rng, latent, spec.voice, n_samples, spec.sample_rate, model.speech, Path(work)
        )
    noise = speech.make_noise(rng, n_samples, spec.sample_rate, model.noise)
    mixed = speech.mix_at_snr(clean, mask, noise, spec.snr_db)
    recorded: Chain | None = None
    if model.channel is not None:
        chain_rng = np.random.default_rng([*spec.seed, _CHAIN_STREAM])
        recorded = channel.draw_chain(chain_rng, model.channel)
        mixed = channel.apply_chain(chain_rng, mixed, recorded, spec.sample_rate)
    clipped = _write_audio(root / "recordings_audio" / f"{spec.name}.wav", mixed, spec.sample_rate)
    flags = speech.frame_speech_flags(mask, spec.sample_rate, n_frames)
    video = modalities.video_features(rng, latent, flags, mixing, model.video)
    physio = modalities.physio_features(rng, latent, model.physio)
    video_names = [f"appearance_{i + 1:02d}" for i in range(video.shape[1])]
    for dimension_index, dimension in enumerate(DIMENSIONS):
        ratings = raters.rate_dimension(rng, latent[:, dimension_index], model.raters)
        _write_labels(root, spec.name, dimension, ratings, model.raters.names)
        for modality, values, names in (
            (VIDEO_MODALITY, video, video_names),
            (PHYSIO_MODALITY, physio, list(modalities.PHYSIO_NAMES)),
        ):
            table = _feature_table(spec.name, modality, values, names)
            write_arff(root / f"features_{modality}" / dimension / f"{spec.name}.arff", table)
    _write_latent(root, spec.name, latent, flags)
    return {
        "name": spec.name,
        "split": spec.split,
        "voice": spec.voice.to_dict(),
        **(
            {"espeak_voice": spec.voice.espeak_name}
            if spec.voice.engine == speech.ESPEAK
            else {"flite_voice": spec.voice.variant}
        ),
        "snr_db": spec.snr_db,
        "subject_offsets": [round(float(x), 6) for x in offsets],
        "phrases": len(phrases),
        "speech_ratio": round(float(mask.mean()), 6),
        "clipped_samples": clipped,
        **({"chain": recorded.to_dict()} if recorded is not None else {}),
    }


def _run_all(
    specs: list[SessionSpec], root: Path, mixing: FloatArray, model: GenerativeModel, jobs: int
) -> list[dict[str, Any]]:
    if jobs <= 1 or len(specs) == 1:
        return [generate_session(spec, root, mixing, model) for spec in specs]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(generate_session, spec, root, mixing, model) for spec in specs]
        return [future.result() for future in futures]


def _prepare_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise EdgeAffectError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise EdgeAffectError(f"{out} is not empty; choose another folder or pass --force")
        if not (out / MANIFEST).exists():
            raise EdgeAffectError(
                f"{out} is not a synthetic corpus (no {MANIFEST}); refusing to clear it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _speech_params(valence_cue: float, arousal_cue: float) -> SpeechParams:
    """The speech numbers with a valence and an arousal cue scaled (1: the defaults)."""
    base = SpeechParams()
    scaled = replace(
        base,
        pitch_per_valence=base.pitch_per_valence * valence_cue,
        rate_per_valence=base.rate_per_valence * valence_cue,
    )
    if arousal_cue == 1.0:  # identical bytes for the presets before the field
        return scaled
    return replace(
        scaled,
        pitch_per_arousal=base.pitch_per_arousal * arousal_cue,
        rate_per_arousal=base.rate_per_arousal * arousal_cue,
        gain_db_per_arousal=base.gain_db_per_arousal * arousal_cue,
    )


def generate_corpus(
    out: Path,
    preset: str = "tiny",
    seed: int = 0,
    sample_rate: int = 16_000,
    jobs: int = 1,
    force: bool = False,
    valence_cue: float | None = None,
    extra_train: int = 0,
    extra_test: int = 0,
) -> CorpusSummary:
    """Generate the whole corpus under ``out``; see the module docstring for the layout.

    ``valence_cue`` scales how much valence moves pitch and rate (None: the preset's; 1.0: the
    documented weak cue; 0: none), for experiments on how much valence the audio must carry.
    ``extra_train`` adds that many training sessions from the same generator (new subjects on
    the training split's voice variants); ``extra_test`` adds test sessions alike (the test
    split's variants). Every other session keeps its bytes.
    """
    if preset not in PRESETS:
        raise EdgeAffectError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not 8_000 <= sample_rate <= 96_000:
        raise EdgeAffectError(f"sample rate {sample_rate} Hz is outside 8000-96000 Hz")
    started = time.perf_counter()
    version = speech.espeak_version()
    chosen = PRESETS[preset]
    flite = speech.flite_version() if chosen.flite_sessions else None
    if valence_cue is None:
        valence_cue = chosen.valence_cue
    if not 0.0 <= valence_cue <= 20.0:
        raise EdgeAffectError(f"valence cue {valence_cue} is outside 0-20")
    check_extra("train", extra_train)
    check_extra("test", extra_test)
    _prepare_output(out, force)
    model = GenerativeModel(
        speech=_speech_params(valence_cue, chosen.arousal_cue),
        video=chosen.video or VideoParams(),
        channel=ChannelParams() if chosen.chain else None,
    )
    mixing = modalities.video_mixing(np.random.default_rng([seed, _MIXING_STREAM]), model.video)
    specs = plan_sessions(chosen, seed, sample_rate, model.speech, extra_train, extra_test)
    entries = _run_all(specs, out, mixing, model, jobs)
    manifest = {
        "generator": f"edge-affect {__version__} synth",
        "preset": chosen.to_dict(),
        "seed": seed,
        "sample_rate": sample_rate,
        "valence_cue": valence_cue,
        **({"extra_train": extra_train} if extra_train else {}),
        **({"extra_test": extra_test} if extra_test else {}),
        "espeak_ng": version,
        **({"flite": flite} if flite is not None else {}),
        "modalities": {
            VIDEO_MODALITY: {
                "dimension": model.video.dimension,
                "drivers": list(modalities.VIDEO_DRIVERS),
            },
            PHYSIO_MODALITY: {
                "dimension": model.physio.dimension,
                "features": list(modalities.PHYSIO_NAMES),
            },
        },
        "model": model.to_dict(),
        "sessions": entries,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return CorpusSummary(
        root=out,
        sessions=len(specs),
        audio_s=chosen.duration_s * len(specs),
        bytes_on_disk=size,
        elapsed_s=time.perf_counter() - started,
    )
