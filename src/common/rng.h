// Rng: a small, seeded, deterministic pseudo-random generator (splitmix64).
//
// Every source of randomness in raftkv is an Rng with an explicit seed, so a
// simulation run replays exactly from its seed. Not for cryptography.
// Thread-safety: none; one owner.
#pragma once

#include <cstdint>

namespace raftkv {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n); n must be > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }

  // True with probability num/den.
  bool OneIn(uint64_t den) { return Uniform(den) == 0; }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

}  // namespace raftkv
