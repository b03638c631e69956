// model::run_stream: the one loop every front-end uses, on an in-memory Source.
#include "model/stream.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <stop_token>
#include <string>
#include <vector>

using namespace cgscope;
using namespace cgscope::model;

namespace {

// A Source of prepared samples; optionally fails after them, or asks a stop_source to stop
// once a given number of samples was taken (what Ctrl-C does). Like every source it honours
// the stop: here by ending at once (as a recording does).
class ListSource : public Source {
 public:
  explicit ListSource(std::vector<Sample> samples, std::stop_token stop = {})
      : samples_(samples.begin(), samples.end()), stop_(std::move(stop)) {}
  Result<std::optional<Sample>> next() override {
    ++calls_;
    if (stop_after_ && taken_ == *stop_after_) stopper_->request_stop();
    if (stop_.stop_requested()) return std::optional<Sample>();
    if (samples_.empty()) {
      if (!error_.empty()) return Error{error_};
      return std::optional<Sample>();
    }
    Sample s = std::move(samples_.front());
    samples_.pop_front();
    ++taken_;
    return std::optional<Sample>(std::move(s));
  }
  std::string description() const override { return "list"; }
  void fail_at_end(std::string error) { error_ = std::move(error); }
  void stop_after(std::size_t n, std::stop_source* s) {
    stop_after_ = n;
    stopper_ = s;
  }
  int calls() const { return calls_; }

 private:
  std::deque<Sample> samples_;
  std::stop_token stop_;
  std::string error_;
  std::optional<std::size_t> stop_after_;
  std::stop_source* stopper_ = nullptr;
  std::size_t taken_ = 0;
  int calls_ = 0;
};

// Sample i: at i seconds, one cgroup whose eBPF on-CPU time grows by 0.25 s per second (25 %);
// cgroup 2 exists from sample 1 to 2 and is reported removed in sample 3.
std::vector<Sample> series(int n) {
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.monotonic_ns = static_cast<std::uint64_t>(i) * 1'000'000'000ULL;
    s.realtime_ns = 1'700'000'000'000'000'000LL + s.monotonic_ns;
    s.nr_cpus = 2;
    CgroupSample a;
    a.identity.id = 1;
    a.identity.path = "/a";
    a.cpu_bpf = CpuBpfCounters{};
    a.cpu_bpf->on_cpu_ns = static_cast<std::uint64_t>(i) * 250'000'000ULL;
    s.cgroups.push_back(a);
    if (i >= 1 && i <= 3) {
      CgroupSample b;
      b.identity.id = 2;
      b.identity.path = "/b";
      b.removed = i == 3;
      s.cgroups.push_back(b);
    }
    out.push_back(std::move(s));
  }
  return out;
}

struct Recorder : SnapshotSink {
  std::vector<std::uint64_t> samples;  // monotonic_ns of each on_sample
  std::vector<Snapshot> intervals;
  std::string fail_on_interval;  // error to return from the second interval on
  Status on_sample(const Sample& s) override {
    samples.push_back(s.monotonic_ns);
    return {};
  }
  Status on_interval(const Snapshot& s) override {
    intervals.push_back(s);
    if (!fail_on_interval.empty() && intervals.size() >= 2) return Error{fail_on_interval};
    return {};
  }
};

}  // namespace

TEST(StreamTest, EverySampleAndEveryIntervalReachEverySink) {
  ListSource source(series(5));
  Recorder a, b;
  const std::vector<SnapshotSink*> sinks = {&a, &b};
  auto stats = run_stream(source, sinks, {});
  ASSERT_TRUE(stats) << stats.error();
  EXPECT_EQ(stats->samples, 5u);
  EXPECT_EQ(stats->intervals, 4u);  // n samples make n - 1 intervals
  EXPECT_FALSE(stats->stopped);
  for (const Recorder* r : {&a, &b}) {
    EXPECT_EQ(r->samples, (std::vector<std::uint64_t>{0, 1'000'000'000, 2'000'000'000, 3'000'000'000, 4'000'000'000}));
    ASSERT_EQ(r->intervals.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(r->intervals[i].start_monotonic_ns, i * 1'000'000'000ULL);
      EXPECT_EQ(r->intervals[i].end_monotonic_ns, (i + 1) * 1'000'000'000ULL);
    }
  }
  // The first sample is the base, not an interval: interval 0 is sample 0 -> 1, 25 % CPU.
  ASSERT_FALSE(a.intervals[0].cgroups.empty());
  EXPECT_NEAR(a.intervals[0].cgroups[0].cpu_percent, 25.0, 1e-9);
}

TEST(StreamTest, CgroupsThatComeAndGoAreNewThenRemovedThenForgotten) {
  ListSource source(series(5));
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  ASSERT_TRUE(run_stream(source, sinks, {}));
  auto find = [](const Snapshot& s, std::uint64_t id) -> const CgroupInterval* {
    for (const auto& cg : s.cgroups)
      if (cg.identity.id == id) return &cg;
    return nullptr;
  };
  ASSERT_EQ(r.intervals.size(), 4u);
  EXPECT_EQ(find(r.intervals[0], 2)->is_new, true);  // appeared in sample 1
  EXPECT_EQ(find(r.intervals[1], 2)->is_new, false);
  EXPECT_EQ(find(r.intervals[2], 2)->removed, true);  // reported once more, removed
  EXPECT_EQ(find(r.intervals[3], 2), nullptr);        // then gone
}

TEST(StreamTest, MaxIntervalsStopsAfterThatManyIntervals) {
  ListSource source(series(10));
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  auto stats = run_stream(source, sinks, {.max_intervals = 3});
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->intervals, 3u);
  EXPECT_EQ(stats->samples, 4u);
  EXPECT_EQ(source.calls(), 4);  // no sample is taken that no interval needs
}

TEST(StreamTest, AStopRequestEndsTheStreamWhereTheSourceEnds) {
  std::stop_source stop;
  ListSource source(series(10), stop.get_token());
  source.stop_after(3, &stop);  // Ctrl-C while the source waits for its 4th sample
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  auto stats = run_stream(source, sinks, {.stop = stop.get_token()});
  ASSERT_TRUE(stats);
  EXPECT_TRUE(stats->stopped);
  EXPECT_EQ(stats->samples, 3u);
  EXPECT_EQ(stats->intervals, 2u);
  EXPECT_EQ(source.calls(), 4);  // no call after the source said it ended
}

TEST(StreamTest, AnAlreadyStoppedSourceGivesNoInterval) {
  std::stop_source stop;
  stop.request_stop();
  ListSource source(series(3), stop.get_token());
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  auto stats = run_stream(source, sinks, {.stop = stop.get_token()});
  ASSERT_TRUE(stats);
  EXPECT_TRUE(stats->stopped);
  EXPECT_EQ(stats->samples, 0u);
  EXPECT_EQ(source.calls(), 1);
}

TEST(StreamTest, ASourceErrorEndsTheStreamAfterWhatCameBefore) {
  ListSource source(series(3));
  source.fail_at_end("recording x: sample 4: checksum mismatch: the recording is corrupted");
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  auto stats = run_stream(source, sinks, {});
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error(), "recording x: sample 4: checksum mismatch: the recording is corrupted");
  EXPECT_EQ(r.intervals.size(), 2u);  // the intervals before the damage were delivered
}

TEST(StreamTest, ASinkErrorEndsTheStream) {
  ListSource source(series(6));
  Recorder failing, other;
  failing.fail_on_interval = "disk full";
  const std::vector<SnapshotSink*> sinks = {&failing, &other};
  auto stats = run_stream(source, sinks, {});
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error(), "disk full");
  EXPECT_EQ(failing.intervals.size(), 2u);
  EXPECT_EQ(other.intervals.size(), 1u);  // sinks after the failing one do not see that interval
}

TEST(StreamTest, AnEmptySourceGivesNoInterval) {
  ListSource source({});
  Recorder r;
  const std::vector<SnapshotSink*> sinks = {&r};
  auto stats = run_stream(source, sinks, {});
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->samples, 0u);
  EXPECT_EQ(stats->intervals, 0u);
  EXPECT_FALSE(stats->stopped);
}
