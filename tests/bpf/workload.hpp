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
// and cpuacct hierarchies (how systemd and docker lay them out on hybrid hosts). The path is
// relative to each mount and starts with '/' ("/cgscope-test-PID/a"); create() refuses one
// without it, the root cgroup and '.'/'..' components.
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
  // A file of a v1 controller's directory ("memory", "blkio", ...) of this cgroup.
  Status write_v1(const std::string& controller, const std::string& file, const std::string& value);
  bool has_v1(const std::string& controller) const;
  // Limits memory: v1 memory.limit_in_bytes where the memory controller is v1 (hybrid), else
  // v2 memory.max (enabling the controller in the parents' subtree_control).
  Status limit_memory(std::uint64_t bytes);
  // Kernel accounting, read directly (not through cgscope's parsers).
  std::uint64_t kernel_usage_ns() const;  // v1 cpuacct.usage, else v2 cpu.stat usage_usec*1000
  bool remove();  // rmdir now (tasks must be gone); true on success

 private:
  std::string path_, v2_dir_, v1_cpu_dir_, v1_cpuacct_dir_, v1_memory_dir_, v1_blkio_dir_;
  std::string v2_root_;
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

// Runs a command to completion inside a cgroup (it joins before exec) and returns its exit
// status; stdout goes to `out` when given, stderr to the test's stderr.
struct RunResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
};
Result<RunResult> run_in(TestCgroup& cgroup, const std::vector<std::string>& argv);
// The same, started in the background; wait() reaps it.
class Child {
 public:
  static Result<std::unique_ptr<Child>> start(TestCgroup& cgroup, const std::vector<std::string>& argv);
  ~Child();  // SIGKILL + reap if still running
  RunResult wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

// Runs `fn` in a forked child inside a cgroup; returns its exit code (128 + signal if killed).
Result<int> run_function_in(TestCgroup& cgroup, int (*fn)(const std::string& arg), const std::string& arg);

// A file of `bytes` random-ish bytes under /var/tmp (the root disk, not tmpfs), written by the
// test process and fsynced; removed when destroyed.
class TempFile {
 public:
  static Result<std::unique_ptr<TempFile>> create(const std::string& name, std::uint64_t bytes);
  ~TempFile();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes a sysctl (/proc/sys/...) and restores the old value when destroyed.
class ScopedSysctl {
 public:
  ScopedSysctl(std::string path, const std::string& value);
  ~ScopedSysctl();
  bool ok() const { return ok_; }

 private:
  std::string path_, old_;
  bool ok_ = false;
};

// Drops clean page cache, dentries and inodes (echo 3 > /proc/sys/vm/drop_caches) after sync.
void drop_caches();

}  // namespace cgscope::test
