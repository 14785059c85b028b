#!/usr/bin/env bash
# End-to-end scenario on the embedded default (hybrid LMDB + RocksDB with the
# WAL): two agents make keys, write signed, conflicting assertions, read them
# back, and verify every hash and signature. Run by `make demo`.
set -euo pipefail
build=${1:-build}
steme="$build/steme"
work=$(mktemp -d "${TMPDIR:-/tmp}/steme-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
db="$work/db"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two agents make Ed25519 keys (an agent id is its public key)"
"$steme" keygen --out "$work/mayo.key"
"$steme" keygen --out "$work/forum.key"

step "they assert conflicting, signed claims (printed: content hashes, BLAKE3)"
t=1767225600000
h1=$("$steme" assert --db "$db" --key "$work/mayo.key" --subject aspirin \
      --predicate max_daily_dose_mg --int 4000 --confidence 0.95 \
      --source clinical:doi:10.1001/example.2024 --time $t)
echo "mayo  asserts max_daily_dose_mg = 4000  -> $h1"
h2=$("$steme" assert --db "$db" --key "$work/forum.key" --subject aspirin \
      --predicate max_daily_dose_mg --int 8000 --confidence 0.40 \
      --source forum:https://forum.example/t/123 --time $((t + 60000)))
echo "forum asserts max_daily_dose_mg = 8000  -> $h2"
h3=$("$steme" assert --db "$db" --key "$work/mayo.key" --subject aspirin \
      --predicate drug_class --string "NSAID" --confidence 0.99 \
      --source regulatory:fda-label --time $((t + 120000)))
echo "mayo  asserts drug_class = \"NSAID\"      -> $h3"

step "the same claim again is idempotent (content-addressed)"
"$steme" assert --db "$db" --key "$work/mayo.key" --subject aspirin \
      --predicate max_daily_dose_mg --int 4000 --confidence 0.95 \
      --source clinical:doi:10.1001/example.2024 --time $t

step "read one back by hash: decoded, re-hashed, signature checked"
"$steme" get --db "$db" "$h1"

step "everything known about aspirin's dose, newest first"
"$steme" list --db "$db" --subject aspirin --predicate max_daily_dose_mg --json

step "verify every stored assertion"
"$steme" verify --db "$db"

step "steme's own BLAKE3 agrees with the reference b3sum"
head -c 100000 /dev/urandom > "$work/blob"
"$steme" hash "$work/blob"
if command -v b3sum >/dev/null; then b3sum "$work/blob"; fi
printf '\ndemo finished: database was in %s (removed)\n' "$db"
