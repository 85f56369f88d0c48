#!/usr/bin/env bash
# `make demo`'s two commands timed as whole processes, 3 fresh runs, wall seconds each,
# with the load average before and after (docs/performance.md#benchmark-claims):
#   bash benchmarks/demo_time.sh [PYTHON]   (default .venv/bin/python; run from the repo)
set -u
G="${1:-.venv/bin/python} -m genlab"
for i in 1 2 3; do
  d=$(mktemp -d)
  l0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N); $G train demo --out $d/demo > $d/train.log 2>&1; t1=$(date +%s.%N)
  $G sample $d/demo --n 100 --out $d/samples.png > $d/sample.log 2>&1; t2=$(date +%s.%N)
  echo "run $i: load $l0 -> $(cut -d' ' -f1 /proc/loadavg); train $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s; sample $(awk "BEGIN{printf \"%.1f\", $t2 - $t1}") s; $(tail -n 1 $d/train.log | cut -c1-60)"
  rm -rf $d
done
