#!/usr/bin/env bash
# raftkv against etcd on this machine: the same load generator (kvbench), the
# same workloads, three-node clusters of each on loopback, one table.
#
# Usage: scripts/bench-vs-etcd.sh [--quick] [--rounds N] [--duration S] [--warmup S]
#                                 [--workloads a,b,...] [--steal-retries N]
#                                 [--json FILE] [--no-build]
#   --quick       CI smoke: 1 round, 2 s per run, 1,000 keys (about a minute)
#   --rounds N    rounds of every workload (default 3; the table shows medians)
#   --duration S  measured seconds per run (default 10)
#   --warmup S    unmeasured seconds before each run (default 2)
#   --workloads   a subset of: write-1 write-16 write-64 write-256 lin-read-64
#                 ser-read-64 mix-64 (default: all)
#   --steal-retries N
#                 run a workload's raftkv+etcd pair of a round again, up to N
#                 times, while the host stole over 5% of the CPU in either
#                 run; the attempt with the least steal is kept (default 2,
#                 0 with --quick; each retry costs two runs)
#   --json FILE   also write the machine, every run and the medians as JSON
#   --no-build    use the binaries in the build directory as they are
#
# What it does:
#   1. Installs Debian's etcd-server and etcd-client if `etcd` is missing, and
#      builds raftkv and kvbench (cmake --build $RAFTKV_BUILD_DIR, default
#      build, targets raftkv kvbench) unless --no-build.
#   2. Starts a three-member etcd cluster (clients 127.0.0.1:7321-7323, peers
#      7331-7333) and a three-node raftkv cluster (clients 7301-7303, peers
#      7311-7313; not cluster.sh's 7001-7103, so a dev cluster may keep
#      running), each with its data under one temporary directory
#      ($BENCH_TMPDIR, else $TMPDIR, else /tmp: the disk being measured) and
#      its default durability (a write is acknowledged once fsynced on a
#      majority). etcd runs with its defaults except logging (warn).
#   3. Writes every key once into each store (kvbench --prefill), then runs
#      each workload against raftkv and then etcd, in turn (A B A B ...), for
#      every round. Both clusters stay up for the whole run and keep their
#      data between runs (not fresh per round): the key space is fixed, so the
#      live data is the same size for every run and both stores see the same
#      history. Only the store being measured gets requests.
#   4. Prints the machine and one table of medians over the rounds: ops/s, p50,
#      p99 and server CPU seconds per 1,000 ops (all three processes, from
#      /proc) for each store, and the ratios, each written so that > 1x means
#      raftkv is better: ops raftkv/etcd, p99 etcd/raftkv, CPU etcd/raftkv.
#      Each run's line and the table's footer also give the share of CPU
#      time the VM's host took (steal, from /proc/stat); above 5% in any kept
#      run it warns that the table is not a measurement (on this kind of VM
#      such runs vary by up to 3x). Steal comes and goes, so a pair spoiled
#      by it is run again first (--steal-retries).
#
# Workloads (keys 16 B, uniform over 10,000 keys; values 256 B; 1 connection
# for 1 client, else 4 per endpoint):
#   write-N       Puts with N clients (N = 1, 16, 64, 256)
#   lin-read-64   linearizable single-key reads, 64 clients (to the leader)
#   ser-read-64   serializable single-key reads, 64 clients (all members)
#   mix-64        90% linearizable reads / 10% Puts, 64 clients
#
# It leaves no process running and removes its data when it ends, fails or is
# interrupted. Exit codes: 0 done, 1 failure, 2 usage error.
# Environment: RAFTKV_BUILD_DIR (default build), BENCH_TMPDIR.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${RAFTKV_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$repo/$build_dir
raftkv_bin=$build_dir/bin/raftkv
kvbench_bin=$build_dir/bin/kvbench

# shellcheck source=scripts/lib/bench-common.sh
source "$repo/scripts/lib/bench-common.sh"
readonly RAFTKV_CLIENT_BASE=7301 RAFTKV_PEER_BASE=7311
readonly ETCD_CLIENT_BASE=7321 ETCD_PEER_BASE=7331

quick=0
rounds=3
duration=10
warmup=2
key_space=10000
json_file=""
# Above this share of CPU stolen by the VM's host in any run, the table is flagged.
kStealWarnPct=5
steal_retries=2
steal_retries_set=0
steal_reruns=0  # pairs run again for steal
build=1
workloads=("${ALL_WORKLOADS[@]}")

die() {
  echo "bench-vs-etcd: $*" >&2
  exit 1
}

usage_error() {
  echo "bench-vs-etcd: $* (see $0 --help)" >&2
  exit 2
}

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

need_value() {  # flag remaining-args
  (($2 >= 2)) || usage_error "$1 needs a value"
}

rounds_set=0 duration_set=0 warmup_set=0
while (($# > 0)); do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) need_value "$1" $# && rounds=$2 && rounds_set=1 && shift ;;
    --duration) need_value "$1" $# && duration=$2 && duration_set=1 && shift ;;
    --warmup) need_value "$1" $# && warmup=$2 && warmup_set=1 && shift ;;
    --workloads)
      need_value "$1" $#
      IFS=, read -r -a workloads <<<"$2"
      shift
      ;;
    --steal-retries) need_value "$1" $# && steal_retries=$2 && steal_retries_set=1 && shift ;;
    --json) need_value "$1" $# && json_file=$2 && shift ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done
if ((quick)); then
  ((rounds_set)) || rounds=1
  ((duration_set)) || duration=2
  ((warmup_set)) || warmup=0.5
  ((steal_retries_set)) || steal_retries=0
  key_space=1000
fi
[[ $steal_retries =~ ^[0-9]+$ ]] ||
  usage_error "--steal-retries must be a whole number, not '$steal_retries'"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage_error "--rounds must be a positive whole number, not '$rounds'"
if ! [[ $duration =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk "BEGIN{exit !($duration > 0)}"; then
  usage_error "--duration must be a positive number of seconds, not '$duration'"
fi
[[ $warmup =~ ^[0-9]*\.?[0-9]+$ ]] || usage_error "--warmup must be seconds, not '$warmup'"
for w in "${workloads[@]}"; do
  [[ " ${ALL_WORKLOADS[*]} " == *" $w "* ]] ||
    usage_error "unknown workload '$w' (one of ${ALL_WORKLOADS[*]})"
done
if [[ -n $json_file ]]; then
  [[ $json_file == /* ]] || json_file=$PWD/$json_file
  touch "$json_file" 2>/dev/null || usage_error "cannot write --json file '$json_file'"
fi

# ---------------------------------------------------------------------------
# Cleanup: every server runs in its own session (setsid), so killing its
# process group takes everything it started. Also on INT/TERM.
# ---------------------------------------------------------------------------

tmp=""
server_pids=()
kvbench_pid=""

cleanup() {
  local pid deadline
  trap - EXIT INT TERM
  if [[ -n $kvbench_pid ]]; then kill -KILL "$kvbench_pid" 2>/dev/null || true; fi
  for pid in "${server_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 10))
  for pid in "${server_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  done
  [[ -n $tmp && -d $tmp ]] && rm -rf "$tmp"
}
# fd 3: the script's own stderr, for messages from traps that fire while a
# command's stderr is redirected.
exec 3>&2
trap cleanup EXIT
trap 'echo "bench-vs-etcd: interrupted; stopping the clusters" >&3; exit 130' INT
trap 'echo "bench-vs-etcd: terminated; stopping the clusters" >&3; exit 143' TERM HUP

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

ensure_etcd() {
  command -v etcd >/dev/null && return
  echo "bench-vs-etcd: installing etcd-server and etcd-client (apt-get)" >&2
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to install etcd-server"
    sudo=sudo
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    etcd-server etcd-client >/dev/null
  command -v etcd >/dev/null || die "etcd-server installed but no etcd on PATH"
}

ensure_built() {
  if ((build)); then
    if [[ ! -f $build_dir/build.ninja ]]; then
      "$repo/scripts/setup.sh"
      cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build_dir" --target raftkv kvbench >/dev/null ||
      die "building raftkv and kvbench in $build_dir failed"
  fi
  [[ -x $raftkv_bin && -x $kvbench_bin ]] || die "$raftkv_bin or $kvbench_bin missing"
  if grep -q '^RAFTKV_SANITIZE:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
    echo "bench-vs-etcd: warning: $build_dir is a sanitizer build; its figures mean little" >&2
  fi
}

check_ports_free() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is already in use; stop whatever listens there"
    fi
  done
}

# start_server LOG CMD...: starts CMD in its own session; sets $started_pid.
start_server() {
  local log=$1
  shift
  # Not a process group leader here, so setsid execs without forking and $!
  # is the server's pid (and its process group id).
  (cd "$tmp" && exec setsid "$@" </dev/null >>"$log" 2>&1) &
  started_pid=$!
  server_pids+=("$started_pid")
}

member_list() {  # base -> "1=127.0.0.1:base,2=127.0.0.1:base+1,3=..."
  local out="" n
  for n in 1 2 3; do out+="${out:+,}$n=127.0.0.1:$(($1 + n - 1))"; done
  echo "$out"
}

raftkv_pids=()
etcd_pids=()
raftkv_endpoints=127.0.0.1:$RAFTKV_CLIENT_BASE,127.0.0.1:$((RAFTKV_CLIENT_BASE + 1)),127.0.0.1:$((RAFTKV_CLIENT_BASE + 2))
etcd_endpoints=127.0.0.1:$ETCD_CLIENT_BASE,127.0.0.1:$((ETCD_CLIENT_BASE + 1)),127.0.0.1:$((ETCD_CLIENT_BASE + 2))

start_raftkv() {
  local n
  for n in 1 2 3; do
    mkdir -p "$tmp/raftkv/node$n"
    start_server "$tmp/raftkv/node$n.log" "$raftkv_bin" --id "$n" \
      --initial-cluster "$(member_list $RAFTKV_PEER_BASE)" \
      --initial-cluster-client "$(member_list $RAFTKV_CLIENT_BASE)" \
      --data-dir "$tmp/raftkv/node$n" --log-level warn
    raftkv_pids+=("$started_pid")
  done
}

start_etcd() {
  local n cluster="" peer client
  for n in 1 2 3; do
    cluster+="${cluster:+,}e$n=http://127.0.0.1:$((ETCD_PEER_BASE + n - 1))"
  done
  for n in 1 2 3; do
    peer=http://127.0.0.1:$((ETCD_PEER_BASE + n - 1))
    client=http://127.0.0.1:$((ETCD_CLIENT_BASE + n - 1))
    mkdir -p "$tmp/etcd"
    start_server "$tmp/etcd/e$n.log" etcd --name "e$n" --data-dir "$tmp/etcd/e$n" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-token bench-vs-etcd \
      --initial-cluster-state new --logger zap --log-outputs stderr --log-level warn
    etcd_pids+=("$started_pid")
  done
}

check_alive() {  # store
  local pid i=0 pids
  if [[ $1 == raftkv ]]; then pids=("${raftkv_pids[@]}"); else pids=("${etcd_pids[@]}"); fi
  for pid in "${pids[@]}"; do
    i=$((i + 1))
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench-vs-etcd: $1 member $i (pid $pid) exited; its log ends:" >&2
      if [[ $1 == raftkv ]]; then tail -n 20 "$tmp/raftkv/node$i.log" >&2 || true
      else tail -n 20 "$tmp/etcd/e$i.log" >&2 || true; fi
      exit 1
    fi
  done
}

# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

# kvbench STORE ARGS...: runs kvbench against STORE's cluster (in the
# background, so that a signal is handled at once), JSON on stdout.
kvbench() {
  local store=$1 eps pids
  shift
  if [[ $store == raftkv ]]; then
    eps=$raftkv_endpoints
    pids=$(IFS=,; echo "${raftkv_pids[*]}")
  else
    eps=$etcd_endpoints
    pids=$(IFS=,; echo "${etcd_pids[*]}")
  fi
  "$kvbench_bin" --target "$store" --endpoints "$eps" --pids "$pids" --json --quiet \
    --key-space "$key_space" --key-size 16 --value-size 256 "$@" &
  kvbench_pid=$!
  local rc=0
  wait "$kvbench_pid" || rc=$?
  kvbench_pid=""
  return "$rc"
}

run_one() {  # store workload round
  local store=$1 w=$2 r=$3 out before steal
  out=$tmp/results/$w.$store.$r.json
  check_alive "$store"
  before=$(cpu_ticks)
  # shellcheck disable=SC2046
  if ! kvbench "$store" $(workload_args "$w") --duration "$duration" --warmup "$warmup" \
    >"$out" 2>"$out.err"; then
    echo "bench-vs-etcd: kvbench failed on $store, $w, round $r: $(tail -n 1 "$out.err")" >&2
    check_alive "$store"
    exit 1
  fi
  steal=$(steal_pct "$before" "$(cpu_ticks)")
  echo "$steal" >"$tmp/results/$w.$store.$r.steal"
  local errors
  errors=$(sed -nE 's/.*"errors":\{([^}]*)\}.*/\1/p' "$out")
  [[ -z $errors ]] || errors="  errors: $errors"
  printf '  round %d  %-12s %-7s %9.0f ops/s  p50 %7.3f ms  p99 %7.3f ms  cpu/1k %s s  steal %2d%%%s\n' \
    "$r" "$w" "$store" "$(json_num "$out" ops_per_s)" \
    "$(awk "BEGIN{print $(json_num "$out" p50)/1000}")" \
    "$(awk "BEGIN{print $(json_num "$out" p99)/1000}")" \
    "$(json_num "$out" cpu_s_per_1k_ops)" "$steal" "$errors"
}

# Runs workload w of round r on raftkv, then on etcd. While the host stole
# more than kStealWarnPct of the CPU in either run, runs the pair again, up to
# steal_retries times; keeps the attempt whose worse run had the least steal.
run_pair() {  # workload round
  local w=$1 r=$2 attempt worst best=-1 s
  local kept=$tmp/kept
  mkdir -p "$kept"
  for ((attempt = 0; attempt <= steal_retries; attempt++)); do
    run_one raftkv "$w" "$r"
    run_one etcd "$w" "$r"
    worst=$(cat "$tmp/results/$w".{raftkv,etcd}."$r".steal | sort -g | tail -n 1)
    if ((best < 0 || worst < best)); then
      best=$worst
      rm -f "$kept"/*
      cp "$tmp/results/$w".{raftkv,etcd}."$r".{json,steal} "$kept/"
    fi
    ((worst > kStealWarnPct && attempt < steal_retries)) || break
    steal_reruns=$((steal_reruns + 1))
    echo "  round $r  $w: the host stole ${worst}% of the CPU; running the pair again"
  done
  for s in raftkv etcd; do
    cp "$kept/$w.$s.$r.json" "$kept/$w.$s.$r.steal" "$tmp/results/"
  done
}

# Steal over every kept run: "median max" (percent).
steal_summary() {
  local all
  mapfile -t all < <(cat "$tmp"/results/*.steal)
  echo "$(median "${all[@]}") $(printf '%s\n' "${all[@]}" | sort -g | tail -n 1)"
}

prefill() {  # store
  if ! kvbench "$1" --prefill --total 1 --warmup 0 --clients 64 --connections 4 \
    --connect-timeout 30 >/dev/null 2>"$tmp/prefill.$1.err"; then
    check_alive "$1"
    die "$1 did not come up or prefill failed: $(tail -n 1 "$tmp/prefill.$1.err")"
  fi
}

machine() {
  local cpu disk dev
  cpu=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)
  dev=$(df --output=source "$tmp" | tail -n 1)
  disk="$dev ($(df --output=fstype "$tmp" | tail -n 1)"
  local base
  base=$(basename "$(readlink -f "$dev" 2>/dev/null || echo "$dev")")
  base=${base%%[0-9]*}
  if [[ -r /sys/block/$base/queue/rotational ]]; then
    if [[ $(cat "/sys/block/$base/queue/rotational") == 1 ]]; then disk+=", rotational"
    else disk+=", non-rotational"; fi
  fi
  disk+=")"
  echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
  echo "disk:    data under $tmp on $disk"
  echo "raftkv:  $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD -- src proto 2>/dev/null || echo ' (+ uncommitted changes in src/ or proto/)') ($build_dir)"
  echo "etcd:    $(etcd --version | sed -n 's/^etcd Version: //p')"
}

fmt_ratio() {  # numerator denominator -> "2.13x" or "-"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0 || a + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

fmt() {  # printf-format value -> formatted or "-"
  if [[ $2 == "-" ]]; then echo "-"; else awk -v v="$2" "BEGIN { printf \"$1\", v }"; fi
}

print_table() {
  local w s r f ops p50 p99 cpu
  local -A med
  for w in "${workloads[@]}"; do
    for s in raftkv etcd; do
      ops=() p50=() p99=() cpu=()
      for ((r = 1; r <= rounds; r++)); do
        f=$tmp/results/$w.$s.$r.json
        ops+=("$(json_num "$f" ops_per_s)")
        p50+=("$(json_num "$f" p50)")
        p99+=("$(json_num "$f" p99)")
        cpu+=("$(json_num "$f" cpu_s_per_1k_ops)")
      done
      med[$w.$s.ops]=$(median "${ops[@]}")
      med[$w.$s.p50]=$(awk -v v="$(median "${p50[@]}")" 'BEGIN{print v / 1000}')
      med[$w.$s.p99]=$(awk -v v="$(median "${p99[@]}")" 'BEGIN{print v / 1000}')
      med[$w.$s.cpu]=$(median "${cpu[@]}")
    done
  done
  echo
  echo "Medians of $rounds round(s), ${duration} s each (after ${warmup} s warm-up); latency in ms;"
  echo "CPU = seconds of server CPU (all 3 members) per 1,000 ops; ratios > 1x favour raftkv."
  echo
  echo "| workload | raftkv ops/s | p50 | p99 | CPU/1k | etcd ops/s | p50 | p99 | CPU/1k | ops | p99 | CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for w in "${workloads[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$w" \
      "$(fmt %.0f "${med[$w.raftkv.ops]}")" "$(fmt %.2f "${med[$w.raftkv.p50]}")" \
      "$(fmt %.2f "${med[$w.raftkv.p99]}")" "$(fmt %.3f "${med[$w.raftkv.cpu]}")" \
      "$(fmt %.0f "${med[$w.etcd.ops]}")" "$(fmt %.2f "${med[$w.etcd.p50]}")" \
      "$(fmt %.2f "${med[$w.etcd.p99]}")" "$(fmt %.3f "${med[$w.etcd.cpu]}")" \
      "$(fmt_ratio "${med[$w.raftkv.ops]}" "${med[$w.etcd.ops]}")" \
      "$(fmt_ratio "${med[$w.etcd.p99]}" "${med[$w.raftkv.p99]}")" \
      "$(fmt_ratio "${med[$w.etcd.cpu]}" "${med[$w.raftkv.cpu]}")"
  done
  local steal_med steal_max
  read -r steal_med steal_max <<<"$(steal_summary)"
  echo
  echo "CPU stolen by the VM's host (steal) during the runs: median ${steal_med}%, max ${steal_max}%" \
    "($steal_reruns pair(s) run again for steal)."
  if ((steal_max > kStealWarnPct)); then
    echo "bench-vs-etcd: warning: the host took over ${kStealWarnPct}% of the CPU during some runs;" \
      "such runs vary by up to 3x, so this table is not a measurement: rerun when the host is idle" >&2
  fi
  if [[ -n $json_file ]]; then
    {
      printf '{"date":"%s","rounds":%d,"duration_s":%s,"warmup_s":%s,"key_space":%d,' \
        "$(date -u +%FT%TZ)" "$rounds" "$duration" "$warmup" "$key_space"
      printf '"machine":"%s",' "$(machine | tr '\n' ';' | sed 's/"/\\"/g')"
      printf '"steal_pct":{"median":%s,"max":%s},"steal_reruns":%d,' "$steal_med" "$steal_max" \
        "$steal_reruns"
      printf '"medians":['
      local first=1
      for w in "${workloads[@]}"; do
        ((first)) || printf ','
        first=0
        printf '{"workload":"%s"' "$w"
        for s in raftkv etcd; do
          printf ',"%s":{"ops_per_s":%s,"p50_ms":%s,"p99_ms":%s,"cpu_s_per_1k_ops":%s}' "$s" \
            "${med[$w.$s.ops]/-/null}" "${med[$w.$s.p50]/-/null}" "${med[$w.$s.p99]/-/null}" \
            "${med[$w.$s.cpu]/-/null}"
        done
        printf '}'
      done
      printf '],"runs":['
      first=1
      for f in "$tmp"/results/*.json; do
        ((first)) || printf ','
        first=0
        tr -d '\n' <"$f"
      done
      printf ']}\n'
    } >"$json_file"
    echo
    echo "results written to $json_file"
  fi
}

main() {
  local start=$SECONDS r w
  ensure_etcd
  ensure_built
  check_ports_free $RAFTKV_CLIENT_BASE $((RAFTKV_CLIENT_BASE + 1)) $((RAFTKV_CLIENT_BASE + 2)) \
    $RAFTKV_PEER_BASE $((RAFTKV_PEER_BASE + 1)) $((RAFTKV_PEER_BASE + 2)) \
    $ETCD_CLIENT_BASE $((ETCD_CLIENT_BASE + 1)) $((ETCD_CLIENT_BASE + 2)) \
    $ETCD_PEER_BASE $((ETCD_PEER_BASE + 1)) $((ETCD_PEER_BASE + 2))
  tmp=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/bench-vs-etcd.XXXXXX")
  mkdir -p "$tmp/results"
  machine
  echo "starting raftkv (clients $raftkv_endpoints) and etcd (clients $etcd_endpoints)"
  start_raftkv
  start_etcd
  prefill raftkv
  prefill etcd
  echo "prefilled $key_space keys in each; running ${#workloads[@]} workload(s) x $rounds round(s)"
  for ((r = 1; r <= rounds; r++)); do
    for w in "${workloads[@]}"; do
      run_pair "$w" "$r"
    done
  done
  print_table
  echo
  echo "took $((SECONDS - start)) s"
}

main
