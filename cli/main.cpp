// cgscope: why is my container slow, and what do I change?
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/format.hpp"
#include "cli/privileges.hpp"
#include "collector/bpf_util.hpp"
#include "collector/pipeline.hpp"
#include "model/json.hpp"
#include "model/metrics.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct SnapshotArgs {
  std::string interval = "1s";
  int count = 5;
  bool json = false;
  bool all = false;
  std::size_t top = 25;
  std::string bpf = "auto";  // auto | required | off
  std::string bpf_mode = "auto";
  bool v1_identity = false;
  bool keep_caps = false;
};

int run_snapshot(const SnapshotArgs& args, bool verbose) {
  using namespace cgscope;
  auto interval = cli::parse_duration(args.interval);
  if (!interval) {
    fmt::print(stderr, "cgscope: --interval: {}\n", interval.error());
    return 2;
  }
  auto mode = collector::parse_cpu_bpf_mode(args.bpf_mode);
  if (!mode) {
    fmt::print(stderr, "cgscope: --bpf-mode: {}\n", mode.error());
    return 2;
  }
  collector::PipelineOptions options;
  options.bpf = args.bpf == "off"        ? collector::BpfPolicy::kOff
                : args.bpf == "required" ? collector::BpfPolicy::kRequired
                                         : collector::BpfPolicy::kBestEffort;
  options.cpu.mode = *mode;
  options.v1_identity = args.v1_identity;
  collector::setup_libbpf_logging(verbose);

  auto pipeline = collector::Pipeline::create(options);
  if (!pipeline) {
    fmt::print(stderr, "cgscope: {}\n", pipeline.error());
    return 1;
  }
  if (!args.keep_caps) {
    if (auto err = cli::drop_all_capabilities(); !err.empty() && verbose)
      fmt::print(stderr, "cgscope: dropping capabilities: {}\n", err);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto prev = (*pipeline)->sample();
  if (!prev) {
    fmt::print(stderr, "cgscope: {}\n", prev.error());
    return 1;
  }
  auto deadline = std::chrono::steady_clock::now();
  for (int i = 0; (args.count <= 0 || i < args.count) && !g_stop; ++i) {
    deadline += *interval;
    while (!g_stop && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
          deadline - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
    if (g_stop) break;
    auto curr = (*pipeline)->sample();
    if (!curr) {
      fmt::print(stderr, "cgscope: {}\n", curr.error());
      return 1;
    }
    const model::Snapshot snap = model::derive(*prev, *curr);
    if (args.json) {
      std::puts(model::to_json(snap).dump().c_str());
    } else {
      std::fputs(cli::render_table(snap, {.all = args.all, .top = args.top}).c_str(), stdout);
      std::fputs("\n", stdout);
    }
    std::fflush(stdout);
    prev = std::move(curr);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cgscope: per-cgroup CPU, run-queue delay and throttling, measured with eBPF"};
  app.set_version_flag("--version", "cgscope " CGSCOPE_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "show libbpf's messages");

  SnapshotArgs snap;
  auto* snapshot = app.add_subcommand("snapshot", "print per-cgroup rows every interval");
  snapshot->add_option("-i,--interval", snap.interval, "interval length (1s, 500ms, ...)");
  snapshot->add_option("-c,--count", snap.count, "number of intervals (0 = until Ctrl-C)");
  snapshot->add_flag("--json", snap.json, "one JSON object per interval (NDJSON)");
  snapshot->add_flag("-a,--all", snap.all, "include cgroups without activity");
  snapshot->add_option("--top", snap.top, "at most this many rows in the table (0 = all)");
  snapshot->add_option("--bpf", snap.bpf, "eBPF collectors: auto (fall back to cgroupfs), required, off")
      ->check(CLI::IsMember({"auto", "required", "off"}));
  snapshot->add_option("--bpf-mode", snap.bpf_mode,
                       "auto, tp_btf+task_storage, tp_btf+hash or raw_tp+hash");
  snapshot->add_flag("--v1-identity", snap.v1_identity,
                     "identify cgroups by the v1 cpu hierarchy (as on pure v1 hosts)");
  snapshot->add_flag("--keep-capabilities", snap.keep_caps,
                     "do not drop capabilities after the eBPF programs are attached");

  auto* metrics = app.add_subcommand("metrics", "list the metrics cgscope measures (name, kind, help)");

  CLI11_PARSE(app, argc, argv);
  if (snapshot->parsed()) return run_snapshot(snap, verbose);
  if (metrics->parsed()) {
    for (const auto& m : cgscope::model::kMetrics)
      fmt::print("{:<44} {:<9} {:<8} {}\n", m.name, cgscope::model::to_string(m.kind), m.collector, m.help);
    return 0;
  }
  return 0;
}
