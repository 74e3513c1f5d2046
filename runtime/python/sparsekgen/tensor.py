"""The sparse tensor: features of the occupied voxels, their coordinates, and the maps built on them."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

Stride = Tuple[int, int, int]


def as_triple(value, name: str) -> Stride:
    """An int or three ints as a tuple of three positive ints (kernel sizes, strides, dilations)."""
    if isinstance(value, int):
        triple = (value, value, value)
    else:
        triple = tuple(int(v) for v in value)
        if len(triple) != 3:
            raise ValueError(f"{name} must be an int or three ints, not {value!r}")
    if any(v < 1 for v in triple):
        raise ValueError(f"{name} must be at least 1 on every axis, not {value!r}")
    return triple


class MapCache:
    """What the tensors of one network run share: the coordinates of every tensor stride, and every
    kernel map built on them (each built once, whichever layer asks first). On a GPU also each
    level's coordinates as the runtime holds them, hashed once for every map built from them."""

    def __init__(self):
        self.coordinates: Dict[Stride, torch.Tensor] = {}
        self.device_coordinates: Dict[Stride, object] = {}
        self.maps: Dict[tuple, object] = {}


class SparseTensor:
    """``feats`` [N, C] and ``coords`` int32 [N, 4] = (batch, x, y, z), one row per occupied voxel.

    As in TorchSparse, coordinates stay in the input's units at every level: a tensor of stride 2
    has coordinates that are multiples of 2. ``voxels`` are the same rows at the tensor's own
    resolution (coordinates divided by the stride), which the kernel maps are built on. Coordinates
    must be unique; the map builders refuse a repeated row, naming both rows.
    """

    def __init__(self, feats: torch.Tensor, coords: torch.Tensor, stride=1, *, _cache: Optional[MapCache] = None,
                 _voxels: Optional[torch.Tensor] = None):
        if not isinstance(feats, torch.Tensor) or feats.dim() != 2:
            raise ValueError(f"feats must be a [N, C] tensor, not {type(feats).__name__} "
                             f"{tuple(getattr(feats, 'shape', ()))}")
        self.feats = feats
        self.stride: Stride = as_triple(stride, "stride")
        if _voxels is None:
            _voxels = self._voxels_of(coords)
        self.voxels = _voxels
        self._coords: Optional[torch.Tensor] = coords  # None: derived from the voxels when read
        self._cache = _cache if _cache is not None else MapCache()
        self._node: Optional[str] = None  # the producing node while a model is recorded (trace.py)
        self._cache.coordinates.setdefault(self.stride, self.voxels)

    def _voxels_of(self, coords) -> torch.Tensor:
        if not isinstance(coords, torch.Tensor) or coords.dim() != 2 or coords.shape[1] != 4:
            raise ValueError(f"coords must be an int32 [N, 4] tensor (batch, x, y, z), not "
                             f"{tuple(getattr(coords, 'shape', ()))}")
        if coords.dtype != torch.int32:
            raise ValueError(f"coords must be int32, not {coords.dtype}")
        if coords.shape[0] != self.feats.shape[0]:
            raise ValueError(f"feats has {self.feats.shape[0]} rows but coords {coords.shape[0]}")
        if coords.device != self.feats.device:
            raise ValueError(f"feats are on {self.feats.device} but coords on {coords.device}")
        if self.stride == (1, 1, 1):
            return coords.contiguous()
        scale = torch.tensor((1,) + self.stride, dtype=torch.int32, device=coords.device)
        off = (coords % scale).any(1)
        if bool(off.any()):
            row = int(off.nonzero()[0, 0])
            raise ValueError(f"coords row {row} {coords[row].tolist()} is not a multiple of the stride {self.stride}")
        return torch.div(coords, scale, rounding_mode="floor").contiguous()

    @classmethod
    def _on_voxels(cls, feats: torch.Tensor, voxels: torch.Tensor, stride: Stride,
                   cache: Optional[MapCache]) -> "SparseTensor":
        return cls(feats, None, stride, _cache=cache, _voxels=voxels)

    @property
    def coords(self) -> torch.Tensor:
        if self._coords is None:
            scale = torch.tensor((1,) + self.stride, dtype=torch.int32, device=self.voxels.device)
            self._coords = (self.voxels * scale).contiguous()
        return self._coords

    # TorchSparse's short names.
    @property
    def F(self) -> torch.Tensor:
        return self.feats

    @property
    def C(self) -> torch.Tensor:
        return self.coords

    @property
    def s(self) -> Stride:
        return self.stride

    @property
    def device(self) -> torch.device:
        return self.feats.device

    def __len__(self) -> int:
        return self.feats.shape[0]

    def replace(self, feats: torch.Tensor) -> "SparseTensor":
        """A tensor of the same voxels (and shared maps) with new features, as element-wise layers make."""
        return SparseTensor._on_voxels(feats, self.voxels, self.stride, self._cache)

    def _require_same_voxels(self, other: "SparseTensor", op: str) -> None:
        if not isinstance(other, SparseTensor):
            raise TypeError(f"{op} of a SparseTensor and {type(other).__name__}")
        if other.stride != self.stride or (other.voxels is not self.voxels and not torch.equal(other.voxels,
                                                                                                self.voxels)):
            raise ValueError(f"{op}: the tensors are not on the same voxels (strides {self.stride} and "
                             f"{other.stride}, {len(self)} and {len(other)} rows)")

    def __add__(self, other: "SparseTensor") -> "SparseTensor":
        """The element-wise sum of two tensors on the same voxels (a residual connection)."""
        self._require_same_voxels(other, "add")
        out = self.replace(self.feats + other.feats)
        from sparsekgen import trace

        recorder = trace.active()
        if recorder is not None:
            recorder.combine("add", (self, other), out)
        return out

    def to(self, *args, **kwargs) -> "SparseTensor":
        """Features converted as ``Tensor.to`` does; coordinates follow to the same device (maps are
        rebuilt there)."""
        feats = self.feats.to(*args, **kwargs)
        if feats.device == self.feats.device:
            return SparseTensor._on_voxels(feats, self.voxels, self.stride, self._cache)
        return SparseTensor._on_voxels(feats, self.voxels.to(feats.device), self.stride, None)

    def cpu(self) -> "SparseTensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "SparseTensor":
        return self.to(device if device is not None else "cuda")

    def dense(self, shape: Optional[Tuple[int, int, int]] = None) -> torch.Tensor:
        """The features scattered into a dense [batches, X, Y, Z, C] grid of the tensor's voxels,
        starting at the smallest voxel (or at 0 for an explicit ``shape``), for checks and small inputs."""
        coords = self.voxels.long()
        origin = torch.zeros(3, dtype=torch.long, device=coords.device) if shape else coords[:, 1:].min(0).values
        local = coords[:, 1:] - origin
        extent = tuple(shape) if shape else tuple((local.max(0).values + 1).tolist())
        batches = int(coords[:, 0].max().item()) + 1 if len(coords) else 0
        grid = self.feats.new_zeros((batches, *extent, self.feats.shape[1]))
        grid[coords[:, 0], local[:, 0], local[:, 1], local[:, 2]] = self.feats
        return grid

    def __repr__(self) -> str:
        return (f"SparseTensor({self.feats.shape[0]} voxels x {self.feats.shape[1]} channels, stride {self.stride}, "
                f"{self.feats.dtype}, {self.device})")


def cat(tensors) -> SparseTensor:
    """The tensors' features side by side (channels concatenated), for tensors on the same voxels."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise ValueError("cat needs at least two sparse tensors")
    for t in tensors[1:]:
        tensors[0]._require_same_voxels(t, "cat")
    out = tensors[0].replace(torch.cat([t.feats for t in tensors], 1))
    from sparsekgen import trace

    recorder = trace.active()
    if recorder is not None:
        recorder.combine("concat", tuple(tensors), out)
    return out
