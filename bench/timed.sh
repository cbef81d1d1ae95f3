#!/bin/bash
# Run a command as it is and append "START END ARGV..." (epoch seconds) to $ZDD_BENCH_LOG:
# bench/run.py puts it in front of the seed script's compose command to time each step.
start=$(date +%s.%N)
rc=0
"$@" || rc=$?
printf '%s %s %s\n' "$start" "$(date +%s.%N)" "$*" >> "${ZDD_BENCH_LOG:?}"
exit "$rc"
