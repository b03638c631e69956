// The recording file: an SQLite database in WAL mode (schema in docs/recording.md).
// Creating one, and opening one with a check that it is a recording this cgscope can read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "model/recording/sqlite.hpp"
#include "model/result.hpp"

namespace cgscope::model::recording {

inline constexpr std::int64_t kApplicationId = 0x63677363;  // "cgsc", PRAGMA application_id
// PRAGMA user_version. History: 1 = first format.
//                             2 = the same tables, blobs of codec version 3 (NFS data): cgscope
//                                 that reads schema 1 only refuses them instead of replaying
//                                 them without the NFS data.
inline constexpr std::int64_t kSchemaVersion = 2;
inline constexpr std::int64_t kOldestReadableSchema = 1;
inline constexpr std::string_view kFormatName = "cgscope-recording";

// Creates the schema in a new, empty database and stores `meta` (plus format, schema and codec
// versions) in the meta table.
Status create_schema(Database& db, const std::map<std::string, std::string>& meta);

// What is wrong with a file that should be a recording, from its bytes alone: missing, not a
// regular file, empty, not SQLite (naming the format when it is a common one), truncated.
// Empty string when the file looks like a complete SQLite database.
std::string check_file(const std::string& path);

// Opens an existing recording read-only and checks that it is a recording of a schema version
// and codec version this cgscope reads. Every error names the file and what is wrong with it.
Result<std::unique_ptr<Database>> open_recording(const std::string& path);

// The meta table as text.
Result<std::map<std::string, std::string>> read_meta(Database& db);

}  // namespace cgscope::model::recording
