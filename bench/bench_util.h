// Helpers shared by the storage micro-benchmarks: a scratch directory and a
// fatal-error exit (a benchmark that cannot set up has nothing to measure).
//
// BenchDir is a fresh directory under $RAFTKV_BENCH_DIR, else $TMPDIR, else
// /tmp: choose it on the disk whose fsync you mean to measure. It is removed
// with its contents when the BenchDir goes out of scope.
// Threads: one owner.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/status/status.h"

namespace raftkv::bench {

[[noreturn]] inline void Die(const char* what, const absl::Status& s) {
  std::fprintf(stderr, "bench: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

// The directory benchmarks put their databases in.
inline std::string BenchBaseDir() {
  for (const char* var : {"RAFTKV_BENCH_DIR", "TMPDIR"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return v;
  }
  return "/tmp";
}

class BenchDir {
 public:
  BenchDir() {
    std::string pattern = BenchBaseDir() + "/raftkv-bench-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      Die("mkdtemp", absl::InternalError(pattern));
    }
    path_ = pattern;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace raftkv::bench
