#include "model/recording/reader.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "model/recording/checksum.hpp"
#include "model/recording/fetcher.hpp"
#include "model/recording/schema.hpp"
#include "model/sample_codec.hpp"

namespace cgscope::model::recording {
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

}  // namespace

Result<RecordingInfo> read_info(Database& db) {
  RecordingInfo info;
  info.path = db.path();
  auto meta = read_meta(db);
  if (!meta) return Error{meta.error()};
  info.meta = std::move(*meta);
  info.closed = info.meta.count("closed_realtime_ns") != 0;
  auto st = db.prepare(
      "SELECT COUNT(*), MIN(seq), MAX(seq), (SELECT realtime_ns FROM sample ORDER BY seq LIMIT 1), "
      "(SELECT realtime_ns FROM sample ORDER BY seq DESC LIMIT 1), (SELECT COUNT(*) FROM cgroup) FROM "
      "sample");
  if (!st) return Error{st.error()};
  auto row = st->step();
  if (!row) return Error{row.error()};
  info.samples = st->column_int(0);
  info.first_seq = st->column_int(1);
  info.last_seq = st->column_int(2);
  info.first_realtime_ns = st->column_int(3);
  info.last_realtime_ns = st->column_int(4);
  info.cgroups = st->column_int(5);
  // open_recording() refused newer codec versions; older ones lack what came later.
  const auto codec = info.meta.find("codec_version");
  if (codec != info.meta.end() && std::atoll(codec->second.c_str()) < codec::kFirstNfsCodecVersion) {
    info.note = "recorded by an older cgscope (codec version " + codec->second +
                "), before NFS data was recorded: it has no NFS view";
  }
  return info;
}

// A bounded queue of fetched samples between the fetching thread and the decoding one; buffers
// travel back to the fetcher for reuse.
struct RecordingSource::Prefetch {
  static constexpr std::size_t kDepth = 4;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::unique_ptr<RawSample>> ready, free;
  std::optional<std::string> error;  // the fetch failed: after the ready ones
  bool done = false;                 // no more samples
  bool stop = false;
  std::unique_ptr<RawSample> in_use;
  std::thread thread;

  void run(SampleFetcher& fetcher) {
    for (;;) {
      std::unique_ptr<RawSample> raw;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return stop || ready.size() < kDepth; });
        if (stop) return;
        if (!free.empty()) {
          raw = std::move(free.front());
          free.pop_front();
        }
      }
      if (!raw) raw = std::make_unique<RawSample>();
      auto got = fetcher.fetch(*raw);
      std::lock_guard lock(mutex);
      if (!got) error = got.error();
      if (got && *got) ready.push_back(std::move(raw));
      if (!got || !*got) done = true;
      cv.notify_all();
      if (done) return;
    }
  }
};

RecordingSource::RecordingSource(std::string path, std::unique_ptr<SampleFetcher> fetcher, bool prefetch)
    : path_(std::move(path)), fetcher_(std::move(fetcher)) {
  if (prefetch) {
    prefetch_ = std::make_unique<Prefetch>();
  } else {
    raw_ = std::make_unique<RawSample>();
  }
}

RecordingSource::~RecordingSource() {
  if (prefetch_ && prefetch_->thread.joinable()) {
    {
      std::lock_guard lock(prefetch_->mutex);
      prefetch_->stop = true;
    }
    prefetch_->cv.notify_all();
    prefetch_->thread.join();
  }
}

Result<std::unique_ptr<RecordingSource>> RecordingSource::open(const std::string& path, Selection selection) {
  const bool prefetch = selection.prefetch && !selection.follow;
  std::stop_token stop = selection.stop;
  auto fetcher = SampleFetcher::open(path, std::move(selection));
  if (!fetcher) return Error{fetcher.error()};
  std::unique_ptr<RecordingSource> source(new RecordingSource(path, std::move(*fetcher), prefetch));
  source->stop_ = std::move(stop);
  return source;
}

const RecordingInfo& RecordingSource::info() const { return fetcher_->info(); }
std::uint64_t RecordingSource::skipped_samples() const { return fetcher_->skipped_samples(); }

Status RecordingSource::decode(const RawSample& raw) {
  if (!raw.keyframe && cur_seq_ != raw.seq - 1)
    return Error{"it is encoded against sample " + std::to_string(raw.seq - 1) +
                 ", which is missing: the recording is corrupted"};
  // A failure leaves the buffer half-written: forget the base too, so nothing is decoded
  // against either.
  cur_seq_.reset();
  static const Sample kNoSample;
  static const CgroupSample kNoBase;
  const Decoded& base = buffers_[cur_];
  Decoded& out = buffers_[cur_ ^ 1];
  if (auto st = codec::decode_sample_info(raw.info, raw.keyframe ? kNoSample : base.sample, out.sample); !st)
    return st;
  out.sample.monotonic_ns = raw.monotonic_ns;
  out.sample.realtime_ns = raw.realtime_ns;
  const auto& rows = raw.rows;
  auto same_refs = [&](const std::vector<std::int64_t>& refs) {
    return refs.size() == rows.size() &&
           std::equal(rows.begin(), rows.end(), refs.begin(),
                      [](const RawSample::Row& row, std::int64_t ref) { return row.ref == ref; });
  };
  // The common case: the same cgroups in the same order as the base, each row decoded over the
  // base's row at its position. Else each row's base is the first row of its ref in the base
  // sample, or nothing (a key frame, a new cgroup, a second row of one ref).
  const bool aligned = !raw.keyframe && !base.has_duplicates && same_refs(base.refs);
  std::unordered_map<std::int64_t, std::size_t> before;
  if (!aligned && !raw.keyframe) {
    before.reserve(base.refs.size());
    for (std::size_t i = 0; i < base.refs.size(); ++i) before.try_emplace(base.refs[i], i);
  }
  // The buffer held the sample before the base: rows whose ref is where it was keep their
  // identity (no copy of its strings).
  const bool identities_in_place = same_refs(out.refs);
  out.sample.cgroups.resize(rows.size());
  out.has_duplicates = false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const CgroupSample* row_base = &kNoBase;
    if (aligned) {
      row_base = &base.sample.cgroups[i];
    } else if (auto it = before.find(rows[i].ref); it != before.end()) {
      if (it->second != SIZE_MAX) row_base = &base.sample.cgroups[it->second];
      out.has_duplicates |= it->second == SIZE_MAX;
      it->second = SIZE_MAX;  // used: a second row of the ref has no base
    } else if (!raw.keyframe) {
      before.emplace(rows[i].ref, SIZE_MAX);
    }
    CgroupSample& row = out.sample.cgroups[i];
    if (!identities_in_place) row.identity = *rows[i].identity;
    if (auto st = codec::decode_cgroup(raw.data(rows[i]), *row_base, row); !st)
      return Error{"cgroup row " + std::to_string(i) + " (" + row.identity.display_name() + "): " + st.error()};
  }
  if (!identities_in_place) {
    out.refs.resize(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) out.refs[i] = rows[i].ref;
  }
  if (raw.keyframe) {  // no map was built: look for a ref with two rows
    std::vector<std::int64_t> sorted = out.refs;
    std::sort(sorted.begin(), sorted.end());
    out.has_duplicates = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  }
  cur_ ^= 1;
  cur_seq_ = raw.seq;
  return {};
}

Result<const Sample*> RecordingSource::next_view() {
  // Ctrl-C ends a replay at once (a follow also while it waits for the writer).
  if (stop_.stop_requested()) return static_cast<const Sample*>(nullptr);
  for (;;) {
    const RawSample* raw = nullptr;
    if (prefetch_) {
      Prefetch& p = *prefetch_;
      if (!p.thread.joinable()) p.thread = std::thread([this] { prefetch_->run(*fetcher_); });
      std::unique_lock lock(p.mutex);
      if (p.in_use) p.free.push_back(std::move(p.in_use));
      p.cv.notify_all();
      p.cv.wait(lock, [&] { return !p.ready.empty() || p.done; });
      if (p.ready.empty()) {
        if (p.error) return Error{*p.error};
        return static_cast<const Sample*>(nullptr);
      }
      p.in_use = std::move(p.ready.front());
      p.ready.pop_front();
      p.cv.notify_all();
      raw = p.in_use.get();
    } else {
      auto got = fetcher_->fetch(*raw_);
      if (!got) return Error{got.error()};
      if (!*got) return static_cast<const Sample*>(nullptr);
      raw = raw_.get();
    }
    if (auto st = decode(*raw); !st)
      return Error{"recording " + path_ + ": sample " + std::to_string(raw->seq) + ": " + st.error()};
    if (raw->selected) return &buffers_[cur_].sample;
  }
}

Result<std::optional<Sample>> RecordingSource::next() {
  auto view = next_view();
  if (!view) return Error{view.error()};
  if (!*view) return std::optional<Sample>();
  return std::optional<Sample>(**view);
}

Result<std::vector<Sample>> load_samples(const std::string& path, const Selection& selection,
                                         unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::int64_t> keyframes;
  {
    auto db = open_recording(path);
    if (!db) return Error{db.error()};
    std::int64_t from = selection.from_seq.value_or(0);
    if (selection.from_realtime_ns) {
      auto first = (*db)->prepare("SELECT MIN(seq) FROM sample WHERE realtime_ns >= ?");
      if (!first) return Error{first.error()};
      auto r = query_optional(*first, *selection.from_realtime_ns);
      if (!r) return Error{r.error()};
      if (!*r) return std::vector<Sample>{};
      from = std::max(from, **r);
    }
    auto keys =
        (*db)->prepare("SELECT seq FROM sample WHERE keyframe = 1 AND seq > ? AND seq <= ? ORDER BY seq");
    if (!keys) return Error{keys.error()};
    keys->bind(1, from).bind(2, selection.to_seq.value_or(INT64_MAX));
    for (;;) {
      auto row = keys->step();
      if (!row) return Error{"recording " + path + ": " + row.error()};
      if (!*row) break;
      keyframes.push_back(keys->column_int(0));
    }
    keyframes.insert(keyframes.begin(), from);
  }
  // Contiguous parts, each starting at a key frame, of about equal numbers of segments.
  const std::size_t parts = std::min<std::size_t>(threads, keyframes.size());
  std::vector<Result<std::vector<Sample>>> results(parts, Result<std::vector<Sample>>(std::vector<Sample>{}));
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < parts; ++i) {
    const std::size_t begin = keyframes.size() * i / parts, end = keyframes.size() * (i + 1) / parts;
    Selection part = selection;
    part.follow = false;
    part.from_seq = keyframes[begin];
    if (end < keyframes.size()) part.to_seq = keyframes[end] - 1;
    if (i > 0) part.from_realtime_ns.reset();
    workers.emplace_back([&path, part, &out = results[i]] {
      auto src = RecordingSource::open(path, part);
      if (!src) {
        out = Error{src.error()};
        return;
      }
      std::vector<Sample> samples;
      for (;;) {
        auto s = (*src)->next();
        if (!s) {
          out = Error{s.error()};
          return;
        }
        if (!*s) break;
        samples.push_back(std::move(**s));
      }
      out = std::move(samples);
    });
  }
  for (auto& w : workers) w.join();
  std::vector<Sample> all;
  for (auto& r : results) {
    if (!r) return Error{r.error()};
    if (all.empty()) {
      all = std::move(*r);
    } else {
      all.insert(all.end(), std::make_move_iterator(r->begin()), std::make_move_iterator(r->end()));
    }
  }
  return all;
}

}  // namespace cgscope::model::recording
