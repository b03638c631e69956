#include "cli/record_cmd.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>

#include "cli/format.hpp"
#include "cli/host_facts.hpp"
#include "cli/print_sink.hpp"
#include "cli/record_options.hpp"
#include "cli/signals.hpp"
#include "collector/bpf_util.hpp"
#include "model/recording/writer.hpp"
#include "model/stream.hpp"

namespace cgscope::cli {
namespace {

// Each sample into the recording, committed before anything is printed: what is shown is in
// the file.
class RecordSink final : public model::SnapshotSink {
 public:
  explicit RecordSink(model::recording::RecordingWriter& writer) : writer_(writer) {}
  Status on_sample(const model::Sample& sample) override { return writer_.append(sample); }

 private:
  model::recording::RecordingWriter& writer_;
};

std::map<std::string, std::string> host_meta(std::int64_t interval_ns) {
  std::map<std::string, std::string> meta;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) meta["hostname"] = host;
  if (const std::string release = collector::kernel_release(); !release.empty()) meta["kernel_release"] = release;
  meta["cgscope_version"] = CGSCOPE_VERSION;
  meta["interval_ns"] = std::to_string(interval_ns);
  put_host_facts(meta);  // the cgroup layout and sysctls, for advice on a replay elsewhere
  return meta;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

std::unique_ptr<RecordCommand> RecordCommand::add_to(CLI::App& app) {
  auto r = std::make_unique<RecordCommand>();
  auto* sub = app.add_subcommand("record", "record samples into a file for later replay (snapshot --replay)");
  r->sub_ = sub;
  sub->add_option("-o,--output", r->output_, "the recording to create (SQLite; see docs/recording.md)")
      ->required();
  sub->add_option("-d,--duration", r->duration_, "stop after this long (default: until SIGINT/SIGTERM)");
  sub->add_option("--max-size", r->max_size_,
                  "keep the file within this size by dropping the oldest samples (1G, 500M; 0 = no limit; "
                  "at least 1M)");
  sub->add_option("--max-age", r->max_age_, "drop samples older than this (10m, 24h; default: no limit)");
  sub->add_option("--print", r->print_, "also print each interval as snapshot does: none, table or json")
      ->check(CLI::IsMember({"none", "table", "json"}));
  sub->add_option("--view", r->view_, "columns of --print table: summary, cpu, io, memory or nfs")
      ->check(CLI::IsMember({"summary", "cpu", "io", "memory", "nfs"}));
  sub->add_option("--ready-file", r->ready_file_,
                  "create this file once the first sample is written (for scripts that start a workload then)");
  r->live_.add_to(*sub);
  return r;
}

bool RecordCommand::parsed() const { return sub_ && sub_->parsed(); }

int RecordCommand::run(bool verbose) const {
  auto usage = [](const std::string& what, const std::string& error) {
    fmt::print(stderr, "cgscope record: {}: {}\n", what, error);
    return 2;
  };
  auto interval = live_.parsed_interval();
  if (!interval) return usage("options", interval.error());
  std::uint64_t max_intervals = 0;
  if (!duration_.empty()) {
    auto d = parse_duration(duration_);
    if (!d) return usage("--duration", d.error());
    max_intervals = std::max<std::uint64_t>(static_cast<std::uint64_t>(d->count() / interval->count()), 1);
  }
  auto max_size = parse_size(max_size_);
  if (!max_size) return usage("--max-size", max_size.error());
  if (*max_size != 0 && *max_size < model::recording::kMinMaxSizeBytes)
    return usage("--max-size", format_size(*max_size) + " is below the minimum of 1 MiB (or 0 for no limit)");
  std::int64_t max_age_ns = 0;
  if (!max_age_.empty()) {
    auto a = parse_duration(max_age_);
    if (!a) return usage("--max-age", a.error());
    max_age_ns = a->count();
  }
  auto view = parse_table_view(view_);
  if (!view) return usage("--view", view.error());

  // Before any thread exists, so that all of them inherit the blocked signals.
  SignalStop signals;

  auto source = live_.open(signals.token(), verbose);
  if (!source) {
    fmt::print(stderr, "cgscope record: {}\n", source.error());
    return 1;
  }
  auto writer = model::recording::RecordingWriter::create(
      output_, {.max_size_bytes = *max_size, .max_age_ns = max_age_ns, .meta = host_meta(interval->count())});
  if (!writer) {
    fmt::print(stderr, "cgscope record: {}\n", writer.error());
    return 1;
  }
  // The eBPF programs are attached and the file is open: nothing more needs privileges.
  live_.drop_privileges(**source, verbose);

  RecordSink record(**writer);
  ReadyFileSink ready(ready_file_);
  PrintSink print({.json = print_ == "json", .table = {.all = false, .top = 25, .view = *view}});
  std::vector<model::SnapshotSink*> sinks = {&record, &ready};
  if (print_ != "none") sinks.push_back(&print);
  auto stats = model::run_stream(**source, sinks, {.max_intervals = max_intervals, .stop = signals.token()});
  int status = 0;
  if (!stats) {
    fmt::print(stderr, "cgscope record: {}\n", stats.error());
    status = 1;
  }
  const auto written = (*writer)->stats();
  if (auto st = (*writer)->close(); !st) {
    fmt::print(stderr, "cgscope record: {}\n", st.error());
    status = 1;
  }
  fmt::print(stderr, "cgscope record: {} samples ({} cgroup-samples) in {}, {}", written.samples,
             written.cgroup_samples, output_, format_size(file_size(output_)));
  if (written.dropped_samples)
    fmt::print(stderr, "; retention dropped the oldest {} samples", written.dropped_samples);
  fmt::print(stderr, "\n");
  return status;
}

}  // namespace cgscope::cli
