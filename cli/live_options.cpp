#include "cli/live_options.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string_view>

#include "cli/format.hpp"
#include "cli/privileges.hpp"
#include "collector/bpf_util.hpp"
#include "collector/cgroupfs/demand_sampler.hpp"

namespace cgscope::cli {

void LiveOptions::add_to(CLI::App& sub) {
  sub.add_option("-i,--interval", interval, "interval length (1s, 500ms, ...)");
  sub.add_option("--bpf", bpf, "eBPF collectors: auto (fall back to cgroupfs), required, off")
      ->check(CLI::IsMember({"auto", "required", "off"}));
  sub.add_option("--collectors", collectors, "eBPF collectors to load (default: cpu,io,memory,nfs)")
      ->delimiter(',')
      ->check(CLI::IsMember({"cpu", "io", "memory", "nfs"}));
  sub.add_option("--bpf-mode", bpf_mode,
                 "auto, tp_btf+sched_info, tp_btf+task_storage, tp_btf+hash or raw_tp+hash");
  sub.add_option("--max-cgroups", max_cgroups,
                 "cgroups the eBPF maps can hold (0.7 KB per CPU each); more are counted as dropped")
      ->check(CLI::Range(1u, 1u << 20));
  sub.add_flag("--v1-identity", v1_identity, "identify cgroups by the v1 cpu hierarchy (as on pure v1 hosts)");
  sub.add_flag("--keep-capabilities", keep_caps,
               "do not drop capabilities after the eBPF programs are attached");
  sub.add_option("--nfs-negative", nfs_negative,
                 "how cached negative NFS lookups are seen: auto, tracepoint, fexit, kprobe or off")
      ->check(CLI::IsMember({"auto", "tracepoint", "fexit", "kprobe", "off"}));
  sub.add_flag("--nfs-access", nfs_access,
               "also time every NFS permission check (costly on metadata-heavy loads; see docs/performance.md)");
  sub.add_option("--nfs-max-files", nfs_max_files,
                 "NFS files tracked for sharing between cgroups (~200 B each); more are counted as dropped")
      ->check(CLI::Range(1u, 1u << 20));
  sub.add_flag("--no-page-cache", no_page_cache,
               "do not measure page-cache hits and misses (a program on every read; see docs/performance.md)");
  sub.add_option("--page-cache-probe", page_cache_probe,
                 "how page-cache reads are seen: auto, tracepoint (6.10+) or fentry (on filemap_read/filemap_fault)")
      ->check(CLI::IsMember({"auto", "tracepoint", "fentry"}));
  sub.add_option("--demand-slot", demand_slot,
                 "CPU demand of cgroups with a CPU quota, measured per slot of this length (10ms to 1s; "
                 "0 = off; see docs/performance.md)");
}

const std::vector<std::string>& LiveOptions::option_names() {
  static const std::vector<std::string> names = {
      "--interval",    "--bpf",           "--collectors",        "--bpf-mode",
      "--max-cgroups", "--v1-identity",   "--keep-capabilities", "--nfs-negative",
      "--nfs-access",  "--nfs-max-files", "--no-page-cache",     "--page-cache-probe",
      "--demand-slot"};
  return names;
}

Result<std::chrono::nanoseconds> LiveOptions::parsed_interval() const {
  auto d = parse_duration(interval);
  if (!d) return Error{"--interval: " + d.error()};
  return *d;
}

Result<std::chrono::nanoseconds> LiveOptions::parsed_demand_slot() const {
  // Zero in any unit ("0", "0ms", "0.0s") turns sampling off; parse_duration takes no zero.
  const std::string_view text(demand_slot);
  const std::string_view number = text.substr(0, text.find_first_not_of("0123456789."));
  const std::string_view unit = text.substr(number.size());
  double value = -1;
  const auto parsed = std::from_chars(number.data(), number.data() + number.size(), value);
  const bool zero = !number.empty() && parsed.ec == std::errc() &&
                    parsed.ptr == number.data() + number.size() && value == 0;
  if (zero && (unit.empty() || unit == "ns" || unit == "us" || unit == "ms" || unit == "s" || unit == "m" ||
               unit == "h"))
    return std::chrono::nanoseconds::zero();
  auto d = parse_duration(demand_slot);
  if (!d) return Error{"--demand-slot: " + d.error()};
  if (*d < collector::kMinDemandSlot || *d > collector::kMaxDemandSlot)
    return Error{"--demand-slot: " + demand_slot +
                 " is out of range: use 10ms to 1s, or 0 to turn CPU demand sampling off"};
  return *d;
}

Result<std::unique_ptr<collector::LiveSource>> LiveOptions::open(std::stop_token stop, bool verbose) const {
  auto every = parsed_interval();
  if (!every) return Error{every.error()};
  auto mode = collector::parse_cpu_bpf_mode(bpf_mode);
  if (!mode) return Error{"--bpf-mode: " + mode.error()};
  auto slot = parsed_demand_slot();
  if (!slot) return Error{slot.error()};

  collector::PipelineOptions options;
  options.bpf = bpf == "off"        ? collector::BpfPolicy::kOff
                : bpf == "required" ? collector::BpfPolicy::kRequired
                                    : collector::BpfPolicy::kBestEffort;
  options.cpu.mode = *mode;
  options.cpu.max_cgroups = max_cgroups;
  options.v1_identity = v1_identity;
  options.demand_slot = *slot;
  auto wants = [&](const char* name) { return std::find(collectors.begin(), collectors.end(), name) != collectors.end(); };
  options.cpu_enabled = wants("cpu");
  options.io_enabled = wants("io");
  options.memory_enabled = wants("memory");
  options.nfs_enabled = wants("nfs");
  options.nfs.max_files = nfs_max_files;
  options.nfs.access_timing = nfs_access;
  options.nfs.negative = nfs_negative == "tracepoint" ? collector::NfsNegativeProbe::kTracepoint
                         : nfs_negative == "fexit"    ? collector::NfsNegativeProbe::kFexit
                         : nfs_negative == "kprobe"   ? collector::NfsNegativeProbe::kKprobe
                         : nfs_negative == "off"      ? collector::NfsNegativeProbe::kOff
                                                      : collector::NfsNegativeProbe::kAuto;
  options.memory.page_cache = !no_page_cache;
  auto probe = collector::parse_page_cache_probe(page_cache_probe);
  if (!probe) return Error{"--page-cache-probe: " + probe.error()};
  options.memory.page_cache_probe = *probe;
  collector::setup_libbpf_logging(verbose);

  auto pipeline = collector::Pipeline::create(options);
  if (!pipeline) return Error{pipeline.error()};
  auto source = collector::LiveSource::create(std::move(*pipeline), {.interval = *every, .stop = std::move(stop)});
  if (!source) return Error{source.error()};
  return std::move(*source);
}

void LiveOptions::drop_privileges(collector::LiveSource& source, bool verbose) const {
  if (keep_caps) return;
  // The NFS collector attaches when the first NFS mount appears: it keeps what loading needs.
  const bool nfs_waits = source.pipeline().nfs_collector() != nullptr;
  if (auto err = nfs_waits ? keep_only_bpf_capabilities() : drop_all_capabilities(); !err.empty() && verbose)
    fmt::print(stderr, "cgscope: dropping capabilities: {}\n", err);
}

}  // namespace cgscope::cli
