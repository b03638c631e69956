// The CPU demand sampler: a thread of its own that wakes every slot (100 ms by default) and reads
// the kernel's usage and throttled time of the cgroups that have a CPU quota, and counts each
// slot's demand, (usage + throttled time) / elapsed time in hundredths of a CPU, in a cumulative
// histogram per cgroup (model::CpuDemand). The interval read (Pipeline::sample) copies the
// histograms and tells the sampler which cgroups have a quota now.
//
// Resolution: the kernel adds a throttled stretch to the counter when it ends, at the CFS period
// timer, whose phase against the slots is arbitrary. With slots as long as the period, a slot
// whose edge falls next to an unthrottle may, by scheduling jitter, take two periods' throttled
// time while its neighbour takes none; with periods longer than a slot, throttled time comes in
// lumps of up to a period. The sum over slots (so the mean) stays exact.
//
// Cheap by construction: only the quota'd cgroups are read, one or two small files each, into a
// stack buffer by plain syscalls. The files stay open between slots and are read again with
// pread at offset 0 (kernfs generates them anew): on the development VM open + read + close of a
// cgroup file costs ~12 us, a pread ~2 us. A file whose cgroup was removed then reads ENODEV.
// Beyond a budget of open files (a quarter of RLIMIT_NOFILE, at most 4096) files are opened and
// closed at each slot. A slot allocates nothing once every demand value a cgroup shows has its
// bucket. The thread holds no capability and takes no signal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::collector {

inline constexpr std::chrono::nanoseconds kDefaultDemandSlot = std::chrono::milliseconds(100);
inline constexpr std::chrono::nanoseconds kMinDemandSlot = std::chrono::milliseconds(10);
inline constexpr std::chrono::nanoseconds kMaxDemandSlot = std::chrono::seconds(1);

// Where one cgroup's demand is read, from the hierarchy that holds its quota: v2 cpu.stat
// (usage_usec and throttled_usec in one file) where cgroup2 has the cpu controller; else v1:
// the cpu controller's cpu.stat (throttled_time, ns) and cpuacct.usage (ns).
struct DemandFiles {
  std::string cpu_stat;
  std::string cpuacct_usage;  // "" on v2
  bool v1() const { return !cpuacct_usage.empty(); }
  bool operator==(const DemandFiles&) const = default;
};

struct DemandTarget {
  std::uint64_t id = 0;  // model::CgroupIdentity::id
  DemandFiles files;
};

// ---- The arithmetic of a slot (pure; unit-tested) ----

// The kernel's cumulative counters of one cgroup at one read.
struct DemandReading {
  std::uint64_t at_ns = 0;         // CLOCK_MONOTONIC just after the read
  std::uint64_t usage_ns = 0;      // CPU time used, summed over CPUs
  std::uint64_t throttled_ns = 0;  // time its run queues were throttled, summed over CPUs
};

// Demand between two reads: (usage delta + throttled delta) / the time really elapsed between
// them (not the nominal slot), in hundredths of a CPU rounded down, capped at 100 * nr_cpus.
// nullopt when it cannot be measured: no time elapsed, or a counter went backwards (the cgroup
// was recreated under the same path).
std::optional<std::uint32_t> slot_centi_cpus(const DemandReading& prev, const DemandReading& curr,
                                             int nr_cpus);

// The schedule: a wake-up at now_ns for deadline_ns. Deadlines after deadline_ns that also
// passed were skipped (the sampler was late, or a round took longer than a slot): the one long
// slot is measured as one slot and the skipped ones are counted as missed.
struct Wake {
  std::uint64_t skipped_slots = 0;
  std::uint64_t next_deadline_ns = 0;  // the first deadline after now_ns on the grid
};
Wake after_wake(std::uint64_t deadline_ns, std::uint64_t now_ns, std::uint64_t slot_ns);

// Counts one slot of `centi_cpus` in cumulative buckets sorted by centi_cpus.
void add_slot(std::vector<model::CpuDemandBucket>& buckets, std::uint32_t centi_cpus);

// ---- The sampler ----

struct DemandSamplerOptions {
  std::chrono::nanoseconds slot = kDefaultDemandSlot;  // kMinDemandSlot..kMaxDemandSlot
  int nr_cpus = 1;                                     // the cap of a slot's demand
  std::uint64_t (*clock_ns)() = nullptr;               // CLOCK_MONOTONIC; tests pass a fake one
  // Files kept open between slots; -1: a quarter of RLIMIT_NOFILE's soft limit, at most 4096.
  int max_open_files = -1;
};

class DemandSampler {
 public:
  // Starts the sampling thread. Errors: a slot out of range, a thread that cannot start.
  static Result<std::unique_ptr<DemandSampler>> start(DemandSamplerOptions options);
  // Without a thread: rounds run when read_round() is called (tests drive the clock).
  static Result<std::unique_ptr<DemandSampler>> manual(DemandSamplerOptions options);
  ~DemandSampler();  // stops the thread within 100 ms, closes the files
  DemandSampler(const DemandSampler&) = delete;
  DemandSampler& operator=(const DemandSampler&) = delete;

  // At each interval read: copies the cumulative demand of the cgroups sampled so far into
  // their samples (slot_ns set), then makes `targets` (the cgroups that have a quota now) the
  // set to sample. A cgroup new to the set starts with its first read (no slot); one that left
  // it is forgotten, its counts with it. Copy first: a cgroup whose quota was just removed still
  // reports the slots measured since the previous interval.
  void exchange(std::vector<model::CgroupSample>& cgroups, std::vector<DemandTarget> targets);

  // One round of reads, after `skipped_slots` skipped deadlines (see after_wake); each read is
  // stamped with the clock just after it. A file that cannot be read or parsed takes the cgroup
  // out of the set until the next exchange, its slots counted as missed meanwhile.
  void read_round(std::uint64_t skipped_slots);

  std::chrono::nanoseconds slot() const { return options_.slot; }
  std::size_t sampled() const;     // cgroups in the set
  std::size_t open_files() const;  // files kept open between slots
  // Reads that failed other than by the cgroup vanishing (cumulative), and the last message.
  std::uint64_t read_errors() const;
  std::string last_error() const;

 private:
  struct Entry {
    std::uint64_t id = 0;
    DemandFiles files;
    int stat_fd = -1, usage_fd = -1;  // kept open between slots (within the budget)
    bool reading = true;              // false after a failed read: out of the set until the next exchange
    bool have_prev = false;
    bool gap = false;    // slots were missed since the last read (a failed read): count the next base
    ino_t stat_ino = 0;  // of cpu_stat when opened: another inode is another cgroup
    DemandReading prev;
    std::vector<model::CpuDemandBucket> buckets;  // cumulative
    std::uint64_t missed_slots = 0;               // cumulative
  };
  struct Failure {
    bool vanished = false;  // the cgroup is gone (or was recreated): normal, not an error
    std::string message;
  };

  DemandSampler(DemandSamplerOptions options, int max_open_files)
      : options_(options), max_open_files_(max_open_files) {}
  void run(const std::stop_token& stop);
  // Reads one cgroup's counters; false with the reason on failure. Allocates only then.
  bool read(Entry& e, DemandReading& out, Failure& failure);
  // Reads a counter file whole into buf through `fd`, opening it first when closed (and keeping
  // it open while the budget allows): its length, or -1 with errno set. `opened_ino` receives
  // the inode when the file was opened now, 0 when read through a kept fd.
  ssize_t read_counter(const std::string& path, int& fd, char* buf, std::size_t size, ino_t& opened_ino);
  void close_files(Entry& e);

  const DemandSamplerOptions options_;
  const int max_open_files_;
  mutable std::mutex mutex_;    // guards everything below (the thread holds it for a round)
  std::vector<Entry> entries_;  // sorted by id
  int open_files_ = 0;
  std::uint64_t read_errors_ = 0;
  std::string last_error_;
  std::jthread thread_;  // stopped and joined first thing in the destructor
};

}  // namespace cgscope::collector
