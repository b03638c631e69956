// The cgroupfs source: which cgroups exist (tracking creation and removal between scans) and
// their CPU statistics, knobs and pressure, read from v2 and/or v1 files depending on layout.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collector/cgroupfs/demand_sampler.hpp"
#include "collector/cgroupfs/hierarchy.hpp"
#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::collector {

struct CgroupfsOptions {
  Hierarchy hierarchy;
  long user_hz = 100;      // sysconf(_SC_CLK_TCK) on the live host
  int max_depth = 32;      // directory levels below the root to walk
  std::string proc_root = "/proc";  // for /proc/PID/cgroup lookups (fixtures override it)
};

struct ScanResult {
  std::vector<model::CgroupIdentity> cgroups;  // every cgroup now, root first, sorted by path
  std::vector<std::uint64_t> added;            // ids that were not there at the previous scan
  std::vector<model::CgroupIdentity> removed;  // present at the previous scan, gone now
};

class Cgroupfs {
 public:
  explicit Cgroupfs(CgroupfsOptions options);

  const CgroupfsOptions& options() const { return options_; }

  // Walks the hierarchy that identifies cgroups: the v2 root when there is one (pure v2 and
  // hybrid), else the v1 cpu hierarchy. id = inode of the directory; container identity is
  // parsed from the path. On hybrid/v1 hosts v1_cpu_path / v1_cpuacct_path are resolved: the
  // same relative path when it exists there, else the v1 cgroup of a member task
  // (/proc/PID/cgroup of the first pid in cgroup.procs), else "".
  // A directory that vanishes during the walk is skipped, not an error.
  Result<ScanResult> scan();

  // Reads cpu.stat / cpuacct.* / cpu.max / cfs_quota+period / cpu.weight / cpu.shares /
  // cpuset.cpus.effective (or cpuset.cpus) / cpu.pressure for one cgroup into `sample`.
  // Missing files leave fields unset (normal: v2 has no cpu.max without the cpu controller).
  // A file that vanished (cgroup removed) or has garbage content is counted in
  // `read_errors` / `parse_errors` and the last message kept in `last_error`, never thrown.
  // With `demand`: when the cgroup has a CPU quota, the files its CPU demand is sampled from,
  // in the hierarchy the quota was read from (left empty without a quota).
  void read_cpu(model::CgroupSample& sample, DemandFiles* demand = nullptr);

  // io.stat / blkio.throttle.io_service_bytes+io_serviced (hierarchical), io.max /
  // blkio.throttle.*_device, io.weight / io.bfq.weight / blkio(.bfq).weight, io.pressure.
  void read_io(model::CgroupSample& sample);
  // memory.current/peak/max/high/low/min/swap.max, memory.stat, memory.events and
  // memory.pressure (v2); memory.usage_in_bytes/max_usage_in_bytes/limit_in_bytes/
  // soft_limit_in_bytes, memory.stat (total_* keys), memory.oom_control, memory.failcnt (v1).
  void read_memory(model::CgroupSample& sample);

  std::uint64_t read_errors() const { return read_errors_; }
  std::uint64_t parse_errors() const { return parse_errors_; }
  const std::string& last_error() const { return last_error_; }

 private:
  // Reads a small file: true with its content; false when missing (normal: not every
  // controller or kernel has every file) or failed (counted in read_errors).
  bool read_file(const std::string& path, std::string& content);
  void parse_error(const std::string& path, const std::string& why);
  // The v2 directory of a cgroup ("" without v2) and a v1 controller's directory ("" if none).
  std::string v2_dir(const model::CgroupIdentity& id) const;
  std::string v1_dir(std::string_view controller, const std::string& v1_path) const;

  CgroupfsOptions options_;
  std::map<std::uint64_t, model::CgroupIdentity> known_;
  std::uint64_t read_errors_ = 0;
  std::uint64_t parse_errors_ = 0;
  std::string last_error_;
};

}  // namespace cgscope::collector
