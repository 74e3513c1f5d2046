"""spconv 2.3 models rebuilt on sparsekgen modules, with their weights, so they train, infer and
export (``sparsekgen.export``) on our kernels.

``from_spconv`` converts a tree of ``SparseSequential`` (or ``torch.nn.Sequential``) containers
holding spconv's convolutions, batch norms and activations. Models with a ``forward`` of their own
(most detection backbones) are rebuilt by hand on ``sparsekgen.nn`` and take their weights through
``load_spconv_state_dict``; the conversion refuses them, naming the module.

Layers convert where spconv and sparsekgen compute the same voxels:

- ``SubMConv3d`` of odd kernel sizes: our submanifold ``Conv3d``;
- ``SparseConv3d`` whose kernel equals its stride (padding 0, dilation 1): our strided ``Conv3d``,
  both writing voxel ``floor(in / stride)``; a 1x1x1 one of stride 1 is pointwise in both;
- ``SparseInverseConv3d``: our ``transposed=True`` over the strided convolution of its ``indice_key``.

spconv's ``SparseConv3d`` of kernel 3, stride 2, padding 1 writes every ``(in + 1 - k) / 2`` that is
an integer, more voxels than any sparsekgen map produces, and ``SparseConvTranspose3d`` grows the
voxel set likewise: both are refused.
"""

from __future__ import annotations

import collections
from typing import Dict, Tuple

import torch

from sparsekgen import nn
from sparsekgen.checkpoints import _check_spconv_conventions, load_spconv_state_dict
from sparsekgen.tensor import SparseTensor

_CONV_ATTRIBUTES = ("subm", "inverse", "transposed", "indice_key", "kernel_size", "stride", "padding", "dilation")


def _is_spconv_convolution(module: torch.nn.Module) -> bool:
    return all(hasattr(module, a) for a in _CONV_ATTRIBUTES) and hasattr(module, "weight")


def _is_container(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Sequential) or type(module).__name__ == "SparseSequential"


def _ours(values, spatial_order: str) -> Tuple[int, int, int]:
    """An spconv per-axis triple (in ``spatial_order``) as ours, (x, y, z)."""
    values = list(values)
    return tuple(int(values[spatial_order.index(axis)]) for axis in "xyz")


class _Converter:
    def __init__(self, spatial_order: str):
        self.spatial_order = spatial_order
        self.strided: Dict[str, torch.nn.Module] = {}  # indice_key -> the strided convolution defining it

    def refuse(self, name: str, module: torch.nn.Module, why: str):
        raise ValueError(f"from_spconv: '{name or '(root)'}' ({type(module).__name__}) {why}")

    def collect_strided(self, model: torch.nn.Module) -> None:
        for name, module in model.named_modules():
            if _is_spconv_convolution(module) and not (module.subm or module.inverse or module.transposed) \
                    and module.indice_key is not None:
                self.strided.setdefault(module.indice_key, module)

    def convolution(self, name: str, m: torch.nn.Module) -> nn.Conv3d:
        if getattr(m, "ndim", 3) != 3:
            self.refuse(name, m, f"is {m.ndim}-dimensional; sparsekgen convolutions are 3D")
        if getattr(m, "groups", 1) != 1:
            self.refuse(name, m, f"has groups={m.groups}")
        activation = getattr(m, "act_type", None)
        if activation is not None and not str(activation).endswith("None_"):
            self.refuse(name, m, f"fuses activation {activation}; put the activation after it as a module")
        order = self.spatial_order
        kernel, stride, dilation = (_ours(getattr(m, a), order) for a in ("kernel_size", "stride", "dilation"))
        padding = _ours(m.padding, order)
        bias = m.bias is not None
        if m.transposed and not m.inverse:
            self.refuse(name, m, "generates output voxels around every input voxel; sparsekgen maps produce no "
                                 "such level (SparseInverseConv3d over a strided convolution converts)")
        if m.inverse:
            forward = self.strided.get(m.indice_key)
            if forward is None:
                self.refuse(name, m, f"inverts indice_key {m.indice_key!r}, which no strided convolution of the "
                                     f"model defines")
            if _ours(forward.kernel_size, order) != kernel:
                self.refuse(name, m, f"has kernel {kernel}, the convolution it inverts "
                                     f"{_ours(forward.kernel_size, order)}")
            return nn.Conv3d(m.in_channels, m.out_channels, kernel, _ours(forward.stride, order),
                             _ours(forward.dilation, order), bias=bias, transposed=True)
        if m.subm:
            if any(k % 2 == 0 for k in kernel):
                self.refuse(name, m, f"is submanifold with an even kernel {kernel}; spconv and sparsekgen centre "
                                     f"even kernels differently")
            return nn.Conv3d(m.in_channels, m.out_channels, kernel, 1, dilation, bias=bias)
        if kernel == (1, 1, 1) and stride == (1, 1, 1):
            return nn.Conv3d(m.in_channels, m.out_channels, 1, 1, 1, bias=bias)
        if stride == (1, 1, 1):
            self.refuse(name, m, f"is a regular convolution of stride 1 (kernel {kernel}), which grows the voxel "
                                 f"set; use SubMConv3d")
        if kernel != stride or padding != (0, 0, 0) or dilation != (1, 1, 1):
            self.refuse(name, m, f"has kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation} "
                                 f"(x, y, z): spconv writes every (in + padding - k * dilation) / stride that is an "
                                 f"integer, sparsekgen floor(in / stride); they agree only for kernel = stride, "
                                 f"padding 0, dilation 1")
        return nn.Conv3d(m.in_channels, m.out_channels, kernel, stride, 1, bias=bias)

    def convert(self, name: str, module: torch.nn.Module) -> torch.nn.Module:
        if _is_container(module):
            children = collections.OrderedDict(
                (child_name, self.convert(f"{name}.{child_name}" if name else child_name, child))
                for child_name, child in module.named_children())
            return torch.nn.Sequential(children)
        if _is_spconv_convolution(module):
            return self.convolution(name, module)
        if isinstance(module, torch.nn.BatchNorm1d):
            return nn.BatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        if isinstance(module, torch.nn.ReLU):
            return nn.ReLU(module.inplace)
        if isinstance(module, torch.nn.LeakyReLU):
            return nn.LeakyReLU(module.negative_slope, module.inplace)
        if isinstance(module, torch.nn.SiLU):
            return nn.SiLU(module.inplace)
        if list(module.children()):
            self.refuse(name, module, "has a forward of its own; rebuild it on sparsekgen.nn and load its weights "
                                      "with load_spconv_state_dict")
        self.refuse(name, module, "has no sparsekgen equivalent (convertible: SparseSequential, SubMConv3d, "
                                  "SparseConv3d, SparseInverseConv3d, BatchNorm1d, ReLU, LeakyReLU, SiLU)")


def from_spconv(model: torch.nn.Module, *, spatial_order: str = "zyx", layout: str = "KRSC") -> torch.nn.Module:
    """The sparsekgen equivalent of an spconv 2.3 ``model`` (see the module docstring for what
    converts), with its weights (in their dtype), batch norm statistics and training mode, on the CPU. Its input is
    a SparseTensor with coordinates (batch, x, y, z): ``from_spconv_tensor`` converts spconv's.
    ``spatial_order`` names the axes of spconv's index columns 1..3; ``layout`` its weight layout."""
    _check_spconv_conventions(layout, spatial_order)
    converter = _Converter(spatial_order)
    converter.collect_strided(model)
    ours = converter.convert("", model)
    floating = [p.dtype for p in model.parameters() if p.is_floating_point()]
    if floating:
        ours = ours.to(floating[0])  # the weights as they are, not rounded through float32
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    load_spconv_state_dict(ours, state, layout=layout, spatial_order=spatial_order)
    return ours.train(model.training)


def from_spconv_tensor(x, *, spatial_order: str = "zyx") -> SparseTensor:
    """An spconv ``SparseConvTensor`` (a network input) as a SparseTensor: the same features, the
    coordinates reordered to (batch, x, y, z)."""
    _check_spconv_conventions("KRSC", spatial_order)
    columns = [0] + [1 + spatial_order.index(axis) for axis in "xyz"]
    coords = x.indices[:, columns].to(torch.int32).contiguous()
    return SparseTensor(x.features, coords)
