#include "stemedb/model/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

namespace stemedb {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("stemedb-keyfile-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(KeyFileTest, WritesMode0600AndReadsBack) {
  auto key = KeyPair::Generate();
  ASSERT_TRUE(key.ok());
  const auto path = dir_ / "agent.key";
  ASSERT_TRUE(WriteKeyFile(path, *key).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  auto back = ReadKeyFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->agent(), key->agent());
  // The key read back signs exactly as the original.
  const AssertionId id(Blake3("claim"));
  EXPECT_EQ(back->Sign(id, Timestamp(5)), key->Sign(id, Timestamp(5)));
}

TEST_F(KeyFileTest, NeverOverwritesAKey) {
  auto first = KeyPair::Generate();
  auto second = KeyPair::Generate();
  const auto path = dir_ / "agent.key";
  ASSERT_TRUE(WriteKeyFile(path, *first).ok());
  EXPECT_EQ(WriteKeyFile(path, *second).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadKeyFile(path)->agent(), first->agent());
}

TEST_F(KeyFileTest, RefusesAKeyOthersCanRead) {
  auto key = KeyPair::Generate();
  const auto path = dir_ / "agent.key";
  ASSERT_TRUE(WriteKeyFile(path, *key).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto read = ReadKeyFile(path);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), StatusCode::kPermissionDenied);
    EXPECT_NE(read.status().message().find("chmod 600"), std::string::npos);
  }
}

TEST_F(KeyFileTest, RejectsMissingGarbageAndMismatchedFiles) {
  EXPECT_EQ(ReadKeyFile(dir_ / "absent.key").status().code(), StatusCode::kNotFound);

  const auto write = [&](const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
    return path;
  };
  EXPECT_EQ(ReadKeyFile(write("garbage", "hello\n")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ReadKeyFile(write("noseed", "stemedb-ed25519-key v1\nagent " + std::string(64, 'a') + "\n")).status().code(),
      StatusCode::kInvalidArgument);
  // A seed whose public key is not the stated agent.
  auto key = KeyPair::Generate();
  const std::string mismatched =
      "stemedb-ed25519-key v1\nagent " + std::string(64, '0') + "\nseed " + std::string(64, '1') + "\n";
  auto read = ReadKeyFile(write("mismatch", mismatched));
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find("does not derive"), std::string::npos);
}

}  // namespace
}  // namespace stemedb
