#include "model/recording/fetcher.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "model/recording/checksum.hpp"
#include "model/recording/schema.hpp"
#include "model/sample_codec.hpp"

namespace cgscope::model::recording {

struct SampleFetcher::Statements {
  Statement sample, rows, identity, next_existing, keyframe_before, closed, first_at_or_after_time;
};

namespace {

// A single optional integer (NULL -> nullopt) from a prepared statement with one parameter.
Result<std::optional<std::int64_t>> query_optional(Statement& st, std::int64_t arg) {
  st.bind(1, arg);
  auto row = st.step();
  std::optional<std::int64_t> v;
  if (row && *row && !st.column_is_null(0)) v = st.column_int(0);
  st.reset();
  if (!row) return Error{row.error()};
  return v;
}

// Sleeps up to `d`; false when `stop` was requested.
bool sleep_unless_stopped(std::chrono::milliseconds d, const std::stop_token& stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace

SampleFetcher::SampleFetcher(std::string path, Selection selection, std::unique_ptr<Database> db,
                             RecordingInfo info)
    : path_(std::move(path)), selection_(std::move(selection)), db_(std::move(db)), info_(std::move(info)) {}

SampleFetcher::~SampleFetcher() = default;

Result<std::unique_ptr<SampleFetcher>> SampleFetcher::open(const std::string& path, Selection selection) {
  auto db = open_recording(path);
  if (!db) return Error{db.error()};
  auto info = read_info(**db);
  if (!info) return Error{"recording " + path + " is not readable: " + info.error()};
  auto p = [&](std::string_view sql) { return (*db)->prepare(sql); };
  auto a = p("SELECT monotonic_ns, realtime_ns, keyframe, cgroups, info, checksum FROM sample WHERE seq = ?");
  auto b = p("SELECT pos, ref, data FROM cgroup_sample WHERE seq = ? ORDER BY pos");
  auto c = p("SELECT identity, checksum FROM cgroup WHERE ref = ?");
  auto d = p("SELECT MIN(seq) FROM sample WHERE seq >= ?");
  auto e = p("SELECT MAX(seq) FROM sample WHERE keyframe = 1 AND seq <= ?");
  auto f = p("SELECT COUNT(*) FROM meta WHERE key = 'closed_realtime_ns' AND ?1 = ?1");
  auto g = p("SELECT MIN(seq) FROM sample WHERE realtime_ns >= ?");
  for (auto* r : {&a, &b, &c, &d, &e, &f, &g})
    if (!*r) return Error{"recording " + path + " is not readable: " + r->error()};
  std::unique_ptr<SampleFetcher> f2(
      new SampleFetcher(path, std::move(selection), std::move(*db), std::move(*info)));
  f2->stmts_.reset(new Statements{std::move(*a), std::move(*b), std::move(*c), std::move(*d), std::move(*e),
                                  std::move(*f), std::move(*g)});
  return f2;
}

std::string SampleFetcher::where(std::int64_t seq) const {
  return "recording " + path_ + ": sample " + std::to_string(seq);
}

// Finds the first sample to return and the key frame to decode from. started_ stays false when
// nothing is selected yet (a follow waits for it).
Status SampleFetcher::start() {
  std::optional<std::int64_t> first;
  if (selection_.from_realtime_ns) {
    auto r = query_optional(stmts_->first_at_or_after_time, *selection_.from_realtime_ns);
    if (!r) return Error{"recording " + path_ + ": " + r.error()};
    first = *r;
    if (first && selection_.from_seq) first = std::max(*first, *selection_.from_seq);
  } else {
    auto r = query_optional(stmts_->next_existing, selection_.from_seq.value_or(0));
    if (!r) return Error{"recording " + path_ + ": " + r.error()};
    first = *r;
  }
  if (!first) return {};
  auto key = query_optional(stmts_->keyframe_before, *first);
  if (!key) return Error{"recording " + path_ + ": " + key.error()};
  if (!*key) return Error{where(*first) + ": no key frame at or before it: the recording is corrupted"};
  first_seq_ = *first;
  next_seq_ = **key;
  started_ = true;
  return {};
}

Result<const CgroupIdentity*> SampleFetcher::identity(std::int64_t ref) {
  if (auto it = identities_.find(ref); it != identities_.end()) return &it->second;
  auto& st = stmts_->identity;
  st.bind(1, ref);
  auto row = st.step();
  if (!row) return Error{row.error()};
  if (!*row) {
    st.reset();
    return Error{"cgroup ref " + std::to_string(ref) +
                 " is not in the cgroup table: the recording is corrupted"};
  }
  const std::string_view blob = st.column_blob(0);
  SampleChecksum sum;
  sum.add_info(blob);
  CgroupIdentity id;
  auto decoded = codec::decode_identity(blob, id);
  const bool checksum_ok = sum.value() == st.column_int(1);
  st.reset();
  if (!checksum_ok)
    return Error{"cgroup ref " + std::to_string(ref) + ": checksum mismatch: the recording is corrupted"};
  if (!decoded) return Error{"cgroup ref " + std::to_string(ref) + ": " + decoded.error()};
  return &identities_.emplace(ref, std::move(id)).first->second;
}

Result<bool> SampleFetcher::read(std::int64_t seq, RawSample& out) {
  // One read transaction: the sample and its rows from the same snapshot of a live recording.
  auto tx = Transaction::begin(*db_, false);
  if (!tx) return Error{tx.error()};
  auto& s = stmts_->sample;
  s.bind(1, seq);
  auto row = s.step();
  if (!row) return Error{row.error()};
  if (!*row) {
    s.reset();
    return false;
  }
  out.seq = seq;
  out.monotonic_ns = static_cast<std::uint64_t>(s.column_int(0));
  out.realtime_ns = s.column_int(1);
  out.keyframe = s.column_int(2) != 0;
  const std::int64_t n = s.column_int(3);
  out.info.assign(s.column_blob(4));
  const std::int64_t checksum = s.column_int(5);
  s.reset();
  if (n < 0 || n > (1 << 24))
    return Error{"implausible cgroup count " + std::to_string(n) + ": the recording is corrupted"};

  out.rows.clear();
  out.arena.clear();
  SampleChecksum sum;
  auto& r = stmts_->rows;
  r.bind(1, seq);
  for (;;) {
    auto more = r.step();
    if (!more) return Error{more.error()};
    if (!*more) break;
    const std::int64_t pos = r.column_int(0);
    if (pos != static_cast<std::int64_t>(out.rows.size()) || pos >= n) {
      r.reset();
      return Error{"cgroup row " + std::to_string(pos) + " out of order or beyond the " + std::to_string(n) +
                   " recorded: the recording is corrupted"};
    }
    const std::int64_t ref = r.column_int(1);
    const std::string_view data = r.column_blob(2);
    sum.add_row(ref, data);
    out.rows.push_back({ref, out.arena.size(), data.size(), nullptr});
    out.arena.append(data);
  }
  r.reset();
  sum.add_info(out.info);
  sum.add_header(out.monotonic_ns, out.realtime_ns, out.keyframe, n);
  if (static_cast<std::int64_t>(out.rows.size()) != n)
    return Error{"has " + std::to_string(out.rows.size()) + " cgroup rows of the " + std::to_string(n) +
                 " recorded: the recording is corrupted"};
  if (sum.value() != checksum) return Error{"checksum mismatch: the recording is corrupted"};
  // Usually the same cgroup as at this position in the previous sample: no lookup.
  last_refs_.resize(out.rows.size());
  for (std::size_t i = 0; i < out.rows.size(); ++i) {
    auto& rw = out.rows[i];
    if (last_refs_[i].first == rw.ref && last_refs_[i].second) {
      rw.identity = last_refs_[i].second;
      continue;
    }
    auto id = identity(rw.ref);
    if (!id) return Error{"cgroup row " + std::to_string(i) + ": " + id.error()};
    rw.identity = *id;
    last_refs_[i] = {rw.ref, *id};
  }
  if (auto st = tx->commit(); !st) return Error{st.error()};
  return true;
}

Result<bool> SampleFetcher::fetch(RawSample& out) {
  while (!finished_) {
    if (!started_) {
      if (auto st = start(); !st) return Error{st.error()};
      if (!started_) {
        if (!selection_.follow || !sleep_unless_stopped(selection_.poll_interval, selection_.stop)) break;
        continue;
      }
    }
    auto found = read(next_seq_, out);
    if (!found) return Error{where(next_seq_) + ": " + found.error()};
    if (!*found) {
      auto later = query_optional(stmts_->next_existing, next_seq_);
      if (!later) return Error{where(next_seq_) + ": " + later.error()};
      // Committed by the recorder between our read and this query (a newer snapshot): read it.
      if (*later && **later == next_seq_) continue;
      if (*later) {
        // Retention removed this part while we were behind it; the first sample left starts
        // a segment. Anything else is a hole in the middle of the file.
        auto oldest = query_optional(stmts_->next_existing, 0);
        if (!oldest) return Error{where(next_seq_) + ": " + oldest.error()};
        if (*oldest != *later)
          return Error{where(next_seq_) + " is missing, sample " + std::to_string(**later) +
                       " follows: the recording is corrupted"};
        skipped_samples_ += static_cast<std::uint64_t>(**later - next_seq_);
        next_seq_ = **later;
        first_seq_ = std::max(first_seq_, next_seq_);
        continue;
      }
      if (!selection_.follow) break;
      // At the end of a live recording: wait for the next sample until the recorder closes.
      auto closed = query_optional(stmts_->closed, 0);
      if (!closed) return Error{"recording " + path_ + ": " + closed.error()};
      if (**closed > 0) {
        info_.closed = true;
        auto again = read(next_seq_, out);  // committed just before it closed?
        if (!again) return Error{where(next_seq_) + ": " + again.error()};
        if (!*again) break;
      } else {
        if (!sleep_unless_stopped(selection_.poll_interval, selection_.stop)) break;
        continue;
      }
    }
    const std::int64_t seq = next_seq_++;
    out.selected = seq >= first_seq_;
    if (out.selected && ((selection_.to_seq && seq > *selection_.to_seq) ||
                         (selection_.to_realtime_ns && out.realtime_ns > *selection_.to_realtime_ns)))
      break;
    return true;
  }
  finished_ = true;
  return false;
}

}  // namespace cgscope::model::recording
