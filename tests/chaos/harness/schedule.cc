#include "tests/chaos/harness/schedule.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/common/rng.h"

namespace raftkv::chaos {

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "kill";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kIsolateLeader:
      return "isolate";
    case FaultKind::kSplit:
      return "split";
    case FaultKind::kBridge:
      return "bridge";
    case FaultKind::kOneWay:
      return "oneway";
    case FaultKind::kPowerCut:
      return "powercut";
  }
  return "?";
}

absl::StatusOr<FaultKind> ParseFaultKind(absl::string_view name) {
  for (FaultKind kind : kAllFaultKinds) {
    if (name == FaultKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown fault kind '", name,
                   "' (known: kill, pause, isolate, split, bridge, oneway, powercut, all)"));
}

absl::StatusOr<std::vector<FaultKind>> ParseFaultKinds(absl::string_view list) {
  std::vector<FaultKind> out;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    if (part == "all") {
      for (FaultKind kind : kAllFaultKinds) {
        if (std::find(out.begin(), out.end(), kind) == out.end()) out.push_back(kind);
      }
      continue;
    }
    absl::StatusOr<FaultKind> kind = ParseFaultKind(part);
    if (!kind.ok()) return kind.status();
    if (std::find(out.begin(), out.end(), *kind) == out.end()) out.push_back(*kind);
  }
  if (out.empty()) return absl::InvalidArgumentError("no fault kind given");
  return out;
}

bool IsPartition(FaultKind kind) {
  return kind == FaultKind::kIsolateLeader || kind == FaultKind::kSplit ||
         kind == FaultKind::kBridge || kind == FaultKind::kOneWay;
}

std::pair<int64_t, int64_t> FaultDurationRangeMs(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return {1'000, 5'000};
    case FaultKind::kPowerCut:
      return {500, 3'000};
    case FaultKind::kPause:
      return {1'000, 10'000};
    default:
      return {2'000, 8'000};
  }
}

namespace {

int64_t UniformMs(Rng& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(hi - lo) + 1));
}

}  // namespace

std::vector<ScheduledFault> GenerateSchedule(const ScheduleOptions& options) {
  std::vector<ScheduledFault> out;
  if (options.kinds.empty()) return out;
  // Distinct streams for distinct seeds: splitmix64 of the seed itself.
  Rng rng(options.seed ^ 0xc4a05c4ed01eULL);
  int64_t t = options.warmup_ms;
  while (true) {
    ScheduledFault f;
    f.index = static_cast<int>(out.size());
    f.kind = options.kinds[rng.Uniform(options.kinds.size())];
    f.role = rng.Uniform(2) == 0 ? Role::kLeader : Role::kFollower;
    auto [lo, hi] = FaultDurationRangeMs(f.kind);
    f.duration_ms = UniformMs(rng, lo, hi);
    f.choice = rng.Next();
    f.start_ms = t;
    if (f.start_ms + options.min_fault_ms > options.duration_ms) break;
    f.duration_ms = std::min(f.duration_ms, options.duration_ms - f.start_ms);
    out.push_back(f);
    t = f.start_ms + f.duration_ms + UniformMs(rng, options.quiet_min_ms, options.quiet_max_ms);
  }
  return out;
}

std::string FormatScheduledFault(const ScheduledFault& f) {
  std::string what = FaultKindName(f.kind);
  if (f.kind == FaultKind::kKill || f.kind == FaultKind::kPause || f.kind == FaultKind::kOneWay) {
    absl::StrAppend(&what, " ", f.role == Role::kLeader ? "leader" : "follower");
  }
  return absl::StrFormat("#%d at %.1fs for %.1fs: %s", f.index, f.start_ms / 1000.0,
                         f.duration_ms / 1000.0, what);
}

}  // namespace raftkv::chaos
