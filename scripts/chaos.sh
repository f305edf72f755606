#!/usr/bin/env bash
# Fault injection against real raftkv processes (issue 4): runs build/bin/raftkv_chaos,
# which starts a cluster in network namespaces, runs concurrent clients, injects a seeded
# fault schedule (kill -9 + restart, SIGSTOP/SIGCONT, nftables partitions, power cuts of
# the whole cluster, which drop every Raft log write no sync covered) and checks
# linearizability, lost writes and replica agreement. Needs root, `ip netns` and `nft`.
#
# Usage:
#   scripts/chaos.sh [harness flags]    e.g. --seed 42 --duration 120 --schedules 20
#   scripts/chaos.sh --self-test [flags]
#       runs the harness against raftkv's planted bugs and fails unless it catches each:
#         --unsafe-test-stale-reads        (a linearizability violation is expected)
#         --unsafe-test-ack-before-commit  (lost writes or violations are expected)
#         --unsafe-test-no-fsync           (with power cuts: lost acknowledged writes)
#       up to 3 schedules of 20 s per bug, stopping at the first seed that catches it.
#       A kill -9 loses nothing in the page cache, so only the "powercut" fault (raftkv
#       --test-power-cut-signal: SIGUSR2 drops every log write no completed sync
#       covered, then exits) can catch a replica that acknowledges unsynced entries.
#   scripts/chaos.sh --ci
#       the CI step of scripts/test.sh: --schedules 3 --duration 30, then --self-test.
#       Skipped (exit 0, saying why) when RAFTKV_SKIP_CHAOS=1, or without root/ip netns/nft.
#   scripts/chaos.sh --help             this text and the harness's flags
#
# Environment: BUILD_DIR (default build), JOBS (parallel compile jobs).
# Exit: 0 pass, 1 fail, 2 usage or environment problem. A failing run keeps its directory
# (history, fault log, node logs) and prints it with the command that replays its seed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

BUILD_DIR=${BUILD_DIR:-build}
CHAOS_BIN=$BUILD_DIR/bin/raftkv_chaos
TAG=$$  # names of this run's namespaces and interfaces: rkc<TAG>...
child=""

say() { echo "chaos.sh: $*"; }

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
  if [[ -x $CHAOS_BIN ]]; then
    echo
    "$CHAOS_BIN" --help
  fi
}

# Removes what a run of this script left behind: processes in its namespaces, the
# namespaces, its bridge and veths (all named rkc<TAG>...).
cleanup_net() {
  local ns link pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^rkc${TAG}n[0-9]+$"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns delete "$ns" 2>/dev/null
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -E "^rkc${TAG}(br|[hv][0-9]+)$"); do
    ip link delete "$link" 2>/dev/null
  done
  return 0
}

on_signal() {
  if [[ -n $child ]]; then
    say "interrupted: stopping the harness (pid $child)"
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  cleanup_net
  exit 130
}
trap on_signal INT TERM
trap cleanup_net EXIT

# Why chaos cannot run here (empty if it can).
environment_problem() {
  if [[ $EUID -ne 0 ]]; then echo "not root (network namespaces and nftables need root)"; return; fi
  if ! command -v ip >/dev/null; then echo "no 'ip' command (apt-get install iproute2)"; return; fi
  if ! ip netns list >/dev/null 2>&1; then echo "'ip netns' does not work here"; return; fi
  if ! command -v nft >/dev/null; then echo "no 'nft' command (apt-get install nftables)"; return; fi
}

build() {
  local jobs=${JOBS:-$(nproc)}
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    scripts/build.sh || { say "build failed"; exit 1; }
    return
  fi
  # A build directory configured before tests/chaos/harness existed lacks the target.
  if ! grep -q "^build bin/raftkv_chaos:" "$BUILD_DIR/build.ninja"; then
    cmake -S . -B "$BUILD_DIR" -DRAFTKV_CHAOS_HARNESS=ON >/dev/null || { say "cmake failed"; exit 1; }
  fi
  cmake --build "$BUILD_DIR" --target raftkv raftkv_chaos -j "$jobs" || { say "build failed"; exit 1; }
}

# Runs the harness in the background (so a signal reaches this script's trap at once),
# copying its output to stdout and to $1; returns its exit code.
run_harness() {
  local log=$1 fifo tee_pid rc
  shift
  fifo=$(mktemp -u /tmp/raftkv-chaos-fifo.XXXXXX)
  mkfifo "$fifo" || exit 2
  tee "$log" <"$fifo" &
  tee_pid=$!
  "$CHAOS_BIN" --net-tag "$TAG" "$@" >"$fifo" 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=""
  wait "$tee_pid"
  rm -f "$fifo"
  cleanup_net
  return $rc
}

self_test() {
  local log rc failed=0 bug faults caught
  log=$(mktemp /tmp/raftkv-chaos-selftest.XXXXXX)
  local results=()
  for bug in stale-reads ack-before-commit no-fsync; do
    # Partitions and pauses that strand a leader while clients still reach it make
    # stale reads likely; leader kills and isolation lose unreplicated acknowledged writes.
    case $bug in
      stale-reads) faults=isolate,pause,split,bridge ;;
      ack-before-commit) faults=isolate,kill,pause ;;
      # Only a power cut loses what the page cache held.
      no-fsync) faults=powercut ;;
    esac
    say "self-test: --unsafe-test-$bug (faults $faults; up to 3 schedules of 20 s)"
    run_harness "$log" --unsafe "unsafe-test-$bug" --expect-violation --schedules 3 \
      --duration 20 --faults "$faults" "$@"
    rc=$?
    [[ $rc -eq 2 ]] && exit 2
    caught=$(grep -o 'self-test: caught by seed [0-9]*' "$log" | grep -o '[0-9]*$')
    if [[ $rc -eq 0 && -n $caught ]]; then
      results+=("$bug: caught by seed $caught")
    else
      results+=("$bug: NOT CAUGHT")
      failed=1
    fi
  done
  rm -f "$log"
  local verdict=PASS
  [[ $failed -eq 0 ]] || verdict=FAIL
  say "self-test $verdict: $(printf '%s; ' "${results[@]}" | sed 's/; $//')"
  return $failed
}

mode=run
args=()
for arg in "$@"; do
  case $arg in
    --self-test) mode=self-test ;;
    --ci) mode=ci ;;
    -h | --help) mode=help ;;
    *) args+=("$arg") ;;
  esac
done

if [[ $mode == help ]]; then
  usage
  exit 0
fi

problem=$(environment_problem)
if [[ -n $problem ]]; then
  if [[ $mode == ci ]]; then
    say "CI chaos step skipped: $problem"
    exit 0
  fi
  say "cannot run: $problem"
  exit 2
fi
if [[ $mode == ci && ${RAFTKV_SKIP_CHAOS:-0} == 1 ]]; then
  say "CI chaos step skipped: RAFTKV_SKIP_CHAOS=1"
  exit 0
fi

build
case $mode in
  run)
    log=$(mktemp /tmp/raftkv-chaos-run.XXXXXX)
    run_harness "$log" "${args[@]}"
    rc=$?
    rm -f "$log"
    exit $rc
    ;;
  self-test)
    self_test "${args[@]}"
    exit $?
    ;;
  ci)
    start=$SECONDS
    log=$(mktemp /tmp/raftkv-chaos-run.XXXXXX)
    run_harness "$log" --schedules 3 --duration 30 "${args[@]}"
    rc=$?
    rm -f "$log"
    self_test "${args[@]}"
    st=$?
    say "CI chaos step took $((SECONDS - start)) s"
    [[ $rc -eq 0 && $st -eq 0 ]] && exit 0
    exit 1
    ;;
esac
