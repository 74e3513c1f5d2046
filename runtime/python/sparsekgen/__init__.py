"""sparsekgen for PyTorch: sparse tensors, sparse convolution modules with autograd, and the helpers
to voxelize and batch point clouds.

CUDA tensors run through the generated kernels of the default bundle (``sparsekgen._gpu``: maps built
on the device, each convolution operation dispatched through a config table or the heuristic);
CPU tensors through the runtime's float64 reference maps and convolution (``sparsekgen._cpu``), so
models can be written and checked on machines without a GPU. Relational graph convolution
(``nn.RGCNConv``, ``RelationGraph``, ``rgcn``) runs on the graph bundle's kernels (docs/graphs.md).
See docs/python.md.
"""

from sparsekgen._cpu import version as __version__  # project() in the top-level CMakeLists.txt
from sparsekgen.tensor import SparseTensor, cat
from sparsekgen.data import sparse_collate, sparse_quantize
from sparsekgen.maps import KernelMap
from sparsekgen.graph import RelationGraph, rgcn
from sparsekgen import nn
from sparsekgen.checkpoints import load_spconv_state_dict, load_torchsparse_state_dict, to_spconv_state_dict
from sparsekgen.export import export
from sparsekgen.graph_export import export_graph, save_graph
from sparsekgen.spconv_models import from_spconv, from_spconv_tensor
from sparsekgen.gpu import set_config_table
from sparsekgen.tune import tune

__all__ = ["SparseTensor", "KernelMap", "RelationGraph", "rgcn", "cat", "export", "export_graph", "save_graph", "from_spconv", "from_spconv_tensor", "load_spconv_state_dict",
           "load_torchsparse_state_dict", "set_config_table", "sparse_collate", "sparse_quantize",
           "to_spconv_state_dict", "tune", "nn"]
