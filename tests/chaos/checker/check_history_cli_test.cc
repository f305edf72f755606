// Runs raftkv_check_history (path from the build: CHECK_HISTORY_BIN) on
// files written here and checks its output and exit codes: 0 no violation,
// 1 a violation or lost write, 2 bad usage or input (one line on stderr).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/chaos/checker/history_io.h"

namespace raftkv::chaos {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Per process, so concurrent runs (e.g. of two builds) do not collide.
std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/checker_" + std::to_string(getpid()) + "_" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

Result RunCli(const std::string& args) {
  const std::string out_path = TempPath("cli_out");
  const std::string err_path = TempPath("cli_err");
  const std::string command =
      absl::StrCat(CHECK_HISTORY_BIN, " ", args, " >", out_path, " 2>", err_path);
  const int status = std::system(command.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

Operation Op(int64_t id, OpType type, const std::string& key, int64_t t0, int64_t t1) {
  Operation op;
  op.id = id;
  op.process = static_cast<int>(id);
  op.type = type;
  op.key = key;
  op.invoke_ns = t0;
  op.complete_ns = t1;
  return op;
}

// k1: write a, read a. k2: write b, write c, then a stale read of b.
History Sample(bool stale) {
  History h;
  Operation w = Op(1, OpType::kWrite, "k1", 0, 10);
  w.value = "a";
  h.push_back(w);
  Operation r = Op(2, OpType::kRead, "k1", 20, 30);
  r.read_value = "a";
  h.push_back(r);
  Operation wb = Op(3, OpType::kWrite, "k2", 0, 10);
  wb.value = "b";
  h.push_back(wb);
  Operation wc = Op(4, OpType::kWrite, "k2", 20, 30);
  wc.value = "c";
  h.push_back(wc);
  Operation rb = Op(5, OpType::kRead, "k2", 40, 50);
  rb.read_value = stale ? "b" : "c";
  h.push_back(rb);
  return h;
}

TEST(CheckHistoryCliTest, LinearizableHistoryExitsZero) {
  const std::string path = TempPath("ok.jsonl");
  ASSERT_TRUE(WriteHistory(Sample(false), path).ok());
  const Result r = RunCli(path);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "5 operations on 2 keys")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "key 'k1': linearizable (2 operations")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "result: ok")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "lost writes not checked")) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CheckHistoryCliTest, ViolationExitsOneAndExplains) {
  const std::string path = TempPath("stale.jsonl");
  ASSERT_TRUE(WriteHistory(Sample(true), path).ok());
  const Result r = RunCli(path);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "key 'k2': NOT LINEARIZABLE")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "#5 p5 read k2 -> ok('b')")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "result: VIOLATION")) << r.out;
}

TEST(CheckHistoryCliTest, LostWritesWithFinalState) {
  const std::string path = TempPath("ok2.jsonl");
  ASSERT_TRUE(WriteHistory(Sample(false), path).ok());
  const std::string final_path = TempPath("final.json");
  WriteFile(final_path, "{\n  \"k1\": \"a\",\n  \"k2\": null\n}\n");
  const Result r = RunCli(absl::StrCat(path, " --final ", final_path));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "lost writes: 1")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "#4 p4 write k2 'c' -> ok")) << r.out;

  WriteFile(final_path, "{\"k1\": \"a\", \"k2\": \"c\"}");
  const Result fine = RunCli(absl::StrCat(path, " --final ", final_path));
  EXPECT_EQ(fine.exit_code, 0) << fine.out << fine.err;
  EXPECT_TRUE(absl::StrContains(fine.out, "lost writes: 0")) << fine.out;
}

TEST(CheckHistoryCliTest, BudgetExhaustedIsUnknownButNotAFailure) {
  const std::string path = TempPath("ok3.jsonl");
  ASSERT_TRUE(WriteHistory(Sample(true), path).ok());
  const Result r = RunCli(absl::StrCat(path, " --max-states 1"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "UNKNOWN")) << r.out;
}

TEST(CheckHistoryCliTest, BadInputExitsTwoWithOneLine) {
  const std::string path = TempPath("bad.jsonl");
  WriteFile(path,
            "{\"id\":1,\"process\":1,\"type\":\"read\",\"key\":\"k\",\"outcome\":\"ok\","
            "\"invoke_ns\":1,\"complete_ns\":2}\n{\"id\":2,\"type\":\"frobnicate\"}\n");
  const std::string overlap = TempPath("overlap.jsonl");
  History h = Sample(false);
  h[1].process = 1;
  h[1].invoke_ns = 5;  // overlaps #1 of process 1
  ASSERT_TRUE(WriteHistory(h, overlap).ok());
  const std::string ok_path = TempPath("ok4.jsonl");
  ASSERT_TRUE(WriteHistory(Sample(false), ok_path).ok());
  const std::string bad_final = TempPath("bad_final.json");
  WriteFile(bad_final, "{\"k1\": 7}");
  const struct {
    std::string args;
    std::string error;
  } cases[] = {
      {path, "line 2: member \"type\": \"frobnicate\" is not one of"},
      {overlap, "process 1 has two operations outstanding at once"},
      {TempPath("missing.jsonl"), "cannot open"},
      {"", "usage: raftkv_check_history"},
      {ok_path + " --bogus", "unknown flag --bogus"},
      {ok_path + " --max-states zero", "--max-states: \"zero\" is not a positive integer"},
      {ok_path + " --final", "--final needs a value"},
      {ok_path + " --final " + bad_final, "key \"k1\": expected a string or null, got integer"},
  };
  for (const auto& c : cases) {
    const Result r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.out << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.error)) << c.args << "\n" << r.err;
    EXPECT_TRUE(absl::StartsWith(r.err, "raftkv_check_history: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace raftkv::chaos
