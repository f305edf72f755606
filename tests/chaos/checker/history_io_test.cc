// history.jsonl round trips (odd bytes, absent fields), ReadHistory's errors
// (with line numbers), FormatOperation, CheckWellFormed.
#include "tests/chaos/checker/history_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "tests/chaos/checker/flat_json.h"

namespace raftkv::chaos {
namespace {

using ::testing::HasSubstr;

// Per process, so concurrent runs (e.g. of two builds) do not collide.
std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/checker_" + std::to_string(getpid()) + "_" + name;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Operation Op(int64_t id, int process, OpType type, int64_t t0, int64_t t1) {
  Operation op;
  op.id = id;
  op.process = process;
  op.type = type;
  op.key = "k";
  op.invoke_ns = t0;
  op.complete_ns = t1;
  return op;
}

void ExpectSame(const Operation& a, const Operation& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.process, b.process);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.expected, b.expected);
  EXPECT_EQ(a.read_value, b.read_value);
  EXPECT_EQ(a.cas_succeeded, b.cas_succeeded);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.invoke_ns, b.invoke_ns);
  EXPECT_EQ(a.complete_ns, b.complete_ns);
  EXPECT_EQ(a.note, b.note);
}

TEST(HistoryIoTest, RoundTripKeepsEveryFieldAndAnyBytes) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  History history;
  Operation w = Op(1, 0, OpType::kWrite, 100, 200);
  w.key = std::string("k\0\"\\\n\xff", 6);
  w.value = all_bytes;
  w.note = "said \"hi\"\t\x01";
  history.push_back(w);
  Operation r = Op(2, 1, OpType::kRead, 150, 250);
  r.read_value = std::nullopt;  // absent
  history.push_back(r);
  Operation r2 = Op(3, 1, OpType::kRead, 300, 400);
  r2.read_value = std::string("");  // present but empty: not absent
  history.push_back(r2);
  Operation c = Op(4, 2, OpType::kCas, -5, 9'000'000'000'000);
  c.expected = std::nullopt;
  c.value = "\xe2\x82\xac";
  c.cas_succeeded = true;
  history.push_back(c);
  Operation i = Op(5, 3, OpType::kDelete, 500, kNeverCompleted);
  i.outcome = Outcome::kIndeterminate;
  history.push_back(i);
  Operation f = Op(6, 4, OpType::kCas, 600, 700);
  f.expected = "x";
  f.value = "y";
  f.outcome = Outcome::kFailed;
  history.push_back(f);

  const std::string path = TempPath("round_trip.jsonl");
  ASSERT_TRUE(WriteHistory(history, path).ok());
  const std::string text = ReadFile(path);
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    EXPECT_TRUE(ch == '\n' || (b >= 0x20 && b <= 0x7e)) << "byte " << static_cast<int>(b);
  }
  EXPECT_THAT(text, HasSubstr("\"complete_ns\":null"));
  EXPECT_THAT(text, HasSubstr("\"read_value\":null"));
  EXPECT_THAT(text, HasSubstr("\"read_value\":\"\""));
  EXPECT_THAT(text, HasSubstr("\\u0000\\u0001"));

  auto back = ReadHistory(path);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), history.size());
  for (size_t j = 0; j < history.size(); ++j) ExpectSame((*back)[j], history[j]);
}

TEST(HistoryIoTest, ReadsOptionalMembersEscapesAndBlankLines) {
  const std::string path = TempPath("minimal.jsonl");
  WriteFile(
      path,
      "\n"
      "{\"id\":1,\"process\":2,\"type\":\"write\",\"key\":\"a\\/b\",\"value\":\"\\u00e9\\u20ac"
      "\\ud83d\\ude00\\n\",\"outcome\":\"ok\",\"invoke_ns\":5,\"complete_ns\":6}\n"
      "  \r\n"
      "{ \"id\" : 2 , \"process\" : 3, \"type\": \"delete\", \"key\": \"a\", \"outcome\": "
      "\"indeterminate\", \"invoke_ns\": 7 }\r\n");
  auto history = ReadHistory(path);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].key, "a/b");
  EXPECT_EQ((*history)[0].value, "\xe9\xe2\x82\xac\xf0\x9f\x98\x80\n");
  EXPECT_EQ((*history)[0].expected, std::nullopt);
  EXPECT_EQ((*history)[0].note, "");
  EXPECT_EQ((*history)[1].complete_ns, kNeverCompleted);
  EXPECT_EQ((*history)[1].outcome, Outcome::kIndeterminate);
}

TEST(HistoryIoTest, ReadErrorsNameTheLineAndTheProblem) {
  const std::string good =
      "{\"id\":1,\"process\":1,\"type\":\"read\",\"key\":\"k\",\"outcome\":\"ok\","
      "\"invoke_ns\":1,\"complete_ns\":2}\n";
  struct Case {
    std::string line;
    std::string error;
  };
  const Case cases[] = {
      {"{\"id\":2,\"process\":1,\"type\":\"get\",\"key\":\"k\",\"outcome\":\"ok\",\"invoke_ns\":1}",
       "member \"type\": \"get\" is not one of read, write, delete, cas"},
      {"{\"id\":2,\"process\":1,\"type\":\"read\",\"key\":\"k\",\"outcome\":\"ok\"}",
       "missing member \"invoke_ns\""},
      {"{\"id\":2,\"process\":1,\"type\":\"read\",\"key\":\"k\",\"outcome\":\"ok\",\"invoke_ns\":1,"
       "\"colour\":\"red\"}",
       "unknown member \"colour\""},
      {"{\"id\":\"2\"}", "member \"id\": expected integer, got string"},
      {"{\"id\":2.5}", "member \"id\": not an integer"},
      {"{\"id\":99999999999999999999}", "integer out of range"},
      {"{\"id\":2", "expected ',' or '}'"},
      {"[1,2]", "expected '{'"},
      {"{\"id\":2} x", "unexpected text after the object"},
      {"{\"key\":\"a\\qb\"}", "unknown escape"},
      {"{\"key\":\"a", "unterminated string"},
      {"{\"key\":{}}", "nested objects and arrays are not supported"},
      {"{\"id\":1,\"id\":2}", "duplicate member \"id\""},
      {"{\"outcome\":\"maybe\"}", "\"maybe\" is not one of ok, failed, indeterminate"},
      {"{\"cas_succeeded\":1}", "member \"cas_succeeded\": expected boolean, got integer"},
  };
  for (const Case& c : cases) {
    const std::string path = TempPath("bad.jsonl");
    WriteFile(path, good + "\n" + c.line + "\n" + good);
    auto history = ReadHistory(path);
    ASSERT_FALSE(history.ok()) << c.line;
    EXPECT_THAT(std::string(history.status().message()), HasSubstr(path + " line 3: ")) << c.line;
    EXPECT_THAT(std::string(history.status().message()), HasSubstr(c.error)) << c.line;
  }
  EXPECT_FALSE(ReadHistory(TempPath("does_not_exist.jsonl")).ok());
}

TEST(HistoryIoTest, WriteToAnUnwritablePathFails) {
  const absl::Status s = WriteHistory({}, TempPath("no/such/dir/h.jsonl"));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("no/such/dir/h.jsonl"));
}

TEST(HistoryIoTest, FormatOperation) {
  Operation cas = Op(17, 3, OpType::kCas, 1'204'000'000, 1'209'000'000);
  cas.key = "k2";
  cas.expected = "v12";
  cas.value = "v19";
  cas.cas_succeeded = true;
  EXPECT_EQ(FormatOperation(cas),
            "#17 p3 cas k2 'v12'->'v19' -> ok(swapped) [1.204000s, 1.209000s]");
  EXPECT_EQ(FormatOperation(cas, 1'000'000'000),
            "#17 p3 cas k2 'v12'->'v19' -> ok(swapped) [0.204000s, 0.209000s]");
  cas.cas_succeeded = false;
  cas.expected = std::nullopt;
  EXPECT_EQ(FormatOperation(cas, 1'204'000'000),
            "#17 p3 cas k2 absent->'v19' -> ok(not swapped) [0.000000s, 0.005000s]");

  Operation read = Op(4, 1, OpType::kRead, 0, 2'000'000);
  read.read_value = std::string("a'b\x01");
  EXPECT_EQ(FormatOperation(read), "#4 p1 read k -> ok('a\\'b\\x01') [0.000000s, 0.002000s]");
  read.read_value = std::nullopt;
  EXPECT_EQ(FormatOperation(read), "#4 p1 read k -> ok(absent) [0.000000s, 0.002000s]");

  Operation write = Op(9, 2, OpType::kWrite, 500'000'000, kNeverCompleted);
  write.value = std::string(60, 'x');
  write.outcome = Outcome::kIndeterminate;
  write.note = "deadline exceeded";
  EXPECT_EQ(FormatOperation(write), "#9 p2 write k '" + std::string(48, 'x') +
                                        "...(60 bytes)' -> indeterminate [0.500000s, never] "
                                        "(deadline exceeded)");

  Operation del = Op(10, 2, OpType::kDelete, 0, 1000);
  del.outcome = Outcome::kFailed;
  EXPECT_EQ(FormatOperation(del), "#10 p2 delete k -> failed [0.000000s, 0.000001s]");
}

History WellFormed() {
  History h;
  Operation w = Op(1, 1, OpType::kWrite, 0, 10);
  w.value = "a";
  h.push_back(w);
  Operation r = Op(2, 1, OpType::kRead, 10, 20);  // touches the previous: fine
  r.read_value = "a";
  h.push_back(r);
  Operation c = Op(3, 2, OpType::kCas, 5, kNeverCompleted);
  c.expected = "a";
  c.value = "b";
  c.outcome = Outcome::kIndeterminate;
  h.push_back(c);
  Operation d = Op(4, 3, OpType::kDelete, 30, 40);  // the indeterminate one's client, renamed
  d.outcome = Outcome::kFailed;
  h.push_back(d);
  return h;
}

TEST(HistoryIoTest, CheckWellFormedAcceptsAWellFormedHistory) {
  EXPECT_TRUE(CheckWellFormed(WellFormed()).ok()) << CheckWellFormed(WellFormed());
  EXPECT_TRUE(CheckWellFormed({}).ok());
}

TEST(HistoryIoTest, CheckWellFormedNamesTheBrokenInvariant) {
  struct Case {
    std::function<void(History&)> mutate;
    std::string error;
  };
  const Case cases[] = {
      {[](History& h) { h[1].invoke_ns = 9; }, "process 1 has two operations outstanding at once"},
      {[](History& h) { h[3].process = 2; }, "process 2 has two operations outstanding at once"},
      {[](History& h) { h[2].value = "a"; }, "value 'a' is written twice"},
      {[](History& h) { h[1].id = 1; }, "id 1 is used twice"},
      {[](History& h) { h[0].key = ""; }, "empty key"},
      {[](History& h) { h[2].complete_ns = 50; },
       "an indeterminate operation has a completion time"},
      {[](History& h) { h[0].complete_ns = kNeverCompleted; },
       "a completed (ok or failed) operation has no completion time"},
      {[](History& h) { h[3].complete_ns = 29; }, "completed before it was invoked"},
      {[](History& h) { h[0].value.reset(); }, "a write or cas without a value"},
  };
  for (const Case& c : cases) {
    History h = WellFormed();
    c.mutate(h);
    const absl::Status s = CheckWellFormed(h);
    EXPECT_FALSE(s.ok()) << c.error;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.error));
    EXPECT_THAT(std::string(s.message()), HasSubstr("#"));  // names an operation
  }
}

TEST(FlatJsonTest, QuoteEscapesEverythingOutsidePrintableAscii) {
  EXPECT_EQ(json::Quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json::Quote(std::string("\0\n\x7f\x80\xff", 5)),
            "\"\\u0000\\u000a\\u007f\\u0080\\u00ff\"");
  auto parsed = json::ParseObject("{\"k\":" + json::Quote(std::string("\0\xff", 2)) + "}");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)[0].second.string, std::string("\0\xff", 2));
}

}  // namespace
}  // namespace raftkv::chaos
