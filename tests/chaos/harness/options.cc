#include "tests/chaos/harness/options.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace raftkv::chaos {

const char kUsage[] =
    "usage: raftkv_chaos [flags]   (run as root; scripts/chaos.sh wraps it)\n"
    "Runs raftkv nodes in network namespaces under concurrent clients and a seeded fault\n"
    "schedule (kill -9, SIGSTOP, nftables partitions), then checks linearizability, lost\n"
    "writes and replica agreement. Ends with one summary line per schedule.\n"
    "  --seed S            first seed (default: random, printed)\n"
    "  --duration D        seconds of faults per schedule (default 30; '30s' also works)\n"
    "  --schedules N       run N schedules with seeds S, S+1, ... (a fresh cluster each)\n"
    "  --nodes 3|5         cluster size (default 3)\n"
    "  --clients N         concurrent clients, at least 5 (default 5)\n"
    "  --keys K            keys the clients share (default 5)\n"
    "  --faults LIST       fault kinds: kill,pause,isolate,split,bridge,oneway,powercut or all\n"
    "  --raftkv PATH       the server binary (default: raftkv next to this program)\n"
    "  --unsafe FLAG       pass a planted-bug flag to every node: unsafe-test-stale-reads,\n"
    "                      unsafe-test-no-fsync, unsafe-test-ack-before-commit (repeatable)\n"
    "  --expect-violation  succeed only if a schedule finds a violation, lost write or replica\n"
    "                      mismatch (stops at the first; for self-tests)\n"
    "  --keep              keep every run directory (failing runs are always kept)\n"
    "  --work-dir DIR      where run directories go (default /tmp/raftkv-chaos)\n"
    "  --tick-ms N, --election-ticks N   raftkv's timing (default 100, 10)\n"
    "  --call-timeout-ms N client call timeout (default 1500)\n"
    "  --net-tag N         number in namespace/interface names (default: this pid)\n"
    "Exit: 0 pass, 1 fail, 2 usage.\n";

namespace {

absl::Status Bad(absl::string_view flag, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " '", value, "': ", want, " (see --help)"));
}

absl::Status ParseInt(absl::string_view flag, absl::string_view value, int lo, int hi, int* out) {
  if (!absl::SimpleAtoi(value, out) || *out < lo || *out > hi) {
    return Bad(flag, value, absl::StrCat("expected an integer in ", lo, "..", hi));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HarnessOptions> ParseHarnessOptions(const std::vector<std::string>& args) {
  HarnessOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    std::string flag = arg;
    std::string value;
    bool has_inline = false;
    if (absl::StartsWith(flag, "--")) {
      size_t eq = flag.find('=');
      if (eq != std::string::npos) {
        value = flag.substr(eq + 1);
        flag.resize(eq);
        has_inline = true;
      }
    }
    auto boolean = [&](bool* out) -> absl::Status {
      if (has_inline) return Bad(flag, value, "takes no value");
      *out = true;
      return absl::OkStatus();
    };
    auto next = [&]() -> absl::Status {
      if (has_inline) return absl::OkStatus();
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value (see --help)"));
      }
      value = args[++i];
      return absl::OkStatus();
    };
    absl::Status st;
    if (flag == "-h" || flag == "--help") {
      o.help = true;
    } else if (flag == "--expect-violation") {
      st = boolean(&o.expect_violation);
    } else if (flag == "--keep") {
      st = boolean(&o.keep);
    } else if (!absl::StartsWith(flag, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "' (flags start with --; see --help)"));
    } else {
      static constexpr const char* kValueFlags[] = {
          "--seed",    "--duration",       "--schedules",       "--nodes",  "--clients",
          "--keys",    "--faults",         "--raftkv",          "--unsafe", "--work-dir",
          "--tick-ms", "--election-ticks", "--call-timeout-ms", "--net-tag"};
      bool known = false;
      for (const char* f : kValueFlags) known |= flag == f;
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "' (see --help)"));
      }
      st = next();
      if (!st.ok()) return st;
      if (flag == "--seed") {
        if (!absl::SimpleAtoi(value, &o.seed)) return Bad(flag, value, "expected an integer >= 0");
        o.seed_given = true;
      } else if (flag == "--duration") {
        absl::string_view v = value;
        absl::ConsumeSuffix(&v, "s");
        st = ParseInt(flag, v, 5, 86400, &o.duration_s);
      } else if (flag == "--schedules") {
        st = ParseInt(flag, value, 1, 100000, &o.schedules);
      } else if (flag == "--nodes") {
        st = ParseInt(flag, value, 3, 5, &o.nodes);
        if (st.ok() && o.nodes != 3 && o.nodes != 5) st = Bad(flag, value, "expected 3 or 5");
      } else if (flag == "--clients") {
        st = ParseInt(flag, value, 5, 256, &o.clients);
      } else if (flag == "--keys") {
        st = ParseInt(flag, value, 1, 1000, &o.keys);
      } else if (flag == "--faults") {
        absl::StatusOr<std::vector<FaultKind>> kinds = ParseFaultKinds(value);
        if (!kinds.ok()) return Bad(flag, value, kinds.status().message());
        o.faults = *kinds;
      } else if (flag == "--raftkv") {
        o.raftkv_path = value;
      } else if (flag == "--unsafe") {
        std::string name = value;
        while (absl::StartsWith(name, "-")) name.erase(0, 1);
        if (!absl::StartsWith(name, "unsafe-test-")) name = "unsafe-test-" + name;
        name = "--" + name;
        bool known = false;
        for (const char* f : kUnsafeFlags) known |= name == f;
        if (!known) {
          return Bad(flag, value,
                     "expected unsafe-test-stale-reads, unsafe-test-no-fsync or "
                     "unsafe-test-ack-before-commit");
        }
        o.unsafe_flags.push_back(name);
      } else if (flag == "--work-dir") {
        if (value.empty()) return Bad(flag, value, "expected a directory");
        o.work_dir = value;
      } else if (flag == "--tick-ms") {
        st = ParseInt(flag, value, 1, 10000, &o.tick_ms);
      } else if (flag == "--election-ticks") {
        st = ParseInt(flag, value, 2, 1000, &o.election_ticks);
      } else if (flag == "--call-timeout-ms") {
        st = ParseInt(flag, value, 100, 600000, &o.call_timeout_ms);
      } else if (flag == "--net-tag") {
        st = ParseInt(flag, value, 1, 9999999, &o.net_tag);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag '", arg, "' (see --help)"));
      }
    }
    if (!st.ok()) return st;
  }
  return o;
}

std::string ReplayFlags(const HarnessOptions& o, uint64_t seed) {
  std::string out = absl::StrCat("--seed ", seed, " --duration ", o.duration_s, " --nodes ",
                                 o.nodes, " --clients ", o.clients, " --keys ", o.keys);
  if (o.faults.size() != std::size(kAllFaultKinds)) {
    std::vector<std::string> names;
    for (FaultKind k : o.faults) names.push_back(FaultKindName(k));
    absl::StrAppend(&out, " --faults ", absl::StrJoin(names, ","));
  }
  for (const std::string& f : o.unsafe_flags) absl::StrAppend(&out, " --unsafe ", f.substr(2));
  if (o.tick_ms != 100) absl::StrAppend(&out, " --tick-ms ", o.tick_ms);
  if (o.election_ticks != 10) absl::StrAppend(&out, " --election-ticks ", o.election_ticks);
  if (o.call_timeout_ms != 1500) absl::StrAppend(&out, " --call-timeout-ms ", o.call_timeout_ms);
  return out;
}

}  // namespace raftkv::chaos
