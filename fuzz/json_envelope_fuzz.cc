// Fuzz target: the JSON forms (envelope, assertion, authority table) as the HTTP API and the
// importer parse them. Properties: errors are values, never crashes; an envelope that parses
// prints and parses back to the same envelope.
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "stemedb/lens/lens.h"
#include "stemedb/model/json.h"
#include "stemedb/model/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stemedb;
  auto json = ParseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!json.ok()) return 0;
  if (auto envelope = EnvelopeFromJson(*json); envelope.ok()) {
    (void)ValidateSignedAssertion(envelope->signed_assertion);
    auto back = EnvelopeFromJson(EnvelopeToJson(envelope->signed_assertion, envelope->evidence));
    if (!back.ok()) fuzz::Fail("a printed envelope does not parse");
    if (back->signed_assertion.id != envelope->signed_assertion.id ||
        back->signed_assertion.assertion != envelope->signed_assertion.assertion ||
        back->signed_assertion.signatures != envelope->signed_assertion.signatures ||
        back->evidence != envelope->evidence) {
      fuzz::Fail("an envelope changes through print and parse");
    }
  }
  if (auto assertion = AssertionFromJson(*json); assertion.ok()) (void)ValidateAssertion(assertion->assertion);
  (void)lens::AuthorityTable::FromJson(*json);
  return 0;
}
