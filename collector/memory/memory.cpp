#include "collector/memory/memory.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "collector/memory/memory.h"
#include "memory.skel.h"

namespace cgscope::collector {
namespace {

const std::vector<ProgramGroup> kGroups = {
    {"direct_reclaim", {"direct_reclaim_begin", "direct_reclaim_end"},
     {"mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end"}},
    {"memcg_reclaim", {"memcg_reclaim_begin", "memcg_reclaim_end"},
     {"mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end"}},
    // Page cache accesses and misses (mm_filemap_get_pages/fault are recent, 2024).
    {"page_cache", {"cache_add", "cache_get_pages", "cache_fault"},
     {"mm_filemap_add_to_page_cache", "mm_filemap_get_pages", "mm_filemap_fault"}},
    {"readahead_marks", {"cache_sync_ra", "cache_async_ra"}, {"page_cache_sync_ra", "page_cache_async_ra"}},
    {"oom", {"oom_victim"}, {"mark_victim"}},
};
// The same counts on kernels without mm_filemap_get_pages/fault (before 6.10): the reads and
// faults from fentry/fexit on the functions that would fire them, which also mark a read for
// its whole call (so no readahead tracepoints are needed).
const ProgramGroup kPageCacheFentry = {
    "page_cache",
    {"cache_add_task", "cache_read_enter", "cache_read_exit", "cache_fault_enter", "cache_fault_exit"},
    {"mm_filemap_add_to_page_cache"},
    {"filemap_read", "filemap_fault"}};

bool is_page_cache_group(const ProgramGroup& g) { return g.name == "page_cache" || g.name == "readahead_marks"; }

void add_stats(model::MemoryBpfCounters& c, const mem_cgroup_stats& s) {
  c.direct_reclaim_ns += s.direct_reclaim_ns;
  c.direct_reclaim_count += s.direct_reclaim_count;
  c.memcg_reclaim_ns += s.memcg_reclaim_ns;
  c.memcg_reclaim_count += s.memcg_reclaim_count;
  c.reclaimed_pages += s.reclaimed_pages;
  for (std::size_t i = 0; i < MEM_HIST_SLOTS; ++i)
    if (s.reclaim_hist[i]) c.reclaim_ns.add_to_bucket(i, s.reclaim_hist[i]);
  c.cache_accessed_pages += s.cache_accessed_pages;
  c.cache_read_added_pages += s.cache_read_added_pages;
  c.cache_other_added_pages += s.cache_other_added_pages;
  c.file_faults += s.file_faults;
  c.oom_kills += s.oom_kills;
}

std::uint32_t page_shift() {
  const long size = sysconf(_SC_PAGESIZE);
  std::uint32_t shift = 0;
  while (size > 0 && (1L << shift) < size) ++shift;
  return shift ? shift : 12;
}

}  // namespace

std::string_view to_string(PageCacheProbe probe) {
  switch (probe) {
    case PageCacheProbe::kAuto: return "auto";
    case PageCacheProbe::kTracepoint: return "tracepoint";
    case PageCacheProbe::kFentry: return "fentry";
  }
  return "?";
}

Result<PageCacheProbe> parse_page_cache_probe(std::string_view text) {
  for (PageCacheProbe p : {PageCacheProbe::kAuto, PageCacheProbe::kTracepoint, PageCacheProbe::kFentry})
    if (text == to_string(p)) return p;
  return Error{"unknown page cache probe '" + std::string(text) + "' (expected auto, tracepoint or fentry)"};
}

Result<std::unique_ptr<MemoryCollector>> MemoryCollector::create(const MemoryCollectorOptions& options) {
  const bool tp_page_cache =
      kernel_has_btf_tracepoint("mm_filemap_get_pages") && kernel_has_btf_tracepoint("mm_filemap_fault");
  // Without the readahead tracepoints (before 6.14) the tracepoints cannot tell a read's
  // misses from the new pages of a write: every page added would count as a read miss.
  const bool readahead_marks =
      kernel_has_btf_tracepoint("page_cache_sync_ra") && kernel_has_btf_tracepoint("page_cache_async_ra");
  const bool fentry_targets = kernel_has_btf_function("filemap_read") && kernel_has_btf_function("filemap_fault");
  const auto probe = options.page_cache_probe;
  // fentry where it sees more than the tracepoints do; the tracepoints if fentry fails.
  const bool try_fentry = options.page_cache && (probe == PageCacheProbe::kFentry ||
                                                 (probe == PageCacheProbe::kAuto && fentry_targets &&
                                                  !(tp_page_cache && readahead_marks)));
  const bool task_storage = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1;
  auto attempt = [&](const std::vector<ProgramGroup>& wanted, bool fentry,
                     std::vector<GroupOutcome>& groups) -> Result<memory_bpf*> {
    SkeletonOps<memory_bpf> ops;
    ops.open = [&]() -> memory_bpf* {
      memory_bpf* skel = memory_bpf__open();
      if (!skel) return nullptr;
      skel->rodata->key_v1_cpu = options.key_by_v1_cpu;
      skel->rodata->have_readahead_events = fentry || readahead_marks;  // fentry marks reads itself
      skel->rodata->page_shift = page_shift();
      bpf_map__set_max_entries(skel->maps.cgroup_stats, std::max<std::uint32_t>(options.max_cgroups, 1));
      // Kernels before 5.11: no task storage; the programs that need it fail and are left out.
      if (!task_storage) bpf_map__set_autocreate(skel->maps.task_states, false);
      return skel;
    };
    ops.load = [](memory_bpf* s) { return memory_bpf__load(s); };
    ops.destroy = [](memory_bpf* s) { memory_bpf__destroy(s); };
    ops.object = [](memory_bpf* s) { return s->obj; };
    auto skel = load_with_groups(ops, wanted, groups);
    if (!skel) return Error{skel.error()};
    if (int err = memory_bpf__attach(*skel); err != 0) {
      memory_bpf__destroy(*skel);
      return Error{"attaching: " + bpf_error_message(err)};
    }
    return *skel;
  };
  auto page_cache_loaded = [](const std::vector<GroupOutcome>& groups) {
    for (const auto& g : groups)
      if (g.name == "page_cache") return g.loaded;
    return false;
  };

  std::vector<ProgramGroup> base = kGroups;
  std::erase_if(base, is_page_cache_group);
  std::vector<GroupOutcome> groups;
  Result<memory_bpf*> skel = Error{"not tried"};
  std::string probe_used, note, fentry_why;
  if (try_fentry) {
    std::vector<ProgramGroup> wanted = base;
    wanted.push_back(kPageCacheFentry);
    skel = attempt(wanted, true, groups);
    if (skel && page_cache_loaded(groups)) {
      probe_used = "fentry";
      note = probe == PageCacheProbe::kFentry ? "chosen with --page-cache-probe fentry"
             : !tp_page_cache                 ? "this kernel has no tracepoint mm_filemap_get_pages"
                                              : "this kernel has no tracepoint page_cache_sync_ra to tell reads from writes";
    } else {
      // fentry/fexit may load and still not attach (a kernel without BPF trampolines, lockdown).
      fentry_why = "fentry on filemap_read/filemap_fault: ";
      if (!skel) fentry_why += skel.error();
      for (const auto& g : groups)
        if (g.name == "page_cache" && !g.loaded) fentry_why += g.why;
      if (skel) memory_bpf__destroy(*skel);
      skel = Error{"not tried"};
      groups.clear();
    }
  }
  if (!skel) {
    std::vector<ProgramGroup> wanted = kGroups;
    // Forced fentry that failed is reported as such, not replaced.
    if (!options.page_cache || probe == PageCacheProbe::kFentry) std::erase_if(wanted, is_page_cache_group);
    skel = attempt(wanted, false, groups);
    if (skel && page_cache_loaded(groups)) probe_used = "tracepoints";
  }
  if (!skel) return Error{"memory collector: " + skel.error()};
  if (!fentry_why.empty()) {
    if (probe_used.empty()) {
      std::erase_if(groups, [](const GroupOutcome& g) { return g.name == "page_cache"; });
      groups.push_back({"page_cache", false, fentry_why});
    } else {
      note = fentry_why;
    }
  }
  bool marks_loaded = false;
  for (const auto& g : groups)
    if (g.name == "readahead_marks") marks_loaded = readahead_marks && g.loaded;
  auto collector = std::unique_ptr<MemoryCollector>(
      new MemoryCollector(*skel, std::move(groups), marks_loaded || probe_used == "fentry"));
  collector->page_cache_probe_ = probe_used;
  collector->page_cache_note_ = note;
  return collector;
}

MemoryCollector::MemoryCollector(memory_bpf* skel, std::vector<GroupOutcome> groups, bool readahead_marks)
    : skel_(skel), groups_(std::move(groups)), readahead_marks_(readahead_marks) {}

MemoryCollector::~MemoryCollector() { memory_bpf__destroy(skel_); }

void MemoryCollector::collect(model::Sample& /*sample*/, CgroupIndex& index) {
  const int cpus = libbpf_num_possible_cpus();
  const int fd = bpf_map__fd(skel_->maps.cgroup_stats);
  std::uint64_t id = 0, next = 0;
  const std::uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    id = next;
    prev = &id;
    if (!lookup_percpu(fd, &id, sizeof(mem_cgroup_stats), buf_)) continue;
    model::MemoryBpfCounters c;
    for (int cpu = 0; cpu < cpus; ++cpu) {
      mem_cgroup_stats s;
      std::memcpy(&s, buf_.data() + cpu * sizeof(mem_cgroup_stats), sizeof s);
      add_stats(c, s);
    }
    model::CgroupSample* cg = index.find(id);
    (cg ? *cg : index.unscanned(id)).memory_bpf = c;
  }
}

void MemoryCollector::forget(const std::vector<std::uint64_t>& cgroup_ids) {
  const int fd = bpf_map__fd(skel_->maps.cgroup_stats);
  for (std::uint64_t id : cgroup_ids) bpf_map_delete_elem(fd, &id);
}

model::CollectorStatus MemoryCollector::status() const {
  model::CollectorStatus st;
  st.name = "memory";
  st.active = true;
  st.message = "eBPF tp_btf";
  for (const auto& g : groups_)
    if (!g.loaded) st.message += "; without " + g.name + " (" + g.why + ")";
  if (page_cache_probe_.empty())
    st.message += "; page cache not measured";
  else if (page_cache_probe_ == "fentry")
    st.message += "; page cache through fentry on filemap_read/filemap_fault (" + page_cache_note_ + ")";
  else if (!readahead_marks_)
    st.message += "; page cache: every page added counts as a miss (no readahead tracepoints" +
                  (page_cache_note_.empty() ? std::string() : "; " + page_cache_note_) + ")";
  static_assert(MEM_DROP_NR == 2, "name every drop reason");
  add_drop_counters(st.drops, bpf_map__fd(skel_->maps.drops), {"stats_map_full", "task_state_unavailable"},
                    program_stats());
  return st;
}

std::vector<ProgramStats> MemoryCollector::program_stats() const { return program_stats_of(skel_->obj); }

}  // namespace cgscope::collector
