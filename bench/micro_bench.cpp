// User-space hot paths, run once per interval per cgroup (or per row drawn).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <random>

#include "collector/cgroupfs/parse.hpp"
#include "collector/pipeline.hpp"
#include "model/cgroup_identity.hpp"
#include "model/histogram.hpp"
#include "model/snapshot.hpp"

using namespace cgscope;

static void BM_HistogramPercentiles(benchmark::State& state) {
  model::Log2Histogram h;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 10000; ++i) h.add(rng() % 100'000'000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(h.percentile(0.5));
    benchmark::DoNotOptimize(h.percentile(0.99));
  }
}
BENCHMARK(BM_HistogramPercentiles);

static void BM_ParseContainerIdentity(benchmark::State& state) {
  const std::string path =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4c2a7b1e_9f3d_4e8a_b6c1_2d5e8f"
      "0a1b3c.slice/cri-containerd-8f2c4e6a1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f3a.scope";
  for (auto _ : state) benchmark::DoNotOptimize(model::parse_container_identity(path));
}
BENCHMARK(BM_ParseContainerIdentity);

static void BM_ParseCpuStatV2(benchmark::State& state) {
  const std::string content =
      "usage_usec 123456789\nuser_usec 100000000\nsystem_usec 23456789\ncore_sched.force_idle_usec 0\n"
      "nr_periods 1000\nnr_throttled 250\nthrottled_usec 987654\nnr_bursts 0\nburst_usec 0\n";
  for (auto _ : state) benchmark::DoNotOptimize(collector::parse_cpu_stat_v2(content));
}
BENCHMARK(BM_ParseCpuStatV2);

// derive() over N cgroups with full histograms: the per-interval model cost.
static void BM_Derive(benchmark::State& state) {
  model::Sample prev, curr;
  curr.monotonic_ns = 1'000'000'000;
  for (int i = 0; i < state.range(0); ++i) {
    model::CgroupSample cg;
    cg.identity.id = static_cast<std::uint64_t>(i + 1);
    cg.identity.path = "/system.slice/unit-" + std::to_string(i) + ".service";
    cg.cpu_bpf = model::CpuBpfCounters{};
    for (int b = 10; b < 30; ++b) cg.cpu_bpf->wakeup_delay_ns.add_to_bucket(b, b);
    cg.cpu_stat.usage_usec = 1000;
    prev.cgroups.push_back(cg);
    cg.cpu_bpf->on_cpu_ns += 1000;
    cg.cpu_stat.usage_usec = 2000;
    curr.cgroups.push_back(cg);
  }
  for (auto _ : state) benchmark::DoNotOptimize(model::derive(prev, curr));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Derive)->Arg(100)->Arg(1000);

// One live sample of this host: cgroup scan + cgroupfs reads + eBPF map reads (root only).
static void BM_LiveSample(benchmark::State& state) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  collector::PipelineOptions options;
  options.bpf = collector::BpfPolicy::kRequired;
  auto pipeline = collector::Pipeline::create(options);
  if (!pipeline) {
    state.SkipWithError(pipeline.error().c_str());
    return;
  }
  std::size_t cgroups = 0;
  for (auto _ : state) {
    auto s = (*pipeline)->sample();
    cgroups = s ? s->cgroups.size() : 0;
    benchmark::DoNotOptimize(s);
  }
  state.counters["cgroups"] = static_cast<double>(cgroups);
}
BENCHMARK(BM_LiveSample)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
