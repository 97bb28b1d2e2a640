// Tests for server/file_watch: a file is "quiet" only when its folder has been watched for a
// whole round and nothing happened to it; every way a file or its folder can change is seen.
#include "server/file_watch.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/dns_test.hpp"
#include "zone/record.hpp"

using namespace apexd;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

bool quiet(const server::FileWatch& w, const std::string& path) {
  server::FileWatch::Recent recent;
  return w.quiet(path, recent);
}

// One reload's use: a round, then the watch, as build_zone_set does.
void round(server::FileWatch& w, const std::string& path) {
  w.begin_round();
  w.watch(path);
}

}  // namespace

TEST_CASE("FileWatch: trusted from the round after the watch, until something happens to the file") {
  TempDir dir;
  std::string a = dir.write("zones/a.zone", "one");
  std::string b = dir.write("zones/b.zone", "two");
  server::FileWatch w;
  REQUIRE(w.enabled());
  round(w, a);
  CHECK_FALSE(quiet(w, a));  // this round cannot tell what happened before the watch
  round(w, a);
  CHECK(quiet(w, a));
  CHECK(quiet(w, b));  // same folder

  dir.write("zones/a.zone", "changed");
  round(w, a);
  CHECK_FALSE(quiet(w, a));
  CHECK(quiet(w, b));
  round(w, a);
  CHECK(quiet(w, a));  // the change was this round's; the round after is quiet again

  SUBCASE("replaced by rename, as editors and deploy tools do") {
    dir.write("zones/a.zone.tmp", "new");
    fs::rename(dir.path() / "zones/a.zone.tmp", a);
    round(w, a);
    CHECK_FALSE(quiet(w, a));
  }
  SUBCASE("deleted") {
    fs::remove(a);
    round(w, a);
    CHECK_FALSE(quiet(w, a));
  }
  SUBCASE("touched (mtime only)") {
    fs::last_write_time(a, fs::file_time_type::clock::now());
    round(w, a);
    CHECK_FALSE(quiet(w, a));
  }
  SUBCASE("the folder renamed away and another put in its place") {
    fs::rename(dir.path() / "zones", dir.path() / "old");
    dir.write("zones/a.zone", "other");
    round(w, a);
    CHECK_FALSE(quiet(w, a));
    round(w, a);
    CHECK(quiet(w, a));  // the new folder is watched, and trusted from its second round
  }
  SUBCASE("an ancestor renamed and replaced: the watch no longer covers the path") {
    std::string deep = dir.write("top/zones/c.zone", "c");
    round(w, deep);
    round(w, deep);
    REQUIRE(quiet(w, deep));
    fs::rename(dir.path() / "top", dir.path() / "top.old");
    dir.write("top/zones/c.zone", "c2");
    round(w, deep);
    CHECK_FALSE(quiet(w, deep));
  }
}

TEST_CASE("FileWatch: a folder seen only after a read is trusted from the round after next") {
  TempDir dir;
  std::string inc = dir.write("inc/x.inc", "x");
  server::FileWatch w;
  w.begin_round();
  w.watch(inc, server::FileWatch::after_read);
  w.begin_round();
  CHECK_FALSE(quiet(w, inc));  // the read came before the watch: this round stats it
  w.begin_round();
  CHECK(quiet(w, inc));
}

TEST_CASE("FileWatch: unknown folders are never quiet") {
  TempDir dir;
  server::FileWatch w;
  w.begin_round();
  CHECK_FALSE(quiet(w, (dir.path() / "nowhere/a.zone").string()));
  w.watch((dir.path() / "missing/a.zone").string());  // no such folder: not watched
  w.begin_round();
  CHECK_FALSE(quiet(w, (dir.path() / "missing/a.zone").string()));
}

TEST_CASE("stamp_file: symlinks and hard links are not watchable, a plain file is") {
  TempDir dir;
  std::string plain = dir.write("a.zone", "a");
  fs::create_symlink(plain, dir.path() / "link.zone");
  std::string hard = dir.write("h.zone", "h");
  fs::create_hard_link(hard, dir.path() / "h2.zone");
  CHECK(zone::stamp_file(plain).watchable);
  zone::FileStamp link = zone::stamp_file((dir.path() / "link.zone").string());
  CHECK_FALSE(link.watchable);
  CHECK(link.size == 1);  // the target's size: stamps follow the link
  CHECK_FALSE(zone::stamp_file(hard).watchable);
  CHECK_FALSE(zone::stamp_file((dir.path() / "none").string()).watchable);
}
