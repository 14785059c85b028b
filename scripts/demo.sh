#!/usr/bin/env bash
# The story of steme, on the command line (run by `make demo`):
# a regulator, a clinic and a forum user disagree about ibuprofen's maximum
# daily dose. They sign claims and vote; a gold standard checks their
# answers and trust ranks move; lenses resolve the conflict; a trust pack
# filters it; the Meter stops a flooding bot; a skeptic query escalates the
# conflict; a correction supersedes a claim; the audit trail shows it all.
set -euo pipefail
build=${1:-build}
steme="$(cd "$build" && pwd)/steme"
work=$(mktemp -d "${TMPDIR:-/tmp}/steme-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export STEME_DB="$work/db"          # every command below uses this database
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
s() { "$steme" "$@"; }

step "four agents make Ed25519 keys (an agent id is its public key)"
s init
sed_names=""
for who in regulator clinic forum bot; do
    id=$(s keygen --out "$who.key" --json | sed 's/.*"agent":"\([0-9a-f]*\)".*/\1/')
    printf "%-10s %s\n" "$who" "$id"
    sed_names+="s/$id/$who/g;s/${id:0:16}/$who/g;s/${id:0:8}/$who/g;"
done
names() { sed "$sed_names"; }   # show agents by name in the output below

step "they sign conflicting claims (each prints its content hash)"
t=1767225600000   # 2026-01-01
claim() { # who value confidence source minutes-after-t
    s assert --key "$1.key" --subject ibuprofen --predicate max_daily_dose_mg --int "$2" \
      --confidence "$3" --source "$4" --time $((t + $5 * 60000))
}
reg=$(claim regulator 3200 0.95 regulatory:fda-label 0)
cli=$(claim clinic 3200 0.90 clinical:hospital-formulary 5)
typo=$(claim clinic 2400 0.90 clinical:hospital-formulary 6)
frm=$(claim forum 6400 0.70 forum:https://forum.example/t/42 10)
printf 'regulator 3200  %s\nclinic    3200  %s\nclinic    2400  %s (a typo)\nforum     6400  %s\n' \
  "$reg" "$cli" "$typo" "$frm"

step "they vote (signed; one standing vote per agent and claim)"
s vote --key regulator.key "$reg" --up >/dev/null
s vote --key clinic.key "$reg" --up >/dev/null
s vote --key forum.key "$frm" --up >/dev/null
s vote --key forum.key "$reg" --weight -0.5 >/dev/null
s votes "$reg" | names

step "a correction supersedes the clinic's typo (2400 -> 3200)"
s supersede "$typo" "$cli" --reason "typo: the formulary says 3200" --agent clinic.key | names
echo "head of the chain: $(s supersede head "$typo")"

step "how each lens resolves it (superseded claims are hidden)"
q() { s query --subject ibuprofen --predicate max_daily_dose_mg --agent regulator.key "$@"; }
q --lens recency | names
q --lens consensus | head -1
q --lens vote | head -1

step "a gold standard is set; answers are checked and trust ranks move"
s gold set --subject ibuprofen --predicate max_daily_dose_mg --int 3200 --by regulator.key \
  --assertion "$reg" >/dev/null
for who in clinic forum; do
    printf '%-7s says ' "$who"
    s gold check --subject ibuprofen --predicate max_daily_dose_mg --agent "$who.key" \
      --int "$([ "$who" = forum ] && echo 6400 || echo 3200)"
done
s trust list | names
q --lens authority | head -2 | names

step "a trust pack of clinicians filters the question"
s pack create clinicians --maintainer regulator.key --description "licensed sources" >/dev/null
s pack add clinicians regulator.key >/dev/null
s pack add clinicians clinic.key >/dev/null
q --lens recency --pack clinicians | names

step "the Meter stops a flooding bot (its limit: 30 tokens an hour, 10 per claim)"
s quota set bot.key 30 >/dev/null
for i in 1 2 3 4 5; do
    if s assert --key bot.key --subject ibuprofen --predicate miracle_cure_for \
         --string "everything #$i" --source agent:bot >/dev/null 2>"$work/err"; then
        echo "bot claim $i stored"
    else
        echo "bot claim $i REFUSED (exit $?): $(cut -d: -f2- <"$work/err")"
    fi
done
s quota status bot.key | head -3

step "a skeptic query finds the question contested and raises an escalation"
q --lens skeptic | names
s escalations | names
esc=$(s escalations --json | head -1 | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
s escalations resolve "$esc" --note "FDA label: 3200 mg; bot claims are spam" >/dev/null
echo "resolved: $(s escalations list --resolved --json | head -1 | sed 's/.*"note":\(".*"\)}/\1/')"

step "the audit trail: every query the regulator ran, oldest first"
s audit --agent regulator.key | names

step "export, import into a fresh database, verify every hash, signature and vote cache"
s export --out "$work/dump.jsonl" 2>/dev/null
s import --db "$work/copy" "$work/dump.jsonl"
s verify --db "$work/copy"
s stats | head -5
printf '\ndemo finished: the database was in %s (removed)\n' "$STEME_DB"
