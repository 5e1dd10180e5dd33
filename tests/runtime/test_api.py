"""The public API of ``edge_affect``: every exported name resolves, and loads lazily."""

from __future__ import annotations

import subprocess
import sys

import edge_affect


def test_every_name_in_all_resolves() -> None:
    for name in edge_affect.__all__:
        value = getattr(edge_affect, name)
        assert value is not None, name
        if name != "__version__":
            assert value.__module__.startswith("edge_affect."), (name, value.__module__)
    assert sorted(edge_affect.__all__) == sorted(set(edge_affect.__all__))
    assert set(edge_affect.__all__) <= set(dir(edge_affect))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        edge_affect.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("edge_affect.NoSuchThing resolved")


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_importing_the_package_loads_no_runtime_dependency() -> None:
    loaded = _modules_after("import edge_affect, edge_affect.signals")
    heavy = {"onnxruntime", "numpy", "soundfile", "sounddevice", "soxr", "webrtcvad", "typer"}
    assert not loaded & heavy, sorted(loaded & heavy)
    assert "onnxruntime" in _modules_after("import edge_affect; edge_affect.AffectModel")
