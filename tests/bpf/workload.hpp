// Real workloads in real cgroups for the root tests: cgroups created under the host's
// hierarchies and removed afterwards, burner processes pinned to CPUs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collector/cgroupfs/hierarchy.hpp"
#include "model/result.hpp"

namespace cgscope::test {

// Why this process cannot run the root suites ("" when it can).
std::string bpf_test_prerequisites();

// A cgroup with the same relative path in the v2 hierarchy and, where mounted, the v1 cpu
// and cpuacct hierarchies (how systemd and docker lay them out on hybrid hosts).
class TestCgroup {
 public:
  static Result<std::unique_ptr<TestCgroup>> create(const collector::Hierarchy& h,
                                                    const std::string& relative_path);
  ~TestCgroup();  // moves remaining tasks to the root, removes the directories

  const std::string& path() const { return path_; }
  std::uint64_t v2_id() const;      // inode of the v2 directory (0 if no v2)
  std::uint64_t v1_cpu_id() const;  // inode of the v1 cpu directory (0 if none)
  bool has_v1_cpu() const { return !v1_cpu_dir_.empty(); }
  Status add(pid_t pid);
  // Writes a controller file in the v2 dir or the v1 cpu dir.
  Status write_v2(const std::string& file, const std::string& value);
  Status write_v1_cpu(const std::string& file, const std::string& value);
  // Kernel accounting, read directly (not through cgscope's parsers).
  std::uint64_t kernel_usage_ns() const;  // v1 cpuacct.usage, else v2 cpu.stat usage_usec*1000
  bool remove();  // rmdir now (tasks must be gone); true on success

 private:
  std::string path_, v2_dir_, v1_cpu_dir_, v1_cpuacct_dir_;
  bool removed_ = false;
};

enum class BurnKind { kSpin, kSleepy };  // sleepy: ~200 us of work, then sleep 1 ms

// A forked process with `threads` threads pinned to `cpu`, started after it joined its cgroup.
class Burner {
 public:
  static Result<std::unique_ptr<Burner>> start(TestCgroup& cgroup, int threads, int cpu,
                                               BurnKind kind = BurnKind::kSpin);
  ~Burner();  // SIGKILL + reap
  pid_t pid() const { return pid_; }
  void stop();

 private:
  pid_t pid_ = -1;
};

}  // namespace cgscope::test
