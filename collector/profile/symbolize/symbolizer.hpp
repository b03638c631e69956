// Turns raw stacks (addresses) into a model::Profile with names.
//
// Kernel frames: /proc/kallsyms, read once at start. User frames: the process's
// /proc/PID/maps, read when the profiler announces the process (it may exit before the
// profile ends, so maps are never read late), and each mapped binary opened through
// /proc/PID/root/<path> (falling back to /proc/PID/map_files when that path now names another
// file), so binaries inside containers resolve. Binaries are read once and cached by build id
// (by file identity when they have none). Addresses no symbol covers (JIT code, anonymous
// memory, stripped code) become "[unknown] (mapping)" frames; user stacks that do not reach a
// thread's entry (_start, clone, main, ...) are counted as short (frame-pointer-less code).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "collector/profile/profile.hpp"
#include "collector/profile/symbolize/elf_module.hpp"
#include "collector/profile/symbolize/kallsyms.hpp"
#include "collector/profile/symbolize/perf_map.hpp"
#include "collector/profile/symbolize/proc_maps.hpp"
#include "collector/profile/symbolize/unwind.hpp"
#include "model/profile/profile.hpp"
#include "model/result.hpp"

namespace cgscope::collector {

struct SymbolizerOptions {
  std::string proc_root = "/proc";
  // Read at create(): create the symbolizer after the profiler is loaded, so that the
  // profiler's own BPF programs are named (and recognised) in kernel stacks.
  std::string kallsyms_path = "/proc/kallsyms";  // "" = no kernel symbols
};

struct SymbolizerStats {
  std::uint64_t processes = 0;             // address spaces whose maps were read
  std::uint64_t processes_gone = 0;        // announced, but gone before their maps could be read
  std::uint64_t modules_opened = 0;        // binaries read
  std::uint64_t module_build_id_hits = 0;  // a binary already read under its build id
  std::uint64_t module_errors = 0;         // binaries that could not be read
  std::uint64_t samples_without_maps = 0;  // user stacks of processes whose maps are unknown
  std::uint64_t user_frames = 0, user_frames_unknown = 0;
  std::uint64_t kernel_frames = 0, kernel_frames_unknown = 0;
  std::uint64_t user_stack_samples = 0;                      // samples with a user stack
  std::uint64_t short_user_stack_samples = 0;                // ... that stop before a thread entry point
  std::uint64_t max_depth_user_stack_samples = 0;            // ... cut at the depth limit (127 frames)
  std::map<std::string, std::uint64_t> short_stack_modules;  // outermost frame's binary -> samples
  // --unwind dwarf: samples by how their user stack was walked, why unwinds stopped, and the
  // binary of the frame where an unwind stopped short.
  std::uint64_t unwind_fp_samples = 0, unwind_dwarf_samples = 0, unwind_joined_samples = 0;
  std::uint64_t unwound = 0;                                   // stack copies unwound
  std::uint64_t unwind_without_maps = 0;                       // ... of processes whose maps are unknown
  std::uint64_t unwind_stops[static_cast<int>(UnwindStop::kCount)] = {};
  std::map<std::string, std::uint64_t> unwind_stop_modules;  // module -> unwinds that stopped short there
  std::uint64_t unwind_frames = 0;                             // frames found by unwinding copies
  std::uint64_t maps_rereads = 0;     // maps read again: an unwind met code mapped after the first read
  std::uint64_t unwind_tables_released = 0;  // binaries whose unwind rules were dropped (no process maps them)
  std::uint64_t perf_maps = 0;        // processes with a perf map (JIT symbols)
  std::uint64_t jit_symbols = 0;      // symbols read from perf maps
  std::uint64_t jit_frames = 0;       // frames named from a perf map
  std::vector<std::string> errors;                           // the first few, for the summary
  std::string kernel_symbols_error;  // why kernel frames have no names, "" when they do
};

struct CgroupName {
  std::string path;       // "/system.slice/x.service", "" if unknown
  std::string container;  // display name when it is a container
};

struct SymbolizeRequest {
  ProfileMode mode = ProfileMode::kOnCpu;
  std::uint64_t period_ns = 0;  // on-CPU: nanoseconds one sample stands for
  std::function<CgroupName(std::uint64_t cgroup_id)> cgroup_name;
};

class Symbolizer {
 public:
  static Result<std::unique_ptr<Symbolizer>> create(const SymbolizerOptions& options);
  ~Symbolizer();

  // Reads the process's maps and opens its binaries now.
  void add_process(std::uint32_t tgid, std::uint32_t instance);
  // --unwind dwarf: unwinds one sample's stack copy with the CFI of the process's binaries
  // (Profiler::set_unwinder). Its process must have been added first.
  UnwoundStack unwind(const StackSample& sample);
  // Call every second or so while profiling: reads what JIT runtimes appended to their perf
  // maps (/tmp/perf-PID.map) since the last call, while they still run, and releases the
  // cached unwind rules of binaries no running process maps any more. symbolize() calls it.
  void refresh();
  // Builds the profile. Frames are deduplicated; samples keep the kernel's aggregation.
  model::Profile symbolize(const std::vector<RawStack>& stacks, const SymbolizeRequest& request);

  const SymbolizerStats& stats() const { return stats_; }
  std::size_t module_count() const { return modules_by_build_id_.size() + modules_without_build_id_.size(); }

 private:
  struct Region {
    std::uint64_t start, end, offset;
    const ElfModule* module;  // nullptr: not a readable file (JIT, anon, [vdso], unreadable)
    std::string name;         // for "[unknown] (name)"
  };
  struct AddressSpace {
    std::vector<Region> regions;  // executable regions, sorted by start
    std::chrono::steady_clock::time_point read_at;
    // JIT symbols: the process's perf map, through its root, named by its own PID (NSpid).
    std::string perf_map_path;
    std::uint64_t perf_map_read = 0;  // bytes of it consumed
    PerfMap jit;
  };

  explicit Symbolizer(SymbolizerOptions options) : options_(std::move(options)) {}
  static const Region* find_region(const AddressSpace& space, std::uint64_t ip);
  // Reads /proc/PID/maps into `space` (false: the process is gone).
  bool read_maps(std::uint32_t tgid, AddressSpace& space);
  void read_perf_map(AddressSpace& space);
  const ElfModule* module_for(std::uint32_t tgid, const Mapping& m);
  std::uint32_t frame(model::Profile& p, model::ProfileFrame f);
  std::uint32_t user_frame(model::Profile& p, const AddressSpace* space, std::uint64_t ip, bool caller);
  std::uint32_t kernel_frame(model::Profile& p, std::uint64_t ip, bool caller);
  bool is_bpf_machinery(std::uint64_t ip) const;
  void note_error(std::string e);

  SymbolizerOptions options_;
  std::unique_ptr<KernelSymbols> kernel_;
  SymbolizerStats stats_;
  std::unordered_map<std::uint64_t, AddressSpace> spaces_;  // (tgid << 32) | instance
  std::unordered_map<std::string, std::unique_ptr<ElfModule>> modules_by_build_id_;
  std::vector<std::unique_ptr<ElfModule>> modules_without_build_id_;
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::int64_t, std::int64_t>, const ElfModule*> by_file_;
  // Per-profile caches (cleared by symbolize()).
  std::unordered_map<std::string, std::uint32_t> frame_ids_;
  struct PairHash {
    std::size_t operator()(const std::pair<const ElfModule*, std::uint64_t>& k) const {
      return std::hash<const void*>()(k.first) ^ (k.second * 0x9e3779b97f4a7c15ULL);
    }
  };
  std::unordered_map<std::pair<const ElfModule*, std::uint64_t>, std::uint32_t, PairHash> user_cache_;
  std::unordered_map<std::uint64_t, std::uint32_t> kernel_cache_;
};

}  // namespace cgscope::collector
