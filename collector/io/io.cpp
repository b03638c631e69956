#include "collector/io/io.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "collector/io/io.h"
#include "io.skel.h"

namespace cgscope::collector {
namespace {

// What each group of programs gives; a kernel that lacks one still gets the others.
const std::vector<ProgramGroup> kGroups = {
    {"block", {"io_issue", "io_complete"}, {"block_rq_issue", "block_rq_complete"}},
    // Submission context (6.5+). Without it a request is charged to whoever issues it, which
    // an I/O scheduler may do from another task's context.
    {"block_submit", {"io_start"}, {"block_io_start"}},
    {"writeback_dirtier", {"dirty_folio"}, {"writeback_dirty_folio"}},
    {"dirty_throttle", {"dirty_throttle"}, {"balance_dirty_pages"}},
};
// Before 6.5: the submitter's context where a request enters the scheduler's queue.
const ProgramGroup kBlockSubmitInsert = {"block_submit", {"io_insert"}, {"block_rq_insert"}};

void add_stats(model::BlockIoCounters& c, const io_stats& s) {
  c.requests += s.requests;
  c.bytes += s.bytes;
  c.errors += s.errors;
  c.latency_ns_sum += s.latency_ns_sum;
  c.queue_ns_sum += s.queue_ns_sum;
  c.queued += s.queued;
  for (std::size_t i = 0; i < IO_HIST_SLOTS; ++i) {
    if (s.latency_hist[i]) c.latency_ns.add_to_bucket(i, s.latency_hist[i]);
    if (s.queue_hist[i]) c.queue_ns.add_to_bucket(i, s.queue_hist[i]);
  }
}

}  // namespace

Result<std::unique_ptr<IoCollector>> IoCollector::create(const IoCollectorOptions& options) {
  std::string hz_source;
  const unsigned hz = kernel_hz(hz_source);
  SkeletonOps<io_bpf> ops;
  ops.open = [&]() -> io_bpf* {
    io_bpf* skel = io_bpf__open();
    if (!skel) return nullptr;
    skel->rodata->key_v1_cpu = options.key_by_v1_cpu;
    skel->rodata->jiffy_ns = 1'000'000'000ULL / (hz ? hz : 250);
    const std::uint32_t rows = std::max<std::uint32_t>(options.max_stats, 1);
    for (bpf_map* m : {skel->maps.row_stats, skel->maps.row_slot, skel->maps.free_slots})
      bpf_map__set_max_entries(m, rows);
    bpf_map__set_max_entries(skel->maps.dirtier, std::max<std::uint32_t>(options.max_inodes, 1));
    bpf_map__set_max_entries(skel->maps.cgroup_stats, std::max<std::uint32_t>(options.max_cgroups, 1));
    return skel;
  };
  ops.load = [](io_bpf* s) { return io_bpf__load(s); };
  ops.destroy = [](io_bpf* s) { io_bpf__destroy(s); };
  ops.object = [](io_bpf* s) { return s->obj; };

  std::vector<ProgramGroup> wanted = kGroups;
  const bool insert = !kernel_has_btf_tracepoint("block_io_start");
  if (insert) std::replace_if(wanted.begin(), wanted.end(), [](const ProgramGroup& g) { return g.name == "block_submit"; },
                              kBlockSubmitInsert);
  std::vector<GroupOutcome> groups;
  auto skel = load_with_groups(ops, wanted, groups);
  if (!skel) return Error{"io collector: " + skel.error()};
  if (!groups[0].loaded) {
    io_bpf__destroy(*skel);
    return Error{"io collector: block tracepoints unavailable: " + groups[0].why};
  }
  // Every stats slot starts free; the programs take them as rows show up.
  const int free_fd = bpf_map__fd((*skel)->maps.free_slots);
  for (std::uint32_t slot = 0; slot < std::max<std::uint32_t>(options.max_stats, 1); ++slot) {
    if (int err = bpf_map_update_elem(free_fd, nullptr, &slot, 0); err != 0) {
      io_bpf__destroy(*skel);
      return Error{"io collector: filling the free slot queue: " + bpf_error_message(err)};
    }
  }
  if (int err = io_bpf__attach(*skel); err != 0) {
    io_bpf__destroy(*skel);
    return Error{"io collector: attaching: " + bpf_error_message(err)};
  }
  auto collector = std::unique_ptr<IoCollector>(new IoCollector(*skel, std::move(groups)));
  collector->hz_known_ = hz != 0;
  collector->submit_from_insert_ = insert;
  return collector;
}

IoCollector::IoCollector(io_bpf* skel, std::vector<GroupOutcome> groups) : skel_(skel), groups_(std::move(groups)) {}

IoCollector::~IoCollector() { io_bpf__destroy(skel_); }

void IoCollector::collect(model::Sample& /*sample*/, CgroupIndex& index) {
  const int cpus = libbpf_num_possible_cpus();
  std::unordered_map<std::uint64_t, model::IoBpfCounters> by_id;

  // 0. Slots of rows forgotten at the previous interval: nothing can charge them any more (a
  //    request in flight then has completed since), so zero them and hand them back.
  if (!quarantine_.empty()) {
    const std::vector<std::uint8_t> zeros(static_cast<std::size_t>(cpus) * sizeof(io_stats), 0);
    const int stats_fd = bpf_map__fd(skel_->maps.row_stats);
    const int free_fd = bpf_map__fd(skel_->maps.free_slots);
    for (std::uint32_t slot : quarantine_) {
      bpf_map_update_elem(stats_fd, &slot, zeros.data(), 0);
      bpf_map_update_elem(free_fd, nullptr, &slot, 0);
    }
    quarantine_.clear();
  }

  // 1. Block I/O rows, summed over CPUs. Monotonic in the kernel (no read-then-delete).
  const int slot_fd = bpf_map__fd(skel_->maps.row_slot);
  const int stats_fd = bpf_map__fd(skel_->maps.row_stats);
  io_key key{}, next{};
  const io_key* prev = nullptr;
  while (bpf_map_get_next_key(slot_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    std::uint32_t slot = 0;
    if (bpf_map_lookup_elem(slot_fd, &key, &slot) != 0) continue;  // forgotten meanwhile
    if (!lookup_percpu(stats_fd, &slot, sizeof(io_stats), buf_)) continue;
    model::BlockIoCounters row;
    row.dev = key.dev;
    row.op = static_cast<model::IoOp>(std::min<unsigned>(key.op, IO_OP_OTHER));
    row.owner = static_cast<model::IoOwner>(std::min<unsigned>(key.owner, IO_OWNER_KERNEL));
    for (int cpu = 0; cpu < cpus; ++cpu) {
      io_stats s;
      std::memcpy(&s, buf_.data() + cpu * sizeof(io_stats), sizeof s);
      add_stats(row, s);
    }
    by_id[key.cgroup_id].block.push_back(std::move(row));
  }

  // 2. Dirty throttling per cgroup.
  const int cg_fd = bpf_map__fd(skel_->maps.cgroup_stats);
  std::uint64_t id = 0, next_id = 0;
  const std::uint64_t* prev_id = nullptr;
  while (bpf_map_get_next_key(cg_fd, prev_id, &next_id) == 0) {
    id = next_id;
    prev_id = &id;
    if (!lookup_percpu(cg_fd, &id, sizeof(io_cgroup_stats), buf_)) continue;
    auto& c = by_id[id];
    for (int cpu = 0; cpu < cpus; ++cpu) {
      io_cgroup_stats s;
      std::memcpy(&s, buf_.data() + cpu * sizeof(io_cgroup_stats), sizeof s);
      c.dirty_throttle_ns += s.dirty_throttle_ns;
      c.dirty_throttle_count += s.dirty_throttle_count;
    }
  }

  for (auto& [cgroup_id, counters] : by_id) {
    std::sort(counters.block.begin(), counters.block.end(), [](const auto& a, const auto& b) {
      return std::tie(a.dev, a.op, a.owner) < std::tie(b.dev, b.op, b.owner);
    });
    model::CgroupSample* cg = index.find(cgroup_id);
    (cg ? *cg : index.unscanned(cgroup_id)).io_bpf = std::move(counters);
  }
}

void IoCollector::forget(const std::vector<std::uint64_t>& cgroup_ids) {
  if (cgroup_ids.empty()) return;
  const std::unordered_set<std::uint64_t> gone(cgroup_ids.begin(), cgroup_ids.end());
  // Collect first, delete after: deleting while iterating a hash restarts the walk.
  const int slot_fd = bpf_map__fd(skel_->maps.row_slot);
  std::vector<io_key> doomed;
  io_key key{}, next{};
  const io_key* prev = nullptr;
  while (bpf_map_get_next_key(slot_fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (gone.contains(key.cgroup_id)) doomed.push_back(key);
  }
  for (const auto& k : doomed) {
    std::uint32_t slot = 0;
    if (bpf_map_lookup_elem(slot_fd, &k, &slot) != 0) continue;
    bpf_map_delete_elem(slot_fd, &k);
    quarantine_.push_back(slot);  // reused from the next interval on
  }
  // Cached copies of the forgotten slots stop matching.
  if (!doomed.empty()) __atomic_add_fetch(&skel_->bss->slot_generation, 1, __ATOMIC_SEQ_CST);
  const int cg_fd = bpf_map__fd(skel_->maps.cgroup_stats);
  for (std::uint64_t id : cgroup_ids) bpf_map_delete_elem(cg_fd, &id);
}

model::CollectorStatus IoCollector::status() const {
  model::CollectorStatus st;
  st.name = "io";
  st.active = true;
  st.message = "eBPF tp_btf";
  for (const auto& g : groups_) {
    if (!g.loaded) st.message += "; without " + g.name + " (" + g.why + ")";
    else if (g.name == "block_submit" && submit_from_insert_)
      st.message += "; submission seen at block_rq_insert (this kernel has no tracepoint block_io_start)";
  }
  if (!hz_known_)
    st.message += "; kernel HZ unknown (no /boot/config-*, /proc/config.gz or /proc/timer_list): dirty throttle "
                  "time assumes HZ=250";
  static_assert(IO_DROP_NR == 2, "name every drop reason");
  add_drop_counters(st.drops, bpf_map__fd(skel_->maps.drops), {"completion_untracked", "stats_map_full"},
                    program_stats());
  return st;
}

std::vector<ProgramStats> IoCollector::program_stats() const { return program_stats_of(skel_->obj); }

}  // namespace cgscope::collector
