"""``torchsparse.utils.quantize``."""

from sparsekgen.data import sparse_quantize

__all__ = ["sparse_quantize"]
