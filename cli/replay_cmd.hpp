// `cgscope snapshot --replay FILE [--from T] [--to T] [--follow]`: the snapshot output (table
// or JSON), from a recording instead of the live collector.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "model/snapshot.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace cgscope::cli {

struct SnapshotOutput {
  bool json = false;
  bool all = false;
  std::size_t top = 25;
  int count = 0;  // intervals to print, 0 = all
};

// Prints one interval exactly as `cgscope snapshot` does live.
void print_snapshot(const model::Snapshot& snapshot, const SnapshotOutput& output);

class ReplayOptions {
 public:
  // Adds --replay, --from, --to and --follow to the snapshot subcommand (call it after the
  // live options are added: --replay excludes them).
  static std::unique_ptr<ReplayOptions> add_to(CLI::App& snapshot);
  bool requested() const { return !file_.empty(); }
  int run(const SnapshotOutput& output) const;

 private:
  std::string file_, from_, to_;
  bool follow_ = false;
};

}  // namespace cgscope::cli
