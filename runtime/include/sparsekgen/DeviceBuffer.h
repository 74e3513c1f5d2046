// Owning device memory, stream-ordered (cuMemAllocAsync / cuMemFreeAsync on the buffer's stream,
// from the device's memory pool, so the many small buffers of map building cost no synchronisation),
// with typed copies to and from the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <cuda.h>

namespace sparsekgen {

class DeviceBuffer {
public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes, CUstream stream = nullptr);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  template <typename T>
  static DeviceBuffer from(const std::vector<T> &host, CUstream stream = nullptr) {
    DeviceBuffer buffer(host.size() * sizeof(T), stream);
    buffer.upload(host.data(), host.size() * sizeof(T));
    return buffer;
  }
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> host(bytes_ / sizeof(T));
    downloadTo(host.data(), host.size() * sizeof(T));
    return host;
  }

  void upload(const void *host, size_t bytes);
  void downloadTo(void *host, size_t bytes) const;
  // Fills every byte with `value` (0xFF makes fp16 NaNs: the poison that reveals unwritten outputs).
  void fill(unsigned char value);
  // Fills every 32-bit word with `value` on `stream` (-1 for empty maps).
  void fill32(uint32_t value, CUstream stream);

  CUdeviceptr get() const { return pointer_; }
  size_t bytes() const { return bytes_; }

private:
  void release();
  CUdeviceptr pointer_ = 0;
  size_t bytes_ = 0;
  CUstream stream_ = nullptr;
};

} // namespace sparsekgen
