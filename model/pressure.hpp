// PSI (pressure stall information) of a cgroup or the host: cpu, io or memory.
#pragma once

#include <cstdint>
#include <optional>

namespace cgscope::model {

struct PsiLine {
  double avg10 = 0, avg60 = 0, avg300 = 0;  // percent of time stalled, running averages
  std::uint64_t total_usec = 0;             // cumulative stall time
  bool operator==(const PsiLine&) const = default;
};
struct Pressure {
  std::optional<PsiLine> some;
  std::optional<PsiLine> full;
  bool operator==(const Pressure&) const = default;
};

// Stall time added between two readings of a pressure file, if both have the line.
std::optional<std::uint64_t> stall_delta(const std::optional<PsiLine>& prev, const std::optional<PsiLine>& curr);

}  // namespace cgscope::model
