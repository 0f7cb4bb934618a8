#!/usr/bin/env bash
# witness-bench.sh: submit throughput with no, one and three witnesses,
# alternated run by run (cmd/provbench/alternate.sh). It builds the server,
# provbench, provctl and litewitness (tools/witness/go.mod), starts three
# litewitness processes on loopback, each with its key in its own
# ssh-agent, and for each run registers the run's log with them (every run
# is a new log, with its own origin) before the load starts.
#
# usage: [ORDER="three one none"] cmd/provbench/witness-bench.sh [RUNS] [DURATION] ["PROVBENCH FLAGS"]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3} dur=${2:-15s} flags=${3:-"--clients 64 --stream --presign 1200"}
work=$(mktemp -d /tmp/wbench.XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
go build -o "$work/bin/" ./cmd/provenanced ./cmd/provbench ./cmd/provctl
CGO_ENABLED=0 go -C tools/witness build -o "$work/bin/" filippo.io/torchwood/cmd/litewitness filippo.io/torchwood/cmd/witnessctl
policy1="" policy3=""
for n in 1 2 3; do
  w="$work/w$n"
  mkdir -p "$w"
  ssh-keygen -q -t ed25519 -N '' -f "$w/key"
  ssh-agent -D -a "$w/agent.sock" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$w/agent.sock" ] && break; sleep 0.05; done
  SSH_AUTH_SOCK="$w/agent.sock" ssh-add -q "$w/key"
  port=$((17380 + n))
  : >"$w/log"
  "$work/bin/litewitness" -ssh-agent "$w/agent.sock" -key "$(ssh-keygen -lf "$w/key.pub" -E sha256 | cut -d' ' -f2)" \
    -name "w$n.bench" -db "$w/db" -listen "127.0.0.1:$port" 2>"$w/log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q 'verifier key' "$w/log" && break; sleep 0.05; done
  vkey=$(grep -o 'vkey=[^ ]*' "$w/log" | head -1 | cut -d= -f2- | tr -d '"')
  line="witness w$n $vkey http://127.0.0.1:$port"
  [ "$n" = 1 ] && policy1="$line"
  policy3+="$line"$'\n'
done
printf '%s\nquorum w1\n' "$policy1" >"$work/one.policy"
printf '%sgroup all3 all w1 w2 w3\nquorum all3\n' "$policy3" >"$work/three.policy"
# after-start: register the run's log (origin and key) with every witness.
cat >"$work/after-start" <<EOF
#!/usr/bin/env bash
vkey=\$(cat "\$1/log.pub")
origin=\${vkey%%+*}
for n in 1 2 3; do
  "$work/bin/witnessctl" add-log -db "$work/w\$n/db" -origin "\$origin" 2>/dev/null
  "$work/bin/witnessctl" add-key -db "$work/w\$n/db" -origin "\$origin" -key "\$vkey" 2>/dev/null
done
EOF
chmod +x "$work/after-start"
for cfg in none one three; do
  d="$work/$cfg"
  mkdir -p "$d"
  ln -s "$work/bin/provenanced" "$work/bin/provbench" "$work/bin/provctl" "$d/"
  echo "--origin bench.example/$cfg-RUN-$$" >"$d/server.flags"
  # Every build gets the same hook (the witnesses know every run's log),
  # so each load starts the same time after its server: only the policy
  # differs.
  cp "$work/after-start" "$d/after-start"
  if [ "$cfg" != none ]; then
    echo "--origin bench.example/$cfg-RUN-$$ --witness-policy $work/$cfg.policy" >"$d/server.flags"
  fi
done
# ORDER="three one none" runs the builds in the other order, to see any
# bias from the position in each round.
dirs=()
for cfg in ${ORDER:-none one three}; do dirs+=("$work/$cfg"); done
cmd/provbench/alternate.sh "$runs" "$dur" "$flags" "${dirs[@]}"
