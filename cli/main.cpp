// cgscope: why is my container slow, and what do I change?
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/advise_cmd.hpp"
#include "cli/profile_cmd.hpp"
#include "cli/record_cmd.hpp"
#include "cli/snapshot_cmd.hpp"
#include "model/metrics.hpp"

namespace {

// A usage error exits 2 in every command (docs/analyzers.md), whether cgscope's own checks or
// CLI11's parser find it.
constexpr int kExitUsage = 2;

}  // namespace

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // the status of `profile`, which runs inside the parse
  } catch (const CLI::ParseError& e) {
    // CLI11 prints its message (or the help, or the version) and says 0 for --help/--version;
    // its own codes (105, 108, ...) for the rest become the usage error they are.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
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
