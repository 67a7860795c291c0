// The reference lens for differential tests (tests only; see reference_lens.cc).
#pragma once

#include <span>

#include "stemedb/lens/lens.h"

namespace stemedb::lens {

// Resolves `candidates` as Resolve does, always filling the explanation (the prose only with
// options.explain).
Resolution ReferenceResolve(LensKind kind, std::span<const Candidate> candidates, const LensOptions& options = {});

}  // namespace stemedb::lens
