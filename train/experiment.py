"""``edge-affect train experiment``: teacher, then every method for every seed, one table.

The source decides the experiment: a CMU-MOSI source (a folder of ``.csd`` files or an
aligned pickle) runs :func:`edge_affect_train.mosi_experiment.run_mosi_experiment`; anything
else is read as an AVEC 2016-layout corpus by
:func:`edge_affect_train.avec_experiment.run_avec_experiment`. Both write ``results.json``
and ``results.md`` under ``out``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_affect.errors import EdgeAffectError
from edge_affect_train.avec_experiment import run_avec_experiment
from edge_affect_train.data.mosi import is_mosi_source
from edge_affect_train.losses import AlignKind
from edge_affect_train.mosi_experiment import MosiOptions, run_mosi_experiment
from edge_affect_train.transfer import METHODS, Method


def run_experiment(
    data: Path,
    out: Path,
    seeds: int = 3,
    preset: str = "fast",
    device: str = "auto",
    modalities: tuple[str, ...] | None = None,
    align: AlignKind = "cca",
    methods: tuple[Method, ...] = METHODS,
    reference: bool = True,
    quiet: bool = False,
    label_delay_s: float = 0.0,
    postprocess: bool = False,
    mosi: MosiOptions | None = None,
) -> dict[str, Any]:
    """Run the whole experiment and write ``results.json`` and ``results.md`` under ``out``.

    On a CMU-MOSI source, ``mosi`` says what to read (teacher modalities default to
    ``text``); MOSI has no continuous labels, so no ``label_delay_s`` or ``postprocess``.
    """
    if is_mosi_source(data):
        if label_delay_s or postprocess:
            raise EdgeAffectError(
                "--label-delay and --postprocess are for continuous AVEC labels, not CMU-MOSI"
            )
        options = mosi or MosiOptions()
        if modalities:
            options = replace(options, teacher_modalities=modalities)
        return run_mosi_experiment(data, out, options, seeds, preset, device, align, methods, quiet)
    if mosi is not None:
        raise EdgeAffectError(
            f"{data}: MOSI options (student modality, folds, encoder) need a CMU-MOSI source "
            "(a folder of .csd files or an aligned .pkl)"
        )
    return run_avec_experiment(
        data,
        out,
        seeds,
        preset,
        device,
        modalities,
        align,
        methods,
        reference,
        quiet,
        label_delay_s,
        postprocess,
    )
