// SourceParser: postmap's source format (postfix-semantics.md section 1).

#include "libmaps/source_parser.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace libmaps {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Parsed {
  std::vector<std::string> entries;   // "key=value@line"
  std::vector<std::string> warnings;  // message text
};

Parsed Parse(std::string_view text, SourceParserOptions options = {}) {
  Parsed out;
  SourceParser parser(text, "src", options,
                      [&](Severity, std::string_view m) { out.warnings.emplace_back(m); });
  SourceEntry e;
  while (parser.Next(&e)) {
    out.entries.push_back(std::string(e.key) + "=" + std::string(e.value) + "@" +
                          std::to_string(e.line));
  }
  return out;
}

TEST(SourceParser, SplitsKeyAndValueAtFirstWhitespace) {
  EXPECT_THAT(Parse("alpha one two\n").entries, ElementsAre("alpha=one two@1"));
}

TEST(SourceParser, TrimsValueButKeepsInnerWhitespace) {
  EXPECT_THAT(Parse("beta \t two\t three  \n").entries,
              ElementsAre("beta=two\t three@1"));
}

TEST(SourceParser, HashInsideValueIsData) {
  EXPECT_THAT(Parse("alpha one # x\n").entries, ElementsAre("alpha=one # x@1"));
}

TEST(SourceParser, CommentAfterLeadingWhitespaceIsIgnored) {
  EXPECT_THAT(Parse("  # comment\nk v\n").entries, ElementsAre("k=v@2"));
}

TEST(SourceParser, ContinuationKeepsLeadingWhitespace) {
  EXPECT_THAT(Parse("gamma first\n  continued\n\tline3\n").entries,
              ElementsAre("gamma=first  continued\tline3@1"));
}

TEST(SourceParser, CommentsAndBlankLinesDoNotEndAnEntry) {
  EXPECT_THAT(Parse("delta d1\n# c\n  d2\n\n  d3\nnext v\n").entries,
              ElementsAre("delta=d1  d2  d3@1", "next=v@6"));
}

TEST(SourceParser, LeadingWhitespaceAtTopIsSkippedWithWarning) {
  Parsed p = Parse("  lead secret\n\tmore\nk v\n");
  EXPECT_THAT(p.entries, ElementsAre("k=v@3"));
  EXPECT_THAT(p.warnings,
              ElementsAre("src, line 1: logical line must not start with "
                          "whitespace: \"  lead ...\""));
}

TEST(SourceParser, QuotesAndBackslashesStayInKey) {
  EXPECT_THAT(Parse("\"quoted key\" qv\nback\\ slash bv\n").entries,
              ElementsAre("\"quoted key\"=qv@1", "back\\ slash=bv@2"));
}

TEST(SourceParser, EscapedQuoteDoesNotToggleQuoting) {
  EXPECT_THAT(Parse("\"a\\\"b c\" v3\n").entries, ElementsAre("\"a\\\"b c\"=v3@1"));
}

TEST(SourceParser, UnbalancedQuoteSkipsLineWithoutShowingValue) {
  Parsed p = Parse("unbal\"anced secret-value\nk v\n");
  EXPECT_THAT(p.entries, ElementsAre("k=v@2"));
  EXPECT_THAT(p.warnings, ElementsAre("src, line 1: unbalanced '\"' in "
                                      "'unbal\"anced ...' -- ignoring this line"));
}

TEST(SourceParser, CrlfIsTrimmedFromValues) {
  EXPECT_THAT(Parse("crlf crlfvalue\r\n").entries, ElementsAre("crlf=crlfvalue@1"));
}

TEST(SourceParser, KeyWithoutValueIsSkipped) {
  Parsed p = Parse("epsilon\nkeyonly   \nk v");
  EXPECT_THAT(p.entries, ElementsAre("k=v@3"));
  EXPECT_THAT(p.warnings,
              ElementsAre("src, line 1: expected format: key whitespace value",
                          "src, line 2: expected format: key whitespace value"));
}

TEST(SourceParser, TexthashWordingAddsIgnoringThisLine) {
  Parsed p = Parse("epsilon\n", {.texthash_wording = true});
  EXPECT_THAT(p.warnings,
              ElementsAre("src, line 1: expected format: key whitespace value "
                          "-- ignoring this line"));
}

TEST(SourceParser, ColonKeyWarnsButIsStored) {
  Parsed p = Parse("zeta: z\n");
  EXPECT_THAT(p.entries, ElementsAre("zeta:=z@1"));
  EXPECT_THAT(p.warnings,
              ElementsAre("src, line 1: record is in \"key: value\" format; is "
                          "this an alias file?"));
}

TEST(SourceParser, TextAfterNulIsIgnored) {
  using namespace std::string_literals;
  Parsed p = Parse("nul\0byte v4\nok2 v\0after\n"s);
  EXPECT_THAT(p.entries, ElementsAre("ok2=v@2"));
  EXPECT_THAT(p.warnings,
              ElementsAre("src, line 1: expected format: key whitespace value"));
}

TEST(SourceParser, InvalidUtf8LineIsSkippedInUtf8Mode) {
  Parsed p = Parse("bad\xffkey v\nk v\n");
  EXPECT_THAT(p.entries, ElementsAre("k=v@2"));
  EXPECT_THAT(p.warnings, ElementsAre("src, line 1: non-UTF-8 input \"bad?key ...\" "
                                      "-- ignoring this line"));
}

TEST(SourceParser, InvalidUtf8InValueAlsoSkipsTheLine) {
  EXPECT_THAT(Parse("key bad\xfevalue\n").entries, IsEmpty());
}

TEST(SourceParser, InvalidUtf8IsKeptWithoutUtf8Mode) {
  EXPECT_THAT(Parse("bad\xffkey v\n", {.utf8 = false}).entries,
              ElementsAre("bad\xffkey=v@1"));
}

TEST(SourceParser, Utf8CheckSeesBytesAfterNulWhenPrefixIsNotAscii) {
  using namespace std::string_literals;
  // Postfix checks the whole buffer unless the C string before the NUL is
  // ASCII (verified on postmap 3.7.11).
  EXPECT_THAT(Parse("k\xc3\xa9 v\0\xff\n"s).entries, IsEmpty());
  EXPECT_THAT(Parse("k2 a\0\xff\n"s).entries, ElementsAre("k2=a@1"));
}

TEST(SourceParser, LastLineNeedsNoNewline) {
  EXPECT_THAT(Parse("last noeol").entries, ElementsAre("last=noeol@1"));
}

TEST(SourceParser, LineNumbersCountEveryPhysicalLine) {
  EXPECT_THAT(Parse("# c\n\na 1\n  cont\n# c\nb 2\n").entries,
              ElementsAre("a=1  cont@3", "b=2@6"));
}

TEST(SourceParser, EmptyAndCommentOnlyFilesHaveNoEntries) {
  EXPECT_THAT(Parse("").entries, IsEmpty());
  EXPECT_THAT(Parse("# only\n\n   \n").entries, IsEmpty());
}

TEST(SourceParser, LogicalLineHasNoLengthLimit) {
  std::string value(200000, 'x');
  Parsed p = Parse("k " + value + "\n");
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].size(), 2 + value.size() + 2);
}

TEST(RedactedLine, ShowsOnlyTheFirstWord) {
  EXPECT_EQ(RedactedLine("[relay]:587 user:secret", true), "[relay]:587 ...");
  EXPECT_EQ(RedactedLine("\tlead rest", true), "?lead ...");
  EXPECT_EQ(RedactedLine("Stra\xc3\x9f" "e v", true), "Stra\xc3\x9f" "e ...");
  EXPECT_EQ(RedactedLine("Stra\xc3\x9f" "e v", false), "Stra??e ...");
}

}  // namespace
}  // namespace libmaps
