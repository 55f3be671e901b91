#include "libmaps/credential.h"

#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libmaps/libmaps.h"
#include "libmaps/secret.h"

namespace libmaps {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Passwords are compared with EXPECT_TRUE(secret == kName): a failure shows
// the expression, never the bytes.
constexpr std::string_view kPassword = "pa:ss:wd";

std::string Message(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

// Key errors may be printed: keys are not secret.
absl::StatusCode KeyErrorCode(std::string_view key) {
  return ParseCredentialKey(key).status().code();
}

std::string KeyErrorMessage(std::string_view key) {
  return Message(ParseCredentialKey(key).status());
}

// ---------------------------------------------------------------------------
// ParseCredentialKey: accepted forms
// ---------------------------------------------------------------------------

TEST(ParseCredentialKey, BracketedHostWithPort) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("[mail.isp.example]:587");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "mail.isp.example");
  EXPECT_EQ(key->port, "587");
  EXPECT_TRUE(key->bracketed);
  EXPECT_FALSE(key->empty_port);
  EXPECT_THAT(key->local_part, IsEmpty());
  EXPECT_THAT(key->domain, IsEmpty());
}

TEST(ParseCredentialKey, BracketedHostWithoutPort) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("[mail.isp.example]");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "mail.isp.example");
  EXPECT_THAT(key->port, IsEmpty());
  EXPECT_FALSE(key->empty_port);
}

TEST(ParseCredentialKey, BracketedHostWithEmptyPortMeansDefaultPort) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("[mail.isp.example]:");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "mail.isp.example");
  EXPECT_THAT(key->port, IsEmpty());
  EXPECT_TRUE(key->empty_port);
}

TEST(ParseCredentialKey, ServiceNamePortIsKeptAsAName) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("[192.0.2.10]:submission");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->host, "192.0.2.10");
  EXPECT_EQ(key->port, "submission");
}

TEST(ParseCredentialKey, HostWithPortIsMxStyle) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("mail.isp.example:587");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kHost);
  EXPECT_EQ(key->host, "mail.isp.example");
  EXPECT_EQ(key->port, "587");
  EXPECT_FALSE(key->bracketed);
}

TEST(ParseCredentialKey, BareHostName) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("mx1.isp.example");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kHost);
  EXPECT_EQ(key->host, "mx1.isp.example");
  EXPECT_THAT(key->port, IsEmpty());
  EXPECT_FALSE(key->empty_port);
}

TEST(ParseCredentialKey, HostWithEmptyPortMeansDefaultPort) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("mail.isp.example:");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kHost);
  EXPECT_EQ(key->host, "mail.isp.example");
  EXPECT_THAT(key->port, IsEmpty());
  EXPECT_TRUE(key->empty_port);
}

TEST(ParseCredentialKey, BracketedIpv4Address) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("[192.0.2.10]:587");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "192.0.2.10");
  EXPECT_EQ(key->port, "587");
}

TEST(ParseCredentialKey, Ipv6PrefixIsStrippedFromTheHost) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("[IPv6:2001:db8::1]:587");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "2001:db8::1");
  EXPECT_EQ(key->port, "587");
}

TEST(ParseCredentialKey, Ipv6PrefixIsRecognisedInAnyCase) {
  for (std::string_view text :
       {"[ipv6:2001:db8::1]", "[IPV6:2001:db8::1]", "[iPv6:2001:db8::1]"}) {
    absl::StatusOr<CredentialKey> key = ParseCredentialKey(text);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->host, "2001:db8::1") << text;
  }
}

TEST(ParseCredentialKey, BracketedIpv6AddressWithoutPrefix) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("[2001:db8::1]:587");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(key->host, "2001:db8::1");
  EXPECT_EQ(key->port, "587");
}

TEST(ParseCredentialKey, BareIpv4AddressIsAHostKey) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("192.0.2.10");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kHost);
  EXPECT_EQ(key->host, "192.0.2.10");
}

TEST(ParseCredentialKey, BareIpv6AddressIsAHostKeyWithoutPort) {
  // What Postfix probes as the host for a next hop [2001:db8::1]:587.
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("2001:db8::1");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kHost);
  EXPECT_EQ(key->host, "2001:db8::1");
  EXPECT_THAT(key->port, IsEmpty());
}

TEST(ParseCredentialKey, SmallestAndLargestPortNumbers) {
  EXPECT_TRUE(ParseCredentialKey("[h.example]:1").ok());
  EXPECT_TRUE(ParseCredentialKey("[h.example]:65535").ok());
}

TEST(ParseCredentialKey, CaseIsPreserved) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("[Mail.ISP.example]:Submission");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->host, "Mail.ISP.example");
  EXPECT_EQ(key->port, "Submission");
}

TEST(ParseCredentialKey, UnderscoreAndUtf8AreAllowedInHostNames) {
  EXPECT_TRUE(ParseCredentialKey("mail_relay.example").ok());
  EXPECT_TRUE(ParseCredentialKey("[b\xc3\xbc"
                                 "cher.example]:587")
                  .ok());
}

TEST(ParseCredentialKey, SenderAddress) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey("user+tag@example.com");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kAddress);
  EXPECT_EQ(key->local_part, "user+tag");
  EXPECT_EQ(key->domain, "example.com");
  EXPECT_THAT(key->host, IsEmpty());
  EXPECT_FALSE(key->bracketed);
}

TEST(ParseCredentialKey, SenderDomain) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("@example.org");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kDomain);
  EXPECT_EQ(key->domain, "example.org");
  EXPECT_THAT(key->local_part, IsEmpty());
}

TEST(ParseCredentialKey, QuotedLocalPartKeepsItsQuotes) {
  absl::StatusOr<CredentialKey> key =
      ParseCredentialKey(R"("john..smith"@example.com)");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kAddress);
  EXPECT_EQ(key->local_part, R"("john..smith")");
}

TEST(ParseCredentialKey, AddressIsSplitAtTheLastAt) {
  // The internal form of "a@b"@example.com, which Postfix also probes.
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("a@b@example.com");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->local_part, "a@b");
  EXPECT_EQ(key->domain, "example.com");
}

TEST(ParseCredentialKey, AddressWithDomainLiteral) {
  absl::StatusOr<CredentialKey> key = ParseCredentialKey("user@[192.0.2.1]");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->kind, CredentialKeyKind::kAddress);
  EXPECT_EQ(key->domain, "[192.0.2.1]");
}

// ---------------------------------------------------------------------------
// ParseCredentialKey: rejected forms
// ---------------------------------------------------------------------------

TEST(ParseCredentialKey, RejectsEmptyKey) {
  EXPECT_EQ(KeyErrorCode(""), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyErrorMessage(""), "empty credential key");
}

TEST(ParseCredentialKey, RejectsMissingClosingBracket) {
  EXPECT_EQ(KeyErrorCode("[mail.isp.example:587"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(KeyErrorMessage("[mail.isp.example:587"),
              HasSubstr("missing ']'"));
}

TEST(ParseCredentialKey, RejectsClosingBracketWithoutOpening) {
  EXPECT_THAT(KeyErrorMessage("mail.isp.example]:587"),
              HasSubstr("unbalanced ']'"));
}

TEST(ParseCredentialKey, RejectsOpeningBracketAfterTheStart) {
  EXPECT_THAT(KeyErrorMessage("mail[isp].example"),
              HasSubstr("'[' is only allowed at the start"));
}

TEST(ParseCredentialKey, RejectsNestedBrackets) {
  EXPECT_THAT(KeyErrorMessage("[[mail.isp.example]]"),
              HasSubstr("unbalanced '['"));
}

TEST(ParseCredentialKey, RejectsTextAfterClosingBracket) {
  EXPECT_THAT(KeyErrorMessage("[mail.isp.example]587"),
              HasSubstr("unexpected text after ']'"));
}

TEST(ParseCredentialKey, RejectsPortZero) {
  EXPECT_THAT(KeyErrorMessage("[mail.isp.example]:0"),
              HasSubstr("is out of range 1-65535"));
}

TEST(ParseCredentialKey, RejectsPortAbove65535) {
  EXPECT_THAT(KeyErrorMessage("mail.isp.example:65536"),
              HasSubstr("is out of range 1-65535"));
  EXPECT_THAT(KeyErrorMessage("[h.example]:99999999999999999999999"),
              HasSubstr("is out of range 1-65535"));
}

TEST(ParseCredentialKey, RejectsEmptyHostInBrackets) {
  EXPECT_THAT(KeyErrorMessage("[]:587"), HasSubstr("empty host name"));
}

TEST(ParseCredentialKey, RejectsEmptyHostBeforePort) {
  EXPECT_THAT(KeyErrorMessage(":587"), HasSubstr("empty host name"));
}

TEST(ParseCredentialKey, RejectsEmptyAddressAfterIpv6Prefix) {
  EXPECT_THAT(KeyErrorMessage("[IPv6:]:587"), HasSubstr("empty IPv6 address"));
}

TEST(ParseCredentialKey, RejectsInvalidIpv6Address) {
  EXPECT_THAT(KeyErrorMessage("[IPv6:2001:db8::zz]"),
              HasSubstr("invalid IPv6 address"));
  EXPECT_THAT(KeyErrorMessage("[2001:db8:::1]:587"),
              HasSubstr("invalid IPv6 address"));
  EXPECT_THAT(KeyErrorMessage("[IPv6:192.0.2.1]"),
              HasSubstr("invalid IPv6 address"));
}

TEST(ParseCredentialKey, RejectsUnbracketedIpv6AddressWithPort) {
  EXPECT_THAT(KeyErrorMessage("2001:db8::g:587"),
              HasSubstr("an address with a port needs brackets"));
}

TEST(ParseCredentialKey, RejectsInvalidIpv4Address) {
  EXPECT_THAT(KeyErrorMessage("[999.0.2.10]:587"),
              HasSubstr("invalid IPv4 address"));
}

TEST(ParseCredentialKey, RejectsLeadingWhitespace) {
  EXPECT_THAT(KeyErrorMessage(" [mail.isp.example]:587"),
              HasSubstr("starts with whitespace"));
}

TEST(ParseCredentialKey, RejectsTrailingWhitespace) {
  EXPECT_THAT(KeyErrorMessage("[mail.isp.example]:587 "),
              HasSubstr("contains whitespace"));
}

TEST(ParseCredentialKey, RejectsInnerWhitespace) {
  EXPECT_THAT(KeyErrorMessage("mail\tisp.example"),
              HasSubstr("contains whitespace"));
}

TEST(ParseCredentialKey, RejectsControlCharacters) {
  EXPECT_THAT(KeyErrorMessage("mail\x01.example"),
              HasSubstr("contains a control character"));
  EXPECT_THAT(KeyErrorMessage(std::string_view("mail\0x", 6)),
              HasSubstr("contains a control character"));
}

TEST(ParseCredentialKey, RejectsInvalidUtf8) {
  EXPECT_THAT(KeyErrorMessage("mail\xff.example"),
              HasSubstr("is not valid UTF-8"));
}

TEST(ParseCredentialKey, RejectsBadCharacterInHostName) {
  EXPECT_THAT(KeyErrorMessage("mail$isp.example"),
              HasSubstr("invalid character '$' in host name"));
}

TEST(ParseCredentialKey, RejectsEmptyLabel) {
  EXPECT_THAT(KeyErrorMessage("mail..example"), HasSubstr("empty label"));
  EXPECT_THAT(KeyErrorMessage(".example"), HasSubstr("empty label"));
  EXPECT_THAT(KeyErrorMessage("example.com."), HasSubstr("empty label"));
}

TEST(ParseCredentialKey, RejectsLabelStartingOrEndingWithHyphen) {
  EXPECT_THAT(KeyErrorMessage("-mail.example"),
              HasSubstr("starts or ends with '-'"));
  EXPECT_THAT(KeyErrorMessage("mail-.example:587"),
              HasSubstr("starts or ends with '-'"));
}

TEST(ParseCredentialKey, RejectsLabelLongerThan63Bytes) {
  const std::string key = std::string(64, 'a') + ".example";
  EXPECT_THAT(KeyErrorMessage(key), HasSubstr("longer than 63 bytes"));
}

TEST(ParseCredentialKey, RejectsHostNameLongerThan255Bytes) {
  std::string key;
  for (int i = 0; i < 5; ++i) key += std::string(60, 'a') + ".";
  key += "example";
  EXPECT_THAT(KeyErrorMessage(key), HasSubstr("longer than 255 bytes"));
}

TEST(ParseCredentialKey, RejectsBadServiceName) {
  EXPECT_THAT(KeyErrorMessage("[h.example]:sub_mission"),
              HasSubstr("invalid character '_' in port"));
  EXPECT_THAT(KeyErrorMessage("[h.example]:-smtp"),
              HasSubstr("invalid service name"));
}

TEST(ParseCredentialKey, RejectsAddressWithEmptyDomain) {
  EXPECT_THAT(KeyErrorMessage("user@"), HasSubstr("empty domain"));
}

TEST(ParseCredentialKey, RejectsDomainKeyWithEmptyDomain) {
  EXPECT_THAT(KeyErrorMessage("@"), HasSubstr("empty domain"));
}

TEST(ParseCredentialKey, RejectsPortOnAnAddress) {
  EXPECT_THAT(KeyErrorMessage("user@example.com:587"),
              HasSubstr("invalid character ':' in domain"));
}

TEST(ParseCredentialKey, RejectsStrayQuoteInLocalPart) {
  EXPECT_THAT(KeyErrorMessage(R"(jo"hn@example.com)"),
              HasSubstr("stray '\"' in local part"));
  EXPECT_THAT(KeyErrorMessage(R"("jo"hn"@example.com)"),
              HasSubstr("stray '\"' in local part"));
}

TEST(ParseCredentialKey, RejectsUnbalancedQuoteInLocalPart) {
  EXPECT_THAT(KeyErrorMessage(R"("john@example.com)"),
              HasSubstr("unbalanced '\"' in local part"));
}

TEST(ParseCredentialKey, RejectsInvalidDomainLiteral) {
  EXPECT_THAT(KeyErrorMessage("user@[not-an-address]"),
              HasSubstr("invalid domain literal"));
  EXPECT_THAT(KeyErrorMessage("user@[192.0.2.1"),
              HasSubstr("missing ']' in domain literal"));
}

TEST(ParseCredentialKey, ErrorMessageQuotesTheKey) {
  EXPECT_EQ(KeyErrorMessage("[mail.isp.example]:0"),
            "credential key \"[mail.isp.example]:0\": port \"0\" is out of "
            "range 1-65535");
}

TEST(ParseCredentialKey, ErrorMessageEscapesControlCharacters) {
  EXPECT_THAT(KeyErrorMessage("a\x01"
                              "b"),
              HasSubstr("\"a\\x01b\""));
}

// ---------------------------------------------------------------------------
// ParseCredentialValue
// ---------------------------------------------------------------------------

TEST(ParseCredentialValue, SplitsAtTheFirstColon) {
  absl::StatusOr<Credential> credential =
      ParseCredentialValue("user1:pa:ss:wd");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->username, "user1");
  EXPECT_TRUE(credential->password == kPassword);
}

TEST(ParseCredentialValue, ValueWithoutColonIsAllUsername) {
  absl::StatusOr<Credential> credential = ParseCredentialValue("justauser");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->username, "justauser");
  EXPECT_TRUE(credential->password.empty());
}

TEST(ParseCredentialValue, TrailingColonGivesEmptyPassword) {
  absl::StatusOr<Credential> credential = ParseCredentialValue("user:");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->username, "user");
  EXPECT_TRUE(credential->password.empty());
}

TEST(ParseCredentialValue, LeadingColonGivesEmptyUsername) {
  absl::StatusOr<Credential> credential = ParseCredentialValue(":pa:ss:wd");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->username, "");
  EXPECT_TRUE(credential->password == kPassword);
}

TEST(ParseCredentialValue, KeepsWhitespace) {
  constexpr std::string_view kSpacedPassword = " pa ss ";
  absl::StatusOr<Credential> credential =
      ParseCredentialValue(" user : pa ss ");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->username, " user ");
  EXPECT_TRUE(credential->password == kSpacedPassword);
}

TEST(ParseCredentialValue, RejectsEmptyValue) {
  absl::StatusOr<Credential> credential = ParseCredentialValue("");
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(credential.status()), "empty credential value");
}

TEST(ParseCredentialValue, RejectsNulByte) {
  absl::StatusOr<Credential> credential =
      ParseCredentialValue(std::string_view("user:pa\0ss", 10));
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(credential.status()),
            "credential value contains a NUL byte");
}

TEST(Credential, CloneCopiesUsernameAndPassword) {
  absl::StatusOr<Credential> credential =
      ParseCredentialValue("user1:pa:ss:wd");
  ASSERT_TRUE(credential.ok());
  Credential clone = credential->Clone();
  EXPECT_EQ(clone.username, "user1");
  EXPECT_TRUE(clone.password == credential->password);
}

TEST(Credential, PrintingShowsUsernameAndRedactsPassword) {
  absl::StatusOr<Credential> credential =
      ParseCredentialValue("user1:pa:ss:wd");
  ASSERT_TRUE(credential.ok());
  std::ostringstream out;
  out << *credential;
  EXPECT_EQ(out.str(), "{username: \"user1\", password: [redacted]}");
  EXPECT_EQ(testing::PrintToString(*credential), out.str());
}

TEST(Credential, PrintingRedactsUsernameWhenThereIsNoPassword) {
  absl::StatusOr<Credential> credential = ParseCredentialValue("user pa55");
  ASSERT_TRUE(credential.ok());
  EXPECT_EQ(testing::PrintToString(*credential),
            "{username: [redacted], password: [redacted]}");
}

TEST(ParseCredential, ParsesKeyAndValue) {
  absl::StatusOr<CredentialEntry> entry =
      ParseCredential("[Mail.ISP.example]:587", "user1:pa:ss:wd");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->key.kind, CredentialKeyKind::kBracketedHost);
  EXPECT_EQ(entry->key.host, "Mail.ISP.example");
  EXPECT_EQ(entry->credential.username, "user1");
  EXPECT_TRUE(entry->credential.password == kPassword);
}

TEST(ParseCredential, ValueErrorNamesTheKey) {
  absl::StatusOr<CredentialEntry> entry =
      ParseCredential("[h.example]:587", "");
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(entry.status()),
            "credential key \"[h.example]:587\": empty credential value");
}

TEST(ParseCredential, KeyErrorComesFirst) {
  absl::StatusOr<CredentialEntry> entry = ParseCredential("[h.example", "");
  EXPECT_THAT(Message(entry.status()), HasSubstr("missing ']'"));
}

// ---------------------------------------------------------------------------
// SaslLookupKeys
// ---------------------------------------------------------------------------

SaslLookupContext RelayContext() {
  SaslLookupContext context;
  context.host = "mail.isp.example";
  context.dest = "[mail.isp.example]:587";
  return context;
}

SaslLookupContext SenderContext(std::string sender) {
  SaslLookupContext context = RelayContext();
  context.sender_dependent_authentication = true;
  context.sender = std::move(sender);
  return context;
}

TEST(SaslLookupKeys, HostComesBeforeNextHop) {
  // E16: host mail.isp.example, dest [mail.isp.example]:587.
  EXPECT_THAT(SaslLookupKeys(RelayContext()),
              ElementsAre("mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, NextHopIsUsedVerbatim) {
  SaslLookupContext context = RelayContext();
  context.dest = "[Mail.ISP.example]:submission";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("mail.isp.example", "[Mail.ISP.example]:submission"));
}

TEST(SaslLookupKeys, SenderIsIgnoredWithoutSenderDependentAuthentication) {
  SaslLookupContext context = SenderContext("someone@example.org");
  context.sender_dependent_authentication = false;
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, SenderProbesComeFirst) {
  // E16: sender User+tag@Example.COM without recipient_delimiter.
  EXPECT_THAT(SaslLookupKeys(SenderContext("User+tag@Example.COM")),
              ElementsAre("User+tag@Example.COM", "@Example.COM",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, ExtensionIsRemovedWhenRecipientDelimiterIsSet) {
  SaslLookupContext context = SenderContext("User+tag@Example.COM");
  context.recipient_delimiter = "+";
  EXPECT_THAT(
      SaslLookupKeys(context),
      ElementsAre("User+tag@Example.COM", "User@Example.COM", "@Example.COM",
                  "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, AnyDelimiterCharacterStartsTheExtension) {
  SaslLookupContext context = SenderContext("user-a+b@example.com");
  context.recipient_delimiter = "+-";
  EXPECT_THAT(
      SaslLookupKeys(context),
      ElementsAre("user-a+b@example.com", "user@example.com", "@example.com",
                  "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, NoExtensionProbeWithoutDelimiterInLocalPart) {
  SaslLookupContext context = SenderContext("user@example.com");
  context.recipient_delimiter = "+";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("user@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, BareLocalPartsAreProbedWhenTheDomainIsLocal) {
  SaslLookupContext context = SenderContext("user+tag@example.com");
  context.recipient_delimiter = "+";
  context.is_local_domain = [](std::string_view domain) {
    return domain == "example.com";
  };
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("user+tag@example.com", "user@example.com",
                          "user+tag", "user", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, NoBareLocalPartsWhenTheDomainIsNotLocal) {
  SaslLookupContext context = SenderContext("user@example.com");
  std::vector<std::string> asked;
  context.is_local_domain = [&asked](std::string_view domain) {
    asked.emplace_back(domain);
    return false;
  };
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("user@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
  EXPECT_THAT(asked, ElementsAre("example.com"));
}

TEST(SaslLookupKeys, SenderDomainKeyMatchesAnySender) {
  // E16: sender someone@example.org hits on @example.org.
  std::vector<std::string> keys =
      SaslLookupKeys(SenderContext("someone@example.org"));
  EXPECT_THAT(keys, ElementsAre("someone@example.org", "@example.org",
                                "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, QuotedFormComesBeforeInternalForm) {
  EXPECT_THAT(SaslLookupKeys(SenderContext("john smith@example.com")),
              ElementsAre("\"john smith\"@example.com",
                          "john smith@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, QuotingEscapesQuoteAndBackslash) {
  EXPECT_THAT(SaslLookupKeys(SenderContext(R"(a"b\c@example.com)")),
              ElementsAre(R"("a\"b\\c"@example.com)", R"(a"b\c@example.com)",
                          "@example.com", "mail.isp.example",
                          "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, DotAtomIsProbedOnce) {
  EXPECT_THAT(SaslLookupKeys(SenderContext("first.last@example.com")),
              ElementsAre("first.last@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, MisplacedDotsNeedQuoting) {
  EXPECT_THAT(SaslLookupKeys(SenderContext("first..last@example.com")),
              ElementsAre("\"first..last\"@example.com",
                          "first..last@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, QuotedFormAppliesToEveryAddressProbe) {
  SaslLookupContext context = SenderContext("a b+x@example.com");
  context.recipient_delimiter = "+";
  context.is_local_domain = [](std::string_view) { return true; };
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("\"a b+x\"@example.com", "a b+x@example.com",
                          "\"a b\"@example.com", "a b@example.com", "\"a b+x\"",
                          "a b+x", "\"a b\"", "a b", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, ReservedLocalPartsAreNotSplit) {
  SaslLookupContext context = SenderContext("MAILER-DAEMON@example.com");
  context.recipient_delimiter = "-";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("MAILER-DAEMON@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, OwnerAndRequestAddressesAreNotSplitByHyphen) {
  for (const char* sender :
       {"owner-list@example.com", "list-request@example.com"}) {
    SaslLookupContext context = SenderContext(sender);
    context.recipient_delimiter = "-";
    EXPECT_THAT(SaslLookupKeys(context),
                ElementsAre(sender, "@example.com", "mail.isp.example",
                            "[mail.isp.example]:587"));
  }
}

TEST(SaslLookupKeys, OwnerAddressIsSplitWithoutOwnerRequestSpecial) {
  SaslLookupContext context = SenderContext("owner-list@example.com");
  context.recipient_delimiter = "-";
  context.owner_request_special = false;
  EXPECT_THAT(
      SaslLookupKeys(context),
      ElementsAre("owner-list@example.com", "owner@example.com", "@example.com",
                  "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, LocalPartStartingWithDelimiterIsNotSplit) {
  SaslLookupContext context = SenderContext("+tag@example.com");
  context.recipient_delimiter = "+";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("+tag@example.com", "@example.com",
                          "mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, SenderWithoutDomainGivesOnlyAddressProbes) {
  SaslLookupContext context = SenderContext("user+tag");
  context.recipient_delimiter = "+";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("user+tag", "user", "mail.isp.example",
                          "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, EmptySenderGivesNoSenderProbes) {
  EXPECT_THAT(SaslLookupKeys(SenderContext("")),
              ElementsAre("mail.isp.example", "[mail.isp.example]:587"));
}

TEST(SaslLookupKeys, LmtpMakesNoSenderProbes) {
  SaslLookupContext context = SenderContext("user@example.com");
  context.lmtp = true;
  context.host = "lmtp.example";
  context.dest = "lmtp.example:24";
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("lmtp.example", "lmtp.example:24"));
}

TEST(SaslLookupKeys, RepeatedKeyIsListedOnce) {
  // An MX-style next hop without MX records: host and dest are the same.
  SaslLookupContext context;
  context.host = "example.com";
  context.dest = "example.com";
  EXPECT_THAT(SaslLookupKeys(context), ElementsAre("example.com"));
}

TEST(SaslLookupKeys, EmptyHostIsLeftOut) {
  SaslLookupContext context;
  context.dest = "/var/run/lmtp";
  EXPECT_THAT(SaslLookupKeys(context), ElementsAre("/var/run/lmtp"));
}

TEST(SaslLookupKeys, NothingKnownGivesNoKeys) {
  EXPECT_THAT(SaslLookupKeys(SaslLookupContext()), IsEmpty());
}

// ---------------------------------------------------------------------------
// ParseSaslNextHop (the table in spec section 6.2)
// ---------------------------------------------------------------------------

TEST(ParseSaslNextHop, BracketedHost) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[mail.isp.example]");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[mail.isp.example]");
  EXPECT_EQ(hop->host, "mail.isp.example");
  EXPECT_THAT(hop->port, IsEmpty());
  EXPECT_FALSE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, BracketedHostWithPort) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[mail.isp.example]:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[mail.isp.example]:587");
  EXPECT_EQ(hop->host, "mail.isp.example");
  EXPECT_EQ(hop->port, "587");
  EXPECT_FALSE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, ServiceNameIsNotTranslated) {
  absl::StatusOr<SaslNextHop> hop =
      ParseSaslNextHop("[mail.isp.example]:submission");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[mail.isp.example]:submission");
  EXPECT_EQ(hop->port, "submission");
}

TEST(ParseSaslNextHop, MxStyleHostWithPort) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("mail.isp.example:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "mail.isp.example:587");
  EXPECT_EQ(hop->host, "mail.isp.example");
  EXPECT_TRUE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, MxStyleDomain) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("example.com");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "example.com");
  EXPECT_EQ(hop->host, "example.com");
  EXPECT_TRUE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, BracketedIpv4Address) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[192.0.2.10]:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[192.0.2.10]:587");
  EXPECT_EQ(hop->host, "192.0.2.10");
}

TEST(ParseSaslNextHop, Ipv6PrefixIsStrippedFromTheHostOnly) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[IPv6:2001:db8::1]:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[IPv6:2001:db8::1]:587");
  EXPECT_EQ(hop->host, "2001:db8::1");
  EXPECT_EQ(hop->port, "587");
}

TEST(ParseSaslNextHop, BracketedIpv6AddressWithoutPrefix) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[2001:db8::1]:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "[2001:db8::1]:587");
  EXPECT_EQ(hop->host, "2001:db8::1");
}

TEST(ParseSaslNextHop, EmptyPortMeansDefaultPort) {
  for (std::string_view text : {"[mail.isp.example]:", "mail.isp.example:"}) {
    absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop(text);
    ASSERT_TRUE(hop.ok()) << hop.status();
    EXPECT_EQ(hop->dest_key, text);
    EXPECT_EQ(hop->host, "mail.isp.example");
    EXPECT_THAT(hop->port, IsEmpty());
  }
}

TEST(ParseSaslNextHop, LmtpInetPrefixIsStripped) {
  absl::StatusOr<SaslNextHop> hop =
      ParseSaslNextHop("inet:lmtp.example:24", /*lmtp=*/true);
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "lmtp.example:24");
  EXPECT_EQ(hop->host, "lmtp.example");
  EXPECT_EQ(hop->port, "24");
  EXPECT_FALSE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, LmtpUnixSocketHasNoHost) {
  absl::StatusOr<SaslNextHop> hop =
      ParseSaslNextHop("unix:/var/run/lmtp", /*lmtp=*/true);
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "/var/run/lmtp");
  EXPECT_THAT(hop->host, IsEmpty());
  EXPECT_FALSE(hop->mx_lookup);
}

TEST(ParseSaslNextHop, LmtpWithoutPrefixIsInet) {
  absl::StatusOr<SaslNextHop> hop =
      ParseSaslNextHop("lmtp.example:24", /*lmtp=*/true);
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "lmtp.example:24");
  EXPECT_EQ(hop->host, "lmtp.example");
}

TEST(ParseSaslNextHop, SmtpInetHostIsHostInetWithServiceHost) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("inet:host");
  ASSERT_TRUE(hop.ok()) << hop.status();
  EXPECT_EQ(hop->dest_key, "inet:host");
  EXPECT_EQ(hop->host, "inet");
  EXPECT_EQ(hop->port, "host");
}

TEST(ParseSaslNextHop, SmtpInetHostPortIsRejected) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("inet:host:25");
  EXPECT_EQ(hop.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(hop.status()),
              HasSubstr("valid hostname or network address required"));
}

TEST(ParseSaslNextHop, UnbracketedIpv6AddressIsRejected) {
  EXPECT_THAT(Message(ParseSaslNextHop("2001:db8::1").status()),
              HasSubstr("valid hostname or network address required"));
}

TEST(ParseSaslNextHop, AddressIsRejected) {
  EXPECT_EQ(ParseSaslNextHop("user@example.com").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseSaslNextHop, EmptyNextHopIsRejected) {
  EXPECT_EQ(Message(ParseSaslNextHop("").status()), "empty next hop");
}

TEST(ParseSaslNextHop, EmptyLmtpSocketPathIsRejected) {
  EXPECT_THAT(Message(ParseSaslNextHop("unix:", /*lmtp=*/true).status()),
              HasSubstr("empty socket path"));
}

TEST(ParseSaslNextHop, KeysFeedTheLookupOrder) {
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop("[mail.isp.example]:587");
  ASSERT_TRUE(hop.ok()) << hop.status();
  SaslLookupContext context;
  context.host = hop->host;
  context.dest = hop->dest_key;
  EXPECT_THAT(SaslLookupKeys(context),
              ElementsAre("mail.isp.example", "[mail.isp.example]:587"));
}

// ---------------------------------------------------------------------------
// Secrecy: no error path and no printing shows a password
// ---------------------------------------------------------------------------

// A distinctive password; no 6-byte piece of it occurs in any message text
// by chance.
constexpr std::string_view kLeakCanary = "Zq7xHunt3r2Qv9wK";

// True if `text` contains the canary or any 6-byte piece of it. Never prints
// either.
bool ShowsCanary(std::string_view text) {
  constexpr std::size_t kPiece = 6;
  for (std::size_t i = 0; i + kPiece <= kLeakCanary.size(); ++i) {
    if (text.find(kLeakCanary.substr(i, kPiece)) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

bool ShowsCanary(const absl::Status& status) {
  return ShowsCanary(std::string_view(Message(status))) ||
         ShowsCanary(std::string_view(status.ToString()));
}

std::vector<std::string> BadKeys() {
  return {
      "",
      "[mail.isp.example",
      "mail.isp.example]",
      "[]:587",
      "[mail.isp.example]:0",
      "[mail.isp.example]:70000",
      "[h]x",
      "ho$t",
      "[IPv6:zz]",
      "user@",
      "@",
      "\"user@example.com",
      "a..b",
      "h\x01",
      "h\xff",
      "2001:db8::g:1",
      "[h.example]:sub_mission",
      "-h.example",
  };
}

std::string CanaryValue() {
  return absl::StrCat("user:", std::string(kLeakCanary));
}

TEST(CredentialSecrecy, CanaryDetectorWorks) {
  EXPECT_TRUE(ShowsCanary(std::string_view(CanaryValue())));
  EXPECT_FALSE(ShowsCanary(std::string_view("user:password")));
}

TEST(CredentialSecrecy, BadKeyWithValueDoesNotShowThePassword) {
  const std::vector<std::string> keys = BadKeys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    absl::StatusOr<CredentialEntry> entry =
        ParseCredential(keys[i], CanaryValue());
    ASSERT_FALSE(entry.ok()) << "bad key #" << i;
    EXPECT_FALSE(ShowsCanary(entry.status())) << "bad key #" << i;
  }
}

TEST(CredentialSecrecy, WholeLinePassedAsKeyDoesNotShowThePassword) {
  const std::vector<std::string> keys = BadKeys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (const char* separator : {" ", "\t", "  \t "}) {
      const std::string line = absl::StrCat(keys[i], separator, CanaryValue());
      absl::StatusOr<CredentialKey> key = ParseCredentialKey(line);
      ASSERT_FALSE(key.ok()) << "bad key #" << i;
      EXPECT_FALSE(ShowsCanary(key.status())) << "bad key #" << i;
    }
  }
  const std::string good_line =
      absl::StrCat("[mail.isp.example]:587 ", CanaryValue());
  absl::StatusOr<CredentialKey> key = ParseCredentialKey(good_line);
  ASSERT_FALSE(key.ok());
  EXPECT_FALSE(ShowsCanary(key.status()));
  absl::StatusOr<SaslNextHop> hop = ParseSaslNextHop(good_line);
  ASSERT_FALSE(hop.ok());
  EXPECT_FALSE(ShowsCanary(hop.status()));
}

std::vector<std::string> BadValues() {
  const std::string canary(kLeakCanary);
  return {
      absl::StrCat("user:", canary, std::string(1, '\0')),
      absl::StrCat(std::string(1, '\0'), "user:", canary),
      absl::StrCat("user:", canary.substr(0, 8), std::string(1, '\0'),
                   canary.substr(8)),
      absl::StrCat(canary, std::string(1, '\0')),
  };
}

TEST(CredentialSecrecy, BadValueDoesNotShowThePassword) {
  const std::vector<std::string> values = BadValues();
  for (std::size_t i = 0; i < values.size(); ++i) {
    absl::StatusOr<Credential> credential = ParseCredentialValue(values[i]);
    ASSERT_FALSE(credential.ok()) << "bad value #" << i;
    EXPECT_FALSE(ShowsCanary(credential.status())) << "bad value #" << i;
    absl::StatusOr<CredentialEntry> entry =
        ParseCredential("[mail.isp.example]:587", values[i]);
    ASSERT_FALSE(entry.ok()) << "bad value #" << i;
    EXPECT_FALSE(ShowsCanary(entry.status())) << "bad value #" << i;
  }
}

TEST(CredentialSecrecy, PrintedCredentialDoesNotShowThePassword) {
  for (const std::string& value :
       {CanaryValue(), std::string(kLeakCanary),
        absl::StrCat("user ", std::string(kLeakCanary))}) {
    absl::StatusOr<Credential> credential = ParseCredentialValue(value);
    ASSERT_TRUE(credential.ok());
    std::ostringstream out;
    out << *credential << credential->password;
    EXPECT_FALSE(ShowsCanary(std::string_view(out.str())));
    EXPECT_FALSE(
        ShowsCanary(std::string_view(testing::PrintToString(*credential))));
    EXPECT_FALSE(ShowsCanary(
        std::string_view(testing::PrintToString(credential->password))));
  }
}

TEST(CredentialSecrecy, CApiErrorMessageDoesNotShowThePassword) {
  const std::vector<std::string> values = BadValues();
  for (std::size_t i = 0; i < values.size(); ++i) {
    libmaps_credential* credential = nullptr;
    char* errmsg = nullptr;
    const int result = libmaps_credential_parse(
        values[i].data(), values[i].size(), &credential, &errmsg);
    EXPECT_EQ(result, LIBMAPS_ERR_CONFIG) << "bad value #" << i;
    EXPECT_EQ(credential, nullptr);
    ASSERT_NE(errmsg, nullptr) << "bad value #" << i;
    EXPECT_FALSE(ShowsCanary(std::string_view(errmsg))) << "bad value #" << i;
    libmaps_free(errmsg);
  }
}

// ---------------------------------------------------------------------------
// C API (the same functions from C: tests/unit/c_api_credential_test.c)
// ---------------------------------------------------------------------------

TEST(CApiCredential, ParseSplitsAtTheFirstColon) {
  constexpr std::string_view kValue = "user1:pa:ss:wd";
  libmaps_credential* credential = nullptr;
  ASSERT_EQ(libmaps_credential_parse(kValue.data(), kValue.size(), &credential,
                                     nullptr),
            LIBMAPS_OK);
  std::size_t len = 0;
  EXPECT_EQ(std::string_view(libmaps_credential_username(credential, &len)),
            "user1");
  EXPECT_EQ(len, 5u);
  const char* password = libmaps_credential_password(credential, &len);
  EXPECT_TRUE(std::string_view(password, len) == kPassword);
  EXPECT_EQ(password[len], '\0');
  libmaps_credential_free(credential);
}

TEST(CApiCredential, ParseOfEmptyValueFails) {
  libmaps_credential* credential = nullptr;
  char* errmsg = nullptr;
  EXPECT_EQ(libmaps_credential_parse("", 0, &credential, &errmsg),
            LIBMAPS_ERR_CONFIG);
  EXPECT_EQ(credential, nullptr);
  ASSERT_NE(errmsg, nullptr);
  EXPECT_STREQ(errmsg, "empty credential value");
  libmaps_free(errmsg);
}

TEST(CApiCredential, NullArgumentsAreConfigErrors) {
  libmaps_credential* credential = nullptr;
  EXPECT_EQ(libmaps_credential_parse("u:p", 3, nullptr, nullptr),
            LIBMAPS_ERR_CONFIG);
  EXPECT_EQ(libmaps_credential_parse(nullptr, 3, &credential, nullptr),
            LIBMAPS_ERR_CONFIG);
  EXPECT_EQ(libmaps_credential_username(nullptr, nullptr), nullptr);
  EXPECT_EQ(libmaps_credential_password(nullptr, nullptr), nullptr);
  libmaps_credential_free(nullptr);
}

TEST(CApiCredential, LookupKeysFollowPostfixOrder) {
  libmaps_sasl_lookup lookup = {};
  lookup.sender = "User+tag@Example.COM";
  lookup.recipient_delimiter = "+";
  lookup.host = "mail.isp.example";
  lookup.dest = "[mail.isp.example]:587";
  lookup.flags = LIBMAPS_SASL_SENDER_DEPENDENT;
  char** keys = nullptr;
  std::size_t count = 0;
  ASSERT_EQ(libmaps_sasl_lookup_keys(&lookup, &keys, &count, nullptr),
            LIBMAPS_OK);
  std::vector<std::string> got;
  for (char** p = keys; *p != nullptr; ++p) got.emplace_back(*p);
  EXPECT_EQ(count, got.size());
  EXPECT_THAT(got, ElementsAre("User+tag@Example.COM", "User@Example.COM",
                               "@Example.COM", "mail.isp.example",
                               "[mail.isp.example]:587"));
  libmaps_sasl_lookup_keys_free(keys);
}

TEST(CApiCredential, LookupKeysCallTheLocalDomainCallback) {
  struct Calls {
    int count = 0;
    std::string domain;
  } calls;
  libmaps_sasl_lookup lookup = {};
  lookup.sender = "user@example.com";
  lookup.is_local_domain = [](void* arg, const char* domain, size_t len) {
    auto* c = static_cast<Calls*>(arg);
    ++c->count;
    c->domain.assign(domain, len);
    return 1;
  };
  lookup.is_local_domain_arg = &calls;
  lookup.flags = LIBMAPS_SASL_SENDER_DEPENDENT;
  char** keys = nullptr;
  ASSERT_EQ(libmaps_sasl_lookup_keys(&lookup, &keys, nullptr, nullptr),
            LIBMAPS_OK);
  std::vector<std::string> got;
  for (char** p = keys; *p != nullptr; ++p) got.emplace_back(*p);
  EXPECT_THAT(got, ElementsAre("user@example.com", "user", "@example.com"));
  EXPECT_EQ(calls.count, 1);
  EXPECT_EQ(calls.domain, "example.com");
  libmaps_sasl_lookup_keys_free(keys);
}

TEST(CApiCredential, LookupKeysWithNullLookupFails) {
  char** keys = nullptr;
  EXPECT_EQ(libmaps_sasl_lookup_keys(nullptr, &keys, nullptr, nullptr),
            LIBMAPS_ERR_CONFIG);
  EXPECT_EQ(keys, nullptr);
  EXPECT_EQ(libmaps_sasl_lookup_keys(nullptr, nullptr, nullptr, nullptr),
            LIBMAPS_ERR_CONFIG);
  libmaps_sasl_lookup_keys_free(nullptr);
}

}  // namespace
}  // namespace libmaps
