// KeyMetaCache: the create revision and version of recently written keys, so
// that applying a Put (which needs them, but not the old value unless the
// client asked for prev_kv) skips reading the key back from RocksDB. That
// read was the largest single CPU cost of applying writes (a memtable
// skip-list search per Put).
//
// A cache, not an index: an absent key says nothing (the caller reads
// RocksDB); a present entry is exactly the key's metadata in the applier's
// view (the applied state plus the batch being staged). KvStateMachine keeps
// that invariant: every Put it stages records the key's new metadata, every
// delete forgets the key, and a batch that fails clears the whole cache (its
// staged writes never reached RocksDB). Anything else that rewrites the kv
// column family (e.g. a future snapshot install) must Clear() it.
//
// Bounded: when a new key would exceed max_entries the cache is cleared first
// (amortised O(1); hot keys come back on their next write). max_entries 0
// disables it.
// Thread-safety: none; used by the one thread applying at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace raftkv::storage {

struct KeyMeta {
  uint64_t create_revision = 0;
  uint64_t version = 0;
};

class KeyMetaCache {
 public:
  explicit KeyMetaCache(size_t max_entries) : max_entries_(max_entries) {}

  // The key's metadata, or nullptr when not cached. The pointer is valid
  // until the next Record, Forget or Clear.
  const KeyMeta* Find(absl::string_view key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  void Record(absl::string_view key, KeyMeta meta) {
    if (max_entries_ == 0) return;
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second = meta;
      return;
    }
    if (map_.size() >= max_entries_) map_.clear();
    map_.emplace(std::string(key), meta);
  }
  void Forget(absl::string_view key) {
    auto it = map_.find(key);
    if (it != map_.end()) map_.erase(it);
  }
  void Clear() { map_.clear(); }
  size_t size() const { return map_.size(); }

 private:
  const size_t max_entries_;
  absl::flat_hash_map<std::string, KeyMeta> map_;
};

}  // namespace raftkv::storage
