/* The layout of a kernel bundle as linked into an application (libsparsekgen_kernels.a). Written by
 * `sparsekgen build`, read by the runtime. C, so that any language can link a bundle. */
#ifndef SPARSEKGEN_BUNDLE_ABI_H
#define SPARSEKGEN_BUNDLE_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPARSEKGEN_BUNDLE_ABI_VERSION 2u

enum skg_image_format { SKG_IMAGE_PTX = 0, SKG_IMAGE_CUBIN = 1 };
/* In the order of the spec's enumerations (schemas/kernel-spec.schema.json). */
enum skg_dataflow {
  SKG_IMPLICIT_GEMM = 0,
  SKG_IMPLICIT_GEMM_SORTED = 1,
  SKG_IMPLICIT_GEMM_SPLIT = 2,
  SKG_GATHER_GEMM_SCATTER = 3,
  SKG_FETCH_ON_DEMAND = 4
};
enum skg_dtype { SKG_F16 = 0, SKG_BF16 = 1, SKG_F32 = 2 };
/* How products are computed: tensor cores on 16-bit operands, tf32 tensor cores on f32 operands
 * (truncated to a 10-bit mantissa), or exact fp32 fused multiply-adds. */
enum skg_math { SKG_MATH_TENSOR_CORE = 0, SKG_MATH_TF32 = 1, SKG_MATH_FFMA = 2 };
enum skg_epilogue_op {
  SKG_EPILOGUE_BIAS = 0,        /* + bias[c] (f32) */
  SKG_EPILOGUE_SCALE_SHIFT = 1, /* * scale[c] + shift[c] (f32): folded batch norm */
  SKG_EPILOGUE_RELU = 2,
  SKG_EPILOGUE_RESIDUAL_ADD = 3 /* + residual[row][c] (output type) */
};
#define SKG_MAX_EPILOGUE_OPS 4

typedef struct skg_kernel_image {
  uint32_t sm;          /* 90 for sm_90 */
  uint32_t format;      /* skg_image_format */
  const uint8_t *data;  /* PTX images end with a NUL byte, counted in size */
  uint64_t size;
} skg_kernel_image;

typedef struct skg_kernel_record {
  const char *name;           /* derived from the spec; also the kernel's symbol in every image */
  const char *spec_json;      /* the spec, canonical JSON */
  const char *launch_abi;     /* e.g. "implicit_gemm_forward.v1" */
  uint32_t threads_per_block;
  uint32_t shared_memory_bytes; /* dynamic shared memory per block */
  uint32_t rows_per_block;      /* grid.x = ceil(outputs / rows_per_block) */
  uint32_t columns_per_block;   /* grid.y = ceil(out_channels / columns_per_block) */
  uint32_t image_count;
  const skg_kernel_image *images;
  uint32_t dataflow;            /* skg_dataflow */
  uint32_t operand_type;        /* skg_dtype of input and weight */
  uint32_t output_type;         /* skg_dtype */
  uint32_t channel_alignment;   /* Cin and Cout must be multiples of it */
  uint32_t epilogue_op_count;
  uint32_t epilogue_ops[SKG_MAX_EPILOGUE_OPS]; /* skg_epilogue_op, in the order they apply */
  const char *companion_name;   /* a second kernel of the same images run after this one, or NULL */
  uint32_t companion_threads_per_block;
  uint32_t math;                /* skg_math */
} skg_kernel_record;

typedef struct skg_bundle {
  uint32_t abi_version;  /* SPARSEKGEN_BUNDLE_ABI_VERSION */
  uint32_t kernel_count;
  const skg_kernel_record *kernels;
  const char *manifest_json;
  const char *bundle_hash; /* SHA-256 of the kernels' names and images, hex */
} skg_bundle;

#ifdef __cplusplus
}
#endif

#endif
