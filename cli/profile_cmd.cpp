#include "cli/profile_cmd.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <thread>
#include <unordered_map>

#include "cli/format.hpp"
#include "cli/profile_report.hpp"
#include "collector/bpf_util.hpp"
#include "collector/cgroupfs/cgroupfs.hpp"
#include "collector/profile/cgroup_glob.hpp"
#include "collector/profile/counters.hpp"
#include "collector/profile/profile.hpp"
#include "collector/profile/symbolize/symbolizer.hpp"
#include "model/profile/flamegraph.hpp"
#include "model/profile/folded.hpp"
#include "model/profile/pprof.hpp"

namespace cgscope::cli {
namespace {

using collector::ProfileMode;

struct ProfileArgs {
  std::vector<std::string> cgroups;
  std::string duration = "10s";
  std::uint32_t frequency_hz = 49;
  std::string format;  // "" = from the output's extension
  std::string output;
  bool off_cpu = false;
  std::string off_cpu_min = "";
  std::string event = "cpu-clock";
  bool counters = false;
  std::uint32_t stack_map_entries = 8192;
  std::uint32_t count_map_entries = 16384;
  std::string unwind = "dwarf";
  std::uint32_t stack_copy_bytes = 16384;
  std::uint32_t stack_ring_bytes = 0;  // 0: 512 KiB per CPU, at least 1 MiB
  bool keep_caps = false;
};

constexpr std::size_t kMaxCounterCgroups = 64;

std::atomic<bool> g_profile_stop{false};  // set from the signal handler only
void on_profile_signal(int) { g_profile_stop = true; }

std::string format_of(const ProfileArgs& a) {
  if (!a.format.empty()) return a.format;
  auto ends = [&](std::string_view s) { return a.output.size() >= s.size() && a.output.ends_with(s); };
  if (ends(".svg")) return "svg";
  if (ends(".pb.gz") || ends(".pprof") || ends(".pb")) return "pprof";
  return "folded";
}

// After attaching, keep only what symbolization needs: reading other processes' maps and
// files through /proc/PID/root (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH), where we have them.
std::string keep_only_symbolization_capabilities() {
  cap_t current = cap_get_proc();
  if (!current) return std::string("cap_get_proc: ") + std::strerror(errno);
  cap_t caps = cap_init();
  for (cap_value_t c : {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH}) {
    cap_flag_value_t have = CAP_CLEAR;
    cap_get_flag(current, c, CAP_PERMITTED, &have);
    if (have == CAP_SET) {
      cap_set_flag(caps, CAP_PERMITTED, 1, &c, CAP_SET);
      cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
    }
  }
  const int rc = cap_set_proc(caps);
  const int err = errno;
  cap_free(caps);
  cap_free(current);
  return rc == 0 ? "" : std::string("cap_set_proc: ") + std::strerror(err);
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{std::strerror(errno)};
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

class CgroupNames {
 public:
  explicit CgroupNames(collector::Cgroupfs& fs) : fs_(fs) {}
  // Rescans; names of cgroups that disappear are kept for the end of the profile.
  Result<std::vector<model::CgroupIdentity>> refresh() {
    auto scan = fs_.scan();
    if (!scan) return Error{scan.error()};
    for (const auto& cg : scan->cgroups)
      names_[cg.id] = {cg.path, cg.container.is_container() ? cg.container.display_name(cg.path) : ""};
    return scan->cgroups;
  }
  collector::CgroupName name(std::uint64_t id) const {
    auto it = names_.find(id);
    return it == names_.end() ? collector::CgroupName{} : it->second;
  }

 private:
  collector::Cgroupfs& fs_;
  std::unordered_map<std::uint64_t, collector::CgroupName> names_;
};

int run_profile(const ProfileArgs& args, bool verbose) {
  auto duration = parse_duration(args.duration);
  if (!duration) {
    fmt::print(stderr, "cgscope profile: --duration: {}\n", duration.error());
    return 2;
  }
  std::uint64_t off_cpu_min_ns = 0;
  if (!args.off_cpu_min.empty()) {
    auto d = parse_duration(args.off_cpu_min);
    if (!d) {
      fmt::print(stderr, "cgscope profile: --off-cpu-min: {}\n", d.error());
      return 2;
    }
    off_cpu_min_ns = static_cast<std::uint64_t>(d->count());
  }
  const bool profiling = !args.output.empty();
  if (!profiling && !args.counters) {
    fmt::print(stderr, "cgscope profile: -o FILE is required (or --counters for the counter table only)\n");
    return 2;
  }
  const std::string format = format_of(args);

  // The output first: a bad path fails before anything is loaded.
  int out_fd = -1;
  bool created = false;
  if (profiling) {
    if (args.output == "-") {
      out_fd = dup(STDOUT_FILENO);
    } else {
      out_fd = ::open(args.output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      created = out_fd >= 0;
      // An existing file is truncated only when the profile is written: a failed run keeps it.
      if (out_fd < 0 && errno == EEXIST) out_fd = ::open(args.output.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (out_fd < 0) {
      fmt::print(stderr, "cgscope profile: cannot write {}: {}\n", args.output, std::strerror(errno));
      return 1;
    }
  }
  // A failed run leaves no empty profile behind: only a file this run created is removed
  // (never an existing file, a device such as /dev/null, or a pipe).
  struct OutputGuard {
    int fd;
    std::string path;
    bool created;
    bool written = false;
    ~OutputGuard() {
      if (fd >= 0) close(fd);
      if (created && !written) unlink(path.c_str());
    }
  } output{out_fd, args.output, created};

  auto hierarchy = collector::discover_hierarchy();
  if (!hierarchy) {
    fmt::print(stderr, "cgscope profile: {}\n", hierarchy.error());
    return 1;
  }
  collector::CgroupfsOptions fs_options;
  fs_options.hierarchy = *hierarchy;
  collector::Cgroupfs fs(fs_options);
  CgroupNames names(fs);
  auto cgroups = names.refresh();
  if (!cgroups) {
    fmt::print(stderr, "cgscope profile: scanning cgroups: {}\n", cgroups.error());
    return 1;
  }
  std::vector<std::uint64_t> wanted;
  if (!args.cgroups.empty()) {
    wanted = collector::match_cgroups(args.cgroups, *cgroups);
    if (wanted.empty()) {
      fmt::print(
          stderr,
          "cgscope profile: no cgroup matches --cgroup {} (a pattern matches a cgroup's path, e.g. "
          "'/system.slice/docker-*.scope', its last path component, its name such as 'docker:0123abcd*', or "
          "its container id; '*' also matches '/'; `cgscope snapshot --all` lists cgroups)\n",
          fmt::join(args.cgroups, ", "));
      return 1;
    }
  }
  collector::setup_libbpf_logging(verbose);

  // Counters: the chosen cgroups, or the root (the whole machine).
  std::vector<collector::CounterTarget> targets;
  for (const auto& cg : *cgroups) {
    if (wanted.empty() ? cg.path == "/" : std::find(wanted.begin(), wanted.end(), cg.id) != wanted.end())
      targets.push_back({cg.id, cg.path});
    if (targets.size() == kMaxCounterCgroups) break;
  }
  auto counters = collector::CgroupCounters::create(collector::perf_event_cgroup_root(*hierarchy), targets);
  if (!counters) {
    fmt::print(stderr, "cgscope profile: counters: {}\n", counters.error());
    if (!profiling) return 1;
  }

  std::unique_ptr<collector::Symbolizer> symbolizer;
  std::unique_ptr<collector::Profiler> profiler;
  if (profiling) {
    collector::ProfilerOptions po;
    po.mode = args.off_cpu ? ProfileMode::kOffCpu : ProfileMode::kOnCpu;
    po.event = args.event == "cycles" ? collector::SampleEvent::kCycles
               : args.event == "auto" ? collector::SampleEvent::kAuto
                                      : collector::SampleEvent::kCpuClock;
    po.frequency_hz = args.frequency_hz;
    po.filter_cgroups = !wanted.empty();
    po.cgroup_ids = wanted;
    po.max_filter_cgroups = std::max<std::uint32_t>(1024, static_cast<std::uint32_t>(wanted.size()) * 2);
    po.stack_map_entries = args.stack_map_entries;
    po.count_map_entries = args.count_map_entries;
    po.off_cpu_min_ns = off_cpu_min_ns;
    po.unwind = args.unwind == "fp" ? collector::UnwindMode::kFramePointers : collector::UnwindMode::kDwarf;
    po.stack_copy_bytes = args.stack_copy_bytes;
    po.stack_ring_bytes = args.stack_ring_bytes;
    auto p = collector::Profiler::create(po);
    if (!p) {
      fmt::print(stderr, "cgscope profile: {}\n", p.error());
      return 1;
    }
    profiler = std::move(*p);
    // After loading: kallsyms then names the profiler's own programs.
    auto s = collector::Symbolizer::create({});
    if (!s) {
      fmt::print(stderr, "cgscope profile: {}\n", s.error());
      return 1;
    }
    symbolizer = std::move(*s);
    profiler->set_unwinder([&symbolizer](const collector::StackSample& smp) { return symbolizer->unwind(smp); });
  }
  if (!args.keep_caps) {
    if (auto err = keep_only_symbolization_capabilities(); !err.empty() && verbose)
      fmt::print(stderr, "cgscope profile: dropping capabilities: {}\n", err);
  }

  g_profile_stop = false;
  std::signal(SIGINT, on_profile_signal);
  std::signal(SIGTERM, on_profile_signal);
  const auto start = std::chrono::steady_clock::now();
  const auto wall_start = std::chrono::system_clock::now();
  const auto deadline = start + *duration;
  auto next_rescan = start + std::chrono::seconds(1);
  const std::function<void(const collector::ProcessEvent&)> on_process =
      [&](const collector::ProcessEvent& e) { symbolizer->add_process(e.tgid, e.instance); };
  while (!g_profile_stop) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    const int wait_ms = static_cast<int>(std::min<std::int64_t>(
        100, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
    if (profiler) {
      if (auto s = profiler->poll(wait_ms, on_process); !s) {
        fmt::print(stderr, "cgscope profile: {}\n", s.error());
        return 1;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    if (std::chrono::steady_clock::now() >= next_rescan) {
      next_rescan += std::chrono::seconds(1);
      // One interval per map set: the kernel maps never hold more than a second of stacks.
      if (profiler) {
        if (auto s = profiler->drain(); !s) fmt::print(stderr, "cgscope profile: {}\n", s.error());
        symbolizer->refresh();  // JIT symbols while their processes run; unwind tables of the gone
      }
      // Names of cgroups created meanwhile, and the filter for new ones that match.
      auto now_cgroups = names.refresh();
      if (now_cgroups && profiler && !args.cgroups.empty()) {
        auto ids = collector::match_cgroups(args.cgroups, *now_cgroups);
        for (std::uint64_t id : wanted)
          if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);  // keep the gone ones
        if (ids.size() != wanted.size()) {
          wanted = ids;
          if (auto s = profiler->set_cgroup_filter(wanted); !s)
            fmt::print(stderr, "cgscope profile: {}\n", s.error());
        }
      }
    }
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  ProfileRun run;
  run.mode = args.off_cpu ? ProfileMode::kOffCpu : ProfileMode::kOnCpu;
  run.frequency_hz = args.frequency_hz;
  run.duration_s = elapsed_s;
  run.cpus = static_cast<std::uint32_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  run.patterns = args.cgroups;
  run.matched_cgroups = wanted.size();
  run.unwind = args.off_cpu || args.unwind == "fp" ? collector::UnwindMode::kFramePointers
                                                    : collector::UnwindMode::kDwarf;
  run.stack_copy_bytes = args.stack_copy_bytes;

  if (counters && args.counters) {
    std::fputs(render_counters((*counters)->read(), **counters, elapsed_s).c_str(), stdout);
    std::fflush(stdout);
  }
  if (!profiling) return 0;

  auto raw = profiler->stop(on_process);
  if (!raw) {
    fmt::print(stderr, "cgscope profile: {}\n", raw.error());
    return 1;
  }
  (void)names.refresh();
  run.event = profiler->event();
  const collector::ProfilerStats pstats = profiler->stats();
  collector::SymbolizeRequest request;
  request.mode = run.mode;
  request.period_ns = profiler->period_ns();
  request.cgroup_name = [&](std::uint64_t id) { return names.name(id); };
  model::Profile profile = symbolizer->symbolize(*raw, request);
  profile.time_nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch()).count();
  profile.duration_nanos = static_cast<std::int64_t>(elapsed_s * 1e9);
  const std::string description = describe_run(run);
  const std::vector<std::string> losses = loss_lines(run, pstats, symbolizer->stats());
  profile.comments.push_back("cgscope profile: " + description);
  for (const auto& l : losses) profile.comments.push_back(l);

  std::string bytes;
  if (format == "pprof") {
    auto pb = model::to_pprof(profile);
    if (!pb) {
      fmt::print(stderr, "cgscope profile: {}\n", pb.error());
      return 1;
    }
    bytes = std::move(*pb);
  } else if (format == "svg") {
    model::FlameGraphOptions fo;
    fo.title = run.mode == ProfileMode::kOnCpu ? "CPU flame graph" : "Off-CPU flame graph (time blocked)";
    fo.subtitle = description;
    bytes = model::to_flamegraph_svg(profile, fo);
  } else {
    bytes = model::to_folded(profile);
  }
  struct stat out_st {};
  if (!created && fstat(out_fd, &out_st) == 0 && S_ISREG(out_st.st_mode) && ftruncate(out_fd, 0) != 0) {
    fmt::print(stderr, "cgscope profile: truncating {}: {}\n", args.output, std::strerror(errno));
    return 1;
  }
  if (auto s = write_all(out_fd, bytes); !s) {
    fmt::print(stderr, "cgscope profile: writing {}: {}\n", args.output, s.error());
    return 1;
  }
  output.written = true;

  const bool on_cpu = run.mode == ProfileMode::kOnCpu;
  fmt::print(stderr, "cgscope profile: {}\n", description);
  fmt::print(
      stderr, "  {} {} recorded in {} distinct stacks{}\n", pstats.recorded,
      on_cpu ? "samples" : "off-CPU intervals", raw->size(),
      pstats.filtered ? fmt::format(" ({} of other cgroups skipped in the kernel)", pstats.filtered) : "");
  const auto& ss = symbolizer->stats();
  fmt::print(stderr,
             "  symbolized: {} processes, {} binaries ({} build-id cache hits), {} user / {} kernel frames\n",
             ss.processes, symbolizer->module_count(), ss.module_build_id_hits, ss.user_frames,
             ss.kernel_frames);
  if (auto u = unwind_line(pstats, ss); !u.empty()) fmt::print(stderr, "  {}\n", u);
  for (const auto& l : losses) fmt::print(stderr, "  {}\n", l);
  if (counters && !args.counters) {
    if ((*counters)->hardware_available())
      fmt::print(stderr, "  hardware counters: available (--counters prints them)\n");
    else
      fmt::print(stderr, "  hardware counters: unavailable: {}\n",
                 (*counters)->hardware_unavailable_reason());
  }
  fmt::print(stderr, "wrote {} ({}, {} bytes)\n", args.output, format, bytes.size());
  return 0;
}

}  // namespace

void add_profile_command(CLI::App& app, const bool& verbose) {
  auto args = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand("profile", "per-cgroup CPU profile (flame graph) and hardware counters");
  cmd->add_option("--cgroup", args->cgroups,
                  "only these cgroups and their descendants (shell pattern on path, name or container id; "
                  "repeatable)");
  cmd->add_option("-d,--duration", args->duration,
                  "how long to profile (10s, 500ms, 2m); Ctrl-C stops early");
  cmd->add_option("-F,--frequency", args->frequency_hz, "samples per second per CPU")
      ->check(CLI::Range(1u, 10000u));
  cmd->add_option("--format", args->format, "folded, pprof or svg (default: from the -o extension)")
      ->check(CLI::IsMember({"folded", "pprof", "svg"}));
  cmd->add_option("-o,--output", args->output, "where to write the profile ('-' = stdout)");
  cmd->add_flag("--off-cpu", args->off_cpu,
                "profile time spent blocked (sched_switch, by blocking stack) instead of on-CPU samples");
  cmd->add_option("--off-cpu-min", args->off_cpu_min,
                  "with --off-cpu: ignore blocks shorter than this (e.g. 100us)");
  cmd->add_option("--event", args->event, "on-CPU sampling event: cpu-clock, cycles (needs a PMU) or auto")
      ->check(CLI::IsMember({"cpu-clock", "cycles", "auto"}));
  cmd->add_flag("--counters", args->counters,
                "print per-cgroup hardware counters (cycles, instructions, IPC, LLC misses) and CPU time");
  cmd->add_option("--stack-map-entries", args->stack_map_entries,
                  "distinct stacks the kernel map holds (1 KB each)")
      ->check(CLI::Range(64u, 1u << 22));
  cmd->add_option("--count-map-entries", args->count_map_entries,
                  "distinct (cgroup, process, stack) keys per second")
      ->check(CLI::Range(64u, 1u << 22));
  cmd->add_option("--unwind", args->unwind,
                  "how on-CPU user stacks are walked: dwarf (copies of the stack, unwound from the binaries' "
                  ".eh_frame: full stacks without frame pointers) or fp (frame pointers in the kernel: "
                  "cheaper, stops at code built without them); off-CPU stacks always use fp")
      ->check(CLI::IsMember({"dwarf", "fp"}));
  cmd->add_option("--stack-copy", args->stack_copy_bytes,
                  "with --unwind dwarf: user stack bytes copied per sample (e.g. 8K, 16K, 32K); deeper "
                  "stacks stop at '[unwind stopped: end of the copied stack]'")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(64u, 32768u));
  cmd->add_option("--stack-ring", args->stack_ring_bytes,
                  "with --unwind dwarf: ring buffer for the stack copies (a power of two, e.g. 8M; default "
                  "512K per CPU, at least 1M); when full, samples fall back to frame pointers (counted)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_flag("--keep-capabilities", args->keep_caps, "do not drop capabilities after attaching");
  cmd->callback([args, &verbose] { throw CLI::RuntimeError(run_profile(*args, verbose)); });
}

}  // namespace cgscope::cli
