"""sparsekgen for PyTorch: sparse tensors, sparse convolution modules with autograd, and the helpers
to voxelize and batch point clouds.

CPU tensors run through the runtime's float64 reference maps and convolution (``sparsekgen._cpu``),
so models can be written and checked on machines without a GPU. See docs/python.md.
"""

from sparsekgen.tensor import SparseTensor, cat
from sparsekgen.data import sparse_collate, sparse_quantize
from sparsekgen.maps import KernelMap
from sparsekgen import nn
from sparsekgen.export import export

__all__ = ["SparseTensor", "KernelMap", "cat", "export", "sparse_collate", "sparse_quantize", "nn"]
