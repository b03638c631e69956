// Writes a synthetic recording shaped like a container host, for benchmarks of what reads one
// (bench/advise_replay.sh: `cgscope advise --replay` of 1 h x 1000 cgroups at 1 s).
//
//   cgscope_make_recording FILE [CGROUPS [SECONDS]]      (defaults: 1000 cgroups, 3600 s)
//
// The base is tests/support/synthetic_series.hpp (the recording benchmark's typical mix: 60%
// idle, 30% lightly active, 10% busy; a quarter of the cgroups with a 2-CPU quota, busy ones
// throttled now and then; one container in 1000 replaced per second). On top of it, what the
// analyzers read and the base does not have:
//   - run-delay blame of every cgroup the CPU collector sees: its waits split between its own
//     tasks, the idle CPU, two busy neighbours and the kernel's top-K overflow; a fifth of the
//     busy cgroups wait 8-20% of their time, a quarter of those with a quota are throttled 6-15%
//     of it, an eighth stall in memcg reclaim under memory.high;
//   - CPU demand slots (10 slots of 100 ms a second) of every cgroup with a quota, as the
//     demand sampler reads them: busy ones with bursts above the quota;
//   - memory: memory.current, inactive file pages, memory.max for cgroups with a quota,
//     memory.events high for a few busy ones;
//   - block I/O (io.stat on one disk, I/O wait) of busy cgroups, one of them a heavy writer;
//   - the host facts a recorder stores in the meta table (cgroup layout, dirty/watermark sysctls);
//   - NFS: the recording benchmark's active NFS client host (4 mounts, 20 rows, 50 files).
// Deterministic (fixed seeds): the same arguments give the same samples.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <unordered_map>

#include "model/recording/writer.hpp"
#include "tests/support/synthetic_series.hpp"

using namespace cgscope;

namespace {

class Extras {
 public:
  explicit Extras(std::uint64_t seed) : rng_(seed) {}

  // Adds the extra counters to one sample of the base series (cumulative, per cgroup id).
  void add(model::Sample& s) {
    for (const auto& cg : s.cgroups)  // the heavy writer was replaced: the next busy cgroup takes over
      if (cg.removed && cg.identity.id == heavy_writer_) heavy_writer_ = 0;
    busy_ids_.clear();
    for (const auto& cg : s.cgroups)
      if (!cg.removed && classify(cg).busy) busy_ids_.push_back(cg.identity.id);
    for (auto& cg : s.cgroups) {
      State& st = states_[cg.identity.id];
      const bool advance = !cg.removed;  // a removed row repeats its last values
      pressure(cg, st, advance);
      if (cg.cpu_bpf) blame(cg, st, advance);
      if (cg.cpu_knobs.quota_usec) demand(cg, st, advance);
      memory(cg, st, advance);
      if (st.busy) io(cg, st, advance);
    }
  }

 private:
  struct State {
    bool seen = false, busy = false, classified = false;
    std::uint64_t prev_on_cpu_ns = 0, prev_waits_ns = 0;
    std::vector<model::RunDelayBlame> blame;  // cumulative, sorted by cgroup_id
    std::uint64_t overflow_ns = 0, overflow_waits = 0;
    std::map<std::uint32_t, std::uint64_t> demand;  // centi-CPUs -> slots
    std::uint64_t demand_missed = 0;
    double memory = 0;
    std::uint64_t high_events = 0, rbytes = 0, wbytes = 0, rios = 0, wios = 0, iowait_ns = 0;
    std::uint64_t neighbour[2] = {0, 0};
    bool heavy_writer = false, victim = false, throttled = false, reclaims = false, io_victim = false;
    std::uint64_t extra_waits_ns = 0, extra_throttled_usec = 0, reclaim_ns = 0, reclaims_n = 0;
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::uint64_t upto(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n)(rng_); }

  // A cgroup is busy when the base series gave it at least 0.2 s of CPU in one second (its busy
  // cgroups get 0.2-1.0 s, active ones at most 5 ms). Called once per sample and cgroup.
  State& classify(const model::CgroupSample& cg) {
    State& st = states_[cg.identity.id];
    if (!st.classified && cg.cpu_bpf && st.prev_on_cpu_ns) {
      st.busy = cg.cpu_bpf->on_cpu_ns - st.prev_on_cpu_ns >= 200'000'000;
      st.classified = true;
      if (st.busy) {
        ++busy_seen_;
        st.heavy_writer = heavy_writer_ == 0;  // one cgroup at a time moves most of the disk's bytes
        if (st.heavy_writer) heavy_writer_ = cg.identity.id;
        st.victim = busy_seen_ % 5 == 2;     // waits behind its neighbours: 8-20% of its time
        st.throttled = busy_seen_ % 4 == 3;  // throttled 6-15% of its time (if it has a quota)
        st.reclaims = busy_seen_ % 8 == 4;   // stalls under its memory.high
        st.io_victim = busy_seen_ % 10 == 5;  // 7% of its time in I/O wait
      }
    }
    if (cg.cpu_bpf) st.prev_on_cpu_ns = cg.cpu_bpf->on_cpu_ns;
    if (st.memory == 0) st.memory = 1e6 * (20 + static_cast<double>(upto(2000)));
    return st;
  }

  // The base series' busy cgroups are throttled ~2.5% of the time and wait ~7% of it: add
  // enough to some of them to cross the rules' thresholds, as on a host with real contention.
  void pressure(model::CgroupSample& cg, State& st, bool advance) {
    if (advance && st.victim) st.extra_waits_ns += 80'000'000 + upto(120'000'000);
    if (advance && st.throttled && cg.cpu_knobs.quota_usec) st.extra_throttled_usec += 60'000 + upto(90'000);
    if (cg.cpu_bpf) cg.cpu_bpf->preempt_delay_ns_sum += st.extra_waits_ns;
    if (cg.cpu_stat.throttled_usec) *cg.cpu_stat.throttled_usec += st.extra_throttled_usec;
    if (st.reclaims) {
      if (advance) {
        const std::uint64_t n = 1 + upto(20);
        st.reclaim_ns += n * (500'000 + upto(1'500'000));
        st.reclaims_n += n;
      }
      model::MemoryBpfCounters m;
      m.memcg_reclaim_ns = st.reclaim_ns;
      m.memcg_reclaim_count = st.reclaims_n;
      m.reclaimed_pages = st.reclaims_n * 32;
      cg.memory_bpf = m;
    }
  }

  void charge(State& st, std::uint64_t holder, std::uint64_t ns, std::uint64_t waits) {
    if (ns == 0) return;
    auto it = std::lower_bound(st.blame.begin(), st.blame.end(), holder,
                               [](const model::RunDelayBlame& b, std::uint64_t id) { return b.cgroup_id < id; });
    if (it == st.blame.end() || it->cgroup_id != holder) it = st.blame.insert(it, {holder, 0, 0});
    it->wait_ns += ns;
    it->waits += std::max<std::uint64_t>(waits, 1);
  }

  // Every wait of the interval charged to a holder: 35% own tasks, 10% idle CPU, 50% two
  // neighbours (busy cgroups, fixed per cgroup), 5% overflow (holders beyond the top-K).
  void blame(model::CgroupSample& cg, State& st, bool advance) {
    auto& b = *cg.cpu_bpf;
    if (advance) {
      const std::uint64_t waits_ns = b.wakeup_delay_ns_sum + b.preempt_delay_ns_sum;
      if (!st.seen) {
        st.seen = true;
        st.prev_waits_ns = waits_ns;
      }
      if (st.neighbour[0] == 0 && !busy_ids_.empty())
        for (auto& n : st.neighbour) {
          n = busy_ids_[upto(busy_ids_.size() - 1)];
          if (n == cg.identity.id) n = busy_ids_.front() == n ? busy_ids_.back() : busy_ids_.front();
        }
      const std::uint64_t d = waits_ns - st.prev_waits_ns;
      st.prev_waits_ns = waits_ns;
      const std::uint64_t n = 1 + d / 20'000;  // ~20 us per wait
      // No waits marked as throttled (kRunDelayHolderThrottled): the CPU collector does not
      // record that holder, so the analyzers take cpu.stat's throttled time out instead.
      const std::uint64_t rest = d;
      charge(st, cg.identity.id, rest * 35 / 100, n * 35 / 100);
      charge(st, 0, rest * 10 / 100, n / 10);
      if (st.neighbour[0]) {
        charge(st, st.neighbour[0], rest * 30 / 100, n * 30 / 100);
        charge(st, st.neighbour[1], rest * 20 / 100, n / 5);
      } else {
        charge(st, cg.identity.id, rest * 50 / 100, n / 2);
      }
      st.overflow_ns += rest * 5 / 100;
      st.overflow_waits += n / 20;
    }
    b.blame = st.blame;
    b.blame_overflow_ns = st.overflow_ns;
    b.blame_overflow_waits = st.overflow_waits;
  }

  // 10 slots of 100 ms: idle cgroups at 0, busy ones around 1.5 CPUs with bursts to 2.5-4 (above
  // their 2-CPU quota: that is what throttles them), now and then a missed slot.
  void demand(model::CgroupSample& cg, State& st, bool advance) {
    for (int slot = 0; advance && slot < 10; ++slot) {
      std::uint32_t centi = 0;
      if (st.busy) centi = uniform() < 0.08 ? 250 + static_cast<std::uint32_t>(upto(150))
                                            : 100 + static_cast<std::uint32_t>(upto(100));
      else if (cg.cpu_bpf) centi = static_cast<std::uint32_t>(upto(3));
      ++st.demand[centi];
    }
    if (advance && uniform() < 0.01) ++st.demand_missed;
    cg.cpu_demand.slot_ns = 100'000'000;
    cg.cpu_demand.buckets.clear();
    for (const auto& [centi, slots] : st.demand) cg.cpu_demand.buckets.push_back({centi, slots});
    cg.cpu_demand.missed_slots = st.demand_missed;
  }

  void memory(model::CgroupSample& cg, State& st, bool advance) {
    if (advance && st.busy) st.memory = std::max(1e7, st.memory + (uniform() - 0.5) * 4e6);
    auto& k = cg.memory_knobs;
    k.limits_known = true;
    k.current_bytes = static_cast<std::uint64_t>(st.memory);
    if (cg.cpu_knobs.quota_usec) k.max_bytes = std::uint64_t{4} << 30;
    cg.memory_stat.inactive_file_bytes = static_cast<std::uint64_t>(st.memory * 0.3);
    cg.memory_stat.active_file_bytes = static_cast<std::uint64_t>(st.memory * 0.2);
    if (st.reclaims) k.high_bytes = static_cast<std::uint64_t>(st.memory * 1.05);
    if (advance && st.busy && uniform() < (st.reclaims ? 0.5 : 0.05)) ++st.high_events;
    cg.memory_events.high = st.high_events;
    cg.memory_events.max = 0;
    cg.memory_events.oom_kill = 0;
  }

  // One disk (8:0); the heavy writer (one busy cgroup at a time) moves 100-200 MB/s, the others a few
  // hundred kB/s; a tenth of them spend 7% of their time in I/O wait, the others 1%.
  void io(model::CgroupSample& cg, State& st, bool advance) {
    const std::uint64_t w = !advance ? 0 : st.heavy_writer ? 100'000'000 + upto(100'000'000) : upto(500'000);
    const std::uint64_t r = advance ? upto(1'000'000) : 0;
    st.wbytes += w;
    st.rbytes += r;
    st.wios += w / 65'536;
    st.rios += r / 16'384;
    cg.io_stat = {{model::make_dev(8, 0), st.rbytes, st.wbytes, st.rios, st.wios, 0, 0}};
    if (cg.cpu_bpf) {
      if (advance) st.iowait_ns += upto(st.io_victim ? 150'000'000 : 20'000'000);
      cg.cpu_bpf->iowait_ns = st.iowait_ns;
    }
  }

  std::mt19937_64 rng_;
  std::unordered_map<std::uint64_t, State> states_;
  std::vector<std::uint64_t> busy_ids_;
  std::uint64_t busy_seen_ = 0;
  std::uint64_t heavy_writer_ = 0;  // cgroup id
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s FILE [CGROUPS [SECONDS]]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::size_t cgroups = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000;
  const std::size_t seconds = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 3600;
  if (std::filesystem::exists(path)) {
    std::fprintf(stderr, "%s exists: remove it first\n", path.c_str());
    return 1;
  }
  model::recording::WriterOptions options;
  options.meta = {{"cgroup_v2_root", "/sys/fs/cgroup"},
                  {"cgroup_v2_controllers", "cpuset cpu io memory hugetlb pids rdma misc"},
                  {"sysctl.vm.dirty_bytes", "0"},
                  {"sysctl.vm.dirty_background_bytes", "0"},
                  {"sysctl.vm.dirty_ratio", "20"},
                  {"sysctl.vm.dirty_background_ratio", "10"},
                  {"sysctl.vm.watermark_scale_factor", "10"}};
  auto writer = model::recording::RecordingWriter::create(path, options);
  if (!writer) {
    std::fprintf(stderr, "%s\n", writer.error().c_str());
    return 1;
  }
  // An NFS client host too, as the recording benchmark's: 4 mounts, 20 (cgroup, mount) rows,
  // 50 shared files, 5 stale names, a little of everything changing every second.
  test::SyntheticSeries series({.cgroups = cgroups,
                                .busy_fraction = 0.1,
                                .active_fraction = 0.3,
                                .seed = 42,
                                .nfs = {.mounts = 4, .cgroup_mounts = 20, .files = 50, .stale_names = 5}});
  Extras extras(7);
  // One sample more than intervals: N + 1 cumulative samples give N intervals.
  for (std::size_t i = 0; i <= seconds; ++i) {
    model::Sample s = series.next();
    extras.add(s);
    if (auto st = (*writer)->append(s); !st) {
      std::fprintf(stderr, "sample %zu: %s\n", i, st.error().c_str());
      return 1;
    }
  }
  if (auto st = (*writer)->close(); !st) {
    std::fprintf(stderr, "close: %s\n", st.error().c_str());
    return 1;
  }
  std::printf("%s: %zu cgroups, %zu intervals of 1 s\n", path.c_str(), cgroups, seconds);
  return 0;
}
