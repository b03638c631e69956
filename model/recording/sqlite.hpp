// Minimal RAII over the SQLite C API: a connection and prepared statements, errors as Result.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "model/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace cgscope::model::recording {

class Statement;

class Database {
 public:
  enum class Mode { kReadOnly, kReadWriteCreate };
  static Result<std::unique_ptr<Database>> open(const std::string& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  // A single integer from `sql` (PRAGMA page_count, SELECT COUNT(*) ...).
  Result<std::int64_t> query_int(std::string_view sql);
  // "what: message (extended code)" for the last error of this connection.
  std::string error(std::string_view what) const;
  int last_error_code() const;
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);  // as TEXT
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);
  // true: a row is available; false: done. Errors name the statement's purpose via `what`.
  Result<bool> step();
  Status run();  // step to completion, then reset
  void reset();

  std::int64_t column_int(int index) const;
  bool column_is_null(int index) const;
  std::string_view column_text(int index) const;
  std::string_view column_blob(int index) const;

 private:
  friend class Database;
  Statement(const Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  const Database* db_;
  sqlite3_stmt* stmt_;
};

// One transaction: BEGIN IMMEDIATE (writers) or DEFERRED (readers); rolls back unless committed.
class Transaction {
 public:
  static Result<Transaction> begin(Database& db, bool write);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace cgscope::model::recording
