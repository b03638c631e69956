#include "model/recording/sqlite.hpp"

#include <sqlite3.h>

namespace cgscope::model::recording {
namespace {

// A writer checkpointing or a reader recovering the WAL holds a lock for milliseconds; wait for
// it rather than fail.
constexpr int kBusyTimeoutMs = 5000;

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::string& path, Mode mode) {
  const int flags =
      (mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error{"cannot open " + path + ": " + msg};
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return std::unique_ptr<Database>(new Database(db, path));
}

Database::~Database() { sqlite3_close_v2(db_); }

std::string Database::error(std::string_view what) const {
  return std::string(what) + ": " + sqlite3_errmsg(db_) + " (SQLite code " +
         std::to_string(sqlite3_extended_errcode(db_)) + ")";
}

int Database::last_error_code() const { return sqlite3_extended_errcode(db_); }

Status Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* msg = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string err = msg ? msg : sqlite3_errmsg(db_);
    sqlite3_free(msg);
    return Error{err + " (in: " + text.substr(0, 60) + ")"};
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK)
    return Error{error("preparing '" + std::string(sql.substr(0, 60)) + "'")};
  return Statement(this, stmt);
}

Result<std::int64_t> Database::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) return Error{stmt.error()};
  auto row = stmt->step();
  if (!row) return Error{row.error()};
  if (!*row) return Error{"no result for '" + std::string(sql) + "'"};
  return stmt->column_int(0);
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob must still be a BLOB, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  sqlite3_bind_blob(stmt_, index, bytes.empty() ? &kEmpty : bytes.data(), static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string err =
      db_->error(std::string("running '") + std::string(sqlite3_sql(stmt_)).substr(0, 60) + "'");
  sqlite3_reset(stmt_);
  return Error{err};
}

Status Statement::run() {
  auto r = step();
  while (r.ok() && *r) r = step();
  reset();
  if (!r) return Error{r.error()};
  return {};
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

bool Statement::column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

std::string_view Statement::column_text(int index) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
           : std::string_view{};
}

std::string_view Statement::column_blob(int index) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
           : std::string_view{};
}

Result<Transaction> Transaction::begin(Database& db, bool write) {
  if (auto s = db.exec(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"); !s) return Error{s.error()};
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_) (void)db_->exec("ROLLBACK");
}

Status Transaction::commit() {
  Database* db = db_;
  db_ = nullptr;
  return db->exec("COMMIT");
}

}  // namespace cgscope::model::recording
