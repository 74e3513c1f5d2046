"""A model to what the C++ executor runs: a network description (JSON) and its weights (safetensors,
batch norm folded with its running statistics)."""

from __future__ import annotations

import json
import os
from typing import Optional

import torch

from sparsekgen import _cpu, trace
from sparsekgen.tensor import SparseTensor

DTYPES = ("f16", "bf16", "f32")


def _outputs(result, model_name: str):
    if isinstance(result, SparseTensor):
        return [result]
    if isinstance(result, (tuple, list)):
        items = list(result)
    elif isinstance(result, dict):
        items = list(result.values())
    else:
        items = [result]
    if not items or not all(isinstance(t, SparseTensor) for t in items):
        raise ValueError(f"export: {model_name} must return a SparseTensor (or a tuple, list or dict of them), not "
                         f"{type(result).__name__}")
    return items


def _training_parameters(recorder: trace.Recorder):
    """The description's parameters by the names the runtime reads (TrainingParameters.h)."""
    parameters = {}

    def put(name, tensor):
        parameters[name] = tensor.detach().to("cpu", torch.float32).contiguous().numpy()

    for node in recorder.nodes:
        module = recorder.modules.get(node["name"])
        if node["op"] == "conv":
            put(f"{node['name']}.weight", module.kernel.reshape(-1, module.in_channels, module.out_channels))
            if module.bias is not None:
                put(f"{node['name']}.bias", module.bias)
        elif node["op"] == "batch_norm":
            for entry in ("weight", "bias", "running_mean", "running_var"):
                put(f"{node['name']}.{entry}", getattr(module, entry))
    return parameters


def describe(model: torch.nn.Module, sample: SparseTensor, *, dtype: str = "f16", name: Optional[str] = None):
    """The network description of ``model`` (a dict) and its training parameters, by running it once
    in eval mode on ``sample``. Refuses what a description cannot say, naming the module."""
    if dtype not in DTYPES:
        raise ValueError(f"export: dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    model_name = name or type(model).__name__
    probe = SparseTensor._on_voxels(sample.feats, sample.voxels, sample.stride, None)  # a fresh map cache
    probe._node = trace.INPUT
    recorder = trace.Recorder(model, probe.stride)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), trace.recording(recorder):
            outputs = _outputs(model(probe), model_name)
    finally:
        model.train(was_training)
    output_names = [trace.Recorder.tensor_name(t, f"output {i} of {model_name}") for i, t in enumerate(outputs)]
    if trace.INPUT in output_names:
        raise ValueError(f"export: {model_name} returns its input unchanged")
    description = {
        "name": model_name,
        "description": f"{model_name}, exported by sparsekgen.export",
        "dtype": dtype,
        "input_channels": int(sample.feats.shape[1]),
        "maps": list(recorder.maps.values()),
        "nodes": recorder.nodes,
        "outputs": output_names,
    }
    return description, recorder


def export(model: torch.nn.Module, sample: SparseTensor, description_path: str, weights_path: str, *,
           dtype: str = "f16", name: Optional[str] = None) -> dict:
    """Writes ``model`` as a network description (``description_path``, docs/networks.md) and the
    weights ``NetworkExecutor`` reads (``weights_path``, safetensors: ``<conv>.weight`` [volume, Cin,
    Cout], ``<conv>.bias``, ``<batch_norm>.scale`` / ``.shift`` folded from the running statistics).

    The model runs once in eval mode on ``sample`` to record its nodes; its layers must be
    sparsekgen modules and ops (Conv3d, BatchNorm, ReLU, ``+``, ``sparsekgen.cat``). Both files
    appear whole or not at all. Returns the description.
    """
    description, recorder = describe(model, sample, dtype=dtype, name=name)
    eps = set(recorder.batch_norm_eps.values())
    if len(eps) > 1:
        raise ValueError(f"export: batch norms with different eps {sorted(eps)} (folding takes one)")
    write_description_and_weights(description, description_path, _training_parameters(recorder), weights_path,
                                  eps.pop() if eps else 1e-5)
    return description


def write_description_and_weights(description: dict, description_path: str, parameters: dict, weights_path: str,
                                  eps: float) -> None:
    """Writes a description and the executor weights folded from its training ``parameters``, both
    whole or not at all: the runtime parses and checks the description before anything is kept."""
    text = json.dumps(description, indent=1)
    partial = f"{description_path}.partial"
    with open(partial, "w") as f:
        f.write(text + "\n")
    try:
        # Parses and checks the description, folds batch norm, writes the weights atomically.
        _cpu.save_executor_weights(text, description_path, parameters, weights_path, eps)
        os.replace(partial, description_path)
    except BaseException:
        os.remove(partial)
        raise
