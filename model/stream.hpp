// One stream of snapshots from any Source (the live collector or a recording): the one loop
// that takes the first sample as the base, derives each interval from two consecutive samples
// (model::derive: rates, histograms, cgroups that appeared or vanished) and hands samples and
// intervals to sinks. Pacing is the source's (the live source samples on a steady schedule, a
// recording as fast as it is read), and so is stopping: a source ends when its stop_token is
// requested (Ctrl-C, a UI) — the live source after one last sample, so that the interval cut
// short is still reported, as libbpf-tools print their last histogram on Ctrl-C. A front-end
// is a sink and nothing else.
#pragma once

#include <cstdint>
#include <span>
#include <stop_token>

#include "model/result.hpp"
#include "model/snapshot.hpp"
#include "model/source.hpp"

namespace cgscope::model {

class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  // Every sample, the first one included, in order (a recorder stores them all).
  virtual Status on_sample(const Sample& /*sample*/) { return {}; }
  // Each interval between two consecutive samples, after on_sample(curr).
  virtual Status on_interval(const Snapshot& /*interval*/) { return {}; }
};

struct StreamOptions {
  std::uint64_t max_intervals = 0;  // stop after this many intervals; 0 = until the source ends
  std::stop_token stop;             // the sources' token: tells StreamStats::stopped apart
};

struct StreamStats {
  std::uint64_t samples = 0;
  std::uint64_t intervals = 0;
  bool stopped = false;  // the source ended because stop was requested
};

// Pulls samples until the source ends (by itself or because stop was requested) or
// max_intervals are done. The first error (of the source or of a sink) ends the stream and is
// returned: what failed and why.
Result<StreamStats> run_stream(Source& source, std::span<SnapshotSink* const> sinks, const StreamOptions& options);

}  // namespace cgscope::model
