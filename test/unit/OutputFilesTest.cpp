// All-or-nothing output: files and bundle directories replace what was there whole, refuse what
// they must not replace, and leave nothing behind when they fail or are abandoned.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <csignal>

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sparsekgen/OutputFiles.h"

namespace sparsekgen {
namespace {

namespace fs = std::filesystem;

class OutputFilesTest : public ::testing::Test {
protected:
  void SetUp() override {
    root = fs::temp_directory_path() /
           ("sparsekgen-output-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }

  static std::string read(const fs::path &path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }
  // The names in `dir`, sorted: what a write left there.
  std::vector<std::string> entriesOf(const fs::path &dir) const {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path root;
};

TEST_F(OutputFilesTest, FileReplacesTheOldOneAndLeavesNoTemporary) {
  const fs::path path = root / "table.json";
  writeFileAtomically(path.string(), "old");
  writeFileAtomically(path.string(), [](std::ostream &out) { out << "new"; });
  EXPECT_EQ(read(path), "new");
  EXPECT_EQ(entriesOf(root), std::vector<std::string>{"table.json"});
}

TEST_F(OutputFilesTest, FileRefusesADirectoryOrADevice) {
  fs::create_directory(root / "dir");
  EXPECT_THROW(writeFileAtomically((root / "dir").string(), "x"), OutputPathError);
  EXPECT_TRUE(fs::is_directory(root / "dir"));
  if (fs::exists("/dev/null")) {
    try {
      writeFileAtomically("/dev/null", "x");
      FAIL() << "/dev/null was accepted";
    } catch (const OutputPathError &error) {
      EXPECT_NE(std::string(error.what()).find("/dev/null exists and is not a regular file"), std::string::npos);
    }
    EXPECT_TRUE(fs::is_character_file("/dev/null"));
  }
}

TEST_F(OutputFilesTest, FileInAMissingDirectoryFailsNamingThePath) {
  // As open() would: a mistyped directory is not created behind the user's back.
  const std::string path = (root / "missing" / "f.txt").string();
  try {
    writeFileAtomically(path, "x");
    FAIL() << "a missing directory was accepted";
  } catch (const OutputWriteError &error) {
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
  EXPECT_EQ(entriesOf(root), std::vector<std::string>{});
}

TEST_F(OutputFilesTest, FileWriteFailureLeavesTheOldFileAndNoTemporary) {
  const fs::path path = root / "out.bin";
  writeFileAtomically(path.string(), "kept");
  // A file-size limit makes write() fail (EFBIG) past 1 KiB, as a full disk fails with ENOSPC.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto savedHandler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    writeFileAtomically(path.string(), std::string(4096, 'x'));
  } catch (const OutputWriteError &error) {
    threw = true;
    EXPECT_NE(std::string(error.what()).find("cannot write"), std::string::npos) << error.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, savedHandler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(read(path), "kept");
  EXPECT_EQ(entriesOf(root), std::vector<std::string>{"out.bin"});
}

TEST_F(OutputFilesTest, DirectorySwapsInWhole) {
  const fs::path bundle = root / "bundle";
  {
    DirectoryReplacement first(bundle.string(), "manifest.json");
    writeFileAtomically(first.staging() + "/manifest.json", "v1");
    writeFileAtomically(first.staging() + "/old-only.txt", "v1");
    EXPECT_FALSE(fs::exists(bundle)); // nothing visible before commit
    first.commit();
  }
  {
    DirectoryReplacement second(bundle.string(), "manifest.json");
    writeFileAtomically(second.staging() + "/manifest.json", "v2");
    EXPECT_EQ(read(bundle / "manifest.json"), "v1"); // the old bundle until commit
    second.commit();
  }
  EXPECT_EQ(read(bundle / "manifest.json"), "v2");
  EXPECT_FALSE(fs::exists(bundle / "old-only.txt")) << "files of the previous bundle must not survive";
  EXPECT_EQ(entriesOf(root), std::vector<std::string>{"bundle"});
}

TEST_F(OutputFilesTest, AbandonedDirectoryLeavesTheOldOneAndNoStaging) {
  const fs::path bundle = root / "bundle";
  fs::create_directory(bundle);
  writeFileAtomically((bundle / "manifest.json").string(), "v1");
  {
    DirectoryReplacement abandoned(bundle.string(), "manifest.json");
    writeFileAtomically(abandoned.staging() + "/manifest.json", "v2");
    // destroyed without commit(): a failure or an interrupt between writing and swapping
  }
  EXPECT_EQ(read(bundle / "manifest.json"), "v1");
  EXPECT_EQ(entriesOf(root), std::vector<std::string>{"bundle"});
}

TEST_F(OutputFilesTest, DirectoryRefusesWhatIsNotABundle) {
  fs::create_directory(root / "photos");
  writeFileAtomically((root / "photos" / "cat.jpg").string(), "meow");
  EXPECT_THROW(DirectoryReplacement((root / "photos").string(), "manifest.json"), OutputPathError);
  EXPECT_EQ(read(root / "photos" / "cat.jpg"), "meow");
  writeFileAtomically((root / "file").string(), "x");
  EXPECT_THROW(DirectoryReplacement::requireReplaceable((root / "file").string(), "manifest.json"), OutputPathError);
  // An empty directory and a trailing slash are fine.
  fs::create_directory(root / "empty");
  DirectoryReplacement empty((root / "empty/").string(), "manifest.json");
  empty.commit();
  EXPECT_TRUE(fs::is_directory(root / "empty"));
  EXPECT_EQ(entriesOf(root), (std::vector<std::string>{"empty", "file", "photos"}));
}

} // namespace
} // namespace sparsekgen
