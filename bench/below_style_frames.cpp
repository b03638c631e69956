// For comparing with below's store: writes the typical-mix samples of recording_bench as below
// stores its frames (one CBOR document per sample, field names and cgroup paths included) into
// DIR/frameNNNNN (and their number of cgroup-samples in DIR/cgroup_samples), to be compressed with the zstd
// command as below does (docs/performance.md).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/synthetic_series.hpp"

using namespace cgscope;
using nlohmann::json;

namespace {

json opt(const std::optional<std::uint64_t>& v) { return v ? json(*v) : json(nullptr); }
json hist(const model::Log2Histogram& h) { return json(h.buckets()); }
json psi(const std::optional<model::PsiLine>& p) {
  if (!p) return nullptr;
  return {{"avg10", p->avg10}, {"avg60", p->avg60}, {"avg300", p->avg300}, {"total_usec", p->total_usec}};
}

json frame(const model::Sample& s) {
  json cgroups = json::object();
  for (const auto& cg : s.cgroups) {
    json c = {{"id", cg.identity.id}, {"removed", cg.removed}};
    if (cg.cpu_bpf) {
      const auto& b = *cg.cpu_bpf;
      c["bpf"] = {{"on_cpu_ns", b.on_cpu_ns},
                  {"voluntary_switches", b.voluntary_switches},
                  {"involuntary_switches", b.involuntary_switches},
                  {"migrations", b.migrations},
                  {"wakeup_delay_ns_sum", b.wakeup_delay_ns_sum},
                  {"preempt_delay_ns_sum", b.preempt_delay_ns_sum},
                  {"wakeup_delay_ns", hist(b.wakeup_delay_ns)},
                  {"preempt_delay_ns", hist(b.preempt_delay_ns)}};
    }
    const auto& st = cg.cpu_stat;
    c["cpu_stat"] = {{"usage_usec", opt(st.usage_usec)},     {"user_usec", opt(st.user_usec)},
                     {"system_usec", opt(st.system_usec)},   {"nr_periods", opt(st.nr_periods)},
                     {"nr_throttled", opt(st.nr_throttled)}, {"throttled_usec", opt(st.throttled_usec)}};
    const auto& k = cg.cpu_knobs;
    c["cpu_knobs"] = {{"quota_usec", k.quota_usec ? json(*k.quota_usec) : json(nullptr)},
                      {"period_usec", opt(k.period_usec)},
                      {"weight", opt(k.weight)},
                      {"shares", opt(k.shares)},
                      {"cpuset_cpus", k.cpuset_cpus}};
    c["cpu_pressure"] = {{"some", psi(cg.cpu_pressure.some)}, {"full", psi(cg.cpu_pressure.full)}};
    cgroups[cg.identity.path] = std::move(c);
  }
  return {{"realtime_ns", s.realtime_ns}, {"nr_cpus", s.nr_cpus}, {"cgroups", std::move(cgroups)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR SAMPLES\n", argv[0]);
    return 2;
  }
  const int n = std::stoi(argv[2]);
  test::SyntheticSeries series({.cgroups = 1000, .busy_fraction = 0.1, .active_fraction = 0.3, .seed = 42});
  std::uint64_t bytes = 0, cgroup_samples = 0;
  for (int i = 0; i < n; ++i) {
    const auto s = series.next();
    const auto cbor = json::to_cbor(frame(s));
    char name[32];
    std::snprintf(name, sizeof name, "/frame%05d", i);
    std::ofstream(argv[1] + std::string(name), std::ios::binary)
        .write(reinterpret_cast<const char*>(cbor.data()), static_cast<std::streamsize>(cbor.size()));
    bytes += cbor.size();
    cgroup_samples += s.cgroups.size();
  }
  std::ofstream(argv[1] + std::string("/cgroup_samples")) << cgroup_samples << "\n";
  std::printf("CBOR bytes per cgroup-sample: %.1f\n",
              static_cast<double>(bytes) / static_cast<double>(cgroup_samples));
  return 0;
}
