// The analyzers (analyzers/analyze.hpp) on fixture windows of real-looking numbers: each rule
// fires on the workload it is about and stays silent on a healthy window; thresholds just
// below and at/above; the commands of every manager, to the character; the lost-time budget
// (run delay split by who held the CPU, throttled waits taken out); ranking and de-duplication
// of findings across intervals; the JSON schema.
//
// Fixtures are 1 s intervals on a 4-CPU host. The arithmetic of each expected value is in a
// comment next to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/analyze.hpp"
#include "analyzers/json.hpp"
#include "analyzers/rule_util.hpp"
#include "model/window.hpp"

using namespace cgscope;
using namespace cgscope::analyzers;
using model::CgroupInterval;
using model::NfsOp;
using model::RunDelayBlame;
using model::Snapshot;
using model::Window;

namespace {

// ---- time axis ----

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kBase = 100 * kSecond;  // monotonic start of interval 0
constexpr std::int64_t kRealtimeOffset = 1'700'000'000LL * 1'000'000'000LL;
constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr int kHostCpus = 4;

// Interval i: [kBase + i s, kBase + (i + 1) s).
Snapshot interval_at(std::uint64_t i, int nr_cpus = kHostCpus) {
  Snapshot s;
  s.start_monotonic_ns = kBase + i * kSecond;
  s.end_monotonic_ns = s.start_monotonic_ns + kSecond;
  s.start_realtime_ns = static_cast<std::int64_t>(s.start_monotonic_ns) + kRealtimeOffset;
  s.end_realtime_ns = static_cast<std::int64_t>(s.end_monotonic_ns) + kRealtimeOffset;
  s.nr_cpus = nr_cpus;
  return s;
}

using Fill = std::function<void(std::uint64_t i, Snapshot&)>;

// A window of `n` intervals, each filled by `fill`.
Window window_of(std::uint64_t n, const Fill& fill, int nr_cpus = kHostCpus) {
  Window w;
  for (std::uint64_t i = 0; i < n; ++i) {
    Snapshot s = interval_at(i, nr_cpus);
    fill(i, s);
    EXPECT_TRUE(w.append(s).ok()) << "interval " << i;
  }
  return w;
}

Analysis analyze_all(const Window& w, const AnalysisOptions& options = {}) {
  return analyze(w, w.all(), options);
}

// ---- cgroups of the fixtures (ids are inode numbers, as the kernel gives them) ----

constexpr std::uint64_t kRootId = 1;
constexpr std::uint64_t kBurnerId = 4101;
constexpr std::uint64_t kIdleId = 4102;
constexpr std::uint64_t kWebId = 4103;
constexpr std::uint64_t kBatchId = 4104;
constexpr std::uint64_t kCronId = 4105;
constexpr std::uint64_t kAppId = 4106;
constexpr std::uint64_t kBackupId = 4107;
constexpr std::uint64_t kDbId = 4108;
constexpr std::uint64_t kPodAId = 4109;
constexpr std::uint64_t kPodBId = 4110;

const std::string kDockerA = "3f4a9c1e7b2d5f6081a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7a8";
const std::string kDockerB = "9b8a7c6d5e4f30211f2e3d4c5b6a79880716253443526170e9d8c7b6a5f4e3d2";
const std::string kPodUidA = "8d6c1e57-2b1f-4d8a-9c3e-5a7b9e0f1d2c";
const std::string kPodUidB = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

std::string docker_path(const std::string& hex) { return "/system.slice/docker-" + hex + ".scope"; }

// A burstable pod's container (systemd driver): the kubelet writes the pod UID with '_'.
std::string pod_path(std::string uid, const std::string& hex) {
  std::replace(uid.begin(), uid.end(), '-', '_');
  return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice/cri-containerd-" +
         hex + ".scope";
}

CgroupInterval cgroup(std::uint64_t id, const std::string& path) {
  CgroupInterval cg;
  cg.identity.id = id;
  cg.identity.path = path;
  cg.identity.container = model::parse_container_identity(path);
  return cg;
}

// ---- one interval of a workload ----

// CPU use seen by the eBPF collector and by cpu.stat alike.
void set_cpu(CgroupInterval& cg, double cpu_percent) {
  cg.has_bpf = true;
  cg.cpu_percent = cpu_percent;
  cg.on_cpu_ns = static_cast<std::uint64_t>(cpu_percent / 100 * kSecond);
  cg.cpu_percent_cgroupfs = cpu_percent;
  cg.usage_usec = static_cast<std::uint64_t>(cpu_percent / 100 * 1e6);
  cg.cpu_knobs.quota_known = true;
  cg.cpu_knobs.weight = 100;
}

// cpu.max "quota period" and what cpu.stat said about its periods in the interval.
void set_quota(CgroupInterval& cg, std::int64_t quota_usec, std::uint64_t period_usec,
               std::uint64_t nr_periods, std::uint64_t nr_throttled, std::uint64_t throttled_usec) {
  cg.cpu_knobs.quota_usec = quota_usec;
  cg.cpu_knobs.period_usec = period_usec;
  cg.cpu_knobs.quota_known = true;
  cg.nr_periods = nr_periods;
  cg.nr_throttled = nr_throttled;
  cg.throttled_usec = throttled_usec;
  cg.throttled_percent =
      nr_periods ? 100.0 * static_cast<double>(nr_throttled) / static_cast<double>(nr_periods) : 0;
}

// Run-queue waits by holder (sorted by holder id, as the collector gives them); the sum and a
// histogram of `waits` waits of equal length follow from them.
void set_run_delay(CgroupInterval& cg, std::vector<RunDelayBlame> blame) {
  std::sort(blame.begin(), blame.end(),
            [](const auto& a, const auto& b) { return a.cgroup_id < b.cgroup_id; });
  cg.run_delay_ns_sum = 0;
  for (const auto& b : blame) {
    cg.run_delay_ns_sum += b.wait_ns;
    if (b.waits) cg.run_delay_ns.add(b.wait_ns / b.waits, b.waits);
  }
  cg.run_delay_blame = std::move(blame);
}

// Demand slots of 100 ms: {centi-CPUs, slots}.
void set_demand(CgroupInterval& cg, std::vector<model::CpuDemandBucket> buckets) {
  cg.cpu_demand_slot_ns = 100 * kMs;
  cg.cpu_demand = std::move(buckets);
}

// ---- workloads of the fixtures ----

// A 2-thread CPU burner under a 20% quota (cpu.max "20000 100000"): it runs its 20 ms per
// 100 ms period and both threads wait out the rest. 10 of 10 periods throttled; throttled time
// (summed over its run queues) 0.8, 1.0, 1.2, 1.4, 1.6 s in turn: 1.2 s per second on average.
// Demand (use + throttled time per 100 ms slot) ~2 CPUs: 194 x2, 197 x3, 199 x5 centi-CPUs.
// Its waits are throttled waits (holder kRunDelayHolderThrottled) plus a few behind itself.
CgroupInterval burner(std::uint64_t id, const std::string& path, std::uint64_t i) {
  CgroupInterval cg = cgroup(id, path);
  set_cpu(cg, 20);
  set_quota(cg, 20'000, 100'000, 10, 10, 800'000 + (i % 5) * 200'000);
  cg.cpu_knobs.cpuset_cpus = "0-3";
  set_run_delay(cg, {{id, 40 * kMs, 60}, {model::kRunDelayHolderThrottled, 1440 * kMs, 20}});
  set_demand(cg, {{194, 2}, {197, 3}, {199, 5}});
  return cg;
}
constexpr double kBurnerThrottledPerInterval = 1.2;  // mean of 0.8 .. 1.6

// A healthy service: 3% CPU, no quota, 1 ms of run delay per second (behind itself or on an
// idle CPU), 180 MiB of memory far from any limit.
CgroupInterval healthy(std::uint64_t id, const std::string& path) {
  CgroupInterval cg = cgroup(id, path);
  set_cpu(cg, 3);
  set_run_delay(cg, {{0, 400'000, 8}, {id, 600'000, 12}});
  cg.memory.has_bpf = true;
  cg.memory.knobs.current_bytes = 180 * kMiB;
  cg.memory.knobs.limits_known = true;
  cg.memory.stat.inactive_file_bytes = 40 * kMiB;
  cg.memory.events.high = 0;
  cg.memory.events.max = 0;
  cg.memory.events.oom_kill = 0;
  return cg;
}

// web waits 300 ms per second for a CPU: 180 ms behind batch-import, 60 ms behind cron, 40 ms
// behind its own tasks, 20 ms on an idle CPU. batch-import runs 3.5 CPUs without a quota.
void web_behind_batch(std::uint64_t, Snapshot& s) {
  CgroupInterval web = cgroup(kWebId, "/system.slice/web.service");
  set_cpu(web, 80);
  set_run_delay(
      web, {{0, 20 * kMs, 40}, {kWebId, 40 * kMs, 200}, {kBatchId, 180 * kMs, 300}, {kCronId, 60 * kMs, 90}});
  CgroupInterval batch = cgroup(kBatchId, "/system.slice/batch-import.service");
  set_cpu(batch, 350);
  set_run_delay(batch, {{kWebId, 30 * kMs, 60}, {kBatchId, 120 * kMs, 400}});
  CgroupInterval cron = healthy(kCronId, "/system.slice/cron.service");
  set_cpu(cron, 25);
  s.cgroups = {web, batch, cron};
}

// A 4-CPU quota on a service whose demand p99 is 0.31 CPU (slots at 0.19, 0.23, 0.27, 0.31).
Fill oversized_service(std::uint32_t peak_centi) {
  return [peak_centi](std::uint64_t, Snapshot& s) {
    CgroupInterval cg = cgroup(kAppId, "/app.slice/report-renderer");
    set_cpu(cg, 22);
    set_quota(cg, 400'000, 100'000, 10, 0, 0);
    set_demand(cg, {{18, 3}, {22, 4}, {26, 2}, {peak_centi, 1}});
    s.cgroups = {cg};
  };
}

// A cache service held under memory.high = 256 MiB: memory.current 263 MiB of which 12 MiB are
// inactive file pages (working set 251 MiB), high events every interval, 120 ms per second
// stalled in memcg reclaim, PSI some 150 ms. `refaults_per_second` pages read back after
// eviction: 0 for a stream through the page cache, 3000 when the working set does not fit.
CgroupInterval squeezed_cache(std::uint64_t id, const std::string& path,
                              std::uint64_t refaults_per_second = 3000) {
  CgroupInterval cg = cgroup(id, path);
  set_cpu(cg, 60);
  cg.memory.has_bpf = true;
  cg.memory.memcg_reclaim_ns = 120 * kMs;
  cg.memory.memcg_reclaim_count = 300;
  cg.memory.reclaim_ns.add(400'000, 300);
  cg.memory.knobs.current_bytes = 263 * kMiB;
  cg.memory.knobs.high_bytes = 256 * kMiB;
  cg.memory.knobs.limits_known = true;
  cg.memory.stat.inactive_file_bytes = 12 * kMiB;
  cg.memory.events.high = 40;
  cg.memory.events.max = 0;
  cg.memory.workingset_refault_anon = 0;
  cg.memory.workingset_refault_file = refaults_per_second;
  cg.memory.pressure_some_usec = 150'000;
  return cg;
}

Window squeezed_cache_window(std::uint64_t refaults_per_second) {
  return window_of(20, [refaults_per_second](std::uint64_t, Snapshot& s) {
    s.cgroups = {squeezed_cache(kAppId, "/app.slice/cache", refaults_per_second),
                 healthy(kIdleId, "/system.slice/cron.service")};
  });
}

// A worker with memory.max = 512 MiB: 300 MiB, then in interval 7 it reaches the limit
// (memory.peak 512 MiB) and a task is OOM-killed.
Fill oom_worker(const std::string& path) {
  return [path](std::uint64_t i, Snapshot& s) {
    CgroupInterval cg = cgroup(kAppId, path);
    set_cpu(cg, 40);
    cg.memory.has_bpf = true;
    cg.memory.knobs.limits_known = true;
    cg.memory.knobs.max_bytes = 512 * kMiB;
    cg.memory.knobs.current_bytes = i == 7 ? 510 * kMiB : 300 * kMiB;
    cg.memory.knobs.peak_bytes = i >= 7 ? 512 * kMiB : 300 * kMiB;
    cg.memory.stat.inactive_file_bytes = 20 * kMiB;
    cg.memory.oom_kills = i == 7 ? 1 : 0;
    cg.memory.events.oom_kill = cg.memory.oom_kills;
    cg.memory.events.max = i == 7 ? 25 : 0;
    cg.memory.events.high = 0;
    s.cgroups = {cg, healthy(kIdleId, "/system.slice/cron.service")};
  };
}

constexpr std::uint32_t kSda = (8u << 20) | 0u;  // 8:0

// backup writes 180 MiB/s to sda; db reads 2 MiB/s from it, 480 reads at ~0.8 ms and 20 at
// ~25 ms per second (p99 ~29 ms, or `slow` false: all at 0.3 ms), 150 ms of I/O wait.
Fill backup_and_db(bool slow) {
  return [slow](std::uint64_t, Snapshot& s) {
    CgroupInterval backup = cgroup(kBackupId, "/system.slice/backup.service");
    set_cpu(backup, 35);
    backup.io.has_bpf = true;
    backup.io.write_bytes = 180 * kMiB;
    backup.io.write_ios = 720;
    backup.io.write_latency_ns.add(8 * kMs, 720);
    backup.io.block = {{kSda, model::IoOp::kWrite, model::IoOwner::kTask, 720, 180 * kMiB}};
    CgroupInterval db = cgroup(kDbId, "/system.slice/postgresql.service");
    set_cpu(db, 40);
    db.io.has_bpf = true;
    db.io.read_bytes = 2 * kMiB;
    db.io.read_ios = 500;
    if (slow) {
      db.io.read_latency_ns.add(800'000, 480);
      db.io.read_latency_ns.add(25 * kMs, 20);
    } else {
      db.io.read_latency_ns.add(300'000, 500);
    }
    db.io.block = {{kSda, model::IoOp::kRead, model::IoOwner::kTask, 500, 2 * kMiB}};
    db.io.has_iowait = true;
    db.io.iowait_ns = slow ? 150 * kMs : 10 * kMs;
    s.cgroups = {backup, db};
  };
}

constexpr std::uint32_t kNfsDevA = (0u << 20) | 53u;  // 0:53
constexpr std::uint32_t kNfsDevB = (0u << 20) | 54u;
constexpr std::uint32_t kNfsSbA = 1001, kNfsSbB = 1002;

// The registry export mounted twice (two NFS clients: nosharecache), as the kubelet mounts it
// for two pods.
model::NfsMount registry_mount(std::uint32_t dev, std::uint32_t sb, const std::string& mount_point) {
  model::NfsMount m;
  m.dev = dev;
  m.sb_instance = sb;
  m.mount_point = mount_point;
  m.source = "nfs.example:/srv/registry";
  m.server = "nfs.example";
  m.export_path = "/srv/registry";
  m.fstype = "nfs4";
  m.vers = "4.2";
  m.options = {{"rw", ""},           {"relatime", ""},           {"vers", "4.2"},
               {"rsize", "1048576"}, {"wsize", "1048576"},       {"hard", ""},
               {"proto", "tcp"},     {"timeo", "600"},           {"retrans", "2"},
               {"sec", "sys"},       {"clientaddr", "10.0.0.7"}, {"local_lock", "none"},
               {"addr", "10.0.0.5"}, {"namlen", "255"}};
  return m;
}
const std::string kMountA = "/mnt/registry-a";
const std::string kMountB = "/mnt/registry-b";
// The mount options without those the kernel fills in (addr, clientaddr, namlen), sorted, as
// the remount command writes them.
const std::string kRegistryOptions =
    "hard,local_lock=none,proto=tcp,relatime,retrans=2,rsize=1048576,rw,sec=sys,timeo=600,vers=4.2,wsize="
    "1048576";

// Two replicas of a registry (victim A, creator B): B creates blobs that A is told, from its
// cached negative dentries, do not exist: 2 stale lookups of one name in interval 4, one of
// each of two names in interval 9 (4 in all, 3 names, 2 directories).
Fill stale_lookups(const std::string& path_a, const std::string& path_b) {
  return [path_a, path_b](std::uint64_t i, Snapshot& s) {
    CgroupInterval a = cgroup(kPodAId, path_a), b = cgroup(kPodBId, path_b);
    set_cpu(a, 15);
    set_cpu(b, 15);
    s.cgroups = {a, b};
    s.nfs.active = true;
    s.nfs.negative_lookups_visible = true;
    s.nfs.mounts = {registry_mount(kNfsDevA, kNfsSbA, kMountA), registry_mount(kNfsDevB, kNfsSbB, kMountB)};
    model::NfsCgroupMountInterval row;
    row.cgroup_id = kPodAId;
    row.dev = kNfsDevA;
    row.sb_instance = kNfsSbA;
    row.ops[static_cast<std::size_t>(NfsOp::kLookupRevalidate)].count = 120;
    row.ops[static_cast<std::size_t>(NfsOp::kRevalidate)].count = 40;
    row.negative_trusted = 6;
    s.nfs.cgroups = {row};
    auto stale = [](std::uint64_t dir, std::uint32_t hash, std::uint64_t count) {
      return model::NfsStaleName{.export_id = 1,
                                 .dir_fileid = dir,
                                 .name_hash = hash,
                                 .victim_cgroup_id = kPodAId,
                                 .creator_cgroup_id = kPodBId,
                                 .victim_dev = kNfsDevA,
                                 .victim_sb_instance = kNfsSbA,
                                 .count = count};
    };
    if (i == 4) s.nfs.stale_names = {stale(131074, 0x9e3779b1, 2)};
    if (i == 9) s.nfs.stale_names = {stale(131074, 0x7f4a7c15, 1), stale(131090, 0x2545f491, 1)};
  };
}

// mountstats of one mount per second: `getattrs` GETATTR and 50 READ RPCs; GETATTR round trips
// of `getattr_rtt_ms` and READ of 50 ms; `retransmits` extra GETATTR transmissions. The mount has
// `nconnect` connections and timeo `timeo` (deciseconds).
Fill rpc_traffic(std::uint64_t getattrs, std::uint64_t getattr_rtt_ms, std::uint64_t retransmits,
                 std::uint32_t nconnect = 1, const std::string& timeo = "600") {
  return [=](std::uint64_t, Snapshot& s) {
    s.cgroups = {healthy(kIdleId, "/system.slice/cron.service")};
    s.nfs.active = true;
    model::NfsMount m = registry_mount(kNfsDevA, kNfsSbA, kMountA);
    m.nconnect = nconnect;
    if (nconnect > 1) m.options["nconnect"] = std::to_string(nconnect);
    m.options["timeo"] = timeo;
    s.nfs.mounts = {m};
    model::NfsMountStats ms;
    ms.source = m.source;
    ms.mount_point = kMountA;
    ms.fstype = "nfs4";
    ms.ops["GETATTR"] = {
        .ops = getattrs, .transmissions = getattrs + retransmits, .rtt_ms = getattrs * getattr_rtt_ms};
    ms.ops["READ"] = {.ops = 50, .transmissions = 50, .rtt_ms = 50 * 50};
    s.nfs.mountstats_delta = {ms};
  };
}

// ---- looking at an analysis ----

std::vector<const Finding*> findings_of(const Analysis& a, std::string_view rule) {
  std::vector<const Finding*> out;
  for (const auto& f : a.findings)
    if (f.rule == rule) out.push_back(&f);
  return out;
}

const Finding* finding_of(const Analysis& a, std::string_view rule, std::uint64_t cgroup_id) {
  for (const auto& f : a.findings)
    if (f.rule == rule && f.cgroup_id == cgroup_id) return &f;
  return nullptr;
}

// "cpu-throttling(4101) memory-oom(4106)": what fired, for failure messages.
std::string fired(const Analysis& a) {
  std::string s;
  for (const auto& f : a.findings) s += f.rule + "(" + std::to_string(f.cgroup_id) + ") ";
  return s.empty() ? "nothing" : s;
}

double evidence(const Finding& f, std::string_view name) {
  for (const auto& e : f.evidence)
    if (e.name == name) return e.value;
  ADD_FAILURE() << f.rule << " has no evidence " << name;
  return std::nan("");
}

const Recommendation* recommendation(const Finding& f, std::string_view knob) {
  for (const auto& r : f.recommendations)
    if (r.knob == knob) return &r;
  return nullptr;
}

const Command* command_of(const Recommendation& r, Manager m) {
  for (const auto& c : r.commands)
    if (c.manager == m) return &c;
  return nullptr;
}

const CgroupBudget* budget_of(const Analysis& a, std::uint64_t id) {
  for (const auto& b : a.budgets)
    if (b.cgroup_id == id) return &b;
  return nullptr;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// ---- commands and JSON ----

// The commands of the burner's cpu.max suggestion ("220000 100000"), with the burner at `path` (and at
// `v1_cpu_path` in the v1 cpu hierarchy) on a host of `layout`.
std::vector<Command> cpu_max_commands(const std::string& path, const CgroupLayout& layout,
                                      const std::string& v1_cpu_path = "") {
  const Window w = window_of(20, [&](std::uint64_t i, Snapshot& s) {
    CgroupInterval cg = burner(kBurnerId, path, i);
    cg.identity.v1_cpu_path = v1_cpu_path;
    s.cgroups = {cg};
  });
  AnalysisOptions options;
  options.layout = layout;
  const Analysis a = analyze_all(w, options);
  const Finding* f = finding_of(a, "cpu-throttling", kBurnerId);
  if (!f) {
    ADD_FAILURE() << "no cpu-throttling finding: " << fired(a);
    return {};
  }
  EXPECT_EQ(f->recommendations.at(0).suggested, "220000 100000");
  return f->recommendations.at(0).commands;
}

CgroupLayout pure_v2() {
  CgroupLayout l;
  l.known = true;
  l.v2_root = "/sys/fs/cgroup";
  l.v2_controllers = {"cpu", "memory", "io"};
  return l;
}

// Exactly one preferred command, and it comes first.
void expect_one_preferred_first(const std::vector<Command>& commands) {
  ASSERT_FALSE(commands.empty());
  EXPECT_TRUE(commands[0].preferred);
  EXPECT_EQ(std::count_if(commands.begin(), commands.end(), [](const Command& c) { return c.preferred; }), 1);
}

std::set<std::string> keys_of(const nlohmann::json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

// The stale lookups between two pods beside the throttled burner: two findings, one with lost
// time and one without.
Window mixed_window() {
  return window_of(20, [](std::uint64_t i, Snapshot& s) {
    Snapshot nfs;
    stale_lookups(pod_path(kPodUidA, kDockerA), pod_path(kPodUidB, kDockerB))(i, nfs);
    s.cgroups = nfs.cgroups;
    s.nfs = nfs.nfs;
    s.cgroups.push_back(burner(kBurnerId, "/batch.slice/burner", i));
  });
}

}  // namespace

// ============================================================================================
// A healthy window
// ============================================================================================

// Every rule looks at this window and finds nothing: busy-ish but unthrottled services, memory
// far from limits, a little fast I/O, NFS active with quick RPCs and no hazard.
TEST(AnalyzerRules, HealthyWindowHasNoFindingsAndNoNotes) {
  const Window w = window_of(40, [](std::uint64_t, Snapshot& s) {
    CgroupInterval root = healthy(kRootId, "/");
    CgroupInterval web = healthy(kWebId, "/system.slice/web.service");
    set_cpu(web, 45);
    // A quota it uses most of (no oversized finding) and never hits.
    set_quota(web, 80'000, 100'000, 10, 0, 0);
    set_demand(web, {{40, 3}, {45, 4}, {52, 3}});
    CgroupInterval db = healthy(kDbId, "/system.slice/postgresql.service");
    db.io.has_bpf = true;
    db.io.read_bytes = 2 * kMiB;
    db.io.read_ios = 256;
    db.io.read_latency_ns.add(300'000, 256);  // 0.3 ms reads
    db.io.block = {{model::make_dev(8, 0), model::IoOp::kRead, model::IoOwner::kTask, 256, 2 * kMiB}};
    db.io.has_iowait = true;
    db.io.iowait_ns = 5 * kMs;
    s.cgroups = {root, web, db, healthy(kIdleId, "/system.slice/cron.service")};
    s.nfs.active = true;
    model::NfsMountStats ms;
    ms.mount_point = "/mnt/data";
    ms.ops["GETATTR"] = {.ops = 300, .transmissions = 300, .rtt_ms = 300};  // 1 ms each
    s.nfs.mountstats_delta = {ms};
  });
  const Analysis a = analyze_all(w);
  EXPECT_TRUE(a.findings.empty()) << fired(a);
  EXPECT_TRUE(a.notes.empty());
  EXPECT_EQ(a.too_little_data, 0u);
  EXPECT_EQ(a.cgroups, 4u);
  EXPECT_DOUBLE_EQ(a.seconds, 40);
}

// ============================================================================================
// cpu-throttling
// ============================================================================================

TEST(AnalyzerCpuThrottling, BurnerUnderItsQuotaGetsCpuMaxFromDemandP95) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    s.cgroups = {burner(kBurnerId, "/batch.slice/burner", i), healthy(kIdleId, "/system.slice/cron.service")};
  });
  const Analysis a = analyze_all(w);
  ASSERT_EQ(a.findings.size(), 1u) << fired(a);
  const Finding& f = a.findings[0];
  EXPECT_EQ(f.rule, "cpu-throttling");
  EXPECT_EQ(f.cgroup_id, kBurnerId);
  EXPECT_EQ(f.key, "cpu-throttling//batch.slice/burner");
  EXPECT_EQ(f.explains, Cause::kThrottled);
  // 1.2 s throttled per second of wall time: far above 25%.
  EXPECT_EQ(f.severity, Severity::kCritical);
  EXPECT_NEAR(f.lost_seconds, 20 * kBurnerThrottledPerInterval, 1e-5);
  EXPECT_NEAR(f.lost_fraction, kBurnerThrottledPerInterval, 1e-6);
  EXPECT_EQ(evidence(f, "throttled_periods_percent"), 100);
  EXPECT_NEAR(evidence(f, "use_cpus"), 0.20, 1e-6);
  EXPECT_NEAR(evidence(f, "quota_cpus"), 0.20, 1e-12);
  // 200 slots: 40 at 1.94, 60 at 1.97, 100 at 1.99 CPU; the 190th is in the top hundredth,
  // whose upper edge is 2.00.
  EXPECT_NEAR(evidence(f, "demand_p95_cpus"), 2.00, 1e-9);
  EXPECT_EQ(evidence(f, "demand_samples"), 200);
  EXPECT_EQ(f.confidence, Confidence::kMedium);  // 20 intervals: 60 for high
  EXPECT_TRUE(contains(f.title, "1.2 s per second")) << f.title;

  // Not bursty (it uses all of its quota): cpu.max only. 2.00 x 1.1 = 2.20, a multiple of 0.05.
  ASSERT_EQ(f.recommendations.size(), 1u);
  const Recommendation& r = f.recommendations[0];
  EXPECT_EQ(r.knob, "cpu.max");
  EXPECT_EQ(r.target, "burner");
  EXPECT_EQ(r.current, "20000 100000");
  EXPECT_EQ(r.suggested, "220000 100000");
  EXPECT_EQ(r.derivation,
            "demand p95 2.00 CPU over 200 slots of 100 ms x 1.10 margin, rounded up to 0.05 CPU");
  ASSERT_FALSE(r.commands.empty());
  EXPECT_TRUE(r.commands[0].preferred);
  EXPECT_EQ(r.commands[0].text, "echo \"220000 100000\" > /sys/fs/cgroup/batch.slice/burner/cpu.max");
  // Throttled in every interval: one finding spanning all of them.
  EXPECT_EQ(f.first_index, 0u);
  EXPECT_EQ(f.last_index, 19u);
  EXPECT_EQ(f.intervals, 20u);
}

// p95 x 1.1 rounded up to a multiple of 0.05 CPU: 1.37 x 1.1 = 1.507 -> 1.55.
TEST(AnalyzerCpuThrottling, SuggestionRoundsUpToAStepOfFiveHundredthsOfACpu) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval cg = burner(kBurnerId, "/batch.slice/burner", i);
    set_cpu(cg, 50);
    set_quota(cg, 50'000, 100'000, 10, 10, 900'000);
    set_demand(cg, {{120, 5}, {136, 5}});  // p95 = 1.37 (upper edge of [1.36, 1.37))
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "cpu-throttling", kBurnerId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_NEAR(evidence(*f, "demand_p95_cpus"), 1.37, 1e-9);
  EXPECT_EQ(f->recommendations.at(0).suggested, "155000 100000");
}

// The suggestion never exceeds the CPUs the cgroup may run on: its cpuset, else the host.
TEST(AnalyzerCpuThrottling, SuggestionIsCappedByCpusetAndHostCpus) {
  auto four_threads_on = [](const std::string& cpuset) {
    return [cpuset](std::uint64_t, Snapshot& s) {
      // Four spinning threads under a 1-CPU quota, on 2 CPUs: demand 2 CPUs.
      CgroupInterval cg = cgroup(kBurnerId, "/batch.slice/burner");
      set_cpu(cg, 100);
      set_quota(cg, 100'000, 100'000, 10, 10, 1'000'000);
      cg.cpu_knobs.cpuset_cpus = cpuset;
      set_demand(cg, {{197, 4}, {199, 6}});  // p95 2.00 -> 2.20 uncapped
      s.cgroups = {cg};
    };
  };
  {
    const Analysis a = analyze_all(window_of(20, four_threads_on("0-1")));
    const Finding* f = finding_of(a, "cpu-throttling", kBurnerId);
    ASSERT_NE(f, nullptr) << fired(a);
    EXPECT_EQ(f->recommendations.at(0).suggested, "200000 100000");
    EXPECT_TRUE(contains(f->recommendations.at(0).derivation, "capped at the 2 CPUs it may run on"))
        << f->recommendations.at(0).derivation;
  }
  {
    // No cpuset known, a 2-CPU host.
    const Analysis a = analyze_all(window_of(20, four_threads_on(""), 2));
    const Finding* f = finding_of(a, "cpu-throttling", kBurnerId);
    ASSERT_NE(f, nullptr) << fired(a);
    EXPECT_EQ(f->recommendations.at(0).suggested, "200000 100000");
  }
  {
    // On 4 CPUs: not capped.
    const Analysis a = analyze_all(window_of(20, four_threads_on("0-3")));
    const Finding* f = finding_of(a, "cpu-throttling", kBurnerId);
    ASSERT_NE(f, nullptr) << fired(a);
    EXPECT_EQ(f->recommendations.at(0).suggested, "220000 100000");
    EXPECT_FALSE(contains(f->recommendations.at(0).derivation, "capped"));
  }
}

// A bursty service: 1-CPU quota, 0.51 CPU on average, but 3 of every 10 slots want 1.5 CPUs
// (it spends the period's quota in 67 ms and waits). Throttled 150 ms per second.
TEST(AnalyzerCpuThrottling, BurstyWorkloadAlsoGetsCpuMaxBurst) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval cg = cgroup(kAppId, "/app.slice/thumbnailer");
    set_cpu(cg, 51);  // 7 slots x 0.3 + 3 slots x 1.0 over 10
    set_quota(cg, 100'000, 100'000, 10, 3, 150'000);
    set_demand(cg, {{30, 7}, {149, 3}});  // p95 = p99 = 1.50
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "cpu-throttling", kAppId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(f->severity, Severity::kWarning);  // 15% of the time
  EXPECT_TRUE(contains(f->cause, "bursts")) << f->cause;
  ASSERT_EQ(f->recommendations.size(), 2u);
  // 1.50 x 1.1 = 1.65.
  EXPECT_EQ(f->recommendations[0].knob, "cpu.max");
  EXPECT_EQ(f->recommendations[0].suggested, "165000 100000");
  // What p99 exceeds the quota by: 1.50 - 1.00 = 0.50 CPU of a 100 ms period = 50000 us.
  const Recommendation& burst = f->recommendations[1];
  EXPECT_EQ(burst.knob, "cpu.max.burst");
  EXPECT_EQ(burst.current, "0");
  EXPECT_EQ(burst.suggested, "50000");
  ASSERT_FALSE(burst.commands.empty());
  EXPECT_TRUE(burst.commands[0].preferred);
  EXPECT_EQ(burst.commands[0].text, "echo \"50000\" > /sys/fs/cgroup/app.slice/thumbnailer/cpu.max.burst");
}

// Kubernetes has no field for the burst: the note names the feature request, not an unrelated KEP.
TEST(AnalyzerCpuThrottling, BurstNoteForKubernetesCitesTheCfsBurstRequest) {
  const KnobChange c = detail::cpu_burst_change(50'000);
  EXPECT_TRUE(c.k8s.empty());
  EXPECT_TRUE(contains(c.k8s_note, "kubernetes/kubernetes#104516")) << c.k8s_note;
  EXPECT_FALSE(contains(c.k8s_note, "KEP-2570")) << c.k8s_note;
}

// The threshold is 5% of the wall time lost to throttling: 49 ms vs 51 ms per second.
TEST(AnalyzerCpuThrottling, ThresholdIsFivePercentOfTheTime) {
  auto throttled_usec_per_second = [](std::uint64_t usec) {
    return window_of(20, [usec](std::uint64_t, Snapshot& s) {
      CgroupInterval cg = cgroup(kAppId, "/app.slice/api");
      set_cpu(cg, 90);
      set_quota(cg, 100'000, 100'000, 10, 4, usec);  // 40% of periods
      set_demand(cg, {{90, 6}, {104, 4}});
      s.cgroups = {cg};
    });
  };
  const Analysis below = analyze_all(throttled_usec_per_second(49'000));
  EXPECT_TRUE(findings_of(below, "cpu-throttling").empty()) << fired(below);
  const Analysis above = analyze_all(throttled_usec_per_second(51'000));
  const Finding* f = finding_of(above, "cpu-throttling", kAppId);
  ASSERT_NE(f, nullptr) << fired(above);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_NEAR(f->lost_fraction, 0.051, 1e-6);
}

// ============================================================================================
// cpu-noisy-neighbour
// ============================================================================================

TEST(AnalyzerNoisyNeighbour, NamesTheNeighbourWithMostOfTheWaitAndItsShare) {
  const Analysis a = analyze_all(window_of(20, web_behind_batch));
  ASSERT_EQ(findings_of(a, "cpu-noisy-neighbour").size(), 1u) << fired(a);
  const Finding* f = finding_of(a, "cpu-noisy-neighbour", kWebId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(f->key, "cpu-noisy-neighbour//system.slice/web.service//system.slice/batch-import.service");
  EXPECT_EQ(f->explains, Cause::kRunDelayOthers);
  // 240 ms behind others per second, 20 s: 4.8 s, 24% of the time (warning: below 25%).
  EXPECT_NEAR(f->lost_seconds, 4.8, 1e-4);
  EXPECT_NEAR(f->lost_fraction, 0.24, 1e-5);
  EXPECT_EQ(f->severity, Severity::kWarning);
  EXPECT_EQ(f->related, (std::vector<std::uint64_t>{kBatchId, kCronId}));
  EXPECT_NEAR(evidence(*f, "neighbour_share"), 0.75, 1e-6);       // 180 of 240 ms
  EXPECT_NEAR(evidence(*f, "run_delay_own_seconds"), 1.2, 1e-4);  // (40 + 20) ms x 20
  EXPECT_TRUE(contains(f->title, "mostly batch-import.service")) << f->title;
  EXPECT_TRUE(contains(f->summary, "batch-import.service (75% of it), cron.service (25% of it)"))
      << f->summary;

  // Twice the neighbour's weight for web.
  const Recommendation* weight = recommendation(*f, "cpu.weight");
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->current, "100");
  EXPECT_EQ(weight->suggested, "200");
  EXPECT_EQ(weight->commands.at(0).text, "systemctl set-property web.service CPUWeight=200");
  // Its use plus its waits: 0.80 + 0.24 = 1.04 CPU -> 2 CPUs of 4 for web, the rest for batch.
  const Recommendation* cpuset = recommendation(*f, "cpuset.cpus");
  ASSERT_NE(cpuset, nullptr);
  EXPECT_EQ(cpuset->suggested, "0-1");
  const Command* theirs = nullptr;
  for (const auto& c : cpuset->commands)
    if (c.text == "systemctl set-property batch-import.service AllowedCPUs=2-3") theirs = &c;
  ASSERT_NE(theirs, nullptr);
  EXPECT_FALSE(theirs->preferred);
  // batch has no quota: one from its use p95 (3.50 x 1.1 = 3.85 CPU).
  const Recommendation* cap = recommendation(*f, "cpu.max");
  ASSERT_NE(cap, nullptr);
  EXPECT_EQ(cap->target, "batch-import.service");
  EXPECT_EQ(cap->current, "max");
  EXPECT_EQ(cap->suggested, "385000 100000");
  EXPECT_EQ(cap->commands.at(0).text, "systemctl set-property batch-import.service CPUQuota=385%");
}

// The conversions the commands rest on. The kernel and systemd: weight 100 = 1024 shares,
// linearly. runc 1.3.2+ and crun: 10^((l^2 + 125 l) / 612 - 7/34), l = log2(shares), rounded up
// (2 -> 1, 1024 -> 100, 262144 -> 10000; 2000 -> 170, runc's own example); runc before 1.3.2:
// 1 + (shares - 2) x 9999 / 262142 (1024 -> 39, 2000 -> 77).
TEST(AnalyzerNoisyNeighbour, SharesAndWeightConvertAsEachManagerDoes) {
  using namespace cgscope::analyzers::detail;
  EXPECT_EQ(linear_weight_from_shares(1024), 100u);
  EXPECT_EQ(linear_weight_from_shares(2048), 200u);
  EXPECT_EQ(linear_weight_from_shares(2), 1u);  // 0 clamped to 1
  EXPECT_EQ(linear_shares_from_weight(200), 2048u);
  EXPECT_EQ(linear_shares_from_weight(10000), 102400u);
  EXPECT_EQ(oci_weight_from_shares(2), 1u);
  EXPECT_EQ(oci_weight_from_shares(1024), 100u);
  EXPECT_EQ(oci_weight_from_shares(2000), 170u);
  EXPECT_EQ(oci_weight_from_shares(262144), 10000u);
  EXPECT_EQ(old_oci_weight_from_shares(1024), 39u);
  EXPECT_EQ(old_oci_weight_from_shares(2000), 77u);
  // Back: 1012..1024 shares all give weight 100; the one nearest to 1024 is 1024 itself. No
  // shares give 200 on the linear scale's 2048 (that gives 174): the fewest that give 200, 2437.
  EXPECT_EQ(oci_shares_for_weight(100), 1024u);
  EXPECT_EQ(oci_shares_for_weight(200), 2437u);
  EXPECT_EQ(oci_weight_from_shares(2437), 200u);
  EXPECT_EQ(oci_weight_from_shares(2436), 199u);
  EXPECT_EQ(old_oci_shares_for_weight(200), 5220u);
  EXPECT_EQ(old_oci_weight_from_shares(5220), 200u);
  EXPECT_EQ(old_oci_weight_from_shares(5219), 199u);
}

// A docker container on cgroup v2 gets cpu.weight 200: docker takes shares, which runc/crun
// convert (2437 with runc 1.3.2+ and crun, 5220 with older runc); systemd takes the weight as is;
// the v1 file its linear equivalent (2048).
TEST(AnalyzerNoisyNeighbour, WeightCommandsUseEachManagersConversion) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    web_behind_batch(i, s);
    s.cgroups[0].identity.path = docker_path(kDockerA);
    s.cgroups[0].identity.container = model::parse_container_identity(docker_path(kDockerA));
    s.cgroups[0].cpu_knobs.weight = 100;
    s.cgroups[1].cpu_knobs.weight = 100;
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "cpu-noisy-neighbour", kWebId);
  ASSERT_NE(f, nullptr) << fired(a);
  const Recommendation* weight = recommendation(*f, "cpu.weight");
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->suggested, "200");
  EXPECT_TRUE(contains(weight->derivation, "systemd's CPUWeight= and the file take the weight as is"))
      << weight->derivation;
  EXPECT_TRUE(contains(weight->derivation, "2437 shares give cpu.weight 200 with runc 1.3.2+ and crun"))
      << weight->derivation;
  EXPECT_TRUE(contains(weight->derivation, "5220 with older runc")) << weight->derivation;
  const Command* docker = command_of(*weight, Manager::kDocker);
  ASSERT_NE(docker, nullptr);
  EXPECT_TRUE(docker->preferred);
  EXPECT_EQ(docker->text, "docker update --cpu-shares 2437 3f4a9c1e7b2d");
  EXPECT_TRUE(contains(docker->note, "with runc before 1.3.2 use --cpu-shares 5220")) << docker->note;
  const Command* systemd = command_of(*weight, Manager::kSystemd);
  ASSERT_NE(systemd, nullptr);
  EXPECT_EQ(systemd->text, "systemctl set-property docker-" + kDockerA + ".scope CPUWeight=200");
  const Command* v1 = command_of(*weight, Manager::kCgroupV1);
  ASSERT_NE(v1, nullptr);
  EXPECT_TRUE(v1->text.starts_with("echo 2048 > ")) << v1->text;
  // Kubernetes: 2437 shares are 2437 / 1024 CPU = 2380m (the kubelet: 2380 x 1024 / 1000 = 2437).
  const Command* k8s = command_of(*weight, Manager::kKubernetes);
  ASSERT_NE(k8s, nullptr);
  EXPECT_TRUE(contains(k8s->text, "cpu: \"2380m\"")) << k8s->text;
}

// On cgroup v1 the advice is in shares, and every manager writes them as they are; the v2 line is
// the kernel's and systemd's linear equivalent.
TEST(AnalyzerNoisyNeighbour, SharesCommandsWriteTheSharesAsTheyAre) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    web_behind_batch(i, s);
    for (auto& cg : s.cgroups) {
      cg.cpu_knobs.weight.reset();
      cg.cpu_knobs.shares = 1024;
    }
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "cpu-noisy-neighbour", kWebId);
  ASSERT_NE(f, nullptr) << fired(a);
  const Recommendation* shares = recommendation(*f, "cpu.shares");
  ASSERT_NE(shares, nullptr);
  EXPECT_EQ(shares->suggested, "2048");
  EXPECT_TRUE(contains(shares->derivation, "shares x 100 / 1024 = weight 200")) << shares->derivation;
  EXPECT_EQ(shares->commands.at(0).text, "systemctl set-property web.service CPUShares=2048");
  const Command* docker = command_of(*shares, Manager::kDocker);
  ASSERT_NE(docker, nullptr);
  EXPECT_EQ(docker->text, "docker update --cpu-shares 2048 CONTAINER");
  const Command* v2 = command_of(*shares, Manager::kCgroupV2);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->text, "echo \"200\" > /sys/fs/cgroup/system.slice/web.service/cpu.weight");
}

// Waits of a throttled run queue are the cgroup's own quota (cpu-throttling), not a neighbour.
TEST(AnalyzerNoisyNeighbour, ThrottledWaitsAreNotBlamedOnNeighbours) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval api = cgroup(kAppId, "/app.slice/api");
    set_cpu(api, 50);
    set_quota(api, 50'000, 100'000, 10, 8, 400'000);
    // 400 ms throttled waits, 30 ms behind batch (3%), 20 ms behind itself.
    set_run_delay(
        api,
        {{kAppId, 20 * kMs, 40}, {kBatchId, 30 * kMs, 50}, {model::kRunDelayHolderThrottled, 400 * kMs, 8}});
    set_demand(api, {{60, 5}, {90, 5}});
    CgroupInterval batch = cgroup(kBatchId, "/system.slice/batch-import.service");
    set_cpu(batch, 300);
    s.cgroups = {api, batch};
  });
  const Analysis a = analyze_all(w);
  EXPECT_TRUE(findings_of(a, "cpu-noisy-neighbour").empty()) << fired(a);
  EXPECT_NE(finding_of(a, "cpu-throttling", kAppId), nullptr) << fired(a);
  const CgroupBudget* b = budget_of(a, kAppId);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->neighbours.size(), 1u);
  EXPECT_EQ(b->neighbours[0].cgroup_id, kBatchId);
  EXPECT_NEAR((*b)[Cause::kRunDelayOthers], 0.6, 1e-4);  // 30 ms x 20
  EXPECT_NEAR((*b)[Cause::kRunDelayOwn], 0.4, 1e-4);     // 20 ms x 20
  EXPECT_NEAR((*b)[Cause::kThrottled], 8.0, 1e-4);       // cpu.stat: 400 ms x 20
}

// The root cgroup is the host, not a workload: no finding of its own, and as a neighbour it is
// named as host processes, with no knob to change on it.
TEST(AnalyzerNoisyNeighbour, RootCgroupGetsNoFindingOfItsOwn) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval root = cgroup(kRootId, "/");
    set_cpu(root, 150);
    set_run_delay(root, {{kRootId, 20 * kMs, 30}, {kBatchId, 300 * kMs, 400}});  // 30% behind batch
    CgroupInterval web = cgroup(kWebId, "/system.slice/web.service");
    set_cpu(web, 80);
    set_run_delay(web, {{kRootId, 200 * kMs, 250}, {kWebId, 20 * kMs, 40}});  // 20% behind root
    CgroupInterval batch = cgroup(kBatchId, "/system.slice/batch-import.service");
    set_cpu(batch, 200);
    set_quota(batch, 400'000, 100'000, 10, 0, 0);
    s.cgroups = {root, web, batch};
  });
  const Analysis a = analyze_all(w);
  for (const auto& f : a.findings) EXPECT_NE(f.cgroup_id, kRootId) << f.rule;
  const Finding* f = finding_of(a, "cpu-noisy-neighbour", kWebId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_TRUE(contains(f->title, "mostly host processes (root cgroup)")) << f->title;
  for (const auto& r : f->recommendations) {
    EXPECT_NE(r.target, "host processes (root cgroup)") << r.knob;
    for (const auto& c : r.commands) EXPECT_FALSE(contains(c.note, "host processes")) << c.text;
  }
  EXPECT_EQ(recommendation(*f, "cpu.max"), nullptr);
}

// The threshold is 5% of the wall time behind other cgroups: 49 ms vs 51 ms per second.
TEST(AnalyzerNoisyNeighbour, ThresholdIsFivePercentOfTheTime) {
  auto behind_batch_ms = [](std::uint64_t ms) {
    return window_of(20, [ms](std::uint64_t, Snapshot& s) {
      CgroupInterval web = cgroup(kWebId, "/system.slice/web.service");
      set_cpu(web, 60);
      set_run_delay(web, {{kWebId, 10 * kMs, 30}, {kBatchId, ms * kMs, 100}});
      CgroupInterval batch = cgroup(kBatchId, "/system.slice/batch-import.service");
      set_cpu(batch, 300);
      s.cgroups = {web, batch};
    });
  };
  const Analysis below = analyze_all(behind_batch_ms(49));
  EXPECT_TRUE(findings_of(below, "cpu-noisy-neighbour").empty()) << fired(below);
  const Analysis above = analyze_all(behind_batch_ms(51));
  const Finding* f = finding_of(above, "cpu-noisy-neighbour", kWebId);
  ASSERT_NE(f, nullptr) << fired(above);
  EXPECT_NEAR(f->lost_fraction, 0.051, 1e-5);
  EXPECT_EQ(f->severity, Severity::kWarning);
}

// ============================================================================================
// cpu-oversized
// ============================================================================================

TEST(AnalyzerOversized, QuotaFarAbovePeakDemandIsRightSized) {
  const Analysis a = analyze_all(window_of(40, oversized_service(30)));
  const Finding* f = finding_of(a, "cpu-oversized", kAppId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(f->severity, Severity::kInfo);
  EXPECT_EQ(f->explains, Cause::kNone);
  EXPECT_NEAR(evidence(*f, "demand_peak_cpus"), 0.31, 1e-9);
  // 0.31 x 1.3 = 0.403 -> 0.45 CPU.
  const Recommendation& r = f->recommendations.at(0);
  EXPECT_EQ(r.current, "400000 100000");
  EXPECT_EQ(r.suggested, "45000 100000");
  EXPECT_EQ(f->intervals, 40u);
}

TEST(AnalyzerOversized, SilentBelowThirtyIntervalsOrWhenPeakIsAboveHalfTheQuota) {
  {
    const Analysis a = analyze_all(window_of(29, oversized_service(30)));
    EXPECT_TRUE(findings_of(a, "cpu-oversized").empty()) << fired(a);
  }
  {
    const Analysis a = analyze_all(window_of(30, oversized_service(30)));
    EXPECT_EQ(findings_of(a, "cpu-oversized").size(), 1u) << fired(a);
  }
  {
    // p99 2.01 CPU: above half of the 4-CPU quota.
    const Analysis a = analyze_all(window_of(40, oversized_service(200)));
    EXPECT_TRUE(findings_of(a, "cpu-oversized").empty()) << fired(a);
  }
}

// ============================================================================================
// memory-pressure, memory-oom
// ============================================================================================

// No refaults: what it reclaims it does not reuse, and the working set that stays is measured.
TEST(AnalyzerMemory, PressureUnderMemoryHighSuggestsWorkingSetTimesOnePointTwo) {
  const Analysis a = analyze_all(squeezed_cache_window(0));
  ASSERT_EQ(a.findings.size(), 1u) << fired(a);
  const Finding& f = a.findings[0];
  EXPECT_EQ(f.rule, "memory-pressure");
  EXPECT_EQ(f.cgroup_id, kAppId);
  EXPECT_EQ(f.explains, Cause::kReclaim);
  // Severity from the worse stall measure: PSI some 150 ms per second > reclaim 120 ms, 15% of
  // the time, critical from 10%.
  EXPECT_EQ(f.severity, Severity::kCritical);
  // The lost time it explains is the budget's reclaim time, and its share is of that time:
  // 120 ms x 20 = 2.4 s, 2.4 / 20 s = 12% (not PSI's 15%).
  EXPECT_NEAR(f.lost_seconds, 2.4, 1e-5);
  EXPECT_NEAR(f.lost_fraction, 0.12, 1e-6);
  EXPECT_NEAR(f.lost_fraction, f.lost_seconds / budget_of(a, kAppId)->wall_seconds, 1e-9);
  EXPECT_EQ(f.title, "cache stalled 12% of its time reclaiming memory under its limit (PSI memory some 15%)");
  EXPECT_EQ(evidence(f, "working_set_peak_bytes"), 251.0 * kMiB);
  EXPECT_EQ(evidence(f, "memory_high_event_intervals"), 20);
  // 251 MiB x 1.2 = 301.2 MiB -> 302 MiB.
  const Recommendation* r = recommendation(f, "memory.high");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, std::to_string(256 * kMiB));
  EXPECT_EQ(r->suggested, std::to_string(302 * kMiB));
  EXPECT_EQ(
      r->derivation,
      "working set peak 251.0 MiB (memory.current minus inactive file pages) x 1.20, rounded up to a MiB");
  EXPECT_EQ(r->commands.at(0).text, "echo \"316669952\" > /sys/fs/cgroup/app.slice/cache/memory.high");
  EXPECT_EQ(recommendation(f, "memory.max"), nullptr);  // it has none
}

// Refaults at the limit: the working set is capped by the limit and cannot be measured under
// it, so the limit steps up by half: 256 MiB x 1.5 = 384 MiB.
TEST(AnalyzerMemory, RefaultsAtTheLimitStepMemoryHighUp) {
  const Analysis a = analyze_all(squeezed_cache_window(3000));
  const Finding* f = finding_of(a, "memory-pressure", kAppId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(evidence(*f, "refaults"), 3000 * 20);
  const Recommendation* r = recommendation(*f, "memory.high");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->suggested, std::to_string(384 * kMiB));
  EXPECT_TRUE(contains(r->derivation, "60000 refaults at the limit (256.0 MiB)")) << r->derivation;
}

TEST(AnalyzerMemory, NoStallsNoPressureIsSilent) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval cg = healthy(kAppId, "/app.slice/cache");
    cg.memory.knobs.high_bytes = 256 * kMiB;
    cg.memory.pressure_some_usec = 2'000;  // 0.2%
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  EXPECT_TRUE(a.findings.empty()) << fired(a);
}

// Direct reclaim with no limit of its own is the host running low: host-direct-reclaim names
// the cgroups, memory-pressure stays silent for them.
TEST(AnalyzerMemory, HostDirectReclaimIsTheHostsFindingNotTheCgroups) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    s.cgroups.clear();
    for (std::uint64_t id : {kWebId, kDbId}) {
      CgroupInterval cg =
          healthy(id, id == kWebId ? "/system.slice/web.service" : "/system.slice/postgresql.service");
      cg.memory.direct_reclaim_ns = id == kWebId ? 30 * kMs : 20 * kMs;  // 3% and 2%
      cg.memory.direct_reclaim_count = 60;
      cg.memory.reclaim_ns.add(500'000, 60);
      s.cgroups.push_back(cg);
    }
  });
  AnalysisOptions options;
  options.sysctls["vm.watermark_scale_factor"] = "10";
  const Analysis a = analyze_all(w, options);
  EXPECT_TRUE(findings_of(a, "memory-pressure").empty()) << fired(a);
  const auto host = findings_of(a, "host-direct-reclaim");
  ASSERT_EQ(host.size(), 1u) << fired(a);
  const Finding& f = *host[0];
  EXPECT_EQ(f.cgroup_id, 0u);
  EXPECT_EQ(f.key, "host-direct-reclaim/host");
  EXPECT_EQ(f.severity, Severity::kWarning);                          // two cgroups stalled
  EXPECT_EQ(f.related, (std::vector<std::uint64_t>{kWebId, kDbId}));  // most stalled first
  EXPECT_NEAR(f.lost_seconds, 1.0, 1e-5);                             // (30 + 20) ms x 20
  const Recommendation& r = f.recommendations.at(0);
  EXPECT_EQ(r.knob, "vm.watermark_scale_factor");
  EXPECT_EQ(r.current, "10");
  EXPECT_EQ(r.suggested, "30");
  EXPECT_EQ(r.commands.at(0).text, "sysctl -w vm.watermark_scale_factor=30");
  EXPECT_TRUE(r.commands.at(0).preferred);
}

TEST(AnalyzerMemory, OomKillIsCriticalWithMemoryMaxFromPeakTimesOnePointTwoFive) {
  const Analysis a = analyze_all(window_of(20, oom_worker(docker_path(kDockerA))));
  const Finding* f = finding_of(a, "memory-oom", kAppId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(f->severity, Severity::kCritical);
  EXPECT_EQ(evidence(*f, "oom_kills"), 1);
  EXPECT_EQ(evidence(*f, "memory_peak_bytes"), 512.0 * kMiB);
  // 512 MiB x 1.25 = 640 MiB.
  const Recommendation* r = recommendation(*f, "memory.max");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, "536870912");
  EXPECT_EQ(r->suggested, "671088640");
  // A docker container: docker update first.
  EXPECT_EQ(r->commands.at(0).manager, Manager::kDocker);
  EXPECT_TRUE(r->commands.at(0).preferred);
  // memory.swap.max "max" (no value on v2 with the limits read): swap stays unlimited.
  EXPECT_EQ(r->commands.at(0).text, "docker update --memory 640M --memory-swap -1 3f4a9c1e7b2d");
  EXPECT_TRUE(contains(r->commands.at(0).note, "its swap is unlimited now")) << r->commands.at(0).note;
  const Command* v2 = command_of(*r, Manager::kCgroupV2);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->text, "echo \"671088640\" > /sys/fs/cgroup" + docker_path(kDockerA) + "/memory.max");
  EXPECT_FALSE(v2->preferred);
  // The kill and the peak at the limit were in interval 7 only.
  EXPECT_EQ(f->first_index, 7u);
  EXPECT_EQ(f->last_index, 7u);
  EXPECT_EQ(f->intervals, 1u);
}

// docker update --memory fails above the --memory-swap in force, so --memory-swap is always
// passed: the new limit plus the swap it has (memory.swap.max 512 MiB: 640 + 512 = 1152 MiB); with
// no swap, the same value; when its swap limit was not read (v1), the same value, said so.
TEST(AnalyzerMemory, DockerMemoryUpdateKeepsTheSwapItHas) {
  auto docker_command = [](std::function<void(model::MemoryKnobs&)> knobs) {
    const Window w = window_of(20, [&](std::uint64_t i, Snapshot& s) {
      oom_worker(docker_path(kDockerA))(i, s);
      knobs(s.cgroups[0].memory.knobs);
    });
    const Analysis a = analyze_all(w);
    const Finding* f = finding_of(a, "memory-oom", kAppId);
    EXPECT_NE(f, nullptr) << fired(a);
    const Recommendation* r = f ? recommendation(*f, "memory.max") : nullptr;
    EXPECT_NE(r, nullptr);
    const Command* c = r ? command_of(*r, Manager::kDocker) : nullptr;
    return c ? *c : Command{};
  };
  const Command swap = docker_command([](model::MemoryKnobs& k) { k.swap_max_bytes = 512 * kMiB; });
  EXPECT_EQ(swap.text, "docker update --memory 640M --memory-swap 1152M 3f4a9c1e7b2d");
  EXPECT_TRUE(contains(swap.note, "the new limit plus the 512.0 MiB of swap it has now")) << swap.note;
  EXPECT_TRUE(contains(swap.note, "docker refuses a --memory above the --memory-swap in force")) << swap.note;
  const Command none = docker_command([](model::MemoryKnobs& k) { k.swap_max_bytes = 0; });
  EXPECT_EQ(none.text, "docker update --memory 640M --memory-swap 640M 3f4a9c1e7b2d");
  EXPECT_TRUE(contains(none.note, "it has no swap now")) << none.note;
  const Command v1 = docker_command([](model::MemoryKnobs& k) { k.v1 = true; });
  EXPECT_EQ(v1.text, "docker update --memory 640M --memory-swap 640M 3f4a9c1e7b2d");
  EXPECT_TRUE(contains(v1.note, "its swap limit was not read")) << v1.note;
}

TEST(AnalyzerMemory, NoKillAndFarFromTheLimitIsSilent) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval cg = healthy(kAppId, "/app.slice/worker");
    cg.memory.knobs.max_bytes = 512 * kMiB;
    cg.memory.knobs.peak_bytes = 350 * kMiB;
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  EXPECT_TRUE(a.findings.empty()) << fired(a);
}

// ============================================================================================
// io-contention
// ============================================================================================

TEST(AnalyzerIo, SlowReaderBehindADominantWriterOnOneDisk) {
  const Analysis a = analyze_all(window_of(20, backup_and_db(true)));
  ASSERT_EQ(findings_of(a, "io-contention").size(), 1u) << fired(a);
  const Finding* f = finding_of(a, "io-contention", kDbId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(f->key, "io-contention//system.slice/postgresql.service/8:0");
  EXPECT_EQ(f->related, (std::vector<std::uint64_t>{kBackupId}));
  EXPECT_EQ(f->severity, Severity::kWarning);  // 15% of the time in I/O wait
  EXPECT_NEAR(f->lost_seconds, 3.0, 1e-5);     // 150 ms x 20
  EXPECT_GE(evidence(*f, "io_latency_p99_seconds"), 0.020);
  EXPECT_NEAR(evidence(*f, "dominant_share"), 180.0 / 182.0, 1e-6);
  // It fired on both: p99 ~29 ms >= 20 ms, and 15% of its time in I/O wait >= 5%.
  EXPECT_TRUE(
      contains(f->title, "is slow (p99 29 ms, I/O wait 15% of its time) while backup.service moves 99%"))
      << f->title;
  const Recommendation* weight = recommendation(*f, "io.weight");
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->suggested, "500");
  EXPECT_EQ(weight->commands.at(0).text, "systemctl set-property postgresql.service IOWeight=500");
  // backup's median write rate, 180 MiB/s, as its io.max.
  const Recommendation* cap = recommendation(*f, "io.max");
  ASSERT_NE(cap, nullptr);
  EXPECT_EQ(cap->target, "backup.service");
  EXPECT_EQ(cap->suggested, "8:0 rbps=max wbps=188743680");
  EXPECT_EQ(cap->commands.at(0).text,
            "systemctl set-property backup.service IOWriteBandwidthMax=\"/dev/block/8:0 188743680\"");
  // backup wrote in every interval: no uncontended baseline, so the target comes from the
  // contended latency and says so. p90: rank 9000 of 10000, in the [524288, 1048576) ns bucket
  // of 9600 reads at 0.8 ms: 524288 + 524288 x 9000 / 9600 = 1015808 ns; x 1.15 = 1168.2 us ->
  // 1169 us.
  const Recommendation* latency = recommendation(*f, "io.latency");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->suggested, "8:0 target=1169");
  EXPECT_TRUE(
      latency->derivation.starts_with("no uncontended baseline: backup.service was quiet in 0 of the "
                                      "intervals with postgresql.service's requests"))
      << latency->derivation;
  EXPECT_TRUE(contains(latency->derivation, "A conservative target from the contended latency"))
      << latency->derivation;
  EXPECT_EQ(f->intervals, 20u);
}

// No latency histogram (no eBPF I/O collector): it fires on I/O wait alone, and the title says
// so instead of "p99 0 ms"; no io.latency target without latencies.
TEST(AnalyzerIo, TitleNamesIoWaitWhenThatIsAllItFiredOn) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    backup_and_db(true)(i, s);
    s.cgroups[1].io.read_latency_ns = {};
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "io-contention", kDbId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(
      f->title,
      "postgresql.service's block I/O on 8:0 is slow (I/O wait 15% of its time) while backup.service moves "
      "99% of the disk's bytes");
  EXPECT_TRUE(contains(f->summary, "request latency not measured")) << f->summary;
  for (const auto& e : f->evidence) EXPECT_NE(e.name, "io_latency_p99_seconds");
  EXPECT_EQ(recommendation(*f, "io.latency"), nullptr);
  EXPECT_NE(recommendation(*f, "io.weight"), nullptr);
}

// backup writes in intervals 0..13 and is idle in 14..19, when db's 500 reads per second take
// 0.3 ms: the io.latency target comes from those. p90 of 3000 reads in the [262144, 524288) ns
// bucket: 262144 + 262144 x 0.9 = 498073 ns; x 1.15 = 572.8 us -> 573 us.
TEST(AnalyzerIo, LatencyTargetComesFromIntervalsWhenTheWriterWasQuiet) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    backup_and_db(i < 14)(i, s);
    if (i >= 14) {
      s.cgroups[0].io.write_bytes = 0;
      s.cgroups[0].io.write_ios = 0;
      s.cgroups[0].io.write_latency_ns = {};
      s.cgroups[0].io.block.clear();
      s.cgroups[1].io.iowait_ns = 10 * kMs;
    }
  });
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "io-contention", kDbId);
  ASSERT_NE(f, nullptr) << fired(a);
  const Recommendation* latency = recommendation(*f, "io.latency");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->suggested, "8:0 target=573");
  EXPECT_EQ(latency->derivation,
            "p90 of its request latency while backup.service was quiet (0.50 ms over 3000 requests in 6 "
            "intervals) x 1.15: its normal latency plus a margin");
}

TEST(AnalyzerIo, FastReaderNextToADominantWriterIsSilent) {
  const Analysis a = analyze_all(window_of(20, backup_and_db(false)));
  EXPECT_TRUE(findings_of(a, "io-contention").empty()) << fired(a);
}

// ============================================================================================
// host-dirty-throttle
// ============================================================================================

TEST(AnalyzerHost, DirtyThrottledWriterGetsDirtyBytesFromThePeakWriteRate) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval backup = cgroup(kBackupId, "/system.slice/backup.service");
    set_cpu(backup, 30);
    backup.io.has_bpf = true;
    backup.io.write_bytes = (i == 12 ? 150 : 100) * kMiB;  // peak 150 MiB/s
    backup.io.write_ios = 400;
    backup.io.dirty_throttle_ns = 80 * kMs;  // 8% of its time
    backup.io.dirty_throttle_count = 40;
    s.cgroups = {backup, healthy(kIdleId, "/system.slice/cron.service")};
  });
  AnalysisOptions options;
  options.sysctls["vm.dirty_bytes"] = "0";
  const Analysis a = analyze_all(w, options);
  const auto found = findings_of(a, "host-dirty-throttle");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.explains, Cause::kDirtyThrottle);
  EXPECT_EQ(f.related, (std::vector<std::uint64_t>{kBackupId}));
  EXPECT_NEAR(f.lost_seconds, 1.6, 1e-5);    // 80 ms x 20
  EXPECT_NEAR(f.lost_fraction, 0.08, 1e-6);  // host-wide: 1.6 s of the range's 20 s
  EXPECT_EQ(f.severity, Severity::kWarning);
  EXPECT_EQ(evidence(f, "peak_write_bytes_per_second"), 150.0 * kMiB);
  // Background writeback at 1 s of the peak rate, the limit at 4 s.
  const Recommendation* background = recommendation(f, "vm.dirty_background_bytes");
  ASSERT_NE(background, nullptr);
  EXPECT_EQ(background->current, "unknown (not read)");
  EXPECT_TRUE(contains(background->derivation, "compare first")) << background->derivation;
  EXPECT_EQ(background->suggested, std::to_string(150 * kMiB));
  const Recommendation* limit = recommendation(f, "vm.dirty_bytes");
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->current, "0");
  EXPECT_EQ(limit->suggested, std::to_string(600 * kMiB));
  // vm.dirty_ratio was not read: the limit in effect is unknown, and the derivation says so.
  EXPECT_TRUE(contains(limit->derivation, "in effect now: vm.dirty_ratio not read: compare first"))
      << limit->derivation;
  ASSERT_EQ(limit->commands.size(), 2u);
  EXPECT_EQ(limit->commands[0].text, "sysctl -w vm.dirty_bytes=629145600");
  EXPECT_EQ(limit->commands[1].text,
            "echo 'vm.dirty_bytes = 629145600' > /etc/sysctl.d/90-cgscope.conf && sysctl --system");
}

// The backup writer of the dirty test (peak 150 MiB/s: background 150 MiB, limit 600 MiB) with
// the ratios in effect (vm.dirty_ratio 20, vm.dirty_background_ratio 10) and `available` bytes of
// memory they are shares of (0: not given).
Analysis dirty_analysis(std::uint64_t available, std::map<std::string, std::string> sysctls,
                        std::uint64_t root_page_cache = 0) {
  const Window w = window_of(20, [&](std::uint64_t i, Snapshot& s) {
    CgroupInterval backup = cgroup(kBackupId, "/system.slice/backup.service");
    set_cpu(backup, 30);
    backup.io.has_bpf = true;
    backup.io.write_bytes = (i == 12 ? 150 : 100) * kMiB;
    backup.io.dirty_throttle_ns = 80 * kMs;
    CgroupInterval root = healthy(kRootId, "/");
    if (root_page_cache) {
      root.memory.stat.active_file_bytes = root_page_cache / 2;
      root.memory.stat.inactive_file_bytes = root_page_cache / 2;
    }
    s.cgroups = {root, backup};
  });
  AnalysisOptions options;
  options.sysctls = std::move(sysctls);
  options.dirtyable_memory_bytes = available;
  return analyze_all(w, options);
}
const std::map<std::string, std::string> kDirtyRatios = {{"vm.dirty_bytes", "0"},
                                                         {"vm.dirty_background_bytes", "0"},
                                                         {"vm.dirty_ratio", "20"},
                                                         {"vm.dirty_background_ratio", "10"}};

// 16 GiB available: the limit in effect is 20% = 3.2 GiB, more than the 600 MiB 4 s of writes
// would give: no vm.dirty_bytes (it would pause writers sooner), and the cause says why. The
// background threshold, 10% = 1.6 GiB, is above 1 s of writes (150 MiB): lowering it is advice.
TEST(AnalyzerHost, DirtyLimitIsNotSuggestedBelowTheOneInEffect) {
  const Analysis a = dirty_analysis(16 * 1024 * kMiB, kDirtyRatios);
  const auto found = findings_of(a, "host-dirty-throttle");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(recommendation(f, "vm.dirty_bytes"), nullptr);
  EXPECT_TRUE(contains(f.cause,
                       "paused the writers. The host's limit already holds 4 s of the peak write rate "
                       "(600.0 MiB; in effect: "
                       "vm.dirty_ratio 20% of 16.0 GiB available memory = 3.2 GiB)"))
      << f.cause;
  const Recommendation* background = recommendation(f, "vm.dirty_background_bytes");
  ASSERT_NE(background, nullptr);
  EXPECT_EQ(background->current, "0");
  EXPECT_EQ(background->suggested, std::to_string(150 * kMiB));
  EXPECT_TRUE(contains(background->derivation,
                       "in effect now: vm.dirty_background_ratio 10% of 16.0 GiB available memory = 1.6 GiB"))
      << background->derivation;
  EXPECT_FALSE(contains(background->derivation, "compare first")) << background->derivation;
}

// 2 GiB available: the limit in effect is 409.6 MiB, below 600 MiB: raising it is the advice, and
// the derivation shows what it is compared with.
TEST(AnalyzerHost, DirtyLimitIsSuggestedAboveTheOneInEffect) {
  const Analysis a = dirty_analysis(2 * 1024 * kMiB, kDirtyRatios);
  const auto found = findings_of(a, "host-dirty-throttle");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Recommendation* limit = recommendation(*found[0], "vm.dirty_bytes");
  ASSERT_NE(limit, nullptr);
  EXPECT_EQ(limit->suggested, std::to_string(600 * kMiB));
  EXPECT_TRUE(contains(limit->derivation,
                       "in effect now: vm.dirty_ratio 20% of 2.0 GiB available memory = 409.6 MiB"))
      << limit->derivation;
  // 10% = 204.8 MiB, above 150 MiB: the background threshold comes down too.
  EXPECT_NE(recommendation(*found[0], "vm.dirty_background_bytes"), nullptr);
}

// vm.dirty_background_bytes already 100 MiB, below 1 s of the peak (150 MiB): suggesting 150 MiB
// would start writeback later, not earlier.
TEST(AnalyzerHost, DirtyBackgroundIsNotSuggestedAboveTheOneInEffect) {
  auto sysctls = kDirtyRatios;
  sysctls["vm.dirty_background_bytes"] = std::to_string(100 * kMiB);
  sysctls["vm.dirty_background_ratio"] = "0";
  const Analysis a = dirty_analysis(2 * 1024 * kMiB, sysctls);
  const auto found = findings_of(a, "host-dirty-throttle");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(recommendation(*found[0], "vm.dirty_background_bytes"), nullptr);
  EXPECT_NE(recommendation(*found[0], "vm.dirty_bytes"), nullptr);
}

// Memory size not given: the root cgroup's page cache (4 GiB) is a lower bound of the available
// memory, so the limit in effect is at least 20% of it, 819.2 MiB, above 600 MiB.
TEST(AnalyzerHost, DirtyLimitUsesTheHostPageCacheAsALowerBound) {
  const Analysis a = dirty_analysis(0, kDirtyRatios, 4 * 1024 * kMiB);
  const auto found = findings_of(a, "host-dirty-throttle");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(recommendation(*found[0], "vm.dirty_bytes"), nullptr);
  EXPECT_TRUE(contains(found[0]->cause, "at least 819.2 MiB: 20% of the 4.0 GiB page cache"))
      << found[0]->cause;
  // Background: at least 409.6 MiB, above 150 MiB: certainly lower.
  const Recommendation* background = recommendation(*found[0], "vm.dirty_background_bytes");
  ASSERT_NE(background, nullptr);
  EXPECT_FALSE(contains(background->derivation, "compare first")) << background->derivation;
}

// ============================================================================================
// NFS
// ============================================================================================

TEST(AnalyzerNfs, StaleNegativeLookupBetweenPodsGetsLookupcachePositiveAndSessionAffinity) {
  const Analysis a =
      analyze_all(window_of(20, stale_lookups(pod_path(kPodUidA, kDockerA), pod_path(kPodUidB, kDockerB))));
  const auto found = findings_of(a, "nfs-stale-negative-lookup");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.cgroup_id, kPodAId);
  EXPECT_EQ(f.related, (std::vector<std::uint64_t>{kPodBId}));
  EXPECT_EQ(f.severity, Severity::kCritical);  // 4 stale lookups: 3 or more
  EXPECT_EQ(f.confidence, Confidence::kHigh);
  EXPECT_EQ(evidence(f, "stale_lookups"), 4);
  EXPECT_EQ(evidence(f, "names"), 3);
  EXPECT_EQ(evidence(f, "directories"), 2);
  EXPECT_EQ(evidence(f, "negative_dentries_trusted"), 6 * 20);
  EXPECT_TRUE(contains(f.title, "pod:8d6c1e57/3f4a9c1e7b2d was told 4 time(s)")) << f.title;
  EXPECT_TRUE(contains(f.title, "nfs.example:/srv/registry")) << f.title;
  // De-duplicated over the two intervals it happened in.
  EXPECT_EQ(f.first_index, 4u);
  EXPECT_EQ(f.last_index, 9u);
  EXPECT_EQ(f.intervals, 2u);
  EXPECT_EQ(f.first_realtime_ns, interval_at(4).start_realtime_ns);
  EXPECT_EQ(f.last_realtime_ns, interval_at(9).end_realtime_ns);

  const Recommendation* r = recommendation(f, "lookupcache");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->target, kMountA);
  EXPECT_EQ(r->current, "all");
  EXPECT_EQ(r->suggested, "positive");
  // A pod: the PersistentVolume's mountOptions are how its mount is made.
  ASSERT_EQ(r->commands.size(), 3u);
  EXPECT_EQ(r->commands[0].manager, Manager::kKubernetes);
  EXPECT_TRUE(r->commands[0].preferred);
  EXPECT_EQ(r->commands[0].text,
            "# the PersistentVolume of nfs.example:/srv/registry:\nspec:\n  mountOptions:\n    - "
            "lookupcache=positive");
  const Command* now = command_of(*r, Manager::kHost);
  ASSERT_NE(now, nullptr);
  EXPECT_FALSE(now->preferred);
  EXPECT_EQ(now->text, "umount " + kMountA + " && mount -t nfs4 -o " + kRegistryOptions +
                           ",lookupcache=positive nfs.example:/srv/registry " + kMountA);
  // Both are containers: requests of one client to one replica.
  const Recommendation* routing = recommendation(f, "routing");
  ASSERT_NE(routing, nullptr);
  ASSERT_FALSE(routing->commands.empty());
  EXPECT_EQ(routing->commands[0].manager, Manager::kKubernetes);
  EXPECT_TRUE(routing->commands[0].preferred);
  EXPECT_TRUE(contains(routing->commands[0].text, "sessionAffinity: ClientIP")) << routing->commands[0].text;
}

// Between two docker containers on one host: the remount is how the mount is changed, and a
// proxy's ip_hash how requests stick to one replica.
TEST(AnalyzerNfs, StaleNegativeLookupBetweenDockerContainersPrefersTheRemount) {
  const Analysis a = analyze_all(window_of(20, stale_lookups(docker_path(kDockerA), docker_path(kDockerB))));
  const auto found = findings_of(a, "nfs-stale-negative-lookup");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  const Recommendation* r = recommendation(f, "lookupcache");
  ASSERT_NE(r, nullptr);
  ASSERT_FALSE(r->commands.empty());
  EXPECT_EQ(r->commands[0].manager, Manager::kHost);
  EXPECT_TRUE(r->commands[0].preferred);
  EXPECT_EQ(r->commands[0].text, "umount " + kMountA + " && mount -t nfs4 -o " + kRegistryOptions +
                                     ",lookupcache=positive nfs.example:/srv/registry " + kMountA);
  const Command* k8s = command_of(*r, Manager::kKubernetes);
  ASSERT_NE(k8s, nullptr);
  EXPECT_FALSE(k8s->preferred);
  const Recommendation* routing = recommendation(f, "routing");
  ASSERT_NE(routing, nullptr);
  ASSERT_FALSE(routing->commands.empty());
  EXPECT_EQ(routing->commands[0].manager, Manager::kHost);
  EXPECT_TRUE(routing->commands[0].preferred);
  EXPECT_TRUE(contains(routing->commands[0].text, "ip_hash")) << routing->commands[0].text;
}

TEST(AnalyzerNfs, NoStaleNamesNoFinding) {
  const Analysis a = analyze_all(window_of(20, [](std::uint64_t i, Snapshot& s) {
    stale_lookups(docker_path(kDockerA), docker_path(kDockerB))(i, s);
    s.nfs.stale_names.clear();
  }));
  EXPECT_TRUE(a.findings.empty()) << fired(a);
}

// The routing advice is for replicas: not when the creator is a service of the host.
TEST(AnalyzerNfs, RoutingAdviceOnlyWhenBothAreContainers) {
  const Analysis a =
      analyze_all(window_of(20, stale_lookups(docker_path(kDockerA), "/system.slice/registry-gc.service")));
  const auto found = findings_of(a, "nfs-stale-negative-lookup");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_NE(recommendation(*found[0], "lookupcache"), nullptr);
  EXPECT_EQ(recommendation(*found[0], "routing"), nullptr);
  EXPECT_TRUE(contains(found[0]->title, "which registry-gc.service had created")) << found[0]->title;
}

// A log shipper (B) reads files a writer (A) appends to through another NFS client: 4 MiB
// written and 40 reads + 12 revalidations per second, in intervals 2..5.
TEST(AnalyzerNfs, SharedWriterAcrossNfsClientsGetsActimeo) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval a = cgroup(kPodAId, docker_path(kDockerA)), b = cgroup(kPodBId, docker_path(kDockerB));
    set_cpu(a, 10);
    set_cpu(b, 5);
    s.cgroups = {a, b};
    s.nfs.active = true;
    s.nfs.mounts = {registry_mount(kNfsDevA, kNfsSbA, kMountA), registry_mount(kNfsDevB, kNfsSbB, kMountB)};
    if (i >= 2 && i <= 5) {
      model::NfsFileInterval file;
      file.export_id = 1;
      file.fileid = 2883591;
      file.cgroups = {
          {.cgroup_id = kPodAId,
           .dev = kNfsDevA,
           .sb_instance = kNfsSbA,
           .written_bytes = 4 * kMiB,
           .dirtied_pages = 1024},
          {.cgroup_id = kPodBId, .dev = kNfsDevB, .sb_instance = kNfsSbB, .reads = 40, .revalidations = 12}};
      s.nfs.files = {file};
    }
  });
  const Analysis a = analyze_all(w);
  const auto found = findings_of(a, "nfs-shared-writer");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.cgroup_id, kPodBId);
  EXPECT_EQ(f.related, (std::vector<std::uint64_t>{kPodAId}));
  EXPECT_EQ(f.severity, Severity::kWarning);
  EXPECT_EQ(evidence(f, "files"), 1);
  EXPECT_EQ(evidence(f, "written_bytes"), 16.0 * kMiB);  // 4 MiB x 4 intervals
  EXPECT_EQ(evidence(f, "reads"), 4 * 52);
  EXPECT_EQ(f.first_index, 2u);
  EXPECT_EQ(f.last_index, 5u);
  EXPECT_EQ(f.intervals, 4u);
  const Recommendation* r = recommendation(f, "actimeo");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->target, kMountB);
  EXPECT_EQ(r->current, "acregmin=3,acregmax=60");
  EXPECT_EQ(r->suggested, "actimeo=1");
  EXPECT_EQ(r->commands.at(0).text, "umount " + kMountB + " && mount -t nfs4 -o " + kRegistryOptions +
                                        ",actimeo=1 nfs.example:/srv/registry " + kMountB);
}

// ESTALE on GETATTR in interval 3 and on OPEN (twice) in interval 6: one finding, 3 errors, the
// two intervals they happened in.
TEST(AnalyzerNfs, StaleFileHandlesAreCountedOverEveryOperation) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval a = cgroup(kPodAId, docker_path(kDockerA));
    set_cpu(a, 10);
    s.cgroups = {a};
    s.nfs.active = true;
    s.nfs.mounts = {registry_mount(kNfsDevA, kNfsSbA, kMountA)};
    model::NfsCgroupMountInterval row;
    row.cgroup_id = kPodAId;
    row.dev = kNfsDevA;
    row.sb_instance = kNfsSbA;
    row.ops[static_cast<std::size_t>(NfsOp::kGetattr)].count = 30;
    row.ops[static_cast<std::size_t>(NfsOp::kOpen)].count = 10;
    if (i == 3) row.ops[static_cast<std::size_t>(NfsOp::kGetattr)].errors[1] = 1;  // ESTALE
    if (i == 6) row.ops[static_cast<std::size_t>(NfsOp::kOpen)].errors[1] = 2;
    s.nfs.cgroups = {row};
  });
  const Analysis a = analyze_all(w);
  const auto found = findings_of(a, "nfs-errors");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.cgroup_id, kPodAId);
  EXPECT_EQ(f.severity, Severity::kWarning);
  EXPECT_EQ(evidence(f, "estale"), 3);
  EXPECT_EQ(f.key, "nfs-errors/" + docker_path(kDockerA) + "/" + kMountA);
  EXPECT_EQ(f.first_index, 3u);
  EXPECT_EQ(f.last_index, 6u);
  EXPECT_EQ(f.intervals, 2u);
}

TEST(AnalyzerNfs, SillyRenamesAloneAreInfo) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval a = cgroup(kPodAId, docker_path(kDockerA));
    set_cpu(a, 10);
    s.cgroups = {a};
    s.nfs.active = true;
    s.nfs.mounts = {registry_mount(kNfsDevA, kNfsSbA, kMountA)};
    model::NfsCgroupMountInterval row;
    row.cgroup_id = kPodAId;
    row.dev = kNfsDevA;
    row.sb_instance = kNfsSbA;
    row.ops[static_cast<std::size_t>(NfsOp::kRemove)].count = 1;
    row.silly_renames = i == 11 ? 1 : 0;
    s.nfs.cgroups = {row};
  });
  const Analysis a = analyze_all(w);
  const auto found = findings_of(a, "nfs-errors");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(found[0]->severity, Severity::kInfo);
  EXPECT_EQ(found[0]->first_index, 11u);
  EXPECT_EQ(found[0]->intervals, 1u);
}

TEST(AnalyzerNfs, SlowRpcsOverOneConnectionGetNconnect) {
  // (150 x 30 + 50 x 50) ms / 200 RPCs = 35 ms on average.
  const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 30, 0)));
  const auto found = findings_of(a, "nfs-slow-rpc");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.key, "nfs-slow-rpc/" + kMountA);
  EXPECT_EQ(f.severity, Severity::kInfo);
  EXPECT_EQ(f.confidence, Confidence::kHigh);  // 4000 RPCs
  EXPECT_NEAR(evidence(f, "rtt_ms"), 35, 1e-9);
  EXPECT_EQ(f.title, "NFS mount " + kMountA + ": RPCs take 35 ms on average");
  const Recommendation* r = recommendation(f, "nconnect");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->suggested, "nconnect=4");
  EXPECT_EQ(r->commands.at(0).text, "umount " + kMountA + " && mount -t nfs4 -o " + kRegistryOptions +
                                        ",nconnect=4 nfs.example:/srv/registry " + kMountA);
}

// Retransmissions on a mount with a 10 s timeo: back to the TCP default of 60 s, retrans kept.
TEST(AnalyzerNfs, RetransmittedRpcsWithAShortTimeoGetTheTcpDefault) {
  // 2 retransmissions per second: 40 over the window; RPCs fast otherwise.
  const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 1, 2, 1, "100")));
  const auto found = findings_of(a, "nfs-slow-rpc");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(found[0]->severity, Severity::kWarning);
  EXPECT_EQ(evidence(*found[0], "retransmissions"), 40);
  const Recommendation* r = recommendation(*found[0], "timeo");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, "timeo=100");
  EXPECT_EQ(r->suggested, "timeo=600");
  EXPECT_EQ(
      r->commands.at(0).text,
      "umount " + kMountA +
          " && mount -t nfs4 -o hard,local_lock=none,proto=tcp,relatime,retrans=2,rsize=1048576,rw,sec=sys,"
          "vers=4.2,wsize=1048576,timeo=600 nfs.example:/srv/registry " +
          kMountA);
  EXPECT_FALSE(contains(r->derivation, "nconnect")) << r->derivation;
}

// With nconnect=4 the timeo advice says why more connections give a request no more time.
TEST(AnalyzerNfs, TimeoAdviceOnANconnectMountSpeaksOfTheSharedServerQueue) {
  const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 1, 2, 4, "100")));
  const auto found = findings_of(a, "nfs-slow-rpc");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(recommendation(*found[0], "nconnect"), nullptr);
  const Recommendation* r = recommendation(*found[0], "timeo");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->suggested, "timeo=600");
  EXPECT_TRUE(contains(r->derivation,
                       "with nconnect=4 the requests of all 4 connections wait in the one server's "
                       "queue"))
      << r->derivation;
  // The remount keeps nconnect=4.
  EXPECT_TRUE(contains(r->commands.at(0).text, "nconnect=4,")) << r->commands.at(0).text;
}

// Retransmissions with timeo already at the TCP default: no mount option to change, the server
// and the network to check.
TEST(AnalyzerNfs, RetransmittedRpcsWithTheDefaultTimeoPointAtTheServer) {
  const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 1, 2)));
  const auto found = findings_of(a, "nfs-slow-rpc");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(recommendation(*found[0], "timeo"), nullptr);
  EXPECT_EQ(recommendation(*found[0], "nconnect"), nullptr);
  const Recommendation* r = recommendation(*found[0], "server");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, "nconnect=1, timeo=600");
  EXPECT_TRUE(r->commands.empty());
  EXPECT_TRUE(
      contains(r->derivation, "replies took longer than timeo (60.0 s, already the TCP default or more)"))
      << r->derivation;
}

// Slow RPCs without retransmissions on a mount that already has nconnect=4: neither more
// connections nor a timeo change.
TEST(AnalyzerNfs, SlowRpcsOnANconnectMountGetNoMountOption) {
  const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 30, 0, 4)));
  const auto found = findings_of(a, "nfs-slow-rpc");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  const Finding& f = *found[0];
  EXPECT_EQ(f.severity, Severity::kInfo);
  EXPECT_EQ(recommendation(f, "nconnect"), nullptr);
  EXPECT_EQ(recommendation(f, "timeo"), nullptr);
  EXPECT_EQ(f.cause,
            "The server or the network is the bottleneck: the mount already spreads its RPCs over 4 "
            "connections.");
  const Recommendation* r = recommendation(f, "server");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, "nconnect=4, timeo=600");
  EXPECT_TRUE(contains(r->derivation, "35.0 ms average round trip")) << r->derivation;
  EXPECT_TRUE(contains(r->derivation, "already over 4 connections")) << r->derivation;
}

TEST(AnalyzerNfs, QuickRpcsOrTooFewRpcsAreSilent) {
  {
    const Analysis a = analyze_all(window_of(20, rpc_traffic(150, 1, 0)));  // 13 ms on average
    EXPECT_TRUE(findings_of(a, "nfs-slow-rpc").empty()) << fired(a);
  }
  {
    // 99 RPCs in the window, slow ones: below the 100 an average means anything for.
    const Analysis a =
        analyze_all(window_of(1, [](std::uint64_t i, Snapshot& s) { rpc_traffic(49, 100, 0)(i, s); }));
    EXPECT_TRUE(findings_of(a, "nfs-slow-rpc").empty()) << fired(a);
  }
}

// A cgroup that spends 100 ms per second in GETATTR (70 ms) and revalidation (30 ms) on mount
// `m`, for 20 intervals; with `reads`, also 40 ms of reads (not a stall).
static Window revalidation_window(const model::NfsMount& m, bool reads = false) {
  return window_of(20, [&](std::uint64_t, Snapshot& s) {
    CgroupInterval a = cgroup(kPodAId, docker_path(kDockerA));
    set_cpu(a, 30);
    s.cgroups = {a};
    s.nfs.active = true;
    s.nfs.mounts = {m};
    model::NfsCgroupMountInterval row;
    row.cgroup_id = kPodAId;
    row.dev = kNfsDevA;
    row.sb_instance = kNfsSbA;
    row.ops[static_cast<std::size_t>(NfsOp::kGetattr)] = {.count = 200, .time_ns = 70 * kMs};
    row.ops[static_cast<std::size_t>(NfsOp::kRevalidate)] = {.count = 100, .time_ns = 30 * kMs};
    if (reads) row.ops[static_cast<std::size_t>(NfsOp::kRead)] = {.count = 20, .time_ns = 40 * kMs};
    s.nfs.cgroups = {row};
  });
}

// A cgroup that spends 100 ms per second in GETATTR and revalidation on a mount with the
// default attribute cache: the revalidations come from opens.
TEST(AnalyzerNfs, RevalidationStormGetsNocto) {
  const Window w = revalidation_window(registry_mount(kNfsDevA, kNfsSbA, kMountA), /*reads=*/true);
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "nfs-revalidation-storm", kPodAId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_NEAR(f->lost_seconds, 2.0, 1e-9);  // 100 ms x 20
  EXPECT_EQ(f->severity, Severity::kWarning);
  const Recommendation* r = recommendation(*f, "cto");  // the option it changes
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->current, "cto");
  EXPECT_EQ(r->suggested, "nocto");
}

// nocto keeps the mount's own attribute-cache options (acregmin=10, acregmax=120); only cto goes.
TEST(AnalyzerNfs, NoctoRemountKeepsTheAttributeCacheOptions) {
  model::NfsMount m = registry_mount(kNfsDevA, kNfsSbA, kMountA);
  m.options["acregmin"] = "10";
  m.options["acregmax"] = "120";
  m.acregmin_s = 10;
  m.acregmax_s = 120;
  const Window w = revalidation_window(m);
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "nfs-revalidation-storm", kPodAId);
  ASSERT_NE(f, nullptr) << fired(a);
  const Recommendation* r = recommendation(*f, "cto");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->suggested, "nocto");
  EXPECT_EQ(r->commands.at(0).text, "umount " + kMountA + " && mount -t nfs4 -o acregmax=120,acregmin=10," +
                                        kRegistryOptions + ",nocto nfs.example:/srv/registry " + kMountA);
}

// A mount that already has both (a 10 s+ attribute cache and nocto): the storm is still a
// finding, with no mount option left to suggest.
TEST(AnalyzerNfs, RevalidationStormOnATunedMountSuggestsNoCacheOption) {
  model::NfsMount m = registry_mount(kNfsDevA, kNfsSbA, kMountA);
  m.acregmin_s = 10;
  m.acregmax_s = 120;
  m.close_to_open = false;
  const Window w = revalidation_window(m);
  const Analysis a = analyze_all(w);
  const Finding* f = finding_of(a, "nfs-revalidation-storm", kPodAId);
  ASSERT_NE(f, nullptr) << fired(a);
  EXPECT_EQ(recommendation(*f, "cto"), nullptr);
  EXPECT_EQ(recommendation(*f, "actimeo"), nullptr);
}

// Two servers whose exports share an fsid (the model's export id) and a fileid: a write through a
// mount of one and a read through a mount of the other are two files, not a shared writer.
TEST(AnalyzerNfs, SameFileidOnAnotherServerIsNotASharedWriter) {
  auto window = [](const std::string& reader_addr) {
    return window_of(20, [reader_addr](std::uint64_t i, Snapshot& s) {
      CgroupInterval a = cgroup(kPodAId, docker_path(kDockerA)), b = cgroup(kPodBId, docker_path(kDockerB));
      set_cpu(a, 10);
      set_cpu(b, 5);
      s.cgroups = {a, b};
      s.nfs.active = true;
      model::NfsMount other = registry_mount(kNfsDevB, kNfsSbB, kMountB);
      other.options["addr"] = reader_addr;
      s.nfs.mounts = {registry_mount(kNfsDevA, kNfsSbA, kMountA), other};
      if (i >= 2 && i <= 5) {
        model::NfsFileInterval file;
        file.export_id = 1;
        file.fileid = 2883591;
        file.cgroups = {
            {.cgroup_id = kPodAId, .dev = kNfsDevA, .sb_instance = kNfsSbA, .written_bytes = 4 * kMiB},
            {.cgroup_id = kPodBId,
             .dev = kNfsDevB,
             .sb_instance = kNfsSbB,
             .reads = 40,
             .revalidations = 12}};
        s.nfs.files = {file};
      }
    });
  };
  // The same server (10.0.0.5) through both mounts: a shared writer.
  EXPECT_EQ(findings_of(analyze_all(window("10.0.0.5")), "nfs-shared-writer").size(), 1u);
  // The reader's mount talks to 10.0.0.9: another file that happens to have the same ids.
  const Analysis a = analyze_all(window("10.0.0.9"));
  EXPECT_TRUE(findings_of(a, "nfs-shared-writer").empty()) << fired(a);
}

// ============================================================================================
// Too little data
// ============================================================================================

// A burner present in the last 9 (then 10) of 12 intervals: with 9 it is left out with a
// note; with 10 (and 10 s) it gets its finding.
TEST(AnalyzerMinData, NineIntervalsAreTooFewTenAreEnough) {
  auto present_in_last = [](std::uint64_t n) {
    return window_of(12, [n](std::uint64_t i, Snapshot& s) {
      s.cgroups = {healthy(kIdleId, "/system.slice/cron.service")};
      if (i >= 12 - n) s.cgroups.push_back(burner(kBurnerId, "/batch.slice/burner", i));
    });
  };
  const Analysis nine = analyze_all(present_in_last(9));
  EXPECT_TRUE(findings_of(nine, "cpu-throttling").empty()) << fired(nine);
  EXPECT_EQ(nine.too_little_data, 1u);
  ASSERT_EQ(nine.notes.size(), 1u);
  EXPECT_EQ(
      nine.notes[0],
      "1 cgroup(s) that lost time were present in fewer than 10 intervals or 10 s of the range: no advice "
      "for them (collect longer)");
  // Its lost time is still in the budget.
  const CgroupBudget* b = budget_of(nine, kBurnerId);
  ASSERT_NE(b, nullptr);
  EXPECT_NEAR(b->wall_seconds, 9, 1e-9);

  const Analysis ten = analyze_all(present_in_last(10));
  EXPECT_EQ(ten.too_little_data, 0u);
  EXPECT_TRUE(ten.notes.empty());
  const Finding* f = finding_of(ten, "cpu-throttling", kBurnerId);
  ASSERT_NE(f, nullptr) << fired(ten);
  EXPECT_EQ(f->first_index, 2u);
  EXPECT_EQ(f->last_index, 11u);
  EXPECT_EQ(f->intervals, 10u);
}

TEST(AnalyzerMinData, HostRulesNeedMinIntervalsInTheRange) {
  const Window w = window_of(12, [](std::uint64_t, Snapshot& s) {
    CgroupInterval backup = cgroup(kBackupId, "/system.slice/backup.service");
    set_cpu(backup, 30);
    backup.io.has_bpf = true;
    backup.io.write_bytes = 100 * kMiB;
    backup.io.dirty_throttle_ns = 80 * kMs;
    s.cgroups = {backup};
  });
  EXPECT_TRUE(findings_of(analyze(w, {3, 12}), "host-dirty-throttle").empty());   // 9 intervals
  EXPECT_EQ(findings_of(analyze(w, {2, 12}), "host-dirty-throttle").size(), 1u);  // 10
}

TEST(AnalyzerMinData, EmptyRangeSaysSo) {
  const Window w =
      window_of(5, [](std::uint64_t i, Snapshot& s) { s.cgroups = {burner(kBurnerId, "/b", i)}; });
  const Analysis a = analyze(w, {7, 9});
  EXPECT_TRUE(a.findings.empty());
  ASSERT_EQ(a.notes.size(), 1u);
  EXPECT_EQ(a.notes[0], "no interval in the range: nothing to analyze");
}

// ============================================================================================
// Commands for each manager
// ============================================================================================

TEST(AnalyzerCommands, PureV2WritesCpuMax) {
  const auto commands = cpu_max_commands("/batch.slice/burner", pure_v2());
  expect_one_preferred_first(commands);
  EXPECT_EQ(commands[0].manager, Manager::kCgroupV2);
  EXPECT_EQ(commands[0].text, "echo \"220000 100000\" > /sys/fs/cgroup/batch.slice/burner/cpu.max");
  EXPECT_EQ(commands[0].note, "");
}

TEST(AnalyzerCommands, HybridHostWritesTheV1CfsFiles) {
  CgroupLayout hybrid;
  hybrid.known = true;
  hybrid.v2_root = "/sys/fs/cgroup/unified";
  hybrid.v2_controllers = {"memory", "io"};
  hybrid.v1_mounts = {{"cpu", "/sys/fs/cgroup/cpu"}, {"memory", "/sys/fs/cgroup/memory"}};
  const auto commands = cpu_max_commands("/batch/burner", hybrid, "/batch/burner");
  expect_one_preferred_first(commands);
  EXPECT_EQ(commands[0].manager, Manager::kCgroupV1);
  EXPECT_EQ(commands[0].text,
            "echo 100000 > /sys/fs/cgroup/cpu/batch/burner/cpu.cfs_period_us\n"
            "echo 220000 > /sys/fs/cgroup/cpu/batch/burner/cpu.cfs_quota_us");
  // The v2 form is still shown, but not for this host's hierarchy.
  const auto v2 = std::find_if(commands.begin(), commands.end(),
                               [](const Command& c) { return c.manager == Manager::kCgroupV2; });
  ASSERT_NE(v2, commands.end());
  EXPECT_EQ(v2->text, "echo \"220000 100000\" > <cgroup2 mount>/batch/burner/cpu.max");
  EXPECT_EQ(v2->note, "the cpu controller is not in this host's cgroup v2 hierarchy");
}

TEST(AnalyzerCommands, SystemdServiceUsesSetProperty) {
  const auto commands = cpu_max_commands("/system.slice/foo.service", pure_v2());
  expect_one_preferred_first(commands);
  EXPECT_EQ(commands[0].manager, Manager::kSystemd);
  EXPECT_EQ(commands[0].text, "systemctl set-property foo.service CPUQuota=220%");
  // The file write is there too, with the warning that systemd writes it back.
  const auto v2 = std::find_if(commands.begin(), commands.end(),
                               [](const Command& c) { return c.manager == Manager::kCgroupV2; });
  ASSERT_NE(v2, commands.end());
  EXPECT_EQ(v2->text, "echo \"220000 100000\" > /sys/fs/cgroup/system.slice/foo.service/cpu.max");
  EXPECT_EQ(v2->note, "systemd manages this cgroup and may write the file back: use its command");
}

TEST(AnalyzerCommands, DockerContainerUsesDockerUpdateWithTheShortId) {
  const auto commands = cpu_max_commands(docker_path(kDockerA), pure_v2());
  expect_one_preferred_first(commands);
  EXPECT_EQ(commands[0].manager, Manager::kDocker);
  EXPECT_EQ(commands[0].text, "docker update --cpus 2.20 3f4a9c1e7b2d");
  const auto podman = std::find_if(commands.begin(), commands.end(),
                                   [](const Command& c) { return c.manager == Manager::kPodman; });
  ASSERT_NE(podman, commands.end());
  EXPECT_EQ(podman->text, "podman update --cpus 2.20 3f4a9c1e7b2d");
}

TEST(AnalyzerCommands, KubernetesPodGetsLimitsCpuInMillicores) {
  const auto commands = cpu_max_commands(pod_path(kPodUidA, kDockerA), pure_v2());
  expect_one_preferred_first(commands);
  EXPECT_EQ(commands[0].manager, Manager::kKubernetes);
  EXPECT_EQ(
      commands[0].text,
      "# pod 8d6c1e57-2b1f-4d8a-9c3e-5a7b9e0f1d2c: in its workload's pod template, container resources:\n"
      "resources:\n"
      "  limits:\n"
      "    cpu: \"2200m\"");
  EXPECT_EQ(commands[0].note, "the kubelet sets cpu.max from limits.cpu with a 100 ms period");
}

// Whatever the rule, a recommendation's commands list the preferred one first.
TEST(AnalyzerCommands, EveryRecommendationListsItsPreferredCommandFirst) {
  std::vector<Window> windows;
  windows.push_back(window_of(20, web_behind_batch));
  windows.push_back(window_of(20, backup_and_db(true)));
  windows.push_back(window_of(20, oom_worker(pod_path(kPodUidA, kDockerA))));
  windows.push_back(window_of(20, stale_lookups(pod_path(kPodUidA, kDockerA), pod_path(kPodUidB, kDockerB))));
  windows.push_back(window_of(20, stale_lookups(docker_path(kDockerA), docker_path(kDockerB))));
  windows.push_back(window_of(40, oversized_service(30)));
  std::size_t checked = 0;
  for (const Window& w : windows) {
    const Analysis a = analyze_all(w);
    EXPECT_FALSE(a.findings.empty());
    for (const auto& f : a.findings)
      for (const auto& r : f.recommendations) {
        const bool any =
            std::any_of(r.commands.begin(), r.commands.end(), [](const Command& c) { return c.preferred; });
        if (!any) continue;
        ++checked;
        EXPECT_TRUE(r.commands[0].preferred)
            << f.rule << " " << r.knob << ": first is " << r.commands[0].text;
      }
  }
  EXPECT_GE(checked, 10u);
}

// ============================================================================================
// The budget
// ============================================================================================

// web waits 300 ms per second: 180 ms behind batch, 60 ms behind cron, 40 ms behind itself,
// 20 ms on an idle CPU. Over 20 s: 4.8 s behind others, 1.2 s its own, nothing unsplit.
TEST(AnalyzerBudget, RunDelayIsSplitIntoOwnAndOthers) {
  const Analysis a = analyze_all(window_of(20, web_behind_batch));
  const CgroupBudget* b = budget_of(a, kWebId);
  ASSERT_NE(b, nullptr);
  EXPECT_NEAR(b->wall_seconds, 20, 1e-9);
  EXPECT_NEAR(b->cpu_seconds, 16, 1e-5);  // 80% x 20 s
  EXPECT_NEAR((*b)[Cause::kRunDelayOthers], 4.8, 1e-4);
  EXPECT_NEAR((*b)[Cause::kRunDelayOwn], 1.2, 1e-4);
  EXPECT_EQ(b->run_delay_unsplit, 0);
  EXPECT_TRUE(b->measured[static_cast<std::size_t>(Cause::kRunDelayOthers)]);
  EXPECT_FALSE(b->measured[static_cast<std::size_t>(Cause::kThrottled)]);  // no cpu.stat periods
  ASSERT_EQ(b->neighbours.size(), 2u);
  EXPECT_EQ(b->neighbours[0].cgroup_id, kBatchId);
  EXPECT_NEAR(b->neighbours[0].seconds, 3.6, 1e-4);
  EXPECT_EQ(b->neighbours[0].identity.path, "/system.slice/batch-import.service");
  EXPECT_EQ(b->neighbours[1].cgroup_id, kCronId);
  EXPECT_NEAR(b->neighbours[1].seconds, 1.2, 1e-4);
  EXPECT_NEAR(b->total(), 6.0, 1e-4);
}

// Throttled waits come out of the run delay: marked by the collector, or (older recordings,
// no mark) as much as cpu.stat's throttled time. Both give the same split.
TEST(AnalyzerBudget, ThrottledWaitsAreTakenOutMarkedOrNot) {
  auto api = [](bool marked) {
    return window_of(20, [marked](std::uint64_t, Snapshot& s) {
      CgroupInterval cg = cgroup(kAppId, "/app.slice/api");
      set_cpu(cg, 50);
      set_quota(cg, 50'000, 100'000, 10, 8, 200'000);  // 200 ms throttled per second
      std::vector<RunDelayBlame> blame = {
          {0, 10 * kMs, 20}, {kAppId, 30 * kMs, 50}, {kBatchId, 60 * kMs, 80}};
      if (marked) blame.push_back({model::kRunDelayHolderThrottled, 200 * kMs, 10});
      set_run_delay(cg, blame);
      // Without the mark the collector still measured the throttled waits in the sum.
      if (!marked) cg.run_delay_ns_sum += 200 * kMs;
      s.cgroups = {cg, healthy(kBatchId, "/system.slice/batch-import.service")};
    });
  };
  for (bool marked : {true, false}) {
    SCOPED_TRACE(marked ? "marked" : "not marked");
    const Analysis a = analyze_all(api(marked));
    const CgroupBudget* b = budget_of(a, kAppId);
    ASSERT_NE(b, nullptr);
    EXPECT_NEAR((*b)[Cause::kThrottled], 4.0, 1e-4);       // 200 ms x 20
    EXPECT_NEAR((*b)[Cause::kRunDelayOthers], 1.2, 1e-4);  // 60 ms x 20
    EXPECT_NEAR((*b)[Cause::kRunDelayOwn], 0.8, 1e-4);     // (10 + 30) ms x 20
    EXPECT_NEAR(b->total(), 6.0, 1e-4);                    // not 10: the throttled waits count once
    ASSERT_EQ(b->neighbours.size(), 1u);
    EXPECT_EQ(b->neighbours[0].cgroup_id, kBatchId);
  }
}

// Without blame (no eBPF holder data) the run delay is unsplit.
TEST(AnalyzerBudget, RunDelayWithoutBlameIsUnsplit) {
  const Window w = window_of(20, [](std::uint64_t, Snapshot& s) {
    CgroupInterval cg = cgroup(kWebId, "/system.slice/web.service");
    set_cpu(cg, 80);
    cg.run_delay_ns_sum = 100 * kMs;
    cg.run_delay_ns.add(500'000, 200);
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  const CgroupBudget* b = budget_of(a, kWebId);
  ASSERT_NE(b, nullptr);
  EXPECT_NEAR(b->run_delay_unsplit, 2.0, 1e-4);
  EXPECT_EQ((*b)[Cause::kRunDelayOthers], 0);
  EXPECT_TRUE(b->neighbours.empty());
  EXPECT_TRUE(findings_of(a, "cpu-noisy-neighbour").empty()) << fired(a);
}

// One window with a throttled burner, a victim of a noisy neighbour, a cache under
// memory.high and an OOM-killed worker: findings by lost seconds, budgets by total.
TEST(AnalyzerBudget, FindingsAreRankedByLostSeconds) {
  const Window w = window_of(20, [](std::uint64_t i, Snapshot& s) {
    web_behind_batch(i, s);
    s.cgroups.push_back(burner(kBurnerId, "/batch.slice/burner", i));
    s.cgroups.push_back(squeezed_cache(kDbId, "/app.slice/cache"));
    Snapshot oom;
    oom_worker("/app.slice/worker")(i, oom);
    s.cgroups.push_back(oom.cgroups[0]);
  });
  const Analysis a = analyze_all(w);
  std::vector<std::string> order;
  for (const auto& f : a.findings) order.push_back(f.rule);
  // Throttled 24 s, 4.8 s behind others, 2.4 s in reclaim, OOM kill explains no time.
  EXPECT_EQ(order, (std::vector<std::string>{"cpu-throttling", "cpu-noisy-neighbour", "memory-pressure",
                                             "memory-oom"}));
  for (std::size_t k = 1; k < a.findings.size(); ++k)
    EXPECT_GE(a.findings[k - 1].lost_seconds, a.findings[k].lost_seconds);
  ASSERT_GE(a.budgets.size(), 3u);
  EXPECT_EQ(a.budgets[0].cgroup_id, kBurnerId);
  for (std::size_t k = 1; k < a.budgets.size(); ++k)
    EXPECT_GE(a.budgets[k - 1].total(), a.budgets[k].total());
}

// Throttled in intervals 3..7 and 12..16 of 30, not in between: one finding, first 3, last 16,
// in 10 intervals.
TEST(AnalyzerBudget, FindingsAreDeduplicatedAcrossIntervals) {
  const Window w = window_of(30, [](std::uint64_t i, Snapshot& s) {
    CgroupInterval cg = burner(kBurnerId, "/batch.slice/burner", i);
    const bool throttled = (i >= 3 && i <= 7) || (i >= 12 && i <= 16);
    if (!throttled) {
      set_cpu(cg, 12);
      set_quota(cg, 20'000, 100'000, 10, 0, 0);
      set_run_delay(cg, {{kBurnerId, 2 * kMs, 10}});
      set_demand(cg, {{10, 5}, {14, 5}});
    }
    s.cgroups = {cg};
  });
  const Analysis a = analyze_all(w);
  const auto found = findings_of(a, "cpu-throttling");
  ASSERT_EQ(found.size(), 1u) << fired(a);
  EXPECT_EQ(found[0]->first_index, 3u);
  EXPECT_EQ(found[0]->last_index, 16u);
  EXPECT_EQ(found[0]->intervals, 10u);
  EXPECT_EQ(found[0]->first_realtime_ns, interval_at(3).start_realtime_ns);
  EXPECT_EQ(found[0]->last_realtime_ns, interval_at(16).end_realtime_ns);
  EXPECT_EQ(found[0]->confidence, Confidence::kMedium);  // 30 intervals
}

// A range picks its intervals: the same window analyzed over its first half only.
TEST(AnalyzerBudget, RangeLimitsTheAnalysis) {
  const Window w = window_of(30, [](std::uint64_t i, Snapshot& s) {
    s.cgroups = {healthy(kIdleId, "/system.slice/cron.service")};
    if (i >= 15) s.cgroups.push_back(burner(kBurnerId, "/batch.slice/burner", i));
  });
  const Analysis first = analyze(w, {0, 15});
  EXPECT_TRUE(first.findings.empty()) << fired(first);
  EXPECT_EQ(first.cgroups, 1u);
  EXPECT_EQ(first.start_realtime_ns, interval_at(0).start_realtime_ns);
  EXPECT_EQ(first.end_realtime_ns, interval_at(14).end_realtime_ns);
  const Analysis second = analyze(w, {15, 30});
  EXPECT_EQ(findings_of(second, "cpu-throttling").size(), 1u) << fired(second);
}

// ============================================================================================
// JSON
// ============================================================================================

TEST(AnalyzerJson, SchemaHasStableKeysAndParses) {
  const Analysis a = analyze_all(mixed_window());
  ASSERT_EQ(a.findings.size(), 2u) << fired(a);
  const nlohmann::json j = to_json(a);
  const std::string text = j.dump();
  const nlohmann::json parsed = nlohmann::json::parse(text);  // throws if not JSON
  EXPECT_EQ(parsed, j);

  EXPECT_EQ(keys_of(parsed), (std::set<std::string>{"schema_version", "range", "cgroups", "too_little_data",
                                                    "budgets", "findings", "notes"}));
  EXPECT_EQ(parsed["schema_version"], kAdviceSchemaVersion);
  EXPECT_EQ(parsed["schema_version"], 1);
  EXPECT_EQ(keys_of(parsed["range"]), (std::set<std::string>{"first_interval", "intervals", "seconds",
                                                             "start_realtime_ns", "end_realtime_ns"}));
  EXPECT_EQ(parsed["range"]["intervals"], 20);
  EXPECT_EQ(parsed["range"]["seconds"], 20.0);
  EXPECT_EQ(parsed["cgroups"], 3);

  const auto& findings = parsed["findings"];
  ASSERT_EQ(findings.size(), 2u);
  for (const auto& f : findings) {
    EXPECT_EQ(keys_of(f),
              (std::set<std::string>{"rule", "key", "severity", "confidence", "confidence_basis", "cgroup_id",
                                     "cgroup", "title", "summary", "evidence", "cause", "explains",
                                     "lost_seconds", "lost_fraction", "related_cgroup_ids", "recommendations",
                                     "first_seen_realtime_ns", "last_seen_realtime_ns", "intervals"}));
    ASSERT_FALSE(f["recommendations"].empty());
    for (const auto& r : f["recommendations"]) {
      EXPECT_EQ(keys_of(r), (std::set<std::string>{"knob", "target", "current", "suggested", "derivation",
                                                   "effect", "risk", "commands"}));
      for (const auto& c : r["commands"]) {
        std::set<std::string> keys = keys_of(c);
        keys.erase("note");  // only where there is one
        EXPECT_EQ(keys, (std::set<std::string>{"manager", "preferred", "command"}));
      }
    }
  }
  // Throttled time (24 s) ranks before the stale lookups (no lost time).
  const auto& throttling = findings[0];
  EXPECT_EQ(throttling["rule"], "cpu-throttling");
  EXPECT_EQ(throttling["severity"], "critical");
  EXPECT_EQ(throttling["explains"], "throttled");
  EXPECT_EQ(throttling["cgroup_id"], kBurnerId);
  EXPECT_EQ(throttling["intervals"], 20);
  EXPECT_EQ(throttling["first_seen_realtime_ns"], interval_at(0).start_realtime_ns);
  EXPECT_EQ(throttling["recommendations"][0]["knob"], "cpu.max");
  EXPECT_EQ(throttling["recommendations"][0]["suggested"], "220000 100000");
  EXPECT_EQ(throttling["recommendations"][0]["commands"][0]["manager"], "cgroup v2");
  EXPECT_EQ(throttling["recommendations"][0]["commands"][0]["preferred"], true);
  EXPECT_EQ(throttling["recommendations"][0]["commands"][0]["command"],
            "echo \"220000 100000\" > /sys/fs/cgroup/batch.slice/burner/cpu.max");
  EXPECT_NEAR(throttling["evidence"]["demand_p95_cpus"]["value"].get<double>(), 2.0, 1e-9);
  const auto& stale = findings[1];
  EXPECT_EQ(stale["rule"], "nfs-stale-negative-lookup");
  EXPECT_EQ(stale["severity"], "critical");
  EXPECT_EQ(stale["related_cgroup_ids"], nlohmann::json::array({kPodBId}));
  EXPECT_EQ(stale["recommendations"][0]["suggested"], "positive");

  // Budgets: lost time by cause, null where nothing measured it.
  ASSERT_FALSE(parsed["budgets"].empty());
  const auto& budget = parsed["budgets"][0];
  EXPECT_EQ(keys_of(budget), (std::set<std::string>{"cgroup", "wall_seconds", "cpu_seconds", "lost",
                                                    "lost_total_seconds", "neighbours"}));
  EXPECT_EQ(budget["cgroup"]["path"], "/batch.slice/burner");
  EXPECT_NEAR(budget["lost"]["throttled_seconds"].get<double>(), 24.0, 1e-4);
  EXPECT_TRUE(budget["lost"]["io_wait_seconds"].is_null());
}

TEST(AnalyzerJson, SameWindowGivesTheSameJson) {
  const Window w = mixed_window();
  EXPECT_EQ(to_json(analyze_all(w)).dump(), to_json(analyze_all(w)).dump());
  EXPECT_EQ(to_json(analyze_all(w)).dump(), to_json(analyze_all(mixed_window())).dump());
}

// advise --json streams the analysis (write_json) instead of building the whole tree: the text
// is the tree's dump(2), byte for byte, with findings and budgets, and with none.
TEST(AnalyzerJson, StreamedJsonEqualsTheTreesDump) {
  auto streamed = [](const Analysis& a) {
    char* buf = nullptr;
    std::size_t size = 0;
    std::FILE* f = open_memstream(&buf, &size);
    write_json(a, f);
    std::fclose(f);
    std::string text(buf, size);
    std::free(buf);
    return text;
  };
  const Analysis a = analyze_all(mixed_window());
  ASSERT_FALSE(a.findings.empty());
  ASSERT_FALSE(a.budgets.empty());
  EXPECT_EQ(streamed(a), to_json(a).dump(2) + "\n");
  Analysis empty;
  EXPECT_EQ(streamed(empty), to_json(empty).dump(2) + "\n");
  empty.notes = {"a note with \"quotes\"\nand a newline"};
  EXPECT_EQ(streamed(empty), to_json(empty).dump(2) + "\n");
}
