#include "model/recording/schema.hpp"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "model/sample_codec.hpp"

namespace cgscope::model::recording {
namespace {

// Tables as documented in docs/recording.md. Rows of cgroup_sample are the bulk of the file:
// WITHOUT ROWID keeps them in one B-tree ordered by (seq, pos), about 10 bytes of overhead each.
constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE sample(
  seq INTEGER PRIMARY KEY,
  monotonic_ns INTEGER NOT NULL,
  realtime_ns INTEGER NOT NULL,
  keyframe INTEGER NOT NULL,
  cgroups INTEGER NOT NULL,
  info BLOB NOT NULL,
  checksum INTEGER NOT NULL);
CREATE TABLE cgroup(
  ref INTEGER PRIMARY KEY,
  id INTEGER NOT NULL,
  path TEXT NOT NULL,
  name TEXT NOT NULL,
  runtime TEXT NOT NULL,
  identity BLOB NOT NULL,
  checksum INTEGER NOT NULL);
CREATE TABLE cgroup_sample(
  seq INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  ref INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY(seq, pos)) WITHOUT ROWID;
)sql";

std::uint32_t be32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

// Names a few formats people mistake for a recording, from their first bytes.
std::string describe_magic(const unsigned char* p, std::size_t n) {
  struct Magic {
    std::string_view bytes, name;
  };
  static constexpr std::array<Magic, 8> kMagics = {{
      {"\x89PNG", "a PNG image"},
      {"\x1f\x8b", "gzip-compressed data"},
      {"\x28\xb5\x2f\xfd", "zstd-compressed data"},
      {"\x7f"
       "ELF",
       "an ELF binary"},
      {"PK\x03\x04", "a zip archive"},
      {"%PDF", "a PDF document"},
      {"{", "text (JSON?)"},
      {"\xfd"
       "7zXZ",
       "xz-compressed data"},
  }};
  for (const auto& m : kMagics)
    if (n >= m.bytes.size() && std::memcmp(p, m.bytes.data(), m.bytes.size()) == 0)
      return std::string(m.name);
  return "unknown data";
}

}  // namespace

Status create_schema(Database& db, const std::map<std::string, std::string>& meta) {
  auto tx = Transaction::begin(db, true);
  if (!tx) return Error{tx.error()};
  if (auto s = db.exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s) return s;
  if (auto s = db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)); !s) return s;
  if (auto s = db.exec(kSchemaSql); !s) return s;
  auto insert = db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!insert) return Error{insert.error()};
  std::map<std::string, std::string> all = meta;
  all["format"] = std::string(kFormatName);
  all["schema_version"] = std::to_string(kSchemaVersion);
  all["codec_version"] = std::to_string(codec::kCodecVersion);
  for (const auto& [key, value] : all)
    if (auto s = insert->bind(1, key).bind(2, value).run(); !s) return s;
  return tx->commit();
}

std::string check_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::string(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return "is a directory, not a recording";
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (st.st_size == 0) return "is empty (0 bytes): not a cgscope recording";
  std::ifstream f(path, std::ios::binary);
  std::array<unsigned char, 100> header{};
  f.read(reinterpret_cast<char*>(header.data()), header.size());
  const auto n = static_cast<std::size_t>(f.gcount());
  if (!f && !f.eof()) return std::string("cannot read: ") + std::strerror(errno);
  static constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};
  if (n < kSqliteMagic.size() || std::memcmp(header.data(), kSqliteMagic.data(), kSqliteMagic.size()) != 0)
    return "is not a cgscope recording: not an SQLite database (it looks like " +
           describe_magic(header.data(), n) + ")";
  if (n < header.size())
    return "is truncated: " + std::to_string(st.st_size) + " bytes, shorter than an SQLite header";
  std::uint64_t page_size = static_cast<std::uint64_t>(header[16]) << 8 | header[17];
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || (page_size & (page_size - 1)) != 0)
    return "is corrupted: invalid SQLite page size " + std::to_string(page_size);
  // The page count in the header is valid when its change counter matches (SQLite file format,
  // "in-header database size"); a file shorter than that lost its end.
  const std::uint64_t pages = be32(&header[28]);
  if (be32(&header[24]) == be32(&header[92]) && pages * page_size > static_cast<std::uint64_t>(st.st_size)) {
    return "is truncated: its header says " + std::to_string(pages * page_size) + " bytes (" +
           std::to_string(pages) + " pages), the file has " + std::to_string(st.st_size);
  }
  return {};
}

Result<std::map<std::string, std::string>> read_meta(Database& db) {
  auto stmt = db.prepare("SELECT key, CAST(value AS TEXT) FROM meta");
  if (!stmt) return Error{stmt.error()};
  std::map<std::string, std::string> meta;
  for (;;) {
    auto row = stmt->step();
    if (!row) return Error{row.error()};
    if (!*row) break;
    meta[std::string(stmt->column_text(0))] = std::string(stmt->column_text(1));
  }
  return meta;
}

Result<std::unique_ptr<Database>> open_recording(const std::string& path) {
  if (auto why = check_file(path); !why.empty())
    return Error{"recording " + path + (why.rfind("is ", 0) == 0 ? " " : ": ") + why};
  auto db = Database::open(path, Database::Mode::kReadOnly);
  if (!db) return Error{"recording " + path + ": " + db.error()};
  auto app_id = (*db)->query_int("PRAGMA application_id");
  if (!app_id) return Error{"recording " + path + " is not readable: " + app_id.error()};
  if (*app_id != kApplicationId) {
    auto tables = (*db)->prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    std::string names;
    while (tables) {
      auto row = tables->step();
      if (!row || !*row) break;
      names += (names.empty() ? "" : ", ") + std::string(tables->column_text(0));
    }
    char id[16];
    std::snprintf(id, sizeof id, "0x%08llx", static_cast<unsigned long long>(*app_id));
    return Error{"recording " + path + " is an SQLite database but not a cgscope recording (application_id " +
                 id + ", " + (names.empty() ? std::string("no tables") : "tables: " + names) + ")"};
  }
  auto version = (*db)->query_int("PRAGMA user_version");
  if (!version) return Error{"recording " + path + " is not readable: " + version.error()};
  if (*version > kSchemaVersion) {
    return Error{"recording " + path + " has schema version " + std::to_string(*version) +
                 ", newer than this cgscope reads (" + std::to_string(kOldestReadableSchema) + " to " +
                 std::to_string(kSchemaVersion) + "): replay it with a newer cgscope"};
  }
  if (*version < kOldestReadableSchema) {
    return Error{"recording " + path + " has schema version " + std::to_string(*version) +
                 ", older than this cgscope reads (" + std::to_string(kOldestReadableSchema) + " to " +
                 std::to_string(kSchemaVersion) + "): replay it with the cgscope that recorded it"};
  }
  for (const char* table : {"meta", "sample", "cgroup", "cgroup_sample"}) {
    auto n = (*db)->query_int(
        std::string("SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = '") + table + "'");
    if (!n) return Error{"recording " + path + " is not readable: " + n.error()};
    if (*n != 1) return Error{"recording " + path + " is incomplete: it has no '" + table + "' table"};
  }
  auto meta = read_meta(**db);
  if (!meta) return Error{"recording " + path + " is not readable: " + meta.error()};
  if ((*meta)["format"] != kFormatName)
    return Error{"recording " + path + " is not a cgscope recording (meta format '" + (*meta)["format"] +
                 "')"};
  // A newer codec's blobs would decode without what it added (e.g. codec 2 reading codec 3
  // shows no NFS data): refused, like a newer schema.
  const std::string& codec = (*meta)["codec_version"];
  std::uint32_t codec_version = 0;
  const auto [end, ec] = std::from_chars(codec.data(), codec.data() + codec.size(), codec_version);
  if (ec != std::errc{} || end != codec.data() + codec.size() || codec_version < codec::kOldestCodecVersion)
    return Error{"recording " + path + " is corrupted: invalid codec version '" + codec +
                 "' in its meta table"};
  if (codec_version > codec::kCodecVersion) {
    return Error{"recording " + path + " was written by a newer cgscope (codec version " + codec +
                 "); this cgscope reads codec versions " + std::to_string(codec::kOldestCodecVersion) +
                 " to " + std::to_string(codec::kCodecVersion) + ": replay it with a newer cgscope"};
  }
  return std::move(*db);
}

}  // namespace cgscope::model::recording
