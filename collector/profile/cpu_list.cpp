#include "collector/profile/cpu_list.hpp"

#include <charconv>
#include <string>

#include "collector/cgroupfs/parse.hpp"

namespace cgscope::collector {

Result<std::vector<int>> parse_cpu_list(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return Error{"empty CPU list"};
  std::vector<int> cpus;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const std::size_t dash = part.find('-');
    auto number = [](std::string_view s, int& out) {
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      return ec == std::errc{} && p == s.data() + s.size() && out >= 0;
    };
    int lo = 0, hi = 0;
    if (!number(part.substr(0, dash), lo) ||
        (dash != std::string_view::npos && !number(part.substr(dash + 1), hi)) ||
        (dash != std::string_view::npos && hi < lo))
      return Error{"bad CPU list element '" + std::string(part) + "' (expected N or N-M)"};
    if (dash == std::string_view::npos) hi = lo;
    if (hi > kMaxCpuNumber)  // found by tests/fuzz: "6-2047440755" was 2 billion CPUs
      return Error{"CPU " + std::to_string(hi) + " in '" + std::string(part) + "' is beyond any kernel's CPUs (at most " +
                   std::to_string(kMaxCpuNumber) + ")"};
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace cgscope::collector
