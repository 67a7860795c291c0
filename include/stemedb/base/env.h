// Env: the seam through which StemeDB touches the file system. The WAL does all its file I/O
// through an Env, so tests substitute one that injects faults (failed fsync, short writes,
// ENOSPC) or simulates a crash that loses unsynced bytes.
//
// Thread-safety: an Env is safe for concurrent use. A File is not, except that several threads may
// call ReadAt at once (pread), while nothing writes or truncates it: the WAL serializes its
// writes, its readers use their own File objects, and reads of single records share one per
// segment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stemedb/base/status.h"

namespace stemedb {

class File {
 public:
  virtual ~File() = default;
  // Appends all of `bytes` at the end of the file. A failure may leave part of `bytes` written.
  virtual Status Append(std::span<const std::uint8_t> bytes) = 0;
  // Writes all of `bytes` at `offset`, over what is there and extending the file as needed (a gap
  // before `offset` reads as zeros). A failure may leave part of `bytes` written.
  virtual Status WriteAt(std::uint64_t offset, std::span<const std::uint8_t> bytes) = 0;
  // Reads up to out.size() bytes at `offset`; returns how many were read (fewer only at EOF).
  // Safe to call from several threads at once.
  virtual Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) = 0;
  // Makes the file's data durable (fdatasync).
  virtual Status Sync() = 0;
  // Shrinks the file to `size` bytes.
  virtual Status Truncate(std::uint64_t size) = 0;
  virtual Result<std::uint64_t> Size() = 0;
};

enum class OpenMode {
  kReadOnly,         // must exist
  kReadWrite,        // must exist
  kCreateExclusive,  // must not exist; created empty, read and written
};

class Env {
 public:
  virtual ~Env() = default;
  virtual Result<std::unique_ptr<File>> Open(const std::filesystem::path& path, OpenMode mode) = 0;
  // Names (not paths) of the entries of `dir`, unsorted.
  virtual Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) = 0;
  virtual Status CreateDirs(const std::filesystem::path& dir) = 0;
  // Makes the directory's entries (new files, renames) durable.
  virtual Status SyncDir(const std::filesystem::path& dir) = 0;
  virtual bool Exists(const std::filesystem::path& path) = 0;

  // An exclusive lock on `path` (created if absent) held until the returned object is destroyed.
  // Errors: FailedPrecondition when another process (or another open in this one) holds it.
  class Lock {
   public:
    virtual ~Lock() = default;
  };
  virtual Result<std::unique_ptr<Lock>> LockFile(const std::filesystem::path& path) = 0;
};

// The real POSIX file system. Never null; lives for the whole program.
Env* DefaultEnv();

}  // namespace stemedb
