#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>

#include "stemedb/base/env.h"

namespace stemedb {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  Status Append(std::span<const std::uint8_t> bytes) override {
    STEMEDB_ASSIGN_OR_RETURN(std::uint64_t end, Size());
    return WriteAt(end, bytes);
  }

  // No O_APPEND on the descriptor: with it, Linux's pwrite ignores the offset and appends.
  Status WriteAt(std::uint64_t offset, std::span<const std::uint8_t> bytes) override {
    while (!bytes.empty()) {
      const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(fmt::format("write {} at {}", path_, offset), errno);
      bytes = bytes.subspan(static_cast<std::size_t>(n));
      offset += static_cast<std::uint64_t>(n);
    }
    return Status::Ok();
  }

  Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(fmt::format("read {} at {}", path_, offset + done), errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Status::FromErrno(fmt::format("fdatasync {}", path_), errno);
    return Status::Ok();
  }

  Status Truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::FromErrno(fmt::format("truncate {} to {}", path_, size), errno);
    }
    return Status::Ok();
  }

  Result<std::uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(fmt::format("stat {}", path_), errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixLock final : public Env::Lock {
 public:
  PosixLock(int fd, std::string path, std::set<std::string>* held, std::mutex* mu)
      : fd_(fd), path_(std::move(path)), held_(held), mu_(mu) {}
  ~PosixLock() override {
    {
      std::scoped_lock lock(*mu_);
      held_->erase(path_);
    }
    ::close(fd_);  // releases the flock
  }
  PosixLock(const PosixLock&) = delete;
  PosixLock& operator=(const PosixLock&) = delete;

 private:
  int fd_;
  std::string path_;
  std::set<std::string>* held_;
  std::mutex* mu_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> Open(const std::filesystem::path& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kReadOnly: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreateExclusive: flags |= O_RDWR | O_CREAT | O_EXCL; break;
    }
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Status::FromErrno(fmt::format("open {}", path.string()), errno);
    return std::unique_ptr<File>(new PosixFile(fd, path.string()));
  }

  Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Status::FromErrno(fmt::format("list {}", dir.string()), errno);
    std::vector<std::string> names;
    // readdir is safe on a stream no other thread reads (readdir_r is deprecated for that reason).
    while (const dirent* e = ::readdir(d)) {  // NOLINT(concurrency-mt-unsafe)
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    return names;
  }

  Status CreateDirs(const std::filesystem::path& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IoError(fmt::format("create directory {}: {}", dir.string(), ec.message()));
    return Status::Ok();
  }

  Status SyncDir(const std::filesystem::path& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(fmt::format("open directory {}", dir.string()), errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno(fmt::format("fsync directory {}", dir.string()), err);
    return Status::Ok();
  }

  bool Exists(const std::filesystem::path& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<std::unique_ptr<Lock>> LockFile(const std::filesystem::path& path) override {
    // flock does not exclude a second open within the same process, so track those here.
    const std::string key = std::filesystem::absolute(path).lexically_normal().string();
    {
      std::scoped_lock lock(mu_);
      if (held_.count(key) != 0) {
        return Status::FailedPrecondition(fmt::format("{} is already locked by this process", path.string()));
      }
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno(fmt::format("open lock {}", path.string()), errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status::FailedPrecondition(fmt::format("{} is locked by another process", path.string()));
      }
      return Status::FromErrno(fmt::format("lock {}", path.string()), err);
    }
    std::scoped_lock lock(mu_);
    if (!held_.insert(key).second) {
      ::close(fd);
      return Status::FailedPrecondition(fmt::format("{} is already locked by this process", path.string()));
    }
    return std::unique_ptr<Lock>(new PosixLock(fd, key, &held_, &mu_));
  }

 private:
  std::mutex mu_;
  std::set<std::string> held_;
};

}  // namespace

Env* DefaultEnv() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: Env outlives every user
  return env;
}

}  // namespace stemedb
