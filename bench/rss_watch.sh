#!/usr/bin/env bash
# Log the peak RSS (VmHWM) of every running `bet reproduce` / bench process every 30 s:
#   bench/rss_watch.sh out/rss.log &
# Used for the Table 1 runs (issue 9: peak RSS ≤ 2 GB throughout).
log=${1:-out/rss.log}
while true; do
  for pid in $(pgrep -f "bet reproduce|pretrain_full.py|bet search"); do
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null)
    [ -n "$hwm" ] && echo "$(date -u +%FT%TZ) pid=$pid hwm_mib=$((hwm / 1024)) cmd=$(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-120)" >> "$log"
  done
  sleep 30
done
