// `cgscope record -o FILE [--interval 1s] [--duration D] [--max-size SIZE] [--max-age D]`:
// the live collector's samples into a recording that `cgscope snapshot --replay` (and every
// other sink) reads back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
  std::string output_, interval_ = "1s", duration_, max_size_ = "1G", max_age_, print_ = "none";
  std::string bpf_ = "auto", bpf_mode_ = "auto";
  std::uint32_t max_cgroups_ = 1024;
  bool v1_identity_ = false, keep_caps_ = false;
};

}  // namespace cgscope::cli
