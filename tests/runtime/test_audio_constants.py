import pytest

from edge_affect import audio


def test_contract_sizes_follow_from_rate_and_hop() -> None:
    assert audio.HOP_SAMPLES == 640
    assert audio.LABEL_RATE_HZ == 25
    assert audio.VAD_FRAME_SAMPLES * audio.VAD_FRAMES_PER_HOP == audio.HOP_SAMPLES
    assert audio.LABEL_NAMES == ("arousal", "valence")


def test_exact_div_refuses_a_remainder() -> None:
    assert audio.exact_div(16_000 * 40, 1000) == 640
    with pytest.raises(ValueError, match="not divisible"):
        audio.exact_div(16_000 * 25, 1000 * 3)
