// Folder watches (Linux inotify) that tell a reload which zone files cannot have changed.
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace apexd::server {

/// Watches the folders zone files are in, so that a reload of 100,000 zones stats only the
/// files something happened to instead of every one.
///
/// Used by one thread (the reloader), one round per reload:
///   begin_round()  drains the events since the previous round;
///   watch(path)    makes sure the folder of `path` is watched. Called before the file is
///                  stat'ed or read, the folder is trusted from the next round (this round cannot
///                  tell what happened before the watch); with `after_read` (an $INCLUDE found
///                  while reading), from the round after next, once a round has stat'ed it.
///   quiet(path)    true when the folder is trusted, its watch still covers the folder the path
///                  names, and no event since the previous round named the file: then the file
///                  is as it was when the previous round checked or read it.
/// quiet() is const and safe to call from several threads between rounds.
/// Anything uncertain answers false, and the caller stats the file as before: no inotify (the
/// kernel refused it), a queue overflow, a folder deleted, moved or replaced (an ancestor
/// renamed, a symlinked folder repointed: checked by one stat per watched folder a round).
class FileWatch {
  struct Folder;

 public:
  /// One thread's memory of the last folder quiet() looked up: files of one folder in a row
  /// cost one look-up.
  struct Recent {
    std::string_view path;
    const Folder* folder = nullptr;
  };

  FileWatch();
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  enum When { before_read, after_read };
  void begin_round();
  void watch(std::string_view path, When when = before_read);
  [[nodiscard]] bool quiet(std::string_view path, Recent& recent) const;

  size_t folders() const { return folders_.size(); }
  bool enabled() const { return fd_ >= 0; }

 private:
  struct Folder {
    int wd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
    unsigned trusted_from = 0;  ///< the first round whose quiet() may trust the watch
  };
  struct Key {  // (watch, file name) of an event
    int wd;
    std::string name;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::string>()(k.name) * 31 + size_t(k.wd); }
  };

  struct PathHash {  // look-ups by string_view, without a copy per zone
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  void drain();
  void forget_wd(int wd);

  int fd_ = -1;
  unsigned round_ = 0;
  std::string last_folder_;  ///< watch() of many files in one folder looks it up once
  bool overflow_ = false;
  bool warned_ = false;  ///< events were lost this round: nothing is quiet
  std::unordered_map<std::string, Folder, PathHash, std::equal_to<>> folders_;  ///< by folder path as zone paths spell it
  std::unordered_set<Key, KeyHash> touched_;         ///< files named by this round's events
  std::unordered_set<int> gone_;                     ///< watches whose folder was deleted or moved
};

}  // namespace apexd::server
