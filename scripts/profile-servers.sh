#!/usr/bin/env bash
# Where the servers' time goes under one kvbench workload. Starts a private
# three-node cluster (client ports 7401-7403, peer ports 7501-7503, data in a
# temporary directory), writes every key once, runs kvbench, and while it runs
# counts with `perf stat`, for the leader and one follower, per thread and per
# operation: CPU time (cpu_us, microseconds), time runnable but waiting for a
# core (rq_wait_us, from /proc/<pid>/task/<tid>/schedstat: on this 2-core
# machine the servers and kvbench queue for the CPUs), bytes read from the
# disk (disk_read_b, from /proc/<pid>/task/<tid>/io: a write path that reads
# is waiting for the disk twice), the system calls that mark a
# network event, a hand-off between threads or a disk sync (epoll_wait,
# recvmsg, sendmsg, futex, fdatasync) and the context switches. With --record
# DIR it also records a CPU profile of both (perf record -g: DIR/leader.data,
# DIR/follower.data; read them with `perf report -i DIR/leader.data --sort comm,sym`).
#
# Usage: scripts/profile-servers.sh [--clients N] [--read-ratio R]
#                                   [--duration S] [--record DIR]
#   --clients N      concurrent requests (default 64)
#   --read-ratio R   fraction of linearizable reads, 0..1 (default 0: Puts)
#   --duration S     seconds of load (default 10; the counts cover the middle 5)
#   --record DIR     also write perf CPU profiles into DIR
#
# Needs perf (Debian: linux-perf) and root (tracepoints). Uses the binaries in
# $RAFTKV_BUILD_DIR (default build/). Leaves nothing running.
#
# The counting tracepoints make every system call and context switch dearer,
# so cpu_us overstates what a path heavy in them costs, and what saving them
# gains (held reads, 2026-12-04: -18% to -23% of the loops' CPU per write
# here, -4% to -7% of the servers' in ab-builds.sh). Find causes here; measure
# changes with ab-builds.sh.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
clients=64 read_ratio=0 duration=10 record=""
usage() { sed -n '/^# Usage:/,/^#$/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --clients) clients=${2:?--clients needs a value}; shift 2 ;;
    --read-ratio) read_ratio=${2:?--read-ratio needs a value}; shift 2 ;;
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --record) record=${2:?--record needs a directory}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "profile-servers: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ $clients =~ ^[1-9][0-9]*$ ]] || { echo "profile-servers: --clients must be a positive integer, not '$clients'" >&2; exit 2; }
if ! [[ $duration =~ ^[0-9]+$ ]] || ((duration < 8)); then
  echo "profile-servers: --duration must be a whole number of seconds, at least 8 (got '$duration')" >&2
  exit 2
fi
command -v perf >/dev/null || { echo "profile-servers: perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 1; }

build_dir=${RAFTKV_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$repo/$build_dir
kvbench=$build_dir/bin/kvbench
[[ -x $kvbench ]] || { echo "profile-servers: $kvbench not found; run scripts/build.sh first" >&2; exit 1; }

data=$(mktemp -d /tmp/raftkv-profile.XXXXXX)
export RAFTKV_DATA=$data RAFTKV_BUILD_DIR=$build_dir RAFTKV_LOG_LEVEL=warn
export RAFTKV_CLIENT_PORT_BASE=7401 RAFTKV_PEER_PORT_BASE=7501
endpoints=127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
cleanup() {
  "$repo/scripts/cluster.sh" stop >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$repo/scripts/cluster.sh" start >/dev/null
"$kvbench" --endpoints "$endpoints" --clients 64 --connections 4 --prefill --total 1 \
  --quiet --warmup 0 >/dev/null

# The leader's client port, from kvbench; its pid from the cluster's pid files.
leader_port=$("$kvbench" --endpoints "$endpoints" --clients 1 --total 1 --warmup 0 --quiet --json |
  grep -o '"leader": *"[^"]*"' | grep -o '[0-9]*"$' | tr -d '"')
node_of_port=$((leader_port - 7400))
leader_pid=$(cat "$data/node$node_of_port.pid")
follower_pid=$(cat "$data"/node*.pid | grep -vx "$leader_pid" | head -1)

events=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvmsg,syscalls:sys_enter_sendmsg
events+=,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync,sched:sched_switch,task-clock
connections=$((clients < 4 ? clients : 4))  # kvbench refuses idle connections
"$kvbench" --endpoints "$endpoints" --clients "$clients" --connections "$connections" --duration "$duration" \
  --warmup 1 --read-ratio "$read_ratio" --quiet --json >"$data/bench.json" &
bench=$!
sleep 3
pid_of() { if [[ $1 == leader ]]; then echo "$leader_pid"; else echo "$follower_pid"; fi; }
# thread_snapshot PID: per thread, "<comm>-<tid> <tid> <ns waited on a run
# queue> <bytes read from the disk>".
thread_snapshot() {
  local t
  for t in /proc/"$1"/task/*; do
    [[ -r $t/schedstat && -r $t/io ]] || continue
    echo "$(tr ' ' _ <"$t/comm")-${t##*/} ${t##*/} $(cut -d' ' -f2 "$t/schedstat")" \
      "$(awk '$1 == "read_bytes:" { print $2 }' "$t/io")"
  done
}
for role in leader follower; do
  pid=$(pid_of "$role")
  thread_snapshot "$pid" >"$data/$role.sched0"
done
sched_start_ns=$(date +%s%N)
pids=()
for role in leader follower; do
  pid=$(pid_of "$role")
  perf stat -e "$events" --per-thread -p "$pid" -o "$data/$role.stat" -- sleep 5 &
  pids+=($!)
  if [[ -n $record ]]; then
    mkdir -p "$record"
    perf record -e cpu-clock -g -p "$pid" -o "$record/$role.data" -- sleep 5 >/dev/null 2>&1 &
    pids+=($!)
  fi
done
wait "${pids[@]}"
# The snapshots span perf's 5 s and its start and stop: scaled to 5 s.
sched_scale=$(awk -v ns=$(($(date +%s%N) - sched_start_ns)) 'BEGIN { print 5e9 / ns }')
for role in leader follower; do
  pid=$(pid_of "$role")
  # Appended to perf's output as "<comm>-<tid> <us> rqwait" and
  # "<comm>-<tid> <bytes> diskread" lines.
  thread_snapshot "$pid" | awk -v scale="$sched_scale" '
    NR == FNR { waited[$2] = $3; read[$2] = $4; next }
    ($2 in waited) {
      printf "%s %.1f rqwait\n", $1, ($3 - waited[$2]) / 1000 * scale
      printf "%s %.1f diskread\n", $1, ($4 - read[$2]) * scale
    }' \
    "$data/$role.sched0" - >>"$data/$role.stat"
done
wait "$bench"

ops_per_s=$(grep -o '"ops_per_s": *[0-9.]*' "$data/bench.json" | grep -o '[0-9.]*$')
echo "kvbench --clients $clients --read-ratio $read_ratio: $ops_per_s ops/s"
echo "per operation, counted over 5 s (the leader's node $node_of_port, pid $leader_pid; a follower, pid $follower_pid):"
for role in leader follower; do
  # perf stat --per-thread lines: "<comm>-<tid>  <count>  <event>"
  awk -v role="$role" -v ops="$ops_per_s" '
    $3 ~ /^(syscalls|sched):/ {
      thread = $1; sub(/-[0-9]+$/, "", thread)
      ev = $3; sub(/^.*:(sys_enter_)?/, "", ev)
      n = $2; gsub(",", "", n)
      if (n == "<not") next
      count[thread, ev] += n; threads[thread] = 1; counted += n
    }
    $3 == "rqwait" {  # "<comm>-<tid>  <us> rqwait" (schedstat, above)
      thread = $1; sub(/-[0-9]+$/, "", thread)
      count[thread, "rq_wait_us"] += $2; threads[thread] = 1
    }
    $3 == "diskread" {  # "<comm>-<tid>  <bytes> diskread" (/proc io, above)
      thread = $1; sub(/-[0-9]+$/, "", thread)
      count[thread, "disk_read_b"] += $2; threads[thread] = 1
    }
    $3 == "msec" && $4 == "task-clock" {  # "<comm>-<tid>  <ms> msec task-clock ..."
      thread = $1; sub(/-[0-9]+$/, "", thread)
      n = $2; gsub(",", "", n)
      count[thread, "cpu_us"] += n * 1000; threads[thread] = 1
    }
    END {
      if (counted == 0) {
        print "profile-servers: perf counted nothing for the " role " (tracepoints need root, or kernel.perf_event_paranoid=-1)" > "/dev/stderr"
        exit 1
      }
      n = split("cpu_us rq_wait_us disk_read_b epoll_wait recvmsg sendmsg futex fdatasync sched_switch", evs, " ")
      printf "%-9s %-16s", role, "thread"
      for (i = 1; i <= n; i++) printf " %12s", evs[i]
      printf "\n"
      for (t in threads) {
        line = sprintf("%-9s %-16s", "", t); any = 0
        for (i = 1; i <= n; i++) {
          v = count[t, evs[i]] / (ops * 5); total[i] += v
          if (i > 3 && v >= 0.0005 || i <= 3 && v >= 0.05) any = 1
          line = line sprintf(i <= 3 ? " %12.1f" : " %12.3f", v)
        }
        if (any) print line
      }
      printf "%-9s %-16s", "", "(all threads)"
      for (i = 1; i <= n; i++) printf(i <= 3 ? " %12.1f" : " %12.3f", total[i])
      printf "\n"
    }' "$data/$role.stat"
done
[[ -z $record ]] || echo "profiles: $record/leader.data $record/follower.data"
