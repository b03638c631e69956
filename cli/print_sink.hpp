// Sinks of the command line: each interval printed as a table or JSON, and a file created once
// the first sample is taken (for scripts that start a workload then).
#pragma once

#include <string>

#include "cli/format.hpp"
#include "model/stream.hpp"

namespace cgscope::cli {

struct PrintOptions {
  bool json = false;    // one JSON object per interval (NDJSON), else the table
  TableOptions table;   // rows and columns of the table
};

// Prints one interval as `cgscope snapshot` does, and flushes.
void print_snapshot(const model::Snapshot& snapshot, const PrintOptions& options);

class PrintSink final : public model::SnapshotSink {
 public:
  explicit PrintSink(PrintOptions options) : options_(std::move(options)) {}
  Status on_interval(const model::Snapshot& interval) override;
  std::uint64_t printed() const { return printed_; }

 private:
  PrintOptions options_;
  std::uint64_t printed_ = 0;
};

class ReadyFileSink final : public model::SnapshotSink {
 public:
  explicit ReadyFileSink(std::string path) : path_(std::move(path)) {}
  Status on_sample(const model::Sample& sample) override;

 private:
  std::string path_;
  bool created_ = false;
};

}  // namespace cgscope::cli
