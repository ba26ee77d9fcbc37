#include "http/egress.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace mcphd::http {

Result<Cidr> Cidr::parse(const std::string& s) {
  Cidr c;
  c.text = s;
  size_t slash = s.find('/');
  std::string addr = s.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET;
    c.prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes.data()) == 1) {
    c.family = AF_INET6;
    c.prefix = 128;
  } else {
    return makeError("'" + s +
                     "' is not an IPv4 or IPv6 network (write e.g. 10.0.0.0/8 or fd00::/8)");
  }
  if (slash != std::string::npos) {
    int max = c.prefix;
    std::string bits = s.substr(slash + 1);
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), c.prefix);
    if (ec != std::errc() || p != bits.data() + bits.size() || c.prefix < 0 || c.prefix > max) {
      return makeError("'" + s + "' has a bad prefix length (0 to " + std::to_string(max) + ")");
    }
  }
  return c;
}

bool Cidr::contains(const sockaddr* addr) const {
  const uint8_t* a = nullptr;
  std::array<uint8_t, 16> mapped{};
  int fam = addr->sa_family;
  if (fam == AF_INET) {
    a = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr);
  } else if (fam == AF_INET6) {
    a = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address it is.
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET && std::memcmp(a, kMapped, 12) == 0) {
      std::memcpy(mapped.data(), a + 12, 4);
      a = mapped.data();
      fam = AF_INET;
    }
  } else {
    return false;
  }
  if (fam != family) {
    return false;
  }
  int full = prefix / 8;
  if (std::memcmp(a, bytes.data(), static_cast<size_t>(full)) != 0) {
    return false;
  }
  int rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (bytes[full] & mask);
}

EgressPolicy EgressPolicy::defaults() {
  EgressPolicy p;
  for (const char* net : {"169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32",
                          "192.0.0.192/32", "0.0.0.0/8", "::/128"}) {
    p.deny.push_back(Cidr::parse(net).value());
  }
  return p;
}

std::string addressText(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  } else {
    return "(non-IP address)";
  }
  return buf;
}

std::optional<std::string> EgressPolicy::refuse(const sockaddr* addr) const {
  if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) {
    return name + " policy: only IP connections are allowed";
  }
  for (const auto& c : deny) {
    if (c.contains(addr)) {
      return "egress policy denies " + addressText(addr) + " (" + name + ".deny " + c.text + ")";
    }
  }
  if (!allow.empty()) {
    for (const auto& c : allow) {
      if (c.contains(addr)) {
        return std::nullopt;
      }
    }
    return "egress policy denies " + addressText(addr) + " (not in " + name + ".allow)";
  }
  return std::nullopt;
}

}  // namespace mcphd::http
