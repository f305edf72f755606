#include "bench/kvbench/flags.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace raftkv::kvbench {
namespace {

constexpr char kHelp[] = R"(kvbench: a closed-loop load generator for raftkv and etcd.

Usage: kvbench [flags]

  --target raftkv|etcd          which API to speak (default raftkv)
  --endpoints a,b,c             client addresses host:port (default: the local
                                cluster: raftkv 127.0.0.1:7001-7003, etcd
                                127.0.0.1:2379)
  --clients N                   outstanding requests (default 16)
  --connections C               gRPC connections per endpoint (default 1)
  --duration S                  measured seconds (default 10; 500ms, 2m also)
  --total N                     measure N operations instead of a duration
  --warmup S                    seconds of unmeasured load first (default 1)
  --key-space N                 distinct keys (default 10000)
  --key-size B                  key bytes (default 16)
  --value-size B                value bytes of a Put (default 256)
  --read-ratio R                fraction of reads, 0..1 (default 0: only Puts)
  --consistency linearizable|serializable
                                reads (default linearizable)
  --prefill                     write every key once before the warm-up
  --timeout S                   deadline of one request (default 10)
  --connect-timeout S           wait for endpoints and a leader (default 10)
  --pids p1,p2,...              server processes to measure (CPU per 1,000 ops,
                                peak RSS); default: the target's processes on
                                this machine that serve the endpoints
  --seed N                      seed of the key and op choice (default 1)
  --json                        print the result as one JSON object
  --quiet                       no progress line on stderr
  --help                        this text

Writes and linearizable reads go to the leader; serializable reads are spread
over every endpoint. Exit codes: 0 done, 1 runtime failure (unreachable
endpoint, no leader, no operation succeeded), 2 usage error.
)";

ParseResult UsageError(const std::string& message) {
  ParseResult r;
  r.message = absl::StrCat("kvbench: ", message, " (see --help)");
  r.exit_code = 2;
  return r;
}

bool ValidHostPort(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = 0;
  return absl::SimpleAtoi(s.substr(colon + 1), &port) && port >= 1 && port <= 65535;
}

int Digits(uint64_t n) {
  int d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

}  // namespace

std::optional<double> ParseSeconds(const std::string& text) {
  std::string number = text;
  double scale = 1;
  if (absl::EndsWith(text, "ms")) {
    number = text.substr(0, text.size() - 2);
    scale = 0.001;
  } else if (absl::EndsWith(text, "s")) {
    number = text.substr(0, text.size() - 1);
  } else if (absl::EndsWith(text, "m")) {
    number = text.substr(0, text.size() - 1);
    scale = 60;
  }
  double v = 0;
  if (number.empty() || !absl::SimpleAtod(number, &v) || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  return v * scale;
}

std::string KeyOf(uint64_t i, int key_size) {
  std::string digits = absl::StrCat(i);
  if (static_cast<int>(digits.size()) >= key_size) return digits;
  return std::string(key_size - digits.size(), '0') + digits;
}

const char* TargetName(Target t) { return t == Target::kRaftkv ? "raftkv" : "etcd"; }

const char* ConsistencyName(Consistency c) {
  return c == Consistency::kLinearizable ? "linearizable" : "serializable";
}

ParseResult ParseFlags(const std::vector<std::string>& args) {
  Config c;
  bool duration_set = false;
  bool endpoints_set = false;
  // Each flag's parser returns an error message, empty if the value is good.
  using Setter = std::function<std::string(const std::string&)>;
  auto int_flag = [](int* out, int lo, int hi) -> Setter {
    return [=](const std::string& v) -> std::string {
      if (!absl::SimpleAtoi(v, out) || *out < lo || *out > hi) {
        return absl::StrCat("must be a whole number in [", lo, ", ", hi, "]");
      }
      return "";
    };
  };
  auto u64_flag = [](uint64_t* out, uint64_t lo) -> Setter {
    return [=](const std::string& v) -> std::string {
      if (!absl::SimpleAtoi(v, out) || *out < lo) {
        return absl::StrCat("must be a whole number >= ", lo);
      }
      return "";
    };
  };
  auto seconds_flag = [](double* out, bool* seen) -> Setter {
    return [=](const std::string& v) -> std::string {
      std::optional<double> s = ParseSeconds(v);
      if (!s) return "must be a duration such as 10, 10s, 500ms or 2m";
      *out = *s;
      if (seen != nullptr) *seen = true;
      return "";
    };
  };
  const std::map<std::string, Setter> valued = {
      {"target",
       [&](const std::string& v) -> std::string {
         if (v == "raftkv") {
           c.target = Target::kRaftkv;
         } else if (v == "etcd") {
           c.target = Target::kEtcd;
         } else {
           return "must be raftkv or etcd";
         }
         return "";
       }},
      {"endpoints",
       [&](const std::string& v) -> std::string {
         c.endpoints.clear();
         for (absl::string_view e : absl::StrSplit(v, ',')) {
           if (!ValidHostPort(std::string(e))) {
             return absl::StrCat("'", e, "' is not host:port");
           }
           c.endpoints.emplace_back(e);
         }
         endpoints_set = true;
         return "";
       }},
      {"clients", int_flag(&c.clients, 1, 100000)},
      {"connections", int_flag(&c.connections, 1, 1000)},
      {"duration", seconds_flag(&c.duration_s, &duration_set)},
      {"total", u64_flag(&c.total, 1)},
      {"warmup", seconds_flag(&c.warmup_s, nullptr)},
      {"key-space", u64_flag(&c.key_space, 1)},
      {"key-size", int_flag(&c.key_size, 1, 4096)},
      {"value-size", int_flag(&c.value_size, 0, 1 << 20)},
      {"read-ratio",
       [&](const std::string& v) -> std::string {
         if (!absl::SimpleAtod(v, &c.read_ratio) || !(c.read_ratio >= 0 && c.read_ratio <= 1)) {
           return "must be a number in [0, 1]";
         }
         return "";
       }},
      {"consistency",
       [&](const std::string& v) -> std::string {
         if (v == "linearizable") {
           c.consistency = Consistency::kLinearizable;
         } else if (v == "serializable") {
           c.consistency = Consistency::kSerializable;
         } else {
           return "must be linearizable or serializable";
         }
         return "";
       }},
      {"timeout", seconds_flag(&c.timeout_s, nullptr)},
      {"connect-timeout", seconds_flag(&c.connect_timeout_s, nullptr)},
      {"pids",
       [&](const std::string& v) -> std::string {
         c.pids.clear();
         for (absl::string_view p : absl::StrSplit(v, ',')) {
           int pid = 0;
           if (!absl::SimpleAtoi(p, &pid) || pid <= 0) {
             return absl::StrCat("'", p, "' is not a process id");
           }
           c.pids.push_back(pid);
         }
         return "";
       }},
      {"seed", u64_flag(&c.seed, 0)},
  };
  const std::map<std::string, bool*> switches = {
      {"prefill", &c.prefill}, {"json", &c.json}, {"quiet", &c.quiet}};

  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      ParseResult r;
      r.message = kHelp;
      return r;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return UsageError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (!seen.insert(name).second) return UsageError(absl::StrCat("--", name, " given twice"));
    if (auto s = switches.find(name); s != switches.end()) {
      if (value) return UsageError(absl::StrCat("--", name, " takes no value"));
      *s->second = true;
      continue;
    }
    auto f = valued.find(name);
    if (f == valued.end()) return UsageError(absl::StrCat("unknown flag --", name));
    if (!value) {
      if (i + 1 >= args.size()) return UsageError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    if (std::string err = f->second(*value); !err.empty()) {
      return UsageError(absl::StrCat("--", name, " ", err, ", not '", *value, "'"));
    }
  }

  if (duration_set && c.total > 0) return UsageError("give --duration or --total, not both");
  if (c.total == 0 && c.duration_s <= 0) return UsageError("--duration must be more than 0");
  if (c.timeout_s <= 0) return UsageError("--timeout must be more than 0");
  if (c.connections > c.clients) {
    return UsageError(absl::StrCat("--connections (", c.connections, ") exceeds --clients (",
                                   c.clients, "): a connection would carry no request"));
  }
  if (Digits(c.key_space - 1) > c.key_size) {
    return UsageError(absl::StrCat("--key-size ", c.key_size, " cannot hold ", c.key_space,
                                   " distinct keys (needs ", Digits(c.key_space - 1), ")"));
  }
  if (!endpoints_set) {
    if (c.target == Target::kRaftkv) {
      c.endpoints = {"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"};
    } else {
      c.endpoints = {"127.0.0.1:2379"};
    }
  }
  ParseResult r;
  r.config = c;
  return r;
}

}  // namespace raftkv::kvbench
