// The one schema of metrics: every sink (exporter, dashboard, report, docs) reads this table.
// Adding a metric is one line here plus the code that fills it.
#pragma once

#include <array>
#include <string_view>

namespace cgscope::model {

enum class MetricKind { kCounter, kGauge, kHistogram };

struct MetricDescriptor {
  std::string_view name;       // Prometheus-style, unit in the name
  MetricKind kind;
  std::string_view unit;       // "seconds", "bytes", "periods", "ratio", ...
  std::string_view labels;     // extra labels beyond the cgroup's, comma-separated
  std::string_view collector;  // who fills it
  std::string_view help;
};

inline constexpr std::array kMetrics = {
    MetricDescriptor{"cgscope_cpu_on_cpu_seconds_total", MetricKind::kCounter, "seconds", "", "cpu",
                     "Time tasks of the cgroup ran on a CPU (eBPF, sched_switch)."},
    MetricDescriptor{"cgscope_cpu_run_delay_seconds", MetricKind::kHistogram, "seconds", "reason", "cpu",
                     "Time runnable tasks waited for a CPU; reason=wakeup (woken -> ran) or "
                     "preempt (preempted -> ran again)."},
    MetricDescriptor{"cgscope_cpu_switches_total", MetricKind::kCounter, "switches", "kind", "cpu",
                     "Context switches out of the CPU; kind=voluntary (blocked) or involuntary "
                     "(preempted while runnable)."},
    MetricDescriptor{"cgscope_cpu_migrations_total", MetricKind::kCounter, "migrations", "", "cpu",
                     "Times a task ran on a different CPU than the last time."},
    MetricDescriptor{"cgscope_cpu_usage_seconds_total", MetricKind::kCounter, "seconds", "", "cgroupfs",
                     "CPU time by the kernel's accounting (cpu.stat usage_usec or cpuacct.usage)."},
    MetricDescriptor{"cgscope_cpu_periods_total", MetricKind::kCounter, "periods", "", "cgroupfs",
                     "CFS bandwidth periods elapsed while the cgroup had runnable tasks."},
    MetricDescriptor{"cgscope_cpu_throttled_periods_total", MetricKind::kCounter, "periods", "", "cgroupfs",
                     "CFS bandwidth periods in which the cgroup was throttled."},
    MetricDescriptor{"cgscope_cpu_throttled_seconds_total", MetricKind::kCounter, "seconds", "", "cgroupfs",
                     "Time the cgroup's tasks were throttled by its CPU quota."},
    MetricDescriptor{"cgscope_cpu_quota_cores", MetricKind::kGauge, "cores", "", "cgroupfs",
                     "CPU quota divided by period (cpu.max / cfs_quota_us); absent when unlimited."},
    MetricDescriptor{"cgscope_cpu_weight", MetricKind::kGauge, "weight", "", "cgroupfs",
                     "cpu.weight (v2, 1-10000) or cpu.shares (v1) converted to the v2 weight scale."},
    MetricDescriptor{"cgscope_cpu_pressure_stalled_seconds_total", MetricKind::kCounter, "seconds", "level",
                     "cgroupfs", "PSI cpu stall time; level=some or full."},
    // I/O
    MetricDescriptor{"cgscope_io_requests_total", MetricKind::kCounter, "requests", "device,op,owner", "io",
                     "Block requests completed, charged to the cgroup that submitted them; owner=task, "
                     "writeback_dirtier or writeback_blkcg (written back by the kernel for the cgroup), or kernel "
                     "(no owner known: the [kernel I/O] bucket)."},
    MetricDescriptor{"cgscope_io_bytes_total", MetricKind::kCounter, "bytes", "device,op,owner", "io",
                     "Bytes of completed block requests; op=read, write, discard, flush or other."},
    MetricDescriptor{"cgscope_io_errors_total", MetricKind::kCounter, "requests", "device,op,owner", "io",
                     "Block requests that completed with an error."},
    MetricDescriptor{"cgscope_io_latency_seconds", MetricKind::kHistogram, "seconds", "device,op", "io",
                     "Block request latency from issue to the device until completion."},
    MetricDescriptor{"cgscope_io_queue_seconds", MetricKind::kHistogram, "seconds", "device,op", "io",
                     "Time from submission (block_io_start) until the request was issued to the device."},
    MetricDescriptor{"cgscope_io_wait_seconds_total", MetricKind::kCounter, "seconds", "", "cpu",
                     "Time tasks of the cgroup were off CPU blocked in I/O wait (in_iowait)."},
    MetricDescriptor{"cgscope_io_dirty_throttle_seconds_total", MetricKind::kCounter, "seconds", "", "io",
                     "Pauses balance_dirty_pages() imposed on writers of the cgroup to let writeback catch up."},
    MetricDescriptor{"cgscope_io_stat_bytes_total", MetricKind::kCounter, "bytes", "device,direction", "cgroupfs",
                     "Bytes by the kernel's accounting (io.stat rbytes/wbytes, or v1 blkio.throttle.io_service_bytes)."},
    MetricDescriptor{"cgscope_io_stat_ios_total", MetricKind::kCounter, "ios", "device,direction", "cgroupfs",
                     "I/Os by the kernel's accounting (io.stat rios/wios, or v1 blkio.throttle.io_serviced)."},
    MetricDescriptor{"cgscope_io_weight", MetricKind::kGauge, "weight", "", "cgroupfs",
                     "Default I/O weight (io.weight, io.bfq.weight or v1 blkio.weight)."},
    MetricDescriptor{"cgscope_io_limit", MetricKind::kGauge, "bytes_or_ios_per_second", "device,kind", "cgroupfs",
                     "I/O limits (io.max or v1 blkio.throttle.*_device); kind=rbps, wbps, riops or wiops."},
    MetricDescriptor{"cgscope_io_pressure_stalled_seconds_total", MetricKind::kCounter, "seconds", "level",
                     "cgroupfs", "PSI io stall time; level=some or full."},
    // Memory
    MetricDescriptor{"cgscope_memory_reclaim_seconds_total", MetricKind::kCounter, "seconds", "kind", "memory",
                     "Time tasks stalled reclaiming memory; kind=direct (the host ran low) or memcg (the "
                     "cgroup's own limit)."},
    MetricDescriptor{"cgscope_memory_reclaim_stalls_total", MetricKind::kCounter, "stalls", "kind", "memory",
                     "Reclaim stalls; kind=direct or memcg."},
    MetricDescriptor{"cgscope_memory_reclaim_stall_seconds", MetricKind::kHistogram, "seconds", "", "memory",
                     "Duration of each reclaim stall."},
    MetricDescriptor{"cgscope_memory_reclaimed_pages_total", MetricKind::kCounter, "pages", "", "memory",
                     "Pages freed by the cgroup's reclaim stalls."},
    MetricDescriptor{"cgscope_memory_page_cache_accessed_pages_total", MetricKind::kCounter, "pages", "",
                     "memory", "Pages read through the page cache (read(2) and file page faults)."},
    MetricDescriptor{"cgscope_memory_page_cache_miss_pages_total", MetricKind::kCounter, "pages", "", "memory",
                     "Pages added to the page cache for the cgroup's reads (misses, readahead included)."},
    MetricDescriptor{"cgscope_memory_page_cache_write_added_pages_total", MetricKind::kCounter, "pages", "",
                     "memory", "Pages added to the page cache by buffered writes (not misses)."},
    MetricDescriptor{"cgscope_memory_file_faults_total", MetricKind::kCounter, "faults", "", "memory",
                     "Page faults on file mappings."},
    MetricDescriptor{"cgscope_memory_oom_kills_total", MetricKind::kCounter, "kills", "", "memory",
                     "Tasks of the cgroup chosen as OOM victims (eBPF, mark_victim)."},
    MetricDescriptor{"cgscope_memory_usage_bytes", MetricKind::kGauge, "bytes", "", "cgroupfs",
                     "memory.current (v2) or memory.usage_in_bytes (v1)."},
    MetricDescriptor{"cgscope_memory_limit_bytes", MetricKind::kGauge, "bytes", "kind", "cgroupfs",
                     "Memory limits; kind=max, high, low, min or swap_max (v1: limit_in_bytes as max, "
                     "soft_limit_in_bytes as low); absent when unlimited."},
    MetricDescriptor{"cgscope_memory_stat_bytes", MetricKind::kGauge, "bytes", "item", "cgroupfs",
                     "memory.stat; item=anon, file, file_dirty, file_writeback or shmem."},
    MetricDescriptor{"cgscope_memory_major_faults_total", MetricKind::kCounter, "faults", "", "cgroupfs",
                     "Major page faults (memory.stat pgmajfault)."},
    MetricDescriptor{"cgscope_memory_refaults_total", MetricKind::kCounter, "pages", "kind", "cgroupfs",
                     "Refaults of recently evicted pages (memory.stat workingset_refault_*); kind=anon or file."},
    MetricDescriptor{"cgscope_memory_events_total", MetricKind::kCounter, "events", "event", "cgroupfs",
                     "memory.events; event=low, high, max, oom or oom_kill (v1: failcnt as max, oom_kill)."},
    MetricDescriptor{"cgscope_memory_pressure_stalled_seconds_total", MetricKind::kCounter, "seconds", "level",
                     "cgroupfs", "PSI memory stall time; level=some or full."},
    MetricDescriptor{"cgscope_collector_dropped_total", MetricKind::kCounter, "events", "collector,reason",
                     "all", "Events or cgroups a collector could not record (full map, no memory, ...)."},
};

std::string_view to_string(MetricKind kind);

}  // namespace cgscope::model
