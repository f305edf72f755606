#include "tests/chaos/harness/partition.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/rng.h"

namespace raftkv::chaos {

namespace {

std::string SetText(const std::set<int>& nodes) {
  return absl::StrCat("{", absl::StrJoin(nodes, ","), "}");
}

std::set<int> AllBut(int n, const std::set<int>& except) {
  std::set<int> out;
  for (int i = 1; i <= n; ++i) {
    if (except.count(i) == 0) out.insert(i);
  }
  return out;
}

void CutBothWays(const std::set<int>& a, const std::set<int>& b, std::set<Cut>* cuts) {
  for (int x : a) {
    for (int y : b) {
      if (x == y) continue;
      cuts->insert({x, y});
      cuts->insert({y, x});
    }
  }
}

// A permutation of 1..n drawn from rng (Fisher-Yates).
std::vector<int> Permutation(int n, Rng& rng) {
  std::vector<int> order;
  for (int i = 1; i <= n; ++i) order.push_back(i);
  for (int i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Uniform(static_cast<uint64_t>(i) + 1)]);
  }
  return order;
}

}  // namespace

PartitionPlan IsolateNode(int n, int node) {
  PartitionPlan plan;
  std::set<int> rest = AllBut(n, {node});
  CutBothWays({node}, rest, &plan.cuts);
  plan.description = absl::StrCat(SetText({node}), " | ", SetText(rest));
  return plan;
}

PartitionPlan SplitPlan(int n, const std::set<int>& side) {
  PartitionPlan plan;
  std::set<int> rest = AllBut(n, side);
  CutBothWays(side, rest, &plan.cuts);
  plan.description = absl::StrCat(SetText(side), " | ", SetText(rest));
  return plan;
}

PartitionPlan BridgePlan(const std::vector<int>& order) {
  PartitionPlan plan;
  std::set<int> left, right;
  int bridge = 0;
  if (order.size() == 3) {
    left = {order[0]};
    bridge = order[1];
    right = {order[2]};
  } else if (order.size() == 5) {
    left = {order[0], order[1]};
    bridge = order[2];
    right = {order[3], order[4]};
  } else {
    plan.description = "bridge needs 3 or 5 nodes";
    return plan;
  }
  CutBothWays(left, right, &plan.cuts);
  plan.description = absl::StrCat(SetText(left), " | ", bridge, " | ", SetText(right), " (", bridge,
                                  " sees both)");
  return plan;
}

PartitionPlan OneWayPlan(int receiver, const std::set<int>& senders) {
  PartitionPlan plan;
  for (int s : senders) {
    if (s != receiver) plan.cuts.insert({s, receiver});
  }
  plan.description = absl::StrCat(receiver, " drops from ", SetText(senders));
  return plan;
}

PartitionPlan DeafToPlan(int sender, const std::set<int>& receivers) {
  PartitionPlan plan;
  for (int r : receivers) {
    if (r != sender) plan.cuts.insert({sender, r});
  }
  plan.description = absl::StrCat(SetText(receivers), " drop from ", sender);
  return plan;
}

PartitionPlan ChoosePartition(FaultKind kind, Role role, uint64_t choice, int n, int leader) {
  Rng rng(choice);
  if (leader < 1 || leader > n) leader = 1 + static_cast<int>(rng.Uniform(n));
  // The node a role names: the leader, or a follower drawn from the others.
  auto role_node = [&]() {
    if (role == Role::kLeader) return leader;
    int other = 1 + static_cast<int>(rng.Uniform(n - 1));
    return other >= leader ? other + 1 : other;
  };
  switch (kind) {
    case FaultKind::kIsolateLeader:
      return IsolateNode(n, leader);
    case FaultKind::kSplit: {
      // A minority of 1..(n-1)/2 nodes, drawn at random.
      int size = 1 + static_cast<int>(rng.Uniform(static_cast<uint64_t>((n - 1) / 2)));
      std::vector<int> order = Permutation(n, rng);
      std::set<int> side(order.begin(), order.begin() + size);
      return SplitPlan(n, side);
    }
    case FaultKind::kBridge:
      return BridgePlan(Permutation(n, rng));
    case FaultKind::kOneWay: {
      int node = role_node();
      std::set<int> others = AllBut(n, {node});
      switch (rng.Uniform(3)) {
        case 0:  // node hears nobody; everyone hears node
          return OneWayPlan(node, others);
        case 1: {  // node drops one peer's packets
          std::vector<int> list(others.begin(), others.end());
          return OneWayPlan(node, {list[rng.Uniform(list.size())]});
        }
        default:  // nobody hears node; node hears everyone
          return DeafToPlan(node, others);
      }
    }
    default:
      return PartitionPlan{"not a partition", {}};
  }
}

NodeRules RulesFor(const PartitionPlan& plan, int node) {
  NodeRules rules;
  for (const auto& [from, to] : plan.cuts) {
    if (from == to) continue;
    if (to == node) rules.drop_input_from.push_back(from);
    if (from == node) rules.drop_output_to.push_back(to);
  }
  for (auto* v : {&rules.drop_input_from, &rules.drop_output_to}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  return rules;
}

std::string NftSetupScript() {
  return absl::StrCat("add table inet ", kNftTable,
                      "\n"
                      "add chain inet ",
                      kNftTable,
                      " input { type filter hook input priority 0; policy accept; }\n"
                      "add chain inet ",
                      kNftTable,
                      " output { type filter hook output priority 0; policy accept; }\n");
}

std::string NftFlushScript() {
  return absl::StrCat("flush chain inet ", kNftTable, " input\n", "flush chain inet ", kNftTable,
                      " output\n");
}

std::string NftApplyScript(const NodeRules& rules, const AddressOf& address) {
  std::string out = NftFlushScript();
  for (int from : rules.drop_input_from) {
    absl::StrAppend(&out, "add rule inet ", kNftTable, " input ip saddr ", address(from),
                    " drop\n");
  }
  for (int to : rules.drop_output_to) {
    absl::StrAppend(&out, "add rule inet ", kNftTable, " output ip daddr ", address(to), " drop\n");
  }
  return out;
}

ListedRules ParseNftListing(const std::string& text) {
  ListedRules out;
  std::string chain;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line == "}") continue;
    if (absl::StartsWith(line, "table ")) continue;
    if (absl::StartsWith(line, "chain ")) {
      std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
      chain = words.size() >= 2 ? words[1] : "";
      continue;
    }
    if (absl::StartsWith(line, "type ") || absl::StartsWith(line, "policy ")) continue;
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // "ip saddr 10.1.2.3 drop" (nft may append "# handle N" with -a).
    if (words.size() >= 4 && words[0] == "ip" && words[3] == "drop") {
      if (chain == "input" && words[1] == "saddr") {
        out.input_saddr_drops.push_back(words[2]);
        continue;
      }
      if (chain == "output" && words[1] == "daddr") {
        out.output_daddr_drops.push_back(words[2]);
        continue;
      }
    }
    ++out.other_rules;
  }
  std::sort(out.input_saddr_drops.begin(), out.input_saddr_drops.end());
  std::sort(out.output_daddr_drops.begin(), out.output_daddr_drops.end());
  return out;
}

bool ListingMatches(const ListedRules& listed, const NodeRules& rules, const AddressOf& address) {
  auto addresses = [&](const std::vector<int>& nodes) {
    std::vector<std::string> out;
    for (int n : nodes) out.push_back(address(n));
    std::sort(out.begin(), out.end());
    return out;
  };
  return listed.other_rules == 0 && listed.input_saddr_drops == addresses(rules.drop_input_from) &&
         listed.output_daddr_drops == addresses(rules.drop_output_to);
}

}  // namespace raftkv::chaos
