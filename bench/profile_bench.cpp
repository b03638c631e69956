// Symbolization and output of a large profile: 10k distinct stacks of real addresses (this
// process's own binaries and the running kernel), as the profiler hands them over.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "collector/profile/symbolize/elf_module.hpp"
#include "collector/profile/symbolize/proc_maps.hpp"
#include "collector/profile/symbolize/symbolizer.hpp"
#include "model/profile/flamegraph.hpp"
#include "model/profile/folded.hpp"
#include "model/profile/pprof.hpp"

using namespace cgscope;
using namespace cgscope::collector;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Function entry points (+ a few bytes) of every executable file this process maps.
std::vector<std::uint64_t> user_addresses() {
  std::vector<std::uint64_t> out;
  for (const Mapping& m : parse_proc_maps(slurp("/proc/self/maps"))) {
    if (!m.executable || !m.is_file()) continue;
    auto mod = ElfModule::open(m.path, m.path);
    if (!mod) continue;
    for (const auto& f : (*mod)->functions()) {
      const auto off = (*mod)->file_offset_of_vaddr(f.start + 1);
      if (off && *off >= m.offset && *off - m.offset < m.end - m.start)
        out.push_back(m.start + (*off - m.offset));
    }
  }
  return out;
}

std::vector<std::uint64_t> kernel_addresses() {
  std::vector<std::uint64_t> out;
  std::istringstream lines(slurp("/proc/kallsyms"));
  for (std::string line; std::getline(lines, line);) {
    if (line.size() < 20 || (line[17] != 't' && line[17] != 'T')) continue;
    const std::uint64_t a = std::stoull(line.substr(0, 16), nullptr, 16);
    if (a) out.push_back(a + 1);
  }
  return out;
}

// 10k distinct stacks: 12 user frames and 8 kernel frames each, over a pool of 2000 user and
// 2000 kernel functions (so frames repeat across stacks, as in real profiles).
const std::vector<RawStack>& stacks() {
  static const std::vector<RawStack> s = [] {
    std::mt19937_64 rng(42);
    auto user = user_addresses(), kernel = kernel_addresses();
    std::shuffle(user.begin(), user.end(), rng);
    std::shuffle(kernel.begin(), kernel.end(), rng);
    user.resize(std::min<std::size_t>(user.size(), 2000));
    kernel.resize(std::min<std::size_t>(kernel.size(), 2000));
    std::vector<RawStack> out;
    for (int i = 0; i < 10000; ++i) {
      RawStack r;
      r.cgroup_id = 1 + i % 20;
      r.tgid = static_cast<std::uint32_t>(getpid());
      r.instance = 1;
      r.comm = "bench";
      r.count = 1 + rng() % 50;
      for (int k = 0; k < 12 && !user.empty(); ++k) r.user_ips.push_back(user[rng() % user.size()]);
      for (int k = 0; k < 8 && !kernel.empty(); ++k) r.kernel_ips.push_back(kernel[rng() % kernel.size()]);
      out.push_back(std::move(r));
    }
    return out;
  }();
  return s;
}

SymbolizeRequest request() {
  SymbolizeRequest req;
  req.period_ns = 20'408'163;
  req.cgroup_name = [](std::uint64_t id) { return CgroupName{"/bench/cgroup-" + std::to_string(id), ""}; };
  return req;
}

}  // namespace

// Everything a `cgscope profile` run does after stopping: kallsyms, maps, binaries, frames.
static void BM_Symbolize10kStacksCold(benchmark::State& state) {
  const auto& raw = stacks();
  for (auto _ : state) {
    auto sym = Symbolizer::create({});
    (*sym)->add_process(static_cast<std::uint32_t>(getpid()), 1);
    benchmark::DoNotOptimize((*sym)->symbolize(raw, request()));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(raw.size()));
}
BENCHMARK(BM_Symbolize10kStacksCold)->Unit(benchmark::kMillisecond);

// Binaries already read (cached by build id), as for a second profile in the same run.
static void BM_Symbolize10kStacksWarm(benchmark::State& state) {
  const auto& raw = stacks();
  auto sym = Symbolizer::create({});
  (*sym)->add_process(static_cast<std::uint32_t>(getpid()), 1);
  for (auto _ : state) benchmark::DoNotOptimize((*sym)->symbolize(raw, request()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(raw.size()));
}
BENCHMARK(BM_Symbolize10kStacksWarm)->Unit(benchmark::kMillisecond);

static void BM_ReadProcessMaps(benchmark::State& state) {
  auto sym = Symbolizer::create({.kallsyms_path = ""});
  std::uint32_t instance = 0;
  for (auto _ : state) (*sym)->add_process(static_cast<std::uint32_t>(getpid()), ++instance);
}
BENCHMARK(BM_ReadProcessMaps)->Unit(benchmark::kMicrosecond);

static const model::Profile& profile() {
  static const model::Profile p = [] {
    auto sym = Symbolizer::create({});
    (*sym)->add_process(static_cast<std::uint32_t>(getpid()), 1);
    return (*sym)->symbolize(stacks(), request());
  }();
  return p;
}

static void BM_WriteFolded10kStacks(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(model::to_folded(profile()));
}
BENCHMARK(BM_WriteFolded10kStacks)->Unit(benchmark::kMillisecond);

static void BM_WritePprof10kStacks(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(model::to_pprof(profile()));
}
BENCHMARK(BM_WritePprof10kStacks)->Unit(benchmark::kMillisecond);

static void BM_WriteSvg10kStacks(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(model::to_flamegraph_svg(profile()));
}
BENCHMARK(BM_WriteSvg10kStacks)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
