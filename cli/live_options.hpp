// The options of live collection, shared by every command that samples the kernel (snapshot,
// record, and the front-ends after them): which collectors, how, at what interval. One place
// turns them into a running collector pipeline with the privileges dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "collector/live_source.hpp"
#include "model/result.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace cgscope::cli {

struct LiveOptions {
  std::string interval = "1s";
  std::string bpf = "auto";  // auto | required | off
  std::string bpf_mode = "auto";
  std::vector<std::string> collectors = {"cpu", "io", "memory", "nfs"};
  std::uint32_t max_cgroups = 1024;
  bool v1_identity = false;
  bool keep_caps = false;
  std::string nfs_negative = "auto";
  std::uint32_t nfs_max_files = 4096;
  bool nfs_access = false;
  bool no_page_cache = false;
  std::string page_cache_probe = "auto";
  std::string demand_slot = "100ms";  // 0: no CPU demand sampling

  // Adds the options to a subcommand; their names are listed in kOptionNames.
  void add_to(CLI::App& sub);
  // Every option add_to adds (for --replay to exclude them).
  static const std::vector<std::string>& option_names();

  // The interval, parsed; an error names the option.
  Result<std::chrono::nanoseconds> parsed_interval() const;
  // The CPU demand slot, parsed and checked (10ms to 1s); 0 ("0", "0ms", ...): off.
  Result<std::chrono::nanoseconds> parsed_demand_slot() const;
  // Loads and attaches the collectors and returns the source that samples them every interval
  // until `stop`. Errors say what failed and what to do.
  Result<std::unique_ptr<collector::LiveSource>> open(std::stop_token stop, bool verbose) const;
  // Drops the capabilities nothing needs any more (all, or all but those that attach the NFS
  // programs when the first NFS mount appears), unless --keep-capabilities. Call it once
  // everything privileged is done (e.g. the output file is open).
  void drop_privileges(collector::LiveSource& source, bool verbose) const;
};

}  // namespace cgscope::cli
