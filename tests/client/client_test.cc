// Tests of raftkv::client::Client against in-process fake nodes
// (tests/client/fake_node.h): leader following, retries, deadlines, error
// messages. Waits are bounded by the client's own deadlines; nothing sleeps.
#include "src/client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "tests/client/fake_node.h"

namespace raftkv::client {
namespace {

namespace v1 = raftkv::v1;
using testing::DeadAddress;
using testing::FakeNode;

Options FastOptions(std::vector<std::string> endpoints) {
  Options options;
  options.endpoints = std::move(endpoints);
  options.call_timeout = absl::Seconds(5);
  options.dial_timeout = absl::Seconds(1);
  options.backoff_initial = absl::Milliseconds(5);
  options.backoff_max = absl::Milliseconds(50);
  return options;
}

std::unique_ptr<Client> MakeClient(Options options) {
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

TEST(ClientCreateTest, RejectsBadOptions) {
  EXPECT_EQ(Client::Create(Options()).status().code(), absl::StatusCode::kInvalidArgument);
  Options no_port;
  no_port.endpoints = {"localhost"};
  EXPECT_EQ(Client::Create(no_port).status().code(), absl::StatusCode::kInvalidArgument);
  Options zero_timeout = FastOptions({"127.0.0.1:1"});
  zero_timeout.call_timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(zero_timeout).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClientTest, FollowerRedirectsToLeaderNotInEndpointList) {
  FakeNode leader(1, v1::ROLE_LEADER);
  FakeNode follower(2);
  follower.SetBehavior(testing::NotLeader(leader.address(), 1));
  auto client = MakeClient(FastOptions({follower.address()}));

  auto put = client->Put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().member_id(), 1u);
  EXPECT_EQ(follower.Calls("Put"), 1);
  EXPECT_EQ(leader.Calls("Put"), 1);
  EXPECT_EQ(client->PreferredEndpoint(), leader.address());
  EXPECT_EQ(client->Endpoints().size(), 2u);

  // The next calls go straight to the remembered leader.
  auto get = client->Get("k");
  ASSERT_TRUE(get.ok()) << get.status();
  ASSERT_EQ(get->kvs_size(), 1);
  EXPECT_EQ(get->kvs(0).value(), "v");
  EXPECT_EQ(follower.TotalCalls(), 1);
  EXPECT_EQ(leader.TotalCalls(), 2);
}

TEST(ClientTest, FollowerRedirectsToLeaderInEndpointList) {
  FakeNode follower(1);
  FakeNode leader(2, v1::ROLE_LEADER);
  follower.SetBehavior(testing::NotLeader(leader.address(), 2));
  auto client = MakeClient(FastOptions({follower.address(), leader.address()}));

  auto del = client->Delete("k");
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(client->Endpoints().size(), 2u);  // nothing learned: already known
  EXPECT_EQ(client->PreferredEndpoint(), leader.address());
}

TEST(ClientTest, LeaderChangeIsFollowed) {
  FakeNode a(1, v1::ROLE_LEADER);
  FakeNode b(2);
  b.SetBehavior(testing::NotLeader(a.address(), 1));
  auto client = MakeClient(FastOptions({a.address(), b.address()}));
  ASSERT_TRUE(client->Put("k", "1").ok());
  EXPECT_EQ(client->PreferredEndpoint(), a.address());

  // Leadership moves to b; a now points there.
  a.SetBehavior(testing::NotLeader(b.address(), 2));
  b.SetBehavior(testing::Serve());
  auto put = client->Put("k", "2");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->header().member_id(), 2u);
  EXPECT_EQ(client->PreferredEndpoint(), b.address());
}

TEST(ClientTest, NoLeaderThenLeader) {
  FakeNode node(1);
  node.SetBehavior(testing::NoLeaderFor(3));
  auto client = MakeClient(FastOptions({node.address()}));

  auto put = client->Put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(node.Calls("Put"), 4);
}

TEST(ClientTest, NoLeaderOnAnyNodeTriesEveryNodeThenGivesUpAfterMaxAttempts) {
  FakeNode a(1);
  FakeNode b(2);
  a.SetBehavior(testing::NotLeader("", 0));
  b.SetBehavior(testing::NotLeader("", 0));
  Options options = FastOptions({a.address(), b.address()});
  options.max_attempts = 6;
  auto client = MakeClient(options);

  auto put = client->Put("k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put.status().message(), "in 6 attempts")) << put.status();
  EXPECT_TRUE(absl::StrContains(put.status().message(), "no leader known")) << put.status();
  EXPECT_TRUE(absl::StrContains(put.status().message(), a.address())) << put.status();
  EXPECT_TRUE(absl::StrContains(put.status().message(), b.address())) << put.status();
  EXPECT_EQ(a.Calls("Put"), 3);
  EXPECT_EQ(b.Calls("Put"), 3);
}

TEST(ClientTest, NodesNamingEachOtherDoNotSpinForever) {
  FakeNode a(1);
  FakeNode b(2);
  a.SetBehavior(testing::NotLeader(b.address(), 2));
  b.SetBehavior(testing::NotLeader(a.address(), 1));
  Options options = FastOptions({a.address(), b.address()});
  options.call_timeout = absl::Milliseconds(500);
  options.max_attempts = 1000;
  auto client = MakeClient(options);

  auto put = client->Put("k", "v");
  ASSERT_FALSE(put.ok());
  // Given up at the call's deadline: between attempts (UNAVAILABLE), or, on a
  // slow machine (ASan), with an attempt in flight when the deadline came
  // (DEADLINE_EXCEEDED: that write's outcome is unknown). Either says so.
  EXPECT_TRUE(put.status().code() == absl::StatusCode::kUnavailable ||
              put.status().code() == absl::StatusCode::kDeadlineExceeded)
      << put.status();
  EXPECT_TRUE(absl::StrContains(put.status().message(), "within 500ms")) << put.status();
  // Backing off after a few redirects keeps the attempts far from the limit.
  EXPECT_LT(a.TotalCalls() + b.TotalCalls(), 200);
}

TEST(ClientTest, DownEndpointIsSkipped) {
  FakeNode leader(1, v1::ROLE_LEADER);
  auto client = MakeClient(FastOptions({DeadAddress(), leader.address()}));
  auto put = client->Put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(client->PreferredEndpoint(), leader.address());
}

TEST(ClientTest, AllEndpointsDownGivesClearErrorWithinDeadline) {
  const std::vector<std::string> dead = {DeadAddress(), DeadAddress(), DeadAddress()};
  Options options = FastOptions(dead);
  options.call_timeout = absl::Seconds(1);
  options.max_attempts = 1000;  // the deadline, not the attempts, ends this call
  auto client = MakeClient(options);

  const absl::Time start = absl::Now();
  auto put = client->Put("k", "v");
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(put.status().message());
  EXPECT_TRUE(absl::StartsWith(message, "Put: no endpoint answered within 1s: ")) << message;
  for (const std::string& address : dead) {
    EXPECT_TRUE(absl::StrContains(message, address + " (connection refused)")) << message;
  }
  EXPECT_LE(took, absl::Seconds(1) + absl::Milliseconds(500));
}

TEST(ClientTest, DeadlineExceededOnWriteSaysOutcomeUnknown) {
  FakeNode leader(1, v1::ROLE_LEADER);
  leader.SetBehavior(testing::Hang());
  Options options = FastOptions({leader.address()});
  options.call_timeout = absl::Milliseconds(300);
  auto client = MakeClient(options);

  auto put = client->Put("k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(
      absl::StrContains(put.status().message(), "the write may or may not have been applied"))
      << put.status();
  EXPECT_TRUE(absl::StrContains(put.status().message(), leader.address())) << put.status();
  EXPECT_EQ(leader.Calls("Put"), 1);  // never retried
}

TEST(ClientTest, DeadlineExceededOnReadIsNotAboutWrites) {
  FakeNode leader(1, v1::ROLE_LEADER);
  leader.SetBehavior(testing::Hang());
  Options options = FastOptions({leader.address()});
  options.call_timeout = absl::Milliseconds(200);
  auto client = MakeClient(options);

  auto get = client->Get("k");
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(absl::StrContains(get.status().message(), "write")) << get.status();
}

TEST(ClientTest, InvalidArgumentIsNotRetried) {
  FakeNode a(1, v1::ROLE_LEADER);
  FakeNode b(2);
  a.SetBehavior(testing::FailWith(grpc::StatusCode::INVALID_ARGUMENT, "key is empty"));
  auto client = MakeClient(FastOptions({a.address(), b.address()}));

  auto put = client->Put("", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(put.status().message(), "Put: " + a.address() + ": key is empty");
  EXPECT_EQ(a.TotalCalls() + b.TotalCalls(), 1);
}

TEST(ClientTest, FailedPreconditionIsNotRetried) {
  FakeNode a(1, v1::ROLE_LEADER);
  a.SetBehavior(testing::FailWith(grpc::StatusCode::FAILED_PRECONDITION, "cluster id mismatch"));
  auto client = MakeClient(FastOptions({a.address()}));
  auto get = client->Get("k");
  EXPECT_EQ(get.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.TotalCalls(), 1);
}

TEST(ClientTest, ResourceExhaustedIsRetriedWithBackoff) {
  FakeNode a(1, v1::ROLE_LEADER);
  a.SetBehavior(testing::FailFirst(2, grpc::StatusCode::RESOURCE_EXHAUSTED, "proposal queue full"));
  auto client = MakeClient(FastOptions({a.address()}));
  auto put = client->Put("k", "v");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(a.Calls("Put"), 3);
}

TEST(ClientTest, PlainUnavailableRetriesReadsElsewhere) {
  FakeNode a(1);
  FakeNode b(2, v1::ROLE_LEADER);
  a.SetBehavior(testing::FailWith(grpc::StatusCode::UNAVAILABLE, "no quorum"));
  auto client = MakeClient(FastOptions({a.address(), b.address()}));
  auto get = client->Get("k");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(a.Calls("Range"), 1);
  EXPECT_EQ(b.Calls("Range"), 1);
}

TEST(ClientTest, PlainUnavailableOnConnectedNodeIsNotRetriedForWrites) {
  FakeNode a(1);
  FakeNode b(2, v1::ROLE_LEADER);
  a.SetBehavior(testing::FailWith(grpc::StatusCode::UNAVAILABLE, "Socket closed"));
  auto client = MakeClient(FastOptions({a.address(), b.address()}));
  auto put = client->Put("k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put.status().message(), "may or may not have been applied"))
      << put.status();
  EXPECT_EQ(b.TotalCalls(), 0);
}

TEST(ClientTest, ReadOnlyTxnIsRetriedLikeARead) {
  FakeNode a(1);
  FakeNode b(2, v1::ROLE_LEADER);
  a.SetBehavior(testing::FailWith(grpc::StatusCode::UNAVAILABLE, "no quorum"));
  auto client = MakeClient(FastOptions({a.address(), b.address()}));
  v1::TxnRequest read_only;
  read_only.add_success()->mutable_request_range()->set_key("k");
  ASSERT_TRUE(client->Txn(read_only).ok());

  v1::TxnRequest write;
  write.add_failure()->mutable_request_put()->set_key("k");
  auto client2 = MakeClient(FastOptions({a.address(), b.address()}));
  EXPECT_EQ(client2->Txn(write).status().code(), absl::StatusCode::kUnavailable);
}

TEST(ClientTest, MemberListFollowsLeader) {
  FakeNode leader(1, v1::ROLE_LEADER);
  FakeNode follower(2);
  follower.SetBehavior(testing::NotLeader(leader.address(), 1));
  auto client = MakeClient(FastOptions({follower.address()}));
  auto members = client->MemberList();
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->members_size(), 1);
  EXPECT_EQ(members->members(0).id(), 1u);
}

TEST(ClientTest, StatusAskesOneEndpointAndStatusAllAsksEveryOne) {
  FakeNode a(1);
  FakeNode b(2, v1::ROLE_LEADER);
  const std::string dead = DeadAddress();
  auto client = MakeClient(FastOptions({a.address(), dead, b.address()}));

  auto status = client->Status(a.address());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->member_id(), 1u);
  EXPECT_EQ(b.Calls("Status"), 0);

  std::vector<EndpointStatus> all = client->StatusAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].endpoint, a.address());
  ASSERT_TRUE(all[0].status.ok());
  EXPECT_EQ(all[0].status->role(), v1::ROLE_FOLLOWER);
  EXPECT_EQ(all[1].endpoint, dead);
  ASSERT_FALSE(all[1].status.ok());
  EXPECT_EQ(all[1].status.status().message(), "Status: " + dead + ": connection refused");
  ASSERT_TRUE(all[2].status.ok());
  EXPECT_EQ(all[2].status->member_id(), 2u);
  // The leader found by StatusAll becomes the preferred endpoint.
  EXPECT_EQ(client->PreferredEndpoint(), b.address());
}

TEST(ClientTest, ConcurrentCallsFollowTheLeader) {
  FakeNode leader(1, v1::ROLE_LEADER);
  FakeNode follower(2);
  follower.SetBehavior(testing::NotLeader(leader.address(), 1));
  auto client = MakeClient(FastOptions({follower.address()}));

  constexpr int kThreads = 8;
  constexpr int kPutsPerThread = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&client, &failures, t] {
      for (int i = 0; i < kPutsPerThread; ++i) {
        if (!client->Put("k" + std::to_string(t), std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(leader.Calls("Put"), kThreads * kPutsPerThread);
  EXPECT_LE(follower.Calls("Put"), kThreads);  // at most each thread's first call
}

TEST(ParseEndpointsTest, SplitsAndValidates) {
  auto e = ParseEndpoints(" 127.0.0.1:7001,localhost:7002 ,, [::1]:7003");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e, (std::vector<std::string>{"127.0.0.1:7001", "localhost:7002", "[::1]:7003"}));
  EXPECT_FALSE(ParseEndpoints("").ok());
  EXPECT_FALSE(ParseEndpoints("localhost").ok());
  EXPECT_FALSE(ParseEndpoints("localhost:http").ok());
  EXPECT_FALSE(ParseEndpoints("localhost:70000").ok());
  EXPECT_EQ(ParseEndpoints("a:1,b").status().message(),
            "endpoint \"b\" is not of the form host:port");
}

TEST(HumanDurationTest, Formats) {
  EXPECT_EQ(HumanDuration(absl::Seconds(5)), "5s");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(HumanDuration(absl::Microseconds(1500001)), "1.5s");
}

}  // namespace
}  // namespace raftkv::client
