// Network partitions as sets of directed cuts, and the nftables rules that
// make them: each node's namespace holds one table `inet raftkv_chaos` with an
// input and an output chain; a cut "from -> to" is an `ip saddr <from> drop`
// rule in to's input chain and an `ip daddr <to> drop` rule in from's output
// chain (either alone drops the packets; both make the intent readable in
// `nft list` on either side). Only peer node addresses are ever dropped, so
// the harness's clients (on the bridge, address .254) reach every node.
//
// Invariants: a plan never cuts a node from itself; RulesFor lists each peer
// once per chain, sorted; healing is flushing both chains.
// Threads: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/chaos/harness/schedule.h"

namespace raftkv::chaos {

// (from, to): packets sent by node `from` never reach node `to`.
using Cut = std::pair<int, int>;

struct PartitionPlan {
  std::string description;  // e.g. "{1} | {2,3}", "3 drops from {1,2}"
  std::set<Cut> cuts;
};

// Nodes are numbered 1..n.
// `node` loses every link to and from the others.
PartitionPlan IsolateNode(int n, int node);
// `side` and the rest cannot reach each other (both ways).
PartitionPlan SplitPlan(int n, const std::set<int>& side);
// order is a permutation of 1..n, n = 3 or 5. 3 nodes: order[0] and order[2]
// are cut from each other, order[1] sees both. 5 nodes: {order[0], order[1]}
// | order[2] | {order[3], order[4]}, order[2] sees both halves.
PartitionPlan BridgePlan(const std::vector<int>& order);
// `receiver` drops every packet from `senders`; they still receive from it.
PartitionPlan OneWayPlan(int receiver, const std::set<int>& senders);
// Every node in `receivers` drops packets from `sender` (which still hears them).
PartitionPlan DeafToPlan(int sender, const std::set<int>& receivers);

// The concrete plan of a partition fault in a cluster of n nodes whose leader
// is `leader` (0 if unknown: a random node stands in). Deterministic in
// (kind, role, choice, n, leader).
PartitionPlan ChoosePartition(FaultKind kind, Role role, uint64_t choice, int n, int leader);

// The rules of one node's namespace for a plan.
struct NodeRules {
  std::vector<int> drop_input_from;  // sorted, unique
  std::vector<int> drop_output_to;   // sorted, unique
  size_t size() const { return drop_input_from.size() + drop_output_to.size(); }
  bool operator==(const NodeRules& o) const {
    return drop_input_from == o.drop_input_from && drop_output_to == o.drop_output_to;
  }
};
NodeRules RulesFor(const PartitionPlan& plan, int node);

inline constexpr char kNftTable[] = "raftkv_chaos";

using AddressOf = std::function<std::string(int node)>;

// `nft -f -` scripts, each one atomic transaction.
std::string NftSetupScript();
std::string NftApplyScript(const NodeRules& rules, const AddressOf& address);
std::string NftFlushScript();

// The drop rules found in `nft list table inet raftkv_chaos` output.
struct ListedRules {
  std::vector<std::string> input_saddr_drops;   // sorted
  std::vector<std::string> output_daddr_drops;  // sorted
  size_t other_rules = 0;                       // any rule line not of those forms
};
ListedRules ParseNftListing(const std::string& text);
// Whether a listing holds exactly the rules of `rules` (and no other rule).
bool ListingMatches(const ListedRules& listed, const NodeRules& rules, const AddressOf& address);

}  // namespace raftkv::chaos
