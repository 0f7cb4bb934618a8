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
#   MEMORY_MAX=1G runs the server in a memory cgroup of that size (needs
#   root and cgroup v1 or v2 with the memory controller) and reports the
#   cgroup's peak charge (anonymous memory and page cache together, which
#   the kernel must reclaim to stay under the limit) and any OOM kills.
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
cg= v2= srv=
cleanup() {
  if [ -n "$srv" ]; then
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
  fi
  if [ -n "$cg" ]; then rmdir "$cg" 2>/dev/null || echo "catchup.sh: could not remove the cgroup $cg" >&2; fi
  rm -rf "$tmp"
}
# Before the cgroup is made: a failed write of its limit must remove it.
trap cleanup EXIT
if [ -n "${MEMORY_MAX:-}" ]; then
  # v2: a child of the root has a memory.max only if the root hands the
  # memory controller down (cgroup.subtree_control, not cgroup.controllers).
  # v1: a child of this shell's own memory cgroup, so that limits above
  # it still hold.
  if grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    cg=/sys/fs/cgroup/provbench-$$ v2=1
  elif [ -d /sys/fs/cgroup/memory ]; then
    cg=/sys/fs/cgroup/memory$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' /proc/self/cgroup)
    cg=${cg%/}/provbench-$$
  fi
  if [ -z "$cg" ] || ! mkdir "$cg" 2>/dev/null; then
    echo "catchup.sh: MEMORY_MAX=$MEMORY_MAX needs a memory cgroup this user can make (root, cgroup v1, or v2 with the memory controller in /sys/fs/cgroup/cgroup.subtree_control)" >&2
    cg=
    exit 2
  fi
  # No swap either, as in a container: else the limit swaps, not kills.
  if [ -n "$v2" ]; then
    echo "$MEMORY_MAX" >"$cg/memory.max"
    if [ -e "$cg/memory.swap.max" ]; then echo 0 >"$cg/memory.swap.max"; fi
  else
    echo "$MEMORY_MAX" >"$cg/memory.limit_in_bytes"
    if [ -e "$cg/memory.memsw.limit_in_bytes" ]; then echo "$MEMORY_MAX" >"$cg/memory.memsw.limit_in_bytes"; fi
  fi
fi
(
  if [ -n "$cg" ]; then echo "$BASHPID" >"$cg/cgroup.procs"; fi
  export PROVENANCED_PARTY_RATE=${PROVENANCED_PARTY_RATE:-off} PROVENANCED_ADMIN_ADDR=$admin
  exec "$dir/provenanced" --data "$data" --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:$((port + 1)) \
    --log-level warn "$@" >"$tmp/server.log" 2>&1
) &
srv=$!
"$(dirname "$0")/rss.sh" $srv "$tmp/rss" &
for _ in $(seq 600); do curl -sf 127.0.0.1:$((port + 1))/healthz >/dev/null && break; sleep 0.1; done
unread() { curl -s "$admin/metrics" | awk '/^provenance_flags_unread_records/ { printf "%d", $2 }'; }
alive() {
  kill -0 $srv 2>/dev/null && return
  echo "catchup.sh: the server exited; its log ends:" >&2
  tail -5 "$tmp/server.log" >&2
  if [ -n "$cg" ]; then grep -hw oom_kill "$cg/memory.oom_control" "$cg/memory.events" >&2 2>/dev/null || true; fi
  exit 1
}
peak() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b' "$tmp/rss" | sort -k2 -n | tail -1 |
  awk '{ printf "%d MiB (%d anonymous, %d file)", $2, $3, $4 }'; }
# A follower behind from an earlier run reads its backlog first.
ts=$(date +%s.%N)
n=0
while alive && u=$(unread || true) && [ "$u" != 0 ]; do
  n=$((n + 1))
  [ $((n % 150)) = 0 ] && echo "the follower has an earlier backlog: $u records unread" >&2
  sleep 0.2
done
t0=$(date +%s.%N)
if [ "$(echo "$t0 - $ts > 1" | bc)" = 1 ]; then
  echo "the follower read an earlier backlog in $(echo "$t0 - $ts" | bc) s before the burst; peak RSS meanwhile: $(peak "$ts" "$t0")"
fi
# A server that dies during the burst fails provbench, or leaves it
# nothing to report: say so (alive) before set -e ends the script.
rc=0
"$dir/provbench" --addr 127.0.0.1:$port --registrar-key "$reg" --duration "$dur" \
  --clients 64 --stream --presign 1200 >"$tmp/provbench.out" 2>&1 || rc=$?
t1=$(date +%s.%N)
if [ $rc != 0 ] || ! kill -0 "$srv" 2>/dev/null; then
  echo "catchup.sh: provbench exited $rc; its output ends:" >&2
  tail -3 "$tmp/provbench.out" >&2
  alive
  exit 1
fi
left=$(unread || true)
while alive && [ "$(unread || true)" != 0 ]; do sleep 0.1; done
t2=$(date +%s.%N)
echo "burst: $(tail -1 "$tmp/provbench.out")"
echo "unread at its end: $left records; read $(echo "$t2 - $t1" | bc) s after it"
echo "peak RSS from the server's start to the burst's end: $(peak 0 "$t1"); during the catch-up: $(peak "$t1" "$t2")"
if [ -n "$cg" ]; then
  if [ -n "$v2" ]; then
    # memory.peak: Linux 5.19 and later.
    echo "cgroup ($MEMORY_MAX): peak charge $(if [ -e "$cg/memory.peak" ]; then echo $(($(cat "$cg/memory.peak") >> 20)) MiB; else echo unknown; fi); $(grep -w oom_kill "$cg/memory.events")"
  else
    # With swap limited too, the hits are counted against memsw.
    fc=$cg/memory.failcnt
    if [ -e "$cg/memory.memsw.failcnt" ]; then fc=$cg/memory.memsw.failcnt; fi
    echo "cgroup ($MEMORY_MAX): peak charge $(($(cat "$cg/memory.max_usage_in_bytes") >> 20)) MiB; $(grep -w oom_kill "$cg/memory.oom_control"); hit the limit $(cat "$fc") times"
  fi
fi
