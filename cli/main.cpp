// cgscope: why is my container slow, and what do I change?
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/advise_cmd.hpp"
#include "cli/profile_cmd.hpp"
#include "cli/record_cmd.hpp"
#include "cli/snapshot_cmd.hpp"
#include "model/metrics.hpp"

int main(int argc, char** argv) {
  CLI::App app{"cgscope: per-cgroup CPU, run-queue delay, throttling, block I/O, memory and NFS stalls, measured "
               "with eBPF"};
  app.set_version_flag("--version", "cgscope " CGSCOPE_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "show libbpf's messages");

  auto snapshot = cgscope::cli::SnapshotCommand::add_to(app);
  cgscope::cli::add_profile_command(app, verbose);
  auto record = cgscope::cli::RecordCommand::add_to(app);
  auto advise = cgscope::cli::AdviseCommand::add_to(app);
  auto diff = cgscope::cli::DiffCommand::add_to(app);
  auto* metrics = app.add_subcommand("metrics", "list the metrics cgscope measures");

  CLI11_PARSE(app, argc, argv);
  if (snapshot->parsed()) return snapshot->run(verbose);
  if (record->parsed()) return record->run(verbose);
  if (advise->parsed()) return advise->run(verbose);
  if (diff->parsed()) return diff->run();
  if (metrics->parsed()) {
    for (const auto& m : cgscope::model::metrics()) {
      std::string name(m.name);
      if (m.labels.size()) name += fmt::format("{{{}}}", fmt::join(m.labels.names(), ","));
      fmt::print("{:<64} {:<9} {:<8} {}\n", name, to_string(m.kind), m.collector, m.help);
    }
    return 0;
  }
  return 0;
}
