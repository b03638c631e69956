#include "collector/pipeline.hpp"

#include <unistd.h>

#include <ctime>
#include <unordered_set>

#include "collector/bpf_util.hpp"
#include "collector/io/io.hpp"
#include "collector/memory/memory.hpp"

namespace cgscope::collector {

CgroupIndex::CgroupIndex(model::Sample& sample) : sample_(sample) {
  at_.reserve(sample.cgroups.size());
  for (std::size_t i = 0; i < sample.cgroups.size(); ++i) at_.emplace(sample.cgroups[i].identity.id, i);
}

model::CgroupSample* CgroupIndex::find(std::uint64_t id) {
  auto it = at_.find(id);
  return it == at_.end() ? nullptr : &sample_.cgroups[it->second];
}

model::CgroupSample& CgroupIndex::unscanned(std::uint64_t id) {
  if (auto* existing = find(id)) return *existing;
  model::CgroupSample cg;
  cg.identity.id = id;  // no path: the scan never saw it
  sample_.cgroups.push_back(std::move(cg));
  at_.emplace(id, sample_.cgroups.size() - 1);
  unscanned_ids_.push_back(id);
  return sample_.cgroups.back();
}

Pipeline::Pipeline(CgroupfsOptions cgroupfs_options, int nr_cpus)
    : cgroupfs_(std::move(cgroupfs_options)), nr_cpus_(nr_cpus) {
  const long page = sysconf(_SC_PAGESIZE);
  page_size_ = page > 0 ? static_cast<std::uint32_t>(page) : model::kDefaultPageSize;
}

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
  if (options.demand_slot.count() != 0) {
    auto demand = DemandSampler::start({.slot = options.demand_slot, .nr_cpus = p->nr_cpus_});
    if (!demand) return Error{demand.error()};
    p->demand_ = std::move(*demand);
  }

  // The explicit list of collectors.
  if (options.bpf != BpfPolicy::kOff) {
    options.io.key_by_v1_cpu = options.cpu.key_by_v1_cpu;
    options.memory.key_by_v1_cpu = options.cpu.key_by_v1_cpu;
    options.nfs.key_by_v1_cpu = options.cpu.key_by_v1_cpu;
    auto add = [&](std::string_view name, auto created, auto** typed) -> Status {
      if (created) {
        if (typed) *typed = created->get();
        p->collectors_.push_back(std::move(*created));
        return {};
      }
      if (options.bpf == BpfPolicy::kRequired) return Error{created.error()};
      model::CollectorStatus st;
      st.name = std::string(name);
      st.active = false;
      st.message = created.error() + "; showing cgroupfs data only";
      p->bpf_unavailable_.push_back(std::move(st));
      return {};
    };
    if (options.cpu_enabled) {
      if (auto s = add("cpu", CpuCollector::create(options.cpu), &p->cpu_); !s) return Error{s.error()};
    }
    if (options.io_enabled) {
      if (auto s = add("io", IoCollector::create(options.io), &p->io_); !s) return Error{s.error()};
    }
    if (options.memory_enabled) {
      if (auto s = add("memory", MemoryCollector::create(options.memory), &p->memory_); !s) return Error{s.error()};
    }
    if (options.nfs_enabled) {
      if (auto s = add("nfs", NfsCollector::create(options.nfs), &p->nfs_); !s) return Error{s.error()};
    }
  }
  return p;
}

Result<model::Sample> Pipeline::sample() {
  auto scan = cgroupfs_.scan();
  if (!scan) return Error{scan.error()};

  model::Sample sample;
  sample.nr_cpus = nr_cpus_;
  sample.page_size = page_size_;
  sample.cgroups.reserve(scan->cgroups.size() + scan->removed.size());
  std::vector<DemandTarget> demand_targets;  // the cgroups with a CPU quota now
  for (auto& identity : scan->cgroups) {
    model::CgroupSample cg;
    cg.identity = std::move(identity);
    DemandFiles demand_files;
    cgroupfs_.read_cpu(cg, demand_ ? &demand_files : nullptr);
    if (!demand_files.cpu_stat.empty()) demand_targets.push_back({cg.identity.id, std::move(demand_files)});
    cgroupfs_.read_io(cg);
    cgroupfs_.read_memory(cg);
    sample.cgroups.push_back(std::move(cg));
  }
  if (demand_) demand_->exchange(sample.cgroups, std::move(demand_targets));
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

  CgroupIndex index(sample);
  for (auto& c : collectors_) c->collect(sample, index);

  // Ids the collectors charged that the scan did not list (see CgroupIndex).
  std::unordered_set<std::uint64_t> pending;
  std::unordered_set<std::uint64_t> drop;
  for (std::uint64_t id : index.unscanned_ids()) {
    if (id == 0) continue;  // the kernel bucket: always kept
    if (unscanned_.contains(id)) {
      index.find(id)->removed = true;  // not listed by two scans: gone, report it once
      removed_ids.push_back(id);
      ++gone_before_scan_;
    } else {
      pending.insert(id);  // created after the scan: the next one lists it
      drop.insert(id);
    }
  }
  if (!drop.empty()) {
    std::erase_if(sample.cgroups, [&](const model::CgroupSample& cg) {
      return cg.identity.path.empty() && drop.contains(cg.identity.id);
    });
  }
  unscanned_ = std::move(pending);
  if (!removed_ids.empty())
    for (auto& c : collectors_) c->forget(removed_ids);

  model::CollectorStatus cgfs;
  cgfs.name = "cgroupfs";
  cgfs.active = true;
  cgfs.message = std::string("layout ") + std::string(to_string(hierarchy().layout));
  if (!unscanned_.empty())  // not lost: reported once the next scan finds their directories
    cgfs.message += "; " + std::to_string(unscanned_.size()) + " new cgroups not yet scanned";
  if (gone_before_scan_ != 0)  // not lost either: reported by id, without a path
    cgfs.message += "; " + std::to_string(gone_before_scan_) + " cgroups gone before a scan found them";
  if (!cgroupfs_.last_error().empty()) cgfs.message += "; last error: " + cgroupfs_.last_error();
  cgfs.drops["read_errors"] = cgroupfs_.read_errors();
  cgfs.drops["parse_errors"] = cgroupfs_.parse_errors();
  if (demand_) {
    // Reads of the demand sampler that failed other than by a cgroup vanishing (each one's
    // slots are counted as missed in its cgroup).
    cgfs.drops["demand_read_errors"] = demand_->read_errors();
    if (auto err = demand_->last_error(); !err.empty()) cgfs.message += "; last demand sampler error: " + err;
  }
  sample.collectors.push_back(std::move(cgfs));
  for (auto& c : collectors_) sample.collectors.push_back(c->status());
  for (const auto& st : bpf_unavailable_) sample.collectors.push_back(st);
  return sample;
}

}  // namespace cgscope::collector
