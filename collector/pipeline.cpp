#include "collector/pipeline.hpp"

#include <unistd.h>

#include <ctime>

#include "collector/bpf_util.hpp"

namespace cgscope::collector {

Pipeline::Pipeline(CgroupfsOptions cgroupfs_options, int nr_cpus)
    : cgroupfs_(std::move(cgroupfs_options)), nr_cpus_(nr_cpus) {}

Result<std::unique_ptr<Pipeline>> Pipeline::create(PipelineOptions options) {
  Hierarchy hierarchy;
  if (options.hierarchy) {
    hierarchy = *options.hierarchy;
  } else {
    auto discovered = discover_hierarchy();
    if (!discovered) return Error{discovered.error()};
    hierarchy = *discovered;
  }
  if (options.v1_identity) {
    if (hierarchy.v1_root("cpu").empty())
      return Error{"v1 identity requested, but no v1 cpu controller is mounted"};
    hierarchy.v2_root.clear();
    hierarchy.layout = Layout::kV1;
  }
  if (hierarchy.layout == Layout::kV1) options.cpu.key_by_v1_cpu = true;

  CgroupfsOptions cg_options;
  cg_options.hierarchy = hierarchy;
  const long hz = sysconf(_SC_CLK_TCK);
  cg_options.user_hz = hz > 0 ? hz : 100;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);

  std::unique_ptr<Pipeline> p(new Pipeline(std::move(cg_options), cpus > 0 ? static_cast<int>(cpus) : 1));

  // The explicit list of collectors.
  if (options.bpf != BpfPolicy::kOff) {
    auto cpu = CpuCollector::create(options.cpu);
    if (cpu) {
      p->cpu_ = cpu->get();
      p->collectors_.push_back(std::move(*cpu));
    } else if (options.bpf == BpfPolicy::kRequired) {
      return Error{cpu.error()};
    } else {
      model::CollectorStatus st;
      st.name = "cpu";
      st.active = false;
      st.message = cpu.error() + "; showing cgroupfs data only";
      p->bpf_unavailable_ = st;
    }
  }
  return p;
}

Result<model::Sample> Pipeline::sample() {
  auto scan = cgroupfs_.scan();
  if (!scan) return Error{scan.error()};

  model::Sample sample;
  sample.nr_cpus = nr_cpus_;
  sample.cgroups.reserve(scan->cgroups.size() + scan->removed.size());
  for (auto& identity : scan->cgroups) {
    model::CgroupSample cg;
    cg.identity = std::move(identity);
    cgroupfs_.read_cpu(cg);
    sample.cgroups.push_back(std::move(cg));
  }
  std::vector<std::uint64_t> removed_ids;
  for (auto& identity : scan->removed) {
    removed_ids.push_back(identity.id);
    model::CgroupSample cg;
    cg.identity = std::move(identity);
    cg.removed = true;
    sample.cgroups.push_back(std::move(cg));
  }

  // Timestamp next to the eBPF reads: they are the ones that need a precise interval.
  sample.monotonic_ns = monotonic_ns();
  timespec wall{};
  clock_gettime(CLOCK_REALTIME, &wall);
  sample.realtime_ns = static_cast<std::int64_t>(wall.tv_sec) * 1'000'000'000LL + wall.tv_nsec;

  for (auto& c : collectors_) {
    c->collect(sample);
    if (!removed_ids.empty()) c->forget(removed_ids);
  }

  model::CollectorStatus cgfs;
  cgfs.name = "cgroupfs";
  cgfs.active = true;
  cgfs.message = std::string("layout ") + std::string(to_string(hierarchy().layout));
  if (!cgroupfs_.last_error().empty()) cgfs.message += "; last error: " + cgroupfs_.last_error();
  cgfs.drops["read_errors"] = cgroupfs_.read_errors();
  cgfs.drops["parse_errors"] = cgroupfs_.parse_errors();
  sample.collectors.push_back(std::move(cgfs));
  for (auto& c : collectors_) sample.collectors.push_back(c->status());
  if (bpf_unavailable_) sample.collectors.push_back(*bpf_unavailable_);
  return sample;
}

}  // namespace cgscope::collector
