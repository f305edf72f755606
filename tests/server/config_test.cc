// ParseServerConfig: every bad flag gets a one-line reason and exit code 2;
// a good command line yields a validated config.
#include "src/server/config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace raftkv::server {
namespace {

ParseResult Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "raftkv");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseServerConfig(static_cast<int>(argv.size()), argv.data());
}

const char kCluster[] = "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103";
const char kClients[] = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003";

void ExpectRefused(const ParseResult& r, const std::string& fragment) {
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.message.rfind("raftkv: ", 0), 0u) << r.message;
  EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(fragment), std::string::npos) << r.message;
}

TEST(ServerConfigTest, GoodFlagsGiveAValidatedConfig) {
  ParseResult r = Parse({"--id", "2", "--initial-cluster", kCluster, "--initial-cluster-client",
                         kClients, "--data-dir", "/tmp/d"});
  ASSERT_TRUE(r.config.has_value()) << r.message;
  EXPECT_EQ(r.config->listen_peer, "127.0.0.1:7102");
  EXPECT_EQ(r.config->listen_client, "127.0.0.1:7002");
  EXPECT_EQ(r.config->initial_cluster.size(), 3u);
  EXPECT_NE(r.config->cluster_id, 0u);
}

TEST(ServerConfigTest, EveryMemberDerivesTheSameClusterIdAndATokenChangesIt) {
  auto id_of = [](const std::string& node, const std::string& token) {
    ParseResult r = Parse({"--id", node, "--initial-cluster", kCluster, "--initial-cluster-client",
                           kClients, "--data-dir", "/tmp/d", "--cluster-token", token});
    return r.config->cluster_id;
  };
  EXPECT_EQ(id_of("1", "a"), id_of("3", "a"));
  EXPECT_NE(id_of("1", "a"), id_of("1", "b"));
}

TEST(ServerConfigTest, UnknownFlagIsRefused) {
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", kCluster, "--initial-cluster-client",
                       kClients, "--data-dir", "/tmp/d", "--bogus"}),
                "--bogus");
}

TEST(ServerConfigTest, MalformedInitialClusterIsRefused) {
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", "1=127.0.0.1:71x01", "--listen-client",
                       "127.0.0.1:7001", "--data-dir", "/tmp/d"}),
                "127.0.0.1:71x01");
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", "one=127.0.0.1:7101", "--listen-client",
                       "127.0.0.1:7001", "--data-dir", "/tmp/d"}),
                "ID=HOST:PORT");
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", "1=127.0.0.1:7101,1=127.0.0.1:7102",
                       "--listen-client", "127.0.0.1:7001", "--data-dir", "/tmp/d"}),
                "listed twice");
}

TEST(ServerConfigTest, IdNotInTheClusterIsRefused) {
  ExpectRefused(Parse({"--id", "4", "--initial-cluster", kCluster, "--initial-cluster-client",
                       kClients, "--data-dir", "/tmp/d"}),
                "not a member");
}

TEST(ServerConfigTest, MissingDataDirAndClientAddressAreRefused) {
  ExpectRefused(
      Parse({"--id", "1", "--initial-cluster", kCluster, "--initial-cluster-client", kClients}),
      "--data-dir");
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", kCluster, "--data-dir", "/tmp/d"}),
                "client address");
}

TEST(ServerConfigTest, HeartbeatMustBeShorterThanElection) {
  ExpectRefused(
      Parse({"--id", "1", "--initial-cluster", kCluster, "--initial-cluster-client", kClients,
             "--data-dir", "/tmp/d", "--election-ticks", "3", "--heartbeat-ticks", "3"}),
      "--heartbeat-ticks");
}

TEST(ServerConfigTest, MemtableBytesIsTakenWithinItsRange) {
  ParseResult r = Parse({"--id", "1", "--initial-cluster", kCluster, "--initial-cluster-client",
                         kClients, "--data-dir", "/tmp/d", "--memtable-bytes", "67108864"});
  ASSERT_TRUE(r.config.has_value()) << r.message;
  EXPECT_EQ(r.config->memtable_bytes, uint64_t{64} << 20);
  ParseResult defaults = Parse({"--id", "1", "--initial-cluster", kCluster,
                                "--initial-cluster-client", kClients, "--data-dir", "/tmp/d"});
  ASSERT_TRUE(defaults.config.has_value()) << defaults.message;
  EXPECT_EQ(defaults.config->memtable_bytes, storage::DbOptions().write_buffer_bytes);
  ExpectRefused(Parse({"--id", "1", "--initial-cluster", kCluster, "--initial-cluster-client",
                       kClients, "--data-dir", "/tmp/d", "--memtable-bytes", "4096"}),
                "--memtable-bytes");
}

TEST(ServerConfigTest, HelpIsNotAnError) {
  ParseResult r = Parse({"--help"});
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.message.find("--initial-cluster"), std::string::npos);
}

}  // namespace
}  // namespace raftkv::server
