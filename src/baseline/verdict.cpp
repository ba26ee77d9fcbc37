#include "baseline/verdict.hpp"

namespace mcphd::baseline {

const char* approvalName(Approval a) {
  switch (a) {
    case Approval::kApproved:
      return "approved";
    case Approval::kDrifted:
      return "drifted";
    case Approval::kUnapproved:
      return "unapproved";
    case Approval::kNone:
      break;
  }
  return "";
}

}  // namespace mcphd::baseline
