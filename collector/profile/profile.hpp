// eBPF profiler: on-CPU stack samples (perf_event, one event per CPU) or off-CPU time by
// blocking stack (sched_switch), per cgroup, aggregated in the kernel. Produces raw stacks
// (addresses); collector/profile/symbolize turns them into a model::Profile.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/bpf_util.hpp"
#include "model/result.hpp"

struct profile_bpf;  // generated skeleton
struct bpf_link;
struct ring_buffer;

namespace cgscope::collector {

enum class ProfileMode { kOnCpu, kOffCpu };
// What drives on-CPU samples: cpu-clock (a software timer, works everywhere), cycles (needs
// a hardware PMU), or auto: cycles where the machine has a PMU, else cpu-clock.
enum class SampleEvent { kAuto, kCpuClock, kCycles };
std::string_view to_string(SampleEvent event);
// How on-CPU user stacks are walked: by frame pointers in the kernel (cheap, but stops at the
// first function built without them), or from a copy of the stack and registers that user
// space unwinds with the binaries' CFI (.eh_frame), joined with frame pointers where code has
// no CFI (JIT code). Off-CPU stacks always use frame pointers.
enum class UnwindMode { kFramePointers, kDwarf };
std::string_view to_string(UnwindMode mode);

struct ProfilerOptions {
  ProfileMode mode = ProfileMode::kOnCpu;
  SampleEvent event = SampleEvent::kCpuClock;
  std::uint32_t frequency_hz = 49;  // per CPU
  // Only these cgroups (v2 ids) and their descendants; empty = every cgroup.
  bool filter_cgroups = false;
  std::vector<std::uint64_t> cgroup_ids;
  std::uint32_t max_filter_cgroups = 1024;
  // Map sizes, per set (on-CPU keeps two sets and drains one per interval, see drain();
  // off-CPU keeps one set for the whole run, with twice the stack entries).
  // Stacks: 127 frames x 8 bytes each (2 x 8192: ~17 MB of kernel memory); keys: ~100 bytes
  // each. A full or colliding stack map loses stacks, a full key map loses samples: both are
  // counted (ProfilerStats).
  std::uint32_t stack_map_entries = 8192;
  std::uint32_t count_map_entries = 16384;
  std::uint32_t max_processes = 16384;
  std::uint64_t off_cpu_min_ns = 0;  // shorter blocks are counted but not recorded
  UnwindMode unwind = UnwindMode::kFramePointers;
  // --unwind dwarf: user stack bytes copied per sample (up to PROFILE_MAX_STACK_COPY, 32 KiB)
  // and the ring buffer that carries the copies to user space (a power of two, or 0: 512 KiB
  // per CPU, at least 1 MiB). User space reads it every 100 ms and when it is half full; a
  // full buffer makes a sample fall back to frame pointers, counted. Its pages count twice in
  // the process's RSS (the kernel maps the data area twice).
  std::uint32_t stack_copy_bytes = 16384;
  std::uint32_t stack_ring_bytes = 0;
  // false: no reader thread; the copies are read by poll() and stop() only, so that a full
  // ring buffer (and the fallback it causes) can be provoked. For tests.
  bool read_stack_copies_in_background = true;
};

// How a user stack was walked (per sample).
enum class UnwindMethod : std::uint8_t {
  kFramePointers,  // in the kernel
  kDwarf,          // every frame from CFI
  kDwarfAndFp,     // CFI, and frame pointers for code without CFI (JIT code)
  kNone,           // no user stack
};
std::string_view to_string(UnwindMethod method);

// One on-CPU sample with its user registers and a copy of the top of its user stack
// (--unwind dwarf), handed to the Unwinder.
struct StackSample {
  std::uint64_t cgroup_id = 0;
  std::uint32_t tgid = 0, instance = 0;
  const std::uint64_t* regs = nullptr;  // PROFILE_USER_REGS, DWARF order (rip = regs[16])
  const std::uint8_t* stack = nullptr;  // bytes from regs[7] (rsp) upwards
  std::size_t stack_bytes = 0;
};
struct UnwoundStack {
  std::vector<std::uint64_t> ips;  // leaf first
  UnwindMethod method = UnwindMethod::kDwarf;
  std::string stopped;  // why the unwind stopped before the thread's first frame, and where; "" = complete
};
using Unwinder = std::function<UnwoundStack(const StackSample&)>;

// One aggregated key, with its stacks already read from the stack map.
struct RawStack {
  std::uint64_t cgroup_id = 0;
  std::uint32_t tgid = 0;
  std::uint32_t instance = 0;  // address space of tgid (see ProcessEvent); 0 = kernel thread
  std::string comm;
  std::vector<std::uint64_t> user_ips;    // leaf first
  std::vector<std::uint64_t> kernel_ips;  // leaf first
  std::int32_t user_stack_error = 0;      // 0, or why the user stack is missing (-errno, -2 none)
  std::int32_t kernel_stack_error = 0;
  std::uint64_t count = 0;       // on-CPU samples, or off-CPU blocks
  std::uint64_t off_cpu_ns = 0;  // off-CPU mode: time blocked
  UnwindMethod unwind = UnwindMethod::kFramePointers;  // how user_ips were found
  std::string unwind_stopped;  // --unwind dwarf: why user_ips stop short ("" = complete or fp)
};

struct ProfilerStats {
  std::uint64_t samples = 0;   // on-CPU samples taken of non-idle tasks
  std::uint64_t filtered = 0;  // of cgroups not asked for
  std::uint64_t recorded = 0;
  std::uint64_t count_map_full = 0;  // lost samples
  std::uint64_t user_stack_collisions = 0, user_stack_map_full = 0, user_stack_errors = 0;
  std::uint64_t kernel_stack_collisions = 0, kernel_stack_map_full = 0, kernel_stack_errors = 0;
  std::uint64_t process_events_lost = 0;
  std::uint64_t off_cpu_blocks = 0, off_cpu_short = 0, off_cpu_no_storage = 0;
  // --unwind dwarf: samples sent with a stack copy, and those that fell back to frame
  // pointers because the ring buffer was full or the user stack was unreadable.
  std::uint64_t stack_copies = 0, stack_copies_lost = 0, stack_copies_unreadable = 0;
  std::uint64_t stack_copy_bytes = 0;  // bytes of stack received
  // Stack copies cgscope received but had no room to keep until they were unwound (it fell
  // behind by more than the pending limit): their samples keep only the kernel stack.
  std::uint64_t stack_copies_dropped = 0;
  std::uint64_t kernel_recursion_misses = 0;  // program runs the kernel skipped (nesting)
  std::uint32_t cpus_sampled = 0;
  std::vector<std::string> cpu_errors;  // CPUs whose perf event could not be opened, and why
};

// A process (or a new address space of one: exec, pid reuse) seen for the first time.
struct ProcessEvent {
  std::uint32_t tgid = 0;
  std::uint32_t instance = 0;
};

class Profiler {
 public:
  static Result<std::unique_ptr<Profiler>> create(const ProfilerOptions& options);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Waits up to timeout_ms for new processes and hands each to `on_process` (called on this
  // thread). Call it often (every 100 ms or so) while profiling: a process that exits before
  // its event is handled can no longer be symbolized.
  Status poll(int timeout_ms, const std::function<void(const ProcessEvent&)>& on_process);
  // --unwind dwarf: turns each sample's stack copy into a user stack; called on the thread of
  // poll(), drain() and stop(). Without it such samples keep only their kernel stack.
  void set_unwinder(Unwinder unwinder) { unwinder_ = std::move(unwinder); }
  // Replaces the cgroup filter (a cgroup created after start that matches the user's pattern).
  Status set_cgroup_filter(const std::vector<std::uint64_t>& cgroup_ids);

  // On-CPU: switches samples to the other map set, waits until no program still writes the
  // old one, reads it (counts and stacks, merged into what earlier drains read) and empties
  // it. Call every second or so: a set then only holds one interval's distinct stacks, which
  // keeps stack map collisions rare in long profiles. Off-CPU: nothing to do.
  Status drain();

  // Detaches every program (nothing is counted afterwards), hands the last process events to
  // `on_process`, and returns everything recorded. Call once.
  Result<std::vector<RawStack>> stop(const std::function<void(const ProcessEvent&)>& on_process);

  ProfilerStats stats() const;
  std::vector<ProgramStats> program_stats() const;
  const ProfilerOptions& options() const { return options_; }
  SampleEvent event() const { return event_; }  // what on-CPU samples actually use
  std::uint64_t period_ns() const { return 1'000'000'000ULL / options_.frequency_hz; }

 private:
  Profiler(profile_bpf* skel, ProfilerOptions options);
  Status attach_perf_events();
  void detach();
  // Reads (and with `clear`, empties) one count map and its stack map into merged_.
  Status read_set(int counts_fd, int stacks_fd, bool off_cpu, bool clear);
  static int queue_stack_sample(void* ctx, void* data, std::size_t size);
  // Unwinds the stack copies the reader thread queued (their processes already announced).
  void unwind_pending(const std::function<void(const ProcessEvent&)>& on_process);
  void unwind_record(const std::uint8_t* data, std::size_t size);
  void stop_reader();

  // Stacks read so far, by content (stack ids are only meaningful within one set and interval).
  struct StackKey {
    std::uint64_t cgroup_id;
    std::uint32_t tgid, instance;
    std::string comm;
    std::vector<std::uint64_t> user_ips, kernel_ips;
    std::int32_t user_error, kernel_error;
    UnwindMethod unwind;
    std::string unwind_stopped;
    bool operator==(const StackKey&) const = default;
  };
  struct StackKeyHash {
    std::size_t operator()(const StackKey& k) const;
  };
  struct Totals {
    std::uint64_t count = 0, off_cpu_ns = 0;
  };

  profile_bpf* skel_;
  ProfilerOptions options_;
  SampleEvent event_ = SampleEvent::kCpuClock;
  std::vector<bpf_link*> links_;
  ring_buffer* events_ = nullptr;   // process events (read by poll() and stop())
  ring_buffer* samples_ = nullptr;  // --unwind dwarf: stack copies (read by reader_)
  // The stack copies are read by a thread of their own, so that they keep flowing out of the
  // ring buffer while this thread opens the binaries of a new process (hundreds of ms for a
  // large one): records wait in pending_ (bounded) until poll() unwinds them.
  std::jthread reader_;
  mutable std::mutex pending_mutex_;
  std::vector<std::uint8_t> pending_;  // records, each preceded by its size (std::uint32_t)
  std::uint64_t dropped_ = 0;          // under pending_mutex_
  Unwinder unwinder_;
  std::uint64_t stack_copy_bytes_ = 0;
  const std::function<void(const ProcessEvent&)>* on_process_ = nullptr;  // during poll()
  std::vector<std::string> cpu_errors_;
  std::vector<std::uint64_t> filter_ids_;
  std::unordered_map<StackKey, Totals, StackKeyHash> merged_;
  std::uint32_t active_set_ = 0;
  std::uint32_t cpus_sampled_ = 0;
  bool stopped_ = false;
};

// True when perf_event_open() accepts a hardware cycles event on this machine; otherwise
// `why` says what failed (errno text).
bool hardware_pmu_available(std::string* why);

}  // namespace cgscope::collector
