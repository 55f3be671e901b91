#include "libmaps/secret.h"

#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "gtest/gtest.h"

namespace libmaps {
namespace {

// Test data stands in for a password. Assertions compare secrets with
// EXPECT_TRUE(a == b), never EXPECT_EQ on the bytes, so a failure message
// shows expressions, not secrets.
constexpr std::string_view kSecret = "s3cr3t:pa55w0rd";
constexpr std::string_view kOtherOfSameSize = "s3cr3t:pa55w0rD";

TEST(SecretString, DefaultConstructedIsEmpty) {
  SecretString secret;
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.size(), 0u);
  EXPECT_TRUE(secret.view().empty());
}

TEST(SecretString, HoldsTheBytesGiven) {
  SecretString secret(kSecret);
  EXPECT_EQ(secret.size(), kSecret.size());
  EXPECT_TRUE(secret.view() == kSecret);
}

TEST(SecretString, HoldsEmbeddedNulBytes) {
  constexpr std::string_view kWithNul("a\0b", 3);
  SecretString secret(kWithNul);
  EXPECT_EQ(secret.size(), 3u);
  EXPECT_TRUE(secret.view() == kWithNul);
}

TEST(SecretString, CStrIsNulTerminated) {
  SecretString secret(kSecret);
  EXPECT_EQ(secret.c_str()[kSecret.size()], '\0');
  EXPECT_TRUE(std::string_view(secret.c_str()) == kSecret);
}

TEST(SecretString, CStrOfEmptySecretIsEmptyString) {
  SecretString secret;
  ASSERT_NE(secret.c_str(), nullptr);
  EXPECT_EQ(secret.c_str()[0], '\0');
}

TEST(SecretString, ConstructedFromEmptyViewIsEmpty) {
  SecretString secret{std::string_view()};
  EXPECT_TRUE(secret.empty());
}

TEST(SecretString, MoveConstructionLeavesSourceEmpty) {
  SecretString source(kSecret);
  SecretString target(std::move(source));
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(source.view().empty());
  EXPECT_TRUE(target == kSecret);
}

TEST(SecretString, MoveAssignmentLeavesSourceEmpty) {
  SecretString source(kSecret);
  SecretString target(kOtherOfSameSize);
  target = std::move(source);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(target == kSecret);
}

TEST(SecretString, MoveHandsOverTheBufferWithoutCopying) {
  SecretString source(kSecret);
  const char* buffer = source.view().data();
  SecretString target(std::move(source));
  EXPECT_EQ(target.view().data(), buffer);
}

TEST(SecretString, SelfMoveAssignmentKeepsTheSecret) {
  SecretString secret(kSecret);
  SecretString& alias = secret;
  secret = std::move(alias);
  EXPECT_TRUE(secret == kSecret);
}

TEST(SecretString, CloneIsAnIndependentCopy) {
  SecretString original(kSecret);
  SecretString clone = original.Clone();
  EXPECT_TRUE(clone == original);
  EXPECT_NE(clone.view().data(), original.view().data());
  original.Clear();
  EXPECT_TRUE(clone == kSecret);
}

TEST(SecretString, ClearLeavesItEmpty) {
  SecretString secret(kSecret);
  secret.Clear();
  EXPECT_TRUE(secret.empty());
  EXPECT_TRUE(secret.view().empty());
}

TEST(SecretString, EqualBytesCompareEqual) {
  EXPECT_TRUE(SecretString(kSecret) == SecretString(kSecret));
}

TEST(SecretString, DifferentBytesOfTheSameSizeCompareUnequal) {
  EXPECT_FALSE(SecretString(kSecret) == SecretString(kOtherOfSameSize));
}

TEST(SecretString, DifferentSizesCompareUnequal) {
  EXPECT_FALSE(SecretString(kSecret) == SecretString(kSecret.substr(1)));
}

TEST(SecretString, EmptySecretsCompareEqual) {
  EXPECT_TRUE(SecretString() == SecretString());
  EXPECT_TRUE(SecretString() == std::string_view());
}

TEST(SecretString, ComparesWithPlainBytes) {
  SecretString secret(kSecret);
  EXPECT_TRUE(secret == kSecret);
  EXPECT_FALSE(secret == kOtherOfSameSize);
  EXPECT_TRUE(kSecret == secret);  // C++20 reversed operand order.
}

TEST(SecretString, StreamOutputIsRedacted) {
  std::ostringstream out;
  out << SecretString(kSecret);
  EXPECT_EQ(out.str(), "[redacted]");
}

TEST(SecretString, GoogleTestPrintingIsRedacted) {
  EXPECT_EQ(testing::PrintToString(SecretString(kSecret)), "[redacted]");
}

TEST(SecretString, EmptySecretPrintsRedactedToo) {
  EXPECT_EQ(testing::PrintToString(SecretString()), "[redacted]");
}

// A minimal sink with the interface AbslStringify expects.
struct StringSink {
  void Append(std::string_view s) { text.append(s); }
  std::string text;
};

TEST(SecretString, AbslStringifyIsRedacted) {
  StringSink sink;
  AbslStringify(sink, SecretString(kSecret));
  EXPECT_EQ(sink.text, "[redacted]");
}

TEST(WipeString, LeavesTheStringEmpty) {
  std::string s(kSecret);
  WipeString(&s);
  EXPECT_TRUE(s.empty());
}

TEST(WipeString, ZeroesAHeapBuffer) {
  std::string s(200, 'x');
  const char* buffer = s.data();
  const std::size_t capacity = s.capacity();
  WipeString(&s);
  ASSERT_EQ(s.data(), buffer);  // still the same (live) buffer
  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_EQ(buffer[i], '\0') << "byte " << i;
  }
}

TEST(WipeString, ZeroesAShortStringBuffer) {
  std::string s("abc");
  const char* buffer = s.data();
  const std::size_t capacity = s.capacity();
  WipeString(&s);
  ASSERT_EQ(s.data(), buffer);
  for (std::size_t i = 0; i < capacity; ++i) {
    ASSERT_EQ(buffer[i], '\0') << "byte " << i;
  }
}

TEST(WipeString, AcceptsNull) { WipeString(nullptr); }

}  // namespace
}  // namespace libmaps
