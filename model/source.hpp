// Where Samples come from: the live collector (collector::LiveSource) or a recording
// (model::recording::RecordingSource). Sinks take a Source and derive snapshots from
// consecutive samples with model::derive(), so live and replay are the same pipeline.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model {

class Source {
 public:
  virtual ~Source() = default;
  // The next cumulative sample, nullopt at the end (end of the selected part of a recording,
  // or the live source was stopped). An error is final: what failed, why, what to do.
  virtual Result<std::optional<Sample>> next() = 0;
  // The same without a copy, nullptr at the end. The sample stays valid until the second call
  // after this one, so a caller holds it and the one before (run_stream derives from both).
  // This default moves next()'s samples into two buffers in turn; a recording decodes in place.
  virtual Result<const Sample*> next_view();
  // "live" or "recording FILE", for headers and messages.
  virtual std::string description() const = 0;

 private:
  std::array<Sample, 2> views_;
  std::size_t view_ = 0;
};

}  // namespace cgscope::model
