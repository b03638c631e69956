// libFuzzer target: the other text cgscope reads from outside: /proc/kallsyms, /proc/PID/maps,
// folded stacks, and command-line durations and views. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/format.hpp"
#include "collector/profile/symbolize/kallsyms.hpp"
#include "collector/profile/symbolize/proc_maps.hpp"
#include "model/profile/folded.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
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
    default: (void)cgscope::cli::parse_table_view(in); break;
  }
  return 0;
}
