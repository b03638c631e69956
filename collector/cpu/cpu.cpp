#include "collector/cpu/cpu.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "collector/cpu/cpu.h"
#include "cpu.skel.h"

namespace cgscope::collector {
namespace {

constexpr CpuBpfMode kAllModes[] = {CpuBpfMode::kBtfSchedInfo, CpuBpfMode::kBtfTaskStorage,
                                    CpuBpfMode::kBtfHash, CpuBpfMode::kRawTracepointHash};

bool uses_task_storage(CpuBpfMode mode) {
  return mode == CpuBpfMode::kBtfSchedInfo || mode == CpuBpfMode::kBtfTaskStorage;
}

// se.sum_exec_runtime of a thread (first field of /proc/TID/schedstat), 0 if it is gone.
std::uint64_t thread_runtime_ns(const std::string& proc_root, std::uint32_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "%s/%u/schedstat", proc_root.c_str(), tid);
  FILE* f = std::fopen(path, "re");
  if (!f) return 0;
  unsigned long long runtime = 0;
  if (std::fscanf(f, "%llu", &runtime) != 1) runtime = 0;
  std::fclose(f);
  return runtime;
}

// Makes every CPU switch once, right after attaching: a task that was already running when the
// programs attached is only tracked from its next switch-in, and a busy loop alone on a CPU may
// not switch for seconds. A SCHED_FIFO thread preempts it at once (as root; without the
// privilege the thread still runs, just later). Time before the kick is not counted.
void kick_every_cpu() {
  const long cpus = sysconf(_SC_NPROCESSORS_CONF);
  std::vector<std::thread> kicks;
  for (long cpu = 0; cpu < cpus && cpu < CPU_SETSIZE; ++cpu) {
    kicks.emplace_back([cpu] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<int>(cpu), &set);
      sched_param param{};
      param.sched_priority = 1;
      pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
      if (sched_setaffinity(0, sizeof set, &set) == 0) sched_yield();  // offline CPU: skip
    });
  }
  for (auto& t : kicks) t.join();
}

// Which programs each mode loads.
std::vector<bpf_program*> programs_of(cpu_bpf* s, CpuBpfMode mode) {
  switch (mode) {
    case CpuBpfMode::kBtfSchedInfo:
      return {s->progs.switch_btf_si, s->progs.wakeup_btf_si, s->progs.wakeup_new_btf_si};
    case CpuBpfMode::kBtfTaskStorage:
      return {s->progs.switch_btf_ts, s->progs.wakeup_btf_ts, s->progs.wakeup_new_btf_ts};
    case CpuBpfMode::kBtfHash:
      return {s->progs.switch_btf_hash, s->progs.wakeup_btf_hash, s->progs.wakeup_new_btf_hash,
              s->progs.exit_btf_hash};
    case CpuBpfMode::kRawTracepointHash:
      return {s->progs.switch_raw, s->progs.wakeup_raw, s->progs.wakeup_new_raw, s->progs.exit_raw};
    case CpuBpfMode::kAuto:
      break;
  }
  return {};
}

void add_stats(model::CpuBpfCounters& c, const cpu_cgroup_stats& s) {
  c.on_cpu_ns += s.on_cpu_ns;
  c.voluntary_switches += s.nr_voluntary;
  c.involuntary_switches += s.nr_involuntary;
  c.migrations += s.nr_migrations;
  c.wakeup_delay_ns_sum += s.wakeup_delay_ns_sum;
  c.preempt_delay_ns_sum += s.preempt_delay_ns_sum;
  c.iowait_ns += s.iowait_ns;
  c.iowait_count += s.iowait_count;
  for (std::size_t i = 0; i < CPU_HIST_SLOTS; ++i) {
    if (s.wakeup_hist[i]) c.wakeup_delay_ns.add_to_bucket(i, s.wakeup_hist[i]);
    if (s.preempt_hist[i]) c.preempt_delay_ns.add_to_bucket(i, s.preempt_hist[i]);
  }
  for (const cpu_blame_entry& e : s.blame)
    if (e.waits) c.blame.push_back({e.cgroup_id, e.wait_ns, e.waits});  // merged in sort_blame
  c.blame_overflow_ns += s.blame_overflow_ns;
  c.blame_overflow_waits += s.blame_overflow_waits;
}

// Whether charge_blame() in cpu.bpf.c, given these entries of one CPU, names `holder` (it has an
// entry, or an unused one is left) rather than counting its wait in the overflow.
bool blame_names(const cpu_cgroup_stats& s, std::uint64_t holder) {
  for (const cpu_blame_entry& e : s.blame)
    if (!e.waits || e.cgroup_id == holder) return true;
  return false;
}

// One row per holder (the CPUs' entries summed), by cgroup_id as the model wants.
void sort_blame(std::vector<model::RunDelayBlame>& blame) {
  std::sort(blame.begin(), blame.end(),
            [](const auto& a, const auto& b) { return a.cgroup_id < b.cgroup_id; });
  std::size_t out = 0;
  for (std::size_t i = 0; i < blame.size(); ++i) {
    if (out > 0 && blame[out - 1].cgroup_id == blame[i].cgroup_id) {
      blame[out - 1].wait_ns += blame[i].wait_ns;
      blame[out - 1].waits += blame[i].waits;
    } else {
      blame[out++] = blame[i];
    }
  }
  blame.resize(out);
}

}  // namespace

std::string_view to_string(CpuBpfMode mode) {
  switch (mode) {
    case CpuBpfMode::kAuto: return "auto";
    case CpuBpfMode::kBtfSchedInfo: return "tp_btf+sched_info";
    case CpuBpfMode::kBtfTaskStorage: return "tp_btf+task_storage";
    case CpuBpfMode::kBtfHash: return "tp_btf+hash";
    case CpuBpfMode::kRawTracepointHash: return "raw_tp+hash";
  }
  return "?";
}

Result<CpuBpfMode> parse_cpu_bpf_mode(std::string_view text) {
  for (CpuBpfMode m : {CpuBpfMode::kAuto, CpuBpfMode::kBtfSchedInfo, CpuBpfMode::kBtfTaskStorage,
                       CpuBpfMode::kBtfHash, CpuBpfMode::kRawTracepointHash}) {
    if (text == to_string(m)) return m;
  }
  return Error{"unknown eBPF mode '" + std::string(text) +
               "' (expected auto, tp_btf+sched_info, tp_btf+task_storage, tp_btf+hash or raw_tp+hash)"};
}

Result<cpu_bpf*> CpuCollector::load(const CpuCollectorOptions& options, CpuBpfMode mode) {
  cpu_bpf* skel = cpu_bpf__open();
  if (!skel) return Error{"opening the BPF object: " + bpf_error_message(errno)};

  skel->rodata->key_v1_cpu = options.key_by_v1_cpu;
  if (options.max_cgroups == 0) {
    cpu_bpf__destroy(skel);
    return Error{"max_cgroups must be at least 1"};
  }
  bpf_map__set_max_entries(skel->maps.slot_stats, options.max_cgroups);
  bpf_map__set_max_entries(skel->maps.cgroup_slot, options.max_cgroups);
  bpf_map__set_max_entries(skel->maps.free_slots, options.max_cgroups);
  const bool task_storage = uses_task_storage(mode);
  bpf_map__set_autocreate(skel->maps.task_states, task_storage);
  bpf_map__set_max_entries(skel->maps.task_states_hash, task_storage ? 1 : options.max_tasks);
  if (mode != CpuBpfMode::kBtfSchedInfo) bpf_map__set_max_entries(skel->maps.wait_holders, 1);
  bpf_map__set_max_entries(skel->maps.rq_stamps, static_cast<std::uint32_t>(std::max(libbpf_num_possible_cpus(), 1)));

  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
  for (bpf_program* p : programs_of(skel, mode)) bpf_program__set_autoload(p, true);

  LoadLog log;
  if (int err = cpu_bpf__load(skel); err != 0) {
    cpu_bpf__destroy(skel);
    return Error{"loading (" + std::string(to_string(mode)) + "): " + log.explain(err)};
  }
  // Every slot starts free; the programs take them as cgroups show up.
  const int free_fd = bpf_map__fd(skel->maps.free_slots);
  for (std::uint32_t slot = 0; slot < options.max_cgroups; ++slot) {
    if (int err = bpf_map_update_elem(free_fd, nullptr, &slot, 0); err != 0) {
      cpu_bpf__destroy(skel);
      return Error{"filling the free slot queue: " + bpf_error_message(err)};
    }
  }
  skel->bss->attached_ns = monotonic_ns();
  if (int err = cpu_bpf__attach(skel); err != 0) {
    cpu_bpf__destroy(skel);
    return Error{"attaching (" + std::string(to_string(mode)) + "): " + bpf_error_message(err)};
  }
  kick_every_cpu();
  return skel;
}

Result<std::unique_ptr<CpuCollector>> CpuCollector::create(const CpuCollectorOptions& options) {
  std::vector<CpuBpfMode> modes;
  if (options.mode == CpuBpfMode::kAuto) {
    for (CpuBpfMode m : kAllModes) {
      // Task storage for tracing programs needs 5.11+; skip the attempt where the map type
      // itself is missing.
      if (uses_task_storage(m) && libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) != 1)
        continue;
      modes.push_back(m);
    }
  } else {
    modes.push_back(options.mode);
  }

  std::string failures;
  for (CpuBpfMode m : modes) {
    auto skel = load(options, m);
    if (skel.ok()) {
      return std::unique_ptr<CpuCollector>(new CpuCollector(*skel, m, failures));
    }
    if (!failures.empty()) failures += "; ";
    failures += skel.error();
  }
  return Error{"cpu collector: " + failures};
}

CpuCollector::CpuCollector(cpu_bpf* skel, CpuBpfMode mode, std::string fallback_note)
    : skel_(skel), mode_(mode), fallback_note_(std::move(fallback_note)) {}

CpuCollector::~CpuCollector() { cpu_bpf__destroy(skel_); }

void CpuCollector::collect(model::Sample& /*sample*/, CgroupIndex& index) {
  std::unordered_map<std::uint64_t, model::CpuBpfCounters> by_id;
  const int cpus = libbpf_num_possible_cpus();
  const int slot_fd = bpf_map__fd(skel_->maps.cgroup_slot);
  const int stats_fd = bpf_map__fd(skel_->maps.slot_stats);

  // 1. Cumulative per-cgroup counters, summed over CPUs. Monotonic in the kernel: reading
  //    never races with updates in a way that loses counts (no read-then-delete).
  std::uint64_t key = 0, next_key = 0;
  const std::uint64_t* prev_key = nullptr;
  while (bpf_map_get_next_key(slot_fd, prev_key, &next_key) == 0) {
    key = next_key;
    prev_key = &key;
    std::uint32_t slot = 0;
    if (bpf_map_lookup_elem(slot_fd, &key, &slot) != 0) continue;  // forgotten meanwhile
    if (!lookup_percpu(stats_fd, &slot, sizeof(cpu_cgroup_stats), buf_)) continue;
    auto& counters = by_id[key];
    for (int cpu = 0; cpu < cpus; ++cpu) {
      cpu_cgroup_stats s;
      std::memcpy(&s, buf_.data() + cpu * sizeof(cpu_cgroup_stats), sizeof(s));
      add_stats(counters, s);
    }
  }

  // 2. What is running right now and not yet charged: the slice so far, and (sched_info mode)
  //    the wait that preceded it. Read after the stats: a slice that ends in between is
  //    counted next time, never twice.
  const std::uint64_t now = monotonic_ns();
  const std::uint32_t zero = 0;
  // A wait parked in `running` (sched_info mode) is charged at its task's switch-out, to its
  // holder's entry or to the overflow as that slot's entries on that CPU decide. They cannot
  // change before the charge (only switches on that CPU change them, and the next one there is
  // the charge), and charges after it only add entries, which does not change the answer: so
  // the slot read again now, after `running`, tells where the kernel puts the wait. Following
  // the kernel keeps every holder's row monotonic across intervals.
  std::unordered_map<std::uint32_t, std::vector<std::uint8_t>> slot_after;
  auto names_holder = [&](std::uint32_t slot, int cpu, std::uint64_t holder) {
    auto [it, fresh] = slot_after.try_emplace(slot);
    if (fresh && !lookup_percpu(stats_fd, &slot, sizeof(cpu_cgroup_stats), it->second)) it->second.clear();
    if (it->second.empty()) return true;  // forgotten meanwhile: nobody reads it again
    cpu_cgroup_stats s;
    std::memcpy(&s, it->second.data() + cpu * sizeof(cpu_cgroup_stats), sizeof(s));
    return blame_names(s, holder);
  };
  if (lookup_percpu(bpf_map__fd(skel_->maps.running), &zero, sizeof(cpu_running), buf_)) {
    for (int cpu = 0; cpu < cpus; ++cpu) {
      cpu_running r;
      std::memcpy(&r, buf_.data() + cpu * sizeof(cpu_running), sizeof(r));
      if (r.cgroup_id == 0) continue;
      auto& counters = by_id[r.cgroup_id];
      if (mode_ == CpuBpfMode::kBtfSchedInfo) {
        // The kernel's runtime of the running thread, as of its last tick.
        const std::uint64_t runtime = r.pid ? thread_runtime_ns(proc_root_, r.pid) : 0;
        if (runtime > r.start_runtime_ns) counters.on_cpu_ns += runtime - r.start_runtime_ns;
        if (r.pending_kind != CPU_WAIT_NONE) {
          auto& hist = r.pending_kind == CPU_WAIT_WAKEUP ? counters.wakeup_delay_ns : counters.preempt_delay_ns;
          auto& sum = r.pending_kind == CPU_WAIT_WAKEUP ? counters.wakeup_delay_ns_sum : counters.preempt_delay_ns_sum;
          hist.add_to_bucket(std::min<std::size_t>(model::Log2Histogram::bucket_of(r.pending_delay_ns),
                                                   CPU_HIST_SLOTS - 1), 1);
          sum += r.pending_delay_ns;
          if (names_holder(r.slot, cpu, r.pending_holder_id)) {
            counters.blame.push_back({r.pending_holder_id, r.pending_delay_ns, 1});
          } else {
            counters.blame_overflow_ns += r.pending_delay_ns;
            counters.blame_overflow_waits += 1;
          }
        }
        counters.migrations += r.pending_migrated;
        if (r.pending_iowait_ns) {
          counters.iowait_ns += r.pending_iowait_ns;
          counters.iowait_count += 1;
        }
      } else if (r.since_ns != 0 && now > r.since_ns) {
        counters.on_cpu_ns += now - r.since_ns;
      }
    }
  }

  for (auto& [id, counters] : by_id) {
    sort_blame(counters.blame);
    model::CgroupSample* cg = index.find(id);
    (cg ? *cg : index.unscanned(id)).cpu_bpf = counters;
  }
}

void CpuCollector::forget(const std::vector<std::uint64_t>& cgroup_ids) {
  const int slot_fd = bpf_map__fd(skel_->maps.cgroup_slot);
  const int stats_fd = bpf_map__fd(skel_->maps.slot_stats);
  const int free_fd = bpf_map__fd(skel_->maps.free_slots);
  const std::vector<std::uint8_t> zeros(
      static_cast<std::size_t>(libbpf_num_possible_cpus()) * sizeof(cpu_cgroup_stats), 0);
  for (std::uint64_t id : cgroup_ids) {
    std::uint32_t slot = 0;
    if (bpf_map_lookup_elem(slot_fd, &id, &slot) != 0) continue;
    // The cgroup is gone, so no task can charge it any more: unmap, zero, hand the slot back.
    bpf_map_delete_elem(slot_fd, &id);
    bpf_map_update_elem(stats_fd, &slot, zeros.data(), 0);
    bpf_map_update_elem(free_fd, nullptr, &slot, 0);
  }
}

model::CollectorStatus CpuCollector::status() const {
  model::CollectorStatus st;
  st.name = "cpu";
  st.active = true;
  st.message = "eBPF " + std::string(to_string(mode_));
  if (!fallback_note_.empty()) st.message += " (fallback: " + fallback_note_ + ")";

  static_assert(CPU_DROP_NR == 3, "name every drop reason");
  add_drop_counters(st.drops, bpf_map__fd(skel_->maps.drops),
                    {"cgroup_map_full", "task_state_unavailable", "untracked_slices"}, program_stats());
  return st;
}

std::vector<ProgramStats> CpuCollector::program_stats() const {
  std::vector<ProgramStats> out;
  for (bpf_program* p : programs_of(skel_, mode_)) {
    const int fd = bpf_program__fd(p);
    if (fd >= 0) out.push_back(collector::program_stats(fd));
  }
  return out;
}

}  // namespace cgscope::collector
