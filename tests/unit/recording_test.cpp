// Recordings without a kernel: what is written is read back identically (sequentially, in
// parallel, by time range, while being written), and retention bounds the file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <thread>

#include "model/recording/reader.hpp"
#include "model/recording/schema.hpp"
#include "model/recording/writer.hpp"
#include "tests/support/synthetic_series.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cgscope;
using namespace cgscope::model;
using namespace cgscope::model::recording;

namespace {

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// A series with the awkward cases: churn, a removed cgroup, the same identity twice in one
// sample, a cgroup id seen under a new path, collector status changes, an empty sample.
std::vector<Sample> awkward_series(std::size_t n) {
  test::SyntheticSeries series({.cgroups = 40, .churn = 0.02, .seed = 3});
  std::vector<Sample> out;
  for (std::size_t i = 0; i < n; ++i) {
    Sample s = series.next();
    if (i == 10) s.cgroups.push_back(s.cgroups[0]);  // duplicate identity
    if (i == 11) s.cgroups[1].identity.path += "-renamed";
    if (i == 12) s.cgroups.clear();
    if (i >= 20) s.collectors[1].drops["cgroup_map_full"] = i;
    if (i == 30) s.collectors.push_back({"io", false, "no block tracepoints", {}});
    out.push_back(std::move(s));
  }
  return out;
}

// An NFS client host (tests/support/synthetic_series.hpp: mounts, mountstats, (cgroup, mount)
// rows, RPCs, files, stale names changing every sample) with what the collector does now and
// then: a mount goes (kept once as vanished) and comes back as a new superblock, a cgroup's rows
// go, the collector detaches (no NFS data) and attaches again, the page size is unknown.
std::vector<Sample> nfs_series(std::size_t n) {
  test::SyntheticSeries series({.cgroups = 20,
                                .churn = 0.02,
                                .seed = 6,
                                .nfs = {.mounts = 3, .cgroup_mounts = 12, .files = 40, .stale_names = 4}});
  std::vector<Sample> out;
  for (std::size_t i = 0; i < n; ++i) {
    Sample s = series.next();
    auto& nfs = s.nfs;
    if (i >= 15 && i < 30) {  // mount 1 unmounted at 15, mounted again at 16 as a new superblock
      if (i == 15) {
        nfs.mounts[1].vanished = true;
      } else {
        nfs.mounts[1].sb_instance += 100;
        nfs.mounts[1].mount_id += 100;
      }
      if (i > 15) nfs.mountstats[1].age_seconds = i - 15;
    }
    if (i >= 20 && i < 26) {
      std::erase_if(nfs.cgroups, [](const auto& c) { return c.cgroup_id == 10'001; });
      std::erase_if(nfs.rpc, [](const auto& r) { return r.cgroup_id == 10'001; });
    }
    if (i == 33 || i == 34) nfs = model::NfsSample{};  // detached: no NFS mount left
    if (i == 40) s.page_size = 0;
    if (i == 41) s.page_size = 65536;
    out.push_back(std::move(s));
  }
  return out;
}

void write_all(const std::string& path, const std::vector<Sample>& samples, WriterOptions options = {}) {
  auto w = RecordingWriter::create(path, std::move(options));
  ASSERT_TRUE(w.ok()) << w.error();
  for (const auto& s : samples) ASSERT_TRUE((*w)->append(s).ok());
  ASSERT_TRUE((*w)->close().ok());
}

std::vector<Sample> read_all(const std::string& path, Selection selection = {}) {
  auto src = RecordingSource::open(path, std::move(selection));
  EXPECT_TRUE(src.ok()) << src.error();
  std::vector<Sample> out;
  if (!src.ok()) return out;
  for (;;) {
    auto s = (*src)->next();
    EXPECT_TRUE(s.ok()) << s.error();
    if (!s.ok() || !*s) break;
    out.push_back(std::move(**s));
  }
  return out;
}

// Equal sample by sample (a single EXPECT_EQ on the vectors would print megabytes).
void expect_same(const std::vector<Sample>& got, const std::vector<Sample>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(got[i] == want[i]) << "sample " << i << " differs";
}

}  // namespace

TEST(RecordingTest, WhatIsWrittenIsReadBackIdentically) {
  test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const auto samples = awkward_series(100);
  write_all(dir.file("r.db"), samples, {.max_segment_samples = 7, .meta = {{"hostname", "test-host"}}});
  expect_same(read_all(dir.file("r.db")), samples);

  auto src = RecordingSource::open(dir.file("r.db"));
  ASSERT_TRUE(src.ok()) << src.error();
  const RecordingInfo& info = (*src)->info();
  EXPECT_EQ(info.samples, 100);
  EXPECT_EQ(info.first_realtime_ns, samples.front().realtime_ns);
  EXPECT_EQ(info.last_realtime_ns, samples.back().realtime_ns);
  EXPECT_TRUE(info.closed);
  EXPECT_EQ(info.meta.at("hostname"), "test-host");
  EXPECT_EQ(info.meta.at("format"), "cgscope-recording");
  EXPECT_TRUE(info.note.empty());
}

// next_view() hands out each sample without a copy and keeps the one before it valid until the
// following call (run_stream derives each interval from both), through churn, duplicates, a
// renamed cgroup and an empty sample, across segments.
TEST(RecordingTest, ViewsKeepTheSampleBeforeValid) {
  test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const auto samples = awkward_series(60);
  write_all(dir.file("r.db"), samples, {.max_segment_samples = 7});
  auto src = RecordingSource::open(dir.file("r.db"));
  ASSERT_TRUE(src.ok()) << src.error();
  const Sample* prev = nullptr;
  std::size_t i = 0;
  for (;; ++i) {
    auto view = (*src)->next_view();
    ASSERT_TRUE(view.ok()) << view.error();
    if (!*view) break;
    ASSERT_LT(i, samples.size());
    EXPECT_TRUE(**view == samples[i]) << "sample " << i << " differs";
    if (prev) EXPECT_TRUE(*prev == samples[i - 1]) << "sample " << i - 1 << " changed under the next view";
    prev = *view;
  }
  EXPECT_EQ(i, samples.size());
}

// Every field of the NFS data is read back as written (the replay of a recording shows the
// NFS view the live run showed): sequentially, in parallel and from the middle of a segment.
TEST(RecordingTest, NfsDataIsReadBackIdentically) {
  test::TempDir dir;
  const auto samples = nfs_series(60);
  ASSERT_EQ(samples[10].nfs.files.size(), 40u);
  write_all(dir.file("r.db"), samples, {.max_segment_samples = 9});
  expect_same(read_all(dir.file("r.db")), samples);
  for (unsigned threads : {1u, 3u}) {
    auto all = load_samples(dir.file("r.db"), {}, threads);
    ASSERT_TRUE(all.ok()) << all.error();
    expect_same(*all, samples);
  }
  expect_same(read_all(dir.file("r.db"), {.from_realtime_ns = samples[14].realtime_ns,
                                          .to_realtime_ns = samples[35].realtime_ns}),
              {samples.begin() + 14, samples.begin() + 36});
  auto src = RecordingSource::open(dir.file("r.db"));
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_EQ((*src)->info().meta.at("codec_version"), "4");
  EXPECT_EQ((*src)->info().meta.at("schema_version"), "2");
  EXPECT_TRUE((*src)->info().note.empty()) << (*src)->info().note;
}

TEST(RecordingTest, ParallelLoadEqualsSequentialRead) {
  test::TempDir dir;
  const auto samples = awkward_series(90);
  write_all(dir.file("r.db"), samples, {.max_segment_samples = 8});
  for (unsigned threads : {1u, 2u, 5u, 64u}) {
    auto all = load_samples(dir.file("r.db"), {}, threads);
    ASSERT_TRUE(all.ok()) << all.error();
    expect_same(*all, samples);
  }
  auto part = load_samples(
      dir.file("r.db"),
      {.from_realtime_ns = samples[13].realtime_ns, .to_realtime_ns = samples[70].realtime_ns}, 3);
  ASSERT_TRUE(part.ok()) << part.error();
  expect_same(*part, {samples.begin() + 13, samples.begin() + 71});
}

// --from / --to inside a segment: decoding starts at the key frame before, returns only the
// selected samples.
TEST(RecordingTest, TimeSelectionReturnsExactlyTheSelectedSamples) {
  test::TempDir dir;
  const auto samples = awkward_series(60);
  write_all(dir.file("r.db"), samples, {.max_segment_samples = 16});
  expect_same(read_all(dir.file("r.db"), {.from_realtime_ns = samples[21].realtime_ns,
                                          .to_realtime_ns = samples[44].realtime_ns}),
              {samples.begin() + 21, samples.begin() + 45});
  // Between two samples: from the next one, up to the one before.
  expect_same(read_all(dir.file("r.db"), {.from_realtime_ns = samples[5].realtime_ns + 1,
                                          .to_realtime_ns = samples[9].realtime_ns - 1}),
              {samples.begin() + 6, samples.begin() + 9});
  EXPECT_TRUE(read_all(dir.file("r.db"), {.from_realtime_ns = samples.back().realtime_ns + 1}).empty());
}

// Another connection reads every committed sample while the writer goes on (the live tail),
// and the follow ends when the writer closes.
TEST(RecordingTest, ReaderFollowsAWriterUntilItCloses) {
  test::TempDir dir;
  const auto samples = awkward_series(45);
  auto w = RecordingWriter::create(dir.file("r.db"), {.max_segment_samples = 10});
  ASSERT_TRUE(w.ok()) << w.error();
  for (std::size_t i = 0; i < 15; ++i) ASSERT_TRUE((*w)->append(samples[i]).ok());
  auto src = RecordingSource::open(dir.file("r.db"),
                                   {.follow = true, .poll_interval = std::chrono::milliseconds(5)});
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_FALSE((*src)->info().closed);
  std::vector<Sample> got;
  for (std::size_t i = 0; i < 15; ++i) got.push_back(std::move(**(*src)->next()));
  for (std::size_t i = 15; i < 45; ++i) {
    ASSERT_TRUE((*w)->append(samples[i]).ok());
    auto s = (*src)->next();  // committed, so available at once
    ASSERT_TRUE(s.ok() && *s) << (s.ok() ? "end" : s.error());
    got.push_back(std::move(**s));
  }
  // A reader blocked at the end wakes up for the close.
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)(*w)->close();
  });
  auto end = (*src)->next();
  closer.join();
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_FALSE(*end);
  expect_same(got, samples);
}

TEST(RecordingTest, MaxSizeBoundsTheFileAndKeepsTheNewestData) {
  test::TempDir dir;
  const std::string path = dir.file("r.db");
  const std::uint64_t max_size = kMinMaxSizeBytes;
  auto w = RecordingWriter::create(path, {.max_size_bytes = max_size});
  ASSERT_TRUE(w.ok()) << w.error();
  test::SyntheticSeries series(
      {.cgroups = 300, .busy_fraction = 0.3, .active_fraction = 0.5, .churn = 0.01, .seed = 5});
  std::uint64_t largest_db = 0, largest_wal = 0;
  Sample last;
  std::size_t n = 0;
  for (; (*w)->stats().row_bytes < 6 * max_size; ++n) {
    last = series.next();
    ASSERT_TRUE((*w)->append(last).ok());
    largest_db = std::max(largest_db, file_size(path));
    largest_wal = std::max(largest_wal, file_size(path + "-wal"));
  }
  const WriterStats stats = (*w)->stats();
  ASSERT_TRUE((*w)->close().ok());
  EXPECT_LE(largest_db, max_size) << "after " << n << " samples";
  // The WAL beside it is checkpointed once past max/16 and truncated: it holds at most that plus
  // one transaction (a sample, the segment it drops, identities of churned cgroups).
  EXPECT_LE(largest_wal, max_size / 2);
  EXPECT_GT(stats.dropped_samples, 0u);
  EXPECT_GT(stats.dropped_segments, 1u);

  const auto kept = read_all(path);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.size() + stats.dropped_samples, n);
  EXPECT_TRUE(kept.back() == last) << "the newest sample is kept";
  {
    auto db = Database::open(path, Database::Mode::kReadOnly);
    ASSERT_TRUE(db.ok()) << db.error();
    const auto live = *(*db)->query_int("PRAGMA page_count") - *(*db)->query_int("PRAGMA freelist_count");
    EXPECT_GE(static_cast<std::uint64_t>(live) * 4096, max_size / 2) << "most of the bound holds data";
  }
  auto src = RecordingSource::open(path);
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_EQ((*src)->info().meta.at("dropped_samples"), std::to_string(stats.dropped_samples));
  // Identities of cgroups only in dropped samples are removed with them (churn replaced ~900).
  std::set<std::pair<std::uint64_t, std::string>> distinct;
  for (const auto& s : kept)
    for (const auto& cg : s.cgroups) distinct.emplace(cg.identity.id, cg.identity.path);
  EXPECT_EQ((*src)->info().cgroups, static_cast<std::int64_t>(distinct.size()));
}

TEST(RecordingTest, MaxAgeKeepsAtLeastThatMuchHistory) {
  test::TempDir dir;
  const std::string path = dir.file("r.db");
  const std::int64_t max_age_ns = 60'000'000'000;
  auto w = RecordingWriter::create(path, {.max_age_ns = max_age_ns});
  ASSERT_TRUE(w.ok()) << w.error();
  test::SyntheticSeries series({.cgroups = 10, .seed = 9});
  for (int i = 0; i < 400; ++i) ASSERT_TRUE((*w)->append(series.next()).ok());
  ASSERT_TRUE((*w)->close().ok());
  const auto kept = read_all(path);
  ASSERT_GE(kept.size(), 2u);
  const std::uint64_t span_ns = kept.back().monotonic_ns - kept.front().monotonic_ns;
  EXPECT_GE(span_ns, static_cast<std::uint64_t>(max_age_ns));
  // Segments of at most max_age / 8: at most that much more is kept.
  EXPECT_LE(span_ns, static_cast<std::uint64_t>(max_age_ns + max_age_ns / 8 + 1'000'000'000));
}

TEST(RecordingTest, AnExistingFileIsNotOverwritten) {
  test::TempDir dir;
  write_all(dir.file("r.db"), awkward_series(3));
  auto again = RecordingWriter::create(dir.file("r.db"), {});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().find("already exists"), std::string::npos) << again.error();
  EXPECT_EQ(read_all(dir.file("r.db")).size(), 3u);
  // An empty file (from mktemp) is taken over.
  { std::ofstream(dir.file("empty.db")); }
  write_all(dir.file("empty.db"), awkward_series(2));
  EXPECT_EQ(read_all(dir.file("empty.db")).size(), 2u);
  auto tiny = RecordingWriter::create(dir.file("tiny.db"), {.max_size_bytes = 1000});
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.error().find("minimum"), std::string::npos) << tiny.error();
}

// The sqlite3 queries of docs/recording.md run on a recording and return rows.
TEST(RecordingTest, DocumentedQueriesRun) {
  test::TempDir dir;
  write_all(dir.file("r.db"), awkward_series(20));
  std::ifstream doc(std::string(CGSCOPE_DOCS_DIR) + "/recording.md");
  ASSERT_TRUE(doc) << "docs/recording.md";
  std::vector<std::string> queries;
  std::string line, query;
  bool in_sql = false;
  while (std::getline(doc, line)) {
    if (line == "```sql") {
      in_sql = true;
      query.clear();
    } else if (in_sql && line == "```") {
      in_sql = false;
      queries.push_back(query);
    } else if (in_sql) {
      query += line + "\n";
    }
  }
  ASSERT_GE(queries.size(), 5u);
  auto db = Database::open(dir.file("r.db"), Database::Mode::kReadOnly);
  ASSERT_TRUE(db.ok()) << db.error();
  for (const auto& q : queries) {
    auto st = (*db)->prepare(q);
    ASSERT_TRUE(st.ok()) << q << st.error();
    std::size_t rows = 0;
    for (auto row = st->step(); row.ok() && *row; row = st->step()) ++rows;
    EXPECT_GT(rows, 0u) << q;
  }
}
