#include "model/memory.hpp"

namespace cgscope::model {
namespace {

std::uint64_t counter_delta(std::uint64_t prev, std::uint64_t curr) { return curr >= prev ? curr - prev : curr; }

}  // namespace

std::optional<std::uint64_t> stall_delta(const std::optional<PsiLine>& prev, const std::optional<PsiLine>& curr) {
  if (!curr) return std::nullopt;
  return counter_delta(prev ? prev->total_usec : 0, curr->total_usec);
}

void derive_memory_bpf(const MemoryBpfCounters* prev, const MemoryBpfCounters& curr, MemoryInterval& out) {
  static const MemoryBpfCounters kZero;
  const MemoryBpfCounters& p = prev ? *prev : kZero;
  out.has_bpf = true;
  out.direct_reclaim_ns = counter_delta(p.direct_reclaim_ns, curr.direct_reclaim_ns);
  out.direct_reclaim_count = counter_delta(p.direct_reclaim_count, curr.direct_reclaim_count);
  out.memcg_reclaim_ns = counter_delta(p.memcg_reclaim_ns, curr.memcg_reclaim_ns);
  out.memcg_reclaim_count = counter_delta(p.memcg_reclaim_count, curr.memcg_reclaim_count);
  out.reclaimed_pages = counter_delta(p.reclaimed_pages, curr.reclaimed_pages);
  out.reclaim_ns = curr.reclaim_ns.delta(p.reclaim_ns);
  out.cache_accessed_pages = counter_delta(p.cache_accessed_pages, curr.cache_accessed_pages);
  out.cache_read_added_pages = counter_delta(p.cache_read_added_pages, curr.cache_read_added_pages);
  out.cache_other_added_pages = counter_delta(p.cache_other_added_pages, curr.cache_other_added_pages);
  out.file_faults = counter_delta(p.file_faults, curr.file_faults);
  out.oom_kills = counter_delta(p.oom_kills, curr.oom_kills);
  if (out.cache_accessed_pages > 0) {
    // Readahead can add more pages than were read in the interval: a miss ratio above 1
    // means "all misses".
    const double misses = static_cast<double>(out.cache_read_added_pages) / out.cache_accessed_pages;
    out.cache_hit_ratio = misses >= 1.0 ? 0.0 : 1.0 - misses;
  }
}

}  // namespace cgscope::model
