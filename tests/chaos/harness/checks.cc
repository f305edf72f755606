#include "tests/chaos/harness/checks.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace raftkv::chaos {

namespace v1 = raftkv::v1;

absl::StatusOr<std::map<std::string, std::string>> ReadFinalState(
    client::Client& client, const std::vector<std::string>& keys, int process, int64_t* next_id,
    History* history, absl::Duration timeout) {
  const int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(timeout);
  std::map<std::string, std::string> out;
  for (const std::string& key : keys) {
    while (true) {
      Operation op;
      op.id = (*next_id)++;
      op.process = process;
      op.type = OpType::kRead;
      op.key = key;
      op.invoke_ns = MonotonicNanos();
      absl::StatusOr<v1::RangeResponse> r = client.Get(key);
      op.complete_ns = MonotonicNanos();
      if (r.ok()) {
        op.outcome = Outcome::kOk;
        if (r->kvs_size() > 0) {
          op.read_value = r->kvs(0).value();
          out[key] = r->kvs(0).value();
        }
        op.note = "final read";
        history->push_back(std::move(op));
        break;
      }
      op.outcome = Outcome::kFailed;
      op.note = absl::StrCat("final read: ", r.status().message());
      history->push_back(std::move(op));
      if (MonotonicNanos() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "final read of ", key, " failed until the deadline: ", r.status().message()));
      }
    }
  }
  return out;
}

std::string DumpRange(const v1::RangeResponse& response) {
  std::string out;
  for (const v1::KeyValue& kv : response.kvs()) {
    absl::StrAppend(&out, absl::CEscape(kv.key()), " = \"", absl::CEscape(kv.value()),
                    "\" create=", kv.create_revision(), " mod=", kv.mod_revision(),
                    " version=", kv.version(), "\n");
  }
  absl::StrAppend(&out, "revision ", response.header().revision(), ", ", response.kvs_size(),
                  " keys\n");
  return out;
}

namespace {

// Each node's applied index, or nullopt where Status failed.
std::vector<std::optional<uint64_t>> AppliedIndexes(
    std::vector<std::unique_ptr<client::Client>>& clients,
    const std::vector<std::string>& endpoints, std::vector<std::string>* errors) {
  std::vector<std::optional<uint64_t>> out;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    absl::StatusOr<v1::StatusResponse> s = clients[i]->Status(endpoints[i]);
    if (s.ok()) {
      out.push_back(s->applied_index());
    } else {
      out.push_back(std::nullopt);
      if (errors != nullptr) errors->push_back(std::string(s.status().message()));
    }
  }
  return out;
}

std::string DescribeIndexes(const std::vector<std::optional<uint64_t>>& indexes) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < indexes.size(); ++i) {
    parts.push_back(absl::StrCat(i + 1, ":", indexes[i] ? absl::StrCat(*indexes[i]) : "down"));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace

ReplicaReport CheckReplicas(const std::vector<std::string>& endpoints, absl::Duration timeout,
                            const StopFlag& stop) {
  ReplicaReport report;
  const int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(timeout);
  std::vector<std::optional<uint64_t>> indexes;
  while (!stop.raised()) {
    // Fresh clients each round: a channel to a node that was down can stay
    // in gRPC's reconnect back-off for seconds after the node is back.
    std::vector<std::unique_ptr<client::Client>> clients;
    for (const std::string& e : endpoints) {
      client::Options o;
      o.endpoints = {e};
      o.call_timeout = absl::Seconds(2);
      o.dial_timeout = absl::Milliseconds(500);
      clients.push_back(std::move(*client::Client::Create(o)));
    }
    indexes = AppliedIndexes(clients, endpoints, nullptr);
    bool same = true;
    for (const auto& idx : indexes) same &= idx.has_value() && *idx == *indexes[0];
    if (same) {
      std::map<int, std::string> dumps;
      bool read_all = true;
      for (size_t i = 0; i < endpoints.size() && read_all; ++i) {
        v1::RangeRequest req;
        req.set_key("");
        req.set_prefix(true);
        req.set_consistency(v1::SERIALIZABLE);
        absl::StatusOr<v1::RangeResponse> r = clients[i]->Range(req);
        if (!r.ok()) {
          read_all = false;
        } else {
          dumps[static_cast<int>(i) + 1] = DumpRange(*r);
        }
      }
      if (read_all && AppliedIndexes(clients, endpoints, nullptr) == indexes) {
        report.converged = true;
        report.applied_index = *indexes[0];
        report.dumps = dumps;
        break;
      }
    }
    if (MonotonicNanos() >= deadline) break;
    stop.Wait(absl::Milliseconds(200));
  }
  if (!report.converged) {
    // Nodes not at the highest applied index count as mismatched.
    uint64_t max_index = 0;
    for (const auto& idx : indexes) max_index = std::max(max_index, idx.value_or(0));
    for (const auto& idx : indexes) report.mismatches += !idx.has_value() || *idx != max_index;
    report.problems.push_back(absl::StrCat("replicas did not reach the same applied index within ",
                                           absl::FormatDuration(timeout), ": ",
                                           DescribeIndexes(indexes)));
    return report;
  }
  // The majority's data is the reference; every other node is a mismatch.
  std::map<std::string, int> votes;
  for (const auto& [node, dump] : report.dumps) ++votes[dump];
  std::string reference;
  int best = 0;
  for (const auto& [dump, n] : votes) {
    if (n > best) {
      best = n;
      reference = dump;
    }
  }
  for (const auto& [node, dump] : report.dumps) {
    if (dump != reference) {
      ++report.mismatches;
      report.problems.push_back(absl::StrCat("node ", node,
                                             " differs from the majority at applied index ",
                                             report.applied_index, " (see node", node, ".dump)"));
    }
  }
  return report;
}

}  // namespace raftkv::chaos
