// `cgscope record -o FILE [--interval 1s] [--duration D] [--max-size SIZE] [--max-age D]`:
// the live collector's samples into a recording that `cgscope snapshot --replay` (and every
// other sink) reads back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cli/live_options.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace cgscope::cli {

class RecordCommand {
 public:
  static std::unique_ptr<RecordCommand> add_to(CLI::App& app);
  bool parsed() const;
  int run(bool verbose) const;

 private:
  CLI::App* sub_ = nullptr;
  LiveOptions live_;
  std::string output_, duration_, max_size_ = "1G", max_age_, print_ = "none", view_ = "summary";
  std::string ready_file_;
};

}  // namespace cgscope::cli
