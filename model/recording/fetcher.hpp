// The reading half of RecordingSource: which samples to read (selection, key frame to start
// from, retention gaps, waiting at the end of a live recording), their rows fetched from SQLite
// and checked against the sample checksum. No decoding: that is RecordingSource's, possibly on
// another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/recording/reader.hpp"
#include "model/recording/sqlite.hpp"
#include "model/result.hpp"

namespace cgscope::model::recording {

// One sample as stored, verified (checksum, row count and order, identities present).
struct RawSample {
  struct Row {
    std::int64_t ref = 0;
    std::size_t offset = 0, size = 0;          // the row's data in `arena`
    const CgroupIdentity* identity = nullptr;  // owned by the fetcher, stable
  };
  std::int64_t seq = 0;
  bool selected = false;  // false: read only as the base of the first selected sample
  bool keyframe = false;
  std::uint64_t monotonic_ns = 0;
  std::int64_t realtime_ns = 0;
  std::string info;
  std::vector<Row> rows;
  std::string arena;

  std::string_view data(const Row& row) const { return std::string_view(arena).substr(row.offset, row.size); }
};

class SampleFetcher {
 public:
  static Result<std::unique_ptr<SampleFetcher>> open(const std::string& path, Selection selection);
  ~SampleFetcher();

  // The next sample in recording order into `out` (its buffers are reused); false at the end.
  Result<bool> fetch(RawSample& out);

  const RecordingInfo& info() const { return info_; }
  std::uint64_t skipped_samples() const { return skipped_samples_.load(); }
  const std::string& path() const { return path_; }

 private:
  struct Statements;
  SampleFetcher(std::string path, Selection selection, std::unique_ptr<Database> db, RecordingInfo info);
  Status start();
  Result<bool> read(std::int64_t seq, RawSample& out);
  Result<const CgroupIdentity*> identity(std::int64_t ref);
  std::string where(std::int64_t seq) const;

  std::string path_;
  Selection selection_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statements> stmts_;
  RecordingInfo info_;
  bool started_ = false, finished_ = false;
  std::int64_t next_seq_ = 0;   // next sample to read
  std::int64_t first_seq_ = 0;  // first selected sample
  std::atomic<std::uint64_t> skipped_samples_{0};
  std::unordered_map<std::int64_t, CgroupIdentity> identities_;  // node-based: pointers stay valid
  std::vector<std::pair<std::int64_t, const CgroupIdentity*>> last_refs_;  // by row position
};

}  // namespace cgscope::model::recording
