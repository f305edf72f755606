// RunLoad: one kvbench run: connect, find the leader, optionally prefill,
// warm up, measure, drain.
//
// The load loop is closed: `clients` calls are outstanding at all times; each
// one, when it completes, records its latency and sends the next request.
// Requests are gRPC async unary calls on ONE CompletionQueue polled by the
// calling thread, so kvbench adds one busy thread to the machine (plus gRPC's
// own small background threads), not one per client. Channels: `connections`
// per endpoint, each its own TCP connection (a local subchannel pool and a
// distinct channel argument), with gRPC's own retries off (kvbench retries
// failed calls itself, below); call i uses connection i % connections.
//
// Routing: Puts and linearizable reads go to the leader (found at start from
// every endpoint's status; for raftkv a "not leader" answer naming another
// endpoint moves them there); serializable reads go to endpoint i % n.
//
// Counting: an operation counts when it completes OK inside the measured
// window (latency = send to completion, steady clock, ns). Failed calls are
// counted by gRPC code and retried after a 10 ms pause (no busy spinning
// against a down server). CPU of the server processes is sampled at the
// window's start and end.
//
// Threads: RunLoad blocks the calling thread for the whole run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/kvbench/flags.h"
#include "bench/kvbench/histogram.h"

namespace raftkv::kvbench {

struct ServerSample {
  int pid = 0;
  // CPU seconds (user + system) used inside the measured window.
  double cpu_s = 0;
  // VmHWM at the end of the run.
  uint64_t peak_rss_bytes = 0;
  // The process was gone before the end (its figures are partial).
  bool gone = false;
};

struct RunResult {
  std::string leader;  // endpoint the leader-bound requests went to at the end
  double measured_s = 0;
  uint64_t ops = 0;  // successful operations in the window
  uint64_t reads = 0;
  uint64_t writes = 0;
  // Reads that found no key (expected without --prefill).
  uint64_t missing_reads = 0;
  Histogram latency_ns;
  // Failed calls in the window, by gRPC code name (e.g. "UNAVAILABLE").
  std::map<std::string, uint64_t> errors;
  // One failed call's message, for the report.
  std::string error_example;
  std::vector<ServerSample> servers;
};

// Runs the load described by config. Errors (exit code 1): an endpoint that
// does not answer, no leader within connect_timeout_s, a failed prefill.
absl::StatusOr<RunResult> RunLoad(const Config& config);

}  // namespace raftkv::kvbench
