// Errors of the VPP binary API client, each one worded so that an operator can act on it.
// No error text ever carries a field value: a message may hold the memif secret, so only
// field and message names reach an error (and from there, a log).

/**
 * VPP's API return values (retval) by number, as VPP's vnet/api_errno.h names them.
 * Only names are kept; the sentences shown to users are ours (see describeRetval).
 */
export const VPP_ERROR_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [-1, 'UNSPECIFIED'],
  [-2, 'INVALID_SW_IF_INDEX'],
  [-3, 'NO_SUCH_FIB'],
  [-4, 'NO_SUCH_INNER_FIB'],
  [-5, 'NO_SUCH_LABEL'],
  [-6, 'NO_SUCH_ENTRY'],
  [-7, 'INVALID_VALUE'],
  [-8, 'INVALID_VALUE_2'],
  [-9, 'UNIMPLEMENTED'],
  [-10, 'INVALID_SW_IF_INDEX_2'],
  [-11, 'SYSCALL_ERROR_1'],
  [-12, 'SYSCALL_ERROR_2'],
  [-13, 'SYSCALL_ERROR_3'],
  [-14, 'SYSCALL_ERROR_4'],
  [-15, 'SYSCALL_ERROR_5'],
  [-16, 'SYSCALL_ERROR_6'],
  [-17, 'SYSCALL_ERROR_7'],
  [-18, 'SYSCALL_ERROR_8'],
  [-19, 'SYSCALL_ERROR_9'],
  [-20, 'SYSCALL_ERROR_10'],
  [-30, 'FEATURE_DISABLED'],
  [-31, 'INVALID_REGISTRATION'],
  [-50, 'NEXT_HOP_NOT_IN_FIB'],
  [-51, 'UNKNOWN_DESTINATION'],
  [-52, 'NO_PATHS_IN_ROUTE'],
  [-53, 'NEXT_HOP_NOT_FOUND_MP'],
  [-54, 'NO_MATCHING_INTERFACE'],
  [-55, 'INVALID_VLAN'],
  [-56, 'VLAN_ALREADY_EXISTS'],
  [-57, 'INVALID_SRC_ADDRESS'],
  [-58, 'INVALID_DST_ADDRESS'],
  [-59, 'ADDRESS_LENGTH_MISMATCH'],
  [-60, 'ADDRESS_NOT_FOUND_FOR_INTERFACE'],
  [-61, 'ADDRESS_NOT_LINK_LOCAL'],
  [-62, 'IP6_NOT_ENABLED'],
  [10, 'IN_PROGRESS'],
  [-63, 'NO_SUCH_NODE'],
  [-64, 'NO_SUCH_NODE2'],
  [-65, 'NO_SUCH_TABLE'],
  [-66, 'NO_SUCH_TABLE2'],
  [-67, 'NO_SUCH_TABLE3'],
  [-68, 'SUBIF_ALREADY_EXISTS'],
  [-69, 'SUBIF_CREATE_FAILED'],
  [-70, 'INVALID_MEMORY_SIZE'],
  [-71, 'INVALID_INTERFACE'],
  [-72, 'INVALID_VLAN_TAG_COUNT'],
  [-73, 'INVALID_ARGUMENT'],
  [-74, 'UNEXPECTED_INTF_STATE'],
  [-75, 'TUNNEL_EXIST'],
  [-76, 'INVALID_DECAP_NEXT'],
  [-77, 'RESPONSE_NOT_READY'],
  [-78, 'NOT_CONNECTED'],
  [-79, 'IF_ALREADY_EXISTS'],
  [-80, 'BOND_SLAVE_NOT_ALLOWED'],
  [-81, 'VALUE_EXIST'],
  [-82, 'SAME_SRC_DST'],
  [-83, 'IP6_MULTICAST_ADDRESS_NOT_PRESENT'],
  [-84, 'SR_POLICY_NAME_NOT_PRESENT'],
  [-85, 'NOT_RUNNING_AS_ROOT'],
  [-86, 'ALREADY_CONNECTED'],
  [-87, 'UNSUPPORTED_JNI_VERSION'],
  [-88, 'FAILED_TO_ATTACH_TO_JAVA_THREAD'],
  [-89, 'INVALID_WORKER'],
  [-90, 'LISP_DISABLED'],
  [-91, 'CLASSIFY_TABLE_NOT_FOUND'],
  [-92, 'INVALID_EID_TYPE'],
  [-93, 'CANNOT_CREATE_PCAP_FILE'],
  [-94, 'INCORRECT_ADJACENCY_TYPE'],
  [-95, 'EXCEEDED_NUMBER_OF_RANGES_CAPACITY'],
  [-96, 'EXCEEDED_NUMBER_OF_PORTS_CAPACITY'],
  [-97, 'INVALID_ADDRESS_FAMILY'],
  [-98, 'INVALID_SUB_SW_IF_INDEX'],
  [-99, 'TABLE_TOO_BIG'],
  [-100, 'CANNOT_ENABLE_DISABLE_FEATURE'],
  [-101, 'BFD_EEXIST'],
  [-102, 'BFD_ENOENT'],
  [-103, 'BFD_EINUSE'],
  [-104, 'BFD_NOTSUPP'],
  [-105, 'ADDRESS_IN_USE'],
  [-106, 'ADDRESS_NOT_IN_USE'],
  [-107, 'QUEUE_FULL'],
  [-108, 'APP_UNSUPPORTED_CFG'],
  [-109, 'URI_FIFO_CREATE_FAILED'],
  [-110, 'LISP_RLOC_LOCAL'],
  [-111, 'BFD_EAGAIN'],
  [-112, 'INVALID_GPE_MODE'],
  [-113, 'LISP_GPE_ENTRIES_PRESENT'],
  [-114, 'ADDRESS_FOUND_FOR_INTERFACE'],
  [-115, 'SESSION_CONNECT'],
  [-116, 'ENTRY_ALREADY_EXISTS'],
  [-117, 'SVM_SEGMENT_CREATE_FAIL'],
  [-118, 'APPLICATION_NOT_ATTACHED'],
  [-119, 'BD_ALREADY_EXISTS'],
  [-120, 'BD_IN_USE'],
  [-121, 'BD_NOT_MODIFIABLE'],
  [-122, 'BD_ID_EXCEED_MAX'],
  [-123, 'SUBIF_DOESNT_EXIST'],
  [-124, 'L2_MACS_EVENT_CLINET_PRESENT'],
  [-125, 'INVALID_QUEUE'],
  [-126, 'UNSUPPORTED'],
  [-127, 'DUPLICATE_IF_ADDRESS'],
  [-128, 'APP_INVALID_NS'],
  [-129, 'APP_WRONG_NS_SECRET'],
  [-130, 'APP_CONNECT_SCOPE'],
  [-131, 'APP_ALREADY_ATTACHED'],
  [-132, 'SESSION_REDIRECT'],
  [-133, 'ILLEGAL_NAME'],
  [-134, 'NO_NAME_SERVERS'],
  [-135, 'NAME_SERVER_NOT_FOUND'],
  [-136, 'NAME_RESOLUTION_NOT_ENABLED'],
  [-137, 'NAME_SERVER_FORMAT_ERROR'],
  [-138, 'NAME_SERVER_NO_SUCH_NAME'],
  [-139, 'NAME_SERVER_NO_ADDRESSES'],
  [-140, 'NAME_SERVER_NEXT_SERVER'],
  [-141, 'APP_CONNECT_FILTERED'],
  [-142, 'ACL_IN_USE_INBOUND'],
  [-143, 'ACL_IN_USE_OUTBOUND'],
  [-144, 'INIT_FAILED'],
  [-145, 'NETLINK_ERROR'],
  [-146, 'BIER_BSL_UNSUP'],
  [-147, 'INSTANCE_IN_USE'],
  [-148, 'INVALID_SESSION_ID'],
  [-149, 'ACL_IN_USE_BY_LOOKUP_CONTEXT'],
  [-150, 'FIB_PATH_UNSUPPORTED_NH_PROTO'],
]);

/** Named retvals the lifecycle tests for ("already gone" and friends). */
export const VppRetval = {
  INVALID_SW_IF_INDEX: -2,
  NO_SUCH_ENTRY: -6,
  INVALID_REGISTRATION: -31,
  SUBIF_ALREADY_EXISTS: -68,
  INVALID_ARGUMENT: -73,
  UNEXPECTED_INTF_STATE: -74,
  VALUE_EXIST: -81,
  ENTRY_ALREADY_EXISTS: -116,
  BD_ALREADY_EXISTS: -119,
  BD_IN_USE: -120,
  BD_NOT_MODIFIABLE: -121,
  BD_ID_EXCEED_MAX: -122,
} as const;

// Our own one-line explanations for the errors this product can meet.
const SENTENCES: ReadonlyMap<number, string> = new Map<number, string>([
  [-1, 'VPP failed without saying why; see `vppctl show log`'],
  [-2, 'the interface (sw_if_index) does not exist in VPP, or is not of the expected kind'],
  [-6, 'the entry does not exist in VPP'],
  [-7, 'VPP rejected a value in the request'],
  [-31, 'this API client is already registered, or was never registered, for these events'],
  [-68, 'a memif with this id already exists on this socket, or the socket is already used with the other role'],
  [-73, 'VPP rejected an argument: for a memif socket file this means the id is unknown or invalid, or the directory of the socket file does not exist or is not accessible to VPP'],
  [-74, 'the object is still in use in VPP (for a memif socket: interfaces still use it)'],
  [-79, 'the interface already exists'],
  [-81, 'a file that is not a socket already exists at the memif socket path'],
  [-116, 'the socket id is already registered in VPP with a different file name'],
  [-119, 'the bridge domain already exists'],
  [-120, 'the bridge domain still has member interfaces'],
  [-121, 'bridge domain 0 cannot be modified: choose VppBridgeID >= 1'],
  [-122, 'the bridge domain id is larger than VPP allows (16777215)'],
]);

/** VPP's name for a retval, or a placeholder that still shows the number. */
export function vppErrorName(retval: number): string {
  return VPP_ERROR_NAMES.get(retval) ?? `UNKNOWN_ERROR_${retval}`;
}

/** A sentence for a retval: ours where we have one, VPP's name otherwise. */
export function describeRetval(retval: number): string {
  return SENTENCES.get(retval) ?? `VPP returned ${vppErrorName(retval)} (${retval})`;
}

/** Base class: every error this module throws is a VppError. */
export class VppError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request VPP answered with retval != 0. */
export class VppApiError extends VppError {
  readonly errorName: string;
  constructor(
    readonly messageName: string,
    readonly retval: number,
    hint?: string,
  ) {
    const errorName = vppErrorName(retval);
    super(
      `VPP refused ${messageName}: ${errorName} (${retval}): ${describeRetval(retval)}` +
        (hint ? `. ${hint}` : ''),
    );
    this.errorName = errorName;
  }
}

/** Connecting to the API socket failed; the text says which socket and what to check. */
export class VppConnectError extends VppError {
  constructor(
    readonly socketPath: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** VPP did not answer in time. */
export class VppTimeoutError extends VppError {
  constructor(
    readonly messageName: string,
    readonly timeoutMs: number,
    readonly socketPath: string,
  ) {
    super(
      `VPP did not answer ${messageName} within ${timeoutMs} ms on ${socketPath}; ` +
        'VPP may be overloaded or stuck (check `vppctl show api clients` and `vppctl show log`)',
    );
  }
}

/** The API connection closed while a request was outstanding, or was used after close. */
export class VppDisconnectedError extends VppError {
  constructor(
    readonly socketPath: string,
    detail: string,
  ) {
    super(`the connection to the VPP API socket ${socketPath} is closed: ${detail}`);
  }
}

/** VPP sent something that breaks the protocol (bad frame, bad handshake). */
export class VppProtocolError extends VppError {}

/** A message could not be decoded (truncated, count larger than the data). */
export class VppDecodeError extends VppError {}

/** A request could not be encoded (value out of range, string too long, unknown field). */
export class VppEncodeError extends VppError {}

/** A JSON API description is malformed or refers to a type it does not define. */
export class VppDefinitionError extends VppError {}

/** One candidate looked at while resolving a message against VPP's message table. */
export interface MessageCandidateReport {
  readonly name: string;
  /** The CRC VPP has for this name, or null when VPP lacks the message. */
  readonly vppCrc: string | null;
  /** The CRCs we have definitions for. */
  readonly knownCrcs: readonly string[];
  /** VPP versions known to carry each of those CRCs, where recorded. */
  readonly knownVersions: readonly string[];
}

/**
 * None of the acceptable variants of a message is usable with this VPP: either VPP lacks
 * it, or its CRC (layout) is one we have no definition for.
 */
export class VppMessageUnavailableError extends VppError {
  constructor(readonly candidates: readonly MessageCandidateReport[]) {
    super(
      candidates.map(describeCandidate).join('; ') +
        '. Point VPP_API_DIR at this VPP\'s API JSON files (default /usr/share/vpp/api, ' +
        'package vpp or vpp-dev) so its own message definitions are used',
    );
  }
}

function describeCandidate(c: MessageCandidateReport): string {
  const known = c.knownCrcs.length > 0 ? c.knownCrcs.map((x) => `0x${x}`).join(', ') : 'none';
  const versions = c.knownVersions.length > 0 ? ` (VPP ${c.knownVersions.join(', ')})` : '';
  if (c.vppCrc === null) {
    return `VPP lacks message ${c.name} (we know CRC ${known}${versions})`;
  }
  return `VPP has message ${c.name} with CRC 0x${c.vppCrc}, but we only know CRC ${known}${versions}`;
}
