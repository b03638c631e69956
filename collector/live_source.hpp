// The live Source: the collector pipeline, sampled once per interval on a steady schedule.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>

#include "collector/pipeline.hpp"
#include "model/source.hpp"

namespace cgscope::collector {

struct LiveSourceOptions {
  std::chrono::nanoseconds interval = std::chrono::seconds(1);
  std::uint64_t max_samples = 0;  // 0 = until stopped
  std::stop_token stop;           // next() takes one last sample, then returns nullopt
};

class LiveSource : public model::Source {
 public:
  static Result<std::unique_ptr<LiveSource>> create(std::unique_ptr<Pipeline> pipeline,
                                                    LiveSourceOptions options);

  // The first call samples at once; each later one at the next multiple of the interval after
  // the first (no drift; a late call samples immediately and the schedule skips missed ticks).
  // When stop is requested (also while waiting), one last sample ends the interval in
  // progress early; then nullopt.
  Result<std::optional<model::Sample>> next() override;
  std::string description() const override { return "live"; }
  Pipeline& pipeline() { return *pipeline_; }

 private:
  LiveSource(std::unique_ptr<Pipeline> pipeline, LiveSourceOptions options)
      : pipeline_(std::move(pipeline)), options_(std::move(options)) {}
  Result<std::optional<model::Sample>> take();

  std::unique_ptr<Pipeline> pipeline_;
  LiveSourceOptions options_;
  std::uint64_t taken_ = 0;
  bool final_taken_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace cgscope::collector
