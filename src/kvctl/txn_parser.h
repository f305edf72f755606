// The text form of a transaction that `kvctl txn` reads from stdin.
//
// Three sections separated by one blank line each, in the spirit of etcdctl's
// interactive txn:
//
//   compares             one per line; all must hold for success to run
//   <blank line>
//   success ops          run in order if every compare holds
//   <blank line>
//   failure ops          run in order otherwise
//
// Missing trailing sections are empty (a text with no blank line has only
// compares). Lines starting with '#' are comments. Leading and trailing
// whitespace (and a CR from CRLF line ends) is ignored. Blank lines after the
// failure section are ignored; anything after them is an error.
//
// Compare lines:   TARGET("KEY") OP ARG
//   TARGET  value (val) | version (ver) | create (create_revision) |
//           mod (mod_revision)
//   OP      =  ==  !=  <  >
//   ARG     for value: a "quoted string" (or a bare word without spaces);
//           otherwise a non-negative integer, bare or quoted ("3" or 3).
//   e.g.    value("k") = "v"     version("k") > 3     mod("k") < 10
//           create("k") = 0      (the key does not exist)
//
// Op lines (words split on whitespace; "double quotes" group words):
//   put KEY VALUE
//   get KEY [END] [--prefix | --from-key] [--limit N] [--keys-only] [--count-only]
//   del KEY [END] [--prefix | --from-key] [--prev-kv]
// END makes the range [KEY, END); --prefix every key starting with KEY;
// --from-key every key >= KEY.
//
// Quoted strings take the escapes \" \\ \n \t \r \0 and \xHH (a byte), so any
// key or value can be written.
//
// Errors: InvalidArgument "line N (SECTION): what is wrong", N 1-based.
// Threads: pure functions; any thread.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/kv.pb.h"

namespace raftkv::kvctl {

absl::StatusOr<raftkv::v1::TxnRequest> ParseTxn(absl::string_view text);

}  // namespace raftkv::kvctl
