// `--replay FILE [--from T] [--to T] [--follow]`: a recording as the source of a command
// (snapshot today, every front-end later) instead of the live collector.
#pragma once

#include <memory>
#include <stop_token>
#include <string>

#include "model/recording/reader.hpp"
#include "model/result.hpp"
#include "model/stream.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace cgscope::cli {

class ReplayOptions {
 public:
  // Adds --replay, --from, --to and --follow to a subcommand (after the live options: --replay
  // excludes them).
  static std::unique_ptr<ReplayOptions> add_to(CLI::App& sub);
  bool requested() const { return !file_.empty(); }
  const std::string& file() const { return file_; }

  // Opens the recording with the selection of --from/--to/--follow; `stop` ends a follow.
  // Prints a note when the file was written by a newer cgscope. Errors: what and what to do;
  // `usage` is set when the error is in the arguments (exit code 2) rather than the file.
  Result<std::unique_ptr<model::recording::RecordingSource>> open(std::stop_token stop, bool* usage) const;
  // After the stream: an error when no interval was in the selection (exit 1), notes on
  // samples retention dropped during a follow and on a recording that was not closed.
  int finish(const model::recording::RecordingSource& source, const model::StreamStats& stats) const;

 private:
  std::string file_, from_, to_;
  bool follow_ = false;
  // What open() resolved, for finish()'s messages.
  mutable model::recording::RecordingInfo info_;
  mutable model::recording::Selection selection_;
};

}  // namespace cgscope::cli
