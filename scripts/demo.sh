#!/usr/bin/env bash
# `make run`: stores a small demo data set of conflicting, signed claims in a local database
# directory, then serves it over HTTP and prints the requests that query it.
# Usage: demo.sh STEMEDB_BINARY DATA_DIR [PORT]
set -euo pipefail
bin=${1:?usage: demo.sh STEMEDB_BINARY DATA_DIR [PORT]}
data=${2:?usage: demo.sh STEMEDB_BINARY DATA_DIR [PORT]}
port=${3:-7878}
url="http://127.0.0.1:$port"
key='Tesla_Inc&predicate=revenue_2023_usd_billions'

"$bin" demo --db "$data"
cat <<EOT
The database lives in $data: write-ahead log in $data/wal, RocksDB indexes in $data/kv (derived
from the log: delete it and it is rebuilt), agent keys in $data/keys. Running 'make run' again
stores nothing twice: claims are content-addressed.

Now serving it on $url (Ctrl-C stops the server). From another terminal:

The revenue conflict resolved three ways, each with its explanation:
  curl -s '$url/v1/resolve?subject=$key&lens=consensus&explain=true'
  curl -s '$url/v1/resolve?subject=$key&lens=recency&explain=true'
  curl -s '$url/v1/resolve?subject=$key&lens=authority&explain=true'
Everything known about Tesla, resolved; and the claims that disagree:
  curl -s '$url/v1/entities/Tesla_Inc?lens=authority'
  curl -s '$url/v1/conflicts'
Sign a claim on the client (the server never sees a key) and store it:
  echo '{"subject": "Tesla_Inc", "predicate": "ceo", "object": {"entity": "Elon_Musk"}, "confidence": 0.8, "evidence": "press release"}' \\
    | $bin sign --key $data/keys/llm-agent.key \\
    | curl -s -X POST -H 'Content-Type: application/json' --data-binary @- $url/v1/assertions
What the LLM agent signed, oldest first, with each claim (its public key is in its key file):
  curl -s "$url/v1/agents/\$(awk '/^agent /{print \$2}' $data/keys/llm-agent.key)/signatures?assertions=true"
Health and metrics:
  curl -s $url/healthz
  curl -s $url/metrics
The API is documented in docs/api.md. With the server stopped, the command works on the same
directory: $bin query --db $data --subject Tesla_Inc --predicate revenue_2023_usd_billions --explain

EOT
exec "$bin" serve --db "$data" --listen "127.0.0.1:$port" --authority "$data/authority.json"
