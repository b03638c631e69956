// libFuzzer target: the other text cgscope reads from outside: /proc/kallsyms, /proc/PID/maps,
// folded stacks, JIT perf maps (/tmp/perf-PID.map), and command-line durations and views. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/format.hpp"
#include "collector/profile/symbolize/kallsyms.hpp"
#include "collector/profile/symbolize/perf_map.hpp"
#include "collector/profile/symbolize/proc_maps.hpp"
#include "model/profile/folded.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto syms = cgscope::collector::KernelSymbols::parse(std::string(in));
      break;
    }
    case 1: {
      std::size_t bad = 0;
      (void)cgscope::collector::parse_proc_maps(in, &bad);
      break;
    }
    case 2: (void)cgscope::model::parse_folded(in); break;
    case 3: (void)cgscope::cli::parse_duration(in); break;
    case 4: (void)cgscope::cli::parse_table_view(in); break;
    default: {
      cgscope::collector::PerfMap map;
      const std::size_t used = map.add(in);
      if (used > in.size()) __builtin_trap();
      for (std::size_t i = 0; i + 8 <= in.size(); i += 8) {
        std::uint64_t addr = 0;
        __builtin_memcpy(&addr, in.data() + i, 8);
        (void)map.lookup(addr);
      }
      break;
    }
  }
  return 0;
}
