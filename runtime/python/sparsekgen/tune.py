"""Tuning a model's convolutions on this GPU: the model is described as the exporter describes it,
its samples' coordinates become the tuner's inputs, and ``sparsekgen-tune`` (the C++ tuner, shipped
with the package) times every legal kernel of every layer group and writes the config table that
``sparsekgen.gpu.set_config_table`` (or the C++ runtime) dispatches through."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Iterable, Optional

import numpy as np

from sparsekgen.export import describe
from sparsekgen.tensor import SparseTensor


def tuner_path() -> str:
    """The sparsekgen-tune binary: $SPARSEKGEN_TUNE, else the one installed with the package, else PATH."""
    candidates = [os.environ.get("SPARSEKGEN_TUNE"),
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "sparsekgen-tune"),
                  shutil.which("sparsekgen-tune")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("tune: no sparsekgen-tune binary (set SPARSEKGEN_TUNE, or install the package with the "
                       "runtime built, which ships it)")


def tune(model, samples: Iterable[SparseTensor], table_path: str, *, training: bool = False,
         dtype: str = "f16", iterations: Optional[int] = None, quiet: bool = False) -> str:
    """Tunes ``model``'s convolutions on ``samples`` (sparse tensors as the model takes them: their
    coordinates are what matters; features are random in the tuner) and writes the config table to
    ``table_path``. ``training``: the input- and weight-gradient kernels too. The tuner's progress
    goes to stdout unless ``quiet``. Returns ``table_path``; the table is written whole or not at all.
    """
    samples = list(samples)
    if not samples:
        raise ValueError("tune: give at least one sample")
    description, _ = describe(model, samples[0], dtype=dtype)
    with tempfile.TemporaryDirectory(prefix="sparsekgen-tune-") as work:
        os.makedirs(os.path.join(work, "voxels"))
        description["inputs"] = []
        for i, sample in enumerate(samples):
            if sample.stride != samples[0].stride:
                raise ValueError(f"tune: sample {i} has stride {sample.stride}, sample 0 {samples[0].stride}")
            name = f"sample{i}.i32"
            voxels = sample.voxels.detach().cpu().numpy().astype(np.int32)
            # The tuner's coordinate files hold (batch, z, y, x) rows.
            voxels[:, [0, 3, 2, 1]].tofile(os.path.join(work, "voxels", name))
            description["inputs"].append({"coordinates": name})
        network = os.path.join(work, "network.json")
        with open(network, "w") as f:
            json.dump(description, f, indent=1)
        partial = os.path.join(work, "table.json")
        # Unfused: the package runs batch norm and activations after each convolution, not in its epilogue.
        command = [tuner_path(), "--network", network, "--data", work, "--out", partial, "--unfused"]
        if training:
            command.append("--training")
        if iterations is not None:
            command += ["--iterations", str(iterations)]
        run = subprocess.run(command, stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE,
                             text=True)
        if run.returncode != 0:
            raise RuntimeError(f"tune: sparsekgen-tune failed (exit {run.returncode}): {run.stderr.strip()}")
        shutil.move(partial, table_path + ".partial")
        os.replace(table_path + ".partial", table_path)
    return table_path
