#include "bench/kvbench/load.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/kvbench/proc_stats.h"
#include "bench/kvbench/targets.h"
#include "src/common/rng.h"

namespace raftkv::kvbench {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
// Pause after a failed call before the client sends again.
constexpr int64_t kErrorBackoffNs = 10 * 1000 * 1000;
// Once the window ends, outstanding calls get this long before being cancelled.
constexpr int64_t kDrainGraceNs = 2 * kNsPerSec;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// gRPC's deadline for steady-clock time `ns` (gRPC takes only system_clock
// time points or its own clock, whose monotonic epoch differs from ours, so
// convert through the time left).
gpr_timespec DeadlineAt(int64_t ns) {
  const int64_t left = std::max<int64_t>(0, ns - NowNs());
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left, GPR_TIMESPAN));
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN_CODE";
  }
}

// Writes key i into *out, zero-padded to size (which holds i's digits).
void FormatKey(uint64_t i, int size, std::string* out) {
  out->assign(static_cast<size_t>(size), '0');
  for (int pos = size - 1; pos >= 0 && i > 0; --pos, i /= 10) {
    (*out)[static_cast<size_t>(pos)] = static_cast<char>('0' + i % 10);
  }
}

std::string Millis(int64_t ns) { return absl::StrFormat("%.2fms", static_cast<double>(ns) / 1e6); }

template <typename Api>
class Runner {
 public:
  explicit Runner(const Config& config) : config_(config), rng_(config.seed) {}

  ~Runner() {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  // Opens the channels and finds the leader.
  absl::Status Connect();
  // Writes every key once (not measured).
  absl::Status Prefill();
  // Warm-up, measured window, drain.
  absl::StatusOr<RunResult> Measure();

 private:
  enum class Phase { kPrefill, kWarmup, kMeasure, kDrain };
  enum class Wait { kIdle, kRpc, kBackoff };

  // One client: at most one RPC or back-off alarm outstanding. The
  // CompletionQueue tag is the Call itself; `wait` says what completed.
  struct Call {
    int index = 0;
    Wait wait = Wait::kIdle;
    bool is_read = false;
    int endpoint = 0;  // where the RPC went
    int64_t start_ns = 0;
    std::optional<grpc::ClientContext> ctx;
    typename Api::PutRequest put_req;
    typename Api::PutResponse put_resp;
    typename Api::RangeRequest range_req;
    typename Api::RangeResponse range_resp;
    std::unique_ptr<grpc::ClientAsyncResponseReader<typename Api::PutResponse>> put_reader;
    std::unique_ptr<grpc::ClientAsyncResponseReader<typename Api::RangeResponse>> range_reader;
    grpc::Status status;
    grpc::Alarm alarm;
  };

  // Runs the loop until the phase is done (prefill: every key written;
  // otherwise: window over and every call drained).
  void Loop();
  // Sends call's next request, or leaves it idle if its phase is over.
  void Issue(Call* call, int64_t now);
  void Handle(Call* call, bool ok, int64_t now);
  void OnRpcDone(Call* call, int64_t now);
  void AdvancePhase(int64_t now);
  void StartMeasuring(int64_t now);
  void StopMeasuring(int64_t now);
  void Tick(int64_t now);
  void SampleCpu(std::vector<double>* out) const;

  const Config& config_;
  Rng rng_;
  grpc::CompletionQueue cq_;
  // [endpoint][connection]
  std::vector<std::vector<std::unique_ptr<typename Api::KvStub>>> stubs_;
  std::vector<std::unique_ptr<Call>> calls_;
  int leader_ = 0;
  std::string value_;

  Phase phase_ = Phase::kPrefill;
  int outstanding_ = 0;
  uint64_t next_prefill_ = 0;
  uint64_t prefill_errors_ = 0;
  std::string prefill_error_;
  int64_t phase_start_ns_ = 0;
  int64_t run_start_ns_ = 0;
  int64_t warmup_end_ns_ = 0;
  int64_t measure_start_ns_ = 0;
  int64_t measure_end_ns_ = 0;
  int64_t next_tick_ns_ = 0;
  bool cancelled_stragglers_ = false;

  RunResult result_;
  std::vector<int> pids_;
  std::vector<double> cpu_start_;
  std::vector<double> cpu_end_;
  // The current second, for the progress line.
  Histogram tick_latency_ns_;
  uint64_t tick_errors_ = 0;
  int64_t tick_start_ns_ = 0;
};

template <typename Api>
absl::Status Runner<Api>::Connect() {
  const int n = static_cast<int>(config_.endpoints.size());
  std::vector<std::shared_ptr<grpc::Channel>> first(n);
  stubs_.resize(n);
  for (int e = 0; e < n; ++e) {
    for (int k = 0; k < config_.connections; ++k) {
      grpc::ChannelArguments args;
      // Each channel its own subchannel, hence its own TCP connection.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("kvbench.connection", k);
      // kvbench retries failed calls itself. gRPC's own retry support (on by
      // default in 1.51) costs every call its bookkeeping even when nothing
      // fails: with it, kvbench spent 33-43 us of CPU per write at 16
      // clients; without, 25-31 (2026-12-04), CPU that both stores' servers
      // get back on a small machine. raftkv's client library turns it off too.
      args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
      std::shared_ptr<grpc::Channel> channel =
          grpc::CreateCustomChannel(config_.endpoints[e], grpc::InsecureChannelCredentials(), args);
      if (k == 0) first[e] = channel;
      stubs_[e].push_back(Api::NewKvStub(channel));
    }
  }
  // Every endpoint must answer (serializable reads use all of them), and one
  // of them must be the leader the others name.
  const int64_t deadline = NowNs() + static_cast<int64_t>(config_.connect_timeout_s * 1e9);
  std::vector<std::optional<NodeInfo>> info(n);
  std::vector<std::string> last_error(n);
  for (;;) {
    uint64_t leader_id = 0;
    for (int e = 0; e < n; ++e) {
      if (info[e] && info[e]->leader_id == 0) info[e].reset();  // ask again
      if (info[e]) {
        leader_id = info[e]->leader_id;
        continue;
      }
      absl::StatusOr<NodeInfo> got = Api::GetNodeInfo(first[e], 2.0);
      if (got.ok()) {
        info[e] = *got;
        if (got->leader_id != 0) leader_id = got->leader_id;
      } else {
        last_error[e] = std::string(got.status().message());
      }
    }
    bool all = true;
    for (int e = 0; e < n; ++e) all = all && info[e].has_value();
    if (all && leader_id != 0) {
      for (int e = 0; e < n; ++e) {
        if (info[e]->member_id == leader_id) {
          leader_ = e;
          result_.leader = config_.endpoints[e];
          return absl::OkStatus();
        }
      }
      return absl::FailedPreconditionError(
          absl::StrFormat("the leader (member %x) is not among --endpoints %s", leader_id,
                          absl::StrJoin(config_.endpoints, ",")));
    }
    if (NowNs() >= deadline) {
      for (int e = 0; e < n; ++e) {
        if (!info[e]) {
          return absl::UnavailableError(absl::StrFormat("%s did not answer within %gs (%s)",
                                                        config_.endpoints[e],
                                                        config_.connect_timeout_s, last_error[e]));
        }
      }
      return absl::UnavailableError(
          absl::StrFormat("no leader known within %gs", config_.connect_timeout_s));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

template <typename Api>
void Runner<Api>::Issue(Call* call, int64_t now) {
  const uint64_t key_space = config_.key_space;
  uint64_t key = 0;
  bool read = false;
  switch (phase_) {
    case Phase::kPrefill:
      if (next_prefill_ >= key_space) return;
      key = next_prefill_++;
      break;
    case Phase::kWarmup:
    case Phase::kMeasure:
      key = rng_.Uniform(key_space);
      read = config_.read_ratio > 0 && rng_.Chance(config_.read_ratio);
      break;
    case Phase::kDrain:
      return;
  }
  const bool serializable = read && config_.consistency == Consistency::kSerializable;
  const int n = static_cast<int>(stubs_.size());
  call->endpoint = serializable ? call->index % n : leader_;
  typename Api::KvStub* stub = stubs_[call->endpoint][call->index % config_.connections].get();
  call->ctx.emplace();
  call->ctx->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(config_.timeout_s * 1e6)));
  call->is_read = read;
  call->wait = Wait::kRpc;
  call->start_ns = now;
  if (read) {
    FormatKey(key, config_.key_size, call->range_req.mutable_key());
    Api::SetSerializable(&call->range_req, serializable);
    call->range_reader = stub->PrepareAsyncRange(&*call->ctx, call->range_req, &cq_);
    call->range_reader->StartCall();
    call->range_reader->Finish(&call->range_resp, &call->status, call);
  } else {
    FormatKey(key, config_.key_size, call->put_req.mutable_key());
    call->put_reader = stub->PrepareAsyncPut(&*call->ctx, call->put_req, &cq_);
    call->put_reader->StartCall();
    call->put_reader->Finish(&call->put_resp, &call->status, call);
  }
  ++outstanding_;
}

template <typename Api>
void Runner<Api>::Handle(Call* call, bool ok, int64_t now) {
  --outstanding_;
  const Wait was = call->wait;
  call->wait = Wait::kIdle;
  if (was == Wait::kRpc) {
    OnRpcDone(call, now);
  } else if (was == Wait::kBackoff) {
    Issue(call, now);
  }
}

template <typename Api>
void Runner<Api>::OnRpcDone(Call* call, int64_t now) {
  const grpc::Status& s = call->status;
  const bool in_window = phase_ == Phase::kMeasure;
  if (s.ok()) {
    const int64_t latency = now - call->start_ns;
    tick_latency_ns_.Record(static_cast<uint64_t>(latency));
    if (in_window) {
      result_.latency_ns.Record(static_cast<uint64_t>(latency));
      ++result_.ops;
      if (call->is_read) {
        ++result_.reads;
        if (call->range_resp.kvs_size() == 0) ++result_.missing_reads;
      } else {
        ++result_.writes;
      }
    }
    call->put_resp.Clear();
    call->range_resp.Clear();
    Issue(call, now);
    return;
  }
  ++tick_errors_;
  if (phase_ == Phase::kPrefill) {
    if (prefill_errors_++ == 0) {
      prefill_error_ = absl::StrCat(CodeName(s.error_code()), ": ", s.error_message());
    }
  } else if (in_window) {
    ++result_.errors[CodeName(s.error_code())];
    if (result_.error_example.empty()) {
      result_.error_example =
          absl::StrCat(CodeName(s.error_code()), " from ", config_.endpoints[call->endpoint], ": ",
                       s.error_message());
    }
  }
  // A "not leader" answer naming one of our endpoints: go there at once.
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    const std::string hint = Api::LeaderHint(*call->ctx);
    for (size_t e = 0; e < config_.endpoints.size() && !hint.empty(); ++e) {
      if (config_.endpoints[e] == hint && static_cast<int>(e) != leader_) {
        leader_ = static_cast<int>(e);
        result_.leader = hint;
        Issue(call, now);
        return;
      }
    }
  }
  if (phase_ == Phase::kDrain || phase_ == Phase::kPrefill) return;
  call->wait = Wait::kBackoff;
  call->alarm.Set(&cq_, DeadlineAt(now + kErrorBackoffNs), call);
  ++outstanding_;
}

template <typename Api>
void Runner<Api>::SampleCpu(std::vector<double>* out) const {
  out->assign(pids_.size(), -1);
  for (size_t i = 0; i < pids_.size(); ++i) {
    absl::StatusOr<double> cpu = ProcessCpuSeconds(pids_[i]);
    if (cpu.ok()) (*out)[i] = *cpu;
  }
}

template <typename Api>
void Runner<Api>::StartMeasuring(int64_t now) {
  phase_ = Phase::kMeasure;
  measure_start_ns_ = now;
  measure_end_ns_ = now + static_cast<int64_t>(config_.duration_s * 1e9);
  SampleCpu(&cpu_start_);
}

template <typename Api>
void Runner<Api>::StopMeasuring(int64_t now) {
  SampleCpu(&cpu_end_);
  phase_ = Phase::kDrain;
  result_.measured_s = static_cast<double>(now - measure_start_ns_) / 1e9;
  phase_start_ns_ = now;
  // Back-off alarms would only delay the drain.
  for (auto& call : calls_) {
    if (call->wait == Wait::kBackoff) call->alarm.Cancel();
  }
}

template <typename Api>
void Runner<Api>::AdvancePhase(int64_t now) {
  switch (phase_) {
    case Phase::kPrefill:
      break;  // Loop ends it when every call is idle
    case Phase::kWarmup:
      if (now >= warmup_end_ns_) StartMeasuring(now);
      break;
    case Phase::kMeasure:
      if (config_.total > 0 ? result_.ops >= config_.total : now >= measure_end_ns_) {
        StopMeasuring(now);
      }
      break;
    case Phase::kDrain:
      if (!cancelled_stragglers_ && now >= phase_start_ns_ + kDrainGraceNs) {
        cancelled_stragglers_ = true;
        for (auto& call : calls_) {
          if (call->wait == Wait::kRpc) call->ctx->TryCancel();
        }
      }
      break;
  }
}

template <typename Api>
void Runner<Api>::Tick(int64_t now) {
  const double secs = static_cast<double>(now - tick_start_ns_) / 1e9;
  if (!config_.quiet && secs > 0) {
    const char* what = "";
    switch (phase_) {
      case Phase::kPrefill:
        what = "prefill";
        break;
      case Phase::kWarmup:
        what = "warm-up";
        break;
      case Phase::kMeasure:
        what = "measure";
        break;
      case Phase::kDrain:
        what = "drain";
        break;
    }
    std::fprintf(stderr, "kvbench: %5.1fs %-8s %9.0f ops/s  p50 %s  p99 %s  errors %llu\n",
                 static_cast<double>(now - run_start_ns_) / 1e9, what,
                 static_cast<double>(tick_latency_ns_.count()) / secs,
                 Millis(static_cast<int64_t>(tick_latency_ns_.Percentile(50))).c_str(),
                 Millis(static_cast<int64_t>(tick_latency_ns_.Percentile(99))).c_str(),
                 static_cast<unsigned long long>(tick_errors_));
  }
  tick_latency_ns_.Reset();
  tick_errors_ = 0;
  tick_start_ns_ = now;
  next_tick_ns_ = now + kNsPerSec;
}

template <typename Api>
void Runner<Api>::Loop() {
  for (;;) {
    if (outstanding_ == 0 && (phase_ == Phase::kDrain || phase_ == Phase::kPrefill)) return;
    void* tag = nullptr;
    bool ok = false;
    const grpc::CompletionQueue::NextStatus st =
        cq_.AsyncNext(&tag, &ok, DeadlineAt(next_tick_ns_));
    const int64_t now = NowNs();
    if (st == grpc::CompletionQueue::GOT_EVENT) {
      Handle(static_cast<Call*>(tag), ok, now);
    } else if (st == grpc::CompletionQueue::SHUTDOWN) {
      return;
    }
    if (now >= next_tick_ns_) Tick(now);
    AdvancePhase(now);
  }
}

template <typename Api>
absl::Status Runner<Api>::Prefill() {
  value_.assign(static_cast<size_t>(config_.value_size), 'v');
  for (size_t i = 0; i < value_.size(); ++i) {
    value_[i] = static_cast<char>('a' + rng_.Uniform(26));
  }
  calls_.clear();
  for (int i = 0; i < config_.clients; ++i) {
    auto call = std::make_unique<Call>();
    call->index = i;
    call->put_req.set_value(value_);
    calls_.push_back(std::move(call));
  }
  run_start_ns_ = NowNs();
  tick_start_ns_ = run_start_ns_;
  next_tick_ns_ = run_start_ns_ + kNsPerSec;
  if (!config_.prefill) return absl::OkStatus();
  phase_ = Phase::kPrefill;
  for (auto& call : calls_) Issue(call.get(), NowNs());
  Loop();
  if (prefill_errors_ > 0) {
    return absl::UnavailableError(absl::StrFormat("prefill: %d of %d writes failed (first: %s)",
                                                  prefill_errors_, config_.key_space,
                                                  prefill_error_));
  }
  return absl::OkStatus();
}

template <typename Api>
absl::StatusOr<RunResult> Runner<Api>::Measure() {
  pids_ = config_.pids;
  if (pids_.empty()) {
    pids_ =
        FindServerPids(config_.target == Target::kRaftkv ? "raftkv" : "etcd", config_.endpoints);
  }
  const int64_t now = NowNs();
  phase_ = Phase::kWarmup;
  warmup_end_ns_ = now + static_cast<int64_t>(config_.warmup_s * 1e9);
  AdvancePhase(now);  // a zero warm-up starts measuring at once
  for (auto& call : calls_) Issue(call.get(), NowNs());
  Loop();
  for (size_t i = 0; i < pids_.size(); ++i) {
    ServerSample s;
    s.pid = pids_[i];
    absl::StatusOr<uint64_t> rss = ProcessPeakRssBytes(pids_[i]);
    s.gone = cpu_start_[i] < 0 || cpu_end_[i] < 0 || !rss.ok();
    if (!s.gone) {
      s.cpu_s = cpu_end_[i] - cpu_start_[i];
      s.peak_rss_bytes = *rss;
    }
    result_.servers.push_back(s);
  }
  return std::move(result_);
}

template <typename Api>
absl::StatusOr<RunResult> Run(const Config& config) {
  Runner<Api> runner(config);
  if (absl::Status s = runner.Connect(); !s.ok()) return s;
  if (absl::Status s = runner.Prefill(); !s.ok()) return s;
  return runner.Measure();
}

}  // namespace

absl::StatusOr<RunResult> RunLoad(const Config& config) {
  if (config.target == Target::kEtcd) return Run<EtcdApi>(config);
  return Run<RaftkvApi>(config);
}

}  // namespace raftkv::kvbench
