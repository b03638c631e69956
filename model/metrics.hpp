// The one schema of metrics: every sink (exporter, dashboard, report, docs) reads this table.
// Adding a metric is one entry in model/metrics.cpp plus the code that fills its model field;
// tests/unit/metrics_test.cpp fails when a model field has no entry, or an entry reads nothing.
//
// Each descriptor reads its values with two accessors, which call a MetricVisitor once per row
// (a cgroup, a (cgroup, NFS mount), a (cgroup, RPC procedure), a mount, a collector, ...):
//   sample:   from one Sample. Counters: the cumulative value in base units (seconds, bytes) —
//             what a Prometheus counter exports; gauges: the value; histograms: the cumulative
//             buckets and sum.
//   interval: from one Snapshot (derive(prev, curr)). Counters: the increase in the interval, in
//             base units (per_second() turns it into a rate); gauges: the value at the end of the
//             interval; histograms: the interval's buckets and sum.
// An accessor is null where the model has no such value. Rows the model holds are visited;
// zero slots of fixed arrays (NFS operations and their error classes) and mountstats procedures
// never used are left out, as are rows of an interval with no activity. Two rows of one metric
// may carry the same cgroup and label values: NFS rows of two superblocks mounted on the same
// mount point (a remount) while the old one's counters are still read. Sum them.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "model/histogram.hpp"

namespace cgscope::model {

struct Sample;
struct Snapshot;

enum class MetricKind { kCounter, kGauge, kHistogram };
// Whose rows: a cgroup's (the exporter adds the cgroup's identity labels, found by its id) or the
// host's (mounts, collectors).
enum class MetricScope { kCgroup, kHost };

std::string_view to_string(MetricKind kind);
std::string_view to_string(MetricScope scope);

inline constexpr std::size_t kMaxMetricLabels = 10;

// The labels of a metric beyond the cgroup's identity, in the order accessors give their values.
class MetricLabels {
 public:
  constexpr MetricLabels() = default;
  template <class... Names>
    requires(std::convertible_to<Names, std::string_view> && ...)
  constexpr MetricLabels(Names... names) : names_{std::string_view(names)...}, size_(sizeof...(names)) {
    static_assert(sizeof...(Names) <= kMaxMetricLabels, "raise kMaxMetricLabels");
  }
  constexpr std::span<const std::string_view> names() const { return {names_.data(), size_}; }
  constexpr std::size_t size() const { return size_; }

 private:
  std::array<std::string_view, kMaxMetricLabels> names_{};
  std::size_t size_ = 0;
};

// Where a value belongs.
struct MetricRow {
  std::optional<std::uint64_t> cgroup_id;    // MetricScope::kCgroup: the cgroup v2 id; kHost: none
  std::span<const std::string_view> labels;  // values of the descriptor's labels, in its order
};

// One row of a histogram: the model's log2 buckets with the factor that turns their unit into
// the metric's base unit.
struct MetricHistogram {
  const Log2Histogram& buckets;  // bucket i holds values in [2^i, 2^(i+1)) of the model's unit
  double scale;                  // base units per model unit: 1e-9 for ns, 1e-6 for us
  std::optional<double> sum;     // of the values, in base units, where the model keeps it
  // Exclusive upper bound of bucket i in base units (Prometheus `le`); +Inf for the last.
  double upper_bound(std::size_t bucket) const;
};

// Receives the rows of one descriptor. Label values and histograms are valid during the call only.
class MetricVisitor {
 public:
  virtual void value(const MetricRow& row, double value) = 0;  // counters and gauges
  virtual void histogram(const MetricRow& row, const MetricHistogram& histogram) = 0;

 protected:
  ~MetricVisitor() = default;
};

using SampleAccessor = void (*)(const Sample&, MetricVisitor&);
using IntervalAccessor = void (*)(const Snapshot&, MetricVisitor&);

struct MetricDescriptor {
  std::string_view name;  // Prometheus conventions: cgscope_ prefix, base unit, _total for counters
  MetricKind kind;
  std::string_view unit;  // the name's unit suffix ("seconds", "bytes", "pages", ...); "" for 0/1 gauges
  MetricScope scope;
  MetricLabels labels;         // extra labels beyond the cgroup's
  std::string_view collector;  // who fills it: cpu, io, memory, nfs, cgroupfs, all
  std::string_view help;
  SampleAccessor sample = nullptr;      // null: exists per interval only
  IntervalAccessor interval = nullptr;  // null: the interval (Snapshot) does not keep it
  double histogram_scale = 0;           // histograms: MetricHistogram::scale of every row
};

// Every metric, in the order of docs/metrics.md.
std::span<const MetricDescriptor> metrics();
// nullptr when there is none of that name.
const MetricDescriptor* find_metric(std::string_view name);

// A counter's increase from an interval accessor, per second of that interval (0 for an empty one).
double per_second(double increase, const Snapshot& interval);

}  // namespace cgscope::model
