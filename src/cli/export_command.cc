#include "export_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli_common.h"
#include "stemedb/base/utf8.h"
#include "stemedb/db/database.h"
#include "stemedb/model/json.h"
#include "stemedb/rdf/rdf.h"

namespace stemedb::cli {
namespace {

struct ExportFlags {
  std::string db;
  std::string format = "jsonl";
  std::string lens = "consensus";
  std::string authority;
  std::string out;
};

// Where the export goes: stdout, or a file that appears complete or not at all (written beside
// it, flushed, then renamed over it).
class Output {
 public:
  static Result<std::unique_ptr<Output>> Open(const std::string& path) {
    auto out = std::unique_ptr<Output>(new Output(path));
    if (!path.empty()) {
      out->file_.open(out->temp_, std::ios::binary | std::ios::trunc);
      if (!out->file_) return Status::IoError(fmt::format("cannot write {}", out->temp_.string()));
    }
    return out;
  }
  ~Output() {
    if (!committed_ && !path_.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_, ec);
    }
  }
  Status Write(std::string_view text) {
    if (path_.empty()) {
      if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) return Status::IoError("write stdout");
    } else {
      file_.write(text.data(), static_cast<std::streamsize>(text.size()));
      if (!file_) return Status::IoError(fmt::format("write {}", temp_.string()));
    }
    return Status::Ok();
  }
  Status Commit() {
    if (path_.empty()) return std::fflush(stdout) == 0 ? Status::Ok() : Status::IoError("flush stdout");
    file_.close();
    if (!file_) return Status::IoError(fmt::format("write {}", temp_.string()));
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec) return Status::IoError(fmt::format("rename {} to {}: {}", temp_.string(), path_, ec.message()));
    committed_ = true;
    return Status::Ok();
  }

 private:
  explicit Output(std::string path) : path_(std::move(path)), temp_(path_ + ".partial") {}
  std::string path_;
  std::filesystem::path temp_;
  std::ofstream file_;
  bool committed_ = false;
};

int Export(const ExportFlags& f) {
  if (f.format != "jsonl" && f.format != "ntriples") {
    return Fail(Status::InvalidArgument(fmt::format("--format {}: expected jsonl or ntriples", f.format)));
  }
  auto kind = lens::ParseLensKind(f.lens);
  if (!kind.ok()) return Fail(kind.status());
  std::optional<lens::AuthorityTable> table;
  if (!f.authority.empty()) {
    auto parsed = ReadAuthorityFile(f.authority);
    if (!parsed.ok()) return Fail(parsed.status());
    table = std::move(*parsed);
  }
  lens::LensOptions options;
  if (table) options.weights = &*table;

  auto database = OpenCaughtUp(f.db);
  if (!database.ok()) return Fail(database.status());
  auto& db = **database;
  auto out = Output::Open(f.out);
  if (!out.ok()) return Fail(out.status());

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t assertions = 0, written = 0;
  auto progress = [&] {
    if (tty && assertions % 10000 == 0) {
      std::fprintf(stderr, "\rexport: %llu assertions read", static_cast<unsigned long long>(assertions));
    }
  };
  Status exported;
  if (f.format == "jsonl") {
    exported = db.ForEachAssertion([&](lens::Candidate&& c) -> Status {
      ++assertions;
      progress();
      SignedAssertion s{std::move(c.assertion), c.id, {}};
      for (auto& signer : c.signers) s.signatures.push_back(signer.signature);
      // Evidence travels with its claim when it is text (the JSON form carries text only).
      std::optional<std::string> evidence;
      if (s.assertion.source_hash != Hash()) {
        STEMEDB_ASSIGN_OR_RETURN(evidence, db.GetEvidence(s.assertion.source_hash));
        if (evidence && FindInvalidUtf8(*evidence)) evidence.reset();
      }
      ++written;
      return (*out)->Write(EnvelopeToJson(s, evidence).dump() + "\n");
    });
  } else {
    std::vector<lens::Candidate> group;
    auto flush = [&]() -> Status {
      if (group.empty()) return Status::Ok();
      const lens::Resolution r = lens::Resolve(*kind, group, options);
      Status st;
      if (r.value) {
        ++written;
        st = (*out)->Write(rdf::NTriple(group.front().assertion.subject, group.front().assertion.predicate, *r.value));
      }
      group.clear();
      return st;
    };
    exported = db.ForEachAssertion([&](lens::Candidate&& c) -> Status {
      ++assertions;
      progress();
      if (!group.empty() && (group.front().assertion.subject != c.assertion.subject ||
                             group.front().assertion.predicate != c.assertion.predicate)) {
        STEMEDB_RETURN_IF_ERROR(flush());
      }
      group.push_back(std::move(c));
      return Status::Ok();
    });
    if (exported.ok()) exported = flush();
  }
  if (tty) std::fprintf(stderr, "\n");
  if (!exported.ok()) return Fail(exported);
  if (Status committed = (*out)->Commit(); !committed.ok()) return Fail(committed);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "exported %llu %s from %llu assertions in %.2f s\n", static_cast<unsigned long long>(written),
               f.format == "jsonl" ? "envelopes" : "resolved triples", static_cast<unsigned long long>(assertions),
               seconds);
  return 0;
}

}  // namespace

void AddExportCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<ExportFlags>();
  auto* cmd = app.add_subcommand(
      "export", "write every signed envelope (jsonl), or the graph resolved through a lens (ntriples)");
  cmd->add_option("--db", flags->db, "database directory")->required();
  cmd->add_option("--format", flags->format, "jsonl or ntriples")->capture_default_str();
  cmd->add_option("--lens", flags->lens, "ntriples: consensus, recency or authority")->capture_default_str();
  cmd->add_option("--authority", flags->authority, "ntriples: authority table (JSON) for the lens");
  cmd->add_option("--out", flags->out, "file to write (default: stdout); it appears only when complete");
  cmd->callback([&run, flags] { run = [flags] { return Export(*flags); }; });
}

}  // namespace stemedb::cli
