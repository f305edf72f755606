# shellcheck shell=bash
# Shared by bench-vs-etcd.sh and ab-builds.sh (sourced, not run): the
# workloads both measure and the helpers that read kvbench's JSON and the
# machine's steal. Defines functions and ALL_WORKLOADS only.

# shellcheck disable=SC2034  # used by the scripts that source this
readonly ALL_WORKLOADS=(write-1 write-16 write-64 write-256 lin-read-64 ser-read-64 mix-64)

# workload_args WORKLOAD: its kvbench flags (keys and values: kvbench's
# defaults); fails for an unknown workload.
workload_args() {
  case "$1" in
    write-1) echo "--clients 1 --connections 1" ;;
    write-16 | write-64 | write-256) echo "--clients ${1#write-} --connections 4" ;;
    lin-read-64) echo "--clients 64 --connections 4 --read-ratio 1 --consistency linearizable" ;;
    ser-read-64) echo "--clients 64 --connections 4 --read-ratio 1 --consistency serializable" ;;
    mix-64) echo "--clients 64 --connections 4 --read-ratio 0.9 --consistency linearizable" ;;
    *) return 1 ;;
  esac
}

# json_num FILE KEY: a number from kvbench's JSON (flat keys are unique).
json_num() {
  sed -nE "s/.*\"$2\":(-?[0-9.e+]+|null).*/\1/p" "$1" | head -n 1
}

# median NUMBERS...: their median ("null" and empty ignored), or "-".
median() {
  local sorted
  sorted=$(printf '%s\n' "$@" | grep -v '^null$' | grep -v '^$' | sort -g) || true
  [[ -n $sorted ]] || {
    echo "-"
    return
  }
  awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}' <<<"$sorted"
}

# cpu_ticks: "steal total" of all CPUs since boot, from /proc/stat's "cpu"
# line (user nice system idle iowait irq softirq steal ...; guest time is
# already in user and nice).
cpu_ticks() {
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat
}

# steal_pct BEFORE AFTER: the share of CPU time the VM's host took (steal)
# between two cpu_ticks readings, in whole percent.
steal_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
    d = y[2] - x[2]; printf "%.0f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}
