// cgscope: why is my container slow, and what do I change?
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/format.hpp"
#include "cli/privileges.hpp"
#include "cli/profile_cmd.hpp"
#include "cli/record_cmd.hpp"
#include "cli/replay_cmd.hpp"
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
  std::uint32_t max_cgroups = 1024;
  std::string view = "summary";
  std::vector<std::string> collectors = {"cpu", "io", "memory", "nfs"};
  std::string nfs_negative = "auto";
  std::uint32_t nfs_max_files = 4096;
  std::string ready_file;
  bool nfs_access = false;
  bool no_page_cache = false;
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
  auto view = cli::parse_table_view(args.view);
  if (!view) {
    fmt::print(stderr, "cgscope: --view: {}\n", view.error());
    return 2;
  }
  collector::PipelineOptions options;
  options.bpf = args.bpf == "off"        ? collector::BpfPolicy::kOff
                : args.bpf == "required" ? collector::BpfPolicy::kRequired
                                         : collector::BpfPolicy::kBestEffort;
  options.cpu.mode = *mode;
  options.cpu.max_cgroups = args.max_cgroups;
  options.v1_identity = args.v1_identity;
  auto wants = [&](const char* name) {
    return std::find(args.collectors.begin(), args.collectors.end(), name) != args.collectors.end();
  };
  options.cpu_enabled = wants("cpu");
  options.io_enabled = wants("io");
  options.memory_enabled = wants("memory");
  options.nfs_enabled = wants("nfs");
  options.nfs.max_files = args.nfs_max_files;
  options.nfs.access_timing = args.nfs_access;
  options.nfs.negative = args.nfs_negative == "tracepoint" ? collector::NfsNegativeProbe::kTracepoint
                         : args.nfs_negative == "fexit"    ? collector::NfsNegativeProbe::kFexit
                         : args.nfs_negative == "kprobe" ? collector::NfsNegativeProbe::kKprobe
                         : args.nfs_negative == "off"    ? collector::NfsNegativeProbe::kOff
                                                         : collector::NfsNegativeProbe::kAuto;
  options.memory.page_cache = !args.no_page_cache;
  collector::setup_libbpf_logging(verbose);

  auto pipeline = collector::Pipeline::create(options);
  if (!pipeline) {
    fmt::print(stderr, "cgscope: {}\n", pipeline.error());
    return 1;
  }
  if (!args.keep_caps) {
    // The NFS collector attaches when the first NFS mount appears: it keeps what loading needs.
    const bool nfs_waits = (*pipeline)->nfs_collector() != nullptr;
    if (auto err = nfs_waits ? cli::keep_only_bpf_capabilities() : cli::drop_all_capabilities();
        !err.empty() && verbose)
      fmt::print(stderr, "cgscope: dropping capabilities: {}\n", err);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto prev = (*pipeline)->sample();
  if (!prev) {
    fmt::print(stderr, "cgscope: {}\n", prev.error());
    return 1;
  }
  if (!args.ready_file.empty()) {
    // For scripts: the collectors are attached and the first interval has begun.
    if (FILE* f = std::fopen(args.ready_file.c_str(), "we")) std::fclose(f);
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
      std::fputs(cli::render_table(snap, {.all = args.all, .top = args.top, .view = *view}).c_str(), stdout);
      std::fputs("\n", stdout);
    }
    std::fflush(stdout);
    prev = std::move(curr);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cgscope: per-cgroup CPU, run-queue delay, throttling, block I/O and memory stalls, measured with eBPF"};
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
  snapshot->add_option("--view", snap.view, "table columns: summary, cpu, io, memory or nfs")
      ->check(CLI::IsMember({"summary", "cpu", "io", "memory", "nfs"}));
  snapshot->add_option("--top", snap.top, "at most this many rows in the table (0 = all)");
  snapshot->add_option("--bpf", snap.bpf, "eBPF collectors: auto (fall back to cgroupfs), required, off")
      ->check(CLI::IsMember({"auto", "required", "off"}));
  snapshot->add_option("--collectors", snap.collectors, "eBPF collectors to load (default: cpu,io,memory,nfs)")
      ->delimiter(',')
      ->check(CLI::IsMember({"cpu", "io", "memory", "nfs"}));
  snapshot->add_option("--nfs-negative", snap.nfs_negative,
                       "how cached negative NFS lookups are seen: auto, tracepoint, fexit, kprobe or off")
      ->check(CLI::IsMember({"auto", "tracepoint", "fexit", "kprobe", "off"}));
  snapshot->add_option("--ready-file", snap.ready_file,
                       "create this file once the first sample is taken (for scripts that start a workload then)");
  snapshot->add_flag("--nfs-access", snap.nfs_access,
                     "also time every NFS permission check (costly on metadata-heavy loads; see docs/performance.md)");
  snapshot->add_option("--nfs-max-files", snap.nfs_max_files,
                       "NFS files tracked for sharing between cgroups (~200 B each); more are counted as dropped")
      ->check(CLI::Range(1u, 1u << 20));
  snapshot->add_flag("--no-page-cache", snap.no_page_cache,
                     "do not measure page-cache hits and misses (a program on every read; see docs/performance.md)");
  snapshot->add_option("--bpf-mode", snap.bpf_mode,
                       "auto, tp_btf+task_storage, tp_btf+hash or raw_tp+hash");
  snapshot->add_option("--max-cgroups", snap.max_cgroups,
                       "cgroups the eBPF maps can hold (0.7 KB per CPU each); more are counted as dropped")
      ->check(CLI::Range(1u, 1u << 20));
  snapshot->add_flag("--v1-identity", snap.v1_identity,
                     "identify cgroups by the v1 cpu hierarchy (as on pure v1 hosts)");
  snapshot->add_flag("--keep-capabilities", snap.keep_caps,
                     "do not drop capabilities after the eBPF programs are attached");

  cgscope::cli::add_profile_command(app, verbose);
  auto replay = cgscope::cli::ReplayOptions::add_to(*snapshot);
  auto record = cgscope::cli::RecordCommand::add_to(app);

  auto* metrics = app.add_subcommand("metrics", "list the metrics cgscope measures (name, kind, help)");

  CLI11_PARSE(app, argc, argv);
  if (snapshot->parsed() && replay->requested())
    return replay->run({snap.json, snap.all, snap.top, snapshot->count("--count") ? snap.count : 0});
  if (record->parsed()) return record->run(verbose);
  if (snapshot->parsed()) return run_snapshot(snap, verbose);
  if (metrics->parsed()) {
    for (const auto& m : cgscope::model::kMetrics)
      fmt::print("{:<44} {:<9} {:<8} {}\n", m.name, cgscope::model::to_string(m.kind), m.collector, m.help);
    return 0;
  }
  return 0;
}
