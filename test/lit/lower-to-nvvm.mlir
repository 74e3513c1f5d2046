// The lowering pass alone: nvgpu async copies with a source-element count become cp.async with a
// source size in bytes, with 32-bit indices and bare-pointer arguments.
// RUN: sparsekgen-opt %s --pass-pipeline='builtin.module(gpu.module(convert-scf-to-cf,sparsekgen-lower-to-nvvm,reconcile-unrealized-casts))' | FileCheck %s

// CHECK: llvm.func @copy(%{{.*}}: !llvm.ptr<1>, %{{.*}}: i32) attributes {gpu.kernel, nvvm.kernel}
// The source size in bytes is the last operand: elements x 2 bytes.
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 0
module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @copy(%src: memref<2147483647xf16, #gpu.address_space<global>>, %n: i32) kernel {
      %c0 = arith.constant 0 : index
      %count = arith.index_cast %n : i32 to index
      %shared = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %ring = memref.view %shared[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<64x8xf16, #gpu.address_space<workgroup>>
      %t = nvgpu.device_async_copy %src[%c0], %ring[%c0, %c0], 8, %count {bypassL1} : memref<2147483647xf16, #gpu.address_space<global>> to memref<64x8xf16, #gpu.address_space<workgroup>>
      %g = nvgpu.device_async_create_group %t
      nvgpu.device_async_wait %g {numGroups = 0 : i32}
      gpu.return
    }
  }
}
