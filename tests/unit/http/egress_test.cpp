#include "http/egress.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>

using namespace mcphd::http;

namespace {

sockaddr_storage addr(const char* text) {
  sockaddr_storage s{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
    v6->sin6_family = AF_INET6;
  }
  return s;
}

bool in(const char* cidr, const char* a) {
  auto s = addr(a);
  return Cidr::parse(cidr).value().contains(reinterpret_cast<sockaddr*>(&s));
}

std::optional<std::string> refused(const EgressPolicy& p, const char* a) {
  auto s = addr(a);
  return p.refuse(reinterpret_cast<sockaddr*>(&s));
}

}  // namespace

TEST_CASE("CIDR networks match IPv4, IPv6 and IPv4-mapped IPv6 addresses") {
  CHECK(in("169.254.0.0/16", "169.254.169.254"));
  CHECK_FALSE(in("169.254.0.0/16", "169.255.0.1"));
  CHECK(in("10.0.0.0/9", "10.127.255.255"));
  CHECK_FALSE(in("10.0.0.0/9", "10.128.0.0"));
  CHECK(in("fe80::/10", "fe80::1"));
  CHECK(in("fe80::/10", "febf::1"));
  CHECK_FALSE(in("fe80::/10", "fec0::1"));
  CHECK(in("169.254.0.0/16", "::ffff:169.254.169.254"));  // no way round through v6
  CHECK(in("127.0.0.1", "127.0.0.1"));
  CHECK_FALSE(in("127.0.0.1", "127.0.0.2"));
  CHECK(in("0.0.0.0/0", "8.8.8.8"));
  CHECK_FALSE(Cidr::parse("10.0.0.0/33").ok());
  CHECK_FALSE(Cidr::parse("example.com/8").ok());
  CHECK_FALSE(Cidr::parse("10.0.0.0/x").ok());
}

TEST_CASE("by default cloud metadata addresses and 'this host' are refused, and nothing else") {
  EgressPolicy p = EgressPolicy::defaults();
  CHECK(refused(p, "169.254.169.254") ==
        "egress policy denies 169.254.169.254 (egress.deny 169.254.0.0/16)");
  CHECK(refused(p, "fe80::a9fe:a9fe"));
  CHECK(refused(p, "fd00:ec2::254") ==
        "egress policy denies fd00:ec2::254 (egress.deny fd00:ec2::254/128)");
  CHECK(refused(p, "100.100.100.200"));
  CHECK(refused(p, "192.0.0.192"));
  CHECK(refused(p, "0.0.0.0"));
  CHECK(refused(p, "0.1.2.3"));
  CHECK(refused(p, "::"));
  CHECK(refused(p, "::ffff:169.254.169.254"));  // IPv4-mapped
  CHECK_FALSE(refused(p, "fd00:ec2::253"));
  CHECK_FALSE(refused(p, "100.100.100.201"));
  CHECK_FALSE(refused(p, "127.0.0.1"));
  CHECK_FALSE(refused(p, "::1"));
  CHECK_FALSE(refused(p, "10.0.0.1"));
}

TEST_CASE("a named policy says its config key in refusals") {
  EgressPolicy p;
  p.name = "egress.registry";
  p.deny.push_back(Cidr::parse("127.0.0.0/8").value());
  CHECK(refused(p, "127.0.0.1") ==
        "egress policy denies 127.0.0.1 (egress.registry.deny 127.0.0.0/8)");
  EgressPolicy a;
  a.name = "egress.registry";
  a.allow.push_back(Cidr::parse("10.0.0.0/8").value());
  CHECK(refused(a, "127.0.0.1") == "egress policy denies 127.0.0.1 (not in egress.registry.allow)");
}

TEST_CASE("an allow list refuses everything outside it, deny wins over allow") {
  EgressPolicy p = EgressPolicy::defaults();
  p.allow.push_back(Cidr::parse("10.0.0.0/8").value());
  p.deny.push_back(Cidr::parse("10.1.0.0/16").value());
  CHECK_FALSE(refused(p, "10.2.3.4"));
  CHECK(refused(p, "10.1.0.5"));
  CHECK(refused(p, "127.0.0.1") == "egress policy denies 127.0.0.1 (not in egress.allow)");
}
