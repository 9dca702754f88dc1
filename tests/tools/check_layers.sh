#!/bin/sh
# check_layers.sh ROOT: every quoted #include under ROOT/sim/LAYER/ names a
# layer ("net/fabric.h") that is LAYER itself or one below it. The layers,
# lowest first, as the README's "Source layout" describes them:
#   base input model net replay study report cli
# Prints every offending include as FILE:LINE: error: ... and exits 1 if
# there is one (or if ROOT/sim holds a folder that is not a layer).
root=${1:?usage: check_layers.sh ROOT}
set -- "$root"/sim/*/*.[ch]
[ -f "$1" ] || { echo "$root/sim: no sources"; exit 1; }
awk -v layers="base input model net replay study report cli" '
BEGIN { n = split(layers, name, " "); for (i = 1; i <= n; i++) rank[name[i]] = i }
FNR == 1 {
    k = split(FILENAME, part, "/"); own = part[k - 1]
    if (!(own in rank)) { printf "%s: error: folder %s is not a layer\n", FILENAME, own; bad = 1 }
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
    target = $0; sub(/^[^"]*"/, "", target); sub(/".*$/, "", target)
    if (target !~ /\//) {
        printf "%s:%d: error: #include \"%s\" does not name its layer\n", FILENAME, FNR, target; bad = 1
        next
    }
    to = target; sub(/\/.*$/, "", to)
    if (!(to in rank)) {
        printf "%s:%d: error: #include \"%s\": %s is not a layer\n", FILENAME, FNR, target, to; bad = 1
    } else if ((own in rank) && rank[to] > rank[own]) {
        printf "%s:%d: error: %s includes %s from %s, a higher layer\n", FILENAME, FNR, own, target, to
        bad = 1
    }
}
END { exit bad }' "$@"
