// Folder watches (Linux inotify) that tell a reload which zone files cannot have changed.
#include "server/file_watch.hpp"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace apexd::server {

namespace {

// Everything that can change a file's content or replace it, and the folder itself going away.
constexpr uint32_t watch_mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr uint32_t folder_gone = IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT;

// "a/b/c.zone" -> "a/b"; "c.zone" -> "."; "/c.zone" -> "/".
std::pair<std::string_view, std::string_view> split(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {".", path};
  return {slash == 0 ? std::string_view("/") : path.substr(0, slash), path.substr(slash + 1)};
}

bool identify(const std::string& folder, dev_t& dev, ino_t& ino) {
  struct stat sb {};
  if (::stat(folder.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) return false;
  dev = sb.st_dev;
  ino = sb.st_ino;
  return true;
}

}  // namespace

FileWatch::FileWatch() : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (fd_ < 0) spdlog::warn("event=file_watch_off error=\"{}\" action=stat_every_file", std::strerror(errno));
}

FileWatch::~FileWatch() {
  if (fd_ >= 0) ::close(fd_);
}

void FileWatch::drain() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) overflow_ = true;  // cannot tell what happened: trust nothing
      return;
    }
    for (ssize_t off = 0; off + ssize_t(sizeof(inotify_event)) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      off += ssize_t(sizeof(inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) overflow_ = true;
      if (ev->mask & folder_gone) gone_.insert(ev->wd);
      if (ev->len > 0) touched_.insert({ev->wd, std::string(ev->name, ::strnlen(ev->name, ev->len))});
    }
  }
}

void FileWatch::forget_wd(int wd) {
  for (auto it = folders_.begin(); it != folders_.end();) it = it->second.wd == wd ? folders_.erase(it) : std::next(it);
}

void FileWatch::begin_round() {
  touched_.clear();
  gone_.clear();
  overflow_ = false;
  last_folder_.clear();
  warned_ = false;
  ++round_;
  if (fd_ < 0) return;
  drain();
  for (int wd : gone_) {
    ::inotify_rm_watch(fd_, wd);  // already gone after IN_IGNORED; needed after IN_MOVE_SELF
    forget_wd(wd);
  }
  std::vector<int> replaced;
  for (auto it = folders_.begin(); it != folders_.end();) {
    dev_t dev = 0;
    ino_t ino = 0;
    // A folder that failed to watch is tried again; one the path no longer leads to (an ancestor
    // renamed, a symlink repointed) is watched afresh.
    if (it->second.wd < 0 || !identify(it->first, dev, ino) || dev != it->second.dev || ino != it->second.ino) {
      if (it->second.wd >= 0) replaced.push_back(it->second.wd);
      it = folders_.erase(it);
      continue;
    }
    ++it;
  }
  for (int wd : replaced) {
    bool shared = false;  // another spelling of the same folder may still be watched through wd
    for (const auto& [path, f] : folders_) shared |= f.wd == wd;
    if (!shared) ::inotify_rm_watch(fd_, wd);
  }
}

void FileWatch::watch(std::string_view path, When when) {
  if (fd_ < 0) return;
  std::string_view folder_view = split(path).first;
  if (when == before_read && folder_view == last_folder_) return;
  if (auto it = folders_.find(folder_view); it != folders_.end()) {
    if (when == before_read) last_folder_ = folder_view;  // watched before this read either way
    return;
  }
  std::string folder(folder_view);
  Folder f;
  f.trusted_from = round_ + (when == after_read ? 2 : 1);
  if (when == before_read) last_folder_ = folder;
  dev_t dev_after = 0;
  ino_t ino_after = 0;
  // Identified before and after the watch is added: both must be the folder the watch is on.
  if (identify(folder, f.dev, f.ino)) {
    f.wd = ::inotify_add_watch(fd_, folder.c_str(), watch_mask);
    if (f.wd < 0) {
      if (!warned_)  // once a round: with the kernel's watch limit reached, every folder fails
        spdlog::warn("event=file_watch_failed folder={} error=\"{}\" action=stat_its_files", folder, std::strerror(errno));
      warned_ = true;
    } else if (!identify(folder, dev_after, ino_after) || dev_after != f.dev || ino_after != f.ino) {
      f.wd = -1;  // replaced while being watched: try again next round (the watch stays harmless)
    }
  }
  folders_.emplace(std::move(folder), f);
}

bool FileWatch::quiet(std::string_view path, Recent& recent) const {
  if (fd_ < 0 || overflow_) return false;
  auto [folder, name] = split(path);
  if (!recent.folder || folder != recent.path) {
    auto it = folders_.find(folder);
    if (it == folders_.end()) return false;
    recent = {it->first, &it->second};
  }
  const Folder& f = *recent.folder;
  if (round_ < f.trusted_from || f.wd < 0) return false;
  return touched_.empty() || !touched_.count(Key{f.wd, std::string(name)});
}

}  // namespace apexd::server
