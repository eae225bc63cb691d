#pragma once
// berth's nftables rules: one table (inet <name>) that berth owns wholly and
// replaces in one transaction; nothing outside it is touched.
//
// Per bridge B (a project's containers), in a forward-hook chain:
//   B to B is accepted: containers of one project reach each other (with
//     br_netfilter, bridged traffic passes the forward hook with both
//     interfaces the bridge);
//   everything else from or to B is dropped: containers of different projects
//     do not reach each other even with ip_forward on, nor the outside.
// With masquerade, B may reach links not named with berth's bridge prefix
// (the outside), replies come back, and the subnet is masqueraded on its way out.
//
// The nft context talks to the network namespace of the thread that makes
// the Firewall and runs its first command; use one Firewall from threads of
// one namespace.
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "net/address.hpp"

namespace berth::net {

struct BridgePolicy {
  std::string bridge;
  Ipv4Prefix subnet;  // the network: 10.89.3.0/24
};

// The nft commands of apply(), as one transaction. Pure; names must already
// be valid (Firewall::apply checks them). No bridges: the table is removed.
std::string renderFirewall(const std::string& table, const std::vector<BridgePolicy>& bridges, bool masquerade,
                           const std::string& bridgePrefix);

class Firewall {
 public:
  // table: berth's table (letters, digits, '_'); bridgePrefix: the names of
  // all of berth's bridges start with it (what "outside" is not).
  static Result<Firewall> open(std::string table, std::string bridgePrefix);

  Firewall(Firewall&&) noexcept;
  Firewall& operator=(Firewall&&) noexcept;
  ~Firewall();

  // Replaces the table's whole content; an empty list removes the table.
  Result<void> apply(const std::vector<BridgePolicy>& bridges, bool masquerade);
  Result<bool> tableExists();
  // Idempotent.
  Result<void> remove();
  // nft's listing of the table, counters included (for diagnostics).
  Result<std::string> listTable();

 private:
  struct Context;
  Firewall(std::unique_ptr<Context> context, std::string table, std::string bridgePrefix);
  Result<std::string> run(const std::string& commands, std::string_view what);

  std::unique_ptr<Context> context_;
  std::string table_;
  std::string bridgePrefix_;
};

}  // namespace berth::net
