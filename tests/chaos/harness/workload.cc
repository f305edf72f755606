#include "tests/chaos/harness/workload.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/rng.h"
#include "tests/chaos/harness/stop_flag.h"

namespace raftkv::chaos {

namespace v1 = raftkv::v1;

Outcome ClassifyFailure(OpType type, const absl::Status& status) {
  if (type == OpType::kRead) return Outcome::kFailed;
  if (absl::StrContains(status.message(), "may or may not have been applied")) {
    return Outcome::kIndeterminate;
  }
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      // Every attempt failed in a way that cannot have proposed the write
      // (client.cc only retries those); anything else says "may or may not".
      return absl::StrContains(status.message(), "no endpoint answered") ? Outcome::kFailed
                                                                         : Outcome::kIndeterminate;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
      return Outcome::kFailed;
    default:
      return Outcome::kIndeterminate;
  }
}

std::vector<std::string> KeyNames(int keys) {
  std::vector<std::string> out;
  for (int i = 0; i < keys; ++i) out.push_back(absl::StrCat("k", i));
  return out;
}

Workload::Workload(WorkloadOptions options)
    : options_(std::move(options)), keys_(KeyNames(options_.keys)) {}

Workload::~Workload() { Stop(); }

absl::StatusOr<std::unique_ptr<client::Client>> Workload::NewClient(int index,
                                                                    uint64_t generation) const {
  client::Options o;
  // The client's home node first: a fresh Client (no leader hint) sends its
  // first calls there.
  const size_t n = options_.endpoints.size();
  for (size_t i = 0; i < n; ++i) o.endpoints.push_back(options_.endpoints[(index + i) % n]);
  o.call_timeout = options_.call_timeout;
  o.dial_timeout = options_.dial_timeout;
  o.backoff_initial = absl::Milliseconds(20);
  o.backoff_max = absl::Milliseconds(200);
  o.seed = options_.seed * 131 + static_cast<uint64_t>(index) * 1'000'003 + generation;
  return client::Client::Create(o);
}

absl::Status Workload::Start() {
  // Every option is checked once here; the threads' own Clients then cannot fail.
  absl::StatusOr<std::unique_ptr<client::Client>> probe = NewClient(0, 0);
  if (!probe.ok()) return probe.status();
  histories_.resize(options_.clients);
  for (int i = 0; i < options_.clients; ++i) {
    threads_.emplace_back([this, i] { RunClient(i); });
  }
  return absl::OkStatus();
}

void Workload::Stop() {
  stop_.store(true);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

History Workload::TakeHistory() {
  History out;
  for (History& h : histories_) {
    out.insert(out.end(), std::make_move_iterator(h.begin()), std::make_move_iterator(h.end()));
    h.clear();
  }
  std::sort(out.begin(), out.end(), [](const Operation& a, const Operation& b) {
    return a.invoke_ns != b.invoke_ns ? a.invoke_ns < b.invoke_ns : a.id < b.id;
  });
  return out;
}

void Workload::RunClient(int index) {
  Rng rng(options_.seed * 1'000'003 + static_cast<uint64_t>(index) + 1);
  History& history = histories_[index];
  uint64_t generation = 0;
  std::unique_ptr<client::Client> client = std::move(*NewClient(index, generation));
  auto ops_until_fresh_client = [&] {
    return options_.fresh_client_min_ops +
           static_cast<int>(rng.Uniform(static_cast<uint64_t>(options_.fresh_client_min_ops) + 1));
  };
  int ops_left = ops_until_fresh_client();
  int process = next_process_.fetch_add(1);
  int64_t seq = 0;
  // What this thread last saw of each key (nullopt inside: absent); a key
  // missing from the map is unknown.
  std::map<std::string, std::optional<std::string>> seen;
  const int64_t think_max_us = absl::ToInt64Microseconds(options_.think_max);

  while (!stop_.load()) {
    Operation op;
    op.id = next_op_id_.fetch_add(1);
    op.process = process;
    op.key = keys_[rng.Uniform(keys_.size())];
    const uint64_t pick = rng.Uniform(100);
    absl::Status status;
    if (pick < 40) {
      op.type = OpType::kRead;
      op.invoke_ns = MonotonicNanos();
      absl::StatusOr<v1::RangeResponse> r = client->Get(op.key);
      op.complete_ns = MonotonicNanos();
      status = r.status();
      if (r.ok()) {
        if (r->kvs_size() > 0) op.read_value = r->kvs(0).value();
        seen[op.key] = op.read_value;
      }
    } else if (pick < 70) {
      op.type = OpType::kWrite;
      op.value = absl::StrCat("p", process, "-", ++seq);
      op.invoke_ns = MonotonicNanos();
      absl::StatusOr<v1::PutResponse> r = client->Put(op.key, *op.value);
      op.complete_ns = MonotonicNanos();
      status = r.status();
      if (r.ok()) {
        seen[op.key] = op.value;
      } else {
        seen.erase(op.key);
      }
    } else if (pick < 80) {
      op.type = OpType::kDelete;
      op.invoke_ns = MonotonicNanos();
      absl::StatusOr<v1::DeleteRangeResponse> r = client->Delete(op.key);
      op.complete_ns = MonotonicNanos();
      status = r.status();
      if (r.ok()) {
        seen[op.key] = std::nullopt;
      } else {
        seen.erase(op.key);
      }
    } else {
      op.type = OpType::kCas;
      auto known = seen.find(op.key);
      if (known != seen.end()) op.expected = known->second;
      op.value = absl::StrCat("p", process, "-", ++seq);
      v1::TxnRequest txn;
      v1::Compare* cmp = txn.add_compare();
      cmp->set_key(op.key);
      cmp->set_result(v1::Compare::EQUAL);
      if (op.expected.has_value()) {
        cmp->set_target(v1::Compare::VALUE);
        cmp->set_value(*op.expected);
      } else {
        // Absence: a missing key has version 0.
        cmp->set_target(v1::Compare::VERSION);
        cmp->set_version(0);
      }
      v1::PutRequest* put = txn.add_success()->mutable_request_put();
      put->set_key(op.key);
      put->set_value(*op.value);
      // On a failed compare, read the key so the next CAS expects its value.
      txn.add_failure()->mutable_request_range()->set_key(op.key);
      op.invoke_ns = MonotonicNanos();
      absl::StatusOr<v1::TxnResponse> r = client->Txn(txn);
      op.complete_ns = MonotonicNanos();
      status = r.status();
      seen.erase(op.key);
      if (r.ok()) {
        op.cas_succeeded = r->succeeded();
        if (r->succeeded()) {
          seen[op.key] = op.value;
        } else if (r->responses_size() == 1 && r->responses(0).has_response_range()) {
          const v1::RangeResponse& rr = r->responses(0).response_range();
          seen[op.key] =
              rr.kvs_size() > 0 ? std::optional<std::string>(rr.kvs(0).value()) : std::nullopt;
        }
      }
    }

    if (status.ok()) {
      op.outcome = Outcome::kOk;
      if (op.type != OpType::kRead) {
        ok_writes_.fetch_add(1, std::memory_order_relaxed);
        int64_t last = last_ok_write_ns_.load(std::memory_order_relaxed);
        while (last < op.complete_ns &&
               !last_ok_write_ns_.compare_exchange_weak(last, op.complete_ns)) {
        }
      }
    } else {
      op.outcome = ClassifyFailure(op.type, status);
      op.note = std::string(status.message());
      if (op.outcome == Outcome::kIndeterminate) {
        op.complete_ns = kNeverCompleted;
        // The operation may still take effect: this process is over.
        process = next_process_.fetch_add(1);
        ops_left = 0;
      }
    }
    history.push_back(std::move(op));
    if (--ops_left <= 0) {
      client = std::move(*NewClient(index, ++generation));
      ops_left = ops_until_fresh_client();
    }
    if (think_max_us > 0) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(rng.Uniform(static_cast<uint64_t>(think_max_us) + 1)));
    }
  }
}

}  // namespace raftkv::chaos
