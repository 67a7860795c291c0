# StemeDB record schema. The ID of an assertion is BLAKE3 over a domain tag and the canonical form
# (Cap'n Proto canonicalization) of a `Claim` message; see docs/format.md.
#
# Changing a field here changes every ID: fields are only ever added, never renumbered or retyped,
# and a new field must have a default that canonicalizes away for claims that do not use it.
@0xc5519ad080614d6c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("stemedb::schema");

struct LangText {
  value @0 :Text;
  lang @1 :Text;          # BCP 47 tag; empty when absent
}

struct TypedLiteral {
  lexical @0 :Text;       # lexical form, as written in RDF
  datatype @1 :Text;      # datatype IRI
}

struct ObjectValue {
  union {
    entity @0 :Text;
    text @1 :LangText;
    integer @2 :Int64;
    number @3 :Float64;   # finite; -0.0 is stored as +0.0
    boolean @4 :Bool;
    timestamp @5 :Int64;  # microseconds since 1970-01-01T00:00:00Z
    typed @6 :TypedLiteral;
    blob @7 :Data;        # 32-byte BLAKE3 of the blob
  }
}

struct Claim {
  subject @0 :Text;
  predicate @1 :Text;
  object @2 :ObjectValue;
  confidence @3 :Float32;
  sourceHash @4 :Data;    # 32 bytes
  visualHash @5 :UInt64;
  hasVisualHash @6 :Bool;
  parentHash @7 :Data;    # 32 bytes, or empty when the claim supersedes nothing
}

struct Signature {
  agent @0 :Data;         # Ed25519 public key, 32 bytes
  signature @1 :Data;     # 64 bytes, over the signing message of docs/format.md
  signedAt @2 :Int64;     # microseconds since the Unix epoch
}

# A stored record: a claim and the signatures that arrived with it. The record is itself in
# canonical form, so its bytes are a function of its content.
struct SignedClaim {
  claim @0 :Claim;
  signatures @1 :List(Signature);
}

# More signatures for an assertion already in the log (co-signing). The claim is not repeated:
# it is named by its ID, and the signatures are over that ID.
struct CoSignatures {
  assertionId @0 :Data;   # 32 bytes
  signatures @1 :List(Signature);
}
