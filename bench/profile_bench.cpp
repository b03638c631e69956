// Symbolization and output of a large profile: 10k distinct stacks of real addresses (this
// process's own binaries and the running kernel), as the profiler hands them over.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
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

// --unwind dwarf in user space: one sample's stack copy unwound from CFI. The sample is this
// process's own, taken at the bottom of a 24-deep call chain (through libc's qsort, whose
// comparator recurses further), as the profiler's BPF program copies it: the registers and
// 32 KiB of stack from rsp up. Warm: the rules of these addresses are cached (the steady
// state of a profile); cold: a new Symbolizer each time (first sighting of the binaries).
struct CapturedSample {
  std::array<std::uint64_t, 17> regs{};
  std::vector<std::uint8_t> stack;
};

__attribute__((noinline)) void capture(CapturedSample* out) {
  std::uint64_t rip, rsp, rbp, rbx, r12, r13, r14, r15;
  // One asm statement: rip and rsp are those of the same instruction, as in a sample.
  asm volatile(
      "lea 0(%%rip), %0\n\t"
      "mov %%rsp, %1\n\t"
      "mov %%rbp, %2\n\t"
      "mov %%rbx, %3\n\t"
      "mov %%r12, %4\n\t"
      "mov %%r13, %5\n\t"
      "mov %%r14, %6\n\t"
      "mov %%r15, %7\n\t"
      : "=r"(rip), "=m"(rsp), "=m"(rbp), "=m"(rbx), "=m"(r12), "=m"(r13), "=m"(r14), "=m"(r15));
  out->regs = {0, 0, 0, rbx, 0, 0, rbp, rsp, 0, 0, 0, 0, r12, r13, r14, r15, rip};
  // Up to 32 KiB (--stack-copy 32K) or the top of the stack, whichever comes first.
  std::size_t n = 0;
  for (const Mapping& m : parse_proc_maps(slurp("/proc/self/maps")))
    if (rsp >= m.start && rsp < m.end) n = std::min<std::size_t>(32768, m.end - rsp);
  out->stack.resize(n);
  std::memcpy(out->stack.data(), reinterpret_cast<const void*>(rsp), n);
}

CapturedSample* g_capture_into = nullptr;
int g_depth = 0;

__attribute__((noinline)) int compare_and_descend(const void* a, const void* b) {
  if (g_capture_into) {
    if (g_depth-- > 0) {
      int x[2] = {1, 2};
      std::qsort(x, 2, sizeof(int), compare_and_descend);
    } else {
      capture(g_capture_into);
      g_capture_into = nullptr;
    }
  }
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

__attribute__((noinline)) void descend(int depth, CapturedSample* out) {
  if (depth > 0) {
    descend(depth - 1, out);
    benchmark::ClobberMemory();  // not a tail call: each level keeps its frame
    return;
  }
  g_capture_into = out;
  g_depth = 4;
  int x[2] = {2, 1};
  std::qsort(x, 2, sizeof(int), compare_and_descend);
}

const CapturedSample& captured() {
  static const CapturedSample s = [] {
    CapturedSample c;
    descend(16, &c);
    return c;
  }();
  return s;
}

StackSample sample_of(const CapturedSample& c) {
  StackSample s;
  s.tgid = static_cast<std::uint32_t>(getpid());
  s.instance = 1;
  s.regs = c.regs.data();
  s.stack = c.stack.data();
  s.stack_bytes = c.stack.size();
  return s;
}

void BM_UnwindSampleWarm(benchmark::State& state) {
  auto sym = Symbolizer::create({"/proc", ""});
  (*sym)->add_process(static_cast<std::uint32_t>(getpid()), 1);
  const StackSample s = sample_of(captured());
  std::size_t frames = (*sym)->unwind(s).ips.size();
  for (auto _ : state) benchmark::DoNotOptimize((*sym)->unwind(s));
  state.counters["frames"] = static_cast<double>(frames);
  if (const auto u = (*sym)->unwind(s); !u.stopped.empty())
    state.SkipWithError(("the captured stack did not unwind to its outermost frame: " + u.stopped).c_str());
}
BENCHMARK(BM_UnwindSampleWarm)->Unit(benchmark::kMicrosecond);

void BM_UnwindSampleCold(benchmark::State& state) {
  const StackSample s = sample_of(captured());
  std::unique_ptr<Symbolizer> sym;
  for (auto _ : state) {
    state.PauseTiming();  // opening the binaries and closing them again are not timed
    sym.reset();
    sym = std::move(Symbolizer::create({"/proc", ""}).value());
    sym->add_process(static_cast<std::uint32_t>(getpid()), 1);
    state.ResumeTiming();
    benchmark::DoNotOptimize(sym->unwind(s));
  }
}
BENCHMARK(BM_UnwindSampleCold)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
