#include "import_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli_common.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "stemedb/model/key_file.h"
#include "stemedb/model/signing.h"
#include "stemedb/model/validate.h"
#include "stemedb/rdf/rdf.h"

namespace stemedb::cli {
namespace {

struct ImportFlags {
  std::string db;
  std::vector<std::string> files;
  std::string format = "jsonl";
  std::vector<std::string> keys;
  bool skip_invalid = false;
  std::size_t batch = 1000;
  float confidence = 1.0F;
};

struct Counts {
  std::uint64_t lines = 0, stored = 0, already = 0, signatures = 0, skipped = 0;
};

// One envelope waiting in the batch, and where it came from.
struct Pending {
  Envelope envelope;
  std::string where;  // "file:line"
};

class Importer {
 public:
  Importer(db::Database& database, const ImportFlags& flags, std::vector<KeyPair> keys)
      : db_(database), flags_(flags), keys_(std::move(keys)), tty_(::isatty(STDERR_FILENO) != 0) {
    for (const auto& k : keys_) signers_.push_back(&k);
  }

  // Returns false when the import must stop (the error was reported).
  bool Line(const std::string& where, const std::string& line) { return Add(where, Parse(line)); }

  // An RDF statement becomes a claim signed here; an N-Quads graph name is its evidence.
  bool Statement(const std::string& where, rdf::Statement&& st) {
    Assertion a;
    a.subject = std::move(st.subject);
    a.predicate = std::move(st.predicate);
    a.object = std::move(st.object);
    a.confidence = flags_.confidence;
    if (st.graph) a.source_hash = Blake3(*st.graph);
    Result<Envelope> envelope = [&]() -> Result<Envelope> {
      STEMEDB_RETURN_IF_ERROR(ValidateAssertion(a));
      STEMEDB_ASSIGN_OR_RETURN(SignedAssertion s, SignAssertion(std::move(a), signers_, signed_at_));
      return Envelope{std::move(s), std::move(st.graph)};
    }();
    return Add(where, std::move(envelope));
  }

  bool Add(const std::string& where, Result<Envelope> envelope) {
    ++counts_.lines;
    if (!envelope.ok()) {
      if (flags_.skip_invalid) return Skip(where, envelope.status());
      // Lines before this one are stored first; one of them may itself be the first bad line.
      if (!Flush()) return false;
      return Stop(where, envelope.status());
    }
    pending_.push_back({std::move(*envelope), where});
    return pending_.size() < flags_.batch || Flush();
  }

  // Submits what is pending. On a refused envelope: everything before it is submitted (durable),
  // then either the import stops or the envelope is skipped and the rest retried.
  bool Flush() {
    while (!pending_.empty()) {
      std::vector<Envelope> batch;
      for (const auto& p : pending_) batch.push_back(p.envelope);
      auto results = db_.SubmitBatch(batch);
      if (results.ok()) {
        Count(*results);
        pending_.clear();
        Progress();
        return true;
      }
      const std::size_t bad = BadIndex(results.status());
      if (bad >= pending_.size()) return Fail(results.status()) == 0;  // not an envelope's fault: I/O
      std::vector<Envelope> before(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(bad));
      if (!before.empty()) {
        auto stored = db_.SubmitBatch(before);
        if (!stored.ok()) return Fail(stored.status()) == 0;
        Count(*stored);
      }
      const std::string where = pending_[bad].where;
      if (!flags_.skip_invalid) {
        pending_.clear();  // lines after the first bad one are not written
        return Stop(where, StripEnvelopeContext(results.status()));
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(bad) + 1);
      Skip(where, StripEnvelopeContext(results.status()));
    }
    return true;
  }

  // Ends the import on an error that is no single claim's (an RDF syntax error): what came
  // before it is stored first.
  void Refuse(const std::string& where, Status why) {
    if (!Flush()) return;
    if (tty_) std::fprintf(stderr, "\n");
    Fail(std::move(why).with_context(where));
    std::fprintf(stderr,
                 "stemedb: stopped; every statement before the error is stored (a syntax error ends an RDF "
                 "import, even with --skip-invalid).\n");
  }

  int Finish(std::chrono::steady_clock::time_point start) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (tty_) std::fprintf(stderr, "\n");
    std::fprintf(stderr,
                 "imported %llu lines in %.2f s: %llu new assertions, %llu already stored, %llu signatures added, "
                 "%llu skipped\n",
                 static_cast<unsigned long long>(counts_.lines), seconds,
                 static_cast<unsigned long long>(counts_.stored), static_cast<unsigned long long>(counts_.already),
                 static_cast<unsigned long long>(counts_.signatures), static_cast<unsigned long long>(counts_.skipped));
    // A bulk load leaves the index files in several sorted runs, and every read seeks in each
    // until RocksDB's own compactions catch up (or never, once writes stop). Compaction is the
    // operator's step, not automatic (docs/storage.md, "Compaction on demand"): say so here, where
    // the load ends. The memtable, flushed at close, may add one more run.
    const std::uint64_t runs = db_.stats().kv_sorted_runs;
    if (counts_.stored + counts_.signatures > 0 && runs >= 2) {
      std::fprintf(stderr,
                   "the indexes are in %llu sorted runs, and every read seeks in each: `stemedb compact --db %s` "
                   "merges them into one\n",
                   static_cast<unsigned long long>(runs), flags_.db.c_str());
    }
    return 0;
  }

 private:
  Result<Envelope> Parse(const std::string& line) {
    STEMEDB_ASSIGN_OR_RETURN(nlohmann::json json, ParseJson(line));
    if (json.is_object() && json.contains("assertion")) return EnvelopeFromJson(json);
    // An unsigned claim: signed here.
    if (signers_.empty()) {
      return Status::InvalidArgument("an unsigned assertion needs --key to sign it (or a signed envelope)");
    }
    STEMEDB_ASSIGN_OR_RETURN(ParsedAssertion parsed, AssertionFromJson(json));
    STEMEDB_RETURN_IF_ERROR(ValidateAssertion(parsed.assertion));
    STEMEDB_ASSIGN_OR_RETURN(SignedAssertion s, SignAssertion(std::move(parsed.assertion), signers_, Timestamp::Now()));
    return Envelope{std::move(s), std::move(parsed.evidence)};
  }

  // SubmitBatch names a refused envelope as the context "envelope N".
  static std::size_t BadIndex(const Status& s) {
    for (const auto& c : s.context()) {
      if (c.rfind("envelope ", 0) == 0) return std::stoull(c.substr(9));
    }
    return s.code() == StatusCode::kInvalidArgument ? 0 : static_cast<std::size_t>(-1);
  }
  static Status StripEnvelopeContext(const Status& s) {
    Status out(s.code(), s.message());
    return out.with_field(s.field());
  }

  // The first bad line ends the import; everything before it is already stored.
  bool Stop(const std::string& where, Status why) {
    if (tty_) std::fprintf(stderr, "\n");
    Fail(std::move(why).with_context(where));
    std::fprintf(stderr, "stemedb: stopped at %s; every line before it is stored. --skip-invalid goes on.\n",
                 where.c_str());
    return false;
  }

  bool Skip(const std::string& where, Status why) {
    std::fprintf(stderr, "%sstemedb: skipped: %s\n", tty_ ? "\n" : "", why.with_context(where).ToString().c_str());
    ++counts_.skipped;
    return true;
  }

  void Count(const std::vector<db::SubmitResult>& results) {
    for (const auto& r : results) {
      (r.already_stored ? counts_.already : counts_.stored) += 1;
      counts_.signatures += r.new_signatures;
    }
  }

  // "12000 lines, 5400 lines/s, 37%, ETA 11 s" on one line of a TTY; the share and ETA come from
  // the bytes read of the files' total (unknown for stdin).
  void Progress() {
    if (!tty_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string line = fmt::format("\r{} lines, {:.0f} lines/s", counts_.lines,
                                   seconds > 0 ? static_cast<double>(counts_.lines) / seconds : 0.0);
    if (total_bytes_ > 0 && bytes_read_ > 0) {
      const double done = std::min(1.0, static_cast<double>(bytes_read_) / static_cast<double>(total_bytes_));
      line += fmt::format(", {:.0f}%, ETA {:.0f} s   ", 100 * done, seconds * (1 - done) / done);
    }
    std::fputs(line.c_str(), stderr);
  }

 public:
  // For the progress line: the bytes of all input files, and those read so far.
  void SetTotalBytes(std::uint64_t total) { total_bytes_ = total; }
  void AddBytesRead(std::uint64_t n) { bytes_read_ += n; }

 private:
  db::Database& db_;
  const ImportFlags& flags_;
  std::vector<KeyPair> keys_;
  std::vector<const KeyPair*> signers_;
  bool tty_;
  std::vector<Pending> pending_;
  Counts counts_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t total_bytes_ = 0, bytes_read_ = 0;
  // Every claim signed by one import carries the same signing time.
  Timestamp signed_at_ = Timestamp::Now();
};

int Import(const ImportFlags& flags) {
  std::optional<rdf::Syntax> syntax;
  if (flags.format != "jsonl") {
    auto parsed = rdf::ParseSyntax(flags.format);
    if (!parsed.ok()) {
      return Fail(Status::InvalidArgument(
          fmt::format("--format {}: expected jsonl, ntriples, nquads or turtle", flags.format)));
    }
    syntax = *parsed;
    if (flags.keys.empty()) return Fail(Status::InvalidArgument("RDF is imported as claims signed here: give --key"));
  }
  if (!(flags.confidence >= 0.0F && flags.confidence <= 1.0F)) {
    return Fail(Status::InvalidArgument("--confidence must be in [0, 1]"));
  }
  if (flags.batch == 0) return Fail(Status::InvalidArgument("--batch must be at least 1"));
  std::vector<KeyPair> keys;
  for (const auto& path : flags.keys) {
    auto key = ReadKeyFile(path);
    if (!key.ok()) return Fail(key.status());
    keys.push_back(std::move(*key));
  }
  for (const auto& file : flags.files) {
    if (file != "-" && !std::filesystem::exists(file)) return Fail(Status::NotFound("no such file: " + file));
  }
  // Caught up first: indexes still being rebuilt would make every duplicate look new, and writes
  // beyond the ingestor's bound would wait on the rebuild anyway (database.h, Backpressure).
  auto database = OpenCaughtUp(flags.db);
  if (!database.ok()) return Fail(database.status());
  const auto start = std::chrono::steady_clock::now();
  Importer importer(**database, flags, std::move(keys));
  std::uint64_t total_bytes = 0;
  for (const auto& file : flags.files) {
    std::error_code ec;
    if (file != "-") total_bytes += std::filesystem::file_size(file, ec);
  }
  importer.SetTotalBytes(total_bytes);
  for (const auto& file : flags.files) {
    if (syntax) {
      // Statements are handed over as they are parsed; a syntax error ends the import after
      // everything before it is stored, like a bad JSON line.
      bool stopped = false;
      Status read = rdf::ReadFile(file, *syntax, [&](rdf::Statement&& st) {
        const std::string where = fmt::format("{}:{}", file, st.line);
        if (!importer.Statement(where, std::move(st))) {
          stopped = true;
          return Status::FailedPrecondition("import stopped");  // already reported
        }
        return Status::Ok();
      });
      if (stopped) return kFailure;
      if (!read.ok()) {
        importer.Refuse(file, std::move(read));
        return kFailure;
      }
      // serd does not say how far it has read: RDF progress advances a whole file at a time.
      std::error_code ec;
      if (file != "-") importer.AddBytesRead(std::filesystem::file_size(file, ec));
      continue;
    }
    std::ifstream in_file;
    if (file != "-") in_file.open(file);
    std::istream& in = file == "-" ? std::cin : in_file;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
      importer.AddBytesRead(line.size() + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!importer.Line(fmt::format("{}:{}", file, number), line)) return kFailure;
    }
  }
  if (!importer.Flush()) return kFailure;
  return importer.Finish(start);
}

}  // namespace

void AddImportCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<ImportFlags>();
  auto* cmd = app.add_subcommand(
      "import", "import JSON lines (signed envelopes, or claims signed with --key) or RDF (signed with --key)");
  cmd->add_option("--db", flags->db, "database directory")->required();
  cmd->add_option("--format", flags->format, "jsonl, ntriples, nquads or turtle")->capture_default_str();
  cmd->add_option("--confidence", flags->confidence, "RDF: the confidence of every imported claim")
      ->capture_default_str();
  cmd->add_option("--key", flags->keys, "key file to sign unsigned claims; repeat for co-signers");
  cmd->add_flag("--skip-invalid", flags->skip_invalid, "report bad lines and go on (default: stop at the first)");
  cmd->add_option("--batch", flags->batch, "envelopes per durable batch")->capture_default_str();
  cmd->add_option("files", flags->files, "files to import (- for stdin)")->required();
  cmd->callback([&run, flags] { run = [flags] { return Import(*flags); }; });
}

}  // namespace stemedb::cli
