#include "cli/advise_cmd.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <vector>

#include "analyzers/json.hpp"
#include "cli/advice_view.hpp"
#include "cli/format.hpp"
#include "cli/host_facts.hpp"
#include "cli/print_sink.hpp"
#include "cli/signals.hpp"
#include "model/window.hpp"

namespace cgscope::cli {
namespace {

// "collecting 12/60 s" on a terminal, rewritten in place; nothing when stderr is not one.
class ProgressSink final : public model::SnapshotSink {
 public:
  ProgressSink(std::uint64_t total, double interval_s) : total_(total), interval_s_(interval_s), tty_(isatty(2)) {}
  ~ProgressSink() override {
    if (tty_ && shown_) fmt::print(stderr, "\r\033[K");
  }
  Status on_interval(const model::Snapshot& s) override {
    ++done_;
    if (!tty_) return {};
    shown_ = true;
    fmt::print(stderr, "\rcgscope: collecting {:.0f}/{:.0f} s, {} cgroups\033[K", done_ * interval_s_,
               total_ * interval_s_, s.cgroups.size());
    std::fflush(stderr);
    return {};
  }

 private:
  std::uint64_t total_, done_ = 0;
  double interval_s_;
  bool tty_, shown_ = false;
};

constexpr std::size_t kReplayIntervals = std::size_t{1} << 24;  // a replay keeps all it reads

}  // namespace

std::unique_ptr<AdviseCommand> AdviseCommand::add_to(CLI::App& app) {
  auto c = std::make_unique<AdviseCommand>();
  auto* sub = app.add_subcommand("advise",
                                 "measure for a while (or replay a recording), then print where each cgroup lost time "
                                 "and what to change");
  c->sub_ = sub;
  sub->add_option("-d,--duration", c->duration_, "how long to measure live (default 60s)");
  sub->add_flag("--json", c->json_, "the analysis as one JSON object (docs/analyzers.md)");
  sub->add_option("--min-severity", c->min_severity_, "show findings of this severity or worse: info, warning, critical")
      ->check(CLI::IsMember({"info", "warning", "critical"}));
  sub->add_option("--fail-on", c->fail_on_,
                  "exit with code 3 when a finding of this severity or worse exists (for CI): warning or critical")
      ->check(CLI::IsMember({"info", "warning", "critical"}));
  sub->add_option("--min-intervals", c->min_intervals_,
                  "no advice for a cgroup present in fewer intervals (default 10)");
  sub->add_flag("--brief", c->brief_, "only the command for the way each cgroup is managed");
  sub->add_option("--ready-file", c->ready_file_, "create this file once the first sample is taken");
  c->live_.add_to(*sub);
  c->replay_ = ReplayOptions::add_to(*sub);
  sub->get_option("--replay")->excludes(sub->get_option("--duration"));
  return c;
}

bool AdviseCommand::parsed() const { return sub_ && sub_->parsed(); }

int AdviseCommand::run(bool verbose) const {
  auto every = live_.parsed_interval();
  if (!every) {
    fmt::print(stderr, "cgscope: {}\n", every.error());
    return 2;
  }
  auto duration = parse_duration(duration_);
  if (!duration || duration->count() <= 0) {
    fmt::print(stderr, "cgscope: --duration: {}\n", duration ? "must be positive" : duration.error());
    return 2;
  }
  analyzers::AnalysisOptions options;
  options.min_intervals = min_intervals_;
  options.min_seconds = 0;
  SignalStop signals;

  std::unique_ptr<model::Source> source;
  model::recording::RecordingSource* recording = nullptr;
  std::uint64_t intervals = 0;
  if (replay_->requested()) {
    bool usage = false;
    auto opened = replay_->open(signals.token(), &usage);
    if (!opened) {
      fmt::print(stderr, "cgscope: {}\n", opened.error());
      return usage ? 2 : 1;
    }
    recording = opened->get();
    options.layout = layout_from_meta(recording->info().meta);
    options.sysctls = sysctls_from_meta(recording->info().meta);
    options.dirtyable_memory_bytes = dirtyable_memory_from_meta(recording->info().meta);
    source = std::move(*opened);
  } else {
    intervals = static_cast<std::uint64_t>((*duration + *every - std::chrono::nanoseconds(1)) / *every);
    auto opened = live_.open(signals.token(), verbose);
    if (!opened) {
      fmt::print(stderr, "cgscope: {}\n", opened.error());
      return 1;
    }
    live_.drop_privileges(**opened, verbose);
    options.layout = host_layout();
    options.sysctls = host_sysctls();
    source = std::move(*opened);
  }

  model::Window window({.max_intervals = recording ? kReplayIntervals : static_cast<std::size_t>(intervals + 1)});
  ProgressSink progress(intervals, std::chrono::duration<double>(*every).count());
  ReadyFileSink ready(ready_file_);
  std::vector<model::SnapshotSink*> sinks = {&ready, &window};
  if (!recording && !json_) sinks.push_back(&progress);
  auto stats = model::run_stream(*source, sinks, {.max_intervals = intervals, .stop = signals.token()});
  if (!stats) {
    fmt::print(stderr, "cgscope: {}\n", stats.error());
    return 1;
  }
  if (recording) {
    if (int rc = replay_->finish(*recording, *stats); rc != 0) return rc;
  }
  if (!recording) options.dirtyable_memory_bytes = host_dirtyable_memory_bytes();  // at the end of the measurement
  analyzers::Analysis analysis = analyzers::analyze(window, window.all(), options);
  if (stats->stopped && !recording)
    analysis.notes.push_back(fmt::format("stopped early: {} of {} intervals measured", stats->intervals, intervals));
  if (!options.layout.known)
    analysis.notes.push_back("the cgroup layout of the recorded host is not known (recorded by an older cgscope): "
                             "commands assume cgroup v2 at /sys/fs/cgroup");

  const auto min = analyzers::parse_severity(min_severity_).value_or(analyzers::Severity::kInfo);
  if (json_) {
    analyzers::write_json(analysis, stdout);
  } else {
    fmt::print("{}", render_advice(analysis, {.min_severity = min, .all_commands = !brief_}));
  }
  if (!fail_on_.empty()) {
    const auto fail = analyzers::parse_severity(fail_on_).value_or(analyzers::Severity::kCritical);
    for (const auto& f : analysis.findings)
      if (f.severity >= fail) return kExitFindings;
  }
  return 0;
}

}  // namespace cgscope::cli
