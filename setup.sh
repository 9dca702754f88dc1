#!/usr/bin/env bash
# setup.sh: the one set-up script. Installs what clustersim needs on a Debian
# machine (apt-get, as root or through sudo), builds it, and then
#   ./setup.sh run    builds build/ (optimised) and runs the main job on the
#                     seed scenario: clustersim run scenarios/seed-options.yaml
#   ./setup.sh test   builds build-test/ (Debug, AddressSanitizer and
#                     UndefinedBehaviorSanitizer, warnings as errors) and runs
#                     every test with ctest
# The build prints one summary line; its full output is in DIR/build.log.
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-run}
case $mode in
  run|test) ;;
  *) echo "usage: ./setup.sh run|test" >&2; exit 2 ;;
esac

packages=(build-essential cmake pkg-config libyaml-dev libgsl-dev check gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "setup.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# build DIR TYPE TARGET CMAKE-OPTIONS...: configure and build quietly, then
# one line saying what was built; on failure the end of the log.
build() {
  local dir=$1 type=$2 target=$3 start=$SECONDS
  shift 3
  mkdir -p "$dir"
  if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" &&
         cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" --target "$target"; } \
       >"$dir/build.log" 2>&1; then
    tail -30 "$dir/build.log" >&2
    echo "setup.sh: the $type build failed; the whole log is $dir/build.log" >&2
    exit 1
  fi
  local warnings
  warnings=$(grep -c 'warning:' "$dir/build.log" || true)
  echo "setup.sh: built $dir ($type, $warnings warnings) in $((SECONDS - start)) s" >&2
}

if [ "$mode" = run ]; then
  build build Release clustersim
  exec build/clustersim run scenarios/seed-options.yaml
else
  build build-test Debug all -DCS_WERROR=ON
  exec ctest --test-dir build-test --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"
fi
