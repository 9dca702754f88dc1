#!/bin/sh
# The layer check must catch what it is there to catch: an include from a
# higher layer and an include that does not name its layer (the fixture
# tests/data/layers-bad holds one of each).
here=$(dirname "$0")
out=$("$here/check_layers.sh" "$here/../data/layers-bad")
status=$?
printf '%s\n' "$out"
[ $status -eq 1 ] || { echo "FAIL: exit status $status, wanted 1"; exit 1; }
printf '%s\n' "$out" | grep -q 'sim/model/bad.c:1: error: model includes net/fabric.h from net, a higher layer' ||
  { echo "FAIL: the upward include was not reported"; exit 1; }
printf '%s\n' "$out" | grep -q 'sim/net/fabric.c:1: error: #include "fabric.h" does not name its layer' ||
  { echo "FAIL: the unqualified include was not reported"; exit 1; }
[ "$(printf '%s\n' "$out" | grep -c error:)" -eq 2 ] || { echo "FAIL: a correct include was reported"; exit 1; }
echo ok
