"""Where a study table's gains sit: pooled over sessions, or within each session.

    python scripts/study_sessions.py docs/results/study-xeon-t180 [--seeds 10] [--sessions 19-180]
        [--cells all/transfer,scarce-2/transfer] [--against design/align-mse]

The study's test CCC, like AVEC 2016's, is computed over all test sessions joined: it rewards
predicting how the sessions' levels differ (one speaker calmer than another) as well as how
each session moves. This prints, for every paired cell, the table's difference (pooled) beside
the mean over sessions and seeds of each session's own CCC difference (within). A gain that is
pooled but not within comes from the sessions' levels, not from tracking the moment-to-moment
course. Each cell at the snapshot its table chose on dev; both with their crossed 95 %
intervals (seeds and test sessions resampled as crossed factors, 10 000 resamples).

``--against CELL`` compares every chosen cell with CELL instead of the table's reference (at
the seeds both have, each at the snapshot its own table chose): what a cell adds to its twin.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.errors import EdgeAffectError
from edge_affect_train import transfer_study as ts
from edge_affect_train.cli import _seed_list, _session_range


def main() -> None:
    try:
        _main()
    except EdgeAffectError as error:
        sys.exit(f"error: {error}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--seeds", default="all", help="10 (seeds 0-9), 10-14, 0,3 or all")
    parser.add_argument("--sessions", help="test-split positions, e.g. 19-180 (default all)")
    parser.add_argument(
        "--cells", help="only these paired cells, comma-separated (default: every one)"
    )
    parser.add_argument("--against", help="compare with this cell, not the table's reference")
    return parser.parse_args(argv)


def _main() -> None:
    args = parse()
    seeds = None if args.seeds == "all" else _seed_list(args.seeds)
    sessions = None if args.sessions is None else _session_range(args.sessions, "--sessions")
    chosen = None if args.cells is None else args.cells.split(",")
    # the chosen cells, their references and the --against cell: no other cell's bootstrap
    needed = None if chosen is None else [*chosen, *([args.against] if args.against else [])]
    loaded = ts.load_results(args.results)
    study = ts.assemble(args.results, seeds, sessions, needed, loaded)
    rows = breakdown(study, loaded, sessions, chosen, args.against)
    print(f"{args.results}: {study['test_sessions']} test sessions, seeds {args.seeds}")
    print("\n".join(rows))


def breakdown(
    study: dict[str, Any],
    loaded: dict[str, dict[int, dict[str, Any]]],
    sessions: tuple[int, int] | None,
    chosen: list[str] | None,
    against: str | None,
) -> list[str]:
    """The table's lines (header first) for ``study`` (:func:`transfer_study.assemble` of
    the folder at those seeds and sessions); ``loaded``: the folder's records
    (:func:`transfer_study.load_results`), all seeds and sessions."""
    unknown = sorted(set(chosen or ()) - set(study["cells"]))
    if unknown:
        raise EdgeAffectError(f"--cells: no results for {', '.join(unknown)}")
    if against is not None and against not in study["cells"]:
        raise EdgeAffectError(f"--against: no results for {against}")
    if sessions is not None:
        loaded = ts.restrict_sessions(loaded, *sessions)
    lines = [
        "| cell | vs | dimension | pooled Δ | within Δ | pooled − within |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in study["cells"].items():
        if chosen is not None and name not in chosen:
            continue
        diff = entry.get("difference")
        if against is not None and name != against:
            other = study["cells"][against]["seeds"]
            diff = {"reference": against, "seeds": [s for s in entry["seeds"] if s in other]}
        if not diff or not diff["seeds"]:
            continue
        reference = study["cells"][diff["reference"]]
        a, b = (
            np.array(
                [loaded[cell][s]["snapshots"][str(epochs)]["test_sums"] for s in diff["seeds"]]
            )  # [seed, session, dim, 6]
            for cell, epochs in ((name, entry["epochs"]), (diff["reference"], reference["epochs"]))
        )
        pooled = ts.paired_difference(a, b) if against is not None else diff
        split = ts.within_session_difference(a, b)
        for d in ts.DIMENSIONS:
            shown = (
                _interval(pooled[d]["mean"], pooled[d]["crossed"]),
                *(_interval(x["mean"], x["crossed"]) for x in split[d].values()),
            )
            lines.append(
                f"| {name} | {diff['reference']} ({len(diff['seeds'])}) | {d} | "
                + " | ".join(shown)
                + " |"
            )
    return lines


def _interval(mean: float, bounds: dict[str, float]) -> str:
    return f"{mean:+.3f} [{bounds['low']:+.3f}, {bounds['high']:+.3f}]"


if __name__ == "__main__":
    main()
