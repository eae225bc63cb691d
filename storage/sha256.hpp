#pragma once
// SHA-256 (OpenSSL's libcrypto underneath), incremental, for blob digests.
#include <memory>
#include <string>
#include <string_view>

namespace berth::storage {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view bytes);
  // 64 lowercase hex; the hasher is spent afterwards.
  std::string hexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace berth::storage
