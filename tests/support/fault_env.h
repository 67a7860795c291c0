// FaultEnv: an Env over the real file system that injects faults and simulates power loss.
//
// - Fails the N-th Append or Sync (once, or that one and every later one), optionally after
//   writing only part of the bytes (a short write), with a chosen errno (EIO, ENOSPC, ...).
// - Remembers, per file, how many bytes were synced; SimulatePowerLoss() truncates every file to
//   its synced size plus, optionally, a random prefix of the unsynced bytes (a torn write).
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "stemedb/base/env.h"

namespace stemedb::testing {

class FaultEnv final : public Env {
 public:
  enum class Op { kAppend, kSync };
  struct Fault {
    Op op = Op::kSync;
    int at = 0;            // 1-based count of that op since the fault was armed
    bool forever = false;  // fail every later call of that op too
    int error = EIO;
    double written_fraction = 0.0;  // for appends: how much is written before failing
  };

  explicit FaultEnv(Env* base = DefaultEnv()) : base_(base) {}

  void Arm(Fault fault) {
    std::scoped_lock lock(mu_);
    fault_ = fault;
    armed_ = true;
    appends_ = syncs_ = 0;
  }
  void Disarm() {
    std::scoped_lock lock(mu_);
    armed_ = false;
  }
  int injected() const {
    std::scoped_lock lock(mu_);
    return injected_;
  }

  // Drops what was never synced; with `torn`, keeps a random prefix of it (garbage may follow).
  void SimulatePowerLoss(std::mt19937_64* torn = nullptr) {
    std::scoped_lock lock(mu_);
    for (auto& [path, synced] : synced_size_) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec || size <= synced) continue;
      std::uint64_t keep = synced;
      if (torn != nullptr) keep += (*torn)() % (size - synced + 1);
      std::filesystem::resize_file(path, keep, ec);
    }
  }

  Result<std::unique_ptr<File>> Open(const std::filesystem::path& path, OpenMode mode) override {
    STEMEDB_ASSIGN_OR_RETURN(auto file, base_->Open(path, mode));
    if (mode == OpenMode::kReadOnly) return file;
    std::scoped_lock lock(mu_);
    STEMEDB_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
    // What exists at open is taken as durable (it was there before this Env saw it).
    synced_size_[path.string()] = size;
    return std::unique_ptr<File>(new FaultFile(this, std::move(file), path.string()));
  }
  Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) override { return base_->ListDir(dir); }
  Status CreateDirs(const std::filesystem::path& dir) override { return base_->CreateDirs(dir); }
  Status SyncDir(const std::filesystem::path& dir) override { return base_->SyncDir(dir); }
  bool Exists(const std::filesystem::path& path) override { return base_->Exists(path); }
  Result<std::unique_ptr<Lock>> LockFile(const std::filesystem::path& path) override { return base_->LockFile(path); }

 private:
  class FaultFile final : public File {
   public:
    FaultFile(FaultEnv* env, std::unique_ptr<File> base, std::string path)
        : env_(env), base_(std::move(base)), path_(std::move(path)) {}
    Status Append(std::span<const std::uint8_t> bytes) override {
      Fault fault;
      if (env_->ShouldFail(Op::kAppend, &fault)) {
        const auto partial = static_cast<std::size_t>(static_cast<double>(bytes.size()) * fault.written_fraction);
        if (partial > 0) base_->Append(bytes.first(partial)).IgnoreError();
        return Status::FromErrno(fmt::format("injected write failure on {}", path_), fault.error);
      }
      return base_->Append(bytes);
    }
    Result<std::size_t> ReadAt(std::uint64_t offset, std::span<std::uint8_t> out) override {
      return base_->ReadAt(offset, out);
    }
    Status Sync() override {
      Fault fault;
      if (env_->ShouldFail(Op::kSync, &fault)) {
        return Status::FromErrno(fmt::format("injected fdatasync failure on {}", path_), fault.error);
      }
      STEMEDB_RETURN_IF_ERROR(base_->Sync());
      STEMEDB_ASSIGN_OR_RETURN(std::uint64_t size, base_->Size());
      env_->MarkSynced(path_, size);
      return Status::Ok();
    }
    Status Truncate(std::uint64_t size) override {
      STEMEDB_RETURN_IF_ERROR(base_->Truncate(size));
      env_->ClampSynced(path_, size);
      return Status::Ok();
    }
    Result<std::uint64_t> Size() override { return base_->Size(); }

   private:
    FaultEnv* env_;
    std::unique_ptr<File> base_;
    std::string path_;
  };

  bool ShouldFail(Op op, Fault* out) {
    std::scoped_lock lock(mu_);
    if (!armed_ || fault_.op != op) return false;
    const int n = op == Op::kAppend ? ++appends_ : ++syncs_;
    if (n == fault_.at || (fault_.forever && n > fault_.at)) {
      ++injected_;
      *out = fault_;
      return true;
    }
    return false;
  }
  void MarkSynced(const std::string& path, std::uint64_t size) {
    std::scoped_lock lock(mu_);
    synced_size_[path] = size;
  }
  void ClampSynced(const std::string& path, std::uint64_t size) {
    std::scoped_lock lock(mu_);
    auto& s = synced_size_[path];
    s = std::min(s, size);
  }

  Env* base_;
  mutable std::mutex mu_;
  Fault fault_;
  bool armed_ = false;
  int appends_ = 0;
  int syncs_ = 0;
  int injected_ = 0;
  std::map<std::string, std::uint64_t> synced_size_;
};

}  // namespace stemedb::testing
