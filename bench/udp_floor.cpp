// The kernel's floor for a UDP DNS server on this machine: a UDP worker's I/O loop (recvmmsg
// batches of 64, one sendmmsg per batch) with no DNS work at all: every datagram goes back as its own "answer" (QR set, `extra` zero bytes appended to stand
// for the answer records). CPU per query of this loop is what any server using the socket API pays
// before it does anything; bench/floor.py compares it with apexd and knotd.
// Usage: udp_floor ADDRESS PORT [EXTRA_BYTES] [BATCH] [block|poll]
//   block (default, the cheapest pattern measured here): recvmmsg(MSG_WAITFORONE) sleeps until a
//     datagram comes and returns what is queued
//   poll: wait in poll(), then drain with recvmmsg(MSG_DONTWAIT) until EAGAIN (apexd's pattern)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr unsigned batch = 64;
constexpr size_t max_size = 4096;

struct Buffers {
  std::array<std::array<uint8_t, max_size>, batch> data;
  std::array<sockaddr_storage, batch> peers;
  std::array<iovec, batch> iov;
  std::array<mmsghdr, batch> msgs;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ADDRESS PORT [EXTRA_BYTES]\n", argv[0]);
    return 2;
  }
  const size_t extra = argc > 3 ? size_t(std::atoi(argv[3])) : 16;
  const unsigned nbatch = argc > 4 ? unsigned(std::atoi(argv[4])) : batch;
  const bool block = !(argc > 5 && std::strcmp(argv[5], "poll") == 0);
  if (nbatch < 1 || nbatch > batch) {
    std::fprintf(stderr, "udp_floor: batch must be 1..%u\n", batch);
    return 2;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(std::atoi(argv[2])));
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    std::fprintf(stderr, "udp_floor: bad IPv4 address %s\n", argv[1]);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int bytes = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("udp_floor: bind");
    return 1;
  }
  static Buffers b;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (!block && poll(&p, 1, -1) < 0) continue;
    for (;;) {
      for (unsigned i = 0; i < nbatch; ++i) {
        b.iov[i] = {b.data[i].data(), max_size - extra};
        b.msgs[i] = {};
        b.msgs[i].msg_hdr.msg_name = &b.peers[i];
        b.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        b.msgs[i].msg_hdr.msg_iov = &b.iov[i];
        b.msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(fd, b.msgs.data(), nbatch, block ? MSG_WAITFORONE : MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      unsigned out = 0;
      for (int i = 0; i < n; ++i) {
        size_t len = b.msgs[i].msg_len;
        if (len < 12) continue;
        b.data[i][2] |= 0x84;  // QR, AA
        std::memset(b.data[i].data() + len, 0, extra);
        b.iov[i].iov_len = len + extra;
        if (unsigned(i) != out) b.msgs[out] = b.msgs[i];
        ++out;
      }
      for (unsigned sent = 0; sent < out;) {
        int s = sendmmsg(fd, b.msgs.data() + sent, out - sent, MSG_DONTWAIT);
        if (s <= 0) break;
        sent += unsigned(s);
      }
    }
  }
}
