// Key files: an Ed25519 key pair on disk, readable only by its owner.
//
// Format (text, one field a line):
//   stemedb-ed25519-key v1
//   agent <64 hex: public key>
//   seed <64 hex: secret seed>
// The file is created with mode 0600 and never overwritten; reading refuses a file that group or
// others can read or write (like ssh), and checks that the seed derives the stated public key.
#pragma once

#include <filesystem>

#include "stemedb/base/status.h"
#include "stemedb/model/signing.h"

namespace stemedb {

// Writes `key` to `path` (mode 0600, fsynced). Errors: AlreadyExists when `path` exists (a key is
// never overwritten); IoError / PermissionDenied from the file system.
Status WriteKeyFile(const std::filesystem::path& path, const KeyPair& key);

// Reads a key file. Errors: NotFound; PermissionDenied when its mode lets group or others in;
// InvalidArgument when it is not a key file or its public key does not match its seed.
Result<KeyPair> ReadKeyFile(const std::filesystem::path& path);

}  // namespace stemedb
