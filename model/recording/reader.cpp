#include "model/recording/reader.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

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
  // A failure leaves cur_ half-updated: forget it, so nothing is decoded against it.
  cur_seq_.reset();
  static const Sample kNoSample;
  static const CgroupSample kNoBase;
  if (auto st = codec::decode_sample_info(raw.info, raw.keyframe ? kNoSample : cur_, cur_); !st) return st;
  cur_.monotonic_ns = raw.monotonic_ns;
  cur_.realtime_ns = raw.realtime_ns;
  const auto& rows = raw.rows;
  const bool same_layout =
      (raw.keyframe || !cur_has_duplicates_) && cur_refs_.size() == rows.size() &&
      std::equal(rows.begin(), rows.end(), cur_refs_.begin(),
                 [](const RawSample::Row& row, std::int64_t ref) { return row.ref == ref; });
  if (same_layout) {
    // The common case: the same cgroups in the same order, each decoded over itself (over
    // nothing in a key frame), identities already in place.
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const CgroupSample& base = raw.keyframe ? kNoBase : cur_.cgroups[i];
      if (auto st = codec::decode_cgroup(raw.data(rows[i]), base, cur_.cgroups[i]); !st)
        return Error{"cgroup row " + std::to_string(i) + " (" + cur_.cgroups[i].identity.display_name() +
                     "): " + st.error()};
    }
  } else {
    // Cgroups came, went or moved: each row's base is the first row of its ref in the
    // previous sample (moved over, not copied), or nothing.
    std::unordered_map<std::int64_t, std::size_t> before;
    before.reserve(cur_refs_.size() + rows.size());
    if (!raw.keyframe)
      for (std::size_t i = 0; i < cur_refs_.size(); ++i) before.emplace(cur_refs_[i], i);
    std::vector<CgroupSample> next = std::move(spare_);  // keeps its capacity: no page faults
    next.clear();
    next.reserve(rows.size());
    std::vector<std::int64_t> refs(rows.size());
    cur_has_duplicates_ = false;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::int64_t ref = rows[i].ref;
      refs[i] = ref;
      // Marks the ref as used by this sample; an unused row of the previous one is the base.
      auto [it, inserted] = before.try_emplace(ref, SIZE_MAX);
      const CgroupSample* base = &kNoBase;
      if (!inserted && it->second != SIZE_MAX) {
        base = &next.emplace_back(std::move(cur_.cgroups[it->second]));
        it->second = SIZE_MAX;
      } else {
        cur_has_duplicates_ |= !inserted;  // a second row of one ref in this sample: no base
        next.emplace_back().identity = *rows[i].identity;
      }
      if (auto st = codec::decode_cgroup(raw.data(rows[i]), *base, next.back()); !st)
        return Error{"cgroup row " + std::to_string(i) + " (" + next.back().identity.display_name() +
                     "): " + st.error()};
    }
    std::swap(cur_.cgroups, next);
    spare_ = std::move(next);
    spare_.clear();
    cur_refs_ = std::move(refs);
  }
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
    if (raw->selected) return &cur_;
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
