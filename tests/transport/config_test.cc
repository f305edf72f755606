#include "src/transport/config.h"

#include <gtest/gtest.h>

namespace raftkv::transport {
namespace {

TransportConfig Valid() {
  TransportConfig c;
  c.cluster_id = 1;
  c.node_id = 1;
  return c;
}

void ExpectInvalid(const TransportConfig& c, const std::string& field) {
  absl::Status s = c.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(field), std::string::npos) << s;
}

TEST(TransportConfigTest, DefaultsWithIdentityAreValid) { EXPECT_TRUE(Valid().Validate().ok()); }

TEST(TransportConfigTest, RejectsEachBrokenRule) {
  TransportConfig c = Valid();
  c.cluster_id = 0;
  ExpectInvalid(c, "cluster_id");

  c = Valid();
  c.node_id = 0;
  ExpectInvalid(c, "node_id");

  c = Valid();
  c.peer_queue_messages_max = 0;
  ExpectInvalid(c, "peer_queue_messages_max");

  c = Valid();
  c.batch_bytes_max = c.message_bytes_max + 1;
  ExpectInvalid(c, "batch_bytes_max");

  c = Valid();
  c.message_bytes_max = 3ull << 30;
  c.peer_queue_bytes_max = 4ull << 30;
  ExpectInvalid(c, "message_bytes_max");

  c = Valid();
  c.peer_queue_bytes_max = c.message_bytes_max - 1;
  ExpectInvalid(c, "peer_queue_bytes_max");

  c = Valid();
  c.backoff_min_ms = 0;
  ExpectInvalid(c, "backoff");

  c = Valid();
  c.backoff_max_ms = c.backoff_min_ms - 1;
  ExpectInvalid(c, "backoff");

  c = Valid();
  c.keepalive_time_ms = 10;
  ExpectInvalid(c, "keepalive");

  c = Valid();
  c.held_read_max_us = -1;
  ExpectInvalid(c, "held_read_max_us");
  c.held_read_max_us = 60'000'001;
  ExpectInvalid(c, "held_read_max_us");
}

}  // namespace
}  // namespace raftkv::transport
