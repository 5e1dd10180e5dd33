#!/usr/bin/env bash
# Functions reached only from traps look unreachable to shellcheck 0.9.
# shellcheck disable=SC2317
# The Raspberry Pi (arm64) check: the device install and its tests on emulated Pi cores.
#
#   bash scripts/arm64-check.sh            # as root on a Debian/Ubuntu x86-64 host
#
# 1. installs qemu-user-static, binfmt-support and debootstrap, and enables qemu-aarch64;
# 2. builds a Debian bookworm arm64 root file system (Python 3.11, as on Raspberry Pi OS
#    Bookworm) from the mirror of the host's own apt sources; it is kept in
#    $EDGE_AFFECT_ARM64_CACHE (default /var/cache/edge-affect) and reused while its package
#    list is unchanged;
# 3. builds the project wheel and downloads the aarch64 wheels of the runtime dependencies on
#    the host, and installs them offline into a venv inside the rootfs: no torch, no onnx;
# 4. for QEMU_CPU=cortex-a72 (Pi 4, no dot product) and cortex-a76 (Pi 5, with it), side by
#    side, in a
#    private mount namespace with an arm64 /proc/cpuinfo and /sys: `edge-affect info`,
#    `edge-affect run` of the demo clip with the fp32 and the int8 model (gate off),
#    `edge-affect demo --fast --quiet`, and the runtime tests (tests/runtime, less those
#    that need an audio server);
# 5. compares the logs with the same runs on this x86 host: arm64 fp32 within 1e-4 of x86
#    fp32, arm64 int8 within the int8 parity bound (0.02, tests/runtime/test_int8_parity.py)
#    of x86 fp32; exits non-zero otherwise.
#
# Emulated timings are not Pi timings: the script prints them labelled as emulated.
# Traps measured here: onnxruntime's cpuinfo crashes on qemu's pass-through x86
# /proc/cpuinfo, so the host's /proc/cpuinfo and /sys are never visible in the chroot.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${EDGE_AFFECT_ARM64_CACHE:-/var/cache/edge-affect}
# espeak-ng and alsa-utils (its recorded human speech prompts): real speech for the tests
ROOTFS_PACKAGES=python3,python3-venv,libportaudio2,espeak-ng,alsa-utils,ca-certificates
ROOTFS=$CACHE/bookworm-arm64
# shellcheck disable=SC2206  # a space-separated list on purpose
CPUS=(${EDGE_AFFECT_ARM64_CPUS:-cortex-a72 cortex-a76})
PYTHON=${PYTHON:-python3}
STAGE=/opt/edge-affect-check  # inside the rootfs
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
WORK=$(mktemp -d /tmp/edge-affect-arm64.XXXXXX)
say() { echo "arm64-check: $*" >&2; }
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

host_tools() {
  local missing=()
  for package in qemu-user-static binfmt-support debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  mountpoint -q /proc/sys/fs/binfmt_misc ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 2>/dev/null || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || {
    say "qemu-aarch64 is not registered with binfmt_misc"
    exit 1
  }
}

mirror() {  # the Debian mirror of the host's own apt sources
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
    grep -v -- '-security' | head -n 1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' |
    grep -v -- '-security' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

unmount_under() {  # $1: a folder; unmount whatever is mounted below it, deepest first
  awk -v top="$1/" 'index($2, top) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r point; do umount -l "$point"; done
}

rootfs() {
  if [ "$(cat "$ROOTFS/.edge-affect-packages" 2>/dev/null)" = "$ROOTFS_PACKAGES" ]; then
    say "reusing the rootfs in $ROOTFS"
    return
  fi
  local url started=$SECONDS
  url=$(mirror)
  say "debootstrap bookworm arm64 from $url (a few minutes)"
  unmount_under "$ROOTFS.partial"  # an interrupted debootstrap leaves its /proc mounted
  unmount_under "$ROOTFS"
  rm -rf "$ROOTFS.partial" "$ROOTFS"
  mkdir -p "$CACHE"
  debootstrap --arch=arm64 --variant=minbase --include="$ROOTFS_PACKAGES" bookworm \
    "$ROOTFS.partial" "$url" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 20 "$WORK/debootstrap.log" >&2
    exit 1
  }
  echo "$ROOTFS_PACKAGES" >"$ROOTFS.partial/.edge-affect-packages"
  mv "$ROOTFS.partial" "$ROOTFS"
  say "rootfs built in $((SECONDS - started)) s"
}

wheels() {
  say "building the wheel and fetching the aarch64 runtime wheels (Python 3.11)"
  rm -rf build/lib build/bdist.*  # setuptools packs whatever an earlier build left there
  "$PYTHON" -m pip wheel -q --no-deps -w "$WORK/wheels" . 2>&1 | grep -v '^WARNING' >&2 || true
  local wheel
  wheel=$(ls "$WORK"/wheels/edge_affect-*.whl)
  # liac-arff (the test extra) is published as a source archive only: build its pure wheel here
  "$PYTHON" -m pip wheel -q --no-deps -w "$WORK/wheels" liac-arff 2>&1 | grep -v '^WARNING' >&2 ||
    true
  "$PYTHON" -m pip download -q -d "$WORK/wheels" --find-links "$WORK/wheels" \
    --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 "$wheel[test]" 2>&1 | grep -v '^WARNING' >&2 || true
  ls "$WORK"/wheels/onnxruntime-*aarch64*.whl >/dev/null
}

stage() {
  local target=$ROOTFS$STAGE
  rm -rf "$target"
  mkdir -p "$target/src" "$target/logs"
  cp -r "$WORK/wheels" "$target/"
  cp -r tests pyproject.toml "$target/src/"
  cp edge_affect/demo/demo.ogg "$target/"
}

fake_cpuinfo() {  # $1: the QEMU_CPU name; two cores as qemu-user presents one
  local part features
  case "$1" in
    cortex-a72) part=0xd08 features="fp asimd evtstrm crc32 cpuid" ;;
    cortex-a76) part=0xd0b features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
    *) say "no /proc/cpuinfo template for $1"; exit 1 ;;
  esac
  for core in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' \
      "$core" "$features"
    printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 0\n\n' "$part"
  done
}

in_rootfs() {  # $1: QEMU_CPU, $2: a shell command run in $STAGE inside the rootfs
  fake_cpuinfo "$1" >"$WORK/cpuinfo-$1"
  unshare --mount --propagation private bash -c '
    set -e
    root=$1 cpuinfo=$2
    mount -t proc proc "$root/proc"
    mount --bind "$cpuinfo" "$root/proc/cpuinfo"
    mount -t tmpfs sys "$root/sys"
    mkdir -p "$root/sys/devices/system/cpu"
    for f in possible present online; do echo 0-1 >"$root/sys/devices/system/cpu/$f"; done
    mkdir -p "$root/sys/kernel"
    mount -o remount,ro "$root/sys"  # read-only, as sysfs is to a process
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmp "$root/tmp"
    exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 QEMU_CPU="$3" \
      chroot "$root" /bin/sh -c "cd $4 && $5"
  ' _ "$ROOTFS" "$WORK/cpuinfo-$1" "$1" "$STAGE" "$2"
}

install_venv() {
  say "installing the wheels offline into a venv in the rootfs (emulated)"
  in_rootfs cortex-a72 "python3 -m venv venv && venv/bin/pip install -q --no-index \
    --find-links wheels 'edge-affect[test]' && venv/bin/python -c 'import importlib.util as u, \
sys; sys.exit(any(u.find_spec(m) for m in (\"torch\", \"onnx\")))'"
}

x86_reference() {
  say "x86 reference logs ($(uname -m), $("$PYTHON" -c 'from edge_affect.cpu import cpu_line, describe_cpu; print(cpu_line(describe_cpu()))'))"
  edge-affect run edge_affect/demo/demo.ogg --no-gate --quiet \
    --model edge_affect/models/default.onnx --out "$WORK/x86-fp32.csv" >/dev/null
  edge-affect run edge_affect/demo/demo.ogg --no-gate --quiet --out "$WORK/x86-int8.csv" \
    >/dev/null
}

check_cpu() {  # $1: QEMU_CPU
  local cpu=$1 started=$SECONDS
  local fp32="\$(venv/bin/python -c 'from edge_affect.paths import BUNDLED_MODELS as m; print(m / \"default.onnx\")')"
  say "$cpu: info, run fp32 and int8, demo, runtime tests (emulated: every latency and RTF" \
    "printed below is qemu's, not a Pi's)"
  in_rootfs "$cpu" "venv/bin/edge-affect info \$(venv/bin/python -c 'from edge_affect.paths import BUNDLED_MODELS as m, DEFAULT_MODEL as d; print(m / d)') && \
    venv/bin/edge-affect run demo.ogg --no-gate --quiet --model $fp32 --out logs/$cpu-fp32.csv && \
    venv/bin/edge-affect run demo.ogg --no-gate --quiet --out logs/$cpu-int8.csv && \
    venv/bin/edge-affect demo --fast --quiet --out logs/demo-$cpu" | tee "$WORK/$cpu.txt"
  grep -q "int8 kernel class arm64-" "$WORK/$cpu.txt"
  in_rootfs "$cpu" "cd src && ../venv/bin/python -m pytest tests/runtime -m 'not audio_stack' \
    -q -rs --durations=5 -p no:cacheprovider" |
    grep -E '^(SKIPPED|FAILED|ERROR)|passed|failed|^[0-9.]+s (call|setup)' 
  cp "$ROOTFS$STAGE/logs/$cpu-fp32.csv" "$ROOTFS$STAGE/logs/$cpu-int8.csv" "$WORK/"
  say "$cpu: done in $((SECONDS - started)) s of emulated time (not Pi speed)"
}

compare() {
  "$PYTHON" - "$WORK" "${CPUS[@]}" <<'EOF'
import sys
from pathlib import Path

import numpy as np

from edge_affect.logs.reader import read_log

FP32_BOUND = 1e-4  # the same float graph on another CPU: rounding order only
INT8_BOUND = 0.02  # the int8 parity bound (tests/runtime/test_int8_parity.py)
work, cpus = Path(sys.argv[1]), sys.argv[2:]


def values(name: str) -> np.ndarray:
    table = read_log(work / name)
    return np.stack([table.arousal, table.valence], axis=1)


x86 = values("x86-fp32.csv")
failures = []
print(f"{'log':22s} {'rows':>6s} {'max |d| vs x86 fp32':>20s} {'bound':>7s}")
for name, bound in [("x86-int8.csv", INT8_BOUND)] + [
    (f"{cpu}-{p}.csv", FP32_BOUND if p == "fp32" else INT8_BOUND)
    for cpu in cpus
    for p in ("fp32", "int8")
]:
    got = values(name)
    worst = float(np.abs(got - x86).max()) if got.shape == x86.shape else float("inf")
    print(f"{name:22s} {got.shape[0]:>6d} {worst:>20.2e} {bound:>7g}")
    if not worst <= bound:
        failures.append(name)
if failures:
    sys.exit(f"arm64-check: outside the bounds: {', '.join(failures)}")
print("arm64-check: every arm64 log is within its bound")
EOF
}

started=$SECONDS
host_tools
rootfs
wheels
stage
install_venv
x86_reference
# the cores side by side (each qemu process is single-threaded; a check takes minutes)
pids=()
for cpu in "${CPUS[@]}"; do
  check_cpu "$cpu" >"$WORK/check-$cpu.log" 2>&1 &
  pids+=("$!")
done
failed=()
for i in "${!CPUS[@]}"; do
  wait "${pids[$i]}" || failed+=("${CPUS[$i]}")
  cat "$WORK/check-${CPUS[$i]}.log" >&2
done
if ((${#failed[@]})); then
  say "failed on ${failed[*]}"
  exit 1
fi
compare
say "done in $((SECONDS - started)) s"
