"""Kernel maps: for every output voxel and kernel offset, the input row it reads (or -1).

Maps are built by the runtime, ``sparsekgen._cpu`` for CPU tensors and ``sparsekgen._gpu`` (on the
device, from coordinates hashed once per level) for CUDA tensors, and cached on the tensors of a
run, so every layer of the same geometry reuses one map. Offsets are in TorchSparse 2.x order, so
weights [volume, Cin, Cout] port unchanged.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from sparsekgen import _cpu, gpu
from sparsekgen.tensor import MapCache, SparseTensor, Stride


class KernelMap:
    """One map: ``out_in_map`` int32 [output_count, volume] for the CPU path; on a GPU the runtime's
    map (``device_map``, with the transpose, sort inputs and pair lists its kernels read, built on
    first use), whose ``out_in_map`` is copied out when asked for."""

    def __init__(self, input_count: int, out_in_map: Optional[torch.Tensor] = None, device_map=None,
                 device: Optional[torch.device] = None):
        self.input_count = input_count
        self.device_map = device_map
        self.device = device if device is not None else torch.device("cpu")
        self._out_in_map = out_in_map

    @property
    def out_in_map(self) -> torch.Tensor:
        if self._out_in_map is None:
            self._out_in_map = gpu.out_in_map_of(self.device_map, self.device)
        return self._out_in_map

    @property
    def output_count(self) -> int:
        return self.device_map.output_count if self.device_map is not None else self._out_in_map.shape[0]

    @property
    def volume(self) -> int:
        return self.device_map.volume if self.device_map is not None else self._out_in_map.shape[1]

    @property
    def pair_count(self) -> int:
        if self.device_map is not None:
            return self.device_map.pair_count
        return int((self._out_in_map >= 0).sum().item())


def _scaled(stride: Stride, factor: Stride, coarser: bool) -> Stride:
    if coarser:
        return tuple(s * f for s, f in zip(stride, factor))
    if any(s % f for s, f in zip(stride, factor)):
        raise ValueError(f"a transposed convolution of stride {factor} cannot upsample a tensor of stride {stride}")
    return tuple(s // f for s, f in zip(stride, factor))


def _device_coordinates(cache: MapCache, stride: Stride):
    """A level's coordinates on the device, copied and hashed once (every map from them shares the table)."""
    found = cache.device_coordinates.get(stride)
    if found is None:
        found = cache.device_coordinates[stride] = gpu.coordinates(cache.coordinates[stride])
    return found


def _built(cache: MapCache, out_stride: Stride, outputs, out_in_map, input_count: int,
           device: torch.device) -> KernelMap:
    """A map from a builder's results, recording the output level's coordinates in the cache."""
    if device.type == "cpu":
        cache.coordinates.setdefault(out_stride, torch.from_numpy(outputs))
        return KernelMap(input_count, torch.from_numpy(out_in_map))
    if out_stride not in cache.coordinates:
        cache.coordinates[out_stride] = gpu.tensor_of(outputs, device)
        cache.device_coordinates[out_stride] = outputs
    return KernelMap(input_count, device_map=out_in_map, device=device)


def _forward_map(cache: MapCache, in_stride: Stride, kernel_size: Stride, stride: Stride,
                 dilation: Stride) -> Tuple[KernelMap, Stride]:
    out_stride = _scaled(in_stride, stride, coarser=True)
    key = ("forward", in_stride, kernel_size, stride, dilation)
    if key not in cache.maps:
        coords = cache.coordinates[in_stride]
        if coords.device.type == "cpu":
            outputs, out_in_map = _cpu.kernel_map(coords, kernel_size, stride, dilation)
        else:
            built = gpu._gpu.kernel_map(gpu.runtime(coords.device), _device_coordinates(cache, in_stride),
                                        kernel_size, stride, dilation, gpu.stream(coords.device))
            outputs, out_in_map = built.outputs, built
        cache.maps[key] = _built(cache, out_stride, outputs, out_in_map, coords.shape[0], coords.device)
    return cache.maps[key], out_stride


def forward_map(x: SparseTensor, kernel_size: Stride, stride: Stride, dilation: Stride) -> Tuple[KernelMap, Stride]:
    """The map of a submanifold (stride 1) or downsampling convolution on ``x``, and the output stride.
    A downsampling map also records the coarser level's coordinates in the cache."""
    return _forward_map(x._cache, x.stride, kernel_size, stride, dilation)


def transposed_map(x: SparseTensor, kernel_size: Stride, stride: Stride,
                   dilation: Stride) -> Tuple[KernelMap, Stride]:
    """The map of the transposed convolution that inverts the convolution of the same geometry which
    produced ``x``'s level: its outputs are that convolution's inputs (the finer level's voxels)."""
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
        if mirrored.device_map is None:
            cache.maps[key] = KernelMap(mirrored.output_count, torch.from_numpy(
                _cpu.transposed_kernel_map(mirrored.out_in_map, cache.coordinates[out_stride])))
        else:
            device = mirrored.device
            built = gpu._gpu.transposed_kernel_map(gpu.runtime(device), mirrored.device_map, gpu.stream(device))
            cache.maps[key] = KernelMap(mirrored.output_count, device_map=built, device=device)
    return cache.maps[key], out_stride


def generative_map(x: SparseTensor, kernel_size: Stride, stride: Stride,
                   dilation: Stride) -> Tuple[KernelMap, torch.Tensor, Stride]:
    """The map of a generative transposed convolution: outputs at every coordinate * stride + offset.
    Returns the map, the output coordinates and the output stride (the outputs start a new cache:
    they are not the voxels of any earlier level)."""
    out_stride = _scaled(x.stride, stride, coarser=False)
    key = ("generative", x.stride, kernel_size, stride, dilation)
    cache = x._cache
    if key not in cache.maps:
        if x.device.type == "cpu":
            outputs, out_in_map = _cpu.generative_transposed_kernel_map(x.voxels, kernel_size, stride, dilation)
            cache.maps[key] = (KernelMap(len(x), torch.from_numpy(out_in_map)), torch.from_numpy(outputs))
        else:
            built = gpu._gpu.generative_transposed_kernel_map(gpu.runtime(x.device), _device_coordinates(
                cache, x.stride), kernel_size, stride, dilation, gpu.stream(x.device))
            cache.maps[key] = (KernelMap(len(x), device_map=built, device=x.device),
                               gpu.tensor_of(built.outputs, x.device))
    kmap, coords = cache.maps[key]
    return kmap, coords, out_stride
