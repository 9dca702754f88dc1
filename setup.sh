#!/usr/bin/env bash
# setup.sh: the one set-up script. Installs what clustersim needs on a Debian
# machine (apt-get, as root or through sudo), builds it, and then
#   ./setup.sh run    builds build/ (optimised) and runs the main job on the
#                     seed scenario: clustersim run scenarios/seed-options.yaml
#   ./setup.sh test   builds build-test/ (Debug, AddressSanitizer and
#                     UndefinedBehaviorSanitizer) and runs every test with ctest
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

jobs=$(nproc 2>/dev/null || echo 2)
if [ "$mode" = run ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$jobs" >/dev/null
  exec build/clustersim run scenarios/seed-options.yaml
else
  cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-test -j "$jobs" >/dev/null
  exec ctest --test-dir build-test --output-on-failure -j "$jobs"
fi
