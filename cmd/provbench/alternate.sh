#!/usr/bin/env bash
# alternate.sh: compares server builds under the same provbench load, run
# by run in turn (the development VM's speed drifts by 10-20% over
# minutes, so back-to-back alternation is the only fair comparison), and
# prints each build's median records/s, p99 and server CPU per record.
#
# usage: cmd/provbench/alternate.sh RUNS DURATION "PROVBENCH FLAGS" DIR...
#   each DIR holds a provenanced and a provbench binary, e.g. built with
#   go build -o /tmp/a/ ./cmd/provenanced ./cmd/provbench
# example:
#   cmd/provbench/alternate.sh 3 15s "--clients 64 --stream --presign 1200" /tmp/a /tmp/b
# Each run starts a fresh server on a new data directory on loopback.
set -euo pipefail
runs=$1 dur=$2 flags=$3
shift 3
port=$((20000 + RANDOM % 20000))
declare -A res
for ((i = 1; i <= runs; i++)); do
  for dir in "$@"; do
    data=$(mktemp -d)
    "$dir/provenanced" --data "$data" --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:$((port + 1)) \
      --log-level warn >"$data/server.log" 2>&1 &
    srv=$!
    for _ in $(seq 100); do curl -sf 127.0.0.1:$((port + 1))/healthz >/dev/null && break; sleep 0.1; done
    # shellcheck disable=SC2086
    json=$("$dir/provbench" --addr 127.0.0.1:$port --registrar-key "$data/registrar.key" \
      --duration "$dur" --json $flags 2>/dev/null | tail -1)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' /proc/$srv/stat) # utime + stime
    kill $srv
    wait $srv || true
    rm -rf "$data"
    line=$(echo "$json" | tr -d '{}"' | tr ',' '\n' | awk -F: -v cpu="$cpu" '
      $1 == "records" { n = $2 } $1 == "records_per_sec" { r = $2 } $1 == "p99_ms" { p = $2 }
      END { printf "%d %.1f %.1f", r, p, cpu * 1e6 / n }')
    echo "run $i $dir: $line (records/s, p99 ms, server CPU µs/record)" >&2
    res[$dir]+="$line;"
  done
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for dir in "$@"; do
  vals=$(echo "${res[$dir]}" | tr ';' '\n' | grep .)
  printf '%-24s median %6s records/s  p99 %5s ms  server %5s µs/record  runs: %s\n' "$dir" \
    "$(echo "$vals" | cut -d' ' -f1 | median)" "$(echo "$vals" | cut -d' ' -f2 | median)" \
    "$(echo "$vals" | cut -d' ' -f3 | median)" "$(echo "$vals" | cut -d' ' -f1 | tr '\n' ' ')"
done
