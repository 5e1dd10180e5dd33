"""AVEC 2016 ARFF: exact layout, round trips, other writers, tolerant and strict parsing."""

from pathlib import Path

import arff as liac_arff
import numpy as np
import pytest

from edge_affect.errors import DataFormatError, MissingDataError
from edge_affect.formats.arff import (
    FrameTable,
    format_arff,
    gold_standard_table,
    parse_arff,
    read_arff,
    read_gold_standard,
    write_arff,
)
from edge_affect.formats.timegrid import frame_times

GOLD_HEADER = (
    "@relation GOLDSTANDARD_arousal\n"
    "\n"
    "@attribute Instance_name string\n"
    "@attribute frameTime numeric\n"
    "@attribute GoldStandard numeric\n"
    "\n"
    "\n"
    "@data\n"
    "\n"
)


def _features(n: int = 50, d: int = 4) -> FrameTable:
    rng = np.random.default_rng(0)
    return FrameTable(
        relation="features_video_appearance",
        instance="dev_3",
        times=frame_times(n),
        feature_names=tuple(f"f{i}" for i in range(d)),
        values=np.round(rng.normal(size=(n, d)), 6),
    )


def test_gold_standard_is_written_in_the_exact_avec_layout() -> None:
    text = format_arff(gold_standard_table("train_1", "arousal", np.array([0.1, -0.25, 0.3333333])))
    assert text.startswith(GOLD_HEADER)
    assert text.splitlines()[9:] == [
        "train_1,0.00,0.100000",
        "train_1,0.04,-0.250000",
        "train_1,0.08,0.333333",
    ]
    assert len(GOLD_HEADER.splitlines()) == 9


def test_round_trip_of_a_feature_table(tmp_path: Path) -> None:
    table = _features()
    write_arff(tmp_path / "a" / "dev_3.arff", table)
    back = read_arff(tmp_path / "a" / "dev_3.arff")
    assert back.instance == "dev_3" and back.relation == table.relation
    assert back.feature_names == table.feature_names
    np.testing.assert_array_equal(back.times, table.times)
    np.testing.assert_allclose(back.values, table.values, atol=5e-7)


def test_missing_values_round_trip_as_question_marks(tmp_path: Path) -> None:
    table = _features(5, 2)
    values = table.values.copy()
    values[2, 1] = np.nan
    path = tmp_path / "m.arff"
    write_arff(
        path, FrameTable(table.relation, "nancy_1", table.times, table.feature_names, values)
    )
    assert ",?" in path.read_text()
    assert np.isnan(read_arff(path).values[2, 1])
    assert read_arff(path).instance == "nancy_1"


def test_liac_arff_reads_what_we_write() -> None:
    table = _features(10, 3)
    loaded = liac_arff.loads(format_arff(table))
    assert [a[0] for a in loaded["attributes"]] == ["Instance_name", "frameTime", "f0", "f1", "f2"]
    assert loaded["data"][3][0] == "dev_3"
    assert loaded["data"][3][1] == pytest.approx(0.12)
    np.testing.assert_allclose([row[2:] for row in loaded["data"]], table.values, atol=5e-7)


def test_we_read_what_liac_arff_writes() -> None:
    values = np.linspace(-1, 1, 20)
    text = liac_arff.dumps(
        {
            "relation": "GOLDSTANDARD valence",
            "attributes": [
                ("Instance_name", "STRING"),
                ("frameTime", "NUMERIC"),
                ("GoldStandard", "REAL"),
            ],
            "data": [["dev 1", round(0.04 * i, 2), float(v)] for i, v in enumerate(values)],
        }
    )
    table = parse_arff(text)
    assert table.instance == "dev 1"
    assert table.relation == "GOLDSTANDARD valence"
    np.testing.assert_allclose(table.column("GoldStandard"), values)


def test_tolerates_case_quotes_comments_blank_lines_spaces_and_crlf() -> None:
    text = (
        "% written by hand\r\n@RELATION 'GOLDSTANDARD_valence'\r\n\r\n"
        "@ATTRIBUTE Instance_name STRING\r\n@Attribute frameTime REAL  \r\n"
        "@attribute 'GoldStandard' NUMERIC\r\n\r\n@DATA\r\n\r\n"
        "'train_2', 0.00 , 0.5  \r\n\r\n% a comment row\r\n'train_2',0.04,\"0.25\"\r\n"
    )
    table = parse_arff(text)
    assert table.relation == "GOLDSTANDARD_valence"
    assert table.instance == "train_2"
    np.testing.assert_allclose(table.values[:, 0], [0.5, 0.25])


def test_plain_rows_and_careful_rows_read_alike() -> None:
    """Rows of plain numbers take a fast path; quotes, ``?`` and a row whose check sum
    overflows take the field-by-field one. Both give the same values."""
    header = GOLD_HEADER.replace("@data", "@attribute second numeric\n@data")
    body = (
        "train_1, 0.00 ,1e-3, -2.5E+2\n"
        "'train_1',0.04,?,'7'\n"
        "train_1,0.08,1e308,1e308\n"
        "train_1,0.12,  0.1  ,\t-0\n"
    )
    table = parse_arff(header + body)
    expected = [[1e-3, -250.0], [np.nan, 7.0], [1e308, 1e308], [0.1, -0.0]]
    np.testing.assert_array_equal(table.values, expected)
    assert np.signbit(table.values[3, 1])
    np.testing.assert_array_equal(table.times, [0.0, 0.04, 0.08, 0.12])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("train_1,0.00,0.1\ntrain_1,0.08,0.2\n", "frame step is 80.0 ms"),
        ("train_1,0.04,0.1\ntrain_1,0.00,0.2\n", "not increasing"),
        ("train_1,0.00,high\n", "GoldStandard is 'high', not a number"),
        ("train_1,0.00\n", "2 values, expected 3"),
        ("train_1,0.00,0.1\ntrain_2,0.04,0.2\n", "one file holds one session"),
        ("", "no data rows"),
        ("train_1,0.00,inf\n", "'inf'"),
        ("train_1,0.00, nan \n", "GoldStandard is 'nan'"),
        ("train_1,0.00,1e999\n", "'1e999'"),
        ("{0 train_1, 1 0.0}\n", "sparse"),
    ],
)
def test_what_matters_is_checked_strictly(body: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        parse_arff(GOLD_HEADER + body, source="g.arff")


_REL = "@relation x\n"
_NAME = "@attribute a string\n"
_TIME = "@attribute frameTime numeric\n"
_GOLD = "@attribute g numeric\n"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (_REL + _NAME + _TIME, "before '@data'"),
        (_REL + _TIME + _GOLD + "@data\n", "found 2 attribute"),
        (_REL + "@attribute a numeric\n" + _TIME + _GOLD + "@data\n", "must be a string"),
        (_REL + _NAME + "@attribute time numeric\n" + _GOLD + "@data\n", "must be 'frameTime'"),
        (_REL + _NAME + _TIME + "@attribute g string\n@data\n", "not numeric"),
        (_REL + "@comment hello\n@data\n", "unexpected header line"),
    ],
)
def test_malformed_headers_are_refused(header: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        parse_arff(header + "a,0.00,1\n")


def test_a_file_without_data_section_is_refused() -> None:
    with pytest.raises(DataFormatError, match="no @data section"):
        parse_arff("@relation x\n@attribute a string\n")


def test_gold_standard_must_have_one_label_column(tmp_path: Path) -> None:
    path = tmp_path / "f.arff"
    write_arff(path, _features(3, 2))
    with pytest.raises(DataFormatError, match="one label column, found 2"):
        read_gold_standard(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no such file"):
        read_arff(tmp_path / "nope.arff")
