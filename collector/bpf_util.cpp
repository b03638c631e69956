#include "collector/bpf_util.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace cgscope::collector {
namespace {

bool g_libbpf_verbose = false;  // libbpf's print callback has no user pointer
int g_libbpf_quiet = 0;         // > 0 while probing loads whose failures are reported otherwise

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_verbose) return 0;
  if (g_libbpf_quiet > 0 && !g_libbpf_verbose) return 0;
  // libbpf's INFO level is chatty during feature probing; only show it when verbose.
  if (level == LIBBPF_INFO && !g_libbpf_verbose) return 0;
  return std::vfprintf(stderr, format, args);
}

}  // namespace

void setup_libbpf_logging(bool verbose) {
  g_libbpf_verbose = verbose;
  libbpf_set_print(libbpf_print);
}

std::string bpf_error_message(int err) {
  if (err < 0) err = -err;
  std::string msg = std::strerror(err);
  switch (err) {
    case EPERM:
    case EACCES:
      msg += " (need CAP_BPF and CAP_PERFMON, or run as root)";
      break;
    case ENOENT:
      msg += " (the kernel lacks this probe point or BTF for it)";
      break;
    case ENOTSUP:
    case EINVAL:
      msg += " (the kernel does not support this program or map type)";
      break;
    case E2BIG:
    case ENOSPC:
      msg += " (map is full: raise its size)";
      break;
    case ENOMEM:
      msg += " (out of memory or locked memory: check ulimit -l and the memory cgroup)";
      break;
    default:
      break;
  }
  return msg;
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + ts.tv_nsec;
}

bool lookup_percpu(int map_fd, const void* key, std::size_t value_size, std::vector<std::uint8_t>& out) {
  const int cpus = libbpf_num_possible_cpus();
  const std::size_t stride = (value_size + 7) & ~std::size_t{7};
  out.resize(stride * static_cast<std::size_t>(cpus > 0 ? cpus : 1));
  return bpf_map_lookup_elem(map_fd, key, out.data()) == 0;
}

ProgramStats program_stats(int prog_fd) {
  ProgramStats stats;
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return stats;
  stats.id = info.id;
  stats.name = info.name;
  stats.run_cnt = info.run_cnt;
  stats.run_time_ns = info.run_time_ns;
  stats.recursion_misses = info.recursion_misses;
  return stats;
}

std::vector<ProgramStats> program_stats_of(bpf_object* obj) {
  std::vector<ProgramStats> out;
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, obj) {
    const int fd = bpf_program__fd(p);
    if (fd >= 0) out.push_back(program_stats(fd));
  }
  return out;
}

namespace {

unsigned hz_from_config_line(const std::string& line) {
  if (line.rfind("CONFIG_HZ=", 0) != 0) return 0;
  return static_cast<unsigned>(std::strtoul(line.c_str() + 10, nullptr, 10));
}

std::uint64_t jiffies_now() {
  FILE* f = std::fopen("/proc/timer_list", "re");
  if (!f) return 0;
  char line[256];
  unsigned long long j = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "jiffies: %llu", &j) == 1) break;
  std::fclose(f);
  return j;
}

}  // namespace

std::string kernel_release() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "";
}

unsigned kernel_hz(std::string& source) {
  const std::string boot = "/boot/config-" + kernel_release();
  if (FILE* f = std::fopen(boot.c_str(), "re")) {
    char line[256];
    unsigned hz = 0;
    while (!hz && std::fgets(line, sizeof line, f)) hz = hz_from_config_line(line);
    std::fclose(f);
    if (hz) return source = boot, hz;
  }
  if (gzFile gz = gzopen("/proc/config.gz", "rb")) {
    char line[256];
    unsigned hz = 0;
    while (!hz && gzgets(gz, line, sizeof line)) hz = hz_from_config_line(line);
    gzclose(gz);
    if (hz) return source = "/proc/config.gz", hz;
  }
  // Count jiffies over 200 ms and round to the HZ values kernels are built with.
  const std::uint64_t t0 = monotonic_ns(), j0 = jiffies_now();
  if (j0) {
    usleep(200'000);
    const std::uint64_t t1 = monotonic_ns(), j1 = jiffies_now();
    const double measured = static_cast<double>(j1 - j0) * 1e9 / static_cast<double>(t1 - t0);
    unsigned best = 0;
    for (unsigned hz : {100u, 250u, 300u, 1000u})
      if (!best || std::abs(measured - hz) < std::abs(measured - best)) best = hz;
    if (std::abs(measured - best) < 0.1 * best) return source = "measured from /proc/timer_list", best;
  }
  source.clear();
  return 0;
}

bool kernel_has_btf_tracepoint(std::string_view tracepoint) {
  static btf* vmlinux = btf__load_vmlinux_btf();  // read once; the kernel's BTF does not change
  if (!vmlinux) return true;  // cannot tell: let the load decide
  const std::string name = "btf_trace_" + std::string(tracepoint);
  return btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_TYPEDEF) > 0;
}

void add_drop_counters(std::map<std::string, std::uint64_t>& out, int drops_fd,
                       std::initializer_list<const char*> names, const std::vector<ProgramStats>& programs) {
  std::uint32_t reason = 0;
  for (const char* name : names) out[name] = sum_percpu_u64(drops_fd, reason++);
  std::uint64_t misses = 0;
  for (const auto& p : programs) misses += p.recursion_misses;
  out["kernel_recursion_misses"] = misses;
}

std::uint64_t sum_percpu_u64(int map_fd, std::uint32_t key) {
  std::vector<std::uint8_t> buf;
  if (!lookup_percpu(map_fd, &key, sizeof(std::uint64_t), buf)) return 0;
  std::uint64_t total = 0;
  for (std::size_t off = 0; off + sizeof(std::uint64_t) <= buf.size(); off += sizeof(std::uint64_t)) {
    std::uint64_t v;
    std::memcpy(&v, buf.data() + off, sizeof v);
    total += v;
  }
  return total;
}

namespace detail {

void set_group_autoload(bpf_object* obj, const std::vector<ProgramGroup>& groups, const std::vector<bool>& enabled) {
  // Programs of no group (or of a group the caller left out) are not loaded.
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (const auto& name : groups[g].programs) {
      if (bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str()))
        bpf_program__set_autoload(p, enabled[g]);
    }
  }
}

Result<std::vector<bool>> plan_groups(const std::vector<ProgramGroup>& groups,
                                      const std::function<int(const std::vector<bool>&)>& try_load,
                                      std::vector<GroupOutcome>& outcomes) {
  // A group that fails is reported in the collector's status (and the verifier's log with -v):
  // do not flood stderr with libbpf's messages for every attempt.
  struct Quiet {
    Quiet() { ++g_libbpf_quiet; }
    ~Quiet() { --g_libbpf_quiet; }
  } quiet;
  outcomes.assign(groups.size(), {});
  std::vector<bool> enabled(groups.size(), true);
  // 1. Attach points the kernel does not have at all.
  for (std::size_t g = 0; g < groups.size(); ++g) {
    outcomes[g].name = groups[g].name;
    for (const auto& tp : groups[g].tracepoints) {
      if (kernel_has_btf_tracepoint(tp)) continue;
      enabled[g] = false;
      outcomes[g].why = "this kernel has no tracepoint " + tp;
      break;
    }
  }
  auto any = [&] {
    for (bool e : enabled)
      if (e) return true;
    return false;
  };
  // 2. Everything that is left, at once.
  int err = any() ? try_load(enabled) : -ENOENT;
  if (err != 0 && any()) {
    // 3. Find the groups that fail on their own.
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!enabled[g]) continue;
      std::vector<bool> alone(groups.size(), false);
      alone[g] = true;
      if (int e = try_load(alone); e != 0) {
        enabled[g] = false;
        outcomes[g].why = "loading failed: " + bpf_error_message(e);
      }
    }
    err = any() ? try_load(enabled) : err;
  }
  if (err != 0) {
    std::string why;
    for (const auto& o : outcomes)
      if (!o.why.empty()) why += (why.empty() ? "" : "; ") + o.name + ": " + o.why;
    return Error{"no program group could be loaded" + (why.empty() ? ": " + bpf_error_message(err) : " (" + why + ")")};
  }
  for (std::size_t g = 0; g < groups.size(); ++g) outcomes[g].loaded = enabled[g];
  return enabled;
}

}  // namespace detail

}  // namespace cgscope::collector
