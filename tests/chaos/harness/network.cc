#include "tests/chaos/harness/network.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"
#include "tests/chaos/harness/command.h"

namespace raftkv::chaos {

namespace {

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Names of network namespaces (`ip netns list`: "name (id: 3)" or "name").
absl::StatusOr<std::vector<std::string>> ListNamespaces() {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({"ip", "netns", "list"}));
  if (r.exit_code != 0) return absl::InternalError(absl::StrCat("ip netns list: ", r.output));
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!words.empty()) out.push_back(words[0]);
  }
  return out;
}

// Interface names of the root namespace (`ip -o link show`: "5: name@peer: <...").
absl::StatusOr<std::vector<std::string>> ListLinks() {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({"ip", "-o", "link", "show"}));
  if (r.exit_code != 0) return absl::InternalError(absl::StrCat("ip link show: ", r.output));
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(": ", 2));
    if (parts.size() < 2) continue;
    std::string name = parts[1];
    size_t at = name.find('@');
    if (at != std::string::npos) name.resize(at);
    out.push_back(name);
  }
  return out;
}

bool ProcessAlive(int pid) {
  struct stat st;
  return stat(absl::StrCat("/proc/", pid).c_str(), &st) == 0;
}

}  // namespace

std::string NetworkNames::Namespace(int node) const { return absl::StrCat(prefix, "n", node); }
std::string NetworkNames::HostVeth(int node) const { return absl::StrCat(prefix, "h", node); }
std::string NetworkNames::NodeVeth(int node) const { return absl::StrCat(prefix, "v", node); }

bool NetworkNames::Owns(const std::string& name) const {
  if (name == bridge) return true;
  if (!absl::StartsWith(name, prefix) || name.size() < prefix.size() + 2) return false;
  char kind = name[prefix.size()];
  return (kind == 'n' || kind == 'h' || kind == 'v') &&
         AllDigits(absl::string_view(name).substr(prefix.size() + 1));
}

NetworkNames NamesForTag(int tag) {
  NetworkNames n;
  n.prefix = absl::StrCat("rkc", tag);
  n.bridge = absl::StrCat(n.prefix, "br");
  return n;
}

std::string Subnet::Address(int host) const { return absl::StrCat("10.", a, ".", b, ".", host); }
std::string Subnet::Cidr() const { return absl::StrCat("10.", a, ".", b, ".0/24"); }

Subnet SubnetCandidate(int tag, int attempt) {
  constexpr int kCount = 50 * 256;  // 10.200.0.0 .. 10.249.255.0
  int index = static_cast<int>((static_cast<int64_t>(tag) + int64_t{attempt} * 7919) % kCount);
  if (index < 0) index += kCount;
  return Subnet{200 + index / 256, index % 256};
}

absl::Status RemoveNetworkByTag(int tag) {
  const NetworkNames names = NamesForTag(tag);
  absl::Status first_error;
  ASSIGN_OR_RETURN(std::vector<std::string> namespaces, ListNamespaces());
  for (const std::string& ns : namespaces) {
    if (!names.Owns(ns)) continue;
    absl::Status st = RunChecked({"ip", "netns", "delete", ns});
    if (!st.ok() && first_error.ok()) first_error = st;
  }
  // Deleting a namespace deletes its veth end and so the pair; what is left
  // is the bridge and any half-made veth.
  ASSIGN_OR_RETURN(std::vector<std::string> links, ListLinks());
  for (const std::string& link : links) {
    if (!names.Owns(link)) continue;
    absl::StatusOr<CommandResult> r = RunCommand({"ip", "link", "delete", link});
    // A veth may vanish with its peer between the listing and the delete.
    if (r.ok() && r->exit_code != 0 && !absl::StrContains(r->output, "Cannot find device") &&
        first_error.ok()) {
      first_error = absl::InternalError(absl::StrCat("ip link delete ", link, ": ", r->output));
    }
  }
  return first_error;
}

Network::Network(int tag, int nodes, Subnet subnet)
    : tag_(tag), nodes_(nodes), names_(NamesForTag(tag)), subnet_(subnet) {}

Network::~Network() {
  absl::Status st = Destroy();
  (void)st;  // reported by an explicit Destroy() when the caller cares
}

AddressOf Network::address_of() const {
  Subnet s = subnet_;
  return [s](int node) { return s.Address(node); };
}

absl::StatusOr<std::unique_ptr<Network>> Network::Create(int tag, int nodes) {
  const NetworkNames names = NamesForTag(tag);
  if (names.bridge.size() > 15 || names.HostVeth(nodes).size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("network tag ", tag, " makes interface names over 15 characters"));
  }
  // Leftovers with our tag: a live run (refuse) or a dead one (remove).
  ASSIGN_OR_RETURN(std::vector<std::string> namespaces, ListNamespaces());
  ASSIGN_OR_RETURN(std::vector<std::string> links, ListLinks());
  bool leftovers = false;
  for (const auto* list : {&namespaces, &links}) {
    for (const std::string& name : *list) leftovers |= names.Owns(name);
  }
  if (leftovers) {
    if (tag != getpid() && ProcessAlive(tag)) {
      return absl::FailedPreconditionError(
          absl::StrCat("namespaces/interfaces named ", names.prefix, "* exist and process ", tag,
                       " is alive (another chaos run?); pick another --net-tag"));
    }
    RETURN_IF_ERROR(RemoveNetworkByTag(tag));
  }
  // An unused /24.
  ASSIGN_OR_RETURN(CommandResult addrs, RunCommand({"ip", "-4", "addr"}));
  ASSIGN_OR_RETURN(CommandResult routes, RunCommand({"ip", "-4", "route"}));
  Subnet subnet;
  bool found = false;
  for (int attempt = 0; attempt < 64 && !found; ++attempt) {
    subnet = SubnetCandidate(tag, attempt);
    std::string needle = absl::StrCat("10.", subnet.a, ".", subnet.b, ".");
    found = !absl::StrContains(addrs.output, needle) && !absl::StrContains(routes.output, needle);
  }
  if (!found) return absl::ResourceExhaustedError("no unused 10.2xx.x.0/24 subnet found");
  std::unique_ptr<Network> net(new Network(tag, nodes, subnet));
  absl::Status st = net->Build();
  if (!st.ok()) {
    absl::Status cleanup = net->Destroy();
    if (!cleanup.ok()) {
      return absl::Status(
          st.code(),
          absl::StrCat(st.message(), "; and removing what was built: ", cleanup.message()));
    }
    return st;
  }
  return net;
}

absl::Status Network::Build() {
  const std::string& br = names_.bridge;
  RETURN_IF_ERROR(RunChecked({"ip", "link", "add", br, "type", "bridge"}));
  RETURN_IF_ERROR(RunChecked({"ip", "addr", "add", BridgeAddress() + "/24", "dev", br}));
  RETURN_IF_ERROR(RunChecked({"ip", "link", "set", br, "up"}));
  for (int node = 1; node <= nodes_; ++node) {
    const std::string ns = names_.Namespace(node);
    const std::string host = names_.HostVeth(node);
    const std::string inner = names_.NodeVeth(node);
    RETURN_IF_ERROR(RunChecked({"ip", "netns", "add", ns}));
    RETURN_IF_ERROR(RunChecked({"ip", "link", "add", host, "type", "veth", "peer", "name", inner}));
    RETURN_IF_ERROR(RunChecked({"ip", "link", "set", inner, "netns", ns}));
    RETURN_IF_ERROR(RunChecked({"ip", "link", "set", host, "master", br}));
    RETURN_IF_ERROR(RunChecked({"ip", "link", "set", host, "up"}));
    RETURN_IF_ERROR(RunChecked({"ip", "-n", ns, "link", "set", "lo", "up"}));
    RETURN_IF_ERROR(
        RunChecked({"ip", "-n", ns, "addr", "add", NodeAddress(node) + "/24", "dev", inner}));
    RETURN_IF_ERROR(RunChecked({"ip", "-n", ns, "link", "set", inner, "up"}));
    RETURN_IF_ERROR(RunChecked({"ip", "netns", "exec", ns, "nft", "-f", "-"}, NftSetupScript()));
  }
  return absl::OkStatus();
}

absl::Status Network::Destroy() {
  if (destroyed_) return absl::OkStatus();
  destroyed_ = true;
  return RemoveNetworkByTag(tag_);
}

absl::Status Network::ApplyRules(int node, const NodeRules& rules) {
  return RunChecked({"ip", "netns", "exec", names_.Namespace(node), "nft", "-f", "-"},
                    NftApplyScript(rules, address_of()));
}

absl::Status Network::FlushRules(int node) {
  return RunChecked({"ip", "netns", "exec", names_.Namespace(node), "nft", "-f", "-"},
                    NftFlushScript());
}

absl::StatusOr<ListedRules> Network::ListRules(int node) {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({"ip", "netns", "exec", names_.Namespace(node),
                                                "nft", "list", "table", "inet", kNftTable}));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("nft list table in ", names_.Namespace(node), ": ",
                                            absl::StripAsciiWhitespace(r.output)));
  }
  return ParseNftListing(r.output);
}

}  // namespace raftkv::chaos
