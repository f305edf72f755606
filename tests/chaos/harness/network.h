// The network of one chaos run: a Linux bridge in the root namespace (address
// .254 of the run's /24, where the harness's clients live) and one network
// namespace per node, joined to the bridge by a veth pair (address .N inside,
// lo up), each namespace with the nftables table of partition.h.
//
// Names carry the run's tag (the harness's pid unless --net-tag says
// otherwise), so runs never collide and scripts/chaos.sh can remove a dead
// run's leftovers by name: bridge rkc<tag>br, namespaces rkc<tag>n<N>, veths
// rkc<tag>h<N> (bridge side) and rkc<tag>v<N> (namespace side); all at most
// 15 characters. The /24 is 10.<200..249>.<x>.0, derived from the tag and
// checked to be unused (`ip -4 addr`, `ip -4 route`).
//
// Invariants: Network removes everything it created (its destructor and
// Destroy; RemoveNetworkByTag for leftovers); traffic stays on the bridge.
// Threads: one owner (the run's main thread); RemoveNetworkByTag from any.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/chaos/harness/partition.h"

namespace raftkv::chaos {

struct NetworkNames {
  std::string prefix;  // rkc<tag>
  std::string bridge;  // rkc<tag>br
  std::string Namespace(int node) const;
  std::string HostVeth(int node) const;
  std::string NodeVeth(int node) const;
  // Whether an interface or namespace name belongs to this tag.
  bool Owns(const std::string& name) const;
};
NetworkNames NamesForTag(int tag);

struct Subnet {
  int a = 0;  // 10.a.b.0/24
  int b = 0;
  std::string Address(int host) const;
  std::string Cidr() const;
};
// The attempt-th candidate /24 for a tag (attempt 0 first).
Subnet SubnetCandidate(int tag, int attempt);

// Removes every namespace and interface named for `tag` (killing nothing:
// processes inside must be gone already). Missing ones are not an error.
absl::Status RemoveNetworkByTag(int tag);

class Network {
 public:
  // Builds the bridge and `nodes` namespaces. Fails if the tag's names are in
  // use by a live run (leftovers of a dead one with the same tag are removed)
  // and removes whatever it built when a step fails.
  static absl::StatusOr<std::unique_ptr<Network>> Create(int tag, int nodes);
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Removes everything; idempotent.
  absl::Status Destroy();

  int tag() const { return tag_; }
  int nodes() const { return nodes_; }
  const NetworkNames& names() const { return names_; }
  const Subnet& subnet() const { return subnet_; }
  std::string NodeAddress(int node) const { return subnet_.Address(node); }
  std::string BridgeAddress() const { return subnet_.Address(254); }
  AddressOf address_of() const;

  // nftables in node's namespace.
  absl::Status ApplyRules(int node, const NodeRules& rules);
  absl::Status FlushRules(int node);
  absl::StatusOr<ListedRules> ListRules(int node);

 private:
  Network(int tag, int nodes, Subnet subnet);
  absl::Status Build();

  const int tag_;
  const int nodes_;
  const NetworkNames names_;
  const Subnet subnet_;
  bool destroyed_ = false;
};

}  // namespace raftkv::chaos
