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
          {"v1_cpuacct_path", id.v1_cpuacct_path},
          {"v1_memory_path", id.v1_memory_path},
          {"v1_blkio_path", id.v1_blkio_path}};
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
  j["io"] = to_json(cg.io);
  j["memory"] = to_json(cg.memory);
  return j;
}

nlohmann::json to_json(const IoInterval& io) {
  nlohmann::json j;
  if (io.has_bpf) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : io.block) {
      rows.push_back({{"dev", dev_name(r.dev)},
                      {"op", to_string(r.op)},
                      {"owner", to_string(r.owner)},
                      {"requests", r.requests},
                      {"bytes", r.bytes},
                      {"errors", r.errors},
                      {"latency", histogram_summary(r.latency_ns)},
                      {"latency_sum_ns", r.latency_ns_sum},
                      {"queued", r.queued},
                      {"queue_sum_ns", r.queue_ns_sum}});
    }
    j["bpf"] = {{"read_bytes", io.read_bytes},
                {"write_bytes", io.write_bytes},
                {"read_ios", io.read_ios},
                {"write_ios", io.write_ios},
                {"discard_ios", io.discard_ios},
                {"flush_ios", io.flush_ios},
                {"errors", io.errors},
                {"writeback_bytes", io.writeback_bytes},
                {"read_latency", histogram_summary(io.read_latency_ns)},
                {"write_latency", histogram_summary(io.write_latency_ns)},
                {"queue_delay", histogram_summary(io.queue_ns)},
                {"dirty_throttle_ns", io.dirty_throttle_ns},
                {"dirty_throttle_count", io.dirty_throttle_count},
                {"block", std::move(rows)}};
  } else {
    j["bpf"] = nullptr;
  }
  j["iowait"] = io.has_iowait ? nlohmann::json{{"ns", io.iowait_ns}, {"count", io.iowait_count}} : nlohmann::json(nullptr);
  nlohmann::json stat = nlohmann::json::array();
  for (const auto& d : io.stat) {
    stat.push_back({{"dev", dev_name(d.dev)}, {"rbytes", d.rbytes}, {"wbytes", d.wbytes}, {"rios", d.rios},
                    {"wios", d.wios}, {"dbytes", d.dbytes}, {"dios", d.dios}});
  }
  nlohmann::json limits = nlohmann::json::array();
  for (const auto& l : io.knobs.limits) {
    limits.push_back({{"dev", dev_name(l.dev)}, {"rbps", opt(l.rbps)}, {"wbps", opt(l.wbps)},
                      {"riops", opt(l.riops)}, {"wiops", opt(l.wiops)}});
  }
  j["cgroupfs"] = {{"stat", std::move(stat)}, {"rbytes", opt(io.stat_rbytes)}, {"wbytes", opt(io.stat_wbytes)},
                   {"rios", opt(io.stat_rios)}, {"wios", opt(io.stat_wios)}};
  j["knobs"] = {{"weight", opt(io.knobs.weight)}, {"weight_file", io.knobs.weight_file}, {"limits", std::move(limits)}};
  j["pressure"] = {{"some", psi_json(io.pressure.some)}, {"full", psi_json(io.pressure.full)},
                   {"some_stall_usec", opt(io.pressure_some_usec)}, {"full_stall_usec", opt(io.pressure_full_usec)}};
  return j;
}

nlohmann::json to_json(const MemoryInterval& m) {
  nlohmann::json j;
  if (m.has_bpf) {
    j["bpf"] = {{"direct_reclaim_ns", m.direct_reclaim_ns},
                {"direct_reclaim_count", m.direct_reclaim_count},
                {"memcg_reclaim_ns", m.memcg_reclaim_ns},
                {"memcg_reclaim_count", m.memcg_reclaim_count},
                {"reclaimed_pages", m.reclaimed_pages},
                {"reclaim_stall", histogram_summary(m.reclaim_ns)},
                {"cache_accessed_pages", m.cache_accessed_pages},
                {"cache_miss_pages", m.cache_read_added_pages},
                {"cache_write_added_pages", m.cache_other_added_pages},
                {"cache_hit_ratio", opt(m.cache_hit_ratio)},
                {"file_faults", m.file_faults},
                {"oom_kills", m.oom_kills}};
  } else {
    j["bpf"] = nullptr;
  }
  const auto& st = m.stat;
  j["stat"] = {{"anon_bytes", opt(st.anon_bytes)},
               {"file_bytes", opt(st.file_bytes)},
               {"file_dirty_bytes", opt(st.file_dirty_bytes)},
               {"file_writeback_bytes", opt(st.file_writeback_bytes)},
               {"shmem_bytes", opt(st.shmem_bytes)},
               {"pgfault", opt(m.pgfault)},
               {"pgmajfault", opt(m.pgmajfault)},
               {"workingset_refault_anon", opt(m.workingset_refault_anon)},
               {"workingset_refault_file", opt(m.workingset_refault_file)}};
  const auto& k = m.knobs;
  j["knobs"] = {{"current_bytes", opt(k.current_bytes)}, {"peak_bytes", opt(k.peak_bytes)},
                {"max_bytes", opt(k.max_bytes)},         {"high_bytes", opt(k.high_bytes)},
                {"low_bytes", opt(k.low_bytes)},         {"min_bytes", opt(k.min_bytes)},
                {"swap_max_bytes", opt(k.swap_max_bytes)}, {"v1", k.v1}};
  const auto& e = m.events;
  j["events"] = {{"low", opt(e.low)}, {"high", opt(e.high)}, {"max", opt(e.max)}, {"oom", opt(e.oom)},
                 {"oom_kill", opt(e.oom_kill)}};
  j["pressure"] = {{"some", psi_json(m.pressure.some)}, {"full", psi_json(m.pressure.full)},
                   {"some_stall_usec", opt(m.pressure_some_usec)}, {"full_stall_usec", opt(m.pressure_full_usec)}};
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
          {"cgroups", std::move(cgroups)},
          {"nfs", nfs_to_json(s)}};
}

}  // namespace cgscope::model
