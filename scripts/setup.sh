#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for edge-affect development: system packages for
# the audio stack and speech synthesis, the CPU build of torch, and the project with its
# extras (editable). Idempotent: a second run installs nothing new.
#
#   PYTHON=python3.11 bash scripts/setup.sh     # choose the interpreter (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

# PortAudio for sounddevice; PulseAudio + the ALSA pulse plugin for a real capture path
# without hardware; alsa-utils ships real speech prompts used by tests; sox, espeak-ng and
# flite (a second synthesis engine, voices built from recorded speakers) make and measure
# speech; chromium + chromedriver run the dashboard test in a real browser.
DEBIAN_PACKAGES=(libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins alsa-utils sox espeak-ng
                 flite chromium chromium-driver)
TORCH_VERSION=2.13.0
PYTHON=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# torch first and pinned: an open torch requirement pulls a multi-GB CUDA build.
if ! "$PYTHON" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION" >&2
  "$PYTHON" -m pip install -q "torch==$TORCH_VERSION"
fi
"$PYTHON" -m pip install -q -e ".[train,export,dev,bench,plot,lsl,osc]"
echo "setup: done ($("$PYTHON" -m edge_affect version 2>/dev/null || edge-affect version))" >&2
