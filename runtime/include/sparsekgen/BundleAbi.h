/* The layout of a kernel bundle as linked into an application (libsparsekgen_kernels.a). Written by
 * `sparsekgen build`, read by the runtime. C, so that any language can link a bundle.
 *
 * Version 3: each kernel record lists the functions of its images (the main kernel and its
 * companions), each with its parameters (name, type, role) in launch order and the rule that sizes
 * its grid, so the runtime binds arguments by name instead of by position.
 *
 * Version 4: each record says the width of its kernel's address arithmetic (index_bits). */
#ifndef SPARSEKGEN_BUNDLE_ABI_H
#define SPARSEKGEN_BUNDLE_ABI_H

#include <stdint.h>

#include "sparsekgen/KernelEnums.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPARSEKGEN_BUNDLE_ABI_VERSION 4u

/* Kernels with 32-bit address arithmetic reach tensors of at most this many elements. */
#define SKG_MAX_32BIT_ELEMENTS 2147483647ll
/* A 64-bit kernel's name is that of the same spec with 32-bit indices followed by this suffix. */
#define SKG_WIDE_INDEX_SUFFIX "_i64"

enum skg_image_format { SKG_IMAGE_PTX = 0, SKG_IMAGE_CUBIN = 1 };

/* X(enumerator, spelling in manifests and docs) */
#define SKG_PARAMETER_TYPE_LIST(X)                                                                        \
  X(SKG_PARAMETER_F16_BUFFER, "f16*")                                                                     \
  X(SKG_PARAMETER_BF16_BUFFER, "bf16*")                                                                   \
  X(SKG_PARAMETER_F32_BUFFER, "f32*")                                                                     \
  X(SKG_PARAMETER_I32_BUFFER, "i32*")                                                                     \
  X(SKG_PARAMETER_I32, "i32")                                                                             \
  X(SKG_PARAMETER_TENSOR_MAP, "tensormap*") /* a CUtensorMap (128 bytes) in device memory */

/* What the caller binds to a parameter. X(enumerator, spelling) */
#define SKG_PARAMETER_ROLE_LIST(X)                                                                        \
  X(SKG_ROLE_READ, "read")         /* a tensor of the call the kernel reads (operands, maps, epilogue) */ \
  X(SKG_ROLE_WRITE, "write")       /* a tensor of the call the kernel writes */                           \
  X(SKG_ROLE_SCRATCH, "scratch")   /* an intermediate the runtime allocates (partials, tiles, ...) */     \
  X(SKG_ROLE_SIZE, "size")         /* a scalar: a size or count */

/* What a function of a kernel's image is for. X(enumerator, spelling) */
#define SKG_FUNCTION_ROLE_LIST(X)                                                                         \
  X(SKG_FUNCTION_MAIN, "main")                                                                            \
  X(SKG_FUNCTION_REDUCE, "reduce")                                                                        \
  X(SKG_FUNCTION_GATHER, "gather")                                                                        \
  X(SKG_FUNCTION_SCATTER, "scatter")

/* How a function's grid is sized; rows_per_block and columns_per_block are the function's.
 * X(enumerator, spelling) */
#define SKG_GRID_RULE_LIST(X)                                                                             \
  /* x = ceil(outputs / rows_per_block), y = ceil(out_channels / columns_per_block), z = splits */       \
  X(SKG_GRID_OUTPUT_TILES, "x = ceil(outputs / rows), y = ceil(out_channels / columns), z = splits")     \
  /* x = the pair tiles of the launch (rows_per_block pairs of one offset each), y as above */           \
  X(SKG_GRID_PAIR_TILES, "x = pair tiles, y = ceil(out_channels / columns)")                             \
  /* one thread per columns_per_block columns of an output row */                                      \
  X(SKG_GRID_OUTPUT_ELEMENTS, "x = ceil(outputs * ceil(out_channels / columns) / threads)")              \
  /* one thread per (pair, input channel) */                                                          \
  X(SKG_GRID_PAIR_INPUT_ELEMENTS, "x = ceil(pairs * in_channels / threads)")                             \
  /* one thread per (pair, output channel) */                                                         \
  X(SKG_GRID_PAIR_OUTPUT_ELEMENTS, "x = ceil(pairs * out_channels / threads)")                          \
  /* weight tiles: x = ceil(in_channels / rows_per_block), y = ceil(out_channels / columns_per_block), \
   * z = the K tiles of the launch (chunks of one offset's pairs) */                                   \
  X(SKG_GRID_WEIGHT_TILES, "x = ceil(in_channels / rows), y = ceil(out_channels / columns), z = pair tiles") \
  /* one thread per element of the [kernel_volume, in_channels, out_channels] weight */              \
  X(SKG_GRID_WEIGHT_ELEMENTS, "x = ceil(kernel_volume * in_channels * out_channels / threads)")

#define SKG_ENUMERATOR_(enumerator, ...) enumerator,
/* In C++ the enumerations hold any uint32_t a record carries (a newer or corrupted bundle's value
   is then "unknown", not undefined behaviour). */
#ifdef __cplusplus
#define SKG_ENUM_BASE_ : uint32_t
#else
#define SKG_ENUM_BASE_
#endif
typedef enum skg_parameter_type SKG_ENUM_BASE_ { SKG_PARAMETER_TYPE_LIST(SKG_ENUMERATOR_) SKG_PARAMETER_TYPE_COUNT } skg_parameter_type;
typedef enum skg_parameter_role SKG_ENUM_BASE_ { SKG_PARAMETER_ROLE_LIST(SKG_ENUMERATOR_) SKG_PARAMETER_ROLE_COUNT } skg_parameter_role;
typedef enum skg_function_role SKG_ENUM_BASE_ { SKG_FUNCTION_ROLE_LIST(SKG_ENUMERATOR_) SKG_FUNCTION_ROLE_COUNT } skg_function_role;
typedef enum skg_grid_rule SKG_ENUM_BASE_ { SKG_GRID_RULE_LIST(SKG_ENUMERATOR_) SKG_GRID_RULE_COUNT } skg_grid_rule;
#undef SKG_ENUM_BASE_
#undef SKG_ENUMERATOR_

typedef struct skg_kernel_image {
  uint32_t sm;          /* 90 for sm_90 */
  uint32_t format;      /* skg_image_format */
  const uint8_t *data;  /* PTX images end with a NUL byte, counted in size */
  uint64_t size;
} skg_kernel_image;

typedef struct skg_parameter {
  const char *name; /* e.g. "input", "out_in_map", "out_channels" */
  uint32_t type;    /* skg_parameter_type */
  uint32_t role;    /* skg_parameter_role */
} skg_parameter;

typedef struct skg_kernel_function {
  const char *name;             /* its symbol in every image of the kernel */
  uint32_t role;                /* skg_function_role */
  uint32_t grid_rule;           /* skg_grid_rule */
  uint32_t threads_per_block;
  uint32_t shared_memory_bytes; /* dynamic shared memory per block */
  uint32_t rows_per_block;
  uint32_t columns_per_block;
  uint32_t parameter_count;
  const skg_parameter *parameters; /* in launch order */
} skg_kernel_function;

typedef struct skg_kernel_record {
  const char *name;           /* derived from the spec; also the main function's symbol */
  const char *spec_json;      /* the spec, canonical JSON */
  const char *launch_abi;     /* e.g. "implicit_gemm_forward.v3" */
  uint32_t dataflow;          /* skg_dataflow */
  uint32_t operation;         /* skg_operation */
  uint32_t operand_type;      /* skg_dtype of input and weight */
  uint32_t output_type;       /* skg_dtype */
  uint32_t math;              /* skg_math */
  uint32_t channel_alignment; /* Cin and Cout must be multiples of it */
  uint32_t index_bits;        /* 32 or 64: the width of the kernel's address arithmetic */
  uint32_t epilogue_op_count;
  uint32_t epilogue_ops[SKG_MAX_EPILOGUE_OPS]; /* skg_epilogue_op, in the order they apply */
  uint32_t function_count;
  const skg_kernel_function *functions; /* functions[0] is the main kernel (its name is the record's) */
  uint32_t image_count;
  const skg_kernel_image *images;
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
