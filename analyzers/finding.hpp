// What the analyzers conclude: findings with their evidence and exact advice, and the lost-time
// budget every front-end shows. Plain data; produced by analyzers/analyze.hpp from a Window.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/cgroup_identity.hpp"

namespace cgscope::analyzers {

enum class Severity : std::uint8_t { kInfo, kWarning, kCritical };
std::string_view to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

// How much data supports a finding (docs/analyzers.md "Confidence").
enum class Confidence : std::uint8_t { kLow, kMedium, kHigh };
std::string_view to_string(Confidence c);

// Where a cgroup's tasks lost time besides running: the causes of the budget.
enum class Cause : std::uint8_t {
  kThrottled,       // its own CPU quota (cpu.stat throttled time)
  kRunDelayOwn,     // waiting for a CPU behind its own tasks, or on a CPU nobody else held
  kRunDelayOthers,  // waiting for a CPU behind other cgroups' tasks
  kIoWait,          // blocked in block I/O
  kDirtyThrottle,   // paused by balance_dirty_pages
  kReclaim,         // stalled in reclaim
  kNfsStall,        // waiting in NFS client operations
  kNone,            // a finding that explains no lost time (e.g. an oversized quota)
};
inline constexpr std::size_t kCauseCount = 7;
std::string_view to_string(Cause c);  // snake_case: "run_delay_others"
std::string_view label(Cause c);      // short column header: "RQ OTHERS"

// How a cgroup is managed, i.e. which command changes a knob of it. A finding lists the
// commands of every way that applies, the ones for this cgroup's manager first.
enum class Manager : std::uint8_t {
  kCgroupV2,    // write the file in the unified hierarchy
  kCgroupV1,    // write the file of the v1 controller
  kSystemd,     // systemctl set-property
  kDocker,      // docker update
  kPodman,      // podman update
  kKubernetes,  // the pod spec (resources, PersistentVolume mountOptions, Service)
  kHost,        // sysctl / mount: host-wide
};
std::string_view to_string(Manager m);

struct Command {
  Manager manager = Manager::kCgroupV2;
  bool preferred = false;  // the way this cgroup is managed: a change elsewhere is overwritten
  std::string text;        // copy-paste ready (several lines for YAML)
  std::string note;        // caveat, e.g. "persists until the container restarts"
};

struct Recommendation {
  std::string knob;               // "cpu.max", "memory.high", "vm.dirty_bytes", "lookupcache"
  std::string target;             // the cgroup, mount or host it applies to (display name)
  std::string current;            // as the kernel shows it ("20000 100000", "max", "all")
  std::string suggested;          // in the same form
  std::string derivation;         // how the value follows from the measurements
  std::string effect;             // what should change
  std::string risk;               // what can go wrong
  std::vector<Command> commands;  // preferred first
};

// One number a finding rests on, for the text, JSON and thresholds in tests.
struct Evidence {
  std::string name;  // snake_case with unit: "throttled_seconds", "demand_p95_cpus"
  double value = 0;
  std::string text;  // "throttled in 97% of 600 periods"
};

struct Finding {
  std::string rule;  // "cpu-throttling", "nfs-stale-negative-lookup", ...
  Severity severity = Severity::kInfo;
  Confidence confidence = Confidence::kLow;
  std::string confidence_basis;  // "60 intervals, 600 demand slots"
  std::uint64_t cgroup_id = 0;   // 0: host-wide
  model::CgroupIdentity identity;
  std::string title;    // one line
  std::string summary;  // the evidence as a sentence, with the window and thresholds
  std::vector<Evidence> evidence;
  std::string cause;  // the likely cause
  Cause explains = Cause::kNone;
  double lost_seconds = 0;             // the lost time the finding explains (its rank)
  double lost_fraction = 0;            // lost_seconds / the wall time it was present (host-wide: the range's)
  std::vector<std::uint64_t> related;  // other cgroups it names (neighbours, creators, writers)
  std::vector<Recommendation> recommendations;
  // The intervals in which its condition held (findings de-duplicate across intervals).
  std::uint64_t first_index = 0, last_index = 0;
  std::int64_t first_realtime_ns = 0, last_realtime_ns = 0;
  std::uint32_t intervals = 0;  // in which the condition held
  // A stable key: rule + cgroup + what else identifies it (mount, neighbour): diff matches by it.
  std::string key;
};

// A cgroup's lost time over a range, seconds (wall time it was present: `wall_seconds`).
struct CgroupBudget {
  std::uint64_t cgroup_id = 0;
  model::CgroupIdentity identity;
  double wall_seconds = 0;
  double cpu_seconds = 0;  // on-CPU time
  double lost[kCauseCount] = {};
  bool measured[kCauseCount] = {};  // false: no collector measured it (shown as "-")
  // Run delay that the holder split could not name (no blame data: older recordings, no eBPF).
  double run_delay_unsplit = 0;
  struct Neighbour {
    std::uint64_t cgroup_id = 0;     // holder of the CPU
    model::CgroupIdentity identity;  // empty path when it is not in the window
    double seconds = 0;
  };
  std::vector<Neighbour> neighbours;  // behind whom it waited, most first
  double total() const;
  double operator[](Cause c) const { return lost[static_cast<std::size_t>(c)]; }
};

}  // namespace cgscope::analyzers
