// sd_notify written by hand (no libsystemd), and setgroups/setgid/setuid in the safe order.
#include "server/process.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace apexd::server {

std::string reloading_notification() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  // MONOTONIC_USEC lets Type=notify-reload (systemd 253+) match the reload to its request.
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000);
}

bool notify_systemd(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  socklen_t addr_len = socklen_t(offsetof(sockaddr_un, sun_path) + len);
  ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), addr_len);
  ::close(fd);
  return n == ssize_t(state.size());
}

void drop_privileges(const std::string& user) {
  errno = 0;
  passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw std::runtime_error("server.user: no such user '" + user + "'");
  if (::getuid() == pw->pw_uid && ::geteuid() == pw->pw_uid) return;
  if (::geteuid() != 0) throw std::runtime_error("server.user: switching to '" + user + "' needs root");
  // Groups first, then the gid, then the uid: after setuid we could no longer change them.
  if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
    throw std::runtime_error("server.user: cannot switch to '" + user + "': " + std::strerror(errno));
  if (::setuid(0) == 0) throw std::runtime_error("server.user: root privileges could be regained after the switch");
}

}  // namespace apexd::server
