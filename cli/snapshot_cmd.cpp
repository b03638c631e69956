#include "cli/snapshot_cmd.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <vector>

#include "cli/print_sink.hpp"
#include "cli/signals.hpp"

namespace cgscope::cli {

std::unique_ptr<SnapshotCommand> SnapshotCommand::add_to(CLI::App& app) {
  auto c = std::make_unique<SnapshotCommand>();
  auto* sub = app.add_subcommand("snapshot", "print per-cgroup rows every interval (live, or --replay FILE)");
  c->sub_ = sub;
  sub->add_option("-c,--count", c->count_,
                  "number of intervals (0 = until Ctrl-C or the end of the recording; default 5 live, all in a replay)");
  sub->add_flag("--json", c->json_, "one JSON object per interval (NDJSON)");
  sub->add_flag("-a,--all", c->all_, "include cgroups without activity");
  sub->add_option("--view", c->view_, "table columns: summary, cpu, io, memory or nfs")
      ->check(CLI::IsMember({"summary", "cpu", "io", "memory", "nfs"}));
  sub->add_option("--top", c->top_, "at most this many rows in the table (0 = all)");
  sub->add_option("--ready-file", c->ready_file_,
                  "create this file once the first sample is taken (for scripts that start a workload then)");
  c->live_.add_to(*sub);
  c->replay_ = ReplayOptions::add_to(*sub);
  return c;
}

bool SnapshotCommand::parsed() const { return sub_ && sub_->parsed(); }

int SnapshotCommand::run(bool verbose) const {
  auto view = parse_table_view(view_);
  if (!view) {
    fmt::print(stderr, "cgscope: --view: {}\n", view.error());
    return 2;
  }
  if (auto every = live_.parsed_interval(); !every) {
    fmt::print(stderr, "cgscope: {}\n", every.error());
    return 2;
  }
  // Before any thread exists, so that all of them inherit the blocked signals.
  SignalStop signals;

  std::unique_ptr<model::Source> source;
  model::recording::RecordingSource* recording = nullptr;
  if (replay_->requested()) {
    bool usage = false;
    auto opened = replay_->open(signals.token(), &usage);
    if (!opened) {
      fmt::print(stderr, "cgscope: {}\n", opened.error());
      return usage ? 2 : 1;
    }
    recording = opened->get();
    source = std::move(*opened);
  } else {
    auto opened = live_.open(signals.token(), verbose);
    if (!opened) {
      fmt::print(stderr, "cgscope: {}\n", opened.error());
      return 1;
    }
    live_.drop_privileges(**opened, verbose);
    source = std::move(*opened);
  }

  PrintSink print({.json = json_, .table = {.all = all_, .top = top_, .view = *view}});
  ReadyFileSink ready(ready_file_);
  const std::vector<model::SnapshotSink*> sinks = {&ready, &print};
  const int count = sub_->count("--count") ? count_ : (recording ? 0 : 5);
  auto stats = model::run_stream(*source, sinks,
                                 {.max_intervals = static_cast<std::uint64_t>(std::max(count, 0)),
                                  .stop = signals.token()});
  if (!stats) {
    fmt::print(stderr, "cgscope: {}\n", stats.error());
    return 1;
  }
  return recording ? replay_->finish(*recording, *stats) : 0;
}

}  // namespace cgscope::cli
