#include "cli/record_cmd.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <stop_token>
#include <thread>

#include "cli/format.hpp"
#include "cli/privileges.hpp"
#include "cli/record_options.hpp"
#include "cli/replay_cmd.hpp"
#include "collector/bpf_util.hpp"
#include "collector/live_source.hpp"
#include "model/recording/writer.hpp"

namespace cgscope::cli {
namespace {

// SIGINT/SIGTERM become a stop request, without a global flag: they are blocked in this thread
// (and the threads it starts later) and a watcher thread takes them with sigtimedwait. The
// recorder then finishes the sample it is writing and closes the file cleanly.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    watcher_ = std::jthread([this](const std::stop_token& self) {
      while (!self.stop_requested()) {
        timespec timeout{0, 100'000'000};
        siginfo_t info{};
        if (sigtimedwait(&set_, &info, &timeout) > 0) stop_.request_stop();
      }
    });
  }
  // The signals stay blocked: one arriving while we exit must not kill us half-way.
  ~SignalStop() = default;
  std::stop_token token() const { return stop_.get_token(); }

 private:
  sigset_t set_{};
  std::stop_source stop_;
  std::jthread watcher_;
};

std::map<std::string, std::string> host_meta(std::int64_t interval_ns) {
  std::map<std::string, std::string> meta;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) meta["hostname"] = host;
  if (const std::string release = collector::kernel_release(); !release.empty()) meta["kernel_release"] = release;
  meta["cgscope_version"] = CGSCOPE_VERSION;
  meta["interval_ns"] = std::to_string(interval_ns);
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
  sub->add_option("-i,--interval", r->interval_, "sampling interval (1s, 500ms, ...)");
  sub->add_option("-d,--duration", r->duration_, "stop after this long (default: until SIGINT/SIGTERM)");
  sub->add_option("--max-size", r->max_size_,
                  "keep the file within this size by dropping the oldest samples (1G, 500M; 0 = no limit; "
                  "at least 1M)");
  sub->add_option("--max-age", r->max_age_, "drop samples older than this (10m, 24h; default: no limit)");
  sub->add_option("--print", r->print_, "also print each interval as snapshot does: none, table or json")
      ->check(CLI::IsMember({"none", "table", "json"}));
  sub->add_option("--bpf", r->bpf_, "eBPF collectors: auto (fall back to cgroupfs), required, off")
      ->check(CLI::IsMember({"auto", "required", "off"}));
  sub->add_option("--bpf-mode", r->bpf_mode_,
                  "auto, tp_btf+sched_info, tp_btf+task_storage, tp_btf+hash or raw_tp+hash");
  sub->add_option("--max-cgroups", r->max_cgroups_,
                  "cgroups the eBPF maps can hold; more are counted as dropped")
      ->check(CLI::Range(1u, 1u << 20));
  sub->add_flag("--v1-identity", r->v1_identity_,
                "identify cgroups by the v1 cpu hierarchy (as on pure v1 hosts)");
  sub->add_flag("--keep-capabilities", r->keep_caps_,
                "do not drop capabilities after the eBPF programs are attached and the file is open");
  return r;
}

bool RecordCommand::parsed() const { return sub_ && sub_->parsed(); }

int RecordCommand::run(bool verbose) const {
  auto usage = [](const std::string& what, const std::string& error) {
    fmt::print(stderr, "cgscope record: {}: {}\n", what, error);
    return 2;
  };
  auto interval = parse_duration(interval_);
  if (!interval) return usage("--interval", interval.error());
  std::uint64_t max_samples = 0;
  if (!duration_.empty()) {
    auto d = parse_duration(duration_);
    if (!d) return usage("--duration", d.error());
    max_samples = static_cast<std::uint64_t>(d->count() / interval->count()) + 1;  // both ends
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
  auto mode = collector::parse_cpu_bpf_mode(bpf_mode_);
  if (!mode) return usage("--bpf-mode", mode.error());

  // Before any thread exists, so that all of them inherit the blocked signals.
  SignalStop signals;

  collector::PipelineOptions options;
  options.bpf = bpf_ == "off"        ? collector::BpfPolicy::kOff
                : bpf_ == "required" ? collector::BpfPolicy::kRequired
                                     : collector::BpfPolicy::kBestEffort;
  options.cpu.mode = *mode;
  options.cpu.max_cgroups = max_cgroups_;
  options.v1_identity = v1_identity_;
  collector::setup_libbpf_logging(verbose);
  auto pipeline = collector::Pipeline::create(options);
  if (!pipeline) {
    fmt::print(stderr, "cgscope record: {}\n", pipeline.error());
    return 1;
  }
  auto writer = model::recording::RecordingWriter::create(
      output_, {.max_size_bytes = *max_size, .max_age_ns = max_age_ns, .meta = host_meta(interval->count())});
  if (!writer) {
    fmt::print(stderr, "cgscope record: {}\n", writer.error());
    return 1;
  }
  // The eBPF programs are attached and the file is open: nothing more needs privileges.
  if (!keep_caps_) {
    if (auto err = drop_all_capabilities(); !err.empty() && verbose)
      fmt::print(stderr, "cgscope record: dropping capabilities: {}\n", err);
  }
  auto source = collector::LiveSource::create(
      std::move(*pipeline), {.interval = *interval, .max_samples = max_samples, .stop = signals.token()});
  if (!source) {
    fmt::print(stderr, "cgscope record: {}\n", source.error());
    return 1;
  }

  const SnapshotOutput print{.json = print_ == "json", .all = false, .top = 25};
  std::optional<model::Sample> prev;
  int status = 0;
  for (;;) {
    auto sample = (*source)->next();
    if (!sample) {
      fmt::print(stderr, "cgscope record: {}\n", sample.error());
      status = 1;
      break;
    }
    if (!*sample) break;
    if (auto st = (*writer)->append(**sample); !st) {
      fmt::print(stderr, "cgscope record: {}\n", st.error());
      status = 1;
      break;
    }
    // Printed after the commit: what is shown is in the file.
    if (print_ != "none") {
      if (prev) print_snapshot(model::derive(*prev, **sample), print);
      prev = std::move(**sample);
    }
  }
  const auto stats = (*writer)->stats();
  if (auto st = (*writer)->close(); !st) {
    fmt::print(stderr, "cgscope record: {}\n", st.error());
    status = 1;
  }
  fmt::print(stderr, "cgscope record: {} samples ({} cgroup-samples) in {}, {}", stats.samples,
             stats.cgroup_samples, output_, format_size(file_size(output_)));
  if (stats.dropped_samples)
    fmt::print(stderr, "; retention dropped the oldest {} samples", stats.dropped_samples);
  fmt::print(stderr, "\n");
  return status;
}

}  // namespace cgscope::cli
