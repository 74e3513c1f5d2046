#include "sparsekgen/OutputFiles.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sparsekgen {

namespace fs = std::filesystem;

namespace {

// `dir/.name.partial-<pid>-<n>`: hidden, unique per process and call, and in the target's own
// directory so that rename() never crosses a file system.
fs::path siblingName(const fs::path &target, const char *purpose) {
  static std::atomic<unsigned> counter{0};
  return target.parent_path() /
         fmt::format(".{}.{}-{}-{}", target.filename().string(), purpose, ::getpid(), counter++);
}

// "out/" and "out/." name the directory "out".
fs::path normalised(const std::string &path) {
  fs::path result = fs::path(path).lexically_normal();
  if (result.has_filename())
    return result;
  result = result.parent_path();
  return result.empty() ? fs::path(".") : result;
}

std::string systemMessage() { return std::strerror(errno); }

void writeAll(int fd, std::string_view bytes, const fs::path &partial) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0)
      throw OutputWriteError(fmt::format("cannot write {}: {}", partial.string(), systemMessage()));
    bytes.remove_prefix(static_cast<size_t>(written));
  }
}

} // namespace

void requireReplaceableFile(const std::string &pathText) {
  std::error_code error;
  auto status = fs::status(normalised(pathText), error);
  if (fs::exists(status) && !fs::is_regular_file(status))
    throw OutputPathError(fmt::format("{} exists and is not a regular file (a directory, device or FIFO); "
                                      "refusing to replace it",
                                      pathText));
}

void writeFileAtomically(const std::string &pathText, std::string_view bytes) {
  requireReplaceableFile(pathText);
  const fs::path path = normalised(pathText);
  std::error_code error;
  const fs::path partial = siblingName(path, "partial");
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0)
    throw OutputWriteError(fmt::format("cannot write {}: {}", pathText, systemMessage()));
  try {
    writeAll(fd, bytes, partial);
    // Durable before it is visible: a crash after the rename must not leave an empty file.
    if (::fsync(fd) != 0)
      throw OutputWriteError(fmt::format("cannot write {}: {}", pathText, systemMessage()));
  } catch (...) {
    ::close(fd);
    fs::remove(partial, error);
    throw;
  }
  if (::close(fd) != 0 || std::rename(partial.c_str(), path.c_str()) != 0) {
    std::string message = systemMessage();
    fs::remove(partial, error);
    throw OutputWriteError(fmt::format("cannot write {}: {}", pathText, message));
  }
}

void writeFileAtomically(const std::string &path, const std::function<void(std::ostream &)> &write) {
  std::ostringstream buffer;
  write(buffer);
  writeFileAtomically(path, buffer.view());
}

void DirectoryReplacement::requireReplaceable(const std::string &targetText, const std::string &markerFile) {
  const fs::path target = normalised(targetText);
  std::error_code error;
  auto status = fs::status(target, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status))
      throw OutputPathError(fmt::format("{} exists and is not a directory; refusing to replace it", targetText));
    if (!fs::is_empty(target, error) && !fs::exists(target / markerFile))
      throw OutputPathError(fmt::format("{} is a directory that holds other files and no {}; refusing to replace "
                                        "it (choose a new or empty directory)",
                                        targetText, markerFile));
  }
}

DirectoryReplacement::DirectoryReplacement(std::string targetText, std::string markerFile) {
  requireReplaceable(targetText, markerFile);
  const fs::path target = normalised(targetText);
  target_ = target.string();
  std::error_code error;
  if (!target.parent_path().empty())
    fs::create_directories(target.parent_path(), error);
  staging_ = siblingName(target, "partial").string();
  if (!fs::create_directory(staging_, error) || error)
    throw OutputWriteError(fmt::format("cannot create a directory beside {}: {}", targetText,
                                       error ? error.message() : std::string("it exists")));
}

DirectoryReplacement::~DirectoryReplacement() {
  if (!committed_) {
    std::error_code error;
    fs::remove_all(staging_, error);
  }
}

void DirectoryReplacement::commit() {
  std::error_code error;
  if (!fs::exists(target_)) {
    if (std::rename(staging_.c_str(), target_.c_str()) != 0)
      throw OutputWriteError(fmt::format("cannot move {} into place: {}", target_, systemMessage()));
    committed_ = true;
    return;
  }
  if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) == 0) {
    committed_ = true;
    fs::remove_all(staging_, error); // now the previous contents
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    throw OutputWriteError(fmt::format("cannot move {} into place: {}", target_, systemMessage()));
  // A file system without an atomic exchange: the target is briefly absent, never mixed.
  const fs::path previous = siblingName(target_, "previous");
  if (std::rename(target_.c_str(), previous.c_str()) != 0)
    throw OutputWriteError(fmt::format("cannot move {} aside: {}", target_, systemMessage()));
  if (std::rename(staging_.c_str(), target_.c_str()) != 0) {
    std::string message = systemMessage();
    std::rename(previous.c_str(), target_.c_str());
    throw OutputWriteError(fmt::format("cannot move {} into place: {}", target_, message));
  }
  committed_ = true;
  fs::remove_all(previous, error);
}

} // namespace sparsekgen
