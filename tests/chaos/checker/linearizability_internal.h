// raftkv::chaos::internal: the linearizability checker's two search engines,
// selectable for tests (each is checked against a brute force) and the
// benchmark. CheckLinearizable uses Engine::kAuto.
//
// Threads: pure function; any thread.
#pragma once

#include "tests/chaos/checker/linearizability.h"

namespace raftkv::chaos::internal {

enum class Engine {
  kAuto,        // depth-first with a quarter of the budget, then the frontier search
  kDepthFirst,  // Wing & Gong / Lowe / Porcupine depth-first search only, whole budget
  kFrontier,    // breadth-first over time (Lowe's just-in-time linearization) only
};

CheckResult CheckLinearizableWith(const History& history, const CheckOptions& options,
                                  Engine engine);

}  // namespace raftkv::chaos::internal
