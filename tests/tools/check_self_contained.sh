#!/bin/sh
# check_self_contained.sh ROOT: nothing in the repository points outside it
# (a clone has no sibling folders nor this machine's /work: the reference is
# docs/). Lists every file and line that names a path above the repository,
# and exits 1 if any does.
root=${1:?usage: check_self_contained.sh ROOT}
# Built from pieces so that this file does not match itself.
above='\.\./'"shared"'|/'"work"'/|'"shared"'/spec/'
if grep -rInE "$above" "$root" --exclude-dir=.git --exclude-dir='build*' --exclude-dir=out; then
  echo "these lines point outside the repository; point at docs/ instead"
  exit 1
fi
echo "nothing points outside $root"
