"""The AVEC 2016-style audio reference row: eGeMAPS functionals on sliding windows + linear SVR.

Valstar et al., "AVEC 2016: Depression, Mood, and Emotion Recognition Workshop and
Challenge", Proc. 6th International Workshop on Audio/Visual Emotion Challenge (ACM MM
2016), arXiv:1605.01600. Its emotion sub-challenge (RECOLA) baseline for audio uses the
88 eGeMAPS acoustic parameters extracted with openSMILE over windows sliding on the 40 ms
label grid, a linear support vector regression per dimension whose complexity is chosen on
the development partition, a compensation of the annotation delay also chosen on dev, and the
concordance correlation coefficient (CCC) as the measure.

What this module does (the numbers are ours, not the challenge's):

- eGeMAPSv02 functionals (88) from audEERING's ``opensmile`` package, computed by openSMILE
  itself in ``frameMode = fixed`` windows of ``window_s`` (default 4 s for arousal, 6 s for
  valence) every 40 ms, over low-level descriptors extracted once per session. The window
  centred on each label frame is taken; the first and last ``window_s / 2`` seconds hold the
  first / last full window. One feature vector per label frame, cached per session as ``.npy``.
- Features winsorised at the train 1st/99th percentiles and z-normalised with train statistics
  (``feature_norm="session"``: each session's own statistics instead, a transductive speaker
  normalisation, reported separately). Then a linear SVR per dimension on all train frames:
  L2-regularised squared epsilon-insensitive loss (liblinear's "L2-loss SVR" with its ``C``
  convention, epsilon 0.1) and an unregularised bias, solved exactly in numpy by
  generalised Newton (:func:`fit_svr`).
- ``C`` and the annotation delay chosen on dev from small grids, per dimension. A delay ``d``
  pairs features at ``t`` with the gold standard at ``t + d`` for training; predictions are
  shifted back by ``d`` before scoring, so dev/test CCC is always measured against
  ``corpus.gold`` exactly as the project's models are: over the concatenation of all sessions
  of a partition.

``opensmile`` is research-only licensed, so it is an optional extra (``bench``), never a
runtime dependency: ``pip install 'edge-affect[bench]'``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_affect.arrays import FloatArray
from edge_affect.audio import HOP_S, LABEL_NAMES, SAMPLE_RATE
from edge_affect.errors import DataFormatError, MissingDataError, ToolMissingError
from edge_affect.formats.timegrid import shift_frames
from edge_affect.pcm import INT16_SCALE
from edge_affect.scoring.metrics import ccc
from edge_affect_train.data.avec import AvecCorpus, Session

FEATURE_SET = "eGeMAPSv02"
N_FEATURES = 88
INSTALL_HINT = "pip install 'edge-affect[bench]'"
DEFAULT_WINDOW_S: dict[str, float] = {"arousal": 4.0, "valence": 6.0}
DEFAULT_C_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
DEFAULT_DELAY_GRID_S: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
#: Functionals are computed every label hop (measured: ~6.5 s per 300 s session and window
#: on one core, of which ~4 s is the low-level descriptors; a 0.2 s step saves only ~30 %).
STEP_S = HOP_S
#: Features are winsorised at these percentiles of the fitted data (see :class:`Standardiser`).
WINSOR_PERCENT = 1.0
#: Width of the SVR's insensitive tube (liblinear's default ``-p 0.1``); on the avec corpus
#: 0, 0.05, 0.1 and 0.2 changed dev CCC by at most 0.02.
SVR_EPSILON = 0.1
FEATURE_NORMS = ("train", "session")
_REQUIRED_MODULES = ("opensmile", "threadpoolctl")
_CACHE_VERSION = 1


def reference_available() -> bool:
    """Whether the ``bench`` extra (opensmile, threadpoolctl) is importable."""
    return all(importlib.util.find_spec(name) is not None for name in _REQUIRED_MODULES)


def require_reference() -> None:
    """Raise :class:`ToolMissingError` naming the extra when it is not installed."""
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ToolMissingError(
            f"the AVEC-style reference needs {', '.join(missing)} "
            f"(research-only openSMILE licence, not installed by default): {INSTALL_HINT}"
        )


# ---------------------------------------------------------------------- features
@functools.cache
def feature_names() -> tuple[str, ...]:
    """The 88 eGeMAPSv02 functional names, in feature-column order."""
    require_reference()
    import opensmile  # noqa: PLC0415 - the optional bench extra, loaded when used

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02)
    return tuple(smile.feature_names)


def window_functionals(
    samples: FloatArray | np.ndarray, sample_rate: int, window_s: float, step_s: float = STEP_S
) -> tuple[FloatArray, FloatArray]:
    """eGeMAPSv02 functionals over windows of ``window_s`` every ``step_s``, by openSMILE.

    Returns ``(starts_s, features)``: window start times and ``(windows, 88)`` values.
    """
    require_reference()
    import opensmile  # noqa: PLC0415 - the optional bench extra, loaded when used

    duration_s = samples.shape[0] / sample_rate
    if duration_s < window_s:
        raise DataFormatError(f"audio of {duration_s:.2f} s is shorter than a {window_s} s window")
    # openSMILE's wrapper scales by 32768 and casts to int16: keep +1.0 from wrapping around.
    pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 32767 / INT16_SCALE)
    with tempfile.TemporaryDirectory() as tmp:
        frame_conf = Path(tmp) / "frame_mode.conf.inc"
        frame_conf.write_text(
            f"frameMode = fixed\nframeSize = {window_s}\nframeStep = {step_s}\n"
            "frameCenterSpecial = left\n"
        )
        smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02,
            feature_level=opensmile.FeatureLevel.Functionals,
            options={"frameModeFunctionalsConf": str(frame_conf)},
        )
        table = smile.process_signal(pcm, sample_rate)
    starts = table.index.get_level_values("start").total_seconds().to_numpy(dtype=np.float64)
    return starts, table.to_numpy(dtype=np.float64)


def align_to_grid(
    starts_s: FloatArray,
    features: FloatArray,
    window_s: float,
    n_frames: int,
    step_s: float = STEP_S,
) -> FloatArray:
    """One row per label frame: the window whose centre is nearest the frame's time.

    Windows start every ``step_s``; frames closer than ``window_s / 2`` to either end of the
    audio hold the first / last window.
    """
    if features.ndim != 2 or features.shape[0] != starts_s.shape[0] or starts_s.size == 0:
        raise ValueError(f"expected (windows, dims) features for {starts_s.size} window starts")
    if starts_s.size > 1 and np.max(np.abs(np.diff(starts_s) - step_s)) > 1e-3:
        raise DataFormatError(f"openSMILE windows do not start every {step_s} s")
    times = np.arange(n_frames, dtype=np.float64) * HOP_S
    offsets = (times - (starts_s[0] + window_s / 2)) / step_s
    index = np.clip(np.rint(offsets), 0, starts_s.size - 1).astype(np.int64)
    return np.ascontiguousarray(features[index])


def _audio_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _cache_path(cache_dir: Path, corpus: AvecCorpus, session: Session, window_s: float) -> Path:
    """One file per session, window and extractor version, keyed by the audio's content."""
    digest = _audio_digest(corpus.audio_path(session))
    extractor = f"{FEATURE_SET}-opensmile{importlib.metadata.version('opensmile')}"
    name = f"{session.name}.{extractor}.w{window_s:g}s.s{STEP_S:g}s.v{_CACHE_VERSION}.{digest}"
    return cache_dir / f"{name}.npy"


def session_features(
    corpus: AvecCorpus, session: Session, window_s: float, cache_dir: Path | None = None
) -> FloatArray:
    """``(n_frames, 88)`` eGeMAPS functionals aligned to the session's label grid (cached)."""
    require_reference()
    path = _cache_path(cache_dir, corpus, session, window_s) if cache_dir is not None else None
    return _load_or_extract(corpus, session, window_s, path)


def _load_or_extract(
    corpus: AvecCorpus, session: Session, window_s: float, path: Path | None
) -> FloatArray:
    if path is not None and path.is_file():
        cached: FloatArray = np.load(path)
        return cached
    clip = corpus.audio(session, sample_rate=SAMPLE_RATE)
    starts, values = window_functionals(clip.samples, clip.sample_rate, window_s)
    if values.shape[1] != N_FEATURES:
        raise DataFormatError(f"openSMILE gave {values.shape[1]} features, expected {N_FEATURES}")
    features = align_to_grid(starts, values, window_s, corpus.n_frames(session))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, features)
        partial.replace(path)
    return features


def _extract_task(args: tuple[AvecCorpus, Session, float, Path | None]) -> FloatArray:
    return _load_or_extract(*args)


def corpus_features(
    corpus: AvecCorpus,
    sessions: Sequence[Session],
    window_s: float,
    cache_dir: Path | None = None,
    jobs: int = 1,
) -> list[FloatArray]:
    """Features of several sessions, in order; ``jobs`` > 1 extracts the sessions missing
    from the cache in that many processes."""
    require_reference()
    tasks = [
        (corpus, s, window_s, _cache_path(cache_dir, corpus, s, window_s) if cache_dir else None)
        for s in sessions
    ]
    todo = [task for task in tasks if task[3] is None or not task[3].is_file()]
    if jobs > 1 and len(todo) > 1:
        # spawn, not fork: the caller may hold torch / OpenMP threads a forked child inherits.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=context) as pool:
            extracted = dict(zip([t[1] for t in todo], pool.map(_extract_task, todo), strict=True))
        return [extracted[t[1]] if t[1] in extracted else _extract_task(t) for t in tasks]
    return [_extract_task(task) for task in tasks]


# ---------------------------------------------------------------------- regression
@dataclass(frozen=True)
class Standardiser:
    """Winsorise at the fitted 1st/99th percentiles, then z-normalise with fitted moments.

    Several eGeMAPS functionals are coefficients of variation (``*_stddevNorm``) that blow up
    to 10^4..10^6 where a descriptor's mean crosses zero; plain z-scores let one such frame
    dominate a linear model (measured: dev CCC ~0.005 instead of ~0.75 for arousal).
    """

    low: FloatArray
    high: FloatArray
    mean: FloatArray
    scale: FloatArray

    @classmethod
    def fit(cls, features: FloatArray, percent: float = WINSOR_PERCENT) -> Standardiser:
        x = np.where(np.isfinite(features), features, np.nan)
        low, high = np.nanpercentile(x, [percent, 100.0 - percent], axis=0)
        clipped = np.clip(x, low, high)
        scale = np.nanstd(clipped, axis=0)
        return cls(low, high, np.nanmean(clipped, axis=0), np.where(scale > 1e-12, scale, 1.0))

    def __call__(self, features: FloatArray) -> FloatArray:
        z = (np.clip(features, self.low, self.high) - self.mean) / self.scale
        return np.where(np.isfinite(z), z, 0.0)


@dataclass(frozen=True)
class LinearModel:
    """``prediction = features @ weights + bias``, fitted by :func:`fit_svr`."""

    weights: FloatArray
    bias: float

    def predict(self, features: FloatArray) -> FloatArray:
        return np.asarray(features @ self.weights + self.bias, dtype=np.float64)


def svr_objective(
    theta: FloatArray, x: FloatArray, y: FloatArray, c: float, epsilon: float
) -> float:
    """``0.5 |w|^2 + C sum(max(0, |x.w + b - y| - eps)^2)``; ``theta = [w, b]``, b free."""
    excess = np.maximum(np.abs(x @ theta[:-1] + theta[-1] - y) - epsilon, 0.0)
    return float(0.5 * theta[:-1] @ theta[:-1] + c * (excess @ excess))


def _newton_direction(
    theta: FloatArray, x: FloatArray, y: FloatArray, c: float, epsilon: float
) -> tuple[FloatArray, FloatArray]:
    """Gradient and generalised-Newton direction of :func:`svr_objective` at ``theta``."""
    residual = x @ theta[:-1] + theta[-1] - y
    excess = np.sign(residual) * np.maximum(np.abs(residual) - epsilon, 0.0)
    active = excess != 0.0
    gradient = np.append(theta[:-1] + 2 * c * (x.T @ excess), 2 * c * excess.sum())
    xa = x[active]
    d = x.shape[1]
    hessian = np.empty((d + 1, d + 1))
    hessian[:d, :d] = np.eye(d) + 2 * c * (xa.T @ xa)
    hessian[:d, d] = hessian[d, :d] = 2 * c * xa.sum(axis=0)
    hessian[d, d] = 2 * c * xa.shape[0] + 1e-12  # the bias is not regularised
    return gradient, np.linalg.solve(hessian, -gradient)


def _backtrack(
    theta: FloatArray,
    direction: FloatArray,
    slope: float,
    x: FloatArray,
    y: FloatArray,
    c: float,
    epsilon: float,
) -> FloatArray | None:
    """Armijo backtracking along ``direction``; None when no step decreases the objective."""
    value = svr_objective(theta, x, y, c, epsilon)
    step = 1.0
    while step > 1e-10:
        candidate = theta + step * direction
        if svr_objective(candidate, x, y, c, epsilon) <= value + 1e-4 * step * slope:
            return candidate
        step /= 2
    return None


def fit_svr(
    features: FloatArray,
    targets: FloatArray,
    c: float,
    epsilon: float = SVR_EPSILON,
    *,
    tol: float = 1e-8,
    max_iter: int = 50,
) -> LinearModel:
    """Linear SVR: L2-regularised, squared epsilon-insensitive loss (liblinear's "L2-loss
    SVR" primal, the same ``C`` convention), with an unregularised bias.

    The objective is convex and piecewise quadratic; generalised Newton with Armijo
    backtracking finds its minimum in a handful of steps (exactly one when epsilon = 0,
    where it is ridge regression). Deterministic; stops when the gradient has shrunk by
    ``tol``.
    """
    x, y = np.asarray(features, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    theta = np.append(np.zeros(x.shape[1]), y.mean())
    first_norm = None
    for _ in range(max_iter):
        gradient, direction = _newton_direction(theta, x, y, c, epsilon)
        norm = float(np.linalg.norm(gradient))
        first_norm = norm if first_norm is None else first_norm
        if norm <= tol * max(first_norm, 1.0):
            break
        improved = _backtrack(theta, direction, float(gradient @ direction), x, y, c, epsilon)
        if improved is None:
            break
        theta = improved
    return LinearModel(theta[:-1].copy(), float(theta[-1]))


@dataclass(frozen=True)
class Partition:
    """Normalised per-session features and the (unshifted) gold standard of one dimension."""

    features: list[FloatArray]
    gold: list[FloatArray]

    def predict(self, model: LinearModel, delay_s: float) -> list[FloatArray]:
        """Per-session predictions shifted back by ``delay_s`` onto the gold-standard time."""
        return [shift_frames(model.predict(x), -delay_s) for x in self.features]

    def score(self, model: LinearModel, delay_s: float) -> float:
        """CCC over the concatenation of the partition's sessions."""
        return ccc(np.concatenate(self.predict(model, delay_s)), np.concatenate(self.gold))

    def training_set(self, delay_s: float) -> tuple[FloatArray, FloatArray]:
        """Features at ``t`` paired with the gold standard at ``t + delay_s``."""
        targets = [shift_frames(g, delay_s) for g in self.gold]
        return np.concatenate(self.features), np.concatenate(targets)


def _split_sessions(corpus: AvecCorpus) -> dict[str, list[Session]]:
    sessions = {split: corpus.split(split) for split in ("train", "dev", "test")}
    for split in ("train", "dev"):
        if not sessions[split]:
            raise MissingDataError(f"{corpus.root}: no {split} sessions")
        unlabelled = [s.name for s in sessions[split] if not corpus.has_labels(s)]
        if unlabelled:
            raise MissingDataError(f"{corpus.root}: no gold standard for {', '.join(unlabelled)}")
    if not all(corpus.has_labels(s) for s in sessions["test"]):
        sessions["test"] = []  # test labels withheld (the real release): report dev only
    return sessions


def _features_by_split(
    corpus: AvecCorpus,
    sessions: dict[str, list[Session]],
    window_s: float,
    cache_dir: Path | None,
    jobs: int,
) -> dict[str, list[FloatArray]]:
    every = [s for group in sessions.values() for s in group]
    values = corpus_features(corpus, every, window_s, cache_dir, jobs)
    extracted = dict(zip(every, values, strict=True))
    return {split: [extracted[s] for s in group] for split, group in sessions.items()}


def _partitions(
    corpus: AvecCorpus,
    sessions: dict[str, list[Session]],
    dimension: str,
    features: dict[str, list[FloatArray]],
    feature_norm: str,
) -> dict[str, Partition]:
    """Normalise with train statistics (``"train"``) or each session's own (``"session"``)."""
    if feature_norm not in FEATURE_NORMS:
        raise ValueError(f"feature_norm must be one of {FEATURE_NORMS}, got {feature_norm!r}")
    train_norm = Standardiser.fit(np.concatenate(features["train"]))

    def normalise(x: FloatArray) -> FloatArray:
        return train_norm(x) if feature_norm == "train" else Standardiser.fit(x)(x)

    return {
        split: Partition(
            [normalise(x) for x in features[split]],
            [corpus.gold(s, dimension) for s in sessions[split]],
        )
        for split in sessions
    }


def _one_blas_thread() -> Any:
    """The fits are 89 x 89 problems: one BLAS thread is enough, and a multi-threaded
    OpenBLAS on busy cores was measured 20-50x slower (a 67k x 89 Gram: 0.04 s vs 0.3-1.9 s)."""
    import threadpoolctl  # noqa: PLC0415 - the optional bench extra

    return threadpoolctl.threadpool_limits(limits=1, user_api="blas")


def select_on_dev(
    train: Partition,
    dev: Partition,
    c_grid: Sequence[float],
    delay_grid_s: Sequence[float],
    epsilon: float = SVR_EPSILON,
) -> tuple[LinearModel, dict[str, float]]:
    """Fit on train for every (delay, C); keep the best dev CCC (ties: the earlier)."""
    best: tuple[float, LinearModel, dict[str, float]] | None = None
    for delay_s in delay_grid_s:
        x, y = train.training_set(delay_s)
        for c in c_grid:
            model = fit_svr(x, y, c, epsilon)
            score = dev.score(model, delay_s)
            if best is None or score > best[0]:
                best = (score, model, {"C": float(c), "delay_s": float(delay_s)})
    if best is None:
        raise ValueError("the C and delay grids must not be empty")
    return best[1], best[2]


def run_reference(
    corpus: AvecCorpus,
    *,
    cache_dir: Path | None = None,
    window_s: dict[str, float] | None = None,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    delay_grid_s: Sequence[float] = DEFAULT_DELAY_GRID_S,
    feature_norm: str = "train",
    epsilon: float = SVR_EPSILON,
    jobs: int = 1,
) -> dict[str, Any]:
    """The AVEC-style audio reference on ``corpus``: dev (and test, when labelled) CCC.

    ``window_s`` overrides :data:`DEFAULT_WINDOW_S` per dimension; ``jobs`` extracts
    features in that many processes. Returns ``{"dev": {dim: ccc}, "test": {dim: ccc} or
    None when test labels are withheld, "chosen": {dim: {"C", "delay_s", "window_s"}},
    "config": {...}, "wall_s": seconds}``.
    """
    require_reference()
    start = time.perf_counter()
    unknown = set(window_s or {}) - set(LABEL_NAMES)
    if unknown:
        raise ValueError(f"window_s: unknown dimension(s) {', '.join(sorted(unknown))}")
    windows = {**DEFAULT_WINDOW_S, **(window_s or {})}
    sessions = _split_sessions(corpus)
    result: dict[str, Any] = {"dev": {}, "test": {} if sessions["test"] else None, "chosen": {}}
    for dimension in LABEL_NAMES:
        features = _features_by_split(corpus, sessions, windows[dimension], cache_dir, jobs)
        parts = _partitions(corpus, sessions, dimension, features, feature_norm)
        with _one_blas_thread():
            model, chosen = select_on_dev(
                parts["train"], parts["dev"], c_grid, delay_grid_s, epsilon
            )
        result["chosen"][dimension] = {**chosen, "window_s": windows[dimension]}
        for split in ("dev", "test"):
            if sessions[split]:
                result[split][dimension] = parts[split].score(model, chosen["delay_s"])
    result["config"] = {
        "feature_set": FEATURE_SET,
        "step_s": STEP_S,
        "feature_norm": feature_norm,
        "svr_epsilon": epsilon,
        "c_grid": [float(c) for c in c_grid],
        "delay_grid_s": [float(d) for d in delay_grid_s],
        "sessions": {split: len(group) for split, group in sessions.items()},
    }
    result["wall_s"] = time.perf_counter() - start
    return result
