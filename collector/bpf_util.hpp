// Small helpers around libbpf shared by the eBPF collectors.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.hpp"

namespace cgscope::collector {

// Routes libbpf's messages: warnings to stderr always, debug output only when verbose.
void setup_libbpf_logging(bool verbose);

// "Operation not permitted (need CAP_BPF and CAP_PERFMON, or run as root)" for a negative
// libbpf/kernel error code; adds what to do for the errors users meet. EPERM/EACCES name the
// capabilities only when the process lacks them.
std::string bpf_error_message(int err);

// Does the process hold what loading tracing programs needs (CAP_BPF and CAP_PERFMON, or
// CAP_SYS_ADMIN) in its effective set? `missing` lists what it lacks otherwise.
bool has_bpf_capabilities(std::string* missing = nullptr);

// What libbpf says on this thread while the object lives (still printed as before), to tell why
// a load failed: the verifier's verdict, a CO-RE relocation that does not fit the kernel, or a
// missing capability. Nests: an inner log sees only what happens while it lives.
class LoadLog {
 public:
  LoadLog();
  ~LoadLog();
  LoadLog(const LoadLog&) = delete;
  LoadLog& operator=(const LoadLog&) = delete;

  // Forgets what was said so far (before the next attempt).
  void clear() { text_.clear(); }
  const std::string& text() const { return text_; }
  // Why a load that returned `err` failed, e.g. "the kernel's verifier rejected program
  // nfs_revalidate_inode_exit on 6.12.118+deb12-amd64: R8 invalid mem access
  // 'trusted_ptr_or_null_' (at `return inode->i_sb->s_dev;`) ...".
  std::string explain(int err) const;

  void append(const char* text);  // for libbpf's print callback

 private:
  std::string text_;
  LoadLog* outer_;
};

// The explanation of a failed load from libbpf's messages (pure: tests feed it logs).
std::string explain_load_failure(int err, const std::string& libbpf_log, const std::string& kernel,
                                 bool have_capabilities, const std::string& missing_capabilities);

// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns().
std::uint64_t monotonic_ns();

// Reads a per-CPU map value into `out` (resized to possible CPUs x value size, 8-aligned).
// Returns false if the key is absent.
bool lookup_percpu(int map_fd, const void* key, std::size_t value_size, std::vector<std::uint8_t>& out);

// Kernel statistics of one loaded program (run_cnt/run_time_ns need kernel.bpf_stats_enabled).
struct ProgramStats {
  std::uint32_t id = 0;
  std::string name;
  std::uint64_t run_cnt = 0;
  std::uint64_t run_time_ns = 0;
  std::uint64_t recursion_misses = 0;  // events the kernel skipped because the program nested
};
ProgramStats program_stats(int prog_fd);
// The stats of every loaded program of an object (programs left out of the load are skipped).
std::vector<ProgramStats> program_stats_of(bpf_object* obj);

// Does the running kernel have this tracepoint with BTF (typedef btf_trace_<name> in
// /sys/kernel/btf/vmlinux; "module:name" looks in /sys/kernel/btf/module), i.e. can a tp_btf
// program attach to it? True when it cannot tell (no BTF, module not loaded).
bool kernel_has_btf_tracepoint(std::string_view tracepoint);
// Does the running kernel's BTF describe this function (a target fentry/fexit could attach to)?
bool kernel_has_btf_function(std::string_view function);
// The running kernel's release (uname -r), "" if uname fails.
std::string kernel_release();
// The kernel's HZ (jiffies per second): CONFIG_HZ from /boot/config-$(uname -r) or
// /proc/config.gz, else measured from the jiffies counter in /proc/timer_list (root), else 0.
// `source` says which ("" when unknown).
unsigned kernel_hz(std::string& source);

// Sums the per-CPU copies of a u64 counter array element (a `drops` map), 0 if absent.
std::uint64_t sum_percpu_u64(int map_fd, std::uint32_t key);
// A collector's drop counters into `out`: element i of its per-CPU u64 `drops` array as
// names[i], summed over CPUs, and kernel_recursion_misses (events the kernel skipped because
// one of `programs` nested).
void add_drop_counters(std::map<std::string, std::uint64_t>& out, int drops_fd,
                       std::initializer_list<const char*> names, const std::vector<ProgramStats>& programs);

// Programs of a collector that attach to one kernel feature, which a kernel may lack.
struct ProgramGroup {
  std::string name;                   // "block", "writeback", ... (shown to users)
  std::vector<std::string> programs;     // program names in the BPF object
  std::vector<std::string> tracepoints;  // their tp_btf targets, looked up in the kernel's BTF
  std::vector<std::string> functions;    // their fentry/fexit targets, looked up likewise
};
struct GroupOutcome {
  std::string name;
  bool loaded = false;
  std::string why;  // why not, and what it costs the user
};

// Opens, configures and loads a skeleton with every group the kernel supports: groups whose
// tp_btf targets the kernel's BTF lacks are left out; if the load still fails, each group is
// tried alone, and the ones that fail on their own (verifier, CO-RE) are left out too. Fails
// only when no group loads. Programs of no group are not loaded. `open` opens the skeleton
// and sets rodata and map sizes.
template <typename Skel>
struct SkeletonOps {
  std::function<Skel*()> open;
  std::function<int(Skel*)> load;
  std::function<void(Skel*)> destroy;
  std::function<bpf_object*(Skel*)> object;
};

namespace detail {
Result<std::vector<bool>> plan_groups(const std::vector<ProgramGroup>& groups,
                                      const std::function<int(const std::vector<bool>&)>& try_load,
                                      std::vector<GroupOutcome>& outcomes);
void set_group_autoload(bpf_object* obj, const std::vector<ProgramGroup>& groups, const std::vector<bool>& enabled);
}  // namespace detail

template <typename Skel>
Result<Skel*> load_with_groups(const SkeletonOps<Skel>& ops, const std::vector<ProgramGroup>& groups,
                               std::vector<GroupOutcome>& outcomes) {
  Skel* loaded = nullptr;
  auto try_load = [&](const std::vector<bool>& enabled) -> int {
    Skel* skel = ops.open();
    if (!skel) return -errno;
    detail::set_group_autoload(ops.object(skel), groups, enabled);
    if (int err = ops.load(skel); err != 0) {
      ops.destroy(skel);
      return err;
    }
    if (loaded) ops.destroy(loaded);
    loaded = skel;
    return 0;
  };
  auto plan = detail::plan_groups(groups, try_load, outcomes);
  if (!plan) {
    if (loaded) ops.destroy(loaded);
    return Error{plan.error()};
  }
  return loaded;
}

}  // namespace cgscope::collector
