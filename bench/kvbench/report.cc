#include "bench/kvbench/report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace raftkv::kvbench {
namespace {

double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }
std::string Ms(uint64_t ns) { return absl::StrFormat("%.3f ms", static_cast<double>(ns) / 1e6); }

double OpsPerSec(const RunResult& r) {
  return r.measured_s > 0 ? static_cast<double>(r.ops) / r.measured_s : 0;
}

std::string Workload(const Config& c) {
  std::string mix = c.read_ratio == 0 ? "puts"
                    : c.read_ratio == 1
                        ? absl::StrCat(ConsistencyName(c.consistency), " reads")
                        : absl::StrFormat("%g%% %s reads, %g%% puts", c.read_ratio * 100,
                                          ConsistencyName(c.consistency), (1 - c.read_ratio) * 100);
  return absl::StrFormat(
      "%s, %d clients over %d connection(s)/endpoint, key %d B of %d keys, "
      "value %d B",
      mix, c.clients, c.connections, c.key_size, c.key_space, c.value_size);
}

// JSON string literal (endpoints and gRPC messages: escape quotes, backslashes
// and control characters).
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += absl::StrFormat("\\u%04x", ch);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

double CpuPerKiloOps(const RunResult& r) {
  if (r.servers.empty() || r.ops == 0) return -1;
  double cpu = 0;
  for (const ServerSample& s : r.servers) {
    if (s.gone) return -1;
    cpu += s.cpu_s;
  }
  return cpu / static_cast<double>(r.ops) * 1000;
}

std::string FormatText(const Config& c, const RunResult& r) {
  const Histogram& h = r.latency_ns;
  std::string out;
  absl::StrAppendFormat(&out, "target      %s at %s (leader %s)\n", TargetName(c.target),
                        absl::StrJoin(c.endpoints, ","), r.leader);
  absl::StrAppendFormat(&out, "workload    %s\n", Workload(c));
  absl::StrAppendFormat(&out, "throughput  %.1f ops/s (%d ops: %d reads, %d puts, in %.2f s)\n",
                        OpsPerSec(r), r.ops, r.reads, r.writes, r.measured_s);
  absl::StrAppendFormat(&out, "latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
                        Ms(h.Percentile(50)), Ms(h.Percentile(90)), Ms(h.Percentile(99)),
                        Ms(h.Percentile(99.9)), Ms(h.max()), Ms(static_cast<uint64_t>(h.Mean())));
  if (r.missing_reads > 0) {
    absl::StrAppendFormat(&out, "reads       %d found no key (run with --prefill to fill them)\n",
                          r.missing_reads);
  }
  if (r.errors.empty()) {
    out += "errors      none\n";
  } else {
    std::vector<std::string> parts;
    for (const auto& [code, n] : r.errors) parts.push_back(absl::StrCat(code, " ", n));
    absl::StrAppendFormat(&out, "errors      %s (e.g. %s)\n", absl::StrJoin(parts, ", "),
                          r.error_example);
  }
  if (r.servers.empty()) {
    out += "servers     no local server process found (give --pids)\n";
  } else {
    const double per_k = CpuPerKiloOps(r);
    std::vector<std::string> parts;
    uint64_t peak = 0;
    for (const ServerSample& s : r.servers) {
      if (s.gone) {
        parts.push_back(absl::StrFormat("pid %d gone", s.pid));
        continue;
      }
      peak = std::max(peak, s.peak_rss_bytes);
      parts.push_back(absl::StrFormat("pid %d %.2f s cpu, peak rss %.1f MiB", s.pid, s.cpu_s,
                                      static_cast<double>(s.peak_rss_bytes) / (1 << 20)));
    }
    absl::StrAppendFormat(&out, "servers     cpu %s per 1000 ops; peak rss %.1f MiB (max)\n",
                          per_k < 0 ? "unknown" : absl::StrFormat("%.4f s", per_k),
                          static_cast<double>(peak) / (1 << 20));
    absl::StrAppendFormat(&out, "            %s\n", absl::StrJoin(parts, "; "));
  }
  return out;
}

std::string FormatJson(const Config& c, const RunResult& r) {
  const Histogram& h = r.latency_ns;
  std::vector<std::string> endpoints;
  for (const std::string& e : c.endpoints) endpoints.push_back(Quote(e));
  std::vector<std::string> errors;
  for (const auto& [code, n] : r.errors) errors.push_back(absl::StrCat(Quote(code), ":", n));
  std::vector<std::string> servers;
  uint64_t peak = 0;
  for (const ServerSample& s : r.servers) {
    peak = std::max(peak, s.peak_rss_bytes);
    servers.push_back(absl::StrFormat(R"({"pid":%d,"cpu_s":%.4f,"peak_rss_bytes":%d,"gone":%s})",
                                      s.pid, s.cpu_s, s.peak_rss_bytes, s.gone ? "true" : "false"));
  }
  const double per_k = CpuPerKiloOps(r);
  std::string out = "{";
  absl::StrAppendFormat(&out, R"("target":%s,"endpoints":[%s],"leader":%s,)",
                        Quote(TargetName(c.target)), absl::StrJoin(endpoints, ","),
                        Quote(r.leader));
  absl::StrAppendFormat(&out,
                        R"("clients":%d,"connections":%d,"read_ratio":%g,"consistency":%s,)"
                        R"("key_size":%d,"key_space":%d,"value_size":%d,)",
                        c.clients, c.connections, c.read_ratio,
                        Quote(ConsistencyName(c.consistency)), c.key_size, c.key_space,
                        c.value_size);
  absl::StrAppendFormat(&out,
                        R"("measured_s":%.3f,"ops":%d,"reads":%d,"writes":%d,)"
                        R"("missing_reads":%d,"ops_per_s":%.1f,)",
                        r.measured_s, r.ops, r.reads, r.writes, r.missing_reads, OpsPerSec(r));
  absl::StrAppendFormat(&out,
                        R"("latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,)"
                        R"("max":%.1f,"mean":%.1f},)",
                        Us(h.Percentile(50)), Us(h.Percentile(90)), Us(h.Percentile(99)),
                        Us(h.Percentile(99.9)), Us(h.max()), h.Mean() / 1e3);
  absl::StrAppendFormat(&out, R"("errors":{%s},"servers":[%s],)", absl::StrJoin(errors, ","),
                        absl::StrJoin(servers, ","));
  if (per_k < 0) {
    out += R"("cpu_s_per_1k_ops":null,)";
  } else {
    absl::StrAppendFormat(&out, R"("cpu_s_per_1k_ops":%.5f,)", per_k);
  }
  absl::StrAppendFormat(&out, R"("peak_rss_bytes_max":%d})", peak);
  return out;
}

}  // namespace raftkv::kvbench
