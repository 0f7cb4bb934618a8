#!/usr/bin/env bash
# rss.sh: samples a process's memory every half second, until it exits:
# a line per sample of "UNIX_TIME RSS_MiB ANON_MiB FILE_MiB" (VmRSS,
# RssAnon, RssFile of /proc/PID/status), appended to FILE.
#
# usage: cmd/provbench/rss.sh PID FILE
#   peak: sort -k2 -n FILE | tail -1
set -euo pipefail
pid=$1 out=$2
while kill -0 "$pid" 2>/dev/null; do
  awk -v t="$(date +%s.%N)" '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 }
    END { printf "%s %d %d %d\n", t, v["VmRSS:"] / 1024, v["RssAnon:"] / 1024, v["RssFile:"] / 1024 }' "/proc/$pid/status" >>"$out" 2>/dev/null || true
  sleep 0.5
done
