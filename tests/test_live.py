"""Live outputs of `run`, against real receivers on loopback: an LSL inlet (pylsl), a UDP
socket for OSC, a real browser (Debian's chromium + chromedriver through selenium) for the
dashboard, and standard output for `--out -`.

The runs use the bundled model on a cut of the bundled demo clip, so nothing here needs torch
or espeak-ng. `run` goes through `python -m edge_affect` in a subprocess where a receiver in
this process must read while the run streams."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from edge_affect.cli import app
from edge_affect.live import RunInfo
from edge_affect.live.endpoint import Endpoint, parse_endpoint
from edge_affect.live.serve import CLIENT_QUEUE, Dashboard
from edge_affect.paths import DEMO_AUDIO, default_model
from edge_affect.stream.model import AffectModel
from edge_affect.stream.pipeline import Pipeline, run_stream
from edge_affect.stream.reading import Reading
from edge_affect.stream.sources import CaptureClock, FileSource, block_start_time
from tests.helpers import require, unavailable

runner = CliRunner()
RUN_TIMEOUT_S = 120
#: Loopback-only LSL: discovery queries go to 127.0.0.1 only, no IPv6, quiet log.
LSL_CONFIG = "[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\n[log]\nlevel = -2\n"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge_affect", *args]


def _csv(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    assert lines[0] == "time,arousal,valence,speech"
    return np.array([[float(x) for x in line.split(",")] for line in lines[1:]]).reshape(-1, 4)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 6 s of the bundled demo clip (150 hops), as a 16 kHz WAV."""
    samples, rate = sf.read(DEMO_AUDIO, dtype="float32")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, samples[: 6 * rate], rate, subtype="PCM_16")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------------------- LSL


@pytest.fixture(scope="module")
def lsl_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """pylsl with a loopback-only configuration, for this process and the run's."""
    try:
        import pylsl  # noqa: F401, PLC0415
    except ImportError:
        unavailable("pylsl is not installed (pip install 'edge-affect[lsl]')")
    config = tmp_path_factory.mktemp("lsl") / "lsl_api.cfg"
    config.write_text(LSL_CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSLAPICFG", str(config))  # read by liblsl at its first use
        yield {**os.environ}


def _pull_all(inlet: Any, process: subprocess.Popen[str]) -> tuple[list[list[float]], list[float]]:
    """Everything the inlet gets until the run has exited and 1 s passed without a sample."""
    samples: list[list[float]] = []
    stamps: list[float] = []
    deadline, quiet_since = time.monotonic() + RUN_TIMEOUT_S, None
    while time.monotonic() < deadline:
        chunk, times = inlet.pull_chunk(timeout=0.2)
        samples += chunk
        stamps += times
        if chunk or process.poll() is None:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            break
    return samples, stamps


def test_lsl_inlet_receives_every_reading_with_capture_timestamps(
    lsl_env: dict[str, str], tmp_path: Path
) -> None:
    import pylsl  # noqa: PLC0415

    log, name = tmp_path / "demo.csv", f"edge-affect-test-{os.getpid()}"
    process = subprocess.Popen(
        _cli("run", str(DEMO_AUDIO), "--out", str(log), "--lsl", name, "--lsl-wait", "30"),
        env=lsl_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found = pylsl.resolve_byprop("name", name, timeout=30)
        assert len(found) == 1, "the outlet was not found on loopback"
        inlet = pylsl.StreamInlet(found[0], max_buflen=360)
        info = inlet.info(timeout=10)  # the full description, fetched from the outlet
        inlet.open_stream(timeout=10)
        samples, stamps = _pull_all(inlet, process)
    finally:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, stderr
    assert "lsl: consumer connected" in stderr
    rows = _csv(log)
    assert len(samples) == rows.shape[0] == 750  # 30 s at 25 Hz
    got = np.asarray(samples)
    # CSV: 6 decimals (5e-7); LSL: float32 (relative 6e-8 on values below 1)
    assert np.max(np.abs(got[:, :2] - rows[:, 1:3])) <= 6e-7
    assert np.array_equal(got[:, 2], rows[:, 3])
    # a file run is stamped on the pipeline's clock: exactly 40 ms apart, up to float64
    # rounding of stamps near 1e3..1e6 s (< 1e-9 s) and LSL's deduced stamps (same sums)
    steps = np.diff(np.asarray(stamps))
    assert np.max(np.abs(steps - 0.04)) <= 1e-6, (steps.min(), steps.max())
    # back-dated capture times, in LSL's clock: the run began after the first stamp minus 40 ms
    assert stamps[0] <= pylsl.local_clock()
    assert info.type() == "Affect" and info.channel_count() == 3
    assert info.nominal_srate() == 25.0 and info.channel_format() == pylsl.cf_float32
    assert "default.int8.onnx" in info.source_id() and socket.gethostname() in info.source_id()
    desc = info.desc()
    channel, labels, units = desc.child("channels").child("channel"), [], []
    while not channel.empty():
        labels.append(channel.child_value("label"))
        units.append(channel.child_value("unit"))
        channel = channel.next_sibling()
    assert labels == ["arousal", "valence", "speech"] and all(units)
    contract = desc.child("model").child("contract")
    assert contract.child_value("mode") == "stream"
    assert contract.child_value("labels") == "arousal,valence"
    assert contract.child_value("hop_samples") == "640"
    assert desc.child("model").child_value("file") == "default.int8.onnx"


def test_lsl_without_pylsl_or_liblsl_says_what_to_install(clip: Path, tmp_path: Path) -> None:
    try:
        import pylsl  # noqa: PLC0415
    except ImportError:
        unavailable("pylsl is not installed (pip install 'edge-affect[lsl]')")
    # pylsl without its bundled liblsl, as on a Raspberry Pi with the pure aarch64 wheel
    site = tmp_path / "site"
    shutil.copytree(
        Path(pylsl.__file__).parent,
        site / "pylsl",
        ignore=shutil.ignore_patterns("*.so*", "*.dylib", "*.dll"),
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    env.pop("PYLSL_LIB", None)
    if (
        subprocess.run(
            [sys.executable, "-c", "import pylsl"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        ).returncode
        == 0
    ):
        pytest.skip("a system-wide liblsl is installed; cannot simulate its absence")
    log = tmp_path / "never.csv"
    no_lib = subprocess.run(
        _cli("run", str(clip), "--out", str(log), "--lsl"),
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert no_lib.returncode == 3, no_lib.stderr
    last = no_lib.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --lsl: liblsl could not be loaded") and "PYLSL_LIB" in last
    assert "liblsl" in last.split(";", 1)[1] and "Traceback" not in no_lib.stderr
    assert not log.exists()  # refused before any log file
    blocker = (
        "import sys; sys.modules['pylsl'] = None; from edge_affect.cli import main; "
        "sys.argv = ['edge-affect'] + sys.argv[1:]; main()"
    )
    missing = subprocess.run(
        [sys.executable, "-c", blocker, "run", str(clip), "--out", str(log), "--lsl", "x"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert missing.returncode == 3
    assert "pip install 'edge-affect[lsl]'" in missing.stderr.strip().splitlines()[-1]


@pytest.mark.audio_stack
def test_listen_stamps_lsl_samples_with_the_capture_time(
    lsl_env: dict[str, str], clip: Path, tmp_path: Path
) -> None:
    """`listen` through PortAudio -> ALSA -> PulseAudio while paplay plays the clip into the
    null sink: every reading from the inlet's connection on reaches it (a live stream does not
    wait for it), stamped before it arrived (back-dated to the capture, by less than a
    second) and about 40 ms apart."""
    import pylsl  # noqa: PLC0415

    from tests.runtime.test_audio_stack import _pactl_info  # noqa: PLC0415

    if _pactl_info() is None:
        unavailable("no PulseAudio server: run the tests under scripts/with-pulseaudio.sh")
    require(shutil.which("paplay") is not None, "paplay is not installed (pulseaudio-utils)")
    log, name = tmp_path / "live.jsonl", f"edge-affect-listen-{os.getpid()}"
    process = subprocess.Popen(
        _cli("listen", "--duration", "8", "--quiet", "--out", str(log), "--lsl", name),
        env=lsl_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    arrivals: list[float] = []
    try:
        found = pylsl.resolve_byprop("name", name, timeout=30)
        assert len(found) == 1, "the outlet was not found on loopback"
        inlet = pylsl.StreamInlet(found[0], max_buflen=60)
        inlet.open_stream(timeout=10)
        player = subprocess.Popen(["paplay", str(clip)])
        samples, stamps = [], []
        while process.poll() is None or (samples and inlet.samples_available()):
            sample, stamp = inlet.pull_sample(timeout=0.5)
            if sample is not None:
                arrivals.append(pylsl.local_clock())
                samples.append(sample)
                stamps.append(stamp)
        player.wait(timeout=30)
    finally:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, stderr
    rows = [json.loads(x) for x in log.read_text().splitlines()[1:-1]]
    n = len(samples)
    assert len(rows) == 200 and n >= 150  # the inlet connects within the first 2 s
    logged = np.array([[r["arousal"], r["valence"], r["speech"]] for r in rows[-n:]])
    assert np.max(np.abs(np.asarray(samples) - logged)) <= 6e-7  # the same, in order, none lost
    assert any(r["speech"] for r in rows)  # the clip was heard
    delay = np.asarray(arrivals) - np.asarray(stamps)
    assert np.all(delay > 0) and np.all(delay < 1.0), (delay.min(), delay.max())
    assert abs(float(np.median(np.diff(stamps))) - 0.04) < 0.002


# ---------------------------------------------------------------------------- OSC


def _receive_udp(sock: socket.socket, out: list[bytes], stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            out.append(sock.recv(65536))
        except TimeoutError:
            continue


def test_osc_server_receives_every_reading(clip: Path, tmp_path: Path) -> None:
    try:
        from pythonosc.osc_message import OscMessage  # noqa: PLC0415
    except ImportError:
        unavailable("python-osc is not installed (pip install 'edge-affect[osc]')")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    datagrams: list[bytes] = []
    stop = threading.Event()
    thread = threading.Thread(target=_receive_udp, args=(server, datagrams, stop), daemon=True)
    thread.start()
    log = tmp_path / "osc.csv"
    try:
        result = runner.invoke(
            app,
            [
                "run",
                str(clip),
                "--out",
                str(log),
                "--osc",
                f"127.0.0.1:{port}",
                "--osc-prefix",
                "/lab/affect",
            ],
        )
        deadline = time.monotonic() + 10
        while len(datagrams) < 151 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    assert result.exit_code == 0, result.output
    messages = [OscMessage(d) for d in datagrams]
    readings = [m for m in messages if m.address == "/lab/affect/reading"]
    rows = _csv(log)
    assert len(readings) == rows.shape[0] == 150
    args = np.array([m.params for m in readings], dtype=np.float64)
    assert np.array_equal(args[:, 0], np.arange(150) * 40)  # time in ms, exact
    assert np.max(np.abs(args[:, 1:3] - rows[:, 1:3])) <= 6e-7  # float32 vs 6 decimals
    assert np.array_equal(args[:, 3], rows[:, 3])
    assert messages[-1].address == "/lab/affect/end" and messages[-1].params[0] == 150
    assert "osc: 151 messages sent" in result.stderr


def test_demo_feeds_the_live_outputs_too(tmp_path: Path) -> None:
    try:
        from pythonosc.osc_message import OscMessage  # noqa: PLC0415
    except ImportError:
        unavailable("python-osc is not installed (pip install 'edge-affect[osc]')")
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    server.bind(("127.0.0.1", 0))
    datagrams: list[bytes] = []
    stop = threading.Event()
    thread = threading.Thread(target=_receive_udp, args=(server, datagrams, stop), daemon=True)
    thread.start()
    address = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        result = runner.invoke(
            app,
            ["demo", "--fast", "--quiet", "--out", str(tmp_path), "--osc", address, "--serve", "0"],
        )
        _wait_for(lambda: len(datagrams) >= 751, 10)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
    assert result.exit_code == 0, result.output
    addresses = [OscMessage(d).address for d in datagrams]
    assert addresses.count("/edge-affect/reading") == 750 and addresses[-1] == "/edge-affect/end"
    assert "dashboard: http://127.0.0.1:" in result.stderr


def test_osc_and_serve_arguments_are_checked(clip: Path, tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    log = tmp_path / "never.csv"
    cases = [
        (["--osc", "localhost"], "expected HOST:PORT"),
        (["--osc", "127.0.0.1:http"], "port must be a number"),
        (["--osc", "127.0.0.1:9000", "--osc-prefix", "no-slash"], "--osc-prefix"),
        (["--osc", "127.0.0.1:9000", "--osc-prefix", "/a b"], "--osc-prefix"),
        (["--serve", "70000"], "between 0 and 65535"),
        (["--serve", f"127.0.0.1:{busy.getsockname()[1]}"], "cannot listen there"),
        (["--lsl-wait", "5"], "--lsl-wait needs --lsl"),
    ]
    try:
        for extra, fragment in cases:
            result = runner.invoke(app, ["run", str(clip), "--out", str(log), *extra])
            assert result.exit_code == 2, (extra, result.output)
            last = result.stderr.strip().splitlines()[-1]
            assert last.startswith("error: ") and fragment in last, (extra, last)
            assert not log.exists()
    finally:
        busy.close()
    assert parse_endpoint("8765", "--serve", default_host="127.0.0.1") == Endpoint(
        "127.0.0.1", 8765
    )
    assert parse_endpoint("[::1]:9", "--serve") == Endpoint("::1", 9)
    assert not parse_endpoint("0.0.0.0:1", "--serve").is_loopback


# ---------------------------------------------------------------------------- --out -


def test_out_dash_writes_jsonl_to_stdout_and_messages_to_stderr(clip: Path) -> None:
    result = subprocess.run(
        _cli("run", str(clip), "--out", "-", "--no-quiet"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # nothing but JSON
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "summary"
    rows = lines[1:-1]
    assert len(rows) == 150 and lines[-1]["rows"] == 150
    assert [r["time"] for r in rows] == [round(k * 0.04, 2) for k in range(150)]
    assert "150 hops" in result.stderr and "log: standard output" in result.stderr


# ---------------------------------------------------------------------------- dashboard


def _run_info() -> RunInfo:
    return RunInfo({"file": "m.onnx", "contract": {"mode": "stream"}}, "test", "now", {}, "0")


def _reading(index: int) -> Reading:
    return Reading(index, 0.1, -0.1, index % 2 == 0, "model", 1e-4, 0.0)


def _get(port: int, path: str, host: str | None = None, method: str = "GET") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host} if host else {}
    connection.request(method, path, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_dashboard_is_read_only_and_answers_on_its_own_address_only() -> None:
    dashboard = Dashboard(Endpoint("127.0.0.1", 0), _run_info(), lambda _: None)
    port = dashboard.endpoint.port
    try:
        assert _get(port, "/") == 200 and _get(port, "/dashboard.js") == 200
        assert _get(port, "/../pyproject.toml") == 404 and _get(port, "/serve.py") == 404
        assert _get(port, "/", method="POST") == 501 and _get(port, "/", method="PUT") == 501
        assert _get(port, "/", host="attacker.example:80") == 403  # DNS rebinding
        assert _get(port, "/", host=f"localhost:{port}") == 200
    finally:
        dashboard.close()
    assert dashboard.url == f"http://127.0.0.1:{port}/"


def _read_stream(port: int, received: list[bytes], done: threading.Event) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while chunk := sock.recv(1 << 16):
            received.append(chunk)
    done.set()


def test_a_stalled_browser_never_slows_the_hops() -> None:
    """One client connects and never reads; another reads everything. 40 000 readings
    (~6 MB of events, more than the kernel buffers hold) are published as fast as possible:
    no publish may wait on the stalled socket, the stalled client loses its oldest readings
    (counted), and the reading client still gets every reading and the end."""
    dashboard = Dashboard(Endpoint("127.0.0.1", 0), _run_info(), lambda _: None)
    port = dashboard.endpoint.port
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received: list[bytes] = []
    done = threading.Event()
    threading.Thread(target=_read_stream, args=(port, received, done), daemon=True).start()
    deadline = time.monotonic() + 10
    while dashboard.broadcaster.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    n, slowest = 40_000, 0.0
    try:
        for k in range(n):
            started = time.perf_counter()
            dashboard.write(_reading(k))
            slowest = max(slowest, time.perf_counter() - started)
        skipped = dashboard.broadcaster.total_dropped()
        dashboard.close({"hops": n})
    finally:
        stalled.close()
    assert done.wait(10)
    text = b"".join(received).decode()
    assert slowest < 0.05, f"a publish took {slowest * 1e3:.1f} ms"
    assert skipped > CLIENT_QUEUE  # the stalled client lost its oldest readings, counted
    assert f'"i":{n - 1},' in text and "event: end" in text


# ---------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian chromium through chromedriver (selenium), console logging on."""
    try:
        from selenium import webdriver  # noqa: PLC0415
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[dev]')")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    require(
        bool(chromium and driver_path),
        "chromium/chromedriver missing (apt-get install chromium chromium-driver)",
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(driver_path)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


COUNT_PIXELS = """
const [id, r, g, b] = arguments;
const canvas = document.getElementById(id);
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let n = 0;
for (let k = 0; k < data.length; k += 4) {
  if (data[k + 3] > 200 && Math.abs(data[k] - r) + Math.abs(data[k + 1] - g)
      + Math.abs(data[k + 2] - b) < 60) n += 1;
}
return n;
"""
AROUSAL_RGB, VALENCE_RGB = (0xD9, 0x48, 0x0F), (0x1C, 0x7E, 0xD6)


def _text(driver: Any, element: str) -> str:
    return str(driver.find_element("id", element).text)


def _wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _wait_http(port: int, process: subprocess.Popen[str]) -> None:
    def up() -> bool:
        try:
            return _get(port, "/") == 200
        except OSError:
            return process.poll() is not None

    assert _wait_for(up, 60) and process.poll() is None, "the dashboard did not come up"


def test_dashboard_in_a_real_browser_draws_a_realtime_run(
    browser: Any, clip: Path, tmp_path: Path
) -> None:
    port, log = _free_port(), tmp_path / "served.csv"
    process = subprocess.Popen(
        _cli("run", str(clip), "--out", str(log), "--realtime", "--serve", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_http(port, process)
        browser.get(f"http://127.0.0.1:{port}/")
        # live while the run is going: readings arrive over time, not only at the end
        assert _wait_for(lambda: int(_text(browser, "count")) >= 25, 30)
        live_count = int(_text(browser, "count"))
        assert process.poll() is None and _text(browser, "status") == "live"
        assert _wait_for(lambda: _text(browser, "status") == "stream ended", 60)
        _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    rows = _csv(log)
    assert live_count < rows.shape[0] == 150
    assert int(_text(browser, "count")) == 150  # N = every reading of the run
    assert abs(float(_text(browser, "arousal")) - rows[-1, 1]) <= 0.0011  # shown with 3 decimals
    assert abs(float(_text(browser, "valence")) - rows[-1, 2]) <= 0.0011
    assert _text(browser, "model") == "default.int8.onnx"
    assert "stream ended after 150 readings" in _text(browser, "ended")
    assert "arousal,valence" in _text(browser, "contract")
    time.sleep(0.3)  # the page redraws every 50 ms
    # 6 s of a 60 s window: the 2 px lines span a tenth of the canvas, so each colour must
    # cover at least ~one opaque pixel per column of that span
    span_px = browser.execute_script("return document.getElementById('timeline').width") / 10
    assert browser.execute_script(COUNT_PIXELS, "timeline", *AROUSAL_RGB) >= 0.8 * span_px
    assert browser.execute_script(COUNT_PIXELS, "timeline", *VALENCE_RGB) >= 0.8 * span_px
    assert browser.execute_script(COUNT_PIXELS, "plane", *AROUSAL_RGB) > 20  # the current point
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_dashboard_shows_reconnecting_when_the_run_vanishes(
    browser: Any, clip: Path, tmp_path: Path
) -> None:
    port = _free_port()
    process = subprocess.Popen(
        _cli(
            "run",
            str(clip),
            "--out",
            str(tmp_path / "killed.csv"),
            "--realtime",
            "--serve",
            str(port),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_http(port, process)
        browser.get(f"http://127.0.0.1:{port}/")
        assert _wait_for(lambda: int(_text(browser, "count")) >= 10, 30)
    finally:
        process.kill()  # no end event: the connection just breaks
        process.communicate(timeout=30)
    assert _wait_for(lambda: _text(browser, "status") == "reconnecting…", 15)
    browser.get("about:blank")  # stop its retries
    browser.get_log("browser")  # and drop the connection errors they logged


def test_the_dashboard_files_ship_in_the_package() -> None:
    root = Path(__file__).resolve().parents[1]
    text = (root / "pyproject.toml").read_text()
    line = next(x for x in text.splitlines() if x.startswith('"edge_affect" = ['))
    patterns = [p.strip(' "') for p in line.split("[", 1)[1].rstrip("]").split(",")]
    for file in (root / "edge_affect" / "live").iterdir():
        if file.suffix in (".html", ".js"):
            assert any(Path(f"live/{file.name}").match(p) for p in patterns), file


# ---------------------------------------------------------------------------- capture times


def test_capture_clock_times_hops_from_the_blocks_adc_times() -> None:
    """48 kHz blocks of 20 ms; the third block is lost (a full queue) and the device clock
    runs 1 % fast: every position is timed from the newest anchor at or before it."""
    clock = CaptureClock(48_000)
    assert clock.time_at(0) is None
    clock.add_block(960, 100.0)
    clock.add_block(960, 100.0202)  # 20.2 ms later: the device clock is 1 % slower
    clock.add_block(960, 100.0606)  # one block of 20 ms lost in between
    assert clock.time_at(480) == pytest.approx(100.01)
    assert clock.time_at(960) == pytest.approx(100.0202)
    assert clock.time_at(960 + 959) == pytest.approx(100.0202 + 959 / 48_000)
    assert clock.time_at(1920 + 480) == pytest.approx(100.0706)  # after the gap
    assert clock.received == 2880


def test_block_start_time_uses_the_adc_time_and_falls_back_without_one() -> None:
    class TimeInfo:
        def __init__(self, adc: float, current: float) -> None:
            self.inputBufferAdcTime, self.currentTime = adc, current

    before = time.monotonic()
    # the block's first sample was captured 50 ms before the callback ran
    assert block_start_time(TimeInfo(10.0, 10.05), 320, 16_000) == pytest.approx(
        before - 0.05, abs=0.01
    )
    for unusable in (None, TimeInfo(0.0, 0.0), TimeInfo(10.0, 9.0), TimeInfo(10.0, 99.0)):
        started = block_start_time(unusable, 320, 16_000)  # the block has just ended
        assert started == pytest.approx(time.monotonic() - 0.02, abs=0.01)


def test_a_file_run_is_stamped_on_the_pipelines_clock(clip: Path, tmp_path: Path) -> None:
    """Without a device clock, hop k is captured k x 40 ms after the stream's start."""
    readings: list[Reading] = []

    class Collect:
        def write(self, reading: Reading) -> None:
            readings.append(reading)

    source = FileSource(clip)
    before = time.monotonic()
    run_stream(source, Pipeline(AffectModel(default_model())), [Collect()])
    times = np.array([r.capture_time for r in readings], dtype=np.float64)
    assert len(readings) == 150 and before <= times[0] <= time.monotonic()
    assert np.allclose(np.diff(times), 0.04, rtol=0, atol=1e-9)


def test_a_bare_lsl_names_the_default_stream() -> None:
    from edge_affect.cli.common import fill_optional_values  # noqa: PLC0415

    assert fill_optional_values(["run", "a.wav", "--lsl"]) == ["run", "a.wav", "--lsl=edge-affect"]
    assert fill_optional_values(["run", "a.wav", "--lsl", "--quiet"])[2] == "--lsl=edge-affect"
    assert fill_optional_values(["run", "a.wav", "--lsl", "lab"]) == [
        "run",
        "a.wav",
        "--lsl",
        "lab",
    ]


def test_the_page_reconnects_to_the_same_run_without_doubling_readings(browser: Any) -> None:
    """The event stream breaks without an end (a network glitch): the page says so, comes
    back by itself, takes the history again without counting it twice, and goes on."""
    dashboard = Dashboard(Endpoint("127.0.0.1", 0), _run_info(), lambda _: None)
    try:
        for k in range(10):
            dashboard.write(_reading(k))
        browser.get(dashboard.url)
        assert _wait_for(lambda: _text(browser, "count") == "10", 20)
        assert _text(browser, "status") == "live"
        for client in dashboard.broadcaster.clients():
            assert client.connection is not None
            client.connection.shutdown(socket.SHUT_RDWR)
        assert _wait_for(lambda: _text(browser, "status") == "reconnecting…", 10)
        assert _wait_for(lambda: _text(browser, "status") == "live", 10)  # retries after 2 s
        for k in range(10, 15):
            dashboard.write(_reading(k))
        assert _wait_for(lambda: _text(browser, "count") == "15", 10)
        assert dashboard.broadcaster.connections == 2
    finally:
        dashboard.close({"hops": 15})
    assert _wait_for(lambda: _text(browser, "status") == "stream ended", 10)
    browser.get("about:blank")
    browser.get_log("browser")
