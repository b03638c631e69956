#include "model/json.hpp"

namespace cgscope::model {
namespace {

template <typename T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json psi_json(const std::optional<PsiLine>& line) {
  if (!line) return nullptr;
  return {{"avg10", line->avg10}, {"avg60", line->avg60}, {"avg300", line->avg300},
          {"total_usec", line->total_usec}};
}

}  // namespace

nlohmann::json histogram_summary(const Log2Histogram& h) {
  nlohmann::json buckets = nlohmann::json::object();
  for (std::size_t i = 0; i < kLog2Buckets; ++i)
    if (h.buckets()[i]) buckets[std::to_string(Log2Histogram::bucket_lower(i))] = h.buckets()[i];
  return {{"count", h.count()},          {"p50_ns", h.percentile(0.50)},
          {"p90_ns", h.percentile(0.90)}, {"p99_ns", h.percentile(0.99)},
          {"max_ns", h.max()},            {"buckets", std::move(buckets)}};
}

nlohmann::json to_json(const CgroupIdentity& id) {
  const auto& c = id.container;
  return {{"id", id.id},
          {"path", id.path},
          {"name", id.display_name()},
          {"runtime", to_string(c.runtime)},
          {"container_id", c.container_id},
          {"pod_uid", c.pod_uid},
          {"qos_class", to_string(c.qos)},
          {"systemd_unit", c.systemd_unit},
          {"systemd_slice", c.systemd_slice},
          {"v1_cpu_path", id.v1_cpu_path},
          {"v1_cpuacct_path", id.v1_cpuacct_path}};
}

nlohmann::json to_json(const CollectorStatus& st) {
  return {{"name", st.name}, {"active", st.active}, {"message", st.message}, {"drops", st.drops}};
}

nlohmann::json to_json(const CgroupInterval& cg) {
  nlohmann::json j = to_json(cg.identity);
  j["new"] = cg.is_new;
  j["removed"] = cg.removed;
  if (cg.has_bpf) {
    nlohmann::json run = histogram_summary(cg.run_delay_ns);
    run["sum_ns"] = cg.run_delay_ns_sum;
    j["bpf"] = {{"cpu_percent", cg.cpu_percent},
                {"on_cpu_ns", cg.on_cpu_ns},
                {"voluntary_switches", cg.voluntary_switches},
                {"involuntary_switches", cg.involuntary_switches},
                {"migrations", cg.migrations},
                {"run_delay", std::move(run)},
                {"wakeup_delay", histogram_summary(cg.wakeup_delay_ns)},
                {"preempt_delay", histogram_summary(cg.preempt_delay_ns)}};
  } else {
    j["bpf"] = nullptr;
  }
  j["cgroupfs"] = {{"cpu_percent", opt(cg.cpu_percent_cgroupfs)},
                   {"usage_usec", opt(cg.usage_usec)},
                   {"nr_periods", opt(cg.nr_periods)},
                   {"nr_throttled", opt(cg.nr_throttled)},
                   {"throttled_usec", opt(cg.throttled_usec)},
                   {"throttled_percent", opt(cg.throttled_percent)}};
  const auto& k = cg.cpu_knobs;
  j["knobs"] = {{"quota_usec", opt(k.quota_usec)}, {"quota_known", k.quota_known},
                {"period_usec", opt(k.period_usec)}, {"weight", opt(k.weight)},
                {"shares", opt(k.shares)},           {"cpuset_cpus", k.cpuset_cpus}};
  j["cpu_pressure"] = {{"some", psi_json(cg.cpu_pressure.some)},
                       {"full", psi_json(cg.cpu_pressure.full)},
                       {"some_stall_usec", opt(cg.cpu_pressure_some_usec)}};
  return j;
}

nlohmann::json to_json(const Snapshot& s) {
  nlohmann::json cgroups = nlohmann::json::array();
  for (const auto& cg : s.cgroups) cgroups.push_back(to_json(cg));
  nlohmann::json collectors = nlohmann::json::array();
  for (const auto& c : s.collectors) collectors.push_back(to_json(c));
  return {{"start_monotonic_ns", s.start_monotonic_ns},
          {"end_monotonic_ns", s.end_monotonic_ns},
          {"start_realtime_ns", s.start_realtime_ns},
          {"end_realtime_ns", s.end_realtime_ns},
          {"interval_seconds", s.interval_seconds()},
          {"nr_cpus", s.nr_cpus},
          {"collectors", std::move(collectors)},
          {"cgroups", std::move(cgroups)}};
}

}  // namespace cgscope::model

namespace cgscope::model {

std::string_view to_string(MetricKind kind) {
  switch (kind) {
    case MetricKind::kCounter: return "counter";
    case MetricKind::kGauge: return "gauge";
    case MetricKind::kHistogram: return "histogram";
  }
  return "?";
}

}  // namespace cgscope::model
