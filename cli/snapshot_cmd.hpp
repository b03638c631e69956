// `cgscope snapshot`: per-cgroup rows every interval, live or from a recording (--replay).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "cli/live_options.hpp"
#include "cli/replay_cmd.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace cgscope::cli {

class SnapshotCommand {
 public:
  static std::unique_ptr<SnapshotCommand> add_to(CLI::App& app);
  bool parsed() const;
  int run(bool verbose) const;

 private:
  CLI::App* sub_ = nullptr;
  LiveOptions live_;
  std::unique_ptr<ReplayOptions> replay_;
  int count_ = 5;  // live default; a replay prints every interval unless --count is given
  bool json_ = false;
  bool all_ = false;
  std::size_t top_ = 25;
  std::string view_ = "summary";
  std::string ready_file_;
};

}  // namespace cgscope::cli
