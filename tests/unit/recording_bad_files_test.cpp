// Files that are not (complete, intact, readable) recordings: each gives an error naming the
// file and what is wrong, never a crash and never a silently shorter replay.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "model/recording/reader.hpp"
#include "model/recording/schema.hpp"
#include "model/recording/writer.hpp"
#include "tests/support/synthetic_series.hpp"
#include "tests/support/temp_dir.hpp"

using namespace cgscope;
using namespace cgscope::model;
using namespace cgscope::model::recording;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

std::vector<Sample> make_recording(const std::string& path, std::size_t samples, std::size_t cgroups = 50) {
  test::SyntheticSeries series({.cgroups = cgroups, .busy_fraction = 0.5, .seed = 11});
  std::vector<Sample> written;
  auto w = RecordingWriter::create(path, {.max_segment_samples = 10});
  EXPECT_TRUE(w.ok()) << w.error();
  if (!w.ok()) return written;
  for (std::size_t i = 0; i < samples; ++i) {
    written.push_back(series.next());
    EXPECT_TRUE((*w)->append(written.back()).ok());
  }
  EXPECT_TRUE((*w)->close().ok());
  return written;
}

// Runs SQL on a recording, as a user with sqlite3 (or a bit flip) might have.
void tamper(const std::string& path, const std::string& sql) {
  auto db = Database::open(path, Database::Mode::kReadWriteCreate);
  ASSERT_TRUE(db.ok()) << db.error();
  ASSERT_TRUE((*db)->exec(sql).ok()) << sql;
}

// The error of opening `path`, which must fail.
std::string open_error(const std::string& path) {
  auto src = RecordingSource::open(path);
  if (src.ok()) return "(opened)";
  EXPECT_NE(src.error().find(path), std::string::npos) << "the error names the file: " << src.error();
  return src.error();
}

// Reads to the end; returns the error that must stop it, and how many samples came before.
std::string read_error(const std::string& path, std::size_t* good = nullptr) {
  auto src = RecordingSource::open(path);
  if (!src.ok()) return src.error();
  std::size_t n = 0;
  for (;;) {
    auto s = (*src)->next();
    if (!s.ok()) {
      if (good) *good = n;
      EXPECT_NE(s.error().find(path), std::string::npos) << "the error names the file: " << s.error();
      return s.error();
    }
    if (!*s) return "(read " + std::to_string(n) + " samples without an error)";
    ++n;
  }
}

#define EXPECT_CONTAINS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

}  // namespace

TEST(RecordingBadFilesTest, MissingDirectoryEmptyAndForeignFiles) {
  test::TempDir dir;
  EXPECT_CONTAINS(open_error(dir.file("nope.db")), "No such file");
  EXPECT_CONTAINS(open_error(dir.path()), "is a directory");
  write_bytes(dir.file("empty.db"), "");
  EXPECT_CONTAINS(open_error(dir.file("empty.db")), "is empty (0 bytes)");
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  png += std::string(300, '\x42');
  write_bytes(dir.file("image.png"), png);
  EXPECT_CONTAINS(open_error(dir.file("image.png")), "not an SQLite database (it looks like a PNG image)");
  write_bytes(dir.file("notes.json"), "{\"samples\": []}\n");
  EXPECT_CONTAINS(open_error(dir.file("notes.json")), "text (JSON?)");
  write_bytes(dir.file("short.db"), std::string("SQLite format 3\0", 16) + "abc");
  EXPECT_CONTAINS(open_error(dir.file("short.db")), "truncated");
}

TEST(RecordingBadFilesTest, SqliteDatabasesOfAnotherSchema) {
  test::TempDir dir;
  tamper(dir.file("other.db"), "CREATE TABLE users(name TEXT); CREATE TABLE orders(id INTEGER);");
  const std::string e = open_error(dir.file("other.db"));
  EXPECT_CONTAINS(e, "SQLite database but not a cgscope recording");
  EXPECT_CONTAINS(e, "tables: orders, users");
  tamper(dir.file("blank.db"), "PRAGMA user_version = 1");
  EXPECT_CONTAINS(open_error(dir.file("blank.db")), "no tables");
  // Our application id and a meta table, but not what we wrote.
  tamper(dir.file("fake.db"),
         "PRAGMA application_id = " + std::to_string(kApplicationId) +
             "; PRAGMA user_version = 1; CREATE TABLE meta(key, value); CREATE TABLE sample(x); "
             "CREATE TABLE cgroup(x); CREATE TABLE cgroup_sample(x); INSERT INTO meta VALUES('format', "
             "'other');");
  EXPECT_CONTAINS(open_error(dir.file("fake.db")), "meta format 'other'");
}

// Versions: a newer schema is refused (with what to do), an older unsupported one too, and so is
// a newer codec (its blobs would decode without what it added, e.g. without NFS data); older
// schemas and codecs are read.
TEST(RecordingBadFilesTest, NewerSchemaAndCodecVersionsAreRefused) {
  test::TempDir dir;
  make_recording(dir.file("r.db"), 12);
  auto db_version = [&] {
    auto db = Database::open(dir.file("r.db"), Database::Mode::kReadOnly);
    return db.ok() ? *(*db)->query_int("PRAGMA user_version") : -1;
  };
  EXPECT_EQ(db_version(), 2) << "files written now have schema version 2 (codec 4)";
  tamper(dir.file("r.db"), "PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  std::string e = open_error(dir.file("r.db"));
  EXPECT_CONTAINS(e,
                  "schema version " + std::to_string(kSchemaVersion + 1) + ", newer than this cgscope reads");
  EXPECT_CONTAINS(e, "replay it with a newer cgscope");
  tamper(dir.file("r.db"), "PRAGMA user_version = " + std::to_string(kOldestReadableSchema - 1));
  e = open_error(dir.file("r.db"));
  EXPECT_CONTAINS(e, "older than this cgscope reads");

  tamper(dir.file("r.db"), "PRAGMA user_version = " + std::to_string(kSchemaVersion) +
                               "; UPDATE meta SET value = '5' WHERE key = 'codec_version'");
  e = open_error(dir.file("r.db"));
  EXPECT_CONTAINS(e, "recording " + dir.file("r.db") +
                         " was written by a newer cgscope (codec version 5); this cgscope reads codec "
                         "versions 1 to 4: replay it with a newer cgscope");
  EXPECT_CONTAINS(read_error(dir.file("r.db")), "codec version 5");
  auto loaded = load_samples(dir.file("r.db"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_CONTAINS(loaded.error(), "codec version 5");
  tamper(dir.file("r.db"), "UPDATE meta SET value = 'x3' WHERE key = 'codec_version'");
  EXPECT_CONTAINS(open_error(dir.file("r.db")), "invalid codec version 'x3'");

  // A schema 1 file of codec 2, as cgscope wrote before NFS data and the page size were
  // recorded (for samples without them, codec 3 writes the same bytes), is read, with a note.
  std::vector<Sample> old_samples;
  {
    test::SyntheticSeries series({.cgroups = 30, .busy_fraction = 0.5, .seed = 12});
    auto w = RecordingWriter::create(dir.file("v2.db"), {.max_segment_samples = 5});
    ASSERT_TRUE(w.ok()) << w.error();
    for (int i = 0; i < 12; ++i) {
      old_samples.push_back(series.next());
      old_samples.back().page_size = 0;
      ASSERT_TRUE((*w)->append(old_samples.back()).ok());
    }
    ASSERT_TRUE((*w)->close().ok());
  }
  tamper(dir.file("v2.db"),
         "PRAGMA user_version = 1; UPDATE meta SET value = '2' WHERE key = 'codec_version'");
  auto src = RecordingSource::open(dir.file("v2.db"));
  ASSERT_TRUE(src.ok()) << src.error();
  EXPECT_CONTAINS((*src)->info().note, "older cgscope (codec version 2), before NFS data was recorded");
  std::size_t n = 0;
  for (auto s = (*src)->next(); s.ok() && *s; s = (*src)->next()) EXPECT_TRUE(**s == old_samples[n++]);
  EXPECT_EQ(n, old_samples.size());

  tamper(dir.file("r.db"), "DROP TABLE cgroup_sample");
  EXPECT_CONTAINS(open_error(dir.file("r.db")), "incomplete: it has no 'cgroup_sample' table");
}

TEST(RecordingBadFilesTest, FileTruncatedInTheMiddle) {
  test::TempDir dir;
  make_recording(dir.file("r.db"), 200, 100);
  struct stat st {};
  ASSERT_EQ(stat(dir.file("r.db").c_str(), &st), 0);
  ASSERT_GT(st.st_size, 64 * 1024);
  ASSERT_EQ(truncate(dir.file("r.db").c_str(), st.st_size / 2), 0);
  const std::string e = open_error(dir.file("r.db"));
  EXPECT_CONTAINS(e, "is truncated: its header says " + std::to_string(st.st_size) + " bytes");
}

// Changes inside blobs that SQLite cannot see are caught by the sample checksums; rows or
// samples missing from the middle are caught by counts and sequence numbers.
TEST(RecordingBadFilesTest, ChangedOrMissingContentIsAnErrorNotAShorterReplay) {
  test::TempDir dir;
  struct Case {
    const char* name;
    std::string sql, expected;
  };
  const std::vector<Case> cases = {
      {"byte appended to a row", "UPDATE cgroup_sample SET data = data || x'01' WHERE seq = 15 AND pos = 3",
       "sample 15: checksum mismatch: the recording is corrupted"},
      {"byte flipped in a row",
       "UPDATE cgroup_sample SET data = x'ff' || substr(data, 2) WHERE seq = 15 AND length(data) > 4 AND pos "
       "= "
       "(SELECT MIN(pos) FROM cgroup_sample WHERE seq = 15 AND length(data) > 4)",
       "sample 15"},
      {"timestamp changed", "UPDATE sample SET realtime_ns = realtime_ns + 1 WHERE seq = 15",
       "sample 15: checksum"},
      {"row deleted", "DELETE FROM cgroup_sample WHERE seq = 15 AND pos = 49",
       "sample 15: has 49 cgroup rows of the 50"},
      {"sample deleted", "DELETE FROM sample WHERE seq = 15", "sample 15 is missing, sample 16 follows"},
      {"identity changed", "UPDATE cgroup SET identity = identity || x'00' WHERE ref = 7",
       "cgroup ref 7: checksum"},
      {"identity deleted", "DELETE FROM cgroup WHERE ref = 7", "cgroup ref 7 is not in the cgroup table"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(std::string(c.name) + ".db");
    make_recording(path, 30);
    tamper(path, c.sql);
    std::size_t good = 0;
    EXPECT_CONTAINS(read_error(path, &good), c.expected);
    if (std::string(c.name).rfind("identity", 0) != 0) {
      EXPECT_EQ(good, 14u) << "samples before the damage are read";
    }
  }
}

// A page of the file overwritten with garbage (a disk error, a bad copy): SQLite reports the
// malformed B-tree when the page is read.
TEST(RecordingBadFilesTest, GarbagePageIsAnError) {
  test::TempDir dir;
  const std::string path = dir.file("r.db");
  make_recording(path, 200, 100);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  std::mt19937_64 rng(1);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp((st.st_size / 4096 / 2) * 4096);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const std::string e = read_error(path);
  EXPECT_TRUE(e.find("malformed") != std::string::npos || e.find("corrupt") != std::string::npos) << e;
}
