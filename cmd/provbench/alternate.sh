#!/usr/bin/env bash
# alternate.sh: compares server builds under the same provbench load, run
# by run in turn (the development VM's speed drifts by 10-20% over
# minutes, so back-to-back alternation is the only fair comparison), and
# prints each build's median records/s, p99 and server CPU per record.
#
# usage: cmd/provbench/alternate.sh RUNS DURATION "PROVBENCH FLAGS" DIR...
#   each DIR holds a provenanced, a provbench and a provctl binary, e.g.
#   built with go build -o /tmp/a/ ./cmd/provenanced ./cmd/provbench ./cmd/provctl
#   A DIR may also hold server.flags (more provenanced flags, one line) and
#   an executable after-start, run with the run's data directory once the
#   server answers (cmd/provbench/witness-bench.sh uses both).
# example:
#   cmd/provbench/alternate.sh 3 15s "--clients 64 --stream --presign 1200" /tmp/a /tmp/b
# Each run starts a fresh server on a new data directory on loopback.
set -euo pipefail
runs=$1 dur=$2 flags=$3
shift 3
port=$((20000 + RANDOM % 20000))
reg=$(mktemp -d)
"$1/provctl" keygen "$reg/registrar.key" >/dev/null # the registrar's, made offline
declare -A res
for ((i = 1; i <= runs; i++)); do
  for dir in "$@"; do
    data=$(mktemp -d)
    more=""
    [ -f "$dir/server.flags" ] && more=$(sed "s/RUN/$i/g" "$dir/server.flags")
    # Through the environment, which builds from before these settings
    # ignore: no per-party rate unless PROVENANCED_PARTY_RATE says one
    # (provbench signs as two parties per client at full speed), and the
    # admin listener beside the run's ports.
    # shellcheck disable=SC2086
    PROVENANCED_PARTY_RATE=${PROVENANCED_PARTY_RATE:-off} PROVENANCED_ADMIN_ADDR=127.0.0.1:$((port + 2)) \
    "$dir/provenanced" --data "$data" --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:$((port + 1)) \
      --registrar-pub "$reg/registrar.key.pub" --log-level warn $more >"$data/server.log" 2>&1 &
    srv=$!
    for _ in $(seq 100); do curl -sf 127.0.0.1:$((port + 1))/healthz >/dev/null && break; sleep 0.1; done
    [ -x "$dir/after-start" ] && "$dir/after-start" "$data"
    # shellcheck disable=SC2086
    json=$("$dir/provbench" --addr 127.0.0.1:$port --registrar-key "$reg/registrar.key" \
      --duration "$dur" --json $flags 2>/dev/null | tail -1)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' /proc/$srv/stat) # utime + stime
    cosigned=$(curl -s 127.0.0.1:$((port + 1))/v1/checkpoint | grep -o '"cosigned":true' | wc -l || true)
    kill $srv
    wait $srv || true
    rm -rf "$data"
    line=$(echo "$json" | tr -d '{}"' | tr ',' '\n' | awk -F: -v cpu="$cpu" '
      $1 == "records" { n = $2 } $1 == "records_per_sec" { r = $2 } $1 == "p99_ms" { p = $2 }
      END { printf "%d %.1f %.1f", r, p, cpu * 1e6 / n }')
    echo "run $i $dir: $line (records/s, p99 ms, server CPU µs/record); witnesses cosigning at the end: $cosigned" >&2
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
