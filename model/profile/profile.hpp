// A symbolized stack profile: what the profiler measured, ready for the output writers
// (folded stacks, pprof, SVG flame graph). Plain data, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cgscope::model {

enum class FrameKind : std::uint8_t {
  kUser,     // resolved from a binary's symbol table / DWARF
  kKernel,   // resolved from /proc/kallsyms
  kUnknown,  // an address no symbol covers: JIT code, anonymous memory, stripped binaries
  kLost,     // the kernel could not record this part of the stack (counted in the stats)
};

struct ProfileFrame {
  std::string function;       // display name (demangled); "[unknown] (mapping)" for kUnknown
  std::string system_name;    // name as in the symbol table (mangled), "" when equal to function
  std::string module;         // binary path, "[kernel.kallsyms]", "[ext4]", or the mapping name
  std::string build_id;       // hex, "" when unknown
  std::string file;           // source file from DWARF, "" when unknown
  std::uint32_t line = 0;     // 0 when unknown
  std::uint64_t address = 0;  // user: address in the module's ELF (vaddr); kernel: absolute
  FrameKind kind = FrameKind::kUser;
};

struct ValueType {
  std::string type;  // "samples", "cpu", "off_cpu", "blocks"
  std::string unit;  // "count", "nanoseconds"
};

struct ProfileSample {
  std::vector<std::uint32_t> frames;  // indices into Profile::frames, leaf first
  std::uint64_t cgroup_id = 0;
  std::string cgroup;                // cgroup path ("/system.slice/x.service"), or "cgroup#ID"
  std::string container;             // container display name, "" when not a container
  std::string comm;                  // thread name at the time of the sample
  std::uint32_t pid = 0;             // process (tgid)
  std::string unwind;                // how the user stack was walked: "fp", "dwarf", "dwarf+fp"; "" = none
  std::vector<std::int64_t> values;  // one per Profile::sample_types
};

struct Profile {
  std::vector<ValueType> sample_types;
  std::size_t default_value = 0;  // index into sample_types that folded/SVG output shows
  ValueType period_type;
  std::int64_t period = 0;
  std::int64_t time_nanos = 0;  // start, Unix epoch
  std::int64_t duration_nanos = 0;
  std::vector<ProfileFrame> frames;
  std::vector<ProfileSample> samples;
  std::vector<std::string> comments;  // what was lost or truncated, how it was measured

  std::int64_t total(std::size_t value_index) const {
    std::int64_t sum = 0;
    for (const auto& s : samples)
      if (value_index < s.values.size()) sum += s.values[value_index];
    return sum;
  }
};

}  // namespace cgscope::model
