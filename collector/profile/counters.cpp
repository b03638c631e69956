#include "collector/profile/counters.hpp"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "collector/profile/cpu_list.hpp"

namespace cgscope::collector {
namespace {

constexpr std::uint64_t kHardwareEvents[] = {PERF_COUNT_HW_CPU_CYCLES, PERF_COUNT_HW_INSTRUCTIONS,
                                             PERF_COUNT_HW_CACHE_REFERENCES, PERF_COUNT_HW_CACHE_MISSES,
                                             PERF_COUNT_HW_BRANCH_MISSES};
constexpr const char* kHardwareNames[] = {"PERF_COUNT_HW_CPU_CYCLES", "PERF_COUNT_HW_INSTRUCTIONS",
                                          "PERF_COUNT_HW_CACHE_REFERENCES", "PERF_COUNT_HW_CACHE_MISSES",
                                          "PERF_COUNT_HW_BRANCH_MISSES"};
constexpr std::size_t kNrHardware = std::size(kHardwareEvents);

int open_counter(std::uint32_t type, std::uint64_t config, int cgroup_fd, int cpu, int group_fd) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config = config;
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  if (type == PERF_TYPE_HARDWARE && group_fd < 0) attr.read_format |= PERF_FORMAT_GROUP;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, cgroup_fd, cpu, group_fd,
                                  PERF_FLAG_PID_CGROUP | PERF_FLAG_FD_CLOEXEC));
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string pmus_present() {
  std::string out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/bus/event_source/devices", ec)) {
    if (!out.empty()) out += ", ";
    out += e.path().filename().string();
  }
  return out;
}

std::uint64_t scaled(std::uint64_t value, std::uint64_t enabled, std::uint64_t running) {
  if (running == 0) return 0;
  if (running >= enabled) return value;
  return static_cast<std::uint64_t>(static_cast<double>(value) * static_cast<double>(enabled) /
                                    static_cast<double>(running));
}

}  // namespace

std::string perf_event_cgroup_root(const Hierarchy& h) {
  const std::string v1 = h.v1_root("perf_event");
  return v1.empty() ? h.v2_root : v1;
}

std::string kernel_pmu_message() {
  const int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0);
  if (size <= 0) return {};
  std::string buf(static_cast<std::size_t>(size), '\0');
  const int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), size);
  if (n <= 0) return {};
  buf.resize(static_cast<std::size_t>(n));
  std::string out;
  std::istringstream lines(buf);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("Performance Events") == std::string::npos && line.find("PMU") == std::string::npos)
      continue;
    // Drop the "<6>[    0.264736] " prefix.
    if (const std::size_t close = line.find("] "); close != std::string::npos && close < 24)
      line = line.substr(close + 2);
    if (!out.empty()) out += " / ";
    out += line;
  }
  return out;
}

Result<std::unique_ptr<CgroupCounters>> CgroupCounters::create(const std::string& perf_event_root,
                                                               const std::vector<CounterTarget>& targets) {
  auto cpus = parse_cpu_list(read_file("/sys/devices/system/cpu/online"));
  if (!cpus) return Error{"counters: /sys/devices/system/cpu/online: " + cpus.error()};
  std::unique_ptr<CgroupCounters> c(new CgroupCounters());
  c->hardware_ = true;
  for (const CounterTarget& t : targets) {
    const std::string dir = perf_event_root + (t.path == "/" ? "" : t.path);
    const int cgroup_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd < 0) return Error{"counters: opening cgroup " + dir + ": " + std::strerror(errno)};
    // Owned by c from the start: an error below closes whatever was opened.
    c->targets_.push_back(Target{t, {}, {}});
    Target& target = c->targets_.back();
    for (int cpu : *cpus) {
      PerCpu pc;
      pc.task_clock_fd = open_counter(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, cgroup_fd, cpu, -1);
      if (pc.task_clock_fd < 0) {
        const int err = errno;
        close(cgroup_fd);
        return Error{
            "counters: perf_event_open(task-clock, cgroup " + dir + ", CPU " + std::to_string(cpu) + "): " +
            std::strerror(err) + (err == EACCES || err == EPERM ? " (needs CAP_PERFMON or root)" : "") +
            (err == EBADF || err == EINVAL ? " (is this the hierarchy with the perf_event controller?)"
                                           : "")};
      }
      if (c->hardware_) {
        pc.group_fd = open_counter(PERF_TYPE_HARDWARE, kHardwareEvents[0], cgroup_fd, cpu, -1);
        std::size_t failed = pc.group_fd < 0 ? 0 : kNrHardware;
        int err = errno;
        for (std::size_t i = 1; pc.group_fd >= 0 && i < kNrHardware; ++i) {
          const int fd = open_counter(PERF_TYPE_HARDWARE, kHardwareEvents[i], cgroup_fd, cpu, pc.group_fd);
          if (fd < 0) {
            err = errno;
            failed = i;
            break;
          }
          target.member_fds.push_back(fd);
        }
        if (failed < kNrHardware) {
          c->hardware_ = false;
          std::string why = err == ENOENT || err == EOPNOTSUPP ? "no hardware PMU: " : "";
          why += std::string("perf_event_open(") + kHardwareNames[failed] + "): " + std::strerror(err);
          if (const std::string k = kernel_pmu_message(); !k.empty()) why += "; kernel: '" + k + "'";
          why += "; PMUs present: " + pmus_present();
          c->hardware_reason_ = why;
          if (pc.group_fd >= 0) close(pc.group_fd);
          pc.group_fd = -1;
        }
      }
      target.cpus.push_back(pc);
    }
    close(cgroup_fd);
  }
  if (!c->hardware_) {
    // Close what earlier CPUs opened before a later one failed: all or nothing.
    for (auto& t : c->targets_) {
      for (int fd : t.member_fds) close(fd);
      t.member_fds.clear();
      for (auto& pc : t.cpus) {
        if (pc.group_fd >= 0) close(pc.group_fd);
        pc.group_fd = -1;
      }
    }
  }
  return c;
}

CgroupCounters::~CgroupCounters() {
  for (auto& t : targets_) {
    for (int fd : t.member_fds) close(fd);
    for (auto& pc : t.cpus) {
      if (pc.task_clock_fd >= 0) close(pc.task_clock_fd);
      if (pc.group_fd >= 0) close(pc.group_fd);
    }
  }
}

std::vector<CounterReading> CgroupCounters::read() const {
  std::vector<CounterReading> out;
  for (const auto& t : targets_) {
    CounterReading r{t.target.cgroup_id, t.target.path, {}};
    double enabled_sum = 0, running_sum = 0;
    for (const auto& pc : t.cpus) {
      std::uint64_t v[3] = {};  // value, time_enabled, time_running
      if (::read(pc.task_clock_fd, v, sizeof v) == sizeof v)
        r.values.task_clock_ns += scaled(v[0], v[1], v[2]);
      if (pc.group_fd < 0) continue;
      std::uint64_t g[3 + kNrHardware] = {};  // nr, time_enabled, time_running, values...
      if (::read(pc.group_fd, g, sizeof g) != static_cast<ssize_t>(sizeof g) || g[0] != kNrHardware) continue;
      r.values.hardware = true;
      enabled_sum += static_cast<double>(g[1]);
      running_sum += static_cast<double>(g[2]);
      std::uint64_t* fields[] = {&r.values.cycles, &r.values.instructions, &r.values.cache_references,
                                 &r.values.cache_misses, &r.values.branch_misses};
      for (std::size_t i = 0; i < kNrHardware; ++i) *fields[i] += scaled(g[3 + i], g[1], g[2]);
    }
    r.values.hardware_running_fraction = enabled_sum > 0 ? running_sum / enabled_sum : 0;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cgscope::collector
