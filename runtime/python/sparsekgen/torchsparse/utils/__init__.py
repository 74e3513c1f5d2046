"""``torchsparse.utils``: quantization and collation."""

from sparsekgen.torchsparse.utils.collate import sparse_collate
from sparsekgen.torchsparse.utils.quantize import sparse_quantize

__all__ = ["sparse_collate", "sparse_quantize"]
