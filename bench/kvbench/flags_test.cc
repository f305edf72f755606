// kvbench's flag parsing and the helpers of proc_stats that need no process.
#include "bench/kvbench/flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "bench/kvbench/proc_stats.h"

namespace raftkv::kvbench {
namespace {

ParseResult Parse(std::vector<std::string> args) { return ParseFlags(args); }

// A usage error: exit code 2 and a one-line message containing `what`.
void ExpectUsageError(std::vector<std::string> args, const std::string& what) {
  ParseResult r = ParseFlags(args);
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find(what), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
}

TEST(FlagsTest, Defaults) {
  ParseResult r = Parse({});
  ASSERT_TRUE(r.config.has_value()) << r.message;
  const Config& c = *r.config;
  EXPECT_EQ(c.target, Target::kRaftkv);
  EXPECT_EQ(c.endpoints,
            (std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}));
  EXPECT_EQ(c.clients, 16);
  EXPECT_EQ(c.duration_s, 10);
  EXPECT_EQ(c.total, 0u);
  EXPECT_EQ(c.read_ratio, 0);
  EXPECT_EQ(Parse({"--target", "etcd"}).config->endpoints,
            std::vector<std::string>{"127.0.0.1:2379"});
}

TEST(FlagsTest, EveryFlagBothSpellings) {
  ParseResult r = Parse({"--target=etcd",
                         "--endpoints",
                         "a:1,b:2",
                         "--clients",
                         "64",
                         "--connections=4",
                         "--duration",
                         "1.5s",
                         "--warmup",
                         "250ms",
                         "--key-space",
                         "1000",
                         "--key-size=8",
                         "--value-size",
                         "100",
                         "--read-ratio",
                         "0.9",
                         "--consistency",
                         "serializable",
                         "--prefill",
                         "--timeout",
                         "2",
                         "--connect-timeout",
                         "1m",
                         "--json",
                         "--quiet",
                         "--pids",
                         "10,20",
                         "--seed",
                         "5"});
  ASSERT_TRUE(r.config.has_value()) << r.message;
  const Config& c = *r.config;
  EXPECT_EQ(c.target, Target::kEtcd);
  EXPECT_EQ(c.endpoints, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(c.clients, 64);
  EXPECT_EQ(c.connections, 4);
  EXPECT_DOUBLE_EQ(c.duration_s, 1.5);
  EXPECT_DOUBLE_EQ(c.warmup_s, 0.25);
  EXPECT_EQ(c.key_space, 1000u);
  EXPECT_EQ(c.key_size, 8);
  EXPECT_EQ(c.value_size, 100);
  EXPECT_DOUBLE_EQ(c.read_ratio, 0.9);
  EXPECT_EQ(c.consistency, Consistency::kSerializable);
  EXPECT_TRUE(c.prefill);
  EXPECT_DOUBLE_EQ(c.timeout_s, 2);
  EXPECT_DOUBLE_EQ(c.connect_timeout_s, 60);
  EXPECT_TRUE(c.json);
  EXPECT_TRUE(c.quiet);
  EXPECT_EQ(c.pids, (std::vector<int>{10, 20}));
  EXPECT_EQ(c.seed, 5u);
}

TEST(FlagsTest, TotalInsteadOfDuration) {
  ParseResult r = Parse({"--total", "500"});
  ASSERT_TRUE(r.config.has_value()) << r.message;
  EXPECT_EQ(r.config->total, 500u);
}

TEST(FlagsTest, HelpExitsZero) {
  ParseResult r = Parse({"--help"});
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.message.find("--clients"), std::string::npos);
}

TEST(FlagsTest, BadInputIsOneLineUsageError) {
  ExpectUsageError({"--duration", "0"}, "--duration must be more than 0");
  ExpectUsageError({"--duration", "-1"}, "--duration must be a duration");
  ExpectUsageError({"--duration", "ten"}, "--duration must be a duration");
  ExpectUsageError({"--total", "0"}, "--total must be a whole number >= 1");
  ExpectUsageError({"--duration", "5", "--total", "5"}, "not both");
  ExpectUsageError({"--bogus"}, "unknown flag --bogus");
  ExpectUsageError({"stray"}, "unexpected argument 'stray'");
  ExpectUsageError({"--clients"}, "--clients needs a value");
  ExpectUsageError({"--clients", "0"}, "--clients must be a whole number in [1, 100000]");
  ExpectUsageError({"--clients", "2", "--connections", "3"}, "exceeds --clients");
  ExpectUsageError({"--target", "zookeeper"}, "must be raftkv or etcd");
  ExpectUsageError({"--consistency", "strong"}, "linearizable or serializable");
  ExpectUsageError({"--read-ratio", "1.5"}, "--read-ratio must be a number in [0, 1]");
  ExpectUsageError({"--endpoints", "localhost"}, "'localhost' is not host:port");
  ExpectUsageError({"--endpoints", "a:1,b:99999"}, "'b:99999' is not host:port");
  ExpectUsageError({"--pids", "1,x"}, "'x' is not a process id");
  ExpectUsageError({"--key-space", "1000", "--key-size", "2"}, "cannot hold 1000 distinct keys");
  ExpectUsageError({"--json=yes"}, "--json takes no value");
  ExpectUsageError({"--clients", "1", "--clients", "2"}, "--clients given twice");
}

TEST(FlagsTest, ParseSeconds) {
  EXPECT_EQ(ParseSeconds("10"), 10);
  EXPECT_EQ(ParseSeconds("10s"), 10);
  EXPECT_EQ(ParseSeconds("500ms"), 0.5);
  EXPECT_EQ(ParseSeconds("2m"), 120);
  EXPECT_EQ(ParseSeconds(""), std::nullopt);
  EXPECT_EQ(ParseSeconds("s"), std::nullopt);
  EXPECT_EQ(ParseSeconds("-3"), std::nullopt);
  EXPECT_EQ(ParseSeconds("inf"), std::nullopt);
}

TEST(FlagsTest, KeysArePaddedToKeySize) {
  EXPECT_EQ(KeyOf(0, 4), "0000");
  EXPECT_EQ(KeyOf(42, 4), "0042");
  EXPECT_EQ(KeyOf(9999, 4), "9999");
}

TEST(ProcStatsTest, CommandLineNamesWholeEndpoints) {
  const std::string cmd = "raftkv --id 1 --listen-client 127.0.0.1:7001 --data-dir /d";
  EXPECT_TRUE(CommandLineNames(cmd, "127.0.0.1:7001"));
  EXPECT_FALSE(CommandLineNames(cmd, "127.0.0.1:700"));
  EXPECT_FALSE(CommandLineNames(cmd, "127.0.0.1:7002"));
  EXPECT_TRUE(
      CommandLineNames("etcd --listen-client-urls http://127.0.0.1:2379", "127.0.0.1:2379"));
}

TEST(ProcStatsTest, ReadsThisProcess) {
  absl::StatusOr<double> cpu = ProcessCpuSeconds(getpid());
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_GE(*cpu, 0);
  absl::StatusOr<uint64_t> rss = ProcessPeakRssBytes(getpid());
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_GT(*rss, 0u);
  EXPECT_FALSE(ProcessCpuSeconds(0x7ffffff0).ok());
}

}  // namespace
}  // namespace raftkv::kvbench
