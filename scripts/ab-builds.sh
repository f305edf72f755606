#!/usr/bin/env bash
# Interleaved A/B comparison of two or more raftkv builds on this machine: is
# a change faster, and by how much? Starts one three-node cluster per build
# side by side (client ports 7601+20i.., peer ports 7701+20i.., data in a
# temporary directory), writes every key once into each, then, for every
# round and workload, runs kvbench against each build in turn, the order
# alternating between rounds. It prints every run and, for each build
# against the first, the median over rounds of the paired ratios (each
# round's run of B against the same round's run of A, so slow drift of the
# machine cancels) of ops/s, server CPU per op and p99, with their range.
# On this kind of VM single runs vary by 10-15% when idle and by up to 3x
# when the host takes CPU (each round's steal is printed): trust a median of
# 8-10 rounds, and run a build against a copy of itself to see the noise.
#
# Usage: scripts/ab-builds.sh [--rounds N] [--duration S] [--warmup S]
#                             [--workloads a,b,...] DIR_A DIR_B [DIR_C ...]
#   DIR_x         a build directory holding bin/raftkv and bin/kvctl (copy
#                 them aside before rebuilding, e.g. cp -r build/bin /tmp/a/)
#   --rounds N    rounds (default 8)
#   --duration S  measured seconds per run (default 3)
#   --warmup S    unmeasured seconds before each run (default 1)
#   --workloads   a subset of: write-1 write-16 write-64 write-256
#                 lin-read-64 ser-read-64 mix-64 (default write-16,write-64,
#                 write-256,lin-read-64); the same workloads as bench-vs-etcd.sh
#
# kvbench is DIR_A's if it has one, else build/bin/kvbench. Leaves nothing
# running and removes its data when it ends, fails or is interrupted.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/bench-common.sh
source "$repo/scripts/lib/bench-common.sh"
rounds=8 duration=3 warmup=1 workloads=write-16,write-64,write-256,lin-read-64
usage() {
  sed -n '15,24p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() {
  echo "ab-builds: $*" >&2
  exit 1
}
dirs=()
while (($#)); do
  case $1 in
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
    --workloads) workloads=${2:?--workloads needs a value}; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "ab-builds: unknown flag '$1'" >&2; usage ;;
    *) dirs+=("$(cd "$1" 2>/dev/null && pwd || echo "$1")"); shift ;;
  esac
done
((${#dirs[@]} >= 2)) || { echo "ab-builds: give at least two build directories" >&2; usage; }
((${#dirs[@]} <= 5)) || die "at most 5 builds at once (ports 7601-7703+80)"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, not '$rounds'"
[[ $duration =~ ^[1-9][0-9]*$ ]] || die "--duration must be a positive whole number of seconds, not '$duration'"
[[ $warmup =~ ^[0-9]+$ ]] || die "--warmup must be a whole number of seconds, not '$warmup'"
for d in "${dirs[@]}"; do
  # cluster.sh would build a directory without binaries from this tree: refuse.
  [[ -x $d/bin/raftkv && -x $d/bin/kvctl ]] || die "$d has no bin/raftkv and bin/kvctl"
done
kvbench=${dirs[0]}/bin/kvbench
[[ -x $kvbench ]] || kvbench=$repo/build/bin/kvbench
[[ -x $kvbench ]] || die "no kvbench in ${dirs[0]}/bin or build/bin; run scripts/build.sh"

IFS=, read -r -a wls <<<"$workloads"
for w in "${wls[@]}"; do workload_args "$w" >/dev/null || die "unknown workload '$w'"; done

tmp=$(mktemp -d /tmp/raftkv-ab.XXXXXX)
cluster() {  # index command
  RAFTKV_BUILD_DIR=${dirs[$1]} RAFTKV_DATA=$tmp/data-$1 RAFTKV_LOG_LEVEL=warn \
    RAFTKV_CLIENT_PORT_BASE=$((7601 + 20 * $1)) RAFTKV_PEER_PORT_BASE=$((7701 + 20 * $1)) \
    "$repo/scripts/cluster.sh" "$2"
}
endpoints() { local b=$((7601 + 20 * $1)); echo "127.0.0.1:$b,127.0.0.1:$((b + 1)),127.0.0.1:$((b + 2))"; }
cleanup() {
  for i in "${!dirs[@]}"; do cluster "$i" stop >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for i in "${!dirs[@]}"; do
  cluster "$i" start >/dev/null || die "the cluster of ${dirs[$i]} did not start"
  "$kvbench" --endpoints "$(endpoints "$i")" --prefill --total 1 --warmup 0 --clients 64 \
    --connections 4 --quiet >/dev/null || die "prefill of ${dirs[$i]} failed"
done

letter() { local l=ABCDE; echo "${l:$1:1}"; }

echo "A = ${dirs[0]}"
for ((i = 1; i < ${#dirs[@]}; i++)); do echo "$(letter "$i") = ${dirs[$i]}"; done
for ((r = 1; r <= rounds; r++)); do
  order=("${!dirs[@]}")
  ((r % 2)) || mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
  for w in "${wls[@]}"; do
    for i in "${order[@]}"; do
      out=$tmp/$w.$i.$r.json
      before=$(cpu_ticks)
      # shellcheck disable=SC2046
      "$kvbench" --endpoints "$(endpoints "$i")" --json --quiet --duration "$duration" \
        --warmup "$warmup" $(workload_args "$w") >"$out" || die "kvbench failed on ${dirs[$i]}, $w"
      steal=$(steal_pct "$before" "$(cpu_ticks)")
      printf 'round %d  %-12s %s  %8.0f ops/s  p99 %7.2f ms  cpu/1k %s s  steal %d%%\n' "$r" "$w" \
        "$(letter "$i")" "$(json_num "$out" ops_per_s)" \
        "$(awk -v v="$(json_num "$out" p99)" 'BEGIN { print v / 1000 }')" \
        "$(json_num "$out" cpu_s_per_1k_ops)" "$steal"
    done
  done
done

echo
echo "median over $rounds rounds of each round's B/A ratio [min..max]; cpu = server CPU per op:"
for w in "${wls[@]}"; do
  for ((i = 1; i < ${#dirs[@]}; i++)); do
    for r in $(seq 1 "$rounds"); do
      a=$tmp/$w.0.$r.json b=$tmp/$w.$i.$r.json
      echo "$(json_num "$a" ops_per_s) $(json_num "$b" ops_per_s) $(json_num "$a" cpu_s_per_1k_ops)" \
        "$(json_num "$b" cpu_s_per_1k_ops) $(json_num "$a" p99) $(json_num "$b" p99)"
    done | awk -v w="$w" -v v="$(letter "$i")" '
      function med(x, n,   s, i, j, t) {
        for (i = 1; i <= n; i++) s[i] = x[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && s[j - 1] > s[j]; j--) { t = s[j]; s[j] = s[j - 1]; s[j - 1] = t }
        lo = s[1]; hi = s[n]
        return n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
      }
      function show(name, x, n,   m) {
        if (n == 0) return sprintf("%s -", name)
        m = med(x, n)
        return sprintf("%s %+6.1f%% [%+.0f%%..%+.0f%%]", name, 100 * (m - 1), 100 * (lo - 1), 100 * (hi - 1))
      }
      { n++; ops[n] = $2 / $1; p99[n] = $6 / $5
        if ($3 != "null" && $4 != "null" && $3 > 0) cpu[++nc] = $4 / $3 }
      END { printf "%-12s %s/A  %s  %s  %s\n", w, v, show("ops", ops, n), show("cpu", cpu, nc), show("p99", p99, n) }'
  done
done
