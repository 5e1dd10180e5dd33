"""The parity report: ``model.report.json`` and the table ``edge-affect export`` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_affect.audio import LABEL_NAMES
from edge_affect.cpu import cpu_line

#: The export's targets for the default-size causal (stream) student (docs/export.md).
TARGETS = {
    "int8_bytes_max": 120_000,
    "int8_size_ratio_max": 0.35,
    "torch_vs_fp32_max_abs_error": 1e-4,
    "int8_ccc_drop_max": 0.005,
    "export_s_max": 30.0,
}


def check_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with the measured value and whether it is met (where measured)."""
    checks: dict[str, dict[str, Any]] = {
        "torch vs fp32 max error <= 1e-4": _check(
            report["torch_vs_fp32"]["max_abs_error"], TARGETS["torch_vs_fp32_max_abs_error"]
        ),
        "export + quantization < 30 s": _check(report["export_s"], TARGETS["export_s_max"]),
    }
    if "int8" in report["files"]:
        checks["int8 file <= 120 KB"] = _check(
            report["files"]["int8"]["bytes"], TARGETS["int8_bytes_max"]
        )
        checks["int8 <= 35% of fp32"] = _check(
            report["int8_size_ratio"], TARGETS["int8_size_ratio_max"]
        )
    drop = report.get("dev", {}).get("fp32_vs_int8", {}).get("ccc_drop")
    if drop:
        worst = max(abs(drop[k]) for k in LABEL_NAMES)
        checks["|CCC(fp32) - CCC(int8)| <= 0.005 on dev"] = _check(
            worst, TARGETS["int8_ccc_drop_max"]
        )
    return checks


def _check(value: float, limit: float) -> dict[str, Any]:
    return {"value": value, "limit": limit, "met": bool(value <= limit)}


def write_report(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _kb(n: int) -> str:
    return f"{n / 1000:.1f} KB"


def format_report(report: dict[str, Any]) -> str:
    files = report["files"]
    parity = report["torch_vs_fp32"]
    window = f", window {report['window_s']:g} s" if report["window_s"] else ""
    lines = [
        f"export of {report['checkpoint']} ({report['mode']} mode{window}) "
        f"in {report['export_s']:.1f} s; report measured in "
        f"{report['total_s'] - report['export_s']:.1f} s",
        f"measured on {cpu_line(report['cpu'])}: the int8 figures hold for this kernel "
        "class (docs/export.md has the others)",
        *_scheme_lines(report),
        "",
        f"{'file':28s} {'size':>10s} {'int8 weights':>13s} {'p50/hop':>10s} {'p99/hop':>10s}",
    ]
    for name, figures in files.items():
        lat = report["latency"][name]
        lines.append(
            f"{figures['file']:28s} {_kb(figures['bytes']):>10s} "
            f"{figures['int8_weight_share']:>12.1%} "
            f"{lat['p50_us']:>8.0f} us {lat['p99_us']:>7.0f} us"
        )
    lines += [
        f"(latency: {report['latency']['fp32']['hops']} hops of {report['latency_audio']}, "
        f"{report['threads']} thread)",
        "",
        f"torch vs ONNX fp32: max |error| {parity['max_abs_error']:.2e}, "
        f"mean {parity['mean_abs_error']:.2e} over {parity['hops']} hops of {parity['audio']}",
    ]
    if "fp32_vs_int8_speech" in report:
        q = report["fp32_vs_int8_speech"]
        lines.append(
            f"fp32 vs int8 on the same audio: max |error| {q['max_abs_error']:.4f}, "
            f"mean {q['mean_abs_error']:.4f}"
        )
    lines += _dev_lines(report)
    lines += ["", "targets (issue, default-size causal student):"]
    for name, check in report["targets"].items():
        mark = "met" if check["met"] else "MISSED"
        lines.append(f"  {name:44s} {check['value']:<12.4g} {mark}")
    return "\n".join(lines)


def _scheme_lines(report: dict[str, Any]) -> list[str]:
    scheme = report.get("int8_scheme")
    if not scheme:
        return []
    return [
        f"int8 scheme {scheme['scheme']}: {scheme['activations']} activations x "
        f"{scheme['weights']} weights, {scheme['granularity']}, {scheme['calibration']}"
    ]


def _dev_lines(report: dict[str, Any]) -> list[str]:
    dev = report.get("dev")
    if not dev:
        return ["(no --data: dev-split CCC not measured)"]
    lines = [
        "",
        f"dev split of {report['dev_corpus']}: {dev['sessions']} sessions, {dev['hops']} hops",
        f"{'model':8s} " + " ".join(f"{'CCC ' + k:>14s}" for k in LABEL_NAMES),
    ]
    for name, scores in dev["ccc"].items():
        lines.append(f"{name:8s} " + " ".join(f"{scores[k]:>14.4f}" for k in LABEL_NAMES))
    if "fp32_vs_int8" in dev:
        q = dev["fp32_vs_int8"]
        lines.append(
            f"fp32 vs int8 on dev: max |error| {q['max_abs_error']:.4f}, "
            f"mean {q['mean_abs_error']:.4f}"
        )
    return lines
