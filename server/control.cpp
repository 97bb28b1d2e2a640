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

namespace apexd::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<http::response<http::string_body>> route(const http::request<http::string_body>& req,
                                                         const ControlHandlers& h) {
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
    reply(http::status::not_found, "text/plain", "not found; try /metrics, /healthz, /zones or POST /reload\n");
  }
  if (req.method() == http::verb::head) res.body().clear();
  res.prepare_payload();
  co_return res;
}

asio::awaitable<void> session(tcp::socket sock, std::shared_ptr<ControlHandlers> h) {
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buffer;
  for (int i = 0; i < 100; ++i) {  // bounded keep-alive
    http::request_parser<http::string_body> parser;
    parser.body_limit(control_max_body);
    stream.expires_after(control_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    auto res = co_await route(parser.get(), *h);
    bool keep = res.keep_alive();
    stream.expires_after(control_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !keep) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> listen(std::shared_ptr<tcp::acceptor> acceptor, std::shared_ptr<ControlHandlers> h) {
  for (;;) {
    auto [ec, sock] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor->get_executor(), session(std::move(sock), h), asio::detached);
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
  spdlog::info("event=control_listening address={} paths=/metrics,/healthz,/zones,/reload", addr.text());
  asio::co_spawn(io, listen(acceptor, std::make_shared<ControlHandlers>(std::move(handlers))), asio::detached);
}

}  // namespace apexd::server
