// Passwords are compared without being printed on failure (EXPECT_TRUE on
// ==, not EXPECT_EQ): no secret in test output, even a made-up one.
//
// The one-call credential API (libmaps/sasl_maps.h, libmaps_sasl_maps_* in
// libmaps/libmaps_credential.h): Postfix's order over several tables, errors
// naming the table, values without ':', locked memory zeroed after use.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libmaps/libmaps.h"
#include "libmaps/map_builder.h"
#include "libmaps/sasl_maps.h"
#include "locked_memory.h"

namespace libmaps {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class SaslMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/sasl-maps-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    Write("first", "[relay.example.jp]:587 first-user:first:pass\n"
                   "mail.isp.example isp-user:isp-pass\n"
                   "nocolon just-a-user\n");
    Write("second", "[relay.example.jp]:587 second-user:second-pass\n"
                    "[other.example]:587 other-user:other-pass\n"
                    "alice@example.com alice:alice-pass\n"
                    "@example.com domain-user:domain-pass\n");
    // The second table also as hash:, built with the library.
    auto builder = NewMapBuilder("hash:" + Path("second"), BuildOptions{});
    ASSERT_TRUE(builder.ok());
    for (auto [k, v] : {std::pair{"[relay.example.jp]:587", "second-user:second-pass"},
                        {"[other.example]:587", "other-user:other-pass"},
                        {"alice@example.com", "alice:alice-pass"},
                        {"@example.com", "domain-user:domain-pass"}}) {
      ASSERT_TRUE((*builder)->Add(k, v).ok());
    }
    ASSERT_TRUE((*builder)->Commit().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& leaf) const { return (fs::path(dir_) / leaf).string(); }
  void Write(const std::string& leaf, const std::string& text) const {
    std::ofstream(Path(leaf)) << text;
  }
  std::string List(std::initializer_list<std::string> specs) const {
    std::string out;
    for (const std::string& s : specs) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  std::string dir_;
};

SaslLookupContext Hop(std::string host, std::string dest) {
  SaslLookupContext c;
  c.host = std::move(host);
  c.dest = std::move(dest);
  return c;
}

TEST_F(SaslMapsTest, FirstTableWithTheFirstKeyWins) {
  auto maps = SaslPasswordMaps::Open(
      List({"texthash:" + Path("first"), "hash:" + Path("second")}));
  ASSERT_TRUE(maps.ok()) << maps.status();
  // Both tables have the next hop: the first table wins; ':' in the password.
  auto found = (*maps)->Find(Hop("relay.example.jp", "[relay.example.jp]:587"));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "first-user");
  EXPECT_TRUE((*found)->password() == "first:pass") << "password differs (not shown)";
  EXPECT_EQ((*found)->key(), "[relay.example.jp]:587");
  EXPECT_EQ((*found)->table(), "texthash:" + Path("first"));
  // The host key comes before the next hop, whichever table has it.
  found = (*maps)->Find(Hop("mail.isp.example", "[other.example]:587"));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "isp-user");
  // Only the second table has it.
  found = (*maps)->Find(Hop("other.example", "[other.example]:587"));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_TRUE((*found)->password() == "other-pass") << "password differs (not shown)";
  EXPECT_EQ((*found)->table(), "hash:" + Path("second"));
  // Nobody has it.
  found = (*maps)->Find(Hop("none.example", "[none.example]:25"));
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

TEST_F(SaslMapsTest, SenderDependentKeysComeFirst) {
  auto maps = SaslPasswordMaps::Open(
      List({"texthash:" + Path("first"), "hash:" + Path("second")}));
  ASSERT_TRUE(maps.ok());
  SaslLookupContext c = Hop("relay.example.jp", "[relay.example.jp]:587");
  c.sender = "alice@example.com";
  auto found = (*maps)->Find(c);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "first-user");  // sender probes only when asked
  c.sender_dependent_authentication = true;
  found = (*maps)->Find(c);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "alice");
  c.sender = "bob@example.com";  // @domain
  found = (*maps)->Find(c);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "domain-user");
  EXPECT_EQ((*found)->key(), "@example.com");
}

TEST_F(SaslMapsTest, ValueWithoutColonIsAllUsername) {
  auto maps = SaslPasswordMaps::Open("texthash:" + Path("first"));
  ASSERT_TRUE(maps.ok());
  auto found = (*maps)->Find(Hop("nocolon", "nocolon"));
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->username(), "just-a-user");
  EXPECT_EQ((*found)->password(), "");
  EXPECT_STREQ((*found)->password_c_str(), "");
}

TEST_F(SaslMapsTest, AnErrorBeforeAnyHitIsTheAnswerAndNamesTheTable) {
  auto maps = SaslPasswordMaps::Open(
      List({"texthash:" + Path("first"), "fail:broken", "hash:" + Path("second")}));
  ASSERT_TRUE(maps.ok());
  // The first table answers the host key before the failing table is asked.
  auto found = (*maps)->Find(Hop("mail.isp.example", "x"));
  ASSERT_TRUE(found.ok() && found->has_value());
  // Only the third table has it: the second fails first, as in Postfix.
  found = (*maps)->Find(Hop("other.example", "[other.example]:587"));
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), HasSubstr("fail:broken"));
  EXPECT_THAT(found.status().message(), Not(HasSubstr("other-pass")));
}

TEST_F(SaslMapsTest, MissingOrCorruptTableFailsTheOpen) {
  auto missing = SaslPasswordMaps::Open(
      List({"texthash:" + Path("first"), "hash:" + Path("nonexistent")}));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("nonexistent"));
  Write("garbage.db", std::string(8192, 'x'));
  auto corrupt = SaslPasswordMaps::Open("hash:" + Path("garbage"));
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(corrupt.status().message(), HasSubstr("garbage"));
  EXPECT_FALSE(SaslPasswordMaps::Open(" , ").ok());
}

// The credential's locked slot is zero once it is released.
TEST_F(SaslMapsTest, PasswordMemoryIsZeroAfterUse) {
  auto maps = SaslPasswordMaps::Open("texthash:" + Path("first"));
  ASSERT_TRUE(maps.ok());
  const char* where = nullptr;
  size_t size = 0;
  {
    auto found = (*maps)->Find(Hop("relay.example.jp", "[relay.example.jp]:587"));
    ASSERT_TRUE(found.ok() && found->has_value());
    where = (*found)->username_c_str();
    size = (*found)->username().size() + (*found)->password().size() + 2;
    ASSERT_TRUE(std::string_view(where + (*found)->username().size() + 1) == "first:pass")
        << "password differs (not shown)";
  }
  // The pool's pages stay mapped: reading the released slot is safe here.
  size_t nonzero = 0;  // counted, not printed: they would be the password
  for (size_t i = 0; i < size; ++i) nonzero += where[i] != '\0';
  EXPECT_EQ(nonzero, 0u);
}

// The file a mapping of this process holds `p` in, from /proc/self/maps
// ("" when `p` is not in a file-backed mapping: heap, stack, anonymous).
std::string MappedFileHolding(const void* p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2 || addr < lo || addr >= hi) continue;
    const size_t slash = line.find('/');
    return slash == std::string::npos ? "" : line.substr(slash);
  }
  return "";
}

// From the table's bytes to the caller without a copy: LookupEach() hands
// out the value as a view of the mapped table file (the credential call
// copies it from there straight into its locked slot), for one key or
// several, under both lock policies. Except lmdb: under the per-lookup
// policy: `postmap -i` rewrites its pages without any lock, so the value
// comes as a copy in a buffer that is wiped (fastpath_test's
// LmdbUnlockedWriter), never in a file mapping.
TEST_F(SaslMapsTest, LookupEachValuesAreViewsOfTheTableFile) {
  for (const char* type : {"hash", "btree", "cdb", "lmdb"}) {
    auto builder = NewMapBuilder(std::string(type) + ":" + Path(type), BuildOptions{});
    ASSERT_TRUE(builder.ok()) << type;
    ASSERT_TRUE((*builder)->Add("[other.example]:587", "other-user:other-pass").ok());
    ASSERT_TRUE((*builder)->Add("alice@example.com", "alice:alice-pass").ok());
    ASSERT_TRUE((*builder)->Commit().ok()) << type;
  }
  const std::pair<const char*, const char*> tables[] = {
      {"hash", ".db"}, {"btree", ".db"}, {"cdb", ".cdb"}, {"lmdb", ".lmdb"}};
  for (const auto& table : tables) {
    // Plain names: clang 14 cannot capture structured bindings.
    const char* type = table.first;
    const char* suffix = table.second;
    for (LockPolicy policy : {LockPolicy::kPerLookup, LockPolicy::kSnapshot}) {
      OpenOptions options;
      options.lock = policy;
      auto map = OpenMap(std::string(type) + ":" + Path(type), options);
      ASSERT_TRUE(map.ok()) << type << ": " << map.status();
      for (size_t n : {1, 2}) {
        const std::string_view keys[] = {"alice@example.com", "[other.example]:587"};
        size_t hits = 0;
        (*map)->LookupEach(
            std::span<const std::string_view>(keys, n),
            [&](size_t, const absl::StatusOr<std::optional<std::string_view>>& r) {
              EXPECT_TRUE(r.ok() && r->has_value()) << type;
              if (!r.ok() || !r->has_value()) return true;
              ++hits;
              const bool copied =
                  std::string_view(type) == "lmdb" && policy == LockPolicy::kPerLookup;
              EXPECT_EQ(MappedFileHolding((*r)->data()),
                        copied ? "" : fs::canonical(Path(std::string(type) + suffix)).string())
                  << type << " policy " << static_cast<int>(policy) << " keys " << n;
              return true;
            });
        EXPECT_EQ(hits, n) << type;
      }
    }
  }
}

TEST(LockedMemory, SlotsAndLargeBlocksAreZeroedAndReused) {
  internal::LockedBlock a = internal::AllocateLocked(10);
  ASSERT_NE(a.data, nullptr);
  a.data[0] = 'x';
  internal::ReleaseLocked(a);
  EXPECT_EQ(a.data[0], '\0');
  internal::LockedBlock big = internal::AllocateLocked(10000);
  ASSERT_NE(big.data, nullptr);
  EXPECT_GE(big.size, 10000u);
  big.data[9999] = 'y';
  internal::ReleaseLocked(big);
  auto c = LockedCredential::Make(std::string(5000, 'u'), std::string(6000, 'p'));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->password().size(), 6000u);
}

// The C API: the same call, through libmaps_credential.
TEST_F(SaslMapsTest, CApi) {
  const std::string tables = List({"texthash:" + Path("first"), "hash:" + Path("second")});
  libmaps_sasl_maps* maps = nullptr;
  char* err = nullptr;
  ASSERT_EQ(libmaps_sasl_maps_open(tables.c_str(), 0, &maps, &err), LIBMAPS_OK);
  libmaps_sasl_lookup lookup = {};
  lookup.host = "other.example";
  lookup.dest = "[other.example]:587";
  libmaps_credential* cred = nullptr;
  ASSERT_EQ(libmaps_sasl_maps_find(maps, &lookup, &cred, &err), LIBMAPS_OK);
  size_t len = 0;
  EXPECT_STREQ(libmaps_credential_username(cred, &len), "other-user");
  EXPECT_TRUE(std::string_view(libmaps_credential_password(cred, &len)) == "other-pass")
      << "password differs (not shown)";
  EXPECT_EQ(len, 10u);
  EXPECT_STREQ(libmaps_credential_key(cred), "[other.example]:587");
  EXPECT_EQ(std::string(libmaps_credential_table(cred)), "hash:" + Path("second"));
  libmaps_credential_free(cred);
  lookup.host = "nobody";
  lookup.dest = "nobody";
  cred = nullptr;
  EXPECT_EQ(libmaps_sasl_maps_find(maps, &lookup, &cred, &err), LIBMAPS_NOTFOUND);
  EXPECT_EQ(cred, nullptr);
  libmaps_sasl_maps_close(maps);
  EXPECT_EQ(libmaps_sasl_maps_open("fail:x", 0, nullptr, nullptr), LIBMAPS_ERR_CONFIG);
  maps = nullptr;
  ASSERT_EQ(libmaps_sasl_maps_open("fail:x", 0, &maps, nullptr), LIBMAPS_OK);
  EXPECT_EQ(libmaps_sasl_maps_find(maps, &lookup, &cred, &err), LIBMAPS_ERR_RETRY);
  ASSERT_NE(err, nullptr);
  EXPECT_THAT(err, HasSubstr("fail:x"));
  libmaps_free(err);
  libmaps_sasl_maps_close(maps);
}

}  // namespace
}  // namespace libmaps
