"""Recording a model's run as a network description (used by ``sparsekgen.export``).

While a Recorder is active, every sparsekgen module and op that produces a SparseTensor adds its
node (and the kernel map it reads) and names the output tensor after the node, so the run becomes
the nodes, maps and levels of a description (docs/networks.md). Anything the description cannot
say is refused at once, naming the module.
"""

from __future__ import annotations

import contextlib
from typing import Dict, List, Optional, Tuple

import torch

from sparsekgen.tensor import SparseTensor, Stride

INPUT = "input"  # the description's name of the network input
_active: Optional["Recorder"] = None


def _digits(triple: Stride) -> str:
    return "".join(str(v) for v in triple)


class Recorder:
    def __init__(self, model: torch.nn.Module, input_stride: Stride):
        self.module_names = {id(m): name for name, m in model.named_modules() if name}
        self.nodes: List[dict] = []
        self.maps: Dict[tuple, dict] = {}
        self.levels: Dict[Stride, str] = {input_stride: "l0"}
        self.modules: Dict[str, torch.nn.Module] = {}  # node -> the module whose parameters it reads
        self.batch_norm_eps: Dict[str, float] = {}
        self._names: Dict[str, int] = {}

    def _node_name(self, base: str) -> str:
        count = self._names.get(base, 0)
        self._names[base] = count + 1
        return base if count == 0 else f"{base}.call{count + 1}"

    def _name_of(self, module: torch.nn.Module, fallback: str) -> str:
        return self._node_name(self.module_names.get(id(module), fallback))

    @staticmethod
    def tensor_name(x: SparseTensor, reader: str) -> str:
        if getattr(x, "_node", None) is None:
            raise ValueError(f"export: {reader} reads a tensor that no sparsekgen module or op produced (features "
                             f"changed outside them, e.g. through replace(), cannot be described; use "
                             f"sparsekgen.cat and + on sparse tensors)")
        return x._node

    def _level(self, stride: Stride, reader: str) -> str:
        if stride not in self.levels:
            raise ValueError(f"export: {reader} reads stride {stride}, which no recorded map produced")
        return self.levels[stride]

    def _forward_map(self, in_stride: Stride, kernel_size: Stride, stride: Stride, dilation: Stride,
                     reader: str) -> str:
        key = ("forward", in_stride, kernel_size, stride, dilation)
        if key in self.maps:
            return self.maps[key]["name"]
        level = self._level(in_stride, reader)
        strided = stride != (1, 1, 1)
        name = f"{level}.{'down' if strided else 'subm'}{_digits(kernel_size)}"
        if strided and stride != kernel_size:
            name += f"s{_digits(stride)}"
        if dilation != (1, 1, 1):
            name += f"d{_digits(dilation)}"
        entry = {"name": name, "coordinates": level, "kernel_size": list(kernel_size), "stride": list(stride),
                 "dilation": list(dilation)}
        if strided:
            out_stride = tuple(s * f for s, f in zip(in_stride, stride))
            if out_stride in self.levels:
                raise ValueError(f"export: {reader} downsamples to stride {out_stride}, which another strided map "
                                 f"already produces; a description has one map producing each level")
            self.levels[out_stride] = f"l{len(self.levels)}"
            entry["produces"] = self.levels[out_stride]
        self.maps[key] = entry
        return name

    def conv(self, module, x: SparseTensor, out: SparseTensor) -> None:
        name = self._name_of(module, "conv")
        reader = f"Conv3d '{name}'"
        if module.generative:
            raise ValueError(f"export: {reader} is generative, which network descriptions do not have")
        if module.transposed:
            if module.stride == (1, 1, 1):
                raise ValueError(f"export: {reader} is a transposed convolution of stride 1, which network "
                                 f"descriptions do not have")
            mirrored = self._forward_map(out.stride, module.kernel_size, module.stride, module.dilation, reader)
            key = ("transposed", x.stride, module.kernel_size, module.stride, module.dilation)
            if key not in self.maps:
                coarse = self._level(x.stride, reader)
                self.maps[key] = {"name": f"{coarse}.up{mirrored.split('.down', 1)[1]}", "coordinates": coarse,
                                  "kernel_size": list(module.kernel_size), "stride": list(module.stride),
                                  "dilation": list(module.dilation), "mirrors": mirrored}
            map_name = self.maps[key]["name"]
        else:
            map_name = self._forward_map(x.stride, module.kernel_size, module.stride, module.dilation, reader)
        node = {"name": name, "op": "conv", "input": self.tensor_name(x, reader), "map": map_name,
                "out_channels": module.out_channels}
        if module.bias is not None:
            node["bias"] = True
        self._add(node, out, module)

    def pointwise(self, module, x: SparseTensor, out: SparseTensor) -> None:
        from sparsekgen.nn.pointwise import BatchNorm, ReLU

        kind = type(module).__name__
        name = self._name_of(module, kind.lower())
        if isinstance(module, BatchNorm):
            if not module.affine or not module.track_running_stats:
                raise ValueError(f"export: BatchNorm '{name}' needs affine=True and running statistics")
            self.batch_norm_eps[name] = module.eps
            self._add({"name": name, "op": "batch_norm", "input": self.tensor_name(x, f"BatchNorm '{name}'")}, out,
                      module)
        elif isinstance(module, ReLU):
            self._add({"name": name, "op": "relu", "input": self.tensor_name(x, f"ReLU '{name}'")}, out, None)
        else:
            raise ValueError(f"export: {kind} '{name}' has no network-description op (conv, batch_norm, relu, add, "
                             f"concat)")

    def combine(self, op: str, inputs: Tuple[SparseTensor, ...], out: SparseTensor) -> None:
        names = [self.tensor_name(t, op) for t in inputs]
        self._add({"name": self._node_name(f"{names[0]}.{op}"), "op": op, "inputs": names}, out, None)

    def _add(self, node: dict, out: SparseTensor, module) -> None:
        self.nodes.append(node)
        if module is not None:
            self.modules[node["name"]] = module
        out._node = node["name"]


@contextlib.contextmanager
def recording(recorder: Recorder):
    global _active
    if _active is not None:
        raise RuntimeError("export: a model is already being recorded")
    _active = recorder
    try:
        yield recorder
    finally:
        _active = None


def active() -> Optional[Recorder]:
    return _active
