#include "model/sample_codec.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>

namespace cgscope::model::codec {
namespace {

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// A double that is an exact number of hundredths (PSI averages are printed with two decimals
// by the kernel) is stored as that integer: correctly rounded k / 100.0 is the same double
// the parser produced from "k/100" in decimal.
std::optional<std::int64_t> as_hundredths(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= 1e13) return std::nullopt;
  const auto k = static_cast<std::int64_t>(std::llround(v * 100.0));
  if (std::bit_cast<std::uint64_t>(static_cast<double>(k) / 100.0) != std::bit_cast<std::uint64_t>(v))
    return std::nullopt;
  return k;
}

// Sanity bounds against corrupted counts (a real sample has a handful of collectors).
constexpr std::uint64_t kMaxListSize = 4096;

// The runs of an edit script (keyed lists and maps): tag = count << 2 | run.
enum Run : std::uint64_t {
  kCopy = 0,    // the next `count` base elements, unchanged
  kChange = 1,  // the next `count` base elements, each followed by its changes
  kNew = 2,     // `count` elements relative to an empty one (a map's with their keys)
  kSkip = 3,    // the next `count` base elements are left out (removed)
};

// The vocabulary of field lists. The same calls encode (Encoder) and decode (Decoder):
//   num(x, b)          any integer, as the zigzag varint of its change (mod 2^64: exact)
//   flag(x, b)         bool: changed or not
//   enumeration(x, b)  enum class
//   opt(x, b)          std::optional of an integer
//   f64(x, b)          double, bit-exact (hundredths as integers)
//   str(x, b)          std::string
//   hist(x, b)         Log2Histogram: mask of changed buckets, then their changes
//   nums(x, b)         std::array of integers (at most 64): the same, mask then changes
//   array(x, b, fields)  std::array of structs (at most 64): mask of changed elements, then
//                      each as a sub-record relative to the base's element at its index
//   presence(x, b)     whether a std::optional<struct> is engaged; then its fields, if it is
//   record(x, b, fields)  a struct as one sub-record (its field list can grow on its own)
//   list(x, b, fields) std::vector of structs, element by element (pairwise when the sizes
//                      match, else all relative to empty: for short lists that rarely change)
//   keyed(x, b, key, fields)  std::vector of structs with a key (rows that come and go): an
//                      edit script (below) against the base list, each changed or new element
//                      a sub-record. Rows should be sorted by key (or at least keep their
//                      order) for rows to line up; any order encodes exactly.
//   dict(x, b)         std::map<std::string, integer or std::string>: an edit script by key,
//                      a changed value as its change, a new one as key + value
//   dict(x, b, fields) std::map<std::string, struct>: the same, values as sub-records
//   counters(x)        std::map<std::string, uint64> (collector drops), whole
//
// An edit script: 0 = same as the base; else n + 1, then runs (tag = count << 2 | Run, count
// >= 1) until n elements are out, each run over the base from where the previous one ended
// (base elements are used in order, at most once; those after the last run are left out):
// kCopy, kChange (each element followed by its changes), kNew (each element relative to an
// empty one), kSkip. Unchanged rows cost one byte per run, not per row; a script is never
// trimmed, so each new element has at least one byte.
// For each element of `v`, the index of the element of `b` with the same key that it is
// encoded relative to, or -1 (a new element). Matches go forward through `b` (an edit script
// uses base elements in order): the first element with the key after the previous match.
template <typename T, typename K>
std::vector<std::ptrdiff_t> match_by_key(const std::vector<T>& v, const std::vector<T>& b, K&& key) {
  std::vector<std::ptrdiff_t> match(v.size(), -1);
  std::vector<std::size_t> by_key;  // indices of b sorted by key, then index; built when needed
  std::size_t next = 0;             // the first base element not passed yet
  for (std::size_t j = 0; j < v.size(); ++j) {
    const auto k = key(v[j]);
    std::size_t found = b.size();
    if (next < b.size() && key(b[next]) == k) {
      found = next;  // rows in step with the base: the common case
    } else {
      if (by_key.empty() && !b.empty()) {
        by_key.resize(b.size());
        std::iota(by_key.begin(), by_key.end(), std::size_t{0});
        std::stable_sort(by_key.begin(), by_key.end(),
                         [&](std::size_t x, std::size_t y) { return key(b[x]) < key(b[y]); });
      }
      auto lo = std::lower_bound(by_key.begin(), by_key.end(), k,
                                 [&](std::size_t i, const auto& kk) { return key(b[i]) < kk; });
      auto hi = std::upper_bound(lo, by_key.end(), k,
                                 [&](const auto& kk, std::size_t i) { return kk < key(b[i]); });
      auto at = std::lower_bound(lo, hi, next);  // same key: in index order
      if (at != hi) found = *at;
    }
    if (found < b.size()) {
      match[j] = static_cast<std::ptrdiff_t>(found);
      next = found + 1;
    }
  }
  return match;
}

class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out), keep_(out.size()) {}
  // Trailing zero bytes mean "same as the base" and a decoder reads past the end as zeros.
  void finish() {
    while (out_.size() > keep_ && out_.back() == '\0') out_.pop_back();
  }

  template <std::integral T>
  void num(const T& v, T b) {
    const auto change = static_cast<std::uint64_t>(v) - static_cast<std::uint64_t>(b);
    put_varint(zigzag(static_cast<std::int64_t>(change)), out_);
  }
  void flag(const bool& v, bool b) { out_.push_back(v != b ? 1 : 0); }
  template <typename E>
  void enumeration(const E& v, E b) {
    num(static_cast<std::int64_t>(v), static_cast<std::int64_t>(b));
  }
  // 0: same as base; 1: nullopt; 2: the value follows; 3 + zigzag(change from the base).
  template <std::integral T>
  void opt(const std::optional<T>& v, const std::optional<T>& b) {
    if (v == b) {
      out_.push_back(0);
    } else if (!v) {
      out_.push_back(1);
    } else {
      const auto change = static_cast<std::uint64_t>(*v) - static_cast<std::uint64_t>(b.value_or(T{}));
      const std::uint64_t z = zigzag(static_cast<std::int64_t>(change));
      if (z <= std::numeric_limits<std::uint64_t>::max() - 3) {
        put_varint(3 + z, out_);
      } else {  // a jump too large for the combined tag: the value itself
        out_.push_back(2);
        put_varint(static_cast<std::uint64_t>(*v), out_);
      }
    }
  }
  // 0: same as base; odd: hundredths (1 + 2 * zigzag(k)); 2: raw IEEE bits follow.
  void f64(const double& v, double b) {
    if (std::bit_cast<std::uint64_t>(v) == std::bit_cast<std::uint64_t>(b)) {
      out_.push_back(0);
    } else if (auto k = as_hundredths(v)) {
      put_varint(1 + 2 * zigzag(*k), out_);
    } else {
      out_.push_back(2);
      put_varint(std::bit_cast<std::uint64_t>(v), out_);
    }
  }
  // 0: same as base; else length + 1, then the bytes (never trimmed).
  void str(const std::string& v, const std::string& b) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    put_varint(v.size() + 1, out_);
    out_.append(v);
    keep_ = out_.size();
  }
  void hist(const Log2Histogram& v, const Log2Histogram& b) {
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (v.buckets()[i] != b.buckets()[i]) mask |= std::uint64_t{1} << i;
    put_varint(mask, out_);
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (mask >> i & 1) num(v.buckets()[i], b.buckets()[i]);
  }
  template <std::integral T, std::size_t N>
  void nums(const std::array<T, N>& v, const std::array<T, N>& b) {
    static_assert(N <= 64, "a mask of 64 bits");
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < N; ++i)
      if (v[i] != b[i]) mask |= std::uint64_t{1} << i;
    put_varint(mask, out_);
    for (std::size_t i = 0; i < N; ++i)
      if (mask >> i & 1) num(v[i], b[i]);
  }
  template <typename T, std::size_t N, typename F>
  void array(const std::array<T, N>& v, const std::array<T, N>& b, F&& element_fields) {
    static_assert(N <= 64, "a mask of 64 bits");
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < N; ++i)
      if (!(v[i] == b[i])) mask |= std::uint64_t{1} << i;
    put_varint(mask, out_);
    for (std::size_t i = 0; i < N; ++i)
      if (mask >> i & 1) sub_record([&](Encoder& e) { element_fields(e, v[i], b[i]); });
  }
  template <typename T>
  void presence(const std::optional<T>& v, const std::optional<T>& b) {
    out_.push_back(v.has_value() != b.has_value() ? 1 : 0);
  }
  template <typename T, typename F>
  void record(const T& v, const T& b, F&& fields) {
    sub_record([&](Encoder& e) { fields(e, v, b); });
  }
  // 0: same as base; 1: as many elements as the base, each relative to the base's element at
  // its index; n + 2: n elements, each relative to an empty one. Each element is a
  // length-prefixed sub-record, so that an older decoder skips the fields it does not know.
  template <typename T, typename F>
  void list(const std::vector<T>& v, const std::vector<T>& b, F&& element_fields) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    const bool pairwise = v.size() == b.size();
    put_varint(pairwise ? 1 : v.size() + 2, out_);
    static const T kEmpty{};
    std::string sub;
    for (std::size_t i = 0; i < v.size(); ++i) {
      sub.clear();
      Encoder enc(sub);
      element_fields(enc, v[i], pairwise ? b[i] : kEmpty);
      enc.finish();
      put_varint(sub.size(), out_);
      out_.append(sub);
      keep_ = out_.size();
    }
  }
  template <typename T, typename K, typename F>
  void keyed(const std::vector<T>& v, const std::vector<T>& b, K&& key, F&& element_fields) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    const std::vector<std::ptrdiff_t> match = match_by_key(v, b, key);
    static const T kEmpty{};
    edits(
        match, [&](std::size_t j) { return v[j] == b[static_cast<std::size_t>(match[j])]; },
        [&](std::size_t j) {
          sub_record([&](Encoder& e) { element_fields(e, v[j], b[static_cast<std::size_t>(match[j])]); });
        },
        [&](std::size_t j) { sub_record([&](Encoder& e) { element_fields(e, v[j], kEmpty); }); });
  }
  template <typename V>
  requires std::integral<V> || std::same_as<V, std::string>
  void dict(const std::map<std::string, V>& v, const std::map<std::string, V>& b) {
    static const V kEmpty{};
    dict_edits(
        v, b, [&](const V& x, const V& xb) { value(x, xb); }, [&](const V& x) { value(x, kEmpty); });
  }
  template <typename V, typename F>
  void dict(const std::map<std::string, V>& v, const std::map<std::string, V>& b, F&& value_fields) {
    static const V kEmpty{};
    dict_edits(
        v, b, [&](const V& x, const V& xb) { sub_record([&](Encoder& e) { value_fields(e, x, xb); }); },
        [&](const V& x) { sub_record([&](Encoder& e) { value_fields(e, x, kEmpty); }); });
  }
  void counters(const std::map<std::string, std::uint64_t>& v) {
    put_varint(v.size(), out_);
    static const std::string kNone;
    for (const auto& [key, value] : v) {
      str(key, kNone);
      num(value, std::uint64_t{0});
    }
  }

 private:
  template <std::integral V>
  void value(const V& v, const V& b) {
    num(v, b);
  }
  void value(const std::string& v, const std::string& b) { str(v, b); }

  // A length-prefixed sub-record of the fields `fields` writes.
  template <typename F>
  void sub_record(F&& fields) {
    std::string sub;
    Encoder enc(sub);
    fields(enc);
    enc.finish();
    put_varint(sub.size(), out_);
    out_.append(sub);
    if (!sub.empty()) keep_ = out_.size();
  }

  // An edit script of match.size() elements (see the vocabulary): match[j] is the base element
  // element j is relative to (increasing), or -1 for a new one.
  template <typename Same, typename Change, typename New>
  void edits(const std::vector<std::ptrdiff_t>& match, Same&& same, Change&& change, New&& fresh) {
    const std::size_t n = match.size();
    put_varint(n + 1, out_);
    auto run_of = [&](std::size_t j) { return match[j] < 0 ? kNew : same(j) ? kCopy : kChange; };
    std::ptrdiff_t cursor = 0;  // the next base element
    for (std::size_t j = 0; j < n;) {
      const Run run = run_of(j);
      if (run != kNew && match[j] > cursor) {
        put_varint(static_cast<std::uint64_t>(match[j] - cursor) << 2 | kSkip, out_);
        cursor = match[j];
      }
      std::size_t count = 1;
      while (j + count < n && run_of(j + count) == run &&
             (run == kNew || match[j + count] == match[j] + static_cast<std::ptrdiff_t>(count)))
        ++count;
      put_varint(count << 2 | run, out_);
      for (std::size_t i = j; i < j + count; ++i) {
        if (run == kChange) change(i);
        if (run == kNew) fresh(i);
      }
      if (run != kNew) cursor = match[j] + static_cast<std::ptrdiff_t>(count);
      j += count;
    }
    keep_ = out_.size();
  }

  template <typename V, typename Change, typename New>
  void dict_edits(const std::map<std::string, V>& v, const std::map<std::string, V>& b, Change&& change,
                  New&& fresh) {
    if (v == b) {
      out_.push_back(0);
      return;
    }
    // Both sorted by key: a merge.
    using Entry = typename std::map<std::string, V>::value_type;
    std::vector<const Entry*> entries, bases;
    std::vector<std::ptrdiff_t> match;
    entries.reserve(v.size());
    bases.reserve(v.size());
    match.reserve(v.size());
    auto it = b.begin();
    std::ptrdiff_t pos = 0;
    for (const Entry& e : v) {
      while (it != b.end() && it->first < e.first) ++it, ++pos;
      const bool found = it != b.end() && it->first == e.first;
      entries.push_back(&e);
      bases.push_back(found ? &*it : nullptr);
      match.push_back(found ? pos : -1);
      if (found) ++it, ++pos;
    }
    static const std::string kNone;
    edits(
        match, [&](std::size_t j) { return bases[j]->second == entries[j]->second; },
        [&](std::size_t j) { change(entries[j]->second, bases[j]->second); },
        [&](std::size_t j) {
          str(entries[j]->first, kNone);
          fresh(entries[j]->second);
        });
  }

  std::string& out_;
  std::size_t keep_;  // bytes before this are never trimmed (strings, sub-records, scripts)
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}
  Status status() const { return error_.empty() ? Status{} : Status{Error{error_}}; }

  template <std::integral T>
  void num(T& v, T b) {
    v = static_cast<T>(static_cast<std::uint64_t>(b) + static_cast<std::uint64_t>(unzigzag(varint())));
  }
  void flag(bool& v, bool b) {
    const std::uint64_t t = varint();
    if (t > 1) fail("flag " + std::to_string(t));
    v = t == 1 ? !b : b;
  }
  template <typename E>
  void enumeration(E& v, E b) {
    std::int64_t wide = 0;
    num(wide, static_cast<std::int64_t>(b));
    v = static_cast<E>(wide);
  }
  template <std::integral T>
  void opt(std::optional<T>& v, const std::optional<T>& b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      v = b;
    } else if (t == 1) {
      v.reset();
    } else if (t == 2) {
      v = static_cast<T>(varint());
    } else {
      const auto base = static_cast<std::uint64_t>(b.value_or(T{}));
      v = static_cast<T>(base + static_cast<std::uint64_t>(unzigzag(t - 3)));
    }
  }
  void f64(double& v, double b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      v = b;
    } else if (t & 1) {
      v = static_cast<double>(unzigzag((t - 1) / 2)) / 100.0;
    } else if (t == 2) {
      v = std::bit_cast<double>(varint());
    } else {
      fail("number tag " + std::to_string(t));
    }
  }
  void str(std::string& v, const std::string& b) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    const std::uint64_t len = t - 1;
    if (len > static_cast<std::uint64_t>(end_ - p_)) {
      fail("string of " + std::to_string(len) + " bytes with " + std::to_string(end_ - p_) + " left");
      return;
    }
    v.assign(p_, len);
    p_ += len;
  }
  void hist(Log2Histogram& v, const Log2Histogram& b) {
    const std::uint64_t mask = varint();
    if (&v != &b) v = b;
    for (std::size_t i = 0; i < kLog2Buckets; ++i)
      if (mask >> i & 1) v.add_to_bucket(i, static_cast<std::uint64_t>(unzigzag(varint())));
  }
  template <std::integral T, std::size_t N>
  void nums(std::array<T, N>& v, const std::array<T, N>& b) {
    const std::uint64_t mask = varint();
    if (&v != &b) v = b;
    for (std::size_t i = 0; i < 64 && error_.empty(); ++i) {
      if (!(mask >> i & 1)) continue;
      if (i < N) {
        num(v[i], v[i]);
      } else {
        (void)varint();  // an element a newer cgscope added
      }
    }
  }
  template <typename T, std::size_t N, typename F>
  void array(std::array<T, N>& v, const std::array<T, N>& b, F&& element_fields) {
    const std::uint64_t mask = varint();
    if (&v != &b) v = b;
    for (std::size_t i = 0; i < 64 && error_.empty(); ++i) {
      if (!(mask >> i & 1)) continue;
      sub_record([&](Decoder& d) {
        if (i < N) element_fields(d, v[i], v[i]);  // else an element a newer cgscope added
      });
    }
  }
  template <typename T, typename F>
  void record(T& v, const T& b, F&& fields) {
    sub_record([&](Decoder& d) { fields(d, v, b); });
  }
  template <typename T>
  void presence(std::optional<T>& v, const std::optional<T>& b) {
    const std::uint64_t t = varint();
    if (t > 1) fail("presence " + std::to_string(t));
    const bool present = b.has_value() != (t == 1);
    if (present && !v) v.emplace();
    if (!present) v.reset();
  }
  template <typename T, typename F>
  void list(std::vector<T>& v, const std::vector<T>& b, F&& element_fields) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    const bool pairwise = t == 1;
    const std::uint64_t n = pairwise ? b.size() : t - 2;
    if (n > kMaxListSize) {
      fail("list of " + std::to_string(n) + " elements");
      return;
    }
    static const T kEmpty{};
    if (pairwise) {
      if (&v != &b) v = b;  // then each element is decoded over itself
    } else {
      v.assign(n, T{});
    }
    for (T& e : v) {
      sub_record([&](Decoder& d) { element_fields(d, e, pairwise ? e : kEmpty); });
      if (!error_.empty()) return;
    }
  }
  template <typename T, typename K, typename F>
  void keyed(std::vector<T>& v, const std::vector<T>& b, K&& /*key*/, F&& element_fields) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    // Decoding in place: the base elements are moved over, not copied.
    const bool in_place = &v == &b;
    std::vector<T> moved;
    if (in_place) moved = std::move(v);
    const std::vector<T>& base = in_place ? moved : b;
    std::vector<T> out;
    std::size_t cursor = 0;
    static const T kEmpty{};
    edits(
        t - 1, base.size(),
        [&](bool changed) {
          if (in_place) {
            out.push_back(std::move(moved[cursor++]));
          } else {
            out.push_back(base[cursor++]);
          }
          if (changed) sub_record([&](Decoder& d) { element_fields(d, out.back(), out.back()); });
        },
        [&] { ++cursor; },
        [&] {
          out.emplace_back();
          sub_record([&](Decoder& d) { element_fields(d, out.back(), kEmpty); });
        });
    v = std::move(out);
  }
  template <typename V>
  requires std::integral<V> || std::same_as<V, std::string>
  void dict(std::map<std::string, V>& v, const std::map<std::string, V>& b) {
    static const V kEmpty{};
    dict_edits(
        v, b, [&](V& x) { value(x, x); }, [&](V& x) { value(x, kEmpty); });
  }
  template <typename V, typename F>
  void dict(std::map<std::string, V>& v, const std::map<std::string, V>& b, F&& value_fields) {
    static const V kEmpty{};
    dict_edits(
        v, b, [&](V& x) { sub_record([&](Decoder& d) { value_fields(d, x, x); }); },
        [&](V& x) { sub_record([&](Decoder& d) { value_fields(d, x, kEmpty); }); });
  }
  void counters(std::map<std::string, std::uint64_t>& v) {
    const std::uint64_t n = varint();
    if (n > kMaxListSize) {
      fail("map of " + std::to_string(n) + " entries");
      return;
    }
    v.clear();
    static const std::string kNone;
    for (std::uint64_t i = 0; i < n && error_.empty(); ++i) {
      std::string key;
      std::uint64_t value = 0;
      str(key, kNone);
      num(value, std::uint64_t{0});
      v[std::move(key)] = value;
    }
  }

 private:
  template <std::integral V>
  void value(V& v, V b) {
    num(v, b);
  }
  void value(std::string& v, const std::string& b) { str(v, b); }

  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

  // A length-prefixed sub-record, read by `fields` with a decoder of its own.
  template <typename F>
  void sub_record(F&& fields) {
    const std::uint64_t len = varint();
    if (!error_.empty()) return;
    if (len > remaining()) {
      fail("sub-record of " + std::to_string(len) + " bytes with " + std::to_string(remaining()) + " left");
      return;
    }
    Decoder sub(std::string_view(p_, len));
    fields(sub);
    if (!sub.error_.empty()) {
      error_ = sub.error_;
      p_ = end_;
      return;
    }
    p_ += len;
  }

  // Reads the runs of an edit script of n elements over a base of base_size elements: take()
  // the next base element (changed or not), skip() it, or add a fresh() one. Every count is
  // checked before it is acted on: garbage is an error, never a runaway loop or allocation.
  template <typename Take, typename Skip, typename Fresh>
  void edits(std::uint64_t n, std::size_t base_size, Take&& take, Skip&& skip, Fresh&& fresh) {
    // Each element is a base element or has at least one byte of its own.
    if (n > base_size + remaining()) {
      fail("list of " + std::to_string(n) + " elements over " + std::to_string(base_size) + " with " +
           std::to_string(remaining()) + " bytes left");
      return;
    }
    std::uint64_t out = 0;
    std::size_t cursor = 0;
    while (out < n && error_.empty()) {
      const std::uint64_t tag = varint();
      const auto run = static_cast<Run>(tag & 3);
      const std::uint64_t count = tag >> 2;
      const bool from_base = run != kNew;
      if (count == 0 || (run != kSkip && count > n - out) || (from_base && count > base_size - cursor) ||
          (run == kNew && count > remaining())) {
        fail("run " + std::to_string(static_cast<std::uint64_t>(run)) + " of " + std::to_string(count) +
             " elements at " + std::to_string(out) + " of " + std::to_string(n) + ", base " +
             std::to_string(cursor) + " of " + std::to_string(base_size));
        return;
      }
      for (std::uint64_t i = 0; i < count && error_.empty(); ++i) {
        if (run == kNew) {
          fresh();
        } else if (run == kSkip) {
          skip();
        } else {
          take(run == kChange);
        }
      }
      if (from_base) cursor += count;
      if (run != kSkip) out += count;
    }
  }

  template <typename V, typename Change, typename New>
  void dict_edits(std::map<std::string, V>& v, const std::map<std::string, V>& b, Change&& change,
                  New&& fresh) {
    const std::uint64_t t = varint();
    if (t == 0) {
      if (&v != &b) v = b;
      return;
    }
    const bool in_place = &v == &b;
    std::map<std::string, V> moved;
    if (in_place) moved = std::move(v);
    const std::map<std::string, V>& base = in_place ? moved : b;
    std::map<std::string, V> out;
    auto it = base.begin();
    // Keys come in order: each after the one before (so a map is rebuilt exactly).
    auto add = [&](std::string key, V value) -> V* {
      if (!out.empty() && !(std::prev(out.end())->first < key)) {
        fail("map keys out of order");
        return nullptr;
      }
      return &out.emplace_hint(out.end(), std::move(key), std::move(value))->second;
    };
    edits(
        t - 1, base.size(),
        [&](bool changed) {
          V* x = nullptr;
          if (in_place) {
            auto node = moved.extract(it++);
            x = add(std::move(node.key()), std::move(node.mapped()));
          } else {
            x = add(it->first, it->second);
            ++it;
          }
          if (x && changed) change(*x);
        },
        [&] { ++it; },
        [&] {
          static const std::string kNone;
          std::string key;
          str(key, kNone);
          if (V* x = add(std::move(key), V{})) fresh(*x);
        });
    v = std::move(out);
  }

  // Past the end reads as zeros (trimmed trailing zeros, or fields of an older writer).
  std::uint64_t varint() {
    if (p_ != end_ && !(static_cast<std::uint8_t>(*p_) & 0x80)) return static_cast<std::uint8_t>(*p_++);
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return v;
      const auto byte = static_cast<std::uint8_t>(*p_++);
      if (shift == 63 && byte > 1) break;
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    fail("varint longer than 64 bits");
    return 0;
  }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = "malformed record: " + what;
    p_ = end_;
  }

  const char* p_;
  const char* end_;
  std::string error_;
};

const CpuBpfCounters& bpf_base(const CgroupSample& b) {
  static const CpuBpfCounters kZero;
  return b.cpu_bpf ? *b.cpu_bpf : kZero;
}

template <typename Io, typename L>
void psi_line(Io& io, L& x, const std::optional<PsiLine>& b) {
  static const PsiLine kZero;
  io.presence(x, b);
  if (!x) return;
  const PsiLine& lb = b ? *b : kZero;
  io.f64(x->avg10, lb.avg10);
  io.f64(x->avg60, lb.avg60);
  io.f64(x->avg300, lb.avg300);
  io.num(x->total_usec, lb.total_usec);
}

template <typename Io, typename P>
void pressure(Io& io, P& x, const Pressure& b) {
  psi_line(io, x.some, b.some);
  psi_line(io, x.full, b.full);
}

// Field lists of the elements of the I/O lists (inside length-prefixed sub-records).
template <typename Io, typename E>
void block_io_fields(Io& io, E& x, const BlockIoCounters& b) {
  io.num(x.dev, b.dev);
  io.enumeration(x.op, b.op);
  io.enumeration(x.owner, b.owner);
  io.num(x.requests, b.requests);
  io.num(x.bytes, b.bytes);
  io.num(x.errors, b.errors);
  io.num(x.latency_ns_sum, b.latency_ns_sum);
  io.num(x.queue_ns_sum, b.queue_ns_sum);
  io.num(x.queued, b.queued);
  io.hist(x.latency_ns, b.latency_ns);
  io.hist(x.queue_ns, b.queue_ns);
}

template <typename Io, typename E>
void io_stat_fields(Io& io, E& x, const IoStatDevice& b) {
  io.num(x.dev, b.dev);
  io.num(x.rbytes, b.rbytes);
  io.num(x.wbytes, b.wbytes);
  io.num(x.rios, b.rios);
  io.num(x.wios, b.wios);
  io.num(x.dbytes, b.dbytes);
  io.num(x.dios, b.dios);
}

template <typename Io, typename E>
void io_limit_fields(Io& io, E& x, const IoDeviceLimit& b) {
  io.num(x.dev, b.dev);
  io.opt(x.rbps, b.rbps);
  io.opt(x.wbps, b.wbps);
  io.opt(x.riops, b.riops);
  io.opt(x.wiops, b.wiops);
}

// THE field list of a CgroupSample (identity excluded). Append new fields at the end.
template <typename Io, typename S>
void cgroup_fields(Io& io, S& x, const CgroupSample& b) {
  io.flag(x.removed, b.removed);
  io.presence(x.cpu_bpf, b.cpu_bpf);
  if (x.cpu_bpf) {
    auto& c = *x.cpu_bpf;
    const CpuBpfCounters& cb = bpf_base(b);
    io.num(c.on_cpu_ns, cb.on_cpu_ns);
    io.num(c.voluntary_switches, cb.voluntary_switches);
    io.num(c.involuntary_switches, cb.involuntary_switches);
    io.num(c.migrations, cb.migrations);
    io.num(c.wakeup_delay_ns_sum, cb.wakeup_delay_ns_sum);
    io.num(c.preempt_delay_ns_sum, cb.preempt_delay_ns_sum);
    io.hist(c.wakeup_delay_ns, cb.wakeup_delay_ns);
    io.hist(c.preempt_delay_ns, cb.preempt_delay_ns);
  }
  io.opt(x.cpu_stat.usage_usec, b.cpu_stat.usage_usec);
  io.opt(x.cpu_stat.user_usec, b.cpu_stat.user_usec);
  io.opt(x.cpu_stat.system_usec, b.cpu_stat.system_usec);
  io.opt(x.cpu_stat.nr_periods, b.cpu_stat.nr_periods);
  io.opt(x.cpu_stat.nr_throttled, b.cpu_stat.nr_throttled);
  io.opt(x.cpu_stat.throttled_usec, b.cpu_stat.throttled_usec);
  io.opt(x.cpu_knobs.quota_usec, b.cpu_knobs.quota_usec);
  io.opt(x.cpu_knobs.period_usec, b.cpu_knobs.period_usec);
  io.opt(x.cpu_knobs.weight, b.cpu_knobs.weight);
  io.opt(x.cpu_knobs.shares, b.cpu_knobs.shares);
  io.str(x.cpu_knobs.cpuset_cpus, b.cpu_knobs.cpuset_cpus);
  io.flag(x.cpu_knobs.quota_known, b.cpu_knobs.quota_known);
  pressure(io, x.cpu_pressure, b.cpu_pressure);
  // Version 2: I/O wait, block I/O, io.* and memory.*.
  if (x.cpu_bpf) {
    auto& c = *x.cpu_bpf;
    const CpuBpfCounters& cb = bpf_base(b);
    io.num(c.iowait_ns, cb.iowait_ns);
    io.num(c.iowait_count, cb.iowait_count);
  }
  io.presence(x.io_bpf, b.io_bpf);
  if (x.io_bpf) {
    static const IoBpfCounters kZero;
    const IoBpfCounters& ib = b.io_bpf ? *b.io_bpf : kZero;
    io.list(x.io_bpf->block, ib.block, [](auto& sub, auto& e, const BlockIoCounters& eb) { block_io_fields(sub, e, eb); });
    io.num(x.io_bpf->dirty_throttle_ns, ib.dirty_throttle_ns);
    io.num(x.io_bpf->dirty_throttle_count, ib.dirty_throttle_count);
  }
  io.list(x.io_stat, b.io_stat, [](auto& sub, auto& e, const IoStatDevice& eb) { io_stat_fields(sub, e, eb); });
  io.opt(x.io_knobs.weight, b.io_knobs.weight);
  io.str(x.io_knobs.weight_file, b.io_knobs.weight_file);
  io.list(x.io_knobs.limits, b.io_knobs.limits,
          [](auto& sub, auto& e, const IoDeviceLimit& eb) { io_limit_fields(sub, e, eb); });
  pressure(io, x.io_pressure, b.io_pressure);
  io.presence(x.memory_bpf, b.memory_bpf);
  if (x.memory_bpf) {
    static const MemoryBpfCounters kZero;
    const MemoryBpfCounters& mb = b.memory_bpf ? *b.memory_bpf : kZero;
    auto& m = *x.memory_bpf;
    io.num(m.direct_reclaim_ns, mb.direct_reclaim_ns);
    io.num(m.direct_reclaim_count, mb.direct_reclaim_count);
    io.num(m.memcg_reclaim_ns, mb.memcg_reclaim_ns);
    io.num(m.memcg_reclaim_count, mb.memcg_reclaim_count);
    io.num(m.reclaimed_pages, mb.reclaimed_pages);
    io.hist(m.reclaim_ns, mb.reclaim_ns);
    io.num(m.cache_accessed_pages, mb.cache_accessed_pages);
    io.num(m.cache_read_added_pages, mb.cache_read_added_pages);
    io.num(m.cache_other_added_pages, mb.cache_other_added_pages);
    io.num(m.file_faults, mb.file_faults);
    io.num(m.oom_kills, mb.oom_kills);
  }
  auto& ms = x.memory_stat;
  const auto& msb = b.memory_stat;
  io.opt(ms.anon_bytes, msb.anon_bytes);
  io.opt(ms.file_bytes, msb.file_bytes);
  io.opt(ms.file_dirty_bytes, msb.file_dirty_bytes);
  io.opt(ms.file_writeback_bytes, msb.file_writeback_bytes);
  io.opt(ms.shmem_bytes, msb.shmem_bytes);
  io.opt(ms.pgfault, msb.pgfault);
  io.opt(ms.pgmajfault, msb.pgmajfault);
  io.opt(ms.workingset_refault_anon, msb.workingset_refault_anon);
  io.opt(ms.workingset_refault_file, msb.workingset_refault_file);
  auto& mk = x.memory_knobs;
  const auto& mkb = b.memory_knobs;
  io.opt(mk.current_bytes, mkb.current_bytes);
  io.opt(mk.peak_bytes, mkb.peak_bytes);
  io.opt(mk.max_bytes, mkb.max_bytes);
  io.opt(mk.high_bytes, mkb.high_bytes);
  io.opt(mk.low_bytes, mkb.low_bytes);
  io.opt(mk.min_bytes, mkb.min_bytes);
  io.opt(mk.swap_max_bytes, mkb.swap_max_bytes);
  io.flag(mk.v1, mkb.v1);
  io.flag(mk.limits_known, mkb.limits_known);
  auto& me = x.memory_events;
  const auto& meb = b.memory_events;
  io.opt(me.low, meb.low);
  io.opt(me.high, meb.high);
  io.opt(me.max, meb.max);
  io.opt(me.oom, meb.oom);
  io.opt(me.oom_kill, meb.oom_kill);
  pressure(io, x.memory_pressure, b.memory_pressure);
  // Run-delay blame, CPU demand slots, file LRU sizes.
  if (x.cpu_bpf) {
    auto& c = *x.cpu_bpf;
    const CpuBpfCounters& cb = bpf_base(b);
    io.keyed(c.blame, cb.blame, [](const RunDelayBlame& e) { return e.cgroup_id; },
             [](auto& sub, auto& e, const RunDelayBlame& eb) {
               sub.num(e.wait_ns, eb.wait_ns);
               sub.num(e.waits, eb.waits);
               sub.num(e.cgroup_id, eb.cgroup_id);
             });
    io.num(c.blame_overflow_ns, cb.blame_overflow_ns);
    io.num(c.blame_overflow_waits, cb.blame_overflow_waits);
  }
  io.num(x.cpu_demand.slot_ns, b.cpu_demand.slot_ns);
  io.keyed(x.cpu_demand.buckets, b.cpu_demand.buckets, [](const CpuDemandBucket& e) { return e.centi_cpus; },
           [](auto& sub, auto& e, const CpuDemandBucket& eb) {
             sub.num(e.slots, eb.slots);
             sub.num(e.centi_cpus, eb.centi_cpus);
           });
  io.num(x.cpu_demand.missed_slots, b.cpu_demand.missed_slots);
  io.opt(ms.active_file_bytes, msb.active_file_bytes);
  io.opt(ms.inactive_file_bytes, msb.inactive_file_bytes);
  // New fields go here, e.g. `io.opt(x.memory_knobs.foo_bytes, b.memory_knobs.foo_bytes);`
}

// THE field list of one CollectorStatus (inside a length-prefixed sub-record).
template <typename Io, typename C>
void collector_fields(Io& io, C& x, const CollectorStatus& b) {
  io.str(x.name, b.name);
  io.flag(x.active, b.active);
  io.str(x.message, b.message);
  io.counters(x.drops);
  // New fields go here.
}

// ---- NFS (codec version 3) ----
// Elements of keyed lists put their key last: in a delta it equals the base's (that is how the
// base element was chosen), so it is trimmed with the other trailing zeros.

template <typename Io, typename E>
void nfs_mount_fields(Io& io, E& x, const NfsMount& b) {
  io.flag(x.vanished, b.vanished);
  io.str(x.mount_point, b.mount_point);
  io.str(x.source, b.source);
  io.str(x.server, b.server);
  io.str(x.export_path, b.export_path);
  io.str(x.fstype, b.fstype);
  io.str(x.vers, b.vers);
  io.dict(x.options, b.options);
  io.num(x.acregmin_s, b.acregmin_s);
  io.num(x.acregmax_s, b.acregmax_s);
  io.num(x.acdirmin_s, b.acdirmin_s);
  io.num(x.acdirmax_s, b.acdirmax_s);
  io.flag(x.attribute_cache, b.attribute_cache);
  io.flag(x.close_to_open, b.close_to_open);
  io.str(x.lookupcache, b.lookupcache);
  io.num(x.nconnect, b.nconnect);
  io.opt(x.rsize, b.rsize);
  io.opt(x.wsize, b.wsize);
  io.num(x.dev, b.dev);
  io.num(x.sb_instance, b.sb_instance);
  io.num(x.mount_id, b.mount_id);
  // New fields go here.
}
auto nfs_mount_key(const NfsMount& m) { return std::tie(m.dev, m.sb_instance, m.mount_id); }

template <typename Io, typename E>
void nfs_mount_op_fields(Io& io, E& x, const NfsMountOpStats& b) {
  io.num(x.ops, b.ops);
  io.num(x.transmissions, b.transmissions);
  io.num(x.major_timeouts, b.major_timeouts);
  io.num(x.bytes_sent, b.bytes_sent);
  io.num(x.bytes_received, b.bytes_received);
  io.num(x.queue_ms, b.queue_ms);
  io.num(x.rtt_ms, b.rtt_ms);
  io.num(x.execute_ms, b.execute_ms);
  io.opt(x.errors, b.errors);
  // New fields go here.
}

template <typename Io, typename E>
void nfs_mountstats_fields(Io& io, E& x, const NfsMountStats& b) {
  io.num(x.age_seconds, b.age_seconds);
  io.dict(x.events, b.events);
  io.dict(x.bytes, b.bytes);
  io.dict(x.xprt, b.xprt);
  io.dict(x.ops, b.ops,
          [](auto& sub, auto& e, const NfsMountOpStats& eb) { nfs_mount_op_fields(sub, e, eb); });
  io.str(x.transport, b.transport);
  io.str(x.fstype, b.fstype);
  io.str(x.source, b.source);
  io.str(x.mount_point, b.mount_point);
  // New fields go here.
}
auto nfs_mountstats_key(const NfsMountStats& m) { return std::tie(m.source, m.mount_point); }

template <typename Io, typename E>
void nfs_op_fields(Io& io, E& x, const NfsOpCounters& b) {
  io.num(x.count, b.count);
  io.num(x.time_ns, b.time_ns);
  io.hist(x.time_ns_hist, b.time_ns_hist);
  io.nums(x.errors, b.errors);
  // New fields go here.
}

template <typename Io, typename E>
void nfs_cgroup_mount_fields(Io& io, E& x, const NfsCgroupMountCounters& b) {
  io.array(x.ops, b.ops, [](auto& sub, auto& e, const NfsOpCounters& eb) { nfs_op_fields(sub, e, eb); });
  io.num(x.read_bytes, b.read_bytes);
  io.num(x.write_bytes, b.write_bytes);
  io.num(x.dirtied_pages, b.dirtied_pages);
  io.num(x.invalidated_pages, b.invalidated_pages);
  io.num(x.lookup_negative, b.lookup_negative);
  io.num(x.negative_trusted, b.negative_trusted);
  io.num(x.negative_rejected, b.negative_rejected);
  io.num(x.negative_stale, b.negative_stale);
  io.num(x.silly_renames, b.silly_renames);
  io.num(x.cgroup_id, b.cgroup_id);
  io.num(x.dev, b.dev);
  io.num(x.sb_instance, b.sb_instance);
  // New fields go here.
}
auto nfs_cgroup_mount_key(const NfsCgroupMountCounters& c) {
  return std::tie(c.cgroup_id, c.dev, c.sb_instance);
}

template <typename Io, typename E>
void nfs_rpc_fields(Io& io, E& x, const NfsRpcCounters& b) {
  io.num(x.count, b.count);
  io.num(x.rtt_us, b.rtt_us);
  io.num(x.execute_us, b.execute_us);
  io.hist(x.rtt_us_hist, b.rtt_us_hist);
  io.hist(x.execute_us_hist, b.execute_us_hist);
  io.num(x.retransmits, b.retransmits);
  io.num(x.timeouts, b.timeouts);
  io.num(x.cgroup_id, b.cgroup_id);
  io.num(x.prog, b.prog);
  io.num(x.vers, b.vers);
  io.str(x.procedure, b.procedure);
  // New fields go here.
}
auto nfs_rpc_key(const NfsRpcCounters& r) { return std::tie(r.cgroup_id, r.prog, r.vers, r.procedure); }

template <typename Io, typename E>
void nfs_file_cgroup_fields(Io& io, E& x, const NfsFileCgroup& b) {
  io.num(x.reads, b.reads);
  io.num(x.revalidations, b.revalidations);
  io.num(x.written_bytes, b.written_bytes);
  io.num(x.dirtied_pages, b.dirtied_pages);
  io.num(x.invalidations, b.invalidations);
  io.num(x.dev, b.dev);  // the superblock used last: may change, not part of the key
  io.num(x.sb_instance, b.sb_instance);
  io.num(x.cgroup_id, b.cgroup_id);
  // New fields go here.
}
auto nfs_file_cgroup_key(const NfsFileCgroup& c) { return std::tie(c.cgroup_id); }

template <typename Io, typename E>
void nfs_file_fields(Io& io, E& x, const NfsFileCounters& b) {
  io.keyed(x.cgroups, b.cgroups, nfs_file_cgroup_key,
           [](auto& sub, auto& e, const NfsFileCgroup& eb) { nfs_file_cgroup_fields(sub, e, eb); });
  io.num(x.overflow, b.overflow);
  io.num(x.export_id, b.export_id);
  io.num(x.fileid, b.fileid);
  // New fields go here.
}
auto nfs_file_key(const NfsFileCounters& f) { return std::tie(f.export_id, f.fileid); }

template <typename Io, typename E>
void nfs_stale_name_fields(Io& io, E& x, const NfsStaleName& b) {
  io.num(x.count, b.count);
  io.num(x.creator_cgroup_id, b.creator_cgroup_id);
  io.num(x.export_id, b.export_id);
  io.num(x.dir_fileid, b.dir_fileid);
  io.num(x.name_hash, b.name_hash);
  io.num(x.victim_cgroup_id, b.victim_cgroup_id);
  io.num(x.victim_dev, b.victim_dev);
  io.num(x.victim_sb_instance, b.victim_sb_instance);
  // New fields go here.
}
auto nfs_stale_name_key(const NfsStaleName& n) {
  return std::tie(n.export_id, n.dir_fileid, n.name_hash, n.victim_cgroup_id, n.victim_dev,
                  n.victim_sb_instance);
}

// THE field list of a Sample's NfsSample (one sub-record). The lists are in the collector's
// order (sorted by key where the kernel gives no order), so consecutive samples line up.
template <typename Io, typename N>
void nfs_fields(Io& io, N& x, const NfsSample& b) {
  io.flag(x.active, b.active);
  io.flag(x.negative_lookups_visible, b.negative_lookups_visible);
  io.keyed(x.mounts, b.mounts, nfs_mount_key,
           [](auto& sub, auto& e, const NfsMount& eb) { nfs_mount_fields(sub, e, eb); });
  io.keyed(x.mountstats, b.mountstats, nfs_mountstats_key,
           [](auto& sub, auto& e, const NfsMountStats& eb) { nfs_mountstats_fields(sub, e, eb); });
  io.keyed(x.cgroups, b.cgroups, nfs_cgroup_mount_key,
           [](auto& sub, auto& e, const NfsCgroupMountCounters& eb) { nfs_cgroup_mount_fields(sub, e, eb); });
  io.keyed(x.rpc, b.rpc, nfs_rpc_key,
           [](auto& sub, auto& e, const NfsRpcCounters& eb) { nfs_rpc_fields(sub, e, eb); });
  io.keyed(x.files, b.files, nfs_file_key,
           [](auto& sub, auto& e, const NfsFileCounters& eb) { nfs_file_fields(sub, e, eb); });
  io.keyed(x.stale_names, b.stale_names, nfs_stale_name_key,
           [](auto& sub, auto& e, const NfsStaleName& eb) { nfs_stale_name_fields(sub, e, eb); });
  // New fields go here.
}

// THE field list of the sample-wide part of a Sample.
template <typename Io, typename S>
void sample_info_fields(Io& io, S& x, const Sample& b) {
  io.num(x.nr_cpus, b.nr_cpus);
  io.list(x.collectors, b.collectors,
          [](auto& sub, auto& e, const CollectorStatus& eb) { collector_fields(sub, e, eb); });
  // Version 3.
  io.num(x.page_size, b.page_size);
  io.record(x.nfs, b.nfs, [](auto& sub, auto& n, const NfsSample& nb) { nfs_fields(sub, n, nb); });
  // New fields go here.
}

// THE field list of a CgroupIdentity (relative to an empty identity).
template <typename Io, typename I>
void identity_fields(Io& io, I& x, const CgroupIdentity& b) {
  io.num(x.id, b.id);
  io.str(x.path, b.path);
  io.enumeration(x.container.runtime, b.container.runtime);
  io.str(x.container.container_id, b.container.container_id);
  io.str(x.container.pod_uid, b.container.pod_uid);
  io.enumeration(x.container.qos, b.container.qos);
  io.str(x.container.systemd_unit, b.container.systemd_unit);
  io.str(x.container.systemd_slice, b.container.systemd_slice);
  io.str(x.v1_cpu_path, b.v1_cpu_path);
  io.str(x.v1_cpuacct_path, b.v1_cpuacct_path);
  // Version 2.
  io.str(x.v1_memory_path, b.v1_memory_path);
  io.str(x.v1_blkio_path, b.v1_blkio_path);
  // New fields go here.
}

}  // namespace

void put_varint(std::uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void encode_cgroup(const CgroupSample& value, const CgroupSample& base, std::string& out) {
  Encoder enc(out);
  cgroup_fields(enc, value, base);
  enc.finish();
}

Status decode_cgroup(std::string_view in, const CgroupSample& base, CgroupSample& out) {
  if (in.empty() && &base == &out) return {};  // unchanged (idle cgroups): every field is the base
  Decoder dec(in);
  cgroup_fields(dec, out, base);
  return dec.status();
}

void encode_sample_info(const Sample& value, const Sample& base, std::string& out) {
  Encoder enc(out);
  sample_info_fields(enc, value, base);
  enc.finish();
}

Status decode_sample_info(std::string_view in, const Sample& base, Sample& out) {
  Decoder dec(in);
  sample_info_fields(dec, out, base);
  return dec.status();
}

void encode_identity(const CgroupIdentity& value, std::string& out) {
  static const CgroupIdentity kEmpty;
  Encoder enc(out);
  identity_fields(enc, value, kEmpty);
  enc.finish();
}

Status decode_identity(std::string_view in, CgroupIdentity& out) {
  static const CgroupIdentity kEmpty;
  Decoder dec(in);
  identity_fields(dec, out, kEmpty);
  return dec.status();
}

}  // namespace cgscope::model::codec
