#include "collector/cpu/cpu.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
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

// Which programs each mode loads.
std::vector<bpf_program*> programs_of(cpu_bpf* s, CpuBpfMode mode) {
  switch (mode) {
    case CpuBpfMode::kBtfSchedInfo:
      return {s->progs.switch_btf_si};
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
  for (std::size_t i = 0; i < CPU_HIST_SLOTS; ++i) {
    if (s.wakeup_hist[i]) c.wakeup_delay_ns.add_to_bucket(i, s.wakeup_hist[i]);
    if (s.preempt_hist[i]) c.preempt_delay_ns.add_to_bucket(i, s.preempt_hist[i]);
  }
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
  bpf_map__set_max_entries(skel->maps.cgroup_stats, options.max_cgroups);
  const bool task_storage = uses_task_storage(mode);
  bpf_map__set_autocreate(skel->maps.task_states, task_storage);
  bpf_map__set_max_entries(skel->maps.task_states_hash, task_storage ? 1 : options.max_tasks);

  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
  for (bpf_program* p : programs_of(skel, mode)) bpf_program__set_autoload(p, true);

  if (int err = cpu_bpf__load(skel); err != 0) {
    cpu_bpf__destroy(skel);
    return Error{"loading (" + std::string(to_string(mode)) + "): " + bpf_error_message(err)};
  }
  if (int err = cpu_bpf__attach(skel); err != 0) {
    cpu_bpf__destroy(skel);
    return Error{"attaching (" + std::string(to_string(mode)) + "): " + bpf_error_message(err)};
  }
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

void CpuCollector::collect(model::Sample& sample) {
  std::unordered_map<std::uint64_t, model::CpuBpfCounters> by_id;
  const int cpus = libbpf_num_possible_cpus();
  const int stats_fd = bpf_map__fd(skel_->maps.cgroup_stats);

  // 1. Cumulative per-cgroup counters, summed over CPUs. Monotonic in the kernel: reading
  //    never races with updates in a way that loses counts (no read-then-delete).
  std::uint64_t key = 0, next_key = 0;
  const std::uint64_t* prev_key = nullptr;
  while (bpf_map_get_next_key(stats_fd, prev_key, &next_key) == 0) {
    key = next_key;
    prev_key = &key;
    if (!lookup_percpu(stats_fd, &key, sizeof(cpu_cgroup_stats), buf_)) continue;  // deleted meanwhile
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
        }
        counters.migrations += r.pending_migrated;
      } else if (r.since_ns != 0 && now > r.since_ns) {
        counters.on_cpu_ns += now - r.since_ns;
      }
    }
  }

  std::uint64_t matched = 0;
  for (auto& cg : sample.cgroups) {
    auto it = by_id.find(cg.identity.id);
    if (it == by_id.end()) continue;
    cg.cpu_bpf = it->second;
    ++matched;
  }
  unmatched_cgroups_ = by_id.size() - matched;
}

void CpuCollector::forget(const std::vector<std::uint64_t>& cgroup_ids) {
  const int fd = bpf_map__fd(skel_->maps.cgroup_stats);
  for (std::uint64_t id : cgroup_ids) bpf_map_delete_elem(fd, &id);
}

model::CollectorStatus CpuCollector::status() const {
  model::CollectorStatus st;
  st.name = "cpu";
  st.active = true;
  st.message = "eBPF " + std::string(to_string(mode_));
  if (!fallback_note_.empty()) st.message += " (fallback: " + fallback_note_ + ")";

  std::vector<std::uint8_t> buf;
  const int cpus = libbpf_num_possible_cpus();
  const char* names[CPU_DROP_NR] = {"cgroup_map_full", "task_state_unavailable"};
  for (std::uint32_t reason = 0; reason < CPU_DROP_NR; ++reason) {
    std::uint64_t total = 0;
    if (lookup_percpu(bpf_map__fd(skel_->maps.drops), &reason, sizeof(std::uint64_t), buf)) {
      for (int cpu = 0; cpu < cpus; ++cpu) {
        std::uint64_t v;
        std::memcpy(&v, buf.data() + cpu * sizeof(v), sizeof(v));
        total += v;
      }
    }
    st.drops[names[reason]] = total;
  }
  std::uint64_t misses = 0;
  for (const auto& p : program_stats()) misses += p.recursion_misses;
  st.drops["kernel_recursion_misses"] = misses;
  if (unmatched_cgroups_ != 0) {
    // Not lost: these show up once the next scan finds their directories.
    st.message += "; " + std::to_string(unmatched_cgroups_) + " cgroups not yet scanned";
  }
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
