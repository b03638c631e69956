// Block I/O and writeback of one cgroup: raw cumulative counters (what the I/O collector and
// cgroupfs read) and one derived interval.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/histogram.hpp"
#include "model/pressure.hpp"

namespace cgscope::model {

enum class IoOp : std::uint8_t { kRead, kWrite, kDiscard, kFlush, kOther };
// How the I/O was charged to the cgroup: submitted by its task; writeback by a kernel thread
// charged to the cgroup that dirtied the inode (cgscope's map, or the kernel's blkcg);
// kernel: no owner known (cgroup id 0, the visible "kernel" bucket).
enum class IoOwner : std::uint8_t { kTask, kDirtier, kBlkcg, kKernel };
std::string_view to_string(IoOp op);
std::string_view to_string(IoOwner owner);

// Kernel dev_t (major << 20 | minor) <-> "major:minor".
std::string dev_name(std::uint32_t dev);
inline std::uint32_t make_dev(std::uint32_t major, std::uint32_t minor) { return major << 20 | minor; }

// One (disk, op, owner) of a cgroup, from eBPF; cumulative.
struct BlockIoCounters {
  std::uint32_t dev = 0;
  IoOp op = IoOp::kRead;
  IoOwner owner = IoOwner::kTask;
  std::uint64_t requests = 0;
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  std::uint64_t latency_ns_sum = 0;  // issue -> complete
  std::uint64_t queue_ns_sum = 0;    // submit -> issue, over `queued` requests
  std::uint64_t queued = 0;
  Log2Histogram latency_ns;
  Log2Histogram queue_ns;
  bool operator==(const BlockIoCounters&) const = default;
};

struct IoBpfCounters {
  std::vector<BlockIoCounters> block;       // sorted by (dev, op, owner)
  std::uint64_t dirty_throttle_ns = 0;      // balance_dirty_pages pauses
  std::uint64_t dirty_throttle_count = 0;
  bool operator==(const IoBpfCounters&) const = default;
};

// One disk of v2 io.stat (or v1 blkio.throttle.io_service_bytes / io_serviced); cumulative.
struct IoStatDevice {
  std::uint32_t dev = 0;
  std::uint64_t rbytes = 0, wbytes = 0, rios = 0, wios = 0, dbytes = 0, dios = 0;
  bool operator==(const IoStatDevice&) const = default;
};

// Current knob values. Limits: nullopt = unlimited ("max").
struct IoDeviceLimit {
  std::uint32_t dev = 0;
  std::optional<std::uint64_t> rbps, wbps, riops, wiops;
  bool operator==(const IoDeviceLimit&) const = default;
};
struct IoKnobs {
  std::optional<std::uint64_t> weight;  // v2 io.weight / io.bfq.weight default; v1 blkio(.bfq).weight
  std::string weight_file;              // which file it came from (the command to change it)
  std::vector<IoDeviceLimit> limits;    // v2 io.max; v1 blkio.throttle.*_device
  bool operator==(const IoKnobs&) const = default;
};

// One (disk, op, owner) over one interval.
struct BlockIoInterval {
  std::uint32_t dev = 0;
  IoOp op = IoOp::kRead;
  IoOwner owner = IoOwner::kTask;
  std::uint64_t requests = 0, bytes = 0, errors = 0, latency_ns_sum = 0, queue_ns_sum = 0, queued = 0;
  Log2Histogram latency_ns, queue_ns;
};

struct IoInterval {
  bool has_bpf = false;
  std::vector<BlockIoInterval> block;  // rows with activity in this interval
  // Totals over disks (eBPF).
  std::uint64_t read_bytes = 0, write_bytes = 0, read_ios = 0, write_ios = 0;
  std::uint64_t discard_ios = 0, flush_ios = 0, errors = 0;
  std::uint64_t writeback_bytes = 0;  // written by kernel threads on the cgroup's behalf
  Log2Histogram read_latency_ns, write_latency_ns, queue_ns;
  std::uint64_t dirty_throttle_ns = 0, dirty_throttle_count = 0;
  // Off-CPU in I/O wait (from the scheduler, CPU collector).
  bool has_iowait = false;
  std::uint64_t iowait_ns = 0, iowait_count = 0;
  // cgroupfs
  std::vector<IoStatDevice> stat;  // deltas per disk
  std::optional<std::uint64_t> stat_rbytes, stat_wbytes, stat_rios, stat_wios;  // totals
  IoKnobs knobs;
  Pressure pressure;
  std::optional<std::uint64_t> pressure_some_usec, pressure_full_usec;  // stall in the interval
};

// Deltas of the eBPF counters (prev may be null: new cgroup or first sight).
void derive_io_bpf(const IoBpfCounters* prev, const IoBpfCounters& curr, IoInterval& out);
void derive_io_cgroupfs(const std::vector<IoStatDevice>* prev, const std::vector<IoStatDevice>& curr,
                        IoInterval& out);

}  // namespace cgscope::model
