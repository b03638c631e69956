#include "model/recording/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "model/recording/checksum.hpp"
#include "model/recording/schema.hpp"
#include "model/sample_codec.hpp"

namespace cgscope::model::recording {

struct RecordingWriter::Statements {
  Statement insert_sample, insert_row, insert_identity, delete_rows, delete_samples, delete_identity,
      set_meta;
};

namespace {

std::int64_t realtime_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

// Creates the file exclusively, so that two recorders never share one (an empty file, e.g.
// from mktemp, is taken over).
Status create_exclusive(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno != EEXIST) return Error{"cannot create recording " + path + ": " + std::strerror(errno)};
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) return {};
  return Error{"recording " + path + " already exists: choose another file name or remove it"};
}

}  // namespace

RecordingWriter::RecordingWriter(std::string path, WriterOptions options, std::unique_ptr<Database> db)
    : path_(std::move(path)), options_(std::move(options)), db_(std::move(db)) {}

RecordingWriter::~RecordingWriter() { (void)close(); }

Result<std::unique_ptr<RecordingWriter>> RecordingWriter::create(const std::string& path,
                                                                 WriterOptions options) {
  if (options.max_size_bytes != 0 && options.max_size_bytes < kMinMaxSizeBytes)
    return Error{"max size " + std::to_string(options.max_size_bytes) +
                 " bytes is below the minimum of 1 MiB"};
  if (options.max_segment_samples == 0) options.max_segment_samples = 1;
  if (auto s = create_exclusive(path); !s) return Error{s.error()};
  auto db = Database::open(path, Database::Mode::kReadWriteCreate);
  if (!db) return Error{db.error()};
  Database& d = **db;
  // WAL: readers see committed samples while we write (live tail), a killed writer leaves a
  // consistent file. synchronous=NORMAL: commits survive a killed process; an OS crash or power
  // loss may lose the samples since the last checkpoint, never the file's consistency.
  auto mode = d.prepare("PRAGMA journal_mode = WAL");
  if (!mode) return Error{"recording " + path + ": " + mode.error()};
  auto row = mode->step();
  const std::string journal = row && *row ? std::string(mode->column_text(0)) : (row ? "" : row.error());
  mode->reset();
  if (journal != "wal") return Error{"recording " + path + ": cannot switch to WAL mode (" + journal + ")"};
  // The WAL is copied into the file at every checkpoint and then truncated to this size: keep
  // it small next to a small --max-size.
  std::uint64_t wal_bytes = 4 << 20;
  if (options.max_size_bytes)
    wal_bytes = std::clamp<std::uint64_t>(options.max_size_bytes / 16, 64 << 10, wal_bytes);
  for (const std::string& pragma :
       {std::string("PRAGMA synchronous = NORMAL"),
        // Debian builds SQLite with secure_delete on: it rewrites every page retention frees.
        // FAST clears deleted content only in pages that are written anyway.
        std::string("PRAGMA secure_delete = FAST"),
        "PRAGMA wal_autocheckpoint = " + std::to_string(wal_bytes / 4096),
        "PRAGMA journal_size_limit = " + std::to_string(wal_bytes)}) {
    if (auto s = d.exec(pragma); !s) return Error{"recording " + path + ": " + s.error()};
  }
  auto meta = options.meta;
  meta["created_realtime_ns"] = std::to_string(realtime_now_ns());
  if (options.max_size_bytes) meta["max_size_bytes"] = std::to_string(options.max_size_bytes);
  if (options.max_age_ns) meta["max_age_ns"] = std::to_string(options.max_age_ns);
  if (auto s = create_schema(d, meta); !s)
    return Error{"recording " + path + ": creating the schema: " + s.error()};
  auto page_size = d.query_int("PRAGMA page_size");
  if (!page_size) return Error{"recording " + path + ": " + page_size.error()};

  std::unique_ptr<RecordingWriter> w(new RecordingWriter(path, std::move(options), std::move(*db)));
  w->page_size_ = *page_size;
  if (auto s = w->prepare(); !s) return Error{"recording " + path + ": " + s.error()};
  return w;
}

Status RecordingWriter::prepare() {
  auto p = [&](std::string_view sql) { return db_->prepare(sql); };
  auto a =
      p("INSERT INTO sample(seq, monotonic_ns, realtime_ns, keyframe, cgroups, info, checksum) "
        "VALUES(?, ?, ?, ?, ?, ?, ?)");
  auto b = p("INSERT INTO cgroup_sample(seq, pos, ref, data) VALUES(?, ?, ?, ?)");
  auto c =
      p("INSERT INTO cgroup(ref, id, path, name, runtime, identity, checksum) VALUES(?, ?, ?, ?, ?, ?, ?)");
  auto d = p("DELETE FROM cgroup_sample WHERE seq BETWEEN ? AND ?");
  auto e = p("DELETE FROM sample WHERE seq BETWEEN ? AND ?");
  auto f = p("DELETE FROM cgroup WHERE ref = ?");
  auto g = p("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  for (auto* r : {&a, &b, &c, &d, &e, &f, &g})
    if (!*r) return Error{r->error()};
  stmts_.reset(new Statements{std::move(*a), std::move(*b), std::move(*c), std::move(*d), std::move(*e),
                              std::move(*f), std::move(*g)});
  return {};
}

Result<std::int64_t> RecordingWriter::ref_of(const CgroupIdentity& identity, std::int64_t seq,
                                             std::vector<std::int64_t>& added) {
  auto& same_id = identities_[identity.id];
  for (const auto& known : same_id) {
    if (known.identity == identity) {
      ref_last_seq_[known.ref] = seq;
      return known.ref;
    }
  }
  const std::int64_t ref = next_ref_++;
  std::string blob;
  codec::encode_identity(identity, blob);
  SampleChecksum sum;
  sum.add_info(blob);
  auto& st = stmts_->insert_identity;
  st.bind(1, ref)
      .bind(2, static_cast<std::int64_t>(identity.id))
      .bind(3, identity.path)
      .bind(4, identity.display_name())
      .bind(5, to_string(identity.container.runtime))
      .bind_blob(6, blob)
      .bind(7, sum.value());
  if (auto s = st.run(); !s) return Error{s.error()};
  same_id.push_back({identity, ref});
  ref_last_seq_[ref] = seq;
  added.push_back(ref);
  return ref;
}

void RecordingWriter::forget_identities(const std::vector<std::int64_t>& refs) {
  if (refs.empty()) return;
  for (auto it = identities_.begin(); it != identities_.end();) {
    auto& v = it->second;
    std::erase_if(
        v, [&](const Identity& i) { return std::find(refs.begin(), refs.end(), i.ref) != refs.end(); });
    it = v.empty() ? identities_.erase(it) : std::next(it);
  }
  for (std::int64_t ref : refs) ref_last_seq_.erase(ref);
}

Status RecordingWriter::drop_segment(const Segment& segment, std::vector<std::int64_t>& dropped_refs) {
  if (auto s = stmts_->delete_rows.bind(1, segment.first_seq).bind(2, segment.last_seq).run(); !s) return s;
  if (auto s = stmts_->delete_samples.bind(1, segment.first_seq).bind(2, segment.last_seq).run(); !s)
    return s;
  // Identities last seen in the dropped segment are no longer referenced.
  for (const auto& [ref, last_seq] : ref_last_seq_) {
    if (last_seq > segment.last_seq) continue;
    if (std::find(dropped_refs.begin(), dropped_refs.end(), ref) != dropped_refs.end()) continue;
    if (auto s = stmts_->delete_identity.bind(1, ref).run(); !s) return s;
    dropped_refs.push_back(ref);
  }
  return {};
}

Result<std::uint64_t> RecordingWriter::used_bytes() {
  auto pages = db_->query_int("PRAGMA page_count");
  if (!pages) return Error{pages.error()};
  auto free_pages = db_->query_int("PRAGMA freelist_count");
  if (!free_pages) return Error{free_pages.error()};
  return static_cast<std::uint64_t>((*pages - *free_pages) * page_size_);
}

Status RecordingWriter::apply_retention(std::deque<Segment>& segments, std::uint64_t newest_monotonic_ns,
                                        std::vector<std::int64_t>& dropped_refs, WriterStats& stats) {
  auto drop_front = [&]() -> Status {
    const Segment front = segments.front();
    if (auto s = drop_segment(front, dropped_refs); !s) return s;
    segments.pop_front();
    stats.dropped_samples += static_cast<std::uint64_t>(front.last_seq - front.first_seq + 1);
    ++stats.dropped_segments;
    return {};
  };
  const std::uint64_t before = stats.dropped_segments;
  if (options_.max_age_ns > 0) {
    const auto max_age = static_cast<std::uint64_t>(options_.max_age_ns);
    while (segments.size() > 1 && newest_monotonic_ns - segments.front().last_monotonic_ns > max_age)
      if (auto s = drop_front(); !s) return s;
  }
  if (options_.max_size_bytes > 0) {
    // Keep live pages a headroom below the bound: the next sample grows them by about its own
    // size before retention runs again, and freed pages are reused first, so the file itself
    // stays within the bound.
    const std::uint64_t headroom = std::max(options_.max_size_bytes / 16, 2 * largest_sample_bytes_);
    const std::uint64_t budget = options_.max_size_bytes - std::min(headroom, options_.max_size_bytes / 2);
    for (;;) {
      auto used = used_bytes();
      if (!used) return Error{used.error()};
      if (*used <= budget || segments.size() <= 1) break;
      if (auto s = drop_front(); !s) return s;
    }
  }
  if (stats.dropped_segments != before) {
    auto& m = stmts_->set_meta;
    if (auto s = m.bind(1, "dropped_samples").bind(2, std::to_string(stats.dropped_samples)).run(); !s)
      return s;
    if (auto s = m.bind(1, "dropped_segments").bind(2, std::to_string(stats.dropped_segments)).run(); !s)
      return s;
  }
  return {};
}

Status RecordingWriter::append(const Sample& sample) {
  if (closed_) return Error{"recording " + path_ + " is closed"};
  const std::int64_t seq = next_seq_;
  std::deque<Segment> segments = segments_;
  WriterStats stats = stats_;
  // Finer segments when the limits are small, so that retention does not drop half the file.
  bool keyframe = force_keyframe_ || segments.empty();
  if (!keyframe) {
    const Segment& cur = segments.back();
    keyframe =
        static_cast<std::size_t>(cur.last_seq - cur.first_seq + 1) >= options_.max_segment_samples ||
        (options_.max_size_bytes && cur.bytes >= options_.max_size_bytes / 16) ||
        (options_.max_age_ns && sample.monotonic_ns >= cur.first_monotonic_ns &&
         sample.monotonic_ns - cur.first_monotonic_ns >= static_cast<std::uint64_t>(options_.max_age_ns) / 8);
  }

  std::vector<std::int64_t> added_refs, dropped_refs;
  auto fail = [&](const std::string& what, const std::string& why) -> Status {
    forget_identities(added_refs);
    next_ref_ -= static_cast<std::int64_t>(added_refs.size());
    force_keyframe_ = true;  // the previous sample in memory may not be the one in the file
    return Error{"recording " + path_ + ": " + what + ": " + why};
  };

  auto tx = Transaction::begin(*db_, true);
  if (!tx) return fail("writing sample " + std::to_string(seq), tx.error());

  static const CgroupSample kNoBase;
  std::unordered_map<std::int64_t, std::size_t> index;
  index.reserve(sample.cgroups.size());
  SampleChecksum sum;
  std::uint64_t bytes = 0;
  for (std::size_t pos = 0; pos < sample.cgroups.size(); ++pos) {
    const CgroupSample& cg = sample.cgroups[pos];
    auto ref = ref_of(cg.identity, seq, added_refs);
    if (!ref) return fail("writing sample " + std::to_string(seq), ref.error());
    const bool first = index.emplace(*ref, pos).second;
    const CgroupSample* base = &kNoBase;
    if (!keyframe && first) {
      auto it = prev_index_.find(*ref);
      if (it != prev_index_.end()) base = &prev_.cgroups[it->second];
    }
    blob_.clear();
    codec::encode_cgroup(cg, *base, blob_);
    sum.add_row(*ref, blob_);
    bytes += blob_.size();
    auto& st = stmts_->insert_row;
    st.bind(1, seq).bind(2, static_cast<std::int64_t>(pos)).bind(3, *ref).bind_blob(4, blob_);
    if (auto s = st.run(); !s) return fail("writing sample " + std::to_string(seq), s.error());
  }
  static const Sample kNoSample;
  info_.clear();
  codec::encode_sample_info(sample, keyframe ? kNoSample : prev_, info_);
  sum.add_info(info_);
  sum.add_header(sample.monotonic_ns, sample.realtime_ns, keyframe,
                 static_cast<std::int64_t>(sample.cgroups.size()));
  auto& st = stmts_->insert_sample;
  st.bind(1, seq)
      .bind(2, static_cast<std::int64_t>(sample.monotonic_ns))
      .bind(3, sample.realtime_ns)
      .bind(4, keyframe ? 1 : 0)
      .bind(5, static_cast<std::int64_t>(sample.cgroups.size()))
      .bind_blob(6, info_)
      .bind(7, sum.value());
  if (auto s = st.run(); !s) return fail("writing sample " + std::to_string(seq), s.error());

  // Rows are ~10 bytes of SQLite overhead plus the encoded data.
  const std::uint64_t sample_bytes = bytes + sample.cgroups.size() * 10 + info_.size() + 40;
  largest_sample_bytes_ = std::max(largest_sample_bytes_, sample_bytes);
  if (keyframe) segments.push_back({seq, seq, 0, sample.monotonic_ns, 0});
  segments.back().last_seq = seq;
  segments.back().bytes += sample_bytes;
  segments.back().last_monotonic_ns = sample.monotonic_ns;
  stats.samples++;
  stats.cgroup_samples += sample.cgroups.size();
  stats.row_bytes += bytes;
  stats.info_bytes += info_.size();

  if (auto s = apply_retention(segments, sample.monotonic_ns, dropped_refs, stats); !s)
    return fail("applying retention", s.error());
  if (auto s = tx->commit(); !s) return fail("committing sample " + std::to_string(seq), s.error());

  // Committed: this sample is the base of the next.
  forget_identities(dropped_refs);
  next_seq_ = seq + 1;
  segments_ = std::move(segments);
  stats_ = stats;
  force_keyframe_ = false;
  prev_ = sample;
  prev_index_ = std::move(index);
  return {};
}

Status RecordingWriter::close() {
  if (closed_) return {};
  closed_ = true;
  Status result;
  if (auto s =
          stmts_->set_meta.bind(1, "closed_realtime_ns").bind(2, std::to_string(realtime_now_ns())).run();
      !s)
    result = Error{"recording " + path_ + ": marking it closed: " + s.error()};
  // Copy the WAL into the file so that the file alone is complete (to copy it elsewhere).
  if (auto s = db_->exec("PRAGMA wal_checkpoint(TRUNCATE)"); !s && result.ok())
    result = Error{"recording " + path_ + ": checkpoint: " + s.error()};
  stmts_.reset();
  db_.reset();
  return result;
}

}  // namespace cgscope::model::recording
