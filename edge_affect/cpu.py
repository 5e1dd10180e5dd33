"""Which CPU this is, and which int8 kernel class onnxruntime picks on it.

An int8 parity figure holds for the kernel class it was measured on, so every report that
carries one names the CPU with :func:`describe_cpu`. The classes follow what onnxruntime's
MLAS dispatches for a uint8-activation GEMM:

=================  ==========================================================================
``x86-vnni``       x86-64 with AVX512-VNNI or AVX-VNNI: exact int32 dot products
``x86-avx512bw``   AVX-512BW without VNNI: ``VPMADDUBSW``, int8 weights can saturate
``x86-avx2``       AVX2 without VNNI: ``VPMADDUBSW``, int8 weights can saturate
``x86-sse``        SSE4.1 only
``arm64-dotprod``  arm64 with the dot-product instructions (``asimddp``; Pi 5, Cortex-A76)
``arm64-neon``     arm64 without them (Pi 4, Cortex-A72)
=================  ==========================================================================

The instruction-set flags come from numpy's own run-time detection (``cpuid`` on x86,
``getauxval`` on arm64), i.e. from what the process can execute; this is also right under
qemu user-mode emulation, where ``/proc/cpuinfo`` describes the host. ``avx_vnni`` is not in
numpy's list and is read from ``/proc/cpuinfo``. Under qemu user-mode emulation the model name
is the host's: where ``QEMU_CPU`` is set (qemu-user reads the emulated core from it), the report
names the emulated core instead and marks the figures as emulated.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

try:
    from numpy._core._multiarray_umath import __cpu_features__ as _numpy_cpu_features
except ImportError:  # numpy < 2
    from numpy.core._multiarray_umath import (  # type: ignore[no-redef]
        __cpu_features__ as _numpy_cpu_features,
    )

#: Kernel classes whose uint8 x int8 GEMM can saturate (a 16-bit intermediate sum).
SATURATING_U8S8 = frozenset({"x86-avx512bw", "x86-avx2", "x86-sse"})

_ARM_PARTS = {  # /proc/cpuinfo "CPU part" of ARM Ltd cores (implementer 0x41)
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0a": "Cortex-A75",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd49": "Neoverse-N2",
}
_X86_FLAGS = ("AVX2", "AVX512BW", "AVX512VNNI")
_ARM_FLAGS = ("ASIMD", "ASIMDDP")


def _numpy_features() -> dict[str, bool]:
    return {str(k): bool(v) for k, v in _numpy_cpu_features.items()}


def _cpuinfo() -> dict[str, str]:
    """The first processor block of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _arm_model(info: dict[str, str]) -> str:
    board = Path("/sys/firmware/devicetree/base/model")
    try:
        name = board.read_text(encoding="utf-8", errors="replace").strip("\x00 \n")
    except OSError:
        name = ""
    core = _ARM_PARTS.get(info.get("CPU part", "").lower(), "")
    return " / ".join(part for part in (name, core) if part) or "unknown arm64 CPU"


def kernel_class(machine: str, flags: set[str]) -> str:
    """The int8 kernel class for an architecture and its (upper-case) feature flags."""
    if machine in ("aarch64", "arm64"):
        return "arm64-dotprod" if "ASIMDDP" in flags else "arm64-neon"
    if machine in ("x86_64", "amd64", "AMD64"):
        if flags & {"AVX512VNNI", "AVX_VNNI"}:
            return "x86-vnni"
        if "AVX512BW" in flags:
            return "x86-avx512bw"
        return "x86-avx2" if "AVX2" in flags else "x86-sse"
    return f"{machine or 'unknown'}-unknown"


def describe_cpu() -> dict[str, Any]:
    """Model, architecture, kernel-picking flags and int8 kernel class of this CPU."""
    machine = platform.machine()
    features = _numpy_features()
    info = _cpuinfo()
    flags = {name for name, present in features.items() if present}
    if "avx_vnni" in info.get("flags", "").split():
        flags.add("AVX_VNNI")
    arm = machine in ("aarch64", "arm64")
    wanted = _ARM_FLAGS if arm else (*_X86_FLAGS, "AVX_VNNI")
    model = _arm_model(info) if arm else info.get("model name", platform.processor() or "unknown")
    kernel = kernel_class(machine, flags)
    emulated = os.environ.get("QEMU_CPU", "")
    if emulated:
        model = f"qemu {emulated} (emulated)"
    return {
        "model": model,
        "machine": machine,
        "flags": [f.lower() for f in wanted if f in flags],
        "int8_kernel": kernel,
        "u8s8_saturates": kernel in SATURATING_U8S8,
        "emulated": bool(emulated),
    }


def cpu_line(cpu: dict[str, Any]) -> str:
    """One line for reports: ``AMD EPYC (x86_64; avx2 avx512vnni) int8 kernel x86-vnni``."""
    flags = " ".join(cpu["flags"]) or "no SIMD flags found"
    return f"{cpu['model']} ({cpu['machine']}; {flags}), int8 kernel class {cpu['int8_kernel']}"


def int8_warning(precision: str, quantization: dict[str, Any] | None, cpu: dict[str, Any]) -> str:
    """Why an int8 model's readings may not match its fp32 source on this CPU ('' if none)."""
    if precision == "fp32" or not cpu["u8s8_saturates"]:
        return ""
    weights = (quantization or {}).get("weights")
    if weights == "uint8":
        return ""
    stored = "int8 weights" if weights == "int8" else "weights of an unrecorded type"
    return (
        f"this {precision} model has {stored}; on this CPU ({cpu['int8_kernel']}, no VNNI) "
        "onnxruntime's uint8 x int8 kernel can saturate and move readings by tenths; "
        "re-export with the default scheme u8u8-per-channel (docs/export.md)"
    )
