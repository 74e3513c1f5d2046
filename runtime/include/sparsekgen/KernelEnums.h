/* The enumerations a kernel is described by, each with its spellings, in one place for the generator,
 * the bundle and the runtime. C, like BundleAbi.h, so that any language can read a bundle.
 *
 * Each list is an X-macro: one line per value, in the order of the enumeration (and of the JSON
 * Schema's enum, schemas/kernel-spec.schema.json). What each dataflow does is the dataflow table
 * (sparsekgen/DataflowTable.h); these lists only name the values. */
#ifndef SPARSEKGEN_KERNEL_ENUMS_H
#define SPARSEKGEN_KERNEL_ENUMS_H

/* X(enumerator, spelling in JSON and messages, code in kernel names) */
#define SKG_DATAFLOW_LIST(X)                                                                              \
  X(SKG_IMPLICIT_GEMM, "implicit_gemm", "igemm")                                                          \
  X(SKG_IMPLICIT_GEMM_SORTED, "implicit_gemm_sorted", "igemmsorted")                                      \
  X(SKG_IMPLICIT_GEMM_SPLIT, "implicit_gemm_split", "igemmsplit")                                         \
  X(SKG_GATHER_GEMM_SCATTER, "gather_gemm_scatter", "ggs")                                                \
  X(SKG_FETCH_ON_DEMAND, "fetch_on_demand", "fod")                                                      \
  X(SKG_PAIR_SPLIT_K, "pair_split_k", "pairsk")

/* X(enumerator, spelling, code in kernel names) */
#define SKG_OPERATION_LIST(X)                                                                             \
  X(SKG_FORWARD, "forward", "fwd")                                                                        \
  X(SKG_INPUT_GRAD, "input_grad", "dgrad")                                                                \
  X(SKG_WEIGHT_GRAD, "weight_grad", "wgrad")

/* X(enumerator, spelling, bytes per element) */
#define SKG_DTYPE_LIST(X)                                                                                 \
  X(SKG_F16, "f16", 2)                                                                                    \
  X(SKG_BF16, "bf16", 2)                                                                                  \
  X(SKG_F32, "f32", 4)

/* X(enumerator, spelling, code in kernel names). In the store: bias + bias[c] (f32); scale_shift
 * * scale[c] + shift[c] (f32, folded batch norm); relu; residual_add + residual[row][c] (output type). */
#define SKG_EPILOGUE_OP_LIST(X)                                                                           \
  X(SKG_EPILOGUE_BIAS, "bias", "bias")                                                                    \
  X(SKG_EPILOGUE_SCALE_SHIFT, "scale_shift", "bn")                                                        \
  X(SKG_EPILOGUE_RELU, "relu", "relu")                                                                    \
  X(SKG_EPILOGUE_RESIDUAL_ADD, "residual_add", "res")

/* How products are computed: tensor cores on 16-bit operands (warp mma.sync), tf32 tensor cores on
 * f32 operands (truncated to a 10-bit mantissa), exact fp32 fused multiply-adds, or Hopper's
 * warpgroup MMA on 16-bit operands (wgmma.mma_async from shared memory, sm_90a cubins only), its
 * weight tiles copied by cp.async or, in warpgroup_mma_tma, by the tensor memory accelerator (TMA)
 * from a tensor map the runtime encodes, completing on mbarriers.
 * X(enumerator, spelling, code in kernel names: empty for the default) */
#define SKG_MATH_LIST(X)                                                                                  \
  X(SKG_MATH_TENSOR_CORE, "tensor_core", "")                                                              \
  X(SKG_MATH_TF32, "tf32", "tf32")                                                                        \
  X(SKG_MATH_FFMA, "ffma", "ffma")                                                                        \
  X(SKG_MATH_WARPGROUP_MMA, "warpgroup_mma", "wgmma")                                                     \
  X(SKG_MATH_WARPGROUP_MMA_TMA, "warpgroup_mma_tma", "wgmmatma")

#define SKG_ENUMERATOR_(enumerator, ...) enumerator,
typedef enum skg_dataflow { SKG_DATAFLOW_LIST(SKG_ENUMERATOR_) SKG_DATAFLOW_COUNT } skg_dataflow;
typedef enum skg_operation { SKG_OPERATION_LIST(SKG_ENUMERATOR_) SKG_OPERATION_COUNT } skg_operation;
typedef enum skg_dtype { SKG_DTYPE_LIST(SKG_ENUMERATOR_) SKG_DTYPE_COUNT } skg_dtype;
typedef enum skg_epilogue_op { SKG_EPILOGUE_OP_LIST(SKG_ENUMERATOR_) SKG_EPILOGUE_OP_COUNT } skg_epilogue_op;
typedef enum skg_math { SKG_MATH_LIST(SKG_ENUMERATOR_) SKG_MATH_COUNT } skg_math;
#undef SKG_ENUMERATOR_

#define SKG_MAX_EPILOGUE_OPS SKG_EPILOGUE_OP_COUNT

#endif
