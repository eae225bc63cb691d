#include "net/firewall.hpp"

#include <nftables/libnftables.h>

#include "net/netlink.hpp"

namespace berth::net {

namespace {

constexpr const char* kForwardChain = "isolate";  // "fwd", "forward" and the like are nft keywords
constexpr const char* kNatChain = "masq_out";

bool isValidTableName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return !(name[0] >= '0' && name[0] <= '9');
}

// Names go inside nft's double quotes, where '"', '*' and '\' would mean something.
bool isQuotableLinkName(const std::string& name) {
  if (!isValidLinkName(name)) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return false;
  return true;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string renderFirewall(const std::string& table, const std::vector<BridgePolicy>& bridges, bool masquerade,
                           const std::string& bridgePrefix) {
  const std::string t = "inet " + table;
  // add+delete removes the table whether or not it was there, in the same transaction.
  std::string out = "add table " + t + "\ndelete table " + t + "\n";
  if (bridges.empty()) return out;
  out += "add table " + t + "\n";
  out += "add chain " + t + " " + kForwardChain + " { type filter hook forward priority filter; policy accept; }\n";
  const std::string rule = "add rule " + t + " " + kForwardChain + " ";
  for (const BridgePolicy& b : bridges) {
    const std::string q = "\"" + b.bridge + "\"";
    out += rule + "iifname " + q + " oifname " + q + " counter accept\n";
    if (masquerade) {
      out += rule + "iifname " + q + " oifname != \"" + bridgePrefix + "*\" accept\n";
      out += rule + "oifname " + q + " ct state established,related accept\n";
    }
    out += rule + "iifname " + q + " counter drop\n";
    out += rule + "oifname " + q + " counter drop\n";
  }
  if (masquerade) {
    out += "add chain " + t + " " + kNatChain + " { type nat hook postrouting priority srcnat; policy accept; }\n";
    for (const BridgePolicy& b : bridges)
      out += "add rule " + t + " " + kNatChain + " ip saddr " + formatPrefix(b.subnet) + " oifname != \"" +
             b.bridge + "\" masquerade\n";
  }
  return out;
}

struct Firewall::Context {
  nft_ctx* ctx = nullptr;
  ~Context() {
    if (ctx) nft_ctx_free(ctx);
  }
};

Firewall::Firewall(std::unique_ptr<Context> context, std::string table, std::string bridgePrefix)
    : context_(std::move(context)), table_(std::move(table)), bridgePrefix_(std::move(bridgePrefix)) {}
Firewall::Firewall(Firewall&&) noexcept = default;
Firewall& Firewall::operator=(Firewall&&) noexcept = default;
Firewall::~Firewall() = default;

Result<Firewall> Firewall::open(std::string table, std::string bridgePrefix) {
  if (!isValidTableName(table)) return fail(Errc::invalid_argument, "\"" + table + "\" is not a valid nft table name");
  if (bridgePrefix.empty() || bridgePrefix.size() > 14 || !isQuotableLinkName(bridgePrefix))
    return fail(Errc::invalid_argument, "\"" + bridgePrefix + "\" is not a valid bridge name prefix");
  auto context = std::make_unique<Context>();
  context->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!context->ctx) return fail(Errc::host_refused, "creating an nftables context");
  // Into buffers, not onto berthd's stdout and stderr.
  if (nft_ctx_buffer_output(context->ctx) != 0 || nft_ctx_buffer_error(context->ctx) != 0)
    return fail(Errc::host_refused, "buffering the nftables context's output");
  return Firewall(std::move(context), std::move(table), std::move(bridgePrefix));
}

Result<std::string> Firewall::run(const std::string& commands, std::string_view what) {
  int rc = nft_run_cmd_from_buffer(context_->ctx, commands.c_str());
  // Reading a buffer also empties it for the next command.
  std::string output = nft_ctx_get_output_buffer(context_->ctx);
  std::string errors = trimmed(nft_ctx_get_error_buffer(context_->ctx));
  if (rc != 0)
    return fail(Errc::host_refused, std::string(what) + ": nft: " + (errors.empty() ? "failed" : errors));
  return output;
}

Result<void> Firewall::apply(const std::vector<BridgePolicy>& bridges, bool masquerade) {
  for (const BridgePolicy& b : bridges) {
    if (!isQuotableLinkName(b.bridge))
      return fail(Errc::invalid_argument, "\"" + b.bridge + "\" is not a bridge name the firewall accepts");
    if (b.subnet.length < 0 || b.subnet.length > 32)
      return fail(Errc::invalid_argument, "bad prefix length for bridge " + b.bridge);
  }
  BERTH_TRY(std::string ignored, run(renderFirewall(table_, bridges, masquerade, bridgePrefix_),
                                     "replacing nft table inet " + table_));
  return {};
}

Result<bool> Firewall::tableExists() {
  BERTH_TRY(std::string listing, run("list tables inet", "listing nft tables"));
  const std::string wanted = "table inet " + table_;
  size_t pos = 0;
  while (pos < listing.size()) {
    size_t end = listing.find('\n', pos);
    if (end == std::string::npos) end = listing.size();
    if (listing.compare(pos, end - pos, wanted) == 0) return true;
    pos = end + 1;
  }
  return false;
}

Result<void> Firewall::remove() { return apply({}, false); }

Result<std::string> Firewall::listTable() {
  return run("list table inet " + table_, "listing nft table inet " + table_);
}

}  // namespace berth::net
