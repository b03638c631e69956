// model::derive() for I/O and memory: deltas, totals, resets, ratios, and their JSON form.
#include <gtest/gtest.h>

#include "model/json.hpp"
#include "model/snapshot.hpp"

using namespace cgscope::model;

namespace {

const std::uint32_t kSda = make_dev(8, 0), kSdb = make_dev(8, 16), kNvme = make_dev(259, 0);

BlockIoCounters row(std::uint32_t dev, IoOp op, IoOwner owner, std::uint64_t requests, std::uint64_t bytes) {
  BlockIoCounters c;
  c.dev = dev;
  c.op = op;
  c.owner = owner;
  c.requests = requests;
  c.bytes = bytes;
  return c;
}

CgroupSample cgroup(std::uint64_t id) {
  CgroupSample cg;
  cg.identity.id = id;
  cg.identity.path = "/cg" + std::to_string(id);
  return cg;
}

// derive() of one cgroup over 1 s; `prev` absent = a cgroup new in this interval.
CgroupInterval derive_one(const CgroupSample* prev, const CgroupSample& curr) {
  Sample a, b;
  a.monotonic_ns = 1'000'000'000;
  b.monotonic_ns = 2'000'000'000;
  if (prev) a.cgroups = {*prev};
  b.cgroups = {curr};
  Snapshot s = derive(a, b);
  EXPECT_EQ(s.cgroups.size(), 1u);
  return s.cgroups.empty() ? CgroupInterval{} : s.cgroups[0];
}

const BlockIoInterval* find_row(const IoInterval& io, std::uint32_t dev, IoOp op, IoOwner owner) {
  for (const auto& r : io.block)
    if (r.dev == dev && r.op == op && r.owner == owner) return &r;
  return nullptr;
}

}  // namespace

// ---- I/O, eBPF ----

TEST(IoModelTest, BlockDeltasArePerDevOpOwnerRow) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 10, 40960),
                     row(kSda, IoOp::kWrite, IoOwner::kTask, 4, 16384),
                     row(kSdb, IoOp::kRead, IoOwner::kTask, 100, 409600)};
  p.io_bpf->block[0].latency_ns_sum = 1'000'000;
  p.io_bpf->block[0].queue_ns_sum = 50'000;
  p.io_bpf->block[0].queued = 8;
  p.io_bpf->block[0].errors = 1;
  auto c = p;
  c.io_bpf->block[0].requests = 15;
  c.io_bpf->block[0].bytes = 61440;
  c.io_bpf->block[0].latency_ns_sum = 1'600'000;
  c.io_bpf->block[0].queue_ns_sum = 80'000;
  c.io_bpf->block[0].queued = 12;
  c.io_bpf->block[0].errors = 2;
  c.io_bpf->block[1].requests = 6;
  c.io_bpf->block[1].bytes = 24576;
  c.io_bpf->block[2].requests = 101;  // the other disk: a row of its own
  c.io_bpf->block[2].bytes = 413696;

  const auto io = derive_one(&p, c).io;
  EXPECT_TRUE(io.has_bpf);
  ASSERT_EQ(io.block.size(), 3u);
  const auto* r = find_row(io, kSda, IoOp::kRead, IoOwner::kTask);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->requests, 5u);
  EXPECT_EQ(r->bytes, 20480u);
  EXPECT_EQ(r->latency_ns_sum, 600'000u);
  EXPECT_EQ(r->queue_ns_sum, 30'000u);
  EXPECT_EQ(r->queued, 4u);
  EXPECT_EQ(r->errors, 1u);
  const auto* w = find_row(io, kSda, IoOp::kWrite, IoOwner::kTask);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->requests, 2u);
  EXPECT_EQ(w->bytes, 8192u);
  const auto* b = find_row(io, kSdb, IoOp::kRead, IoOwner::kTask);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->requests, 1u);
  EXPECT_EQ(b->bytes, 4096u);
}

TEST(IoModelTest, TotalsSumReadsAndWritesOverDisks) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  auto c = p;
  c.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 5, 20480),
                     row(kSdb, IoOp::kRead, IoOwner::kTask, 1, 4096),
                     row(kSda, IoOp::kWrite, IoOwner::kTask, 2, 8192),
                     row(kNvme, IoOp::kWrite, IoOwner::kTask, 3, 12288),
                     row(kSda, IoOp::kDiscard, IoOwner::kTask, 7, 1 << 20),
                     row(kSda, IoOp::kFlush, IoOwner::kTask, 9, 0),
                     row(kSda, IoOp::kOther, IoOwner::kTask, 1, 0)};
  c.io_bpf->block[0].errors = 2;
  c.io_bpf->block[3].errors = 1;
  const auto io = derive_one(&p, c).io;
  EXPECT_EQ(io.read_bytes, 24576u);
  EXPECT_EQ(io.read_ios, 6u);
  EXPECT_EQ(io.write_bytes, 20480u);
  EXPECT_EQ(io.write_ios, 5u);
  EXPECT_EQ(io.discard_ios, 7u);
  EXPECT_EQ(io.flush_ios, 9u);  // a flush has no bytes, yet it is activity
  EXPECT_EQ(io.errors, 3u);
  EXPECT_EQ(io.block.size(), 7u);
}

TEST(IoModelTest, HistogramDeltasPerRowAndMergedIntoTotals) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 10, 40960),
                     row(kSdb, IoOp::kWrite, IoOwner::kTask, 2, 8192)};
  p.io_bpf->block[0].latency_ns.add(100'000, 10);
  p.io_bpf->block[0].queue_ns.add(1'000, 10);
  auto c = p;
  c.io_bpf->block[0].requests = 14;
  c.io_bpf->block[0].bytes = 57344;
  c.io_bpf->block[0].latency_ns.add(100'000, 1);
  c.io_bpf->block[0].latency_ns.add(5'000'000, 3);
  c.io_bpf->block[0].queue_ns.add(1'000, 4);
  c.io_bpf->block[1].requests = 5;
  c.io_bpf->block[1].bytes = 20480;
  c.io_bpf->block[1].latency_ns.add(2'000'000, 3);
  c.io_bpf->block[1].queue_ns.add(64'000, 3);

  const auto io = derive_one(&p, c).io;
  const auto* r = find_row(io, kSda, IoOp::kRead, IoOwner::kTask);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->latency_ns.count(), 4u);
  EXPECT_EQ(r->latency_ns.buckets()[Log2Histogram::bucket_of(100'000)], 1u);
  EXPECT_EQ(r->latency_ns.buckets()[Log2Histogram::bucket_of(5'000'000)], 3u);
  EXPECT_EQ(r->queue_ns.count(), 4u);
  EXPECT_EQ(io.read_latency_ns.count(), 4u);   // reads only
  EXPECT_EQ(io.write_latency_ns.count(), 3u);  // writes only
  EXPECT_EQ(io.write_latency_ns.buckets()[Log2Histogram::bucket_of(2'000'000)], 3u);
  EXPECT_EQ(io.queue_ns.count(), 7u);  // every op
}

TEST(IoModelTest, RowsWithoutActivityAreOmitted) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 10, 40960),
                     row(kSda, IoOp::kWrite, IoOwner::kTask, 3, 12288)};
  auto c = p;
  c.io_bpf->block[1].requests = 4;
  c.io_bpf->block[1].bytes = 16384;
  const auto io = derive_one(&p, c).io;
  ASSERT_EQ(io.block.size(), 1u);
  EXPECT_EQ(io.block[0].op, IoOp::kWrite);
  EXPECT_EQ(io.read_ios, 0u);

  const auto idle = derive_one(&p, p).io;
  EXPECT_TRUE(idle.has_bpf);
  EXPECT_TRUE(idle.block.empty());
}

TEST(IoModelTest, WritebackBytesAreDirtierBlkcgAndKernelWrites) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  auto c = p;
  c.io_bpf->block = {
      row(kSda, IoOp::kWrite, IoOwner::kTask, 1, 100),   row(kSda, IoOp::kWrite, IoOwner::kDirtier, 1, 200),
      row(kSda, IoOp::kWrite, IoOwner::kBlkcg, 1, 400),  row(kSda, IoOp::kWrite, IoOwner::kKernel, 1, 800),
      row(kSda, IoOp::kRead, IoOwner::kKernel, 1, 1600), row(kSda, IoOp::kRead, IoOwner::kTask, 1, 3200)};
  const auto io = derive_one(&p, c).io;
  EXPECT_EQ(io.writeback_bytes, 1400u);  // not the task's own writes, not kernel reads
  EXPECT_EQ(io.write_bytes, 1500u);      // writeback is still written by this cgroup
  EXPECT_EQ(io.read_bytes, 4800u);
}

TEST(IoModelTest, CounterResetCountsFromZero) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 1000, 4'096'000)};
  p.io_bpf->block[0].latency_ns_sum = 9'000'000;
  p.io_bpf->dirty_throttle_ns = 5'000'000;
  p.io_bpf->dirty_throttle_count = 50;
  auto c = cgroup(1);
  c.io_bpf = IoBpfCounters{};
  c.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 4, 16384)};  // collector restarted
  c.io_bpf->block[0].latency_ns_sum = 40'000;
  c.io_bpf->dirty_throttle_ns = 1'000;
  c.io_bpf->dirty_throttle_count = 1;
  const auto io = derive_one(&p, c).io;
  ASSERT_EQ(io.block.size(), 1u);
  EXPECT_EQ(io.block[0].requests, 4u);
  EXPECT_EQ(io.block[0].bytes, 16384u);
  EXPECT_EQ(io.block[0].latency_ns_sum, 40'000u);
  EXPECT_EQ(io.read_bytes, 16384u);
  EXPECT_EQ(io.dirty_throttle_ns, 1'000u);
  EXPECT_EQ(io.dirty_throttle_count, 1u);
}

// After a reset the row's histograms count from zero like its counters, so an interval never
// reports requests with an empty latency histogram.
TEST(IoModelTest, CounterResetCountsHistogramsFromZeroToo) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 10, 40960)};
  p.io_bpf->block[0].latency_ns.add(100'000, 10);
  auto c = cgroup(1);
  c.io_bpf = IoBpfCounters{};
  c.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 4, 16384)};  // collector restarted
  c.io_bpf->block[0].latency_ns.add(100'000, 4);
  const auto io = derive_one(&p, c).io;
  ASSERT_EQ(io.block.size(), 1u);
  EXPECT_EQ(io.block[0].requests, 4u);
  EXPECT_EQ(io.block[0].latency_ns.count(), 4u);  // as many samples as requests
  EXPECT_EQ(io.read_latency_ns.count(), 4u);
}

TEST(IoModelTest, NewRowOrCgroupWithoutPreviousCountsFromZero) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->block = {row(kSda, IoOp::kRead, IoOwner::kTask, 10, 40960)};
  auto c = p;
  c.io_bpf->block.push_back(row(kSda, IoOp::kWrite, IoOwner::kDirtier, 3, 12288));  // first seen now
  const auto io = derive_one(&p, c).io;
  ASSERT_EQ(io.block.size(), 1u);
  EXPECT_EQ(io.block[0].owner, IoOwner::kDirtier);
  EXPECT_EQ(io.block[0].requests, 3u);
  EXPECT_EQ(io.block[0].bytes, 12288u);

  auto no_bpf_before = cgroup(1);  // the I/O collector saw nothing of it before
  const auto first = derive_one(&no_bpf_before, c);
  EXPECT_FALSE(first.is_new);
  EXPECT_EQ(first.io.read_bytes, 40960u);
  EXPECT_EQ(first.io.write_bytes, 12288u);

  const auto fresh = derive_one(nullptr, c);  // a cgroup created during the interval
  EXPECT_TRUE(fresh.is_new);
  EXPECT_EQ(fresh.io.read_ios, 10u);
  EXPECT_EQ(fresh.io.write_ios, 3u);
}

TEST(IoModelTest, DirtyThrottleDeltas) {
  auto p = cgroup(1);
  p.io_bpf = IoBpfCounters{};
  p.io_bpf->dirty_throttle_ns = 1'000'000;
  p.io_bpf->dirty_throttle_count = 2;
  auto c = p;
  c.io_bpf->dirty_throttle_ns = 5'000'000;
  c.io_bpf->dirty_throttle_count = 5;
  const auto io = derive_one(&p, c).io;
  EXPECT_EQ(io.dirty_throttle_ns, 4'000'000u);
  EXPECT_EQ(io.dirty_throttle_count, 3u);
}

TEST(IoModelTest, NoIoCollectorMeansNoBpfInterval) {
  const auto io = derive_one(nullptr, cgroup(1)).io;
  EXPECT_FALSE(io.has_bpf);
  EXPECT_FALSE(io.has_iowait);
}

// ---- I/O, cgroupfs and the CPU collector ----

TEST(IoModelTest, IoStatDeltasPerDiskAndTotals) {
  auto p = cgroup(1);
  p.io_stat = {{kSda, 1000, 2000, 10, 20, 512, 1}, {kSdb, 50, 60, 5, 6, 0, 0}};
  auto c = cgroup(1);
  c.io_stat = {{kSda, 1500, 2600, 15, 26, 1024, 2},
               {kSdb, 8, 4, 1, 1, 0, 0},        // reset (device re-added): from zero
               {kNvme, 300, 400, 3, 4, 0, 0}};  // new disk: from zero
  const auto io = derive_one(&p, c).io;
  ASSERT_EQ(io.stat.size(), 3u);
  EXPECT_EQ(io.stat[0], (IoStatDevice{kSda, 500, 600, 5, 6, 512, 1}));
  EXPECT_EQ(io.stat[1], (IoStatDevice{kSdb, 8, 4, 1, 1, 0, 0}));
  EXPECT_EQ(io.stat[2], (IoStatDevice{kNvme, 300, 400, 3, 4, 0, 0}));
  EXPECT_EQ(io.stat_rbytes, 808u);
  EXPECT_EQ(io.stat_wbytes, 1004u);
  EXPECT_EQ(io.stat_rios, 9u);
  EXPECT_EQ(io.stat_wios, 11u);
}

TEST(IoModelTest, NoIoStatMeansNoTotals) {
  auto p = cgroup(1);
  p.io_stat = {{kSda, 1000, 2000, 10, 20, 0, 0}};
  const auto io = derive_one(&p, cgroup(1)).io;
  EXPECT_TRUE(io.stat.empty());
  EXPECT_FALSE(io.stat_rbytes);
  EXPECT_FALSE(io.stat_wios);
}

TEST(IoModelTest, IowaitComesFromTheCpuCollector) {
  auto p = cgroup(1);
  p.cpu_bpf = CpuBpfCounters{};
  p.cpu_bpf->iowait_ns = 1'000'000;
  p.cpu_bpf->iowait_count = 2;
  auto c = p;
  c.cpu_bpf->iowait_ns = 3'500'000;
  c.cpu_bpf->iowait_count = 7;
  const auto io = derive_one(&p, c).io;
  EXPECT_TRUE(io.has_iowait);
  EXPECT_EQ(io.iowait_ns, 2'500'000u);
  EXPECT_EQ(io.iowait_count, 5u);
}

TEST(IoModelTest, PressureStallDeltasAndKnobsAsOfTheEnd) {
  auto p = cgroup(1);
  p.io_pressure.some = PsiLine{1, 1, 1, 10'000};
  p.io_pressure.full = PsiLine{0, 0, 0, 4'000};
  p.io_knobs.weight = 100;
  auto c = p;
  c.io_pressure.some = PsiLine{5, 2, 1, 25'000};
  c.io_pressure.full = PsiLine{2, 1, 0, 4'500};
  c.io_knobs.weight = 300;
  c.io_knobs.weight_file = "io.weight";
  c.io_knobs.limits = {IoDeviceLimit{kSdb, 2097152, std::nullopt, std::nullopt, 120}};
  const auto io = derive_one(&p, c).io;
  EXPECT_EQ(io.pressure_some_usec, 15'000u);
  EXPECT_EQ(io.pressure_full_usec, 500u);
  ASSERT_TRUE(io.pressure.some);
  EXPECT_DOUBLE_EQ(io.pressure.some->avg10, 5.0);
  EXPECT_EQ(io.knobs, c.io_knobs);
}

// ---- memory ----

TEST(MemoryModelTest, ReclaimAndCacheDeltas) {
  auto p = cgroup(1);
  p.memory_bpf = MemoryBpfCounters{};
  auto& pb = *p.memory_bpf;
  pb.direct_reclaim_ns = 1'000;
  pb.direct_reclaim_count = 1;
  pb.memcg_reclaim_ns = 2'000;
  pb.memcg_reclaim_count = 2;
  pb.reclaimed_pages = 100;
  pb.reclaim_ns.add(1'000, 3);
  pb.file_faults = 10;
  pb.oom_kills = 1;
  auto c = p;
  auto& cb = *c.memory_bpf;
  cb.direct_reclaim_ns = 501'000;
  cb.direct_reclaim_count = 3;
  cb.memcg_reclaim_ns = 1'002'000;
  cb.memcg_reclaim_count = 6;
  cb.reclaimed_pages = 356;
  cb.reclaim_ns.add(250'000, 2);
  cb.reclaim_ns.add(250'000, 4);
  cb.file_faults = 15;
  cb.oom_kills = 2;
  const auto m = derive_one(&p, c).memory;
  EXPECT_TRUE(m.has_bpf);
  EXPECT_EQ(m.direct_reclaim_ns, 500'000u);
  EXPECT_EQ(m.direct_reclaim_count, 2u);
  EXPECT_EQ(m.memcg_reclaim_ns, 1'000'000u);
  EXPECT_EQ(m.memcg_reclaim_count, 4u);
  EXPECT_EQ(m.reclaimed_pages, 256u);
  EXPECT_EQ(m.reclaim_ns.count(), 6u);
  EXPECT_EQ(m.reclaim_ns.buckets()[Log2Histogram::bucket_of(250'000)], 6u);
  EXPECT_EQ(m.file_faults, 5u);
  EXPECT_EQ(m.oom_kills, 1u);

  auto reset = cgroup(1);  // collector restarted: counts from zero
  reset.memory_bpf = MemoryBpfCounters{};
  reset.memory_bpf->direct_reclaim_ns = 400;
  reset.memory_bpf->reclaimed_pages = 7;
  const auto r = derive_one(&p, reset).memory;
  EXPECT_EQ(r.direct_reclaim_ns, 400u);
  EXPECT_EQ(r.reclaimed_pages, 7u);
}

TEST(MemoryModelTest, CacheHitRatioIsUnknownWhenNothingWasAccessed) {
  auto p = cgroup(1);
  p.memory_bpf = MemoryBpfCounters{};
  p.memory_bpf->cache_accessed_pages = 500;
  p.memory_bpf->cache_other_added_pages = 10;
  auto c = p;
  c.memory_bpf->cache_other_added_pages = 90;  // only writes added pages
  const auto m = derive_one(&p, c).memory;
  EXPECT_FALSE(m.cache_hit_ratio);
  EXPECT_EQ(m.cache_other_added_pages, 80u);
}

TEST(MemoryModelTest, CacheHitRatioIsZeroWhenMissesReachAccesses) {
  auto p = cgroup(1);
  p.memory_bpf = MemoryBpfCounters{};
  for (std::uint64_t added : {100u, 400u}) {  // misses == accessed, and readahead beyond it
    auto c = p;
    c.memory_bpf->cache_accessed_pages = 100;
    c.memory_bpf->cache_read_added_pages = added;
    const auto m = derive_one(&p, c).memory;
    ASSERT_TRUE(m.cache_hit_ratio) << added;
    EXPECT_DOUBLE_EQ(*m.cache_hit_ratio, 0.0) << added;
  }
}

TEST(MemoryModelTest, CacheHitRatioIsOneMinusMissesOverAccesses) {
  auto p = cgroup(1);
  p.memory_bpf = MemoryBpfCounters{};
  p.memory_bpf->cache_accessed_pages = 1000;
  p.memory_bpf->cache_read_added_pages = 100;
  auto c = p;
  c.memory_bpf->cache_accessed_pages = 2000;   // +1000 accessed
  c.memory_bpf->cache_read_added_pages = 350;  // +250 missed
  const auto m = derive_one(&p, c).memory;
  EXPECT_EQ(m.cache_accessed_pages, 1000u);
  EXPECT_EQ(m.cache_read_added_pages, 250u);
  ASSERT_TRUE(m.cache_hit_ratio);
  EXPECT_DOUBLE_EQ(*m.cache_hit_ratio, 0.75);
}

TEST(MemoryModelTest, CgroupfsCountersAreDeltasAndGaugesAreAsOfTheEnd) {
  auto p = cgroup(1);
  p.memory_stat = MemoryStat{1000, 2000, 10, 1, 5, 50'000, 100, 7, 70};
  auto c = cgroup(1);
  c.memory_stat = MemoryStat{1500, 1800, 30, 2, 6, 50'600, 112, 9, 75};
  const auto m = derive_one(&p, c).memory;
  EXPECT_EQ(m.pgfault, 600u);
  EXPECT_EQ(m.pgmajfault, 12u);
  EXPECT_EQ(m.workingset_refault_anon, 2u);
  EXPECT_EQ(m.workingset_refault_file, 5u);
  EXPECT_EQ(m.stat.anon_bytes, 1500u);
  EXPECT_EQ(m.stat.file_bytes, 1800u);
  EXPECT_EQ(m.stat.file_dirty_bytes, 30u);
  EXPECT_EQ(m.stat.file_writeback_bytes, 2u);
  EXPECT_EQ(m.stat.shmem_bytes, 6u);
}

TEST(MemoryModelTest, CgroupfsCountersWithoutPreviousOrResetCountFromZero) {
  auto p = cgroup(1);
  p.memory_stat.pgmajfault = 1000;  // pgfault never read before
  auto c = cgroup(1);
  c.memory_stat.pgfault = 40;
  c.memory_stat.pgmajfault = 3;  // smaller: reset
  const auto m = derive_one(&p, c).memory;
  EXPECT_EQ(m.pgfault, 40u);
  EXPECT_EQ(m.pgmajfault, 3u);
  EXPECT_FALSE(m.workingset_refault_file);  // not read now: unknown, not 0
}

TEST(MemoryModelTest, EventsAreDeltasKnobsAsOfTheEnd) {
  auto p = cgroup(1);
  p.memory_events = MemoryEvents{0, 10, 3, 1, 1};
  p.memory_knobs.max_bytes = 1 << 30;
  auto c = cgroup(1);
  c.memory_events = MemoryEvents{0, 17, 2, 2, 2};  // max went down: reset
  c.memory_knobs.current_bytes = 900'000'000;
  c.memory_knobs.max_bytes = 2u << 30;
  c.memory_knobs.v1 = true;
  const auto m = derive_one(&p, c).memory;
  EXPECT_EQ(m.events, (MemoryEvents{0, 7, 2, 1, 1}));
  EXPECT_EQ(m.knobs, c.memory_knobs);
}

TEST(MemoryModelTest, PressureStallDeltas) {
  auto p = cgroup(1);
  p.memory_pressure.some = PsiLine{0, 0, 0, 1'000};
  auto c = cgroup(1);
  c.memory_pressure.some = PsiLine{3, 2, 1, 9'000};
  c.memory_pressure.full = PsiLine{1, 0, 0, 2'000};  // no full line before: from zero
  const auto m = derive_one(&p, c).memory;
  EXPECT_EQ(m.pressure_some_usec, 8'000u);
  EXPECT_EQ(m.pressure_full_usec, 2'000u);
  EXPECT_EQ(m.pressure, c.memory_pressure);
  EXPECT_FALSE(derive_one(&p, cgroup(1)).memory.pressure_some_usec);  // not read now: unknown
}

// ---- JSON ----

TEST(IoMemoryJsonTest, CgroupIntervalHasIoAndMemoryObjects) {
  auto p = cgroup(1);
  p.cpu_bpf = CpuBpfCounters{};
  p.io_bpf = IoBpfCounters{};
  p.memory_bpf = MemoryBpfCounters{};
  p.io_stat = {{kSda, 1000, 0, 1, 0, 0, 0}};
  p.io_pressure.some = PsiLine{0, 0, 0, 100};
  p.memory_stat.pgmajfault = 10;
  p.memory_events.oom_kill = 1;
  auto c = p;
  c.cpu_bpf->iowait_ns = 7'000;
  c.cpu_bpf->iowait_count = 2;
  c.io_bpf->block = {row(kSdb, IoOp::kWrite, IoOwner::kBlkcg, 2, 8192),
                     row(kSdb, IoOp::kRead, IoOwner::kTask, 1, 4096)};
  c.io_bpf->dirty_throttle_ns = 30;
  c.io_stat = {{kSda, 5096, 0, 2, 0, 0, 0}};
  c.io_knobs.limits = {IoDeviceLimit{kSdb, 2097152, std::nullopt, std::nullopt, 120}};
  c.io_pressure.some = PsiLine{0, 0, 0, 350};
  c.memory_bpf->cache_accessed_pages = 100;
  c.memory_bpf->cache_read_added_pages = 25;
  c.memory_stat.pgmajfault = 13;
  c.memory_stat.anon_bytes = 4096;
  c.memory_knobs.max_bytes = 1 << 20;
  c.memory_events.oom_kill = 3;
  c.memory_pressure.full = PsiLine{0, 0, 0, 60};

  const auto j = to_json(derive_one(&p, c));
  ASSERT_TRUE(j.contains("io") && j["io"].is_object());
  ASSERT_TRUE(j.contains("memory") && j["memory"].is_object());
  const auto& io = j["io"];
  EXPECT_EQ(io["bpf"]["read_bytes"], 4096);
  EXPECT_EQ(io["bpf"]["write_bytes"], 8192);
  EXPECT_EQ(io["bpf"]["writeback_bytes"], 8192);
  EXPECT_EQ(io["bpf"]["dirty_throttle_ns"], 30);
  ASSERT_EQ(io["bpf"]["block"].size(), 2u);
  EXPECT_EQ(io["bpf"]["block"][0]["dev"], "8:16");
  EXPECT_EQ(io["bpf"]["block"][0]["owner"], "writeback_blkcg");
  EXPECT_EQ(io["iowait"]["ns"], 7000);
  EXPECT_EQ(io["iowait"]["count"], 2);
  EXPECT_EQ(io["cgroupfs"]["rbytes"], 4096);
  EXPECT_EQ(io["cgroupfs"]["rios"], 1);
  EXPECT_EQ(io["cgroupfs"]["stat"][0]["dev"], "8:0");
  EXPECT_EQ(io["knobs"]["limits"][0]["rbps"], 2097152);
  EXPECT_TRUE(io["knobs"]["limits"][0]["wbps"].is_null());  // max
  EXPECT_EQ(io["pressure"]["some_stall_usec"], 250);
  const auto& mem = j["memory"];
  EXPECT_DOUBLE_EQ(mem["bpf"]["cache_hit_ratio"].get<double>(), 0.75);
  EXPECT_EQ(mem["bpf"]["cache_miss_pages"], 25);
  EXPECT_EQ(mem["stat"]["pgmajfault"], 3);  // the delta, not the cumulative 13
  EXPECT_EQ(mem["stat"]["anon_bytes"], 4096);
  EXPECT_EQ(mem["knobs"]["max_bytes"], 1 << 20);
  EXPECT_TRUE(mem["knobs"]["high_bytes"].is_null());
  EXPECT_EQ(mem["events"]["oom_kill"], 2);
  EXPECT_EQ(mem["pressure"]["full_stall_usec"], 60);
}

TEST(IoMemoryJsonTest, WithoutCollectorsTheBpfPartsAreNull) {
  const auto j = to_json(derive_one(nullptr, cgroup(1)));
  EXPECT_TRUE(j["io"]["bpf"].is_null());
  EXPECT_TRUE(j["io"]["iowait"].is_null());
  EXPECT_TRUE(j["memory"]["bpf"].is_null());
  EXPECT_TRUE(j["io"]["cgroupfs"]["rbytes"].is_null());
  EXPECT_TRUE(j["memory"]["stat"]["pgfault"].is_null());
  auto idle = cgroup(1);
  idle.memory_bpf = MemoryBpfCounters{};
  EXPECT_TRUE(to_json(derive_one(nullptr, idle))["memory"]["bpf"]["cache_hit_ratio"].is_null());
}
