// Recording cost: bytes on disk per cgroup-sample (and of the NFS data per sample), time to write
// one sample of 1000 cgroups, time to read back 1 hour x 1000 cgroups. Files go to $CGSCOPE_BENCH_DIR
// (default /var/tmp, a real disk: /tmp may be tmpfs).
#include <benchmark/benchmark.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "model/recording/reader.hpp"
#include "model/recording/writer.hpp"
#include "tests/support/synthetic_series.hpp"

using namespace cgscope;
using namespace cgscope::model::recording;

namespace {

class BenchFile {
 public:
  explicit BenchFile(const std::string& name) {
    const char* dir = std::getenv("CGSCOPE_BENCH_DIR");
    path_ = std::string(dir ? dir : "/var/tmp") + "/cgscope-bench-" + std::to_string(getpid()) + "-" + name;
    remove();
  }
  BenchFile(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  ~BenchFile() {
    if (!keep_) remove();
  }
  const std::string& path() const { return path_; }
  std::uint64_t bytes() const {
    std::uint64_t total = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      if (suffix != std::string("-shm") && stat((path_ + suffix).c_str(), &st) == 0) total += st.st_size;
    }
    return total;
  }

 private:
  void remove() const {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  std::string path_;
  bool keep_ = false;
};

// The typical mix: 60% idle, 30% lightly active, 10% busy (test::SeriesOptions defaults).
test::SeriesOptions mix(std::size_t cgroups, double busy, double active) {
  return {.cgroups = cgroups, .busy_fraction = busy, .active_fraction = active, .seed = 42};
}

// An NFS client host: 4 mounts with mountstats, 20 (cgroup, mount) rows (and 40 RPC rows), 50
// files, 5 stale names; active: a quarter of the rows, a tenth of the files and a few counters
// of each mountstats change every second, a file is replaced every 20 s.
test::NfsActivity nfs_host(bool idle) {
  return {.mounts = 4, .cgroup_mounts = 20, .files = 50, .stale_names = 5, .idle = idle};
}
test::SeriesOptions with_nfs(test::SeriesOptions options, bool idle) {
  options.nfs = nfs_host(idle);
  return options;
}

// Writes `samples` samples and reports the file size per cgroup-sample after a clean close, and
// per sample the encoded sample-wide part (collector status and the NFS data).
void bytes_per_cgroup_sample(benchmark::State& state, test::SeriesOptions options) {
  const std::size_t samples = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    BenchFile file("size.db");
    auto w = RecordingWriter::create(file.path(), {});
    if (!w) {
      state.SkipWithError(w.error().c_str());
      return;
    }
    test::SyntheticSeries series(options);
    std::uint64_t rows = 0;
    for (std::size_t i = 0; i < samples; ++i) {
      auto s = series.next();
      rows += s.cgroups.size();
      if (auto st = (*w)->append(s); !st) {
        state.SkipWithError(st.error().c_str());
        return;
      }
    }
    const auto row_bytes = (*w)->stats().row_bytes;
    const auto info_bytes = (*w)->stats().info_bytes;
    (void)(*w)->close();
    state.counters["file_bytes_per_cgroup_sample"] =
        static_cast<double>(file.bytes()) / static_cast<double>(rows);
    state.counters["encoded_bytes_per_cgroup_sample"] =
        static_cast<double>(row_bytes) / static_cast<double>(rows);
    state.counters["file_MB"] = static_cast<double>(file.bytes()) / 1e6;
    state.counters["info_bytes_per_sample"] = static_cast<double>(info_bytes) / static_cast<double>(samples);
    state.counters["file_bytes_per_sample"] =
        static_cast<double>(file.bytes()) / static_cast<double>(samples);
  }
}

void BM_BytesPerCgroupSample_TypicalMix(benchmark::State& state) {
  bytes_per_cgroup_sample(state, mix(1000, 0.1, 0.3));
}
void BM_BytesPerCgroupSample_AllBusy(benchmark::State& state) {
  bytes_per_cgroup_sample(state, mix(1000, 1.0, 0.0));
}
void BM_BytesPerCgroupSample_AllIdle(benchmark::State& state) {
  bytes_per_cgroup_sample(state, mix(1000, 0.0, 0.0));
}
// The same host with NFS mounts: idle (only the mountstats' age changes) and active. The NFS
// part's cost is the difference in file_bytes_per_sample to TypicalMix; info_bytes_per_sample
// is its encoded size.
void BM_BytesPerCgroupSample_TypicalMix_NfsIdle(benchmark::State& state) {
  bytes_per_cgroup_sample(state, with_nfs(mix(1000, 0.1, 0.3), true));
}
void BM_BytesPerCgroupSample_TypicalMix_NfsActive(benchmark::State& state) {
  bytes_per_cgroup_sample(state, with_nfs(mix(1000, 0.1, 0.3), false));
}
BENCHMARK(BM_BytesPerCgroupSample_TypicalMix)->Arg(600)->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_BytesPerCgroupSample_TypicalMix_NfsIdle)->Arg(600)->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_BytesPerCgroupSample_TypicalMix_NfsActive)->Arg(600)->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_BytesPerCgroupSample_AllBusy)->Arg(600)->Iterations(1)->Unit(benchmark::kSecond);
BENCHMARK(BM_BytesPerCgroupSample_AllIdle)->Arg(600)->Iterations(1)->Unit(benchmark::kSecond);

// One append (one transaction) of a sample of N cgroups, typical mix.
void BM_WriteSample(benchmark::State& state) {
  const auto cgroups = static_cast<std::size_t>(state.range(0));
  test::SyntheticSeries series(mix(cgroups, 0.1, 0.3));
  std::vector<model::Sample> samples;
  for (int i = 0; i < 300; ++i) samples.push_back(series.next());
  BenchFile file("write.db");
  auto w = RecordingWriter::create(file.path(), {});
  if (!w) {
    state.SkipWithError(w.error().c_str());
    return;
  }
  std::size_t i = 0;
  for (auto _ : state) {
    if (auto st = (*w)->append(samples[i++ % samples.size()]); !st) {
      state.SkipWithError(st.error().c_str());
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * cgroups));
}
BENCHMARK(BM_WriteSample)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// An hour at 1 s of 1000 cgroups (3.6 M cgroup-samples), written once for the load benchmarks.
// $CGSCOPE_BENCH_HOUR_FILE: keep it there and reuse it (it takes a while to write).
const BenchFile& hour_file() {
  static BenchFile file("hour.db");
  static bool written = false;
  if (const char* keep = std::getenv("CGSCOPE_BENCH_HOUR_FILE")) {
    static BenchFile kept(keep, true);
    if (!written && std::filesystem::exists(keep)) written = true;
    if (!written) {
      written = true;
      auto w = RecordingWriter::create(kept.path(), {});
      test::SyntheticSeries series(mix(1000, 0.1, 0.3));
      for (int i = 0; i < 3600 && w; ++i) (void)(*w)->append(series.next());
      if (w) (void)(*w)->close();
    }
    return kept;
  }
  if (!written) {
    written = true;
    auto w = RecordingWriter::create(file.path(), {});
    test::SyntheticSeries series(mix(1000, 0.1, 0.3));
    for (int i = 0; i < 3600 && w; ++i) (void)(*w)->append(series.next());
    if (w) (void)(*w)->close();
  }
  return file;
}

// Decoding every sample of the hour in order, as a replay or a sequential analyzer does:
// next_view() decodes in place (no copy), next() hands out a copy of each sample.
template <bool kCopy, bool kPrefetch = true>
void load_hour(benchmark::State& state) {
  const auto& file = hour_file();
  for (auto _ : state) {
    Selection selection;
    selection.prefetch = kPrefetch;
    auto src = RecordingSource::open(file.path(), selection);
    if (!src) {
      state.SkipWithError(src.error().c_str());
      return;
    }
    std::uint64_t cgroup_samples = 0, on_cpu = 0;
    auto consume = [&](const model::Sample& s) {
      cgroup_samples += s.cgroups.size();
      for (const auto& cg : s.cgroups)
        if (cg.cpu_bpf) on_cpu += cg.cpu_bpf->on_cpu_ns;
    };
    for (;;) {
      if constexpr (kCopy) {
        auto s = (*src)->next();
        if (!s || !*s) break;
        consume(**s);
      } else {
        auto s = (*src)->next_view();
        if (!s || !*s) break;
        consume(**s);
      }
    }
    benchmark::DoNotOptimize(on_cpu);
    state.counters["cgroup_samples"] = static_cast<double>(cgroup_samples);
  }
  state.counters["file_MB"] = static_cast<double>(file.bytes()) / 1e6;
}
void BM_LoadHour_InPlace(benchmark::State& state) { load_hour<false>(state); }
void BM_LoadHour_Copies(benchmark::State& state) { load_hour<true>(state); }
void BM_LoadHour_InPlace_OneThread(benchmark::State& state) { load_hour<false, false>(state); }
BENCHMARK(BM_LoadHour_InPlace)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadHour_InPlace_OneThread)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadHour_Copies)->Iterations(2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
