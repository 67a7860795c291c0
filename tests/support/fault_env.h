// FaultEnv: an Env over the real file system that injects faults and simulates power loss.
//
// - Fails the N-th write (Append or WriteAt) or Sync (once, or that one and every later one),
//   optionally after writing only part of the bytes (a short write), with a chosen errno (EIO,
//   ENOSPC, ...).
// - Remembers, per file, what each write since the file's last Sync replaced. SimulatePowerLoss()
//   undoes those writes (restoring what they wrote over and the file's size before them), or,
//   with `torn`, keeps a random prefix of them in write order and undoes the rest: a torn write.
//   Truncation counts as durable at once.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "stemedb/base/env.h"

namespace stemedb::testing {

class FaultEnv final : public Env {
 public:
  enum class Op { kWrite, kSync };
  struct Fault {
    Op op = Op::kSync;
    int at = 0;            // 1-based count of that op since the fault was armed
    bool forever = false;  // fail every later call of that op too
    int error = EIO;
    double written_fraction = 0.0;  // for writes: how much is written before failing
  };

  explicit FaultEnv(Env* base = DefaultEnv()) : base_(base) {}

  void Arm(Fault fault) {
    std::scoped_lock lock(mu_);
    fault_ = fault;
    armed_ = true;
    writes_ = syncs_ = 0;
  }
  void Disarm() {
    std::scoped_lock lock(mu_);
    armed_ = false;
  }
  int injected() const {
    std::scoped_lock lock(mu_);
    return injected_;
  }

  // Drops what was never synced; with `torn`, keeps a random prefix of it.
  void SimulatePowerLoss(std::mt19937_64* torn = nullptr) {
    std::scoped_lock lock(mu_);
    for (auto& [path, writes] : unsynced_) {
      std::uint64_t total = 0;
      for (const Write& w : writes) total += w.length;
      const std::uint64_t keep = torn != nullptr ? (*torn)() % (total + 1) : 0;
      std::uint64_t start = total;
      auto file = base_->Open(path, OpenMode::kReadWrite);
      if (!file.ok()) continue;  // deleted or renamed since: nothing to undo
      for (auto it = writes.rbegin(); it != writes.rend(); ++it) {
        start -= it->length;
        if (it->length == 0) continue;  // truncated away
        const std::uint64_t kept = std::clamp<std::uint64_t>(keep > start ? keep - start : 0, 0, it->length);
        if (kept == it->length) break;  // this write and every earlier one survive whole
        if (kept < it->replaced.size()) {
          (*file)->WriteAt(it->offset + kept, std::span(it->replaced).subspan(kept)).IgnoreError();
        }
        (*file)->Truncate(std::max(it->size_before, it->offset + kept)).IgnoreError();
      }
    }
    unsynced_.clear();
  }

  Result<std::unique_ptr<File>> Open(const std::filesystem::path& path, OpenMode mode) override {
    STEMEDB_ASSIGN_OR_RETURN(auto file, base_->Open(path, mode));
    if (mode == OpenMode::kReadOnly) return file;
    std::scoped_lock lock(mu_);
    // What exists at open is taken as durable (it was there before this Env saw it).
    unsynced_.erase(path.string());
    return std::unique_ptr<File>(new FaultFile(this, std::move(file), path.string()));
  }
  Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) override { return base_->ListDir(dir); }
  Status CreateDirs(const std::filesystem::path& dir) override { return base_->CreateDirs(dir); }
  Status SyncDir(const std::filesystem::path& dir) override { return base_->SyncDir(dir); }
  bool Exists(const std::filesystem::path& path) override { return base_->Exists(path); }
  Result<std::unique_ptr<Lock>> LockFile(const std::filesystem::path& path) override { return base_->LockFile(path); }

 private:
  // A write not yet synced: where, how many bytes it wrote, what it wrote over (the part that lay
  // inside the file) and the file's size before it.
  struct Write {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    std::vector<std::uint8_t> replaced;
    std::uint64_t size_before = 0;
  };

  class FaultFile final : public File {
   public:
    FaultFile(FaultEnv* env, std::unique_ptr<File> base, std::string path)
        : env_(env), base_(std::move(base)), path_(std::move(path)) {}
    Status Append(std::span<const std::uint8_t> bytes) override {
      STEMEDB_ASSIGN_OR_RETURN(std::uint64_t end, base_->Size());
      return WriteAt(end, bytes);
    }
    Status WriteAt(std::uint64_t offset, std::span<const std::uint8_t> bytes) override {
      Fault fault;
      const bool fail = env_->ShouldFail(Op::kWrite, &fault);
      const auto written =
          fail ? bytes.first(static_cast<std::size_t>(static_cast<double>(bytes.size()) * fault.written_fraction))
               : bytes;
      if (!written.empty()) {
        STEMEDB_RETURN_IF_ERROR(Remember(offset, written.size()));
        STEMEDB_RETURN_IF_ERROR(base_->WriteAt(offset, written));
      }
      if (fail) return Status::FromErrno(fmt::format("injected write failure on {}", path_), fault.error);
      return Status::Ok();
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
      env_->MarkSynced(path_);
      return Status::Ok();
    }
    Status Truncate(std::uint64_t size) override {
      STEMEDB_RETURN_IF_ERROR(base_->Truncate(size));
      env_->Truncated(path_, size);
      return Status::Ok();
    }
    Result<std::uint64_t> Size() override { return base_->Size(); }

   private:
    // Records what a write of `length` bytes at `offset` is about to replace.
    Status Remember(std::uint64_t offset, std::uint64_t length) {
      Write w;
      w.offset = offset;
      w.length = length;
      STEMEDB_ASSIGN_OR_RETURN(w.size_before, base_->Size());
      if (offset < w.size_before) {
        w.replaced.resize(static_cast<std::size_t>(std::min(length, w.size_before - offset)));
        STEMEDB_ASSIGN_OR_RETURN(std::size_t n, base_->ReadAt(offset, w.replaced));
        w.replaced.resize(n);
      }
      env_->Remember(path_, std::move(w));
      return Status::Ok();
    }

    FaultEnv* env_;
    std::unique_ptr<File> base_;
    std::string path_;
  };

  bool ShouldFail(Op op, Fault* out) {
    std::scoped_lock lock(mu_);
    if (!armed_ || fault_.op != op) return false;
    const int n = op == Op::kWrite ? ++writes_ : ++syncs_;
    if (n == fault_.at || (fault_.forever && n > fault_.at)) {
      ++injected_;
      *out = fault_;
      return true;
    }
    return false;
  }
  void Remember(const std::string& path, Write w) {
    std::scoped_lock lock(mu_);
    unsynced_[path].push_back(std::move(w));
  }
  void MarkSynced(const std::string& path) {
    std::scoped_lock lock(mu_);
    unsynced_.erase(path);
  }
  // Nothing past `size` can come back: clip the writes to it.
  void Truncated(const std::string& path, std::uint64_t size) {
    std::scoped_lock lock(mu_);
    auto it = unsynced_.find(path);
    if (it == unsynced_.end()) return;
    for (Write& w : it->second) {
      w.length = w.offset < size ? std::min(w.length, size - w.offset) : 0;
      w.replaced.resize(std::min<std::size_t>(w.replaced.size(), w.length));
      w.size_before = std::min(w.size_before, size);
    }
  }

  Env* base_;
  mutable std::mutex mu_;
  Fault fault_;
  bool armed_ = false;
  int writes_ = 0;
  int syncs_ = 0;
  int injected_ = 0;
  std::map<std::string, std::vector<Write>> unsynced_;
};

}  // namespace stemedb::testing
