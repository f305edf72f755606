#!/usr/bin/env bash
# Configures and builds raftkv. Usage: scripts/build.sh [--sanitize]
#   BUILD_DIR   build directory (default: build, or build-asan with --sanitize)
#   JOBS        parallel compile jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=OFF
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=ON ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
default_dir=build
[[ $sanitize == ON ]] && default_dir=build-asan
BUILD_DIR=${BUILD_DIR:-$default_dir}

scripts/setup.sh
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DRAFTKV_SANITIZE="$sanitize" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
