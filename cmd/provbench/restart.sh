#!/usr/bin/env bash
# restart.sh: the append rate in the first seconds after a start on an
# existing, large data directory (after provfill), builds in turn: each run
# starts the server, runs provbench as soon as it answers, and stops it.
# It shows what the work that follows a start (the paced table checks,
# ledger.CheckIdle) costs the appends. Each run adds its records to DATA.
#
# usage: cmd/provbench/restart.sh DATA DURATION RUNS DIR...
#   DATA is a data directory whose registrar's private key is
#   DATA/registrar.key (provfill and the example write it there), or the
#   file REGISTRAR_KEY names; each DIR holds a provenanced and a provbench
#   binary, e.g. built with
#     go build -o /tmp/after/ ./cmd/provenanced ./cmd/provbench
#   More provenanced flags may be given in RESTART_FLAGS, e.g.
#   --no-flag-follower.
# example:
#   cmd/provbench/restart.sh /tmp/prov1m 8s 3 /tmp/before /tmp/after
set -euo pipefail
data=$1 dur=$2 runs=$3
shift 3
reg=${REGISTRAR_KEY:-$data/registrar.key}
if [ ! -f "$reg" ]; then
  echo "restart.sh: no registrar key at $reg: provbench registers its parties with it; set REGISTRAR_KEY to its file" >&2
  exit 2
fi
port=$((20000 + RANDOM % 20000))
srv=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null' EXIT
for ((i = 1; i <= runs; i++)); do
  for dir in "$@"; do
    log=$(mktemp)
    # shellcheck disable=SC2086
    PROVENANCED_PARTY_RATE=${PROVENANCED_PARTY_RATE:-off} PROVENANCED_ADMIN_ADDR=127.0.0.1:$((port + 2)) \
      "$dir/provenanced" --data "$data" --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:$((port + 1)) \
      --log-level warn ${RESTART_FLAGS:-} >"$log" 2>&1 &
    srv=$!
    up=""
    for _ in $(seq 600); do curl -sf 127.0.0.1:$((port + 1))/healthz >/dev/null && up=1 && break; sleep 0.1; done
    if [ -z "$up" ]; then
      echo "run $i $dir: the server did not answer within 60 s:" >&2
      cat "$log" >&2
      exit 1
    fi
    errs=$(mktemp)
    if ! out=$("$dir/provbench" --addr 127.0.0.1:$port --registrar-key "$reg" --duration "$dur" \
      --clients 64 --stream --presign 1200 2>"$errs" | tail -1); then
      echo "run $i $dir: provbench failed:" >&2
      tail -5 "$errs" >&2
      exit 1
    fi
    rm -f "$errs"
    echo "run $i $dir: $out"
    kill $srv
    wait $srv || true
    srv=""
    rm -f "$log"
  done
done
