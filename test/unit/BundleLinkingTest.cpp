// Two bundles of different names linked into one binary (the default bundle and a one-kernel
// bundle built with `sparsekgen build --name`), and the rules that choose a kernel's image for a
// device (ImageChoice.h): exact cubin, else a cubin of the same major version, else PTX. CPU only.
#include <gtest/gtest.h>

#include <string>

#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/ImageChoice.h"
#include "sparsekgen_kernels.h"
#include "sparsekgen_test_kernels.h"

namespace sparsekgen {
namespace {

TEST(BundleLinking, TwoNamedBundlesLiveInOneBinary) {
  EXPECT_EQ(sparsekgen_kernels.kernel_count, static_cast<uint32_t>(SPARSEKGEN_KERNELS_KERNEL_COUNT));
  ASSERT_EQ(sparsekgen_test_kernels.kernel_count, 1u);
  EXPECT_EQ(SPARSEKGEN_TEST_KERNELS_KERNEL_COUNT, 1);
  EXPECT_EQ(sparsekgen_test_kernels.abi_version, SPARSEKGEN_BUNDLE_ABI_VERSION);
  EXPECT_NE(&sparsekgen_kernels, &sparsekgen_test_kernels);
  EXPECT_NE(std::string(sparsekgen_kernels.bundle_hash), std::string(sparsekgen_test_kernels.bundle_hash));
  EXPECT_NE(std::string(sparsekgen_test_kernels.manifest_json).find("\"name\": \"sparsekgen_test_kernels\""),
            std::string::npos);
  EXPECT_STREQ(sparsekgen_test_kernels.kernels[0].name,
               "skg_igemm_fwd_f16f16f16f32_t64x32x32_w32x16x32_s3_a8_sm80_sm90");
}

// A context over several bundles dispatches among their kernels by name, so two bundles holding a
// kernel of the same name are refused, naming it, before the device is touched (no GPU needed).
TEST(BundleLinking, AContextRefusesBundlesSharingAKernelName) {
  const std::string shared = sparsekgen_test_kernels.kernels[0].name;
  try {
    Context context(0, std::vector<const skg_bundle *>{&sparsekgen_kernels, &sparsekgen_test_kernels});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("kernel " + shared + " is in linked bundles 0 and 1"), std::string::npos) << message;
  }
  EXPECT_THROW(Context(0, std::vector<const skg_bundle *>{}), RuntimeError);
}

const skg_kernel_image &imageOf(const skg_kernel_record &record, uint32_t format, uint32_t sm) {
  for (uint32_t i = 0; i < record.image_count; ++i)
    if (record.images[i].format == format && record.images[i].sm == sm)
      return record.images[i];
  throw std::runtime_error("no such image");
}

TEST(ImageChoice, EveryDefaultKernelPicksItsCubinByMajorVersion) {
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count; ++i) {
    const skg_kernel_record &record = sparsekgen_kernels.kernels[i];
    SCOPED_TRACE(record.name);
    EXPECT_EQ(chooseKernelImage(record, 90), &imageOf(record, SKG_IMAGE_CUBIN, 90));
    EXPECT_EQ(chooseKernelImage(record, 80), &imageOf(record, SKG_IMAGE_CUBIN, 80));
    // Ampere and Ada GPUs run the sm_80 cubin: no JIT at load.
    EXPECT_EQ(chooseKernelImage(record, 86), &imageOf(record, SKG_IMAGE_CUBIN, 80));
    EXPECT_EQ(chooseKernelImage(record, 89), &imageOf(record, SKG_IMAGE_CUBIN, 80));
    // A later major version has no cubin it can run: the PTX (of the lowest target, which
    // `sparsekgen build` keeps), compiled by the driver.
    EXPECT_EQ(chooseKernelImage(record, 100), &imageOf(record, SKG_IMAGE_PTX, 80));
    EXPECT_EQ(chooseKernelImage(record, 75), nullptr);
  }
}

TEST(ImageChoice, PtxOnlyBundleIsCompiledByTheDriver) {
  const skg_kernel_record &record = sparsekgen_test_kernels.kernels[0]; // built with --no-cubin
  EXPECT_EQ(chooseKernelImage(record, 86), &imageOf(record, SKG_IMAGE_PTX, 80));
  EXPECT_EQ(chooseKernelImage(record, 90), &imageOf(record, SKG_IMAGE_PTX, 80));
  EXPECT_EQ(describeImage(*chooseKernelImage(record, 90)), "ptx sm_80");
}

TEST(ImageChoice, KernelsNeedingMoreSharedMemoryThanTheDeviceGivesCannotRun) {
  constexpr unsigned ampereConsumerOptin = 99 * 1024, hopperOptin = 227 * 1024;
  int refusedOnSm86 = 0;
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count; ++i) {
    const skg_kernel_record &record = sparsekgen_kernels.kernels[i];
    SCOPED_TRACE(record.name);
    EXPECT_EQ(whyKernelCannotRun(record, {90, hopperOptin}), "");
    uint32_t largest = 0;
    for (uint32_t f = 0; f < record.function_count; ++f)
      largest = std::max(largest, record.functions[f].shared_memory_bytes);
    std::string why = whyKernelCannotRun(record, {86, ampereConsumerOptin});
    EXPECT_EQ(why.empty(), largest <= ampereConsumerOptin) << why;
    if (!why.empty()) {
      ++refusedOnSm86;
      EXPECT_NE(why.find("dynamic shared memory"), std::string::npos) << why;
    }
    EXPECT_NE(whyKernelCannotRun(record, {75, ampereConsumerOptin}).find("no image an sm_75 device can run"),
              std::string::npos);
  }
  RecordProperty("kernels_refused_on_sm86", refusedOnSm86);
}

TEST(ImageChoice, SyntheticRecordPrefersExactThenSameMajorThenNewestPtx) {
  const uint8_t bytes[1] = {0};
  skg_kernel_image images[] = {{80, SKG_IMAGE_PTX, bytes, 1},   {86, SKG_IMAGE_PTX, bytes, 1},
                               {80, SKG_IMAGE_CUBIN, bytes, 1}, {86, SKG_IMAGE_CUBIN, bytes, 1},
                               {90, SKG_IMAGE_CUBIN, bytes, 1}};
  skg_kernel_record record{};
  record.name = "synthetic";
  record.images = images;
  record.image_count = 5;
  EXPECT_EQ(chooseKernelImage(record, 86), &images[3]);
  EXPECT_EQ(chooseKernelImage(record, 89), &images[3]); // newest same-major cubin not above 8.9
  EXPECT_EQ(chooseKernelImage(record, 87), &images[3]);
  EXPECT_EQ(chooseKernelImage(record, 80), &images[2]);
  EXPECT_EQ(chooseKernelImage(record, 90), &images[4]);
  EXPECT_EQ(chooseKernelImage(record, 120), &images[1]); // PTX of sm_86 beats that of sm_80
  record.image_count = 0;
  EXPECT_EQ(chooseKernelImage(record, 90), nullptr);
  EXPECT_NE(whyKernelCannotRun(record, {90, 1000}).find("the bundle has: none"), std::string::npos);
}

// sm_90a images (warpgroup MMA) load on compute capability 9.0 alone: no JIT of their PTX on newer GPUs.
TEST(ImageChoice, WarpgroupMmaKernelsRunOnSm90Alone) {
  const uint8_t bytes[1] = {0};
  skg_kernel_image images[] = {{90, SKG_IMAGE_CUBIN, bytes, 1}, {90, SKG_IMAGE_PTX, bytes, 1}};
  skg_kernel_record record{};
  record.name = "wgmma";
  record.math = SKG_MATH_WARPGROUP_MMA;
  record.images = images;
  record.image_count = 2;
  EXPECT_EQ(chooseKernelImage(record, 90), &images[0]);
  EXPECT_EQ(chooseKernelImage(record, 100), nullptr);
  EXPECT_EQ(chooseKernelImage(record, 86), nullptr);
  EXPECT_NE(whyKernelCannotRun(record, {100, 1 << 20}).find("sm_90a, for sm_90 alone"), std::string::npos);
}

} // namespace
} // namespace sparsekgen
