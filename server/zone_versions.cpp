// New versions of zones whose flattened targets moved: what secondaries transfer follows what clients are answered.
#include "server/zone_versions.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "server/transfer_view.hpp"

namespace apexd::server {

namespace asio = boost::asio;

namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

asio::awaitable<std::chrono::seconds> ZoneVersions::round() {
  auto set = zones_.load();
  uint32_t min_ttl = UINT32_MAX;
  std::unordered_set<std::string> seen;
  for (const std::shared_ptr<const zone::Zone>& z : set->zones()) {
    // A secondary zone's serial is its primary's: moving it here would make the primary's next
    // serial look old. Its own secondaries get the addresses with the primary's next version.
    if (!z->options().has_secondaries() || !has_replaced_names(*z) || z->options().is_secondary()) continue;
    xfr::Replacements r = co_await transfer_replacements(resolver_, edges_, *set, *z, last_known_);
    min_ttl = std::min(min_ttl, replacements_min_ttl(r));
    uint64_t fp = replacements_fingerprint(r);
    std::string origin(reinterpret_cast<const char*>(z->origin().data()), z->origin().size());
    seen.insert(origin);
    State& st = states_[origin];
    // A zone seen for the first time, or replaced by a reload (which gave it its own serial):
    // what it transfers now is its baseline.
    if (st.zone.lock() != z) {
      st.fingerprint = fp;
      st.zone = z;
      continue;
    }
    if (fp == st.fingerprint) continue;
    auto now = std::chrono::steady_clock::now();
    if (st.last_version != std::chrono::steady_clock::time_point{} && now - st.last_version < std::chrono::seconds(z->options().notify_min_interval))
      continue;  // merged with what follows: seen again next round
    // Publish only over the zone we looked at: a reload may have replaced it meanwhile.
    auto current = zones_.load();
    size_t at = current->index_of(z->origin());
    if (at == zone::ZoneSet::npos || current->zones()[at] != z) continue;
    std::shared_ptr<const zone::Zone> next = z->with_serial(zone::next_serial(z->serial(), z->options().serial, unix_seconds()));
    zones_.publish(current->with_zone(next));
    st = {fp, next, now};
    ++versions_made_;
    spdlog::info("event=zone_version zone={} serial={} previous_serial={} reason=\"flattened or proxied addresses changed\"",
                 next->origin_text(), next->serial(), z->serial());
    if (on_version_) on_version_(z, next);
  }
  if (states_.size() > seen.size())  // zones removed or no longer watched
    std::erase_if(states_, [&](const auto& e) { return !seen.count(e.first); });
  if (last_known_) last_known_->retain(*zones_.load());
  auto wait = std::chrono::seconds(min_ttl == UINT32_MAX ? version_check_max.count() : min_ttl / 2);
  co_return std::clamp(wait, version_check_min, version_check_max);
}

void ZoneVersions::poke() {
  poked_ = true;
  if (timer_) timer_->cancel();
}

asio::awaitable<void> ZoneVersions::run() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    std::chrono::seconds wait = version_check_max;
    poked_ = false;
    try {
      wait = co_await round();
    } catch (const std::exception& e) {
      spdlog::error("event=zone_versions_failed error=\"{}\"", e.what());
    }
    if (poked_) continue;  // a reload came during the round
    timer.expires_after(wait);
    timer_ = &timer;
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    timer_ = nullptr;
    if (ec && !poked_) co_return;  // cancelled by a stop, not by poke()
  }
}

}  // namespace apexd::server
