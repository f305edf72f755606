// Runs the kvctl binary (path from the build: KVCTL_BIN) against in-process
// fake nodes (tests/client/fake_node.h) and checks its output and exit codes:
// 0 success, 1 request error, 2 usage error, one "kvctl: " line per error.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/client/fake_node.h"

namespace raftkv::kvctl {
namespace {

namespace v1 = raftkv::v1;
using raftkv::client::testing::DeadAddress;
using raftkv::client::testing::FakeNode;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `kvctl ARGS` (a shell-quoted string) with `input` on stdin.
Result RunKvctl(const std::string& args, const std::string& input = "") {
  const std::string dir = ::testing::TempDir();
  const std::string in_path = dir + "/kvctl_in";
  const std::string out_path = dir + "/kvctl_out";
  const std::string err_path = dir + "/kvctl_err";
  {
    std::ofstream in(in_path, std::ios::binary);
    in << input;
  }
  const std::string command =
      absl::StrCat(KVCTL_BIN, " ", args, " <", in_path, " >", out_path, " 2>", err_path);
  const int status = std::system(command.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

TEST(KvctlCliTest, PutGetDelAgainstAFollowerAndItsLeader) {
  FakeNode leader(1, v1::ROLE_LEADER);
  FakeNode follower(2);
  follower.SetBehavior(raftkv::client::testing::NotLeader(leader.address(), 1));
  const std::string ep = "--endpoints " + follower.address();

  Result put = RunKvctl(ep + " put hello world");
  EXPECT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(put.out, "OK\n");
  EXPECT_EQ(put.err, "");

  Result from_stdin = RunKvctl(ep + " put piped", "line one\nline two\n");
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.err;

  Result get = RunKvctl(ep + " get hello");
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "hello\nworld\n");

  Result piped = RunKvctl(ep + " get piped");
  EXPECT_EQ(piped.out, "piped\nline one\nline two\n\n");  // the value verbatim

  Result json = RunKvctl(ep + " get hello --output json");
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(absl::StrContains(json.out, "\"value\":\"d29ybGQ=\"")) << json.out;

  Result del = RunKvctl(ep + " del hello");
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out, "1\n");
}

TEST(KvctlCliTest, TxnFromStdin) {
  FakeNode leader(1, v1::ROLE_LEADER);
  Result txn =
      RunKvctl("--endpoints " + leader.address() + " txn", "value(\"k\") = \"v\"\n\nput k v2\n");
  EXPECT_EQ(txn.exit_code, 0) << txn.err;
  EXPECT_EQ(txn.out, "SUCCESS\n");  // the fake runs no ops
  EXPECT_EQ(leader.Calls("Txn"), 1);

  Result bad = RunKvctl("--endpoints " + leader.address() + " txn", "\nput k\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StartsWith(bad.err, "kvctl: txn: line 2 (success ops): put takes")) << bad.err;
  EXPECT_EQ(leader.Calls("Txn"), 1);  // nothing sent
}

TEST(KvctlCliTest, StatusShowsUnreachableEndpoints) {
  FakeNode leader(1, v1::ROLE_LEADER);
  const std::string dead = DeadAddress();
  Result status = RunKvctl("--endpoints " + leader.address() + "," + dead + " status");
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "leader")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "unreachable")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "connection refused")) << status.out;

  Result none = RunKvctl("--endpoints " + dead + " status");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err, "kvctl: no endpoint answered\n");
}

TEST(KvctlCliTest, RequestErrorsExitOne) {
  const std::string dead = DeadAddress();
  Result r = RunKvctl("--endpoints " + dead + " --timeout 300ms get k");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "kvctl: Range: no endpoint answered within 300ms: " + dead + " (connection refused)\n");
  EXPECT_EQ(r.out, "");
}

TEST(KvctlCliTest, UsageErrorsExitTwo) {
  for (const char* args : {"", "get", "frob", "get k --frob", "--timeout 5 get k",
                           "--output yaml get k", "get k --prefix --from-key", "get b a",
                           "--endpoints nohost get k", "member", "put k v extra"}) {
    Result r = RunKvctl(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_TRUE(absl::StartsWith(r.err, "kvctl: ")) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
  Result help = RunKvctl("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(help.out, "Subcommands:")) << help.out;
}

}  // namespace
}  // namespace raftkv::kvctl
