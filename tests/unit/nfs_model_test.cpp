// model::derive_nfs (interval deltas and the hazards of one interval) and cli::render_nfs, on
// hand-built samples: no kernel involved.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "cli/format.hpp"
#include "model/cgroup_identity.hpp"
#include "model/nfs.hpp"
#include "model/nfs_hazards.hpp"
#include "model/snapshot.hpp"

using namespace cgscope;
using model::NfsOp;

namespace {

constexpr std::uint64_t kA = 101, kB = 202, kC = 303;
constexpr std::uint32_t kDev1 = (0u << 20) | 53, kDev2 = (0u << 20) | 54;
constexpr std::uint32_t kExport = 7;

std::size_t idx(NfsOp op) { return static_cast<std::size_t>(op); }

model::NfsMount mount(std::uint32_t dev, std::string mount_point, std::string server, std::string export_path) {
  model::NfsMount m;
  m.dev = dev;
  m.mount_point = std::move(mount_point);
  m.server = std::move(server);
  m.export_path = std::move(export_path);
  m.source = m.server + ":" + m.export_path;
  m.fstype = "nfs";
  m.vers = "3";
  return m;
}

model::NfsCgroupMountCounters row(std::uint64_t cg, std::uint32_t dev) {
  model::NfsCgroupMountCounters r;
  r.cgroup_id = cg;
  r.dev = dev;
  return r;
}

model::NfsOpCounters& op(model::NfsCgroupMountCounters& r, NfsOp o, std::uint64_t count, std::uint64_t time_ns) {
  auto& c = r.ops[idx(o)];
  c.count = count;
  c.time_ns = time_ns;
  return c;
}

model::NfsFileCgroup fc(std::uint64_t cg, std::uint32_t dev, std::uint64_t written, std::uint64_t dirtied,
                        std::uint64_t reads, std::uint64_t revalidations) {
  model::NfsFileCgroup c;
  c.cgroup_id = cg;
  c.dev = dev;
  c.written_bytes = written;
  c.dirtied_pages = dirtied;
  c.reads = reads;
  c.revalidations = revalidations;
  return c;
}

model::NfsFileCounters file(std::uint64_t fileid, std::vector<model::NfsFileCgroup> cgroups) {
  model::NfsFileCounters f;
  f.export_id = kExport;
  f.fileid = fileid;
  f.cgroups = std::move(cgroups);
  return f;
}

model::NfsStaleName stale(std::uint64_t dir, std::uint32_t hash, std::uint64_t victim, std::uint64_t creator,
                          std::uint32_t victim_dev, std::uint64_t count) {
  return model::NfsStaleName{kExport, dir, hash, victim, creator, victim_dev, 0, count};
}
model::NfsStaleName stale(std::uint64_t dir, std::uint32_t hash, std::uint64_t victim, std::uint64_t creator,
                          std::uint32_t victim_dev, std::uint32_t victim_sb_instance, std::uint64_t count) {
  return model::NfsStaleName{kExport, dir, hash, victim, creator, victim_dev, victim_sb_instance, count};
}

// A sample with the two mounts of one export: dev 1 as "srv:/data", dev 2 via another address.
model::NfsSample sample() {
  model::NfsSample s;
  s.active = true;
  s.negative_lookups_visible = true;
  s.mounts = {mount(kDev1, "/mnt/a", "srv", "/data"), mount(kDev2, "/mnt/b", "10.0.0.9", "/data")};
  return s;
}

const model::NfsCgroupMountInterval* find_row(const model::NfsInterval& n, std::uint64_t cg, std::uint32_t dev) {
  for (const auto& r : n.cgroups)
    if (r.cgroup_id == cg && r.dev == dev) return &r;
  return nullptr;
}

// ---- per (cgroup, dev) rows ----

TEST(NfsModelRows, OpDeltasPerCgroupAndDev) {
  auto prev = sample(), curr = sample();
  auto p1 = row(kA, kDev1), c1 = row(kA, kDev1), p2 = row(kA, kDev2), c2 = row(kA, kDev2);
  auto& po = op(p1, NfsOp::kRevalidate, 10, 1'000);
  po.errors[1] = 1;  // ESTALE
  po.time_ns_hist.add(100, 10);
  auto& co = op(c1, NfsOp::kRevalidate, 15, 1'800);
  co.errors[1] = 3;
  co.errors[0] = 2;  // ENOENT, new in this interval
  co.time_ns_hist.add(100, 10);
  co.time_ns_hist.add(5'000, 5);
  p1.read_bytes = 4096;
  c1.read_bytes = 3 * 4096;
  op(p2, NfsOp::kGetattr, 4, 400);  // same cgroup, other superblock: its own row
  op(c2, NfsOp::kGetattr, 6, 1'000);
  prev.cgroups = {p1, p2};
  curr.cgroups = {c1, c2};

  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.cgroups.size(), 2u);
  const auto* r1 = find_row(n, kA, kDev1);
  ASSERT_NE(r1, nullptr);
  const auto& d = r1->ops[idx(NfsOp::kRevalidate)];
  EXPECT_EQ(d.count, 5u);
  EXPECT_EQ(d.time_ns, 800u);
  EXPECT_EQ(d.errors[0], 2u);
  EXPECT_EQ(d.errors[1], 2u);
  EXPECT_EQ(d.time_ns_hist.count(), 5u);
  EXPECT_EQ(d.time_ns_hist.buckets()[model::Log2Histogram::bucket_of(5'000)], 5u);
  EXPECT_EQ(d.time_ns_hist.buckets()[model::Log2Histogram::bucket_of(100)], 0u);
  EXPECT_EQ(r1->read_bytes, 2u * 4096);
  EXPECT_EQ(r1->ops[idx(NfsOp::kGetattr)].count, 0u);
  const auto* r2 = find_row(n, kA, kDev2);
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(r2->ops[idx(NfsOp::kGetattr)].count, 2u);
  EXPECT_EQ(r2->ops[idx(NfsOp::kGetattr)].time_ns, 600u);
  EXPECT_EQ(r2->ops[idx(NfsOp::kRevalidate)].count, 0u);
}

TEST(NfsModelRows, IdleRowsAreLeftOutNewRowsCountWhole) {
  auto prev = sample(), curr = sample();
  auto idle = row(kA, kDev1);
  op(idle, NfsOp::kLookup, 9, 900);
  idle.negative_trusted = 4;
  auto bytes_only = row(kB, kDev1);
  bytes_only.write_bytes = 100;
  auto bytes_only_now = bytes_only;
  bytes_only_now.write_bytes = 150;
  auto fresh = row(kC, kDev2);
  op(fresh, NfsOp::kLookup, 3, 30).time_ns_hist.add(10, 3);
  fresh.negative_stale = 2;
  prev.cgroups = {idle, bytes_only};
  curr.cgroups = {idle, bytes_only_now, fresh};

  const auto n = model::derive_nfs(prev, curr);
  EXPECT_EQ(find_row(n, kA, kDev1), nullptr);
  const auto* b = find_row(n, kB, kDev1);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->write_bytes, 50u);
  const auto* c = find_row(n, kC, kDev2);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ops[idx(NfsOp::kLookup)], fresh.ops[idx(NfsOp::kLookup)]);
  EXPECT_EQ(c->negative_stale, 2u);
  EXPECT_EQ(n.cgroups.size(), 2u);
}

TEST(NfsModelRows, CounterThatWentBackwardsCountsCurrWhole) {
  auto prev = sample(), curr = sample();
  auto p = row(kA, kDev1), c = row(kA, kDev1);
  op(p, NfsOp::kWrite, 100, 10'000).time_ns_hist.add(100, 100);
  op(c, NfsOp::kWrite, 3, 300).time_ns_hist.add(100, 3);
  p.dirtied_pages = 50;
  c.dirtied_pages = 7;
  prev.cgroups = {p};
  curr.cgroups = {c};
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.cgroups.size(), 1u);
  EXPECT_EQ(n.cgroups[0].ops[idx(NfsOp::kWrite)], c.ops[idx(NfsOp::kWrite)]);
  EXPECT_EQ(n.cgroups[0].dirtied_pages, 7u);
}

TEST(NfsModelRows, StallSumsWaitingOpsButNotReadWriteCommit) {
  model::NfsCgroupMountInterval r;
  for (std::size_t i = 0; i < model::kNfsOps; ++i) r.ops[i].time_ns = std::uint64_t{1} << i;
  const std::uint64_t all = (std::uint64_t{1} << model::kNfsOps) - 1;
  const std::uint64_t rpcs = (1u << idx(NfsOp::kCommit)) | (1u << idx(NfsOp::kRead)) | (1u << idx(NfsOp::kWrite));
  EXPECT_EQ(r.stall_ns(), all & ~rpcs);
  model::NfsCgroupMountInterval only_io;
  only_io.ops[idx(NfsOp::kRead)].time_ns = 1'000;
  only_io.ops[idx(NfsOp::kWrite)].time_ns = 2'000;
  only_io.ops[idx(NfsOp::kCommit)].time_ns = 3'000;
  EXPECT_EQ(only_io.stall_ns(), 0u);
}

// ---- shared writers ----

TEST(NfsModelSharedWriters, WriterOnOneMountReaderOnAnother) {
  auto prev = sample(), curr = sample();
  prev.files = {file(42, {fc(kA, kDev1, 1'000, 1, 0, 0), fc(kB, kDev2, 0, 0, 2, 5)})};
  curr.files = {file(42, {fc(kA, kDev1, 9'000, 3, 0, 0), fc(kB, kDev2, 0, 0, 2, 8)})};
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.shared_writers.size(), 1u);
  const auto& h = n.shared_writers[0];
  EXPECT_EQ(h.fileid, 42u);
  EXPECT_EQ(h.export_name, "srv:/data");  // the writer's mount
  ASSERT_EQ(h.writers.size(), 1u);
  EXPECT_EQ(h.writers[0].cgroup_id, kA);
  EXPECT_EQ(h.writers[0].dev, kDev1);
  EXPECT_EQ(h.writers[0].written_bytes, 8'000u);
  EXPECT_EQ(h.writers[0].dirtied_pages, 2u);
  ASSERT_EQ(h.readers.size(), 1u);
  EXPECT_EQ(h.readers[0].cgroup_id, kB);
  EXPECT_EQ(h.readers[0].dev, kDev2);
  EXPECT_EQ(h.readers[0].revalidations, 3u);
  EXPECT_EQ(h.readers[0].reads, 0u);
  EXPECT_EQ(n.shared_files_not_shown, 0u);
}

TEST(NfsModelSharedWriters, NoHazardWithoutAnotherCgroupOrWithoutAWriteInTheInterval) {
  auto prev = sample(), curr = sample();
  // 1: only A writes and reads it. 2: B reads, A's writes are all from before the interval.
  // 3: A only dirtied pages (no WRITE yet), C read it: a writer all the same.
  prev.files = {file(1, {fc(kA, kDev1, 100, 1, 1, 1)}), file(2, {fc(kA, kDev1, 5'000, 2, 0, 0), fc(kB, kDev2, 0, 0, 4, 4)})};
  curr.files = {file(1, {fc(kA, kDev1, 900, 4, 6, 6)}), file(2, {fc(kA, kDev1, 5'000, 2, 0, 0), fc(kB, kDev2, 0, 0, 9, 9)}),
                file(3, {fc(kA, kDev1, 0, 2, 0, 0), fc(kC, kDev2, 0, 0, 1, 0)})};
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.shared_writers.size(), 1u);
  EXPECT_EQ(n.shared_writers[0].fileid, 3u);
  ASSERT_EQ(n.shared_writers[0].readers.size(), 1u);
  EXPECT_EQ(n.shared_writers[0].readers[0].cgroup_id, kC);
  EXPECT_EQ(n.shared_writers[0].readers[0].reads, 1u);
}

TEST(NfsModelSharedWriters, KeepsTheMaxFilesMostWrittenAndCountsTheRest) {
  const auto prev = sample();
  auto curr = sample();
  // Bytes written: file 10: 100, 11: 400, 12: 2 dirtied pages = 8192, 13: 300, 14: 200.
  for (auto [id, bytes] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{{10, 100}, {11, 400}, {13, 300}, {14, 200}})
    curr.files.push_back(file(id, {fc(kA, kDev1, bytes, 0, 0, 0), fc(kB, kDev2, 0, 0, 1, 0)}));
  curr.files.push_back(file(12, {fc(kA, kDev1, 0, 2, 0, 0), fc(kB, kDev2, 0, 0, 0, 1)}));
  curr.files.push_back(file(15, {fc(kA, kDev1, 99'999, 0, 0, 0)}));  // not shared: not counted
  const auto n = model::derive_nfs(prev, curr, 3);
  ASSERT_EQ(n.shared_writers.size(), 3u);
  EXPECT_EQ(n.shared_writers[0].fileid, 12u);
  EXPECT_EQ(n.shared_writers[1].fileid, 11u);
  EXPECT_EQ(n.shared_writers[2].fileid, 13u);
  EXPECT_EQ(n.shared_files_not_shown, 2u);
  EXPECT_EQ(model::derive_nfs(prev, curr).shared_writers.size(), 5u);
  EXPECT_EQ(model::derive_nfs(prev, curr).shared_files_not_shown, 0u);
}

// ---- negative lookups ----

TEST(NfsModelNegativeLookups, AggregatesPerVictimCreatorAndMount) {
  auto prev = sample(), curr = sample();
  prev.stale_names = {stale(1, 11, kB, kA, kDev2, 1), stale(5, 50, kC, kA, kDev1, 4)};
  curr.stale_names = {
      stale(1, 11, kB, kA, kDev2, 3),  // +2
      stale(1, 12, kB, kA, kDev2, 2),  // new: +2
      stale(2, 11, kB, kA, kDev2, 1),  // new: +1, another directory
      stale(5, 50, kC, kA, kDev1, 4),  // no delta: nothing
      stale(6, 60, kB, kC, kDev2, 1),  // other creator: its own hazard
  };
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.negative_lookups.size(), 2u);
  const auto& h = n.negative_lookups[0];  // most stale lookups first
  EXPECT_EQ(h.victim_cgroup_id, kB);
  EXPECT_EQ(h.creator_cgroup_id, kA);
  EXPECT_EQ(h.victim_dev, kDev2);
  EXPECT_EQ(h.export_name, "10.0.0.9:/data");  // the victim's mount
  EXPECT_EQ(h.stale_lookups, 5u);
  EXPECT_EQ(h.names, 3u);
  EXPECT_EQ(h.directories, 2u);
  const auto& o = n.negative_lookups[1];
  EXPECT_EQ(o.creator_cgroup_id, kC);
  EXPECT_EQ(o.stale_lookups, 1u);
  EXPECT_EQ(o.names, 1u);
  EXPECT_EQ(o.directories, 1u);

  curr.stale_names = prev.stale_names;
  EXPECT_TRUE(model::derive_nfs(prev, curr).negative_lookups.empty());
}

// ---- superblocks that reuse a dev (unmount + mount within one interval) ----

// /mnt/b was mounted with lookupcache=all (instance 7) and, during the interval, unmounted and
// mounted again with lookupcache=positive; the new superblock got the same dev (instance 9).
model::NfsSample remounted() {
  auto s = sample();
  s.mounts[1].sb_instance = 9;
  s.mounts[1].lookupcache = "positive";
  auto old = mount(kDev2, "/mnt/b", "10.0.0.9", "/data");
  old.sb_instance = 7;
  old.vanished = true;
  s.mounts.push_back(old);
  return s;
}

TEST(NfsModelRemount, EventsStayWithTheSuperblockTheyHappenedOn) {
  auto prev = sample();
  prev.mounts[1].sb_instance = 7;
  auto p_old = row(kB, kDev2);
  p_old.sb_instance = 7;
  op(p_old, NfsOp::kLookup, 5, 500);
  prev.cgroups = {p_old};
  prev.stale_names = {};

  auto curr = remounted();
  auto c_old = p_old;  // 3 more lookups on the old superblock, then it went
  op(c_old, NfsOp::kLookup, 8, 800);
  c_old.negative_stale = 4;
  auto c_new = row(kB, kDev2);  // the new one: its own row, from zero
  c_new.sb_instance = 9;
  op(c_new, NfsOp::kLookup, 2, 100);
  curr.cgroups = {c_old, c_new};
  curr.stale_names = {stale(1, 11, kB, kA, kDev2, 0, 4)};
  curr.stale_names[0].victim_sb_instance = 7;

  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.cgroups.size(), 2u);
  for (const auto& r : n.cgroups) {
    const model::NfsMount* m = n.mount(r.dev, r.sb_instance);
    ASSERT_NE(m, nullptr);
    if (r.sb_instance == 7) {
      EXPECT_EQ(r.ops[idx(NfsOp::kLookup)].count, 3u);
      EXPECT_TRUE(m->vanished);
      EXPECT_EQ(m->lookupcache, "all");
    } else {
      EXPECT_EQ(r.sb_instance, 9u);
      EXPECT_EQ(r.ops[idx(NfsOp::kLookup)].count, 2u);
      EXPECT_FALSE(m->vanished);
      EXPECT_EQ(m->lookupcache, "positive");
    }
  }
  ASSERT_EQ(n.negative_lookups.size(), 1u);
  const auto& h = n.negative_lookups[0];
  EXPECT_EQ(h.victim_sb_instance, 7u);
  const model::NfsMount* victim = n.mount(h.victim_dev, h.victim_sb_instance);
  ASSERT_NE(victim, nullptr);
  EXPECT_EQ(victim->lookupcache, "all");  // the options in force when it happened
  EXPECT_TRUE(victim->vanished);
  const std::string remedy = model::negative_lookup_remedy(n, h);
  EXPECT_NE(remedy.find("replaced during the interval by one with lookupcache=positive"), std::string::npos) << remedy;
  EXPECT_EQ(remedy.find("Fix:"), std::string::npos) << remedy;
}

TEST(NfsModelRemount, FindMountPrefersTheExactSuperblock) {
  const auto mounts = remounted().mounts;  // /mnt/a (instance 0), /mnt/b new (9), /mnt/b old (7)
  EXPECT_EQ(model::find_nfs_mount(mounts, kDev2, 9)->lookupcache, "positive");
  EXPECT_EQ(model::find_nfs_mount(mounts, kDev2, 7)->lookupcache, "all");
  // Instance unknown (a recording of an older cgscope): the mount still mounted.
  EXPECT_FALSE(model::find_nfs_mount(mounts, kDev2, 0)->vanished);
  // An instance no mount has (mounted and unmounted between two samples): none, rather than
  // the options of another superblock.
  EXPECT_EQ(model::find_nfs_mount(mounts, kDev2, 8), nullptr);
  // A mount whose instance could not be read matches any instance of its dev.
  EXPECT_EQ(model::find_nfs_mount(mounts, kDev1, 123)->mount_point, "/mnt/a");
  EXPECT_EQ(model::find_nfs_mount(mounts, model::make_dev(0, 99), 0), nullptr);
  EXPECT_EQ(model::nfs_export_name(mounts, model::make_dev(0, 99), 0), "dev 0:99");
}

TEST(NfsModelRemount, RemedyWhenTheMountIsStillThere) {
  auto prev = sample(), curr = sample();
  curr.stale_names = {stale(1, 11, kB, kA, kDev2, 0, 2)};
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.negative_lookups.size(), 1u);
  EXPECT_EQ(model::negative_lookup_remedy(n, n.negative_lookups[0]), "Fix: mount with lookupcache=positive on /mnt/b.");
}

// ---- mountstats ----

model::NfsMountStats stats(std::string mount_point, std::uint64_t age, std::uint64_t revalidate, std::uint64_t read,
                           std::uint64_t getattr_ops, std::uint64_t getattr_rtt, std::uint64_t getattr_errors) {
  model::NfsMountStats s;
  s.source = "srv:/data";
  s.mount_point = std::move(mount_point);
  s.fstype = "nfs";
  s.age_seconds = age;
  s.events = {{"inode_revalidate", revalidate}};
  s.bytes = {{"normal_read", read}};
  s.xprt = {{"sends", getattr_ops * 2}};
  s.ops["GETATTR"].ops = getattr_ops;
  s.ops["GETATTR"].rtt_ms = getattr_rtt;
  s.ops["GETATTR"].errors = getattr_errors;
  return s;
}

TEST(NfsModelMountStats, SubtractsPerSourceAndMountPoint) {
  auto prev = sample(), curr = sample();
  prev.mountstats = {stats("/mnt/a", 100, 10, 1'000, 10, 50, 1), stats("/mnt/a2", 100, 500, 50'000, 100, 900, 0)};
  curr.mountstats = {stats("/mnt/a", 110, 25, 4'000, 14, 70, 3), stats("/mnt/a2", 110, 501, 50'100, 101, 905, 0)};
  curr.mountstats[0].ops["READ"].ops = 6;  // new procedure: whole
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.mountstats_delta.size(), 2u);
  const auto& a = n.mountstats_delta[0];
  EXPECT_EQ(a.mount_point, "/mnt/a");
  EXPECT_EQ(a.events.at("inode_revalidate"), 15u);
  EXPECT_EQ(a.bytes.at("normal_read"), 3'000u);
  EXPECT_EQ(a.xprt.at("sends"), 8u);
  EXPECT_EQ(a.ops.at("GETATTR").ops, 4u);
  EXPECT_EQ(a.ops.at("GETATTR").rtt_ms, 20u);
  EXPECT_EQ(a.ops.at("GETATTR").errors, 2u);
  EXPECT_EQ(a.ops.at("READ").ops, 6u);
  const auto& b = n.mountstats_delta[1];
  EXPECT_EQ(b.mount_point, "/mnt/a2");
  EXPECT_EQ(b.events.at("inode_revalidate"), 1u);
  EXPECT_EQ(b.bytes.at("normal_read"), 100u);
  EXPECT_EQ(b.ops.at("GETATTR").ops, 1u);
}

TEST(NfsModelMountStats, RemountedMountCountsWhole) {
  auto prev = sample(), curr = sample();
  prev.mountstats = {stats("/mnt/a", 100, 10, 1'000, 10, 50, 1)};
  curr.mountstats = {stats("/mnt/a", 5, 12, 2'000, 3, 9, 0)};  // younger: a new mount
  const auto n = model::derive_nfs(prev, curr);
  ASSERT_EQ(n.mountstats_delta.size(), 1u);
  EXPECT_EQ(n.mountstats_delta[0], curr.mountstats[0]);
}

// ---- cli::render_nfs ----

model::CgroupInterval cgroup(std::uint64_t id, std::string path) {
  model::CgroupInterval c;
  c.identity.id = id;
  c.identity.container = model::parse_container_identity(path);
  c.identity.path = std::move(path);
  return c;
}

model::Snapshot nfs_snapshot() {
  model::Snapshot s;
  s.cgroups = {cgroup(kA, "/system.slice/writer.service"), cgroup(kB, "/system.slice/reader.service")};
  auto& n = s.nfs;
  n.active = true;
  n.negative_lookups_visible = true;
  n.mounts = {mount(kDev1, "/mnt/a", "srv", "/data"), mount(kDev2, "/mnt/b", "10.0.0.9", "/data")};
  n.mounts[0].attribute_cache = false;  // the writer's mount: noac
  n.mounts[1].acregmin_s = 7;           // the reader's: its own options
  model::NfsCgroupMountInterval r;
  r.cgroup_id = kB;
  r.dev = kDev2;
  r.ops[idx(NfsOp::kRevalidate)].count = 12;
  r.ops[idx(NfsOp::kRevalidate)].time_ns = 3'000'000;
  n.cgroups = {r};
  model::NfsNegativeLookupHazard neg;
  neg.export_name = "10.0.0.9:/data";
  neg.victim_cgroup_id = kB;
  neg.creator_cgroup_id = kA;
  neg.victim_dev = kDev2;
  neg.stale_lookups = 4;
  neg.names = 2;
  neg.directories = 1;
  n.negative_lookups = {neg};
  model::NfsSharedWriterHazard sw;
  sw.export_name = "srv:/data";
  sw.fileid = 4242;
  sw.writers = {fc(kA, kDev1, 8'192, 2, 0, 0)};
  sw.readers = {fc(kB, kDev2, 0, 0, 1, 5)};
  n.shared_writers = {sw};
  return s;
}

std::string line_with(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(begin == std::string::npos ? 0 : begin + 1, end == std::string::npos ? end : end - begin - 1);
}

TEST(NfsView, NamesCgroupsMountsAndTheFix) {
  const auto out = cli::render_nfs(nfs_snapshot(), cli::TableOptions{});
  EXPECT_NE(out.find("writer.service"), std::string::npos) << out;
  EXPECT_NE(out.find("reader.service"), std::string::npos) << out;
  EXPECT_NE(out.find("/mnt/b"), std::string::npos) << out;
  EXPECT_EQ(out.find("cgroup#"), std::string::npos) << out;

  const auto row = line_with(out, "reader.service ");
  EXPECT_NE(row.find("/mnt/b"), std::string::npos) << out;
  EXPECT_NE(row.find("12/"), std::string::npos) << out;  // revalidations

  const auto neg = line_with(out, "HAZARD stale negative lookups");
  ASSERT_FALSE(neg.empty()) << out;
  EXPECT_NE(neg.find("reader.service"), std::string::npos) << neg;
  EXPECT_NE(neg.find("writer.service"), std::string::npos) << neg;
  EXPECT_NE(neg.find("Fix: mount with lookupcache=positive on /mnt/b"), std::string::npos) << neg;

  const auto sw = line_with(out, "HAZARD shared writer");
  ASSERT_FALSE(sw.empty()) << out;
  EXPECT_NE(sw.find("4242"), std::string::npos) << sw;
  EXPECT_NE(sw.find("written by writer.service"), std::string::npos) << sw;
  EXPECT_NE(sw.find("reader.service on /mnt/b"), std::string::npos) << sw;
  // The reader's mount options (dev 2), not the writer's (noac on dev 1).
  EXPECT_NE(sw.find("vers=3 acregmin=7 acregmax=60 acdirmin=30 acdirmax=60 lookupcache=all"), std::string::npos) << sw;
  EXPECT_EQ(sw.find("noac"), std::string::npos) << sw;
}

TEST(NfsView, AHazardOnAReplacedMountShowsItsOldOptions) {
  auto s = nfs_snapshot();
  auto& n = s.nfs;
  n.mounts[1].sb_instance = 9;
  n.mounts[1].lookupcache = "positive";
  auto old = n.mounts[1];
  old.sb_instance = 7;
  old.lookupcache = "all";
  old.vanished = true;
  n.mounts.push_back(old);
  n.negative_lookups[0].victim_sb_instance = 7;
  n.cgroups[0].sb_instance = 7;
  const auto out = cli::render_nfs(s, cli::TableOptions{});
  const auto neg = line_with(out, "HAZARD stale negative lookups");
  EXPECT_NE(neg.find("lookupcache=all; unmounted during this interval"), std::string::npos) << neg;
  EXPECT_NE(neg.find("replaced during the interval by one with lookupcache=positive"), std::string::npos) << neg;
  EXPECT_EQ(neg.find("Fix:"), std::string::npos) << neg;
  EXPECT_NE(line_with(out, "reader.service ").find("/mnt/b (gone)"), std::string::npos) << out;
}

TEST(NfsView, CountsFilesNotShownAndUnknownCgroups) {
  auto s = nfs_snapshot();
  s.cgroups.clear();
  s.nfs.shared_files_not_shown = 3;
  const auto out = cli::render_nfs(s, cli::TableOptions{});
  EXPECT_NE(out.find("cgroup#101"), std::string::npos) << out;
  EXPECT_NE(out.find("cgroup#202"), std::string::npos) << out;
  EXPECT_NE(out.find("3 more shared file(s)"), std::string::npos) << out;
}

TEST(NfsView, InactiveSaysNothingCanBeShown) {
  auto s = nfs_snapshot();
  s.nfs.active = false;
  const auto out = cli::render_nfs(s, cli::TableOptions{});
  EXPECT_NE(out.find("no NFS activity can be shown"), std::string::npos) << out;
  EXPECT_EQ(out.find("HAZARD"), std::string::npos) << out;
  EXPECT_EQ(out.find("CGROUP"), std::string::npos) << out;
}

}  // namespace
