#include "collector/bpf_util.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <sys/capability.h>
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
#include <string_view>
#include <vector>

#include "collector/cgroupfs/parse_util.hpp"

namespace cgscope::collector {
namespace {

bool g_libbpf_verbose = false;  // libbpf's print callback has no user pointer
int g_libbpf_quiet = 0;         // > 0 while probing loads whose failures are reported otherwise
thread_local LoadLog* g_load_log = nullptr;  // the innermost LoadLog of this thread

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (g_load_log && level != LIBBPF_DEBUG) {
    va_list copy;
    va_copy(copy, args);
    char buf[4096];
    const int n = std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    if (n > 0 && static_cast<std::size_t>(n) < sizeof buf) {
      g_load_log->append(buf);
    } else if (n > 0) {  // a whole verifier log: format it again at its size
      std::vector<char> big(static_cast<std::size_t>(n) + 1);
      va_copy(copy, args);
      std::vsnprintf(big.data(), big.size(), format, copy);
      va_end(copy);
      g_load_log->append(big.data());
    }
  }
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

bool has_bpf_capabilities(std::string* missing) {
  cap_t caps = cap_get_proc();
  if (!caps) return true;  // cannot tell: do not blame capabilities
  auto has = [&](cap_value_t c) {
    cap_flag_value_t v = CAP_CLEAR;
    return cap_get_flag(caps, c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
  };
  const bool admin = has(CAP_SYS_ADMIN), bpf = has(CAP_BPF), perfmon = has(CAP_PERFMON);
  cap_free(caps);
  if (admin || (bpf && perfmon)) return true;
  if (missing) {
    missing->clear();
    if (!bpf) *missing += "CAP_BPF";
    if (!perfmon) *missing += std::string(missing->empty() ? "" : " and ") + "CAP_PERFMON";
  }
  return false;
}

std::string bpf_error_message(int err) {
  if (err < 0) err = -err;
  std::string msg = std::strerror(err);
  switch (err) {
    case EPERM:
    case EACCES: {
      std::string missing;
      if (!has_bpf_capabilities(&missing))
        msg += " (cgscope lacks " + missing + ": need CAP_BPF and CAP_PERFMON, or run as root)";
      else
        msg += " (the kernel refused although cgscope holds CAP_BPF and CAP_PERFMON: this kernel may not "
               "support this kind of program, e.g. fentry/fexit without BPF trampolines, or lockdown or a "
               "security module such as SELinux forbids it; see dmesg)";
      break;
    }
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

LoadLog::LoadLog() : outer_(g_load_log) {
  libbpf_set_print(libbpf_print);  // what libbpf says reaches us even if nobody set it up
  g_load_log = this;
}

LoadLog::~LoadLog() {
  g_load_log = outer_;
  if (outer_) outer_->append(text_.c_str());
}

void LoadLog::append(const char* text) {
  // Bounded: a verifier log of a large program can be megabytes; its end says why.
  constexpr std::size_t kMax = 1 << 20;
  text_ += text;
  if (text_.size() > kMax) text_.erase(0, text_.size() - kMax);
}

std::string LoadLog::explain(int err) const {
  std::string missing;
  const bool caps = has_bpf_capabilities(&missing);
  return explain_load_failure(err, text_, kernel_release(), caps, missing);
}

namespace {

// The non-empty lines of libbpf's messages, without their surrounding blanks.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  (void)parse_detail::for_each_line(text, [&](int, std::string_view line) {
    out.push_back(line);
    return Status{};
  });
  return out;
}

// "prog 'NAME': ..." in a libbpf message: NAME, else "".
std::string program_named_in(std::string_view line) {
  const std::size_t at = line.find("prog '");
  if (at == std::string_view::npos) return "";
  const std::size_t start = at + 6, end = line.find('\'', start);
  return end == std::string_view::npos ? "" : std::string(line.substr(start, end - start));
}

}  // namespace

std::string explain_load_failure(int err, const std::string& libbpf_log, const std::string& kernel,
                                 bool have_capabilities, const std::string& missing_capabilities) {
  const std::string on = " on " + (kernel.empty() ? std::string("this kernel") : kernel);
  const std::string what_to_do =
      "; cgscope goes on without these programs (-v prints the kernel's whole verdict: please report it "
      "with the kernel version)";
  const auto lines = lines_of(libbpf_log);
  // 1. The verifier's verdict: the last log libbpf printed, whose last lines are the reason
  //    followed by the verifier's statistics.
  std::size_t begin = std::string_view::npos, end = lines.size();
  for (std::size_t i = lines.size(); i-- > 0;) {
    if (lines[i].find("-- END PROG LOAD LOG --") != std::string_view::npos) end = i;
    if (lines[i].find("-- BEGIN PROG LOAD LOG --") != std::string_view::npos) {
      begin = i;
      break;
    }
  }
  if (begin != std::string_view::npos) {
    const std::string program = program_named_in(lines[begin]);
    std::string_view verdict, source;
    std::size_t i = end;
    while (i-- > begin + 1) {
      const std::string_view l = lines[i];
      if (l.starts_with("processed ") || l.starts_with("verification time") ||
          l.starts_with("stack depth") || l.starts_with("libbpf:"))
        continue;
      verdict = l;
      break;
    }
    while (i-- > begin + 1) {
      const std::string_view l = lines[i];
      if (l.starts_with("; ")) {
        source = parse_detail::trim(l.substr(2));
        break;
      }
    }
    const std::string name = program.empty() ? "a program" : "program " + program;
    if (verdict.find("CO-RE relocation") != std::string_view::npos)
      return name + " does not fit the kernel's data structures" + on + ": " + std::string(verdict) + what_to_do;
    if (!verdict.empty()) {
      std::string msg = "the kernel's verifier rejected " + name + on + ": " + std::string(verdict);
      if (!source.empty()) msg += " (at `" + std::string(source) + "`)";
      return msg + what_to_do;
    }
  }
  // 2. A CO-RE relocation libbpf could not resolve before loading.
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view l = lines[i];
    if (l.find("relo #") == std::string_view::npos ||
        (l.find("failed") == std::string_view::npos && l.find("no matching") == std::string_view::npos))
      continue;
    std::string spec;
    for (std::size_t j = i; j-- > 0 && spec.empty();) {
      const std::size_t at = lines[j].find("spec is ");
      if (at != std::string_view::npos && program_named_in(lines[j]) == program_named_in(l))
        spec = std::string(parse_detail::trim(lines[j].substr(at + 8)));
    }
    const std::string program = program_named_in(l);
    return (program.empty() ? "a program" : "program " + program) + " does not fit the kernel's data structures" + on +
           ": " + (spec.empty() ? std::string(l) : "CO-RE relocation of " + spec + " failed") + what_to_do;
  }
  // 3. Nothing to attach to: libbpf found no BTF for a program's tracepoint or function.
  for (const std::string_view l : lines) {
    const std::size_t at = l.find("failed to find kernel BTF type ID of '");
    if (at == std::string_view::npos) continue;
    const std::size_t start = at + 38, end_q = l.find('\'', start);
    const std::string target(l.substr(start, end_q == std::string_view::npos ? 0 : end_q - start));
    const std::string program = program_named_in(l);
    return "this kernel" + (kernel.empty() ? std::string() : " (" + kernel + ")") + " has no tracepoint or function " +
           target + " for program " + (program.empty() ? target : program);
  }
  // 4. Refused without a verdict: a capability, lockdown or a security module.
  if (err < 0) err = -err;
  if ((err == EPERM || err == EACCES) && !have_capabilities)
    return std::string(std::strerror(err)) + " (cgscope lacks " + missing_capabilities +
           ": need CAP_BPF and CAP_PERFMON, or run as root)";
  return bpf_error_message(err);
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

namespace {

btf* vmlinux_btf() {
  static btf* vmlinux = btf__load_vmlinux_btf();  // read once; the kernel's BTF does not change
  return vmlinux;
}

}  // namespace

bool kernel_has_btf_tracepoint(std::string_view tracepoint) {
  if (!vmlinux_btf()) return true;  // cannot tell: let the load decide
  const std::size_t colon = tracepoint.find(':');
  if (colon != std::string_view::npos) {
    // A module's tracepoint: its BTF is split on vmlinux's, read now (the module may have been
    // loaded or replaced since the last look).
    const std::string path = "/sys/kernel/btf/" + std::string(tracepoint.substr(0, colon));
    btf* module = btf__parse_split(path.c_str(), vmlinux_btf());
    if (!module) return true;  // module not loaded, or no BTF: the load says which
    const std::string name = "btf_trace_" + std::string(tracepoint.substr(colon + 1));
    const bool found = btf__find_by_name_kind(module, name.c_str(), BTF_KIND_TYPEDEF) > 0;
    btf__free(module);
    return found;
  }
  const std::string name = "btf_trace_" + std::string(tracepoint);
  return btf__find_by_name_kind(vmlinux_btf(), name.c_str(), BTF_KIND_TYPEDEF) > 0;
}

bool kernel_has_btf_function(std::string_view function) {
  if (!vmlinux_btf()) return true;
  return btf__find_by_name_kind(vmlinux_btf(), std::string(function).c_str(), BTF_KIND_FUNC) > 0;
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
    if (!enabled[g]) continue;  // a program in two groups loads when either does
    for (const auto& name : groups[g].programs) {
      if (bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str())) bpf_program__set_autoload(p, true);
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
      outcomes[g].why = "this kernel has no tracepoint " + tp.substr(tp.find(':') + 1);
      break;
    }
    for (const auto& fn : groups[g].functions) {
      if (!enabled[g] || kernel_has_btf_function(fn)) continue;
      enabled[g] = false;
      outcomes[g].why = "this kernel has no function " + fn + " in its BTF";
    }
  }
  auto any = [&] {
    for (bool e : enabled)
      if (e) return true;
    return false;
  };
  // 2. Everything that is left, at once.
  LoadLog log;
  int err = any() ? try_load(enabled) : -ENOENT;
  if (err != 0 && any()) {
    // 3. Find the groups that fail on their own.
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!enabled[g]) continue;
      std::vector<bool> alone(groups.size(), false);
      alone[g] = true;
      log.clear();
      if (int e = try_load(alone); e != 0) {
        enabled[g] = false;
        outcomes[g].why = "loading failed: " + log.explain(e);
      }
    }
    log.clear();
    err = any() ? try_load(enabled) : err;
  }
  if (err != 0) {
    std::string why;
    for (const auto& o : outcomes)
      if (!o.why.empty()) why += (why.empty() ? "" : "; ") + o.name + ": " + o.why;
    return Error{"no program group could be loaded" + (why.empty() ? ": " + log.explain(err) : " (" + why + ")")};
  }
  for (std::size_t g = 0; g < groups.size(); ++g) outcomes[g].loaded = enabled[g];
  return enabled;
}

}  // namespace detail

}  // namespace cgscope::collector
