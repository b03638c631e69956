// `cgscope advise`: collects for --duration (or replays a recording) into a history window,
// runs the analyzers over it and prints the lost-time budget and the findings, most lost time
// first. `cgscope diff`: the same for two recordings (or two ranges of one), side by side.
#pragma once

#include <memory>
#include <string>

#include "cli/live_options.hpp"
#include "cli/replay_cmd.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace cgscope::cli {

// Exit codes of advise and diff.
inline constexpr int kExitFindings = 3;  // --fail-on S and a finding of S or worse

class AdviseCommand {
 public:
  static std::unique_ptr<AdviseCommand> add_to(CLI::App& app);
  bool parsed() const;
  int run(bool verbose) const;

 private:
  CLI::App* sub_ = nullptr;
  LiveOptions live_;
  std::unique_ptr<ReplayOptions> replay_;
  std::string duration_ = "60s";
  bool json_ = false;
  std::string min_severity_ = "info";
  std::string fail_on_;
  std::uint32_t min_intervals_ = 10;
  bool brief_ = false;
  std::string ready_file_;
};

class DiffCommand {
 public:
  static std::unique_ptr<DiffCommand> add_to(CLI::App& app);
  bool parsed() const;
  int run() const;

 private:
  CLI::App* sub_ = nullptr;
  std::string before_, after_;
  std::string before_from_, before_to_, after_from_, after_to_;
  bool json_ = false;
  std::uint32_t min_intervals_ = 10;
  std::size_t top_ = 15;
};

}  // namespace cgscope::cli
