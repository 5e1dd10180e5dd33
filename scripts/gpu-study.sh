#!/usr/bin/env bash
# The transfer study on a GPU machine, from a bundle scripts/gpu-bundle.sh wrote:
#
#   bash scripts/gpu-study.sh BUNDLE OUT [train study options]
#   bash scripts/gpu-study.sh bundle out --jobs 16 --seeds 7-9 --cell all/baseline --cell all/transfer
#
# Installs the bundle's wheels beside the machine's own torch (pip --target, no registry),
# puts its espeak-ng first on PATH, synthesises the study corpus (synth --preset recola
# --seed 0, every CPU) unless it is there from an earlier call, and runs
# `train study --device cuda` with the options given. OUT receives log.txt (this output,
# with the machine's GPU, CPU flags and versions), corpus.sha256 (every corpus file, sorted
# in the C locale, to compare with another machine's), smi.csv (nvidia-smi every second:
# GPU load and memory) and results.tar.gz (the results folder with its table).
# Environment: GPU_STUDY_WORK (default /tmp/edge-affect-gpu: corpus, runs, results),
# GPU_STUDY_MORE=1 also synthesises the corpus with 54 extra training sessions and passes
# it as --more-data (the label-scarce cells), GPU_STUDY_DEVICE (default cuda), PYTHON (default
# python3, the image's interpreter that holds torch).
set -uo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: bash scripts/gpu-study.sh BUNDLE OUT [train study options]" >&2
  exit 2
fi
BUNDLE=$(readlink -f "$1")
OUT=$(readlink -f "$2")
shift 2
WORK=${GPU_STUDY_WORK:-/tmp/edge-affect-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK"
start=$(date +%s%N)
stamp() { echo "[$(( ($(date +%s%N) - start) / 1000000 )) ms] $*"; }

main() {
  stamp "gpu-study: $*"
  shopt -s nullglob
  wheels=("$BUNDLE"/whl/*.whl)
  if (( ${#wheels[@]} )); then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$WORK/site" "${wheels[@]}" || { echo "gpu-study: the bundle's wheels did not install"; exit 1; }
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  export PATH="$BUNDLE/espeak/bin:$PATH" PYTHONUNBUFFERED=1 LC_ALL=C
  EA=("$PY" -m edge_affect)

  if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -lms 1000 \
      > "$OUT/smi.csv" &
    smi=$!
    trap 'kill "$smi" 2> /dev/null' EXIT
  fi
  lscpu | grep -E '^(Model name|CPU\(s\)|CPU family|Model):'
  echo "flags: $(grep -o -w -E 'avx2|avx512bw|avx512_vnni|avx_vnni|amx_int8|asimddp' /proc/cpuinfo |
    sort -u | tr '\n' ' ')"
  "$PY" -c "import sys, numpy, torch; print('python', sys.version.split()[0], 'torch',
torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(),
'numpy', numpy.__version__)"
  espeak-ng --version | cut -d' ' -f1-4

  synth() {  # FOLDER [synth options]: once per WORK
    local folder=$1
    shift
    if [[ ! -f $folder/synth.json ]]; then
      stamp "synth $folder"
      "${EA[@]}" synth "$folder" --preset recola --seed 0 --jobs "$(nproc)" "$@" || exit 1
    fi
  }
  synth "$WORK/corpus"
  (cd "$WORK/corpus" && find . -type f | sort | xargs sha256sum) > "$OUT/corpus.sha256"
  more=()
  if [[ ${GPU_STUDY_MORE:-0} == 1 ]]; then
    synth "$WORK/corpus-more54" --extra-train 54
    more=(--more-data "$WORK/corpus-more54")
  fi

  stamp "train study"
  "${EA[@]}" train study --data "$WORK/corpus" "${more[@]}" --runs "$WORK/runs" \
    --results "$WORK/results" --device "${GPU_STUDY_DEVICE:-cuda}" "$@"
  status=$?
  stamp "train study: exit $status"
  [[ -d $WORK/results ]] && tar czf "$OUT/results.tar.gz" -C "$WORK" results
  return "$status"
}

# through a pipe, not `exec > >(tee)`: the script returns only once the log is complete
main "$@" 2>&1 | tee -a "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
