// The text of an analysis (cgscope advise, diff): the lost-time budget of the top cgroups and
// the findings with their evidence and commands, most lost time first.
#pragma once

#include <string>

#include "analyzers/analyze.hpp"

namespace cgscope::cli {

struct AdviceViewOptions {
  analyzers::Severity min_severity = analyzers::Severity::kInfo;
  std::size_t budget_rows = 10;
  bool all_commands = true;  // false: the preferred command of each recommendation only
};

std::string render_advice(const analyzers::Analysis& analysis, const AdviceViewOptions& options);
// "79.0%" of a cgroup's wall time, "-" when not measured.
std::string budget_cell(const analyzers::CgroupBudget& b, analyzers::Cause c);

}  // namespace cgscope::cli
