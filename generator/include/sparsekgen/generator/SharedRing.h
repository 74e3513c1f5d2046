// Layout of the multi-stage shared-memory ring that the pipelined kernels stream operands through.
// Shared by the legality rules (how many bytes) and the templates (where each stage lives).
#pragma once

#include "sparsekgen/generator/KernelSpec.h"

namespace sparsekgen {

struct SharedRingLayout {
  // Each row is padded by 16 bytes so that the 8 row addresses of one ldmatrix (or the rows of
  // scalar fragment loads) fall in distinct bank groups; without it, rows 64 or 128 bytes apart conflict.
  static constexpr int kRowPadBytes = 16;

  int aRows = 0, aRowElements = 0; // A stage: CTA M rows of CTA K (+pad) elements
  int bRows = 0, bRowElements = 0; // B stage: CTA K rows of CTA N (+pad) elements
  int elementBytes = 2;
  int stages = 0;

  // Dataflows with a masked offset schedule keep the CTA's active kernel offsets after the ring.
  int offsetListEntries = 0;

  int aStageBytes() const { return aRows * aRowElements * elementBytes; }
  int bStageBytes() const { return bRows * bRowElements * elementBytes; }
  int aRingBytes() const { return stages * aStageBytes(); }
  int ringBytes() const { return aRingBytes() + stages * bStageBytes(); }
  int totalBytes() const { return ringBytes() + offsetListEntries * 4; }
};

SharedRingLayout sharedRingLayout(const KernelSpec &spec);

} // namespace sparsekgen
