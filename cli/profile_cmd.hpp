// `cgscope profile`: per-cgroup CPU (or off-CPU) profiles as folded stacks, pprof or an SVG
// flame graph, with per-cgroup hardware counters.
#pragma once

namespace CLI {
class App;
}

namespace cgscope::cli {

// Adds the subcommand; when it is parsed, CLI11 runs it and exits with its status (the
// command throws CLI::RuntimeError(status), which CLI11_PARSE turns into the return value).
void add_profile_command(CLI::App& app, const bool& verbose);

}  // namespace cgscope::cli
