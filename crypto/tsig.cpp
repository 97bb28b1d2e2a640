// TSIG (RFC 8945): the MAC's digest components, request checks, signing, response-stream checks.
#include "crypto/tsig.hpp"

#include <algorithm>
#include <stdexcept>

#include "zone/wire/query.hpp"
#include "zone/wire/types.hpp"

namespace apexd::crypto {

namespace {

struct AlgorithmInfo {
  TsigAlgorithm algorithm;
  std::string_view text;
  std::string_view wire;  // canonical wire name, root label included
  HashAlgorithm hash;
};

// RFC 8945 §6 names; the string literals' terminating NUL is the root label.
constexpr AlgorithmInfo algorithms[] = {
    {TsigAlgorithm::hmac_md5, "hmac-md5", {"\x08" "hmac-md5" "\x07" "sig-alg" "\x03" "reg" "\x03" "int", 26}, HashAlgorithm::md5},
    {TsigAlgorithm::hmac_sha1, "hmac-sha1", {"\x09" "hmac-sha1", 11}, HashAlgorithm::sha1},
    {TsigAlgorithm::hmac_sha224, "hmac-sha224", {"\x0b" "hmac-sha224", 13}, HashAlgorithm::sha224},
    {TsigAlgorithm::hmac_sha256, "hmac-sha256", {"\x0b" "hmac-sha256", 13}, HashAlgorithm::sha256},
    {TsigAlgorithm::hmac_sha384, "hmac-sha384", {"\x0b" "hmac-sha384", 13}, HashAlgorithm::sha384},
    {TsigAlgorithm::hmac_sha512, "hmac-sha512", {"\x0b" "hmac-sha512", 13}, HashAlgorithm::sha512},
};

const AlgorithmInfo& info(TsigAlgorithm alg) noexcept {
  for (const auto& a : algorithms)
    if (a.algorithm == alg) return a;
  return algorithms[3];
}

wire::NameView as_name(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return wire::to_lower(uint8_t(x)) == wire::to_lower(uint8_t(y));
         });
}

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

void put_u48(uint8_t* p, uint64_t v) {
  put_u16(p, uint16_t(v >> 32));
  put_u16(p + 2, uint16_t(v >> 16));
  put_u16(p + 4, uint16_t(v));
}

// RFC 8945 §4.3.1, §5.3.1: a MAC enters the next digest as MAC Size then MAC.
void feed_mac(Hmac& h, std::span<const uint8_t> mac) {
  uint8_t size[2];
  put_u16(size, uint16_t(mac.size()));
  h.update(size);
  h.update(mac);
}

// RFC 8945 §4.3.2: a received message as it was before its TSIG was added: the bytes up to
// the TSIG RR, ARCOUNT one lower, and the ID its signer used (Original ID).
void feed_received(Hmac& h, std::span<const uint8_t> msg, const wire::TsigRecord& t) {
  uint8_t header[wire::header_size];
  std::copy_n(msg.begin(), wire::header_size, header);
  put_u16(header, t.original_id);
  put_u16(header + 10, uint16_t((header[10] << 8 | header[11]) - 1));
  h.update(header);
  h.update(msg.subspan(wire::header_size, t.offset - wire::header_size));
}

// RFC 8945 §4.3.3: the TSIG variables, names in canonical (lowercase) form.
void feed_variables(Hmac& h, const TsigKey& key, uint64_t time_signed, uint16_t fudge, uint16_t error,
                    std::span<const uint8_t> other) {
  uint8_t class_ttl[6] = {uint8_t(wire::rrclass::ANY >> 8), uint8_t(wire::rrclass::ANY), 0, 0, 0, 0};
  h.update(key.name_view());
  h.update(class_ttl);
  h.update(tsig_algorithm_wire_name(key.algorithm));
  uint8_t fields[12];
  put_u48(fields, time_signed);
  put_u16(fields + 6, fudge);
  put_u16(fields + 8, error);
  put_u16(fields + 10, uint16_t(other.size()));
  h.update(fields);
  h.update(other);
}

// RFC 8945 §5.3.1: later messages of a stream cover the timers only.
void feed_timers(Hmac& h, uint64_t time_signed, uint16_t fudge) {
  uint8_t timers[8];
  put_u48(timers, time_signed);
  put_u16(timers + 6, fudge);
  h.update(timers);
}

// RFC 8945 §5.2.2.1: longer than the hash, or shorter than max(10, half the hash), is FORMERR.
bool mac_size_allowed(size_t got, size_t full) {
  return got <= full && got >= std::max<size_t>(10, full / 2);
}

bool time_ok(uint64_t time_signed, uint16_t fudge, uint64_t now) {
  uint64_t skew = now > time_signed ? now - time_signed : time_signed - now;
  return skew <= fudge;
}

// The MAC over what `h` has been fed compared with the received one, truncated to its length
// (§5.2.2.1 rule 4), in constant time.
bool mac_matches(Hmac& h, std::span<const uint8_t> received) {
  std::array<uint8_t, max_digest_size> mac;
  size_t n = h.finish(mac);
  return n != 0 && received.size() <= n && constant_time_equal(std::span(mac.data(), received.size()), received);
}

// The received TSIG's framing is sane for digesting: a header before it, inside the message,
// and an ARCOUNT that counts it.
bool offset_ok(std::span<const uint8_t> msg, const wire::TsigRecord& t) {
  return t.offset >= wire::header_size && t.offset <= msg.size() && (msg[10] << 8 | msg[11]) != 0;
}

const TsigKey* find_key(std::span<const TsigKey> keys, const wire::TsigRecord& t) {
  auto alg = tsig_algorithm_from_wire(t.algorithm.view());
  if (!alg) return nullptr;
  for (const TsigKey& k : keys)
    if (k.algorithm == *alg && wire::name_equal(k.name_view(), t.key_name.view())) return &k;
  return nullptr;
}

bool matches_key(const TsigKey& key, const wire::TsigRecord& t) {
  auto alg = tsig_algorithm_from_wire(t.algorithm.view());
  return alg && *alg == key.algorithm && wire::name_equal(key.name_view(), t.key_name.view());
}

[[noreturn]] void bad_key(std::string_view name, const std::string& what) {
  throw std::invalid_argument("TSIG key \"" + std::string(name) + "\": " + what);
}

}  // namespace

std::optional<TsigAlgorithm> tsig_algorithm_from_text(std::string_view text) noexcept {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  for (const auto& a : algorithms)
    if (iequal(text, a.text)) return a.algorithm;
  return std::nullopt;
}

std::optional<TsigAlgorithm> tsig_algorithm_from_wire(wire::NameView name) noexcept {
  for (const auto& a : algorithms)
    if (wire::name_equal(name, as_name(a.wire))) return a.algorithm;
  return std::nullopt;
}

wire::NameView tsig_algorithm_wire_name(TsigAlgorithm alg) noexcept { return as_name(info(alg).wire); }
std::string_view tsig_algorithm_text(TsigAlgorithm alg) noexcept { return info(alg).text; }
size_t tsig_mac_size(TsigAlgorithm alg) noexcept { return digest_size(info(alg).hash); }
HashAlgorithm tsig_hash(TsigAlgorithm alg) noexcept { return info(alg).hash; }

TsigKey make_tsig_key(std::string_view name, std::string_view algorithm, std::string_view secret_base64) {
  static const uint8_t root[1] = {0};
  auto wire_name = wire::name_from_text(name, wire::NameView(root, 1));
  if (!wire_name) bad_key(name, "not a valid domain name");
  auto alg = tsig_algorithm_from_text(algorithm);
  if (!alg)
    bad_key(name, "unknown algorithm \"" + std::string(algorithm) +
                      "\" (expected hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1 or hmac-md5)");
  auto secret = base64_decode(secret_base64);
  if (!secret) bad_key(name, "the secret is not valid base64");
  if (secret->empty()) bad_key(name, "the secret is empty");
  TsigKey key;
  key.name = wire::name_lower(as_name(*wire_name));
  key.name_text = wire::name_to_text(key.name_view());
  key.algorithm = *alg;
  key.secret = std::move(*secret);
  return key;
}

void TsigMac::assign(std::span<const uint8_t> mac) noexcept {
  len = uint8_t(std::min(mac.size(), data.size()));
  std::copy_n(mac.begin(), len, data.begin());
}

uint16_t tsig_error_for(TsigStatus s) noexcept {
  switch (s) {
    case TsigStatus::badkey: return wire::tsig_error::BADKEY;
    case TsigStatus::badsig: return wire::tsig_error::BADSIG;
    case TsigStatus::badtime: return wire::tsig_error::BADTIME;
    case TsigStatus::badtrunc: return wire::tsig_error::BADTRUNC;
    default: return wire::tsig_error::NOERROR;
  }
}

uint16_t tsig_rcode_for(TsigStatus s) noexcept {
  switch (s) {
    case TsigStatus::ok: return wire::rcode::NOERROR;
    case TsigStatus::formerr: return wire::rcode::FORMERR;
    default: return wire::rcode::NOTAUTH;
  }
}

TsigVerifyResult verify_request(std::span<const uint8_t> msg, const wire::TsigRecord& tsig,
                                std::span<const TsigKey> keys, uint64_t now) noexcept {
  TsigVerifyResult res;
  res.request_mac.assign(tsig.mac);
  res.time_signed = tsig.time_signed;
  if (!offset_ok(msg, tsig)) return res;  // formerr
  res.key = find_key(keys, tsig);
  if (res.key == nullptr) {
    res.status = TsigStatus::badkey;  // §5.2.1
    return res;
  }
  const size_t full = tsig_mac_size(res.key->algorithm);
  if (!mac_size_allowed(tsig.mac.size(), full)) {
    res.key = nullptr;
    return res;  // formerr, §5.2.2.1
  }
  Hmac h(tsig_hash(res.key->algorithm), res.key->secret);
  feed_received(h, msg, tsig);
  feed_variables(h, *res.key, tsig.time_signed, tsig.fudge, tsig.error, tsig.other);
  // §5.2: the MAC is checked before the time, so that an unauthenticated message cannot
  // learn our clock from a signed BADTIME answer.
  if (!mac_matches(h, tsig.mac)) res.status = TsigStatus::badsig;
  else if (!time_ok(tsig.time_signed, tsig.fudge, now)) res.status = TsigStatus::badtime;
  else if (tsig.mac.size() != full) res.status = TsigStatus::badtrunc;  // §5.2.4: our policy is full length
  else res.status = TsigStatus::ok;
  return res;
}

size_t tsig_max_rr_size(const TsigKey& key) noexcept {
  return wire::tsig_rr_size(key.name.size(), tsig_algorithm_wire_name(key.algorithm).size(),
                            tsig_mac_size(key.algorithm), tsig_badtime_other_size);
}

TsigSigner::TsigSigner(const TsigKey& key, std::span<const uint8_t> request_mac, uint16_t fudge) noexcept
    : key_(&key), hmac_(tsig_hash(key.algorithm), key.secret), fudge_(fudge) {
  prior_mac_.assign(request_mac);
  // §4.3.1: a response's digest starts with the request's MAC; a request's has none.
  if (!request_mac.empty()) feed_mac(hmac_, request_mac);
}

size_t TsigSigner::sign(std::span<uint8_t> buf, size_t len, uint64_t now, uint16_t error,
                        std::span<const uint8_t> other) noexcept {
  return sign_at(buf, len, now, error, other);
}

size_t TsigSigner::sign_badtime(std::span<uint8_t> buf, size_t len, uint64_t now,
                                uint64_t request_time_signed) noexcept {
  // §5.2.3: the client learns our clock from Other Data; Time Signed stays within its window.
  uint8_t server_time[tsig_badtime_other_size];
  put_u48(server_time, now);
  return sign_at(buf, len, request_time_signed, wire::tsig_error::BADTIME, server_time);
}

size_t TsigSigner::sign_at(std::span<uint8_t> buf, size_t len, uint64_t time_signed, uint16_t error,
                           std::span<const uint8_t> other) noexcept {
  const wire::NameView alg = tsig_algorithm_wire_name(key_->algorithm);
  const size_t mac_size = tsig_mac_size(key_->algorithm);
  // Everything that can fail without touching the running digest is checked first, so that a
  // caller may shorten the message and sign again.
  if (!hmac_.ok() || len < wire::header_size || len > buf.size() || other.size() > 0xFFFF) return 0;
  if (buf.size() - len < wire::tsig_rr_size(key_->name.size(), alg.size(), mac_size, other.size())) return 0;
  if ((buf[10] << 8 | buf[11]) == 0xFFFF) return 0;
  time_signed &= 0xFFFF'FFFF'FFFF;

  hmac_.update(std::span<const uint8_t>(buf.data(), len));
  if (signed_count_ == 0) feed_variables(hmac_, *key_, time_signed, fudge_, error, other);
  else feed_timers(hmac_, time_signed, fudge_);
  std::array<uint8_t, max_digest_size> mac;
  if (hmac_.finish(mac) != mac_size) return 0;

  wire::TsigRecord rec;
  rec.key_name.assign(key_->name_view());
  rec.algorithm.assign(alg);
  rec.time_signed = time_signed;
  rec.fudge = fudge_;
  rec.mac = std::span<const uint8_t>(mac.data(), mac_size);
  rec.original_id = uint16_t(buf[0] << 8 | buf[1]);
  rec.error = error;
  rec.other = other;
  size_t out = wire::append_tsig(buf, len, rec);
  if (out == 0) return 0;  // checked above; the digest is spent, so the signer stays failed
  // §5.3.1: the next message's digest starts with this MAC.
  prior_mac_.assign(rec.mac);
  if (hmac_.reset()) feed_mac(hmac_, rec.mac);
  ++signed_count_;
  unsigned_run_ = 0;
  return out;
}

bool TsigSigner::add_unsigned(std::span<const uint8_t> msg) noexcept {
  if (!hmac_.ok() || signed_count_ == 0 || unsigned_run_ >= tsig_max_unsigned_run) return false;
  hmac_.update(msg);
  ++unsigned_run_;
  return true;
}

size_t append_unsigned_tsig(std::span<uint8_t> buf, size_t len, const wire::TsigRecord& request,
                            uint16_t error) noexcept {
  if (len < wire::header_size || len > buf.size()) return 0;
  wire::TsigRecord rec = request;
  rec.mac = {};
  rec.other = {};
  rec.error = error;
  rec.original_id = uint16_t(buf[0] << 8 | buf[1]);
  return wire::append_tsig(buf, len, rec);
}

TsigVerifier::TsigVerifier(const TsigKey& key, std::span<const uint8_t> request_mac) noexcept
    : key_(&key), hmac_(tsig_hash(key.algorithm), key.secret) {
  prior_mac_.assign(request_mac);
  if (!request_mac.empty()) feed_mac(hmac_, request_mac);
}

TsigStatus TsigVerifier::verify(std::span<const uint8_t> msg, uint64_t now) noexcept {
  if (failed_ != TsigStatus::ok) return failed_;
  wire::TsigLookup found = wire::find_tsig(msg);
  if (found.status == wire::TsigFind::formerr) return fail(TsigStatus::formerr);
  if (found.status == wire::TsigFind::found) return verify_signed(msg, found.record, now);
  // §5.3.1: the first message is signed, and at most 99 in a row are not; those enter the
  // next signed message's digest as they are.
  if (verified_count_ == 0 || unsigned_run_ >= tsig_max_unsigned_run) return fail(TsigStatus::unsigned_);
  hmac_.update(msg);
  ++unsigned_run_;
  return TsigStatus::ok;
}

TsigStatus TsigVerifier::verify_signed(std::span<const uint8_t> msg, const wire::TsigRecord& t,
                                       uint64_t now) noexcept {
  if (!offset_ok(msg, t)) return fail(TsigStatus::formerr);
  if (!matches_key(*key_, t)) return fail(TsigStatus::badkey);
  if (t.error != 0 && t.mac.empty()) {  // an unsigned BADKEY/BADSIG answer (§5.3.2)
    peer_error_ = t.error;
    return fail(TsigStatus::peer_error);
  }
  const size_t full = tsig_mac_size(key_->algorithm);
  if (!mac_size_allowed(t.mac.size(), full)) return fail(TsigStatus::formerr);
  feed_received(hmac_, msg, t);
  if (verified_count_ == 0) feed_variables(hmac_, *key_, t.time_signed, t.fudge, t.error, t.other);
  else feed_timers(hmac_, t.time_signed, t.fudge);
  if (!mac_matches(hmac_, t.mac)) return fail(TsigStatus::badsig);
  if (t.error != 0) {  // a signed BADTIME or BADTRUNC answer
    peer_error_ = t.error;
    return fail(TsigStatus::peer_error);
  }
  if (!time_ok(t.time_signed, t.fudge, now)) return fail(TsigStatus::badtime);
  if (t.mac.size() != full) return fail(TsigStatus::badtrunc);
  prior_mac_.assign(t.mac);
  if (!hmac_.reset()) return fail(TsigStatus::badsig);
  feed_mac(hmac_, t.mac);
  ++verified_count_;
  unsigned_run_ = 0;
  return TsigStatus::ok;
}

TsigStatus TsigVerifier::finish() const noexcept {
  if (failed_ != TsigStatus::ok) return failed_;
  if (verified_count_ == 0 || unsigned_run_ != 0) return TsigStatus::unsigned_;  // §5.3.1: last one signed
  return TsigStatus::ok;
}

TsigStatus TsigVerifier::fail(TsigStatus s) noexcept {
  failed_ = s;
  return s;
}

size_t append_error_tsig(std::span<uint8_t> buf, size_t len, const wire::TsigRecord& request,
                         const TsigVerifyResult& v, uint64_t now) noexcept {
  switch (v.status) {
    case TsigStatus::badkey:
    case TsigStatus::badsig:
      return append_unsigned_tsig(buf, len, request, v.error());
    case TsigStatus::badtime:
    case TsigStatus::badtrunc: {
      if (!v.key) return len;
      TsigSigner signer(*v.key, v.request_mac.view());
      return v.status == TsigStatus::badtime ? signer.sign_badtime(buf, len, now, v.time_signed)
                                             : signer.sign(buf, len, now, v.error());
    }
    default:
      return len;
  }
}

}  // namespace apexd::crypto
