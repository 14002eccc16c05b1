// memif protocol version 2.0: the wire formats of the control messages and the layout of the
// shared-memory rings, as VPP, libmemif and DPDK's net_memif speak them. Everything here is
// host byte order (the protocol never leaves the machine), so little-endian is asserted.
//
// Control channel: a unix SOCK_SEQPACKET socket carrying fixed 128-byte messages; region
// and interrupt file descriptors travel as SCM_RIGHTS ancillary data.
//   master -> slave  HELLO          limits and versions the master supports
//   slave -> master  INIT           version, interface id, mode, secret, app name
//   slave -> master  ADD_REGION     region index and size (+ memfd)
//   slave -> master  ADD_RING       direction, index, region, offset, log2 size (+ eventfd)
//   slave -> master  CONNECT        slave interface name
//   master -> slave  CONNECTED      master interface name
//   master -> slave  ACK            after INIT / ADD_REGION / ADD_RING: send the next one
//   either           DISCONNECT     code and reason; the sender then closes the socket
//
// Shared memory (always allocated by the slave): rings and packet buffers. A ring is a
// 128-byte header (cookie, flags and head on the first cache line, tail on the second)
// followed by 2^log2 16-byte descriptors. S2M rings carry slave->master traffic, M2S rings
// master->slave; the slave owns every buffer, and in M2S rings it hands empty buffers to the
// master by advancing head, the master returns them filled by advancing tail.
#pragma once

#include <cstddef>
#include <cstdint>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "memif is spoken in host order; this code assumes little-endian");

namespace memif {

constexpr uint32_t kCookie = 0x3E31F20;
constexpr uint16_t kVersion = (2 << 8) | 0;  // 2.0
constexpr size_t kMsgSize = 128;
constexpr size_t kNameSize = 32;
constexpr size_t kSecretSize = 24;
constexpr size_t kReasonSize = 96;

enum MsgType : uint16_t {
  kMsgNone = 0,
  kMsgAck = 1,
  kMsgHello = 2,
  kMsgInit = 3,
  kMsgAddRegion = 4,
  kMsgAddRing = 5,
  kMsgConnect = 6,
  kMsgConnected = 7,
  kMsgDisconnect = 8,
};

enum Mode : uint8_t {
  kModeEthernet = 0,
  kModeIp = 1,
  kModePuntInject = 2,
};

constexpr uint16_t kAddRingFlagS2M = 1;
constexpr uint16_t kDescFlagNext = 1;
constexpr uint16_t kRingFlagMaskInt = 1;

// Largest log2 ring size anyone uses (libmemif and DPDK both stop at 14); head and tail are
// 16-bit free-running counters, so a ring must stay below 2^16 slots in any case.
constexpr uint8_t kMaxLog2RingSize = 14;

#pragma pack(push, 1)
// The message body follows the 16-bit type at offset 2.
struct Hello {
  uint8_t name[kNameSize];
  uint16_t minVersion;
  uint16_t maxVersion;
  uint16_t maxRegion;  // highest region index accepted
  uint16_t maxM2SRing;  // highest ring index accepted, per direction
  uint16_t maxS2MRing;
  uint8_t maxLog2RingSize;
};
struct Init {
  uint16_t version;
  uint32_t id;
  uint8_t mode;
  uint8_t secret[kSecretSize];
  uint8_t name[kNameSize];
};
struct AddRegion {
  uint16_t index;
  uint64_t size;
};
struct AddRing {
  uint16_t flags;
  uint16_t index;
  uint16_t region;
  uint32_t offset;
  uint8_t log2RingSize;
  uint16_t privateHdrSize;
};
struct IfName {  // CONNECT and CONNECTED
  uint8_t name[kNameSize];
};
struct Disconnect {
  uint32_t code;
  uint8_t reason[kReasonSize];
};
// A ring descriptor.
struct Desc {
  uint16_t flags;
  uint16_t region;
  uint32_t length;
  uint32_t offset;
  uint32_t metadata;
};
#pragma pack(pop)

constexpr size_t kBodyOffset = 2;
static_assert(sizeof(Hello) == 43 && offsetof(Hello, maxLog2RingSize) == 42, "HELLO layout");
static_assert(sizeof(Init) == 63 && offsetof(Init, secret) == 7 && offsetof(Init, name) == 31, "INIT layout");
static_assert(sizeof(AddRegion) == 10, "ADD_REGION layout");
static_assert(sizeof(AddRing) == 13 && offsetof(AddRing, log2RingSize) == 10, "ADD_RING layout");
static_assert(sizeof(Disconnect) == 100, "DISCONNECT layout");
static_assert(kBodyOffset + sizeof(Disconnect) <= kMsgSize, "bodies fit the message");
static_assert(sizeof(Desc) == 16 && offsetof(Desc, offset) == 8, "descriptor layout");

// Ring header layout (byte offsets from the ring start).
constexpr size_t kRingCookie = 0;
constexpr size_t kRingFlags = 4;
constexpr size_t kRingHead = 6;
constexpr size_t kRingTail = 64;
constexpr size_t kRingDesc = 128;
constexpr size_t kDescSize = sizeof(Desc);

constexpr uint64_t RingBytes(uint32_t log2RingSize) {
  return kRingDesc + kDescSize * (uint64_t{1} << log2RingSize);
}

}  // namespace memif
