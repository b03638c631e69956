#include "cli/replay_cmd.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/format.hpp"
#include "cli/record_options.hpp"
#include "model/json.hpp"
#include "model/recording/reader.hpp"

namespace cgscope::cli {

void print_snapshot(const model::Snapshot& snapshot, const SnapshotOutput& output) {
  if (output.json) {
    std::puts(model::to_json(snapshot).dump().c_str());
  } else {
    std::fputs(render_table(snapshot, {.all = output.all, .top = output.top}).c_str(), stdout);
    std::fputs("\n", stdout);
  }
  std::fflush(stdout);
}

std::unique_ptr<ReplayOptions> ReplayOptions::add_to(CLI::App& snapshot) {
  auto r = std::make_unique<ReplayOptions>();
  auto* replay =
      snapshot.add_option("--replay", r->file_, "read the samples from a recording (cgscope record)");
  auto* from = snapshot.add_option("--from", r->from_,
                                   "replay from this time: 'YYYY-MM-DD HH:MM:SS', HH:MM, @UNIX_SECONDS, +10m "
                                   "(after the start), -10m (before the end)");
  auto* to = snapshot.add_option("--to", r->to_, "replay up to this time (same forms as --from)");
  auto* follow = snapshot.add_flag("--follow", r->follow_,
                                   "at the end, wait for new samples of a recording being written");
  for (auto* o : {from, to, follow}) o->needs(replay);
  // Options of the live collector make no sense with a recording.
  for (const char* live :
       {"--interval", "--bpf", "--bpf-mode", "--max-cgroups", "--v1-identity", "--keep-capabilities"}) {
    try {
      replay->excludes(snapshot.get_option(live));
    } catch (const CLI::OptionNotFound&) {
    }
  }
  return r;
}

int ReplayOptions::run(const SnapshotOutput& output) const {
  namespace rec = model::recording;
  auto whole = rec::RecordingSource::open(file_);
  if (!whole) {
    fmt::print(stderr, "cgscope: {}\n", whole.error());
    return 1;
  }
  const rec::RecordingInfo info = (*whole)->info();
  whole->reset();
  rec::Selection selection;
  selection.follow = follow_;
  if (!from_.empty()) {
    auto t = parse_time(from_, info.first_realtime_ns, info.last_realtime_ns);
    if (!t) {
      fmt::print(stderr, "cgscope: --from: {}\n", t.error());
      return 2;
    }
    selection.from_realtime_ns = *t;
  }
  if (!to_.empty()) {
    auto t = parse_time(to_, info.first_realtime_ns, info.last_realtime_ns);
    if (!t) {
      fmt::print(stderr, "cgscope: --to: {}\n", t.error());
      return 2;
    }
    selection.to_realtime_ns = *t;
  }
  if (selection.from_realtime_ns && selection.to_realtime_ns &&
      *selection.from_realtime_ns > *selection.to_realtime_ns) {
    fmt::print(stderr, "cgscope: --from {} is after --to {}\n", format_time(*selection.from_realtime_ns),
               format_time(*selection.to_realtime_ns));
    return 2;
  }
  if (!info.note.empty()) fmt::print(stderr, "cgscope: note: {}: {}\n", file_, info.note);

  auto source = rec::RecordingSource::open(file_, selection);
  if (!source) {
    fmt::print(stderr, "cgscope: {}\n", source.error());
    return 1;
  }
  auto fail = [](const std::string& error) {
    fmt::print(stderr, "cgscope: {}\n", error);
    return 1;
  };
  auto prev = (*source)->next();
  if (!prev) return fail(prev.error());
  int printed = 0;
  while (*prev && (output.count <= 0 || printed < output.count)) {
    auto next = (*source)->next();
    if (!next) return fail(next.error());
    if (!*next) break;
    print_snapshot(model::derive(**prev, **next), output);
    ++printed;
    prev = std::move(next);
  }
  if (printed == 0) {
    if (info.samples == 0) return fail("recording " + file_ + " has no samples yet");
    return fail(
        fmt::format("no interval of recording {} lies between {} and {}: it covers {} to {} ({} samples)",
                    file_, from_.empty() ? "its start" : format_time(*selection.from_realtime_ns),
                    to_.empty() ? "its end" : format_time(*selection.to_realtime_ns),
                    format_time(info.first_realtime_ns), format_time(info.last_realtime_ns), info.samples));
  }
  if ((*source)->skipped_samples() > 0) {
    fmt::print(stderr, "cgscope: {} samples were dropped by the recorder's retention while being replayed\n",
               (*source)->skipped_samples());
  }
  if (!follow_ && !(*source)->info().closed) {
    fmt::print(stderr,
               "cgscope: note: recording {} was not closed: it is still being written (replay it with "
               "--follow to wait for more), or its recorder was killed\n",
               file_);
  }
  return 0;
}

}  // namespace cgscope::cli
