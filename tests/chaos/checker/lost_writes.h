// raftkv::chaos lost-write check: acknowledged writes that the final state of
// the cluster contradicts although nothing could have overwritten them.
//
// An acknowledged write is a kOk write, or a kOk cas that swapped. It is lost
// when the final value of its key differs from the value it wrote AND no other
// operation on the key that may take effect after it exists: a kOk write,
// delete or swapped cas, or any kIndeterminate write, delete or cas, whose
// complete_ns > the write's invoke_ns (an indeterminate one never completes,
// so it always may). This is weaker than linearizability (it needs no search)
// but catches the classic loss, "acknowledged, then gone after the faults",
// with a one-line reason even when the key's history is too big to search.
//
// Threads: pure function; any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/chaos/history.h"

namespace raftkv::chaos {

struct LostWrite {
  Operation write;
  // "'v7' (written by #3)", "absent", "'zz' (written by no operation in the history)".
  std::string final_value_description;
  std::string explanation;  // one paragraph naming the write, the final value and why it is lost
};

// final_state: every key's value read after the run (absent keys missing from
// the map). Keys of the history only; ordered by key, then by write id.
std::vector<LostWrite> FindLostWrites(const History& history,
                                      const std::map<std::string, std::string>& final_state);

}  // namespace raftkv::chaos
