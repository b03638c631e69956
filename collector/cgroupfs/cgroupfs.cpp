#include "collector/cgroupfs/cgroupfs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "collector/cgroupfs/parse.hpp"
#include "model/cgroup_identity.hpp"

namespace cgscope::collector {
namespace {

enum class ReadStatus { kOk, kMissing, kError };

// Reads a small cgroupfs file. Missing (ENOENT on open) is normal: not every controller or
// kernel has every file. Vanishing or failing mid-read is an error the caller counts.
ReadStatus read_small_file(const std::string& path, std::string& out, int& err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    return (errno == ENOENT || errno == ENOTDIR) ? ReadStatus::kMissing : ReadStatus::kError;
  }
  out.clear();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      ::close(fd);
      return ReadStatus::kError;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ReadStatus::kOk;
}

std::string join(const std::string& root, const std::string& rel) {
  return rel == "/" ? root : root + rel;
}

}  // namespace

Cgroupfs::Cgroupfs(CgroupfsOptions options) : options_(std::move(options)) {}

Result<ScanResult> Cgroupfs::scan() {
  const Hierarchy& h = options_.hierarchy;
  const bool v2 = !h.v2_root.empty();
  const std::string root = v2 ? h.v2_root : h.v1_root("cpu");
  if (root.empty()) return Error{"no cgroup hierarchy to scan: neither cgroup2 nor the v1 cpu controller is mounted"};
  struct stat root_st{};
  if (::stat(root.c_str(), &root_st) != 0)
    return Error{"cannot stat cgroup root " + root + ": " + std::strerror(errno)};

  ScanResult result;
  // Iterative walk; a directory that vanishes mid-walk is simply skipped.
  std::vector<std::pair<std::string, int>> stack{{"/", 0}};
  while (!stack.empty()) {
    auto [rel, depth] = std::move(stack.back());
    stack.pop_back();
    const std::string dir = join(root, rel);
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT) ++read_errors_, last_error_ = dir + ": " + std::strerror(errno);
      continue;
    }
    model::CgroupIdentity id;
    id.id = st.st_ino;
    id.path = rel;
    id.container = model::parse_container_identity(rel);
    result.cgroups.push_back(std::move(id));
    if (depth >= options_.max_depth) continue;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno != ENOENT) ++read_errors_, last_error_ = dir + ": " + std::strerror(errno);
      continue;
    }
    while (dirent* e = ::readdir(d)) {
      if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
      stack.emplace_back(rel == "/" ? "/" + std::string(e->d_name) : rel + "/" + e->d_name, depth + 1);
    }
    ::closedir(d);
  }
  std::sort(result.cgroups.begin(), result.cgroups.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });  // "/" sorts first

  // v1 paths of each cgroup (hybrid: same relative path, else where a member task is).
  struct V1 {
    const char* controller;
    std::string model::CgroupIdentity::*path;
    std::string root;
  };
  std::vector<V1> v1s;
  for (auto [controller, member] : {std::pair{"cpu", &model::CgroupIdentity::v1_cpu_path},
                                    std::pair{"cpuacct", &model::CgroupIdentity::v1_cpuacct_path},
                                    std::pair{"memory", &model::CgroupIdentity::v1_memory_path},
                                    std::pair{"blkio", &model::CgroupIdentity::v1_blkio_path}}) {
    if (auto r = h.v1_root(controller); !r.empty()) v1s.push_back({controller, member, r});
  }
  for (auto& id : result.cgroups) {
    if (v1s.empty()) break;
    auto known = known_.find(id.id);
    if (v2 && known != known_.end() && known->second.path == id.path) {
      bool all = true;
      for (const auto& v : v1s) all = all && !(known->second.*v.path).empty();
      if (all) {  // resolved before: keep (cheap rescans)
        for (const auto& v : v1s) id.*v.path = known->second.*v.path;
        continue;
      }
    }
    bool missing = false;
    for (const auto& v : v1s) {
      if (!v2 || ::access(join(v.root, id.path).c_str(), F_OK) == 0) id.*v.path = id.path;
      else missing = true;
    }
    if (!v2 || !missing) continue;
    // Not laid out with the same path: ask a member task where it is.
    std::string procs, content;
    int err = 0;
    if (read_small_file(join(h.v2_root, id.path) + "/cgroup.procs", procs, err) != ReadStatus::kOk) continue;
    const std::string pid = procs.substr(0, procs.find('\n'));
    if (pid.empty()) continue;
    if (read_small_file(options_.proc_root + "/" + pid + "/cgroup", content, err) != ReadStatus::kOk) continue;
    auto map = parse_proc_cgroup(content);
    if (!map) continue;
    for (const auto& v : v1s) {
      if ((id.*v.path).empty() && map->count(v.controller)) id.*v.path = map->at(v.controller);
    }
  }

  // Added / removed since the previous scan. An id seen again under another path is a new
  // cgroup (cgroupfs does not reuse ids, but other filesystems reuse inode numbers).
  std::map<std::uint64_t, model::CgroupIdentity> now;
  for (const auto& id : result.cgroups) {
    auto it = known_.find(id.id);
    if (it == known_.end() || it->second.path != id.path) result.added.push_back(id.id);
    now.emplace(id.id, id);
  }
  for (auto& [inode, id] : known_) {
    auto it = now.find(inode);
    if (it == now.end() || it->second.path != id.path) result.removed.push_back(std::move(id));
  }
  known_ = std::move(now);
  return result;
}

bool Cgroupfs::read_file(const std::string& path, std::string& content) {
  int err = 0;
  switch (read_small_file(path, content, err)) {
    case ReadStatus::kOk: return true;
    case ReadStatus::kMissing: return false;
    case ReadStatus::kError:
      ++read_errors_;
      last_error_ = path + ": " + std::strerror(err);
      return false;
  }
  return false;
}

void Cgroupfs::parse_error(const std::string& path, const std::string& why) {
  ++parse_errors_;
  last_error_ = path + ": " + why;
}

std::string Cgroupfs::v2_dir(const model::CgroupIdentity& id) const {
  const auto& root = options_.hierarchy.v2_root;
  return root.empty() || id.path.empty() ? std::string{} : join(root, id.path);
}

std::string Cgroupfs::v1_dir(std::string_view controller, const std::string& v1_path) const {
  const auto root = options_.hierarchy.v1_root(controller);
  return root.empty() || v1_path.empty() ? std::string{} : join(root, v1_path);
}

void Cgroupfs::read_cpu(model::CgroupSample& sample, DemandFiles* demand) {
  const Hierarchy& h = options_.hierarchy;
  const auto& id = sample.identity;
  std::string content;
  DemandFiles quota_files;  // where the quota in effect was read (v1 overrides v2, as below)
  bool quota_from_v2 = false;

  // Reads `file`; on garbage or a vanished file counts it and returns false.
  auto read = [&](const std::string& path) -> bool {
    int err = 0;
    switch (read_small_file(path, content, err)) {
      case ReadStatus::kOk: return true;
      case ReadStatus::kMissing: return false;
      case ReadStatus::kError:
        ++read_errors_;
        last_error_ = path + ": " + std::strerror(err);
        return false;
    }
    return false;
  };
  auto parse_failed = [&](const std::string& path, const std::string& why) {
    ++parse_errors_;
    last_error_ = path + ": " + why;
  };
  auto read_u64 = [&](const std::string& path) -> std::optional<std::uint64_t> {
    if (!read(path)) return std::nullopt;
    auto v = parse_u64_file(content);
    if (!v) return parse_failed(path, v.error()), std::nullopt;
    return *v;
  };

  const bool has_v2 = !h.v2_root.empty();
  const std::string v2_dir = has_v2 ? join(h.v2_root, id.path) : "";
  if (has_v2) {
    if (const auto path = v2_dir + "/cpu.stat"; read(path)) {
      auto st = parse_cpu_stat_v2(content);
      if (st) sample.cpu_stat = *st;
      else parse_failed(path, st.error());
    }
    if (const auto path = v2_dir + "/cpu.max"; read(path)) {
      auto m = parse_cpu_max(content);
      if (m) {
        sample.cpu_knobs.quota_usec = m->quota_usec;
        sample.cpu_knobs.period_usec = m->period_usec;
        sample.cpu_knobs.quota_known = true;
        quota_files = {.cpu_stat = v2_dir + "/cpu.stat", .cpuacct_usage = ""};
        quota_from_v2 = true;
      } else {
        parse_failed(path, m.error());
      }
    }
    if (auto w = read_u64(v2_dir + "/cpu.weight")) sample.cpu_knobs.weight = w;
    if (const auto path = v2_dir + "/cpuset.cpus.effective"; read(path)) {
      auto n = count_cpu_list(content);
      if (n) sample.cpu_knobs.cpuset_cpus = std::string(content.substr(0, content.find('\n')));
      else parse_failed(path, n.error());
    }
    std::string pressure = v2_dir + "/cpu.pressure";
    if (id.path == "/" && ::access(pressure.c_str(), F_OK) != 0) pressure = options_.proc_root + "/pressure/cpu";
    if (read(pressure)) {
      auto p = parse_pressure(content);
      if (p) sample.cpu_pressure = *p;
      else parse_failed(pressure, p.error());
    }
  }

  // v1 controllers (hybrid and v1 hosts): throttling, quota and shares live here.
  const std::string cpu_root = h.v1_root("cpu"), acct_root = h.v1_root("cpuacct");
  if (!cpu_root.empty() && !id.v1_cpu_path.empty()) {
    const std::string dir = join(cpu_root, id.v1_cpu_path);
    if (const auto path = dir + "/cpu.stat"; read(path)) {
      auto st = parse_cpu_stat_v1(content);
      if (st) {
        sample.cpu_stat.nr_periods = st->nr_periods;
        sample.cpu_stat.nr_throttled = st->nr_throttled;
        sample.cpu_stat.throttled_usec = st->throttled_usec;
      } else {
        parse_failed(path, st.error());
      }
    }
    if (const auto path = dir + "/cpu.cfs_quota_us"; read(path)) {
      auto q = parse_i64_file(content);
      if (q) {
        sample.cpu_knobs.quota_known = true;
        sample.cpu_knobs.quota_usec = *q > 0 ? std::optional<std::int64_t>(*q) : std::nullopt;
        // Usage from the v1 cpuacct controller (the same tasks as the quota), not from v2.
        quota_from_v2 = false;
        quota_files = {.cpu_stat = dir + "/cpu.stat",
                       .cpuacct_usage = acct_root.empty() || id.v1_cpuacct_path.empty()
                                            ? std::string()
                                            : join(acct_root, id.v1_cpuacct_path) + "/cpuacct.usage"};
      } else {
        parse_failed(path, q.error());
      }
    }
    if (auto p = read_u64(dir + "/cpu.cfs_period_us")) sample.cpu_knobs.period_usec = p;
    if (auto s = read_u64(dir + "/cpu.shares")) sample.cpu_knobs.shares = s;
  }
  if (!acct_root.empty() && !id.v1_cpuacct_path.empty()) {
    const std::string dir = join(acct_root, id.v1_cpuacct_path);
    // v2 usage wins where present (same kernel accounting); v1 fills what v2 lacks.
    if (!sample.cpu_stat.usage_usec) {
      if (auto ns = read_u64(dir + "/cpuacct.usage")) sample.cpu_stat.usage_usec = *ns / 1000;
    }
    if (!sample.cpu_stat.user_usec) {
      if (const auto path = dir + "/cpuacct.stat"; read(path)) {
        auto st = parse_cpuacct_stat_v1(content, options_.user_hz);
        if (st) {
          sample.cpu_stat.user_usec = st->user_usec;
          sample.cpu_stat.system_usec = st->system_usec;
        } else {
          parse_failed(path, st.error());
        }
      }
    }
  }
  // A v1 quota without a cpuacct hierarchy has no usage to sample: left out.
  if (demand && sample.cpu_knobs.quota_usec && (quota_from_v2 || quota_files.v1()))
    *demand = std::move(quota_files);
  const std::string cpuset_root = h.v1_root("cpuset");
  if (sample.cpu_knobs.cpuset_cpus.empty() && !cpuset_root.empty()) {
    const std::string path = join(cpuset_root, id.path) + "/cpuset.effective_cpus";
    if (read(path)) {
      auto n = count_cpu_list(content);
      if (n) sample.cpu_knobs.cpuset_cpus = std::string(content.substr(0, content.find('\n')));
      else parse_failed(path, n.error());
    }
  }
}

}  // namespace cgscope::collector
