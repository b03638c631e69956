// Appends Samples to a recording: one transaction per sample (a killed recorder loses at most
// the sample being written), identities stored once, rows delta-encoded against the previous
// sample within a segment, oldest segments dropped to stay within --max-size / --max-age.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/recording/sqlite.hpp"
#include "model/result.hpp"
#include "model/snapshot.hpp"

namespace cgscope::model::recording {

struct WriterOptions {
  std::uint64_t max_size_bytes = 0;  // bound of the database file; 0 = none
  std::int64_t max_age_ns = 0;       // keep at least this much history; 0 = no age limit
  // A segment starts with a key frame (every row encoded against nothing): readers can start
  // there, and retention drops whole segments. At most this many samples per segment, fewer
  // when the limits above call for finer retention.
  std::size_t max_segment_samples = 60;
  std::map<std::string, std::string> meta;  // stored in the meta table (host, version, ...)
};

// A --max-size below this leaves no room for more than one segment of a busy host.
inline constexpr std::uint64_t kMinMaxSizeBytes = 1 << 20;

struct WriterStats {
  std::uint64_t samples = 0;          // written (committed)
  std::uint64_t cgroup_samples = 0;   // rows written
  std::uint64_t row_bytes = 0;        // encoded bytes of those rows
  std::uint64_t info_bytes = 0;       // encoded bytes of the samples' sample-wide part (NFS data)
  std::uint64_t dropped_samples = 0;  // removed by retention
  std::uint64_t dropped_segments = 0;
};

class RecordingWriter {
 public:
  // Creates a new recording at `path`; refuses to overwrite an existing non-empty file.
  static Result<std::unique_ptr<RecordingWriter>> create(const std::string& path, WriterOptions options);
  ~RecordingWriter();
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  // Writes one sample in one transaction, then applies retention in the same transaction.
  Status append(const Sample& sample);
  // Marks the recording as cleanly closed, checkpoints the WAL into the file and closes it.
  Status close();

  const WriterStats& stats() const { return stats_; }
  const std::string& path() const { return path_; }
  // Bytes used by live pages (the file itself may hold free pages that later samples reuse).
  Result<std::uint64_t> used_bytes();

 private:
  struct Segment {
    std::int64_t first_seq = 0, last_seq = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_monotonic_ns = 0, last_monotonic_ns = 0;
  };
  struct Identity {
    CgroupIdentity identity;
    std::int64_t ref;
  };
  struct Statements;

  RecordingWriter(std::string path, WriterOptions options, std::unique_ptr<Database> db);
  Status prepare();
  Result<std::int64_t> ref_of(const CgroupIdentity& identity, std::int64_t seq,
                              std::vector<std::int64_t>& added);
  Status drop_segment(const Segment& segment, std::vector<std::int64_t>& dropped_refs);
  Status apply_retention(std::deque<Segment>& segments, std::uint64_t newest_monotonic_ns,
                         std::vector<std::int64_t>& dropped_refs, WriterStats& stats);
  void forget_identities(const std::vector<std::int64_t>& refs);

  std::string path_;
  WriterOptions options_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Statements> stmts_;
  std::int64_t page_size_ = 4096;
  std::uint64_t largest_sample_bytes_ = 0;  // estimate, for the --max-size headroom
  bool closed_ = false;

  std::int64_t next_seq_ = 1;
  std::int64_t next_ref_ = 1;
  std::unordered_map<std::uint64_t, std::vector<Identity>> identities_;  // by cgroup id
  std::unordered_map<std::int64_t, std::int64_t> ref_last_seq_;
  std::deque<Segment> segments_;
  bool force_keyframe_ = false;
  // The previous sample, the base of the next one's deltas: its rows by ref (first occurrence).
  Sample prev_;
  std::unordered_map<std::int64_t, std::size_t> prev_index_;
  WriterStats stats_;
  std::string blob_, info_;
};

}  // namespace cgscope::model::recording
