#!/bin/sh
# check_empty.sh DIR: the tests ran with TMPDIR=DIR; they must have left
# nothing behind in it.
dir=${1:?usage: check_empty.sh DIR}
left=$(ls -A "$dir" 2>/dev/null)
if [ -n "$left" ]; then
  echo "the tests left these in $dir:"
  printf '%s\n' "$left" | head -20
  exit 1
fi
echo "nothing left in $dir"
