#include "tests/chaos/harness/run.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/chaos/harness/checker_adapter.h"
#include "tests/chaos/harness/checks.h"
#include "tests/chaos/harness/metrics.h"
#include "tests/chaos/harness/nemesis.h"
#include "tests/chaos/harness/network.h"
#include "tests/chaos/harness/nodes.h"
#include "tests/chaos/harness/schedule.h"
#include "tests/chaos/harness/workload.h"

namespace raftkv::chaos {

namespace {

constexpr int kClientPort = 2379;
constexpr int kPeerPort = 2380;
// Bounds of the end-of-run phases.
constexpr absl::Duration kLeaderTimeout = absl::Seconds(20);
constexpr absl::Duration kWriteAfterHealTimeout = absl::Seconds(30);
constexpr absl::Duration kFinalReadTimeout = absl::Seconds(30);
constexpr absl::Duration kReplicaTimeout = absl::Seconds(30);
// Findings printed to stdout (all of them go to findings.txt).
constexpr size_t kMaxPrintedFindings = 3;

void Say(const std::string& line) { std::cout << "chaos: " << line << std::endl; }

std::map<int, NodeLaunch> Launches(const HarnessOptions& o, const Network& net,
                                   const std::string& raftkv_path, const std::string& run_dir) {
  std::vector<std::string> peers, clients;
  for (int i = 1; i <= o.nodes; ++i) {
    peers.push_back(absl::StrCat(i, "=", net.NodeAddress(i), ":", kPeerPort));
    clients.push_back(absl::StrCat(i, "=", net.NodeAddress(i), ":", kClientPort));
  }
  std::map<int, NodeLaunch> out;
  for (int i = 1; i <= o.nodes; ++i) {
    NodeLaunch l;
    l.netns = net.names().Namespace(i);
    l.raftkv_path = raftkv_path;
    l.log_path = absl::StrCat(run_dir, "/node", i, ".log");
    l.flags = {"--id",
               absl::StrCat(i),
               "--initial-cluster",
               absl::StrJoin(peers, ","),
               "--initial-cluster-client",
               absl::StrJoin(clients, ","),
               "--data-dir",
               absl::StrCat(run_dir, "/node", i),
               "--tick-ms",
               absl::StrCat(o.tick_ms),
               "--election-ticks",
               absl::StrCat(o.election_ticks),
               "--log-level",
               "info"};
    // SIGUSR2 is the "powercut" fault (storage/power_cut.h in raftkv).
    l.flags.push_back("--test-power-cut-signal");
    l.flags.insert(l.flags.end(), o.unsafe_flags.begin(), o.unsafe_flags.end());
    out[i] = std::move(l);
  }
  return out;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string UnsafeNames(const HarnessOptions& o) {
  std::vector<std::string> names;
  for (const std::string& f : o.unsafe_flags) names.push_back(f.substr(strlen("--unsafe-test-")));
  return absl::StrJoin(names, ",");
}

// Everything the summary line reports.
struct Tally {
  OpCounts ops;
  int kills = 0, pauses = 0, partitions = 0, power_cuts = 0;
  int scheduled = 0, injected = 0;
  CheckReport check;
  int mismatches = 0;
  int crashes = 0;
  Availability availability;
  std::vector<std::string> problems;  // harness-level failures (no write after heal, ...)
};

std::string SummaryLine(const HarnessOptions& o, uint64_t seed, const Tally& t,
                        const std::string& verdict) {
  std::string line =
      absl::StrCat("chaos: seed=", seed, " duration=", o.duration_s, "s nodes=", o.nodes);
  if (!o.unsafe_flags.empty()) absl::StrAppend(&line, " unsafe=", UnsafeNames(o));
  absl::StrAppend(&line, " ops ok=", t.ops.ok, " failed=", t.ops.failed,
                  " indeterminate=", t.ops.indeterminate);
  absl::StrAppend(&line, " | faults kill=", t.kills, " pause=", t.pauses,
                  " partition=", t.partitions, " powercut=", t.power_cuts, " (scheduled ",
                  t.scheduled, ", injected ", t.injected, ") membership=n/a");
  absl::StrAppend(&line,
                  " | violations=", t.check.available ? absl::StrCat(t.check.violations) : "?",
                  " lost_writes=", t.check.available ? absl::StrCat(t.check.lost_writes) : "?",
                  " replica_mismatches=", t.mismatches);
  if (t.crashes > 0) absl::StrAppend(&line, " crashes=", t.crashes);
  if (!t.check.undecided_keys.empty()) {
    absl::StrAppend(&line, " undecided_keys=", t.check.undecided_keys.size());
  }
  absl::StrAppend(&line, " | failover median=", Seconds(MedianNs(t.availability.failover_ns)),
                  " worst=", Seconds(MaxNs(t.availability.failover_ns)));
  absl::StrAppend(&line, " | longest_no_write_after_heal=",
                  Seconds(t.availability.longest_no_write_after_heal_ns), " | ", verdict);
  return line;
}

// Counts the faults by kind and checks that each was injected and healed.
void TallyFaults(const std::vector<FaultRecord>& records, size_t scheduled, Tally* t) {
  for (const FaultRecord& r : records) {
    ++t->scheduled;
    if (!r.injected || !r.healed) {
      t->problems.push_back(absl::StrCat("fault ", FormatScheduledFault(r.fault), " on ", r.targets,
                                         " was not ", r.injected ? "healed" : "injected", ": ",
                                         r.detail));
      continue;
    }
    ++t->injected;
    if (r.fault.kind == FaultKind::kKill) ++t->kills;
    if (r.fault.kind == FaultKind::kPause) ++t->pauses;
    if (r.fault.kind == FaultKind::kPowerCut) ++t->power_cuts;
    if (IsPartition(r.fault.kind)) ++t->partitions;
  }
  // Faults the schedule held but the run never reached (only an interrupt
  // cuts a run short) still count as scheduled.
  t->scheduled = std::max(t->scheduled, static_cast<int>(scheduled));
  if (t->injected < t->scheduled && t->problems.empty()) {
    t->problems.push_back("not every scheduled fault was injected (see faults.log)");
  }
}

// final_state.txt (for people) and final.json (for raftkv_check_history).
void SaveFinalStateFiles(const std::vector<std::string>& keys,
                         const std::map<std::string, std::string>& final_state,
                         const std::string& run_dir, Tally* t) {
  std::string text;
  for (const std::string& key : keys) {
    auto it = final_state.find(key);
    absl::StrAppend(&text, key, " = ", it == final_state.end() ? "(absent)" : it->second, "\n");
  }
  WriteFile(run_dir + "/final_state.txt", text);
  if (absl::Status st = SaveFinalState(keys, final_state, run_dir + "/final.json"); !st.ok()) {
    t->problems.push_back(absl::StrCat("saving the final state: ", st.message()));
  }
}

// Saves history.jsonl and runs the checker (linearizability, lost writes).
void CheckRun(const History& history, const std::map<std::string, std::string>& final_state,
              const std::string& run_dir, Tally* t) {
  if (absl::Status st = SaveHistory(history, run_dir + "/history.jsonl"); !st.ok()) {
    t->problems.push_back(absl::StrCat("saving the history: ", st.message()));
  }
  const int64_t start = MonotonicNanos();
  t->check = CheckHistory(history, final_state);
  Say(absl::StrCat("checked ", history.size(), " operations in ", Seconds(MonotonicNanos() - start),
                   " (", t->check.states_explored, " search states)"));
  if (!t->check.available) t->problems.push_back("the history was not checked");
  if (!t->check.well_formed.ok()) {
    t->problems.push_back(
        absl::StrCat("history not well formed (a harness bug): ", t->check.well_formed.message()));
  }
  for (const std::string& key : t->check.undecided_keys) {
    t->problems.push_back(
        absl::StrCat("linearizability of key ", key, " undecided (search state limit)"));
  }
}

// Writes findings.txt and prints the problems and the first findings.
void ReportFindings(const Tally& t, const std::string& run_dir) {
  std::string findings;
  for (const std::string& p : t.problems) absl::StrAppend(&findings, "problem: ", p, "\n");
  for (const std::string& f : t.check.findings) absl::StrAppend(&findings, f, "\n");
  WriteFile(run_dir + "/findings.txt", findings);
  for (size_t i = 0; i < t.problems.size() && i < kMaxPrintedFindings; ++i) {
    Say(absl::StrCat("problem: ", t.problems[i]));
  }
  // The first finding in full, the next few by their first line.
  for (size_t i = 0; i < t.check.findings.size() && i < kMaxPrintedFindings; ++i) {
    const std::string& f = t.check.findings[i];
    Say(i == 0 ? f : f.substr(0, f.find('\n')));
  }
  if (t.check.findings.size() > 1) {
    Say(absl::StrCat(t.check.findings.size(), " findings in all: see findings.txt"));
  }
}

// Waits until the workload completes a write after since_ns; false if none
// within timeout (or when stopped).
bool WaitForWriteAfter(const Workload& workload, int64_t since_ns, absl::Duration timeout,
                       const StopFlag& stop) {
  const int64_t deadline = since_ns + absl::ToInt64Nanoseconds(timeout);
  while (!stop.raised() && MonotonicNanos() < deadline) {
    if (workload.last_ok_write_ns() > since_ns) return true;
    stop.Wait(absl::Milliseconds(50));
  }
  return false;
}

// Reads every key linearizably (recorded in history); a failure is a problem.
std::map<std::string, std::string> ReadFinalStateOrReport(const std::vector<std::string>& endpoints,
                                                          const std::vector<std::string>& keys,
                                                          int process, History* history, Tally* t) {
  int64_t next_id = 1;
  for (const Operation& op : *history) next_id = std::max(next_id, op.id + 1);
  client::Options co;
  co.endpoints = endpoints;
  co.call_timeout = absl::Seconds(2);
  co.dial_timeout = absl::Milliseconds(500);
  std::unique_ptr<client::Client> reader = std::move(*client::Client::Create(co));
  absl::StatusOr<std::map<std::string, std::string>> fs =
      ReadFinalState(*reader, keys, process, &next_id, history, kFinalReadTimeout);
  if (fs.ok()) return *fs;
  t->problems.push_back(absl::StrCat("final reads: ", fs.status().message()));
  return {};
}

// Names the heal after which writes stopped longest (windows[i] is
// records[i], the last one the final heal).
void SayLongestGap(const Availability& a, const std::vector<FaultWindow>& windows,
                   const std::vector<FaultRecord>& records, int64_t t0) {
  const int i = a.longest_after_fault;
  if (i < 0) return;
  Say(absl::StrCat("longest time without a write after a heal: ",
                   Seconds(a.longest_no_write_after_heal_ns), " after ",
                   static_cast<size_t>(i) < records.size()
                       ? absl::StrCat("fault ", FormatScheduledFault(records[i].fault), " on ",
                                      records[i].targets)
                       : std::string("the final heal"),
                   " (healed at t=", Seconds(windows[i].heal_ns - t0), ")"));
}

}  // namespace

ScheduleOutcome RunSchedule(const HarnessOptions& o, uint64_t seed, const RunEnvironment& env) {
  ScheduleOutcome outcome;
  outcome.seed = seed;
  StopFlag& stop = *env.stop;
  Tally tally;
  const std::string replay = absl::StrCat("scripts/chaos.sh ", ReplayFlags(o, seed));
  outcome.run_dir = absl::StrCat(o.work_dir, "/run-", seed, "-", env.net_tag);
  std::error_code ec;
  std::filesystem::remove_all(outcome.run_dir, ec);
  std::filesystem::create_directories(outcome.run_dir, ec);
  if (ec) {
    outcome.harness_error = true;
    outcome.summary = absl::StrCat("chaos: seed=", seed, " cannot create ", outcome.run_dir, ": ",
                                   ec.message(), " | ERROR");
    return outcome;
  }
  auto fail_early = [&](const std::string& why) {
    outcome.harness_error = true;
    outcome.kept = true;
    WriteFile(outcome.run_dir + "/findings.txt", why + "\n");
    Say(absl::StrCat("ERROR: ", why));
    Say(absl::StrCat("run directory kept: ", outcome.run_dir));
    Say(absl::StrCat("replay: ", replay));
    outcome.summary = SummaryLine(o, seed, tally, "ERROR");
    return outcome;
  };

  // --- network and nodes -------------------------------------------------------
  env.registry->AddNetworkTag(env.net_tag);
  absl::StatusOr<std::unique_ptr<Network>> net_or = Network::Create(env.net_tag, o.nodes);
  if (!net_or.ok()) {
    env.registry->RemoveNetworkTag(env.net_tag);
    return fail_early(absl::StrCat("network set-up failed: ", net_or.status().message()));
  }
  std::unique_ptr<Network> net = std::move(*net_or);
  std::vector<std::string> endpoints;
  for (int i = 1; i <= o.nodes; ++i) {
    endpoints.push_back(absl::StrCat(net->NodeAddress(i), ":", kClientPort));
  }
  Say(absl::StrCat("seed=", seed, ": ", o.nodes, " nodes in namespaces ", net->names().Namespace(1),
                   "..", o.nodes, " on ", net->subnet().Cidr(), " (bridge ", net->names().bridge,
                   "), run directory ", outcome.run_dir));
  auto nodes = std::make_unique<NodeProcesses>(Launches(o, *net, env.raftkv_path, outcome.run_dir),
                                               env.registry);
  // Declared after the nodes and the network so that it is destroyed first.
  std::unique_ptr<Workload> workload;
  auto cleanup = [&]() {
    if (workload) workload->Stop();
    nodes->KillAll();
    absl::Status st = net->Destroy();
    if (!st.ok()) Say(absl::StrCat("WARNING: removing the network: ", st.message()));
    env.registry->RemoveNetworkTag(env.net_tag);
  };
  for (int i = 1; i <= o.nodes; ++i) {
    absl::Status st = nodes->Start(i);
    if (!st.ok()) {
      cleanup();
      return fail_early(absl::StrCat("starting node ", i, ": ", st.message()));
    }
  }
  Nemesis nemesis(*net, *nodes, endpoints, stop, outcome.run_dir + "/faults.log");
  int leader = nemesis.FindLeader(kLeaderTimeout);
  if (leader == 0) {
    cleanup();
    return fail_early(absl::StrCat("no leader within ", absl::FormatDuration(kLeaderTimeout),
                                   " of start (see node logs)"));
  }

  // --- clients and faults --------------------------------------------------------
  WorkloadOptions wo;
  wo.endpoints = endpoints;
  wo.clients = o.clients;
  wo.keys = o.keys;
  wo.seed = seed;
  wo.call_timeout = absl::Milliseconds(o.call_timeout_ms);
  workload = std::make_unique<Workload>(wo);
  if (absl::Status st = workload->Start(); !st.ok()) {
    cleanup();
    return fail_early(absl::StrCat("starting clients: ", st.message()));
  }
  ScheduleOptions so;
  so.seed = seed;
  so.duration_ms = int64_t{o.duration_s} * 1000;
  so.kinds = o.faults;
  const std::vector<ScheduledFault> schedule = GenerateSchedule(so);
  Say(absl::StrCat("leader is node ", leader, "; ", o.clients, " clients on ", o.keys, " keys; ",
                   schedule.size(), " faults over ", o.duration_s, "s"));
  const int64_t t0 = MonotonicNanos();
  nemesis.Run(schedule, t0);
  const int64_t t_end = t0 + int64_t{o.duration_s} * 1'000'000'000;
  while (!stop.raised() && MonotonicNanos() < t_end) {
    stop.Wait(absl::Nanoseconds(std::min<int64_t>(t_end - MonotonicNanos(), 200'000'000)));
  }

  // --- heal, and wait for a write ----------------------------------------------------
  absl::Status healed = nemesis.HealAll();
  const int64_t final_heal_ns = MonotonicNanos();
  if (!healed.ok()) tally.problems.push_back(absl::StrCat("heal: ", healed.message()));
  const bool wrote_after_heal =
      WaitForWriteAfter(*workload, final_heal_ns, kWriteAfterHealTimeout, stop);
  workload->Stop();
  const int64_t end_ns = MonotonicNanos();
  if (stop.raised()) {
    cleanup();
    outcome.harness_error = true;
    outcome.kept = true;
    Say(absl::StrCat("interrupted; run directory kept: ", outcome.run_dir));
    outcome.summary = SummaryLine(o, seed, tally, "INTERRUPTED");
    return outcome;
  }
  if (!wrote_after_heal) {
    tally.problems.push_back(absl::StrCat("no write succeeded within ",
                                          absl::FormatDuration(kWriteAfterHealTimeout),
                                          " after the final heal"));
  }
  History history = workload->TakeHistory();

  // --- final state, replicas ------------------------------------------------------------
  const std::map<std::string, std::string> final_state =
      ReadFinalStateOrReport(endpoints, KeyNames(o.keys), workload->NewProcess(), &history, &tally);
  SaveFinalStateFiles(KeyNames(o.keys), final_state, outcome.run_dir, &tally);
  ReplicaReport replicas = CheckReplicas(endpoints, kReplicaTimeout, stop);
  tally.mismatches = replicas.mismatches;
  for (const std::string& p : replicas.problems) tally.problems.push_back(p);
  if (replicas.mismatches > 0) {
    for (const auto& [node, dump] : replicas.dumps) {
      WriteFile(absl::StrCat(outcome.run_dir, "/node", node, ".dump"), dump);
    }
  }
  for (const std::string& crash : nodes->ReapUnexpectedExits()) {
    nemesis.Log(absl::StrCat("CRASH: ", crash));
  }
  cleanup();
  for (const std::string& crash : nemesis.crashes()) {
    tally.problems.push_back(absl::StrCat("raftkv crashed: ", crash));
  }
  tally.crashes = static_cast<int>(nemesis.crashes().size());

  TallyFaults(nemesis.records(), schedule.size(), &tally);

  // --- checks -----------------------------------------------------------------------------------
  tally.ops = CountOutcomes(history);
  std::vector<FaultWindow> windows = nemesis.Windows();
  // The final heal counts like any other heal.
  windows.push_back(FaultWindow{false, final_heal_ns, final_heal_ns});
  tally.availability = ComputeAvailability(history, windows, end_ns);
  SayLongestGap(tally.availability, windows, nemesis.records(), t0);
  CheckRun(history, final_state, outcome.run_dir, &tally);

  // --- verdict ----------------------------------------------------------------------------------
  outcome.found_bug =
      tally.check.violations > 0 || tally.check.lost_writes > 0 || tally.mismatches > 0;
  outcome.pass = !outcome.found_bug && tally.problems.empty() && tally.crashes == 0;
  ReportFindings(tally, outcome.run_dir);
  // A self-test's expected finding keeps its evidence but not the nodes'
  // databases (tens of MB each); a real failure keeps everything.
  const bool expected = o.expect_violation && outcome.found_bug;
  if (expected && !o.keep) {
    for (int i = 1; i <= o.nodes; ++i) {
      std::filesystem::remove_all(absl::StrCat(outcome.run_dir, "/node", i), ec);
    }
  }
  const bool keep = o.keep || !outcome.pass;
  if (keep) {
    outcome.kept = true;
    Say(absl::StrCat("run directory kept: ", outcome.run_dir,
                     " (history.jsonl, final.json, faults.log, findings.txt, node logs)"));
    Say(absl::StrCat("re-check: raftkv_check_history ", outcome.run_dir, "/history.jsonl --final ",
                     outcome.run_dir, "/final.json"));
    if (!outcome.pass) Say(absl::StrCat("replay: ", replay));
  } else {
    std::filesystem::remove_all(outcome.run_dir, ec);
  }
  outcome.summary = SummaryLine(o, seed, tally,
                                outcome.pass ? "PASS"
                                : expected   ? "FAIL (expected: planted bug caught)"
                                             : "FAIL");
  return outcome;
}

}  // namespace raftkv::chaos
