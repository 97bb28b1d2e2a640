// One coroutine per connection; every read has a deadline; unknown paths get 404, wrong methods 405.
#include "server/control.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "crypto/hmac.hpp"

namespace apexd::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// What the sessions share (all on one io_context): the handlers, and the wrong API keys seen
// per client address in the current window.
struct ControlState {
  ControlHandlers h;
  struct Failures {
    unsigned count = 0;
    std::chrono::steady_clock::time_point since;
  };
  std::unordered_map<std::string, Failures> failures;
};

bool key_matches(const std::string& want, std::string_view got) {
  // Digests compared, so neither the key's length nor its bytes leak through timing.
  uint8_t a[32], b[32];
  static const uint8_t salt[] = "apexd api key";
  auto span = [](std::string_view s) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  if (crypto::hmac(crypto::HashAlgorithm::sha256, salt, span(want), a) != 32) return false;
  if (crypto::hmac(crypto::HashAlgorithm::sha256, salt, span(got), b) != 32) return false;
  return crypto::constant_time_equal(a, b);
}

asio::awaitable<http::response<http::string_body>> api(const http::request<http::string_body>& req, ControlState& st,
                                                       const std::string& client) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "apexd");
  res.keep_alive(req.keep_alive());
  auto json_error = [&](http::status status, const char* message) {
    res.result(status);
    res.set(http::field::content_type, "application/json");
    res.body() = std::string("{\"error\":\"") + message + "\"}";
  };
  auto now = std::chrono::steady_clock::now();
  auto& f = st.failures[client];
  if (now - f.since > api_failure_window) f = {0, now};
  auto header = req.find("X-API-Key");
  // X-API-Key, or the api-key query parameter PowerDNS also takes.
  std::string_view target = req.target();
  std::string_view query = target.find('?') == std::string_view::npos ? std::string_view() : target.substr(target.find('?') + 1);
  std::string from_query = header != req.end() ? std::string() : control::query_param(query, "api-key");
  std::string_view key = header != req.end() ? std::string_view(header->value()) : std::string_view(from_query);
  if (st.h.api_key.empty() || !st.h.api) {
    json_error(http::status::not_found, "Not Found: the API is off (set control.api_key)");
  } else if (f.count >= api_max_key_failures) {
    json_error(http::status::too_many_requests, "Too Many Requests: too many wrong API keys from this address");
  } else if (!key_matches(st.h.api_key, key)) {
    if (++f.count == api_max_key_failures)
      spdlog::warn("event=api_key_failures client={} failures={} action=\"429 for {} s\"", client, f.count,
                   std::chrono::duration_cast<std::chrono::seconds>(api_failure_window).count());
    res.set(http::field::www_authenticate, "X-API-Key realm=\"apexd\"");
    json_error(http::status::unauthorized, "Unauthorized");
  } else {
    if (f.count == 0) st.failures.erase(client);
    auto accept = req.find(http::field::accept);
    control::ApiRequest r{std::string_view(req.method_string()), std::string_view(req.target()), req.body(),
                          accept != req.end() ? std::string_view(accept->value()) : std::string_view()};
    control::ApiResponse out = co_await st.h.api(r);
    res.result(http::status(out.status));
    if (!out.content_type.empty()) res.set(http::field::content_type, out.content_type);
    for (auto& [k, v] : out.headers) res.set(k, v);
    res.body() = std::move(out.body);
    if (out.status >= 400 || req.method() != http::verb::get)
      spdlog::info("event=api_request client={} method={} target=\"{}\" status={}", client,
                   std::string_view(req.method_string()), std::string_view(req.target()), out.status);
  }
  if (st.failures.size() > 10000) st.failures.clear();  // bounded: an address flood forgets, never grows
  res.prepare_payload();
  co_return res;
}

asio::awaitable<http::response<http::string_body>> route(const http::request<http::string_body>& req,
                                                         ControlState& st, const std::string& client) {
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "apexd");
  res.keep_alive(req.keep_alive());
  auto reply = [&](http::status st, const char* type, std::string body) {
    res.result(st);
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
  };
  std::string_view target = req.target();
  target = target.substr(0, target.find('?'));
  if (target == "/api" || target.starts_with("/api/")) co_return co_await api(req, st, client);
  const ControlHandlers& h = st.h;
  bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (target == "/metrics") {
    if (!get) reply(http::status::method_not_allowed, "text/plain", "use GET\n");
    else reply(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", h.metrics());
  } else if (target == "/healthz") {
    if (!get) reply(http::status::method_not_allowed, "text/plain", "use GET\n");
    // Degraded (a zone not loaded) is still 200: one customer's broken zone file must not make
    // a liveness probe restart the server that serves every other zone.
    else reply(http::status::ok, "text/plain", h.health ? h.health() : std::string("ok\n"));
  } else if (target == "/zones") {
    if (!get) reply(http::status::method_not_allowed, "text/plain", "use GET\n");
    else reply(http::status::ok, "application/json", h.zones());
  } else if (target == "/reload") {
    if (req.method() != http::verb::post) {
      reply(http::status::method_not_allowed, "text/plain", "use POST\n");
    } else {
      auto [ok, body] = co_await h.reload();
      reply(ok ? http::status::ok : http::status::unprocessable_entity, "application/json", std::move(body));
    }
  } else {
    reply(http::status::not_found, "text/plain", "not found; try /metrics, /healthz, /zones, POST /reload or /api\n");
  }
  if (req.method() == http::verb::head) res.body().clear();
  res.prepare_payload();
  co_return res;
}

asio::awaitable<void> session(tcp::socket sock, std::shared_ptr<ControlState> st) {
  boost::system::error_code ep_ec;
  auto remote = sock.remote_endpoint(ep_ec);
  std::string client = ep_ec ? std::string("-") : remote.address().to_string();
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buffer;
  for (int i = 0; i < 100; ++i) {  // bounded keep-alive
    http::request_parser<http::string_body> parser;
    parser.body_limit(control_max_body);
    stream.expires_after(control_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == http::error::body_limit) {
      http::response<http::string_body> res{http::status::payload_too_large, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = "{\"error\":\"Payload Too Large\"}";
      res.keep_alive(false);
      res.prepare_payload();
      stream.expires_after(control_timeout);
      co_await http::async_write(stream, res, use_tuple);
      break;
    }
    if (ec) break;
    auto res = co_await route(parser.get(), *st, client);
    bool keep = res.keep_alive();
    stream.expires_after(control_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !keep) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> listen(std::shared_ptr<tcp::acceptor> acceptor, std::shared_ptr<ControlState> st) {
  for (;;) {
    auto [ec, sock] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor->get_executor(), session(std::move(sock), st), asio::detached);
  }
}

}  // namespace

void start_control(asio::io_context& io, const ListenAddress& addr, ControlHandlers handlers) {
  auto acceptor = std::make_shared<tcp::acceptor>(io);
  tcp::endpoint ep(asio::ip::make_address(addr.host), addr.port);
  acceptor->open(ep.protocol());
  acceptor->set_option(tcp::acceptor::reuse_address(true));
  acceptor->bind(ep);
  acceptor->listen();
  spdlog::info("event=control_listening address={} paths=/metrics,/healthz,/zones,/reload{}", addr.text(),
               handlers.api_key.empty() ? "" : ",/api");
  auto st = std::make_shared<ControlState>();
  st->h = std::move(handlers);
  asio::co_spawn(io, listen(acceptor, st), asio::detached);
}

}  // namespace apexd::server
