// The report of one kvbench run, for people (FormatText) and for scripts
// (FormatJson: one JSON object on one line; times in microseconds, CPU in
// seconds, memory in bytes). Both state what was measured: target, workload,
// window, and the servers' CPU per 1,000 operations.
// Threads: pure functions.
#pragma once

#include <string>

#include "bench/kvbench/flags.h"
#include "bench/kvbench/load.h"

namespace raftkv::kvbench {

std::string FormatText(const Config& config, const RunResult& result);
std::string FormatJson(const Config& config, const RunResult& result);

// Server CPU seconds per 1,000 successful operations; negative when unknown
// (no server processes found, or no operation).
double CpuPerKiloOps(const RunResult& result);

}  // namespace raftkv::kvbench
