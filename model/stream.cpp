#include "model/stream.hpp"

#include <optional>

namespace cgscope::model {

Result<const Sample*> Source::next_view() {
  auto next = this->next();
  if (!next) return Error{next.error()};
  if (!*next) return static_cast<const Sample*>(nullptr);
  view_ ^= 1;
  views_[view_] = std::move(**next);
  return &views_[view_];
}

Result<StreamStats> run_stream(Source& source, std::span<SnapshotSink* const> sinks, const StreamOptions& options) {
  StreamStats stats;
  const Sample* prev = nullptr;  // valid until the call after next of next_view()
  Snapshot interval;             // its storage is reused from one interval to the next
  while (options.max_intervals == 0 || stats.intervals < options.max_intervals) {
    // A stop request is the source's to honour (a live source takes one last sample, so that
    // the interval cut short is still reported; a recording ends at once).
    auto next = source.next_view();
    if (!next) return Error{next.error()};
    if (!*next) {
      stats.stopped = options.stop.stop_requested();
      break;
    }
    const Sample& curr = **next;
    ++stats.samples;
    for (SnapshotSink* sink : sinks)
      if (auto s = sink->on_sample(curr); !s) return Error{s.error()};
    if (prev) {
      derive(*prev, curr, interval);
      ++stats.intervals;
      for (SnapshotSink* sink : sinks)
        if (auto s = sink->on_interval(interval); !s) return Error{s.error()};
    }
    prev = &curr;
  }
  return stats;
}

}  // namespace cgscope::model
