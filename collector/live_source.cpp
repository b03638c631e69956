#include "collector/live_source.hpp"

#include <condition_variable>
#include <mutex>

namespace cgscope::collector {

Result<std::unique_ptr<LiveSource>> LiveSource::create(std::unique_ptr<Pipeline> pipeline,
                                                       LiveSourceOptions options) {
  if (!pipeline) return Error{"live source: no pipeline"};
  if (options.interval <= std::chrono::nanoseconds::zero())
    return Error{"live source: the interval must be > 0"};
  return std::unique_ptr<LiveSource>(new LiveSource(std::move(pipeline), std::move(options)));
}

Result<std::optional<model::Sample>> LiveSource::next() {
  if (final_taken_) return std::optional<model::Sample>();
  if (options_.stop.stop_requested()) {
    // The interval in progress is cut short, not lost: one last sample ends it.
    if (taken_ == 0) return std::optional<model::Sample>();
    final_taken_ = true;
    return take();
  }
  if (options_.max_samples != 0 && taken_ >= options_.max_samples) return std::optional<model::Sample>();
  const auto now = std::chrono::steady_clock::now();
  if (taken_ == 0) {
    deadline_ = now;
  } else {
    deadline_ += options_.interval;
    if (deadline_ < now) {  // we fell behind (a slow sink): skip the missed ticks
      const auto behind = (now - deadline_) / options_.interval;
      deadline_ += behind * options_.interval;
    }
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_until(lock, options_.stop, deadline_, [] { return false; });
    if (options_.stop.stop_requested()) final_taken_ = true;
  }
  return take();
}

Result<std::optional<model::Sample>> LiveSource::take() {
  auto sample = pipeline_->sample();
  if (!sample) return Error{sample.error()};
  ++taken_;
  return std::optional<model::Sample>(std::move(*sample));
}

}  // namespace cgscope::collector
