"""A ``listen``-equivalent process for ``edge-affect bench``: start-up time and peak RSS.

It imports what ``listen`` imports (the runtime, sounddevice/PortAudio; the benchmark starts it
as :mod:`edge_affect.cli.listen_child`, which first imports the command line and parses
``listen``'s options as ``edge-affect listen`` does), loads the model, and streams an audio
file paced in real time through the same pipeline into a CSV log, the file standing in for the
microphone. It prints one JSON line: the wall-clock time of its first reading, the peak RSS
(``VmHWM``) and, with ``--imports-only``, the RSS after the imports alone (the floor that
Python, numpy, onnxruntime, the command line and PortAudio set). ``--cpu`` adds the share of
one core the streaming loop took (CPU time over wall time, start-up excluded); ``--no-gate``
runs the model on every hop.

``python -m edge_affect.bench.child MODEL AUDIO SECONDS LOG [--imports-only] [--cpu] [--no-gate]``
"""

from __future__ import annotations

import json
import sys
import time


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_s() -> float:
    """User + system CPU time of this process: ``os.times`` counts 10 ms clock ticks, too coarse
    for the difference between gated silence and the model on every hop over a few seconds."""
    return time.process_time()


def main(argv: list[str]) -> None:
    model_path, audio, seconds, log = argv[0], argv[1], float(argv[2]), argv[3]
    from pathlib import Path  # noqa: PLC0415 - the imports are what this process measures

    from edge_affect.logs.header import LogHeader  # noqa: PLC0415
    from edge_affect.logs.writer import open_sink  # noqa: PLC0415
    from edge_affect.runtime import inputs, options, record, session  # noqa: F401, PLC0415
    from edge_affect.stream import sources  # noqa: PLC0415
    from edge_affect.stream.model import AffectModel  # noqa: PLC0415
    from edge_affect.stream.pipeline import Pipeline, PipelineSettings  # noqa: PLC0415

    portaudio = True
    try:
        sources._sounddevice()
    except sources.DeviceError:
        portaudio = False
    result: dict[str, object] = {"portaudio": portaudio, "imports_rss_kb": _status_kb("VmRSS")}
    if "--imports-only" in argv:
        print(json.dumps(result))
        return
    model = AffectModel(model_path, threads=1)
    source = sources.FileSource(audio, realtime=True)
    pipeline = Pipeline(model, PipelineSettings(gate="--no-gate" not in argv))
    sink = open_sink(Path(log), "csv", LogHeader.now(source.description, {}), overwrite=True)
    first: float | None = None
    hops = 0
    cpu_started, wall_started = _cpu_s(), time.perf_counter()
    for hop in source.hops():
        sink.write(pipeline.process(hop))
        hops += 1
        if first is None:
            first = time.time()
        if hops * 0.04 >= seconds:
            break
    source.close()
    sink.close()
    share = (_cpu_s() - cpu_started) / (time.perf_counter() - wall_started)
    result.update({"first_reading_wall": first, "hops": hops, "peak_rss_kb": _status_kb("VmHWM")})
    if "--cpu" in argv:
        result["cpu_share"] = share
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
