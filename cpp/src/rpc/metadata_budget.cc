#include "rpc/metadata_budget.h"

#include <algorithm>
#include <random>

namespace turbogrpc::internal {
namespace {
constexpr size_t kFieldOverhead = 32;  // RFC 9113 §6.5.2

double random_roll() {
  // Poller thread only, so one engine per thread; the draw only spreads refusals, it guards
  // nothing, so a fast non-cryptographic generator is right.
  static thread_local std::minstd_rand engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}
}  // namespace

MetadataBudget::MetadataBudget(int64_t soft_limit, int64_t hard_limit)
    : soft_(soft_limit),
      hard_(hard_limit < 0 ? hard_limit : std::max(hard_limit, soft_limit < 0 ? hard_limit : soft_limit)) {}

bool MetadataBudget::add(std::string_view name, std::string_view value) {
  block_bytes_ += name.size() + value.size() + kFieldOverhead;
  return hard_ < 0 || static_cast<int64_t>(block_bytes_) <= hard_;
}

bool MetadataBudget::refuses_block(double roll) const {
  auto size = static_cast<int64_t>(block_bytes_);
  if (hard_ >= 0 && size > hard_) return true;
  if (soft_ < 0 || size <= soft_) return false;
  if (hard_ < 0 || hard_ == soft_) return true;
  double chance = static_cast<double>(size - soft_) / static_cast<double>(hard_ - soft_);
  return roll < chance;
}

bool MetadataBudget::refuses_block() const { return refuses_block(random_roll()); }

Status MetadataBudget::refusal(std::string_view what) const {
  return {StatusCode::kResourceExhausted,
          std::string(what) + " of " + std::to_string(block_bytes_) + " bytes exceeds the limit (" +
              std::to_string(soft_) + " bytes soft, grpc.max_metadata_size; " + std::to_string(hard_) +
              " hard, grpc.absolute_max_metadata_size)"};
}

}  // namespace turbogrpc::internal
