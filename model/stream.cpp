#include "model/stream.hpp"

#include <optional>

namespace cgscope::model {

Result<StreamStats> run_stream(Source& source, std::span<SnapshotSink* const> sinks, const StreamOptions& options) {
  StreamStats stats;
  std::optional<Sample> prev;
  while (options.max_intervals == 0 || stats.intervals < options.max_intervals) {
    // A stop request is the source's to honour (a live source takes one last sample, so that
    // the interval cut short is still reported; a recording ends at once).
    auto next = source.next();
    if (!next) return Error{next.error()};
    if (!*next) {
      stats.stopped = options.stop.stop_requested();
      break;
    }
    Sample& curr = **next;
    ++stats.samples;
    for (SnapshotSink* sink : sinks)
      if (auto s = sink->on_sample(curr); !s) return Error{s.error()};
    if (prev) {
      const Snapshot interval = derive(*prev, curr);
      ++stats.intervals;
      for (SnapshotSink* sink : sinks)
        if (auto s = sink->on_interval(interval); !s) return Error{s.error()};
    }
    prev = std::move(curr);
  }
  return stats;
}

}  // namespace cgscope::model
