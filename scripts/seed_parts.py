"""Which part of a seed decides a label-scarce gain: its labelled speakers, or the rest.

    python scripts/seed_parts.py docs/results/study-epyc-avx2-t180 [--regimes 2,4] [--seeds 20]
        [--epochs-of-twin | --pooled]

A seed of a label-scarce cell fixes two things: which training speakers keep their labels
(the draw of the seed) and everything else a run draws (the initial weights, the batch order,
the teacher's own training). The ``*-reseed`` cells keep the first and move the second to
another training seed (``seed + RESEED_OFFSET``). For each regime this prints, seed by seed,
the test difference of ``scarce-N/mixed-align-mse-distill`` against ``scarce-N/baseline``
(each at the snapshot its table chose on dev over the seeds read) beside the same difference
of their ``-reseed`` twins, and the Pearson correlation of the two across seeds with a 95 %
interval (seeds resampled, 10 000 resamples).

If a seed's difference were a part fixed by its labelled speakers plus an independent part of
equal spread in both runs, the correlation would be the labelled speakers' share of the
spread between seeds. The reading (protocol.md, "which part of a seed decides the
label-scarce gain"): the labelled speakers carry most of it when the interval lies above 0.5,
the rest of the seed when it lies below 0.5, and neither reading holds otherwise.
``--epochs-of-twin`` also prints the correlation with the reseeded cells read at the
snapshots their twins chose, so that dev's choices for the new cells do not enter.
``--pooled`` prints instead each regime's two differences averaged seed by seed (protocol.md,
"each regime's two estimates averaged"; a description), with the crossed interval of
``transfer_study.pooled_difference``, which draws a seed's two pairs together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.errors import EdgeAffectError
from edge_affect_train import transfer_study as ts
from edge_affect_train.cli import _seed_list

RESAMPLES = 10_000
METHOD = "mixed-align-mse-distill"


def main() -> None:
    try:
        print("\n".join(report(parse())))
    except EdgeAffectError as error:
        sys.exit(f"error: {error}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--regimes", default="2", help="labelled speakers, e.g. 2,4 (default 2)")
    parser.add_argument("--seeds", default="all", help="20 (seeds 0-19), 10-19, 0,3 or all")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--epochs-of-twin",
        action="store_true",
        help="also read the reseeded cells at the snapshots their twins chose",
    )
    mode.add_argument(
        "--pooled",
        action="store_true",
        help="print instead each regime's two differences averaged seed by seed, with a "
        "crossed interval that keeps a seed's two pairs together",
    )
    return parser.parse_args(argv)


def report(args: argparse.Namespace) -> list[str]:
    seeds = None if args.seeds == "all" else _seed_list(args.seeds)
    try:
        regimes = [int(n) for n in args.regimes.split(",")]
    except ValueError:
        raise EdgeAffectError(
            f"--regimes {args.regimes}: give labelled-speaker counts, e.g. 2,4"
        ) from None
    bad = [n for n in regimes if n not in ts.SCARCE_SPEAKERS]
    if bad:
        raise EdgeAffectError(
            f"--regimes: no label-scarce cells with {bad[0]} labelled speakers "
            f"(the study has {', '.join(map(str, ts.SCARCE_SPEAKERS))})"
        )
    loaded = ts.load_results(args.results)
    if not loaded:
        raise EdgeAffectError(f"{args.results}: no study result files (*--s<seed>.json)")
    if args.pooled:
        lines = [
            f"{args.results}: seeds {args.seeds}, each regime's two pairs averaged seed by seed"
        ]
        for n in regimes:
            lines += pooled_regime(args.results, loaded, n, seeds)
        return lines
    lines = [f"{args.results}: seeds {args.seeds}"]
    for n in regimes:
        lines += regime(args.results, loaded, n, seeds, args.epochs_of_twin)
    return lines


def _regime_study(
    results: Path,
    loaded: dict[str, dict[int, dict[str, Any]]],
    n: int,
    seeds: list[int] | None,
) -> tuple[str, str, list[int], dict[str, Any]]:
    """The regime's two cells, the seeds all four cells share (of ``seeds``) and the table
    over those seeds (epochs chosen on dev over them)."""
    twin, reseeded = f"scarce-{n}/{METHOD}", f"scarce-{n}/{METHOD}-reseed"
    missing = [c for c in (twin, reseeded) if c not in loaded]
    if missing:
        raise EdgeAffectError(f"{results}: no results for {', '.join(missing)}")
    four = [twin, ts.CELLS[twin].reference, reseeded, ts.CELLS[reseeded].reference]
    shared = set.intersection(*(set(loaded.get(c, {})) for c in four))
    common = sorted(shared if seeds is None else shared & set(seeds))
    if len(common) < 3:
        raise EdgeAffectError(
            f"{results}: {', '.join(four)} share {len(common)} seeds; the comparison "
            "needs at least 3"
        )
    return (
        twin,
        reseeded,
        common,
        ts.assemble(results, common, cells=[twin, reseeded], loaded=loaded),
    )


def pooled_regime(
    results: Path,
    loaded: dict[str, dict[int, dict[str, Any]]],
    n: int,
    seeds: list[int] | None,
) -> list[str]:
    """The regime's two paired differences averaged seed by seed (protocol.md, "each
    regime's two estimates averaged"), every cell at the snapshot dev chose for it."""
    twin, reseeded, common, study = _regime_study(results, loaded, n, seeds)

    def sums(cell: str) -> np.ndarray:
        epochs = str(study["cells"][cell]["epochs"])
        return np.array(
            [loaded[cell][s]["snapshots"][epochs]["test_sums"] for s in common], dtype=np.float64
        )

    pairs = [(sums(c), sums(ts.CELLS[c].reference)) for c in (twin, reseeded)]
    both = ts.pooled_difference(pairs)
    lines = [
        "",
        f"{n} labelled speakers, seeds {_span(common)}: {twin} against "
        f"{ts.CELLS[twin].reference} (epochs {study['cells'][twin]['epochs']}, "
        f"{study['cells'][ts.CELLS[twin].reference]['epochs']}) and {reseeded} against "
        f"{ts.CELLS[reseeded].reference} (epochs {study['cells'][reseeded]['epochs']}, "
        f"{study['cells'][ts.CELLS[reseeded].reference]['epochs']}); crossed intervals",
    ]
    for d in ts.DIMENSIONS:
        lines.append(
            f"{d}: {twin} {_figure(study['cells'][twin]['difference'][d])}, {reseeded} "
            f"{_figure(study['cells'][reseeded]['difference'][d])}, the two averaged "
            f"{_figure(both[d])}"
        )
    return lines


def regime(
    results: Path,
    loaded: dict[str, dict[int, dict[str, Any]]],
    n: int,
    seeds: list[int] | None,
    epochs_of_twin: bool,
) -> list[str]:
    # every figure over the seeds all four cells have (epochs chosen on dev over those)
    twin, reseeded, common, study = _regime_study(results, loaded, n, seeds)
    a, b = study["cells"][twin], study["cells"][reseeded]
    lines = [
        "",
        f"{n} labelled speakers, seeds {_span(common)}: {twin} against its reference, and "
        f"{reseeded} against its own (training seed + {ts.RESEED_OFFSET})",
        f"epochs chosen on dev: {twin} {a['epochs']}, {ts.CELLS[twin].reference} "
        f"{study['cells'][ts.CELLS[twin].reference]['epochs']}; {reseeded} {b['epochs']}, "
        f"{ts.CELLS[reseeded].reference} {study['cells'][ts.CELLS[reseeded].reference]['epochs']}",
    ]
    per = {name: _per_seed(study["cells"][name]["difference"], common) for name in (twin, reseeded)}
    lines.append("| seed | labelled speakers | " + " | ".join(
        f"{d} {who}" for d in ts.DIMENSIONS for who in ("seed", "reseeded")
    ) + " |")  # fmt: skip
    lines.append("|---" * 6 + "|")
    for i, seed in enumerate(common):
        speakers = ", ".join(loaded[reseeded][seed].get("labelled_sessions", ["?"]))
        values = " | ".join(f"{per[c][d][i]:+.3f}" for d in ts.DIMENSIONS for c in (twin, reseeded))
        lines.append(f"| {seed} | {speakers} | {values} |")
    for d in ts.DIMENSIONS:
        both = [b["difference"][d], a["difference"][d]]
        lines.append(
            f"{d}: mean difference {twin} {_figure(both[1])}, {reseeded} {_figure(both[0])}; "
            + correlation_line(per[twin][d], per[reseeded][d])
        )
        halves = [s for s in (common[: len(common) // 2], common[len(common) // 2 :]) if s]
        lines.append(
            f"{d}: by halves ({' / '.join(_span(h) for h in halves)}): {twin} "
            + " / ".join(f"{_mean(per[twin][d], common, h):+.3f}" for h in halves)
            + f", {reseeded} "
            + " / ".join(f"{_mean(per[reseeded][d], common, h):+.3f}" for h in halves)
        )
    if epochs_of_twin:
        lines += _at_twin_epochs(loaded, study, n, common, per[twin])
    return lines


def _at_twin_epochs(
    loaded: dict[str, dict[int, dict[str, Any]]],
    study: dict[str, Any],
    n: int,
    common: list[int],
    per_twin: dict[str, np.ndarray],
) -> list[str]:
    """The reseeded pair read at the snapshots the twins chose on dev."""
    twin = f"scarce-{n}/{METHOD}"
    base = ts.CELLS[twin].reference
    e_twin, e_base = study["cells"][twin]["epochs"], study["cells"][base]["epochs"]
    out = []
    for d in ts.DIMENSIONS:
        diff = np.array(
            [
                _test(loaded, f"{twin}-reseed", s, e_twin, d)
                - _test(loaded, f"{base}-reseed", s, e_base, d)
                for s in common
            ]
        )
        out.append(
            f"{d}, the reseeded cells at their twins' epochs ({e_twin}, {e_base}): mean "
            f"{diff.mean():+.3f}; " + correlation_line(per_twin[d], diff)
        )
    return out


def _test(
    loaded: dict[str, dict[int, dict[str, Any]]], cell: str, seed: int, epoch: int, d: str
) -> float:
    return float(loaded[cell][seed]["snapshots"][str(epoch)]["test"][d])


def correlation(
    x: np.ndarray, y: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, float]:
    """Pearson's r of ``x`` and ``y`` (paired by position) with a 95 % percentile interval,
    the pairs resampled with replacement; a resample with no spread in either is left out."""
    r = float(np.corrcoef(x, y)[0, 1])
    pick = np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))
    xs, ys = x[pick], y[pick]
    xs, ys = xs - xs.mean(axis=1, keepdims=True), ys - ys.mean(axis=1, keepdims=True)
    norm = np.sqrt((xs**2).sum(axis=1) * (ys**2).sum(axis=1))
    ok = norm > 0
    drawn = (xs * ys).sum(axis=1)[ok] / norm[ok]
    low, high = np.percentile(drawn, [2.5, 97.5])
    return {"r": r, "low": float(low), "high": float(high), "resamples": int(ok.sum())}


def reading(c: dict[str, float]) -> str:
    """protocol.md's reading of the correlation's interval."""
    if c["low"] > 0.5:
        return "the labelled speakers carry most of the spread between seeds"
    if c["high"] < 0.5:
        some = "; the labelled speakers carry some (interval above 0)" if c["low"] > 0 else ""
        return "the rest of the seed carries most of the spread between seeds" + some
    return "neither reading holds (the interval includes 0.5)"


def correlation_line(x: np.ndarray, y: np.ndarray) -> str:
    c = correlation(x, y)
    return f"r = {c['r']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]: {reading(c)}"


def _per_seed(difference: dict[str, Any], common: list[int]) -> dict[str, np.ndarray]:
    index = [difference["seeds"].index(s) for s in common]
    return {d: np.array(difference[d]["per_seed"])[index] for d in ts.DIMENSIONS}


def _mean(values: np.ndarray, common: list[int], part: list[int]) -> float:
    return float(np.mean([values[common.index(s)] for s in part]))


def _figure(d: dict[str, Any]) -> str:
    low, high = d["crossed"]["low"], d["crossed"]["high"]
    return f"{d['mean']:+.3f} [{low:+.3f}, {high:+.3f}]"


def _span(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


if __name__ == "__main__":
    main()
