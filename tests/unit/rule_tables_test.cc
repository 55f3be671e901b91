// regexp:, pcre:, cidr: (backends/pattern_maps, backends/cidr_map) and the
// literal prefilter (backends/literal_filter). Postfix compatibility is
// shown by tests/compat/pattern_diff.py against real postmap; these tests
// pin what the differential test cannot see: the prefilter's answers, thread
// safety, the locale, allocation per lookup, and secrets in messages.
#include <clocale>
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cidr_map.h"
#include "backends/literal_filter.h"
#include "backends/pattern_maps.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libmaps/map.h"

// Counts operator new calls (libmaps' own allocations; glibc's regexec and
// PCRE2 allocate with malloc, outside this count).
#if defined(__GNUC__) && !defined(__clang__)
// g++ 12 flags free() of what this operator new returned (it is malloc's).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
static std::atomic<long> g_news{0};
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace libmaps::internal {
namespace {


struct Captured {
  std::vector<std::string> messages;
  OpenOptions options() {
    OpenOptions o;
    o.diagnostics = [this](Severity, std::string_view m) { messages.emplace_back(m); };
    return o;
  }
};

std::string Find(const Map& map, std::string_view key) {
  absl::StatusOr<std::optional<std::string>> v = map.Lookup(key);
  EXPECT_TRUE(v.ok());
  if (!v.ok() || !v->has_value()) return "<none>";
  return **v;
}

TEST(RequiredLiteral, ReadsOnlyWhatIsSurelyThere) {
  const PatternSyntax posix = PatternSyntax::kPosixExtended;
  const PatternSyntax pcre = PatternSyntax::kPcre;
  struct Case {
    const char* pattern;
    PatternSyntax syntax;
    const char* literal;
  } cases[] = {
      {"^user1@Example\\.com$", posix, "user1@example.com"},
      {"\\.spam42\\.net$", posix, ".spam42.net"},
      {"^Subject:.*offer9", posix, "subject:"},
      {"ab+c", posix, "ab"},           // "abbc" has no "abc"
      {"abc*d", posix, "ab"},          // c optional
      {"ab+*cd", posix, "cd"},         // (b+)* : b optional
      {"ab{0}cdefg", posix, "cdefg"},
      {"(foo|bar)bazz", posix, "bazz"},
      {"foo|barbaz", posix, ""},       // alternation at the top
      {"[]a]bcd", posix, "bcd"},
      {"x\\<word", posix, "word"},
      {"a\\nbcd", posix, ""},          // an escape not read here
      {"abc+?def", pcre, "abc"},       // lazy: c still at least once
      {"abc++def", pcre, "abc"},
      {"(?x) a b c", pcre, ""},        // extended syntax
      {"\\Qa.b\\E", pcre, ""},
      {"x{2zv|wxy", pcre, ""},         // '{' literal, then alternation
      {"[\\]x]yzw", pcre, "yzw"},
      {"\\x41bcd", pcre, ""},
      {"\\d\\dzz9", pcre, "zz9"},
      {"é-abc", pcre, "-abc"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RequiredLiteral(c.pattern, c.syntax), c.literal) << c.pattern;
  }
}

TEST(LiteralFilter, MarksRulesWhoseLiteralOccurs) {
  LiteralFilter filter({"abcdef", "", "xy", "mnopq"});
  EXPECT_EQ(filter.filtered_count(), 2u);  // "" and "xy" are always tried
  uint8_t marks[4];
  filter.Mark("zzabcdefzz", marks);
  EXPECT_EQ(marks[0], 1);
  EXPECT_EQ(marks[1], 1);
  EXPECT_EQ(marks[2], 1);
  EXPECT_EQ(marks[3], 0);
  filter.Mark("q", marks);
  EXPECT_EQ(marks[0], 0);
  EXPECT_EQ(marks[3], 0);
}

TEST(RegexpMap, CapturesConditionsAndNegation) {
  Captured c;
  auto map = RegexpMapFromText("t", R"(/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead
if !/^owner-/
/^(a)(b)?c/ [$1|$2]
endif
/x/!/y/ x-not-y
/^cost$/ $$5
)",
                               c.options(), true);
  EXPECT_EQ(Find(*map, "list-outgoing@example.com"), "550 Use list@example.com instead");
  EXPECT_EQ(Find(*map, "AC"), "[A|]");  // case-insensitive; $2 unset
  EXPECT_EQ(Find(*map, "abc"), "[a|b]");
  EXPECT_EQ(Find(*map, "xz"), "x-not-y");
  EXPECT_EQ(Find(*map, "xy"), "<none>");
  EXPECT_EQ(Find(*map, "cost"), "$5");
  EXPECT_EQ(Find(*map, std::string("ac\0x", 4)), "<none>");  // a NUL: not a Postfix key
  EXPECT_TRUE(c.messages.empty());
}

// The prefilter changes no answer: a table of many rules, each key looked up
// with and without it.
TEST(RegexpMap, FilterGivesTheSameAnswers) {
  std::mt19937 rng(7);
  std::string text;
  for (int i = 0; i < 400; ++i) {
    switch (i % 5) {
      case 0: text += "/^user" + std::to_string(i) + "@ex\\.com$/ u" + std::to_string(i) + "\n"; break;
      case 1: text += "/\\.spam" + std::to_string(i) + "\\.net$/ s\n"; break;
      case 2: text += "!/keep" + std::to_string(i) + "/ notkeep" + std::to_string(i) + "\n"; break;
      case 3: text += "if /ab+c" + std::to_string(i) + "/\n/(d|e)" + std::to_string(i) + "/ de$1\nendif\n"; break;
      default: text += "/^(x+)y" + std::to_string(i) + "z*$/ $1\n"; break;
    }
  }
  for (bool pcre : {false, true}) {
    Captured c1, c2;
    auto filtered = pcre ? PcreMapFromText("t", text, c1.options(), true)
                         : RegexpMapFromText("t", text, c1.options(), true);
    auto plain = pcre ? PcreMapFromText("t", text, c2.options(), false)
                      : RegexpMapFromText("t", text, c2.options(), false);
    for (int k = 0; k < 3000; ++k) {
      const int i = static_cast<int>(rng() % 400);
      std::string key;
      switch (rng() % 6) {
        case 0: key = "USER" + std::to_string(i) + "@EX.com"; break;
        case 1: key = "a.spam" + std::to_string(i) + ".net"; break;
        case 2: key = "keep" + std::to_string(i); break;
        case 3: key = "abbbc" + std::to_string(i) + " e" + std::to_string(i); break;
        case 4: key = "xxxy" + std::to_string(i) + "zz"; break;
        default: key = "nothing" + std::to_string(k); break;
      }
      ASSERT_EQ(Find(*filtered, key), Find(*plain, key)) << key << " pcre=" << pcre;
    }
  }
}

// regexp: compiles in the "C" locale, as Postfix does, whatever the process
// chose: '.' is one byte, so "é" (two bytes) is "..", not ".".
TEST(RegexpMap, CLocaleWhateverTheProcessLocale) {
  const std::string saved = std::setlocale(LC_ALL, nullptr);
  for (const char* locale : {"C", "C.UTF-8"}) {
    if (std::setlocale(LC_ALL, locale) == nullptr) continue;
    Captured c;
    auto map = RegexpMapFromText("t", "/^.$/ one\n/^..$/ two\n", c.options(), true);
    EXPECT_EQ(Find(*map, "\xc3\xa9"), "two") << locale;
  }
  std::setlocale(LC_ALL, saved.c_str());
}

TEST(PatternMaps, LookupsAllocateOnlyTheirResult) {
  Captured c;
  std::string text;
  for (int i = 0; i < 50; ++i) text += "/^(a+)b" + std::to_string(i) + "$/ r$1\n";
  for (bool pcre : {false, true}) {
    auto map = pcre ? PcreMapFromText("t", text, c.options(), true)
                    : RegexpMapFromText("t", text, c.options(), true);
    std::string value;
    value.reserve(64);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(*map->LookupInto("aaab49", &value));  // warm up
    const long before = g_news.load();
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(*map->LookupInto("aaab49", &value));
      ASSERT_FALSE(*map->LookupInto("zzz", &value));
    }
    EXPECT_EQ(g_news.load() - before, 0) << "pcre=" << pcre;
    EXPECT_EQ(value.substr(0, 4), "raaa");
  }
}

TEST(PatternMaps, ThreadsShareAMap) {
  Captured c;
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text += "/^k" + std::to_string(i) + "-(.+)$/ v" + std::to_string(i) + "=$1\n";
  }
  for (bool pcre : {false, true}) {
    auto map = pcre ? PcreMapFromText("t", text, c.options(), true)
                    : RegexpMapFromText("t", text, c.options(), true);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::string value;
        for (int n = 0; n < 2000; ++n) {
          const int i = (n * 7 + t) % 100;
          const std::string tail = std::to_string(t * 100000 + n);
          const std::string key = "k" + std::to_string(i) + "-" + tail;
          absl::StatusOr<bool> hit = map->LookupInto(key, &value);
          if (!hit.ok() || !*hit || value != "v" + std::to_string(i) + "=" + tail) ++wrong;
        }
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
  }
}

// Postfix quotes a rule's result text in some warnings; a password table's
// result is a password.
TEST(PatternMaps, ResultTextNeverInMessages) {
  for (bool pcre : {false, true}) {
    Captured c;
    auto map = pcre ? PcreMapFromText("t", "/relay1/ user:pa$word\n/relay2/ user:se${cret\n"
                                            "/relay3/ user:topsecret$\n",
                                      c.options(), true)
                    : RegexpMapFromText("t", "/relay1/ user:pa$word\n/relay2/ user:se${cret\n"
                                             "/relay3/ user:topsecret$\n",
                                        c.options(), true);
    ASSERT_FALSE(c.messages.empty());
    // Checked without printing the message: it would show the secret.
    for (const std::string& m : c.messages) {
      EXPECT_TRUE(m.find("word") == std::string::npos) << "result text in a message";
      EXPECT_TRUE(m.find("cret") == std::string::npos) << "result text in a message";
      EXPECT_TRUE(m.find("topsecret") == std::string::npos) << "result text in a message";
    }
    EXPECT_EQ(Find(*map, "relay1"), "<none>");  // the rules were skipped
  }
}

TEST(CidrMap, NetworksNegationAndConditions) {
  Captured c;
  auto map = CidrMapFromText("t", R"(192.168.1.1 one
192.168.0.0/16 private
[2001:db8::]/32 doc6
if !10.0.0.0/8
0.0.0.0/0 outside-ten
endif
10.1.2.3/8 hostbits
!172.16.0.0/12 not-172
)",
                             c.options());
  EXPECT_EQ(Find(*map, "192.168.1.1"), "one");
  EXPECT_EQ(Find(*map, "192.168.7.7"), "private");
  EXPECT_EQ(Find(*map, "2001:DB8:0::5"), "doc6");
  EXPECT_EQ(Find(*map, "8.8.8.8"), "outside-ten");
  EXPECT_EQ(Find(*map, "10.9.9.9"), "not-172");
  EXPECT_EQ(Find(*map, "::ffff:192.168.1.1"), "<none>");  // IPv6 key, no IPv6 rule matches
  EXPECT_EQ(Find(*map, "not-an-address"), "<none>");
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_EQ(c.messages[0],
            "cidr map t, line 7: non-null host address bits in \"10.1.2.3/8\", perhaps you "
            "should use \"10.0.0.0/8\" instead: skipping this rule");
}

}  // namespace
}  // namespace libmaps::internal
