// Reads a recording back as the Samples that were written, bit for bit: sequentially as a
// Source (replay, live tail), or all at once in parallel for analysis.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/recording/sqlite.hpp"
#include "model/result.hpp"
#include "model/source.hpp"

namespace cgscope::model::recording {

// Which samples to read. Times are wall-clock (Sample::realtime_ns), inclusive.
struct Selection {
  std::optional<std::int64_t> from_realtime_ns, to_realtime_ns;
  std::optional<std::int64_t> from_seq, to_seq;  // by sample number (parallel loading)
  // At the end, wait for the writer to add samples until it closes the recording (live tail).
  bool follow = false;
  std::chrono::milliseconds poll_interval{200};
  std::stop_token stop;  // ends the replay (a follow also while it waits)
  // Read and check samples on a second thread while this one decodes (not with follow).
  bool prefetch = true;
};

struct RecordingInfo {
  std::string path;
  std::map<std::string, std::string> meta;
  std::int64_t samples = 0;
  std::int64_t first_seq = 0, last_seq = 0;
  std::int64_t first_realtime_ns = 0, last_realtime_ns = 0;
  std::int64_t cgroups = 0;  // distinct identities stored
  bool closed = false;       // the recorder finished cleanly (else: still running, or killed)
  std::string note;          // e.g. written by an older cgscope: what it did not record
};

Result<RecordingInfo> read_info(Database& db);

class SampleFetcher;
struct RawSample;

class RecordingSource : public Source {
 public:
  static Result<std::unique_ptr<RecordingSource>> open(const std::string& path, Selection selection = {});
  ~RecordingSource() override;

  Result<std::optional<Sample>> next() override;
  // The same without a copy (nullptr at the end), valid until the second call after this one:
  // samples are decoded into two buffers in turn, each over the other.
  Result<const Sample*> next_view() override;
  std::string description() const override { return "recording " + path_; }
  const RecordingInfo& info() const;
  // Samples that retention removed while a follow was behind (skipped to the next key frame).
  std::uint64_t skipped_samples() const;

 private:
  struct Prefetch;
  RecordingSource(std::string path, std::unique_ptr<SampleFetcher> fetcher, bool prefetch);
  // Decodes `raw` into the buffer that is not cur_, over cur_'s sample, and makes it cur_.
  Status decode(const RawSample& raw);

  std::string path_;
  std::unique_ptr<SampleFetcher> fetcher_;
  std::unique_ptr<Prefetch> prefetch_;  // reading and checking on a second thread
  std::unique_ptr<RawSample> raw_;      // without prefetch
  // A decoded sample and the ref of each of its rows.
  struct Decoded {
    Sample sample;
    std::vector<std::int64_t> refs;
    bool has_duplicates = false;  // a ref with two rows
  };
  // The last sample decoded (the base of the next one's deltas) and the one before it, whose
  // storage the next one reuses.
  std::array<Decoded, 2> buffers_;
  std::size_t cur_ = 0;
  std::optional<std::int64_t> cur_seq_;  // of buffers_[cur_]; none before the first, or after a failure
  std::stop_token stop_;             // Selection::stop
};

// Every selected sample, decoded by `threads` threads (0 = one per CPU), each from its own key
// frame onwards.
Result<std::vector<Sample>> load_samples(const std::string& path, const Selection& selection = {},
                                         unsigned threads = 0);

}  // namespace cgscope::model::recording
