"""Modules on sparse tensors: convolution, batch norm, activations."""

from sparsekgen.nn.conv import Conv3d
from sparsekgen.nn.pointwise import BatchNorm, LeakyReLU, ReLU, SiLU

__all__ = ["Conv3d", "BatchNorm", "ReLU", "LeakyReLU", "SiLU"]
