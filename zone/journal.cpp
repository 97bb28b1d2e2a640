// The IXFR journal: diff of two versions, condensation (RFC 1995 §5), applying, and the checksummed file.
//
// File format, version 1 (every integer big-endian):
//
//   file header  "APEXJRNL" (8 bytes) | version u32 = 1 | reserved u32 = 0            16 bytes
//   entry        magic u32 = 0x4A524E45 ("JRNE") | length u32 | crc u32 | payload[length]
//                crc = CRC-32C of the 4 length bytes followed by the payload, so a damaged length
//                is caught like damaged data
//   payload      serial_from u32 | serial_to u32 | tag u64 | removed u32 | added u32 |
//                (removed + added) × RR, the removed ones first
//   RR           owner_len u8 | owner | type u16 | ttl u32 | rdata_len u16 | rdata
//
// Entries follow each other with nothing between them; each continues the one before
// (serial_from == the previous serial_to). An entry is appended with one write and an fsync; a
// torn write fails its checksum (or is short) at the next open and is cut off there.
#include "zone/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <stdexcept>
#include <utility>

#include "zone/wire/name.hpp"
#include "zone/wire/reader.hpp"
#include "zone/wire/types.hpp"

namespace apexd::zone {
namespace {

constexpr std::string_view file_magic = "APEXJRNL";
constexpr uint32_t format_version = 1;
constexpr uint64_t file_header_size = 16;
constexpr uint32_t entry_magic = 0x4A524E45;  // "JRNE"
constexpr uint64_t entry_header_size = 12;
// Larger than any changeset worth journaling (a whole-zone replacement is better sent by AXFR);
// a length above it is damage, refused before anything is allocated for it.
constexpr uint32_t max_entry_payload = 1u << 30;
constexpr size_t min_rr_size = 1 + 1 + 2 + 4 + 2;  // root owner, empty RDATA
constexpr size_t soa_fixed_fields = 20;             // serial refresh retry expire minimum, RFC 1035 §3.3.13
constexpr size_t max_rdata_length = 65535;          // RDLENGTH is 16 bits, RFC 1035 §3.2.1

wire::NameView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// --- CRC-32C -------------------------------------------------------------------------------

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> crc_table = make_crc_table();

uint32_t crc32c_update(uint32_t crc, std::string_view data) {
  for (unsigned char b : data) crc = crc_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return crc;
}

// --- SOA and changeset shape ---------------------------------------------------------------

std::optional<uint32_t> soa_serial(const std::string& rdata) {
  auto p = view(rdata);
  size_t mname = wire::name_wire_length(p);
  if (mname == 0) return std::nullopt;
  size_t rname = wire::name_wire_length(p.subspan(mname));
  if (rname == 0 || p.size() != mname + rname + soa_fixed_fields) return std::nullopt;
  wire::Reader r(p, mname + rname);
  uint32_t serial = 0;
  if (!r.u32(serial)) return std::nullopt;
  return serial;
}

std::string rr_problem(const JournalRR& rr) {
  if (!wire::name_is_valid(view(rr.owner))) return "an owner is not a wire-form name";
  if (rr.rdata.size() > max_rdata_length) return "an RDATA is longer than 65535 bytes";
  return {};
}

// Empty when `cs` has the shape RFC 1995 §4 gives a difference sequence, else why not.
std::string changeset_problem(const Changeset& cs) {
  if (cs.removed.empty() || cs.removed.front().type != wire::rrtype::SOA) return "removed does not begin with an SOA";
  if (cs.added.empty() || cs.added.front().type != wire::rrtype::SOA) return "added does not begin with an SOA";
  if (soa_serial(cs.removed.front().rdata) != cs.serial_from) return "the old SOA's serial is not serial_from";
  if (soa_serial(cs.added.front().rdata) != cs.serial_to) return "the new SOA's serial is not serial_to";
  for (const auto* list : {&cs.removed, &cs.added})
    for (const JournalRR& rr : *list)
      if (std::string p = rr_problem(rr); !p.empty()) return p;
  return {};
}

void sort_unique(std::vector<JournalRR>& v) {
  std::sort(v.begin(), v.end(), canonical_less);
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

JournalRR take_soa(std::vector<JournalRR>& version, const char* side) {
  auto is_soa = [](const JournalRR& rr) { return rr.type == wire::rrtype::SOA; };
  auto n = std::count_if(version.begin(), version.end(), is_soa);
  if (n != 1)
    throw std::invalid_argument(std::string("diff_versions: the ") + side + " version has " + std::to_string(n) +
                                " SOA records, not one");
  auto it = std::find_if(version.begin(), version.end(), is_soa);
  JournalRR soa = std::move(*it);
  version.erase(it);
  return soa;
}

uint32_t serial_of(const JournalRR& soa, const char* side) {
  auto serial = soa_serial(soa.rdata);
  if (!serial) throw std::invalid_argument(std::string("diff_versions: the ") + side + " SOA's RDATA holds no serial");
  return *serial;
}

// --- encoding ------------------------------------------------------------------------------

void put_u8(std::string& out, uint8_t v) { out.push_back(char(v)); }
void put_u16(std::string& out, uint16_t v) {
  put_u8(out, uint8_t(v >> 8));
  put_u8(out, uint8_t(v));
}
void put_u32(std::string& out, uint32_t v) {
  put_u16(out, uint16_t(v >> 16));
  put_u16(out, uint16_t(v));
}
uint32_t get_u32(std::string_view s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint8_t(s[at + 3]);
}

std::string file_header() {
  std::string h(file_magic);
  put_u32(h, format_version);
  put_u32(h, 0);
  return h;
}

// Header and payload of one entry; `cs` has passed changeset_problem().
std::string encode_entry(const Changeset& cs, uint64_t tag) {
  std::string payload;
  put_u32(payload, cs.serial_from);
  put_u32(payload, cs.serial_to);
  put_u32(payload, uint32_t(tag >> 32));
  put_u32(payload, uint32_t(tag));
  put_u32(payload, uint32_t(cs.removed.size()));
  put_u32(payload, uint32_t(cs.added.size()));
  for (const auto* list : {&cs.removed, &cs.added}) {
    for (const JournalRR& rr : *list) {
      put_u8(payload, uint8_t(rr.owner.size()));
      payload += rr.owner;
      put_u16(payload, rr.type);
      put_u32(payload, rr.ttl);
      put_u16(payload, uint16_t(rr.rdata.size()));
      payload += rr.rdata;
      if (payload.size() > max_entry_payload) throw std::invalid_argument("journal append: changeset over 1 GiB");
    }
  }
  std::string entry;
  put_u32(entry, entry_magic);
  put_u32(entry, uint32_t(payload.size()));
  put_u32(entry, crc32c_update(crc32c_update(~0u, std::string_view(entry).substr(4, 4)), payload) ^ ~0u);
  return entry + payload;
}

// The changeset in a checksummed payload, or nullopt when it does not parse as one.
std::optional<std::pair<Changeset, uint64_t>> decode_payload(std::string_view payload) {
  wire::Reader r({reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
  Changeset cs;
  uint32_t tag_hi = 0, tag_lo = 0, removed = 0, added = 0;
  if (!r.u32(cs.serial_from) || !r.u32(cs.serial_to) || !r.u32(tag_hi) || !r.u32(tag_lo) || !r.u32(removed) ||
      !r.u32(added))
    return std::nullopt;
  if (uint64_t(removed) + added > r.remaining() / min_rr_size) return std::nullopt;  // before reserving
  auto read_bytes = [&](size_t n, std::string& out) {
    const char* at = payload.data() + r.pos();
    if (!r.skip(n)) return false;
    out.assign(at, n);
    return true;
  };
  for (auto [list, count] : {std::pair{&cs.removed, removed}, std::pair{&cs.added, added}}) {
    list->reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      JournalRR rr;
      uint8_t owner_len = 0;
      uint16_t rdata_len = 0;
      if (!r.u8(owner_len) || !read_bytes(owner_len, rr.owner) || !r.u16(rr.type) || !r.u32(rr.ttl) ||
          !r.u16(rdata_len) || !read_bytes(rdata_len, rr.rdata))
        return std::nullopt;
      list->push_back(std::move(rr));
    }
  }
  if (!r.at_end() || !changeset_problem(cs).empty()) return std::nullopt;
  return std::pair{std::move(cs), uint64_t(tag_hi) << 32 | tag_lo};
}

// --- POSIX I/O -----------------------------------------------------------------------------

// 0, or the errno of the failure (a write that makes no progress counts as ENOSPC).
int write_all(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ENOSPC;
    data.remove_prefix(size_t(n));
    offset += uint64_t(n);
  }
  return 0;
}

// Bytes read into `buf` (fewer than asked at end of file), or -1 with errno set.
ssize_t read_all(int fd, char* buf, size_t len, uint64_t offset) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::pread(fd, buf + got, len - got, off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += size_t(n);
  }
  return ssize_t(got);
}

std::string folder_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// 0, or the errno of the failure.
int fsync_folder(const std::string& folder) {
  int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  int err = ::fsync(dfd) == 0 ? 0 : errno;
  ::close(dfd);
  return err;
}

}  // namespace

uint32_t crc32c(std::string_view data) { return crc32c_update(~0u, data) ^ ~0u; }

bool canonical_less(const JournalRR& a, const JournalRR& b) {
  if (int c = wire::name_canonical_compare(view(a.owner), view(b.owner)); c != 0) return c < 0;
  if (a.owner != b.owner) return a.owner < b.owner;  // equal but for case: keep the order strict
  if (a.type != b.type) return a.type < b.type;
  // RFC 4034 §6.3: RDATA as left-justified unsigned octets; std::string compares as unsigned char.
  if (int c = a.rdata.compare(b.rdata); c != 0) return c < 0;
  return a.ttl < b.ttl;
}

Changeset diff_versions(std::vector<JournalRR> before, std::vector<JournalRR> after) {
  sort_unique(before);
  sort_unique(after);
  Changeset cs;
  cs.removed.push_back(take_soa(before, "old"));
  cs.added.push_back(take_soa(after, "new"));
  cs.serial_from = serial_of(cs.removed.front(), "old");
  cs.serial_to = serial_of(cs.added.front(), "new");
  // The SOAs always lead their lists (RFC 1995 §4), even when equal; the rest is the two set
  // differences. A TTL change makes the RRs differ, so it is a removal and an addition.
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(cs.removed),
                      canonical_less);
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(cs.added),
                      canonical_less);
  return cs;
}

Changeset condense(std::span<const Changeset> chain) {
  if (chain.empty()) throw std::invalid_argument("condense: empty chain");
  auto ptr_less = [](const JournalRR* a, const JournalRR* b) { return canonical_less(*a, *b); };
  // Net effect per RR over the chain: -1 removed, +1 added, 0 neither. Within a changeset the
  // removals come before the additions (RFC 1995 §4), so each step may move an RR by one only.
  std::map<const JournalRR*, int, decltype(ptr_less)> net(ptr_less);
  for (size_t i = 0; i < chain.size(); ++i) {
    const Changeset& cs = chain[i];
    if (cs.removed.empty() || cs.added.empty())
      throw std::invalid_argument("condense: changeset " + std::to_string(i) + " lacks its SOAs");
    if (i > 0 && chain[i - 1].serial_to != cs.serial_from)
      throw std::invalid_argument("condense: changeset " + std::to_string(i) + " starts at serial " +
                                  std::to_string(cs.serial_from) + ", not " + std::to_string(chain[i - 1].serial_to));
    for (size_t k = 1; k < cs.removed.size(); ++k) {
      int& n = net.try_emplace(&cs.removed[k], 0).first->second;
      if (n == -1) throw std::invalid_argument("condense: changeset " + std::to_string(i) + " removes an RR already removed");
      --n;
    }
    for (size_t k = 1; k < cs.added.size(); ++k) {
      int& n = net.try_emplace(&cs.added[k], 0).first->second;
      if (n == 1) throw std::invalid_argument("condense: changeset " + std::to_string(i) + " adds an RR already added");
      ++n;
    }
  }
  Changeset out;
  out.serial_from = chain.front().serial_from;
  out.serial_to = chain.back().serial_to;
  out.removed.push_back(chain.front().removed.front());
  out.added.push_back(chain.back().added.front());
  for (const auto& [rr, n] : net) {  // map order is canonical order
    if (n < 0) out.removed.push_back(*rr);
    if (n > 0) out.added.push_back(*rr);
  }
  return out;
}

std::optional<std::vector<JournalRR>> apply_changeset(std::vector<JournalRR> version, const Changeset& cs) {
  sort_unique(version);
  std::vector<bool> gone(version.size(), false);
  auto find = [&](const JournalRR& rr) -> std::optional<size_t> {
    auto it = std::lower_bound(version.begin(), version.end(), rr, canonical_less);
    if (it == version.end() || !(*it == rr)) return std::nullopt;
    return size_t(it - version.begin());
  };
  for (const JournalRR& rr : cs.removed) {
    auto at = find(rr);
    if (!at || gone[*at]) return std::nullopt;  // absent, or removed twice
    gone[*at] = true;
  }
  std::vector<JournalRR> adds = cs.added;
  std::sort(adds.begin(), adds.end(), canonical_less);
  if (std::adjacent_find(adds.begin(), adds.end()) != adds.end()) return std::nullopt;
  for (const JournalRR& rr : adds) {
    auto at = find(rr);
    if (at && !gone[*at]) return std::nullopt;  // already present
  }
  std::vector<JournalRR> kept;
  kept.reserve(version.size() + adds.size());
  for (size_t i = 0; i < version.size(); ++i)
    if (!gone[i]) kept.push_back(std::move(version[i]));
  std::vector<JournalRR> out;
  out.reserve(kept.size() + adds.size());
  std::merge(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()),
             std::make_move_iterator(adds.begin()), std::make_move_iterator(adds.end()), std::back_inserter(out),
             canonical_less);
  return out;
}

// --- Journal -------------------------------------------------------------------------------

Journal::Journal(Journal&& other) noexcept
    : path_(std::move(other.path_)),
      max_bytes_(other.max_bytes_),
      fd_(std::exchange(other.fd_, -1)),
      folder_synced_(other.folder_synced_),
      tail_dirty_(other.tail_dirty_),
      size_(other.size_),
      changesets_(std::move(other.changesets_)),
      tags_(std::move(other.tags_)),
      entry_bytes_(std::move(other.entry_bytes_)),
      damage_(std::move(other.damage_)) {}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    max_bytes_ = other.max_bytes_;
    fd_ = std::exchange(other.fd_, -1);
    folder_synced_ = other.folder_synced_;
    tail_dirty_ = other.tail_dirty_;
    size_ = other.size_;
    changesets_ = std::move(other.changesets_);
    tags_ = std::move(other.tags_);
    entry_bytes_ = std::move(other.entry_bytes_);
    damage_ = std::move(other.damage_);
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::fail(const std::string& what, int err) const {
  throw std::runtime_error(path_ + ": " + what + ": " + std::strerror(err));
}

void Journal::sync_folder_once() {
  if (folder_synced_) return;
  if (int err = fsync_folder(folder_of(path_))) fail("fsync of its folder", err);
  folder_synced_ = true;
}

Journal Journal::open(const std::string& path, uint64_t max_bytes) {
  Journal j;
  j.path_ = path;
  j.max_bytes_ = max_bytes;
  j.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  bool created = false;
  if (j.fd_ < 0 && errno == ENOENT) {
    j.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    created = true;
  }
  if (j.fd_ < 0) j.fail("open", errno);
  if (created) {
    j.write_fresh_header();
    j.sync_folder_once();
  } else {
    struct stat st {};
    if (::fstat(j.fd_, &st) != 0) j.fail("stat", errno);
    if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + ": not a regular file");
    j.load();
  }
  if (max_bytes != 0 && j.size_ > max_bytes && j.entries() > 1) {
    size_t first = 0;
    for (uint64_t total = j.size_; first + 1 < j.entries() && total > max_bytes;) total -= j.entry_bytes_[first++];
    j.rewrite_keeping(first, nullptr, 0);
  }
  return j;
}

void Journal::write_fresh_header() {
  if (::ftruncate(fd_, 0) != 0) fail("truncate", errno);
  tail_dirty_ = true;
  if (int err = write_all(fd_, file_header(), 0)) fail("write", err);
  if (::fsync(fd_) != 0) fail("fsync", errno);
  tail_dirty_ = false;
  size_ = file_header_size;
}

void Journal::load() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("stat", errno);
  const uint64_t file_size = uint64_t(st.st_size);
  if (file_size == 0) {  // created, then the header never made it to disk
    write_fresh_header();
    return;
  }
  auto cut = [&](uint64_t offset, const std::string& reason) {
    damage_ = path_ + ": offset " + std::to_string(offset) + ": " + reason + ", " +
              std::to_string(file_size - offset) + " bytes dropped";
  };
  std::string header(file_header_size, '\0');
  ssize_t got = read_all(fd_, header.data(), header.size(), 0);
  if (got < 0) fail("read", errno);
  if (uint64_t(got) < file_header_size || header.substr(0, 8) != file_magic || get_u32(header, 12) != 0) {
    cut(0, "not a journal file header");
    write_fresh_header();
    return;
  }
  if (uint32_t v = get_u32(header, 8); v != format_version) {
    cut(0, "unsupported format version " + std::to_string(v));
    write_fresh_header();
    return;
  }
  uint64_t offset = file_header_size;
  std::string payload;
  while (offset < file_size) {
    std::string eh(entry_header_size, '\0');
    got = read_all(fd_, eh.data(), eh.size(), offset);
    if (got < 0) fail("read", errno);
    if (uint64_t(got) < entry_header_size) {
      cut(offset, "short entry header");
      break;
    }
    uint32_t magic = get_u32(eh, 0), length = get_u32(eh, 4), crc = get_u32(eh, 8);
    if (magic != entry_magic) {
      cut(offset, "bad entry magic");
      break;
    }
    if (length > max_entry_payload) {
      cut(offset, "entry length " + std::to_string(length) + " is absurd");
      break;
    }
    if (length > file_size - offset - entry_header_size) {
      cut(offset, "short entry (" + std::to_string(length) + " bytes of payload announced)");
      break;
    }
    payload.resize(length);
    got = read_all(fd_, payload.data(), length, offset + entry_header_size);
    if (got < 0) fail("read", errno);
    if (uint64_t(got) < length) {
      cut(offset, "short entry");
      break;
    }
    if ((crc32c_update(crc32c_update(~0u, std::string_view(eh).substr(4, 4)), payload) ^ ~0u) != crc) {
      cut(offset, "bad checksum");
      break;
    }
    auto decoded = decode_payload(payload);
    if (!decoded) {
      cut(offset, "malformed entry");
      break;
    }
    if (!empty() && decoded->first.serial_from != last_serial()) {
      cut(offset, "entry from serial " + std::to_string(decoded->first.serial_from) +
                      " does not continue the one before (to " + std::to_string(last_serial()) + ")");
      break;
    }
    changesets_.push_back(std::move(decoded->first));
    tags_.push_back(decoded->second);
    entry_bytes_.push_back(entry_header_size + length);
    offset += entry_header_size + length;
  }
  size_ = offset;
  if (!damage_.empty()) {
    tail_dirty_ = true;
    if (::ftruncate(fd_, off_t(offset)) != 0) fail("truncate", errno);
    if (::fsync(fd_) != 0) fail("fsync", errno);
    tail_dirty_ = false;
  }
}

void Journal::append(const Changeset& cs, uint64_t tag) {
  if (std::string p = changeset_problem(cs); !p.empty()) throw std::invalid_argument("journal append: " + p);
  std::string entry = encode_entry(cs, tag);
  if (!empty() && cs.serial_from != last_serial()) clear();
  if (max_bytes_ != 0 && size_ + entry.size() > max_bytes_ && !empty()) {
    size_t first = 0;
    for (uint64_t total = size_ + entry.size(); first < entries() && total > max_bytes_;)
      total -= entry_bytes_[first++];
    rewrite_keeping(first, &cs, tag);
    return;
  }
  if (tail_dirty_) {
    if (::ftruncate(fd_, off_t(size_)) != 0) fail("truncate", errno);
    tail_dirty_ = false;
  }
  int err = write_all(fd_, entry, size_);
  const char* what = "write";
  if (err == 0 && ::fsync(fd_) != 0) {
    err = errno;
    what = "fsync";
  }
  if (err != 0) {
    // Take the partial entry back; if that fails too, its checksum keeps it out of the next
    // open and the next append truncates it first.
    tail_dirty_ = ::ftruncate(fd_, off_t(size_)) != 0;
    fail(what, err);
  }
  changesets_.push_back(cs);
  tags_.push_back(tag);
  entry_bytes_.push_back(entry.size());
  size_ += entry.size();
  sync_folder_once();
}

// Writes the entries from `first_kept` on, then `extra` if given, to a temp file beside the
// journal and renames it over the journal: the old file stays whole until the rename.
void Journal::rewrite_keeping(size_t first_kept, const Changeset* extra, uint64_t extra_tag) {
  std::string tmp = path_ + ".XXXXXX";
  int tfd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (tfd < 0) fail("create temp file", errno);
  auto abandon = [&](const char* what, int err) {
    ::close(tfd);
    ::unlink(tmp.c_str());
    fail(what, err);
  };
  struct stat st {};
  if (::fstat(fd_, &st) != 0) abandon("stat", errno);
  if (::fchmod(tfd, st.st_mode & 07777) != 0) abandon("chmod temp file", errno);
  uint64_t offset = 0;
  auto put = [&](const std::string& bytes) {
    if (int err = write_all(tfd, bytes, offset)) abandon("write temp file", err);
    offset += bytes.size();
  };
  put(file_header());
  for (size_t i = first_kept; i < entries(); ++i) put(encode_entry(changesets_[i], tags_[i]));
  uint64_t extra_bytes = 0;
  if (extra) {
    std::string entry = encode_entry(*extra, extra_tag);
    extra_bytes = entry.size();
    put(entry);
  }
  if (::fsync(tfd) != 0) abandon("fsync temp file", errno);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) abandon("rename temp file", errno);
  // The new file is the journal now: memory follows it before anything else can fail.
  ::close(fd_);
  fd_ = tfd;
  tail_dirty_ = false;
  auto drop = [first_kept](auto& v) { v.erase(v.begin(), v.begin() + std::ptrdiff_t(first_kept)); };
  drop(changesets_);
  drop(tags_);
  drop(entry_bytes_);
  if (extra) {
    changesets_.push_back(*extra);
    tags_.push_back(extra_tag);
    entry_bytes_.push_back(extra_bytes);
  }
  size_ = offset;
  folder_synced_ = false;  // the rename is durable only once the folder is
  sync_folder_once();
}

void Journal::clear() {
  if (::ftruncate(fd_, off_t(file_header_size)) != 0) fail("truncate", errno);
  changesets_.clear();
  tags_.clear();
  entry_bytes_.clear();
  size_ = file_header_size;
  tail_dirty_ = false;
  if (::fsync(fd_) != 0) fail("fsync", errno);
}

std::optional<Changeset> Journal::since(uint32_t serial) const {
  if (empty() || serial == last_serial()) return std::nullopt;
  for (size_t i = changesets_.size(); i-- > 0;) {
    if (changesets_[i].serial_from != serial) continue;
    try {
      return condense(std::span<const Changeset>(changesets_).subspan(i));
    } catch (const std::invalid_argument&) {
      return std::nullopt;  // a history with no net effect: the secondary falls back to AXFR
    }
  }
  return std::nullopt;
}

}  // namespace apexd::zone
