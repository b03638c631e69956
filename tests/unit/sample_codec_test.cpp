// The recording codec: every field of the model survives encode -> decode, as a key frame and
// as a delta, at extreme values; old and new records stay readable; garbage is an error.
#include "model/sample_codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "tests/support/synthetic_series.hpp"
#include "tests/support/field_count.hpp"

using namespace cgscope;
using namespace cgscope::model;

namespace {

// A new member of a model struct fails FieldCountsMatchTheCodec below until the codec and
// fill_every_field() handle it (test::field_count).
using cgscope::test::field_count;

constexpr const char* kAddedField =
    "a field was added: append it to the field list in model/sample_codec.cpp, set it in "
    "fill_every_field() or fill_every_nfs_field() in this file, and bump kCodecVersion";

Log2Histogram histogram(std::uint64_t seed) {
  Log2Histogram h;
  for (std::size_t i = 0; i < kLog2Buckets; ++i) h.add_to_bucket(i, seed * 1000 + i * 7 + 1);
  return h;
}

// Every field set, to values that differ between fields and between seeds.
CgroupSample fill_every_field(std::uint64_t seed) {
  CgroupSample cg;
  cg.identity.id = 1000 + seed;
  cg.identity.path = "/system.slice/docker-" + std::to_string(seed) + ".scope";
  cg.identity.container.runtime = Runtime::kDocker;
  cg.identity.container.container_id = "c" + std::to_string(seed);
  cg.identity.container.pod_uid = "pod-" + std::to_string(seed);
  cg.identity.container.qos = QosClass::kBurstable;
  cg.identity.container.systemd_unit = "docker-" + std::to_string(seed) + ".scope";
  cg.identity.container.systemd_slice = "system.slice";
  cg.identity.v1_cpu_path = "/v1cpu/" + std::to_string(seed);
  cg.identity.v1_cpuacct_path = "/v1acct/" + std::to_string(seed);
  cg.identity.v1_memory_path = "/v1mem/" + std::to_string(seed);
  cg.identity.v1_blkio_path = "/v1blkio/" + std::to_string(seed);
  cg.removed = seed % 2 == 1;
  CpuBpfCounters b;
  b.on_cpu_ns = 1'000'000'000ULL * seed + 1;
  b.voluntary_switches = 2 + seed;
  b.involuntary_switches = 3 + seed;
  b.migrations = 4 + seed;
  b.wakeup_delay_ns_sum = 5 + seed;
  b.preempt_delay_ns_sum = 6 + seed;
  b.wakeup_delay_ns = histogram(seed);
  b.preempt_delay_ns = histogram(seed + 100);
  b.iowait_ns = 61 + seed;
  b.iowait_count = 62 + seed;
  b.blame = {RunDelayBlame{0, 90 + seed, 91 + seed}, RunDelayBlame{cg.identity.id, 92 + seed, 93 + seed}};
  if (seed % 2) b.blame.push_back(RunDelayBlame{5000 + seed, 94 + seed, 95 + seed});
  b.blame_overflow_ns = 96 + seed;
  b.blame_overflow_waits = 97 + seed;
  cg.cpu_bpf = b;
  cg.cpu_stat = {7 + seed, 8 + seed, 9 + seed, 10 + seed, 11 + seed, 12 + seed};
  cg.cpu_knobs.quota_usec = 13 + static_cast<std::int64_t>(seed);
  cg.cpu_knobs.period_usec = 14 + seed;
  cg.cpu_knobs.weight = 15 + seed;
  cg.cpu_knobs.shares = 16 + seed;
  cg.cpu_knobs.cpuset_cpus = "0-" + std::to_string(seed);
  cg.cpu_knobs.quota_known = seed % 2 == 0;
  cg.cpu_pressure.some = PsiLine{0.17 + seed, 1.5 * seed, 3.14159 * seed, 19 + seed};
  cg.cpu_pressure.full = PsiLine{0.01 * seed, 0.2, 12.34, 23 + seed};
  cg.cpu_demand.slot_ns = 100'000'000 + seed;
  cg.cpu_demand.buckets = {CpuDemandBucket{static_cast<std::uint32_t>(10 + seed), 98 + seed},
                           CpuDemandBucket{static_cast<std::uint32_t>(200 + seed % 3), 99 + seed}};
  cg.cpu_demand.missed_slots = 100 + seed;
  IoBpfCounters io;
  for (std::uint64_t r = 0; r < 2 + seed % 2; ++r) {
    BlockIoCounters row{static_cast<std::uint32_t>(make_dev(8, 16 * r)), r % 2 ? IoOp::kWrite : IoOp::kRead,
                        r == 2 ? IoOwner::kDirtier : IoOwner::kTask, 30 + seed + r, 31 + seed, 32 + seed, 33 + seed,
                        34 + seed, 35 + seed, histogram(seed + 200 + r), histogram(seed + 300 + r)};
    io.block.push_back(row);
  }
  io.dirty_throttle_ns = 36 + seed;
  io.dirty_throttle_count = 37 + seed;
  cg.io_bpf = io;
  cg.io_stat = {IoStatDevice{make_dev(8, 0), 40 + seed, 41 + seed, 42 + seed, 43 + seed, 44 + seed, 45 + seed}};
  cg.io_knobs.weight = 46 + seed;
  cg.io_knobs.weight_file = seed % 2 ? "io.weight" : "blkio.bfq.weight";
  cg.io_knobs.limits = {IoDeviceLimit{make_dev(8, 0), 47 + seed, std::nullopt, 48 + seed, 49 + seed}};
  cg.io_pressure.some = PsiLine{0.5 * seed, 0.25, 1.0, 50 + seed};
  MemoryBpfCounters m{51 + seed, 52 + seed, 53 + seed, 54 + seed, 55 + seed, histogram(seed + 400),
                      56 + seed, 57 + seed, 58 + seed, 59 + seed, 60 + seed};
  cg.memory_bpf = m;
  cg.memory_stat = {63 + seed, 64 + seed, 65 + seed, 66 + seed, 67 + seed, 68 + seed, 69 + seed, 70 + seed, 71 + seed, 101 + seed, 102 + seed};
  cg.memory_knobs = {72 + seed, 73 + seed, 74 + seed, 75 + seed, std::nullopt, 76 + seed, 77 + seed,
                     seed % 2 == 0, seed % 2 == 1};
  cg.memory_events = {78 + seed, 79 + seed, 80 + seed, 81 + seed, 82 + seed};
  cg.memory_pressure.full = PsiLine{2.0, 0.3 * seed, 4.5, 83 + seed};
  return cg;
}

CgroupSample round_trip(const CgroupSample& value, const CgroupSample& base,
                        std::string* blob_out = nullptr) {
  std::string blob;
  codec::encode_cgroup(value, base, blob);
  CgroupSample out;
  out.identity = value.identity;  // not part of the cgroup record
  auto st = codec::decode_cgroup(blob, base, out);
  EXPECT_TRUE(st.ok()) << st.error();
  if (blob_out) *blob_out = blob;
  return out;
}

Sample sample_with_collectors(std::uint64_t seed) {
  Sample s;
  s.monotonic_ns = 0;  // timestamps are columns, not part of the info record
  s.nr_cpus = static_cast<int>(2 + seed);
  CollectorStatus a{
      "cgroupfs", true, "layout hybrid", {{"read_errors", seed}, {"parse_errors", 2 * seed + 1}}};
  CollectorStatus b{
      "cpu", seed % 2 == 0, "tp_btf+sched_info " + std::to_string(seed), {{"cgroup_map_full", 7 + seed}}};
  s.collectors = {a, b};
  return s;
}

// ---- NFS ----

NfsOpCounters nfs_op(std::uint64_t seed, std::size_t op) {
  NfsOpCounters o;
  o.count = 100 * seed + op + 1;
  o.time_ns = 1'000'000 * seed + op;
  for (std::size_t e = 0; e < kNfsErrors; ++e) o.errors[e] = (op + e + seed) % 4;
  o.time_ns_hist = histogram(seed + 10 * op);
  return o;
}

// Every field of an NfsSample set, to values that differ between fields and between seeds;
// rows of each list come and go between seeds (and some lists are not sorted by key).
NfsSample fill_every_nfs_field(std::uint64_t seed) {
  NfsSample n;
  n.active = seed % 2 == 0;
  n.negative_lookups_visible = seed % 3 != 0;
  const auto s32 = static_cast<std::uint32_t>(seed);
  for (std::uint32_t k = 0; k < 2 + seed % 3; ++k) {
    NfsMount m;
    m.dev = make_dev(0, 40 + k);
    m.sb_instance = 900 + k + (k == 0 ? s32 : 0);  // mount 0 is mounted again in every seed
    m.mount_id = 100 + k;
    m.vanished = (k + seed) % 4 == 3;
    m.mount_point = "/mnt/m" + std::to_string(k);
    m.server = "server" + std::to_string(seed);
    m.export_path = "/e" + std::to_string(k);
    m.source = m.server + ":" + m.export_path;
    m.fstype = k % 2 ? "nfs4" : "nfs";
    m.vers = k % 2 ? "4.2" : "3";
    m.options = {{"rw", ""}, {"vers", m.vers}, {"actimeo", std::to_string(seed)}};
    if (seed % 2) m.options["nocto"] = "";
    m.options["o" + std::to_string(seed)] = "v" + std::to_string(k);
    m.acregmin_s = s32;
    m.acregmax_s = 60 + s32;
    m.acdirmin_s = 30 + k;
    m.acdirmax_s = 61 + s32;
    m.attribute_cache = seed % 2 == 0;
    m.close_to_open = seed % 2 == 1;
    m.lookupcache = seed % 3 == 0 ? "none" : "positive";
    m.nconnect = 1 + s32 % 4;
    m.rsize = std::uint64_t{4096} << (seed % 8);
    if (seed % 2 == 0) m.wsize = 65536 + seed;
    n.mounts.push_back(m);

    NfsMountStats st;
    st.source = m.source;
    st.mount_point = m.mount_point;
    st.fstype = m.fstype;
    st.age_seconds = 1000 * seed + k;
    st.events = {
        {"inode_revalidate", 10 * seed + k}, {"vfs_open", seed}, {"e" + std::to_string(seed), seed + 1}};
    st.bytes = {{"normal_read", seed << 20}, {"normal_write", k}};
    st.transport = seed % 2 ? "tcp" : "rdma";
    st.xprt = {{"sends", 5 * seed}, {"bad_xids", seed % 2}};
    if (seed % 3 == 1) st.xprt["backlog_u"] = 77;
    NfsMountOpStats op{seed,     seed + 1, seed + 2, seed + 3,    seed + 4,
                       seed + 5, seed + 6, seed + 7, std::nullopt};
    if (seed % 2) op.errors = seed + 8;
    st.ops = {{"GETATTR", op},
              {"OP" + std::to_string(seed), NfsMountOpStats{k, 0, 0, 0, 0, 0, 0, k + seed, 0}}};
    n.mountstats.push_back(st);
  }
  for (std::uint64_t id : {1, 2, 3, 5, 8}) {
    if ((id + seed) % 5 == 0) continue;  // a different cgroup is missing in each seed
    for (const NfsMount& m : n.mounts) {
      NfsCgroupMountCounters c;
      c.cgroup_id = id;
      c.dev = m.dev;
      c.sb_instance = m.sb_instance;
      for (std::size_t op = 0; op < kNfsOps; ++op)
        if ((op + seed) % 3 != 0) c.ops[op] = nfs_op(seed + id, op);
      c.read_bytes = 11 + seed;
      c.write_bytes = 12 + seed;
      c.dirtied_pages = 13 + seed;
      c.invalidated_pages = 14 + seed;
      c.lookup_negative = 15 + seed;
      c.negative_trusted = 16 + seed;
      c.negative_rejected = 17 + seed;
      c.negative_stale = 18 + seed;
      c.silly_renames = 19 + seed;
      n.cgroups.push_back(c);
    }
    for (const std::string& proc :
         {std::string("GETATTR"), std::string("READ"), "P" + std::to_string(seed % 3)}) {
      NfsRpcCounters r;
      r.cgroup_id = id;
      r.prog = 100003;
      r.vers = 3 + static_cast<std::uint32_t>(id % 2);
      r.procedure = proc;
      r.count = 20 + seed + id;
      r.rtt_us = 21 + seed;
      r.execute_us = 22 + seed;
      r.retransmits = 23 + seed;
      r.timeouts = 24 + seed;
      r.rtt_us_hist = histogram(seed + 500 + id);
      r.execute_us_hist = histogram(seed + 600 + id);
      n.rpc.push_back(r);
    }
  }
  for (std::uint64_t fileid = 10 + seed % 2; fileid < 14 + seed % 3; ++fileid) {
    NfsFileCounters f;
    f.export_id = 1 + static_cast<std::uint32_t>(fileid % 2);
    f.fileid = fileid;
    for (std::uint64_t u = 0; u < 1 + (fileid + seed) % 3; ++u) {
      const NfsMount& m = n.mounts[u % n.mounts.size()];
      f.cgroups.push_back({seed % 2 ? 3 - u : u + 1, m.dev, m.sb_instance, 30 + seed + u, 31 + seed,
                           32 + seed, 33 + seed, 34 + seed});
    }
    f.overflow = seed % 2 ? 0 : seed + fileid;
    n.files.push_back(f);
  }
  for (std::uint32_t k = 0; k < 1 + seed % 3; ++k) {
    NfsStaleName name;
    name.export_id = 1 + k;
    name.dir_fileid = 50 + k;
    name.name_hash = 0xabc0000u + k + s32;
    name.victim_cgroup_id = 2;
    name.creator_cgroup_id = 3 + seed;
    name.victim_dev = n.mounts[0].dev;
    name.victim_sb_instance = n.mounts[0].sb_instance;
    name.count = 40 + seed;
    n.stale_names.push_back(name);
  }
  return n;
}

Sample sample_with_nfs(std::uint64_t seed) {
  Sample s = sample_with_collectors(seed);
  s.page_size = seed % 2 ? 4096 : 65536;
  s.nfs = fill_every_nfs_field(seed);
  return s;
}

// Encodes the sample-wide part of `value` against `base` and decodes it twice: into a new
// Sample, and in place over a copy of the base (as the recording reader does).
Sample info_round_trip(const Sample& value, const Sample& base, std::string* blob_out = nullptr) {
  std::string blob;
  codec::encode_sample_info(value, base, blob);
  Sample out;
  auto st = codec::decode_sample_info(blob, base, out);
  EXPECT_TRUE(st.ok()) << st.error();
  Sample in_place = base;
  st = codec::decode_sample_info(blob, in_place, in_place);
  EXPECT_TRUE(st.ok()) << st.error();
  EXPECT_TRUE(in_place == out) << "decoding in place differs";
  if (blob_out) *blob_out = blob;
  return out;
}

// An NFS client host in full: 4 mounts with mountstats, 20 (cgroup, mount) rows, 40 RPC rows,
// 50 files, 5 stale names (tests/support/synthetic_series.hpp).
Sample nfs_host_sample(std::size_t step = 3) {
  test::SyntheticSeries series(
      {.cgroups = 0, .seed = 8, .nfs = {.mounts = 4, .cgroup_mounts = 20, .files = 50, .stale_names = 5}});
  Sample s;
  for (std::size_t i = 0; i <= step; ++i) s = series.next();
  s.monotonic_ns = 0;  // not part of the info record
  s.realtime_ns = 0;
  return s;
}

std::size_t info_bytes(const Sample& value, const Sample& base) {
  std::string blob;
  EXPECT_EQ(info_round_trip(value, base, &blob), value);
  return blob.size();
}

}  // namespace

TEST(SampleCodecTest, FieldCountsMatchTheCodec) {
  EXPECT_EQ(field_count<CgroupSample>(), 16u) << kAddedField;
  EXPECT_EQ(field_count<CpuBpfCounters>(), 13u) << kAddedField;
  EXPECT_EQ(field_count<IoBpfCounters>(), 3u) << kAddedField;
  EXPECT_EQ(field_count<BlockIoCounters>(), 11u) << kAddedField;
  EXPECT_EQ(field_count<IoStatDevice>(), 7u) << kAddedField;
  EXPECT_EQ(field_count<IoKnobs>(), 3u) << kAddedField;
  EXPECT_EQ(field_count<IoDeviceLimit>(), 5u) << kAddedField;
  EXPECT_EQ(field_count<MemoryBpfCounters>(), 11u) << kAddedField;
  EXPECT_EQ(field_count<MemoryStat>(), 11u) << kAddedField;
  EXPECT_EQ(field_count<MemoryKnobs>(), 9u) << kAddedField;
  EXPECT_EQ(field_count<MemoryEvents>(), 5u) << kAddedField;
  EXPECT_EQ(field_count<CpuStat>(), 6u) << kAddedField;
  EXPECT_EQ(field_count<CpuKnobs>(), 6u) << kAddedField;
  EXPECT_EQ(field_count<Pressure>(), 2u) << kAddedField;
  EXPECT_EQ(field_count<PsiLine>(), 4u) << kAddedField;
  EXPECT_EQ(field_count<CollectorStatus>(), 4u) << kAddedField;
  EXPECT_EQ(field_count<Sample>(), 7u) << kAddedField;
  EXPECT_EQ(field_count<NfsSample>(), 8u) << kAddedField;
  EXPECT_EQ(field_count<NfsMount>(), 21u) << kAddedField;
  EXPECT_EQ(field_count<NfsMountStats>(), 9u) << kAddedField;
  EXPECT_EQ(field_count<NfsMountOpStats>(), 9u) << kAddedField;
  EXPECT_EQ(field_count<NfsCgroupMountCounters>(), 13u) << kAddedField;
  EXPECT_EQ(field_count<NfsOpCounters>(), 4u) << kAddedField;
  EXPECT_EQ(field_count<NfsRpcCounters>(), 11u) << kAddedField;
  EXPECT_EQ(field_count<NfsFileCounters>(), 4u) << kAddedField;
  EXPECT_EQ(field_count<NfsFileCgroup>(), 8u) << kAddedField;
  EXPECT_EQ(field_count<NfsStaleName>(), 8u) << kAddedField;
  EXPECT_EQ(field_count<CgroupIdentity>(), 7u) << kAddedField;
  EXPECT_EQ(field_count<ContainerIdentity>(), 6u) << kAddedField;
}

TEST(SampleCodecTest, EveryFieldRoundTripsAsKeyFrameAndAsDelta) {
  const CgroupSample none;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const CgroupSample v = fill_every_field(seed);
    EXPECT_EQ(round_trip(v, none), v) << "key frame, seed " << seed;
    EXPECT_EQ(round_trip(v, fill_every_field(seed + 1)), v) << "delta to a later sample, seed " << seed;
    EXPECT_EQ(round_trip(v, fill_every_field(seed - 1)), v) << "delta to an earlier sample, seed " << seed;
    EXPECT_EQ(round_trip(none, v), none) << "back to defaults, seed " << seed;
  }
}

TEST(SampleCodecTest, UnchangedCgroupCostsNothing) {
  const CgroupSample v = fill_every_field(3);
  std::string blob;
  EXPECT_EQ(round_trip(v, v, &blob), v);
  EXPECT_EQ(blob.size(), 0u);
  EXPECT_EQ(round_trip(CgroupSample{}, CgroupSample{}, &blob), CgroupSample{});
  EXPECT_EQ(blob.size(), 0u);
}

TEST(SampleCodecTest, DecodesInPlaceOverItsBase) {
  const CgroupSample prev = fill_every_field(2), next = fill_every_field(3);
  std::string blob;
  codec::encode_cgroup(next, prev, blob);
  CgroupSample state = prev;
  ASSERT_TRUE(codec::decode_cgroup(blob, state, state).ok());
  state.identity = next.identity;
  EXPECT_EQ(state, next);
  // Presence changes in place: counters appear from nothing, and vanish.
  CgroupSample empty;
  codec::encode_cgroup(next, CgroupSample{}, blob = "");
  ASSERT_TRUE(codec::decode_cgroup(blob, empty, empty).ok());
  empty.identity = next.identity;
  EXPECT_EQ(empty, next);
}

TEST(SampleCodecTest, ExtremeValuesRoundTrip) {
  CgroupSample v = fill_every_field(1);
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  v.cpu_bpf->on_cpu_ns = max;
  v.cpu_bpf->migrations = 0;
  v.cpu_bpf->wakeup_delay_ns.add_to_bucket(63, max - v.cpu_bpf->wakeup_delay_ns.buckets()[63]);
  v.cpu_stat.usage_usec = max;
  v.cpu_knobs.quota_usec = std::numeric_limits<std::int64_t>::min();
  v.cpu_knobs.cpuset_cpus = std::string("a\0b\0", 4);  // embedded and trailing NUL bytes
  v.cpu_pressure.some = PsiLine{-0.0, std::numeric_limits<double>::infinity(), 1e300, max};
  v.cpu_pressure.full = PsiLine{std::numeric_limits<double>::denorm_min(), -12.34, 0.1 + 0.2, 0};
  CgroupSample base = fill_every_field(2);
  base.cpu_stat.usage_usec = 5;  // counter went backwards (reset): still exact
  for (const CgroupSample* b :
       {static_cast<const CgroupSample*>(&base), static_cast<const CgroupSample*>(nullptr)}) {
    const CgroupSample out = round_trip(v, b ? *b : CgroupSample{});
    EXPECT_EQ(out, v);
    EXPECT_TRUE(std::signbit(out.cpu_pressure.some->avg10)) << "-0.0 keeps its sign";
  }
  CgroupSample nan = v;
  nan.cpu_pressure.some->avg60 = std::nan("");
  const CgroupSample out = round_trip(nan, CgroupSample{});
  EXPECT_TRUE(std::isnan(out.cpu_pressure.some->avg60));
}

TEST(SampleCodecTest, SampleInfoAndIdentityRoundTrip) {
  const Sample none;
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    const Sample v = sample_with_collectors(seed);
    for (const Sample* base : {&none, &v}) {
      std::string blob;
      codec::encode_sample_info(v, *base, blob);
      Sample out;
      ASSERT_TRUE(codec::decode_sample_info(blob, *base, out).ok());
      EXPECT_EQ(out, v);
    }
    const Sample other = sample_with_collectors(seed + 1);
    std::string blob;
    codec::encode_sample_info(v, other, blob);
    Sample out;
    ASSERT_TRUE(codec::decode_sample_info(blob, other, out).ok());
    EXPECT_EQ(out, v);
  }
  const CgroupIdentity id = fill_every_field(5).identity;
  std::string blob;
  codec::encode_identity(id, blob);
  CgroupIdentity out;
  ASSERT_TRUE(codec::decode_identity(blob, out).ok());
  EXPECT_EQ(out, id);
}

// A record from an older cgscope has fewer fields: they keep the base's values. A record from
// a newer one has more: they are ignored.
TEST(SampleCodecTest, OlderAndNewerRecordsAreRead) {
  const CgroupSample base = fill_every_field(2);
  CgroupSample v = base;
  v.removed = !v.removed;  // the first field only
  std::string blob;
  codec::encode_cgroup(v, base, blob);
  EXPECT_EQ(blob.size(), 1u) << "trailing unchanged fields are not written";
  EXPECT_EQ(round_trip(v, base), v);

  const CgroupSample full = fill_every_field(3);
  codec::encode_cgroup(full, base, blob = "");
  blob += std::string("\x05\x81\x01\x00\x07zz", 7);  // fields a newer writer appended
  CgroupSample out;
  out.identity = full.identity;
  ASSERT_TRUE(codec::decode_cgroup(blob, base, out).ok());
  EXPECT_EQ(out, full);

  // Same for the sample-wide record: page size and NFS data unchanged, then a field this
  // version does not know.
  Sample s = sample_with_collectors(1);
  std::string info;
  codec::encode_sample_info(s, Sample{}, info);
  Sample decoded;
  ASSERT_TRUE(codec::decode_sample_info(info + std::string("\x00\x00\x03", 3), Sample{}, decoded).ok());
  EXPECT_EQ(decoded, s);
}

TEST(SampleCodecTest, MalformedRecordsAreErrorsNotCrashes) {
  const CgroupSample base = fill_every_field(1);
  CgroupSample out;
  auto bad = [&](const std::string& blob) {
    auto st = codec::decode_cgroup(blob, base, out);
    EXPECT_FALSE(st.ok()) << "accepted " << blob.size() << " bytes";
    if (!st.ok()) {
      EXPECT_NE(st.error().find("malformed record"), std::string::npos) << st.error();
    }
  };
  bad(std::string(11, '\xff'));  // varint longer than 64 bits
  bad(std::string("\x07", 1));   // a flag can only be 0 or 1
  // removed=0, presence=0 (cpu_bpf stays), 6 counters, 2 histograms, 10 optionals, then a string
  // claiming 100 bytes.
  bad(std::string(1 + 1 + 6 + 2 + 10, '\0') +
      "\x65"
      "abc");
  Sample s;
  EXPECT_FALSE(codec::decode_sample_info(std::string("\x00\xff\xff\x03", 4), Sample{}, s).ok())
      << "a list of 65534 collectors";

  // Random bytes and flipped bits of a valid record: each decode succeeds or fails cleanly.
  std::mt19937_64 rng(7);
  std::string valid;
  codec::encode_cgroup(fill_every_field(4), CgroupSample{}, valid);
  for (int i = 0; i < 20000; ++i) {
    std::string blob = valid;
    if (i % 2) {
      blob.resize(rng() % 64);
      for (char& c : blob) c = static_cast<char>(rng());
    } else {
      blob[rng() % blob.size()] ^= static_cast<char>(1 << (rng() % 8));
    }
    CgroupSample o;
    (void)codec::decode_cgroup(blob, base, o);
    Sample so;
    (void)codec::decode_sample_info(blob, Sample{}, so);
    CgroupIdentity io;
    (void)codec::decode_identity(blob, io);
  }
}

// ---- NFS and the page size (codec version 3) ----

TEST(SampleCodecTest, EveryNfsFieldRoundTripsAsKeyFrameAndAsDelta) {
  const Sample none;
  for (std::uint64_t seed = 1; seed <= 7; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Sample v = sample_with_nfs(seed);
    ASSERT_FALSE(v.nfs.cgroups.empty());
    EXPECT_EQ(info_round_trip(v, none), v) << "key frame";
    EXPECT_EQ(info_round_trip(v, sample_with_nfs(seed + 1)), v) << "delta to a later sample";
    EXPECT_EQ(info_round_trip(v, sample_with_nfs(seed - 1)), v) << "delta to an earlier sample";
    EXPECT_EQ(info_round_trip(v, sample_with_collectors(seed)), v) << "NFS data appears";
    EXPECT_EQ(info_round_trip(sample_with_collectors(seed), v), sample_with_collectors(seed)) << "and goes";
    EXPECT_EQ(info_round_trip(none, v), none) << "back to defaults";
  }
}

TEST(SampleCodecTest, UnchangedNfsCostsNothing) {
  const Sample v = sample_with_nfs(3);
  EXPECT_EQ(info_bytes(v, v), 0u);
  const Sample host = nfs_host_sample();
  EXPECT_EQ(info_bytes(host, host), 0u);
}

// A sample without NFS data or page size is encoded exactly as codec version 2 encoded it
// (bytes from the version 2 encoder), and such a record decodes with no NFS data.
TEST(SampleCodecTest, Version2RecordsReadWithoutNfs) {
  static constexpr char kV2KeyFrame[] =
      "\x06\x04\x34\x09\x63\x67\x72\x6f\x75\x70\x66\x73\x01\x0e\x6c\x61\x79\x6f\x75\x74\x20\x68\x79\x62\x72"
      "\x69"
      "\x64\x02\x0d\x70\x61\x72\x73\x65\x5f\x65\x72\x72\x6f\x72\x73\x06\x0c\x72\x65\x61\x64\x5f\x65\x72\x72"
      "\x6f"
      "\x72\x73\x02\x2b\x04\x63\x70\x75\x00\x14\x74\x70\x5f\x62\x74\x66\x2b\x73\x63\x68\x65\x64\x5f\x69\x6e"
      "\x66"
      "\x6f\x20\x31\x01\x10\x63\x67\x72\x6f\x75\x70\x5f\x6d\x61\x70\x5f\x66\x75\x6c\x6c\x10";
  static constexpr char kV2Delta[] =
      "\x02\x01\x1f\x00\x00\x00\x02\x0d\x70\x61\x72\x73\x65\x5f\x65\x72\x72\x6f\x72\x73\x0a\x0c\x72\x65\x61"
      "\x64"
      "\x5f\x65\x72\x72\x6f\x72\x73\x04\x28\x00\x01\x14\x74\x70\x5f\x62\x74\x66\x2b\x73\x63\x68\x65\x64\x5f"
      "\x69"
      "\x6e\x66\x6f\x20\x32\x01\x10\x63\x67\x72\x6f\x75\x70\x5f\x6d\x61\x70\x5f\x66\x75\x6c\x6c\x12";
  const std::string v2_key_frame(kV2KeyFrame, sizeof kV2KeyFrame - 1),
      v2_delta(kV2Delta, sizeof kV2Delta - 1);
  const Sample one = sample_with_collectors(1), two = sample_with_collectors(2);
  std::string blob;
  codec::encode_sample_info(one, Sample{}, blob);
  EXPECT_EQ(blob, v2_key_frame);
  codec::encode_sample_info(two, one, blob = "");
  EXPECT_EQ(blob, v2_delta);

  Sample out;
  ASSERT_TRUE(codec::decode_sample_info(v2_key_frame, Sample{}, out).ok());
  EXPECT_EQ(out, one);
  EXPECT_EQ(out.page_size, 0u) << "unknown: kDefaultPageSize is assumed";
  EXPECT_EQ(out.nfs, NfsSample{});
  ASSERT_TRUE(codec::decode_sample_info(v2_delta, out, out).ok());
  EXPECT_EQ(out, two);
}

// Rows that come and go cost their own bytes, not a new copy of the list: the edit script
// copies runs of unchanged rows, changes rows against the row with their key, adds and skips.
TEST(SampleCodecTest, KeyedRowsComeAndGoCheaply) {
  const Sample base = nfs_host_sample();
  ASSERT_EQ(base.nfs.files.size(), 50u);
  ASSERT_EQ(base.nfs.cgroups.size(), 20u);

  // Unchanged fields before the files: nr_cpus, collectors, page size, then in the NFS
  // sub-record (its length) two flags and four lists.
  const std::size_t before_files = 10;
  Sample v = base;
  ++v.nfs.files[17].cgroups[0].reads;
  // The script (n + 1, copy 17, change 1, copy 32: 2 bytes), the row's length and its own script
  // (n + 1, change 1, length, the change, copy the rest).
  EXPECT_LE(info_bytes(v, base), before_files + 11);

  v = base;
  v.nfs.files.erase(v.nfs.files.begin() + 20);
  EXPECT_LE(info_bytes(v, base), before_files + 4) << "a removed row: n + 1, copy 20, skip 1, copy 29";
  v.nfs.files.erase(v.nfs.files.begin());
  v.nfs.files.pop_back();
  EXPECT_LE(info_bytes(v, base), before_files + 5)
      << "the first and the last too: skip 1 ahead, nothing after";

  // A new row between two others costs what it costs on its own, plus the runs around it.
  Sample without = base;
  without.nfs.files.erase(without.nfs.files.begin() + 21);
  Sample alone;
  alone.nfs.files = {base.nfs.files[21]};
  const std::size_t own = info_bytes(alone, Sample{});
  EXPECT_LE(info_bytes(base, without), own + 3) << "copy 21, copy 28 (for the script's n + 1, new 1)";
  v = base;
  NfsFileCounters added = base.nfs.files[20];
  v.nfs.files.push_back(added);  // a duplicate key, out of order: exact, just not as small
  v.nfs.files.back().overflow = 9;
  info_bytes(v, base);

  // Every (cgroup, mount) row of one cgroup gone, another cgroup's rows new.
  v = base;
  std::erase_if(v.nfs.cgroups, [](const auto& c) { return c.cgroup_id == 10'002; });
  for (auto c : base.nfs.cgroups) {
    if (c.cgroup_id != 10'004) continue;
    c.cgroup_id = 10'009;
    v.nfs.cgroups.push_back(c);
  }
  info_bytes(v, base);
  // Rows not sorted by key (e.g. mounts in mountinfo order): exact in any order.
  v = base;
  std::reverse(v.nfs.cgroups.begin(), v.nfs.cgroups.end());
  std::rotate(v.nfs.files.begin(), v.nfs.files.begin() + 7, v.nfs.files.end());
  std::reverse(v.nfs.mounts.begin(), v.nfs.mounts.end());
  info_bytes(v, base);
  info_bytes(base, v);
  // Everything gone, everything new.
  v = base;
  v.nfs = NfsSample{};
  info_bytes(v, base);
  info_bytes(base, v);
}

// A map with the same keys costs only its changed values; keys that come and go are exact.
TEST(SampleCodecTest, MapsWithChangedAddedAndRemovedKeys) {
  const Sample base = nfs_host_sample();
  // Unchanged fields before the mountstats: nr_cpus, collectors, page size, then in the NFS
  // sub-record (its length) two flags and the mounts.
  const std::size_t before_mountstats = 7;
  Sample v = base;
  v.nfs.mountstats[2].events["vfs_open"] += 3;
  // The list's script (n + 1, copy 2, change 1, copy 1), the row's length, its age (unchanged)
  // and the events' script (n + 1, copy, change 1, the change, copy); the other maps trimmed.
  EXPECT_LE(info_bytes(v, base), before_mountstats + 11);
  v = base;
  for (auto& st : v.nfs.mountstats) ++st.age_seconds;  // what an idle mount changes each second
  EXPECT_LE(info_bytes(v, base), before_mountstats + 10) << "n + 1, change 4, then length and age of each";

  v = base;
  auto& st = v.nfs.mountstats[1];
  st.events.erase(st.events.begin());
  st.events.erase("vfs_lock");
  st.events["aaa_first"] = 1;
  st.events["zzz_last"] = std::numeric_limits<std::uint64_t>::max();
  st.events["vfs_lock2"] = 0;
  st.xprt.clear();
  st.ops.erase("GETATTR");
  st.ops["READ"].errors = 4;
  st.ops["NEW"] = NfsMountOpStats{};
  st.ops[""] = NfsMountOpStats{1, 2, 3, 4, 5, 6, 7, 8, std::nullopt};  // an empty key
  v.nfs.mounts[0].options.erase("hard");
  v.nfs.mounts[0].options["nocto"] = "";
  v.nfs.mounts[0].options["timeo"] = std::string(
      "6\0"
      "00",
      4);
  info_bytes(v, base);
  info_bytes(base, v);
  v.nfs.mountstats[3].bytes.clear();
  v.nfs.mountstats[3].events = {{"only", 0}};
  info_bytes(v, base);
  info_bytes(base, v);
}

TEST(SampleCodecTest, ExtremeNfsValuesRoundTrip) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint32_t max32 = std::numeric_limits<std::uint32_t>::max();
  Sample v = sample_with_nfs(4);
  v.page_size = max32;
  NfsSample& n = v.nfs;
  n.mounts[0].dev = max32;
  n.mounts[0].nconnect = 0;
  n.mounts[0].rsize = max;
  n.mounts[0].wsize = 0;
  n.mounts[0].mount_point = std::string("/a\0b\0", 5);
  n.mounts[0].options[std::string("k\0", 2)] = std::string("\0", 1);
  n.mounts.push_back(NfsMount{});  // all defaults: a new element equal to an empty one
  n.mountstats[0].age_seconds = max;
  n.mountstats[0].events["inode_revalidate"] = max;
  n.mountstats[0].ops["GETATTR"].errors = max;
  n.cgroups[0].cgroup_id = max;
  n.cgroups[0].ops[kNfsOps - 1].count = max;
  n.cgroups[0].ops[kNfsOps - 1].errors = {max, 0, max, 1, max - 1, max};
  n.cgroups[0].ops[0].time_ns_hist.add_to_bucket(63, max - n.cgroups[0].ops[0].time_ns_hist.buckets()[63]);
  n.cgroups[0].silly_renames = max;
  n.cgroups.push_back(NfsCgroupMountCounters{});
  n.rpc[0].procedure = "";
  n.rpc[0].rtt_us_hist.add_to_bucket(63, max);
  n.files[0].cgroups.push_back(NfsFileCgroup{});
  n.files[0].fileid = max;
  n.files[1].cgroups.clear();
  n.files.push_back(NfsFileCounters{});
  n.stale_names.push_back(NfsStaleName{});
  n.stale_names[0].name_hash = max32;
  Sample base = sample_with_nfs(5);
  base.nfs.cgroups[0].ops[3].count = max;  // counters that went backwards: still exact
  base.nfs.mountstats[0].events["vfs_open"] = max;
  for (const Sample* b : {static_cast<const Sample*>(&base), static_cast<const Sample*>(nullptr)}) {
    const Sample& bb = b ? *b : Sample{};
    EXPECT_EQ(info_round_trip(v, bb), v);
    EXPECT_EQ(info_round_trip(bb, v), bb);
  }
}

// Fields that a newer cgscope appends inside an NFS row or after the NFS fields are skipped.
TEST(SampleCodecTest, NewerNfsFieldsAreIgnored) {
  Sample v;
  NfsMount m;
  m.dev = 53;
  m.source = "s:/e";
  v.nfs.mounts = {m};
  std::string blob;
  codec::encode_sample_info(v, Sample{}, blob);
  // nr_cpus, collectors, page_size, NFS sub-record length, active, negative_lookups_visible,
  // mounts: 1 element, one new one, its sub-record.
  ASSERT_GE(blob.size(), 9u);
  ASSERT_EQ(blob.substr(0, 3), std::string(3, '\0'));
  ASSERT_EQ(static_cast<std::size_t>(blob[3]), blob.size() - 4);
  ASSERT_EQ(blob.substr(4, 4), std::string("\x00\x00\x02\x06", 4));
  const auto row = static_cast<std::size_t>(blob[8]);
  ASSERT_EQ(9 + row, blob.size());
  std::string newer = blob;
  // The row's trailing zeros (sb_instance, mount_id), then fields appended to it.
  newer.insert(9 + row, std::string("\x00\x00\x05\x81\x01zz", 7));
  newer[8] = static_cast<char>(row + 7);
  newer += std::string(5, '\0');                // the other lists: unchanged
  newer += std::string("\x07\x01\x00\x03", 4);  // new NFS fields
  newer[3] = static_cast<char>(newer.size() - 4);
  newer += std::string("\x09\x02", 2);  // a new sample-wide field
  Sample out;
  ASSERT_TRUE(codec::decode_sample_info(newer, Sample{}, out).ok());
  EXPECT_EQ(out, v);
}

TEST(SampleCodecTest, MalformedNfsRecordsAreErrorsNotCrashes) {
  auto bad = [](const std::string& nfs_record, const Sample& base, const std::string& what) {
    std::string blob(3, '\0');  // nr_cpus, collectors, page_size: as the base
    blob.push_back(static_cast<char>(nfs_record.size()));
    blob += nfs_record;
    Sample out;
    auto st = codec::decode_sample_info(blob, base, out);
    EXPECT_FALSE(st.ok()) << what;
    if (!st.ok()) {
      EXPECT_NE(st.error().find("malformed record"), std::string::npos) << st.error();
      EXPECT_EQ(st.error().find("malformed record: malformed"), std::string::npos) << st.error();
    }
  };
  const Sample none, host = nfs_host_sample();
  // active, negative_lookups_visible, then the mounts' script.
  bad(std::string("\x00\x00\x02\x00", 4), none, "a run of 0 elements");
  bad(std::string("\x00\x00\x02\x04", 4), none, "a copy from an empty base");
  bad(std::string("\x00\x00\x02\x0e\x00\x00\x00", 7), none, "3 new elements in a list of 1");
  bad(std::string("\x00\x00\x07\x1a\x00\x00\x00\x00\x00", 9), none, "6 new elements with 5 bytes left");
  bad(std::string("\x00\x00\x7f\x00", 4), none, "a list of 126 with 1 byte left");
  bad(std::string("\x00\x00\x02\x17\x04", 5), host, "a skip past the base's end");
  bad(std::string("\x00\x00\x02\x06\x05", 5), none, "a sub-record longer than the record");
  // Map keys out of order (a map is rebuilt exactly, never silently reordered).
  Sample v;
  NfsMount m;
  m.options = {{"kq", "1"}, {"kz", "2"}};
  v.nfs.mounts = {m};
  std::string blob;
  codec::encode_sample_info(v, Sample{}, blob);
  const auto q = blob.find("\x03kq"), z = blob.find("\x03kz");
  ASSERT_NE(q, std::string::npos);
  ASSERT_NE(z, std::string::npos);
  std::swap(blob[q + 2], blob[z + 2]);
  Sample out;
  auto st = codec::decode_sample_info(blob, Sample{}, out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("map keys out of order"), std::string::npos) << st.error();

  // Flipped bits, truncations and random bytes of real NFS records, as key frames and deltas,
  // decoded into a new sample and in place: each decode succeeds or fails cleanly.
  std::mt19937_64 rng(11);
  const Sample next = nfs_host_sample(4);
  std::vector<std::pair<std::string, const Sample*>> valid(3);
  codec::encode_sample_info(host, Sample{}, valid[0].first);
  valid[0].second = &none;
  codec::encode_sample_info(next, host, valid[1].first);
  valid[1].second = &host;
  codec::encode_sample_info(sample_with_nfs(2), sample_with_nfs(1), valid[2].first);
  const Sample one = sample_with_nfs(1);
  valid[2].second = &one;
  for (int i = 0; i < 6000; ++i) {
    const auto& [good, base] = valid[i % valid.size()];
    std::string blob = good;
    switch (rng() % 3) {
      case 0:
        blob[rng() % blob.size()] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:
        blob.resize(rng() % blob.size());
        break;
      default:
        blob.resize(rng() % 96);
        for (char& c : blob) c = static_cast<char>(rng());
    }
    Sample o;
    (void)codec::decode_sample_info(blob, *base, o);
    Sample in_place = *base;
    (void)codec::decode_sample_info(blob, in_place, in_place);
  }
}
