#!/bin/sh
# check_readme_layout.sh ROOT: the README's "Source layout" section matches
# the tree: it names every folder of sim/ as `sim/LAYER/` and every module
# (a .c or .h file's name without its extension) of that folder in its
# bullet as `module`. Exits 1 listing what is missing.
root=${1:?usage: check_readme_layout.sh ROOT}
section=$(awk '/^## Source layout/ { on = 1; next } /^## / { on = 0 } on' "$root/README.md")
[ -n "$section" ] || { echo "README.md has no '## Source layout' section"; exit 1; }
status=0
for dir in "$root"/sim/*/; do
  layer=$(basename "$dir")
  # The layer's bullet: from "- `sim/LAYER/`" to the next bullet.
  bullet=$(printf '%s\n' "$section" | awk -v head="- \`sim/$layer/\`" '
    index($0, head) == 1 { on = 1; print; next }
    /^- / { on = 0 } on')
  if [ -z "$bullet" ]; then
    echo "README.md, Source layout: no bullet for sim/$layer/"
    status=1
    continue
  fi
  for file in "$dir"*.c "$dir"*.h; do
    [ -f "$file" ] || continue
    module=$(basename "$file"); module=${module%.*}
    printf '%s\n' "$bullet" | grep -q "\`$module\`" || {
      echo "README.md, Source layout: sim/$layer/ does not name \`$module\`"
      status=1
    }
  done
done
[ $status -eq 0 ] && echo "README's source layout names every folder and module"
exit $status
