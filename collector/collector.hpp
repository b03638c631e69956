// The collector interface. The list of collectors is explicit (collector/pipeline.cpp):
// easy to see what exists and to disable one, no static-initialisation registry.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/snapshot.hpp"

namespace cgscope::collector {

// The cgroups of one sample by id, for collectors to fill in. A collector that has data for
// an id the scan did not list asks for `unscanned(id)`: an entry (shared by all collectors)
// that the pipeline then keeps (the kernel bucket, id 0), reports as gone (not listed by the
// next scan either) or drops until the next scan lists it (created after the scan).
class CgroupIndex {
 public:
  explicit CgroupIndex(model::Sample& sample);
  // The scanned or unscanned entry of `id`, or nullptr. Valid until the next unscanned().
  model::CgroupSample* find(std::uint64_t id);
  model::CgroupSample& unscanned(std::uint64_t id);
  const std::vector<std::uint64_t>& unscanned_ids() const { return unscanned_ids_; }

 private:
  model::Sample& sample_;
  std::unordered_map<std::uint64_t, std::size_t> at_;
  std::vector<std::uint64_t> unscanned_ids_;
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual std::string_view name() const = 0;
  // Fills this collector's cumulative counters into the cgroups of the sample, by id.
  virtual void collect(model::Sample& sample, CgroupIndex& index) = 0;
  // These cgroups are gone and their last values were collected: free what is kept for them.
  virtual void forget(const std::vector<std::uint64_t>& cgroup_ids) = 0;
  virtual model::CollectorStatus status() const = 0;
};

}  // namespace cgscope::collector
