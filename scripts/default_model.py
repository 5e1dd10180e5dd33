"""Helpers of ``scripts/make_default_model.sh``: score ONNX files, cut the demo clip, write
the model card. Runtime-only (numpy, onnxruntime, soundfile); no torch.

    python scripts/default_model.py score CORPUS OUT.json NAME=MODEL.onnx ...
    python scripts/default_model.py clip CORPUS OUT_DIR --model MODEL.onnx [--seconds 30]
    python scripts/default_model.py card WORK MODELS_DIR DEMO_DIR
    python scripts/default_model.py winner student|baseline|teacher
    python scripts/default_model.py study [--check]

``study`` rewrites the card's study block from the study's tables (they grow between builds
of the model); with ``--check`` it only says whether the block is current.

``winner`` prints the training options (one per line) of the transfer study's dev winner
(``docs/results/study/table.json``), of the all-labels baseline on the same schedule, or the
winner's teacher encoder: the bundled model is trained with the method the study's protocol
chooses on dev.

``score`` runs every model over every labelled dev and test session through the device
pipeline (``FileSource`` -> ``Pipeline`` with the VAD gate off, so every hop is a model
reading) and reports the CCC over each partition's concatenated sessions (AVEC practice),
pairing reading ``k`` with gold frame ``k``, plus the pipeline's per-hop latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from edge_affect.audio import HOP_S, LABEL_NAMES, SAMPLE_RATE
from edge_affect.cpu import cpu_line
from edge_affect.formats.arff import gold_standard_table, read_gold_standard, write_arff
from edge_affect.paths import BUNDLED_MODELS
from edge_affect.scoring.evaluate import load_corpus_gold
from edge_affect.scoring.metrics import ccc
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, PipelineSettings, run_stream
from edge_affect.stream.reading import Reading
from edge_affect.stream.sources import FileSource

SPLITS = ("dev", "test")
DEMO_AUDIO = "demo.ogg"
DEMO_SECONDS = 30
DEMO_STEP_S = 5  # candidate clip starts, on whole seconds (whole hops)
#: libsndfile's Vorbis compression level (0: best quality, 1: smallest). Measured on this clip
#: with the default model: 0.3 moves readings by 0.008 on average; 1.0 (25 kbit/s) by 0.044.
VORBIS_QUALITY = 0.3


class _Collect:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def write(self, reading: Reading) -> None:
        self.readings.append(reading)


def _sessions(corpus: Path, split: str) -> list[str]:
    wavs = sorted((corpus / "recordings_audio").glob(f"{split}_*.wav"))
    return sorted((w.stem for w in wavs), key=lambda s: int(s.split("_")[1]))


def _stream_file(model: AffectModel, audio: Path) -> list[Reading]:
    collect = _Collect()
    summary = run_stream(
        FileSource(audio), Pipeline(model, PipelineSettings(gate=False)), [collect]
    )
    if summary.failure is not None:
        raise summary.failure
    return collect.readings


def session_engines(corpus: Path) -> dict[str, str]:
    """Session -> the synthesis engine that spoke it (a synthetic corpus's synth.json);
    empty for other corpora."""
    manifest = corpus / "synth.json"
    if not manifest.is_file():
        return {}
    sessions = json.loads(manifest.read_text())["sessions"]
    return {s["name"]: s["voice"].get("engine", "espeak-ng") for s in sessions}


def _ccc_table(
    preds: dict[str, list[np.ndarray]], golds: dict[str, list[np.ndarray]]
) -> dict[str, Any]:
    table: dict[str, Any] = {
        d: round(ccc(np.concatenate(preds[d]), np.concatenate(golds[d])), 4) for d in LABEL_NAMES
    }
    table["sessions"] = len(preds["arousal"])
    table["frames"] = int(sum(p.shape[0] for p in preds["arousal"]))
    return table


def score_model(corpus: Path, path: Path) -> dict[str, Any]:
    """CCC per partition over its concatenated sessions; with several synthesis engines,
    also per engine (``by_engine``)."""
    model = AffectModel(path, threads=1)
    out: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size}
    latencies: list[float] = []
    engines = session_engines(corpus)
    for split in SPLITS:
        preds: dict[str, dict[str, list[np.ndarray]]] = {}
        golds: dict[str, dict[str, list[np.ndarray]]] = {}
        sessions = _sessions(corpus, split)
        for session in sessions:
            readings = _stream_file(model, corpus / "recordings_audio" / f"{session}.wav")
            latencies += [r.latency_s for r in readings]
            gold = load_corpus_gold(corpus, session)
            n = min(len(readings), *(g.shape[0] for g in gold.values()))
            groups = ["all", *([engines[session]] if session in engines else [])]
            for group in groups:
                p = preds.setdefault(group, {d: [] for d in LABEL_NAMES})
                g = golds.setdefault(group, {d: [] for d in LABEL_NAMES})
                for d in LABEL_NAMES:
                    p[d].append(np.asarray([getattr(r, d) for r in readings[:n]]))
                    g[d].append(gold[d][:n])
        out[split] = _ccc_table(preds["all"], golds["all"])
        by_engine = {e: _ccc_table(preds[e], golds[e]) for e in sorted(preds) if e != "all"}
        if len(by_engine) > 1:
            out[split]["by_engine"] = by_engine
    us = np.asarray(latencies) * 1e6
    out["pipeline_latency_us"] = {
        "p50": round(float(np.percentile(us, 50)), 1),
        "p99": round(float(np.percentile(us, 99)), 1),
        "hops": int(us.size),
    }
    return out


def score(corpus: Path, out: Path, models: list[str]) -> None:
    results = {}
    for item in models:
        name, _, file = item.partition("=")
        results[name] = score_model(corpus, Path(file))
        print(f"scored {name}: {json.dumps(results[name])}")
    out.write_text(json.dumps(results, indent=2) + "\n")


# ---------------------------------------------------------------------------- demo clip


def _gold(corpus: Path, session: str) -> dict[str, np.ndarray]:
    root = corpus / "ratings_gold_standard"
    return {d: read_gold_standard(root / d / f"{session}.arff").values[:, 0] for d in LABEL_NAMES}


def choose_clip(corpus: Path, seconds: int) -> tuple[str, int, float]:
    """The test-split window (start on a whole multiple of 5 s) whose gold moves most:
    the largest sum of the arousal and valence standard deviations. Chosen on the labels,
    never on a model's output."""
    frames = round(seconds / HOP_S)
    best: tuple[str, int, float] = ("", 0, -1.0)
    for session in _sessions(corpus, "test"):
        gold = _gold(corpus, session)
        length = min(g.shape[0] for g in gold.values())
        for start_s in range(0, int(length * HOP_S) - seconds, DEMO_STEP_S):
            first = round(start_s / HOP_S)
            spread = sum(float(np.std(g[first : first + frames])) for g in gold.values())
            if spread > best[2]:
                best = (session, start_s, spread)
    return best


def _readings(model: AffectModel, audio: Path) -> np.ndarray:
    return np.asarray([[r.arousal, r.valence] for r in _stream_file(model, audio)])


def encoding_effect(model_path: Path, clip: np.ndarray, encoded: Path) -> dict[str, float]:
    """How far the lossy encoding moves the model's readings (gate off) on the clip."""
    model = AffectModel(model_path)
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "clip.wav"
        soundfile.write(wav, clip, SAMPLE_RATE, subtype="PCM_16")
        error = np.abs(_readings(model, wav) - _readings(model, encoded))
    return {"max_abs": round(float(error.max()), 4), "mean_abs": round(float(error.mean()), 4)}


def cut_clip(corpus: Path, out_dir: Path, seconds: int, model: Path) -> None:
    session, start_s, spread = choose_clip(corpus, seconds)
    audio, rate = soundfile.read(corpus / "recordings_audio" / f"{session}.wav", dtype="int16")
    if rate != SAMPLE_RATE:
        raise SystemExit(f"{session}: expected {SAMPLE_RATE} Hz audio, got {rate}")
    clip = audio[start_s * rate : (start_s + seconds) * rate]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / DEMO_AUDIO
    soundfile.write(
        target, clip, rate, format="OGG", subtype="VORBIS", compression_level=VORBIS_QUALITY
    )
    decoded = soundfile.info(str(target)).frames
    if decoded != clip.shape[0]:
        raise SystemExit(f"{target}: decodes to {decoded} samples, wrote {clip.shape[0]}")
    frames = round(seconds / HOP_S)
    first = round(start_s / HOP_S)
    for dimension, values in _gold(corpus, session).items():
        table = gold_standard_table("demo", dimension, values[first : first + frames])
        write_arff(out_dir / f"{dimension}.arff", table)
    synth = json.loads((corpus / "synth.json").read_text())
    info = {
        "audio": DEMO_AUDIO,
        "gold": {d: f"{d}.arff" for d in LABEL_NAMES},
        "session": session,
        "start_s": start_s,
        "duration_s": seconds,
        "hops": frames,
        "corpus": f"synth --preset {synth['preset']['name']} --seed {synth['seed']}",
        "choice": "the test-split window (starts every 5 s) with the largest sum of gold "
        "arousal and valence standard deviations",
        "gold_std_sum": round(spread, 4),
        "encoding": f"OGG Vorbis, mono, {rate} Hz, libsndfile compression level {VORBIS_QUALITY}",
        "bytes": target.stat().st_size,
        "encoding_effect": {"model": model.name, **encoding_effect(model, clip, target)},
    }
    (out_dir / "demo.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"demo clip: {session} {start_s}-{start_s + seconds} s -> {target}")


# ---------------------------------------------------------------------------- model card


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _kb(n: int) -> str:
    return f"{n / 1000:.1f} KB"


def _row(name: str, source: str, ccc_by_split: dict[str, Any]) -> str:
    cells = [f"{ccc_by_split[s][d]:.3f}" for s in SPLITS for d in LABEL_NAMES]
    return f"| {name} | {source} | " + " | ".join(cells) + " |"


def _results_table(f: dict[str, Any]) -> list[str]:
    s = f["scores"]
    pipeline = "ONNX, device pipeline"
    torch = "torch checkpoint"
    return [
        "| model | scored as | dev arousal | dev valence | test arousal | test valence |",
        "|---|---|---|---|---|---|",
        _row("**transfer, int8** (`default.int8.onnx`)", pipeline, s["transfer_int8"]),
        _row("transfer, fp32 (`default.onnx`)", pipeline, s["transfer_fp32"]),
        _row("baseline student, int8", pipeline, s["baseline_int8"]),
        _row("baseline student, fp32", pipeline, s["baseline_fp32"]),
        _row("previous bundled model, int8", pipeline, s["previous_int8"]),
        _row("previous bundled model, fp32", pipeline, s["previous_fp32"]),
        _row("transfer", torch, f["transfer"]["ccc"]),
        _row("baseline student", torch, f["baseline"]["ccc"]),
        _row("teacher (video-like features, not audio)", torch, f["teacher"]["ccc"]),
    ]


MODEL_ROWS = (
    ("**transfer, int8**", "transfer_int8"),
    ("transfer, fp32", "transfer_fp32"),
    ("baseline student, int8", "baseline_int8"),
    ("previous bundled model, int8", "previous_int8"),
)


def _engine_table(scores: dict[str, Any]) -> list[str]:
    """Test CCC per synthesis engine (the test voices: espeak-ng variants and flite slt)."""
    engines = sorted(scores["transfer_int8"]["test"].get("by_engine", {}))
    if not engines:
        return []
    header = " | ".join(f"{e} arousal | {e} valence" for e in engines)
    rows = [f"| model | {header} |", "|---|" + "---|" * (2 * len(engines))]
    for name, key in MODEL_ROWS:
        table = scores[key]["test"]["by_engine"]
        cells = " | ".join(f"{table[e][d]:.3f}" for e in engines for d in LABEL_NAMES)
        rows.append(f"| {name} | {cells} |")
    return rows


def _previous_corpus_table(scores: dict[str, Any]) -> list[str]:
    rows = [
        "| model | dev arousal | dev valence | test arousal | test valence |",
        "|---|---|---|---|---|",
    ]
    for name, key in MODEL_ROWS:
        cells = " | ".join(f"{scores[key][sp][d]:.3f}" for sp in SPLITS for d in LABEL_NAMES)
        rows.append(f"| {name} | {cells} |")
    return rows


def _robustness_rows(result: dict[str, Any], group: str) -> list[str]:
    table = result["groups"][group]
    rows = []
    for r in table["rows"]:
        a, v = r["mean_abs_change"]
        rows.append(
            f"| {r['change']} | {r['arousal_low']:+.3f} → {r['arousal_high']:+.3f} | "
            f"{100 * r['high_reads_higher_arousal']:.0f} % of {r['sentences']} | "
            f"{a:.3f} / {v:.3f} |"
        )
    return rows


def _robustness_section(robustness: list[dict[str, Any]]) -> list[str]:
    by_file = {Path(r["model"]).parent.name + "/" + Path(r["model"]).name: r for r in robustness}
    new = next(r for k, r in by_file.items() if k.endswith("transfer.int8.onnx"))
    old = next(r for k, r in by_file.items() if k.startswith("previous/"))
    lines = [
        "## What moves the readings: gain, tempo, pitch",
        "",
        "The same sentences in several versions, streamed without the speech gate "
        "(`scripts/voice_robustness.py`): per voice a session of four sentences with 0.4 s "
        "pauses of faint noise; a constant gain over the whole session, or sox `tempo` / "
        "`pitch` on each sentence. Each figure is over the sentences after the first of each "
        "session (the warm-up). *Synthetic*: 16 espeak-ng voices and 4 flite voices (rms "
        "included, which the corpus leaves out) saying sentences the corpus never uses, "
        f"{new['groups']['synthetic']['rows'][0]['sentences']} sentences. *Real*: the 8 "
        "human prompts of alsa-utils (read, neutral, 48 kHz, resampled), one session, "
        f"{new['groups']['real']['rows'][0]['sentences']} sentences after the warm-up: too "
        "few to be more than an illustration.",
        "",
    ]
    for title, result in (("this model (int8)", new), ("the previous bundled model", old)):
        for group in ("synthetic", "real"):
            arousal, valence = result["groups"][group]["as_spoken"]
            lines += [
                f"**{title}, {group} speech** (as spoken: arousal {arousal:+.3f}, valence "
                f"{valence:+.3f})",
                "",
                "| change | mean arousal | higher version reads higher | "
                "mean \\|change\\| arousal / valence |",
                "|---|---|---|---|",
                *_robustness_rows(result, group),
                "",
            ]
    lines += [_robustness_reading(new), ""]
    return lines


def _cue(result: dict[str, Any], group: str, change: str) -> float:
    row = next(r for r in result["groups"][group]["rows"] if r["change"] == change)
    return float(row["high_reads_higher_arousal"])


def _gain_shift(result: dict[str, Any], group: str) -> float:
    rows = [r for r in result["groups"][group]["rows"] if r["change"].startswith("gain")]
    return max(
        max(abs(r["arousal_high"] - r["arousal_low"]), abs(r["valence_high"] - r["valence_low"]))
        for r in rows
    )


def _robustness_reading(new: dict[str, Any]) -> str:
    """What the table shows and does not, worded from the measured figures."""
    parts = []
    for group in ("synthetic", "real"):
        tempo = _cue(new, group, "tempo 0.8 -> 1.25")
        pitch = _cue(new, group, "pitch -300 -> +300 cents")
        parts.append(
            f"on {group} speech a gain moves the mean readings by at most "
            f"{_gain_shift(new, group):.3f}, and the faster version reads higher arousal in "
            f"{tempo:.0%} of the sentences, the higher-pitched one in {pitch:.0%}"
        )
    real_arousal = new["groups"]["real"]["as_spoken"][0]
    cues = {
        group: min(_cue(new, group, c) for c in ("tempo 0.8 -> 1.25", "pitch -300 -> +300 cents"))
        for group in ("synthetic", "real")
    }
    synthetic = (
        "pitch and tempo move the synthetic voices' readings the way the corpus ties them to "
        "arousal"
        if cues["synthetic"] >= 0.8
        else "pitch and tempo do not reliably move the synthetic voices' readings"
    )
    real = (
        "and the real prompts' too"
        if cues["real"] >= 0.8
        else "but not the real prompts' reliably: the model has learnt synthetic speech's "
        "version of these cues, the gap the flite test voice shows above"
    )
    return (
        f"What it shows: {parts[0]}; {parts[1]}. So a recording gain no longer matters; "
        f"{synthetic}, {real}. Neutral read human speech reads {real_arousal:+.2f} arousal. "
        "What it does not show: that the readings follow a real person's affect; that needs "
        "acted or spontaneous emotional speech with ratings, and none ships in a package."
    )


def _size_latency(f: dict[str, Any]) -> list[str]:
    r, s = f["report"], f["scores"]
    rows = [
        "| file | size | int8 share of weight bytes | model step p50 / p99 "
        "| pipeline hop (VAD + model) p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    for name, kind in (("default.onnx", "fp32"), ("default.int8.onnx", "int8")):
        step, hop = r["latency"][kind], s[f"transfer_{kind}"]["pipeline_latency_us"]
        rows.append(
            f"| `{name}` | {_kb(f['sizes'][name])} | {r['files'][kind]['int8_weight_share']:.1%}"
            f" | {step['p50_us']:.0f} / {step['p99_us']:.0f} µs"
            f" | {hop['p50']:.0f} / {hop['p99']:.0f} µs |"
        )
    return rows


def _not_section(train_sessions: int, train_hours: float) -> list[str]:
    return [
        "## What it is not",
        "",
        "- **It was trained on synthetic speech only**: espeak-ng and flite phrases of random "
        "common words whose pitch, rate, loudness and pausing follow a simulated arousal "
        "(strongly) and valence (weakly), each session through a random recording chain "
        "(gain ±12 dB, microphone or room colouring). It follows *prosodic arousal cues* "
        "relative to the speaker's own level; it is **not validated on real human affect** "
        "and must not be used to judge people.",
        "- Its valence is weak (test CCC below): the simulation puts little valence in the voice, "
        "by design, as RECOLA's audio carries little.",
        "- It knows nothing of words or faces; loud noise and music move it too (the VAD gate "
        "counts loud noise as speech).",
        f"- {train_sessions} synthetic training voices, {train_hours:.2f} h of audio: real voices "
        "and rooms are outside its training data. For real use, train on a RECOLA / "
        "AVEC 2016 folder (README, *Training on a real AVEC 2016 / RECOLA folder*).",
    ]


def _method_section(f: dict[str, Any]) -> list[str]:
    training = f["contract"].training
    args, transfer = training["train_args"], training["transfer"]
    teacher = f["teacher_encoder"]
    if transfer["method"] == "baseline":
        student = "audio student (the model here) trained on the task loss only (the study's "
        student += "dev winner)."
    else:
        target = "features" if transfer.get("translate_to", "features") == "features" else "latent"
        student = (
            f"audio student (the model here) with translation towards the teacher's {target} "
            f"and `{transfer['align']}` alignment with the frozen teacher's latent; loss "
            f"weights task : translation : alignment = 1 : {transfer['translation_weight']:g} : "
            f"{transfer['alignment_weight']:g}."
        )
    if args.get("average_last"):
        schedule = (
            f"a fixed schedule of {args['epochs']} epochs with the weights averaged over the "
            f"last {args['average_last']} (the transfer study's protocol; the epoch count is "
            f"the one the study chose on dev for this method when the model was built"
            f"{_epochs_now(args['epochs'])})"
        )
        baseline = "on the same schedule"
    else:
        schedule = (
            f"at most {args['epochs']} epochs with early stopping on dev CCC (patience "
            f"{args['patience']}; best epoch {f['transfer']['best_epoch']})"
        )
        baseline = f"(best epoch {f['baseline']['best_epoch']})"
    return [
        "## Method and hyper-parameters",
        "",
        "Two-stage cross-modal transfer (Rajan, Brutti & Cavallaro, arXiv 2108.00809; "
        "[docs/training.md](../../docs/training.md)):",
        "",
        f"1. teacher: {teacher.replace('bigru', 'Bi-GRU').replace('gru', 'causal GRU')} 64 on "
        "the 40-d video-like features (`features_video_appearance`);",
        f"2. {student}",
        "",
        f"Training: AdamW, lr {args['lr']:g}, batches of {args['batch_size']} × "
        f"{args['chunk_s']:g} s chunks, {schedule}, seed {args['seed']}, CPU with one torch "
        f"thread, label delay {args['label_delay_s']:g} s. The baseline student is the same "
        f"network trained on the task loss only, {baseline}.",
    ]


def _previous_model(contract: Any) -> str:
    """One sentence on how the model this build replaces was trained (from its contract)."""
    training, level_tau = contract.training, contract.frontend.get("level_tau_s", 0.0)
    transfer, args = training.get("transfer", {}), training.get("train_args", {})
    preset = training.get("corpus", {}).get("synthetic", {}).get("preset", "?")
    if transfer.get("method", training.get("method")) == "baseline":
        method = "the audio baseline"
    else:
        method = f"the transfer with `{transfer.get('align', '?')}` alignment"
    if args.get("average_last"):
        schedule = (
            f"a fixed schedule of {args['epochs']} epochs (last {args['average_last']} averaged)"
        )
    else:
        schedule = (
            "per-run early stopping on dev (so its dev figures are those of the epoch dev chose)"
        )
    level = f"level normalisation τ {level_tau:g} s" if level_tau else "no level normalisation"
    return (
        f"The previous bundled model is {method}, trained on `--preset {preset}` with "
        f"{schedule}; {level}."
    )


def _epochs_now(built: int) -> str:
    """``; it now chooses N`` when the study table's dev winner has moved since the build."""
    if not STUDY_TABLE.is_file():
        return ""
    table = json.loads(STUDY_TABLE.read_text(encoding="utf-8"))
    winner = table.get("dev_winner")
    epochs = table["cells"][winner]["epochs"] if winner else built
    seeds = len(table["cells"][winner]["seeds"]) if winner else 0
    return "" if epochs == built else f"; with {seeds} seeds it now chooses {epochs}"


def _results_section(f: dict[str, Any]) -> list[str]:
    dev, drift = f["contract"].dev_ccc, f["report"]["dev"]["fp32_vs_int8"]
    previous = f["previous_preset"]
    return [
        "## Results (CCC over the concatenated sessions of each split)",
        "",
        *_results_table(f),
        "",
        f"Scored on {cpu_line(f['report']['cpu'])}. The int8 figures hold for that int8 kernel "
        "class; the scheme's parity on the others is in docs/export.md.",
        "",
        "*Device pipeline*: each session's WAV through `FileSource` → hopper → model, the VAD "
        "gate off (`--no-gate`) so every hop is a model reading; reading *k* is paired with gold "
        "frame *k*, no delay compensation. *torch checkpoint*: the training code's own scoring. "
        f"The contract's `dev_ccc` (measured by `export --data` on the int8 file): arousal "
        f"{dev['arousal']:.4f}, valence {dev['valence']:.4f}. fp32 vs int8 over the dev split: "
        f"max |error| {drift['max_abs_error']:.4f}, CCC drop {drift['ccc_drop']['arousal']:+.4f} "
        f"/ {drift['ccc_drop']['valence']:+.4f}. {_previous_model(f['previous_contract'])}",
        "",
        "**Test CCC per synthesis engine** (test voices never heard in training: espeak-ng "
        "variants, and flite `slt`, whose engine spoke a third of the training sessions with "
        "another voice, `kal16`):",
        "",
        *_engine_table(f["scores"]),
        "",
        f"**On the plain corpus** (`--preset {previous} --seed 0`: the same sessions' "
        "content without recording chains, espeak-ng only):",
        "",
        *_previous_corpus_table(f["scores_previous"]),
        "",
        *_study_lines(),
        "One seed is not a comparison of methods: the multi-seed means of the transfer on "
        f"the plain corpus (`--preset {previous}`) are in "
        "[docs/results/transfer-avec.md](../../docs/results/transfer-avec.md), and the level "
        "normalisation's choice (5, 20, 60 s; 3 seeds) in "
        "[docs/results/voices.md](../../docs/results/voices.md).",
    ]


#: The transfer study's table (docs/results/transfer-study.md), read when the card is written.
STUDY_TABLE = Path(__file__).resolve().parents[1] / "docs" / "results" / "study" / "table.json"
#: The third table: the same cells trained on one CPU and scored on 180 test sessions.
WIDE_TABLE = STUDY_TABLE.parents[1] / "study-xeon-t180" / "table.json"
#: The card's study block lies between these lines; ``study`` rewrites it from the tables.
STUDY_BEGIN = "<!-- study: written from the study's tables by scripts/default_model.py -->"
STUDY_END = "<!-- /study -->"


def _interval(d: dict[str, Any]) -> str:
    return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]".replace("-", "−")


def _crossed(d: dict[str, Any]) -> str:
    return _interval({"mean": d["mean"], **d["crossed"]})


def _study_lines() -> list[str]:
    """What the transfer study says about the method, from its tables (nothing without
    them): the dev winner (the bundled model's method) and the paper's method against the
    baseline, with both intervals, and on the larger test split when its table exists."""
    if not STUDY_TABLE.is_file():
        return []
    table = json.loads(STUDY_TABLE.read_text(encoding="utf-8"))
    cells = table["cells"]
    if "all/transfer" not in cells or "difference" not in cells["all/transfer"]:
        return []
    baseline = cells["all/baseline"]

    def dev_mean(cell: dict[str, Any]) -> float:
        return float(np.mean(list(cell["dev"].values())))

    def against(name: str, what: str) -> str:
        cell = cells[name]
        diff = cell["difference"]
        return (
            f"- {what} (`{name}`, {len(diff['seeds'])} paired seeds): dev mean CCC "
            f"{dev_mean(cell):.3f} against the baseline's {dev_mean(baseline):.3f}; on test "
            f"{_interval(diff['arousal'])} arousal and {_interval(diff['valence'])} valence; "
            f"crossed {_crossed(diff['arousal'])} and {_crossed(diff['valence'])}."
        )

    winner = table["dev_winner"]
    lines = [
        STUDY_BEGIN,
        "**What the study says about the method** "
        "([docs/results/transfer-study.md](../../docs/results/transfer-study.md); the "
        "RECOLA-calibrated corpus, all training sessions labelled, a protocol fixed before the "
        "runs; differences to the audio baseline with 95 % bootstrap intervals over seeds and "
        f"test sessions, and the *crossed* interval, which draws the {table['test_sessions']} "
        "test sessions once for every seed, as every seed is scored on the same sessions):",
    ]
    compared = ["all/transfer"]
    if winner and winner != "all/baseline" and "difference" in cells[winner]:
        lines.append(against(winner, "the dev winner, this model's method"))
        compared.insert(0, winner)
    elif winner == "all/baseline":
        lines.append("- the dev winner is the audio baseline itself.")
    lines.append(against("all/transfer", "the paper's method (CCA alignment, weights 1 : 1)"))
    lines += [*_wide_lines(compared), STUDY_END, ""]
    return lines


def _wide_lines(compared: list[str]) -> list[str]:
    """The same comparisons on the third table's 180 test sessions (crossed intervals)."""
    if not WIDE_TABLE.is_file():
        return []
    wide = json.loads(WIDE_TABLE.read_text(encoding="utf-8"))
    diffs = {n: wide["cells"][n]["difference"] for n in compared
             if "difference" in wide["cells"].get(n, {})}  # fmt: skip
    if not diffs:
        return []
    parts = [
        f"`{name}` {_crossed(d['arousal'])} arousal and {_crossed(d['valence'])} valence "
        f"({len(d['seeds'])} paired seeds)"
        for name, d in diffs.items()
    ]
    return [
        f"- the same cells scored on {wide['test_sessions']} test sessions (the third table, "
        f"`docs/results/{WIDE_TABLE.parent.name}`, trained and scored on an "
        f"{wide['machine']['cpu']['model']}; crossed intervals): " + "; ".join(parts) + "."
    ]


def write_study_block(card: Path, check: bool = False) -> int:
    """Rewrite the card's study block (between STUDY_BEGIN and STUDY_END) from the study's
    tables, as ``card`` writes it, leaving every other line; with ``check``, only report
    whether it is current. The study's tables grow between model builds."""
    text = card.read_text(encoding="utf-8")
    begin, end = text.find(STUDY_BEGIN), text.find(STUDY_END)
    if begin < 0 or end < begin:
        print(f"{card}: no study block ({STUDY_BEGIN} ... {STUDY_END})", file=sys.stderr)
        return 2
    block = "\n".join(_wrap(line) for line in _study_lines()[:-1])  # the block, to STUDY_END
    new = text[:begin] + block + text[end + len(STUDY_END) :]
    if check:
        if new != text:
            print(f"{card}: the study block is stale: python scripts/default_model.py study")
            return 1
        return 0
    card.write_text(new, encoding="utf-8")
    print(f"wrote the study block of {card}")
    return 0


def _size_section(f: dict[str, Any]) -> list[str]:
    r = f["report"]
    ratio = f["sizes"]["default.int8.onnx"] / f["sizes"]["default.onnx"]
    return [
        "## Size and latency",
        "",
        *_size_latency(f),
        "",
        f"int8 / fp32 size ratio {ratio:.3f}. *Model step*: `ModelStream.step` alone, "
        f"{r['latency']['int8']['hops']} hops of dev speech, 1 onnxruntime thread (export "
        "report). *Pipeline hop*: every hop of the test split. Measured on "
        f"{cpu_line(r['cpu'])}, the build machine; the README's benchmarks cover a Raspberry "
        "Pi.",
    ]


def _demo_section(demo: dict[str, Any]) -> list[str]:
    return [
        "## Demo clip",
        "",
        f"`edge_affect/demo/{demo['audio']}`: {demo['duration_s']} s of the held-out test "
        f"session `{demo['session']}` from {demo['start_s']} s ({demo['encoding']}, "
        f"{_kb(demo['bytes'])}), chosen as {demo['choice']}; `arousal.arff` and `valence.arff` "
        "hold its gold standard cut to the same span, times from 0.00. The lossy encoding "
        "moves the int8 model's readings (gate off) by "
        f"{demo['encoding_effect']['mean_abs']:.3f} on average (max "
        f"{demo['encoding_effect']['max_abs']:.3f}) against the clip's original PCM. A window "
        "chosen for moving gold is easier to follow than a whole session: the demo's CCC is "
        "not a measurement of the model; the table above is. `edge-affect demo` streams it.",
    ]


def _scheme(contract: Any) -> str:
    return str((contract.quantization or {}).get("scheme", "not recorded"))


def render(f: dict[str, Any]) -> str:
    """The model card; every number comes from the facts :func:`write_card` gathers."""
    synth, contract, sizes = f["synth"], f["contract"], f["sizes"]
    model, sessions = contract.model, synth["sessions"]
    snr = synth["preset"]["snr_db"]
    count = {sp: sum(1 for x in sessions if x["split"] == sp) for sp in ("train", "dev", "test")}
    train_hours = count["train"] * synth["preset"]["duration_s"] / 3600
    flite = sum(1 for x in sessions if "flite_voice" in x)
    lines = [
        "# Model card: the bundled default model",
        "",
        "<!-- generated by scripts/make_default_model.sh from measured JSON; do not edit -->",
        "",
        f"`edge_affect/models/default.int8.onnx` ({_kb(sizes['default.int8.onnx'])}) is the "
        "model `listen`, `run` and `demo` use without `--model`; `default.onnx` "
        f"({_kb(sizes['default.onnx'])}) is the same network in fp32. Both take 16 kHz int16 "
        "PCM in 40 ms hops and give arousal and valence for every hop (the RECOLA / AVEC 2016 "
        "grid). `default.report.json` is the export's parity report; `default.results.json` "
        "holds the scores below.",
        "",
        *_not_section(count["train"], train_hours),
        "",
        "## Model",
        "",
        f"- Causal streaming student: `{model['encoder']}`, hidden {model['hidden']}, "
        f"{model['layers']} layer, z {model['z_dim']}; {model['parameters']:,} parameters; the "
        "log-mel frontend is inside the graph; `stream` mode, O(1) work per hop.",
        f"- Level normalisation in the frontend: every log-mel band relative to its running "
        f"mean over the stream (a plain mean for the first {contract.frontend['level_tau_s']:g} "
        f"s, then exponential with that time constant; log floor "
        f"{contract.frontend['log_floor']:g}), carried in the graph's state: a constant gain "
        "does not change the readings, a fixed microphone response barely does "
        "([docs/training.md](../../docs/training.md)). So readings are relative to what the "
        "stream has heard: the first tens of seconds of a stream set its baseline.",
        f"- Precision `{contract.precision}`, scheme `{_scheme(contract)}`: every weight "
        "`MatMul`, the GRU included (exported as an explicit cell), has uint8 weights per output "
        "channel and uint8 activations quantized per call; the frontend stays float. uint8 "
        "weights, not int8: onnxruntime's uint8 x int8 kernel saturates on x86 CPUs without "
        "VNNI (AMD Zen 1-3, most Intel client CPUs before Ice Lake / Alder Lake), where the "
        "previous int8-weight model moved by up to 0.38; this scheme gave the same readings on "
        "x86 with and without VNNI and on arm64 with and without dot product "
        "([docs/export.md](../../docs/export.md)). "
        "`edge-affect info edge_affect/models/default.int8.onnx` prints the contract.",
        "",
        "## Data",
        "",
        f"`edge-affect synth --preset {synth['preset']['name']} --seed {synth['seed']}` (espeak-ng "
        f"{synth['espeak_ng']}, flite {synth.get('flite', 'not used')}, valence cue "
        f"{synth['valence_cue']:g}): {len(sessions)} sessions "
        f"of 300 s in the AVEC 2016 layout, {count['train']} train / {count['dev']} dev / "
        f"{count['test']} test with disjoint voices ({flite} of them spoken by flite, one "
        "flite voice per split); each session through its own recording chain (gain uniform "
        "in ±12 dB; flat, laptop, headset, telephone-band or room colouring); pink noise and "
        f"mains hum at {snr[0]:g}–{snr[1]:g} dB SNR; "
        "six simulated raters per dimension whose mean is the gold standard (≈ 3 s annotation "
        "delay, not compensated). The generative model: "
        "[docs/synthetic_corpus.md](../../docs/synthetic_corpus.md).",
        "",
        *_method_section(f),
        "",
        *_results_section(f),
        "",
        *_robustness_section(f["robustness"]),
        "",
        *_size_section(f),
        "",
        *_demo_section(f["demo"]),
        "",
        "## Re-create",
        "",
        "```bash",
        "bash scripts/make_default_model.sh [WORK]     # WORK defaults to build/default-model",
        "```",
        "",
        "It generates the corpus, trains the teacher and both students, exports and scores them, "
        "cuts the demo clip and writes this card. Training runs on the CPU with one torch "
        "thread (`OMP_NUM_THREADS=1`; with a thread per core two runs of one student differed, "
        "with one they gave bit-identical weights), so on the same code and the same kind of CPU a "
        "re-run gives these "
        "numbers. The ONNX files also record their `created` time and `source_commit` (this "
        f"build: `{contract.source_commit}`"
        + (
            "; `+dirty`: the tree had uncommitted changes"
            if "+dirty" in contract.source_commit
            else ""
        )
        + ").",
        "",
    ]
    return "\n".join(_wrap(line) for line in lines)


def _wrap(line: str, width: int = 100) -> str:
    """Wrap prose and list items; leave tables, headings, code and comments alone."""
    if len(line) <= width or line.startswith(("|", "#", "```", "<!--")):
        return line
    indent = "  " if line.startswith("- ") else "   " if line[:3] in ("1. ", "2. ") else ""
    return textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False)


def write_card(
    work: Path, models: Path, demo: Path, corpus: str, previous: str, teacher_encoder: str
) -> None:
    contract = AffectModel(models / "default.int8.onnx").contract
    facts = {
        "scores": _load(work / "scores.json"),
        "scores_previous": _load(work / f"scores-{previous}.json"),
        "previous_preset": previous,
        "robustness": _load(work / "robustness.json"),
        "report": _load(work / "export" / "transfer.report.json"),
        "transfer": _load(work / "transfer" / "summary.json"),
        "baseline": _load(work / "baseline" / "summary.json"),
        "teacher": _load(work / "teacher" / "summary.json"),
        "teacher_encoder": teacher_encoder,
        "synth": _load(work / f"corpus-{corpus}" / "synth.json"),
        "demo": _load(demo / "demo.json"),
        "sizes": {p.name: p.stat().st_size for p in sorted(models.glob("default*.onnx"))},
        "contract": contract,
        "previous_contract": AffectModel(work / "previous" / "default.int8.onnx").contract,
    }
    results = {
        "corpus": facts["scores"],
        "previous_corpus": facts["scores_previous"],
        "robustness": facts["robustness"],
    }
    (models / "default.results.json").write_text(json.dumps(results, indent=2) + "\n")
    (models / "MODEL_CARD.md").write_text(render(facts))
    print(f"wrote {models / 'MODEL_CARD.md'}")


def winner_args(role: str, table: dict[str, Any]) -> list[str]:
    """``train student`` options (or the teacher's encoder) for ``role`` from the study table:
    the dev winner's method, and the study's fixed schedule with the cell's dev-chosen epochs."""
    cells, plan = table["cells"], table["plan"]
    name = table["dev_winner"] if role != "baseline" else "all/baseline"
    if name is None or name not in cells:
        raise SystemExit(f"default_model: the study table has no {role} cell yet")
    cell = cells[name]
    settings = cell["settings"]
    if role == "teacher":
        return [settings["teacher"]]
    if settings["labelled"] or settings["extra_train"] or settings["train_labels"] != "gold":
        raise SystemExit(f"default_model: {name} is not an all-labels method")
    args = ["--method", settings["method"], "--encoder", "gru", "--hidden", str(plan["hidden"])]
    args += ["--level-tau", f"{plan['level_tau_s']:g}", "--epochs", str(cell["epochs"])]
    args += ["--average-last", str(plan["average_last"])]
    if settings["method"] != "baseline":
        args += ["--align", settings["align"], "--translate-to", settings["translate_to"]]
        args += ["--alignment-weight", f"{settings['alignment_weight']:g}"]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score")
    p.add_argument("corpus", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("models", nargs="+", help="NAME=MODEL.onnx")
    p = sub.add_parser("clip")
    p.add_argument("corpus", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seconds", type=int, default=DEMO_SECONDS)
    p.add_argument("--model", type=Path, required=True, help="measures the encoding's effect")
    p = sub.add_parser("card")
    p.add_argument("work", type=Path)
    p.add_argument("models", type=Path)
    p.add_argument("demo", type=Path)
    p.add_argument("--corpus", required=True, help="the training corpus's preset")
    p.add_argument("--previous", required=True, help="the previous model's corpus preset")
    p.add_argument("--teacher-encoder", default="bigru", help="the teacher's encoder kind")
    p = sub.add_parser("winner")
    p.add_argument("role", choices=("student", "baseline", "teacher"))
    p = sub.add_parser("study")
    p.add_argument("--check", action="store_true", help="exit 1 if the card's block is stale")
    args = parser.parse_args()
    if args.command == "study":
        sys.exit(write_study_block(BUNDLED_MODELS / "MODEL_CARD.md", check=args.check))
    if args.command == "winner":
        table = json.loads(STUDY_TABLE.read_text(encoding="utf-8"))
        print("\n".join(winner_args(args.role, table)))
    elif args.command == "score":
        score(args.corpus, args.out, args.models)
    elif args.command == "clip":
        cut_clip(args.corpus, args.out_dir, args.seconds, args.model)
    else:
        write_card(
            args.work, args.models, args.demo, args.corpus, args.previous, args.teacher_encoder
        )


if __name__ == "__main__":
    main()
