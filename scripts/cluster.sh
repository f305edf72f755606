#!/usr/bin/env bash
# A local three-node raftkv cluster on loopback.
#
# Usage: scripts/cluster.sh COMMAND
#   start        build if needed, start the three nodes, wait for a leader
#   stop         stop every node (SIGTERM, then SIGKILL after RAFTKV_STOP_TIMEOUT)
#   status       kvctl status of every node
#   kill N       kill -9 node N (1..3)
#   restart N    start node N again with the same flags (stopping it first if running)
#   logs N [-f]  print the end of node N's log (-f: follow it)
#
# Environment:
#   RAFTKV_DATA              data, logs and pid files (default: <repo>/data):
#                            $RAFTKV_DATA/nodeN, nodeN.log, nodeN.pid
#   RAFTKV_CLIENT_PORT_BASE  client port of node 1 (default 7001); node N uses base+N-1
#   RAFTKV_PEER_PORT_BASE    peer port of node 1 (default 7101)
#   RAFTKV_BUILD_DIR         where the binaries are (default: build; bin/raftkv, bin/kvctl)
#   RAFTKV_LOG_LEVEL         server log level (default: info)
#   RAFTKV_START_TIMEOUT     seconds to wait for a leader (default: 30)
#   RAFTKV_STOP_TIMEOUT      seconds between SIGTERM and SIGKILL (default: 10)
#   RAFTKV_SERVER_FLAGS      extra flags for every node (e.g. "--tick-ms 50")
#
# With the default ports, `build/bin/kvctl put hello world` needs no flags;
# otherwise set RAFTKV_ENDPOINTS as `start` prints.
set -euo pipefail

readonly NODES=(1 2 3)

repo=$(cd "$(dirname "$0")/.." && pwd)
# A relative RAFTKV_DATA is relative to where the script is run from.
data=${RAFTKV_DATA:-$repo/data}
[[ $data == /* ]] || data=$PWD/$data
build_dir=${RAFTKV_BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$repo/$build_dir
server_bin=$build_dir/bin/raftkv
kvctl_bin=$build_dir/bin/kvctl
client_base=${RAFTKV_CLIENT_PORT_BASE:-7001}
peer_base=${RAFTKV_PEER_PORT_BASE:-7101}
log_level=${RAFTKV_LOG_LEVEL:-info}
start_timeout=${RAFTKV_START_TIMEOUT:-30}
stop_timeout=${RAFTKV_STOP_TIMEOUT:-10}
read -r -a extra_flags <<<"${RAFTKV_SERVER_FLAGS:-}"

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

usage_error() {
  echo "cluster.sh: $*" >&2
  echo "usage: scripts/cluster.sh start|stop|status|kill N|restart N|logs N [-f] (see the top of $0)" >&2
  exit 2
}

check_number() {  # name value
  [[ $2 =~ ^[0-9]+$ ]] || usage_error "$1 must be a whole number, not '$2'"
}
check_number RAFTKV_CLIENT_PORT_BASE "$client_base"
check_number RAFTKV_PEER_PORT_BASE "$peer_base"
check_number RAFTKV_START_TIMEOUT "$start_timeout"
check_number RAFTKV_STOP_TIMEOUT "$stop_timeout"
((client_base + ${#NODES[@]} - 1 <= 65535 && peer_base + ${#NODES[@]} - 1 <= 65535)) ||
  usage_error "port bases too high (client $client_base, peer $peer_base)"

client_addr() { echo "127.0.0.1:$((client_base + $1 - 1))"; }
peer_addr() { echo "127.0.0.1:$((peer_base + $1 - 1))"; }
pid_file() { echo "$data/node$1.pid"; }
log_file() { echo "$data/node$1.log"; }

# "1=127.0.0.1:7101,2=...": addr_fn is peer_addr or client_addr.
member_list() {
  local addr_fn=$1 out="" n
  for n in "${NODES[@]}"; do out+="${out:+,}$n=$($addr_fn "$n")"; done
  echo "$out"
}

endpoints() {
  local out="" n
  for n in "${NODES[@]}"; do out+="${out:+,}$(client_addr "$n")"; done
  echo "$out"
}

check_node() {  # N
  if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > ${#NODES[@]})); then
    usage_error "node must be one of ${NODES[*]}, not '$1'"
  fi
}

# Prints node N's pid if it is running (the pid file names a live raftkv).
node_pid() {
  local file pid
  file=$(pid_file "$1")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid belonging to another program.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "raftkv" || return 1
  echo "$pid"
}

ensure_built() {
  if [[ ! -x $server_bin || ! -x $kvctl_bin ]]; then
    echo "cluster.sh: $server_bin or $kvctl_bin missing; building (scripts/build.sh)"
    BUILD_DIR=$build_dir "$repo/scripts/build.sh"
    [[ -x $server_bin && -x $kvctl_bin ]] || die "the build did not produce $server_bin and $kvctl_bin"
  fi
}

kvctl() { "$kvctl_bin" --endpoints "$(endpoints)" "$@"; }

show_log_tail() {  # N
  echo "--- last lines of $(log_file "$1") ---" >&2
  tail -n 20 "$(log_file "$1")" >&2 || true
}

start_node() {  # N
  local n=$1 pid
  if pid=$(node_pid "$n"); then
    echo "node $n already running (pid $pid)"
    return
  fi
  mkdir -p "$data/node$n"
  echo "=== $(date '+%F %T') cluster.sh: starting node $n ===" >>"$(log_file "$n")"
  # setsid + nohup: the node outlives this script and its terminal. setsid
  # does not fork here (we are not a process group leader), so $! is the
  # server's pid.
  (cd "$data" && exec nohup setsid "$server_bin" \
    --id "$n" \
    --initial-cluster "$(member_list peer_addr)" \
    --initial-cluster-client "$(member_list client_addr)" \
    --listen-client "$(client_addr "$n")" \
    --listen-peer "$(peer_addr "$n")" \
    --data-dir "$data/node$n" \
    --log-level "$log_level" \
    "${extra_flags[@]}" \
    </dev/null >>"$(log_file "$n")" 2>&1) &
  pid=$!
  echo "$pid" >"$(pid_file "$n")"
  # Until the subshell has exec'd the server, node_pid would not recognize it.
  local tries=0
  while ! node_pid "$n" >/dev/null && kill -0 "$pid" 2>/dev/null && ((tries++ < 100)); do
    sleep 0.02
  done
  echo "node $n started (pid $pid): clients on $(client_addr "$n"), peers on $(peer_addr "$n")"
}

# Fails (with the node's log) if a node we started has exited.
check_alive() {  # N...
  local n
  for n in "$@"; do
    if ! node_pid "$n" >/dev/null; then
      echo "cluster.sh: node $n exited during start-up" >&2
      show_log_tail "$n"
      exit 1
    fi
  done
}

# Prints the leader's endpoint and id ("127.0.0.1:7001 1") if one is known.
find_leader() {
  local line
  line=$(kvctl --timeout 1s --dial-timeout 500ms status --output json 2>/dev/null |
    grep '"role":"ROLE_LEADER"' | head -n 1) || return 1
  [[ -n $line ]] || return 1
  echo "$(sed -E 's/^\{"endpoint":"([^"]*)".*/\1/' <<<"$line")" \
    "$(sed -E 's/.*"member_id":"?([0-9]+)"?.*/\1/' <<<"$line")"
}

wait_for_leader() {
  local deadline=$((SECONDS + start_timeout)) leader
  while ((SECONDS < deadline)); do
    check_alive "${NODES[@]}"
    if leader=$(find_leader); then
      echo "leader: node ${leader#* } (${leader% *})"
      return
    fi
    sleep 0.2
  done
  echo "cluster.sh: no leader elected within ${start_timeout}s; status:" >&2
  kvctl --timeout 2s status >&2 || true
  for n in "${NODES[@]}"; do show_log_tail "$n"; done
  exit 1
}

# Waits until node N answers Status.
wait_for_node() {  # N
  local n=$1 deadline=$((SECONDS + start_timeout))
  while ((SECONDS < deadline)); do
    check_alive "$n"
    if "$kvctl_bin" --endpoints "$(client_addr "$n")" --timeout 1s status >/dev/null 2>&1; then
      return
    fi
    sleep 0.2
  done
  echo "cluster.sh: node $n did not answer within ${start_timeout}s" >&2
  show_log_tail "$n"
  exit 1
}

print_endpoints() {
  echo "endpoints: $(endpoints)"
  if [[ $(endpoints) != "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003" ]]; then
    echo "  (not kvctl's default: export RAFTKV_ENDPOINTS=$(endpoints))"
  fi
}

cmd_start() {
  local n running=() stopped=()
  for n in "${NODES[@]}"; do
    if node_pid "$n" >/dev/null; then running+=("$n"); else stopped+=("$n"); fi
  done
  if ((${#stopped[@]} == 0)); then
    echo "cluster already running (nodes ${running[*]}); nothing to do"
    print_endpoints
    return 0
  fi
  ensure_built
  mkdir -p "$data"
  ((${#running[@]} == 0)) || echo "nodes ${running[*]} already running; starting ${stopped[*]}"
  for n in "${stopped[@]}"; do start_node "$n"; done
  wait_for_leader
  print_endpoints
  echo "data and logs in $data"
}

# Waits up to RAFTKV_STOP_TIMEOUT for node N (pid, already sent SIGTERM) to
# exit, then SIGKILLs it.
await_exit() {  # N pid
  local n=$1 pid=$2 deadline=$((SECONDS + stop_timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "node $n did not stop within ${stop_timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  rm -f "$(pid_file "$n")"
  echo "node $n stopped"
}

stop_node() {  # N
  local n=$1 pid
  if ! pid=$(node_pid "$n"); then
    rm -f "$(pid_file "$n")"
    echo "node $n not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  await_exit "$n" "$pid"
}

cmd_stop() {
  local n pid
  local -A pids=()
  # SIGTERM to all at once, so the nodes do not each wait out an election.
  for n in "${NODES[@]}"; do
    if pid=$(node_pid "$n"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids[$n]=$pid
    else
      rm -f "$(pid_file "$n")"
      echo "node $n not running"
    fi
  done
  for n in "${!pids[@]}"; do await_exit "$n" "${pids[$n]}"; done
}

cmd_kill() {  # N
  local n=$1 pid
  pid=$(node_pid "$n") || die "node $n is not running"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$(pid_file "$n")"
  echo "node $n killed (pid $pid, SIGKILL)"
}

cmd_restart() {  # N
  local n=$1
  ensure_built
  node_pid "$n" >/dev/null && stop_node "$n"
  start_node "$n"
  wait_for_node "$n"
  echo "node $n answering on $(client_addr "$n")"
}

cmd_logs() {  # N [-f]
  local n=$1 file
  file=$(log_file "$n")
  [[ -f $file ]] || die "no log for node $n at $file (never started with RAFTKV_DATA=$data?)"
  if [[ ${2:-} == -f ]]; then
    exec tail -n 50 -f "$file"
  fi
  tail -n "${LINES_MAX:-200}" "$file"
}

cmd_status() {
  [[ -x $kvctl_bin ]] || die "$kvctl_bin missing; run scripts/cluster.sh start (or scripts/build.sh)"
  local n pid
  for n in "${NODES[@]}"; do
    if pid=$(node_pid "$n"); then
      echo "node $n: running (pid $pid)"
    else
      echo "node $n: not running"
    fi
  done
  kvctl status
}

main() {
  (($# >= 1)) || usage_error "missing command"
  local cmd=$1
  shift
  case "$cmd" in
    start | stop | status)
      (($# == 0)) || usage_error "$cmd takes no arguments"
      "cmd_$cmd"
      ;;
    kill | restart)
      (($# == 1)) || usage_error "$cmd takes one node number (1..${#NODES[@]})"
      check_node "$1"
      "cmd_$cmd" "$1"
      ;;
    logs)
      if ! [[ $# == 1 || ($# == 2 && $2 == -f) ]]; then
        usage_error "logs takes a node number and optionally -f: logs N [-f]"
      fi
      check_node "$1"
      cmd_logs "$@"
      ;;
    -h | --help | help)
      sed -n '2,25p' "$0"
      ;;
    *) usage_error "unknown command '$cmd'" ;;
  esac
}

main "$@"
