"""Modules on sparse tensors (convolution, batch norm, activations) and on relational graphs (RGCNConv)."""

from sparsekgen.nn.conv import Conv3d
from sparsekgen.nn.rgcn import RGCNConv
from sparsekgen.nn.pointwise import BatchNorm, LeakyReLU, ReLU, SiLU, SyncBatchNorm, convert_sync_batchnorm

__all__ = ["Conv3d", "RGCNConv", "BatchNorm", "SyncBatchNorm", "convert_sync_batchnorm", "ReLU", "LeakyReLU", "SiLU"]
