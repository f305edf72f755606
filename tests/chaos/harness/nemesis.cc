#include "tests/chaos/harness/nemesis.h"

#include <signal.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/common/rng.h"
#include "src/storage/power_cut.h"
#include "tests/chaos/harness/partition.h"

namespace raftkv::chaos {

namespace v1 = raftkv::v1;

Nemesis::Nemesis(Network& network, NodeProcesses& nodes, std::vector<std::string> endpoints,
                 const StopFlag& stop, const std::string& log_path)
    : network_(network),
      nodes_(nodes),
      endpoints_(std::move(endpoints)),
      stop_(stop),
      log_(log_path, std::ios::app) {
  t0_ns_ = MonotonicNanos();
}

std::unique_ptr<client::Client> Nemesis::NewStatusClient() const {
  client::Options o;
  o.endpoints = endpoints_;
  o.call_timeout = absl::Milliseconds(400);
  o.dial_timeout = absl::Milliseconds(300);
  return std::move(*client::Client::Create(o));
}

void Nemesis::Log(const std::string& line) {
  log_ << absl::StrFormat("t=%8.3fs  ", (MonotonicNanos() - t0_ns_) / 1e9) << line << std::endl;
}

int Nemesis::FindLeader(absl::Duration wait) {
  const int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(wait);
  while (true) {
    int leader = 0;
    uint64_t best_term = 0;
    std::vector<client::EndpointStatus> all = NewStatusClient()->StatusAll();
    for (size_t i = 0; i < all.size(); ++i) {
      if (!all[i].status.ok()) continue;
      const v1::StatusResponse& s = *all[i].status;
      if (s.role() == v1::ROLE_LEADER && s.raft_term() >= best_term) {
        best_term = s.raft_term();
        leader = static_cast<int>(i) + 1;
      }
    }
    if (leader != 0 || MonotonicNanos() >= deadline) return leader;
    if (stop_.Wait(absl::Milliseconds(100))) return 0;
  }
}

std::vector<FaultWindow> Nemesis::Windows() const {
  std::vector<FaultWindow> out;
  for (const FaultRecord& r : records_) {
    out.push_back(FaultWindow{r.leader_kill, r.inject_ns, r.heal_ns > 0 ? r.heal_ns : r.inject_ns});
  }
  return out;
}

void Nemesis::CheckCrashes() {
  for (const std::string& crash : nodes_.ReapUnexpectedExits()) {
    crashes_.push_back(crash);
    Log(absl::StrCat("CRASH: ", crash, "; restarting it"));
  }
  for (int node : nodes_.Nodes()) {
    if (nodes_.Running(node)) continue;
    absl::Status st = nodes_.Start(node);
    Log(st.ok() ? absl::StrCat("node ", node, " restarted (pid ", nodes_.Pid(node), ")")
                : absl::StrCat("restarting node ", node, " failed: ", st.message()));
  }
}

void Nemesis::Run(const std::vector<ScheduledFault>& schedule, int64_t t0_ns) {
  t0_ns_ = t0_ns;
  Log(absl::StrCat("schedule: ", schedule.size(), " faults"));
  for (const ScheduledFault& f : schedule)
    Log(absl::StrCat("  scheduled ", FormatScheduledFault(f)));
  constexpr int64_t kMinQuietNs = 1'000'000'000;
  int64_t last_heal_ns = 0;
  for (const ScheduledFault& f : schedule) {
    const int64_t due = std::max(t0_ns + f.start_ms * 1'000'000, last_heal_ns + kMinQuietNs);
    while (MonotonicNanos() < due) {
      if (stop_.Wait(absl::Nanoseconds(std::min<int64_t>(due - MonotonicNanos(), 200'000'000)))) {
        return;
      }
      CheckCrashes();
    }
    CheckCrashes();
    records_.push_back(FaultRecord{});
    records_.back().fault = f;
    Execute(f, &records_.back());
    last_heal_ns = MonotonicNanos();
  }
}

void Nemesis::Execute(const ScheduledFault& fault, FaultRecord* record) {
  switch (fault.kind) {
    case FaultKind::kKill:
      ExecuteKill(fault, record);
      break;
    case FaultKind::kPause:
      ExecutePause(fault, record);
      break;
    case FaultKind::kPowerCut:
      ExecutePowerCut(fault, record);
      break;
    default:
      ExecutePartition(fault, record);
      break;
  }
  Log(absl::StrCat("  #", fault.index, " ", FaultKindName(fault.kind), ": ",
                   record->injected ? "injected" : "NOT INJECTED", ", ",
                   record->healed ? "healed" : "NOT HEALED", " (", record->detail, ")"));
}

int Nemesis::PickNode(const ScheduledFault& fault, int leader, std::string* why) {
  Rng rng(fault.choice);
  const int n = static_cast<int>(endpoints_.size());
  if (fault.role == Role::kLeader) {
    if (leader != 0) {
      *why = "leader";
      return leader;
    }
    *why = "no leader known; a random node";
    return 1 + static_cast<int>(rng.Uniform(n));
  }
  *why = "follower";
  if (leader == 0) {
    *why = "follower (no leader known; a random node)";
    return 1 + static_cast<int>(rng.Uniform(n));
  }
  int other = 1 + static_cast<int>(rng.Uniform(n - 1));
  return other >= leader ? other + 1 : other;
}

void Nemesis::ExecuteKill(const ScheduledFault& fault, FaultRecord* record) {
  const int leader = FindLeader(absl::Seconds(3));
  std::string why;
  const int node = PickNode(fault, leader, &why);
  const pid_t pid = nodes_.Pid(node);
  record->targets = absl::StrCat("node ", node, " (", why, ", pid ", pid, ")");
  record->leader_kill = node == leader;
  Log(absl::StrCat("inject ", FormatScheduledFault(fault), ": kill -9 ", record->targets));
  record->inject_ns = MonotonicNanos();
  absl::StatusOr<std::string> how = nodes_.Kill(node);
  if (!how.ok()) {
    record->detail = std::string(how.status().message());
  } else {
    record->injected = *how == "killed by signal 9";
    record->detail = absl::StrCat("pid ", pid, " ", *how);
  }
  stop_.Wait(absl::Milliseconds(fault.duration_ms));
  absl::Status st = nodes_.Start(node);
  record->heal_ns = MonotonicNanos();
  record->healed = st.ok();
  absl::StrAppend(&record->detail, st.ok() ? absl::StrCat("; restarted as pid ", nodes_.Pid(node))
                                           : absl::StrCat("; restart failed: ", st.message()));
}

void Nemesis::ExecutePowerCut(const ScheduledFault& fault, FaultRecord* record) {
  const std::string cut_exit = absl::StrCat("exited with status ", storage::power_cut::kExitCode);
  const int leader = FindLeader(absl::Seconds(3));
  record->targets = "every node";
  record->leader_kill = leader != 0;
  Log(absl::StrCat("inject ", FormatScheduledFault(fault), ": SIGUSR2 (power cut) to every node"));
  record->inject_ns = MonotonicNanos();
  // Every node first, then reap: the cut is as close to simultaneous as signals get.
  std::vector<int> cut;
  std::vector<std::string> details;
  for (int node : nodes_.Nodes()) {
    absl::Status st = nodes_.Signal(node, SIGUSR2);
    if (st.ok()) {
      cut.push_back(node);
    } else {
      details.push_back(std::string(st.message()));
    }
  }
  bool all_cut = details.empty();
  for (int node : cut) {
    const pid_t pid = nodes_.Pid(node);
    absl::StatusOr<std::string> how = nodes_.Reap(node, 5000);
    const std::string what = how.ok() ? *how : std::string(how.status().message());
    all_cut = all_cut && how.ok() && what == cut_exit;
    details.push_back(absl::StrCat("node ", node, " pid ", pid, " ", what));
  }
  record->injected = all_cut;
  record->detail = absl::StrJoin(details, ", ");
  stop_.Wait(absl::Milliseconds(fault.duration_ms));
  bool restarted = true;
  for (int node : nodes_.Nodes()) {
    if (nodes_.Running(node)) continue;
    absl::Status st = nodes_.Start(node);
    restarted = restarted && st.ok();
    absl::StrAppend(&record->detail,
                    st.ok() ? absl::StrCat("; node ", node, " restarted as pid ", nodes_.Pid(node))
                            : absl::StrCat("; node ", node, " restart failed: ", st.message()));
  }
  record->heal_ns = MonotonicNanos();
  record->healed = restarted;
}

void Nemesis::ExecutePause(const ScheduledFault& fault, FaultRecord* record) {
  const int leader = FindLeader(absl::Seconds(3));
  std::string why;
  const int node = PickNode(fault, leader, &why);
  const pid_t pid = nodes_.Pid(node);
  record->targets = absl::StrCat("node ", node, " (", why, ", pid ", pid, ")");
  Log(absl::StrCat("inject ", FormatScheduledFault(fault), ": SIGSTOP ", record->targets));
  record->inject_ns = MonotonicNanos();
  absl::Status st = nodes_.Pause(node);
  record->injected = st.ok();
  record->detail = st.ok() ? absl::StrCat("pid ", pid, " in state T") : std::string(st.message());
  stop_.Wait(absl::Milliseconds(fault.duration_ms));
  st = nodes_.Resume(node);
  record->heal_ns = MonotonicNanos();
  record->healed = st.ok();
  absl::StrAppend(&record->detail,
                  st.ok() ? "; resumed" : absl::StrCat("; resume failed: ", st.message()));
}

bool Nemesis::VerifyRules(const PartitionPlan& plan, std::string* why) {
  size_t total = 0;
  for (int node : nodes_.Nodes()) {
    const NodeRules want = RulesFor(plan, node);
    absl::StatusOr<ListedRules> listed = network_.ListRules(node);
    if (!listed.ok()) {
      *why = std::string(listed.status().message());
      return false;
    }
    if (!ListingMatches(*listed, want, network_.address_of())) {
      *why = absl::StrCat("node ", node, " has input drops [",
                          absl::StrJoin(listed->input_saddr_drops, " "), "] output drops [",
                          absl::StrJoin(listed->output_daddr_drops, " "), "] and ",
                          listed->other_rules, " other rules; expected ", want.size(), " rules");
      return false;
    }
    total += want.size();
  }
  *why = absl::StrCat(total, " drop rules read back");
  return true;
}

void Nemesis::ExecutePartition(const ScheduledFault& fault, FaultRecord* record) {
  const int leader = FindLeader(absl::Seconds(3));
  const int n = static_cast<int>(endpoints_.size());
  const PartitionPlan plan = ChoosePartition(fault.kind, fault.role, fault.choice, n, leader);
  record->targets = absl::StrCat(plan.description, leader == 0 ? " (no leader known)" : "",
                                 " leader was ", leader);
  Log(absl::StrCat("inject ", FormatScheduledFault(fault), ": ", record->targets));
  record->inject_ns = MonotonicNanos();
  absl::Status st;
  for (int node : nodes_.Nodes()) {
    NodeRules rules = RulesFor(plan, node);
    if (rules.size() == 0) continue;
    st.Update(network_.ApplyRules(node, rules));
  }
  std::string why;
  record->injected = st.ok() && VerifyRules(plan, &why);
  record->detail = st.ok() ? why : std::string(st.message());
  stop_.Wait(absl::Milliseconds(fault.duration_ms));
  absl::Status heal;
  for (int node : nodes_.Nodes()) heal.Update(network_.FlushRules(node));
  record->heal_ns = MonotonicNanos();
  std::string heal_why;
  record->healed = heal.ok() && VerifyRules(PartitionPlan{}, &heal_why);
  absl::StrAppend(&record->detail, "; heal: ", heal.ok() ? heal_why : heal.message());
}

absl::Status Nemesis::HealAll() {
  absl::Status st;
  for (const std::string& crash : nodes_.ReapUnexpectedExits()) {
    crashes_.push_back(crash);
    Log(absl::StrCat("CRASH: ", crash));
  }
  for (int node : nodes_.Nodes()) {
    if (nodes_.Paused(node)) st.Update(nodes_.Resume(node));
    if (!nodes_.Running(node)) st.Update(nodes_.Start(node));
    st.Update(network_.FlushRules(node));
  }
  std::string why;
  if (st.ok() && !VerifyRules(PartitionPlan{}, &why)) {
    st = absl::InternalError(absl::StrCat("rules left after healing: ", why));
  }
  Log(st.ok() ? "heal all: every node running, none paused, no drop rules"
              : absl::StrCat("heal all FAILED: ", st.message()));
  return st;
}

}  // namespace raftkv::chaos
