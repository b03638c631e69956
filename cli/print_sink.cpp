#include "cli/print_sink.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "model/json.hpp"

namespace cgscope::cli {

void print_snapshot(const model::Snapshot& snapshot, const PrintOptions& options) {
  if (options.json) {
    std::puts(model::to_json(snapshot).dump().c_str());
  } else {
    std::fputs(render_table(snapshot, options.table).c_str(), stdout);
    std::fputs("\n", stdout);
  }
  std::fflush(stdout);
}

Status PrintSink::on_interval(const model::Snapshot& interval) {
  print_snapshot(interval, options_);
  ++printed_;
  return {};
}

Status ReadyFileSink::on_sample(const model::Sample& /*sample*/) {
  if (created_ || path_.empty()) return {};
  created_ = true;
  // The collectors are attached and the first interval has begun.
  FILE* f = std::fopen(path_.c_str(), "we");
  if (!f) return Error{"--ready-file " + path_ + ": " + std::strerror(errno)};
  std::fclose(f);
  return {};
}

}  // namespace cgscope::cli
