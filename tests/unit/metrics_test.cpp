// The metrics table against the model. Hypothesis: every measured field of a Sample reaches a
// metric through the table's accessors (or is listed below as deliberately not exported, with the
// reason), every metric reads some field, and the values follow what the exporter, dashboard and
// report rely on: labels as declared, histogram buckets in seconds, counters that never go down,
// interval increases that are the difference of two samples, and docs/metrics.md in step.
//
// How: a fixture sample at steps 1, 2, 3 (every counter grows with the step) and one "probe" per
// measured field, which changes only that field of step 2. A probe is seen when some sample
// accessor reads a different value from the probed sample than from step 2, and some interval
// accessor a different value from derive(step 1, probed) than from derive(step 1, step 2).
#include "model/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/nfs.hpp"
#include "model/snapshot.hpp"
#include "tests/support/field_count.hpp"

using namespace cgscope::model;

namespace {

using cgscope::test::field_count;  // a new model member fails the coverage test until it is listed

// ---- what the accessors give ----

struct Reading {
  double value = 0;                    // counters and gauges
  std::vector<std::uint64_t> buckets;  // histograms
  double scale = 0;
  std::optional<double> sum;
  bool operator==(const Reading&) const = default;
};
using RowReadings = std::map<std::string, Reading>;        // by row: cgroup and labels
using Readings = std::map<std::string_view, RowReadings>;  // by metric

// Records every row, and what is wrong with it.
class Recorder final : public MetricVisitor {
 public:
  const MetricDescriptor* metric = nullptr;
  Readings readings;
  std::vector<std::string> problems;

  void value(const MetricRow& row, double v) override {
    if (metric->kind == MetricKind::kHistogram) problem(row, "a value for a histogram");
    if (!std::isfinite(v)) problem(row, "a value that is not finite");
    put(row, Reading{v});
  }
  void histogram(const MetricRow& row, const MetricHistogram& h) override {
    if (metric->kind != MetricKind::kHistogram) problem(row, "a histogram for a counter or gauge");
    if (h.scale != metric->histogram_scale) problem(row, "a histogram scale that is not the descriptor's");
    const auto& b = h.buckets.buckets();
    put(row, Reading{0, {b.begin(), b.end()}, h.scale, h.sum});
  }

 private:
  std::string key(const MetricRow& row) const {
    std::string k = row.cgroup_id ? "cgroup=" + std::to_string(*row.cgroup_id) : "host";
    const auto names = metric->labels.names();
    for (std::size_t i = 0; i < row.labels.size(); ++i)
      k += " " + std::string(i < names.size() ? names[i] : "?") + "=\"" + std::string(row.labels[i]) + "\"";
    return k;
  }
  void problem(const MetricRow& row, const std::string& what) {
    problems.push_back(std::string(metric->name) + " " + key(row) + ": " + what);
  }
  void put(const MetricRow& row, Reading r) {
    if (row.labels.size() != metric->labels.size())
      problem(row, "label values unlike the descriptor's labels");
    if (row.cgroup_id.has_value() != (metric->scope == MetricScope::kCgroup)) problem(row, "scope mismatch");
    if (!readings[metric->name].emplace(key(row), std::move(r)).second) problem(row, "the same row twice");
  }
};

Recorder read_sample(const Sample& s) {
  Recorder r;
  for (const auto& m : metrics()) {
    r.metric = &m;
    if (m.sample) m.sample(s, r);
  }
  return r;
}
Recorder read_interval(const Snapshot& s) {
  Recorder r;
  for (const auto& m : metrics()) {
    r.metric = &m;
    if (m.interval) m.interval(s, r);
  }
  return r;
}

// Metrics whose rows differ between two readings.
std::set<std::string_view> changed(const Readings& a, const Readings& b) {
  std::set<std::string_view> out;
  for (const auto& m : metrics()) {
    auto ia = a.find(m.name), ib = b.find(m.name);
    const RowReadings none;
    if ((ia == a.end() ? none : ia->second) != (ib == b.end() ? none : ib->second)) out.insert(m.name);
  }
  return out;
}

// ---- the fixture: every field set, counters growing with the step ----

constexpr std::uint64_t kA = 1001;      // a v2 cgroup with every value
constexpr std::uint64_t kB = 1002;      // a v1 cgroup (cpu.shares); reads the NFS files kA writes
constexpr std::uint64_t kOther = 1003;  // no cgroup of the fixture
constexpr std::uint32_t kDisk = 8u << 20;
constexpr std::uint32_t kNfsDev = 50, kNfsSb = 11, kNoSuchDev = 77;
constexpr std::uint64_t kBump = 1'000'003;  // added to a counter by its probe
constexpr std::uint64_t kMillisecondNs = 1'000'000, kMillisecondUs = 1'000;

Log2Histogram hist(std::uint64_t value, std::uint64_t count) {
  Log2Histogram h;
  h.add(value, count);
  return h;
}
PsiLine psi(std::uint64_t total_usec) { return PsiLine{1.5, 2.5, 3.5, total_usec}; }

CgroupSample cgroup_a(std::uint64_t n) {
  CgroupSample c;
  c.identity.id = kA;
  c.identity.path = "/system.slice/docker-a.scope";
  c.cpu_bpf = CpuBpfCounters{
      900'000'000 * n,     10 * n,        5 * n, 3 * n, 1'000'000 * n, 2'000'000 * n, hist(20'000, 5 * n),
      hist(80'000, 3 * n), 7'000'000 * n, 9 * n};
  c.cpu_stat = CpuStat{800'000 * n, 500'000 * n, 300'000 * n, 100 * n, 10 * n, 40'000 * n};
  c.cpu_knobs = CpuKnobs{50'000, 100'000, 100, std::nullopt, "0-3", true};
  c.cpu_pressure = Pressure{psi(1'000 * n), psi(400 * n)};
  BlockIoCounters read{
      kDisk,  IoOp::kRead,          IoOwner::kTask,     10 * n, 40'960 * n, 1 * n, 900'000 * n, 80'000 * n,
      10 * n, hist(90'000, 10 * n), hist(8'000, 10 * n)};
  BlockIoCounters write{
      kDisk,  IoOp::kWrite,         IoOwner::kDirtier,  20 * n, 81'920 * n, 2 * n, 1'900'000 * n, 180'000 * n,
      20 * n, hist(95'000, 20 * n), hist(9'000, 20 * n)};
  c.io_bpf = IoBpfCounters{{read, write}, 3'000'000 * n, 4 * n};
  c.io_stat = {IoStatDevice{kDisk, 50'000 * n, 90'000 * n, 12 * n, 22 * n, 4'096 * n, 1 * n}};
  c.io_knobs = IoKnobs{100, "io.weight", {IoDeviceLimit{kDisk, 10'000'000, 20'000'000, 1'000, 2'000}}};
  c.io_pressure = Pressure{psi(2'000 * n), psi(1'500 * n)};
  c.memory_bpf = MemoryBpfCounters{600'000 * n, 3 * n,   700'000 * n, 4 * n,  50 * n, hist(150'000, 7 * n),
                                   1'000 * n,   100 * n, 30 * n,      20 * n, 1 * n};
  c.memory_stat =
      MemoryStat{100'000'000, 200'000'000, 1'000'000, 500'000, 3'000'000, 5'000 * n, 50 * n, 7 * n, 11 * n};
  c.memory_knobs = MemoryKnobs{400'000'000, 450'000'000,   1'000'000'000, 900'000'000, 100'000'000,
                               10'000'000,  2'000'000'000, false,         true};
  c.memory_events = MemoryEvents{1 * n, 2 * n, 3 * n, 1 * n, 1 * n};
  c.memory_pressure = Pressure{psi(3'000 * n), psi(2'500 * n)};
  return c;
}

NfsFileCgroup file_cgroup(std::uint64_t cgroup, std::uint64_t written, std::uint64_t dirtied,
                          std::uint64_t reads, std::uint64_t revalidations) {
  return NfsFileCgroup{cgroup, kNfsDev, kNfsSb, written, dirtied, reads, revalidations, reads / 2};
}

NfsSample nfs(std::uint64_t n) {
  NfsSample s;
  s.active = true;
  s.negative_lookups_visible = true;
  NfsMount m;
  m.dev = kNfsDev;
  m.sb_instance = kNfsSb;
  m.mount_id = 300;
  m.mount_point = "/mnt/a";
  m.source = "srv:/export";
  m.server = "srv";
  m.export_path = "/export";
  m.fstype = "nfs4";
  m.vers = "4.2";
  m.options = {{"vers", "4.2"}, {"hard", ""}};
  m.rsize = m.wsize = 1'048'576;
  s.mounts = {m};

  NfsMountStats ms;
  ms.source = "srv:/export";
  ms.mount_point = "/mnt/a";
  ms.fstype = "nfs4";
  ms.age_seconds = 100 * n;
  ms.events = {{"inode_revalidate", 10 * n}, {"vfs_open", 3 * n}};
  ms.bytes = {{"normal_read", 8'192 * n}, {"read_pages", 2 * n}};
  ms.transport = "tcp";
  ms.xprt = {{"sends", 40 * n}, {"max_slots", 2}};
  ms.ops = {
      {"GETATTR", NfsMountOpStats{10 * n, 11 * n, 1 * n, 1'200 * n, 2'400 * n, 1 * n, 5 * n, 7 * n, 1 * n}}};
  s.mountstats = {ms};

  NfsCgroupMountCounters row;
  row.cgroup_id = kA;
  row.dev = kNfsDev;
  row.sb_instance = kNfsSb;
  for (std::size_t i = 0; i < kNfsOps; ++i) {
    auto& o = row.ops[i];
    o.count = (i + 1) * n;
    o.time_ns = (i + 1) * 100'000 * n;
    for (std::size_t e = 0; e < kNfsErrors; ++e) o.errors[e] = (e + 1) * n;
    o.time_ns_hist = hist(50'000, (i + 1) * n);
  }
  row.read_bytes = 65'536 * n;
  row.write_bytes = 32'768 * n;
  row.dirtied_pages = 8 * n;
  row.invalidated_pages = 4 * n;
  row.lookup_negative = 3 * n;
  row.negative_trusted = 5 * n;
  row.negative_rejected = 2 * n;
  row.negative_stale = 1 * n;
  row.silly_renames = 1 * n;
  s.cgroups = {row};

  s.rpc = {NfsRpcCounters{kA, 100003, 4, "READ", 10 * n, 1'000 * n, 1'500 * n, 1 * n, 1 * n,
                          hist(100, 10 * n), hist(150, 10 * n)}};

  // Files of export 7: kA writes, kB reads. File 1 is shared in every interval; file 2 is one
  // write away from it (kA's counts stay), file 3 one read or revalidation away (kB's stay).
  s.files = {
      NfsFileCounters{
          7, 1, {file_cgroup(kA, 4'096 * n, 1 * n, 0, 0), file_cgroup(kB, 0, 0, 5 * n, 3 * n)}, 0},
      NfsFileCounters{7, 2, {file_cgroup(kA, 8'192, 2, 0, 0), file_cgroup(kB, 0, 0, 7 * n, 0)}, 0},
      NfsFileCounters{7, 3, {file_cgroup(kA, 4'096 * n, 1 * n, 0, 0), file_cgroup(kB, 0, 0, 9, 4)}, 0},
  };
  // kB trusted its negative dentry of a name kA created: name 1 in every interval, name 2 one
  // lookup away (its count stays).
  s.stale_names = {NfsStaleName{7, 500, 1, kB, kA, kNfsDev, kNfsSb, 2 * n},
                   NfsStaleName{7, 500, 2, kB, kA, kNfsDev, kNfsSb, 4}};
  return s;
}

Sample fixture(std::uint64_t n) {
  Sample s;
  s.monotonic_ns = n * 1'000'000'000;
  s.realtime_ns = 1'800'000'000'000'000'000 + static_cast<std::int64_t>(s.monotonic_ns);
  s.nr_cpus = 4;
  s.page_size = 4096;
  s.cgroups.push_back(cgroup_a(n));
  CgroupSample b;
  b.identity.id = kB;
  b.identity.path = "/b";
  b.cpu_knobs.shares = 1024;
  s.cgroups.push_back(b);
  s.collectors = {CollectorStatus{"cpu", true, "eBPF tp_btf", {{"untracked_slices", 2 * n}}},
                  CollectorStatus{"nfs", true, "", {{"file_map_full", 0}}}};
  s.nfs = nfs(n);
  return s;
}

// ---- every field of the model, and how a change of it shows ----

enum class Seen { kBoth, kSampleOnly, kIntervalOnly };
struct Probe {
  std::string_view where;
  Seen seen = Seen::kBoth;
  void (*apply)(Sample&) = nullptr;
  bool adds_one_millisecond = false;  // a histogram probe: one value of 1 ms in the field's unit
};
struct Field {
  std::string_view type, name;
  std::vector<Probe> probes;  // exported: how to change it
  std::string_view why;       // not exported (or listed under its own type): why
};

Field exported(std::string_view type, std::string_view name, std::vector<Probe> probes) {
  return {type, name, std::move(probes), {}};
}
Field not_exported(std::string_view type, std::string_view name, std::string_view why) {
  return {type, name, {}, why};
}
Field nested(std::string_view type, std::string_view name) {
  return {type, name, {}, "its fields are listed under its type"};
}
Probe both(std::string_view where, void (*apply)(Sample&)) { return {where, Seen::kBoth, apply}; }
Probe one_ms(std::string_view where, void (*apply)(Sample&)) { return {where, Seen::kBoth, apply, true}; }
// Sample-only / interval-only: the `where` says why.
Probe sample_only(std::string_view where, void (*apply)(Sample&)) {
  return {where, Seen::kSampleOnly, apply};
}
Probe interval_only(std::string_view where, void (*apply)(Sample&)) {
  return {where, Seen::kIntervalOnly, apply};
}

CgroupSample& a(Sample& s) { return s.cgroups[0]; }
CgroupSample& b(Sample& s) { return s.cgroups[1]; }
BlockIoCounters& block(Sample& s) { return a(s).io_bpf->block[0]; }
NfsCgroupMountCounters& nfs_row(Sample& s) { return s.nfs.cgroups[0]; }
NfsOpCounters& getattr(Sample& s) { return nfs_row(s).ops[static_cast<std::size_t>(NfsOp::kGetattr)]; }
NfsOpCounters& write_op(Sample& s) { return nfs_row(s).ops[static_cast<std::size_t>(NfsOp::kWrite)]; }
NfsRpcCounters& rpc(Sample& s) { return s.nfs.rpc[0]; }
NfsMount& mount(Sample& s) { return s.nfs.mounts[0]; }
NfsMountStats& mountstats(Sample& s) { return s.nfs.mountstats[0]; }
NfsMountOpStats& mountstats_op(Sample& s) { return mountstats(s).ops.at("GETATTR"); }
NfsFileCgroup& shared_reader(Sample& s) { return s.nfs.files[0].cgroups[1]; }  // file 1, kB
NfsFileCgroup& idle_writer(Sample& s) { return s.nfs.files[1].cgroups[0]; }    // file 2, kA
NfsFileCgroup& idle_reader(Sample& s) { return s.nfs.files[2].cgroups[1]; }    // file 3, kB

constexpr std::string_view kIdentity = "identity: the exporter's cgroup labels, found by the cgroup id";
constexpr std::string_view kPsiAverage =
    "the kernel's running average of total_usec: rate() of the _total gives it";

std::vector<Field> model_fields() {
  return {
      not_exported("Sample", "monotonic_ns", "the sample's time: Snapshot::interval_seconds() for rates"),
      not_exported("Sample", "realtime_ns", "the sample's wall-clock time"),
      not_exported("Sample", "nr_cpus", "a fact of the host, not a measurement"),
      not_exported("Sample", "page_size", "converts pages to bytes; page counts are exported as pages"),
      nested("Sample", "cgroups"),
      nested("Sample", "collectors"),
      nested("Sample", "nfs"),

      exported("CgroupIdentity", "id",
               {both("the row's cgroup", [](Sample& s) { a(s).identity.id = kOther; })}),
      not_exported("CgroupIdentity", "path", kIdentity),
      not_exported("CgroupIdentity", "container", kIdentity),
      not_exported("CgroupIdentity", "v1_cpu_path", kIdentity),
      not_exported("CgroupIdentity", "v1_cpuacct_path", kIdentity),
      not_exported("CgroupIdentity", "v1_memory_path", kIdentity),
      not_exported("CgroupIdentity", "v1_blkio_path", kIdentity),

      nested("CgroupSample", "identity"),
      not_exported("CgroupSample", "removed",
                   "a flag: a removed cgroup's last values are exported like others"),
      nested("CgroupSample", "cpu_bpf"),
      nested("CgroupSample", "cpu_stat"),
      nested("CgroupSample", "cpu_knobs"),
      nested("CgroupSample", "cpu_pressure"),
      nested("CgroupSample", "io_bpf"),
      nested("CgroupSample", "io_stat"),
      nested("CgroupSample", "io_knobs"),
      nested("CgroupSample", "io_pressure"),
      nested("CgroupSample", "memory_bpf"),
      nested("CgroupSample", "memory_stat"),
      nested("CgroupSample", "memory_knobs"),
      nested("CgroupSample", "memory_events"),
      nested("CgroupSample", "memory_pressure"),

      nested("Pressure", "some"),
      nested("Pressure", "full"),
      not_exported("PsiLine", "avg10", kPsiAverage),
      not_exported("PsiLine", "avg60", kPsiAverage),
      not_exported("PsiLine", "avg300", kPsiAverage),
      exported("PsiLine", "total_usec",
               {both("cpu some", [](Sample& s) { a(s).cpu_pressure.some->total_usec += kBump; }),
                sample_only("cpu full: CgroupInterval keeps no cpu full delta",
                            [](Sample& s) { a(s).cpu_pressure.full->total_usec += kBump; }),
                both("io some", [](Sample& s) { a(s).io_pressure.some->total_usec += kBump; }),
                both("io full", [](Sample& s) { a(s).io_pressure.full->total_usec += kBump; }),
                both("memory some", [](Sample& s) { a(s).memory_pressure.some->total_usec += kBump; }),
                both("memory full", [](Sample& s) { a(s).memory_pressure.full->total_usec += kBump; })}),

      exported("CpuBpfCounters", "on_cpu_ns",
               {both("", [](Sample& s) { a(s).cpu_bpf->on_cpu_ns += kBump; })}),
      exported("CpuBpfCounters", "voluntary_switches",
               {both("", [](Sample& s) { a(s).cpu_bpf->voluntary_switches += kBump; })}),
      exported("CpuBpfCounters", "involuntary_switches",
               {both("", [](Sample& s) { a(s).cpu_bpf->involuntary_switches += kBump; })}),
      exported("CpuBpfCounters", "migrations",
               {both("", [](Sample& s) { a(s).cpu_bpf->migrations += kBump; })}),
      exported("CpuBpfCounters", "wakeup_delay_ns_sum",
               {sample_only("CgroupInterval keeps run_delay_ns_sum, both reasons together",
                            [](Sample& s) { a(s).cpu_bpf->wakeup_delay_ns_sum += kBump; })}),
      exported("CpuBpfCounters", "preempt_delay_ns_sum",
               {sample_only("CgroupInterval keeps run_delay_ns_sum, both reasons together",
                            [](Sample& s) { a(s).cpu_bpf->preempt_delay_ns_sum += kBump; })}),
      exported("CpuBpfCounters", "wakeup_delay_ns",
               {one_ms("", [](Sample& s) { a(s).cpu_bpf->wakeup_delay_ns.add(kMillisecondNs); })}),
      exported("CpuBpfCounters", "preempt_delay_ns",
               {one_ms("", [](Sample& s) { a(s).cpu_bpf->preempt_delay_ns.add(kMillisecondNs); })}),
      exported("CpuBpfCounters", "blame",
               {both("another holder", [](Sample& s) { a(s).cpu_bpf->blame.push_back({kOther, 2'000'000, 3}); })}),
      exported("CpuBpfCounters", "blame_overflow_ns",
               {both("", [](Sample& s) { a(s).cpu_bpf->blame_overflow_ns += kBump; })}),
      not_exported("CpuBpfCounters", "blame_overflow_waits",
                   "a count beside the time of cgscope_cpu_run_delay_by_holder_seconds_total{holder=\"other\"}"),
      not_exported("CgroupSample", "cpu_demand",
                   "the slots of CPU demand for the analyzers' quota sizing; a Prometheus histogram of it "
                   "belongs with the exporter's bucket choice"),
      exported("CpuBpfCounters", "iowait_ns",
               {both("", [](Sample& s) { a(s).cpu_bpf->iowait_ns += kBump; })}),
      exported("CpuBpfCounters", "iowait_count",
               {both("", [](Sample& s) { a(s).cpu_bpf->iowait_count += kBump; })}),

      exported("CpuStat", "usage_usec", {both("", [](Sample& s) { *a(s).cpu_stat.usage_usec += kBump; })}),
      exported("CpuStat", "user_usec",
               {sample_only("CgroupInterval has no user/system deltas",
                            [](Sample& s) { *a(s).cpu_stat.user_usec += kBump; })}),
      exported("CpuStat", "system_usec",
               {sample_only("CgroupInterval has no user/system deltas",
                            [](Sample& s) { *a(s).cpu_stat.system_usec += kBump; })}),
      exported("CpuStat", "nr_periods", {both("", [](Sample& s) { *a(s).cpu_stat.nr_periods += kBump; })}),
      exported("CpuStat", "nr_throttled",
               {both("", [](Sample& s) { *a(s).cpu_stat.nr_throttled += kBump; })}),
      exported("CpuStat", "throttled_usec",
               {both("", [](Sample& s) { *a(s).cpu_stat.throttled_usec += kBump; })}),

      exported("CpuKnobs", "quota_usec", {both("", [](Sample& s) { a(s).cpu_knobs.quota_usec = 25'000; })}),
      exported("CpuKnobs", "period_usec",
               {both("", [](Sample& s) { a(s).cpu_knobs.period_usec = 200'000; })}),
      exported("CpuKnobs", "weight", {both("", [](Sample& s) { a(s).cpu_knobs.weight = 250; })}),
      exported("CpuKnobs", "shares", {both("v1", [](Sample& s) { b(s).cpu_knobs.shares = 4096; })}),
      exported("CpuKnobs", "cpuset_cpus",
               {both("", [](Sample& s) { a(s).cpu_knobs.cpuset_cpus = "0-5,7"; })}),
      not_exported("CpuKnobs", "quota_known", "tells unknown from unlimited: neither has a quota row"),

      nested("IoBpfCounters", "block"),
      exported("IoBpfCounters", "dirty_throttle_ns",
               {both("", [](Sample& s) { a(s).io_bpf->dirty_throttle_ns += kBump; })}),
      exported("IoBpfCounters", "dirty_throttle_count",
               {both("", [](Sample& s) { a(s).io_bpf->dirty_throttle_count += kBump; })}),
      exported("BlockIoCounters", "dev",
               {both("device label", [](Sample& s) { block(s).dev = kDisk | 16; })}),
      exported("BlockIoCounters", "op", {both("op label", [](Sample& s) { block(s).op = IoOp::kFlush; })}),
      exported("BlockIoCounters", "owner",
               {both("owner label", [](Sample& s) { block(s).owner = IoOwner::kBlkcg; })}),
      exported("BlockIoCounters", "requests", {both("", [](Sample& s) { block(s).requests += kBump; })}),
      exported("BlockIoCounters", "bytes", {both("", [](Sample& s) { block(s).bytes += kBump; })}),
      exported("BlockIoCounters", "errors", {both("", [](Sample& s) { block(s).errors += kBump; })}),
      exported("BlockIoCounters", "latency_ns_sum",
               {both("", [](Sample& s) { block(s).latency_ns_sum += kBump; })}),
      exported("BlockIoCounters", "queue_ns_sum",
               {both("", [](Sample& s) { block(s).queue_ns_sum += kBump; })}),
      not_exported("BlockIoCounters", "queued",
                   "equals queue_ns's count: the _count of cgscope_io_queue_seconds"),
      exported("BlockIoCounters", "latency_ns",
               {one_ms("", [](Sample& s) { block(s).latency_ns.add(kMillisecondNs); })}),
      exported("BlockIoCounters", "queue_ns",
               {one_ms("", [](Sample& s) { block(s).queue_ns.add(kMillisecondNs); })}),

      exported("IoStatDevice", "dev",
               {both("device label", [](Sample& s) { a(s).io_stat[0].dev = kDisk | 16; })}),
      exported("IoStatDevice", "rbytes", {both("", [](Sample& s) { a(s).io_stat[0].rbytes += kBump; })}),
      exported("IoStatDevice", "wbytes", {both("", [](Sample& s) { a(s).io_stat[0].wbytes += kBump; })}),
      exported("IoStatDevice", "rios", {both("", [](Sample& s) { a(s).io_stat[0].rios += kBump; })}),
      exported("IoStatDevice", "wios", {both("", [](Sample& s) { a(s).io_stat[0].wios += kBump; })}),
      exported("IoStatDevice", "dbytes", {both("", [](Sample& s) { a(s).io_stat[0].dbytes += kBump; })}),
      exported("IoStatDevice", "dios", {both("", [](Sample& s) { a(s).io_stat[0].dios += kBump; })}),
      exported("IoKnobs", "weight", {both("", [](Sample& s) { a(s).io_knobs.weight = 500; })}),
      not_exported("IoKnobs", "weight_file", "where the weight came from: the report's command to change it"),
      nested("IoKnobs", "limits"),
      exported("IoDeviceLimit", "dev",
               {both("", [](Sample& s) { a(s).io_knobs.limits[0].dev = kDisk | 16; })}),
      exported("IoDeviceLimit", "rbps", {both("", [](Sample& s) { a(s).io_knobs.limits[0].rbps = 1; })}),
      exported("IoDeviceLimit", "wbps", {both("", [](Sample& s) { a(s).io_knobs.limits[0].wbps = 1; })}),
      exported("IoDeviceLimit", "riops", {both("", [](Sample& s) { a(s).io_knobs.limits[0].riops = 1; })}),
      exported("IoDeviceLimit", "wiops", {both("", [](Sample& s) { a(s).io_knobs.limits[0].wiops = 1; })}),

      exported("MemoryBpfCounters", "direct_reclaim_ns",
               {both("", [](Sample& s) { a(s).memory_bpf->direct_reclaim_ns += kBump; })}),
      exported("MemoryBpfCounters", "direct_reclaim_count",
               {both("", [](Sample& s) { a(s).memory_bpf->direct_reclaim_count += kBump; })}),
      exported("MemoryBpfCounters", "memcg_reclaim_ns",
               {both("", [](Sample& s) { a(s).memory_bpf->memcg_reclaim_ns += kBump; })}),
      exported("MemoryBpfCounters", "memcg_reclaim_count",
               {both("", [](Sample& s) { a(s).memory_bpf->memcg_reclaim_count += kBump; })}),
      exported("MemoryBpfCounters", "reclaimed_pages",
               {both("", [](Sample& s) { a(s).memory_bpf->reclaimed_pages += kBump; })}),
      exported("MemoryBpfCounters", "reclaim_ns",
               {one_ms("", [](Sample& s) { a(s).memory_bpf->reclaim_ns.add(kMillisecondNs); })}),
      exported("MemoryBpfCounters", "cache_accessed_pages",
               {both("", [](Sample& s) { a(s).memory_bpf->cache_accessed_pages += kBump; })}),
      exported("MemoryBpfCounters", "cache_read_added_pages",
               {both("", [](Sample& s) { a(s).memory_bpf->cache_read_added_pages += kBump; })}),
      exported("MemoryBpfCounters", "cache_other_added_pages",
               {both("", [](Sample& s) { a(s).memory_bpf->cache_other_added_pages += kBump; })}),
      exported("MemoryBpfCounters", "file_faults",
               {both("", [](Sample& s) { a(s).memory_bpf->file_faults += kBump; })}),
      exported("MemoryBpfCounters", "oom_kills",
               {both("", [](Sample& s) { a(s).memory_bpf->oom_kills += kBump; })}),

      exported("MemoryStat", "anon_bytes", {both("", [](Sample& s) { a(s).memory_stat.anon_bytes = 1; })}),
      exported("MemoryStat", "file_bytes", {both("", [](Sample& s) { a(s).memory_stat.file_bytes = 1; })}),
      exported("MemoryStat", "file_dirty_bytes",
               {both("", [](Sample& s) { a(s).memory_stat.file_dirty_bytes = 1; })}),
      exported("MemoryStat", "file_writeback_bytes",
               {both("", [](Sample& s) { a(s).memory_stat.file_writeback_bytes = 1; })}),
      exported("MemoryStat", "shmem_bytes", {both("", [](Sample& s) { a(s).memory_stat.shmem_bytes = 1; })}),
      exported("MemoryStat", "active_file_bytes",
               {both("", [](Sample& s) { a(s).memory_stat.active_file_bytes = 1; })}),
      exported("MemoryStat", "inactive_file_bytes",
               {both("", [](Sample& s) { a(s).memory_stat.inactive_file_bytes = 1; })}),
      exported("MemoryStat", "pgfault", {both("", [](Sample& s) { *a(s).memory_stat.pgfault += kBump; })}),
      exported("MemoryStat", "pgmajfault",
               {both("", [](Sample& s) { *a(s).memory_stat.pgmajfault += kBump; })}),
      exported("MemoryStat", "workingset_refault_anon",
               {both("", [](Sample& s) { *a(s).memory_stat.workingset_refault_anon += kBump; })}),
      exported("MemoryStat", "workingset_refault_file",
               {both("", [](Sample& s) { *a(s).memory_stat.workingset_refault_file += kBump; })}),
      exported("MemoryKnobs", "current_bytes",
               {both("", [](Sample& s) { a(s).memory_knobs.current_bytes = 1; })}),
      exported("MemoryKnobs", "peak_bytes", {both("", [](Sample& s) { a(s).memory_knobs.peak_bytes = 1; })}),
      exported("MemoryKnobs", "max_bytes", {both("", [](Sample& s) { a(s).memory_knobs.max_bytes = 1; })}),
      exported("MemoryKnobs", "high_bytes", {both("", [](Sample& s) { a(s).memory_knobs.high_bytes = 1; })}),
      exported("MemoryKnobs", "low_bytes", {both("", [](Sample& s) { a(s).memory_knobs.low_bytes = 1; })}),
      exported("MemoryKnobs", "min_bytes", {both("", [](Sample& s) { a(s).memory_knobs.min_bytes = 1; })}),
      exported("MemoryKnobs", "swap_max_bytes",
               {both("", [](Sample& s) { a(s).memory_knobs.swap_max_bytes = 1; })}),
      not_exported("MemoryKnobs", "v1",
                   "which controller the values came from; the help says how v1 files map"),
      not_exported("MemoryKnobs", "limits_known", "tells unknown from unlimited: neither has a limit row"),
      exported("MemoryEvents", "low", {both("", [](Sample& s) { *a(s).memory_events.low += kBump; })}),
      exported("MemoryEvents", "high", {both("", [](Sample& s) { *a(s).memory_events.high += kBump; })}),
      exported("MemoryEvents", "max", {both("", [](Sample& s) { *a(s).memory_events.max += kBump; })}),
      exported("MemoryEvents", "oom", {both("", [](Sample& s) { *a(s).memory_events.oom += kBump; })}),
      exported("MemoryEvents", "oom_kill",
               {both("", [](Sample& s) { *a(s).memory_events.oom_kill += kBump; })}),

      exported("CollectorStatus", "name",
               {both("collector label", [](Sample& s) { s.collectors[0].name = "cpu2"; })}),
      exported("CollectorStatus", "active", {both("", [](Sample& s) { s.collectors[0].active = false; })}),
      not_exported("CollectorStatus", "message",
                   "text for the status line: why a collector is off or degraded"),
      exported("CollectorStatus", "drops",
               {sample_only("Snapshot::collectors keeps the cumulative drops, not the interval's",
                            [](Sample& s) { s.collectors[0].drops["untracked_slices"] += kBump; })}),

      // ---- NFS ----
      not_exported("NfsSample", "active",
                   "the nfs collector's CollectorStatus::active is cgscope_collector_active; gates "
                   "cgscope_nfs_negative_lookups_visible"),
      nested("NfsSample", "mounts"),
      nested("NfsSample", "mountstats"),
      nested("NfsSample", "cgroups"),
      nested("NfsSample", "rpc"),
      nested("NfsSample", "files"),
      nested("NfsSample", "stale_names"),
      exported("NfsSample", "negative_lookups_visible",
               {both("", [](Sample& s) { s.nfs.negative_lookups_visible = false; })}),

      exported(
          "NfsMount", "dev",
          {both("rows of the superblock lose their mount", [](Sample& s) { mount(s).dev = kNoSuchDev; })}),
      exported(
          "NfsMount", "sb_instance",
          {both("rows of the superblock lose their mount", [](Sample& s) { mount(s).sb_instance = 99; })}),
      not_exported("NfsMount", "mount_id", "mountinfo's id of the mount point: identifies, measures nothing"),
      exported("NfsMount", "vanished",
               {both("no longer mounted", [](Sample& s) { mount(s).vanished = true; })}),
      exported("NfsMount", "mount_point",
               {both("mount label", [](Sample& s) { mount(s).mount_point = "/mnt/b"; })}),
      not_exported("NfsMount", "source", "the same as server:export_path, the export label"),
      exported("NfsMount", "server", {both("export label", [](Sample& s) { mount(s).server = "srv2"; })}),
      exported("NfsMount", "export_path",
               {both("export label", [](Sample& s) { mount(s).export_path = "/other"; })}),
      exported("NfsMount", "fstype", {both("", [](Sample& s) { mount(s).fstype = "nfs"; })}),
      exported("NfsMount", "vers", {both("", [](Sample& s) { mount(s).vers = "3"; })}),
      not_exported("NfsMount", "options",
                   "the raw options; those that matter are resolved into the other fields"),
      exported("NfsMount", "acregmin_s", {both("", [](Sample& s) { mount(s).acregmin_s = 1; })}),
      exported("NfsMount", "acregmax_s", {both("", [](Sample& s) { mount(s).acregmax_s = 1; })}),
      exported("NfsMount", "acdirmin_s", {both("", [](Sample& s) { mount(s).acdirmin_s = 1; })}),
      exported("NfsMount", "acdirmax_s", {both("", [](Sample& s) { mount(s).acdirmax_s = 1; })}),
      exported("NfsMount", "attribute_cache",
               {both("", [](Sample& s) { mount(s).attribute_cache = false; })}),
      exported("NfsMount", "close_to_open", {both("", [](Sample& s) { mount(s).close_to_open = false; })}),
      exported("NfsMount", "lookupcache", {both("", [](Sample& s) { mount(s).lookupcache = "positive"; })}),
      exported("NfsMount", "nconnect", {both("", [](Sample& s) { mount(s).nconnect = 4; })}),
      exported("NfsMount", "rsize", {both("", [](Sample& s) { mount(s).rsize = 65'536; })}),
      exported("NfsMount", "wsize", {both("", [](Sample& s) { mount(s).wsize = 65'536; })}),

      exported("NfsMountStats", "source",
               {both("export label", [](Sample& s) { mountstats(s).source = "srv:/other"; })}),
      exported("NfsMountStats", "mount_point",
               {both("mount label", [](Sample& s) { mountstats(s).mount_point = "/mnt/b"; })}),
      not_exported("NfsMountStats", "fstype", "in cgscope_nfs_mount_info"),
      exported("NfsMountStats", "age_seconds",
               {both("", [](Sample& s) { mountstats(s).age_seconds += kBump; })}),
      exported("NfsMountStats", "events",
               {both("", [](Sample& s) { mountstats(s).events["vfs_open"] += kBump; })}),
      exported("NfsMountStats", "bytes",
               {both("bytes", [](Sample& s) { mountstats(s).bytes["normal_read"] += kBump; }),
                both("pages", [](Sample& s) { mountstats(s).bytes["read_pages"] += kBump; })}),
      not_exported("NfsMountStats", "transport", "the transport's name (tcp, udp, rdma): for the report"),
      not_exported(
          "NfsMountStats", "xprt",
          "transport counters of mixed kinds (port, max_slots and idle_time are no counters; the set "
          "depends on the transport): node_exporter's mountstats collector has them"),
      nested("NfsMountStats", "ops"),
      exported("NfsMountOpStats", "ops", {both("", [](Sample& s) { mountstats_op(s).ops += kBump; })}),
      exported("NfsMountOpStats", "transmissions",
               {both("", [](Sample& s) { mountstats_op(s).transmissions += kBump; })}),
      exported("NfsMountOpStats", "major_timeouts",
               {both("", [](Sample& s) { mountstats_op(s).major_timeouts += kBump; })}),
      exported("NfsMountOpStats", "bytes_sent",
               {both("", [](Sample& s) { mountstats_op(s).bytes_sent += kBump; })}),
      exported("NfsMountOpStats", "bytes_received",
               {both("", [](Sample& s) { mountstats_op(s).bytes_received += kBump; })}),
      exported("NfsMountOpStats", "queue_ms",
               {both("", [](Sample& s) { mountstats_op(s).queue_ms += kBump; })}),
      exported("NfsMountOpStats", "rtt_ms", {both("", [](Sample& s) { mountstats_op(s).rtt_ms += kBump; })}),
      exported("NfsMountOpStats", "execute_ms",
               {both("", [](Sample& s) { mountstats_op(s).execute_ms += kBump; })}),
      exported("NfsMountOpStats", "errors", {both("", [](Sample& s) { *mountstats_op(s).errors += kBump; })}),

      exported("NfsCgroupMountCounters", "cgroup_id",
               {both("the row's cgroup", [](Sample& s) { nfs_row(s).cgroup_id = kOther; })}),
      exported("NfsCgroupMountCounters", "dev",
               {both("mount labels", [](Sample& s) { nfs_row(s).dev = kNoSuchDev; })}),
      exported("NfsCgroupMountCounters", "sb_instance",
               {both("mount labels", [](Sample& s) { nfs_row(s).sb_instance = 99; })}),
      nested("NfsCgroupMountCounters", "ops"),
      exported("NfsCgroupMountCounters", "read_bytes",
               {both("", [](Sample& s) { nfs_row(s).read_bytes += kBump; })}),
      exported("NfsCgroupMountCounters", "write_bytes",
               {both("", [](Sample& s) { nfs_row(s).write_bytes += kBump; })}),
      exported("NfsCgroupMountCounters", "dirtied_pages",
               {both("", [](Sample& s) { nfs_row(s).dirtied_pages += kBump; })}),
      exported("NfsCgroupMountCounters", "invalidated_pages",
               {both("", [](Sample& s) { nfs_row(s).invalidated_pages += kBump; })}),
      exported("NfsCgroupMountCounters", "lookup_negative",
               {both("", [](Sample& s) { nfs_row(s).lookup_negative += kBump; })}),
      exported("NfsCgroupMountCounters", "negative_trusted",
               {both("", [](Sample& s) { nfs_row(s).negative_trusted += kBump; })}),
      exported("NfsCgroupMountCounters", "negative_rejected",
               {both("", [](Sample& s) { nfs_row(s).negative_rejected += kBump; })}),
      exported("NfsCgroupMountCounters", "negative_stale",
               {both("", [](Sample& s) { nfs_row(s).negative_stale += kBump; })}),
      exported("NfsCgroupMountCounters", "silly_renames",
               {both("", [](Sample& s) { nfs_row(s).silly_renames += kBump; })}),
      exported("NfsOpCounters", "count",
               {both("getattr", [](Sample& s) { getattr(s).count += kBump; }),
                both("write", [](Sample& s) { write_op(s).count += kBump; })}),
      exported("NfsOpCounters", "time_ns",
               {both("getattr (a stall)", [](Sample& s) { getattr(s).time_ns += kBump; }),
                both("write", [](Sample& s) { write_op(s).time_ns += kBump; })}),
      exported("NfsOpCounters", "errors",
               {both("getattr ESTALE", [](Sample& s) { getattr(s).errors[1] += kBump; })}),
      exported("NfsOpCounters", "time_ns_hist",
               {one_ms("getattr", [](Sample& s) { getattr(s).time_ns_hist.add(kMillisecondNs); })}),

      exported("NfsRpcCounters", "cgroup_id",
               {both("the row's cgroup", [](Sample& s) { rpc(s).cgroup_id = kOther; })}),
      exported("NfsRpcCounters", "prog", {both("program label", [](Sample& s) { rpc(s).prog = 100021; })}),
      exported("NfsRpcCounters", "vers", {both("version label", [](Sample& s) { rpc(s).vers = 3; })}),
      exported("NfsRpcCounters", "procedure",
               {both("procedure label", [](Sample& s) { rpc(s).procedure = "WRITE"; })}),
      exported("NfsRpcCounters", "count", {both("", [](Sample& s) { rpc(s).count += kBump; })}),
      exported("NfsRpcCounters", "rtt_us", {both("", [](Sample& s) { rpc(s).rtt_us += kBump; })}),
      exported("NfsRpcCounters", "execute_us", {both("", [](Sample& s) { rpc(s).execute_us += kBump; })}),
      exported("NfsRpcCounters", "retransmits", {both("", [](Sample& s) { rpc(s).retransmits += kBump; })}),
      exported("NfsRpcCounters", "timeouts", {both("", [](Sample& s) { rpc(s).timeouts += kBump; })}),
      exported("NfsRpcCounters", "rtt_us_hist",
               {one_ms("", [](Sample& s) { rpc(s).rtt_us_hist.add(kMillisecondUs); })}),
      exported("NfsRpcCounters", "execute_us_hist",
               {one_ms("", [](Sample& s) { rpc(s).execute_us_hist.add(kMillisecondUs); })}),

      // Files and names are the evidence of the interval's hazards: only the interval shows them.
      not_exported("NfsFileCounters", "export_id",
                   "a hash of the server's fsid: hazards name the export by mount"),
      not_exported("NfsFileCounters", "fileid",
                   "which file: unbounded label values; the report names hazard files"),
      nested("NfsFileCounters", "cgroups"),
      not_exported("NfsFileCounters", "overflow",
                   "a loss (cgroups beyond the per-file cap) that is in no drop counter yet"),
      exported(
          "NfsFileCgroup", "cgroup_id",
          {interval_only("the hazard's cgroup", [](Sample& s) { shared_reader(s).cgroup_id = kOther; })}),
      exported("NfsFileCgroup", "dev",
               {interval_only("the reader's mount", [](Sample& s) { shared_reader(s).dev = kNoSuchDev; })}),
      exported("NfsFileCgroup", "sb_instance",
               {interval_only("the reader's mount", [](Sample& s) { shared_reader(s).sb_instance = 99; })}),
      exported(
          "NfsFileCgroup", "written_bytes",
          {interval_only("makes file 2 shared", [](Sample& s) { idle_writer(s).written_bytes += kBump; })}),
      exported("NfsFileCgroup", "dirtied_pages",
               {interval_only("makes file 2 shared", [](Sample& s) { idle_writer(s).dirtied_pages += 1; })}),
      exported("NfsFileCgroup", "reads",
               {interval_only("makes file 3 shared", [](Sample& s) { idle_reader(s).reads += 1; })}),
      exported("NfsFileCgroup", "revalidations",
               {interval_only("makes file 3 shared", [](Sample& s) { idle_reader(s).revalidations += 1; })}),
      not_exported("NfsFileCgroup", "invalidations",
                   "per file: evidence for the report; per cgroup and mount: "
                   "cgscope_nfs_operations_total{op=invalidate}"),
      not_exported("NfsStaleName", "export_id", "identifies the name; the hazard counts distinct names"),
      not_exported("NfsStaleName", "dir_fileid", "identifies the name; the hazard counts distinct names"),
      not_exported("NfsStaleName", "name_hash", "identifies the name; the hazard counts distinct names"),
      exported("NfsStaleName", "victim_cgroup_id",
               {interval_only("the hazard's cgroup",
                              [](Sample& s) { s.nfs.stale_names[0].victim_cgroup_id = kOther; })}),
      not_exported("NfsStaleName", "creator_cgroup_id",
                   "who created the names: the report says (a label per creator would multiply rows)"),
      exported("NfsStaleName", "victim_dev",
               {interval_only("the victim's mount",
                              [](Sample& s) { s.nfs.stale_names[0].victim_dev = kNoSuchDev; })}),
      exported("NfsStaleName", "victim_sb_instance",
               {interval_only("the victim's mount",
                              [](Sample& s) { s.nfs.stale_names[0].victim_sb_instance = 99; })}),
      exported("NfsStaleName", "count",
               {interval_only("makes name 2 a hazard", [](Sample& s) { s.nfs.stale_names[1].count += 3; })}),

      // The interval's own NFS structs: hazards exist only there. No probes (the sample fields
      // above drive them), but a new member fails the count and needs a decision here.
      not_exported("NfsInterval", "active", "as NfsSample::active"),
      not_exported("NfsInterval", "negative_lookups_visible", "read: cgscope_nfs_negative_lookups_visible"),
      not_exported("NfsInterval", "mounts", "read: mount labels and cgscope_nfs_mount_*"),
      not_exported("NfsInterval", "mountstats_delta", "read: cgscope_nfs_mountstats_*"),
      not_exported("NfsInterval", "cgroups", "read: the per (cgroup, mount) metrics"),
      not_exported("NfsInterval", "rpc", "read: cgscope_nfs_rpc*"),
      not_exported("NfsInterval", "files", "the evidence of shared_writers"),
      not_exported("NfsInterval", "stale_names", "the evidence of negative_lookups"),
      not_exported("NfsInterval", "shared_writers", "read: cgscope_nfs_shared_writer_*_files"),
      not_exported("NfsInterval", "shared_files_not_shown",
                   "hazard files beyond the interval's cap (64): the report says how many"),
      not_exported("NfsInterval", "negative_lookups", "read: cgscope_nfs_negative_lookup_hazard_names"),
      not_exported("NfsInterval", "page_size", "as Sample::page_size"),
      not_exported("NfsSharedWriterHazard", "export_name", "read: the export label"),
      not_exported("NfsSharedWriterHazard", "fileid", "which file: for the report"),
      not_exported("NfsSharedWriterHazard", "writers", "read: cgscope_nfs_shared_writer_written_files"),
      not_exported("NfsSharedWriterHazard", "readers", "read: cgscope_nfs_shared_writer_read_files"),
      not_exported("NfsNegativeLookupHazard", "export_name", "read: the export label"),
      not_exported("NfsNegativeLookupHazard", "victim_cgroup_id", "read: the row's cgroup"),
      not_exported("NfsNegativeLookupHazard", "creator_cgroup_id", "as NfsStaleName::creator_cgroup_id"),
      not_exported("NfsNegativeLookupHazard", "victim_dev", "read: the mount label"),
      not_exported("NfsNegativeLookupHazard", "victim_sb_instance", "read: the mount label"),
      not_exported("NfsNegativeLookupHazard", "stale_lookups",
                   "the interval's increase of cgscope_nfs_stale_negative_dentry_hits_total"),
      not_exported("NfsNegativeLookupHazard", "names", "read: cgscope_nfs_negative_lookup_hazard_names"),
      not_exported("NfsNegativeLookupHazard", "directories", "for the report"),
  };
}

// Member counts of every model struct listed above.
const std::map<std::string_view, std::size_t>& model_field_counts() {
  static const std::map<std::string_view, std::size_t> counts = {
      {"Sample", field_count<Sample>()},
      {"CgroupIdentity", field_count<CgroupIdentity>()},
      {"CgroupSample", field_count<CgroupSample>()},
      {"Pressure", field_count<Pressure>()},
      {"PsiLine", field_count<PsiLine>()},
      {"CpuBpfCounters", field_count<CpuBpfCounters>()},
      {"CpuStat", field_count<CpuStat>()},
      {"CpuKnobs", field_count<CpuKnobs>()},
      {"IoBpfCounters", field_count<IoBpfCounters>()},
      {"BlockIoCounters", field_count<BlockIoCounters>()},
      {"IoStatDevice", field_count<IoStatDevice>()},
      {"IoKnobs", field_count<IoKnobs>()},
      {"IoDeviceLimit", field_count<IoDeviceLimit>()},
      {"MemoryBpfCounters", field_count<MemoryBpfCounters>()},
      {"MemoryStat", field_count<MemoryStat>()},
      {"MemoryKnobs", field_count<MemoryKnobs>()},
      {"MemoryEvents", field_count<MemoryEvents>()},
      {"CollectorStatus", field_count<CollectorStatus>()},
      {"NfsSample", field_count<NfsSample>()},
      {"NfsMount", field_count<NfsMount>()},
      {"NfsMountStats", field_count<NfsMountStats>()},
      {"NfsMountOpStats", field_count<NfsMountOpStats>()},
      {"NfsCgroupMountCounters", field_count<NfsCgroupMountCounters>()},
      {"NfsOpCounters", field_count<NfsOpCounters>()},
      {"NfsRpcCounters", field_count<NfsRpcCounters>()},
      {"NfsFileCounters", field_count<NfsFileCounters>()},
      {"NfsFileCgroup", field_count<NfsFileCgroup>()},
      {"NfsStaleName", field_count<NfsStaleName>()},
      {"NfsInterval", field_count<NfsInterval>()},
      {"NfsSharedWriterHazard", field_count<NfsSharedWriterHazard>()},
      {"NfsNegativeLookupHazard", field_count<NfsNegativeLookupHazard>()},
  };
  return counts;
}

// What each probe changed, computed once.
struct ProbeResult {
  const Field* field;
  const Probe* probe;
  std::set<std::string_view> sample_changed, interval_changed;
  Readings base_sample, probed_sample, base_interval, probed_interval;
};
const std::vector<ProbeResult>& probe_results() {
  static const std::vector<Field> fields = model_fields();
  static const std::vector<ProbeResult> results = [] {
    const Sample prev = fixture(1), base = fixture(2);
    const Readings base_sample = read_sample(base).readings;
    const Readings base_interval = read_interval(derive(prev, base)).readings;
    std::vector<ProbeResult> out;
    for (const auto& f : fields) {
      for (const auto& p : f.probes) {
        Sample probed = base;
        p.apply(probed);
        ProbeResult r{&f,
                      &p,
                      {},
                      {},
                      base_sample,
                      read_sample(probed).readings,
                      base_interval,
                      read_interval(derive(prev, probed)).readings};
        r.sample_changed = changed(r.base_sample, r.probed_sample);
        r.interval_changed = changed(r.base_interval, r.probed_interval);
        out.push_back(std::move(r));
      }
    }
    return out;
  }();
  return results;
}

std::string where(const ProbeResult& r) {
  std::string s = std::string(r.field->type) + "::" + std::string(r.field->name);
  if (!r.probe->where.empty()) s += " (" + std::string(r.probe->where) + ")";
  return s;
}

// ---- tests ----

TEST(MetricsTest, NamesFollowTheConventions) {
  const std::regex snake("[a-z][a-z0-9]*(_[a-z0-9]+)*");
  const std::set<std::string_view> collectors = {"cpu", "io", "memory", "nfs", "cgroupfs", "all"};
  std::set<std::string_view> names;
  for (const auto& m : metrics()) {
    const std::string name(m.name);
    EXPECT_TRUE(names.insert(m.name).second) << "duplicate " << name;
    EXPECT_TRUE(name.starts_with("cgscope_") && std::regex_match(name, snake))
        << name << ": cgscope_snake_case";
    EXPECT_EQ(m.kind == MetricKind::kCounter, name.ends_with("_total"))
        << name << ": counters, and only they, end in _total";
    const std::string base = m.kind == MetricKind::kCounter ? name.substr(0, name.size() - 6) : name;
    if (m.unit.empty()) {
      EXPECT_EQ(m.kind, MetricKind::kGauge) << name << ": only 0/1 gauges go without a unit";
    } else {
      EXPECT_TRUE(base.ends_with("_" + std::string(m.unit)))
          << name << ": the unit (" << m.unit << ") ends the name";
    }
    if (m.kind == MetricKind::kHistogram) {
      EXPECT_EQ(m.unit, "seconds") << name << ": histograms are durations in seconds";
      EXPECT_GT(m.histogram_scale, 0) << name;
    } else {
      EXPECT_EQ(m.histogram_scale, 0) << name;
    }
    std::set<std::string_view> labels;
    for (std::string_view l : m.labels.names()) {
      EXPECT_TRUE(std::regex_match(std::string(l), snake)) << name << " label " << l;
      EXPECT_TRUE(labels.insert(l).second) << name << ": label " << l << " twice";
      EXPECT_NE(l, "le") << name;  // Prometheus' own
      EXPECT_NE(l, "quantile") << name;
    }
    EXPECT_TRUE(collectors.contains(m.collector)) << name << ": collector " << m.collector;
    EXPECT_TRUE(m.help.ends_with('.') && m.help.find_first_of("|\n") == std::string_view::npos)
        << name << ": help is one sentence or more, for a Markdown table";
    EXPECT_TRUE(m.sample || m.interval) << name << " reads nothing";
    if (!m.sample) {
      EXPECT_EQ(m.kind, MetricKind::kGauge) << name << ": a counter or histogram needs cumulative values";
    }
    EXPECT_EQ(find_metric(m.name), &m);
  }
  EXPECT_EQ(find_metric("cgscope_no_such_metric"), nullptr);
}

TEST(MetricsTest, EveryModelFieldIsListed) {
  std::map<std::string_view, std::size_t> listed;
  for (const auto& f : model_fields()) {
    ++listed[f.type];
    EXPECT_TRUE(model_field_counts().contains(f.type))
        << f.type << " has no field_count in model_field_counts()";
    EXPECT_NE(f.probes.empty(), f.why.empty())
        << f.type << "::" << f.name << ": probes, or why there are none";
  }
  for (const auto& [type, count] : model_field_counts()) {
    EXPECT_EQ(listed[type], count)
        << "model struct " << type << " has " << count << " members and model_fields() lists " << listed[type]
        << ". A member was added or removed: give a new one a metric in model/metrics.cpp (the accessors "
           "that read it) and a probe in model_fields(), or list it there as not exported, with the reason.";
  }
}

TEST(MetricsTest, EveryExportedFieldReachesAMetric) {
  for (const auto& r : probe_results()) {
    const Seen seen = r.probe->seen;
    if (seen != Seen::kIntervalOnly) {
      EXPECT_FALSE(r.sample_changed.empty()) << where(r) << ": no sample accessor reads it";
    } else {
      EXPECT_TRUE(r.sample_changed.empty()) << where(r) << " is listed as per interval only, yet changes "
                                            << *r.sample_changed.begin() << ": update its probe";
    }
    if (seen != Seen::kSampleOnly) {
      EXPECT_FALSE(r.interval_changed.empty()) << where(r) << ": no interval accessor reads it";
    } else {
      EXPECT_TRUE(r.interval_changed.empty()) << where(r) << " is listed as cumulative only, yet changes "
                                              << *r.interval_changed.begin() << ": update its probe";
    }
  }
}

TEST(MetricsTest, EveryMetricReadsAField) {
  std::set<std::string_view> sample_read, interval_read;
  for (const auto& r : probe_results()) {
    sample_read.insert(r.sample_changed.begin(), r.sample_changed.end());
    interval_read.insert(r.interval_changed.begin(), r.interval_changed.end());
  }
  for (const auto& m : metrics()) {
    if (m.sample) {
      EXPECT_TRUE(sample_read.contains(m.name)) << m.name << ": its sample accessor reads no probed field";
    }
    if (m.interval) {
      EXPECT_TRUE(interval_read.contains(m.name))
          << m.name << ": its interval accessor reads no probed field";
    }
  }
}

TEST(MetricsTest, RowsCarryTheDescriptorsLabelsAndScope) {
  const Recorder sample = read_sample(fixture(2));
  const Recorder interval = read_interval(derive(fixture(1), fixture(2)));
  for (const auto& p : sample.problems) ADD_FAILURE() << "sample: " << p;
  for (const auto& p : interval.problems) ADD_FAILURE() << "interval: " << p;
  // Probed samples too (other label values, a mount gone): problems the fixture itself has not.
  const std::set<std::string> known(sample.problems.begin(), sample.problems.end());
  for (const auto& r : probe_results()) {
    Sample probed = fixture(2);
    r.probe->apply(probed);
    for (const auto& p : read_sample(probed).problems)
      if (!known.contains(p)) ADD_FAILURE() << where(r) << ": " << p;
  }
  // The fixture exercises every accessor.
  for (const auto& m : metrics()) {
    if (m.sample) {
      EXPECT_TRUE(sample.readings.contains(m.name)) << m.name << ": no sample row from the fixture";
    }
    if (m.interval) {
      EXPECT_TRUE(interval.readings.contains(m.name)) << m.name << ": no interval row from the fixture";
    }
  }
}

TEST(MetricsTest, HistogramBucketsAreInSeconds) {
  // Bucket bounds: 2^i of the model's unit, times the scale.
  const Log2Histogram h;
  EXPECT_DOUBLE_EQ((MetricHistogram{h, 1e-9, std::nullopt}.upper_bound(19)), 1'048'576e-9);
  EXPECT_DOUBLE_EQ((MetricHistogram{h, 1e-6, std::nullopt}.upper_bound(9)), 1'024e-6);
  EXPECT_TRUE(std::isinf(MetricHistogram{h, 1e-9, std::nullopt}.upper_bound(kLog2Buckets - 1)));
  // Each histogram probe adds one value of 1 ms in its field's unit (ns, or us for RPCs): it must
  // land in a bucket whose bounds in seconds hold 0.001.
  int checked = 0;
  for (const auto& r : probe_results()) {
    if (!r.probe->adds_one_millisecond) continue;
    for (const auto* side : {&r.sample_changed, &r.interval_changed}) {
      const bool is_sample = side == &r.sample_changed;
      const Readings& before = is_sample ? r.base_sample : r.base_interval;
      const Readings& after = is_sample ? r.probed_sample : r.probed_interval;
      for (std::string_view name : *side) {
        if (find_metric(name)->kind != MetricKind::kHistogram) continue;
        for (const auto& [row, reading] : after.at(name)) {
          const Reading& old = before.at(name).at(row);
          if (old.buckets == reading.buckets) continue;
          for (std::size_t i = 0; i < kLog2Buckets; ++i) {
            if (reading.buckets[i] == old.buckets[i]) continue;
            EXPECT_EQ(reading.buckets[i], old.buckets[i] + 1) << name << " " << row;
            const double lower = static_cast<double>(Log2Histogram::bucket_lower(i)) * reading.scale;
            const double upper = MetricHistogram{h, reading.scale, std::nullopt}.upper_bound(i);
            EXPECT_TRUE(lower <= 1e-3 && 1e-3 < upper) << name << " " << row << ": 1 ms of " << where(r)
                                                       << " in [" << lower << ", " << upper << ") s";
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GE(checked, 16);  // 8 histogram fields, in samples and intervals
}

TEST(MetricsTest, CountersNeverDecrease) {
  Readings earlier = read_sample(fixture(1)).readings;
  for (std::uint64_t step = 2; step <= 4; ++step) {
    const Readings later = read_sample(fixture(step)).readings;
    for (const auto& m : metrics()) {
      if (m.kind == MetricKind::kGauge || !earlier.contains(m.name) || !later.contains(m.name)) continue;
      for (const auto& [row, before] : earlier.at(m.name)) {
        auto it = later.at(m.name).find(row);
        if (it == later.at(m.name).end()) continue;
        const Reading& after = it->second;
        EXPECT_GE(after.value, before.value) << m.name << " " << row << " at step " << step;
        for (std::size_t i = 0; i < after.buckets.size(); ++i)
          EXPECT_GE(after.buckets[i], before.buckets[i]) << m.name << " " << row << " bucket " << i;
        if (after.sum && before.sum) {
          EXPECT_GE(*after.sum, *before.sum) << m.name << " " << row;
        }
      }
    }
    earlier = later;
  }
}

// The interval accessors give what the sample accessors' difference says: same units, same rows.
TEST(MetricsTest, IntervalIsTheDifferenceOfSamples) {
  const Sample s1 = fixture(1), s2 = fixture(3);
  const Readings r1 = read_sample(s1).readings, r2 = read_sample(s2).readings;
  const Readings interval = read_interval(derive(s1, s2)).readings;
  for (const auto& m : metrics()) {
    if (!m.sample || !m.interval || !interval.contains(m.name)) continue;
    for (const auto& [row, got] : interval.at(m.name)) {
      ASSERT_TRUE(r2.at(m.name).contains(row))
          << m.name << " " << row << ": in the interval, not in the sample";
      const Reading& end = r2.at(m.name).at(row);
      const Reading start =
          r1.contains(m.name) && r1.at(m.name).contains(row) ? r1.at(m.name).at(row) : Reading{};
      switch (m.kind) {
        case MetricKind::kGauge:
          EXPECT_EQ(got.value, end.value) << m.name << " " << row;
          break;
        case MetricKind::kCounter:
          EXPECT_NEAR(got.value, end.value - start.value, 1e-9 * end.value) << m.name << " " << row;
          break;
        case MetricKind::kHistogram:
          for (std::size_t i = 0; i < kLog2Buckets; ++i)
            EXPECT_EQ(got.buckets[i], end.buckets[i] - (start.buckets.empty() ? 0 : start.buckets[i]))
                << m.name << " " << row << " bucket " << i;
          if (got.sum && end.sum) {
            EXPECT_NEAR(*got.sum, *end.sum - start.sum.value_or(0), 1e-9 * *end.sum) << m.name << " " << row;
          }
          break;
      }
    }
  }
}

TEST(MetricsTest, PerSecondDividesByTheInterval) {
  const Snapshot s = derive(fixture(1), fixture(3));  // 2 s
  EXPECT_DOUBLE_EQ(per_second(10, s), 5);
  EXPECT_EQ(per_second(10, Snapshot{}), 0);
}

// docs/metrics.md lists every metric, as the table says, in the table's order.
std::string doc_row(const MetricDescriptor& m) {
  std::string labels;
  for (std::string_view l : m.labels.names()) labels += (labels.empty() ? "`" : ", `") + std::string(l) + "`";
  const char* values = m.sample && m.interval ? "sample, interval" : m.sample ? "sample" : "interval";
  std::ostringstream row;
  row << "| `" << m.name << "` | " << to_string(m.kind) << " | " << (m.unit.empty() ? "-" : m.unit) << " | "
      << (labels.empty() ? "-" : labels) << " | " << to_string(m.scope) << " | " << m.collector << " | "
      << values << " | " << m.help << " |";
  return row.str();
}

TEST(MetricsTest, DocsListEveryMetric) {
  std::ifstream in(CGSCOPE_FIXTURES_DIR "/../../docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md is missing";
  std::vector<std::string> documented, expected;
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("| `cgscope_")) documented.push_back(line);
  std::string all;
  for (const auto& m : metrics()) {
    expected.push_back(doc_row(m));
    all += expected.back() + "\n";
  }
  EXPECT_EQ(documented, expected)
      << "docs/metrics.md is not in step with model/metrics.cpp; its rows should be:\n"
      << all;
}

}  // namespace
