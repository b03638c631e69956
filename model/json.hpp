// JSON form of model types (snapshot --json, reports and recordings share it).
#pragma once

#include <nlohmann/json.hpp>

#include "model/histogram.hpp"
#include "model/metrics.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model {

// {"count", "sum_ns"?, "p50_ns", "p90_ns", "p99_ns", "max_ns", "buckets": {"<lower_ns>": n}}
nlohmann::json histogram_summary(const Log2Histogram& h);
nlohmann::json to_json(const CgroupIdentity& identity);
nlohmann::json to_json(const CollectorStatus& status);
nlohmann::json to_json(const IoInterval& io);
nlohmann::json to_json(const MemoryInterval& memory);
nlohmann::json to_json(const CgroupInterval& cgroup);
nlohmann::json to_json(const Snapshot& snapshot);
// The "nfs" object of a snapshot (model/nfs_json.cpp).
nlohmann::json nfs_to_json(const Snapshot& snapshot);

}  // namespace cgscope::model
