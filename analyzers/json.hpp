// JSON of the analyzers' results (advise --json, diff --json, and the report's JSON after
// them). Schema: docs/analyzers.md "JSON"; `schema_version` changes when a field changes meaning.
#pragma once

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

}  // namespace cgscope::analyzers
