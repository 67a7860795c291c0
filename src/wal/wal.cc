#include "stemedb/wal/wal.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "segment_scan.h"
#include "stemedb/base/thread.h"

namespace stemedb::wal {

using internal::ScanSegment;
using internal::SegmentScan;

namespace {

// Segment files of `dir`, sorted by first position.
Result<std::vector<std::pair<LogPosition, std::string>>> ListSegments(Env* env, const std::filesystem::path& dir) {
  STEMEDB_ASSIGN_OR_RETURN(auto names, env->ListDir(dir));
  std::vector<std::pair<LogPosition, std::string>> segments;
  for (auto& name : names) {
    if (auto first = ParseSegmentFileName(name)) segments.emplace_back(*first, std::move(name));
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

// Reads a whole file into 8-byte aligned memory.
Result<std::vector<std::uint64_t>> ReadWhole(File& file, std::uint64_t& size) {
  STEMEDB_ASSIGN_OR_RETURN(size, file.Size());
  std::vector<std::uint64_t> words((size + 7) / 8, 0);
  auto bytes = std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(words.data()), size);
  STEMEDB_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(0, bytes));
  if (n != size) return Status::IoError(fmt::format("short read: {} of {} bytes", n, size));
  return words;
}

std::span<const std::uint8_t> AsBytes(const std::vector<std::uint64_t>& words, std::uint64_t size) {
  return {reinterpret_cast<const std::uint8_t*>(words.data()), size};
}

// Creates a new segment whose first record will be `first`, durably (file and directory).
Result<std::unique_ptr<File>> CreateSegment(Env* env, const std::filesystem::path& dir, LogPosition first) {
  const auto path = dir / SegmentFileName(first);
  STEMEDB_ASSIGN_OR_RETURN(auto file, env->Open(path, OpenMode::kCreateExclusive));
  const auto header = EncodeSegmentHeader(first);
  STEMEDB_RETURN_IF_ERROR(file->Append(header));
  STEMEDB_RETURN_IF_ERROR(file->Sync());
  STEMEDB_RETURN_IF_ERROR(env->SyncDir(dir));
  return file;
}

}  // namespace

struct Wal::State {
  std::filesystem::path dir;
  WalOptions options;
  Env* env = nullptr;
  std::unique_ptr<Env::Lock> dir_lock;
  RecoveryReport recovery;

  // Positions. Written by the writer thread; read anywhere.
  std::atomic<LogPosition> written{0};
  std::atomic<LogPosition> durable{0};
  std::atomic<LogPosition> visible{0};

  // Everything below is guarded by mu.
  mutable std::mutex mu;
  std::condition_variable work_cv;             // the writer waits for requests
  mutable std::condition_variable done_cv;     // appenders wait for their batch
  mutable std::condition_variable visible_cv;  // readers wait for new records
  // One caller's append, living on its stack. The writer completes it under `done_mu` and
  // touches it no more after unlocking, so the caller may return (destroying it) at once.
  struct Request {
    std::span<const RecordInput> records;
    std::uint64_t bytes = 0;
    Status status;
    AppendResult result;
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;

    void Complete(Status s) {
      std::scoped_lock lock(done_mu);
      status = std::move(s);
      done = true;
      done_cv.notify_one();
    }
    void Wait() {
      std::unique_lock lock(done_mu);
      done_cv.wait(lock, [&] { return done; });
    }
  };
  std::deque<Request*> pending;
  bool closing = false;
  bool sync_requested = false;
  std::uint64_t sync_generation = 0;  // bumped after each completed forced sync
  Status sticky;                      // first I/O error: nothing is acknowledged after it

  // A batch as written (headers, payloads, padding), kept in the tail cache with its records'
  // notes. Immutable once cached; readers share it.
  struct TailBatch {
    struct Record {
      RecordType type = RecordType::kInvalid;
      std::uint32_t length = 0;  // payload bytes
      std::uint64_t offset = 0;  // of the record's header in `words`, in bytes
      std::optional<RecordNote> note;
    };
    LogPosition first = 0;                   // position of records[0]
    LogPosition segment_first = 0;           // the segment the batch was written to
    std::uint64_t segment_offset = 0;        // where in it the batch starts
    std::unique_ptr<std::uint64_t[]> words;  // 8-byte aligned, so payloads are too
    std::size_t size_bytes = 0;
    std::vector<Record> records;

    LogPosition last() const noexcept { return first + records.size() - 1; }
    // What the cache is charged for it: the bytes and the bookkeeping (which dominates when
    // batches hold one small record each).
    std::size_t memory_bytes() const noexcept {
      return sizeof(TailBatch) + size_bytes + records.capacity() * sizeof(Record);
    }
    std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(words.get()); }
    const std::uint8_t* data() const noexcept { return reinterpret_cast<const std::uint8_t*>(words.get()); }
  };
  // The cached batch holding `position`, or null.
  std::shared_ptr<const TailBatch> FindCached(LogPosition position) const;

  // For reads of single records by location (Wal::ReadRecord): the first position of every
  // segment, ascending, and the segment files opened for such reads, at most kMaxReadFiles.
  // Guarded by files_mu (taken alone).
  static constexpr std::size_t kMaxReadFiles = 64;
  mutable std::mutex files_mu;
  std::vector<LogPosition> segment_firsts;
  mutable std::map<LogPosition, std::shared_ptr<File>> read_files;
  // The file of the segment holding `position`, opened for reading, and the segment's first
  // position (which names it).
  Result<std::pair<std::shared_ptr<File>, LogPosition>> ReadFileFor(LogPosition position) const;

  // The tail cache, in position order; guarded by tail_mu (taken alone, never with mu).
  mutable std::mutex tail_mu;
  std::deque<std::shared_ptr<TailBatch>> tail;
  std::size_t tail_bytes = 0;

  // Owned by the writer thread only.
  std::unique_ptr<File> segment;
  LogPosition segment_first = 1;
  std::uint64_t segment_size = 0;  // where its records end
  // The segment file's size when zeros were written past its records (WalOptions::
  // preallocate_bytes); otherwise at most segment_size.
  std::uint64_t zeroed_end = 0;
  std::vector<std::uint8_t> buffer;  // the batch being written, when it is not cached
  std::chrono::steady_clock::time_point last_sync = std::chrono::steady_clock::now();
  std::chrono::nanoseconds last_sync_duration{0};
  std::size_t last_batch_requests = 0;

  std::thread writer;

  void RunWriter();
  Status WriteBatch(std::vector<Request*>& batch);
  // An empty batch of `bytes` (a whole batch's footprint) to encode into.
  std::unique_ptr<TailBatch> NewTailBatch(std::size_t bytes);
  // Caches a written batch, dropping the oldest ones beyond tail_cache_bytes.
  void Cache(std::unique_ptr<TailBatch> batch);
  Status SyncSegment();
  // After the records now end at `end`: when they reached past the zeros written ahead, writes more.
  Status ZeroAhead(std::uint64_t end);
  // Cuts the zeros past the segment's records (before it is sealed or closed); not synced.
  Status CutZeros();
  void Publish(LogPosition written_now, bool synced);
};

void Wal::State::Publish(LogPosition written_now, bool synced) {
  written.store(written_now, std::memory_order_release);
  if (synced) durable.store(written_now, std::memory_order_release);
  visible.store(options.sync_mode == SyncMode::kNone ? written_now : durable.load(), std::memory_order_release);
}

Status Wal::State::SyncSegment() {
  const auto start = std::chrono::steady_clock::now();
  Status s = segment->Sync();
  if (s.ok()) {
    last_sync = std::chrono::steady_clock::now();
    last_sync_duration = last_sync - start;
  }
  return s;
}

Status Wal::State::ZeroAhead(std::uint64_t end) {
  if (options.preallocate_bytes == 0 || options.sync_mode == SyncMode::kNone || end <= zeroed_end) return Status::Ok();
  // As much as the segment holds, from 64 KiB up to the option: a small log stays small, and a
  // busy one extends its file in one of every few hundred batches. Never past the segment's size,
  // where it is sealed and the zeros cut.
  constexpr std::uint64_t kMinAhead = 64U << 10;
  const std::uint64_t ahead =
      std::max<std::uint64_t>(std::min<std::uint64_t>(end, options.preallocate_bytes), kMinAhead);
  const std::uint64_t target = std::min(end + ahead, std::max(end, options.segment_bytes));
  // In the binary's read-only data, so kept small: one write per 64 KiB, in one batch of every
  // few hundred.
  static constexpr std::size_t kZerosBytes = 64U << 10;
  static const std::array<std::uint8_t, kZerosBytes> kZeros{};
  for (std::uint64_t at = end; at < target;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kZerosBytes, target - at));
    STEMEDB_RETURN_IF_ERROR(segment->WriteAt(at, std::span<const std::uint8_t>(kZeros.data(), n)));
    at += n;
  }
  zeroed_end = target;
  return Status::Ok();
}

Status Wal::State::CutZeros() {
  if (zeroed_end <= segment_size) return Status::Ok();
  STEMEDB_RETURN_IF_ERROR(segment->Truncate(segment_size));
  zeroed_end = segment_size;
  return Status::Ok();
}

Status Wal::State::WriteBatch(std::vector<Request*>& batch) {
  std::uint64_t batch_bytes = 0;
  for (Request* r : batch) batch_bytes += r->bytes;

  // Roll to a new segment when this batch would overflow a segment that already holds records.
  // The old one is cut to its records and synced first, so every sealed segment holds records
  // only, wholly durable, and a reader knows it has read the last one at the end of the file.
  LogPosition next = written.load() + 1;
  if (segment_size > kSegmentHeaderSize && segment_size + batch_bytes > options.segment_bytes) {
    STEMEDB_RETURN_IF_ERROR(CutZeros().with_context("cut segment to its records before roll"));
    STEMEDB_RETURN_IF_ERROR(SyncSegment().with_context("sync segment before roll"));
    Publish(written.load(), true);
    STEMEDB_ASSIGN_OR_RETURN(segment, CreateSegment(env, dir, next));
    segment_first = next;
    {
      std::scoped_lock files(files_mu);
      segment_firsts.push_back(next);
    }
    segment_size = kSegmentHeaderSize;
    zeroed_end = kSegmentHeaderSize;
    spdlog::debug("wal: rolled to segment {}", SegmentFileName(next));
  }

  // The batch is encoded straight into the buffer the tail cache will keep, when it fits there.
  std::unique_ptr<TailBatch> cached;
  std::uint8_t* begin = nullptr;
  if (batch_bytes <= options.tail_cache_bytes) {
    cached = NewTailBatch(batch_bytes);
    cached->first = next;
    cached->segment_first = segment_first;
    cached->segment_offset = segment_size;
    begin = cached->data();
  } else {
    buffer.resize(batch_bytes);
    begin = buffer.data();
  }
  std::uint8_t* out = begin;
  const LogPosition synced_through = durable.load();
  for (Request* r : batch) {
    r->result.first = next;
    for (const RecordInput& rec : r->records) {
      RecordHeader h{rec.type, next, static_cast<std::uint32_t>(rec.payload.size()), synced_through};
      EncodeRecordHeader(h, rec.payload, std::span<std::uint8_t, kRecordHeaderSize>(out, kRecordHeaderSize));
      if (!rec.payload.empty()) std::memcpy(out + kRecordHeaderSize, rec.payload.data(), rec.payload.size());
      const std::uint64_t footprint = RecordFootprint(rec.payload.size());
      std::memset(out + kRecordHeaderSize + rec.payload.size(), 0, footprint - kRecordHeaderSize - rec.payload.size());
      if (cached) {
        cached->records.push_back({rec.type, h.payload_length, static_cast<std::uint64_t>(out - begin), rec.note});
      }
      out += footprint;
      ++next;
    }
    r->result.last = next - 1;
  }

  STEMEDB_RETURN_IF_ERROR(segment->WriteAt(segment_size, std::span<const std::uint8_t>(begin, batch_bytes)));
  segment_size += batch_bytes;
  STEMEDB_RETURN_IF_ERROR(ZeroAhead(segment_size).with_context("write zeros ahead of the records"));
  bool synced = false;
  if (options.sync_mode == SyncMode::kAlways ||
      (options.sync_mode == SyncMode::kInterval &&
       std::chrono::steady_clock::now() - last_sync >= options.sync_interval)) {
    STEMEDB_RETURN_IF_ERROR(SyncSegment());
    synced = true;
  }
  // Cached before it is published, so that a reader woken by the publication finds it there.
  if (cached) Cache(std::move(cached));
  Publish(next - 1, synced);
  const Durability durability = synced || durable.load() >= next - 1 ? Durability::kDurable : Durability::kWritten;
  for (Request* r : batch) r->result.durability = durability;
  return Status::Ok();
}

std::unique_ptr<Wal::State::TailBatch> Wal::State::NewTailBatch(std::size_t bytes) {
  auto batch = std::make_unique<TailBatch>();
  // Every byte is written before it is read (padding included): no need to zero it.
  batch->words = std::make_unique_for_overwrite<std::uint64_t[]>((bytes + 7) / 8);
  batch->size_bytes = bytes;
  return batch;
}

void Wal::State::Cache(std::unique_ptr<TailBatch> batch) {
  std::vector<std::shared_ptr<TailBatch>> dropped;  // freed outside the lock
  std::scoped_lock lock(tail_mu);
  tail_bytes += batch->memory_bytes();
  tail.push_back(std::move(batch));
  while (tail_bytes > options.tail_cache_bytes) {
    tail_bytes -= tail.front()->memory_bytes();
    dropped.push_back(std::move(tail.front()));
    tail.pop_front();
  }
}

std::shared_ptr<const Wal::State::TailBatch> Wal::State::FindCached(LogPosition position) const {
  std::scoped_lock lock(tail_mu);
  if (tail.empty() || position < tail.front()->first || position > tail.back()->last()) return nullptr;
  auto it = std::upper_bound(tail.begin(), tail.end(), position,
                             [](LogPosition p, const std::shared_ptr<TailBatch>& b) { return p < b->first; });
  return *std::prev(it);  // tail.front()->first <= position, so it != begin
}

void Wal::State::RunWriter() {
  std::vector<Request*> batch;
  std::unique_lock lock(mu);
  for (;;) {
    const bool interval_due = options.sync_mode == SyncMode::kInterval && durable.load() < written.load();
    if (pending.empty() && !sync_requested && !closing) {
      if (interval_due) {
        work_cv.wait_for(lock, options.sync_interval);
      } else {
        work_cv.wait(lock);
      }
    }
    if (pending.empty() && !sync_requested && closing) break;

    // Gather: the callers acknowledged by the last batch are typically about to append again.
    // When fewer requests wait than the last batch carried, give them a moment (at most half an
    // fdatasync) to arrive, so that they share the next fdatasync instead of waiting a whole one.
    // A lone appender never waits: its last batch had one request, and it is pending.
    if (options.sync_mode == SyncMode::kAlways && !closing && !pending.empty() &&
        pending.size() < last_batch_requests) {
      const auto gather = std::min<std::chrono::nanoseconds>(last_sync_duration / 2, std::chrono::microseconds(500));
      work_cv.wait_for(lock, gather, [&] { return pending.size() >= last_batch_requests || closing; });
    }

    batch.clear();
    std::uint64_t bytes = 0;
    while (!pending.empty() && (batch.empty() || bytes + pending.front()->bytes <= options.max_batch_bytes)) {
      bytes += pending.front()->bytes;
      batch.push_back(pending.front());
      pending.pop_front();
    }
    if (!batch.empty()) last_batch_requests = batch.size();
    const bool want_sync =
        sync_requested || (options.sync_mode == SyncMode::kInterval && durable.load() < written.load() &&
                           std::chrono::steady_clock::now() - last_sync >= options.sync_interval);
    sync_requested = false;
    const bool healthy = sticky.ok();
    lock.unlock();

    Status status = healthy ? Status::Ok() : sticky;
    if (healthy && !batch.empty()) status = WriteBatch(batch);
    if (healthy && status.ok() && want_sync && durable.load() < written.load()) {
      status = SyncSegment();
      if (status.ok()) Publish(written.load(), true);
    }

    lock.lock();
    if (!status.ok() && sticky.ok()) {
      sticky = status;
      spdlog::error("wal: {} — the WAL acknowledges nothing more until reopened", status.ToString());
    }
    if (want_sync) {
      ++sync_generation;
      done_cv.notify_all();
    }
    visible_cv.notify_all();
    // The batch's callers are woken outside `mu`: a wake-up is a system call each, and appenders
    // need `mu` to queue their next request meanwhile. The sticky status is already set, so an
    // appender that comes after the failure is refused.
    lock.unlock();
    for (Request* r : batch) r->Complete(status);
    lock.lock();
  }
}

Result<std::unique_ptr<Wal>> Wal::Open(const std::filesystem::path& dir, const WalOptions& options) {
  auto state = std::make_shared<State>();
  state->dir = dir;
  state->env = options.env != nullptr ? options.env : DefaultEnv();
  state->options = options;
  Env* env = state->env;
  const std::string where = fmt::format("open WAL {}", dir.string());
  if (options.segment_bytes < kSegmentHeaderSize + kRecordHeaderSize) {
    return Status::InvalidArgument(where + ": segment_bytes is too small");
  }

  STEMEDB_RETURN_IF_ERROR(env->CreateDirs(dir).with_context(where));
  auto lock = env->LockFile(dir / "LOCK");
  if (!lock.ok()) return std::move(lock).status().with_context(where);
  state->dir_lock = std::move(*lock);

  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return std::move(segments).status().with_context(where);
  state->recovery.segments = segments->size();

  if (segments->empty()) {
    auto file = CreateSegment(env, dir, 1);
    if (!file.ok()) return std::move(file).status().with_context(where);
    state->segment = std::move(*file);
    state->segment_size = kSegmentHeaderSize;
    state->zeroed_end = kSegmentHeaderSize;
    state->recovery.segments = 1;
  } else {
    const auto& [first, name] = segments->back();
    const std::string seg_where = fmt::format("{}: segment {}", where, name);
    auto file = env->Open(dir / name, OpenMode::kReadWrite);
    if (!file.ok()) return std::move(file).status().with_context(where);
    std::uint64_t size = 0;
    auto words = ReadWhole(**file, size);
    if (!words.ok()) return std::move(words).status().with_context(seg_where);
    const auto bytes = AsBytes(*words, size);

    auto header_first = DecodeSegmentHeader(bytes);
    if (!header_first.ok() && size <= kSegmentHeaderSize) {
      // A crash while a new segment was being created: it holds no record. Start it again.
      spdlog::warn("wal: segment {} has an incomplete header ({} bytes); recreating it", name, size);
      STEMEDB_RETURN_IF_ERROR((*file)->Truncate(0).with_context(seg_where));
      const auto fresh = EncodeSegmentHeader(first);
      STEMEDB_RETURN_IF_ERROR((*file)->Append(fresh).with_context(seg_where));
      STEMEDB_RETURN_IF_ERROR((*file)->Sync().with_context(seg_where));
      header_first = first;
      size = kSegmentHeaderSize;
    } else if (!header_first.ok()) {
      return std::move(header_first).status().with_context(seg_where + " offset 0");
    }
    if (*header_first != first) {
      return Status::Corruption(
          fmt::format("{}: header says first position {}, file name says {}", seg_where, *header_first, first));
    }

    const SegmentScan scan =
        ScanSegment(bytes.first(std::min<std::uint64_t>(size, bytes.size())), first, options.max_record_bytes);
    if (scan.problem) {
      if (scan.later_synced_through) {
        return Status::Corruption(fmt::format(
            "{} offset {}: {} at position {}, yet the record at offset {} was written after position {} was "
            "durable: acknowledged data is damaged. Refusing to open; Wal::Repair (stemedb wal-repair) "
            "truncates here and reports what it drops",
            seg_where, scan.valid_end, *scan.problem, scan.last_position + 1, scan.later_offset,
            *scan.later_synced_through));
      }
      // Within a batch no record vouches for another (each says what was durable before the
      // batch), so damage anywhere in the last batch looks torn. The caller may know better.
      if (options.acknowledged_through) {
        auto acknowledged = options.acknowledged_through();
        if (!acknowledged.ok()) {
          return std::move(acknowledged).status().with_context(seg_where + ": ask what was acknowledged");
        }
        if (*acknowledged > scan.last_position) {
          return Status::Corruption(fmt::format(
              "{} offset {}: {} at position {}, yet positions through {} are known to have been acknowledged: "
              "acknowledged data is damaged. Refusing to open; Wal::Repair (stemedb wal-repair) truncates here "
              "and reports what it drops",
              seg_where, scan.valid_end, *scan.problem, scan.last_position + 1, *acknowledged));
        }
      }
      // A torn tail: bytes of a batch that was never acknowledged. Cut it.
      state->recovery.torn_tail_bytes = size - scan.valid_end;
      state->recovery.torn_tail_segment = name;
      state->recovery.torn_tail_offset = scan.valid_end;
      spdlog::warn("wal: cutting a torn tail of {} bytes at {} offset {} ({})", size - scan.valid_end, name,
                   scan.valid_end, *scan.problem);
      STEMEDB_RETURN_IF_ERROR((*file)->Truncate(scan.valid_end).with_context(seg_where));
      STEMEDB_RETURN_IF_ERROR((*file)->Sync().with_context(seg_where));
      size = scan.valid_end;
    }
    if (scan.zero_tail_bytes > 0) {
      // Zeros written ahead of the records before a crash: the clean end. The next batches go
      // over them.
      state->recovery.preallocated_bytes = scan.zero_tail_bytes;
      spdlog::info("wal: {} ends at offset {}, before {} bytes of zeros written ahead of its records", name,
                   scan.valid_end, scan.zero_tail_bytes);
    }
    state->segment = std::move(*file);
    state->segment_first = first;
    state->segment_size = size - scan.zero_tail_bytes;
    state->zeroed_end = size;
    state->recovery.last_position = scan.last_position;
  }

  if (segments->empty()) {
    state->segment_firsts.push_back(1);
  } else {
    for (const auto& segment : *segments) state->segment_firsts.push_back(segment.first);
  }
  const LogPosition last = state->recovery.last_position;
  state->written = last;
  state->durable = last;
  state->visible = last;
  State* raw = state.get();
  state->writer = std::thread([raw] { raw->RunWriter(); });
  SetThreadName(state->writer, "stemedb-wal");
  spdlog::info("wal: opened {} at position {} ({} segments)", dir.string(), last, state->recovery.segments);
  return std::unique_ptr<Wal>(new Wal(std::move(state)));
}

Wal::Wal(std::shared_ptr<State> state) : state_(std::move(state)) {}

Wal::~Wal() {
  Status s = Close();
  if (!s.ok()) spdlog::error("wal: close: {}", s.ToString());
}

Result<AppendResult> Wal::Append(RecordType type, std::span<const std::uint8_t> payload) {
  const RecordInput record{type, payload, std::nullopt};
  return AppendBatch(std::span<const RecordInput>(&record, 1));
}

Result<AppendResult> Wal::AppendBatch(std::span<const RecordInput> records) {
  if (records.empty()) return Status::InvalidArgument("append: no records");
  State::Request request;
  request.records = records;
  for (const RecordInput& r : records) {
    if (r.type == RecordType::kInvalid) return Status::InvalidArgument("append: record type 0 is reserved");
    if (r.payload.size() > state_->options.max_record_bytes) {
      return Status::InvalidArgument(fmt::format("append: record of {} bytes exceeds the limit of {}", r.payload.size(),
                                                 state_->options.max_record_bytes));
    }
    request.bytes += RecordFootprint(r.payload.size());
  }
  std::unique_lock lock(state_->mu);
  if (!state_->sticky.ok()) {
    return Status::FailedPrecondition("WAL stopped after an earlier I/O error: " + state_->sticky.ToString());
  }
  if (state_->closing) return Status::Unavailable("WAL is closed");
  state_->pending.push_back(&request);
  lock.unlock();
  // Notified after unlocking, so that the writer, woken, does not block on `mu` at once.
  state_->work_cv.notify_one();
  request.Wait();
  if (!request.status.ok()) return std::move(request.status).with_context("append to WAL");
  return request.result;
}

Status Wal::Sync() {
  std::unique_lock lock(state_->mu);
  if (!state_->sticky.ok()) return state_->sticky;
  if (state_->closing) return Status::Unavailable("WAL is closed");
  const std::uint64_t generation = state_->sync_generation;
  state_->sync_requested = true;
  state_->work_cv.notify_one();
  state_->done_cv.wait(lock, [&] { return state_->sync_generation > generation || !state_->sticky.ok(); });
  return state_->sticky;
}

Status Wal::Close() {
  {
    std::scoped_lock lock(state_->mu);
    if (state_->closing && !state_->writer.joinable()) return state_->sticky;
    state_->closing = true;
    state_->sync_requested = true;  // a final sync, whatever the mode
    state_->work_cv.notify_one();
  }
  if (state_->writer.joinable()) state_->writer.join();
  std::scoped_lock lock(state_->mu);
  if (state_->segment && state_->sticky.ok() && state_->zeroed_end > state_->segment_size) {
    // A cleanly closed log holds records only. (Kept past a failure: the file's state is unknown,
    // and the next Open reads zeros as the end anyway.)
    Status s = state_->CutZeros();
    if (s.ok()) s = state_->segment->Sync();
    if (!s.ok()) {
      state_->sticky = std::move(s).with_context("cut the zeros after the last record at close");
      spdlog::error("wal: {}", state_->sticky.ToString());
    }
  }
  state_->segment.reset();
  state_->dir_lock.reset();
  state_->visible_cv.notify_all();
  return state_->sticky;
}

LogPosition Wal::written_position() const noexcept { return state_->written.load(std::memory_order_acquire); }
LogPosition Wal::durable_position() const noexcept { return state_->durable.load(std::memory_order_acquire); }
LogPosition Wal::visible_position() const noexcept { return state_->visible.load(std::memory_order_acquire); }
const RecoveryReport& Wal::recovery() const noexcept { return state_->recovery; }

std::size_t Wal::tail_cache_bytes() const {
  std::scoped_lock lock(state_->tail_mu);
  return state_->tail_bytes;
}
SyncMode Wal::sync_mode() const noexcept { return state_->options.sync_mode; }

LogPosition Wal::WaitForVisible(LogPosition position, std::chrono::milliseconds timeout) const {
  return WaitForVisible(position, timeout, {});
}

LogPosition Wal::WaitForVisible(LogPosition position, std::chrono::milliseconds timeout,
                                const std::function<bool()>& give_up) const {
  std::unique_lock lock(state_->mu);
  state_->visible_cv.wait_for(lock, timeout, [&] {
    return state_->visible.load() >= position || state_->closing || !state_->sticky.ok() || (give_up && give_up());
  });
  return state_->visible.load();
}

void Wal::WakeVisibleWaiters() const {
  { std::scoped_lock lock(state_->mu); }
  state_->visible_cv.notify_all();
}

Result<RepairReport> Wal::Repair(const std::filesystem::path& dir, Env* env) {
  env = env != nullptr ? env : DefaultEnv();
  const std::string where = fmt::format("repair WAL {}", dir.string());
  auto lock = env->LockFile(dir / "LOCK");
  if (!lock.ok()) return std::move(lock).status().with_context(where);
  STEMEDB_ASSIGN_OR_RETURN(auto segments, ListSegments(env, dir));
  RepairReport report;
  const WalOptions defaults;
  LogPosition expected_first = segments.empty() ? 1 : segments.front().first;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& [first, name] = segments[i];
    STEMEDB_ASSIGN_OR_RETURN(auto file, env->Open(dir / name, OpenMode::kReadWrite));
    std::uint64_t size = 0;
    STEMEDB_ASSIGN_OR_RETURN(auto words, ReadWhole(*file, size));
    const auto bytes = AsBytes(words, size);
    auto header_first = DecodeSegmentHeader(bytes);
    std::optional<std::string> problem;
    std::uint64_t cut = kSegmentHeaderSize;
    if (!header_first.ok() || *header_first != first || first != expected_first) {
      problem = "bad segment header or a gap in positions";
      cut = 0;
    } else {
      const SegmentScan scan = ScanSegment(bytes, first, defaults.max_record_bytes);
      report.last_kept_position = scan.last_position;
      expected_first = scan.last_position + 1;
      problem = scan.problem;
      cut = scan.valid_end;
    }
    if (!problem) continue;
    // Cut here; set aside every later segment (renamed, not deleted: an operator may want them).
    report.cut_segment = name;
    report.cut_offset = cut;
    report.dropped_bytes += size - cut;
    spdlog::warn("wal repair: cutting {} at offset {} ({}), dropping {} bytes", name, cut, *problem, size - cut);
    if (cut == 0) {
      STEMEDB_RETURN_IF_ERROR(file->Truncate(0));
      STEMEDB_RETURN_IF_ERROR(file->Append(EncodeSegmentHeader(expected_first)));
    } else {
      STEMEDB_RETURN_IF_ERROR(file->Truncate(cut));
    }
    STEMEDB_RETURN_IF_ERROR(file->Sync());
    for (std::size_t j = i + 1; j < segments.size(); ++j) {
      const auto from = dir / segments[j].second;
      std::error_code ec;
      const auto size_j = std::filesystem::file_size(from, ec);
      report.dropped_bytes += ec ? 0 : size_j;
      std::filesystem::rename(from, dir / (segments[j].second + ".dropped"), ec);
      if (ec) return Status::IoError(fmt::format("{}: set aside {}: {}", where, segments[j].second, ec.message()));
      report.dropped_segments.push_back(segments[j].second);
    }
    STEMEDB_RETURN_IF_ERROR(env->SyncDir(dir));
    break;
  }
  return report;
}

Result<std::pair<std::shared_ptr<File>, LogPosition>> Wal::State::ReadFileFor(LogPosition position) const {
  std::scoped_lock lock(files_mu);
  auto it = std::upper_bound(segment_firsts.begin(), segment_firsts.end(), position);
  if (it == segment_firsts.begin()) {
    return Status::Corruption(fmt::format("WAL {}: no segment holds position {}", dir.string(), position));
  }
  const LogPosition first = *std::prev(it);
  if (auto open = read_files.find(first); open != read_files.end()) return std::pair(open->second, first);
  STEMEDB_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->Open(dir / SegmentFileName(first), OpenMode::kReadOnly));
  // Reads of old records are rare next to reads of recent ones: the oldest segment goes first.
  if (read_files.size() >= kMaxReadFiles) read_files.erase(read_files.begin());
  std::shared_ptr<File> shared = std::move(file);
  read_files.emplace(first, shared);
  return std::pair(std::move(shared), first);
}

Result<std::span<const std::uint8_t>> Wal::ReadRecord(const RecordLocation& at,
                                                      std::vector<std::uint64_t>& buffer) const {
  const State& s = *state_;
  const LogPosition visible = s.visible.load(std::memory_order_acquire);
  if (at.position == 0 || at.position > visible) {
    return Status::InvalidArgument(fmt::format("WAL {}: position {} is not in the log (visible through {})",
                                               s.dir.string(), at.position, visible));
  }
  if (at.length > s.options.max_record_bytes) {
    return Status::InvalidArgument(fmt::format("WAL {}: a record of {} bytes at position {} exceeds the limit",
                                               s.dir.string(), at.length, at.position));
  }
  const std::uint64_t footprint = RecordFootprint(at.length);
  buffer.resize(footprint / 8);
  auto* const bytes = reinterpret_cast<std::uint8_t*>(buffer.data());
  const auto payload = std::span<const std::uint8_t>(bytes + kRecordHeaderSize, at.length);
  if (auto cached = s.FindCached(at.position)) {
    // Bytes that never left this process: where the writer put them, no checksum pass.
    const auto& record = cached->records[at.position - cached->first];
    if (record.length != at.length || cached->segment_offset + record.offset != at.offset) {
      return Status::Corruption(fmt::format(
          "WAL {}: the record at position {} is {} bytes at offset {} of segment {}, not {} bytes at offset {}",
          s.dir.string(), at.position, record.length, cached->segment_offset + record.offset,
          SegmentFileName(cached->segment_first), at.length, at.offset));
    }
    std::memcpy(bytes + kRecordHeaderSize, cached->data() + record.offset + kRecordHeaderSize, at.length);
    return payload;
  }
  STEMEDB_ASSIGN_OR_RETURN(auto file, s.ReadFileFor(at.position));
  // Named only on failure: formatting the name on every read cost ~3% of a 100-record scan.
  const auto where = [&] { return fmt::format("segment {} offset {}", SegmentFileName(file.second), at.offset); };
  auto whole = std::span<std::uint8_t>(bytes, footprint);
  auto n = file.first->ReadAt(at.offset, whole);
  if (!n.ok()) return std::move(n).status().with_context(where());
  if (*n != footprint) return Status::Corruption(where() + ": truncated record");
  // The checks recovery and Repair make (header, position, limit, checksum, padding), with the
  // length known: the checksum vouches for the header, whose own check is then not recomputed.
  const internal::RecordCheck check =
      internal::CheckRecordOfLength(whole, at.position, at.length, s.options.max_record_bytes);
  if (!check.header) return Status::Corruption(where() + ": " + check.problem);
  if (check.header->payload_length != at.length) {
    return Status::Corruption(
        fmt::format("{}: the record there is {} bytes, not {}", where(), check.header->payload_length, at.length));
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Reader

struct WalReader::Impl {
  std::shared_ptr<Wal::State> state;
  LogPosition start = 1;  // the first position to return
  LogPosition next = 1;   // the position of the next record in the file
  std::unique_ptr<File> file;
  std::string file_name;
  LogPosition file_first = 0;  // the first position of `file`'s segment
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> payload;  // aligned buffer for the current record
  // The cached batch the last record came from (declared after `state`, destroyed before it).
  std::shared_ptr<const Wal::State::TailBatch> cached;
  // After records read from the cache, `file` and `offset` may lag behind `next`; this is where
  // `next` is in the files: (segment first position, offset), or nullopt when `file` is there.
  std::optional<std::pair<LogPosition, std::uint64_t>> resume;

  // While stepping over the records before `start`, their headers are read through this window
  // of the file (1 MiB reads instead of one pread per record); freed once `start` is reached.
  std::vector<std::uint8_t> window;
  std::uint64_t window_offset = 0;
  std::size_t window_size = 0;

  // Opens the segment holding `position` (exact: the segment must start at it).
  Status OpenSegmentFor(LogPosition position, bool exact);
  // Reads the record header at `offset` of `file` into `out`: the bytes read (0 at the end of the
  // file). Through `window` when `buffered`.
  Result<std::size_t> ReadHeader(std::span<std::uint8_t, kRecordHeaderSize> out, bool buffered);
  // The record at `position` from the tail cache, or nullopt when it is not there.
  std::optional<WalRecord> ReadCached(LogPosition position);
};

std::optional<WalRecord> WalReader::Impl::ReadCached(LogPosition position) {
  if (!cached || position < cached->first || position > cached->last()) {
    cached = state->FindCached(position);
    if (!cached) return std::nullopt;
  }
  const auto& record = cached->records[position - cached->first];
  next = position + 1;
  resume.emplace(cached->segment_first, cached->segment_offset + record.offset + RecordFootprint(record.length));
  return WalRecord{position, record.type,
                   std::span<const std::uint8_t>(cached->data() + record.offset + kRecordHeaderSize, record.length),
                   record.note, cached->segment_offset + record.offset};
}

Result<std::size_t> WalReader::Impl::ReadHeader(std::span<std::uint8_t, kRecordHeaderSize> out, bool buffered) {
  if (!buffered) return file->ReadAt(offset, out);
  constexpr std::size_t kWindowBytes = std::size_t{1} << 20;
  if (offset < window_offset || offset + kRecordHeaderSize > window_offset + window_size) {
    window.resize(kWindowBytes);
    window_size = 0;  // until the read succeeds, the window holds nothing
    STEMEDB_ASSIGN_OR_RETURN(window_size, file->ReadAt(offset, window));
    window_offset = offset;
  }
  const std::size_t n = std::min<std::uint64_t>(kRecordHeaderSize, window_offset + window_size - offset);
  std::memcpy(out.data(), window.data() + (offset - window_offset), n);
  return n;
}

Status WalReader::Impl::OpenSegmentFor(LogPosition position, bool exact) {
  window_size = 0;  // the window held another file
  STEMEDB_ASSIGN_OR_RETURN(auto segments, ListSegments(state->env, state->dir));
  auto it = std::upper_bound(segments.begin(), segments.end(), position,
                             [](LogPosition p, const auto& segment) { return p < segment.first; });
  if (it == segments.begin() || (exact && std::prev(it)->first != position)) {
    return Status::Corruption(
        fmt::format("WAL {}: no segment starts at position {}, which is visible", state->dir.string(), position));
  }
  --it;
  STEMEDB_ASSIGN_OR_RETURN(file, state->env->Open(state->dir / it->second, OpenMode::kReadOnly));
  file_name = it->second;
  file_first = it->first;
  std::array<std::uint8_t, kSegmentHeaderSize> header{};
  STEMEDB_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(0, header));
  if (n != header.size()) return Status::Corruption(fmt::format("segment {} offset 0: truncated header", file_name));
  auto first = DecodeSegmentHeader(header);
  if (!first.ok()) return std::move(first).status().with_context(fmt::format("segment {} offset 0", file_name));
  if (*first != it->first) {
    return Status::Corruption(fmt::format("segment {} offset 0: header says first position {}", file_name, *first));
  }
  offset = kSegmentHeaderSize;
  next = *first;
  return Status::Ok();
}

WalReader::WalReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WalReader::~WalReader() = default;
LogPosition WalReader::next_position() const noexcept { return std::max(impl_->next, impl_->start); }

Result<std::optional<WalRecord>> WalReader::Next() {
  Impl& r = *impl_;
  for (;;) {
    const LogPosition want = std::max(r.next, r.start);
    if (want > r.state->visible.load(std::memory_order_acquire)) return std::optional<WalRecord>();
    if (auto record = r.ReadCached(want)) return record;
    if (r.resume) {
      // Back to the files after cached records: the next record's place is known exactly.
      const auto [segment_first, offset] = *r.resume;
      const LogPosition position = r.next;
      if (!r.file || r.file_first != segment_first) {
        STEMEDB_RETURN_IF_ERROR(r.OpenSegmentFor(segment_first, /*exact=*/true));
      }
      r.offset = offset;
      r.next = position;
      r.resume.reset();
    }
    const bool skipping = r.next < r.start;
    if (!skipping && !r.window.empty()) {
      r.window = {};
      r.window_size = 0;
    }
    std::array<std::uint8_t, kRecordHeaderSize> header_bytes{};
    STEMEDB_ASSIGN_OR_RETURN(std::size_t n, r.ReadHeader(header_bytes, skipping));
    if (n == 0) {
      // The end of this segment: the next record starts the next one.
      STEMEDB_RETURN_IF_ERROR(r.OpenSegmentFor(r.next, /*exact=*/true));
      continue;
    }
    // Built only for an error: this runs once per record the ingestor reads.
    const auto where = [&r] { return fmt::format("segment {} offset {}", r.file_name, r.offset); };
    if (n != header_bytes.size()) return Status::Corruption(where() + ": truncated record header");
    auto header = DecodeRecordHeader(header_bytes);
    if (!header.ok()) return std::move(header).status().with_context(where());
    if (header->position != r.next) {
      return Status::Corruption(
          fmt::format("{}: record has position {}, expected {}", where(), header->position, r.next));
    }
    if (header->payload_length > r.state->options.max_record_bytes) {
      return Status::Corruption(fmt::format("{}: record length {} exceeds the limit", where(), header->payload_length));
    }
    const std::uint64_t footprint = RecordFootprint(header->payload_length);
    if (header->position < r.start) {
      // Seeking forward to the first requested record: its payload is not returned, so it is
      // neither read nor checksummed here (the header, with its own check, gives the length).
      r.offset += footprint;
      ++r.next;
      continue;
    }
    r.payload.assign((footprint - kRecordHeaderSize) / 8, 0);
    auto body =
        std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(r.payload.data()), footprint - kRecordHeaderSize);
    STEMEDB_ASSIGN_OR_RETURN(n, r.file->ReadAt(r.offset + kRecordHeaderSize, body));
    if (n != body.size()) return Status::Corruption(where() + ": truncated record");
    const auto payload = std::span<const std::uint8_t>(body).first(header->payload_length);
    if (!RecordChecksumMatches(header_bytes, payload)) {
      return Status::Corruption(where() + ": record checksum mismatch");
    }
    const std::uint64_t offset = r.offset;
    r.offset += footprint;
    ++r.next;
    return std::optional<WalRecord>(WalRecord{header->position, header->type, payload, std::nullopt, offset});
  }
}

Result<std::unique_ptr<WalReader>> Wal::NewReader(LogPosition from) const {
  if (from == 0) return Status::InvalidArgument("WAL positions start at 1");
  auto impl = std::make_unique<WalReader::Impl>();
  impl->state = state_;
  impl->start = from;
  STEMEDB_RETURN_IF_ERROR(impl->OpenSegmentFor(from, /*exact=*/false));
  return std::unique_ptr<WalReader>(new WalReader(std::move(impl)));
}

}  // namespace stemedb::wal
