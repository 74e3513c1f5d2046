// Output written all or nothing. Every file and directory sparsekgen produces (bundles, config
// tables, parameter files, emitted kernels) appears complete or not at all: a crash, a kill, a full
// disk or a failed rename leaves the previous version in place and no partial file behind.
#pragma once

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sparsekgen {

// `path` exists and is not what sparsekgen may replace: a device, a FIFO, a directory where a file
// is wanted, a directory that is not a bundle. Bad input (exit 2).
class OutputPathError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Writing failed (no space, no permission, a failed rename). Nothing was replaced.
class OutputWriteError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Writes a file through a temporary file beside it (same directory, so the rename cannot cross file
// systems), flushed and renamed over `path`. An existing `path` must be a regular file: writing to a
// device node or a FIFO by rename would replace the node itself.
void writeFileAtomically(const std::string &path, std::string_view bytes);
void writeFileAtomically(const std::string &path, const std::function<void(std::ostream &)> &write);
// The check alone (OutputPathError), for tools that refuse a bad output before minutes of work.
void requireReplaceableFile(const std::string &path);

// A directory built in a staging directory beside `target` and swapped into place by commit():
// readers of `target` see the old contents or the new, never a mix. Until commit() the target is
// untouched; destroying an uncommitted replacement removes the staging directory.
class DirectoryReplacement {
public:
  // An existing `target` is replaced only when it is a directory that is empty or holds
  // `markerFile` (a bundle's manifest.json): a directory of other things is refused, not deleted.
  DirectoryReplacement(std::string target, std::string markerFile);
  // The same check alone, for tools that refuse a bad target before minutes of work.
  static void requireReplaceable(const std::string &target, const std::string &markerFile);
  ~DirectoryReplacement();
  DirectoryReplacement(const DirectoryReplacement &) = delete;
  DirectoryReplacement &operator=(const DirectoryReplacement &) = delete;

  // Where to write the new contents.
  const std::string &staging() const { return staging_; }
  // Swaps the staging directory into place (renameat2 RENAME_EXCHANGE where the file system allows
  // it, else two renames) and removes the previous contents.
  void commit();

private:
  std::string target_;
  std::string staging_;
  bool committed_ = false;
};

} // namespace sparsekgen
