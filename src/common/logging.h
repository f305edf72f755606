// Logging set-up: one place that configures spdlog for a process.
//
// Libraries log through spdlog's default logger; binaries call InitLogging once
// at start-up. The Raft core logs nothing (it reports through Ready and Status).
// Thread-safety: InitLogging must be called before other threads start.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace raftkv {

// level: one of trace, debug, info, warn, error. Returns InvalidArgument for
// anything else. prefix is printed on every line (e.g. the node id).
absl::Status InitLogging(const std::string& level, const std::string& prefix);

}  // namespace raftkv
