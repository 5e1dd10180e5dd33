#!/usr/bin/env bash
# What `train study --device cuda` needs on a GPU machine that cannot reach a package
# registry, gathered on this host into one folder to carry there:
#
#   bash scripts/gpu-bundle.sh BUNDLE [--espeak-only]
#
# The GPU machines lent so far (docs/results/transfer-study.md, "On a GPU" and "On an NVIDIA
# H100") run an image with CPython 3.12, torch, numpy, h5py, typer and onnxruntime, but no
# espeak-ng and none of the audio wheels. This writes:
#   BUNDLE/whl     the project's wheel and the wheels the image lacks (soundfile, soxr, cffi,
#                  pycparser, sounddevice, webrtcvad-wheels; this host's versions), for
#                  CPython $GPU_PYTHON (default 3.12) on manylinux x86-64;
#   BUNDLE/espeak  this host's espeak-ng, the shared libraries it links (glibc's own left
#                  out) and its voice data, behind a wrapper, BUNDLE/espeak/bin/espeak-ng,
#                  that runs the copy on them. A corpus it speaks is byte-equal to this
#                  host's when the versions match (checked on an H100 on 2026-12-06).
# --espeak-only writes BUNDLE/espeak alone (no registry needed).
# On the GPU machine: bash scripts/gpu-study.sh BUNDLE OUT [train study options].
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || $1 == -* ]]; then
  echo "usage: bash scripts/gpu-bundle.sh BUNDLE [--espeak-only]" >&2
  exit 2
fi
BUNDLE=$1
ONLY=${2:-}
if [[ -n $ONLY && $ONLY != --espeak-only ]]; then
  echo "gpu-bundle: unknown option $ONLY" >&2
  exit 2
fi
ESPEAK=$(command -v espeak-ng) || { echo "gpu-bundle: espeak-ng is not installed here" >&2; exit 1; }
DATA=$(espeak-ng --version | sed -n 's/.*Data at: *//p')
if [[ ! -d $DATA ]]; then
  echo "gpu-bundle: espeak-ng names no data folder ($DATA)" >&2
  exit 1
fi
mkdir -p "$BUNDLE/espeak/bin" "$BUNDLE/espeak/lib"
cp "$ESPEAK" "$BUNDLE/espeak/lib/espeak-ng.real"
# every library the program loads except glibc's, which the GPU machine has (a newer one)
ldd "$ESPEAK" | awk '/=> \// {print $3}' |
  grep -v -E '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$BUNDLE/espeak/lib/"; done
rm -rf "$BUNDLE/espeak/espeak-ng-data"
cp -r "$DATA" "$BUNDLE/espeak/espeak-ng-data"
cat > "$BUNDLE/espeak/bin/espeak-ng" <<'EOF'
#!/bin/sh
# espeak-ng carried from the host that ran scripts/gpu-bundle.sh: its libraries and data
here=$(dirname "$(dirname "$(readlink -f "$0")")")
LD_LIBRARY_PATH="$here/lib" ESPEAK_DATA_PATH="$here" exec "$here/lib/espeak-ng.real" "$@"
EOF
chmod +x "$BUNDLE/espeak/bin/espeak-ng"
echo "gpu-bundle: $("$BUNDLE/espeak/bin/espeak-ng" --version | cut -d' ' -f1-4)," \
  "$(ls "$BUNDLE/espeak/lib" | wc -l) files in $BUNDLE/espeak/lib"
[[ $ONLY == --espeak-only ]] && exit 0

PYTHON=${PYTHON:-python3}
mkdir -p "$BUNDLE/whl"
rm -rf build/lib build/bdist.*  # setuptools packs whatever an earlier build left there
"$PYTHON" -m pip wheel -q --no-deps -w "$BUNDLE/whl" . 2>&1 | grep -v '^WARNING' >&2 || true
pins=$("$PYTHON" - <<'EOF'
from importlib.metadata import version

names = ("soundfile", "soxr", "cffi", "pycparser", "sounddevice", "webrtcvad-wheels")
print(" ".join(f"{name}=={version(name)}" for name in names))
EOF
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64 any; do
  platforms+=(--platform "$p")
done
# shellcheck disable=SC2086  # $pins is a list of requirements
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --implementation cp \
  --python-version "${GPU_PYTHON:-3.12}" "${platforms[@]}" -d "$BUNDLE/whl" $pins
echo "gpu-bundle: $(ls "$BUNDLE/whl" | wc -l) wheels in $BUNDLE/whl ($pins)"
