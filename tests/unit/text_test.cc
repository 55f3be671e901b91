// text.h: UTF-8 validation, Postfix's key folding, log rendering, base64.

#include "libmaps/text.h"

#include "gtest/gtest.h"

namespace libmaps {
namespace {

TEST(IsValidUtf8, AcceptsWellFormedText) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("ascii"));
  EXPECT_TRUE(IsValidUtf8("Stra\xc3\x9f" "e"));
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string_view("a\0b", 3)));
}

TEST(IsValidUtf8, RejectsMalformedText) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
}

TEST(FoldKey, AsciiOnlyLowersAToZ) {
  EXPECT_EQ(*FoldKey("MiXeD-123_@[X]", false), "mixed-123_@[x]");
  EXPECT_EQ(*FoldKey("\xc3\x84", false), "\xc3\x84");  // Ä kept without UTF-8
}

// The results below were verified on real postmap 3.7.11 (spec E7).
TEST(FoldKey, Utf8UsesFullUnicodeFolding) {
  EXPECT_EQ(*FoldKey("\xc3\x84\xc3\x96\xc3\x9c", true), "\xc3\xa4\xc3\xb6\xc3\xbc");
  EXPECT_EQ(*FoldKey("Stra\xc3\x9f" "e", true), "strasse");
  EXPECT_EQ(*FoldKey("\xef\xac\x81le", true), "file");
  EXPECT_EQ(*FoldKey("\xc4\xb0stanbul", true), "i\xcc\x87stanbul");
  EXPECT_EQ(*FoldKey("\xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3", true),
            "\xcf\x83\xce\xaf\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x83");
}

TEST(FoldKey, Utf8RejectsInvalidInput) {
  EXPECT_FALSE(FoldKey("bad\xffkey", true).has_value());
  EXPECT_EQ(*FoldKey("bad\xffKEY", false), "bad\xffkey");
}

TEST(FoldKey, GrowsWhenFoldingExpands) {
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "\xef\xac\x83";  // ﬃ -> ffi
  std::optional<std::string> folded = FoldKey(many, true);
  ASSERT_TRUE(folded.has_value());
  EXPECT_EQ(folded->size(), 3000u);
}

TEST(Printable, ReplacesControlAndInvalidBytes) {
  EXPECT_EQ(Printable("a\tb\x01\x7f", true), "a?b??");
  EXPECT_EQ(Printable("bad\xffkey", true), "bad?key");
  EXPECT_EQ(Printable("\xc3\xa9", true), "\xc3\xa9");
  EXPECT_EQ(Printable("\xc3\xa9", false), "??");
  // A lead byte with a continuation keeps every continuation after it.
  EXPECT_EQ(Printable("x\xc3\xa9\x80y", true), "x\xc3\xa9\x80y");
  EXPECT_EQ(Printable(std::string_view("ab\0cd", 5), true), "ab");
}

TEST(Base64, EncodesWithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("hello\n"), "aGVsbG8K");
  EXPECT_EQ(Base64Encode("hello\n\nworld"), "aGVsbG8KCndvcmxk");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
}

TEST(Base64, DecodesAndRejectsAsPostmap) {
  EXPECT_EQ(*Base64Decode("aGVsbG8K"), "hello\n");
  EXPECT_EQ(*Base64Decode("YQ=="), "a");
  EXPECT_FALSE(Base64Decode("abc").has_value());        // length % 4
  EXPECT_FALSE(Base64Decode("!!!notb64").has_value());
  EXPECT_FALSE(Base64Decode("aGVsbG8=extra").has_value());
  EXPECT_EQ(*Base64Decode("aGVsbG8=ZXh0"), "hello");     // stops at the '='
  EXPECT_EQ(*Base64Decode("aA=a"), "h");
  // '=' as the first or second character of a group is malformed
  // (verified on postmap 3.7.11).
  EXPECT_FALSE(Base64Decode("=Z>P").has_value());
  EXPECT_FALSE(Base64Decode("a===").has_value());
  EXPECT_FALSE(Base64Decode("aGVs=xyz").has_value());
}

}  // namespace
}  // namespace libmaps
