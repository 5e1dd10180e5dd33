#!/usr/bin/env bash
# Re-create the bundled default model, its model card and the demo clip, from scratch:
#
#   bash scripts/make_default_model.sh [WORK]      # WORK defaults to build/default-model
#
# 1. the synthetic corpus `synth --preset avec-chain-flite --seed 0` (AVEC 2016 layout;
#    espeak-ng and flite speech; a random recording chain per session) and, to score on it
#    too, the corpus the previous models were trained on (`--preset avec`);
# 2. the teacher (video features_video_appearance, the study winner's encoder, width 64),
#    the transfer student and the baseline student (causal GRU 64, level normalisation with
#    a 60 s running mean): the student is trained with the method that wins on dev in the
#    transfer study (docs/results/study/table.json, `default_model.py winner`), both students
#    on the study's fixed schedule (the cell's dev-chosen epochs, the last 5 averaged), seed 0,
#    on the CPU with one torch thread (bit-reproducible on one machine);
# 3. export of both students to ONNX fp32 + int8 (the report scores dev on the files);
# 4. dev and test CCC of the four ONNX files, and of the previous bundled model, on both
#    corpora through the device pipeline (FileSource -> Pipeline with the VAD gate off, so
#    every hop is a model reading), per synthesis engine too;
# 5. what gain, tempo and pitch do to the readings (scripts/voice_robustness.py: synthetic
#    voices of both engines and the human prompts of alsa-utils), new and previous model;
# 6. the demo clip (30 s of a held-out test session, OGG Vorbis) with its gold standard;
# 7. copies into edge_affect/models/ and edge_affect/demo/, and MODEL_CARD.md generated from
#    the measured JSON.
#
# Idempotent: a step whose output exists is skipped (delete WORK to start over). On the same
# code a re-run gives the same numbers; the ONNX files also record their `created` time and
# `source_commit`. Other code (torch, the frontend's float rounding) can end training at
# another epoch: the scores then move by a few hundredths.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${1:-build/default-model}
PYTHON=${PYTHON:-python3}
PRESET=avec-chain-flite
PREVIOUS_PRESET=avec
CORPUS="$WORK/corpus-$PRESET"
PREVIOUS_CORPUS="$WORK/corpus-$PREVIOUS_PRESET"
SEED=0
TRAIN=(--seed "$SEED" --device cpu --quiet)  # the rest: the `full` preset (train defaults)
# One torch thread per training run: with torch's default (a thread per core) two runs of the
# same student on the same code ended at different epochs and scores here; with one thread
# they were identical. The two students then train side by side.
ONE_THREAD=(env OMP_NUM_THREADS=1)
mkdir -p "$WORK"
step() { echo "make_default_model: $*" >&2; }

# the bundled model this one replaces, kept to measure both the same way
if [ ! -f "$WORK/previous/default.onnx" ]; then
  mkdir -p "$WORK/previous"
  cp edge_affect/models/default.onnx edge_affect/models/default.int8.onnx "$WORK/previous/"
fi

for preset in "$PRESET" "$PREVIOUS_PRESET"; do
  if [ ! -f "$WORK/corpus-$preset/synth.json" ]; then
    step "generating a corpus (synth --preset $preset --seed $SEED)"
    rm -rf "$WORK/corpus-$preset.partial"
    edge-affect synth "$WORK/corpus-$preset.partial" --preset "$preset" --seed "$SEED"
    mv "$WORK/corpus-$preset.partial" "$WORK/corpus-$preset"
  fi
done

# the study's dev winner (the bundled student's method) and the baseline on its schedule
TEACHER_ENCODER=$("$PYTHON" scripts/default_model.py winner teacher)
mapfile -t STUDENT_ARGS < <("$PYTHON" scripts/default_model.py winner student)
mapfile -t BASELINE_ARGS < <("$PYTHON" scripts/default_model.py winner baseline)
[ ${#STUDENT_ARGS[@]} -gt 0 ] && [ ${#BASELINE_ARGS[@]} -gt 0 ]  # set -e: no table, no model
step "the study's dev winner: ${STUDENT_ARGS[*]} (teacher $TEACHER_ENCODER)"

if [ ! -f "$WORK/teacher/checkpoint.pt" ]; then
  step "training the teacher (video_appearance, $TEACHER_ENCODER 64)"
  "${ONE_THREAD[@]}" edge-affect train teacher --data "$CORPUS" --modality video_appearance \
    --encoder "$TEACHER_ENCODER" --hidden 64 --epochs 40 --out "$WORK/teacher" "${TRAIN[@]}"
fi

pids=()
for method in transfer baseline; do
  if [ ! -f "$WORK/$method/checkpoint.pt" ]; then
    args=("${STUDENT_ARGS[@]}")
    [ "$method" = transfer ] || args=("${BASELINE_ARGS[@]}")
    step "training the $method student: ${args[*]}"
    "${ONE_THREAD[@]}" edge-affect train student --data "$CORPUS" \
      --teacher "$WORK/teacher/checkpoint.pt" "${args[@]}" --out "$WORK/$method" "${TRAIN[@]}" &
    pids+=("$!")
  fi
done
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid"; done  # set -e: a failed student stops the script

for method in transfer baseline; do
  if [ ! -f "$WORK/export/$method.report.json" ]; then
    step "exporting the $method student (fp32 + int8)"
    mkdir -p "$WORK/export"
    edge-affect export "$WORK/$method/checkpoint.pt" --out "$WORK/export/$method.onnx" \
      --int8 --data "$CORPUS"
  fi
done

SCORED=(transfer_fp32="$WORK/export/transfer.onnx" transfer_int8="$WORK/export/transfer.int8.onnx"
        baseline_fp32="$WORK/export/baseline.onnx" baseline_int8="$WORK/export/baseline.int8.onnx"
        previous_fp32="$WORK/previous/default.onnx" previous_int8="$WORK/previous/default.int8.onnx")
for corpus in "$CORPUS" "$PREVIOUS_CORPUS"; do
  scores="$WORK/scores.json"
  [ "$corpus" = "$CORPUS" ] || scores="$WORK/scores-$PREVIOUS_PRESET.json"
  if [ ! -f "$scores" ]; then
    step "scoring the ONNX files on $(basename "$corpus") through the device pipeline (no gate)"
    "$PYTHON" scripts/default_model.py score "$corpus" "$scores.partial" "${SCORED[@]}"
    mv "$scores.partial" "$scores"
  fi
done

if [ ! -f "$WORK/robustness.json" ]; then
  step "gain, tempo and pitch: the readings of the same utterances (scripts/voice_robustness.py)"
  [ -f "$WORK/utterances/index.json" ] || "$PYTHON" scripts/voice_robustness.py make "$WORK/utterances"
  "$PYTHON" scripts/voice_robustness.py measure "$WORK/utterances" \
    "$WORK/export/transfer.int8.onnx" "$WORK/export/transfer.onnx" \
    "$WORK/previous/default.int8.onnx" --json "$WORK/robustness.json.partial"
  mv "$WORK/robustness.json.partial" "$WORK/robustness.json"
fi

if [ ! -f "$WORK/demo/demo.json" ]; then
  step "cutting the demo clip"
  "$PYTHON" scripts/default_model.py clip "$CORPUS" "$WORK/demo" \
    --model "$WORK/export/transfer.int8.onnx"
fi

step "installing into edge_affect/models/ and edge_affect/demo/"
MODELS=edge_affect/models
DEMO=edge_affect/demo
mkdir -p "$MODELS" "$DEMO"
cp "$WORK/export/transfer.onnx" "$MODELS/default.onnx"
cp "$WORK/export/transfer.int8.onnx" "$MODELS/default.int8.onnx"
cp "$WORK/export/transfer.report.json" "$MODELS/default.report.json"
cp "$WORK/demo/demo.ogg" "$WORK/demo/arousal.arff" "$WORK/demo/valence.arff" \
  "$WORK/demo/demo.json" "$DEMO/"
"$PYTHON" scripts/default_model.py card "$WORK" "$MODELS" "$DEMO" --corpus "$PRESET" \
  --previous "$PREVIOUS_PRESET" --teacher-encoder "$TEACHER_ENCODER"
step "done: $(du -ch "$MODELS"/* "$DEMO"/* | tail -1 | cut -f1) bundled"
