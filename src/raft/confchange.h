// Membership changes as a pure function: the configuration after one
// single-server change. The old configuration is never mutated.
//
// Rules: add-node makes id a voter (promoting a learner); add-learner makes id a
// learner (demoting a voter); remove-node removes id from both sets. A change
// that would leave no voter is refused (FailedPrecondition), and so is one that
// names node 0. Only one voter changes at a time, so any two consecutive
// majorities intersect; joint consensus can be added beside this function.
// Thread-safety: pure function.
#pragma once

#include "absl/status/statusor.h"
#include "src/raft/types.h"

namespace raftkv::raft {

absl::StatusOr<ConfState> ApplySimpleChange(const ConfState& cs, const ConfChange& cc);

}  // namespace raftkv::raft
