// JSON of the analyzers' results (advise --json, diff --json, and the report's JSON after
// them). Schema: docs/analyzers.md "JSON"; `schema_version` changes when a field changes meaning.
#pragma once

#include <cstdio>

#include <nlohmann/json.hpp>

#include "analyzers/analyze.hpp"

namespace cgscope::analyzers {

inline constexpr int kAdviceSchemaVersion = 1;

nlohmann::json to_json(const Command& command);
nlohmann::json to_json(const Recommendation& recommendation);
nlohmann::json to_json(const Finding& finding);
nlohmann::json to_json(const CgroupBudget& budget);
// {"schema_version", "range": {...}, "budgets": [...], "findings": [...], "notes": [...]}
nlohmann::json to_json(const Analysis& analysis);
// The same text as to_json(analysis).dump(2) plus a newline, written to `out` one budget and
// one finding at a time: an hour of a thousand cgroups is ~10 MB of JSON, whose whole tree
// would take several times that in memory.
void write_json(const Analysis& analysis, std::FILE* out);

}  // namespace cgscope::analyzers
