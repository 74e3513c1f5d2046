#include "sparsekgen/DeviceBuffer.h"

#include <utility>

#include <fmt/format.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0)
    checkCuda(cuMemAlloc(&pointer_, bytes), "cuMemAlloc", fmt::format("of {} bytes", bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (pointer_)
    cuMemFree(pointer_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : pointer_(std::exchange(other.pointer_, 0)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    if (pointer_)
      cuMemFree(pointer_);
    pointer_ = std::exchange(other.pointer_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void *host, size_t bytes) {
  if (bytes > bytes_)
    throw RuntimeError(fmt::format("upload of {} bytes into a device buffer of {}", bytes, bytes_));
  if (bytes)
    checkCuda(cuMemcpyHtoD(pointer_, host, bytes), "cuMemcpyHtoD", fmt::format("of {} bytes", bytes));
}

void DeviceBuffer::downloadTo(void *host, size_t bytes) const {
  if (bytes > bytes_)
    throw RuntimeError(fmt::format("download of {} bytes from a device buffer of {}", bytes, bytes_));
  if (bytes)
    checkCuda(cuMemcpyDtoH(host, pointer_, bytes), "cuMemcpyDtoH", fmt::format("of {} bytes", bytes));
}

void DeviceBuffer::fill(unsigned char value) {
  if (bytes_)
    checkCuda(cuMemsetD8(pointer_, value, bytes_), "cuMemsetD8", fmt::format("of {} bytes", bytes_));
}

} // namespace sparsekgen
