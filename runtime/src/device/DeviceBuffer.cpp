#include "sparsekgen/DeviceBuffer.h"

#include <utility>

#include <fmt/format.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

DeviceBuffer::DeviceBuffer(size_t bytes, CUstream stream) : bytes_(bytes), stream_(stream) {
  if (bytes > 0)
    checkCuda(cuMemAllocAsync(&pointer_, bytes, stream), "cuMemAllocAsync", fmt::format("of {} bytes", bytes));
}

void DeviceBuffer::release() {
  if (pointer_)
    cuMemFreeAsync(pointer_, stream_);
  pointer_ = 0;
  bytes_ = 0;
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : pointer_(std::exchange(other.pointer_, 0)), bytes_(std::exchange(other.bytes_, 0)),
      stream_(other.stream_) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    release();
    pointer_ = std::exchange(other.pointer_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    stream_ = other.stream_;
  }
  return *this;
}

void DeviceBuffer::upload(const void *host, size_t bytes) {
  if (bytes > bytes_)
    throw RuntimeError(fmt::format("upload of {} bytes into a device buffer of {}", bytes, bytes_));
  if (bytes) {
    // Ordered on the buffer's own stream only: a synchronous copy would go through the legacy
    // default stream and wait for everything queued there (a network's running layers).
    checkCuda(cuMemcpyHtoDAsync(pointer_, host, bytes, stream_), "cuMemcpyHtoDAsync", fmt::format("of {} bytes", bytes));
    checkCuda(cuStreamSynchronize(stream_), "cuStreamSynchronize", "after an upload");
  }
}

void DeviceBuffer::downloadTo(void *host, size_t bytes) const {
  if (bytes > bytes_)
    throw RuntimeError(fmt::format("download of {} bytes from a device buffer of {}", bytes, bytes_));
  if (bytes) {
    checkCuda(cuMemcpyDtoHAsync(host, pointer_, bytes, stream_), "cuMemcpyDtoHAsync", fmt::format("of {} bytes", bytes));
    checkCuda(cuStreamSynchronize(stream_), "cuStreamSynchronize", "after a download");
  }
}

void DeviceBuffer::fill(unsigned char value) {
  if (bytes_) {
    checkCuda(cuMemsetD8Async(pointer_, value, bytes_, stream_), "cuMemsetD8Async", fmt::format("of {} bytes", bytes_));
    checkCuda(cuStreamSynchronize(stream_), "cuStreamSynchronize", "after a fill");
  }
}

void DeviceBuffer::fill32(uint32_t value, CUstream stream) {
  if (bytes_ % 4 != 0)
    throw RuntimeError(fmt::format("fill32 of a buffer of {} bytes, not a multiple of 4", bytes_));
  if (bytes_)
    checkCuda(cuMemsetD32Async(pointer_, value, bytes_ / 4, stream), "cuMemsetD32Async",
              fmt::format("of {} bytes", bytes_));
}

} // namespace sparsekgen
