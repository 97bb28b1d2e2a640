// Domain names in wire form: bounded buffers, case-insensitive compare, canonical order.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace apexd::wire {

inline constexpr size_t max_name_length = 255;  // RFC 1035 §2.3.4
inline constexpr size_t max_label_length = 63;  // RFC 1035 §2.3.4
inline constexpr size_t max_labels = 127;       // 255 bytes / 2 bytes per shortest label

/// A view of an uncompressed wire-form name: length-prefixed labels ending in the root label.
using NameView = std::span<const uint8_t>;

/// A fixed-size, allocation-free holder of one wire-form name.
struct NameBuf {
  std::array<uint8_t, max_name_length> data;  ///< left uninitialized on purpose: only [0, len) is meaningful
  uint8_t len = 0;  ///< total length including the root label; 0 = empty (invalid)

  NameView view() const { return {data.data(), len}; }
  void assign(NameView n);
};

inline uint8_t to_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? uint8_t(c + 32) : c; }

/// Length of the uncompressed name at the start of `p` (through its root label), or 0 when
/// `p` does not start with a well-formed one.
size_t name_wire_length(std::span<const uint8_t> p);
/// True when `n` is a well-formed uncompressed name that ends exactly at n.size().
bool name_is_valid(NameView n);
/// Number of labels, not counting the root label.
size_t name_label_count(NameView n);
/// Case-insensitive equality (RFC 4343).
bool name_equal(NameView a, NameView b);
/// Lowercased copy into `out` (same length).
void name_to_lower(NameView n, uint8_t* out);
std::string name_lower(NameView n);
/// The name with its first `labels` labels removed.
NameView name_strip(NameView n, size_t labels);
/// True when `n` equals `parent` or lies below it.
bool name_is_subdomain(NameView n, NameView parent);
/// RFC 4034 §6.1 canonical order: <0, 0, >0.
int name_canonical_compare(NameView a, NameView b);
/// True when the first label is `*`.
bool name_is_wildcard(NameView n);
/// Presentation form with a trailing dot; `\DDD` and `\.` escapes as RFC 1035 §5.1.
std::string name_to_text(NameView n);
/// Parses an absolute or relative name (relative names get `origin` appended; `@` is origin).
std::optional<std::string> name_from_text(std::string_view text, NameView origin = {});

}  // namespace apexd::wire
