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
    MetricDescriptor{"cgscope_collector_dropped_total", MetricKind::kCounter, "events", "collector,reason",
                     "all", "Events or cgroups a collector could not record (full map, no memory, ...)."},
};

std::string_view to_string(MetricKind kind);

}  // namespace cgscope::model
