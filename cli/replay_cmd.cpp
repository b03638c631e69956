#include "cli/replay_cmd.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/live_options.hpp"
#include "cli/record_options.hpp"

namespace cgscope::cli {

std::unique_ptr<ReplayOptions> ReplayOptions::add_to(CLI::App& sub) {
  auto r = std::make_unique<ReplayOptions>();
  auto* replay = sub.add_option("--replay", r->file_, "read the samples from a recording (cgscope record)");
  auto* from = sub.add_option("--from", r->from_,
                              "replay from this time: 'YYYY-MM-DD HH:MM:SS', HH:MM, @UNIX_SECONDS, +10m "
                              "(after the start), -10m (before the end)");
  auto* to = sub.add_option("--to", r->to_, "replay up to this time (same forms as --from)");
  auto* follow =
      sub.add_flag("--follow", r->follow_, "at the end, wait for new samples of a recording being written");
  for (auto* o : {from, to, follow}) o->needs(replay);
  // Options of the live collector make no sense with a recording.
  for (const auto& live : LiveOptions::option_names()) {
    try {
      replay->excludes(sub.get_option(live));
    } catch (const CLI::OptionNotFound&) {
    }
  }
  return r;
}

Result<std::unique_ptr<model::recording::RecordingSource>> ReplayOptions::open(std::stop_token stop,
                                                                              bool* usage) const {
  namespace rec = model::recording;
  if (usage) *usage = false;
  auto whole = rec::RecordingSource::open(file_);
  if (!whole) return Error{whole.error()};
  info_ = (*whole)->info();
  whole->reset();
  rec::Selection selection;
  selection.follow = follow_;
  selection.stop = std::move(stop);
  auto bad = [&](const std::string& what) {
    if (usage) *usage = true;
    return Error{what};
  };
  if (!from_.empty()) {
    auto t = parse_time(from_, info_.first_realtime_ns, info_.last_realtime_ns);
    if (!t) return bad("--from: " + t.error());
    selection.from_realtime_ns = *t;
  }
  if (!to_.empty()) {
    auto t = parse_time(to_, info_.first_realtime_ns, info_.last_realtime_ns);
    if (!t) return bad("--to: " + t.error());
    selection.to_realtime_ns = *t;
  }
  if (selection.from_realtime_ns && selection.to_realtime_ns &&
      *selection.from_realtime_ns > *selection.to_realtime_ns)
    return bad(fmt::format("--from {} is after --to {}", format_time(*selection.from_realtime_ns),
                           format_time(*selection.to_realtime_ns)));
  if (!info_.note.empty()) fmt::print(stderr, "cgscope: note: {}: {}\n", file_, info_.note);
  selection_ = selection;
  return rec::RecordingSource::open(file_, selection);
}

int ReplayOptions::finish(const model::recording::RecordingSource& source, const model::StreamStats& stats) const {
  if (stats.intervals == 0 && !stats.stopped) {
    if (info_.samples == 0) {
      fmt::print(stderr, "cgscope: recording {} has no samples yet\n", file_);
      return 1;
    }
    fmt::print(stderr,
               "cgscope: no interval of recording {} lies between {} and {}: it covers {} to {} ({} samples)\n",
               file_, from_.empty() ? "its start" : format_time(*selection_.from_realtime_ns),
               to_.empty() ? "its end" : format_time(*selection_.to_realtime_ns), format_time(info_.first_realtime_ns),
               format_time(info_.last_realtime_ns), info_.samples);
    return 1;
  }
  if (source.skipped_samples() > 0)
    fmt::print(stderr, "cgscope: {} samples were dropped by the recorder's retention while being replayed\n",
               source.skipped_samples());
  if (!follow_ && !source.info().closed) {
    fmt::print(stderr,
               "cgscope: note: recording {} was not closed: it is still being written (replay it with "
               "--follow to wait for more), or its recorder was killed\n",
               file_);
  }
  return 0;
}

}  // namespace cgscope::cli
