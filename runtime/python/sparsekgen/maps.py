"""Kernel maps: for every output voxel and kernel offset, the input row it reads (or -1).

Maps are built by the runtime (``sparsekgen._cpu`` for CPU tensors) and cached on the tensors of a
run, so every layer of the same geometry reuses one map. Offsets are in TorchSparse 2.x order, so
weights [volume, Cin, Cout] port unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

from sparsekgen import _cpu
from sparsekgen.tensor import MapCache, SparseTensor, Stride


@dataclass(frozen=True)
class KernelMap:
    out_in_map: torch.Tensor  # int32 [output_count, volume], -1 where there is no input
    input_count: int

    @property
    def output_count(self) -> int:
        return self.out_in_map.shape[0]

    @property
    def volume(self) -> int:
        return self.out_in_map.shape[1]

    @property
    def pair_count(self) -> int:
        return int((self.out_in_map >= 0).sum().item())


def _require_cpu(tensor: SparseTensor, what: str) -> None:
    if tensor.device.type != "cpu":
        raise NotImplementedError(
            f"{what}: tensors on {tensor.device} need the package's GPU module, which this build does not "
            f"have; move the tensor to the CPU (.cpu()) for the float64 reference path")


def _scaled(stride: Stride, factor: Stride, coarser: bool) -> Stride:
    if coarser:
        return tuple(s * f for s, f in zip(stride, factor))
    if any(s % f for s, f in zip(stride, factor)):
        raise ValueError(f"a transposed convolution of stride {factor} cannot upsample a tensor of stride {stride}")
    return tuple(s // f for s, f in zip(stride, factor))


def _numpy_map(out_in_map, input_count: int) -> KernelMap:
    return KernelMap(torch.from_numpy(out_in_map), input_count)


def _forward_map(cache: MapCache, in_stride: Stride, kernel_size: Stride, stride: Stride,
                 dilation: Stride) -> Tuple[KernelMap, Stride]:
    out_stride = _scaled(in_stride, stride, coarser=True)
    key = ("forward", in_stride, kernel_size, stride, dilation)
    if key not in cache.maps:
        coords = cache.coordinates[in_stride]
        outputs, out_in_map = _cpu.kernel_map(coords, kernel_size, stride, dilation)
        cache.maps[key] = _numpy_map(out_in_map, coords.shape[0])
        cache.coordinates.setdefault(out_stride, torch.from_numpy(outputs))
    return cache.maps[key], out_stride


def forward_map(x: SparseTensor, kernel_size: Stride, stride: Stride, dilation: Stride) -> Tuple[KernelMap, Stride]:
    """The map of a submanifold (stride 1) or downsampling convolution on ``x``, and the output stride.
    A downsampling map also records the coarser level's coordinates in the cache."""
    _require_cpu(x, "kernel map")
    return _forward_map(x._cache, x.stride, kernel_size, stride, dilation)


def transposed_map(x: SparseTensor, kernel_size: Stride, stride: Stride,
                   dilation: Stride) -> Tuple[KernelMap, Stride]:
    """The map of the transposed convolution that inverts the convolution of the same geometry which
    produced ``x``'s level: its outputs are that convolution's inputs (the finer level's voxels)."""
    _require_cpu(x, "kernel map")
    out_stride = _scaled(x.stride, stride, coarser=False)
    cache = x._cache
    if out_stride not in cache.coordinates:
        raise ValueError(f"transposed convolution to stride {out_stride}: no tensor of that stride was seen in this "
                         f"run (a non-generative transposed convolution returns to a level a strided one came from)")
    key = ("transposed", x.stride, kernel_size, stride, dilation)
    if key not in cache.maps:
        mirrored, produced = _forward_map(cache, out_stride, kernel_size, stride, dilation)
        if produced != x.stride or mirrored.output_count != len(x):
            raise ValueError(f"transposed convolution: the tensor of stride {x.stride} ({len(x)} voxels) is not the "
                             f"level the stride-{stride} convolution from stride {out_stride} produces")
        cache.maps[key] = _numpy_map(
            _cpu.transposed_kernel_map(mirrored.out_in_map, cache.coordinates[out_stride]), mirrored.output_count)
    return cache.maps[key], out_stride


def generative_map(x: SparseTensor, kernel_size: Stride, stride: Stride,
                   dilation: Stride) -> Tuple[KernelMap, torch.Tensor, Stride]:
    """The map of a generative transposed convolution: outputs at every coordinate * stride + offset.
    Returns the map, the output coordinates and the output stride (the outputs start a new cache:
    they are not the voxels of any earlier level)."""
    _require_cpu(x, "kernel map")
    out_stride = _scaled(x.stride, stride, coarser=False)
    key = ("generative", x.stride, kernel_size, stride, dilation)
    cache = x._cache
    if key not in cache.maps:
        outputs, out_in_map = _cpu.generative_transposed_kernel_map(x.voxels, kernel_size, stride, dilation)
        cache.maps[key] = (_numpy_map(out_in_map, x.voxels.shape[0]), torch.from_numpy(outputs))
    kmap, coords = cache.maps[key]
    return kmap, coords, out_stride
