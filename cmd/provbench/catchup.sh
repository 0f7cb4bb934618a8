#!/usr/bin/env bash
# catchup.sh: a saturating burst of appends, then the flag follower's
# catch-up: how many records it left unread while it stepped aside for the
# appends, how long it took to read them after the burst, and the server's
# resident memory during each (cmd/provbench/rss.sh).
#
# usage: cmd/provbench/catchup.sh DIR DURATION [DATA [SERVER FLAGS...]]
#   DIR holds provenanced, provbench and provctl binaries (as for
#   alternate.sh); DATA is an existing data directory (its registrar.key is
#   used), else a new one is made and removed; SERVER FLAGS go to
#   provenanced, e.g. --flag-max-lag off.
# example:
#   cmd/provbench/catchup.sh /tmp/a 12s
#   cmd/provbench/catchup.sh /tmp/a 30s /tmp/prov1m   # after provfill
set -euo pipefail
dir=$1 dur=$2
shift 2
data=${1:-}
[ $# -gt 0 ] && shift
port=$((20000 + RANDOM % 20000))
tmp=$(mktemp -d)
if [ -z "$data" ]; then
  data=$tmp/data
  "$dir/provctl" keygen "$tmp/registrar.key" >/dev/null
  reg=$tmp/registrar.key
  set -- --registrar-pub "$tmp/registrar.key.pub" "$@"
else
  reg=$data/registrar.key
fi
admin=127.0.0.1:$((port + 2))
PROVENANCED_PARTY_RATE=${PROVENANCED_PARTY_RATE:-off} PROVENANCED_ADMIN_ADDR=$admin \
  "$dir/provenanced" --data "$data" --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:$((port + 1)) \
  --log-level warn "$@" >"$tmp/server.log" 2>&1 &
srv=$!
"$(dirname "$0")/rss.sh" $srv "$tmp/rss" &
for _ in $(seq 600); do curl -sf 127.0.0.1:$((port + 1))/healthz >/dev/null && break; sleep 0.1; done
unread() { curl -s "$admin/metrics" | awk '/^provenance_flags_unread_records/ { printf "%d", $2 }'; }
peak() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' "$tmp/rss" | sort -k2 -n | tail -1 |
  awk '{ printf "%d MiB (%d anonymous, %d file)", $2, $3, $4 }'; }
# A follower behind from an earlier run reads its backlog first.
ts=$(date +%s.%N)
while [ "$(unread)" != 0 ]; do sleep 0.2; done
t0=$(date +%s.%N)
[ "$(echo "$t0 - $ts > 1" | bc)" = 1 ] && echo "the follower read an earlier backlog in $(echo "$t0 - $ts" | bc) s before the burst"
"$dir/provbench" --addr 127.0.0.1:$port --registrar-key "$reg" --duration "$dur" \
  --clients 64 --stream --presign 1200 >"$tmp/provbench.out" 2>&1
t1=$(date +%s.%N)
left=$(unread)
while [ "$(unread)" != 0 ]; do sleep 0.1; done
t2=$(date +%s.%N)
echo "burst: $(tail -1 "$tmp/provbench.out")"
echo "unread at its end: $left records; read $(echo "$t2 - $t1" | bc) s after it"
echo "peak RSS from the server's start to the burst's end: $(peak 0 "$t1"); during the catch-up: $(peak "$t1" "$t2")"
kill $srv
wait $srv || true
rm -rf "$tmp"
