// Recording and replay for real: the eBPF pipeline sampling workloads in real cgroups, the real
// `cgscope record` binary killed, stopped and read while it writes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "collector/live_source.hpp"
#include "collector/pipeline.hpp"
#include "model/json.hpp"
#include "model/recording/reader.hpp"
#include "model/recording/sqlite.hpp"
#include "model/recording/writer.hpp"
#include "tests/bpf/workload.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cgscope;
using namespace std::chrono_literals;
namespace rec = cgscope::model::recording;

namespace {

#define REQUIRE_BPF_PREREQUISITES()                                                   \
  do {                                                                                \
    if (auto why = test::bpf_test_prerequisites(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

collector::Hierarchy host_hierarchy() {
  auto h = collector::discover_hierarchy();
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error());
  return h.ok() ? *h : collector::Hierarchy{};
}

std::string test_cgroup(const std::string& name) {
  return "/cgscope-test-" + std::to_string(getpid()) + "/rec-" + name;
}

std::vector<std::string> run_lines(const std::vector<std::string>& argv, int* exit_status = nullptr) {
  test::ChildProcess child(argv);
  EXPECT_TRUE(child.started());
  auto lines = child.read_rest();
  const int st = child.wait();
  if (exit_status) *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return lines;
}

std::vector<model::Sample> read_recording(const std::string& path) {
  auto src = rec::RecordingSource::open(path);
  EXPECT_TRUE(src.ok()) << (src.ok() ? "" : src.error());
  std::vector<model::Sample> out;
  if (!src.ok()) return out;
  for (;;) {
    auto s = (*src)->next();
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
    if (!s.ok() || !*s) break;
    out.push_back(std::move(**s));
  }
  return out;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }
std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::string integrity(const std::string& path) {
  auto db = rec::Database::open(path, rec::Database::Mode::kReadOnly);
  if (!db) return db.error();
  auto st = (*db)->prepare("PRAGMA integrity_check");
  if (!st) return st.error();
  auto row = st->step();
  return row && *row ? std::string(st->column_text(0)) : "no result";
}

// Busy, sleepy and throttled cgroups on both CPUs, for the recorder to have something to record.
struct Workload {
  std::vector<std::unique_ptr<test::TestCgroup>> cgroups;
  std::vector<std::unique_ptr<test::Burner>> burners;

  Status add(const collector::Hierarchy& h, const std::string& name, int threads, int cpu,
             test::BurnKind kind, bool quota = false) {
    auto cg = test::TestCgroup::create(h, test_cgroup(name));
    if (!cg) return Error{cg.error()};
    if (quota) {
      Status s = (*cg)->has_v1_cpu() ? (*cg)->write_v1_cpu("cpu.cfs_quota_us", "20000")
                                     : (*cg)->write_v2("cpu.max", "20000 100000");
      if (!s) return s;
    }
    auto burner = test::Burner::start(**cg, threads, cpu, kind);
    if (!burner) return Error{burner.error()};
    cgroups.push_back(std::move(*cg));
    burners.push_back(std::move(*burner));
    return {};
  }
  ~Workload() { burners.clear(); }  // tasks gone before their cgroups are removed
};

}  // namespace

// 20 s of a real workload in real cgroups, with a cgroup created and one removed on the way:
// every sample the live pipeline produced comes back identical (every counter, histogram
// bucket, knob, PSI value, identity and collector status), and `cgscope snapshot --replay`
// prints exactly the JSON the live samples derive to, for the whole recording and a --from/--to
// part of it.
TEST(RecordingTest, RealWorkloadReplaysIdentically) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  Workload w;
  ASSERT_TRUE(w.add(h, "busy", 2, 0, test::BurnKind::kSpin).ok());
  ASSERT_TRUE(w.add(h, "sleepy", 1, 1, test::BurnKind::kSleepy).ok());
  ASSERT_TRUE(w.add(h, "quota", 1, 1, test::BurnKind::kSpin, /*quota=*/true).ok());

  auto pipeline = collector::Pipeline::create({.bpf = collector::BpfPolicy::kRequired});
  ASSERT_TRUE(pipeline.ok()) << pipeline.error();
  auto source = collector::LiveSource::create(std::move(*pipeline), {.interval = 1s, .max_samples = 21});
  ASSERT_TRUE(source.ok()) << source.error();
  const std::string path = dir.file("real.db");
  auto writer = rec::RecordingWriter::create(path, {.max_segment_samples = 6});
  ASSERT_TRUE(writer.ok()) << writer.error();

  std::vector<model::Sample> live;
  std::unique_ptr<test::TestCgroup> late;
  std::unique_ptr<test::Burner> late_burner;
  for (int i = 0;; ++i) {
    auto s = (*source)->next();
    ASSERT_TRUE(s.ok()) << s.error();
    if (!*s) break;
    ASSERT_TRUE((*writer)->append(**s).ok());
    live.push_back(std::move(**s));
    if (i == 6) {  // a container starts
      auto cg = test::TestCgroup::create(h, test_cgroup("late"));
      ASSERT_TRUE(cg.ok()) << cg.error();
      late = std::move(*cg);
      auto b = test::Burner::start(*late, 1, 0, test::BurnKind::kSleepy);
      ASSERT_TRUE(b.ok()) << b.error();
      late_burner = std::move(*b);
    }
    if (i == 13) {  // and stops: its cgroup is reported once more as removed
      late_burner.reset();
      std::this_thread::sleep_for(50ms);
      ASSERT_TRUE(late->remove());
    }
  }
  ASSERT_TRUE((*writer)->close().ok());
  ASSERT_EQ(live.size(), 21u);

  const auto replayed = read_recording(path);
  ASSERT_EQ(replayed.size(), live.size());
  bool saw_removed = false, saw_bpf = false;
  for (std::size_t i = 0; i < live.size(); ++i) {
    EXPECT_TRUE(replayed[i] == live[i]) << "sample " << i << " differs";
    for (const auto& cg : live[i].cgroups) {
      saw_removed |= cg.removed;
      saw_bpf |= cg.cpu_bpf && cg.cpu_bpf->wakeup_delay_ns.count() > 0;
    }
  }
  EXPECT_TRUE(saw_removed) << "the removed cgroup was recorded";
  EXPECT_TRUE(saw_bpf) << "eBPF histograms were recorded";

  std::vector<std::string> live_json;
  for (std::size_t i = 1; i < live.size(); ++i)
    live_json.push_back(model::to_json(model::derive(live[i - 1], live[i])).dump());
  int status = -1;
  EXPECT_EQ(run_lines({CGSCOPE_BINARY, "snapshot", "--replay", path, "--json"}, &status), live_json);
  EXPECT_EQ(status, 0);
  // Samples 5 to 12, selected by times half an interval before and after them: intervals
  // 5-6 ... 11-12.
  auto unix_seconds = [](std::int64_t ns) {
    return "@" + std::to_string(ns / 1'000'000'000) + "." +
           std::to_string(1000 + ns % 1'000'000'000 / 1'000'000).substr(1);
  };
  const auto part = run_lines({CGSCOPE_BINARY, "snapshot", "--replay", path, "--json", "--from",
                               unix_seconds(live[5].realtime_ns - 500'000'000), "--to",
                               unix_seconds(live[12].realtime_ns + 500'000'000)},
                              &status);
  EXPECT_EQ(part, std::vector<std::string>(live_json.begin() + 5, live_json.begin() + 12));
  EXPECT_EQ(status, 0);
}

// What the recorder prints as it goes (--print, after each commit) is what replaying its file
// prints, as a table and as JSON.
TEST(RecordingTest, RecorderOutputEqualsReplayOutput) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  test::TempDir dir;
  Workload w;
  ASSERT_TRUE(w.add(h, "print", 1, 1, test::BurnKind::kSpin).ok());
  for (const std::string format : {"table", "json"}) {
    SCOPED_TRACE(format);
    const std::string path = dir.file(format + ".db");
    int status = -1;
    const auto printed = run_lines({CGSCOPE_BINARY, "record", "-o", path, "--interval", "500ms", "--duration",
                                    "3s", "--print", format, "--bpf", "required"},
                                   &status);
    EXPECT_EQ(status, 0);
    ASSERT_FALSE(printed.empty());
    EXPECT_NE(std::find_if(printed.begin(), printed.end(),
                           [](const std::string& l) { return l.find("rec-print") != std::string::npos; }),
              printed.end())
        << "the busy test cgroup is shown";
    std::vector<std::string> replay = {CGSCOPE_BINARY, "snapshot", "--replay", path};
    if (format == "json") replay.push_back("--json");
    EXPECT_EQ(run_lines(replay, &status), printed);
    EXPECT_EQ(status, 0);
  }
}

// SIGKILL at different points of an interval: every sample the recorder reported as written
// is in the file, at most one more (written, not yet reported), and the file is intact.
TEST(RecordingTest, SigkillLosesAtMostTheSampleBeingWritten) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  test::TempDir dir;
  Workload w;
  ASSERT_TRUE(w.add(h, "kill-busy", 1, 0, test::BurnKind::kSpin).ok());
  ASSERT_TRUE(w.add(h, "kill-sleepy", 1, 1, test::BurnKind::kSleepy).ok());
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    const std::string path = dir.file("killed-" + std::to_string(run) + ".db");
    test::ChildProcess child({CGSCOPE_BINARY, "record", "-o", path, "--interval", "200ms", "--print", "json",
                              "--bpf", "required"});
    ASSERT_TRUE(child.started());
    std::size_t printed = 0;
    for (; printed < static_cast<std::size_t>(5 + run); ++printed) ASSERT_TRUE(child.read_line());
    std::this_thread::sleep_for(std::chrono::milliseconds(50 * run));  // somewhere in an interval
    child.kill(SIGKILL);
    printed += child.read_rest().size();
    const int st = child.wait();
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    EXPECT_EQ(integrity(path), "ok");
    const auto samples = read_recording(path);
    // Line k is printed after sample k+1 was committed (the first sample prints nothing).
    EXPECT_GE(samples.size(), printed + 1);
    EXPECT_LE(samples.size(), printed + 2);
    for (std::size_t i = 1; i < samples.size(); ++i)
      EXPECT_GT(samples[i].monotonic_ns, samples[i - 1].monotonic_ns);
    auto src = rec::RecordingSource::open(path);
    ASSERT_TRUE(src.ok()) << src.error();
    EXPECT_FALSE((*src)->info().closed);
  }
}

// Another process follows the recording while the recorder writes it (the live tail), sees
// every sample as it is committed, and its follow ends when SIGTERM makes the recorder close.
TEST(RecordingTest, AnotherProcessFollowsTheRecordingWhileItIsWritten) {
  REQUIRE_BPF_PREREQUISITES();
  const auto h = host_hierarchy();
  test::TempDir dir;
  Workload w;
  ASSERT_TRUE(w.add(h, "tail", 1, 0, test::BurnKind::kSleepy).ok());
  const std::string path = dir.file("tail.db");
  // No --print: nobody reads the recorder's stdout while we follow.
  test::ChildProcess child({CGSCOPE_BINARY, "record", "-o", path, "--interval", "250ms", "--bpf", "required"});
  ASSERT_TRUE(child.started());
  // Until the recorder has created the file (its schema is committed in one transaction).
  auto src = rec::RecordingSource::open(path, {.follow = true, .poll_interval = 20ms});
  for (int i = 0; i < 300 && !src.ok(); ++i) {
    std::this_thread::sleep_for(100ms);
    src = rec::RecordingSource::open(path, {.follow = true, .poll_interval = 20ms});
  }
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_FALSE((*src)->info().closed);
  std::vector<model::Sample> followed;
  for (int i = 0; i < 12; ++i) {  // ~3 s of samples, most of them written after we started
    auto s = (*src)->next();
    ASSERT_TRUE(s.ok() && *s) << (s.ok() ? "end of the follow" : s.error());
    followed.push_back(std::move(**s));
  }
  child.kill(SIGTERM);
  for (;;) {
    auto s = (*src)->next();
    ASSERT_TRUE(s.ok()) << s.error();
    if (!*s) break;
    followed.push_back(std::move(**s));
  }
  const int st = child.wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_TRUE((*src)->info().closed);
  const auto all = read_recording(path);
  ASSERT_EQ(followed.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_TRUE(followed[i] == all[i]) << "sample " << i;
}

// SIGTERM and SIGINT: the recorder finishes, marks the file closed, folds the WAL into it and
// exits 0; every sample it printed is there.
TEST(RecordingTest, SigtermAndSigintCloseTheRecordingCleanly) {
  REQUIRE_BPF_PREREQUISITES();
  test::TempDir dir;
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(strsignal(sig));
    const std::string path = dir.file("stopped-" + std::to_string(sig) + ".db");
    test::ChildProcess child({CGSCOPE_BINARY, "record", "-o", path, "--interval", "200ms", "--print", "json",
                              "--bpf", "required"});
    ASSERT_TRUE(child.started());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(child.read_line());
    child.kill(sig);
    const std::size_t printed = 3 + child.read_rest().size();
    const int st = child.wait();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
    EXPECT_FALSE(exists(path + "-wal") && file_size(path + "-wal") > 0) << "the WAL is folded into the file";
    EXPECT_EQ(integrity(path), "ok");
    EXPECT_EQ(read_recording(path).size(), printed + 1);
    auto src = rec::RecordingSource::open(path);
    ASSERT_TRUE(src.ok()) << src.error();
    EXPECT_TRUE((*src)->info().closed);
  }
}

// --max-age on the real recorder: the file keeps at least that much history, and not much
// more (whole segments of at most max-age/8 are dropped).
TEST(RecordingTest, RecorderKeepsMaxAgeOfHistory) {
  REQUIRE_BPF_PREREQUISITES();
  test::TempDir dir;
  const std::string path = dir.file("aged.db");
  int status = -1;
  run_lines({CGSCOPE_BINARY, "record", "-o", path, "--interval", "100ms", "--duration", "6s", "--max-age",
             "2s", "--bpf", "required"},
            &status);
  EXPECT_EQ(status, 0);
  const auto samples = read_recording(path);
  ASSERT_GE(samples.size(), 2u);
  const auto span = std::chrono::nanoseconds(samples.back().monotonic_ns - samples.front().monotonic_ns);
  EXPECT_GE(span, 2s);
  EXPECT_LE(span, 2s + 250ms + 100ms);
  auto src = rec::RecordingSource::open(path);
  ASSERT_TRUE(src.ok()) << src.error();
  const auto& meta = (*src)->info().meta;
  ASSERT_TRUE(meta.count("dropped_samples"));
  EXPECT_EQ(samples.size() + std::stoull(meta.at("dropped_samples")), 61u);  // 6 s at 100 ms, both ends
}
