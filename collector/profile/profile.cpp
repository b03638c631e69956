#include "collector/profile/profile.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <cstring>
#include <fstream>
#include <latch>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "collector/profile/cpu_list.hpp"
#include "collector/profile/profile.h"
#include "profile.skel.h"

namespace cgscope::collector {
namespace {

int perf_event_open(perf_event_attr* attr, pid_t pid, int cpu, int group_fd, unsigned long flags) {
  return static_cast<int>(syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags));
}

perf_event_attr sampling_attr(SampleEvent event, std::uint32_t hz) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  if (event == SampleEvent::kCycles) {
    attr.type = PERF_TYPE_HARDWARE;
    attr.config = PERF_COUNT_HW_CPU_CYCLES;
    attr.freq = 1;  // the kernel adjusts the period to reach hz
    attr.sample_freq = hz;
  } else {
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.sample_period = 1'000'000'000ULL / hz;  // cpu-clock counts nanoseconds
    attr.exclude_idle = 1;                       // no program run on idle CPUs
  }
  return attr;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int handle_event(void* ctx, void* data, std::size_t size) {
  if (size < sizeof(profile_proc_event)) return 0;
  profile_proc_event ev;
  std::memcpy(&ev, data, sizeof(ev));
  // ctx points at Profiler::on_process_, which poll() and stop() set for the call.
  const auto* cb = *static_cast<const std::function<void(const ProcessEvent&)>* const*>(ctx);
  if (cb && *cb) (*cb)(ProcessEvent{ev.tgid, ev.instance});
  return 0;
}

}  // namespace

std::string_view to_string(SampleEvent event) {
  switch (event) {
    case SampleEvent::kAuto:
      return "auto";
    case SampleEvent::kCpuClock:
      return "cpu-clock";
    case SampleEvent::kCycles:
      return "cycles";
  }
  return "?";
}

std::string_view to_string(UnwindMode mode) {
  return mode == UnwindMode::kDwarf ? "dwarf" : "fp";
}

std::string_view to_string(UnwindMethod method) {
  switch (method) {
    case UnwindMethod::kFramePointers:
      return "fp";
    case UnwindMethod::kDwarf:
      return "dwarf";
    case UnwindMethod::kDwarfAndFp:
      return "dwarf+fp";
    case UnwindMethod::kNone:
      return "none";
  }
  return "?";
}

bool hardware_pmu_available(std::string* why) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.disabled = 1;
  const int fd = perf_event_open(&attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    return true;
  }
  if (why) *why = std::string("perf_event_open(PERF_COUNT_HW_CPU_CYCLES): ") + std::strerror(errno);
  return false;
}

Result<std::unique_ptr<Profiler>> Profiler::create(const ProfilerOptions& options) {
  if (options.frequency_hz == 0 || options.frequency_hz > 100000)
    return Error{"profiler: frequency must be 1..100000 Hz, got " + std::to_string(options.frequency_hz)};
  if (options.stack_map_entries == 0 || options.count_map_entries == 0 || options.max_processes == 0)
    return Error{"profiler: map sizes must be at least 1"};
  if (options.filter_cgroups && options.cgroup_ids.size() > options.max_filter_cgroups)
    return Error{"profiler: " + std::to_string(options.cgroup_ids.size()) + " cgroups to filter, room for " +
                 std::to_string(options.max_filter_cgroups) + " (raise max_filter_cgroups)"};

  const bool dwarf = options.unwind == UnwindMode::kDwarf && options.mode == ProfileMode::kOnCpu;
  if (dwarf && (options.stack_copy_bytes < 64 || options.stack_copy_bytes > PROFILE_MAX_STACK_COPY))
    return Error{"profiler: the stack copy must be 64.." + std::to_string(PROFILE_MAX_STACK_COPY) + " bytes, got " +
                 std::to_string(options.stack_copy_bytes)};
  const int cpus = dwarf ? libbpf_num_possible_cpus() : 1;
  if (cpus <= 0) return Error{"profiler: counting the possible CPUs: " + bpf_error_message(cpus)};
  std::uint32_t ring_bytes = options.stack_ring_bytes;
  if (dwarf && ring_bytes == 0) {
    ring_bytes = 1u << 20;
    while (ring_bytes < (64u << 20) && ring_bytes < static_cast<std::uint64_t>(cpus) * (512u << 10))
      ring_bytes <<= 1;
  }
  if (dwarf && (ring_bytes < (64u << 10) || (ring_bytes & (ring_bytes - 1))))
    return Error{"profiler: the stack ring buffer must be a power of two of at least 64 KiB, got " +
                 std::to_string(ring_bytes) + " bytes"};

  profile_bpf* skel = profile_bpf__open();
  if (!skel) return Error{"profiler: opening the BPF object: " + bpf_error_message(errno)};
  const bool on_cpu = options.mode == ProfileMode::kOnCpu;
  skel->rodata->filter_cgroups = options.filter_cgroups;
  skel->rodata->off_cpu_min_ns = options.off_cpu_min_ns;
  skel->rodata->stack_copy_bytes = dwarf ? options.stack_copy_bytes : 0;
  skel->rodata->stack_ring_bytes = dwarf ? ring_bytes : 0;
  bpf_map__set_max_entries(skel->maps.stack_samples,
                           dwarf ? ring_bytes : static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE)));
  bpf_map__set_autocreate(skel->maps.stack_scratch, dwarf);
  if (dwarf) bpf_map__set_max_entries(skel->maps.stack_scratch, static_cast<std::uint32_t>(cpus));
  // Off-CPU has one set for the whole run (see profile.bpf.c): it gets the memory of both.
  bpf_map__set_max_entries(skel->maps.stacks0, on_cpu ? options.stack_map_entries : 2 * options.stack_map_entries);
  bpf_map__set_max_entries(skel->maps.stacks1, on_cpu ? options.stack_map_entries : 1);
  bpf_map__set_max_entries(skel->maps.procs, options.max_processes);
  bpf_map__set_max_entries(skel->maps.wanted_cgroups, options.max_filter_cgroups);
  // Only the chosen mode's program and maps are loaded.
  bpf_map__set_max_entries(skel->maps.on_cpu_counts0, on_cpu ? options.count_map_entries : 1);
  bpf_map__set_max_entries(skel->maps.on_cpu_counts1, on_cpu ? options.count_map_entries : 1);
  bpf_map__set_max_entries(skel->maps.off_cpu_time, on_cpu ? 1 : options.count_map_entries);
  bpf_map__set_autocreate(skel->maps.off_cpu_starts, !on_cpu);
  bpf_program__set_autoload(skel->progs.on_cpu_sample, on_cpu);
  bpf_program__set_autoload(skel->progs.off_cpu_switch, !on_cpu);

  LoadLog log;
  if (int err = profile_bpf__load(skel); err != 0) {
    profile_bpf__destroy(skel);
    return Error{std::string("profiler: loading the ") + (on_cpu ? "perf_event" : "tp_btf/sched_switch") +
                 " program: " + log.explain(err)};
  }
  std::unique_ptr<Profiler> p(new Profiler(skel, options));
  if (options.filter_cgroups) {
    if (auto s = p->set_cgroup_filter(options.cgroup_ids); !s) return Error{s.error()};
  }
  p->events_ = ring_buffer__new(bpf_map__fd(skel->maps.proc_events), handle_event, &p->on_process_, nullptr);
  if (!p->events_) return Error{"profiler: ring buffer: " + bpf_error_message(errno)};
  if (dwarf) {
    p->samples_ =
        ring_buffer__new(bpf_map__fd(skel->maps.stack_samples), queue_stack_sample, p.get(), nullptr);
    if (!p->samples_) return Error{"profiler: stack sample ring buffer: " + bpf_error_message(errno)};
    Profiler* self = p.get();
    if (options.read_stack_copies_in_background) {
      // create() returns once the thread holds no capability: never a moment with them.
      std::latch dropped(1);
      p->reader_ = std::jthread([self, &dropped](const std::stop_token& stop) {
        // Capabilities belong to threads: this one reads mapped memory and needs none.
        if (cap_t none = cap_init()) {
          cap_set_proc(none);
          cap_free(none);
        }
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals go to the command's own thread
        dropped.count_down();
        while (!stop.stop_requested()) {
          const int rc = ring_buffer__poll(self->samples_, 100);
          if (rc < 0 && rc != -EINTR)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // never spin
        }
      });
      dropped.wait();
    }
  }

  if (on_cpu) {
    if (auto s = p->attach_perf_events(); !s) return Error{s.error()};
  } else {
    bpf_link* link = bpf_program__attach(skel->progs.off_cpu_switch);
    if (!link) return Error{"profiler: attaching tp_btf/sched_switch: " + bpf_error_message(errno)};
    p->links_.push_back(link);
  }
  return p;
}

Profiler::Profiler(profile_bpf* skel, ProfilerOptions options) : skel_(skel), options_(std::move(options)) {}

Profiler::~Profiler() {
  detach();
  stop_reader();
  if (samples_) ring_buffer__free(samples_);
  if (events_) ring_buffer__free(events_);
  profile_bpf__destroy(skel_);
}

Status Profiler::attach_perf_events() {
  event_ = options_.event;
  if (event_ == SampleEvent::kAuto)
    event_ = hardware_pmu_available(nullptr) ? SampleEvent::kCycles : SampleEvent::kCpuClock;
  auto cpus = parse_cpu_list(read_file("/sys/devices/system/cpu/online"));
  if (!cpus) return Error{"profiler: reading /sys/devices/system/cpu/online: " + cpus.error()};
  for (int cpu : *cpus) {
    perf_event_attr attr = sampling_attr(event_, options_.frequency_hz);
    const int fd = perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (event_ == SampleEvent::kCycles && (err == ENOENT || err == EOPNOTSUPP))
        return Error{"profiler: perf_event_open(cycles) on CPU " + std::to_string(cpu) + ": " +
                     std::strerror(err) + " (no hardware PMU here: use --event cpu-clock)"};
      // A CPU that went offline meanwhile is skipped, and said so.
      cpu_errors_.push_back("CPU " + std::to_string(cpu) + ": perf_event_open: " + bpf_error_message(err));
      continue;
    }
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.on_cpu_sample, fd);
    if (!link) {
      const int err = errno;
      close(fd);
      return Error{"profiler: attaching to the perf event of CPU " + std::to_string(cpu) + ": " +
                   bpf_error_message(err)};
    }
    links_.push_back(link);  // the link owns fd from here on (closed at detach)
  }
  cpus_sampled_ = static_cast<std::uint32_t>(links_.size());
  if (links_.empty())
    return Error{"profiler: no CPU could be sampled: " +
                 (cpu_errors_.empty() ? std::string("none online") : cpu_errors_[0])};
  return {};
}

void Profiler::detach() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
}

Status Profiler::set_cgroup_filter(const std::vector<std::uint64_t>& cgroup_ids) {
  if (!options_.filter_cgroups) return Error{"profiler: started without a cgroup filter"};
  const int fd = bpf_map__fd(skel_->maps.wanted_cgroups);
  const std::unordered_set<std::uint64_t> wanted(cgroup_ids.begin(), cgroup_ids.end());
  if (wanted.size() > options_.max_filter_cgroups)
    return Error{"profiler: " + std::to_string(wanted.size()) + " cgroups to filter, room for " +
                 std::to_string(options_.max_filter_cgroups)};
  for (std::uint64_t id : filter_ids_)
    if (!wanted.contains(id)) bpf_map_delete_elem(fd, &id);
  const std::uint8_t one = 1;
  for (std::uint64_t id : wanted) {
    if (int err = bpf_map_update_elem(fd, &id, &one, BPF_ANY); err != 0)
      return Error{"profiler: adding cgroup " + std::to_string(id) +
                   " to the filter: " + bpf_error_message(err)};
  }
  filter_ids_.assign(wanted.begin(), wanted.end());
  return {};
}

Status Profiler::poll(int timeout_ms, const std::function<void(const ProcessEvent&)>& on_process) {
  on_process_ = &on_process;
  const int rc = ring_buffer__poll(events_, timeout_ms);
  on_process_ = nullptr;
  if (samples_ && !reader_.joinable()) ring_buffer__consume(samples_);  // no reader thread
  unwind_pending(on_process);
  if (rc < 0 && rc != -EINTR) return Error{"profiler: polling the ring buffer: " + bpf_error_message(rc)};
  return {};
}

std::size_t Profiler::StackKeyHash::operator()(const StackKey& k) const {
  std::size_t h = std::hash<std::uint64_t>()(k.cgroup_id) ^ (std::size_t{k.tgid} << 20) ^ k.instance;
  auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 0x100000001b3ULL; };
  for (std::uint64_t ip : k.user_ips) mix(ip);
  for (std::uint64_t ip : k.kernel_ips) mix(ip);
  mix(static_cast<std::uint32_t>(k.user_error));
  mix(static_cast<std::uint32_t>(k.kernel_error));
  mix(static_cast<std::uint32_t>(k.unwind));
  return h ^ std::hash<std::string>()(k.comm) ^ (std::hash<std::string>()(k.unwind_stopped) << 1);
}

int Profiler::queue_stack_sample(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<Profiler*>(ctx);
  constexpr std::size_t kHeader = offsetof(profile_stack_sample, stack);
  constexpr std::size_t kMaxPending = 64u << 20;  // ~4000 samples of 16 KiB
  if (size < kHeader || size > sizeof(profile_stack_sample)) return 0;
  std::lock_guard lock(self->pending_mutex_);
  std::size_t keep = size;
  if (self->pending_.size() + size > kMaxPending) {
    // Fallen behind: keep the sample, without its stack copy (counted).
    keep = kHeader;
    ++self->dropped_;
  }
  const auto n = static_cast<std::uint32_t>(keep);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  self->pending_.insert(self->pending_.end(), reinterpret_cast<const std::uint8_t*>(&n),
                        reinterpret_cast<const std::uint8_t*>(&n) + sizeof(n));
  self->pending_.insert(self->pending_.end(), bytes, bytes + keep);
  return 0;
}

void Profiler::unwind_pending(const std::function<void(const ProcessEvent&)>& on_process) {
  std::vector<std::uint8_t> batch;
  {
    std::lock_guard lock(pending_mutex_);
    batch.swap(pending_);
  }
  // The program announces a process before it sends the process's first sample: once the
  // batch is taken, reading the announcements that arrived meanwhile covers all of its samples.
  on_process_ = &on_process;
  ring_buffer__consume(events_);
  on_process_ = nullptr;
  for (std::size_t at = 0; at + sizeof(std::uint32_t) <= batch.size();) {
    std::uint32_t n = 0;
    std::memcpy(&n, batch.data() + at, sizeof(n));
    at += sizeof(n);
    unwind_record(batch.data() + at, std::min<std::size_t>(n, batch.size() - at));
    at += n;
  }
}

void Profiler::stop_reader() {
  if (!reader_.joinable()) return;
  reader_.request_stop();
  reader_.join();
}

void Profiler::unwind_record(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kHeader = offsetof(profile_stack_sample, stack);
  if (size < kHeader) return;
  // The record may sit unaligned in the queue: the header is copied out.
  alignas(profile_stack_sample) std::uint8_t header[kHeader];
  std::memcpy(header, data, kHeader);
  const auto* rec = reinterpret_cast<const profile_stack_sample*>(header);
  const std::size_t stack_bytes = std::min<std::size_t>(rec->stack_bytes, size - kHeader);
  stack_copy_bytes_ += stack_bytes;
  StackKey sk{rec->cgroup_id,
              rec->tgid,
              rec->instance,
              std::string(rec->comm, strnlen(rec->comm, sizeof(rec->comm))),
              {},
              {},
              0,
              0,
              UnwindMethod::kNone,
              {}};
  if (unwinder_ && stack_bytes > 0) {
    StackSample sample;
    sample.cgroup_id = rec->cgroup_id;
    sample.tgid = rec->tgid;
    sample.instance = rec->instance;
    static_assert(sizeof(rec->regs[0]) == sizeof(std::uint64_t));
    sample.regs = reinterpret_cast<const std::uint64_t*>(rec->regs);
    sample.stack = data + kHeader;
    sample.stack_bytes = stack_bytes;
    UnwoundStack u = unwinder_(sample);
    sk.user_ips = std::move(u.ips);
    sk.unwind = sk.user_ips.empty() ? UnwindMethod::kNone : u.method;
    sk.unwind_stopped = std::move(u.stopped);
  } else if (stack_bytes == 0) {
    sk.unwind_stopped = "stack copy dropped: cgscope fell behind (counted)";
  }
  if (sk.user_ips.empty()) sk.user_error = PROFILE_STACK_NONE;
  if (rec->kernel_stack_bytes > 0) {
    const std::size_t n = std::min<std::size_t>(rec->kernel_stack_bytes / 8, PROFILE_MAX_STACK_DEPTH);
    for (std::size_t i = 0; i < n && rec->kernel_ips[i]; ++i) sk.kernel_ips.push_back(rec->kernel_ips[i]);
  } else {
    sk.kernel_error = rec->kernel_stack_bytes < 0 ? rec->kernel_stack_bytes : -14 /* EFAULT */;
  }
  merged_[std::move(sk)].count += 1;
}

Status Profiler::read_set(int counts_fd, int stacks_fd, bool off_cpu, bool clear) {
  std::unordered_map<std::int32_t, std::vector<std::uint64_t>> stack_cache;
  std::vector<std::uint64_t> ips(PROFILE_MAX_STACK_DEPTH);
  auto stack_of = [&](std::int32_t id) -> const std::vector<std::uint64_t>* {
    if (id < 0) return nullptr;
    auto [it, inserted] = stack_cache.try_emplace(id);
    if (inserted && bpf_map_lookup_elem(stacks_fd, &id, ips.data()) == 0) {
      for (std::uint64_t ip : ips) {
        if (!ip) break;
        it->second.push_back(ip);
      }
    }
    return &it->second;
  };

  std::vector<profile_key> keys;
  profile_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const profile_key& k : keys) {
    Totals add;
    if (off_cpu) {
      profile_off_cpu_value v{};
      if (bpf_map_lookup_elem(counts_fd, &k, &v) != 0) continue;
      add = {v.count, v.total_ns};
    } else {
      std::uint64_t n = 0;
      if (bpf_map_lookup_elem(counts_fd, &k, &n) != 0) continue;
      add.count = n;
    }
    StackKey sk{k.cgroup_id, k.tgid, k.instance, std::string(k.comm, strnlen(k.comm, sizeof(k.comm))),
                {},          {},     0,          0,
                UnwindMethod::kFramePointers, {}};
    if (const auto* st = stack_of(k.user_stack_id))
      sk.user_ips = *st;
    else
      sk.user_error = k.user_stack_id;
    if (sk.user_ips.empty()) sk.unwind = UnwindMethod::kNone;
    if (const auto* st = stack_of(k.kernel_stack_id))
      sk.kernel_ips = *st;
    else
      sk.kernel_error = k.kernel_stack_id;
    Totals& t = merged_[std::move(sk)];
    t.count += add.count;
    t.off_cpu_ns += add.off_cpu_ns;
  }
  if (!clear) return {};
  // Empty the set for its next turn: every key, and every stack (also those of samples whose
  // key found the count map full, which no key refers to).
  for (const profile_key& k : keys) bpf_map_delete_elem(counts_fd, &k);
  std::vector<std::uint32_t> ids;
  std::uint32_t id = 0, next_id = 0;
  const void* prev_id = nullptr;
  while (bpf_map_get_next_key(stacks_fd, prev_id, &next_id) == 0) {
    ids.push_back(next_id);
    id = next_id;
    prev_id = &id;
  }
  for (std::uint32_t sid : ids) bpf_map_delete_elem(stacks_fd, &sid);
  return {};
}

Status Profiler::drain() {
  if (options_.mode != ProfileMode::kOnCpu || stopped_) return {};
  const std::uint32_t old_set = active_set_;
  active_set_ ^= 1;
  skel_->bss->active_set = active_set_;
  // Programs run with preemption disabled: once an RCU grace period has passed, none that
  // read the old set number is still running. membarrier(GLOBAL) waits for exactly that.
  if (syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0) != 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // nohz_full kernels refuse it
  const int counts = bpf_map__fd(old_set ? skel_->maps.on_cpu_counts1 : skel_->maps.on_cpu_counts0);
  const int stacks = bpf_map__fd(old_set ? skel_->maps.stacks1 : skel_->maps.stacks0);
  return read_set(counts, stacks, false, true);
}

Result<std::vector<RawStack>> Profiler::stop(const std::function<void(const ProcessEvent&)>& on_process) {
  if (stopped_) return Error{"profiler: stop() called twice"};
  detach();  // from here on the maps do not change
  stop_reader();
  if (samples_) ring_buffer__consume(samples_);  // the last copies, into pending_
  unwind_pending(on_process);                    // reads the last process events too
  if (options_.mode == ProfileMode::kOnCpu) {
    for (std::uint32_t set : {0u, 1u}) {
      auto s = read_set(bpf_map__fd(set ? skel_->maps.on_cpu_counts1 : skel_->maps.on_cpu_counts0),
                        bpf_map__fd(set ? skel_->maps.stacks1 : skel_->maps.stacks0), false, false);
      if (!s) return Error{s.error()};
    }
  } else {
    auto s = read_set(bpf_map__fd(skel_->maps.off_cpu_time), bpf_map__fd(skel_->maps.stacks0), true, false);
    if (!s) return Error{s.error()};
  }
  stopped_ = true;

  std::vector<RawStack> out;
  out.reserve(merged_.size());
  for (auto& [k, t] : merged_) {
    RawStack r;
    r.cgroup_id = k.cgroup_id;
    r.tgid = k.tgid;
    r.instance = k.instance;
    r.comm = k.comm;
    r.user_ips = k.user_ips;
    r.kernel_ips = k.kernel_ips;
    r.user_stack_error = k.user_error;
    r.kernel_stack_error = k.kernel_error;
    r.count = t.count;
    r.off_cpu_ns = t.off_cpu_ns;
    r.unwind = k.unwind;
    r.unwind_stopped = k.unwind_stopped;
    out.push_back(std::move(r));
  }
  merged_.clear();
  return out;
}

ProfilerStats Profiler::stats() const {
  ProfilerStats st;
  std::uint64_t v[PROFILE_STAT_NR] = {};
  for (std::uint32_t i = 0; i < PROFILE_STAT_NR; ++i) v[i] = sum_percpu_u64(bpf_map__fd(skel_->maps.stats), i);
  st.samples = v[PROFILE_STAT_SAMPLES];
  st.filtered = v[PROFILE_STAT_FILTERED];
  st.recorded = v[PROFILE_STAT_RECORDED];
  st.count_map_full = v[PROFILE_STAT_COUNT_MAP_FULL];
  st.user_stack_collisions = v[PROFILE_STAT_USER_STACK_COLLISION];
  st.user_stack_map_full = v[PROFILE_STAT_USER_STACK_FULL];
  st.user_stack_errors = v[PROFILE_STAT_USER_STACK_ERROR];
  st.kernel_stack_collisions = v[PROFILE_STAT_KERNEL_STACK_COLLISION];
  st.kernel_stack_map_full = v[PROFILE_STAT_KERNEL_STACK_FULL];
  st.kernel_stack_errors = v[PROFILE_STAT_KERNEL_STACK_ERROR];
  st.process_events_lost = v[PROFILE_STAT_PROC_EVENT_LOST];
  st.off_cpu_blocks = v[PROFILE_STAT_OFF_CPU_BLOCKS];
  st.off_cpu_short = v[PROFILE_STAT_OFF_CPU_SHORT];
  st.off_cpu_no_storage = v[PROFILE_STAT_OFF_CPU_NO_STORAGE];
  st.stack_copies = v[PROFILE_STAT_STACK_COPIES];
  st.stack_copies_lost = v[PROFILE_STAT_STACK_COPY_LOST];
  st.stack_copies_unreadable = v[PROFILE_STAT_STACK_COPY_UNREADABLE];
  st.stack_copy_bytes = stack_copy_bytes_;
  {
    std::lock_guard lock(pending_mutex_);
    st.stack_copies_dropped = dropped_;
  }
  for (const auto& p : program_stats()) st.kernel_recursion_misses += p.recursion_misses;
  st.cpus_sampled = cpus_sampled_;
  st.cpu_errors = cpu_errors_;
  return st;
}

std::vector<ProgramStats> Profiler::program_stats() const {
  std::vector<ProgramStats> out;
  for (bpf_program* p : {skel_->progs.on_cpu_sample, skel_->progs.off_cpu_switch}) {
    const int fd = bpf_program__fd(p);
    if (fd >= 0) out.push_back(collector::program_stats(fd));
  }
  return out;
}

}  // namespace cgscope::collector
