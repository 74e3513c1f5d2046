"""TorchSparse 2.1's names on sparsekgen: ``import sparsekgen.torchsparse as torchsparse`` and
``from sparsekgen.torchsparse import nn as spnn`` run models written for TorchSparse (its
``SparseResUNet42`` and ``SparseResNet21D`` backbones among them) with that import change only.

What differs is said where it does: sparse_quantize keeps voxels in order of their first point
(TorchSparse: in order of a coordinate hash), and Conv3d accepts only the padding TorchSparse derives
itself (its maps are ours then)."""

from sparsekgen.tensor import SparseTensor, cat
from sparsekgen.torchsparse import nn, utils

__all__ = ["SparseTensor", "cat", "nn", "utils"]
