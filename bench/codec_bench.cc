// codec_bench: encoding and decoding on the write path, in one thread, no I/O.
//
//   BM_CommandSerialize / BM_CommandParse
//       a v1::Command holding a Put (16-byte key, `value` bytes), to and from
//       its wire bytes: what the KV service does per proposal and the apply
//       thread per committed entry.
//   BM_AppendToWire / BM_AppendFromWire
//       a raft::Message of type kApp carrying `entries` entries of 256 + 24
//       bytes (a serialized Put command), through raft::ToProto and
//       SerializeToString, and back through ParseFromString and
//       raft::FromProto: what the transport does per append message.
//   BM_EntryToStored / BM_EntryFromStored
//       one raft::Entry to and from the raftpb::Entry bytes stored in the
//       log (RaftLogStore's per-entry cost).
// Counters (per second of CPU time): items/s (commands, messages or
// entries), bytes/s (wire bytes) and, for messages, entries/s.
// Run: build/bin/codec_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "proto/kv.pb.h"
#include "proto/raft.pb.h"
#include "src/raft/codec.h"
#include "src/raft/types.h"

namespace raftkv::raft {
namespace {

using bench::Die;

v1::Command MakePut(int value_bytes) {
  v1::Command c;
  c.mutable_put()->set_key(std::string(16, 'k'));
  c.mutable_put()->set_value(std::string(value_bytes, 'v'));
  return c;
}

Message MakeAppend(int entries) {
  const Payload data(MakePut(256).SerializeAsString());
  Message m;
  m.type = MessageType::kApp;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  m.log_term = 3;
  m.index = 1000;
  m.commit = 999;
  for (int i = 0; i < entries; ++i) {
    Entry e;
    e.term = 3;
    e.index = 1001 + static_cast<Index>(i);
    e.data = data;
    m.entries.push_back(e);
  }
  return m;
}

void Rates(benchmark::State& state, double bytes_per_item) {
  const double n = static_cast<double>(state.iterations());
  state.counters["items/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] = benchmark::Counter(n * bytes_per_item, benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1024);
}

void BM_CommandSerialize(benchmark::State& state) {
  const v1::Command cmd = MakePut(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    cmd.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  Rates(state, static_cast<double>(out.size()));
}

void BM_CommandParse(benchmark::State& state) {
  const std::string bytes = MakePut(static_cast<int>(state.range(0))).SerializeAsString();
  v1::Command cmd;
  for (auto _ : state) {
    if (!cmd.ParseFromString(bytes)) Die("parse", absl::DataLossError("command"));
    benchmark::DoNotOptimize(cmd.put().value().data());
  }
  Rates(state, static_cast<double>(bytes.size()));
}

void BM_AppendToWire(benchmark::State& state) {
  const Message m = MakeAppend(static_cast<int>(state.range(0)));
  raftpb::Message p;
  std::string out;
  for (auto _ : state) {
    p.Clear();
    ToProto(m, &p);
    out.clear();
    p.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  Rates(state, static_cast<double>(out.size()));
  state.counters["entries/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}

void BM_AppendFromWire(benchmark::State& state) {
  raftpb::Message wire;
  ToProto(MakeAppend(static_cast<int>(state.range(0))), &wire);
  const std::string bytes = wire.SerializeAsString();
  raftpb::Message p;
  for (auto _ : state) {
    if (!p.ParseFromString(bytes)) Die("parse", absl::DataLossError("message"));
    absl::StatusOr<Message> m = FromProto(p);
    if (!m.ok()) Die("from proto", m.status());
    benchmark::DoNotOptimize(m->entries.data());
  }
  Rates(state, static_cast<double>(bytes.size()));
  state.counters["entries/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}

void BM_EntryToStored(benchmark::State& state) {
  const Entry e = MakeAppend(1).entries[0];
  raftpb::Entry p;
  std::string out;
  for (auto _ : state) {
    p.Clear();
    ToProto(e, &p);
    out.clear();
    p.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  Rates(state, static_cast<double>(out.size()));
}

void BM_EntryFromStored(benchmark::State& state) {
  raftpb::Entry wire;
  ToProto(MakeAppend(1).entries[0], &wire);
  const std::string bytes = wire.SerializeAsString();
  raftpb::Entry p;
  for (auto _ : state) {
    if (!p.ParseFromString(bytes)) Die("parse", absl::DataLossError("entry"));
    absl::StatusOr<Entry> e = FromProto(p);
    if (!e.ok()) Die("from proto", e.status());
    benchmark::DoNotOptimize(e->data.view().data());
  }
  Rates(state, static_cast<double>(bytes.size()));
}

BENCHMARK(BM_CommandSerialize)->ArgName("value")->Arg(256)->Arg(4096);
BENCHMARK(BM_CommandParse)->ArgName("value")->Arg(256)->Arg(4096);
BENCHMARK(BM_AppendToWire)->ArgName("entries")->Arg(1)->Arg(64);
BENCHMARK(BM_AppendFromWire)->ArgName("entries")->Arg(1)->Arg(64);
BENCHMARK(BM_EntryToStored);
BENCHMARK(BM_EntryFromStored);

}  // namespace
}  // namespace raftkv::raft

BENCHMARK_MAIN();
