// The collector interface. The list of collectors is explicit (collector/pipeline.cpp):
// easy to see what exists and to disable one, no static-initialisation registry.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/snapshot.hpp"

namespace cgscope::collector {

class Collector {
 public:
  virtual ~Collector() = default;
  virtual std::string_view name() const = 0;
  // Fills this collector's cumulative counters into the cgroups of `sample` (matched by id).
  virtual void collect(model::Sample& sample) = 0;
  // These cgroups are gone and their last values were collected: free what is kept for them.
  virtual void forget(const std::vector<std::uint64_t>& cgroup_ids) = 0;
  virtual model::CollectorStatus status() const = 0;
};

}  // namespace cgscope::collector
