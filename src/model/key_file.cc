#include "stemedb/model/key_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "stemedb/base/hex.h"

namespace stemedb {
namespace {

constexpr std::string_view kHeader = "stemedb-ed25519-key v1";
constexpr std::size_t kMaxKeyFileSize = 4096;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Wipes a std::string holding secret text on scope exit.
struct WipeOnExit {
  std::string& s;
  ~WipeOnExit() { sodium_memzero(s.data(), s.size()); }
};

}  // namespace

Status WriteKeyFile(const std::filesystem::path& path, const KeyPair& key) {
  const std::string where = fmt::format("write key file {}", path.string());
  std::string text = fmt::format("{}\nagent {}\nseed {}\n", kHeader, key.agent().ToHex(), ToHex(key.seed()));
  WipeOnExit wipe{text};
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) return Status::AlreadyExists(where + ": file exists; a key file is never overwritten");
    return Status::FromErrno(where, errno);
  }
  // The umask cannot widen 0600, but an inherited ACL default could; make the mode exact.
  if (::fchmod(fd.get(), 0600) != 0) return Status::FromErrno(where + ": fchmod", errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(where, errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return Status::FromErrno(where + ": fsync", errno);
  return Status::Ok();
}

Result<KeyPair> ReadKeyFile(const std::filesystem::path& path) {
  const std::string where = fmt::format("read key file {}", path.string());
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(where, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(where, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(where + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Status::PermissionDenied(
        fmt::format("{}: mode {:04o} lets others read or write the secret key; "
                    "run chmod 600 {}",
                    where, st.st_mode & 07777, path.string()));
  }
  if (st.st_size > static_cast<off_t>(kMaxKeyFileSize))
    return Status::InvalidArgument(where + ": too large for a key file");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  WipeOnExit wipe{text};
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(where, errno);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);

  const std::string agent_prefix = "\nagent ";
  const std::string seed_prefix = "\nseed ";
  if (text.rfind(kHeader, 0) != 0) return Status::InvalidArgument(where + ": not a StemeDB key file (bad header)");
  const auto a = text.find(agent_prefix);
  const auto s = text.find(seed_prefix);
  if (a == std::string::npos || s == std::string::npos) {
    return Status::InvalidArgument(where + ": missing 'agent' or 'seed' line");
  }
  const std::string_view agent_hex = std::string_view(text).substr(a + agent_prefix.size(), 64);
  const std::string_view seed_hex = std::string_view(text).substr(s + seed_prefix.size(), 64);
  auto agent = AgentId::FromHex(agent_hex);
  if (!agent.ok()) return std::move(agent).status().with_context(where + ": agent");
  std::array<std::uint8_t, KeyPair::kSeedSize> seed{};
  Status parsed = FromHex(seed_hex, seed);
  if (!parsed.ok()) return std::move(parsed).with_context(where + ": seed");
  auto key = KeyPair::FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  if (!key.ok()) return key;
  if (key->agent() != *agent) {
    return Status::InvalidArgument(where + ": the seed does not derive the stated agent public key");
  }
  return key;
}

}  // namespace stemedb
