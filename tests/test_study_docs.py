"""The study's figures in the docs are the study's figures (issue 18: the earlier ablation
table disagreed with its own JSON).

Every Markdown table in the study's pages that reports a paired difference (a "Δ" column)
is preceded by a marker comment:

* ``<!-- study-table seeds=SPEC [results=FOLDER] [sessions=FIRST-LAST] -->``: each row names
  its cell in backticks (the first `regime/method` in its first column); the columns the test
  knows (below) must equal what :func:`transfer_study.assemble` computes from the committed
  result files in FOLDER (default ``docs/results/study``; a second CPU's table has its own)
  over those seeds (``all``: every file, i.e. ``table.json``; ``10``: seeds 0-9; ``10-14``;
  ``0,3``), scored on those test sessions (positions in the split, from 1; default all);
* ``<!-- study-table unchecked: WHY -->``: a table that mixes seed counts or quotes figures
  from elsewhere, with the reason in the page's source.

The known columns: seeds, epochs (dev), dev/test arousal/valence, dev A / V, test A / V,
Δ test arousal/valence [95 %] (the protocol's interval), Δ test arousal/valence, crossed
[95 %], half-width, half-width, crossed, seeds part A / V, sessions part A / V.
Columns with other headings (what changes, teacher figures, a second cell's figures) are not
read.
"""

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from edge_affect_train import transfer_study
from edge_affect_train.cli import _seed_list, _session_range
from tests.helpers import load_script, run_script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "docs/results/study"
PAGES = ("README.md", "docs/results/transfer-study.md")
MARKER = re.compile(
    r"<!-- study-table (seeds=(?P<seeds>\S+)( results=(?P<results>\S+))?"
    r"( sessions=(?P<first>\d+)-(?P<last>\d+))?|unchecked: .+?) -->"
)
#: a study cell's name, in backticks
CELL = re.compile("`(" + "|".join(map(re.escape, transfer_study.CELLS)) + ")`")
NUMBER = r"[+-]?\d*\.\d+"
INTERVAL = re.compile(rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\]")


def _normal(text: str) -> str:
    return text.replace("**", "").replace("−", "-").strip()


@cache
def _study(results: str, seeds: str, sessions: tuple[int, int] | None = None) -> dict[str, Any]:
    """The study of those files, with the cells the docs read from it (the marked tables'
    rows, the breakdowns' cells, and their references); ``all``: every cell."""
    chosen = None if seeds == "all" else _seed_list(seeds)
    cells = None if seeds == "all" else _cells_read().get((results, seeds, sessions))
    return transfer_study.assemble(ROOT / results, chosen, sessions, cells, _loaded(results))


def _tables(page: str) -> list[tuple[int, str | None, list[list[str]]]]:
    """Every Markdown table of ``page``: (line, marker or None, rows of cells)."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str | None, list[list[str]]]] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            marker = lines[k].strip() if k >= 0 and MARKER.fullmatch(lines[k].strip()) else None
            rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[i:j]]
            out.append((i + 1, marker, rows))
            i = j
        else:
            i += 1
    return out


def _expected(entry: dict[str, Any], heading: str) -> list[float] | None:
    """The figures a column with this heading shows for a cell, or None for a column the
    test does not read. A difference column of a cell without a reference shows nothing."""
    diff = entry.get("difference")
    dims = {d: diff[d] for d in transfer_study.DIMENSIONS} if diff else {}
    simple = {
        "seeds": lambda: [len(entry["seeds"])],
        "epochs (dev)": lambda: [entry["epochs"]],
        "dev arousal": lambda: [entry["dev"]["arousal"]],
        "dev valence": lambda: [entry["dev"]["valence"]],
        "test arousal": lambda: [entry["test"]["arousal"]],
        "test valence": lambda: [entry["test"]["valence"]],
        "dev A / V": lambda: [entry["dev"]["arousal"], entry["dev"]["valence"]],
        "test A / V": lambda: [entry["test"]["arousal"], entry["test"]["valence"]],
    }
    differences = {
        "half-width": lambda: [transfer_study.half_width(dims)],
        "half-width, crossed": lambda: [transfer_study.half_width(dims, crossed=True)],
        "seeds part A / V": lambda: [v["half_width_seeds_only"] for v in dims.values()],
        "sessions part A / V": lambda: [v["half_width_sessions_only"] for v in dims.values()],
    }
    for name in transfer_study.DIMENSIONS:
        differences[f"Δ test {name} [95 %]"] = lambda n=name: [
            dims[n]["mean"],
            dims[n]["low"],
            dims[n]["high"],
        ]
        differences[f"Δ test {name}, crossed [95 %]"] = lambda n=name: [
            dims[n]["mean"],
            dims[n]["crossed"]["low"],
            dims[n]["crossed"]["high"],
        ]
    if heading in simple:
        return [float(x) for x in simple[heading]()]
    if heading in differences:
        return [float(x) for x in differences[heading]()] if diff else []
    return None


def _figures(text: str, heading: str) -> list[float]:
    text = _normal(text)
    if heading.startswith("Δ"):
        found = INTERVAL.findall(text)
        assert len(found) <= 1, f"more than one interval in {text!r}"
        return [float(x) for x in found[0]] if found else []
    return [float(x) for x in re.findall(NUMBER if "." in text else r"\d+", text)]


def _marked_tables() -> list[tuple[str, int, str, str, tuple[int, int] | None, list[list[str]]]]:
    out = []
    for page in PAGES:
        for line, marker, rows in _tables(page):
            match = MARKER.fullmatch(marker) if marker else None
            if match and match["seeds"]:
                sessions = (int(match["first"]), int(match["last"])) if match["first"] else None
                results = match["results"] or RESULTS
                out.append((page, line, results, match["seeds"], sessions, rows))
    return out


def test_every_study_table_in_the_docs_is_marked() -> None:
    """A table with a paired difference states which seeds it quotes (or why it cannot be
    checked), so a new table cannot escape the check below."""
    unmarked = [
        f"{page}:{line}"
        for page in PAGES
        for line, marker, rows in _tables(page)
        if any("Δ" in heading for heading in rows[0]) and marker is None
    ]
    assert not unmarked, f"study tables without a study-table marker: {unmarked}"
    assert {page for page, *_ in _marked_tables()} == set(PAGES)


def test_every_study_table_marker_marks_a_table() -> None:
    """A marker whose table was lost (text written where the table should be) checks
    nothing, so it is an error too."""
    orphans = []
    for page in PAGES:
        marked = {line for line, marker, _ in _tables(page) if marker}
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for number, text in enumerate(lines, 1):
            if MARKER.fullmatch(text.strip()):
                table = next(
                    (n for n in range(number + 1, len(lines) + 1) if lines[n - 1].strip()), None
                )
                if table not in marked:
                    orphans.append(f"{page}:{number}")
    assert not orphans, f"study-table markers with no table after them: {orphans}"


@pytest.mark.parametrize(
    ("page", "line", "results", "seeds", "sessions", "rows"),
    _marked_tables(),
    ids=lambda v: v if isinstance(v, (str, int)) and not isinstance(v, bool) else "",
)
def test_a_marked_study_table_shows_the_result_files_figures(
    page: str,
    line: int,
    results: str,
    seeds: str,
    sessions: tuple[int, int] | None,
    rows: list[list[str]],
) -> None:
    study = _study(results, seeds, sessions)
    headings = [_normal(h) for h in rows[0]]
    assert any(h.startswith("Δ test") for h in headings), f"{page}:{line}: no Δ column"
    for offset, row in enumerate(rows[2:], start=line + 2):
        where = f"{page}:{offset}"
        named = CELL.search(row[0])
        assert named, f"{where}: the first column names no study cell in backticks"
        entry = study["cells"].get(named[1])
        assert entry is not None, f"{where}: {named[1]} has no results over seeds {seeds}"
        for heading, text in zip(headings, row, strict=True):
            expected = _expected(entry, heading)
            if expected is None or not _normal(text):
                continue
            shown = _figures(text, heading)
            digits = 0 if heading in ("seeds", "epochs (dev)") else 3
            assert shown == [round(x, digits) for x in expected], (
                f"{where}: {named[1]} {heading!r} shows {text!r}; the result files in "
                f"{results} over seeds {seeds} give {[round(x, digits) for x in expected]}"
            )


@pytest.mark.parametrize(
    "results", sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/results/study*"))
)
def test_a_committed_table_is_its_result_files_table(results: str) -> None:
    """table.json and table.md are what `train study` assembles from the folder's result
    files now: a result file committed without its table (or a hand-edited table) fails."""
    study = _study(results, "all")
    folder = ROOT / results
    assert json.loads((folder / "table.json").read_text(encoding="utf-8")) == study
    assert (folder / "table.md").read_text(encoding="utf-8") == transfer_study.format_table(study)


def test_a_table_of_some_cells_gives_each_what_the_whole_table_gives() -> None:
    """The docs' tables are checked on studies of the cells they show (and the references
    those are compared with): each entry is the whole table's entry."""
    whole = _study("docs/results/study-xeon", "all")
    some = transfer_study.assemble(
        ROOT / "docs/results/study-xeon", cells=["all/transfer", "scarce-2/transfer"]
    )
    assert sorted(some["cells"]) == sorted(
        ["all/baseline", "all/transfer", "scarce-2/baseline", "scarce-2/transfer"]
    )
    assert all(entry == whole["cells"][name] for name, entry in some["cells"].items())
    assert some["cells"]["scarce-2/transfer"]["difference"]["reference"] == "scarce-2/baseline"


WIDER = re.compile(r"(?P<narrow>docs/results/study[^/]*)-t(?P<sessions>\d+)")


def _wider_tables() -> list[tuple[str, str]]:
    """(wider, narrow): each table scored on a larger test split and the same CPU's table
    on the study corpus's own test sessions."""
    out = []
    for path in sorted(ROOT.glob("docs/results/study*-t*")):
        match = WIDER.fullmatch(path.relative_to(ROOT).as_posix())
        if match:
            out.append((match[0], match["narrow"]))
    return out


def test_every_wider_table_has_its_narrow_table() -> None:
    wider = _wider_tables()
    assert wider, "protocol.md's third table (docs/results/study-xeon-t180) is missing"
    for folder, narrow in wider:
        assert (ROOT / narrow / "table.json").is_file(), f"{folder}: no {narrow} to compare"


@pytest.mark.parametrize(("wider", "narrow"), _wider_tables())
def test_a_larger_test_split_scores_the_same_students(wider: str, narrow: str) -> None:
    """protocol.md: the third table's corpus adds test sessions only, so every run that both
    folders hold trained the same student. Its dev scores, and the sums of the test sessions
    the two splits share, are equal to the last digit; the folder holds more test sessions
    and was computed on the same CPU, or on one that joined the smaller table (a run the
    larger table trained again on that CPU is then a second bit-for-bit check of the join)."""
    many = transfer_study.load_results(ROOT / wider)
    few = transfer_study.load_results(ROOT / narrow)
    joined = transfer_study.joined_cpus(ROOT / narrow)
    shared = [(c, s) for c, records in many.items() for s in records if s in few.get(c, {})]
    assert shared, f"{wider} and {narrow} share no run"
    for cell, seed in shared:
        a, b = many[cell][seed], few[cell][seed]
        where = f"{wider}/{transfer_study.result_file_name(cell, seed)}"
        n = len(b["test_sessions"])
        assert len(a["test_sessions"]) > n and a["test_sessions"][:n] == b["test_sessions"]
        cpu = transfer_study.cpu_name(a["machine"]["cpu"], None)
        assert a["machine"]["cpu"] == b["machine"]["cpu"] or cpu in joined, where
        assert sorted(a["snapshots"]) == sorted(b["snapshots"]), where
        for epoch, snapshot in b["snapshots"].items():
            assert a["snapshots"][epoch]["dev"] == snapshot["dev"], f"{where} epoch {epoch}"
            shared_sums = a["snapshots"][epoch]["test_sums"][:n]
            assert shared_sums == snapshot["test_sums"], f"{where} epoch {epoch}"


@pytest.mark.parametrize(("wider", "narrow"), _wider_tables())
def test_a_larger_tables_shared_sessions_give_the_smaller_table(wider: str, narrow: str) -> None:
    """Cut to the test sessions both splits hold, the larger table is the smaller one at the
    seeds both hold: means, epochs and every interval (the bootstrap draws the same)."""
    few = _study(narrow, "all")
    seeds = sorted({s for entry in few["cells"].values() for s in entry["seeds"]})
    many = transfer_study.assemble(ROOT / wider, seeds, (1, few["test_sessions"]))
    narrow_now = transfer_study.assemble(
        ROOT / narrow, sorted({s for e in many["cells"].values() for s in e["seeds"]})
    )
    assert many["test_sessions"] == few["test_sessions"]
    compared = []
    for name, entry in many["cells"].items():
        if narrow_now["cells"].get(name, {}).get("seeds") != entry["seeds"]:
            continue
        theirs = narrow_now["cells"][name]
        for key in ("epochs", "dev", "test", "difference"):
            assert entry.get(key) == theirs.get(key), f"{wider} {name} {key}"
        compared.append(name)
    assert compared, f"{wider} and {narrow}: no cell with the same seeds in both"


SESSIONS_SCRIPT = re.compile(r"scripts/study_sessions\.py (?P<args>[^>]+?) -->")


def _breakdowns() -> list[tuple[str, int, str, list[list[str]]]]:
    return [
        (page, line, found["args"], rows)
        for page in PAGES
        for line, marker, rows in _tables(page)
        if marker and (found := SESSIONS_SCRIPT.search(marker))
    ]


@cache
def _cells_read() -> dict[tuple[str, str, tuple[int, int] | None], set[str] | None]:
    """(results, seeds, sessions) -> the cells the docs read at those seeds: each marked
    table's rows and each breakdown's cells (``--cells`` and ``--against``; None: every
    cell, for a breakdown without ``--cells``)."""
    out: dict[tuple[str, str, tuple[int, int] | None], set[str] | None] = {}

    def read(key: tuple[str, str, tuple[int, int] | None], cells: set[str] | None) -> None:
        known = out.get(key, set())
        out[key] = None if known is None or cells is None else known | cells

    for _, _, results, seeds, sessions, rows in _marked_tables():
        named = (CELL.search(row[0]) for row in rows[2:])
        read((results, seeds, sessions), {m[1] for m in named if m})
    for _, _, args, _ in _breakdowns():
        parsed = _script().parse(args.split())
        sessions = _session_range(parsed.sessions) if parsed.sessions else None
        key = (parsed.results.as_posix(), parsed.seeds, sessions)
        if parsed.cells is None:
            read(key, None)
        else:
            read(key, {*parsed.cells.split(","), *([parsed.against] if parsed.against else [])})
    return out


def _study_sessions(args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_script("study_sessions", args)


def test_the_docs_quote_a_session_breakdown() -> None:
    assert _breakdowns(), "transfer-study.md quotes scripts/study_sessions.py"


@cache
def _script() -> Any:
    return load_script("study_sessions")


@cache
def _loaded(results: str) -> dict[str, dict[int, dict[str, Any]]]:
    return transfer_study.load_results(ROOT / results)


def _breakdown(args: list[str]) -> list[str]:
    """What ``scripts/study_sessions.py ARGS`` prints, computed in this process from the
    same studies the marked tables use (assembling a 180-session study takes a while)."""
    script = _script()
    parsed = script.parse(args)
    results = parsed.results.as_posix()
    sessions = _session_range(parsed.sessions) if parsed.sessions else None
    study = _study(results, parsed.seeds, sessions)
    chosen = parsed.cells.split(",") if parsed.cells else None
    rows: list[str] = script.breakdown(study, _loaded(results), sessions, chosen, parsed.against)
    title = f"{results}: {study['test_sessions']} test sessions, seeds {parsed.seeds}"
    return [title, *rows]


@pytest.mark.parametrize(("page", "line", "args", "rows"), _breakdowns())
def test_a_session_breakdown_is_the_scripts_output(
    page: str, line: int, args: str, rows: list[list[str]]
) -> None:
    """A table marked with a scripts/study_sessions.py command shows that command's rows."""
    printed = [
        [_normal(c) for c in line.strip().strip("|").split("|")]
        for line in _breakdown(args.split())
        if line.startswith("|")
    ]
    shown = [[_normal(c).replace("`", "") for c in row] for row in rows]
    assert shown == printed, f"{page}:{line} differs from scripts/study_sessions.py {args}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-folder"], "no study result files"),
        (["docs/results/study-xeon", "--seeds", "x"], "--seeds 'x'"),
        (["docs/results/study-xeon", "--sessions", "5-400"], "scored on 18 test sessions"),
        (["docs/results/study-xeon", "--sessions", "5-x"], "--sessions '5-x'"),
        (["docs/results/study-xeon", "--cells", "all/transfer,all/nothing"], "all/nothing"),
        (["docs/results/study-xeon", "--against", "all/nothing"], "--against: no results"),
    ],
)
def test_the_session_breakdown_refuses_bad_input_in_one_line(args: list[str], message: str) -> None:
    done = _study_sessions(args)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_breakdown_against_the_tables_reference_is_the_tables_breakdown() -> None:
    """``--against`` recomputes the pooled difference from the result files; against the
    table's own reference it gives the table's rows, and against another cell other rows.
    The script prints what the docs' tables are checked against."""
    args = ["docs/results/study-xeon", "--seeds", "10", "--cells", "all/transfer"]
    table = _study_sessions(args)
    again = _study_sessions([*args, "--against", "all/baseline"])
    twin = _study_sessions([*args, "--against", "design/align-mse"])
    assert table.returncode == again.returncode == twin.returncode == 0, twin.stderr
    assert again.stdout == table.stdout and table.stdout.count("| all/transfer |") == 2
    rows = [line for line in twin.stdout.splitlines() if line.startswith("| all/transfer |")]
    assert len(rows) == 2 and all("| design/align-mse (10) |" in row for row in rows)
    assert twin.stdout.splitlines() == _breakdown([*args, "--against", "design/align-mse"])
    sessions = ["docs/results/study-xeon-t180", "--seeds", "10", "--sessions", "19-180"]
    cut = _study_sessions([*sessions, "--cells", "scarce-2/transfer"])
    assert cut.returncode == 0, cut.stderr
    assert cut.stdout.splitlines() == _breakdown([*sessions, "--cells", "scarce-2/transfer"])


SEED_PARTS = re.compile(r"<!-- seed-parts: (?P<args>[^>]+?) -->")


def _seed_parts_quotes() -> list[tuple[str, int, str, list[str]]]:
    """Each ``<!-- seed-parts: ARGS -->`` marker of the pages: the fenced block after it."""
    out = []
    for page in PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for number, text in enumerate(lines, 1):
            found = SEED_PARTS.fullmatch(text.strip())
            if not found:
                continue
            assert lines[number].startswith("```"), f"{page}:{number}: no fenced block after it"
            end = lines.index("```", number + 1)
            out.append((page, number, found["args"], lines[number + 1 : end]))
    return out


def test_the_docs_quote_the_seed_parts() -> None:
    assert _seed_parts_quotes(), "transfer-study.md quotes scripts/seed_parts.py"


@pytest.mark.parametrize(("page", "line", "args", "quoted"), _seed_parts_quotes())
def test_a_seed_parts_quote_is_the_scripts_output(
    page: str, line: int, args: str, quoted: list[str]
) -> None:
    """A block marked with a scripts/seed_parts.py command is that command's output."""
    script = load_script("seed_parts")
    printed = script.report(script.parse(args.split()))
    assert quoted == printed, f"{page}:{line} differs from scripts/seed_parts.py {args}"
